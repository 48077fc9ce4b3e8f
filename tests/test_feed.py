"""The live feed end to end: the real server process on loopback, real journals.

Every test here runs `commandcenter serve` as a child process and follows it
with the engine's FeedClient writing a real SQLite journal; results are checked
by comparing `commandcenter journal export` of both sides.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from commandcenter.config import load_defaults
from commandcenter.core import protocol as p
from commandcenter.core.model import Alert
from commandcenter.wall.feed import FatalFeedError, FeedClient, FeedSettings, FeedState
from commandcenter.wall.session import WallSession
from tests.factories import make_incident
from tests.serverproc import CONSOLE, WALL, ServerProcess, admin_inject, export, wait_client

pytestmark = pytest.mark.slow


def settings(url: str, token: str = WALL, client_id: str = "wall-test", **kw: Any) -> FeedSettings:
    base: dict[str, Any] = dict(
        heartbeat_timeout_s=2.0, reconnect_min_s=0.05, reconnect_max_s=0.5, stable_after_s=5.0
    )
    base.update(kw)
    return FeedSettings(url=url, token=token, client_id=client_id, **base)


@contextlib.asynccontextmanager
async def follower(db: Path, s: FeedSettings, cls: type[FeedClient] = FeedClient) -> Any:
    client = (await WallSession.open(load_defaults(), db, s, alerts=False)).feed
    if cls is not FeedClient:
        client.__class__ = cls
    client.start()
    try:
        yield client
    finally:
        await client.stop()
        await client.journal.close()


def assert_contiguous(events: list[dict[str, Any]]) -> None:
    """Within each epoch, seqs grow by exactly one: no gap and no duplicate."""
    keys = [(e["epoch"], e["seq"]) for e in events]
    dupes = [k for k, n in Counter(keys).items() if n > 1]
    assert not dupes, f"duplicate events in journal: {dupes[:5]}"
    by_epoch: dict[str, list[int]] = {}
    for epoch, seq in keys:
        by_epoch.setdefault(epoch, []).append(seq)
    for epoch, seqs in by_epoch.items():
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"gap in epoch {epoch}"


def assert_same_events(client_events: list[dict[str, Any]], server_events: list[dict[str, Any]]) -> None:
    """Every event the client journaled is the server's event with that seq, and
    the client holds every server event after the first one it journaled."""
    assert client_events, "the client journaled nothing"
    by_seq = {(e["epoch"], e["seq"]): e for e in server_events}
    for e in client_events:
        server_e = by_seq[(e["epoch"], e["seq"])]
        assert server_e["id"] == e["id"] and server_e["event"] == e["event"]
    first = client_events[0]["seq"]
    expected = [e for e in server_events if e["seq"] >= first and e["epoch"] == client_events[0]["epoch"]]
    assert [(e["epoch"], e["seq"]) for e in client_events] == [(e["epoch"], e["seq"]) for e in expected]


def incident_bodies(n: int, prefix: str, description: str = "Kebakaran rumah warga") -> list[p.EventBody]:
    return [
        p.IncidentUpserted(
            incident=make_incident(id=f"{prefix}-{i}", ticket=f"T-{prefix}-{i}", description=description)
        )
        for i in range(n)
    ]


async def test_resume_across_server_sigkill_and_restart_with_no_gap_or_duplicate(tmp_path: Path) -> None:
    server_db, wall_db = tmp_path / "server.sqlite3", tmp_path / "wall.sqlite3"
    server = ServerProcess(server_db, scenario="mixed", speed=120, rate=3, heartbeat=0.3).start()
    restarted: ServerProcess | None = None
    try:
        async with follower(wall_db, settings(server.url)) as client:
            await wait_client(client, lambda: client.status.state is FeedState.LIVE, what="live")
            target = client.store.seq + 300
            await wait_client(client, lambda: client.store.seq >= target, what="events before the kill")
            server.kill()
            await wait_client(client, lambda: client.status.state is not FeedState.LIVE, what="feed down")
            seq_at_kill = client.store.seq
            restarted = ServerProcess(
                server_db, port=server.port, scenario="mixed", speed=120, rate=3, heartbeat=0.3
            ).start()
            assert restarted.epoch == server.epoch, "same database, same epoch"
            await wait_client(
                client,
                lambda: client.status.state is FeedState.LIVE and client.store.seq > seq_at_kill + 300,
                what="live again after restart",
            )
            assert client.counters.gaps == 0
            # The wall itself restarts too: close it and reopen the same journal.
        async with follower(wall_db, settings(server.url, client_id="wall-test")) as client2:
            resumed_from = client2.store.seq
            await wait_client(
                client2, lambda: client2.store.seq > resumed_from + 100, what="resume after reopen"
            )
            assert client2.counters.snapshots == 0, "a restarted wall resumes by replay, not snapshot"
    finally:
        server.kill()
        if restarted:
            restarted.stop()
    wall_events, server_events = export(wall_db), export(server_db)
    assert_contiguous(wall_events)
    assert_contiguous(server_events)
    assert_same_events(wall_events, server_events)
    # Both simulator runs (before and after the kill) reached the wall.
    ids = {e["event"]["body"].get("incident", {}).get("id", "") for e in wall_events}
    assert any(i.startswith("r2-") for i in ids)


async def test_fresh_server_database_leads_the_client_through_a_snapshot(tmp_path: Path) -> None:
    a = ServerProcess(tmp_path / "a.sqlite3").start()
    b: ServerProcess | None = None
    try:
        await admin_inject(a.url, incident_bodies(50, "old"))
        async with follower(tmp_path / "wall.sqlite3", settings(a.url)) as client:
            await wait_client(
                client, lambda: client.status.state is FeedState.LIVE and client.store.seq == 50
            )
            a.kill()
            await wait_client(client, lambda: client.status.state is not FeedState.LIVE)
            b = ServerProcess(tmp_path / "b.sqlite3", port=a.port).start()
            assert b.epoch != a.epoch, "a fresh database starts a new epoch"
            head = await admin_inject(b.url, incident_bodies(30, "new"))
            await wait_client(
                client,
                lambda: (
                    client.store.epoch == b.epoch
                    and client.store.seq == head
                    and client.status.state is FeedState.LIVE
                ),
            )
            async with follower(tmp_path / "fresh.sqlite3", settings(b.url, client_id="fresh")) as fresh:
                await wait_client(fresh, lambda: fresh.store.seq == head)
                assert client.store.incidents == fresh.store.incidents
                assert client.store.to_state().incidents == fresh.store.to_state().incidents
            assert not any(i.startswith("old-") for i in client.store.incidents)
            assert client.counters.snapshots >= 1
    finally:
        a.kill()
        if b:
            b.stop()


class SlowFeedClient(FeedClient):
    """A wall whose disk is stuck: it stops reading until the gate opens."""

    gate: asyncio.Event

    async def _commit(self, events: list[tuple[p.Event, bytes]]) -> None:
        await self.gate.wait()
        await super()._commit(events)


async def test_slow_client_is_cut_off_and_resumes_while_a_normal_client_is_unaffected(tmp_path: Path) -> None:
    # The server queue must hold one inject batch (chunks of at most 512 KiB).
    server = ServerProcess(tmp_path / "server.sqlite3", queue_limit=600, heartbeat=0.5).start()
    try:
        async with (
            follower(tmp_path / "normal.sqlite3", settings(server.url, client_id="normal")) as normal,
            follower(
                tmp_path / "slow.sqlite3",
                settings(server.url, client_id="slow", read_ahead=50, heartbeat_timeout_s=60),
                SlowFeedClient,
            ) as slow,
        ):
            slow.gate = asyncio.Event()
            await wait_client(normal, lambda: normal.status.state is FeedState.LIVE)
            states: list[FeedState] = []
            normal.status_listeners.append(lambda st: states.append(st.state))
            total = 0
            # Push until the stuck client has been cut off by the server.
            for round_ in range(40):
                # Long descriptions fill the socket buffers with fewer events.
                total = await admin_inject(server.url, incident_bodies(1000, f"r{round_}", "api " * 900))
                # The stuck client cannot notice yet; the server's log says it.
                if "too slow" in server.log_path.read_text():
                    break
            await wait_client(normal, lambda: normal.store.seq == total, what="normal client at head")
            assert states == [], f"the normal client left LIVE: {states}"
            slow.gate.set()
            await wait_client(
                slow,
                lambda: slow.store.seq == total and slow.status.state is FeedState.LIVE,
                timeout=60,
                what="slow client caught up",
            )
            assert slow.last_close is not None and slow.last_close[0] == 4503, slow.last_close
    finally:
        server.stop()
    assert_contiguous(export(tmp_path / "slow.sqlite3"))
    assert_same_events(export(tmp_path / "slow.sqlite3"), export(tmp_path / "server.sqlite3"))


async def _close_code(ws: Any) -> int | None:
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    return ws.close_code


async def test_hostile_clients_do_not_disturb_the_server_or_others(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server.sqlite3", heartbeat=0.3).start()
    try:
        async with follower(tmp_path / "wall.sqlite3", settings(server.url)) as client:
            await wait_client(client, lambda: client.status.state is FeedState.LIVE)
            states: list[FeedState] = []
            client.status_listeners.append(lambda st: states.append(st.state))
            hello = p.encode(p.Hello(token=WALL, client_id="hostile")).decode()
            conn = dict(proxy=None, compression=None, max_size=None)

            async with websockets.connect(server.url, **conn) as ws:  # wrong token
                await ws.send(p.encode(p.Hello(token="not-a-token", client_id="x")).decode())
                assert await _close_code(ws) == 4401
            async with websockets.connect(server.url, **conn) as ws:  # garbage instead of hello
                await ws.send("{{{ not json")
                assert await _close_code(ws) == 4400
            async with websockets.connect(server.url, **conn) as ws:  # garbage after hello: refused, kept
                await ws.send(hello)
                await ws.send('{"type": "ack", "command_id": "<script>"}')
                await ws.send(b"\x00\x01binary")
                errors = 0
                async with asyncio.timeout(10):
                    while errors < 2:
                        frame = p.decode_server_frame(await ws.recv())
                        errors += isinstance(frame, p.Error)
            async with websockets.connect(server.url, **conn) as ws:  # a huge frame
                await ws.send(hello)
                await ws.send("x" * (2 * 1024 * 1024))
                assert await _close_code(ws) == 1009
            async with websockets.connect(server.url, **conn) as ws:  # a flood of messages
                await ws.send(hello)
                with contextlib.suppress(ConnectionClosed):
                    for i in range(2000):
                        await ws.send(p.encode(p.Ping(nonce=str(i))).decode())
                assert await _close_code(ws) == 4429
            # A wall token may not acknowledge.
            async with websockets.connect(server.url, **conn) as ws:
                await ws.send(hello)
                await ws.send(
                    p.encode(
                        p.Acknowledge(
                            command_id="c1",
                            operator="x",
                            console="y",
                            at=dt.datetime.now(dt.UTC),
                            alert_id="a1",
                        )
                    ).decode()
                )
                async with asyncio.timeout(10):
                    while True:
                        frame = p.decode_server_frame(await ws.recv())
                        if isinstance(frame, p.CommandResult):
                            assert frame.status == "rejected"
                            break
            head = await admin_inject(server.url, incident_bodies(500, "after"))
            await wait_client(client, lambda: client.store.seq == head)
            assert states == [], f"the normal client left LIVE: {states}"
            assert client.counters.bad_frames == 0
    finally:
        server.stop()


async def test_bad_token_stops_the_feed_with_a_clear_error(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server.sqlite3").start()
    try:
        session = await WallSession.open(
            load_defaults(), tmp_path / "wall.sqlite3", settings(server.url, token="wrong"), alerts=False
        )
        client = session.feed
        task = client.start()
        with pytest.raises(FatalFeedError, match="token"):
            await asyncio.wait_for(task, 20)
        assert client.status.state is FeedState.OFFLINE
        await client.journal.close()
    finally:
        server.stop()


def ack(alert_id: str, command_id: str | None = None) -> p.Acknowledge:
    return p.Acknowledge(
        command_id=command_id or uuid.uuid4().hex,
        operator="Sari",
        console="meja-1",
        at=dt.datetime.now(dt.UTC),
        alert_id=alert_id,
    )


def acks_in(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(
        e["event"]["body"]["ack"]["alert_id"] for e in events if e["event"]["body"]["kind"] == "acknowledged"
    )


async def test_acknowledgements_are_applied_exactly_once(tmp_path: Path) -> None:
    server_db = tmp_path / "server.sqlite3"
    server = ServerProcess(server_db, heartbeat=0.3).start()
    restarted: ServerProcess | None = None
    now = dt.datetime.now(dt.UTC)
    alerts = [
        p.AlertRaised(alert=Alert(id=f"al-{i}", kind="unit_emergency", priority="high", raised_at=now))
        for i in range(3)
    ]
    try:
        await admin_inject(server.url, alerts)
        async with follower(
            tmp_path / "console.sqlite3", settings(server.url, token=CONSOLE, client_id="console-1")
        ) as console:
            await wait_client(console, lambda: console.status.state is FeedState.LIVE)
            first = ack("al-0")
            await console.submit(first)
            await console.submit(first)  # a double click resends the same id
            await console.submit(ack("al-0"))  # another operator, same alert
            await wait_client(console, lambda: "al-0" in console.store.acks, what="ack applied")
            await wait_client(console, lambda: console.counters.commands_resolved >= 3)
            # Offline: the ack waits in the outbox and goes out after reconnect, once.
            server.kill()
            await wait_client(console, lambda: console.status.state is not FeedState.LIVE)
            offline = ack("al-1")
            await console.submit(offline)
            pending = await console.journal.outbox_pending()
            assert [e.command_id for e in pending] == [offline.command_id]
            assert "al-1" not in console.store.acks, "never shown acknowledged before the server confirms"
            restarted = ServerProcess(server_db, port=server.port, heartbeat=0.3).start()
            await wait_client(console, lambda: "al-1" in console.store.acks, what="offline ack delivered")
            entry = await console.journal.outbox_get(offline.command_id)
            assert entry is not None and entry.status == "applied"
            # The same command again after the reconnect is recognised.
            await console.submit(offline)
            await wait_client(console, lambda: console.counters.commands_resolved >= 5)
            assert console.store.acks["al-0"].ack_id == first.command_id
            assert console.store.acks["al-0"].operator == "Sari"
    finally:
        server.kill()
        if restarted:
            restarted.stop()
    counts = acks_in(export(server_db))
    assert counts == Counter({"al-0": 1, "al-1": 1})


@pytest.mark.parametrize(("limit", "behind", "resume"), [(20, 30, "snapshot"), (20, 15, "replay")])
async def test_a_client_past_the_history_limit_gets_a_snapshot(
    tmp_path: Path, limit: int, behind: int, resume: str
) -> None:
    """[serve] history_limit_events: a wall further behind than the limit is
    sent a snapshot (smaller than the whole history), one within it a replay;
    either way it ends with the server's exact state."""
    cfg = tmp_path / "serve.toml"
    cfg.write_text(f"[serve]\nhistory_limit_events = {limit}\n")
    server = ServerProcess(tmp_path / "server.sqlite3", extra=["--config", str(cfg)]).start()
    try:
        first = await admin_inject(server.url, incident_bodies(10, "a"))
        async with follower(tmp_path / "wall.sqlite3", settings(server.url)) as client:
            await wait_client(client, lambda: client.store.seq == first)
        head = await admin_inject(server.url, incident_bodies(behind, "b"))
        async with follower(tmp_path / "wall.sqlite3", settings(server.url)) as client:
            await wait_client(
                client, lambda: client.store.seq == head and client.status.state is FeedState.LIVE
            )
            assert client.welcome is not None and client.welcome.resume == resume
            assert len(client.store.incidents) == 10 + behind
    finally:
        server.stop()


async def _make_server_replay_refused_events(db: Path, seqs: set[int]) -> None:
    """An older server's journal: the events at ``seqs`` carry a time this
    protocol refuses (year 9999). A snapshot at the head lets the server start
    on it (its own restore never reads them) while it still replays their exact
    bytes to a wall that resumes from before them."""
    import json
    import sqlite3

    from commandcenter.core.store import Store, decode_state, encode_state
    from commandcenter.storage.journal import Journal

    journal = await Journal.open(db)
    try:
        store = Store()
        epoch, seq, _ = await journal.restore(
            lambda data: store.load_state(decode_state(data)), store.apply_many
        )
        await journal.write_snapshot(epoch, seq, encode_state(store.to_state()))
    finally:
        await journal.close()
    con = sqlite3.connect(db)
    try:
        for s in sorted(seqs):
            (data,) = con.execute("SELECT data FROM events WHERE seq = ?", (s,)).fetchone()
            frame = json.loads(data)
            frame["ts"] = "9999-12-31T23:59:59-05:00"
            con.execute(
                "UPDATE events SET data = ? WHERE seq = ?",
                (json.dumps(frame, separators=(",", ":")).encode(), s),
            )
        con.commit()
    finally:
        con.close()


async def test_a_refused_event_is_journaled_as_refused_and_stepped_over_without_a_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 15: an event whose body the protocol refuses used to be dropped,
    the next one then looked like a gap, the feed reconnected, the server
    replayed the same event, forever. Now it is noted as refused (the journal
    knows the seq is taken and why), counted, logged once naming the field,
    and the feed goes on: live, later events applied, a restart resumes past
    it, and the replay timeline sees no gap."""
    from commandcenter.history.timeline import Timeline

    server_db, wall_db = tmp_path / "server.sqlite3", tmp_path / "wall.sqlite3"
    server = ServerProcess(server_db).start()
    try:
        async with follower(wall_db, settings(server.url)) as client:
            await wait_client(client, lambda: client.status.state is FeedState.LIVE)
            first = await admin_inject(server.url, incident_bodies(2, "a"))
            await wait_client(client, lambda: client.store.seq == first)
        # The wall is away while three more happen: it will resume by replay.
        head = await admin_inject(server.url, incident_bodies(3, "b"))  # seqs 3, 4, 5
    finally:
        server.stop()
    assert head == first + 3
    # The first of them and the head itself are refused by this protocol.
    refused = {first + 1, head}
    await _make_server_replay_refused_events(server_db, refused)
    server = ServerProcess(server_db).start()
    caplog.set_level("WARNING", logger="commandcenter.wall.feed")
    try:
        async with follower(wall_db, settings(server.url)) as client:
            await wait_client(
                client,
                lambda: client.store.seq == head and client.status.state is FeedState.LIVE,
                what="live past the refused events",
            )
            assert client.welcome is not None and client.welcome.resume == "replay"
            assert client.counters.refused == 2 and client.status.refused == 2
            assert client.status.last_refused.startswith(f"{server.epoch}/{head}:")
            assert "ts" in client.status.last_refused  # the field
            assert set(client.store.incidents) == {"a-0", "a-1", "b-1"}  # nothing refused applied
            assert client.counters.gaps == 0 and client.counters.reconnects == 0
            assert client.counters.bad_frames == 0
            # Nothing else stops: later events are applied live.
            later = await admin_inject(server.url, incident_bodies(1, "c"))
            await wait_client(client, lambda: client.store.seq == later)
            assert "c-0" in client.store.incidents
            assert await client.journal.refused_positions() == {(server.epoch, s) for s in refused}
            reasons = [e[3] for e in await client.journal.refused_events()]
            assert len(reasons) == 2 and all("ts" in r for r in reasons)
        lines = [r.getMessage() for r in caplog.records if "refused event" in r.getMessage()]
        assert len(lines) == 2, lines  # once each
        assert all("ts" in line for line in lines)
        caplog.clear()
        # A restart (no last snapshot, as after a crash) resumes past them:
        # no heal, no second replay, nothing logged again, no loop.
        async with follower(wall_db, settings(server.url)) as client:
            assert client.store.seq == later
            assert client.journal.healed == ""
            await wait_client(client, lambda: client.status.state is FeedState.LIVE)
            assert client.counters.refused == 0 and client.counters.reconnects == 0
            assert client.counters.duplicates == 0
        assert not [r for r in caplog.records if "refused event" in r.getMessage()]
    finally:
        server.stop()
    # The journal holds every event but the refused ones, and knows why they
    # are missing: the replay timeline reports no gap and reaches the end.
    wall_events = export(wall_db)
    assert [e["seq"] for e in wall_events] == [s for s in range(1, later + 1) if s not in refused]
    timeline = await Timeline.open(wall_db)
    try:
        assert timeline.gaps == []
        end = await timeline.state_after(len(timeline))
        assert set(end.incidents) == {"a-0", "a-1", "b-1", "c-0"}
    finally:
        await timeline.close()


async def test_an_event_refused_while_the_wall_restores_from_seq_one_is_not_a_gap(tmp_path: Path) -> None:
    """A journal without a usable snapshot replays its events from seq 1: a
    refused event there (even the first) is stepped over, not healed."""
    from commandcenter.core.store import Store, decode_state
    from commandcenter.storage.journal import Journal
    from tests.factories import incident_event

    db = tmp_path / "wall.sqlite3"
    journal = await Journal.open(db)
    try:
        events = [incident_event(seq=s, epoch="ep-1", id=f"i-{s}") for s in (2, 3, 5)]
        await journal.append([(ev, p.encode(ev)) for ev in events])
        for s in (1, 4, 6):
            assert await journal.record_refused("ep-1", s, "$.ts: out of range", b"{}")
        assert not await journal.record_refused("ep-1", 4, "again", b"{}")
        store = Store()
        position = await journal.restore(lambda d: store.load_state(decode_state(d)), store.apply_many)
        assert position == ("ep-1", 6, 3)
        assert journal.healed == ""
        assert set(store.incidents) == {"i-2", "i-3", "i-5"}
        assert (await journal.stats())["refused"] == 3
    finally:
        await journal.close()


def test_a_live_follow_stops_at_once_on_sigterm_with_exit_0(tmp_path: Path) -> None:
    """Issue 15: "a live `follow` hangs at shutdown". Asked to stop (SIGTERM, as
    systemd does) while live and receiving, it writes its last snapshot, says
    DONE and exits 0 within seconds."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    server = ServerProcess(tmp_path / "server.sqlite3", scenario="mixed", speed=60, rate=6).start()
    proc: subprocess.Popen[str] | None = None
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "commandcenter.cli", "follow", "--db", str(tmp_path / "follow.sqlite3"),
             "--server", server.url],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, COMMANDCENTER_CONFIG="", COMMANDCENTER_TOKEN=WALL),
        )  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("STATE live"):
                break
        else:
            raise AssertionError(f"follow never went live: {proc.stderr.read() if proc.stderr else ''}")
        proc.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - asked
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        server.stop()
    assert proc.returncode == 0, err[-2000:]
    assert took < 5, f"follow took {took:.1f} s to stop"
    assert "DONE epoch=" in out and " refused=0 " in out
