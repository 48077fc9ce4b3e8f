"""What the hub publishes for an item: the protocol's bodies.

Quakes, warnings, hotspots and citizen reports become ``hazard`` events (a
:class:`~commandcenter.core.model.HazardItem`, bounded like every other value on the wire);
an EIDO incident of another dispatch system becomes our own incident, one task per dispatched
agency and a unit per dispatched resource, through the ``[eido]`` mapping in config.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from typing import Any

import msgspec

from commandcenter.config import Config
from commandcenter.core import protocol as p
from commandcenter.core.model import (
    AgencyTask,
    HazardItem,
    Incident,
    IncidentTimes,
    Location,
    Unit,
)
from commandcenter.ingest.items import IngestError, Item, clean_text

_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_.:@,+/#=\-]{1,200}$")
_KEY = re.compile(r"[^a-z0-9_]+")
MAX_RING_POINTS = 500
MAX_RINGS = 32


def _clean(value: object, limit: int) -> str:
    """clean_text, with a fast path for text the adapters already cleaned (most of it):
    10,000 hotspots a poll must not spend a second re-reading their words character by character."""
    if isinstance(value, str) and value.isprintable() and "  " not in value and value == value.strip():
        return value[:limit]
    return clean_text(value, limit)


def _external_id(value: str) -> str:
    """The publisher's id when the protocol can carry it, else a stable digest of it."""
    if _EXTERNAL_ID.match(value):
        return value
    return "sha1:" + hashlib.sha1(value.encode("utf-8")).hexdigest()


def _ring(ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A ring of at most MAX_RING_POINTS points (every n-th point of a longer one, closed)."""
    if len(ring) <= MAX_RING_POINTS:
        return ring
    step = -(-len(ring) // (MAX_RING_POINTS - 1))
    thinned = ring[::step]
    return [*thinned, ring[0]] if thinned[-1] != ring[0] else thinned


@functools.lru_cache(maxsize=1024)
def _key(raw: str) -> str:
    """A detail name as the protocol's key (lowercase, _ for the rest); '' when unusable.
    Cached: every item of a source has the same few names."""
    key = _KEY.sub("_", raw.lower()).strip("_")[:32]
    return key if key and key[0].isalpha() else ""


def _detail(detail: dict[str, Any]) -> dict[str, str | float]:
    """The item's details as the protocol carries them: named text or numbers (lists of text
    joined), at most 32; nested structures (EIDO's calls and dispatches) stay out."""
    out: dict[str, str | float] = {}
    for raw_key, value in detail.items():
        key = _key(str(raw_key))
        if not key or len(out) >= 32:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (int, float)):
            if -1e12 < float(value) < 1e12:
                out[key] = float(value)
        elif isinstance(value, str):
            out[key] = _clean(value, 2000)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[key] = _clean("; ".join(value), 2000)
    return out


def to_hazard(item: Item) -> HazardItem:
    """The protocol's form of an adapter's item (ValueError/ModelError when it cannot be)."""
    detail = dict(item.detail)
    references = [_external_id(str(r)) for r in detail.get("references", []) if str(r)][:32]
    cancel = detail.get("msg_type") == "Cancel"
    rings = [_ring(r) for r in item.area if len(r) >= 3][:MAX_RINGS]
    kind = item.kind if item.kind in ("quake", "warning", "hotspot", "report", "incident") else "report"
    hazard = HazardItem(
        source=item.source, kind=kind,  # type: ignore[arg-type]
        id=_external_id(item.id), time=item.time, text=_clean(item.text, 200),
        expires=item.expires, lat=item.lat, lon=item.lon, area=rings, kecamatan=item.kecamatan[:40],
        desa=item.desa[:400], severity=item.severity.lower(),  # type: ignore[arg-type]
        magnitude=item.magnitude, references=references, cancel=cancel, detail=_detail(detail),
    )  # fmt: skip
    # The same validation a receiver applies (patterns, bounds, __post_init__).
    return msgspec.json.decode(msgspec.json.encode(hazard), type=HazardItem)


def _our_id(prefix: str, value: str) -> str:
    return f"{prefix}-" + hashlib.sha1(value.encode("utf-8")).hexdigest()[:20]


_UNIT_STATUS = {"enroute": "dispatched", "dispatched": "dispatched", "onscene": "on_scene",
                "arrived": "on_scene", "returning": "returning", "available": "available"}  # fmt: skip


def eido_bodies(item: Item, config: Config) -> list[p.EventBody]:
    """An EIDO incident as our incident with its units: the [eido] table maps their agency
    ids to our agencies (an unmapped agency's dispatch is left out) and their incident types
    to our categories (default_category otherwise)."""
    if item.kind != "incident":
        raise IngestError(item.id, "not an EIDO incident")
    d = item.detail
    agency_of = {a.id: a.agency for a in config.eido.agencies}
    category_of = {t.type: t.category for t in config.eido.types}
    category = category_of.get(str(d.get("incident_type", "")), config.eido.default_category)
    updated = dt.datetime.fromisoformat(str(d["updated"]))
    incident_id = _our_id("eido", item.id)
    units: list[Unit] = []
    tasks: list[AgencyTask] = []
    for disp in d.get("dispatches", []):
        agency = agency_of.get(disp.get("agency", ""))
        if agency is None or config.agency(agency) is None or any(t.agency == agency for t in tasks):
            continue
        at = _time(disp.get("at"))
        ids = []
        for res in disp.get("resources", []):
            status = _UNIT_STATUS.get(_KEY.sub("", str(res.get("status", "")).lower()), "dispatched")
            unit = Unit(
                id=_our_id("eidou", str(res["id"])), callsign=clean_text(res.get("name"), 200) or "EIDO",
                agency=agency, kind="eido", status=status,  # type: ignore[arg-type]
                version=int(updated.timestamp()), incident_id=incident_id, updated_at=updated,
            )  # fmt: skip
            units.append(unit)
            ids.append(unit.id)
        tasks.append(AgencyTask(agency=agency, status="forwarded", forwarded_at=at, units=ids))
    priority_number = d.get("priority")
    priority = "high" if priority_number == 1 else ("medium" if priority_number == 2 else "low")
    statuses = {str(s).lower() for s in d.get("status", [])}
    closed = bool(statuses & {"closed", "completed"})
    dispatched = min((t.forwarded_at for t in tasks if t.forwarded_at), default=None)
    received = item.time
    incident = Incident(
        id=incident_id, ticket=("EIDO-" + incident_id[5:17]).upper(), version=int(updated.timestamp()),
        category=category, priority=priority,  # type: ignore[arg-type]
        status="closed" if closed else ("forwarded" if tasks else "received"),
        location=Location(
            lat=item.lat, lon=item.lon, kecamatan=item.kecamatan[0] if item.kecamatan else "",
            desa=item.desa[0] if item.desa else "", address=clean_text(d.get("location_text"), 200),
        ),
        description=clean_text(f"{item.text} (EIDO {d.get('issuer', '')})", 4000), tasks=tasks,
        units=[u.id for u in units],
        times=IncidentTimes(
            received=received, dispatched=dispatched if dispatched and dispatched >= received else None,
            closed=updated if closed else None,
        ),
        updated_at=updated,
    )  # fmt: skip
    bodies: list[p.EventBody] = [p.UnitUpserted(unit=u) for u in units]
    bodies.append(p.IncidentUpserted(incident=incident))
    # Validate exactly as the server will.
    return msgspec.json.decode(msgspec.json.encode(bodies), type=list[p.EventBody])


def _time(value: Any) -> dt.datetime | None:
    try:
        t = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return t.astimezone(dt.UTC) if t.tzinfo else None


def bodies_for(item: Item, config: Config) -> list[p.EventBody]:
    """The bodies one item is published as."""
    if item.source == "eido" and item.kind == "incident":
        return eido_bodies(item, config)
    return [p.HazardReported(item=to_hazard(item))]
