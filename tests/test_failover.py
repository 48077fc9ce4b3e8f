"""Walls fail over between servers, and a console's long outbox drains paced.

Two servers that share one history without NATS: server A on a SQLite file,
kill -9, then server B on another port over the same file (same epoch and
seq). The wall lists both URLs; its journal export is compared with the
server's: every seq once, none missing.
"""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path
from typing import Any

import pytest

from commandcenter.core import protocol as p
from commandcenter.core.model import Alert
from commandcenter.wall.feed import FeedClient, FeedState, split_urls
from tests.serverproc import CONSOLE, ServerProcess, admin_inject, export, wait_client
from tests.test_feed import ack, acks_in, assert_contiguous, follower, incident_bodies, settings

pytestmark = pytest.mark.slow


def free_port() -> int:
    """A loopback port nobody listens on (server B's, before it starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RecordingClient(FeedClient):
    """Records every state it passes through and each backoff it takes (URL, attempt, delay)."""

    def backoff_delay(self, attempt: int) -> float:
        delay = super().backoff_delay(attempt)
        self.__dict__.setdefault("delays", []).append((self.url, attempt, delay))
        for listener in list(self.status_listeners):  # wake wait_client: the state stays stale
            listener(self.status)
        return delay


def test_split_urls() -> None:
    assert split_urls(" ws://a:1/, ,ws://b:2/ ") == ("ws://a:1/", "ws://b:2/")


async def test_wall_fails_over_to_the_next_server_with_no_gap_or_duplicate(tmp_path: Path) -> None:
    db, wall_db = tmp_path / "server.sqlite3", tmp_path / "wall.sqlite3"
    a = ServerProcess(db, heartbeat=0.3).start()
    b_port = free_port()
    b_url = f"ws://127.0.0.1:{b_port}/"
    b: ServerProcess | None = None
    s = settings(a.url, urls=(a.url, b_url))
    try:
        head = await admin_inject(a.url, incident_bodies(200, "a"))
        async with follower(wall_db, s, RecordingClient) as client:
            states: list[FeedState] = []
            client.status_listeners.append(lambda st: states.append(st.state))
            await wait_client(
                client, lambda: client.store.seq == head and client.status.state is FeedState.LIVE
            )
            at_kill = head  # the wall started from a snapshot at this seq
            assert client.status.server == a.url and client.status.servers == 2
            a.kill()
            # Away: the flag the stale banner reads, never live with old data.
            await wait_client(client, lambda: client.status.state is FeedState.STALE, what="stale")
            await wait_client(client, lambda: client.url == b_url, what="moved to B")
            assert client.status.state is FeedState.STALE
            b = ServerProcess(db, port=b_port, heartbeat=0.3).start()
            assert b.epoch == a.epoch, "same database, same epoch"
            head = await admin_inject(b.url, incident_bodies(150, "b"))
            await wait_client(
                client, lambda: client.store.seq == head and client.status.state is FeedState.LIVE,
                what="live on B",
            )  # fmt: skip
            assert client.status.server == b_url and client.status.server_name() == f"127.0.0.1:{b_port}"
            assert client.counters.failovers >= 1 and client.counters.gaps == 0
            assert client.welcome is not None and client.welcome.resume == "replay"
            # Between the kill and B's first event the feed was never live.
            killed = states.index(FeedState.STALE)
            assert FeedState.LIVE not in states[killed : states.index(FeedState.LIVE, killed)]
    finally:
        a.kill()
        if b is not None:
            b.stop()
    mine, theirs = export(wall_db), export(db)
    assert_contiguous(mine)
    # Every server event after the wall's starting snapshot, once each, in order.
    assert mine[0]["seq"] == at_kill + 1 and mine[-1]["seq"] == head
    expected = [e for e in theirs if e["seq"] > at_kill]
    key = [(e["epoch"], e["seq"], e["id"]) for e in expected]
    assert [(e["epoch"], e["seq"], e["id"]) for e in mine] == key


async def test_all_servers_down_stays_stale_backs_off_and_recovers(tmp_path: Path) -> None:
    db = tmp_path / "server.sqlite3"
    a = ServerProcess(db, heartbeat=0.3).start()
    b_port = free_port()
    b_url = f"ws://127.0.0.1:{b_port}/"
    b: ServerProcess | None = None
    try:
        head = await admin_inject(a.url, incident_bodies(20, "a"))
        # Refused tries stay quick for reconnect_refused_fast_s (tests/test_feed_rules.py);
        # without that window, servers down for good are backed off from at once.
        s = settings(a.url, urls=(a.url, b_url), reconnect_min_s=0.05, reconnect_max_s=0.4,
                     reconnect_refused_fast_s=0.0)
        async with follower(tmp_path / "wall.sqlite3", s, RecordingClient) as client:
            await wait_client(client, lambda: client.status.state is FeedState.LIVE)
            a.kill()
            # Both down: tries alternate A, B, A, ... each URL counting its own failures.
            await wait_client(client, lambda: len(client.__dict__.get("delays", [])) >= 8, what="8 tries")
            assert client.status.state is FeedState.STALE
            delays: list[tuple[str, int, float]] = client.__dict__["delays"]
            urls = [u for u, _, _ in delays[:8]]
            assert set(urls) == {a.url, b_url}
            assert all(urls[i] != urls[i + 1] for i in range(7)), "round-robin"
            # No hot loop: every wait is at least the backoff's floor, and each URL's
            # attempt count grows per round.
            assert min(d for _, _, d in delays) >= 0.05 * 0.1
            for url in (a.url, b_url):
                attempts = [n for u, n, _ in delays if u == url]
                assert attempts == sorted(attempts) and attempts[-1] >= 3, attempts
            b = ServerProcess(db, port=b_port, heartbeat=0.3).start()
            await wait_client(
                client, lambda: client.status.state is FeedState.LIVE and client.url == b_url,
                what="live on B",
            )  # fmt: skip
            assert client.store.seq == head
    finally:
        a.kill()
        if b is not None:
            b.stop()


@pytest.mark.parametrize("paced", [True, False])
async def test_a_long_outbox_drains_paced_under_the_rate_limit(tmp_path: Path, paced: bool) -> None:
    """300 acknowledgements made while the server was down go out after the
    reconnect without a 4429; unpaced (the control) the server closes 4429."""
    n = 300
    db = tmp_path / "server.sqlite3"
    server = ServerProcess(db, heartbeat=0.3).start()
    restarted: ServerProcess | None = None
    now = dt.datetime.now(dt.UTC)
    alerts = [
        p.AlertRaised(alert=Alert(id=f"al-{i}", kind="unit_emergency", priority="high", raised_at=now))
        for i in range(n)
    ]
    extra: dict[str, Any] = {} if paced else {"command_rate_per_s": 10_000.0, "command_burst": 10_000}
    s = settings(server.url, token=CONSOLE, client_id="console-1", **extra)
    try:
        await admin_inject(server.url, alerts)
        async with follower(tmp_path / "console.sqlite3", s) as console:
            await wait_client(console, lambda: console.status.state is FeedState.LIVE)
            server.kill()
            await wait_client(console, lambda: console.status.state is not FeedState.LIVE)
            for i in range(n):
                await console.submit(ack(f"al-{i}"))
            assert len(await console.journal.outbox_pending()) == n
            restarted = ServerProcess(db, port=server.port, heartbeat=0.3).start()
            if not paced:
                await wait_client(
                    console, lambda: console.last_fatal_error == "rate_limited", what="4429 without pacing",
                )  # fmt: skip
                return
            await wait_client(console, lambda: console.status.state is FeedState.LIVE, what="live again")
            reconnects = console.counters.reconnects
            await wait_client(
                console, lambda: console.counters.commands_resolved >= n, timeout=90, what="outbox drained"
            )
            assert console.counters.reconnects == reconnects, "the link held while the outbox drained"
            assert console.last_fatal_error == "" and console.last_close is None, "no 4429"
            assert await console.journal.outbox_pending() == []
    finally:
        server.kill()
        if restarted is not None:
            restarted.stop()
    if paced:
        counts = acks_in(export(db))
        assert len(counts) == n and set(counts.values()) == {1}


def test_follow_takes_several_servers_and_says_which_it_is_on(tmp_path: Path) -> None:
    """`follow --server DEAD,LIVE`: the first is down, the feed goes live on
    the second and every STATE line names the server."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT
    from tests.serverproc import WALL

    dead = f"ws://127.0.0.1:{free_port()}/"
    server = ServerProcess(tmp_path / "server.sqlite3", heartbeat=0.3).start()
    try:
        out = subprocess.run(
            [sys.executable, "-m", "commandcenter.cli", "follow", "--db", str(tmp_path / "follow.sqlite3"),
             "--server", f"{dead},{server.url}", "--exit-when-live", "--run-for", "60"],
            cwd=ROOT, capture_output=True, text=True, timeout=90,
            env=dict(os.environ, COMMANDCENTER_CONFIG="", COMMANDCENTER_TOKEN=WALL),
        )  # fmt: skip
    finally:
        server.stop()
    assert out.returncode == 0, out.stderr[-2000:]
    states = [line for line in out.stdout.splitlines() if line.startswith("STATE ")]
    assert states[0].endswith(f"server={dead}")
    live = [line for line in states if line.startswith("STATE live")]
    assert live and live[0].endswith(f"server={server.url}"), states
