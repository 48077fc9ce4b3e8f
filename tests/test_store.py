"""Tests of commandcenter.core.store: idempotence, change sets, incremental figures
checked against a brute-force recomputation, snapshots, retention."""

from __future__ import annotations

import datetime as dt
import math
import random
import statistics
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commandcenter.core import protocol as p
from commandcenter.core.figures import histogram
from commandcenter.core.model import (
    ACTIVE_STATUSES,
    INCIDENT_STATUSES,
    UNHANDLED_STATUSES,
    UNIT_STATUS_GROUP,
    Acknowledgement,
    Agency,
    AgencyTask,
    Alert,
    CallFunnel,
    DisasterSituation,
    Incident,
    IncidentTimes,
    Location,
    Unit,
)
from commandcenter.core.store import (
    ChangeSet,
    FunnelFigures,
    Kpis,
    ResponseStats,
    Store,
    StoreState,
    decode_state,
    encode_state,
    median,
    percentile,
)
from commandcenter.core.timeutil import WIB, FakeClock, local_day
from tests.factories import make_event, make_incident

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # 10:00 WIB
TASK_STATUSES = ("pending", "forwarded", "accepted", "in_handling", "done", "rejected")
UNIT_STATUSES = tuple(UNIT_STATUS_GROUP)


class Stream:
    """Wraps bodies in events with increasing seq."""

    def __init__(self, epoch: str = "ep-1") -> None:
        self.epoch = epoch
        self.seq = 0

    def __call__(self, body: p.EventBody) -> p.Event:
        self.seq += 1
        return make_event(body, seq=self.seq, epoch=self.epoch)

    def inc(self, inc: Incident) -> p.Event:
        return self(p.IncidentUpserted(incident=inc))


def times(received: dt.datetime, **offsets_s: float | None) -> IncidentTimes:
    return IncidentTimes(
        received=received,
        **{k: None if v is None else received + dt.timedelta(seconds=v) for k, v in offsets_s.items()},
    )


# --- brute force -------------------------------------------------------------------


def brute_kpis(
    incidents: dict[str, Incident],
    retired: dict[str, Incident],
    units: dict[str, Unit],
    situations: dict[str, DisasterSituation],
    funnel: CallFunnel | None,
    now: dt.datetime,
    target: float = 900.0,
    acks: dict[str, Acknowledgement] | None = None,
    alerts: dict[str, Alert] | None = None,
) -> Kpis:
    """The figures recomputed from scratch, written independently of the store."""
    today = local_day(now, WIB)
    history = [*incidents.values(), *retired.values()]
    active = [i for i in incidents.values() if i.status in ACTIVE_STATUSES]
    unhandled = [i for i in incidents.values() if i.status in UNHANDLED_STATUSES]
    oldest = min(unhandled, key=lambda i: (i.times.received, i.id)) if unhandled else None
    unacked = brute_unacked_high(incidents, acks or {}, alerts or {})

    def stats(attr: str, agency: str | None = None) -> ResponseStats:
        values = sorted(
            (getattr(i.times, attr) - i.times.received).total_seconds()
            for i in history
            if getattr(i.times, attr) is not None
            and local_day(getattr(i.times, attr), WIB) == today
            and (agency is None or agency in i.agencies)
        )
        if not values:
            return ResponseStats()
        n = len(values)
        within = sum(1 for v in values if v <= target)
        return ResponseStats(
            count=n,
            median_s=statistics.median(values),
            p90_s=values[(9 * n + 9) // 10 - 1],
            within_target=within,
            within_target_share=within / n,
            median_within_target=statistics.median(values) <= target,
        )

    arrival_by_agency = {a: stats("on_scene", a) for i in history for a in i.agencies}

    if funnel is not None and funnel.day == today:
        f = funnel
        figures = FunnelFigures(
            day=today,
            calls_in=f.calls_in,
            answered=f.answered,
            abandoned=f.abandoned,
            prank=f.prank,
            ghost=f.ghost,
            valid=f.valid,
            info=f.info,
            prank_share=f.prank / f.answered if f.answered else 0.0,
            ghost_share=f.ghost / f.answered if f.answered else 0.0,
        )
    else:
        figures = FunnelFigures(day=today)

    hour_start = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=23)
    by_cat: dict[str, list[int]] = {}
    by_agency: dict[str, list[int]] = {}
    for inc in history:
        slot = math.floor((inc.times.received - hour_start).total_seconds() / 3600)
        if 0 <= slot < 24:
            by_cat.setdefault(inc.category, [0] * 24)[slot] += 1
            for task in inc.tasks:
                by_agency.setdefault(task.agency, [0] * 24)[slot] += 1

    units_by_agency: dict[str, Counter[str]] = {}
    for unit in units.values():
        units_by_agency.setdefault(unit.agency, Counter())[UNIT_STATUS_GROUP[unit.status]] += 1

    return Kpis(
        at=now,
        day=today,
        active_total=len(active),
        active_by_category=dict(Counter(i.category for i in active)),
        active_by_agency=dict(
            Counter(t.agency for i in active for t in i.tasks if t.status not in ("done", "rejected"))
        ),
        active_by_kecamatan=dict(Counter(i.location.kecamatan for i in active)),
        active_by_priority=dict(Counter(i.priority for i in active)),
        active_by_status=dict(Counter(i.status for i in active)),
        oldest_unhandled_id=oldest.id if oldest else None,
        oldest_unhandled_age_s=(now - oldest.times.received).total_seconds() if oldest else None,
        dispatch=stats("dispatched"),
        arrival=stats("on_scene"),
        response_target_s=target,
        closed_today=sum(
            1
            for i in history
            if i.status == "closed" and i.times.closed and local_day(i.times.closed, WIB) == today
        ),
        funnel=figures,
        hour_start=hour_start,
        hourly_by_category=by_cat,
        hourly_by_agency=by_agency,
        units_by_agency={a: dict(c) for a, c in units_by_agency.items()},
        situations_active=sum(1 for s in situations.values() if s.status == "active"),
        arrival_by_agency={a: st for a, st in arrival_by_agency.items() if st.count},
        unacked_high=len(unacked),
        oldest_unacked_high_id=unacked[0] if unacked else None,
    )


def brute_acked(acks: dict[str, Acknowledgement], alerts: dict[str, Alert]) -> dict[str, Acknowledgement]:
    """Incident id -> the earliest acknowledgement naming it (itself or through its alert)."""
    out: dict[str, Acknowledgement] = {}
    for ack in acks.values():
        alert = alerts.get(ack.alert_id)
        iid = ack.incident_id or (alert.incident_id if alert is not None else None)
        if iid is not None and (iid not in out or (ack.at, ack.ack_id) < (out[iid].at, out[iid].ack_id)):
            out[iid] = ack
    return out


def brute_unacked_high(
    incidents: dict[str, Incident], acks: dict[str, Acknowledgement], alerts: dict[str, Alert]
) -> list[str]:
    """Active high-priority incidents no acknowledgement names, oldest first (ties by id)."""
    acked = brute_acked(acks, alerts)
    found = [
        i
        for i in incidents.values()
        if i.priority == "high" and i.status in ACTIVE_STATUSES and i.id not in acked
    ]
    found.sort(key=lambda i: (i.times.received, i.id))
    return [i.id for i in found]


def store_brute(store: Store) -> Kpis:
    return brute_kpis(
        store.incidents,
        store.retired,
        store.units,
        store.situations,
        store.funnel,
        store.clock(),
        acks=store.acks,
        alerts=store.alerts,
    )


def check_view_figures(store: Store) -> None:
    """The figures the views read beside the KPIs, against a brute-force recomputation."""
    now = store.clock()
    today = local_day(now, WIB)
    history = [*store.incidents.values(), *store.retired.values()]

    def arrivals(agency: str | None) -> list[float]:
        return sorted(
            (i.times.on_scene - i.times.received).total_seconds()
            for i in history
            if i.times.on_scene is not None
            and local_day(i.times.on_scene, WIB) == today
            and (agency is None or agency in i.agencies)
        )

    assert store.arrival_samples() == arrivals(None)
    for agency in AGENCIES:
        assert store.arrival_samples(agency) == arrivals(agency)
    samples = arrivals(None)
    hist = store.arrival_histogram(300, 3600)
    expected = [0] * 13
    for v in samples:
        expected[min(12, int(v // 300))] += 1
    assert hist.counts == expected
    assert hist.within_target == [(i + 1) * 300 <= store.response_target_s for i in range(12)] + [False]
    assert store.unacked_high_ids() == brute_unacked_high(store.incidents, store.acks, store.alerts)
    oldest = store.oldest_unacked_high()
    assert (oldest.id if oldest else None) == store.kpis().oldest_unacked_high_id
    acked = brute_acked(store.acks, store.alerts)
    for iid in {*IDS, *store.incidents}:
        assert store.incident_ack(iid) == acked.get(iid), iid
    for sid in SITUATION_IDS:
        counts = Counter(i.status for i in store.incidents.values() if i.situation_id == sid)
        assert store.situation_status_counts(sid) == {s: counts[s] for s in INCIDENT_STATUSES if counts[s]}


class Reference:
    """The store's visibility rules written the slow, obvious way."""

    def __init__(self) -> None:
        self.visible: dict[str, Incident] = {}
        self.retired: dict[str, Incident] = {}
        self.units: dict[str, Unit] = {}
        self.funnel: CallFunnel | None = None

    def incident(self, inc: Incident) -> None:
        current = self.visible.get(inc.id) or self.retired.get(inc.id)
        if current is None or inc.version > current.version:
            self.retired.pop(inc.id, None)
            self.visible[inc.id] = inc

    def unit(self, unit: Unit) -> None:
        current = self.units.get(unit.id)
        if current is None or unit.version > current.version:
            self.units[unit.id] = unit

    def set_funnel(self, funnel: CallFunnel) -> None:
        if self.funnel is None or funnel.day >= self.funnel.day:
            self.funnel = funnel

    def prune(self, horizon_s: float, now: dt.datetime) -> None:
        cutoff = now - dt.timedelta(seconds=horizon_s)
        for inc in list(self.visible.values()):
            ended = inc.times.closed or inc.updated_at or inc.times.received
            if inc.status not in ACTIVE_STATUSES and ended < cutoff:
                del self.visible[inc.id]
                self.retired[inc.id] = inc
        # A retired incident is forgotten once it counts in no window any more.
        today = local_day(now, WIB)
        hour_start = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=23)
        for inc in list(self.retired.values()):
            t = inc.times
            days = [t.dispatched, t.on_scene, t.closed if inc.status == "closed" else None]
            if t.received < hour_start and all(d is None or local_day(d, WIB) < today for d in days):
                del self.retired[inc.id]


class View:
    """A view that follows the store only through change sets."""

    def __init__(self) -> None:
        self.incidents: dict[str, Incident] = {}

    def follow(self, store: Store, cs: ChangeSet) -> None:
        if cs.reset:
            self.incidents = dict(store.incidents)
            return
        assert not (cs.incidents_added & cs.incidents_updated)
        assert not (cs.incidents_added & cs.incidents_removed)
        assert not (cs.incidents_updated & cs.incidents_removed)
        for key in cs.incidents_added:
            assert key not in self.incidents, key
            self.incidents[key] = store.incidents[key]
        for key in cs.incidents_updated:
            assert key in self.incidents, key
            self.incidents[key] = store.incidents[key]
        for key in cs.incidents_removed:
            assert key in self.incidents, key
            assert key not in store.incidents
            del self.incidents[key]


# --- strategies --------------------------------------------------------------------

IDS = [f"inc-{i}" for i in range(7)]
CATEGORIES = ["kebakaran", "banjir", "medis"]
KECAMATAN = ["Kayu Agung", "Jejawi", "Pedamaran", ""]
AGENCIES = ["DAMKAR", "DINKES", "BPBD"]
SITUATION_IDS = ["sit-1", "sit-2"]
ALERT_IDS = ["al-1", "al-2"]
durations = st.one_of(
    st.integers(0, 3 * 3600),
    st.sampled_from([0, 899, 900, 901]),  # the target's edge
    st.integers(0, 3 * 3600).map(lambda s: s + 0.123456),
)


#: Offsets of receipt from "now" (seconds): anywhere in the last two days, and
#: the edges of hourly buckets, which hypothesis would rarely hit by chance.
received_offsets = st.one_of(
    st.integers(-50 * 3600, 2 * 3600),
    st.integers(-50, 2).map(lambda h: h * 3600),
    st.integers(-50, 2).map(lambda h: h * 3600 - 1),
    st.sampled_from([-24 * 3600, -23 * 3600, -23 * 3600 - 1, -22 * 3600]),  # the 24-hour window's edge
)


@st.composite
def incidents(draw: st.DrawFn) -> Callable[[dt.datetime], Incident]:
    """A builder of an incident received relative to the clock when applied."""
    status = draw(st.sampled_from(INCIDENT_STATUSES))
    offset = draw(received_offsets)
    tz = draw(st.sampled_from([UTC, WIB]))
    steps = {
        name: None
        if draw(st.booleans()) and not (name == "closed" and status == "closed")
        else draw(durations)
        for name in ("verified", "dispatched", "on_scene", "closed", "updated_at")
    }
    tasks = [
        AgencyTask(agency=a, status=draw(st.sampled_from(TASK_STATUSES)))
        for a in draw(st.lists(st.sampled_from(AGENCIES), max_size=3, unique=True))
    ]
    fields = {
        "id": draw(st.sampled_from(IDS)),
        "ticket": "OKI-1",
        "version": draw(st.integers(1, 8)),
        "category": draw(st.sampled_from(CATEGORIES)),
        "priority": draw(st.sampled_from(["high", "medium", "low"])),
        "status": status,
        "location": Location(kecamatan=draw(st.sampled_from(KECAMATAN))),
        "tasks": tasks,
        "situation_id": draw(st.sampled_from([None, *SITUATION_IDS])),
    }

    def build(now: dt.datetime) -> Incident:
        received = (now + dt.timedelta(seconds=offset)).astimezone(tz)
        at = {k: None if v is None else received + dt.timedelta(seconds=v) for k, v in steps.items()}
        updated_at = at.pop("updated_at")
        return Incident(**fields, times=IncidentTimes(received=received, **at), updated_at=updated_at)

    return build


@st.composite
def units(draw: st.DrawFn) -> Unit:
    return Unit(
        id=draw(st.sampled_from(["u1", "u2", "u3"])),
        callsign="Damkar 1",
        agency=draw(st.sampled_from(AGENCIES)),
        kind="truck",
        status=draw(st.sampled_from(UNIT_STATUSES)),
        version=draw(st.integers(1, 5)),
    )


@st.composite
def funnels(draw: st.DrawFn) -> CallFunnel:
    calls_in = draw(st.integers(0, 500))
    answered = draw(st.integers(0, calls_in))
    abandoned = draw(st.integers(0, calls_in - answered))
    prank = draw(st.integers(0, answered))
    ghost = draw(st.integers(0, answered - prank))
    valid = draw(st.integers(0, answered - prank - ghost))
    return CallFunnel(
        day=local_day(T0) + dt.timedelta(days=draw(st.integers(-2, 1))),
        calls_in=calls_in,
        answered=answered,
        abandoned=abandoned,
        prank=prank,
        ghost=ghost,
        valid=valid,
    )


@st.composite
def alerts(draw: st.DrawFn) -> Callable[[dt.datetime], Alert]:
    """A server alert about one of the incidents (or none), raised relative to the clock."""
    alert_id = draw(st.sampled_from(ALERT_IDS))
    incident_id = draw(st.sampled_from([None, *IDS]))
    priority = draw(st.sampled_from(["high", "medium", "low"]))
    offset = draw(st.integers(-3 * 3600, 0))

    def build(now: dt.datetime) -> Alert:
        return Alert(
            id=alert_id,
            kind="system",
            priority=priority,  # type: ignore[arg-type]
            raised_at=now + dt.timedelta(seconds=offset),
            incident_id=incident_id,
        )

    return build


@st.composite
def acks(draw: st.DrawFn) -> Callable[[dt.datetime], Acknowledgement]:
    """An acknowledgement of one of the alerts, naming its incident or leaving it to the alert."""
    ack_id = f"ack-{draw(st.integers(0, 9))}"
    alert_id = draw(st.sampled_from(ALERT_IDS))
    incident_id = None if draw(st.booleans()) else draw(st.sampled_from(IDS))
    offset = draw(st.integers(-8 * 3600, 0))

    def build(now: dt.datetime) -> Acknowledgement:
        return Acknowledgement(
            ack_id=ack_id,
            alert_id=alert_id,
            operator="Sari",
            console="c1",
            at=now + dt.timedelta(seconds=offset),
            incident_id=incident_id,
        )

    return build


operations = st.one_of(
    alerts().map(lambda a: ("alert", a)),
    acks().map(lambda a: ("ack", a)),
    incidents().map(lambda i: ("incident", i)),
    incidents().map(lambda i: ("incident", i)),
    incidents().map(lambda i: ("incident", i)),
    units().map(lambda u: ("unit", u)),
    funnels().map(lambda f: ("funnel", f)),
    st.one_of(st.integers(0, 3600), st.integers(0, 30).map(lambda h: h * 3600)).map(lambda s: ("advance", s)),
    st.sampled_from([0, 600, 3600, 6 * 3600, 30 * 3600]).map(lambda h: ("prune", h)),
    st.just(("roundtrip", None)),
    st.just(("checkpoint", None)),
)


# --- the strongest test: incremental figures == brute force --------------------------


@given(st.lists(operations, min_size=3, max_size=60), st.integers(-40, 20), st.integers(0, 3599))
def test_figures_match_brute_force_on_random_streams(
    ops: list[tuple[str, Any]], start_h: int, start_s: int
) -> None:
    # Start anywhere within two days around T0, so WIB midnights are crossed.
    clock = FakeClock(T0 + dt.timedelta(hours=start_h, seconds=start_s))
    store = Store(clock=clock)
    ref = Reference()
    view, lazy_view = View(), View()
    pending = ChangeSet()
    stream = Stream()
    for op, arg in ops:
        cs = ChangeSet()
        if op == "incident":
            inc = arg(clock())
            ref.incident(inc)
            cs = store.apply(stream.inc(inc))
        elif op == "unit":
            ref.unit(arg)
            cs = store.apply(stream(p.UnitUpserted(unit=arg)))
        elif op == "funnel":
            ref.set_funnel(arg)
            cs = store.apply(stream(p.FunnelUpdated(funnel=arg)))
        elif op == "alert":
            cs = store.apply(stream(p.AlertRaised(alert=arg(clock()))))
        elif op == "ack":
            cs = store.apply(stream(p.AlertAcknowledged(ack=arg(clock()))))
        elif op == "advance":
            clock.advance(arg)
        elif op == "prune":
            ref.prune(arg, clock())
            cs = store.prune(arg)
        elif op == "roundtrip":
            restored = Store(clock=clock)
            restored_cs = restored.load_state(decode_state(encode_state(store.to_state())))
            assert restored_cs.reset
            assert restored.kpis() == store.kpis()
            assert restored.to_state() == store.to_state()
            store = restored
            cs = restored_cs
        elif op == "checkpoint":
            lazy_view.follow(store, pending)
            assert lazy_view.incidents == store.incidents
            pending = ChangeSet()
        view.follow(store, cs)
        pending.merge(cs)

        assert store.incidents == ref.visible
        assert store.retired == ref.retired
        assert store.units == ref.units
        assert store.funnel == ref.funnel
        assert view.incidents == store.incidents
        assert store.kpis() == store_brute(store)
        check_view_figures(store)
        assert store.seq == stream.seq
    lazy_view.follow(store, pending)
    assert lazy_view.incidents == store.incidents


def test_brute_force_comparison_catches_a_missed_correction() -> None:
    """Guard for the test above: a store that forgets to remove an old sample is caught."""
    clock = FakeClock(T0)
    store = Store(clock=clock)
    s = Stream()
    store.apply(
        s.inc(make_incident(id="a", version=1, times=times(T0 - dt.timedelta(hours=1), dispatched=60)))
    )
    store.apply(
        s.inc(make_incident(id="a", version=2, times=times(T0 - dt.timedelta(hours=1), dispatched=90)))
    )
    assert store.kpis() == store_brute(store)
    store._dispatch[local_day(T0).toordinal()].append(60.0)  # corrupt the bookkeeping
    assert store.kpis() != store_brute(store)


# --- idempotence --------------------------------------------------------------------


def test_same_event_twice_changes_nothing_the_second_time() -> None:
    store = Store(clock=FakeClock(T0))
    event = make_event(p.IncidentUpserted(incident=make_incident(id="a")), seq=1)
    first = store.apply(event)
    before = store.to_state()
    second = store.apply(event)
    assert first.incidents_added == {"a"}
    assert first.kpis_changed
    assert not second
    assert store.to_state() == before


def test_older_version_after_newer_is_ignored() -> None:
    store = Store(clock=FakeClock(T0))
    s = Stream()
    store.apply(s.inc(make_incident(id="a", version=3, status="in_handling")))
    cs = store.apply(s.inc(make_incident(id="a", version=2, status="received")))
    cs2 = store.apply(s.inc(make_incident(id="a", version=3, status="closed", times=times(T0, closed=5))))
    assert not cs
    assert not cs2
    assert store.incidents["a"].status == "in_handling"
    assert store.kpis().active_by_status == {"in_handling": 1}
    assert store.seq == 3  # seq follows the last event even when it changed nothing


def test_units_situations_acks_and_funnel_are_idempotent() -> None:
    store = Store(clock=FakeClock(T0))
    s = Stream()
    unit = Unit(id="u1", callsign="D1", agency="DAMKAR", kind="truck", status="available", version=2)
    assert store.apply(s(p.UnitUpserted(unit=unit))).units_added == {"u1"}
    assert not store.apply(s(p.UnitUpserted(unit=p.msgspec.structs.replace(unit, version=1))))
    situation = DisasterSituation(
        id="s1", version=1, hazard="banjir", name="Banjir Lempuing", status="active", declared_at=T0
    )
    assert store.apply(s(p.SituationUpserted(situation=situation))).situations_added == {"s1"}
    assert not store.apply(s(p.SituationUpserted(situation=situation)))
    ack = Acknowledgement(ack_id="k1", alert_id="al1", operator="Rina", console="c1", at=T0)
    assert store.apply(s(p.AlertAcknowledged(ack=ack))).acks == {"al1"}
    assert not store.apply(s(p.AlertAcknowledged(ack=ack)))
    # A second console's ack of the same alert is recorded but the first one stays.
    ack2 = Acknowledgement(ack_id="k2", alert_id="al1", operator="Budi", console="c2", at=T0)
    assert not store.apply(s(p.AlertAcknowledged(ack=ack2)))
    assert store.acks["al1"].operator == "Rina"
    assert set(store.ack_ids) == {"k1", "k2"}
    today = local_day(T0)
    f1 = CallFunnel(day=today, calls_in=10, answered=8, abandoned=2, prank=3, ghost=1, valid=4)
    f0 = CallFunnel(
        day=today - dt.timedelta(days=1), calls_in=99, answered=0, abandoned=0, prank=0, ghost=0, valid=0
    )
    f2 = CallFunnel(day=today, calls_in=12, answered=9, abandoned=2, prank=3, ghost=1, valid=5)
    assert store.apply(s(p.FunnelUpdated(funnel=f1))).funnel_changed
    assert not store.apply(s(p.FunnelUpdated(funnel=f0)))  # an older day
    assert not store.apply(s(p.FunnelUpdated(funnel=f1)))
    assert store.apply(s(p.FunnelUpdated(funnel=f2))).funnel_changed  # same day replaces
    assert store.funnel == f2


def sample_stream() -> list[p.Event]:
    s = Stream()
    ev: list[p.Event] = []
    for n in range(20):
        rec = T0 - dt.timedelta(minutes=7 * n)
        for v, status in enumerate(("received", "verified", "forwarded", "in_handling", "closed"), 1):
            if n % 3 == 0 and v > 3:
                break
            t = times(
                rec,
                dispatched=300 + n if v >= 4 else None,
                on_scene=900 + n if v >= 4 else None,
                closed=2000 if v == 5 else None,
            )
            ev.append(s.inc(make_incident(id=f"i{n}", version=v, status=status, times=t)))
    ev.append(s(p.AgencyUpserted(agency=Agency(code="BPBD", name="Badan Penanggulangan Bencana Daerah"))))
    alert = Alert(id="al1", kind="unit_emergency", priority="high", raised_at=T0, unit_id="u1")
    ev.append(s(p.AlertRaised(alert=alert)))
    ev.append(s(p.AlertShelved(alert_id="al1", until=T0 + dt.timedelta(hours=1), operator="R", console="c1")))
    ev.append(s(p.AlertUnshelved(alert_id="al1")))
    ev.append(s(p.AlertShelved(alert_id="al1", until=T0 + dt.timedelta(hours=2), operator="R", console="c1")))
    ev.append(s(p.ConsoleMuted(console="c1", until=T0 + dt.timedelta(minutes=5), operator="R")))
    ev.append(s(p.ConsoleMuted(console="c2", until=T0 + dt.timedelta(minutes=5), operator="R")))
    ev.append(s(p.ConsoleUnmuted(console="c2")))
    return ev


def test_replaying_a_whole_stream_gives_the_same_state() -> None:
    events = sample_stream()
    once = Store(clock=FakeClock(T0))
    once.apply_many(events)
    twice = Store(clock=FakeClock(T0))
    twice.apply_many(events)
    again = twice.apply_many(events)
    assert twice.to_state() == once.to_state()
    assert twice.kpis() == once.kpis()
    # Only the shelve/mute toggles are re-reported; no incident changes.
    assert not again.incidents_added
    assert not again.incidents_updated
    assert not again.kpis_changed
    # One event at a time gives the same as apply_many.
    single = Store(clock=FakeClock(T0))
    for event in events:
        single.apply(event)
    assert single.to_state() == once.to_state()
    assert set(once.shelved) == {"al1"}
    assert set(once.muted) == {"c1"}


# --- change sets -------------------------------------------------------------------------


def test_change_set_kinds() -> None:
    store = Store(clock=FakeClock(T0))
    s = Stream()
    cs = store.apply_many([s.inc(make_incident(id="a")), s.inc(make_incident(id="a", version=2))])
    assert cs.incidents_added == {"a"}
    assert not cs.incidents_updated
    cs = store.apply(s.inc(make_incident(id="a", version=3, status="verified")))
    assert cs.incidents_updated == {"a"}
    assert cs.kpis_changed
    assert not cs.funnel_changed
    alert = Alert(id="al1", kind="system", priority="low", raised_at=T0)
    cs = store.apply_many([s(p.AlertRaised(alert=alert)), s(p.AlertRaised(alert=alert))])
    assert cs.alerts_added == {"al1"}
    cs = store.apply(s(p.AlertRaised(alert=p.msgspec.structs.replace(alert, message="x"))))
    assert cs.alerts_updated == {"al1"}
    cs = store.apply_many(
        [
            s(p.AlertShelved(alert_id="al1", until=T0, operator="R", console="c1")),
            s(p.AlertUnshelved(alert_id="al1")),
        ]
    )
    assert cs.unshelved == {"al1"}
    assert not cs.shelved
    assert not store.apply(s(p.AlertUnshelved(alert_id="al1")))  # nothing shelved
    cs = store.apply(s(p.AgencyUpserted(agency=Agency(code="DLH", name="Dinas Lingkungan Hidup"))))
    assert cs.agencies == {"DLH"}
    assert len(cs) == 1


def _cs(**sets: set[str]) -> ChangeSet:
    cs = ChangeSet()
    for name, value in sets.items():
        setattr(cs, name, set(value))
    return cs


@pytest.mark.parametrize(
    ("first", "second", "added", "updated", "removed"),
    [
        ("incidents_added", "incidents_updated", {"x"}, set(), set()),
        ("incidents_added", "incidents_removed", set(), set(), set()),
        ("incidents_removed", "incidents_added", set(), {"x"}, set()),
        ("incidents_updated", "incidents_removed", set(), set(), {"x"}),
        ("incidents_updated", "incidents_updated", set(), {"x"}, set()),
    ],
)
def test_change_set_merge_rules(
    first: str, second: str, added: set[str], updated: set[str], removed: set[str]
) -> None:
    merged = _cs(**{first: {"x"}}).merge(_cs(**{second: {"x"}}))
    assert (merged.incidents_added, merged.incidents_updated, merged.incidents_removed) == (
        added,
        updated,
        removed,
    )


def test_change_set_merge_reset_wins_and_toggles_keep_the_last() -> None:
    a = _cs(incidents_added={"x"}, shelved={"al"}, muted={"c1"})
    a.merge(_cs(unshelved={"al"}, unmuted={"c1"}))
    assert (a.shelved, a.unshelved, a.muted, a.unmuted) == (set(), {"al"}, set(), {"c1"})
    b = ChangeSet.full_reset().merge(_cs(incidents_updated={"y"}))
    assert b.reset
    assert b.kpis_changed
    assert not b.incidents_updated
    c = _cs(incidents_added={"x"}).merge(ChangeSet.full_reset())
    assert c.reset
    assert not c.incidents_added
    assert ChangeSet() == ChangeSet()
    assert not ChangeSet()


# --- figures on known values ----------------------------------------------------------


def test_median_and_p90_known_values() -> None:
    assert median([]) is None
    assert percentile([], 0.9) is None
    assert median([5.0]) == 5.0
    assert median([1.0, 2.0, 3.0, 10.0]) == 2.5
    assert percentile([float(v) for v in range(1, 11)], 0.9) == 9.0
    assert percentile([float(v) for v in range(1, 71)], 0.9) == 63.0  # 0.9 * 70 is 63.000...01
    assert percentile([1.0, 2.0], 0.9) == 2.0

    clock = FakeClock(T0)
    store = Store(clock=clock)
    s = Stream()
    minutes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 20]
    for n, m in enumerate(minutes):
        rec = T0 - dt.timedelta(hours=2)
        t = times(rec, dispatched=m * 60, on_scene=m * 60 + 300)
        store.apply(s.inc(make_incident(id=f"i{n}", status="in_handling", times=t)))
    k = store.kpis()
    assert k.dispatch == ResponseStats(
        count=10,
        median_s=330.0,
        p90_s=540.0,
        within_target=9,
        within_target_share=0.9,
        median_within_target=True,
    )
    # Arrival adds 5 minutes: 6..14 and 25 minutes; the 15-minute target is inclusive.
    assert k.arrival.median_s == 630.0
    assert k.arrival.p90_s == 840.0
    assert k.arrival.within_target == 9
    assert k.active_by_status == {"in_handling": 10}


def test_histogram_bins_known_values() -> None:
    hist = histogram([0, 299, 300, 899, 901, 3600, 99999], 300, 3600, 900)
    assert hist.counts == [2, 1, 1, 1] + [0] * 7 + [0, 2]
    assert hist.within_target == [True, True, True] + [False] * 10
    assert histogram([], 300, 3600, 900).counts == [0] * 13
    with pytest.raises(ValueError, match="bin_s > 0"):
        histogram([1.0], 0, 3600, 900)


def test_correcting_times_moves_the_sample() -> None:
    clock = FakeClock(T0)
    store = Store(clock=clock)
    s = Stream()
    rec = T0 - dt.timedelta(hours=1)
    store.apply(s.inc(make_incident(id="a", status="in_handling", times=times(rec, dispatched=1200))))
    store.apply(s.inc(make_incident(id="b", status="in_handling", times=times(rec, dispatched=100))))
    assert store.kpis().dispatch.within_target == 1
    store.apply(
        s.inc(make_incident(id="a", version=2, status="in_handling", times=times(rec, dispatched=300)))
    )
    k = store.kpis()
    assert (k.dispatch.count, k.dispatch.within_target, k.dispatch.median_s) == (2, 2, 200.0)
    store.apply(s.inc(make_incident(id="a", version=3, status="in_handling", times=times(rec))))
    assert store.kpis().dispatch.count == 1


def test_oldest_unhandled_and_counts() -> None:
    clock = FakeClock(T0)
    store = Store(clock=clock)
    s = Stream()
    old = T0 - dt.timedelta(minutes=30)
    store.apply(s.inc(make_incident(id="a", status="received", times=times(old))))
    store.apply(s.inc(make_incident(id="b", status="forwarded", times=times(T0 - dt.timedelta(minutes=10)))))
    k = store.kpis()
    assert (k.oldest_unhandled_id, k.oldest_unhandled_age_s) == ("a", 1800.0)
    assert k.active_by_agency == {"DAMKAR": 2}
    assert k.active_by_kecamatan == {"Pangkalan Lampam": 2}
    store.apply(s.inc(make_incident(id="a", version=2, status="in_handling", times=times(old))))
    clock.advance(60)
    k = store.kpis()
    assert (k.oldest_unhandled_id, k.oldest_unhandled_age_s) == ("b", 660.0)
    store.apply(s.inc(make_incident(id="b", version=2, status="cancelled", times=times(T0))))
    assert store.kpis().oldest_unhandled_id is None
    assert store.kpis().active_by_status == {"in_handling": 1}


def test_unhandled_heap_stays_bounded_under_many_updates() -> None:
    store = Store(clock=FakeClock(T0))
    s = Stream()
    for n in range(500):  # handled incidents must not loosen the bound
        store.apply(s.inc(make_incident(id=f"h{n}", status="in_handling", times=times(T0))))
    for v in range(1, 2001):
        store.apply(s.inc(make_incident(id="a", version=v, status="received", times=times(T0))))
    assert len(store._unhandled_heap) <= 2 * 1 + 65
    assert store.kpis().oldest_unhandled_id == "a"


def test_funnel_figures_are_none_safe() -> None:
    clock = FakeClock(T0)
    store = Store(clock=clock)
    assert store.kpis().funnel == FunnelFigures(day=local_day(T0))
    f = CallFunnel(day=local_day(T0), calls_in=100, answered=80, abandoned=20, prank=20, ghost=10, valid=40)
    store.apply(make_event(p.FunnelUpdated(funnel=f), seq=1))
    k = store.kpis().funnel
    assert (k.prank_share, k.ghost_share, k.calls_in) == (0.25, 0.125, 100)
    empty = CallFunnel(day=local_day(T0), calls_in=3, answered=0, abandoned=3, prank=0, ghost=0, valid=0)
    store.apply(make_event(p.FunnelUpdated(funnel=empty), seq=2))
    assert store.kpis().funnel.prank_share == 0.0


def test_day_rollover_drops_yesterday() -> None:
    # 23:50 WIB; the WIB day changes in 10 minutes (the UTC day does not).
    evening = dt.datetime(2026, 11, 27, 23, 50, tzinfo=WIB)
    clock = FakeClock(evening)
    store = Store(clock=clock)
    s = Stream()
    rec = evening - dt.timedelta(minutes=20)
    store.apply(
        s.inc(
            make_incident(id="a", status="closed", times=times(rec, dispatched=300, on_scene=600, closed=900))
        )
    )
    f = CallFunnel(day=dt.date(2026, 11, 27), calls_in=5, answered=5, abandoned=0, prank=1, ghost=1, valid=3)
    store.apply(s(p.FunnelUpdated(funnel=f)))
    k = store.kpis()
    assert (k.dispatch.count, k.arrival.count, k.closed_today, k.funnel.calls_in) == (1, 1, 1, 5)
    assert sum(k.hourly_by_category["kebakaran"]) == 1

    clock.advance(15 * 60)  # 00:05 WIB the next day
    k = store.kpis()
    assert k.day == dt.date(2026, 11, 28)
    assert (k.dispatch.count, k.arrival.count, k.closed_today) == (0, 0, 0)
    assert k.funnel == FunnelFigures(day=dt.date(2026, 11, 28))
    assert sum(k.hourly_by_category["kebakaran"]) == 1  # the last 24 hours still hold it
    assert not store._dispatch  # yesterday's samples were dropped

    # A correction of yesterday's incident neither fails nor counts today.
    store.apply(
        s.inc(make_incident(id="a", version=2, status="closed", times=times(rec, dispatched=200, closed=900)))
    )
    assert store.kpis().dispatch.count == 0
    # An incident dispatched after midnight counts today.
    store.apply(s.inc(make_incident(id="b", status="in_handling", times=times(rec, dispatched=1800))))
    assert store.kpis().dispatch == ResponseStats(
        count=1,
        median_s=1800.0,
        p90_s=1800.0,
        within_target=0,
        within_target_share=0.0,
        median_within_target=False,
    )
    clock.advance(24 * 3600)
    k = store.kpis()
    assert k.hourly_by_category == {}
    assert k.hourly_by_agency == {}
    assert store.kpis() == store_brute(store)


# --- snapshots and state ----------------------------------------------------------------


def populated_store(n: int = 40) -> Store:
    store = Store(clock=FakeClock(T0))
    store.apply_many(sample_stream())
    rnd = random.Random(7)
    s = Stream("ep-2")
    s.seq = 1000
    for i in range(n):
        rec = T0 - dt.timedelta(minutes=rnd.randrange(0, 600))
        status = rnd.choice(INCIDENT_STATUSES)
        t = times(rec, dispatched=rnd.randrange(0, 2000), closed=3000 if status == "closed" else None)
        store.apply(s.inc(make_incident(id=f"r{i}", status=status, times=t, category=rnd.choice(CATEGORIES))))
    store.apply(
        s(
            p.UnitUpserted(
                unit=Unit(id="u1", callsign="D1", agency="DAMKAR", kind="truck", status="on_scene", version=1)
            )
        )
    )
    store.apply(
        s(
            p.AlertAcknowledged(
                ack=Acknowledgement(ack_id="k1", alert_id="al1", operator="R", console="c1", at=T0)
            )
        )
    )
    f = CallFunnel(day=local_day(T0), calls_in=10, answered=8, abandoned=2, prank=3, ghost=1, valid=4)
    store.apply(s(p.FunnelUpdated(funnel=f)))
    return store


def test_state_round_trip() -> None:
    store = populated_store(300)
    store.clock = FakeClock(T0 + dt.timedelta(hours=5))  # type: ignore[method-assign]
    store.prune(3600)  # so that retired incidents take part
    assert store.retired
    data = encode_state(store.to_state())
    state = decode_state(data)
    assert isinstance(state, StoreState)
    restored = Store(clock=store.clock)
    cs = restored.load_state(state)
    assert cs.reset
    assert restored.incidents == store.incidents
    assert restored.retired == store.retired
    assert (restored.epoch, restored.seq) == (store.epoch, store.seq)
    assert restored.kpis() == store.kpis()
    assert restored.to_state() == store.to_state()
    assert restored.shelved == store.shelved
    assert restored.ack_ids == store.ack_ids


def test_snapshot_parts_round_trip_through_the_wire() -> None:
    store = populated_store()
    parts = store.to_snapshot_parts(max_items_per_part=7)
    assert len(parts) > 3
    assert all(
        len(x.incidents) + len(x.units) + len(x.agencies) + len(x.situations) + len(x.alerts) + len(x.acks)
        <= 7
        for x in parts
    )
    decoded = [p.decode_server_frame(p.encode(x)) for x in parts]
    assert all(isinstance(x, p.Snapshot) for x in decoded)
    random.Random(1).shuffle(decoded)
    other = Store(clock=store.clock)
    other.apply(make_event(p.IncidentUpserted(incident=make_incident(id="stale")), seq=1, epoch="old"))
    cs = other.apply_snapshot(decoded)  # type: ignore[arg-type]
    assert cs.reset
    assert "stale" not in other.incidents
    assert other.incidents == store.incidents
    assert other.units == store.units
    assert other.acks == store.acks
    assert other.funnel == store.funnel
    assert (other.epoch, other.seq) == (store.epoch, store.seq)
    assert other.kpis() == store.kpis()
    # Shelves and mutes travel in part 0, so a resynced wall keeps showing them.
    assert other.shelved == store.shelved
    assert other.muted == store.muted
    assert Store().to_snapshot_parts() == [p.Snapshot(epoch="", seq=0, part=0, parts=1)]


def test_snapshot_parts_stay_under_the_frame_limit() -> None:
    store = Store(clock=FakeClock(T0))
    s = Stream()
    long_text = "Banjir setinggi dada, warga mengungsi ke masjid. " * 80  # about 4 kB
    store.apply_many([s.inc(make_incident(id=f"i{n}", description=long_text[:4000])) for n in range(600)])
    parts = store.to_snapshot_parts()
    frames = [p.encode(x) for x in parts]
    assert max(len(f) for f in frames) <= p.MAX_FRAME_BYTES // 2
    assert len(parts) > 1
    other = Store(clock=store.clock)
    other.apply_snapshot([p.decode_server_frame(f) for f in frames])  # type: ignore[misc]
    assert other.incidents == store.incidents
    # One item larger than the budget still goes out, alone.
    single = store.to_snapshot_parts(max_bytes_per_part=100)
    assert len(single) == 600
    assert all(len(x.incidents) == 1 for x in single)


@pytest.mark.parametrize("damage", ["missing", "duplicate", "seq", "epoch", "parts", "empty"])
def test_bad_snapshot_raises_and_leaves_state_untouched(damage: str) -> None:
    parts = populated_store().to_snapshot_parts(max_items_per_part=10)
    assert len(parts) >= 3
    replace = p.msgspec.structs.replace
    if damage == "missing":
        parts = parts[:1] + parts[2:]
    elif damage == "duplicate":
        parts = [*parts[:-1], parts[0]]
    elif damage == "seq":
        parts[1] = replace(parts[1], seq=parts[1].seq + 1)
    elif damage == "epoch":
        parts[1] = replace(parts[1], epoch="other")
    elif damage == "parts":
        parts[1] = replace(parts[1], parts=parts[1].parts + 1)
    else:
        parts = []
    store = Store(clock=FakeClock(T0))
    store.apply_many(sample_stream())
    before, kpis = store.to_state(), store.kpis()
    with pytest.raises(ValueError, match="snapshot"):
        store.apply_snapshot(parts)
    assert store.to_state() == before
    assert store.kpis() == kpis


# --- retention ---------------------------------------------------------------------------


def test_prune_removes_old_closed_incidents_but_keeps_their_history() -> None:
    clock = FakeClock(T0)
    store = Store(clock=clock)
    s = Stream()
    rec = T0 - dt.timedelta(hours=3)
    closed = make_incident(id="c", status="closed", times=times(rec, dispatched=120, closed=600))
    cancelled = make_incident(
        id="x", status="cancelled", times=times(rec), updated_at=rec + dt.timedelta(minutes=1)
    )
    recent = make_incident(id="n", status="closed", times=times(T0 - dt.timedelta(minutes=20), closed=60))
    active = make_incident(id="a", status="in_handling", times=times(rec))
    store.apply_many([s.inc(closed), s.inc(cancelled), s.inc(recent), s.inc(active)])
    alert = Alert(id="al1", kind="system", priority="low", raised_at=rec)
    store.apply(s(p.AlertRaised(alert=alert)))
    ack = Acknowledgement(ack_id="k1", alert_id="al1", operator="R", console="c1", at=rec)
    store.apply(s(p.AlertAcknowledged(ack=ack)))
    before = store.kpis()

    cs = store.prune(3600)
    assert cs.incidents_removed == {"c", "x"}
    assert cs.alerts_removed == {"al1"}
    assert cs.kpis_changed
    assert set(store.incidents) == {"n", "a"}
    assert set(store.retired) == {"c", "x"}
    assert "al1" not in store.acks
    assert "k1" not in store.ack_ids
    assert store.kpis() == before  # today's figures keep the pruned incidents
    assert not store.prune(3600)

    # An old version of a pruned incident is still ignored; a newer one brings it back.
    assert not store.apply(s.inc(make_incident(id="c", version=1, status="received", times=times(rec))))
    cs = store.apply(s.inc(make_incident(id="c", version=2, status="in_handling", times=times(rec))))
    assert cs.incidents_added == {"c"}
    assert "c" not in store.retired
    assert store.kpis() == store_brute(store)

    # A day later the pruned incidents count nowhere and are forgotten.
    clock.advance(26 * 3600)
    store.prune(3600)
    assert store.retired == {}
    assert set(store.incidents) == {"a", "c"}
    assert store.kpis() == store_brute(store)


def test_prune_without_history_forgets_at_once() -> None:
    """The reference server reads no figures: a pruned incident must not wait a
    day in retired (at 60x that was most of the server's memory growth)."""
    clock = FakeClock(T0)
    store = Store(clock=clock)
    s = Stream()
    rec = T0 - dt.timedelta(hours=3)
    old = make_incident(id="c", status="closed", times=times(rec, dispatched=120, on_scene=600, closed=900))
    kept = make_incident(id="n", status="closed", times=times(T0 - dt.timedelta(minutes=20), closed=60))
    earlier = make_incident(id="r", status="closed", times=times(rec - dt.timedelta(hours=1), closed=60))
    store.apply_many([s.inc(earlier)])
    store.prune(3600)  # an earlier prune that kept history (or a restored state)
    assert set(store.retired) == {"r"}
    store.apply_many([s.inc(old), s.inc(kept)])

    cs = store.prune(3600, keep_history=False)
    assert cs.incidents_removed == {"c"}
    assert set(store.incidents) == {"n"}
    assert store.retired == {}
    assert store.to_state().retired == []
    # Their contributions left the figures too: as if they had never been there.
    fresh = Store(clock=clock)
    fresh.apply_many([Stream().inc(kept)])
    assert store.kpis() == fresh.kpis()
    assert store.kpis() == store_brute(store)
    # A newer version still comes back as a new incident.
    cs = store.apply(s.inc(make_incident(id="c", version=2, status="in_handling", times=times(rec))))
    assert cs.incidents_added == {"c"}
    assert store.kpis() == store_brute(store)


def test_retired_incident_is_kept_while_its_hour_is_in_the_window() -> None:
    received = dt.datetime(2026, 11, 27, 7, 10, tzinfo=UTC)  # 14:10 WIB
    clock = FakeClock(dt.datetime(2026, 11, 28, 6, 30, tzinfo=UTC))  # its hour is the oldest bucket
    store = Store(clock=clock)
    store.kpis()  # the window is set before the incident arrives
    incident = make_incident(id="y", status="closed", times=times(received, closed=600))
    store.apply(make_event(p.IncidentUpserted(incident=incident), seq=1))
    assert store.prune(3600).incidents_removed == {"y"}
    assert set(store.retired) == {"y"}
    assert store.kpis().hourly_by_category == {"kebakaran": [1] + [0] * 23}
    clock.advance(3600)
    store.prune(3600)
    assert store.retired == {}
    assert store.kpis().hourly_by_category == {}


def test_prune_drops_expired_shelves_and_mutes() -> None:
    clock = FakeClock(T0)
    store = Store(clock=clock)
    s = Stream()
    store.apply(
        s(p.AlertShelved(alert_id="al1", until=T0 + dt.timedelta(minutes=5), operator="R", console="c"))
    )
    store.apply(s(p.ConsoleMuted(console="c", until=T0 + dt.timedelta(minutes=5), operator="R")))
    assert not store.prune(3600)
    clock.advance(2 * 3600)
    cs = store.prune(3600)
    assert (cs.unshelved, cs.unmuted) == ({"al1"}, {"c"})
    assert (store.shelved, store.muted) == ({}, {})


class _PlusSeven(dt.tzinfo):
    """WIB as a generic tzinfo, to exercise the store's path for zones with rules."""

    def utcoffset(self, d: dt.datetime | None) -> dt.timedelta:
        return dt.timedelta(hours=7)

    def dst(self, d: dt.datetime | None) -> dt.timedelta:
        return dt.timedelta(0)

    def tzname(self, d: dt.datetime | None) -> str:
        return "WIB7"


def test_a_generic_tzinfo_gives_the_same_figures() -> None:
    clock = FakeClock(dt.datetime(2026, 11, 28, 0, 10, tzinfo=WIB))
    fast, slow = Store(clock=clock), Store(clock=clock, tz=_PlusSeven())
    events = sample_stream()
    fast.apply_many(events)
    slow.apply_many(events)
    assert slow._tz_offset_s is None
    assert slow.kpis() == fast.kpis()
    assert fast.kpis().dispatch.count == 0  # yesterday's dispatches


# --- figures the views read ---------------------------------------------------------------


def _ack(ack_id: str, alert_id: str, at: dt.datetime, incident_id: str | None = None) -> p.AlertAcknowledged:
    return p.AlertAcknowledged(
        ack=Acknowledgement(
            ack_id=ack_id, alert_id=alert_id, operator="Sari", console="c1", at=at, incident_id=incident_id
        )
    )


def test_unacknowledged_high_follows_acks_their_alerts_and_prune() -> None:
    clock = FakeClock(T0)
    store = Store(clock=clock)
    s = Stream()
    store.apply(s.inc(make_incident(id="a", priority="high", times=times(T0 - dt.timedelta(minutes=5)))))
    store.apply(s.inc(make_incident(id="b", priority="high", times=times(T0 - dt.timedelta(minutes=9)))))
    store.apply(s.inc(make_incident(id="c", priority="medium", times=times(T0))))
    store.apply(s.inc(make_incident(id="d", priority="high", status="cancelled", times=times(T0))))
    assert store.unacked_high_ids() == ["b", "a"]
    assert (store.kpis().unacked_high, store.kpis().oldest_unacked_high_id) == (2, "b")

    cs = store.apply(s(_ack("k1", "incident:a", T0, incident_id="a")))
    assert (cs.acks, cs.incident_acks, cs.kpis_changed) == ({"incident:a"}, {"a"}, True)
    assert store.unacked_high_ids() == ["b"]
    assert store.incident_ack("a") == store.acks["incident:a"]

    # An acknowledgement that names no incident counts for its alert's incident,
    # also when the alert arrives after it.
    cs = store.apply(s(_ack("k2", "srv-9", T0 + dt.timedelta(seconds=5))))
    assert not cs.incident_acks
    assert store.unacked_high_ids() == ["b"]
    cs = store.apply(
        s(
            p.AlertRaised(
                alert=Alert(id="srv-9", kind="system", priority="high", raised_at=T0, incident_id="b")
            )
        )
    )
    assert cs.incident_acks == {"b"}
    assert store.unacked_high_ids() == []
    assert store.kpis().oldest_unacked_high_id is None
    assert store.incident_ack("b") == store.acks["srv-9"]
    # The first acknowledgement of an incident is the one that took it.
    store.apply(s(_ack("k3", "sla:x:forward:a", T0 - dt.timedelta(seconds=30), incident_id="a")))
    assert store.incident_ack("a") == store.acks["sla:x:forward:a"]

    restored = Store(clock=clock)
    restored.load_state(decode_state(encode_state(store.to_state())))
    assert restored.unacked_high_ids() == [] and restored.incident_ack("b") == store.incident_ack("b")

    # The figure follows what the store holds: pruned acknowledgements no longer count.
    clock.advance(2 * 3600)
    cs = store.prune(3600)
    assert cs.incident_acks == {"a", "b"}
    assert store.unacked_high_ids() == ["b", "a"]
    assert store.incident_ack("a") is None


def test_unacked_high_heap_stays_bounded_under_many_updates() -> None:
    store = Store(clock=FakeClock(T0))
    s = Stream()
    for v in range(1, 2001):
        store.apply(s.inc(make_incident(id="a", version=v, priority="high", times=times(T0))))
    assert len(store._unacked_high_heap) <= 2 * 1 + 65
    assert store.kpis().oldest_unacked_high_id == "a"


def test_arrival_figures_per_agency_and_histogram() -> None:
    clock = FakeClock(T0)
    store = Store(clock=clock)
    s = Stream()
    rec = T0 - dt.timedelta(hours=1)
    both = [AgencyTask(agency="DAMKAR"), AgencyTask(agency="DINKES")]
    store.apply(
        s.inc(make_incident(id="a", status="in_handling", tasks=both, times=times(rec, on_scene=240)))
    )
    store.apply(s.inc(make_incident(id="b", status="in_handling", times=times(rec, on_scene=1200))))
    store.apply(s.inc(make_incident(id="c", status="in_handling", times=times(rec, on_scene=4000))))
    k = store.kpis()
    assert store.arrival_samples() == [240.0, 1200.0, 4000.0]
    assert store.arrival_samples("DAMKAR") == [240.0, 1200.0, 4000.0]
    assert store.arrival_samples("DINKES") == [240.0]
    assert k.arrival_by_agency["DAMKAR"].median_s == 1200.0
    assert k.arrival_by_agency["DAMKAR"].median_within_target is False
    assert k.arrival_by_agency["DINKES"] == ResponseStats(
        count=1,
        median_s=240.0,
        p90_s=240.0,
        within_target=1,
        within_target_share=1.0,
        median_within_target=True,
    )
    hist = store.arrival_histogram(300, 3600)
    assert hist.counts == [1, 0, 0, 0, 1] + [0] * 7 + [1]
    assert hist.within_target == [True, True, True] + [False] * 10
    # A task taken away moves the sample off that agency.
    store.apply(s.inc(make_incident(id="a", version=2, status="in_handling", times=times(rec, on_scene=240))))
    assert store.arrival_samples("DINKES") == []
    assert "DINKES" not in store.kpis().arrival_by_agency


def test_situation_status_counts_follow_updates_and_prune() -> None:
    clock = FakeClock(T0)
    store = Store(clock=clock)
    s = Stream()
    store.apply(s.inc(make_incident(id="a", situation_id="sit-1", status="received", times=times(T0))))
    store.apply(s.inc(make_incident(id="b", situation_id="sit-1", status="in_handling", times=times(T0))))
    store.apply(s.inc(make_incident(id="c", situation_id="sit-2", times=times(T0))))
    assert store.situation_status_counts("sit-1") == {"received": 1, "in_handling": 1}
    store.apply(
        s.inc(
            make_incident(
                id="a", version=2, situation_id="sit-1", status="closed", times=times(T0, closed=60)
            )
        )
    )
    store.apply(s.inc(make_incident(id="c", version=2, situation_id=None, times=times(T0))))
    assert store.situation_status_counts("sit-1") == {"in_handling": 1, "closed": 1}
    assert store.situation_status_counts("sit-2") == {}
    clock.advance(2 * 3600)
    store.prune(3600)  # a pruned incident leaves the count (the view lists what the store holds)
    assert store.situation_status_counts("sit-1") == {"in_handling": 1}


def test_active_situations_newest_first() -> None:
    store = Store(clock=FakeClock(T0))
    s = Stream()
    for n, (status, minutes) in enumerate([("active", 10), ("ended", 50), ("active", 30)]):
        sit = DisasterSituation(
            id=f"sit-{n}", version=1, hazard="banjir", name=f"Banjir {n}", status=status,  # type: ignore[arg-type]
            declared_at=T0 - dt.timedelta(minutes=minutes),
            ended_at=T0 if status == "ended" else None,
        )  # fmt: skip
        store.apply(s(p.SituationUpserted(situation=sit)))
    assert [x.id for x in store.active_situations()] == ["sit-0", "sit-2"]


def test_split_incidents_takes_a_part_and_leaves_the_rest_with_everything_else() -> None:
    whole = _cs(
        incidents_added={f"a{i}" for i in range(7)}, incidents_updated={"u1", "u2"},
        acks={"incident:a1"}, incident_acks={"a1"},
    )  # fmt: skip
    assert whole.split_incidents(9) is None  # small enough: not split
    seen_added: set[str] = set()
    seen_updated: set[str] = set()
    parts = 0
    while (part := whole.split_incidents(3)) is not None:
        parts += 1
        assert len(part.incidents_added) + len(part.incidents_updated) == 3
        assert not part.acks and not part.incident_acks  # what refers to them comes last
        seen_added |= part.incidents_added
        seen_updated |= part.incidents_updated
    seen_added |= whole.incidents_added
    seen_updated |= whole.incidents_updated
    assert parts == 2
    assert (seen_added, seen_updated) == ({f"a{i}" for i in range(7)}, {"u1", "u2"})
    assert whole.acks == {"incident:a1"} and whole.incident_acks == {"a1"}
    assert ChangeSet.full_reset().split_incidents(0) is None  # a reset goes whole
