"""The time-window checks of the structs' ``__post_init__`` first test all of a
struct's times in one pass and run the named, raising checks only when that
fails (model._in_window, the inline checks of IncidentTimes, Incident and
Event). These tests hold that fast test to the rules as they were written
before it: the same frames accepted, the same refused with the same error."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commandcenter.core import protocol as p
from commandcenter.core.model import TIME_MAX, TIME_MIN, ModelError, check_time

_ZONES = [
    dt.UTC,
    dt.timezone(dt.timedelta(hours=7)),
    dt.timezone(dt.timedelta(hours=-12)),
    dt.timezone(dt.timedelta(hours=14)),
    dt.timezone(dt.timedelta(minutes=-30)),
]
_EDGES = [
    TIME_MIN,
    TIME_MIN - dt.timedelta(microseconds=1),
    TIME_MAX,
    TIME_MAX - dt.timedelta(microseconds=1),
    # The same instants written with an offset: still inside / outside.
    TIME_MIN.astimezone(dt.timezone(dt.timedelta(hours=7))),
    dt.datetime(2000, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    dt.datetime(2099, 12, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-1))),
    dt.datetime(1, 1, 1, tzinfo=dt.UTC),
    dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-14))),
    dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC),
]
times = st.one_of(
    st.sampled_from(_EDGES),
    st.datetimes(
        min_value=dt.datetime(1990, 1, 1),
        max_value=dt.datetime(2110, 1, 1),
        timezones=st.sampled_from(_ZONES),
    ),
    st.datetimes(timezones=st.sampled_from(_ZONES)),
)
maybe = st.one_of(st.none(), times)
_TASK_TIMES = ("forwarded_at", "accepted_at", "on_scene_at", "closed_at")
_STEPS = ("verified", "dispatched", "on_scene", "closed")


def _strict_error(
    ts: Any, received: Any, steps: dict[str, Any], tasks: list[dict[str, Any]], updated_at: Any
) -> str | None:
    """The error of the checks as written before the fast test, in msgspec's
    order (each task when decoded, then times, then the incident, then the
    event) and with the path msgspec adds to an error of a nested struct."""
    path = ""
    try:
        for i, task in enumerate(tasks):
            path = f" - at `$.body.incident.tasks[{i}]`"
            for name in _TASK_TIMES:
                check_time(task.get(name), name)
        path = " - at `$.body.incident.times`"
        check_time(received, "received")
        for name in _STEPS:
            check_time(steps.get(name), name)
        for name in _STEPS:
            value = steps.get(name)
            if value is not None and value < received:
                raise ModelError(f"times.{name} is earlier than times.received")
        path = " - at `$.body.incident`"
        check_time(updated_at, "updated_at")
        path = ""
        check_time(ts, "ts")
    except ModelError as exc:
        return f"invalid frame: {exc}{path}"
    return None


def _frame(
    ts: Any, received: Any, steps: dict[str, Any], tasks: list[dict[str, Any]], updated_at: Any
) -> bytes:
    incident: dict[str, Any] = {
        "id": "inc-1",
        "ticket": "OKI-1",
        "version": 1,
        "category": "medis",
        "priority": "high",
        "status": "received",
        "location": {},
        "tasks": [
            {"agency": f"A{i}", **{k: v for k, v in t.items() if v is not None}} for i, t in enumerate(tasks)
        ],
        "times": {"received": received, **{k: v for k, v in steps.items() if v is not None}},
    }
    if updated_at is not None:
        incident["updated_at"] = updated_at
    return msgspec.json.encode(
        {
            "type": "event",
            "epoch": "e",
            "seq": 1,
            "id": "e1",
            "ts": ts,
            "body": {"kind": "incident", "incident": incident},
        }
    )


@settings(max_examples=400)
@given(
    ts=times,
    received=times,
    steps=st.fixed_dictionaries(dict.fromkeys(_STEPS, maybe)),
    tasks=st.lists(st.fixed_dictionaries(dict.fromkeys(_TASK_TIMES, maybe)), max_size=3),
    updated_at=maybe,
)
def test_fast_time_checks_refuse_what_the_named_checks_refuse(
    ts: Any, received: Any, steps: dict[str, Any], tasks: list[dict[str, Any]], updated_at: Any
) -> None:
    data = _frame(ts, received, steps, tasks, updated_at)
    expected = _strict_error(ts, received, steps, tasks, updated_at)
    if expected is None:
        event = p.decode_server_frame(data)
        assert isinstance(event, p.Event)
        assert event.ts == ts
    else:
        with pytest.raises(p.ProtocolError) as err:
            p.decode_server_frame(data)
        assert err.value.reason == expected


def test_a_step_before_receipt_names_the_step() -> None:
    received = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)
    data = _frame(received, received, {"dispatched": received - dt.timedelta(seconds=1)}, [], None)
    with pytest.raises(p.ProtocolError, match=r"times\.dispatched is earlier than times\.received"):
        p.decode_server_frame(data)
