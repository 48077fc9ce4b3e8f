"""The situation report (Laporan Situasi) and the shift handover: their figures.

Everything is computed from the journal (through :class:`~commandcenter.history.timeline.Timeline`):
the state at the end of the period, and the events inside it. The rules, stated once here and
in docs/operations.md:

- An incident belongs to the period when it was received inside it; its figures are those of
  its latest version at the end of the period.
- By agency: incidents with a task for that agency. By district: the incident's kecamatan.
- Calls: for each WIB day the period touches, the last funnel the server sent for that day by
  the end of the period; prank and ghost are shown as a share of the answered calls.
- Service steps (verify, forward, dispatch, arrive): seconds from receipt to the step's time,
  for the incidents of the period that have that time; median and p90 (nearest rank).
- Arrival per agency: a task's on-scene time minus the incident's receipt, against the national
  15-minute target.
- Open at the end: incidents not closed or cancelled at the end, with their age then.
- Alerts: those raised by the end and not acknowledged by then; shelved and muted as they stood.
- The situation's timeline: its first version in the period, every change of status or of the
  districts it covers, at most one line an hour in between, and its last version.

The report never guesses: a period the journal cannot replay (missing events, a snapshot start)
raises :class:`~commandcenter.history.timeline.HistoryError` naming what is missing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from msgspec import Struct

from commandcenter.core import protocol as p
from commandcenter.core.figures import median, percentile
from commandcenter.core.model import Incident
from commandcenter.core.store import Store
from commandcenter.core.timeutil import WIB
from commandcenter.history.timeline import HistoryError, Timeline

#: The national response-time target (Permenkominfo: 15 minutes).
TARGET_S = 900.0
STEPS = ("verify", "forward", "dispatch", "arrive")


class Count(Struct, frozen=True):
    key: str
    count: int


class Duration(Struct, frozen=True, kw_only=True):
    key: str
    count: int
    median_s: float | None
    p90_s: float | None
    within_target: float | None = None


class OpenIncident(Struct, frozen=True, kw_only=True):
    id: str
    ticket: str
    category: str
    priority: str
    status: str
    kecamatan: str
    desa: str
    age_s: float
    agencies: list[str]


class AlertLine(Struct, frozen=True, kw_only=True):
    id: str
    kind: str
    priority: str
    raised_at: dt.datetime | None
    message: str
    incident_id: str = ""
    by: str = ""
    until: dt.datetime | None = None
    reason: str = ""


class SituationLine(Struct, frozen=True, kw_only=True):
    at: dt.datetime
    id: str
    name: str
    hazard: str
    status: str
    kecamatan: list[str]
    households: int
    evacuated: int


class Point(Struct, frozen=True):
    lat: float
    lon: float
    priority: str


class ReportFigures(Struct, frozen=True, kw_only=True):
    period_from: dt.datetime
    period_to: dt.datetime
    incidents: int
    by_category: list[Count]
    by_agency: list[Count]
    by_district: list[Count]
    by_priority: list[Count]
    hourly: list[Count]
    funnel: dict[str, int]
    funnel_days: list[str]
    prank_ghost_share: float | None
    steps: list[Duration]
    arrival_by_agency: list[Duration]
    arrival_all: Duration
    situation: list[SituationLine]
    open_at_end: list[OpenIncident]
    unacknowledged: list[AlertLine]
    shelved: list[AlertLine]
    muted: list[AlertLine]
    points: list[Point]
    #: Handover: units out of service and what changed in the last hour before the end.
    units_out_of_service: list[Count] = []
    last_hour: dict[str, int] = {}


PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def _open(i: Incident, at: dt.datetime) -> OpenIncident:
    return OpenIncident(
        id=i.id, ticket=i.ticket, category=i.category, priority=i.priority, status=i.status,
        kecamatan=i.location.kecamatan, desa=i.location.desa,
        age_s=max(0.0, (at - i.times.received).total_seconds()),
        agencies=[t.agency for t in i.tasks],
    )  # fmt: skip


def _in_situation(inc: Incident, situation_id: str) -> bool:
    return not situation_id or inc.situation_id == situation_id


def _alert_priority(state: Store, alert_id: str) -> str:
    alert = state.alerts.get(alert_id)
    return alert.priority if alert is not None else ""


def _counts(counter: Counter[str]) -> list[Count]:
    return [Count(k, n) for k, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def _duration(key: str, values: Iterable[float], target: float | None = None) -> Duration:
    vals = sorted(values)
    within = None
    if target is not None and vals:
        within = sum(1 for v in vals if v <= target) / len(vals)
    return Duration(
        key=key, count=len(vals), median_s=median(vals), p90_s=percentile(vals, 0.9), within_target=within
    )


def step_time(inc: Incident, step: str) -> dt.datetime | None:
    """When an incident passed a service step, by the earliest of its signs."""
    t = inc.times
    if step == "verify":
        return t.verified
    if step == "forward":
        times = [x.forwarded_at for x in inc.tasks if x.forwarded_at is not None]
        return min(times) if times else None
    if step == "dispatch":
        return t.dispatched
    times = [x.on_scene_at for x in inc.tasks if x.on_scene_at is not None]
    if t.on_scene is not None:
        times.append(t.on_scene)
    return min(times) if times else None


def _timeline_lines(lines: list[SituationLine]) -> list[SituationLine]:
    """See the module's doc: changes, hourly in between, and the last version of each."""
    kept: list[SituationLine] = []
    last: dict[str, SituationLine] = {}
    for i, line in enumerate(lines):
        prev = last.get(line.id)
        is_last = not any(x.id == line.id for x in lines[i + 1 :])
        if (
            prev is None
            or is_last
            or (line.status, line.kecamatan) != (prev.status, prev.kecamatan)
            or line.at - prev.at >= dt.timedelta(hours=1)
        ):
            kept.append(line)
            last[line.id] = line
    return kept


def _wib_days(start: dt.datetime, end: dt.datetime) -> list[dt.date]:
    day = start.astimezone(WIB).date()
    last = end.astimezone(WIB).date()
    out = []
    while day <= last:
        out.append(day)
        day += dt.timedelta(days=1)
    return out


def compute(
    state: Store,
    events: Sequence[p.Event],
    period_from: dt.datetime,
    period_to: dt.datetime,
    *,
    situation_id: str = "",
    target_s: float = TARGET_S,
) -> ReportFigures:
    """The figures of a period from the state at its end and the events up to its end (those
    before ``period_from`` are used only for the funnel of a day that began earlier)."""
    incidents = [
        inc for inc in state.incidents.values()
        if period_from <= inc.times.received <= period_to and _in_situation(inc, situation_id)
    ]  # fmt: skip
    by_cat: Counter[str] = Counter(i.category for i in incidents)
    by_agency: Counter[str] = Counter(a for i in incidents for a in {t.agency for t in i.tasks})
    by_district: Counter[str] = Counter(i.location.kecamatan or "-" for i in incidents)
    by_priority: Counter[str] = Counter(i.priority for i in incidents)
    hourly: Counter[str] = Counter(
        i.times.received.astimezone(WIB).replace(minute=0, second=0, microsecond=0).strftime("%Y-%m-%d %H:00")
        for i in incidents
    )
    steps = []
    for step in STEPS:
        values = []
        for inc in incidents:
            at = step_time(inc, step)
            if at is not None:
                values.append((at - inc.times.received).total_seconds())
        steps.append(_duration(step, values, target_s if step == "arrive" else None))
    arrivals: dict[str, list[float]] = defaultdict(list)
    for inc in incidents:
        for task in inc.tasks:
            if task.on_scene_at is not None:
                arrivals[task.agency].append((task.on_scene_at - inc.times.received).total_seconds())
    arrival_by_agency = [_duration(a, v, target_s) for a, v in sorted(arrivals.items())]
    arrival_all = _duration("all", [v for vs in arrivals.values() for v in vs], target_s)

    # Calls: the last funnel of each WIB day the period touches, as sent by its end.
    days = _wib_days(period_from, period_to)
    last_funnel: dict[dt.date, Any] = {}
    situation: list[SituationLine] = []
    for ev in events:
        if ev.ts > period_to:
            break
        body = ev.body
        if isinstance(body, p.FunnelUpdated) and body.funnel.day in days:
            last_funnel[body.funnel.day] = body.funnel
        elif isinstance(body, p.SituationUpserted) and ev.ts >= period_from:
            s = body.situation
            if not situation_id or s.id == situation_id:
                situation.append(SituationLine(
                    at=ev.ts, id=s.id, name=s.name, hazard=s.hazard, status=s.status,
                    kecamatan=list(s.kecamatan),
                    households=s.households_affected, evacuated=s.people_evacuated,
                ))  # fmt: skip
    situation = _timeline_lines(situation)
    funnel = dict.fromkeys(("calls_in", "answered", "abandoned", "prank", "ghost", "valid", "info"), 0)
    for f in last_funnel.values():
        for key in funnel:
            funnel[key] += int(getattr(f, key))
    share = (funnel["prank"] + funnel["ghost"]) / funnel["answered"] if funnel["answered"] else None

    open_at_end = sorted(
        (_open(i, period_to) for i in state.incidents.values()
         if i.active and i.times.received <= period_to and _in_situation(i, situation_id)),
        key=lambda o: (PRIORITY_ORDER.get(o.priority, 3), -o.age_s, o.ticket),
    )  # fmt: skip
    unacked = [
        AlertLine(id=a.id, kind=a.kind, priority=a.priority, raised_at=a.raised_at, message=a.message,
                  incident_id=a.incident_id or "")
        for a in sorted(state.alerts.values(), key=lambda a: (a.raised_at, a.id))
        if a.id not in state.acks and a.raised_at <= period_to
    ]  # fmt: skip
    shelved = [
        AlertLine(id=s.alert_id, kind="shelved", priority=_alert_priority(state, s.alert_id), raised_at=None,
                  message="", by=s.operator, until=s.until, reason=s.reason)
        for s in sorted(state.shelved.values(), key=lambda s: s.alert_id)
        if s.until > period_to
    ]  # fmt: skip
    muted = [
        AlertLine(id=m.console, kind="muted", priority="", raised_at=None, message="", by=m.operator,
                  until=m.until)
        for m in sorted(state.muted.values(), key=lambda m: m.console)
        if m.until > period_to
    ]  # fmt: skip
    oos: Counter[str] = Counter(u.agency for u in state.units.values() if u.status == "out_of_service")
    hour_ago = period_to - dt.timedelta(hours=1)
    last_hour = {
        "new": sum(1 for i in state.incidents.values() if hour_ago < i.times.received <= period_to),
        "closed": sum(1 for i in state.incidents.values()
                      if i.times.closed is not None and hour_ago < i.times.closed <= period_to),
        "alerts": sum(1 for a in state.alerts.values() if hour_ago < a.raised_at <= period_to),
        "acknowledged": sum(1 for k in state.acks.values() if hour_ago < k.at <= period_to),
    }  # fmt: skip
    return ReportFigures(
        period_from=period_from, period_to=period_to, incidents=len(incidents),
        by_category=_counts(by_cat), by_agency=_counts(by_agency), by_district=_counts(by_district),
        by_priority=_counts(by_priority), hourly=[Count(k, n) for k, n in sorted(hourly.items())],
        funnel=funnel, funnel_days=[d.isoformat() for d in sorted(last_funnel)], prank_ghost_share=share,
        steps=steps, arrival_by_agency=arrival_by_agency, arrival_all=arrival_all, situation=situation,
        open_at_end=open_at_end, unacknowledged=unacked, shelved=shelved, muted=muted,
        points=[Point(i.location.lat, i.location.lon, i.priority) for i in incidents
                if i.location.lat is not None and i.location.lon is not None],
        units_out_of_service=_counts(oos), last_hour=last_hour,
    )  # fmt: skip


async def report_figures(
    timeline: Timeline, period_from: dt.datetime, period_to: dt.datetime, *, situation_id: str = ""
) -> ReportFigures:
    """Figures of a period from an open timeline (HistoryError when it cannot be replayed)."""
    if period_to < period_from:
        raise HistoryError(
            f"the period ends ({period_to.isoformat()}) before it begins ({period_from.isoformat()})"
        )
    state = await timeline.state_at(period_to)
    # Funnels of the first day may have begun before the period: read from that day's start.
    day_start = period_from.astimezone(WIB).replace(hour=0, minute=0, second=0, microsecond=0)
    start = timeline.index_at(day_start - dt.timedelta(microseconds=1))
    # Only the funnels and the situation's versions are read from the events (not a day of
    # incident updates: the state at the end has those).
    events = await timeline.events_of_kinds(("funnel", "situation"), start, timeline.index_at(period_to))
    return compute(state, events, period_from, period_to, situation_id=situation_id)
