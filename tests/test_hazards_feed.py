"""External items through the real server: a wall steps over an event kind it does not know
(protocol 1.0's optional kinds are ignored by walls of an earlier release), and hazard events
injected with a deterministic command id reach the wall once."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from commandcenter.config import load_defaults
from commandcenter.core import protocol as p
from commandcenter.core.store import Store, decode_state, encode_state
from commandcenter.storage.journal import Journal
from commandcenter.wall.feed import FeedSettings, FeedState
from commandcenter.wall.session import WallSession
from tests.factories import make_incident
from tests.serverproc import WALL, ServerProcess, admin_inject, export, wait_client

pytestmark = pytest.mark.slow


def _settings(url: str) -> FeedSettings:
    return FeedSettings(
        url=url, token=WALL, client_id="wall-hazards", heartbeat_timeout_s=2.0, reconnect_min_s=0.05,
        reconnect_max_s=0.5, stable_after_s=5.0,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def _follower(db: Path, url: str) -> Any:
    client = (await WallSession.open(load_defaults(), db, _settings(url), alerts=False)).feed
    client.start()
    try:
        yield client
    finally:
        await client.stop()
        await client.journal.close()


async def _give_events_an_unknown_kind(db: Path, seqs: set[int]) -> None:
    """A newer server's journal: the events at ``seqs`` carry a body kind this release does
    not know. A snapshot at the head lets the server start on it while it still replays the
    exact bytes to a wall that resumes from before them."""
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
            frame["body"] = {"kind": "river_gauge", "station": "Komering-1", "level_cm": 412}
            con.execute("UPDATE events SET data = ? WHERE seq = ?", (json.dumps(frame).encode(), s))
        con.commit()
    finally:
        con.close()


async def test_an_event_of_an_unknown_kind_is_counted_and_skipped_and_seq_continues(tmp_path: Path) -> None:
    server_db, wall_db = tmp_path / "server.sqlite3", tmp_path / "wall.sqlite3"
    server = ServerProcess(server_db).start()
    try:
        async with _follower(wall_db, server.url) as client:
            await wait_client(client, lambda: client.status.state is FeedState.LIVE)
            first = await admin_inject(server.url, [p.IncidentUpserted(incident=make_incident(id="a-0"))])
            await wait_client(client, lambda: client.store.seq == first)
        bodies = [
            p.IncidentUpserted(incident=make_incident(id=f"b-{i}", ticket=f"T-b-{i}")) for i in range(3)
        ]
        head = await admin_inject(server.url, bodies)
    finally:
        server.stop()
    unknown = {first + 2}
    await _give_events_an_unknown_kind(server_db, unknown)
    server = ServerProcess(server_db).start()
    try:
        async with _follower(wall_db, server.url) as client:
            await wait_client(
                client, lambda: client.store.seq == head and client.status.state is FeedState.LIVE
            )
            assert client.counters.refused == 1
            assert "river_gauge" in client.status.last_refused
            assert client.counters.gaps == 0 and client.counters.reconnects == 0
            assert set(client.store.incidents) == {"a-0", "b-0", "b-2"}
            later = await admin_inject(server.url, [p.IncidentUpserted(incident=make_incident(id="c-0"))])
            await wait_client(client, lambda: client.store.seq == later)
            assert "c-0" in client.store.incidents
    finally:
        server.stop()
    assert [e["seq"] for e in export(wall_db)] == [s for s in range(1, later + 1) if s not in unknown]
