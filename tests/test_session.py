"""The engine session: one assembly of journal, store, feed, alerts and
housekeeping, against the real server on loopback and real SQLite files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from commandcenter.config import Config, load_defaults
from commandcenter.core import protocol as p
from commandcenter.core.model import IncidentTimes
from commandcenter.core.store import ChangeSet
from commandcenter.core.timeutil import FakeClock, utcnow
from commandcenter.wall.feed import FeedSettings
from commandcenter.wall.session import WallSession, feed_settings, journal_path
from tests.factories import make_incident
from tests.serverproc import CONSOLE, WALL, ServerProcess, admin_inject, wait_client

pytestmark = pytest.mark.slow


def _settings(url: str, client_id: str = "session-test", console: str = "") -> FeedSettings:
    return FeedSettings(
        url=url, token=CONSOLE if console else WALL, client_id=client_id, console=console,
        heartbeat_timeout_s=2.0, reconnect_min_s=0.05, reconnect_max_s=0.5,
    )  # fmt: skip


def _with_journal(config: Config, **journal: Any) -> Config:
    return msgspec.structs.replace(config, journal=msgspec.structs.replace(config.journal, **journal))


def _fire(incident_id: str, **kw: Any) -> p.IncidentUpserted:
    now = utcnow()
    fields: dict[str, Any] = {"times": IncidentTimes(received=now)}
    fields.update(kw)
    return p.IncidentUpserted(incident=make_incident(id=incident_id, ticket=f"OKI-{incident_id}", **fields))


def test_feed_settings_come_from_the_config_and_arguments_win() -> None:
    config = load_defaults()
    config = msgspec.structs.replace(
        config,
        server=msgspec.structs.replace(
            config.server, url="ws://10.1.1.1:8112", token="cfg-token", client_id="cfg-id",
            heartbeat_timeout_s=7.0,
        ),
        display=msgspec.structs.replace(config.display, console_name=""),
    )  # fmt: skip
    s = feed_settings(config)
    assert (s.url, s.token, s.client_id, s.heartbeat_timeout_s) == (
        "ws://10.1.1.1:8112",
        "cfg-token",
        "cfg-id",
        7.0,
    )
    assert s.console == "cfg-id"  # no console name configured: the client id stands in
    assert s.snapshot_every_events == config.journal.snapshot_every_events
    assert s.reconnect_max_s == config.server.reconnect_max_s
    o = feed_settings(
        config, url="ws://127.0.0.1:1", token="t", client_id="c", console="", heartbeat_timeout_s=3.0
    )
    assert (o.url, o.token, o.client_id, o.console, o.heartbeat_timeout_s) == (
        "ws://127.0.0.1:1",
        "t",
        "c",
        "",
        3.0,
    )
    named = msgspec.structs.replace(
        config, display=msgspec.structs.replace(config.display, console_name="meja-9")
    )
    assert feed_settings(named).console == "meja-9"


def test_journal_path_is_the_configured_one_else_in_the_data_dir(tmp_path: Path) -> None:
    config = load_defaults()
    assert journal_path(config, tmp_path) == tmp_path / "wall-journal.sqlite3"
    assert (
        journal_path(_with_journal(config, path=str(tmp_path / "x.db")), tmp_path / "other")
        == tmp_path / "x.db"
    )


async def test_restart_restores_the_store_and_the_alerts_silently(tmp_path: Path) -> None:
    config = load_defaults()
    server = ServerProcess(tmp_path / "server.sqlite3", heartbeat=0.3).start()
    try:
        session = await WallSession.open(config, tmp_path / "wall.sqlite3", _settings(server.url))
        raised: list[tuple[str, str]] = []
        session.alerts.action_listeners.append(
            lambda actions: raised.extend((a.kind, a.alert_id or "") for a in actions)
        )
        session.start()
        await session.feed.wait_live(30)
        await admin_inject(server.url, [_fire("fire-s1")])
        await wait_client(session.feed, lambda: "fire-s1" in session.store.incidents, what="fire")
        assert ("raise", "incident:fire-s1") in raised
        seq = session.store.seq
        await session.close()
        await session.close()  # a second close does nothing
    finally:
        server.stop()

    # No server now: the journal alone rebuilds the store; the alert is known,
    # without a new sound, and the data is shown as old as it is.
    again = await WallSession.open(config, tmp_path / "wall.sqlite3", _settings(server.url))
    try:
        assert again.store.seq == seq and "fire-s1" in again.store.incidents
        assert [a.id for a in again.alerts.active()] == ["incident:fire-s1"]
        assert not again.alerts.tones_played
        assert again.feed.status.last_event_at is not None
    finally:
        await again.close()


async def test_housekeeping_prunes_closed_incidents_for_the_alerts_and_every_listener(tmp_path: Path) -> None:
    """The retention keys are config (journal.*), and the session prunes on its
    own schedule: a wall and a `follow` node alike."""
    config = _with_journal(load_defaults(), prune_closed_after_s=3600.0, housekeeping_interval_s=0.05)
    clock = FakeClock(utcnow())
    server = ServerProcess(tmp_path / "server.sqlite3", heartbeat=0.3).start()
    session = await WallSession.open(config, tmp_path / "wall.sqlite3", _settings(server.url), clock=clock)
    try:
        seen: list[ChangeSet] = []
        session.feed.change_listeners.append(seen.append)
        session.start()
        await session.feed.wait_live(30)
        now = utcnow()
        await admin_inject(
            server.url,
            [
                _fire("done-1", status="closed", times=IncidentTimes(received=now, closed=now)),
                _fire("open-1"),
            ],
        )
        await wait_client(session.feed, lambda: "open-1" in session.store.incidents, what="both incidents")
        assert "done-1" in session.store.incidents
        assert "incident:open-1" in {a.id for a in session.alerts.active()}
        clock.now = now  # the store's "now" from the moment done-1 was closed
        clock.advance(1800)
        assert not session.prune_store()  # closed half an hour ago: kept
        clock.advance(1801)
        # Housekeeping runs by itself every housekeeping_interval_s.
        await wait_client(session.feed, lambda: "done-1" not in session.store.incidents, what="prune")
        removed = [cs for cs in seen if "done-1" in cs.incidents_removed]
        assert len(removed) == 1, "the prune reaches the feed's listeners once"
        assert "open-1" in session.store.incidents
        assert "incident:open-1" in {a.id for a in session.alerts.active()}
    finally:
        await session.close()
        server.stop()


async def test_journal_prune_writes_a_snapshot_first(tmp_path: Path) -> None:
    config = load_defaults()
    server = ServerProcess(tmp_path / "server.sqlite3", heartbeat=0.3).start()
    session = await WallSession.open(config, tmp_path / "wall.sqlite3", _settings(server.url), alerts=False)
    try:
        session.start()
        await session.feed.wait_live(30)
        await admin_inject(server.url, [_fire("fire-j1")])
        await wait_client(session.feed, lambda: "fire-j1" in session.store.incidents, what="fire")
        await session.prune_journal()
        stats = await session.journal.stats()
        assert stats["latest_snapshot"]["seq"] == session.store.seq
    finally:
        await session.close()
        server.stop()


async def test_a_session_that_cannot_open_leaves_nothing_running(tmp_path: Path) -> None:
    """Bad input: a journal path that is a directory fails clearly at open."""
    bad = tmp_path / "a-directory"
    bad.mkdir()
    with pytest.raises(Exception, match="a-directory"):
        await WallSession.open(load_defaults(), bad, _settings("ws://127.0.0.1:9"))
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
