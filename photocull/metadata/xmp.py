"""Read and update the rating fields of an XMP packet, keeping everything else.

A small xml.etree reader/writer (see README_design.md for why no XMP library): the packet
is parsed, only xmp:Rating, xmp:Label and MicrosoftPhoto:Rating (as attribute or element,
wherever they already are) and the keyword bags dc:subject and lr:hierarchicalSubject (whose
other items are kept) are touched, and the tree is written back with the document's
own namespace prefixes, so keywords, Lightroom develop settings and unknown namespaces
survive.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

X_NS = "adobe:ns:meta/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMP_NS = "http://ns.adobe.com/xap/1.0/"
MS_NS = "http://ns.microsoft.com/photo/1.0/"  # Microsoft's and exiv2's spelling (exiftool: no slash)
MS_NS_ALT = "http://ns.microsoft.com/photo/1.0"
XML_NS = "http://www.w3.org/XML/1998/namespace"
DC_NS = "http://purl.org/dc/elements/1.1/"
LR_NS = "http://ns.adobe.com/lightroom/1.0/"
_DEFAULT_PREFIX = {X_NS: "x", RDF_NS: "rdf", XMP_NS: "xmp", MS_NS: "MicrosoftPhoto", DC_NS: "dc", LR_NS: "lr"}

# The fields photocull owns, by key: (namespace, local name); new ones use the first namespace.
FIELDS = {"Rating": ((XMP_NS,), "Rating"), "Label": ((XMP_NS,), "Label"), "MSRating": ((MS_NS, MS_NS_ALT), "Rating"),
          "Subject": ((DC_NS,), "subject"), "Hierarchical": ((LR_NS,), "hierarchicalSubject")}
# Keyword fields: an rdf:Bag of rdf:li, read and written as a list of strings (every item
# kept: photocull adds or removes only its own keyword).
BAGS = frozenset({"Subject", "Hierarchical"})
MS_PERCENT = {0: 0, 1: 1, 2: 25, 3: 50, 4: 75, 5: 99}  # stars -> MicrosoftPhoto:Rating

PACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
PACKET_END = '<?xpacket end="w"?>'


class XmpError(ValueError):
    """The packet is not XMP we can safely update; ``str()`` is a one-line reason."""


@dataclass
class Packet:
    """A parsed packet: the element tree plus what is needed to write it back faithfully."""

    root: ET.Element
    prefixes: dict[str, str]  # namespace URI -> prefix, as the document declared them
    wrapped: bool  # had an <?xpacket?> wrapper
    xml_decl: bool  # started with <?xml ...?>


def _q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def parse(data: bytes) -> Packet:
    """Parse a packet (bytes, UTF-8/16 with or without wrapper); raise XmpError if unusable."""
    body = data.rstrip(b"\x00 \t\r\n")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise XmpError("XMP contains a DTD/entities; refusing to parse it")
    parser = ET.XMLPullParser(events=("start", "start-ns"))
    prefixes: dict[str, str] = {}
    root = None
    try:
        parser.feed(body)
        parser.close()
        for event, item in parser.read_events():
            if event == "start-ns":
                prefix, uri = item  # type: ignore[misc]
                if uri not in prefixes and prefix:
                    prefixes[uri] = prefix
            elif root is None:
                root = item
    except ET.ParseError as exc:
        raise XmpError(f"XMP is not well-formed XML ({exc})") from None
    if root is None or _rdf(root) is None:
        raise XmpError("XMP has no rdf:RDF element")
    text = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    return Packet(root, prefixes, b"<?xpacket" in body[:200], text.startswith(b"<?xml"))


def new_packet(toolkit: str = "photocull") -> Packet:
    """An empty x:xmpmeta document with one rdf:Description."""
    root = ET.Element(_q(X_NS, "xmpmeta"), {_q(X_NS, "xmptk"): toolkit})
    root.text = "\n "
    rdf = ET.SubElement(root, _q(RDF_NS, "RDF"))
    rdf.text = "\n  "
    rdf.tail = "\n"
    desc = ET.SubElement(rdf, _q(RDF_NS, "Description"), {_q(RDF_NS, "about"): ""})
    desc.tail = "\n "
    return Packet(root, {}, True, False)


def _rdf(root: ET.Element) -> ET.Element | None:
    if root.tag == _q(RDF_NS, "RDF"):
        return root
    return root.find(f".//{_q(RDF_NS, 'RDF')}")


def _descriptions(p: Packet) -> list[ET.Element]:
    rdf = _rdf(p.root)
    assert rdf is not None
    return [d for d in rdf if d.tag == _q(RDF_NS, "Description")]


def _read_bag(p: Packet, ns: str, local: str) -> list[str] | None:
    """Items of a bag (or seq) property; a plain-text value counts as one item."""
    for d in _descriptions(p):
        if _q(ns, local) in d.attrib:
            return [d.attrib[_q(ns, local)]]
        el = d.find(_q(ns, local))
        if el is not None:
            return [(li.text or "").strip() for li in el.iter(_q(RDF_NS, "li"))] or (
                [(el.text or "").strip()] if (el.text or "").strip() else [])
    return None


def _write_bag(descs: list[ET.Element], ns: str, local: str, items: list[str] | None) -> None:
    """Replace a bag property's items (None removes it); a new one goes where its namespace is."""
    name = _q(ns, local)
    for d in descs:
        if name in d.attrib:
            del d.attrib[name]
        for el in d.findall(name):
            _remove_child(d, el)
    if items is None:
        return
    home = next((d for d in descs if any(c.tag.startswith(f"{{{ns}}}") for c in d)), descs[0])
    el = ET.SubElement(home, name)
    bag = ET.SubElement(el, _q(RDF_NS, "Bag"))
    el.text, bag.text = "\n    ", "\n     "
    for i, item in enumerate(items):
        li = ET.SubElement(bag, _q(RDF_NS, "li"))
        li.text = item
        li.tail = "\n     " if i < len(items) - 1 else "\n    "
    bag.tail = "\n   "
    kids = list(home)
    if len(kids) > 1:
        el.tail, kids[-2].tail = kids[-2].tail, home.text if (home.text or "").strip() == "" and home.text else "\n   "
    else:
        home.text, el.tail = home.text if (home.text or "").strip() else "\n   ", "\n  "


def read_raw(p: Packet) -> dict[str, str | None]:
    """The owned fields as stored (strings), None when absent."""
    out: dict[str, str | None] = {}
    for key, (nss, local) in FIELDS.items():
        out[key] = None
        if key in BAGS:
            out[key] = _read_bag(p, nss[0], local)
            continue
        for d in _descriptions(p):
            for ns in nss:
                if _q(ns, local) in d.attrib:
                    out[key] = d.attrib[_q(ns, local)]
                    break
                el = d.find(_q(ns, local))
                if el is not None:
                    out[key] = (el.text or "").strip()
                    break
            if out[key] is not None:
                break
    return out


def as_int(raw: str | None) -> int | None:
    """A stored rating as an int ("3", "3.0", "-1"), None when absent or not a number."""
    if raw is None:
        return None
    try:
        return int(float(raw))
    except ValueError:
        return None


def read(p: Packet) -> dict[str, int | str | None]:
    raw = read_raw(p)
    return {"Rating": as_int(raw["Rating"]), "Label": raw["Label"], "MSRating": as_int(raw["MSRating"])}


def update(p: Packet, values: dict[str, str | None]) -> None:
    """Set (str) or remove (None) each field named in ``values``; others are left alone.

    An existing field is changed where it is (attribute or element, every occurrence); a new
    one becomes an attribute of the Description already using that namespace, else the first.
    """
    descs = _descriptions(p)
    if not descs:
        rdf = _rdf(p.root)
        assert rdf is not None
        descs = [ET.SubElement(rdf, _q(RDF_NS, "Description"), {_q(RDF_NS, "about"): ""})]
    for key, value in values.items():
        nss, local = FIELDS[key]
        ns = nss[0]
        if key in BAGS:
            _write_bag(descs, ns, local, value)  # type: ignore[arg-type]
            continue
        found = False
        for d, name in ((d, _q(n, local)) for d in descs for n in nss):
            if name in d.attrib:
                found = True
                if value is None:
                    del d.attrib[name]
                else:
                    d.attrib[name] = value
            for el in d.findall(name):
                found = True
                if value is None:
                    _remove_child(d, el)
                else:
                    el.text = value
        if not found and value is not None:
            name = _q(ns, local)
            home = next((d for d in descs if any(a.startswith(f"{{{ns}}}") for a in d.attrib)), None)
            home = home or next((d for d in descs if any(c.tag.startswith(f"{{{ns}}}") for c in d)), descs[0])
            home.attrib[name] = value


def is_empty(p: Packet) -> bool:
    """Whether the packet states nothing (no property in any rdf:Description, nothing beside
    them): what a packet photocull created holds once undo removed every field it wrote."""
    rdf = _rdf(p.root)
    if rdf is None:
        return False
    descs = list(rdf)
    if any(el is not p.root and el is not rdf and el not in descs for el in p.root.iter()):
        return False  # another element (a property, or something beside the rdf:RDF)
    about = _q(RDF_NS, "about")
    return all(d.tag == _q(RDF_NS, "Description") and set(d.attrib) <= {about} and not d.get(about)
               and not (d.text or "").strip() for d in descs)


def _remove_child(parent: ET.Element, child: ET.Element) -> None:
    """Remove ``child`` and the whitespace that preceded it, keeping the layout tidy."""
    kids = list(parent)
    i = kids.index(child)
    if i == 0:
        parent.text = child.tail if (parent.text or "").strip() == "" else parent.text
    else:
        kids[i - 1].tail = child.tail
    parent.remove(child)


def _esc(s: str, attr: bool) -> str:
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attr:
        s = s.replace('"', "&quot;").replace("\n", "&#xA;").replace("\t", "&#x9;")
    return s.replace("\r", "&#xD;")


class _Writer:
    def __init__(self, prefixes: dict[str, str]) -> None:
        self.prefix: dict[str, str] = {XML_NS: "xml"}
        used = {"xml"}
        for uri, pre in list(prefixes.items()) + list(_DEFAULT_PREFIX.items()):
            if uri in self.prefix:
                continue
            base, i = pre, 1
            while pre in used:
                pre, i = f"{base}{i}", i + 1
            self.prefix[uri] = pre
            used.add(pre)
        self.used = used

    def name(self, qname: str) -> str:
        if qname[0] != "{":
            return qname
        uri, local = qname[1:].split("}", 1)
        if uri not in self.prefix:
            pre, i = "ns", 1
            while f"{pre}{i}" in self.used:
                i += 1
            self.prefix[uri] = f"{pre}{i}"
            self.used.add(f"{pre}{i}")
        return f"{self.prefix[uri]}:{local}"

    @staticmethod
    def uris(el: ET.Element, deep: bool) -> list[str]:
        found: list[str] = []
        for e in el.iter() if deep else [el]:
            for q in [e.tag, *e.attrib]:
                if q[0] == "{":
                    uri = q[1:].split("}", 1)[0]
                    if uri != XML_NS and uri not in found:
                        found.append(uri)
        return found

    def write(self, el: ET.Element, out: list[str], declared: set[str], depth: int) -> None:
        # Top-level Descriptions declare everything they use (XMP convention); others only
        # what they introduce themselves.
        is_desc = el.tag == _q(RDF_NS, "Description") and depth <= 2
        need = [u for u in self.uris(el, deep=is_desc) if u not in declared]
        inner = declared | set(need)
        parts = [self.name(el.tag)]
        parts += [f'xmlns:{self.name("{" + u + "}x").split(":")[0]}="{_esc(u, True)}"' for u in need]
        parts += [f'{self.name(k)}="{_esc(v, True)}"' for k, v in el.attrib.items()]
        sep = "\n" + "   " * (depth + 1) if is_desc and len(parts) > 2 else " "
        out.append("<" + sep.join(parts))
        if len(el) == 0 and not el.text:
            out.append("/>")
        else:
            out.append(">" + _esc(el.text or "", False))
            for child in el:
                self.write(child, out, inner, depth + 1)
                out.append(_esc(child.tail or "", False))
            out.append(f"</{self.name(el.tag)}>")


def serialize(p: Packet, *, padding: int = 2048, wrapper: bool | None = None) -> bytes:
    """UTF-8 bytes of the packet; with the xpacket wrapper and ``padding`` bytes of space."""
    out: list[str] = []
    _Writer(p.prefixes).write(p.root, out, set(), 0)
    body = "".join(out)
    wrap = p.wrapped if wrapper is None else wrapper
    if not wrap:
        head = '<?xml version="1.0" encoding="UTF-8"?>\n' if p.xml_decl else ""
        return (head + body + "\n").encode("utf-8")
    pad = ""
    if padding > 0:
        line = " " * 99 + "\n"
        pad = line * (padding // 100) + " " * (padding % 100)
    return (PACKET_BEGIN + "\n" + body + "\n" + pad + PACKET_END).encode("utf-8")
