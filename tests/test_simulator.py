"""The scenario simulator: determinism, valid wire values, realistic behaviour."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import itertools
import random
import re
from pathlib import Path
from typing import Any

import pytest

from commandcenter.config import Config, deep_merge, default_data, parse_config
from commandcenter.core import protocol as p
from commandcenter.core.model import Incident
from commandcenter.core.timeutil import WIB, local_day
from commandcenter.refserver.simulator import (
    FLOOD_PRONE,
    PEAT,
    Simulator,
    TimedBody,
    distance_km,
    shipped_config,
)
from tests.serverproc import WALL, ServerProcess

SHIPPED = shipped_config()

# 00:00 WIB, so a 24-hour run covers exactly one local day.
MIDNIGHT_WIB = dt.datetime(2026, 11, 27, 0, 0, tzinfo=WIB).astimezone(dt.UTC)
T0 = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)


def minutes(n: float) -> dt.timedelta:
    return dt.timedelta(minutes=n)


def encoded(bodies: list[TimedBody]) -> list[bytes]:
    return [ts.isoformat().encode() + b" " + p.encode(body) for ts, body in bodies]


def incidents_of(bodies: list[TimedBody]) -> list[Incident]:
    return [b.incident for _, b in bodies if isinstance(b, p.IncidentUpserted)]


def latest(bodies: list[TimedBody]) -> dict[str, Incident]:
    return {i.id: i for i in incidents_of(bodies)}


class Run:
    """One simulation run, kept for several tests (runs take a second or two)."""

    def __init__(self, sim: Simulator, until: dt.datetime) -> None:
        self.sim = sim
        self.start = sim.now
        self.until = until
        self.initial = sim.initial_bodies()
        self.bodies = sim.advance_to(until)
        self.incidents = latest(self.bodies)


@pytest.fixture(scope="module")
def normal_day() -> Run:
    sim = Simulator(scenario="normal", rate_per_min=3.0, seed=7, start=MIDNIGHT_WIB)
    return Run(sim, MIDNIGHT_WIB + dt.timedelta(hours=24, minutes=2))


@pytest.fixture(scope="module")
def flood_run() -> Run:
    sim = Simulator(scenario="flood", rate_per_min=1.0, seed=11, start=T0)
    return Run(sim, T0 + dt.timedelta(hours=14))


@pytest.fixture(scope="module")
def karhutla_run() -> Run:
    sim = Simulator(scenario="karhutla", rate_per_min=1.0, seed=5, start=T0)
    return Run(sim, T0 + dt.timedelta(hours=8))


@pytest.fixture(scope="module")
def mixed_run() -> Run:
    sim = Simulator(scenario="mixed", rate_per_min=2.0, seed=42, start=T0)
    return Run(sim, T0 + dt.timedelta(hours=4))


RUNS = ["normal_day", "flood_run", "karhutla_run", "mixed_run"]


# --- determinism ----------------------------------------------------------------


def test_same_seed_gives_identical_output() -> None:
    a = Simulator(scenario="mixed", rate_per_min=2.0, seed=3, start=T0)
    b = Simulator(scenario="mixed", rate_per_min=2.0, seed=3, start=T0)
    assert [p.encode(x) for x in a.initial_bodies()] == [p.encode(x) for x in b.initial_bodies()]
    out_a = encoded(a.advance_to(T0 + minutes(150)))
    out_b = encoded(b.advance_to(T0 + minutes(150)))
    assert len(out_a) > 1000
    assert out_a == out_b


def test_step_sizes_do_not_change_output() -> None:
    end = T0 + minutes(120)
    whole = Simulator(scenario="mixed", rate_per_min=2.0, seed=9, start=T0).advance_to(end)
    stepped_sim = Simulator(scenario="mixed", rate_per_min=2.0, seed=9, start=T0)
    steps = random.Random(1)
    stepped: list[TimedBody] = []
    t = T0
    while t < end:
        # Irregular steps, including zero-length ones and steps landing exactly on event times.
        t = min(end, t + dt.timedelta(seconds=steps.choice([0, 0.5, 7, 30, 61, 299])))
        stepped += stepped_sim.advance_to(t)
    assert encoded(stepped) == encoded(whole)


def test_different_seed_gives_different_output() -> None:
    a = Simulator(scenario="normal", rate_per_min=2.0, seed=1, start=T0).advance_to(T0 + minutes(30))
    b = Simulator(scenario="normal", rate_per_min=2.0, seed=2, start=T0).advance_to(T0 + minutes(30))
    assert encoded(a) != encoded(b)


# --- valid wire values ------------------------------------------------------------


@pytest.mark.slow  # a simulated day of every scenario: half a minute on 2 cores
@pytest.mark.parametrize("run_name", RUNS)
def test_every_body_round_trips_through_the_protocol(run_name: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(run_name)
    timed = [(run.start, b) for b in run.initial] + run.bodies
    for seq, (ts, body) in enumerate(timed, start=1):
        event = p.Event(epoch="sim-test", seq=seq, id=f"ev-{seq}", ts=ts, body=body)
        assert p.decode_event(p.encode(event)) == event


@pytest.mark.parametrize("run_name", RUNS)
def test_timestamps_are_ordered_and_within_the_window(run_name: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(run_name)
    stamps = [ts for ts, _ in run.bodies]
    assert stamps == sorted(stamps)
    assert run.start <= stamps[0]
    assert stamps[-1] <= run.until
    assert run.sim.now == run.until


def test_each_advance_stays_within_its_own_window() -> None:
    sim = Simulator(scenario="mixed", rate_per_min=3.0, seed=4, start=T0)
    previous = T0
    for k in range(1, 40):
        target = T0 + dt.timedelta(seconds=37 * k)
        out = sim.advance_to(target)
        assert all(previous <= ts <= target for ts, _ in out)
        previous = target
    assert sim.advance_to(previous) == []
    with pytest.raises(ValueError, match="backwards"):
        sim.advance_to(previous - dt.timedelta(seconds=1))


@pytest.mark.parametrize("run_name", RUNS)
def test_versions_strictly_increase(run_name: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(run_name)
    last: dict[tuple[str, str], int] = {}
    for body in run.initial:
        if isinstance(body, p.UnitUpserted):
            last[("unit", body.unit.id)] = body.unit.version
    for _, body in run.bodies:
        if isinstance(body, p.IncidentUpserted):
            key, version = ("incident", body.incident.id), body.incident.version
        elif isinstance(body, p.UnitUpserted):
            key, version = ("unit", body.unit.id), body.unit.version
        elif isinstance(body, p.SituationUpserted):
            key, version = ("situation", body.situation.id), body.situation.version
        else:
            continue
        assert version == last.get(key, 0) + 1, key
        last[key] = version


# --- incident lifecycle -------------------------------------------------------------

STATUS_RANK = {"received": 0, "verified": 1, "forwarded": 2, "in_handling": 3, "closed": 4, "cancelled": 4}


@pytest.mark.parametrize("run_name", RUNS)
def test_lifecycle_moves_forward(run_name: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(run_name)
    status: dict[str, str] = {}
    for inc in incidents_of(run.bodies):
        before = status.get(inc.id)
        if before is None:
            assert inc.status == "received"
            assert inc.version == 1
        else:
            assert before not in ("closed", "cancelled")
            assert STATUS_RANK[inc.status] >= STATUS_RANK[before]
        status[inc.id] = inc.status
        t = inc.times
        steps = [t.received, t.verified, t.dispatched, t.on_scene, t.closed]
        present = [s for s in steps if s is not None]
        assert present == sorted(present), inc.id
        assert inc.updated_at is not None
        assert inc.updated_at >= present[-1]
        if inc.status in ("forwarded", "in_handling", "closed"):
            assert t.verified is not None
            assert inc.tasks
        if inc.status == "in_handling":
            assert t.on_scene is not None
            assert inc.units
        if t.dispatched is not None:
            assert inc.units
        if inc.status == "cancelled":
            assert not inc.tasks
            assert t.verified is None
        for task in inc.tasks:
            marks = [task.forwarded_at, task.accepted_at, task.on_scene_at, task.closed_at]
            given = [m for m in marks if m is not None]
            assert task.forwarded_at is not None
            assert given == sorted(given)
            assert set(task.units) <= set(inc.units)
            if inc.status == "closed":
                assert task.status == "done"
                assert task.closed_at == t.closed


def test_lifecycle_timings_are_plausible(normal_day: Run) -> None:
    incs = list(normal_day.incidents.values())
    closed = [i for i in incs if i.status == "closed"]
    cancelled = [i for i in incs if i.status == "cancelled"]
    assert 0.02 < len(cancelled) / len(incs) < 0.09
    for inc in closed:
        t = inc.times
        assert t.verified is not None
        assert t.on_scene is not None
        assert t.closed is not None
        assert 30 <= (t.verified - t.received).total_seconds() <= 120
        assert 20 * 60 <= (t.closed - t.on_scene).total_seconds() <= 120 * 60 + 1
    arrive = sorted((i.times.on_scene - i.times.received).total_seconds() / 60 for i in closed
                    if i.times.on_scene is not None)
    median = arrive[len(arrive) // 2]
    late = sum(a > 15 for a in arrive) / len(arrive)
    assert 5 <= median <= 15
    assert 0.03 < late < 0.5  # some beyond the 15-minute national target


def test_tickets_ids_and_reporters(normal_day: Run) -> None:
    incs = list(normal_day.incidents.values())
    tickets = [i.ticket for i in incs]
    assert len(set(tickets)) == len(tickets) == len({i.id for i in incs})
    for inc in incs:
        m = re.fullmatch(r"OKI-(\d{8})-(\d{4,})", inc.ticket)
        assert m is not None
        assert m.group(1) == local_day(inc.times.received, WIB).strftime("%Y%m%d")
        assert inc.description
        assert "*" in inc.reporter.phone_masked
    # The counter restarts with the WIB day.
    assert {i.ticket for i in incs} >= {"OKI-20261127-0001", "OKI-20261128-0001"}


def test_priority_mix_is_about_5_15_80(normal_day: Run) -> None:
    counts = collections.Counter(i.priority for i in normal_day.incidents.values())
    total = sum(counts.values())
    assert 0.02 <= counts["high"] / total <= 0.09
    assert 0.10 <= counts["medium"] / total <= 0.25
    assert 0.70 <= counts["low"] / total <= 0.88
    fires = [i for i in normal_day.incidents.values() if i.category == "kebakaran"]
    assert sum(i.priority != "low" for i in fires) / len(fires) > 0.4


def test_rate_per_min_is_respected_over_a_day(normal_day: Run) -> None:
    per_min = len(normal_day.incidents) / (24 * 60 + 2)
    assert 3.0 * 0.9 < per_min < 3.0 * 1.1


# --- geography ----------------------------------------------------------------------


def test_locations_are_in_the_regency(normal_day: Run) -> None:
    names = {d.name: d for d in SHIPPED.districts}
    bounds = SHIPPED.map.bounds
    without_coords = 0
    for inc in normal_day.incidents.values():
        loc = inc.location
        assert loc.kecamatan in names
        assert loc.kecamatan_code == names[loc.kecamatan].code
        if loc.lat is None or loc.lon is None:
            without_coords += 1
            continue
        assert bounds.contains(loc.lat, loc.lon)
    assert 0 < without_coords < 0.1 * len(normal_day.incidents)


def test_toll_crashes_carry_km_markers(normal_day: Run) -> None:
    tolls = [i for i in normal_day.incidents.values() if i.location.road.startswith("Tol ")]
    crashes = [i for i in normal_day.incidents.values() if i.category == "kecelakaan_lalu_lintas"]
    assert len(tolls) > 0.2 * len(crashes)
    for inc in tolls:
        assert inc.category == "kecelakaan_lalu_lintas"
        assert re.fullmatch(r"KM \d{3}(\+\d{3})?", inc.location.km_marker)
        assert inc.location.km_marker in inc.location.address
    # Every marker sits on a toll road.
    assert all(i.location.road for i in normal_day.incidents.values() if i.location.km_marker)
    assert {i.location.kecamatan for i in tolls} >= {"Jejawi", "Kayu Agung", "Pedamaran"}


def test_floods_and_fires_land_in_their_districts(normal_day: Run, karhutla_run: Run) -> None:
    for run in (normal_day, karhutla_run):
        for inc in run.incidents.values():
            if inc.category == "banjir":
                assert inc.location.kecamatan in FLOOD_PRONE
            if inc.category == "karhutla":
                assert inc.location.kecamatan in PEAT
    fires = [i for i in karhutla_run.incidents.values() if i.category == "karhutla"]
    assert len(fires) >= 40
    desa = collections.Counter(i.location.desa for i in fires)
    assert desa["Deling"] + desa["Kandis"] > 0.3 * len(fires)


def test_karhutla_declares_a_peat_fire_situation(karhutla_run: Run) -> None:
    sits = [b.situation for _, b in karhutla_run.bodies if isinstance(b, p.SituationUpserted)]
    assert sits
    assert sits[0].hazard == "karhutla"
    assert sits[0].status == "active"
    assert set(sits[0].kecamatan) <= set(PEAT)
    assert sits[0].name.startswith("Karhutla Kecamatan ")


# --- the flood surge ------------------------------------------------------------------


def test_flood_surge_brings_hundreds_of_reports_from_few_districts(flood_run: Run) -> None:
    first_hour = [i for i in flood_run.incidents.values()
                  if i.category == "banjir" and i.times.received <= T0 + minutes(60)]
    assert len(first_hour) >= 200
    by_district = collections.Counter(i.location.kecamatan for i in first_hour)
    top4 = sum(n for _, n in by_district.most_common(4))
    assert top4 >= 0.9 * len(first_hour)
    assert set(by_district) <= set(FLOOD_PRONE)
    assert flood_run.sim.surge is not None
    hazard, districts, start, end = flood_run.sim.surge
    assert hazard == "banjir"
    assert 2 <= len(districts) <= 4
    assert start - T0 <= minutes(5)
    assert end - start <= minutes(60)


def test_flood_declares_then_ends_a_situation(flood_run: Run) -> None:
    sits = [(ts, b.situation) for ts, b in flood_run.bodies if isinstance(b, p.SituationUpserted)]
    assert len(sits) >= 3
    _, first = sits[0]
    assert first.hazard == "banjir"
    assert first.status == "active"
    assert first.version == 1
    assert first.declared_at - T0 <= minutes(20)
    assert flood_run.sim.surge is not None
    districts = flood_run.sim.surge[1]
    assert first.kecamatan == districts
    assert first.name.startswith("Banjir Kecamatan ")
    assert all(d in first.name for d in districts)
    for (_, a), (_, b) in itertools.pairwise(sits):
        assert b.households_affected >= a.households_affected
        assert b.people_evacuated >= a.people_evacuated
    assert sits[-1][1].households_affected > 100
    assert sits[-1][1].people_evacuated > 0
    ended_at, last = sits[-1]
    assert last.status == "ended"
    assert last.ended_at == ended_at
    assert all(s.status == "active" for _, s in sits[:-1])
    # Surge reports point at the situation once it is declared, and all are done when it ends.
    members = [i for i in flood_run.incidents.values() if i.situation_id == first.id]
    assert len(members) >= 200
    assert all(not i.active for i in members)
    assert all(i.times.received <= ended_at for i in members)


def test_mixed_scenario_surges_within_minutes(mixed_run: Run) -> None:
    assert mixed_run.sim.surge is not None
    hazard, _, start, _ = mixed_run.sim.surge
    assert hazard == "banjir"
    assert start - T0 <= minutes(5)
    first = next(b.situation for _, b in mixed_run.bodies if isinstance(b, p.SituationUpserted))
    assert first.declared_at - T0 <= minutes(20)
    recent = [i for i in mixed_run.incidents.values() if i.times.received <= T0 + minutes(20)]
    assert sum(i.category == "banjir" for i in recent) > 40


def test_surge_overrides() -> None:
    sim = Simulator(scenario="flood", rate_per_min=0.0, seed=1, start=T0, surge_start_s=600, surge_reports=50)
    assert sim.surge is not None
    assert sim.surge[2] == T0 + minutes(10)
    incs = latest(sim.advance_to(T0 + minutes(90)))
    assert len(incs) == 50
    assert min(i.times.received for i in incs.values()) >= T0 + minutes(10)
    assert Simulator(scenario="normal", seed=1, start=T0).surge is None


# --- units ------------------------------------------------------------------------------


def test_initial_bodies_list_agencies_and_their_units(normal_day: Run) -> None:
    agencies = [b.agency for b in normal_day.initial if isinstance(b, p.AgencyUpserted)]
    units = [b.unit for b in normal_day.initial if isinstance(b, p.UnitUpserted)]
    expected = {"DAMKAR", "DINKES", "DLH", "BPBD", "DISHUB", "DINSOS", "BNN", "DPPPA"}
    assert {a.code for a in agencies} == expected
    assert {u.agency for u in units} == {a.code for a in agencies}
    assert len({u.id for u in units}) == len(units)
    assert all(u.version == 1 and u.position is not None for u in units)
    assert all(u.status in ("available", "out_of_service") for u in units)
    homes = collections.Counter(_nearest_district(u.position.lat, u.position.lon) for u in units
                                if u.position is not None)
    assert homes.most_common(1)[0][0] == "Kayu Agung"
    assert len(homes) > 5  # district posts too


def _nearest_district(lat: float, lon: float) -> str:
    return min(SHIPPED.districts, key=lambda d: distance_km(lat, lon, d.lat, d.lon)).name


@pytest.mark.parametrize("run_name", ["normal_day", "flood_run"])
def test_units_drive_toward_their_incident(run_name: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(run_name)
    where: dict[str, tuple[float, float]] = {}
    en_route: dict[str, tuple[str, float]] = {}  # unit id -> (incident id, last distance)
    legs_checked = 0
    for _, body in run.bodies:
        if isinstance(body, p.IncidentUpserted):
            loc = body.incident.location
            if loc.lat is not None and loc.lon is not None:
                where[body.incident.id] = (loc.lat, loc.lon)
            continue
        if not isinstance(body, p.UnitUpserted):
            continue
        unit, pos = body.unit, body.unit.position
        assert pos is not None
        assert (unit.incident_id is not None) == (unit.status in ("dispatched", "on_scene"))
        previous = en_route.pop(unit.id, None)
        if unit.status == "on_scene" and previous is not None and previous[0] == unit.incident_id:
            assert distance_km(pos.lat, pos.lon, *where[previous[0]]) < 0.01  # arrived at the scene
            legs_checked += 1
        if unit.status != "dispatched" or unit.incident_id not in where:
            continue
        assert pos.speed_kmh is not None
        assert 10 <= pos.speed_kmh <= 60
        d = distance_km(pos.lat, pos.lon, *where[unit.incident_id])
        if previous is not None and previous[0] == unit.incident_id:
            assert d < previous[1]
        en_route[unit.id] = (unit.incident_id, d)
    assert legs_checked > 100


def test_units_report_every_half_minute_while_driving(normal_day: Run) -> None:
    last: dict[str, dt.datetime] = {}
    gaps: list[float] = []
    for ts, body in normal_day.bodies:
        if isinstance(body, p.UnitUpserted) and body.unit.status in ("dispatched", "returning"):
            if body.unit.id in last:
                gaps.append((ts - last[body.unit.id]).total_seconds())
            last[body.unit.id] = ts
        elif isinstance(body, p.UnitUpserted):
            last.pop(body.unit.id, None)
    assert gaps
    assert max(gaps) <= 30.0 + 1e-6
    assert collections.Counter(round(g) for g in gaps).most_common(1)[0][0] == 30


def test_unit_emergencies_are_rare_high_alerts(normal_day: Run) -> None:
    alerts = [b.alert for _, b in normal_day.bodies if isinstance(b, p.AlertRaised)]
    unit_ids = {b.unit.id for b in normal_day.initial if isinstance(b, p.UnitUpserted)}
    assert 0 < len(alerts) < 0.01 * len(normal_day.incidents)
    for alert in alerts:
        assert alert.kind == "unit_emergency"
        assert alert.priority == "high"
        assert alert.unit_id in unit_ids
        assert alert.incident_id is not None
    assert len({a.id for a in alerts}) == len(alerts)


# --- call funnel --------------------------------------------------------------------------


def test_funnel_is_consistent_and_plausible(normal_day: Run) -> None:
    created: collections.Counter[dt.date] = collections.Counter()
    funnels: list[Any] = []
    for _, body in normal_day.bodies:
        if isinstance(body, p.IncidentUpserted) and body.incident.version == 1:
            created[local_day(body.incident.times.received, WIB)] += 1
        elif isinstance(body, p.FunnelUpdated):
            f = body.funnel
            assert f.updated_at is not None
            assert f.day == local_day(f.updated_at, WIB)
            # Valid calls are the emergencies created so far that day.
            assert f.valid == created[f.day]
            funnels.append(f)
    assert len(funnels) >= 24 * 60
    fields = ("calls_in", "answered", "abandoned", "prank", "ghost", "valid", "info")
    for a, b in itertools.pairwise(funnels):
        if a.day == b.day:
            assert all(getattr(b, k) >= getattr(a, k) for k in fields)
        else:  # reset at WIB midnight
            assert b.day == a.day + dt.timedelta(days=1)
            assert b.calls_in < a.calls_in
    day = [f for f in funnels if f.day == dt.date(2026, 11, 27)][-1]
    assert day.calls_in > 1.5 * day.valid
    assert 0.30 <= (day.prank + day.ghost) / day.answered <= 0.60
    assert 0.005 <= day.abandoned / day.calls_in <= 0.1
    assert day.info > 0
    assert day.prank > 0
    assert day.ghost > 0


def test_funnel_share_stays_plausible_in_a_flood(flood_run: Run) -> None:
    f = [b.funnel for _, b in flood_run.bodies
         if isinstance(b, p.FunnelUpdated) and b.funnel.day == dt.date(2026, 11, 27)][-1]
    assert 0.30 <= (f.prank + f.ghost) / f.answered <= 0.60


# --- parameters ---------------------------------------------------------------------------


def configured(**tables: Any) -> Config:
    """The shipped configuration with some of its tables replaced."""
    return parse_config(deep_merge(default_data(), tables))


def test_agencies_and_categories_come_from_the_config() -> None:
    data = default_data()
    agencies = [a for a in data["agencies"] if a["code"] in ("DAMKAR", "DINKES")]
    agencies[0]["name"] = "Pemadam Kebakaran Kabupaten OKI"
    categories = [c for c in data["categories"] if set(c["agencies"]) <= {"DAMKAR", "DINKES"}]
    codes = {c["code"] for c in categories}
    rules = [dict(r, categories=[c for c in r.get("categories", []) if c in codes])
             for r in data["alerts"]["rules"]]
    cfg = configured(agencies=agencies, categories=categories, alerts={"rules": rules})
    sim = Simulator(scenario="mixed", rate_per_min=3.0, seed=2, start=T0, config=cfg)
    initial = sim.initial_bodies()
    assert [b.agency.name for b in initial if isinstance(b, p.AgencyUpserted)] == [
        "Pemadam Kebakaran Kabupaten OKI", "Dinas Kesehatan"
    ]
    units = [b.unit for b in initial if isinstance(b, p.UnitUpserted)]
    assert {u.agency for u in units} == {"DAMKAR", "DINKES"}
    incs = latest(sim.advance_to(T0 + minutes(180)))
    assert incs
    assert {i.category for i in incs.values()} <= codes
    for inc in incs.values():
        assert {t.agency for t in inc.tasks} <= {"DAMKAR", "DINKES"}
    assert sim.surge is None  # nobody here handles floods


def test_a_renamed_or_added_district_gets_reports_and_a_missing_one_none() -> None:
    keep = {"16.02.05": "Kayuagung Kota", "16.02.19": "Pangkalan Lampam"}  # one renamed
    districts = [dict(d, name=keep[d["code"]]) for d in default_data()["districts"] if d["code"] in keep]
    districts.append({"code": "16.02.99", "name": "Teluk Baru", "lat": -3.30, "lon": 105.80})
    # A category the simulator has no tables for, handled by a new agency.
    agency = {"code": "BASARNAS", "name": "Basarnas", "color": "#00838f"}
    category = {
        "code": "orang_tenggelam", "name_id": "Orang Tenggelam", "name_en": "Drowning",
        "agencies": ["BASARNAS"],
        "default_priority": "high", "cap_category": "Rescue", "marker_shape": "circle",
        "sla": {"verify_s": 60, "forward_s": 120, "dispatch_s": 300, "arrive_s": 1800},
    }
    data = default_data()
    cfg = configured(districts=districts, agencies=[*data["agencies"], agency],
                     categories=[*data["categories"], category])
    sim = Simulator(scenario="mixed", rate_per_min=6.0, seed=8, start=T0, config=cfg)
    incs = latest(sim.advance_to(T0 + minutes(240)))
    by_district = collections.Counter(i.location.kecamatan for i in incs.values())
    assert set(by_district) == {"Kayuagung Kota", "Pangkalan Lampam", "Teluk Baru"}
    codes = {d["name"]: d["code"] for d in districts}
    for inc in incs.values():
        assert inc.location.kecamatan_code == codes[inc.location.kecamatan]
        if inc.location.lat is not None and inc.location.lon is not None:
            assert cfg.map.bounds.contains(inc.location.lat, inc.location.lon)
    drownings = [i for i in incs.values() if i.category == "orang_tenggelam"]
    assert drownings
    assert any(u.agency == "BASARNAS" and u.kind == "mobil_basarnas" for u in sim.units)
    assert any(t.agency == "BASARNAS" and t.units for i in drownings for t in i.tasks)


def test_a_renamed_district_keeps_what_is_known_about_it() -> None:
    """Floods, peat, posts, villages and the capital are known by Kemendagri
    code: renaming Kayu Agung changes the name in every report and nothing else."""
    districts = [dict(d, name="Kayuagung Kota") if d["code"] == "16.02.05" else d
                 for d in default_data()["districts"]]
    until = T0 + minutes(240)
    runs = []
    for cfg in (SHIPPED, configured(districts=districts)):
        sim = Simulator(scenario="mixed", rate_per_min=3.0, seed=5, start=T0, config=cfg)
        bodies = [p.encode(b) for b in sim.initial_bodies()] + encoded(sim.advance_to(until))
        runs.append(b"\n".join(bodies))
    shipped, renamed = runs
    assert b"Kayu Agung" in shipped and b"Kayu Agung" not in renamed
    assert shipped.replace(b"Kayu Agung", b"Kayuagung Kota") == renamed


def test_a_config_without_districts_is_refused() -> None:
    cfg = configured(districts=[])
    with pytest.raises(ValueError, match="no districts"):
        Simulator(scenario="normal", seed=1, start=T0, config=cfg)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scenario": "tsunami"}, "unknown scenario"),
        ({"rate_per_min": -1.0}, "rate_per_min"),
        ({"start": dt.datetime(2026, 1, 1)}, "timezone-aware"),
        ({"surge_reports": -5}, "surge_reports"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"scenario": "normal", "rate_per_min": 1.0, "seed": 1, "start": T0, **kwargs}
    with pytest.raises(ValueError, match=message):
        Simulator(**args)


def test_zero_rate_normal_emits_only_the_funnel_and_repairs() -> None:
    sim = Simulator(scenario="normal", rate_per_min=0.0, seed=1, start=T0)
    kinds = {type(b).__name__ for _, b in sim.advance_to(T0 + minutes(600))}
    assert kinds <= {"FunnelUpdated", "UnitUpserted"}


# --- through the server -----------------------------------------------------------------


async def test_serve_reports_in_the_districts_of_its_config(tmp_path: Path) -> None:
    """`commandcenter serve --config FILE`: the simulator places its reports in
    the districts FILE configures (one renamed, one added) and nowhere else."""
    import websockets

    user = tmp_path / "config.toml"
    user.write_text(
        '[[districts]]\ncode = "16.02.05"\nname = "Kayuagung Kota"\nlat = -3.385\nlon = 104.891\n\n'
        '[[districts]]\ncode = "16.02.99"\nname = "Teluk Baru"\nlat = -3.30\nlon = 105.80\n',
        encoding="utf-8",
    )
    server = ServerProcess(tmp_path / "server.sqlite3", scenario="normal", speed=120.0, rate=20.0,
                           extra=["--config", str(user)]).start()
    seen: collections.Counter[str] = collections.Counter()
    try:
        async with websockets.connect(server.url) as ws:
            await ws.send(p.encode(p.Hello(token=WALL, client_id="sim-config-test")).decode())  # a text frame
            async with asyncio.timeout(60):
                while set(seen) != {"Kayuagung Kota", "Teluk Baru"} or seen.total() < 20:
                    frame = p.decode_server_frame(await ws.recv())
                    if isinstance(frame, p.Event) and isinstance(frame.body, p.IncidentUpserted):
                        loc = frame.body.incident.location
                        seen[loc.kecamatan] += 1
                        assert (loc.kecamatan, loc.kecamatan_code) in {
                            ("Kayuagung Kota", "16.02.05"), ("Teluk Baru", "16.02.99")
                        }
    finally:
        await asyncio.get_running_loop().run_in_executor(None, server.stop)
