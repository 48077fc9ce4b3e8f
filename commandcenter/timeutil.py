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
