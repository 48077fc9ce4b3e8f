"""The service-level rule: which step an incident waits for and whether it is late (no Qt).

An incident passes four steps, each with a target counted in seconds from the
receipt of the report, configured per category (``[categories.sla]``):

1. ``verify``   – a call taker confirmed the report;
2. ``forward``  – it was forwarded to an agency (OPD);
3. ``dispatch`` – a unit was sent;
4. ``arrive``   – a unit is on scene.

A step is *met* when the data shows it happened by any of its signs: the
incident's status, a timestamp, an agency task's status or time, an assigned
unit. Servers fill these differently (one sets ``status = in_handling`` and
the task's ``on_scene_at`` but not ``times.dispatched``), so no single field is
trusted alone. A later step implies the earlier ones: a unit on scene was
dispatched, and a report forwarded to an agency was verified.

The queue's row colours and the alert engine's ``sla_breach`` rules both ask
this module, so the wall never shows a breach the alarms call met (or the
other way round).
"""

from __future__ import annotations

from operator import attrgetter
from typing import NamedTuple, Protocol

from commandcenter.core.model import ACTIVE_STATUSES, Incident

__all__ = [
    "STAGES",
    "WARN_SHARE",
    "SlaState",
    "SlaTargets",
    "age_s",
    "deadline_ts",
    "sla_state",
    "stages_met",
    "step_met",
    "target_s",
    "waiting_step",
]

STAGES: tuple[str, ...] = ("verify", "forward", "dispatch", "arrive")
_STAGE_INDEX = {stage: i for i, stage in enumerate(STAGES)}
_TARGET_OF = tuple(attrgetter(f"{stage}_s") for stage in STAGES)
#: Share of a target after which an incident is "near" it (amber on the queue).
WARN_SHARE = 0.75


class SlaTargets(Protocol):
    """Seconds from receipt per step (commandcenter.config's ``Sla`` is one)."""

    @property
    def verify_s(self) -> float: ...
    @property
    def forward_s(self) -> float: ...
    @property
    def dispatch_s(self) -> float: ...
    @property
    def arrive_s(self) -> float: ...


class SlaState(NamedTuple):
    """Where an incident stands against its service level at one instant."""

    #: "ok", "warn" (at least WARN_SHARE of the target used), "breach", or "" when no step runs.
    level: str
    #: The step waited for ("" when none).
    stage: str
    target_s: float
    #: When the level changes next (a timestamp), None when it will not change with time alone.
    next_change_ts: float | None


_NO_STATE = SlaState("", "", 0.0, None)


def stages_met(inc: Incident) -> int:
    """How many of the four steps the incident has passed (0..4), from every sign."""
    # One pass over the tasks: the queue asks this for every painted cell.
    status = inc.status
    times = inc.times
    # arrive: the incident or any agency's task is on scene.
    if status == "in_handling" or times.on_scene is not None:
        return 4
    by_tasks = 0
    for task in inc.tasks:
        if task.on_scene_at is not None or task.status == "in_handling":
            return 4
        if task.units:  # dispatch: a unit assigned to a task
            by_tasks = 3
        elif by_tasks < 2 and (task.forwarded_at is not None or task.status != "pending"):
            by_tasks = 2  # forward: an agency holds a task past "pending"
    if by_tasks == 3 or times.dispatched is not None or inc.units:
        return 3
    if by_tasks == 2 or status == "forwarded":
        return 2
    if status == "verified" or times.verified is not None:
        return 1
    return 0


def step_met(inc: Incident, stage: str) -> bool:
    """Whether the incident has passed ``stage`` (one of :data:`STAGES`)."""
    return stages_met(inc) > _STAGE_INDEX[stage]


def waiting_step(inc: Incident) -> str | None:
    """The step an active incident waits for; None when closed, cancelled or on scene."""
    if inc.status not in ACTIVE_STATUSES:
        return None
    done = stages_met(inc)
    return STAGES[done] if done < len(STAGES) else None


def target_s(targets: SlaTargets, stage: str) -> float:
    """The configured target of ``stage`` in seconds from receipt."""
    index = _STAGE_INDEX.get(stage)
    if index is None:
        raise ValueError(f"unknown service-level step {stage!r}; expected one of {', '.join(STAGES)}")
    return float(_TARGET_OF[index](targets))


def deadline_ts(inc: Incident, target: float) -> float:
    """When a step with this target is missed: receipt plus the target (a timestamp).

    At the deadline itself the step counts as missed, as the alert engine raises it then."""
    return inc.times.received.timestamp() + target


def sla_state(inc: Incident, targets: SlaTargets | None, now_ts: float) -> SlaState:
    """The service-level state of ``inc`` at ``now_ts`` (no targets: no step runs)."""
    if targets is None or inc.status not in ACTIVE_STATUSES:
        return _NO_STATE
    done = stages_met(inc)
    if done == len(STAGES):
        return _NO_STATE
    stage = STAGES[done]
    target = float(_TARGET_OF[done](targets))
    received = inc.times.received.timestamp()
    deadline = received + target
    if now_ts >= deadline:
        return SlaState("breach", stage, target, None)
    warn_at = received + WARN_SHARE * target
    if now_ts >= warn_at:
        return SlaState("warn", stage, target, deadline)
    return SlaState("ok", stage, target, warn_at)


def age_s(inc: Incident, now_ts: float) -> float:
    """Seconds since receipt; a closed or cancelled incident's age stops when it ended."""
    end = inc.times.closed if inc.status not in ACTIVE_STATUSES else None
    end_ts = end.timestamp() if end is not None else now_ts
    return end_ts - inc.times.received.timestamp()
