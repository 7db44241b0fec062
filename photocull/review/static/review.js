// photocull review: build the page from /api/shoot, send each key press to /api/decide.
// File names are untrusted (they come from a memory card): only ever set as textContent.
// Views: grid (series stacked to their pick), loupe (fit, Z 100 %), compare (shared zoom and
// pan), survey (a whole series). Decisions go out one at a time, in key order.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="photocull-token"]').content;
  var q = "?t=" + encodeURIComponent(token);
  var LABELS = { 6: "Red", 7: "Yellow", 8: "Green", 9: "Blue" };
  var frames = [], cards = [], order = [], sel = -1, view = "grid";
  var series = {};          // series key -> [ids], best first (the pick first)
  var expanded = {};        // series key -> true when its stack is open
  var marked = [];          // ids chosen with Ctrl/Shift+click for compare (at most 4)
  var autoAdvance = true, zoom100 = false, czoom = true, compareIds = [], activePanel = 0;
  var queue = Promise.resolve(), writes = 0, undoDepth = 0;
  var prefetched = {};      // url -> Image (decoded), the loupe's neighbours
  var faceInfo = {};        // id -> faces json
  var written = {};         // ids decided on in this page (their state came with the answer)
  var lat = window.__pcLatency = { loupe: [], compare: [] };  // key -> painted, ms (the benchmark reads it)
  var $ = function (id) { return document.getElementById(id); };
  var grid = $("grid"), status = $("status");
  var loupe = $("loupe"), loupeView = $("loupe-view"), loupeImg = $("loupe-img");

  // Thumbnails load as their card comes near the window and are dropped once it is far
  // away again: memory stays flat however far a 3,000-frame shoot is scrolled.
  var near = new IntersectionObserver(function (entries) {
    entries.forEach(function (en) {
      var img = en.target.querySelector(".thumb img");
      if (en.isIntersecting) { if (!img.getAttribute("src")) img.src = img.dataset.src; }
      else if (img.getAttribute("src")) img.removeAttribute("src");
    });
  }, { rootMargin: "1500px 0px" });

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function say(text) { status.textContent = text || ""; }
  function skey(f) { return f.series ? "s" + f.series : "f" + f.id; }  // frames in no series stand alone

  // ---------------------------------------------------------------- filters
  function passes(f) {
    var st = +$("f-stars").value, fl = $("f-flag").value, lb = $("f-label").value, pr = $("f-problem").value;
    if (st && (f.rejected || (f.stars || 0) < st)) return false;
    if (fl === "pick" && !f.pick) return false;
    if (fl === "reject" && !f.rejected) return false;
    if (fl === "none" && (f.pick || f.rejected)) return false;
    if (lb === "none" && f.label) return false;
    if (lb !== "any" && lb !== "none" && f.label !== lb) return false;
    var bad = f.problems.length > 0 || f.errors.length > 0;
    if ((pr === "yes" && !bad) || (pr === "no" && bad)) return false;
    return true;
  }

  // ---------------------------------------------------------------- cards
  function fill(card, f) {
    card.classList.toggle("pick", !!f.pick);
    card.classList.toggle("reject", !!f.rejected);
    card.dataset.stars = f.stars === null ? "" : String(f.stars);
    card.dataset.pick = f.pick ? "1" : "0";
    card.dataset.rejected = f.rejected ? "1" : "0";
    card.dataset.label = f.label || "";
    var flag = card.querySelector(".flag");
    flag.className = "flag" + (f.pick ? " pick" : f.rejected ? " reject" : " hidden");
    flag.textContent = f.pick ? "PICK" : f.rejected ? "REJECT" : "";
    var stars = card.querySelector(".stars");
    stars.textContent = "";
    var n = f.rejected ? 0 : (f.stars || 0);
    for (var i = 1; i <= 5; i++) stars.appendChild(el("span", i <= n ? "on" : "off", i <= n ? "★" : "☆"));
    if (f.label) stars.appendChild(el("span", "label " + f.label));
    stars.setAttribute("aria-label", (f.rejected ? "rejected" : n + " stars") + (f.label ? ", " + f.label + " label" : ""));
    var probs = card.querySelector(".problems");
    probs.textContent = "";
    f.problems.forEach(function (p) { probs.appendChild(el("span", "", p)); });
    f.errors.concat(f.error ? [f.error] : []).forEach(function (p) { probs.appendChild(el("span", "err", p)); });
  }

  function makeCard(f, odd) {
    var card = el("div", "frame" + (odd ? " odd" : ""));
    card.dataset.id = f.id;
    card.dataset.series = skey(f);
    card.title = f.name;
    card.appendChild(el("span", "flag hidden"));
    var badge = f.in_series ? "S" + f.series + (f.rank ? " #" + f.rank : "") : (f.series ? "Series " + f.series : "");
    if (badge) card.appendChild(el("span", "badge-num", badge));
    card.appendChild(el("span", "stack hidden"));
    var thumb = el("div", "thumb"), img = el("img");
    img.decoding = "async";
    img.alt = f.name;
    img.dataset.src = "/thumb/" + f.id + q;
    img.addEventListener("error", function () { if (img.getAttribute("src")) { thumb.classList.add("broken"); thumb.dataset.msg = "no preview"; } });
    near.observe(card);
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
    card.addEventListener("click", function (e) {
      if (e.ctrlKey || e.metaKey || e.shiftKey) { toggleMark(f.id); return; }
      select(order.indexOf(f.id));
    });
    card.addEventListener("dblclick", function () { show("loupe"); });
    fill(card, f);
    return card;
  }

  function build(data) {
    $("root").textContent = data.root;
    document.title = "photocull review — " + data.root;
    frames = data.frames;
    undoDepth = data.undo || 0;
    var frag = document.createDocumentFragment(), k = 0, last = null;
    frames.forEach(function (f) {
      var s = skey(f);
      if (!series[s]) series[s] = [];
      series[s].push(f.id);
      if (s !== last) { k++; last = s; }
      var card = makeCard(f, k % 2 === 0);
      cards[f.id] = card;
      frag.appendChild(card);
    });
    grid.appendChild(frag);
    $("n-all").textContent = frames.length;
    if (!frames.length) grid.appendChild(el("p", "empty", "No frames in the last run."));
    var notes = [];
    if (data.refused.length) notes.push(data.refused.length + " file(s) in the saved run point outside the shoot and are not shown.");
    if (data.writer && data.writer.note) notes.push(data.writer.note);
    say(notes.join(" ") || "reading the ratings in the files…");
    apply();
    document.body.dataset.drawn = "1";
    // The first screen comes from the saved run; the files' own ratings (read meanwhile) follow.
    fetch("/api/decisions" + q).then(function (r) {
      if (!r.ok) return r.text().then(function (t) { throw new Error(t); });
      return r.json();
    }).then(function (d) {
      d.frames.forEach(function (x) {
        var f = frames[x.id];
        if (!f || written[x.id]) return;  // a decision made meanwhile already brought the file's state
        ["stars", "rejected", "pick", "label", "error", "reviewed"].forEach(function (k) { f[k] = x[k]; });
        fill(cards[x.id], f);
      });
      counts();
      say(notes.join(" "));
      document.body.dataset.ready = "1";
    }).catch(function (e) { say("cannot read the ratings in the files: " + e.message); });
  }

  function counts() {
    $("n-picks").textContent = frames.filter(function (f) { return f.pick; }).length;
    $("n-rejects").textContent = frames.filter(function (f) { return f.rejected; }).length;
    $("n-shown").textContent = order.length;
    var keys = Object.keys(series), done = keys.filter(function (s) {
      return series[s].some(function (id) { return frames[id].reviewed; });
    }).length;
    $("progress").textContent = done + " of " + keys.length + " series reviewed";
  }

  // Which cards show: those passing the filters; in a closed stack, only its first that passes.
  function apply() {
    var keep = sel >= 0 ? order[sel] : -1;
    order = [];
    Object.keys(series).forEach(function (s) {
      var ids = series[s], shown = ids.filter(function (id) { return passes(frames[id]); });
      var open = expanded[s] || ids.length < 2;
      ids.forEach(function (id) {
        var visible = shown.indexOf(id) >= 0 && (open || id === shown[0]);
        cards[id].classList.toggle("hidden", !visible);
        var st = cards[id].querySelector(".stack");
        var stacked = !open && id === shown[0];
        st.classList.toggle("hidden", !(ids.length > 1 && (stacked || id === ids[0])));
        st.textContent = stacked ? "▣ " + ids.length + " frames" : "▢ " + ids.length;
        cards[id].classList.toggle("stacked", stacked);
      });
    });
    // order = document order of the visible cards (the run's order: series, best first)
    frames.forEach(function (f) { if (!cards[f.id].classList.contains("hidden")) order.push(f.id); });
    counts();
    var at = order.indexOf(keep);
    if (at < 0 && keep >= 0) {  // the selected frame went into a stack: select that stack's card
      var s = series[skey(frames[keep])];
      at = order.findIndex(function (id) { return s.indexOf(id) >= 0; });
    }
    select(at >= 0 ? at : 0);
  }

  function select(i, opts) {
    var old = grid.querySelector(".frame.sel");
    if (old) old.classList.remove("sel");
    if (!order.length) { sel = -1; return; }
    sel = Math.max(0, Math.min(order.length - 1, i));
    var c = cards[order[sel]];
    c.classList.add("sel");
    document.body.dataset.sel = String(order[sel]);
    if (view === "grid") c.scrollIntoView({ block: "nearest", inline: "nearest" });
    else render(opts);
  }

  function seriesJump(dir) {
    if (sel < 0) return;
    var s = skey(frames[order[sel]]), i = sel;
    while (i >= 0 && i < order.length && skey(frames[order[i]]) === s) i += dir;
    if (i < 0 || i >= order.length) return;
    if (dir < 0) { var s2 = skey(frames[order[i]]); while (i > 0 && skey(frames[order[i - 1]]) === s2) i--; }
    select(i);
  }

  function toggleStack(all) {
    if (sel < 0) return;
    var s = skey(frames[order[sel]]);
    if (all) {
      var open = !Object.keys(series).some(function (k) { return expanded[k]; });
      Object.keys(series).forEach(function (k) { expanded[k] = open; });
    } else expanded[s] = !expanded[s];
    apply();
  }

  function toggleMark(id) {
    var at = marked.indexOf(id);
    if (at >= 0) marked.splice(at, 1);
    else { marked.push(id); if (marked.length > 4) marked.shift(); }
    cards.forEach(function (c, i) { if (c) c.classList.toggle("marked", marked.indexOf(i) >= 0); });
  }

  // ---------------------------------------------------------------- decisions
  function post(path, body) {
    return fetch(path, {
      method: "POST", headers: { "Content-Type": "application/json", "X-Photocull-Token": token },
      body: JSON.stringify(body)
    }).then(function (r) {
      return (r.headers.get("Content-Type") || "").indexOf("json") >= 0 ? r.json() : r.text().then(function (t) { throw new Error(t); });
    });
  }

  function update(f) {
    frames[f.id] = f;
    fill(cards[f.id], f);
    counts();
    if (view !== "grid" && current() === f.id) info(f);
    if (view === "compare" || view === "survey") refreshBars();
  }

  function current() {
    if (view === "compare" && compareIds.length) return compareIds[activePanel];
    return sel >= 0 ? order[sel] : -1;
  }

  function decide(body, advance, t) {
    var id = current();
    if (id < 0) return;
    body.id = id;
    written[id] = true;
    document.body.dataset.pending = String(+(document.body.dataset.pending || 0) + 1);
    queue = queue.then(function () { return post("/api/decide", body); }).then(function (res) {
      if (!res.frame) throw new Error(res.message || "not written");
      update(res.frame);
      undoDepth = res.undo;
      say(res.status === "skipped" ? res.frame.name + ": not written: " + res.message : "");
    }).catch(function (e) { say("not written: " + e.message); }).then(function () {
      writes++;
      document.body.dataset.writes = String(writes);
      document.body.dataset.pending = String(+document.body.dataset.pending - 1);
    });
    if (advance && !(view === "compare" && marked.length >= 2)) select(sel + 1, { key: t });
  }

  function undoLast() {
    document.body.dataset.pending = String(+(document.body.dataset.pending || 0) + 1);
    queue = queue.then(function () { return post("/api/undo", {}); }).then(function (res) {
      undoDepth = res.undo;
      if (!res.frame) { say("nothing to undo"); return; }
      written[res.frame.id] = true;
      update(res.frame);
      var at = order.indexOf(res.frame.id);
      if (at >= 0 && view !== "compare") select(at);
      say(res.status === "skipped" ? res.frame.name + ": not restored: " + res.message : "undone: " + res.frame.name);
    }).catch(function (e) { say("not undone: " + e.message); }).then(function () {
      writes++;
      document.body.dataset.writes = String(writes);
      document.body.dataset.pending = String(+document.body.dataset.pending - 1);
    });
  }

  // ---------------------------------------------------------------- views
  function show(v, opts) {
    if (v !== "grid" && sel < 0) return;
    view = v;
    document.body.dataset.view = v;
    loupe.hidden = v !== "loupe";
    $("compare").hidden = v !== "compare";
    $("survey").hidden = v !== "survey";
    if (v === "grid") {
      loupeImg.removeAttribute("src");
      $("compare-panels").textContent = "";
      $("survey-cells").textContent = "";
      compareIds = [];
      if (sel >= 0) cards[order[sel]].scrollIntoView({ block: "nearest", inline: "nearest" });
    } else render(opts);
  }

  function render(opts) {
    if (view === "loupe") showLoupe(opts);
    else if (view === "compare") showCompare(opts);
    else if (view === "survey") showSurvey();
  }

  function info(f) {
    var d = f.rejected ? "REJECT" : (f.pick ? "PICK · " : "") + (f.stars ? "★★★★★".slice(0, f.stars) : "unrated");
    if (f.label) d += " · " + f.label;
    if (view === "loupe") {
      $("loupe-info").textContent = d + " · " + (f.width ? f.width + "×" + f.height + " · " : "") + (zoom100 ? "100 %" : "fit · Z 100 %");
    }
  }

  function viewUrl(id, w, h) {
    var r = window.devicePixelRatio || 1;
    return "/view/" + id + q + "&w=" + Math.round(w * r) + "&h=" + Math.round(h * r);
  }
  function loupeUrl(id) { return zoom100 ? "/full/" + id + q : viewUrl(id, loupeView.clientWidth, loupeView.clientHeight); }

  // paint time: the frame after the image is decoded and swapped in (a task after that frame's paint)
  function painted(img, list, t0) {
    if (t0 === undefined) return;
    var done = function () { requestAnimationFrame(function () { setTimeout(function () { list.push(performance.now() - t0); }, 0); }); };
    (img.decode ? img.decode() : Promise.resolve()).then(done, done);
  }

  function prefetch() {
    var keep = {};
    [1, -1, 2].forEach(function (d) {
      var id = order[sel + d];
      if (id === undefined) return;
      var url = loupeUrl(id);
      keep[url] = prefetched[url] || new Image();
      if (!prefetched[url]) { keep[url].decoding = "async"; keep[url].src = url; if (keep[url].decode) keep[url].decode().catch(function () {}); }
    });
    prefetched = keep;
  }

  function showLoupe(opts) {
    var f = frames[order[sel]];
    $("loupe-name").textContent = f.name;
    info(f);
    loupeImg.alt = f.name;
    loupeView.classList.toggle("full", zoom100);
    var url = loupeUrl(f.id);
    if (loupeImg.getAttribute("src") !== url) {
      var ready = prefetched[url];
      loupeImg.src = url;
      if (ready && ready.complete) loupeImg.dataset.prefetched = "1"; else delete loupeImg.dataset.prefetched;
      painted(loupeImg, lat.loupe, opts && opts.key);
    }
    loupeImg.dataset.id = String(f.id);
    faces(f);
    prefetch();
  }

  function faces(f) {
    var strip = $("faces");
    var draw = function (list) {
      if (frames[order[sel]] !== f || view !== "loupe") return;
      strip.textContent = "";
      strip.hidden = !list.length;
      list.forEach(function (fc) {
        var fig = el("figure", fc.eyes_open === false ? "closed" : fc.eyes_open ? "open" : "");
        var img = el("img");
        img.alt = "face " + (fc.k + 1) + ": " + fc.verdict;
        img.src = "/face/" + f.id + "/" + fc.k + q;
        fig.appendChild(img);
        fig.appendChild(el("figcaption", "", fc.verdict));
        strip.appendChild(fig);
      });
    };
    if (faceInfo[f.id]) { draw(faceInfo[f.id]); return; }
    strip.hidden = true;
    fetch("/api/faces/" + f.id + q).then(function (r) { return r.ok ? r.json() : { faces: [] }; })
      .then(function (d) { faceInfo[f.id] = d.faces; draw(d.faces); }).catch(function () {});
  }

  // Compare: the chosen frames (2-4), or the selected frame beside its series' pick.
  function compareSet() {
    if (marked.length >= 2) return marked.slice(0, 4);
    var id = order[sel], mates = series[skey(frames[id])];
    var other = mates[0] !== id ? mates[0] : mates[1];
    return other === undefined ? [id] : [id, other];
  }

  function showCompare(opts) {
    var ids = compareSet(), box = $("compare-panels");
    var same = ids.length === compareIds.length && ids.every(function (x, i) { return x === compareIds[i]; });
    if (same && !(opts && opts.rezoom)) { refreshBars(); return; }
    compareIds = ids;
    activePanel = Math.min(activePanel, ids.length - 1);
    box.className = "n" + ids.length;
    box.textContent = "";
    var t0 = opts && opts.key, left = ids.length;
    ids.forEach(function (id, i) {
      var f = frames[id], p = el("div", "cpanel" + (i === activePanel ? " active" : ""));
      p.dataset.id = String(id);
      var bar = el("div", "cbar");
      bar.appendChild(el("span", "", f.name));
      bar.appendChild(el("span", "cstate", ""));
      p.appendChild(bar);
      var sc = el("div", "cscroll" + (czoom ? "" : " fit")), img = el("img");
      img.alt = f.name;
      img.src = czoom ? "/full/" + id + q : viewUrl(id, box.clientWidth / (ids.length === 4 ? 2 : ids.length), box.clientHeight / (ids.length === 4 ? 2 : 1));
      img.addEventListener("load", function () {
        centre(sc);
        if (--left === 0 && t0 !== undefined) painted(img, lat.compare, t0);
      });
      sc.appendChild(img);
      p.appendChild(sc);
      syncPan(sc);
      p.addEventListener("mousedown", function () { activePanel = i; markActive(); });
      box.appendChild(p);
    });
    $("compare-info").textContent = (czoom ? "100 %" : "fit") + " · zoom and pan shared · Z " + (czoom ? "fit" : "100 %");
    refreshBars();
  }

  function markActive() {
    document.querySelectorAll(".cpanel").forEach(function (p, i) { p.classList.toggle("active", i === activePanel); });
  }

  function refreshBars() {
    document.querySelectorAll(".cpanel, .scell").forEach(function (p) {
      var f = frames[+p.dataset.id], s = p.querySelector(".cstate");
      p.classList.toggle("reject", !!f.rejected);
      if (s) s.textContent = (f.rejected ? "REJECT" : (f.pick ? "PICK " : "") + "★★★★★".slice(0, f.stars || 0)) + (f.label ? " · " + f.label : "");
    });
  }

  // Shared pan. Scroll events arrive a frame after the change that caused them, so a position
  // this code set is remembered on the panel (_setTo) and its echo ignored; the last panel the
  // person moved (lastPanned) leads, so an image that finishes loading later joins the others'
  // place instead of re-centring them all.
  var lastPanned = null;
  function place(o, left, top) {
    o.scrollLeft = left;
    o.scrollTop = top;
    o._setTo = [o.scrollLeft, o.scrollTop];
  }
  function centre(sc) {
    if (!czoom) return;
    var lead = lastPanned && lastPanned !== sc && document.body.contains(lastPanned) ? lastPanned : null;
    if (!lead) {
      var first = document.querySelector(".cscroll");
      if (first && first !== sc && first.scrollWidth > first.clientWidth) lead = first;
    }
    if (lead) { follow(lead, sc); return; }
    place(sc, (sc.scrollWidth - sc.clientWidth) / 2, (sc.scrollHeight - sc.clientHeight) / 2);
  }
  // Every panel (or just ``only``) shows the same place as ``src``, as a fraction of each image.
  function follow(src, only) {
    var fx = src.scrollLeft / Math.max(1, src.scrollWidth - src.clientWidth);
    var fy = src.scrollTop / Math.max(1, src.scrollHeight - src.clientHeight);
    document.querySelectorAll(".cscroll").forEach(function (o) {
      if (o === src || (only && o !== only)) return;
      place(o, Math.round(fx * (o.scrollWidth - o.clientWidth)), Math.round(fy * (o.scrollHeight - o.clientHeight)));
    });
  }
  function syncPan(sc) {
    sc.addEventListener("scroll", function () {
      var set = sc._setTo;
      sc._setTo = null;
      if (set && set[0] === sc.scrollLeft && set[1] === sc.scrollTop) return;  // our own change, echoed
      lastPanned = sc;
      follow(sc);
    });
    var drag = null;
    sc.addEventListener("mousedown", function (e) { drag = { x: e.clientX, y: e.clientY, l: sc.scrollLeft, t: sc.scrollTop }; e.preventDefault(); });
    window.addEventListener("mouseup", function () { drag = null; });
    sc.addEventListener("mousemove", function (e) {
      if (!drag) return;
      sc.scrollLeft = drag.l - (e.clientX - drag.x);
      sc.scrollTop = drag.t - (e.clientY - drag.y);
    });
  }

  function showSurvey() {
    var id = order[sel], s = skey(frames[id]), ids = series[s].filter(function (x) { return passes(frames[x]); });
    if (ids.indexOf(id) < 0) ids = [id];
    var box = $("survey-cells");
    var key = ids.join(",");
    if (box.dataset.key !== key) {
      box.dataset.key = key;
      box.textContent = "";
      var n = ids.length, cols = Math.ceil(Math.sqrt(n * 1.5)), rows = Math.ceil(n / cols);
      var w = Math.floor((box.clientWidth - 12) / cols) - 12, h = Math.floor((box.clientHeight - 12) / rows) - 34;
      ids.forEach(function (x) {
        var f = frames[x], c = el("div", "scell");
        c.dataset.id = String(x);
        var img = el("img");
        img.alt = f.name;
        img.style.width = w + "px";
        img.style.height = h + "px";
        img.src = viewUrl(x, w, h);
        c.appendChild(img);
        var bar = el("div", "cbar");
        bar.appendChild(el("span", "", f.name + " · "));
        bar.appendChild(el("span", "cstate", ""));
        c.appendChild(bar);
        c.addEventListener("click", function () { select(order.indexOf(x)); });
        box.appendChild(c);
      });
    }
    $("survey-title").textContent = "Survey · " + (frames[id].in_series ? "series " + frames[id].series : "single") + " · " + ids.length + " frame(s)";
    box.querySelectorAll(".scell").forEach(function (c) { c.classList.toggle("sel", +c.dataset.id === id); });
    refreshBars();
  }

  function setZoom() {  // the loupe opens fitted, compare at 100 %: each keeps its own
    if (view === "loupe") { zoom100 = !zoom100; showLoupe(); }
    else if (view === "compare") { czoom = !czoom; showCompare({ rezoom: true }); }
  }

  function setAdvance(on) {
    autoAdvance = on;
    var a = $("advance");
    a.textContent = "auto-advance " + (on ? "on" : "off");
    a.classList.toggle("off", !on);
  }

  // ---------------------------------------------------------------- keys
  document.addEventListener("keydown", function (e) {
    var overlay = $("overlay");
    if (e.target && (e.target.tagName === "SELECT" || e.target.tagName === "INPUT")) return;
    if (e.key === "?") { overlay.hidden = !overlay.hidden; e.preventDefault(); return; }
    if (!overlay.hidden && e.key === "Escape") { overlay.hidden = true; e.preventDefault(); return; }
    if ((e.ctrlKey || e.metaKey) && !e.altKey && e.code === "KeyZ") { undoLast(); e.preventDefault(); return; }
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var code = e.code || "", digit = /^(Digit|Numpad)([0-9])$/.exec(code);
    var caps = e.getModifierState && e.getModifierState("CapsLock");
    if (caps !== undefined) setAdvance(!caps);
    var advance = autoAdvance !== e.shiftKey;  // Shift+key: the other way round, as in Lightroom
    var t = e.timeStamp, handled = true;
    if (digit && +digit[2] <= 5) decide({ action: "stars", stars: +digit[2] }, advance, t);
    else if (digit) decide({ action: "label", label: LABELS[+digit[2]] }, advance, t);
    else if (code === "KeyP") decide({ action: "pick" }, advance, t);
    else if (code === "KeyX") decide({ action: "reject" }, advance, t);
    else if (code === "KeyU") decide({ action: "unflag" }, advance, t);
    else if (e.key === "ArrowRight") select(sel + 1, { key: t });
    else if (e.key === "ArrowLeft") select(sel - 1, { key: t });
    else if (e.key === "ArrowDown" && view === "grid") seriesJump(1);
    else if (e.key === "ArrowUp" && view === "grid") seriesJump(-1);
    else if (code === "KeyS") toggleStack(e.shiftKey);
    else if (code === "KeyG" || e.key === "Escape") show("grid");
    else if (code === "KeyE" || code === "Enter") show("loupe");
    else if (code === "Space") show(view === "loupe" ? "grid" : "loupe");
    else if (code === "KeyZ") setZoom();
    else if (code === "KeyC") show("compare", { key: t, rezoom: true });
    else if (code === "KeyN") show("survey");
    else if (code === "Tab" && view === "compare") { activePanel = (activePanel + 1) % compareIds.length; markActive(); }
    else handled = false;
    if (handled) e.preventDefault();
  });
  window.addEventListener("resize", function () { if (view !== "grid") render({ rezoom: true }); });
  ["f-stars", "f-flag", "f-label", "f-problem"].forEach(function (id) {
    $(id).addEventListener("change", function () { apply(); $(id).blur(); });
  });
  // Leaving: tell the server (it prints the session's summary and stops unless the page comes back).
  window.addEventListener("pagehide", function () {
    try {
      fetch("/api/bye", { method: "POST", keepalive: true, body: "{}",
        headers: { "Content-Type": "application/json", "X-Photocull-Token": token } });
    } catch (err) { /* nothing to do */ }
  });

  fetch("/api/shoot" + q).then(function (r) {
    if (!r.ok) return r.text().then(function (t) { throw new Error(t); });
    return r.json();
  }).then(build).catch(function (e) { say("cannot load the shoot: " + e.message); });
})();
