// photocull review: build the page from /api/shoot, send each key press to /api/decide.
// File names are untrusted (they come from a memory card): only ever set as textContent.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="photocull-token"]').content;
  var q = "?t=" + encodeURIComponent(token);
  var frames = [], cards = [], order = [], sel = -1, filter = "all";
  var grid = document.getElementById("grid"), status = document.getElementById("status");
  var loupe = document.getElementById("loupe"), loupeImg = document.getElementById("loupe-img");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function say(text) { status.textContent = text || ""; }

  var tests = {
    all: function () { return true; },
    picks: function (f) { return f.pick; },
    rejects: function (f) { return f.rejected; },
    problems: function (f) { return f.problems.length > 0 || f.errors.length > 0; },
    unrated: function (f) { return !f.rejected && !f.stars; }
  };

  function fill(card, f) {
    card.className = "frame" + (f.pick ? " pick" : "") + (f.rejected ? " reject" : "") + (card.classList.contains("sel") ? " sel" : "");
    card.dataset.stars = f.stars === null ? "" : String(f.stars);
    card.dataset.pick = f.pick ? "1" : "0";
    card.dataset.rejected = f.rejected ? "1" : "0";
    var flag = card.querySelector(".flag");
    flag.className = "flag" + (f.pick ? " pick" : f.rejected ? " reject" : " hidden");
    flag.textContent = f.pick ? "PICK" : f.rejected ? "REJECT" : "";
    var stars = card.querySelector(".stars");
    stars.textContent = "";
    var n = f.rejected ? 0 : (f.stars || 0);
    for (var i = 1; i <= 5; i++) stars.appendChild(el("span", i <= n ? "on" : "off", i <= n ? "★" : "☆"));
    stars.setAttribute("aria-label", f.rejected ? "rejected" : n + " stars");
    var probs = card.querySelector(".problems");
    probs.textContent = "";
    f.problems.forEach(function (p) { probs.appendChild(el("span", "", p)); });
    f.errors.concat(f.error ? [f.error] : []).forEach(function (p) { probs.appendChild(el("span", "err", p)); });
  }

  function makeCard(f) {
    var card = el("div", "frame");
    card.dataset.id = f.id;
    card.title = f.name;
    card.appendChild(el("span", "flag hidden"));
    var badge = f.in_series ? (f.rank ? "#" + f.rank : "") : (f.series ? "Series " + f.series : "");
    if (badge) card.appendChild(el("span", "badge-num", badge));
    var thumb = el("div", "thumb"), img = el("img");
    img.loading = "lazy";
    img.decoding = "async";
    img.alt = f.name;
    img.addEventListener("error", function () { thumb.classList.add("broken"); thumb.dataset.msg = "no preview"; });
    img.src = "/thumb/" + f.id + q;
    thumb.appendChild(img);
    card.appendChild(thumb);
    card.appendChild(el("div", "name", f.name));
    var line = el("div", "line");
    line.appendChild(el("span", "stars"));
    line.appendChild(el("span", "score", f.score === null ? "–" : f.score.toFixed(2)));
    card.appendChild(line);
    card.appendChild(el("div", "problems"));
    if (f.why) card.appendChild(el("div", "why", f.why));
    if (f.kept) card.appendChild(el("div", "kept", f.kept));
    card.addEventListener("click", function () { select(order.indexOf(f.id)); });
    card.addEventListener("dblclick", openLoupe);
    fill(card, f);
    return card;
  }

  function build(data) {
    document.getElementById("root").textContent = data.root;
    document.title = "photocull review — " + data.root;
    frames = data.frames;
    var sections = [], bySeries = {}, singles = null;
    frames.forEach(function (f) {
      var sec;
      if (f.in_series) {
        sec = bySeries[f.series];
        if (!sec) {
          sec = bySeries[f.series] = el("section");
          var h = el("h2", "", "Series " + f.series);
          sec.appendChild(h);
          sec.appendChild(el("div", "row"));
          sections.push(sec);
        }
      } else {
        if (!singles) {
          singles = el("section");
          singles.appendChild(el("h2", "", "Singles"));
          singles.appendChild(el("div", "row"));
        }
        sec = singles;
      }
      var card = makeCard(f);
      cards[f.id] = card;
      sec.querySelector(".row").appendChild(card);
    });
    if (singles) sections.push(singles);
    sections.forEach(function (s) {
      var n = s.querySelectorAll(".frame").length;
      if (s !== singles) s.querySelector("h2").appendChild(el("span", "", " · " + n + " frames"));
      grid.appendChild(s);
    });
    if (!frames.length) grid.appendChild(el("p", "empty", "No frames in the last run."));
    if (data.refused.length) say(data.refused.length + " file(s) in the saved run point outside the shoot and are not shown.");
    apply();
    document.body.dataset.ready = "1";
  }

  function counts() {
    Object.keys(tests).forEach(function (k) {
      document.getElementById("n-" + k).textContent = frames.filter(tests[k]).length;
    });
  }

  function apply() {
    var keep = tests[filter];
    order = [];
    grid.querySelectorAll("section").forEach(function (s) {
      var any = false;
      s.querySelectorAll(".frame").forEach(function (c) {
        var f = frames[+c.dataset.id], show = keep(f);
        c.classList.toggle("hidden", !show);
        if (show) { order.push(f.id); any = true; }
      });
      s.classList.toggle("hidden", !any);
    });
    counts();
    var cur = sel >= 0 ? document.querySelector(".frame.sel") : null;
    var at = cur ? order.indexOf(+cur.dataset.id) : -1;
    select(at >= 0 ? at : 0);
  }

  function select(i) {
    var old = document.querySelector(".frame.sel");
    if (old) old.classList.remove("sel");
    if (!order.length) { sel = -1; return; }
    sel = Math.max(0, Math.min(order.length - 1, i));
    var c = cards[order[sel]];
    c.classList.add("sel");
    c.scrollIntoView({ block: "nearest", inline: "nearest" });
    if (!loupe.hidden) showLoupe();
  }

  function sectionJump(dir) {
    if (sel < 0) return;
    var sec = cards[order[sel]].closest("section"), i = sel;
    while (i >= 0 && i < order.length && cards[order[i]].closest("section") === sec) i += dir;
    if (i < 0 || i >= order.length) return;
    if (dir < 0) { var s2 = cards[order[i]].closest("section"); while (i > 0 && cards[order[i - 1]].closest("section") === s2) i--; }
    select(i);
  }

  function decide(body) {
    if (sel < 0) return;
    var id = order[sel];
    body.id = id;
    fetch("/api/decide", {
      method: "POST", headers: { "Content-Type": "application/json", "X-Photocull-Token": token },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.headers.get("Content-Type").indexOf("json") >= 0 ? r.json() : r.text().then(function (t) { throw new Error(t); });
    }).then(function (res) {
      frames[id] = res.frame;
      fill(cards[id], res.frame);
      counts();
      say(res.status === "skipped" ? res.frame.name + ": not written: " + res.message : "");
      if (!loupe.hidden && order[sel] === id) loupeInfo(res.frame);
      cards[id].dataset.written = String((+cards[id].dataset.written || 0) + 1);
    }).catch(function (e) { say("not written: " + e.message); });
  }

  function showLoupe() {
    var f = frames[order[sel]];
    document.getElementById("loupe-name").textContent = f.name;
    loupeInfo(f);
    loupeImg.alt = f.name;
    loupeImg.src = "/full/" + f.id + q;
  }
  function loupeInfo(f) {
    var d = f.rejected ? "REJECT" : (f.pick ? "PICK · " : "") + (f.stars ? "★★★★★".slice(0, f.stars) : "unrated");
    document.getElementById("loupe-info").textContent = d + " · " + (f.width ? f.width + "×" + f.height + " · " : "") + "100 %";
  }
  function openLoupe() { if (sel < 0) return; loupe.hidden = false; showLoupe(); }
  function closeLoupe() { loupe.hidden = true; loupeImg.removeAttribute("src"); }

  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var k = e.key, handled = true;
    if (k === "ArrowRight") select(sel + 1);
    else if (k === "ArrowLeft") select(sel - 1);
    else if (k === "ArrowDown" && loupe.hidden) sectionJump(1);
    else if (k === "ArrowUp" && loupe.hidden) sectionJump(-1);
    else if (k >= "0" && k <= "5" && k.length === 1) decide({ action: "stars", stars: +k });
    else if (k === "p" || k === "P") decide({ action: "pick" });
    else if (k === "x" || k === "X") decide({ action: "reject" });
    else if (k === "u" || k === "U") decide({ action: "unflag" });
    else if (k === " " || k === "Enter" || k === "z" || k === "Z") { if (loupe.hidden) openLoupe(); else closeLoupe(); }
    else if (k === "Escape") closeLoupe();
    else handled = false;
    if (handled) e.preventDefault();
  });
  document.getElementById("filters").addEventListener("click", function (e) {
    var b = e.target.closest("button");
    if (!b) return;
    filter = b.dataset.filter;
    document.querySelectorAll("#filters button").forEach(function (x) { x.classList.toggle("on", x === b); });
    apply();
  });

  fetch("/api/shoot" + q).then(function (r) {
    if (!r.ok) return r.text().then(function (t) { throw new Error(t); });
    return r.json();
  }).then(build).catch(function (e) { say("cannot load the shoot: " + e.message); });
})();
