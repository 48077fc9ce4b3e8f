"""Clocks and the local day.

Indonesia has no daylight saving time, so Western Indonesia Time (WIB, the zone
of South Sumatra) is a fixed UTC+7 offset; no tz database is needed. "Today" on
the wall (figures of today, the call funnel) always means the WIB day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

WIB = dt.timezone(dt.timedelta(hours=7), "WIB")

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def local_day(ts: dt.datetime, tz: dt.tzinfo = WIB) -> dt.date:
    """The local calendar day of an aware timestamp."""
    return ts.astimezone(tz).date()


class WarpClock:
    """Simulated time running ``speed`` times faster than real time from ``origin``.

    The demo and the soak run 24 simulated hours in 30 minutes; the server's
    simulator and the wall must then agree on "now" (ages, SLA breaches, alert
    repeats, the WIB day, pruning), or incidents would sit in the future. Two
    processes given the same origin and speed compute the same time without
    talking to each other.
    """

    def __init__(self, origin: dt.datetime, speed: float, real: Clock = utcnow) -> None:
        if origin.tzinfo is None:
            raise ValueError("WarpClock needs an aware origin")
        if not speed > 0:
            raise ValueError("speed must be > 0")
        self.origin = origin
        self.speed = float(speed)
        self._real = real

    def __call__(self) -> dt.datetime:
        return self.origin + (self._real() - self.origin) * self.speed


class FakeClock:
    """A settable clock for tests of time rules (repeat, escalation, day change)."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> dt.datetime:
        self.now = self.now + dt.timedelta(seconds=seconds)
        return self.now
