"""Simulated time for the demo and the soak: the server and the wall agree on "now".

At --speed 48 the simulator runs 24 hours in 30 minutes. Without a shared
simulated clock the incidents would sit hours in the future of the wall's
real clock: ages negative, SLA breaches never due, nothing ever old enough
to prune, no day change. Both sides use WarpClock(origin, speed).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from commandcenter.config import load_defaults
from commandcenter.core.timeutil import FakeClock, WarpClock, utcnow
from commandcenter.wall.feed import FeedSettings
from commandcenter.wall.session import WallSession
from tests.serverproc import WALL, ServerProcess, wait_client

T0 = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)


def test_warp_clock_runs_speed_times_faster_from_its_origin() -> None:
    real = FakeClock(T0)
    clock = WarpClock(T0, 48.0, real=real)
    assert clock() == T0
    real.advance(30 * 60)
    assert clock() == T0 + dt.timedelta(hours=24)
    # Two processes with the same origin and speed agree without talking.
    other = WarpClock(T0, 48.0, real=real)
    assert other() == clock()


@pytest.mark.parametrize("speed", [0.0, -1.0])
def test_warp_clock_refuses_a_speed_that_is_not_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        WarpClock(T0, speed)


def test_warp_clock_refuses_a_naive_origin() -> None:
    with pytest.raises(ValueError, match="aware"):
        WarpClock(dt.datetime(2026, 11, 27, 3, 0), 2.0)


@pytest.mark.slow
async def test_server_and_wall_share_the_simulated_now(tmp_path: Path) -> None:
    """A server simulating at speed 48 from an origin one real hour ago is two
    simulated days ahead; a wall store with the same WarpClock sees incidents
    received within minutes of its own "now", never in its future."""
    speed = 48.0
    origin = utcnow() - dt.timedelta(hours=1)
    server = ServerProcess(
        tmp_path / "server.sqlite3",
        scenario="mixed",
        speed=speed,
        rate=6,
        heartbeat=0.3,
        extra=["--sim-origin", origin.isoformat()],
    ).start()
    clock = WarpClock(origin, speed)
    session = await WallSession.open(
        load_defaults(),
        tmp_path / "wall.sqlite3",
        FeedSettings(url=server.url, token=WALL, client_id="warp-test", heartbeat_timeout_s=2.0),
        clock=clock,
        alerts=False,
    )
    client = session.feed
    client.start()
    try:
        await wait_client(client, lambda: len(client.store.incidents) >= 5, what="incidents")
        now = clock()
        received = [inc.times.received for inc in client.store.incidents.values()]
        # Simulated now is ~48 hours past the real one: every incident belongs to it.
        assert now - utcnow() > dt.timedelta(hours=47)
        assert all(r <= now + dt.timedelta(seconds=speed * 2) for r in received), (now, max(received))
        assert all(r > now - dt.timedelta(hours=2) for r in received), (now, min(received))
    finally:
        await client.stop()
        await client.journal.close()
        await asyncio.get_running_loop().run_in_executor(None, server.stop)
