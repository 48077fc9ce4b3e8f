"""What the hub publishes: adapters' items as protocol bodies (bounded, validated), a CAP Cancel
as a withdrawal, and an EIDO incident as our incident, tasks and units through [eido]."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commandcenter.config import load_defaults
from commandcenter.core import protocol as p
from commandcenter.core.model import HazardItem
from commandcenter.core.store import Store
from commandcenter.core.timeutil import FakeClock
from commandcenter.ingest import cap, eido
from commandcenter.ingest.items import Item
from commandcenter.ingest.publish import bodies_for, eido_bodies, to_hazard
from commandcenter.ingest.regions import load_regions
from tests.conftest import ROOT
from tests.factories import make_event
from tests.serverproc import ServerProcess, admin_inject, export

FIXTURES = ROOT / "tests" / "fixtures" / "ingest"
T = dt.datetime(2026, 12, 4, 16, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def regions() -> Any:
    return load_regions("", "")


def test_a_cap_cancel_withdraws_the_warning_it_references(regions: Any) -> None:
    xml = (FIXTURES / "CSS20261204003_alert.xml").read_bytes()
    warning = to_hazard(cap.parse_alert(xml, regions))
    sent = b"<sent>2026-12-04T23:35:00+07:00</sent>"
    cancel_xml = (
        xml.replace(b"<identifier>CSS20261204003</identifier>", b"<identifier>CSS20261204003C</identifier>")
        .replace(b"<msgType>Alert</msgType>", b"<msgType>Cancel</msgType><references>"
                 b"bmkg@bmkg.go.id,CSS20261204003,2026-12-04T23:05:00+07:00</references>")
        .replace(b"<sent>2026-12-04T23:05:00+07:00</sent>", sent)
    )  # fmt: skip
    cancel = to_hazard(cap.parse_alert(cancel_xml, regions))
    assert cancel.cancel and cancel.references == ["CSS20261204003"]
    store = Store(clock=FakeClock(warning.time + dt.timedelta(minutes=1)))
    store.apply(make_event(p.HazardReported(item=warning), seq=1))
    assert "bmkg-cap/CSS20261204003" in store.hazards
    store.apply(make_event(p.HazardReported(item=cancel), seq=2))
    assert store.hazards == {}


def test_oversized_publisher_values_are_bounded_not_refused() -> None:
    ring = [(-3.0 + i * 1e-4, 105.0 + i * 1e-4) for i in range(2000)]
    item = Item(
        source="bmkg-cap", kind="warning", id="odd id with spaces <b>", time=T, text="x" * 900,
        area=[ring] * 40, kecamatan=["Kayu Agung"], severity="Severe",
        detail={"Sender Name": "BMKG", "nested": {"a": 1}, "calls": [{"id": 1}], "list": ["a", "b"], "n": 3},
    )  # fmt: skip
    hazard = to_hazard(item)
    assert len(hazard.area) == 32 and all(len(r) <= 500 for r in hazard.area)
    assert hazard.area[0][0] == ring[0] and hazard.area[0][-1] == ring[0]  # still closed
    assert len(hazard.text) == 200 and hazard.severity == "severe"
    assert hazard.id.startswith("sha1:") and hazard.id == to_hazard(item).id  # stable
    assert hazard.detail == {"sender_name": "BMKG", "list": "a; b", "n": 3.0}


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=300), st.text(max_size=300),
    st.dictionaries(st.text(max_size=40), st.one_of(st.text(max_size=50), st.floats(), st.integers()),
                    max_size=40),
)  # fmt: skip
def test_to_hazard_gives_a_valid_item_or_a_value_error(ident: str, text: str, detail: dict[str, Any]) -> None:
    item = Item(source="petabencana", kind="report", id=ident or "x", time=T, text=text, detail=detail)
    try:
        hazard = to_hazard(item)
    except ValueError:
        return
    again = msgspec.json.decode(msgspec.json.encode(hazard), type=HazardItem)
    assert again == hazard


def test_an_eido_incident_becomes_our_incident_with_tasks_and_units(regions: Any) -> None:
    (item,) = eido.parse((FIXTURES / "eido-karhutla-deling.json").read_bytes(), regions)
    bodies = eido_bodies(item, load_defaults())
    units = [b.unit for b in bodies if isinstance(b, p.UnitUpserted)]
    (incident,) = [b.incident for b in bodies if isinstance(b, p.IncidentUpserted)]
    assert incident.category == "karhutla" and incident.priority == "high" and incident.status == "forwarded"
    assert [t.agency for t in incident.tasks] == ["BPBD", "DAMKAR"]
    assert {u.agency for u in units} == {"BPBD", "DAMKAR"} and all(
        u.incident_id == incident.id for u in units
    )
    assert incident.location.kecamatan == "Pangkalan Lampam" and incident.location.desa == "Riding"
    # An agency the mapping does not know is left out, an unknown type gets the default category.
    cfg = load_defaults()
    cfg2 = msgspec.structs.replace(cfg, eido=msgspec.structs.replace(cfg.eido, agencies=cfg.eido.agencies[:1],
                                                                        types=[]))  # fmt: skip
    (inc2,) = [b.incident for b in eido_bodies(item, cfg2) if isinstance(b, p.IncidentUpserted)]
    assert [t.agency for t in inc2.tasks] == ["BPBD"] and inc2.category == cfg.eido.default_category


@pytest.mark.slow
async def test_the_eido_bodies_are_accepted_by_the_server(tmp_path: Path, regions: Any) -> None:
    (item,) = eido.parse((FIXTURES / "eido-karhutla-deling.json").read_bytes(), regions)
    server = ServerProcess(tmp_path / "server.sqlite3").start()
    try:
        seq = await admin_inject(server.url, bodies_for(item, load_defaults()))
    finally:
        server.stop()
    assert seq == 3
    assert [e["event"]["body"]["kind"] for e in export(tmp_path / "server.sqlite3")] == [
        "unit",
        "unit",
        "incident",
    ]
