"""OASIS CAP 1.2 alerts, BMKG's nowcast profile in particular, and BMKG's RSS index of them.

BMKG publishes an RSS index (bmkg.go.id/alerts/nowcast/id/rss.xml) whose items link to one CAP
file each; the RSS guid is the CAP identifier. A BMKG CAP alert has one ``info`` per language,
``area`` elements whose ``areaDesc`` names only the province and whose ``polygon``s ("lat,lon"
pairs, first = last) draw the warned area; the districts appear only in the description text.
So whether an alert touches OKI is decided by intersecting its polygons (and circles) with the
district and village boundaries (:mod:`commandcenter.ingest.regions`), never by a bounding box.
Parsed with defusedxml (:mod:`commandcenter.ingest.xmlsafe`).
"""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import Any
from xml.etree.ElementTree import Element

import shapely

from commandcenter.ingest.items import IngestError, Item, aware_time, clean_text, finite
from commandcenter.ingest.regions import Regions, circle, polygon
from commandcenter.ingest.xmlsafe import child_text, children, local, parse_xml

SOURCE = "bmkg-cap"
CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
MSG_TYPES = ("Alert", "Update", "Cancel", "Ack", "Error")
STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
#: CAP 1.0's "Very Likely" is still seen in the wild; CAP 1.2 folds it into Likely.
_CERTAINTY_ALIASES = {"Very Likely": "Likely"}


def _required(el: Element, name: str, where: str) -> str:
    value = child_text(el, name)
    if not value:
        raise IngestError(f"{where} {name}", "missing")
    return value


def _enum(value: str | None, allowed: tuple[str, ...], where: str) -> str:
    value = (value or "").strip()
    if value not in allowed:
        raise IngestError(where, f"{value[:40]!r} is not one of {', '.join(allowed)}")
    return value


def parse_polygon(text: str, where: str) -> list[tuple[float, float]]:
    """CAP polygon: space-separated "lat,lon" pairs, at least four, first = last."""
    ring: list[tuple[float, float]] = []
    for n, pair in enumerate(text.split()):
        parts = pair.split(",")
        if len(parts) != 2:
            raise IngestError(f"{where} pair {n + 1}", f"not 'lat,lon': {pair[:40]!r}")
        ring.append((
            finite(parts[0], f"{where} pair {n + 1} latitude", lo=-90, hi=90),
            finite(parts[1], f"{where} pair {n + 1} longitude", lo=-180, hi=180),
        ))  # fmt: skip
    if len(ring) < 4:
        raise IngestError(where, f"{len(ring)} points; CAP needs at least 4")
    if ring[0] != ring[-1]:
        raise IngestError(where, "not closed (CAP: the first and last pairs must be the same)")
    return ring


def _circle(text: str, where: str) -> tuple[float, float, float]:
    try:
        centre, radius = text.split()
        lat_s, lon_s = centre.split(",")
    except ValueError:
        raise IngestError(where, f"not 'lat,lon radius': {text[:40]!r}") from None
    return (
        finite(lat_s, f"{where} latitude", lo=-90, hi=90),
        finite(lon_s, f"{where} longitude", lo=-180, hi=180),
        finite(radius, f"{where} radius", lo=0, hi=20000),
    )


def _pick_info(infos: list[Element], language: str) -> tuple[Element, Element | None]:
    """The info block in ``language`` (CAP's default language is en-US), and the English one."""

    def lang(el: Element) -> str:
        return (child_text(el, "language") or "en-US").lower()

    chosen = next((i for i in infos if lang(i).startswith(language)), infos[0])
    english = next((i for i in infos if lang(i).startswith("en") and i is not chosen), None)
    return chosen, english


def parse_alert(data: bytes, regions: Regions | None = None, *, language: str = "id") -> Item:
    """One CAP 1.2 alert document as one item (its areas together)."""
    root = parse_xml(data)
    if local(root.tag) != "alert":
        raise IngestError("document", f"root element is <{local(root.tag)}>, not a CAP <alert>")
    if root.tag.startswith("{") and not root.tag.startswith("{" + CAP_NS):
        raise IngestError("alert", f"namespace {root.tag.split('}')[0][1:]!r} is not CAP 1.2")
    identifier = _required(root, "identifier", "alert")
    sent = aware_time(_required(root, "sent", "alert"), "alert sent")
    status = _enum(child_text(root, "status"), STATUSES, "alert status")
    msg_type = _enum(child_text(root, "msgType"), MSG_TYPES, "alert msgType")
    references = (child_text(root, "references") or "").split()
    infos = children(root, "info")
    if not infos and msg_type in ("Alert", "Update"):
        raise IngestError("alert", "no <info> block")
    detail: dict[str, Any] = {
        "sender": clean_text(_required(root, "sender", "alert"), 200),
        "status": status, "msg_type": msg_type,
    }  # fmt: skip
    if references:
        # "sender,identifier,sent" triples; the identifiers are what a Cancel or Update replaces.
        detail["references"] = [r.split(",")[1] if r.count(",") == 2 else r for r in references]
    if not infos:
        return Item(source=SOURCE, kind="warning", id=identifier, time=sent, text="", detail=detail)
    info, english = _pick_info(infos, language)
    where = f"info[{infos.index(info)}]"
    severity = _enum(child_text(info, "severity"), SEVERITIES, f"{where} severity")
    urgency = _enum(child_text(info, "urgency"), URGENCIES, f"{where} urgency")
    certainty_raw = (child_text(info, "certainty") or "").strip()
    certainty = _enum(_CERTAINTY_ALIASES.get(certainty_raw, certainty_raw), CERTAINTIES, f"{where} certainty")
    effective = (
        aware_time(child_text(info, "effective"), f"{where} effective")
        if child_text(info, "effective")
        else sent
    )
    expires = (
        aware_time(child_text(info, "expires"), f"{where} expires") if child_text(info, "expires") else None
    )
    if expires is not None and expires < effective:
        raise IngestError(
            f"{where} expires", f"{expires.isoformat()} is before effective {effective.isoformat()}"
        )
    rings: list[list[tuple[float, float]]] = []
    shapes = []
    area_desc = []
    for a, area in enumerate(children(info, "area")):
        aw = f"{where} area[{a}]"
        area_desc.append(clean_text(child_text(area, "areaDesc"), 200))
        for p, poly in enumerate(children(area, "polygon")):
            ring = parse_polygon(poly.text or "", f"{aw} polygon[{p}]")
            rings.append(ring)
            shapes.append(polygon(ring))
        for c, circ in enumerate(children(area, "circle")):
            lat, lon, radius = _circle((circ.text or "").strip(), f"{aw} circle[{c}]")
            shapes.append(circle(lat, lon, radius))
    kec: list[str] = []
    desa: list[str] = []
    if regions is not None and shapes:
        kec, desa = regions.touching(shapely.union_all(shapes))
    headline = clean_text(child_text(info, "headline") or child_text(info, "event"), 300)
    detail.update({
        "event": clean_text(child_text(info, "event"), 200), "urgency": urgency, "certainty": certainty,
        "effective": effective.isoformat(), "language": child_text(info, "language") or "en-US",
        "description": clean_text(child_text(info, "description"), 2000),
        "area_desc": "; ".join(d for d in area_desc if d),
    })  # fmt: skip
    for key in ("instruction", "web", "senderName"):
        if child_text(info, key):
            detail[key.lower()] = clean_text(child_text(info, key), 1000)
    if english is not None and child_text(english, "headline"):
        detail["headline_en"] = clean_text(child_text(english, "headline"), 300)
    return Item(
        source=SOURCE, kind="warning", id=identifier, time=sent, expires=expires, text=headline,
        area=rings, kecamatan=kec, desa=desa, severity=severity, detail=detail,
    )  # fmt: skip


def parse_rss(data: bytes) -> list[Item]:
    """BMKG's RSS index: one item per CAP file (id = guid = CAP identifier, detail.link)."""
    root = parse_xml(data)
    channel = next(iter(children(root, "channel")), None) if local(root.tag) == "rss" else None
    if channel is None:
        raise IngestError("document", "not an RSS 2.0 document (<rss><channel>)")
    items = []
    for i, it in enumerate(children(channel, "item")):
        where = f"item[{i}]"
        guid = child_text(it, "guid") or ""
        link = child_text(it, "link") or ""
        if not guid:
            raise IngestError(f"{where} guid", "missing (BMKG's guid is the CAP identifier)")
        if not link.startswith(("https://", "http://")):
            raise IngestError(f"{where} link", f"not an http(s) link: {link[:60]!r}")
        pub = child_text(it, "pubDate")
        when = _rfc822(pub, f"{where} pubDate")
        items.append(Item(
            source="bmkg-rss", kind="warning-index", id=guid, time=when,
            text=clean_text(child_text(it, "title"), 300),
            detail={"link": link, "description": clean_text(child_text(it, "description"), 500)},
        ))  # fmt: skip
    return items


def _rfc822(text: str | None, where: str) -> dt.datetime:
    if not text:
        raise IngestError(where, "missing")
    try:
        value = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError):
        # Some feeds put ISO 8601 there.
        return aware_time(text, where)
    if value.tzinfo is None:
        raise IngestError(where, f"no time zone: {text[:40]!r}")
    return aware_time(value.isoformat(), where)


def parse_alert_list(data: bytes, regions: Regions | None = None) -> list[Item]:
    """:func:`parse_alert` as a list (the shape every adapter returns)."""
    return [parse_alert(data, regions)]
