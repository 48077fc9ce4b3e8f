"""A client written from docs/protocol.md and the schema alone (tests/thirdparty_client.py,
not the product's FeedClient) follows the real server through a snapshot, a
replay, a server restart and a new epoch; what it journaled is compared with the
server's own export (`commandcenter journal export`)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
import websockets

from commandcenter.core import protocol as p
from commandcenter.core.model import Alert, CallFunnel
from tests.conftest import ROOT
from tests.factories import make_incident
from tests.serverproc import CONSOLE, WALL, ServerProcess, admin_inject, export
from tests.thirdparty_client import ThirdPartyClient, Validator, load_schema

pytestmark = pytest.mark.slow


def incidents(n: int, prefix: str) -> list[p.EventBody]:
    return [
        p.IncidentUpserted(incident=make_incident(id=f"{prefix}-{i}", ticket=f"T-{prefix}-{i}"))
        for i in range(n)
    ]


def extras(prefix: str) -> list[p.EventBody]:
    """An alert, a funnel and a second version of an incident: more than one kind."""
    now = dt.datetime.now(dt.UTC)
    day = now.astimezone(dt.timezone(dt.timedelta(hours=7))).date()
    return [
        p.AlertRaised(alert=Alert(id=f"al-{prefix}", kind="system", priority="high", raised_at=now)),
        p.FunnelUpdated(
            funnel=CallFunnel(
                day=day, calls_in=50, answered=45, abandoned=5, prank=10, ghost=5, valid=20, info=5
            )
        ),
        p.IncidentUpserted(incident=make_incident(id=f"{prefix}-0", ticket=f"T-{prefix}-0", version=2)),
    ]


async def acknowledge(url: str, alert_id: str) -> p.CommandResult:
    async with websockets.connect(url, proxy=None, compression=None) as ws:
        await ws.send(p.encode(p.Hello(token=CONSOLE, client_id="console-3p", console="meja-1")).decode())
        cid = uuid.uuid4().hex
        command = p.Acknowledge(
            command_id=cid, operator="Sari", console="meja-1", at=dt.datetime.now(dt.UTC), alert_id=alert_id
        )
        await ws.send(p.encode(command).decode())
        while True:
            frame = p.decode_server_frame(await ws.recv())
            if isinstance(frame, p.CommandResult) and frame.command_id == cid:
                return frame


def check_against_export(client: ThirdPartyClient, server_events: list[dict[str, Any]], epoch: str) -> None:
    """Every event the client took in ``epoch`` is the server's, byte for byte
    as JSON, and from its first one on it has every later server event, once."""
    mine = [e for e in client.journal if e["epoch"] == epoch]
    assert mine, f"the client journaled nothing of epoch {epoch}"
    keys = [e["seq"] for e in mine]
    assert keys == list(range(keys[0], keys[0] + len(keys))), "gap or duplicate in the client's journal"
    theirs = {e["seq"]: e for e in server_events if e["epoch"] == epoch}
    for e in mine:
        assert "refused" not in e, e
        assert theirs[e["seq"]]["id"] == e["id"]
        assert theirs[e["seq"]]["event"] == e["event"]
    assert keys[-1] == max(theirs), "the client is not at the server's head"


def check_state(client: ThirdPartyClient, server_events: list[dict[str, Any]], epoch: str) -> None:
    """The client's incidents and alerts are what the server's whole history of
    ``epoch`` folds to (highest version per incident)."""
    versions: dict[str, int] = {}
    alerts: set[str] = set()
    acked: set[str] = set()
    for e in server_events:
        if e["epoch"] != epoch:
            continue
        body = e["event"]["body"]
        if body["kind"] == "incident":
            inc = body["incident"]
            versions[inc["id"]] = max(versions.get(inc["id"], 0), inc["version"])
        elif body["kind"] == "alert":
            alerts.add(body["alert"]["id"])
        elif body["kind"] == "acknowledged":
            acked.add(body["ack"]["alert_id"])
    assert {k: v["version"] for k, v in client.state.incidents.items()} == versions
    assert set(client.state.alerts) == alerts
    assert set(client.state.acks) == acked


async def test_a_client_from_the_docs_follows_snapshot_replay_restart_and_new_epoch(tmp_path: Path) -> None:
    validator = Validator(load_schema(str(ROOT)))
    first_db, second_db = tmp_path / "server.sqlite3", tmp_path / "fresh.sqlite3"
    server = ServerProcess(first_db, heartbeat=0.3).start()
    old_epoch = server.epoch
    clients = [
        ThirdPartyClient(server.url, WALL, f"3p-{rev}", validator, protocols=revs)
        for rev, revs in (("10", ("1.0",)), ("11", ("1.0", "1.1")))
    ]
    try:
        head = await admin_inject(server.url, incidents(300, "a") + extras("a"))
        # 1. A new client: a snapshot, then the live stream.
        for c in clients:
            c.start()
        for c in clients:
            await c.wait_for(lambda c=c: c.state.seq == head, what="the snapshot")
        assert await acknowledge(server.url, "al-a") is not None
        head = await admin_inject(server.url, incidents(1500, "b"))
        for c in clients:
            await c.wait_for(lambda c=c: c.state.seq == head and "al-a" in c.state.acks, what="live events")
        # 2. A client that was away: a replay of what it missed.
        for c in clients:
            await c.stop()
        head = await admin_inject(server.url, incidents(700, "c"))
        for c in clients:
            c.start()
            await c.wait_for(lambda c=c: c.state.seq == head, what="the replay")
        # 3. The server killed and restarted on its database: same epoch, resume.
        server.kill()
        server = ServerProcess(first_db, port=server.port, heartbeat=0.3).start()
        assert server.epoch == old_epoch
        head = await admin_inject(server.url, incidents(400, "d") + extras("d"))
        for c in clients:
            await c.wait_for(lambda c=c: c.state.seq == head, what="resume after the restart")
        server.stop()
        first_export = export(first_db)
        # 4. A server on a fresh database: a new epoch, so a snapshot again.
        server = ServerProcess(second_db, port=server.port, heartbeat=0.3).start()
        assert server.epoch != old_epoch
        head = await admin_inject(server.url, incidents(200, "e") + extras("e"))
        for c in clients:
            await c.wait_for(
                lambda c=c: c.state.epoch == server.epoch and c.state.seq == head, what="the new epoch"
            )
        head = await admin_inject(server.url, incidents(300, "f"))
        for c in clients:
            await c.wait_for(lambda c=c: c.state.seq == head, what="live in the new epoch")
    finally:
        for c in clients:
            await c.stop()
        server.stop()
    second_export = export(second_db)
    for c in clients:
        resumes = [w["resume"] for w in c.welcomes]
        assert resumes[0] == "snapshot" and resumes[-1] == "snapshot", resumes
        assert "replay" in resumes[1:-1], resumes
        assert {w.get("protocol", "1.0") for w in c.welcomes} == {c.protocols[-1]}
        assert c.counts["gaps"] == 0 and c.counts["invalid"] == 0, c.counts
        check_against_export(c, first_export, old_epoch)
        check_against_export(c, second_export, server.epoch)
        check_state(c, second_export, server.epoch)
    # The 1.1 client got several events to a frame; the 1.0 client never did.
    assert clients[0].counts["events_frames"] == 0
    assert clients[1].counts["events_frames"] > 0
