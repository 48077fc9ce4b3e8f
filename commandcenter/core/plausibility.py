"""Values the wall accepts but cannot place: flagged, never refused.

The protocol refuses what the wall cannot hold at all (see model.py). Some
values are well-formed but still wrong for *this* wall: a point far outside the
regency, a category or agency the configuration does not know, a task time
before the incident was received (from an older server), a receipt time hours
in the future or years in the past (ages and service-level colours would lie).
Refusing them would hide a real emergency, so the store keeps the incident and
lists its problems (:func:`incident_problems`); the queue shows a ⚠ mark with
them, and each kind of problem is logged once.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from commandcenter.core.i18n import Strings
from commandcenter.core.model import ACTIVE_STATUSES, TIME_MAX, TIME_MIN, Incident
from commandcenter.core.text import match_key

log = logging.getLogger(__name__)

__all__ = ["PROBLEMS", "Plausibility", "incident_problems", "problem_text"]

#: Problem codes, in the order they are listed, with an English description for
#: the log (the wall's tooltip takes its words from the problems catalog).
PROBLEMS: dict[str, str] = {
    "time_outside_window": "a time outside 2000..2100",
    "received_in_future": "received more than the allowed skew in the future",
    "received_long_ago": "an active incident received very long ago",
    "task_before_received": "a task time earlier than the incident's receipt",
    "step_in_future": "a handling or task time more than the allowed skew in the future",
    "outside_area": "coordinates far outside the regency",
    "unknown_category": "a category the configuration does not know",
    "unknown_agency": "an agency the configuration does not know",
    "unknown_district": "a district the configuration does not know",
}


def problem_text(problems: Iterable[str], strings: Strings) -> str:
    """One line per problem under a heading, in the language of ``strings``
    (the texts are in the problems catalog, keyed problem.<code>)."""
    lines = [f"⚠ {strings.t('problem.head')}:"]
    for code in problems:
        key = f"problem.{code}"
        lines.append(f"– {strings.t(key) if key in strings else code}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Plausibility:
    """What this wall can place. Empty sets and ``area=None`` are not checked
    (the engine's tests and the reference server know no configuration)."""

    categories: frozenset[str] = frozenset()
    agencies: frozenset[str] = frozenset()
    #: District names as :func:`match_key` gives them.
    districts: frozenset[str] = frozenset()
    #: (lat_min, lon_min, lat_max, lon_max) with a margin around the regency.
    area: tuple[float, float, float, float] | None = None
    #: A receipt further in the future than this is a clock or a feed error.
    future_skew_s: float = 600.0
    #: An incident still active this long after receipt is stale data.
    max_active_age_s: float = 365 * 86400.0
    _logged: set[str] = field(default_factory=set, compare=False, repr=False)

    @functools.cached_property
    def future_skew(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.future_skew_s)

    @classmethod
    def of(
        cls,
        *,
        categories: Iterable[str] = (),
        agencies: Iterable[str] = (),
        districts: Iterable[str] = (),
        area: tuple[float, float, float, float] | None = None,
        margin_deg: float = 0.5,
    ) -> Plausibility:
        """Build from configured names; ``area`` grows by ``margin_deg`` each side."""
        if area is not None:
            lat0, lon0, lat1, lon1 = area
            area = (lat0 - margin_deg, lon0 - margin_deg, lat1 + margin_deg, lon1 + margin_deg)
        return cls(
            categories=frozenset(categories),
            agencies=frozenset(agencies),
            districts=frozenset(match_key(d) for d in districts),
            area=area,
        )

    def log_once(self, problem: str, incident_id: str) -> None:
        """A warning the first time a kind of problem is seen, debug after that:
        a feed full of one mistake must not flood the log."""
        if problem in self._logged:
            log.debug("incident %s: %s", incident_id, PROBLEMS.get(problem, problem))
            return
        self._logged.add(problem)
        log.warning(
            "incident %s: %s (shown flagged; further cases of this kind are logged at debug)",
            incident_id,
            PROBLEMS.get(problem, problem),
        )


_NO_RULES = Plausibility()
#: Later than any time (no step is "in the future" once the receipt is).
_NEVER = dt.datetime.max.replace(tzinfo=dt.UTC)


def incident_problems(inc: Incident, now: dt.datetime, rules: Plausibility = _NO_RULES) -> tuple[str, ...]:
    """The problem codes of one incident (empty when it is fine). Never raises:
    only comparisons and subtractions of clamped values."""
    # Runs for every incident event: plain statements, no property, no generator,
    # no tuple per task, and no list unless there is a problem.
    problems: list[str] | None = None
    received = inc.times.received
    # The protocol refuses other times; an incident built in memory may not.
    if not (TIME_MIN <= received < TIME_MAX):
        problems = ["time_outside_window"]
    elif inc.status in ACTIVE_STATUSES:
        age = (now - received).total_seconds()
        if age < -rules.future_skew_s:
            problems = ["received_in_future"]
        elif age > rules.max_active_age_s:
            problems = ["received_long_ago"]
    # A later step in the future (an on-scene time in 2099) makes countdowns and
    # service-level colours lie; a receipt in the future says so already.
    if problems is None or problems[0] != "received_in_future":
        limit = now + rules.future_skew
        steps = inc.times
        late = (
            (steps.closed is not None and steps.closed > limit)
            or (steps.on_scene is not None and steps.on_scene > limit)
            or (steps.dispatched is not None and steps.dispatched > limit)
            or (steps.verified is not None and steps.verified > limit)
        )
    else:
        limit = _NEVER
        late = False
    early = False
    for task in inc.tasks:  # each time once: before the receipt, or in the future
        for v in (task.forwarded_at, task.accepted_at, task.on_scene_at, task.closed_at):
            if v is not None:
                if v < received:
                    early = True
                elif v > limit:
                    late = True
    if early:
        problems = _add(problems, "task_before_received")
    if late:
        problems = _add(problems, "step_in_future")
    tasks = inc.tasks
    loc = inc.location
    area = rules.area
    if area is not None and loc.lat is not None and loc.lon is not None:
        lat0, lon0, lat1, lon1 = area
        if not (lat0 <= loc.lat <= lat1 and lon0 <= loc.lon <= lon1):
            problems = _add(problems, "outside_area")
    if rules.categories and inc.category not in rules.categories:
        problems = _add(problems, "unknown_category")
    agencies = rules.agencies
    if agencies:
        for t in tasks:
            if t.agency not in agencies:
                problems = _add(problems, "unknown_agency")
                break
    if rules.districts and loc.kecamatan and match_key(loc.kecamatan) not in rules.districts:
        problems = _add(problems, "unknown_district")
    return tuple(problems) if problems is not None else ()


def _add(problems: list[str] | None, code: str) -> list[str]:
    if problems is None:
        return [code]
    problems.append(code)
    return problems
