"""External items in the protocol and the store: bounds, keeping by (source, id), CAP Update
and Cancel, expiry, and the figures checked against brute-force recounts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commandcenter.core import protocol as p
from commandcenter.core.model import HazardItem, SourceStatus
from commandcenter.core.store import PEAT_DISTRICTS, Store, decode_state, encode_state, hazard_key
from commandcenter.core.timeutil import WIB, FakeClock
from tests.factories import T0, make_event


def warning(id_: str = "CSS1", **kw: Any) -> HazardItem:
    base: dict[str, Any] = dict(
        source="bmkg-cap", kind="warning", id=id_, time=T0, expires=T0 + dt.timedelta(hours=3),
        text="Hujan lebat", kecamatan=["Kayu Agung"], severity="severe",
        area=[[(-3.33, 104.84), (-3.33, 104.93), (-3.42, 104.93)]],
    )  # fmt: skip
    base.update(kw)
    return HazardItem(**base)


def hazard_event(item: HazardItem, seq: int = 1) -> p.Event:
    return make_event(p.HazardReported(item=item), seq=seq)


# --- protocol bounds ------------------------------------------------------------------


def _frame(item: dict[str, Any]) -> bytes:
    doc = {"type": "event", "epoch": "e", "seq": 1, "id": "e-1", "ts": "2026-12-04T16:00:00Z",
           "body": {"kind": "hazard", "item": item}}  # fmt: skip
    return msgspec.json.encode(doc)


GOOD = {"source": "bmkg-cap", "kind": "warning", "id": "CSS20261204003", "time": "2026-12-04T16:05:00Z"}


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"time": "9999-12-31T23:59:59Z"}, "time"),
        ({"expires": "1999-12-31T23:59:59Z"}, "expires"),
        ({"text": "Hujan\x1b[31m"}, "text"),
        ({"text": "x" * 201}, "text"),
        ({"id": "<script>"}, "id"),
        ({"kind": "tsunami_v2"}, "kind"),
        ({"severity": "Severe"}, "severity"),
        ({"magnitude": 11.0}, "magnitude"),
        ({"area": [[[-3.3, 104.8], [-3.3, 104.9]]]}, "area"),
        ({"area": [[[-3.3, 104.8]] * 501]}, "area"),
        ({"area": [[[-3.3, 104.8], [-3.3, 104.9], [-3.4, 104.9]]] * 33}, "area"),
        ({"area": [[[-93.0, 104.8], [-3.3, 104.9], [-3.4, 104.9]]]}, "area"),
        ({"detail": {f"k{i}": "x" for i in range(33)}}, "detail"),
        ({"detail": {"Bad Key": "x"}}, "detail"),
        ({"detail": {"text": "a\u202eb"}}, "detail"),
        ({"lat": -3.3}, "lat and lon"),
    ],
)
def test_a_hazard_out_of_bounds_is_refused_naming_the_field(change: dict[str, Any], needle: str) -> None:
    assert isinstance(p.decode_server_frame(_frame(GOOD)).body, p.HazardReported)  # type: ignore[union-attr]
    with pytest.raises(p.ProtocolError) as err:
        p.decode_server_frame(_frame({**GOOD, **change}))
    assert needle in err.value.reason


def test_a_source_status_out_of_bounds_is_refused() -> None:
    good = {"name": "bmkg-nowcast", "kind": "bmkg-rss", "state": "live", "at": "2026-12-04T16:00:00Z"}
    doc = {"type": "event", "epoch": "e", "seq": 1, "id": "e-1", "ts": "2026-12-04T16:00:00Z",
           "body": {"kind": "source_status", "status": good}}  # fmt: skip
    assert isinstance(p.decode_server_frame(msgspec.json.encode(doc)).body, p.SourceStatusChanged)  # type: ignore[union-attr]
    for bad in (
        {"state": "green"},
        {"last_ok": "9999-01-01T00:00:00Z"},
        {"stale_after_s": 0},
        {"name": "A B"},
    ):
        doc["body"]["status"] = {**good, **bad}  # type: ignore[index]
        with pytest.raises(p.ProtocolError):
            p.decode_server_frame(msgspec.json.encode(doc))


# --- the store ---------------------------------------------------------------------------


def test_a_warning_is_kept_replaced_and_leaves_at_its_expiry() -> None:
    clock = FakeClock(T0)
    store = Store(clock=clock)
    cs = store.apply(hazard_event(warning()))
    assert cs.hazards == {"bmkg-cap/CSS1"} and cs.kpis_changed
    assert store.apply(hazard_event(warning(), seq=2)).hazards == set()  # the same item again
    figures = store.hazard_figures()
    assert figures.warnings_by_severity == {"severe": 1} and figures.warnings == ["bmkg-cap/CSS1"]
    store.apply(hazard_event(warning(severity="extreme"), seq=3))
    assert store.hazard_figures().warnings_by_severity == {"extreme": 1}
    clock.advance(3 * 3600 - 1)
    assert not store.expire_hazards()
    clock.advance(1)
    assert store.expire_hazards().hazards == {"bmkg-cap/CSS1"}
    assert store.hazards == {} and store.hazard_figures().warnings_by_severity == {}


def test_a_cap_cancel_removes_the_alert_it_references_and_an_update_replaces_it() -> None:
    store = Store(clock=FakeClock(T0))
    store.apply(hazard_event(warning("CSS1")))
    store.apply(hazard_event(warning("CSS2", references=["CSS1"], severity="moderate"), seq=2))
    assert set(store.hazards) == {"bmkg-cap/CSS2"}
    assert store.hazard_figures().warnings_by_severity == {"moderate": 1}
    cs = store.apply(hazard_event(warning("CSS3", references=["CSS2"], cancel=True, kecamatan=[]), seq=3))
    assert cs.hazards == {"bmkg-cap/CSS2"}
    assert store.hazards == {} and store.hazard_figures().warnings_by_severity == {}
    # A reference never reaches another source's item of the same id.
    store.apply(hazard_event(warning("X1", source="other-cap"), seq=4))
    store.apply(hazard_event(warning("C", references=["X1"], cancel=True), seq=5))
    assert set(store.hazards) == {"other-cap/X1"}


def test_a_warning_outside_oki_is_kept_but_not_counted() -> None:
    store = Store(clock=FakeClock(T0))
    store.apply(hazard_event(warning("CSS20261204004", kecamatan=[])))
    assert "bmkg-cap/CSS20261204004" in store.hazards
    assert store.hazard_figures().warnings == []


def test_an_expired_item_is_not_stored() -> None:
    store = Store(clock=FakeClock(T0 + dt.timedelta(hours=4)))
    assert not store.apply(hazard_event(warning())).hazards
    assert store.hazards == {}


def test_a_source_shows_stale_by_its_age_even_without_a_new_status() -> None:
    clock = FakeClock(T0)
    store = Store(clock=clock)
    status = SourceStatus(name="bmkg-nowcast", kind="bmkg-rss", state="live", at=T0, last_ok=T0,
                          stale_after_s=600.0)  # fmt: skip
    cs = store.apply(make_event(p.SourceStatusChanged(status=status), seq=1))
    assert cs.sources == {"bmkg-nowcast"}
    assert store.source_state("bmkg-nowcast") == ("live", 0.0)
    clock.advance(601)
    assert store.source_state("bmkg-nowcast") == ("stale", 601.0)


def test_hazards_survive_the_state_and_a_snapshot() -> None:
    clock = FakeClock(T0)
    store = Store(clock=clock)
    store.apply(hazard_event(warning()))
    status = SourceStatus(name="firms", kind="firms", state="failing", at=T0, error="HTTP 500")
    store.apply(make_event(p.SourceStatusChanged(status=status), seq=2))
    again = Store(clock=clock)
    again.load_state(decode_state(encode_state(store.to_state())))
    assert again.hazards == store.hazards and again.sources == store.sources
    third = Store(clock=clock)
    third.apply_snapshot(store.to_snapshot_parts(max_items_per_part=1))
    assert third.hazards == store.hazards and third.sources == store.sources
    assert third.hazard_figures() == store.hazard_figures()


# --- figures against brute-force recounts ---------------------------------------------------

DISTRICTS = [*PEAT_DISTRICTS, "Kayu Agung", "Jejawi"]
SOURCES = {"warning": "bmkg-cap", "quake": "bmkg-quake", "hotspot": "firms", "report": "petabencana"}


@st.composite
def steps(draw: st.DrawFn) -> list[tuple[float, HazardItem | None]]:
    """(seconds to advance, item or None = expire now), over about three days."""
    out: list[tuple[float, HazardItem | None]] = []
    for _ in range(draw(st.integers(1, 40))):
        advance = draw(st.sampled_from([0.0, 60.0, 1800.0, 3 * 3600.0, 11 * 3600.0]))
        if draw(st.integers(0, 5)) == 0:
            out.append((advance, None))
            continue
        kind = draw(st.sampled_from(["warning", "quake", "hotspot", "report"]))
        back = dt.timedelta(hours=draw(st.integers(0, 30)))
        kec = draw(st.lists(st.sampled_from(DISTRICTS), max_size=2, unique=True))
        refs = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=2, unique=True))
        out.append((advance, HazardItem(
            source=SOURCES[kind], kind=kind, id=draw(st.sampled_from(["a", "b", "c", "d"])), time=T0 - back,
            expires=(T0 + dt.timedelta(hours=draw(st.integers(1, 40)))) if kind == "warning" else None,
            kecamatan=kec, severity=draw(st.sampled_from(["extreme", "severe", "moderate", ""])),
            magnitude=5.0 if kind == "quake" else None,
            references=refs if kind == "warning" else [], cancel=kind == "warning" and draw(st.booleans()),
        )))  # fmt: skip
    return out


@settings(max_examples=150, deadline=None)
@given(steps())
def test_hazard_figures_equal_a_brute_force_recount(plan: list[tuple[float, HazardItem | None]]) -> None:
    clock = FakeClock(T0)
    store = Store(clock=clock)
    naive: dict[tuple[str, str], HazardItem] = {}
    for seq, (advance, item) in enumerate(plan, start=1):
        clock.advance(advance)
        if item is None:
            store.expire_hazards()
            continue
        store.apply(hazard_event(item, seq=seq))
        for ref in item.references:
            if ref != item.id:
                naive.pop((item.source, ref), None)
        if item.cancel or (item.expires is not None and item.expires <= clock()):
            naive.pop((item.source, item.id), None)
        else:
            naive[(item.source, item.id)] = item
    store.expire_hazards()
    now = clock()
    live = [i for i in naive.values() if i.expires is None or i.expires > now]
    assert set(store.hazards) == {hazard_key(i) for i in live}
    figures = store.hazard_figures()
    oki_warnings = [i for i in live if i.kind == "warning" and i.kecamatan]
    by_severity: dict[str, int] = {}
    for i in oki_warnings:
        by_severity[i.severity or "unknown"] = by_severity.get(i.severity or "unknown", 0) + 1
    assert figures.warnings_by_severity == by_severity
    assert sorted(figures.warnings) == sorted(hazard_key(i) for i in oki_warnings)
    today = now.astimezone(WIB).date()
    hotspots: dict[str, int] = {}
    for i in live:
        if i.kind == "hotspot" and i.time.astimezone(WIB).date() == today:
            for k in i.kecamatan:
                if k in PEAT_DISTRICTS:
                    hotspots[k] = hotspots.get(k, 0) + 1
    assert figures.hotspots_today_by_kecamatan == hotspots
    window = now - dt.timedelta(seconds=store.report_window_s)
    assert figures.reports_recent == sum(
        1 for i in live if i.kind == "report" and i.kecamatan and i.time >= window
    )
    quakes = [i for i in live if i.kind == "quake"]
    latest = max(quakes, key=lambda i: (i.time, hazard_key(i)), default=None)
    assert figures.latest_quake == (hazard_key(latest) if latest else None)
