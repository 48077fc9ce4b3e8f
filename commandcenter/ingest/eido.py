"""NENA EIDO (NENA-STA-021, the JSON form): a dispatch system that is not ours feeds the wall.

An EIDO is one JSON object per incident: a prologue ($id, lastUpdateTimeStamp), eidoVersion,
issuingElementIdentification and arrays of components (incidentComponent, callComponent,
emergencyResourceComponent, dispatchComponent, agencyComponent, locationComponent, ...) that
refer to each other by ``{"$ref": id}``. A location is a PIDF-LO XML document inside
``locationByValue``; a gml:Point's ``pos`` is "lat lon". This module resolves the references
the wall needs (the incident's location, the dispatched resources and their agencies) and refuses
a document whose references dangle, naming the reference.

The mapping onto our incidents, tasks and units (commandcenter.ingest.publish) takes the incident
type from incidentTypeCommonRegistryText (the APCO-based registry) or the internal code, and each
dispatchComponent as a task for its agency with its resources as units.
"""

from __future__ import annotations

import json
from typing import Any

from commandcenter.ingest.items import IngestError, Item, aware_time, check_size, clean_text, finite
from commandcenter.ingest.regions import Regions
from commandcenter.ingest.xmlsafe import local, parse_xml

SOURCE = "eido"
COMPONENT_ARRAYS = (
    "callComponent", "callbackComponent", "dispatchComponent", "notesComponent", "emergencyResourceComponent",
    "alarmsSensorsComponent", "agencyComponent", "agentComponent", "additionalDataComponent",
    "locationComponent", "personComponent", "vehicleComponent", "cautionComponent", "mediaComponent",
    "mergeComponent", "linkComponent",
)  # fmt: skip


class _Doc:
    def __init__(self, doc: dict[str, Any], where: str) -> None:
        self.where = where
        self.by_id: dict[str, tuple[str, dict[str, Any]]] = {}
        for key in COMPONENT_ARRAYS:
            comps = doc.get(key, [])
            if not isinstance(comps, list):
                raise IngestError(f"{where} {key}", "not an array")
            for n, comp in enumerate(comps):
                if not isinstance(comp, dict):
                    raise IngestError(f"{where} {key}[{n}]", "not an object")
                cid = comp.get("$id")
                if not isinstance(cid, str) or not cid:
                    raise IngestError(f"{where} {key}[{n}] $id", "missing")
                if cid in self.by_id:
                    raise IngestError(f"{where} {key}[{n}] $id", f"{cid!r} used twice")
                self.by_id[cid] = (key, comp)
        incident = doc.get("incidentComponent")
        if isinstance(incident, dict) and isinstance(incident.get("$id"), str):
            self.by_id.setdefault(incident["$id"], ("incidentComponent", incident))

    def resolve(self, ref: Any, kind: str, where: str) -> dict[str, Any]:
        """The component a ``{"$ref": id}`` names, which must be of ``kind``."""
        if not isinstance(ref, dict) or not isinstance(ref.get("$ref"), str):
            raise IngestError(f"{self.where} {where}", 'not a {"$ref": id} reference')
        target = self.by_id.get(ref["$ref"])
        if target is None:
            raise IngestError(f"{self.where} {where}", f"$ref {ref['$ref']!r} names no component")
        if target[0] != kind:
            raise IngestError(f"{self.where} {where}", f"$ref {ref['$ref']!r} is a {target[0]}, not a {kind}")
        return target[1]


def _refs(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def pidf_point(xml_text: str, where: str) -> tuple[float, float] | None:
    """(lat, lon) of the first gml pos in a PIDF-LO document, or None (a civic address only)."""
    root = parse_xml(xml_text.encode("utf-8"))
    for el in root.iter():
        if local(el.tag) == "pos" and el.text:
            parts = el.text.split()
            if len(parts) < 2:
                raise IngestError(f"{where} pos", f"not 'lat lon': {el.text[:40]!r}")
            return (finite(parts[0], f"{where} pos latitude", lo=-90, hi=90),
                    finite(parts[1], f"{where} pos longitude", lo=-180, hi=180))  # fmt: skip
    return None


def _agency_name(agency: dict[str, Any]) -> str:
    """The fn of the agency's jCard, else its $id."""
    card = agency.get("agencyJcard")
    if isinstance(card, list) and len(card) == 2 and isinstance(card[1], list):
        for prop in card[1]:
            if isinstance(prop, list) and len(prop) >= 4 and prop[0] == "fn":
                return clean_text(prop[3], 120)
    return clean_text(agency.get("$id"), 120)


def _incident(doc: Any, where: str, regions: Regions | None) -> Item:
    if not isinstance(doc, dict):
        raise IngestError(where, "not a JSON object")
    eid = doc.get("$id")
    if not isinstance(eid, str) or not eid.strip() or len(eid) > 256:
        raise IngestError(f"{where} $id", "missing or longer than 256 characters")
    if doc.get("eidoVersion") != "1.0":
        raise IngestError(f"{where} eidoVersion", f"{doc.get('eidoVersion')!r}; this reader knows 1.0")
    if not doc.get("issuingElementIdentification"):
        raise IngestError(f"{where} issuingElementIdentification", "missing")
    d = _Doc(doc, where)
    inc = doc.get("incidentComponent")
    if not isinstance(inc, dict):
        raise IngestError(f"{where} incidentComponent", "missing: this EIDO carries no incident")
    updated = aware_time(
        doc.get("lastUpdateTimeStamp") or inc.get("lastUpdateTimeStamp"), f"{where} lastUpdateTimeStamp"
    )
    type_text = clean_text(inc.get("incidentTypeCommonRegistryText"), 120)
    if not type_text:
        raise IngestError(f"{where} incidentComponent.incidentTypeCommonRegistryText", "missing")
    lat = lon = None
    location_text = ""
    for n, ref in enumerate(_refs(inc.get("locationReference"))):
        loc = d.resolve(ref, "locationComponent", f"incidentComponent.locationReference[{n}]")
        location_text = location_text or clean_text(loc.get("locationDescriptionText"), 300)
        if lat is None and isinstance(loc.get("locationByValue"), str):
            point = pidf_point(loc["locationByValue"], f"{where} locationComponent {loc['$id']!r}")
            if point is not None:
                lat, lon = point
    calls = []
    received = None
    for n, call in enumerate(doc.get("callComponent", [])):
        start = call.get("callStartTimestamp")
        start_t = aware_time(start, f"{where} callComponent[{n}].callStartTimestamp") if start else None
        answer = call.get("answerDate")
        answer_t = aware_time(answer, f"{where} callComponent[{n}].answerDate") if answer else None
        if start_t is not None and (received is None or start_t < received):
            received = start_t
        calls.append({"id": call["$id"], "start": start_t.isoformat() if start_t else None,
                      "answered": answer_t.isoformat() if answer_t else None,
                      "state": clean_text(call.get("callStateRegistryText"), 40)})  # fmt: skip
    agencies: dict[str, dict[str, Any]] = {}
    for cid, (kind, comp) in d.by_id.items():
        if kind == "agencyComponent":
            agencies[cid] = {"id": cid, "name": _agency_name(comp),
                             "owning": bool(comp.get("incidentOwningAgencyIndicator"))}  # fmt: skip
    dispatches = []
    for n, disp in enumerate(doc.get("dispatchComponent", [])):
        agency = d.resolve(
            disp.get("agencyReference"), "agencyComponent", f"dispatchComponent[{n}].agencyReference"
        )
        resources = []
        for m, ref in enumerate(_refs(disp.get("emergencyResourceReference"))):
            res = d.resolve(ref, "emergencyResourceComponent",
                            f"dispatchComponent[{n}].emergencyResourceReference[{m}]")  # fmt: skip
            resources.append({
                "id": res["$id"], "name": clean_text(res.get("emergencyResourceName") or res["$id"], 80),
                "type": clean_text(res.get("emergencyResourceTypeCommonRegistryText"), 60),
                "status": clean_text(res.get("primaryUnitStatusRegistryText"), 60),
            })  # fmt: skip
        dispatches.append({"id": disp["$id"], "agency": agency["$id"], "resources": resources,
                           "at": clean_text(disp.get("lastUpdateTimeStamp"), 40)})  # fmt: skip
    kec, desa = (
        regions.place(lat, lon) if (regions is not None and lat is not None and lon is not None) else ("", "")
    )
    status = [clean_text(s, 60) for s in _refs(inc.get("incidentStatusCommonRegistryText"))]
    priority = inc.get("incidentCommonPriorityNumber")
    if priority is not None and (
        not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 2**31 - 1
    ):
        raise IngestError(
            f"{where} incidentComponent.incidentCommonPriorityNumber", f"not an int32: {priority!r:.40}"
        )
    place = (
        f" · {desa}, {kec}"
        if desa
        else (f" · {kec}" if kec else (f" · {location_text}" if location_text else ""))
    )
    internal = inc.get("incidentTypeInternalCode") or inc.get("incidentTypeInternalText")
    detail = {
        "updated": updated.isoformat(),
        "issuer": clean_text(doc["issuingElementIdentification"], 200),
        "incident_type": type_text,
        "incident_type_internal": clean_text(internal, 60),
        "status": status,
        "priority": priority,
        "location_text": location_text,
        "calls": calls,
        "agencies": [agencies[k] for k in sorted(agencies)],
        "dispatches": dispatches,
    }
    return Item(
        source=SOURCE, kind="incident", id=eid.strip(), time=received or updated, text=f"{type_text}{place}",
        lat=lat, lon=lon, kecamatan=[kec] if kec else [], desa=[desa] if desa else [], detail=detail,
    )  # fmt: skip


def parse(data: bytes, regions: Regions | None = None) -> list[Item]:
    """One EIDO object, or a JSON array of them."""
    check_size(data)
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError("document", f"not JSON: {exc}") from None
    docs = doc if isinstance(doc, list) else [doc]
    return [
        _incident(x, f"eido[{i}]" if isinstance(doc, list) else "eido", regions) for i, x in enumerate(docs)
    ]
