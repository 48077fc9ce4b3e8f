"""Replay on the wall: a player that drives a store through a journal's past as a feed drives it
live, so every view (queue, boards, map, leader figures, alerts) shows the moment being replayed.

The player owns one :class:`~commandcenter.core.store.Store` whose clock is the replayed moment;
views hold it as they hold a live store. :meth:`ReplayPlayer.seek` loads the state at a moment
(through the timeline's checkpoints: well under a second anywhere in a day) and hands the views a
reset; :meth:`ReplayPlayer.run` moves the moment forward at ``speed`` times real time while
playing, applying the events that fall due in batches and handing each batch's change set on, as
the feed does. The state reached by playing is the state reached by seeking (tested).

Jumps and steps take turns (one lock in the player, whoever calls it): the time bar jumps while
the player's own task is stepping, and a step waiting on the journal would otherwise apply its
events on top of the state a jump just loaded (or a step computed for the moment before a jump
backwards would undo it), leaving the views on a state the journal never had. A step asked for
before a jump that then took its turn first is dropped: its target belonged to the old moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from commandcenter.core.store import ChangeSet, Store
from commandcenter.history.timeline import Timeline

log = logging.getLogger(__name__)

MIN_SPEED = 1.0
MAX_SPEED = 600.0
#: How often the moment moves forward while playing (seconds of real time).
STEP_S = 0.1


@dataclass(frozen=True)
class ReplayStatus:
    """What the replay banner and the console's time bar show."""

    position: dt.datetime
    start: dt.datetime
    end: dt.datetime
    playing: bool
    speed: float


class ReplayPlayer:
    def __init__(
        self,
        timeline: Timeline,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeline.start is None or timeline.end is None:
            raise ValueError("the journal holds no events to replay")
        self.timeline = timeline
        self.start = max(start or timeline.start, timeline.start)
        self.end = min(end or timeline.end, timeline.end)
        if self.end < self.start:
            raise ValueError(f"nothing to replay between {self.start.isoformat()} and {self.end.isoformat()}")
        self.position = self.start
        self.speed = self._bounded(speed)
        self.playing = False
        self.monotonic = monotonic
        self.store = Store(clock=lambda: self.position)
        #: Events applied so far (an index into the timeline).
        self.index = 0
        self.change_listeners: list[Callable[[ChangeSet], None]] = []
        self.status_listeners: list[Callable[[ReplayStatus], None]] = []
        self._wake = asyncio.Event()
        #: One jump or step at a time; ``_jumps`` counts jumps so a step can tell it is stale.
        self._turn = asyncio.Lock()
        self._jumps = 0

    @staticmethod
    def _bounded(speed: float) -> float:
        return min(MAX_SPEED, max(MIN_SPEED, float(speed)))

    # --- controls ------------------------------------------------------------------------

    def status(self) -> ReplayStatus:
        return ReplayStatus(self.position, self.start, self.end, self.playing, self.speed)

    async def seek(self, when: dt.datetime) -> None:
        """Show the moment ``when`` (clamped to the replayed period)."""
        async with self._turn:
            self._jumps += 1
            when = min(max(when, self.start), self.end)
            index = self.timeline.index_at(when)
            self.position = when
            await self.timeline.state_after(index, when, into=self.store)
            self.index = index
            self._emit(ChangeSet.full_reset())
            self._status()

    def play(self) -> None:
        self.playing = True
        self._wake.set()
        self._status()

    def pause(self) -> None:
        self.playing = False
        self._status()

    def set_speed(self, speed: float) -> None:
        self.speed = self._bounded(speed)
        self._status()

    async def next_alert(self) -> dt.datetime | None:
        """Jump to the next alert raised after the current moment (None when there is none)."""
        when = self.timeline.next_alert_after(self.position)
        if when is not None and when <= self.end:
            await self.seek(when)
            return when
        return None

    async def step_to(self, when: dt.datetime) -> None:
        """Move forward to ``when`` by applying the events in between (what playing does).
        Dropped when a jump took its turn after this was asked for (see the module's doc)."""
        jumps = self._jumps  # ``when`` was computed from the moment before any jump now waiting
        async with self._turn:
            if jumps != self._jumps:
                return
            when = min(max(when, self.position), self.end)
            target = self.timeline.index_at(when)
            self.position = when
            if target > self.index:
                events = await self.timeline.events(self.index, target)
                for i in range(0, len(events), 500):
                    self._emit(self.store.apply_many(events[i : i + 500]))
                self.index = target
            if self.position >= self.end:
                self.playing = False
            self._status()

    async def run(self, stop: asyncio.Event) -> None:
        """Play while ``playing`` until ``stop``; the moment advances ``speed`` x real time."""
        last = self.monotonic()
        while not stop.is_set():
            if not self.playing:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)
                last = self.monotonic()
                continue
            now = self.monotonic()
            elapsed, last = now - last, now
            await self.step_to(self.position + dt.timedelta(seconds=elapsed * self.speed))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STEP_S)

    # --- listeners -----------------------------------------------------------------------

    def _emit(self, changes: ChangeSet) -> None:
        if not changes:
            return
        for listener in list(self.change_listeners):
            try:
                listener(changes)
            except Exception:
                log.exception("replay listener %r failed", listener)

    def _status(self) -> None:
        status = self.status()
        for listener in list(self.status_listeners):
            try:
                listener(status)
            except Exception:
                log.exception("replay status listener %r failed", listener)
