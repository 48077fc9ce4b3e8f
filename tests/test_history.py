"""Replaying a journal: the state at any moment, reached by jumping, equals the state a wall had
when it was live at that moment; gaps and a snapshot start are named, never papered over; the
journal is read, never written."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commandcenter.core import protocol as p
from commandcenter.core.store import Store, encode_state
from commandcenter.history.timeline import HistoryError, Timeline
from commandcenter.refserver.simulator import Simulator
from commandcenter.storage.journal import Journal

T0 = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)  # 08:00 WIB


def simulated(minutes: float, *, epoch: str = "ep-1", seed: int = 7, first_seq: int = 1) -> list[p.Event]:
    sim = Simulator(scenario="flood", rate_per_min=4.0, seed=seed, start=T0)
    bodies = [(T0, b) for b in sim.initial_bodies()] + sim.advance_to(T0 + dt.timedelta(minutes=minutes))
    return [
        p.Event(epoch=epoch, seq=first_seq + i, id=f"{epoch}-{first_seq + i}", ts=ts, body=b)
        for i, (ts, b) in enumerate(bodies)
    ]


async def write_journal(path: Path, events: list[p.Event]) -> None:
    journal = await Journal.open(path)
    try:
        for i in range(0, len(events), 500):
            await journal.append([(ev, p.encode(ev)) for ev in events[i : i + 500]])
    finally:
        await journal.close()


def live_states(events: list[p.Event], whens: list[dt.datetime]) -> dict[dt.datetime, bytes]:
    """:func:`live_state` at several moments, in one pass."""
    now = [T0]
    store = Store(clock=lambda: now[0])
    out: dict[dt.datetime, bytes] = {}
    pending = sorted(whens)
    for ev in events:
        while pending and ev.ts > pending[0]:
            out[pending.pop(0)] = encode_state(store.to_state())
        now[0] = ev.ts
        store.apply(ev)
    for when in pending:
        out[when] = encode_state(store.to_state())
    return out


def live_state(events: list[p.Event], when: dt.datetime, base: Store | None = None) -> bytes:
    """What a live wall held at ``when``: each event applied as it came, its clock at the event."""
    now = [T0]
    store = base or Store(clock=lambda: now[0])
    if base is not None:
        store.clock = lambda: now[0]
    for ev in events:
        if ev.ts > when:
            break
        now[0] = ev.ts
        store.apply(ev)
    return encode_state(store.to_state())


@pytest.fixture(scope="module")
def day_events() -> list[p.Event]:
    return simulated(3 * 60)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
async def day_journal(tmp_path: Path, day_events: list[p.Event]) -> Path:
    path = tmp_path / "wall-journal.sqlite3"
    await write_journal(path, day_events)
    return path


async def test_jump_equals_live_at_many_moments(day_journal: Path, day_events: list[p.Event]) -> None:
    before = digest(day_journal)
    timeline = await Timeline.open(day_journal, checkpoint_every=700)
    try:
        assert len(timeline) == len(day_events) and len(timeline._checkpoints) > 3
        start, end = day_events[0].ts, day_events[-1].ts
        span = (end - start).total_seconds()
        fracs = (0.0, 0.013, 0.25, 0.5, 0.5001, 0.77, 0.999, 1.0)
        whens = [start + dt.timedelta(seconds=span * f) for f in fracs]
        expected = live_states(day_events, whens)
        for when in whens:
            jumped = await timeline.state_at(when)
            assert encode_state(jumped.to_state()) == expected[when], when
            assert jumped.clock() == when
    finally:
        await timeline.close()
    assert digest(day_journal) == before  # read, never written


@pytest.fixture(scope="module")
def small_journal(tmp_path_factory: pytest.TempPathFactory, day_events: list[p.Event]) -> Path:
    import asyncio

    path = tmp_path_factory.mktemp("j") / "journal.sqlite3"
    asyncio.run(write_journal(path, day_events[:3000]))
    return path


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fracs=st.lists(st.floats(0, 1), min_size=1, max_size=4))
def test_jump_equals_live_hypothesis(
    small_journal: Path, day_events: list[p.Event], fracs: list[float]
) -> None:
    import asyncio

    path = small_journal

    async def run() -> None:
        timeline = await Timeline.open(path, checkpoint_every=400)
        try:
            start, end = day_events[0].ts, day_events[2999].ts
            for frac in fracs:
                when = start + (end - start) * frac
                jumped = await timeline.state_at(when)
                assert encode_state(jumped.to_state()) == live_state(day_events[:3000], when)
        finally:
            await timeline.close()

    asyncio.run(run())


async def test_a_gap_is_named_and_never_replayed_over(tmp_path: Path, day_events: list[p.Event]) -> None:
    path = tmp_path / "gap.sqlite3"
    await write_journal(path, day_events[:2000])
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM events WHERE seq BETWEEN 900 AND 950")
    timeline = await Timeline.open(path, checkpoint_every=300)
    try:
        before = day_events[850].ts
        store = await timeline.state_at(before)
        assert encode_state(store.to_state()) == live_state(day_events, before)
        with pytest.raises(HistoryError, match=r"events 900\.\.950 of epoch ep-1 are not in the journal"):
            await timeline.state_at(day_events[1500].ts)
    finally:
        await timeline.close()


async def test_a_snapshot_start_and_a_new_epoch(tmp_path: Path, day_events: list[p.Event]) -> None:
    """A wall's journal: it joined with a server snapshot, then the server restarted (new epoch,
    another snapshot)."""
    path = tmp_path / "wall.sqlite3"
    head = Store(clock=lambda: T0)
    for ev in day_events[:1000]:
        head.apply(ev)
    journal = await Journal.open(path)
    await journal.write_snapshot("ep-1", 1000, encode_state(head.to_state()), source="server")
    await journal.append([(ev, p.encode(ev)) for ev in day_events[1000:1600]])
    # The server restarts: epoch ep-2 at seq 40 with what it had, then goes on.
    restarted = Store(clock=lambda: T0)
    for ev in day_events[:1600]:
        restarted.apply(ev)
    state = restarted.to_state()
    state.epoch, state.seq = "ep-2", 40
    await journal.write_snapshot("ep-2", 40, encode_state(state), source="server")
    tail = [
        p.Event(epoch="ep-2", seq=41 + i, id=f"ep-2-{41 + i}", ts=ev.ts, body=ev.body)
        for i, ev in enumerate(day_events[1600:2000])
    ]
    await journal.append([(ev, p.encode(ev)) for ev in tail])
    await journal.close()

    timeline = await Timeline.open(path, checkpoint_every=250)
    try:
        with pytest.raises(HistoryError, match=r"begins at .* with a snapshot"):
            await timeline.state_at(day_events[500].ts)
        when = day_events[1300].ts
        jumped = await timeline.state_at(when)
        assert encode_state(jumped.to_state()) == live_state(day_events[1000:1301], when, head)
        late = await timeline.state_at(tail[-1].ts)
        assert late.epoch == "ep-2" and late.seq == tail[-1].seq
    finally:
        await timeline.close()


async def test_replaying_while_a_wall_writes(tmp_path: Path, day_events: list[p.Event]) -> None:
    path = tmp_path / "live.sqlite3"
    writer = await Journal.open(path)
    try:
        await writer.append([(ev, p.encode(ev)) for ev in day_events[:800]])
        timeline = await Timeline.open(path)
        await writer.append([(ev, p.encode(ev)) for ev in day_events[800:1200]])
        assert len(timeline) == 800  # what was there when it was read
        again = await Timeline.open(path)
        assert len(again) == 1200
        store = await again.state_at(day_events[1199].ts)
        assert store.seq == 1200
        await timeline.close()
        await again.close()
    finally:
        await writer.close()


async def test_a_missing_or_foreign_file_is_refused_read_only(tmp_path: Path) -> None:
    from commandcenter.storage.journal import JournalError

    with pytest.raises(JournalError):
        await Timeline.open(tmp_path / "absent.sqlite3")
    assert not (tmp_path / "absent.sqlite3").exists()


async def test_playing_reaches_the_state_seeking_does(day_journal: Path, day_events: list[p.Event]) -> None:
    import random

    from commandcenter.history.player import ReplayPlayer

    timeline = await Timeline.open(day_journal, checkpoint_every=600)
    try:
        player = ReplayPlayer(timeline, speed=60)
        seen: list[int] = []
        player.change_listeners.append(lambda cs: seen.append(len(cs)))
        await player.seek(player.start)
        rng = random.Random(3)
        target = player.start + (player.end - player.start) * 0.6
        while player.position < target:
            await player.step_to(min(target, player.position + dt.timedelta(seconds=rng.uniform(1, 900))))
        played = encode_state(player.store.to_state())
        store_id = id(player.store)
        await player.seek(player.start)
        await player.seek(target)
        assert id(player.store) == store_id  # views keep the store they were given
        assert encode_state(player.store.to_state()) == played == live_states(day_events, [target])[target]
        assert player.store.clock() == target and len(seen) > 10
        # The next alert after a moment, and the end stops playing.
        if timeline.alert_indexes:
            first_alert = timeline.time_of(timeline.alert_indexes[0])
            await player.seek(player.start)
            assert await player.next_alert() == first_alert
        player.play()
        await player.step_to(player.end + dt.timedelta(hours=1))
        assert not player.playing and player.position == player.end
    finally:
        await timeline.close()


async def test_run_plays_at_speed(day_journal: Path) -> None:
    import asyncio

    from commandcenter.history.player import ReplayPlayer

    timeline = await Timeline.open(day_journal)
    try:
        ticks = [0.0]

        def fake_monotonic() -> float:
            ticks[0] += 1.0  # one second of real time per look at the clock
            return ticks[0]

        player = ReplayPlayer(timeline, speed=600, monotonic=fake_monotonic)
        await player.seek(player.start)
        reached = asyncio.Event()
        goal = player.start + dt.timedelta(hours=1)
        player.status_listeners.append(lambda st: reached.set() if st.position >= goal else None)
        stop = asyncio.Event()
        task = asyncio.create_task(player.run(stop))
        player.play()
        await asyncio.wait_for(reached.wait(), 30)
        stop.set()
        await asyncio.wait_for(task, 10)
        # 600x: each second of (fake) real time moved the moment ten minutes.
        assert player.position >= goal and player.store.seq == timeline.index_at(player.position)
        player.set_speed(5000)
        assert player.speed == 600
    finally:
        await timeline.close()
