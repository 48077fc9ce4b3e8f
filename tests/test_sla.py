"""The one service-level rule (commandcenter.core.sla): its steps, its levels, and
the alert engine agreeing with it over a simulated day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, NamedTuple

import msgspec
import pytest

from commandcenter.config import AlertRule, Config, load_defaults
from commandcenter.core import protocol as p
from commandcenter.core.model import AgencyTask, Incident, IncidentTimes
from commandcenter.core.sla import (
    STAGES,
    WARN_SHARE,
    age_s,
    sla_state,
    stages_met,
    step_met,
    target_s,
    waiting_step,
)
from commandcenter.core.store import ChangeSet, Store
from commandcenter.core.timeutil import FakeClock
from commandcenter.refserver.simulator import Simulator
from commandcenter.wall.alerts import AlertEngine, stage_met
from tests.factories import T0, make_incident


def bare(**overrides: Any) -> Incident:
    """An incident with no sign of any step beyond what ``overrides`` give."""
    fields: dict[str, Any] = {"status": "received", "tasks": [], "times": IncidentTimes(received=T0)}
    fields.update(overrides)
    return make_incident(**fields)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


class Targets(msgspec.Struct, frozen=True):
    verify_s: float = 60.0
    forward_s: float = 300.0
    dispatch_s: float = 600.0
    arrive_s: float = 900.0


TARGETS = Targets()


# --- which steps are met ------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "done"),
    [
        ({}, 0),
        ({"status": "verified"}, 1),
        ({"times": IncidentTimes(received=T0, verified=at(30))}, 1),
        ({"status": "forwarded"}, 2),
        ({"tasks": [AgencyTask(agency="BPBD", status="pending", forwarded_at=at(60))]}, 2),
        ({"tasks": [AgencyTask(agency="BPBD", status="accepted")]}, 2),
        ({"tasks": [AgencyTask(agency="BPBD", status="pending")]}, 0),
        ({"times": IncidentTimes(received=T0, dispatched=at(90))}, 3),
        ({"units": ["u-1"]}, 3),
        ({"tasks": [AgencyTask(agency="BPBD", status="pending", units=["u-1"])]}, 3),
        ({"status": "in_handling"}, 4),
        ({"times": IncidentTimes(received=T0, on_scene=at(400))}, 4),
        ({"tasks": [AgencyTask(agency="BPBD", status="accepted", on_scene_at=at(400))]}, 4),
        ({"tasks": [AgencyTask(agency="BPBD", status="in_handling")]}, 4),
    ],
)
def test_each_sign_meets_its_step_and_the_ones_before(overrides: dict[str, Any], done: int) -> None:
    inc = bare(**overrides)
    assert stages_met(inc) == done
    assert [step_met(inc, s) for s in STAGES] == [i < done for i in range(4)]
    # The alert engine's rule is this one.
    assert [stage_met(inc, s) for s in STAGES] == [i < done for i in range(4)]
    assert waiting_step(inc) == (STAGES[done] if done < 4 else None)


def test_in_handling_without_dispatch_time_is_no_breach_anywhere() -> None:
    """The case the queue and the alerts used to disagree on: status in_handling
    without times.dispatched. The queue showed a dispatch breach; the alert engine
    called it met. A unit handling it on the ground was dispatched: met, both."""
    inc = bare(status="in_handling", tasks=[AgencyTask(agency="DAMKAR", status="in_handling")])
    assert inc.times.dispatched is None
    assert step_met(inc, "dispatch") and step_met(inc, "arrive")
    assert stage_met(inc, "dispatch")
    assert waiting_step(inc) is None
    assert sla_state(inc, TARGETS, at(10 * 3600).timestamp()).level == ""


def test_a_later_step_implies_the_earlier_ones() -> None:
    # A server that jumps straight to a dispatch without recording verification.
    inc = bare(times=IncidentTimes(received=T0, dispatched=at(120)))
    assert step_met(inc, "verify") and step_met(inc, "forward")
    assert waiting_step(inc) == "arrive"


@pytest.mark.parametrize("status", ["closed", "cancelled"])
def test_nothing_waits_once_closed_or_cancelled(status: str) -> None:
    inc = bare(status=status, times=IncidentTimes(received=T0, closed=at(60)))
    assert waiting_step(inc) is None
    assert sla_state(inc, TARGETS, at(99_999).timestamp()).level == ""


# --- levels against the targets --------------------------------------------------------


def test_levels_and_their_change_times() -> None:
    inc = bare(status="verified")  # waits to be forwarded: 300 s
    received = T0.timestamp()
    warn_at = received + WARN_SHARE * 300
    assert sla_state(inc, TARGETS, received) == ("ok", "forward", 300.0, warn_at)
    assert sla_state(inc, TARGETS, warn_at - 0.001).level == "ok"
    assert sla_state(inc, TARGETS, warn_at) == ("warn", "forward", 300.0, received + 300)
    assert sla_state(inc, TARGETS, received + 299.999).level == "warn"
    # At the deadline itself the step is missed, as the alert engine raises it then.
    assert sla_state(inc, TARGETS, received + 300) == ("breach", "forward", 300.0, None)
    assert sla_state(inc, None, received + 300).level == ""


def test_targets_come_from_the_category_config() -> None:
    config = load_defaults()
    sla = config.category("banjir").sla
    for stage in STAGES:
        assert target_s(sla, stage) == getattr(sla, f"{stage}_s")
    with pytest.raises(ValueError, match="unknown service-level step 'lunch'"):
        target_s(sla, "lunch")


def test_age_stops_when_the_incident_ends() -> None:
    assert age_s(bare(), at(90).timestamp()) == 90
    closed = bare(status="closed", times=IncidentTimes(received=T0, closed=at(60)))
    assert age_s(closed, at(9000).timestamp()) == 60


# --- the alert engine agrees with the rule over a simulated day --------------------------

DAY_START = dt.datetime(2026, 11, 27, 0, 0, tzinfo=dt.UTC)


def every_stage_config() -> Config:
    """The default config with one rule alerting every step of every incident."""
    config = load_defaults()
    rule = AlertRule(name="any_step_late", when="sla_breach", min_priority="low", priority="low")
    return msgspec.structs.replace(config, alerts=msgspec.structs.replace(config.alerts, rules=[rule]))


class DayStep(NamedTuple):
    store: Store
    engine: AlertEngine
    config: Config
    now: dt.datetime
    changes: ChangeSet


def simulated_day(*, hours: int = 24, step_s: int = 433) -> Iterator[DayStep]:
    """Feed a simulated day (a flood surge included) into a store and an alert engine
    step by step, yielding after each step (first after the agencies and units)."""
    config = every_stage_config()
    clock = FakeClock(DAY_START)
    store = Store(clock=clock)
    engine = AlertEngine(config, store, clock=clock, language="id")
    sim = Simulator(scenario="mixed", rate_per_min=1.0, seed=5, start=DAY_START)
    seq = 0

    def events(bodies: list[tuple[dt.datetime, p.EventBody]]) -> list[p.Event]:
        nonlocal seq
        out = []
        for ts, body in bodies:
            seq += 1
            out.append(p.Event(epoch="day", seq=seq, id=f"d-{seq}", ts=ts, body=body))
        return out

    changes = store.apply_many(events([(DAY_START, b) for b in sim.initial_bodies()]))
    engine.on_changes(changes)
    yield DayStep(store, engine, config, clock(), changes)
    end = DAY_START + dt.timedelta(hours=hours)
    while clock() < end:
        clock.advance(step_s)
        changes = store.apply_many(events(sim.advance_to(clock())))
        engine.on_changes(changes)
        engine.tick()
        yield DayStep(store, engine, config, clock(), changes)


def live_sla_stages(engine: AlertEngine) -> dict[str, set[str]]:
    """Incident id -> the steps the engine has a live service-level alert for."""
    live: dict[str, set[str]] = {}
    for alert in engine.active():
        if alert.kind == "sla_breach" and alert.incident_id:
            live.setdefault(alert.incident_id, set()).add(alert.stage)
    return live


@pytest.mark.slow  # a simulated day
def test_alert_engine_and_rule_agree_on_every_incident_of_a_simulated_day() -> None:
    seen = {"breach": 0, "warn": 0, "ok": 0, "": 0}
    steps = 0
    for step in simulated_day():
        steps += 1
        live = live_sla_stages(step.engine)
        now_ts = step.now.timestamp()
        for inc in step.store.incidents.values():
            cat = step.config.category(inc.category)
            targets = cat.sla if cat is not None else None
            state = sla_state(inc, targets, now_ts)
            seen[state.level] += 1
            stages = live.get(inc.id, set())
            # Every missed step has its alert, and nothing else has one ...
            expected = {
                s
                for s in STAGES
                if inc.active
                and targets is not None
                and not step_met(inc, s)
                and now_ts >= inc.times.received.timestamp() + target_s(targets, s)
            }
            assert stages == expected, (inc.id, inc.status, stages, expected)
            # ... and the level the queue paints names the first of them.
            if state.level == "breach":
                assert state.stage == min(stages, key=STAGES.index), inc.id
            else:
                assert not stages, (inc.id, state)
    assert steps > 150
    # The day really has every level (the flood surge overloads BPBD on purpose).
    assert seen["breach"] > 100 and seen["warn"] > 10 and seen["ok"] > 100
