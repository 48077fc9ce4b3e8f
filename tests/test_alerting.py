"""The engine's alert service: its own schedule, the acknowledgement state
machine, the speech fallback, and `commandcenter follow --alerts` raising the
same alerts as a wall on the same stream (real server, real SQLite, no Qt)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from commandcenter.config import load_defaults
from commandcenter.core import protocol as p
from commandcenter.core.model import Acknowledgement, IncidentTimes
from commandcenter.core.store import ChangeSet, Store
from commandcenter.core.timeutil import FakeClock, utcnow
from commandcenter.storage.journal import Journal
from commandcenter.wall.alerting import AlertService
from commandcenter.wall.alerts import AlertAction
from commandcenter.wall.feed import FeedSettings
from commandcenter.wall.session import WallSession
from commandcenter.wall.speech import SpeechItem
from tests.conftest import ROOT
from tests.factories import T0, incident_event, make_event, make_incident
from tests.serverproc import CONSOLE, WALL, ServerProcess, admin_inject, wait_client

# --- the service on a store (no feed) ------------------------------------------------------------


class _Outbox:
    """Records what the service submits (stands in for FeedClient.submit)."""

    journal = None

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def submit(self, command: Any) -> None:
        self.sent.append(command)


def _service(clock: FakeClock, **kw: Any) -> tuple[AlertService, Store]:
    store = Store(clock=clock)
    service = AlertService(load_defaults(), store, operator="Sari", console="meja-1", clock=clock, **kw)
    return service, store


def _fire(seq: int, incident_id: str) -> p.Event:
    return incident_event(seq, id=incident_id, times=IncidentTimes(received=T0))


async def test_acknowledgement_is_pending_until_the_store_has_it_and_a_refusal_is_kept() -> None:
    clock = FakeClock(T0)
    service, store = _service(clock)
    outbox = _Outbox()
    service.feed = outbox
    pending_events: list[set[str]] = []
    service.pending_listeners.append(lambda: pending_events.append(set(service.pending_acks)))
    service.on_changes(store.apply_many([_fire(1, "inc-a"), _fire(2, "inc-b")]))
    assert {a.id for a in service.active()} == {"incident:inc-a", "incident:inc-b"}

    assert service.acknowledge("incident:inc-a")
    assert not service.acknowledge("incident:inc-a")  # already on its way: nothing more is sent
    assert service.acknowledge_incident("inc-b") == "incident:inc-b"
    await service.drain()
    assert [(type(c).__name__, c.alert_id, c.operator, c.console) for c in outbox.sent] == [
        ("Acknowledge", "incident:inc-a", "Sari", "meja-1"),
        ("Acknowledge", "incident:inc-b", "Sari", "meja-1"),
    ]
    assert service.pending_acks == {"incident:inc-a", "incident:inc-b"}
    # The top alert is the one not already being sent; both are: the most urgent.
    assert service.top_alert() is not None
    assert service.engine.get("incident:inc-a").acknowledged_at is None  # sent is not acknowledged

    # "applied" alone does not end "sending": the event in the store does.
    cmd_a, cmd_b = outbox.sent
    service.on_command_result(p.CommandResult(command_id=cmd_a.command_id, status="applied", seq=3))
    assert "incident:inc-a" in service.pending_acks
    ack = Acknowledgement(
        ack_id="ack-1",
        alert_id="incident:inc-a",
        operator="Sari",
        console="meja-1",
        at=T0,
        incident_id="inc-a",
    )
    service.on_changes(store.apply(make_event(p.AlertAcknowledged(ack=ack), seq=3)))
    assert "incident:inc-a" not in service.pending_acks
    assert service.engine.get("incident:inc-a").acknowledged_by == "Sari"

    # A refusal: no longer pending, the reason kept for the banner, still not acknowledged.
    service.on_command_result(
        p.CommandResult(command_id=cmd_b.command_id, status="rejected", reason="closed")
    )
    assert service.pending_acks == set() and service.rejected == {"incident:inc-b": "closed"}
    assert [a.id for a in service.active()] == ["incident:inc-b"]
    assert pending_events[-1] == set()
    # An unknown command id changes nothing.
    service.on_command_result(p.CommandResult(command_id="not-ours", status="rejected", reason="x"))
    assert service.rejected == {"incident:inc-b": "closed"}


async def test_commands_are_audited_and_kept_in_the_outbox_without_a_feed(tmp_path: Path) -> None:
    """Restarted with acknowledgements still in the outbox: pending again."""
    clock = FakeClock(T0)
    journal = await Journal.open(tmp_path / "wall.sqlite3")
    try:
        service, store = _service(clock, journal=journal)
        service.on_changes(store.apply(_fire(1, "inc-a")))
        assert service.acknowledge("incident:inc-a")
        service.mute(5)
        await service.drain()
        pending = await journal.outbox_pending()
        assert [r.kind for r in pending] == ["ack", "mute"]
        audit = await journal.audit_since(T0 - dt.timedelta(hours=1))
        assert [(r.action, r.operator, r.target_id) for r in audit if r.action.endswith("_sent")] == [
            ("alert.ack_sent", "Sari", "incident:inc-a"),
            ("console.mute_sent", "Sari", "meja-1"),
        ]

        again, store2 = _service(clock, journal=journal)
        again.on_changes(store2.apply(_fire(1, "inc-a")))
        restored = asyncio.Event()
        again.pending_listeners.append(restored.set)
        again.start()
        try:
            await asyncio.wait_for(restored.wait(), 5)
            assert again.pending_acks == {"incident:inc-a"}
            assert not again.acknowledge("incident:inc-a")  # not sent twice
        finally:
            again.stop()
            await again.drain()
    finally:
        await journal.close()


async def test_the_service_ticks_on_its_own_schedule() -> None:
    """Repeats come from the service's own tick: no Qt timer, no view."""
    clock = FakeClock(T0)
    service, store = _service(clock, tick_s=0.01)
    actions: list[AlertAction] = []
    repeated = asyncio.Event()

    def record(batch: list[AlertAction]) -> None:
        actions.extend(batch)
        if any(a.kind == "repeat" for a in batch):
            repeated.set()

    service.action_listeners.append(record)
    service.on_changes(store.apply(_fire(1, "inc-a")))
    assert [a.kind for a in actions] == ["raise"]
    service.start()
    try:
        clock.advance(service.config.alerts.repeat_s + 1)
        await asyncio.wait_for(repeated.wait(), 5)
        assert [a.alert_id for a in actions if a.kind == "repeat"] == ["incident:inc-a"]
        assert [name for _, name in service.tones_played] == ["high", "high"]
    finally:
        service.stop()


def test_speech_that_cannot_be_heard_becomes_the_tone_unless_muted_or_done() -> None:
    clock = FakeClock(T0)
    service, store = _service(clock)
    tones: list[str] = []
    service.tone_listeners.append(tones.append)
    service.on_changes(store.apply(_fire(1, "inc-a")))
    tones.clear()

    def item(key: str | None) -> SpeechItem:
        return SpeechItem(text="Kebakaran", spoken="Kebakaran", priority="high", lang="id", key=key, seq=1)

    service._on_speech_failed(item("incident:inc-a"), RuntimeError("no audio"))
    assert tones == ["high"]
    service._on_speech_failed(item("incident:gone"), RuntimeError("no audio"))  # no such alert any more
    assert tones == ["high"]
    mute = p.ConsoleMuted(console="meja-1", until=T0 + dt.timedelta(minutes=5), operator="Sari")
    service.on_changes(store.apply(make_event(mute, seq=2)))
    service._on_speech_failed(item("incident:inc-a"), RuntimeError("no audio"))
    assert tones == ["high"]  # muted: nothing
    assert len(service.speech_failures) == 3


# --- straight from the feed ----------------------------------------------------------------------


def _live_fire(incident_id: str, **kw: Any) -> p.IncidentUpserted:
    fields: dict[str, Any] = {"times": IncidentTimes(received=utcnow()), "ticket": f"OKI-{incident_id}"}
    fields.update(kw)
    return p.IncidentUpserted(incident=make_incident(id=incident_id, **fields))


def _settings(url: str, name: str, token: str = CONSOLE) -> FeedSettings:
    return FeedSettings(
        url=url, token=token, client_id=name, console=name, heartbeat_timeout_s=2.0, reconnect_min_s=0.05
    )


async def test_a_live_fire_right_behind_the_start_up_reset_sounds(tmp_path: Path) -> None:
    """The node restores a journal of an older server epoch, so its first change
    set is the server's snapshot: a reset. A fire reported right behind it is
    new: it sounds. The service takes each change set from the feed as it is
    committed, so a reset never reaches it merged with the live events after it
    (the Qt bridge merges change sets for the views; the alerts no longer
    depend on it)."""
    config = load_defaults()
    old = ServerProcess(tmp_path / "old.sqlite3", heartbeat=0.3).start()
    try:
        first = await WallSession.open(config, tmp_path / "node.sqlite3", _settings(old.url, "node"))
        await admin_inject(old.url, [_live_fire("fire-gone")])
        first.start()
        await wait_client(first.feed, lambda: "fire-gone" in first.store.incidents, what="old epoch")
        await first.close()
    finally:
        old.stop()

    server = ServerProcess(tmp_path / "server.sqlite3", heartbeat=0.3).start()
    session = await WallSession.open(config, tmp_path / "node.sqlite3", _settings(server.url, "node"))
    try:
        await admin_inject(server.url, [_live_fire("fire-old")])
        got: list[tuple[ChangeSet, list[AlertAction]]] = []
        session.feed.change_listeners.remove(session.alerts.on_changes)
        session.feed.change_listeners.insert(0, lambda cs: got.append((cs, session.alerts.on_changes(cs))))
        assert [a.id for a in session.alerts.active()] == ["incident:fire-gone"]
        session.start()
        await wait_client(session.feed, lambda: session.store.epoch == server.epoch, what="snapshot")
        await admin_inject(server.url, [_live_fire("fire-new")])
        await wait_client(session.feed, lambda: "fire-new" in session.store.incidents, what="live fire")
        resets = [cs for cs, _ in got if cs.reset]
        assert len(resets) == 1
        assert not any(cs.reset for cs, _ in got if "fire-new" in cs.incidents_added)
        raises = {a.alert_id: a for _, actions in got for a in actions if a.kind == "raise"}
        assert raises["incident:fire-old"].reason == "resync" and raises["incident:fire-old"].sound is None
        assert raises["incident:fire-new"].reason != "resync" and raises["incident:fire-new"].sound
        assert {a.id for a in session.alerts.active()} == {"incident:fire-old", "incident:fire-new"}
    finally:
        await session.close()
        server.stop()


# --- follow --alerts: a headless alert node ------------------------------------------------------


@contextlib.asynccontextmanager
async def _follow(tmp_path: Path, url: str, *extra: str) -> AsyncIterator[Any]:
    env = dict(os.environ, COMMANDCENTER_CONFIG="", PYTHONUNBUFFERED="1")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "commandcenter.cli", "--log-level", "WARNING", "follow",
        "--server", url, "--token", WALL, "--db", str(tmp_path / "follow.sqlite3"),
        "--client-id", "alert-node", *extra,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 20)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _read_until(
    proc: Any, lines: list[str], pred: Callable[[], bool], what: str, timeout: float
) -> None:
    """Read the node's stdout line by line until ``pred()`` holds."""
    async with asyncio.timeout(timeout):
        while not pred():
            raw = await proc.stdout.readline()
            if not raw:
                err = (await proc.stderr.read()).decode()[-2000:]
                raise AssertionError(f"follow ended while waiting for {what}: {err}")
            lines.append(raw.decode().rstrip("\n"))


def _alerts(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line.split(" ", 1)[1]) for line in lines if line.startswith("ALERT ")]


def _key(kind: str, ids: Any) -> tuple[str, tuple[str, ...]]:
    return kind, tuple(ids)


@pytest.mark.slow
async def test_follow_alerts_raises_what_a_wall_raises_on_the_same_stream(tmp_path: Path) -> None:
    config = load_defaults()
    server = ServerProcess(tmp_path / "server.sqlite3", heartbeat=0.3).start()
    wall = await WallSession.open(config, tmp_path / "wall.sqlite3", _settings(server.url, "meja-1"))
    wall_actions: list[AlertAction] = []
    wall.alerts.action_listeners.append(wall_actions.extend)
    try:
        wall.start()
        async with _follow(tmp_path, server.url, "--alerts") as node:
            lines: list[str] = []
            await _read_until(node, lines, lambda: "STATE live" in " ".join(lines), "live", 60)
            await wall.feed.wait_live(30)
            now = utcnow()
            bodies: list[p.EventBody] = [
                _live_fire("fire-1"),
                _live_fire("flood-1", category="banjir", priority="high"),
                _live_fire("fire-2", category="karhutla", priority="medium"),
                _live_fire("road-1", category="kecelakaan_lalu_lintas", priority="low"),
            ]
            await admin_inject(server.url, bodies)
            closed = make_incident(
                id="fire-2", ticket="OKI-fire-2", category="karhutla", priority="medium", status="closed",
                version=2, times=IncidentTimes(received=now, closed=utcnow()),
            )  # fmt: skip
            last = await admin_inject(server.url, [p.IncidentUpserted(incident=closed)])
            await wait_client(wall.feed, lambda: wall.store.seq >= last, what="the wall caught up")

            def keys(actions: list[tuple[str, Any]]) -> Counter[tuple[str, tuple[str, ...]]]:
                return Counter(_key(k, ids) for k, ids in actions if k in ("raise", "clear"))

            expected = keys([(a.kind, a.alert_ids) for a in wall_actions])
            assert ("raise", ("incident:fire-1",)) in expected  # the wall did raise alerts
            assert ("clear", ("incident:fire-2",)) in expected  # ... and cleared the closed one

            def node_keys() -> Counter[tuple[str, tuple[str, ...]]]:
                return keys([(a["kind"], a["alert_ids"]) for a in _alerts(lines)])

            try:
                await _read_until(node, lines, lambda: node_keys() == expected, "the same alerts", 30)
            except TimeoutError:
                pytest.fail(f"follow --alerts: {dict(node_keys())} != the wall's {dict(expected)}")
            raised = [a for a in _alerts(lines) if a["kind"] == "raise"]
            assert all(a["text"] and a["priority"] for a in raised)
            node.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(node.communicate(), 30)
            assert node.returncode == 0
            assert "DONE " in out.decode()
    finally:
        await wall.close()
        server.stop()


@pytest.mark.slow
async def test_an_alert_node_with_speech_speaks_what_it_raises(tmp_path: Path) -> None:
    """What `follow --alerts --speak` runs: the session's own SpeechWorker
    (espeak-ng) is handed the raise's announcement. Without an audio device
    the player fails, which the service counts (a wall then plays the tone)."""
    config = load_defaults()
    server = ServerProcess(tmp_path / "server.sqlite3", heartbeat=0.3).start()
    session = await WallSession.open(
        config, tmp_path / "node.sqlite3", _settings(server.url, "node", token=WALL), speech=True
    )
    try:
        assert session.speech is not None, "the speech worker did not start"
        session.start()
        heard = asyncio.Event()
        loop = asyncio.get_running_loop()
        # After the service's own callbacks (set by start()): also wake this test.
        started, failed = session.speech.on_started, session.speech.on_failed

        def on_started(item: SpeechItem) -> None:
            started(item)
            loop.call_soon_threadsafe(heard.set)

        def on_failed(item: SpeechItem, exc: BaseException) -> None:
            failed(item, exc)
            loop.call_soon_threadsafe(heard.set)

        session.speech.on_started, session.speech.on_failed = on_started, on_failed
        await session.feed.wait_live(30)
        await admin_inject(server.url, [_live_fire("fire-spoken")])
        await asyncio.wait_for(heard.wait(), 30)
        # The service's handler was queued on the loop before this test's.
        assert [a.id for a in session.alerts.active()] == ["incident:fire-spoken"]
        keys = [item.key for _, item in session.alerts.speech_started]
        texts = [text for text, _ in session.alerts.speech_failures]
        assert keys == ["incident:fire-spoken"] or (len(texts) == 1 and "Kebakaran" in texts[0])
    finally:
        await session.close()
        server.stop()


# --- kept state against a pass over everything (what a burst made too slow) -----------------------


def _states_by_full_pass(service: AlertService) -> dict[str, Any]:
    """The popup states as the service once derived them: every active alert, then
    every recent acknowledgement (the oracle for the kept, per-incident ones)."""
    states: dict[str, Any] = {}
    for alert in service.engine.active():
        if not alert.incident_id:
            continue
        if alert.id in service.pending_acks:
            states.setdefault(alert.incident_id, ("sending", alert))
        else:
            states[alert.incident_id] = ("alert", alert)
    for alert in service.engine.acknowledged_recent():
        if alert.incident_id and alert.incident_id not in states:
            states[alert.incident_id] = ("acked", alert)
    return states


async def test_kept_alert_state_matches_a_full_pass_through_a_random_shift() -> None:
    """Incidents come and close, operators acknowledge (some refused), shelve and
    unshelve, time runs past repeats, escalations, shelf ends and the recent-ack
    window: after every step the kept order, counts, per-incident states (and the
    changes the listeners were told) equal a pass over everything, and no live
    alert is left with a repeat or an escalation overdue."""
    import random

    from commandcenter.core.model import PRIORITY_RANK

    rng = random.Random(int(os.environ.get("ALERT_WALK_SEED", "11")))
    clock = FakeClock(T0)
    service, store = _service(clock)
    service.feed = _Outbox()
    told: dict[str, Any] = {}

    def listen(changes: dict[str, Any]) -> None:
        for iid, state in changes.items():
            if state is None:
                told.pop(iid, None)
            else:
                told[iid] = state

    service.incident_state_listeners.append(listen)
    told.update(service.incident_states())
    engine = service.engine
    cfg = service.config.alerts
    seq = 0
    open_ids: list[str] = []
    most_escalated = 0

    def apply(body: Any) -> None:
        nonlocal seq
        seq += 1
        service.on_changes(store.apply(make_event(body, seq=seq, ts=clock())))

    for step in range(600):
        roll = rng.random()
        if roll < 0.35 or not open_ids:
            iid = f"inc-{step}"
            open_ids.append(iid)
            apply(p.IncidentUpserted(incident=make_incident(
                id=iid, priority=rng.choice(["high", "medium", "low"]),
                category=rng.choice(["kebakaran", "medis", "banjir", "kecelakaan_lalu_lintas", "karhutla"]),
            )))  # fmt: skip
        elif roll < 0.45:
            iid = open_ids.pop(rng.randrange(len(open_ids)))
            closed = make_incident(id=iid, status="closed", times=IncidentTimes(received=T0, closed=clock()))
            apply(p.IncidentUpserted(incident=closed))
        elif roll < 0.6:
            active = engine.active()
            if active:
                alert = rng.choice(active)
                if rng.random() < 0.5:
                    service.acknowledge(alert.id)
                ack = Acknowledgement(
                    ack_id=f"ack-{step}", alert_id=alert.id, operator="Sari", console="meja-1", at=clock(),
                    incident_id=alert.incident_id,
                )  # fmt: skip
                apply(p.AlertAcknowledged(ack=ack))
        elif roll < 0.68:
            active = engine.active()
            if active:
                alert = rng.choice(active)
                service.acknowledge(alert.id)
                await service.drain()
                command_id = next(c for c, (_, a) in service._commands.items() if a == alert.id)
                status = rng.choice(["rejected", "duplicate"])
                service.on_command_result(p.CommandResult(command_id=command_id, status=status, reason="x"))
        elif roll < 0.76:
            active = engine.active()
            if active:
                alert = rng.choice(active)
                until = clock() + dt.timedelta(seconds=rng.choice([30, 200, 900]))
                apply(p.AlertShelved(alert_id=alert.id, until=until, operator="Sari", console="meja-1"))
        elif roll < 0.8 and store.shelved:
            aid = rng.choice(sorted(store.shelved))
            apply(p.AlertUnshelved(alert_id=aid, operator="Sari", console="meja-1"))
        else:
            clock.advance(rng.choice([1, 5, 30, 120, 700]))
            service.tick()
        await service.drain()

        now = clock()
        active = engine.active()
        assert active == sorted(active, key=lambda a: (PRIORITY_RANK[a.priority], a.raised_at, a.id)), step
        assert engine.active_count() == len(active), step
        expected = _states_by_full_pass(service)
        assert service.incident_states() == expected, step
        assert told == expected, step
        escalated = [a for a in active if a.escalated]
        count, oldest = engine.escalated_summary()
        assert count == len(escalated), step
        most_escalated = max(most_escalated, count)
        assert oldest == min(escalated, key=lambda a: (a.raised_at, a.id), default=None), step
        top = next((a for a in active if a.id not in service.pending_acks), active[0] if active else None)
        assert service.top_alert() == top, step
        if roll >= 0.8:  # just ticked: nothing due is left behind
            for alert in active:
                rec = engine._records[alert.id]
                if rec.sounded_call == engine._call:
                    continue
                if rec.next_repeat_at is not None and cfg.priorities.of(rec.priority).repeat:
                    assert rec.next_repeat_at > now, (step, alert.id)
                if rec.escalate_at is not None:
                    assert rec.escalated == (rec.escalate_at <= now), (step, alert.id)
    assert sum(1 for s in told.values() if s[0] == "acked") > 5, "the walk must reach acknowledged states"
    assert most_escalated > 1, "the walk must reach escalations"
