"""The alert banner, the audio marks and acknowledgement through the real server.

Walls run in this process under one qasync loop (as tests/ui/test_wall.py
does): each has its own engine session (journal, feed, alert service), an
EngineBridge and an AlertAdapter, against the real `commandcenter serve` in a
subprocess.
Waits are on signals and conditions, never on fixed sleeps.

QtMultimedia on a machine without sound (this one, CI) logs warnings when it
first loads: its optional back-ends (PipeWire, VA-API) are missing and
PulseAudio has no server. They say exactly what the wall then shows as
"TANPA AUDIO", so they are ignored (pyproject's qt_log_ignore), by their exact text.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from commandcenter.config import load_defaults
from commandcenter.core import protocol as p
from commandcenter.core.model import IncidentTimes, Location
from commandcenter.core.timeutil import WIB, utcnow
from commandcenter.wall.alerting import AlertService
from commandcenter.wall.feed import FeedSettings, FeedState
from commandcenter.wall.session import WallSession
from commandcenter.wall.speech import SpeechError, SpeechWorker
from tests.factories import make_incident
from tests.serverproc import CONSOLE, ServerProcess, admin_inject, export, wait_client
from tests.ui.walls import METRICS, Wall, add_marks, make_wall, two_walls, until
from tests.ui.walls import run_qasync as _run
from tests.ui.walls import settled as _settled
from ui.alerts.adapter import AlertAdapter
from ui.alerts.banner import AlertBanner
from ui.alerts.sound import SoundOutput
from ui.support.bridge import EngineBridge
from ui.views.console import ConsoleView
from ui.views.header import ScreenHeader

pytestmark = [pytest.mark.qt]


def _adapter(
    bridge: EngineBridge, *, operator: str = "Sari", console: str = "meja-1",
    audio: SoundOutput | None = None, speech: SpeechWorker | None = None, clock: Any = None,
) -> AlertAdapter:  # fmt: skip
    """An alert service over the fixture's store (no feed: a test records the
    commands), under its Qt adapter."""
    service = AlertService(
        bridge.config, bridge.store, operator=operator, console=console, speech=speech, clock=clock
    )
    return AlertAdapter(service, bridge, audio=audio)


def _acks_in(db: Path) -> list[dict[str, Any]]:
    return [e["event"]["body"]["ack"] for e in export(db) if e["event"]["body"]["kind"] == "acknowledged"]


def _fire(incident_id: str) -> p.IncidentUpserted:
    """A new high-priority fire, received now (so nothing is overdue yet)."""
    return p.IncidentUpserted(
        incident=make_incident(
            id=incident_id, ticket=f"OKI-{incident_id}", category="kebakaran", priority="high",
            description="<b>Api</b> di dekat SPBU", times=IncidentTimes(received=utcnow()),
            location=Location(lat=-3.086, lon=105.223, kecamatan="Pangkalan Lampam", desa="<i>Deling</i>"),
        )
    )  # fmt: skip


def _ack_line(alert_at: dt.datetime) -> str:
    return f"Dikonfirmasi oleh Sari, {alert_at.astimezone(WIB):%H:%M}"


# --- (1) a click on Konfirmasi, seen on two walls ---------------------------------------------


def test_konfirmasi_click_reaches_the_server_and_every_wall(qapp: Any, qtbot: Any, tmp_path: Path) -> None:
    config = load_defaults()

    async def scenario() -> None:
        async with two_walls(qtbot, tmp_path, config) as (server, console, plain):
            walls = [console, plain]
            await admin_inject(server.url, [_fire("fire-1")])
            aid = "incident:fire-1"
            await until(walls, lambda: all(w.banner.alert_id == aid for w in walls), "alert on both walls")
            for w in walls:
                assert [a.id for a in w.controller.active()] == [aid]
                # The raise asked for the high-priority tone; with no device it is not "started".
                assert "high" in [name for _, name in w.service.tones_played]
                assert w.audio.history and w.audio.history[-1][1:] == ("high", False)
                assert w.banner.state == "alert"
                # Public text (the village name) shows literally, never as markup.
                assert "<i>Deling</i>" in w.banner.text_label.text()
                assert w.banner.text_label.textFormat() == Qt.TextFormat.PlainText
            assert console.banner.ack_button is not None and console.banner.ack_button.isEnabled()
            assert plain.banner.ack_button is None  # a plain wall has nothing to click

            # Control: unacknowledged, the alert repeats after repeat_s.
            plain.offset_s[0] = config.alerts.repeat_s + 1
            assert [a.kind for a in plain.engine.tick()] == ["repeat"]
            plain.offset_s[0] = 0.0

            qtbot.mouseClick(console.banner.ack_button, Qt.MouseButton.LeftButton)
            # At once: "mengirim…", button disabled, not acknowledged anywhere.
            assert console.controller.pending_acks == {aid}
            assert console.banner.state == "sending"
            assert console.banner.state_label.text() == "mengirim…"
            assert not console.banner.ack_button.isEnabled()
            assert aid not in console.client.store.acks
            assert console.banner.ack_line_text() == ""

            await until(
                walls, lambda: all(aid in w.client.store.acks and not w.controller.active() for w in walls),
                "acknowledged on both walls",
            )  # fmt: skip
            await until(walls, lambda: all(w.banner.state == "none" for w in walls), "banners updated")
            assert not console.controller.pending_acks
            ack = console.client.store.acks[aid]
            assert (ack.operator, ack.console, ack.incident_id) == ("Sari", "meja-1", "fire-1")
            expected = _ack_line(ack.at)
            for w in walls:
                assert w.banner.ack_line_text().startswith(f"✓ {expected}"), w.banner.ack_line_text()
                assert w.banner.state == "none"
                assert w.engine.get(aid).acknowledged_by == "Sari"
            # "mengirim…" was shown, and only while the store had no acknowledgement.
            sending = [had_ack for state, had_ack in console.states if state == "sending"]
            assert sending and not any(sending)
            # ... and after it straight to acknowledged: never back to a clickable alert.
            after = [state for state, _ in console.states[console.states.index(("sending", False)) :]]
            assert set(after) == {"sending", "none"}, console.states

            # The repeats stop everywhere: an hour later nothing sounds for it.
            for w in walls:
                w.offset_s[0] = 3600.0
                actions = w.engine.tick()
                assert not [a for a in actions if aid in a.alert_ids], actions
                assert not w.controller.active()
                w.offset_s[0] = 0.0

            await console.service.drain()
            audit = await console.client.journal.audit_since(utcnow() - dt.timedelta(hours=1))
            sent = [r for r in audit if r.action == "alert.ack_sent"]
            assert len(sent) == 1 and sent[0].operator == "Sari" and sent[0].target_id == aid
            assert [a["alert_id"] for a in _acks_in(server.db)] == [aid]

    _run(qapp, scenario)


# --- (2) acknowledged while the server is away ----------------------------------------------


def test_acknowledgement_while_disconnected_is_delivered_once_after_reconnect(
    qapp: Any, qtbot: Any, tmp_path: Path
) -> None:
    config = load_defaults()

    async def scenario() -> None:
        db = tmp_path / "server.sqlite3"
        server = ServerProcess(db, heartbeat=0.3).start()
        restarted: ServerProcess | None = None
        wall: Wall | None = None
        try:
            wall = await make_wall(
                qtbot, tmp_path, config, server.url, "meja-1", console="meja-1", operator="Sari"
            )
            walls = [wall]
            await until(walls, lambda: _settled(wall), "live")
            await admin_inject(server.url, [_fire("fire-2")])
            aid = "incident:fire-2"
            await until(walls, lambda: wall.banner.alert_id == aid, "alert")

            server.kill()
            await until(walls, lambda: wall.client.status.state is not FeedState.LIVE, "link down")
            assert wall.banner.ack_button is not None
            qtbot.mouseClick(wall.banner.ack_button, Qt.MouseButton.LeftButton)
            await wall.service.drain()  # in the outbox now
            pending = await wall.client.journal.outbox_pending()
            assert [r.kind for r in pending] == ["ack"]
            assert wall.banner.state == "sending" and wall.banner.state_label.text() == "mengirim…"
            assert aid not in wall.client.store.acks and wall.banner.ack_line_text() == ""
            # Another click while it waits sends nothing more.
            assert not wall.controller.acknowledge(aid)

            restarted = ServerProcess(db, port=server.port, heartbeat=0.3).start()
            await until(walls, lambda: aid in wall.client.store.acks, "acknowledged after reconnect")
            await until(walls, lambda: wall.banner.state == "none", "acknowledged on the banner")
            assert not wall.controller.pending_acks
            assert wall.banner.ack_line_text().startswith(f"✓ {_ack_line(wall.client.store.acks[aid].at)}")
            assert not await wall.client.journal.outbox_pending()
            acks = _acks_in(db)
            assert [a["alert_id"] for a in acks] == [aid]
            assert acks[0]["operator"] == "Sari"
        finally:
            if wall is not None:
                await wall.close()
            server.kill()
            if restarted is not None:
                restarted.stop()

    _run(qapp, scenario)


# --- (3) no audio output --------------------------------------------------------------------


class _AudibleSound(SoundOutput):
    """A SoundOutput that claims a working device (for the one rule below)."""

    def available(self) -> tuple[bool, str]:
        return True, "test: pretend a device"


def test_no_audio_output_is_shown_and_hidden_when_sound_works(
    qtbot: Any, bridge: Any, tmp_path: Path
) -> None:
    audio = SoundOutput(tmp_path / "tones")
    ok, reason = audio.available()
    assert not ok and "no audio output" in reason  # this machine has no sound device
    assert audio.play("tone_high") is False
    assert audio.history[-1][1:] == ("high", False) and audio.last_started is None
    controllers = [
        _adapter(bridge, audio=audio),
        _adapter(bridge, audio=None),
        _adapter(bridge, audio=_AudibleSound(tmp_path / "t2")),
    ]
    marks, headers = [], []
    for c in controllers:
        header = ScreenHeader(bridge, METRICS, "test")
        qtbot.addWidget(header)
        audio_mark, _ = add_marks(header, c)
        header.show()
        headers.append(header)  # qtbot holds only a weak reference
        marks.append(audio_mark)
    assert marks[0].is_shown() and marks[0].full_text == "⊘ TANPA AUDIO"  # its shape alone when short
    assert "no audio output" in marks[0].toolTip()
    assert marks[1].is_shown()  # no sound output at all: said so too
    assert not marks[2].is_shown()
    for c in controllers:
        c.shutdown()


def test_speech_failure_plays_the_tone_instead(qapp: Any, bridge: Any, tmp_path: Path) -> None:
    class Mute:
        def speak(self, text: str, lang: str, started: Any) -> bool:
            raise SpeechError("no audio output: test")

        def synthesize(self, text: str, lang: str, path: Path) -> None: ...
        def interrupt(self) -> None: ...
        def close(self) -> None: ...

    config = bridge.config
    worker = SpeechWorker(config.speech, engine_factory=lambda _cfg: Mute()).start()
    controller = _adapter(bridge, audio=SoundOutput(tmp_path / "tones"), speech=worker)
    service = controller.service

    async def scenario() -> None:
        # The failure comes back from the speech thread onto the service's loop.
        service.start()
        toned = asyncio.Event()
        service.tone_listeners.append(lambda _name: toned.set())
        before = len(service.tones_played)
        worker.say("Kebakaran, Desa Deling", "high")
        await asyncio.wait_for(toned.wait(), 5)
        assert len(service.speech_failures) == 1
        assert [name for _, name in list(service.tones_played)[before:]] == ["high"]

    try:
        _run(qapp, scenario)
    finally:
        service.stop()
        controller.shutdown()
        worker.stop()


# --- (4) muting ------------------------------------------------------------------------------


def test_mute_mark_on_every_screen_while_muted(qapp: Any, qtbot: Any, tmp_path: Path) -> None:
    config = load_defaults()

    async def scenario() -> None:
        async with two_walls(qtbot, tmp_path, config, headers=2) as (server, console, plain):
            walls = [console, plain]
            marks = [m[1] for w in walls for m in w.marks]
            assert not any(m.is_shown() for m in marks)

            qtbot.mouseClick(console.banner.mute_buttons[5], Qt.MouseButton.LeftButton)
            await until(walls, lambda: all(m.is_shown() for m in marks), "SUARA MATI on every screen")
            until_at = console.client.store.muted["meja-1"].until
            hhmm = f"{until_at.astimezone(WIB):%H:%M}"
            for _, mute_mark in console.marks:
                assert mute_mark.full_text == f"✕ SUARA MATI s/d {hhmm}"
            for _, mute_mark in plain.marks:
                assert mute_mark.full_text == f"✕ SUARA MATI meja-1 s/d {hhmm}"
            assert console.banner.unmute_button is not None and console.banner.unmute_button.isVisible()

            # While muted the console stays silent; the plain wall (another console) does not.
            tones = [len(w.service.tones_played) for w in walls]
            await admin_inject(server.url, [_fire("fire-3")])
            await until(walls, lambda: all(w.banner.alert_id == "incident:fire-3" for w in walls), "alert")
            assert len(console.service.tones_played) == tones[0]
            assert len(plain.service.tones_played) == tones[1] + 1

            qtbot.mouseClick(console.banner.unmute_button, Qt.MouseButton.LeftButton)
            await until(walls, lambda: not any(m.is_shown() for m in marks), "mark gone after unmute")
            await console.service.drain()
            audit = await console.client.journal.audit_since(utcnow() - dt.timedelta(hours=1))
            assert [r.action for r in audit if r.action.endswith("_sent")] == [
                "console.mute_sent", "console.unmute_sent",
            ]  # fmt: skip
            assert all(r.operator == "Sari" for r in audit if r.action.endswith("_sent"))

    _run(qapp, scenario)


# --- the keyboard and the incident entry point ---------------------------------------------------


class _RecordingFeed:
    """Stands in for FeedClient.submit: what the controller sends, in order."""

    journal = None

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def submit(self, command: Any) -> None:
        self.sent.append(command)


def test_f2_and_acknowledge_incident_send_acknowledgements(
    qapp: Any, qtbot: Any, bridge: Any, clock: Any
) -> None:
    controller = _adapter(bridge, clock=clock)
    feed = _RecordingFeed()
    controller.service.feed = feed
    banner = AlertBanner(controller, METRICS)
    view = ConsoleView(bridge, METRICS, banner=banner)
    qtbot.addWidget(view)
    view.show()
    view.activateWindow()
    # Outside the qasync loop: a nested Qt loop inside one of its callbacks stalls its tasks.
    qtbot.waitUntil(view.isActiveWindow, timeout=2000)

    async def scenario() -> None:
        alerts = controller.active()
        assert len(alerts) >= 2
        first = banner.alert_id
        assert first == alerts[0].id
        qtbot.keyClick(view, Qt.Key.Key_F2)
        assert controller.pending_acks == {first} and banner.state == "alert"  # the next alert is shown
        assert banner.state_label.text() == "mengirim… (1)"
        other = next(a for a in alerts[1:] if a.incident_id and a.id != banner.alert_id)
        assert controller.acknowledge_incident(other.incident_id) == other.id
        await controller.service.drain()
        assert [(type(c).__name__, c.alert_id, c.operator, c.console) for c in feed.sent] == [
            ("Acknowledge", first, "Sari", "meja-1"),
            ("Acknowledge", other.id, "Sari", "meja-1"),
        ]
        # Sent is not acknowledged: nothing shows "Dikonfirmasi" without the server.
        assert all(controller.engine.get(a).acknowledged_at is None for a in (first, other.id))
        assert banner.ack_line_text() == ""

    try:
        _run(qapp, scenario)
    finally:
        controller.shutdown()


def test_operator_is_chosen_from_the_configured_list(qapp: Any, qtbot: Any) -> None:
    from ui.alerts.banner import OperatorDialog, ask_operator

    config = load_defaults()
    chosen: list[str] = []

    async def scenario() -> None:
        task = asyncio.ensure_future(ask_operator(config))
        await asyncio.sleep(0)  # let the dialog open
        dialog = next(w for w in qapp.topLevelWidgets() if isinstance(w, OperatorDialog) and w.isVisible())
        assert list(dialog.buttons) == list(config.display.operators)
        qtbot.mouseClick(dialog.buttons["Sari"], Qt.MouseButton.LeftButton)
        chosen.append(await task)

    _run(qapp, scenario)
    assert chosen == ["Sari"]


def test_double_click_on_a_queue_row_acknowledges_that_incident(
    qapp: Any, qtbot: Any, bridge: Any, clock: Any
) -> None:
    from ui.views.operations import OperationsView

    controller = _adapter(bridge, operator="Rina", console="meja-2", clock=clock)
    feed = _RecordingFeed()
    controller.service.feed = feed
    queue = OperationsView(bridge, METRICS, interactive=True)
    # As the wall wires an interactive queue: the view says which incident, the service acknowledges.
    queue.acknowledge_requested.connect(controller.acknowledge_incident)
    view = ConsoleView(bridge, METRICS, queue_widget=queue)
    qtbot.addWidget(view)
    view.resize(1920, 1080)
    view.show()

    async def scenario() -> None:
        target = next(a for a in controller.active() if a.incident_id)
        row = queue.proxy.proxy_row_of(target.incident_id)
        assert row is not None and row >= 0
        index = queue.proxy.index(row, 0)  # the priority: a column every density keeps
        queue.table.scrollTo(index)
        rect = queue.table.visualRect(index)
        hits: list[Any] = []
        queue.table.doubleClicked.connect(hits.append)
        # A click first (selects the row), then the double-click on the same row.
        qtbot.mouseClick(queue.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        rect = queue.table.visualRect(queue.proxy.index(queue.proxy.proxy_row_of(target.incident_id), 0))
        qtbot.mouseDClick(queue.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        await controller.service.drain()
        assert len(hits) == 1
        assert [(c.alert_id, c.incident_id, c.operator) for c in feed.sent] == [
            (target.id, target.incident_id, "Rina")
        ]
        assert target.id in controller.pending_acks
        # The context action does the same for the current row.
        assert [a.text() for a in queue.table.actions()] == ["Konfirmasi"]

    try:
        _run(qapp, scenario)
    finally:
        controller.shutdown()


# --- (5) unshelve and unmute in the audit log, with who did it --------------------------------------


def test_unshelve_unmute_and_expiry_are_audited_with_the_operator(
    qapp: Any, qtbot: Any, tmp_path: Path
) -> None:
    import csv
    import io
    import subprocess
    import sys

    from commandcenter.wall.alerts import SYSTEM_OPERATOR
    from tests.conftest import ROOT

    config = load_defaults()
    started = utcnow()

    async def scenario() -> None:
        server = ServerProcess(tmp_path / "server.sqlite3", heartbeat=0.3).start()
        wall: Wall | None = None
        try:
            wall = await make_wall(
                qtbot, tmp_path, config, server.url, "meja-1", console="meja-1", operator="Sari"
            )
            walls = [wall]
            store, c = wall.client.store, wall.controller
            await until(walls, lambda: _settled(wall), "live")
            await admin_inject(server.url, [_fire("fire-5")])
            aid = "incident:fire-5"
            await until(walls, lambda: wall.banner.alert_id == aid, "alert")

            # Each step waits until the engine saw it (the bridge flushed): a
            # mute and an unmute merged into one change set leave only the last.
            def seen(pred: Callable[[], bool]) -> Callable[[], bool]:
                return lambda: pred() and wall.bridge.pending_since is None

            c.shelve(aid, 15, "uji")
            await until(walls, seen(lambda: aid in store.shelved), "shelved")
            c.unshelve(aid)
            await until(
                walls, seen(lambda: aid not in store.shelved and wall.banner.alert_id == aid), "unshelved"
            )
            c.mute(5)
            await until(walls, seen(lambda: "meja-1" in store.muted), "muted")
            c.unmute()
            await until(walls, seen(lambda: "meja-1" not in store.muted), "unmuted")
            # A one-minute shelf and mute that this wall sees run out.
            c.shelve(aid, 1, "uji")
            c.mute(1)
            await until(
                walls, seen(lambda: aid in store.shelved and "meja-1" in store.muted), "shelved, muted"
            )
            wall.offset_s[0] = 61.0
            wall.service.tick()  # the service's own tick, without waiting a second for it
            assert not c.engine.is_muted() and [a.id for a in c.active()] == [aid]
            await wall.service.drain()
        finally:
            if wall is not None:
                await wall.close()
            server.stop()

    _run(qapp, scenario)

    out = subprocess.run(
        [sys.executable, "-m", "commandcenter.cli", "audit", "--db", str(tmp_path / "meja-1.sqlite3"),
         "--since", started.isoformat()],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    taken_off = [
        (r["action"], r["operator"], r["console"], json_reason(r["detail"]))
        for r in rows
        if r["action"] in ("alert.unshelved", "console.unmuted")
    ]
    assert taken_off == [
        ("alert.unshelved", "Sari", "meja-1", "operator"),
        ("console.unmuted", "Sari", "meja-1", "operator"),
        ("alert.unshelved", SYSTEM_OPERATOR, "meja-1", "expired"),
        ("console.unmuted", SYSTEM_OPERATOR, "meja-1", "expired"),
    ], [(r["action"], r["operator"], r["detail"]) for r in rows]
    sent = [
        (r["action"], r["operator"])
        for r in rows
        if r["action"] in ("alert.unshelve_sent", "console.unmute_sent")
    ]
    assert sent == [("alert.unshelve_sent", "Sari"), ("console.unmute_sent", "Sari")]
    # The server's own record: the events in its log name the operator and console.
    bodies = [e["event"]["body"] for e in export(tmp_path / "server.sqlite3")]
    assert [(b["operator"], b["console"]) for b in bodies if b["kind"] == "unshelved"] == [("Sari", "meja-1")]
    assert [(b["operator"], b["console"]) for b in bodies if b["kind"] == "unmuted"] == [("Sari", "meja-1")]


def json_reason(detail: str) -> str:
    import json

    return str(json.loads(detail).get("reason", ""))


# --- (6) a live event right behind the start-up reset ----------------------------------------------


def test_live_alert_arriving_with_the_start_up_reset_still_sounds(
    qapp: Any, qtbot: Any, tmp_path: Path
) -> None:
    """The wall restores its journal (written against an older server epoch),
    so its first change set is the server's snapshot: a full reset. A fire
    reported live right behind it is a new alert: tone and speech, not history
    taken in silently. The alert service takes change sets straight from the
    feed, so this holds before the views got anything (a busy GUI thread at
    start-up; here a coalescing interval that never fires)."""
    config = load_defaults()

    async def scenario() -> None:
        old = ServerProcess(tmp_path / "old.sqlite3", heartbeat=0.3).start()
        try:
            session = await WallSession.open(
                config,
                tmp_path / "meja-1.sqlite3",
                FeedSettings(url=old.url, token=CONSOLE, client_id="meja-1", console="meja-1"),
            )
            first = session.feed
            await admin_inject(old.url, [_fire("fire-gone")])
            session.start()
            await wait_client(first, lambda: "fire-gone" in first.store.incidents, what="first session")
            await session.close()
        finally:
            old.stop()

        server = ServerProcess(tmp_path / "server.sqlite3", heartbeat=0.3).start()
        wall: Wall | None = None
        try:
            await admin_inject(server.url, [_fire("fire-old")])
            wall = await make_wall(
                qtbot, tmp_path, config, server.url, "meja-1", console="meja-1", operator="Sari",
                coalesce_ms=600_000,
            )  # fmt: skip
            client, bridge, controller = wall.client, wall.bridge, wall.controller
            # Restored from the journal: the older epoch's fire, known without a sound.
            assert "fire-gone" in client.store.incidents
            assert [a.id for a in controller.active()] == ["incident:fire-gone"]
            await wait_client(client, lambda: client.store.epoch == server.epoch, what="snapshot")
            tones = len(wall.service.tones_played)
            await admin_inject(server.url, [_fire("fire-new")])
            await wait_client(client, lambda: "fire-new" in client.store.incidents, what="live fire")
            assert bridge.pending_since is not None  # the views have not had it yet
            assert {a.id for a in controller.active()} == {"incident:fire-old", "incident:fire-new"}
            # The live fire sounded; the one already there when the wall connected did not.
            assert [name for _, name in list(wall.service.tones_played)[tones:]] == ["high"]
            bridge.flush()
            await wall.service.drain()
            audit = await client.journal.audit_since(utcnow() - dt.timedelta(hours=1))
            raised = {r.target_id: r.detail for r in audit if r.action == "alert.raised"}
            assert raised["incident:fire-old"].get("resync") is True
            assert "resync" not in raised["incident:fire-new"]
            assert "incident:fire-gone" not in {a.id for a in controller.active()}
        finally:
            if wall is not None:
                await wall.close()
            server.stop()

    _run(qapp, scenario)


@pytest.mark.timeout(20)
def test_drain_returns_when_tasks_are_done_but_not_yet_reaped(qapp: Any, bridge: EngineBridge) -> None:
    """A task that has finished leaves the set only from its done callback, on a
    later loop turn. drain() awaited such tasks again and again without ever
    yielding to the loop, so it never returned (a hang seen in the map-ack test
    and possible at a wall's shutdown). Before the fix this test times out."""
    service = AlertService(bridge.config, bridge.store, operator="Sari", console="meja-1")

    async def scenario() -> bool:
        async def quick() -> int:
            return 1

        task = service._spawn(quick(), "quick")
        await asyncio.sleep(0)  # the task finishes; its done callback is only scheduled
        finished_not_reaped = task is not None and task.done() and task in service._tasks
        await asyncio.wait_for(service.drain(), 5)
        return finished_not_reaped

    assert asyncio.run(scenario()), "the race this test is about did not happen"


def test_the_flashing_border_toggles_without_restyling_the_banner(
    qapp: Any, qtbot: Any, bridge: Any, clock: Any
) -> None:
    """A flashing alert's border is lit, then a grid line, tick by tick, as drawn; the banner's
    style sheet is set once (a setStyleSheet per tick polished the banner and every child again:
    about 17 ms of each tick on the 2x2 desk during a burst)."""
    from PySide6.QtGui import QColor, QImage

    from ui.support import theme

    controller = _adapter(bridge, clock=clock)
    banner = AlertBanner(controller, METRICS)
    qtbot.addWidget(banner)
    banner.resize(1200, banner.sizeHint().height())
    banner.show()
    qtbot.waitExposed(banner)
    try:
        alert = controller.top_alert()
        assert alert is not None and banner.is_flashing()
        lit = QColor(theme.PRIORITY_COLOR[alert.priority]).rgb() & 0xFFFFFF
        off = QColor(theme.GRID).rgb() & 0xFFFFFF
        sheet = banner.styleSheet()

        def border() -> int:
            image = QImage(banner.size(), QImage.Format.Format_RGB32)
            banner.render(image)
            return image.pixel(banner.width() // 2, 1) & 0xFFFFFF

        banner.show_flash_lit()
        seen = [border()]
        for _ in range(3):
            banner._on_tick()
            seen.append(border())
        assert seen == [lit, off, lit, off]
        assert banner.styleSheet() == sheet
    finally:
        controller.shutdown()
