"""The state of the wall at any moment of a journal, reached in well under a second.

:meth:`Timeline.open` reads the journal once (read-only), in the order it was written: it
applies every event to a store, re-basing on the journal's snapshots where the stream was
resynchronised (a new server epoch, a gap the feed healed), and keeps a compressed copy of the
state every :data:`CHECKPOINT_EVENTS` events. :meth:`Timeline.state_at` then starts from the
nearest checkpoint before the moment asked for and applies the few events after it, so a jump
anywhere in a 24-hour, 200,000-event journal costs one decode and a few thousand events. The
state reached by jumping is the state reached by playing: both apply the same events in the
same order to the same start.

Events the wall refused (journaled as refused, never applied: commandcenter.wall.feed) keep
their place in the stream: the events around them continue, they are no gap.

Where the journal cannot say what the state was (events missing in the middle, a journal that
begins with events whose base snapshot was pruned), :meth:`state_at` raises
:class:`HistoryError` naming what is missing, never a state that silently lacks them; a journal
with a damaged page is refused at :meth:`Timeline.open`, saying after which event it breaks.
"""

from __future__ import annotations

import bisect
import datetime as dt
import sqlite3
import zlib
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from commandcenter.core import protocol as p
from commandcenter.core.store import Store, StoreState, decode_state, encode_state
from commandcenter.core.timeutil import WIB
from commandcenter.storage.journal import Journal, JournalError

#: A checkpoint of the whole state every this many events: about 0.2 s of events to apply after
#: one, and a few megabytes (zlib) each for a 24-hour journal of a busy day.
CHECKPOINT_EVENTS = 5000


class HistoryError(Exception):
    """The journal cannot answer: what is missing, where."""


@dataclass(frozen=True)
class Gap:
    """Events missing before index ``index`` of the timeline: the state is unknown from the
    event before it until the next re-base."""

    index: int
    epoch: str
    expected_seq: int
    found_epoch: str
    found_seq: int
    before: dt.datetime | None
    after: dt.datetime

    def describe(self) -> str:
        when = (
            f"between {_wib(self.before)} and {_wib(self.after)}"
            if self.before
            else f"before {_wib(self.after)}"
        )
        if self.found_epoch == self.epoch:
            missing = f"events {self.expected_seq}..{self.found_seq - 1} of epoch {self.epoch}"
        else:
            missing = f"the start of epoch {self.found_epoch} (up to seq {self.found_seq - 1})"
        return f"{missing} are not in the journal ({when})"


def _wib(ts: dt.datetime | None) -> str:
    return "?" if ts is None else ts.astimezone(WIB).strftime("%d %b %H:%M:%S WIB")


@dataclass(frozen=True)
class _Base:
    """Before event ``index`` the state is replaced: by a snapshot (rowid) or emptied (seq 1)."""

    index: int
    snapshot_rowid: int  # 0: an empty store (a stream that starts at seq 1)


class Timeline:
    """A read-only journal as a sequence of states; see the module's doc."""

    def __init__(self, journal: Journal, store_factory: Callable[[Callable[[], dt.datetime]], Store]) -> None:
        self.journal = journal
        self._store_factory = store_factory
        self.rowids = array("q")
        #: Event times (POSIX seconds) and their running maximum: "the state at T" is the
        #: longest prefix of events whose times are all <= T.
        self.times = array("d")
        self._maxtimes = array("d")
        self.bases: list[_Base] = []
        self.gaps: list[Gap] = []
        self._checkpoints: list[tuple[int, bytes]] = []  # (index, zlib(encoded state)) after events[:index]
        self.alert_indexes: list[int] = []
        self.situation_indexes: list[int] = []

    # --- building --------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        checkpoint_every: int = CHECKPOINT_EVENTS,
        store_factory: Callable[[Callable[[], dt.datetime]], Store] | None = None,
    ) -> Timeline:
        """Read the journal at ``path`` (read-only: a missing file or one that is not a
        journal raises JournalError; nothing is ever written)."""
        journal = await Journal.open(path, readonly=True)
        factory = store_factory or (lambda clock: Store(clock=clock))
        timeline = cls(journal, factory)
        try:
            await timeline._build(checkpoint_every)
        except sqlite3.DatabaseError as exc:
            # A damaged page: say where the readable part ends; never a report on what is left.
            await journal.close()
            n = len(timeline)
            where = f"after its event {n} ({_wib(timeline.time_of(n - 1))})" if n else "at its start"
            raise HistoryError(
                f"{path}: the journal is damaged {where}: the events from there on cannot be read "
                f"({exc}); restore it from a backup"
            ) from None
        except BaseException:
            await journal.close()
            raise
        return timeline

    async def close(self) -> None:
        await self.journal.close()

    async def _build(self, every: int) -> None:
        snapshots = await self.journal.snapshot_index()
        by_position = {(epoch, seq): rowid for rowid, epoch, seq, _upto, _at, _src in snapshots}
        refused = await self.journal.refused_positions()
        clock_now = [dt.datetime.min.replace(tzinfo=dt.UTC)]
        store = self._store_factory(lambda: clock_now[0])
        known = False  # whether ``store`` holds the true state
        epoch, last_seq = "", 0
        last_ts: dt.datetime | None = None
        since_checkpoint = 0
        batch: list[p.Event] = []

        def flush() -> None:
            if batch:
                clock_now[0] = batch[-1].ts
                store.apply_many(batch)
                batch.clear()

        index = 0
        async for rowid, data in self.journal.iter_events():
            try:
                ev = p.decode_event(data)
            except p.ProtocolError as exc:
                raise HistoryError(f"{self.journal.path}: event row {rowid} cannot be read ({exc}); "
                                   "the journal is damaged there") from None  # fmt: skip
            # The last seq before this event that is not a refused one.
            prev = ev.seq - 1
            while (ev.epoch, prev) in refused:
                prev -= 1
            continues = bool(epoch) and ev.epoch == epoch and last_seq == prev
            if not (known and continues):
                flush()
                # A snapshot anywhere in the run of refused events before it will do.
                snap = next(
                    (by_position[(ev.epoch, s)] for s in range(ev.seq - 1, prev - 1, -1)
                     if (ev.epoch, s) in by_position),
                    None,
                )  # fmt: skip
                if snap is not None:
                    data_ = await self.journal.snapshot_data(snap)
                    if data_ is None:
                        raise HistoryError(f"snapshot {snap} vanished while reading")
                    store.load_state(decode_state(data_))
                    self.bases.append(_Base(index, snap))
                    known = True
                elif prev == 0:
                    store = self._store_factory(lambda: clock_now[0])
                    self.bases.append(_Base(index, 0))
                    known = True
                elif not continues:
                    # Missing events; the state stays unknown until a snapshot re-bases it.
                    self.gaps.append(Gap(index, epoch, last_seq + 1, ev.epoch, ev.seq, last_ts, ev.ts))
                    known = False
                if known:
                    self._checkpoints.append((index, zlib.compress(encode_state(store.to_state()), 1)))
                    since_checkpoint = 0
            epoch, last_seq, last_ts = ev.epoch, ev.seq, ev.ts
            ts = ev.ts.timestamp()
            self.rowids.append(rowid)
            self.times.append(ts)
            self._maxtimes.append(max(ts, self._maxtimes[-1]) if self._maxtimes else ts)
            kind = type(ev.body).__name__
            if kind == "AlertRaised":
                self.alert_indexes.append(index)
            elif kind == "SituationUpserted":
                self.situation_indexes.append(index)
            if known:
                batch.append(ev)
                since_checkpoint += 1
                if since_checkpoint >= every:
                    flush()
                    self._checkpoints.append((index + 1, zlib.compress(encode_state(store.to_state()), 1)))
                    since_checkpoint = 0
                elif len(batch) >= 500:
                    flush()
            index += 1
        flush()

    # --- questions -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.rowids)

    @property
    def start(self) -> dt.datetime | None:
        return dt.datetime.fromtimestamp(self.times[0], dt.UTC) if self.times else None

    @property
    def end(self) -> dt.datetime | None:
        return dt.datetime.fromtimestamp(self._maxtimes[-1], dt.UTC) if self._maxtimes else None

    def index_at(self, when: dt.datetime) -> int:
        """How many events (from the start of the journal) have happened by ``when``."""
        return bisect.bisect_right(self._maxtimes, when.timestamp())

    def time_of(self, index: int) -> dt.datetime:
        """The time of event ``index`` (0-based)."""
        return dt.datetime.fromtimestamp(self.times[index], dt.UTC)

    def next_alert_after(self, when: dt.datetime) -> dt.datetime | None:
        """The time of the first alert raised after ``when`` (the console's "next alert")."""
        i = bisect.bisect_right(self.alert_indexes, self.index_at(when) - 1)
        return self.time_of(self.alert_indexes[i]) if i < len(self.alert_indexes) else None

    def situation_times(self) -> list[dt.datetime]:
        return [self.time_of(i) for i in self.situation_indexes]

    def problem_at(self, index: int) -> str:
        """Why the state after the first ``index`` events is unknown ("" when it is known)."""
        if index <= 0:
            return ""
        base = next((b for b in reversed(self.bases) if b.index < index), None)
        gap = next((g for g in reversed(self.gaps) if g.index < index), None)
        if gap is not None and (base is None or base.index < gap.index):
            return gap.describe()
        if base is None:
            return "no state to start from"
        return ""

    async def state_at(self, when: dt.datetime) -> Store:
        """The store as it was at ``when``: every event up to then applied, its clock at
        ``when``. HistoryError when the journal does not reach back that far or misses events
        before it."""
        start = self.start
        first = self.bases[0] if self.bases else None
        if (
            start is not None
            and when < start
            and first is not None
            and first.index == 0
            and first.snapshot_rowid
        ):
            raise HistoryError(
                f"the journal begins at {_wib(start)} with a snapshot; {_wib(when)} is before it"
            )
        return await self.state_after(self.index_at(when), when)

    async def state_after(
        self, index: int, when: dt.datetime | None = None, *, into: Store | None = None
    ) -> Store:
        """The store after the first ``index`` events (its clock at ``when``, else at the last
        of them). ``into``: load the state into this store (a replaying wall keeps its store
        object, which its views hold) instead of a new one."""
        problem = self.problem_at(index)
        if problem:
            raise HistoryError(problem)
        now = when or (self.time_of(index - 1) if index else dt.datetime.now(dt.UTC))
        store = into if into is not None else self._store_factory(lambda: now)
        if index == 0 or not self._checkpoints:
            if into is not None:
                store.load_state(StoreState())
            return store
        pos = bisect.bisect_right([c[0] for c in self._checkpoints], index) - 1
        start, blob = self._checkpoints[max(0, pos)]
        store.load_state(decode_state(zlib.decompress(blob)))
        events = await self.events(start, index)
        for i in range(0, len(events), 1000):
            store.apply_many(events[i : i + 1000])
        return store

    async def events_of_kinds(self, kinds: Sequence[str], start: int, stop: int) -> list[p.Event]:
        """Events ``start`` to ``stop`` (exclusive) whose body is of one of ``kinds`` (the
        protocol's tags, e.g. "funnel"), decoded."""
        if start >= stop:
            return []
        after = self.rowids[start - 1] if start > 0 else 0
        frames = await self.journal.events_of_kinds(kinds, after, self.rowids[stop - 1])
        return [p.decode_event(data) for data in frames]

    async def events(self, start: int, stop: int) -> list[p.Event]:
        """Events ``start`` (inclusive) to ``stop`` (exclusive) of the timeline, decoded."""
        out: list[p.Event] = []
        if start >= stop:
            return out
        after = self.rowids[start - 1] if start > 0 else 0
        async for _rowid, data in self.journal.iter_events(after_rowid=after, batch=min(5000, stop - start)):
            out.append(p.decode_event(data))
            if len(out) >= stop - start:
                break
        return out


__all__ = ["CHECKPOINT_EVENTS", "Gap", "HistoryError", "JournalError", "Timeline"]
