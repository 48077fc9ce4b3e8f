"""incident_problems, written for speed (it runs for every incident event),
gives the same problems in the same order as the plain version it replaced."""

from __future__ import annotations

import datetime as dt

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from commandcenter.core.model import (
    INCIDENT_STATUSES,
    TIME_MAX,
    TIME_MIN,
    AgencyTask,
    Incident,
    IncidentTimes,
    Location,
)
from commandcenter.core.plausibility import Plausibility, incident_problems
from commandcenter.core.text import match_key
from tests.factories import T0, make_incident


def _reference(inc: Incident, now: dt.datetime, rules: Plausibility) -> tuple[str, ...]:
    """incident_problems as it was written before (the rules, not the speed)."""
    problems: list[str] = []
    received = inc.times.received
    if not (TIME_MIN <= received < TIME_MAX):
        problems.append("time_outside_window")
    elif inc.active:
        age = (now - received).total_seconds()
        if age < -rules.future_skew_s:
            problems.append("received_in_future")
        elif age > rules.max_active_age_s:
            problems.append("received_long_ago")
    for task in inc.tasks:
        times = (task.forwarded_at, task.accepted_at, task.on_scene_at, task.closed_at)
        if any(v is not None and v < received for v in times):
            problems.append("task_before_received")
            break
    if "received_in_future" not in problems:
        steps = [inc.times.verified, inc.times.dispatched, inc.times.on_scene, inc.times.closed]
        for task in inc.tasks:
            steps += [task.forwarded_at, task.accepted_at, task.on_scene_at, task.closed_at]
        limit = now + dt.timedelta(seconds=rules.future_skew_s)
        if any(v is not None and v > limit for v in steps):
            problems.append("step_in_future")
    loc = inc.location
    if rules.area is not None and loc.lat is not None and loc.lon is not None:
        lat0, lon0, lat1, lon1 = rules.area
        if not (lat0 <= loc.lat <= lat1 and lon0 <= loc.lon <= lon1):
            problems.append("outside_area")
    if rules.categories and inc.category not in rules.categories:
        problems.append("unknown_category")
    if rules.agencies and any(t.agency not in rules.agencies for t in inc.tasks):
        problems.append("unknown_agency")
    if rules.districts and loc.kecamatan and match_key(loc.kecamatan) not in rules.districts:
        problems.append("unknown_district")
    return tuple(problems)


offsets = st.integers(min_value=-3 * 365 * 86400, max_value=3 * 365 * 86400).map(
    lambda s: dt.timedelta(seconds=s)
)
maybe_offset = st.one_of(
    st.none(), offsets, st.sampled_from([dt.timedelta(0), dt.timedelta(microseconds=-1)])
)
received = st.one_of(
    offsets.map(lambda d: T0 + d),
    st.sampled_from(
        [TIME_MIN, TIME_MAX - dt.timedelta(microseconds=1), TIME_MIN - dt.timedelta(days=1), TIME_MAX]
    ),
)


@st.composite
def incidents(draw: st.DrawFn) -> Incident:
    rec = draw(received)
    tasks = []
    for agency in draw(
        st.lists(st.sampled_from(["BPBD", "DAMKAR", "DINKES", "XX"]), unique=True, max_size=3)
    ):
        at = {}
        for name in ("forwarded_at", "accepted_at", "on_scene_at", "closed_at"):
            d = draw(maybe_offset)
            if d is not None:
                at[name] = max(TIME_MIN, min(rec + d, TIME_MAX - dt.timedelta(days=1)))
        tasks.append(AgencyTask(agency=agency, **at))
    lat = draw(st.one_of(st.none(), st.floats(-5.0, -1.0)))
    times = IncidentTimes(received=T0, closed=T0)
    # An incident built in memory may hold a time the protocol refuses.
    msgspec.structs.force_setattr(times, "received", rec)
    msgspec.structs.force_setattr(times, "closed", rec)
    return make_incident(
        status=draw(st.sampled_from(INCIDENT_STATUSES)),
        category=draw(st.sampled_from(["medis", "kebakaran", "lain"])),
        tasks=tasks,
        times=times,
        location=Location(
            lat=lat,
            lon=None if lat is None else draw(st.floats(103.0, 107.0)),
            kecamatan=draw(st.sampled_from(["", "Kayuagung", "Kayu\u200bagung", "Cengal", "Lain"])),
        ),
    )


rules = st.sampled_from(
    [
        Plausibility(),
        Plausibility.of(
            categories=["medis", "kebakaran"],
            agencies=["BPBD", "DAMKAR", "DINKES"],
            districts=["Kayuagung", "Cengal"],
            area=(-4.0, 104.0, -2.5, 106.0),
        ),
    ]
)


@settings(max_examples=300)
@given(inc=incidents(), rules=rules, now_offset=offsets)
def test_problems_are_those_of_the_plain_rules(
    inc: Incident, rules: Plausibility, now_offset: dt.timedelta
) -> None:
    now = T0 + now_offset
    assert incident_problems(inc, now, rules) == _reference(inc, now, rules)
