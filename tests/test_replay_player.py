"""The replay player serialises its own jumps and steps: whoever calls it (the time bar, the
player's task, the console's "next alert"), a jump and a step never run at the same time, and
after any mix of concurrent calls the store holds exactly the journal's state at the player's
moment."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest

from commandcenter.core import protocol as p
from commandcenter.core.store import encode_state
from commandcenter.history.player import ReplayPlayer
from commandcenter.history.timeline import Timeline
from tests.test_history import live_states, simulated, write_journal


@pytest.fixture(scope="module")
def events() -> list[p.Event]:
    return simulated(90, seed=5)


@pytest.fixture
async def timeline(tmp_path: Path, events: list[p.Event]) -> Any:
    path = tmp_path / "journal.sqlite3"
    await write_journal(path, events)
    tl = await Timeline.open(path, checkpoint_every=400)
    try:
        yield tl
    finally:
        await tl.close()


class Overlap:
    """Counts how many of the timeline's reads run at once (each awaits the journal's thread, so
    a player without its lock lets a jump and a step overlap there)."""

    def __init__(self, timeline: Timeline) -> None:
        self.active: dict[Any, int] = {}  # task -> reads in progress (state_after reads events)
        self.most = 0
        self.calls = 0
        for name in ("state_after", "events"):
            setattr(timeline, name, self._wrap(getattr(timeline, name)))

    def _wrap(self, fn: Any) -> Any:
        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            task = asyncio.current_task()
            self.active[task] = self.active.get(task, 0) + 1
            self.calls += 1
            self.most = max(self.most, len(self.active))
            try:
                await asyncio.sleep(0)  # give a concurrent call every chance to step in
                return await fn(*args, **kwargs)
            finally:
                self.active[task] -= 1
                if not self.active[task]:
                    del self.active[task]

        return wrapped


async def test_a_jump_back_during_a_step_lands_on_the_jumps_state(
    timeline: Timeline, events: list[p.Event]
) -> None:
    player = ReplayPlayer(timeline, speed=600)
    overlap = Overlap(timeline)
    await player.seek(player.start)
    span = player.end - player.start
    back = player.start + span * 0.2
    # The player's task steps far ahead; the time bar jumps back while that step reads the journal.
    step = asyncio.ensure_future(player.step_to(player.start + span * 0.9))
    await asyncio.sleep(0)
    await asyncio.gather(step, player.seek(back))
    assert overlap.most == 1
    assert player.position == back
    assert player.index == timeline.index_at(back)
    assert encode_state(player.store.to_state()) == live_states(events, [back])[back]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_concurrent_seeks_and_steps_never_interleave(
    timeline: Timeline, events: list[p.Event], seed: int
) -> None:
    rng = random.Random(seed)
    player = ReplayPlayer(timeline, speed=600)
    await player.seek(player.start)
    overlap = Overlap(timeline)
    span = (player.end - player.start).total_seconds()

    def moment() -> dt.datetime:
        return player.start + dt.timedelta(seconds=rng.uniform(0, span))

    calls = [player.seek(moment()) if rng.random() < 0.4 else player.step_to(moment()) for _ in range(16)]
    final = moment()
    calls.append(player.seek(final))  # the last turn: where the views must end up
    calls.insert(rng.randrange(len(calls)), player.next_alert())
    await asyncio.gather(*calls)
    assert overlap.calls > 1 and overlap.most == 1
    assert player.position == final
    assert player.index == timeline.index_at(final)
    assert encode_state(player.store.to_state()) == live_states(events, [final])[final]
    # And playing on from there reaches what jumping does.
    later = final + (player.end - final) / 2
    await asyncio.gather(player.step_to(later), player.step_to(later - dt.timedelta(seconds=1)))
    assert encode_state(player.store.to_state()) == live_states(events, [later])[later]
