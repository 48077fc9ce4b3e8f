"""Replay on the wall (issue 14): the live wall's windows and views driven by a journal's past.

A journal written from the real simulator; the real wall windows (QtWebEngine map included,
offscreen); the real SoundOutput. The replay banner is on every screen (its colour's pixels in each
window's grab, none in a live wall's); no tone reaches the sound output though the alert service
asks for some; the time bar's jumps give Timeline.state_at's state; the console's "Putar ulang"
replays the live wall's own journal while that wall keeps following the real server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QImage

from commandcenter.config import load_defaults
from commandcenter.core.i18n import strings_for
from commandcenter.core.store import encode_state
from commandcenter.core.text import local_time
from commandcenter.history.timeline import Timeline
from commandcenter.wall.feed import FeedSettings, FeedState
from commandcenter.wall.session import WallSession
from tests.conftest import ROOT
from tests.serverproc import CONSOLE, ServerProcess
from tests.test_history import T0, simulated, write_journal
from tests.ui.walls import run_qasync
from ui.support import theme

pytestmark = [pytest.mark.qt]


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two hours of the flood scenario, as a wall journals them."""
    path = tmp_path_factory.mktemp("replay") / "wall-journal.sqlite3"
    asyncio.run(write_journal(path, simulated(120)))
    return path


def replay_pixels(image: QImage, tolerance: int = 6) -> int:
    """Pixels of the replay colour (every 2nd pixel each way: enough, and quick)."""
    target = QImage(1, 1, QImage.Format.Format_RGB32)
    target.fill(theme.REPLAY_BG)
    want = target.pixelColor(0, 0)
    img = image.convertToFormat(QImage.Format.Format_RGB32)
    n = 0
    for y in range(0, img.height(), 2):
        for x in range(0, img.width(), 2):
            c = img.pixelColor(x, y)
            if (abs(c.red() - want.red()) <= tolerance and abs(c.green() - want.green()) <= tolerance
                    and abs(c.blue() - want.blue()) <= tolerance):  # fmt: skip
                n += 1
    return n


async def until(pred: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait for ``pred``, checked after each Qt event the loop delivers (a condition, no sleep)."""
    from PySide6.QtCore import QTimer

    changed = asyncio.Event()
    poll = QTimer()
    poll.setInterval(20)  # the player's moves and the feed's events land between these
    poll.timeout.connect(changed.set)
    poll.start()
    try:
        async with asyncio.timeout(timeout):
            while not pred():
                changed.clear()
                await changed.wait()
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
    finally:
        poll.stop()


def _drain_deletes() -> None:
    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


INNER = "OKI112_REPLAY_TEST_INNER"


def _in_own_process(tmp_path: Path, name: str) -> None:
    """Run the test ``name`` of this module in a pytest process of its own: whole walls (web views
    included) torn down in the shared test process leave Qt state that crashes a later test's
    event loop (as tests/ui/test_wall.py found)."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "--basetemp", str(tmp_path / "inner"),
         f"{Path(__file__).resolve()}::{name}"],
        cwd=ROOT, env=dict(os.environ, **{INNER: name}), capture_output=True, text=True, timeout=170,
        check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "1 passed" in out.stdout, out.stdout[-2000:]


def _inner(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(os.environ.get(INNER) != name, reason="runs in its own process")


def test_replay_windows_banner_silence_read_only_and_time_bar(tmp_path: Path) -> None:
    _in_own_process(tmp_path, "test_inner_replay_windows")


def test_console_replay_reads_the_live_journal_while_the_wall_runs(tmp_path: Path) -> None:
    _in_own_process(tmp_path, "test_inner_console_replay")


@_inner("test_inner_replay_windows")
def test_inner_replay_windows(qapp: Any, journal: Path, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QAbstractSlider

    from ui.alerts.banner import AlertBanner
    from ui.alerts.sound import SoundOutput
    from ui.app.replay import ReplayController, ReplaySession
    from ui.app.wall import WallController
    from ui.support.bridge import EngineBridge

    config = load_defaults()
    strings = strings_for("id")

    async def scenario() -> None:
        # As the wall does (wall_main): closing windows runs nested Qt loops, where qasync has no
        # running loop for aiosqlite's get_event_loop().
        asyncio.set_event_loop(asyncio.get_running_loop())
        # As the wall does: closing its windows must not end the loop that still closes journals.
        qapp.setQuitOnLastWindowClosed(False)
        timeline = await Timeline.open(journal)
        audio = SoundOutput(tmp_path / "tones")
        session = await ReplaySession.open(config, timeline, strings=strings, audio=audio)
        controller = ReplayController(qapp, session, config)
        controller.build()
        session.start()
        live_bridge = EngineBridge(config, (await timeline.state_at(T0 + dt.timedelta(minutes=60))))
        live = WallController(qapp, live_bridge, config)
        try:
            player = session.player
            # The banner on every window, in words and in its colour; never the stale banner.
            assert controller.windows
            for w in controller.windows:
                assert w.header.is_replay_shown() and not w.header.is_banner_shown()
                text = w.header.replay_banner.text()
                assert text.startswith("PUTAR ULANG · ") and "WIB" in text, text
                day = local_time(player.position)
                assert f"{day:%H:%M}" in text
                assert replay_pixels(w.widget.grab().toImage()) > 2000, "no replay colour on the window"
            # A live wall (its feed is down: the red stale banner) has none of the replay colour.
            live.build()
            for w in live.windows:
                assert not w.header.is_replay_shown()
                assert replay_pixels(w.widget.grab().toImage()) == 0

            bars = controller.time_bars
            assert len(bars) == 1, "the time bar on the console's window"
            bar = bars[0]

            async def same_as_timeline(when: dt.datetime) -> None:
                expected = await timeline.state_at(when)
                assert encode_state(player.store.to_state()) == encode_state(expected.to_state())

            # Jump to a time typed into the field (WIB): the state Timeline.state_at gives.
            target = local_time(T0 + dt.timedelta(minutes=47))
            bar.jump_field.setText(f"{target:%H:%M}")
            bar.jump_field.returnPressed.emit()
            await until(lambda: player.position == target and not bar._tasks, "jump to 08:47")
            await same_as_timeline(target)
            # Something that is not a time: said so, never applied.
            bar.jump_field.setText("besok pagi")
            bar.jump_field.returnPressed.emit()
            assert not bar.error_label.isHidden() and player.position == target
            # The slider: a page forward is a seek there.
            bar.slider.triggerAction(QAbstractSlider.SliderAction.SliderPageStepAdd)
            await until(lambda: player.position == target + dt.timedelta(seconds=600) and not bar._tasks,
                        "slider seek")  # fmt: skip
            await same_as_timeline(player.position)
            # Next alert: the timeline's next alert after this moment.
            expected_alert = timeline.next_alert_after(player.position)
            assert expected_alert is not None
            bar.next_alert_button.click()
            await until(lambda: player.position == expected_alert and not bar._tasks, "next alert")
            await same_as_timeline(expected_alert)

            # Read-only: every Konfirmasi banner disabled, and the adapter sends nothing.
            banners = [b for w in controller.windows for b in w.widget.findChildren(AlertBanner)]
            assert banners
            assert all(not b.isEnabled() for b in banners)
            assert all(b.ack_button is None or not b.ack_button.isEnabled() for b in banners)
            active = session.alerts.active()
            if active:
                assert session.alerts.acknowledge(active[0].id) is False
                assert not session.service.pending_acks

            # Play from the start at 600x: the alert service asks for tones, none reaches the output.
            bar.seek(player.start)
            await until(lambda: player.position == player.start and not bar._tasks, "back to the start")
            bar.speed_buttons[600].click()
            bar.play_button.click()
            assert player.playing and player.speed == 600
            await until(lambda: len(session.service.tones_played) > 0, "an alert sound asked for")
            assert list(audio.history) == [], "a tone played in replay"
            # A jump while playing: the state is the journal's at the moment shown, never the
            # jump's state with a step's events on top.
            bar.seek(target)
            await until(lambda: not bar._tasks, "jump while playing")
            bar.play_button.click()
            assert not player.playing
            # A step already under way when paused finishes (or gives way) first.
            await until(lambda: not player._turn.locked(), "no step under way")
            await same_as_timeline(player.position)
        finally:
            live.close()
            live_bridge.shutdown()
            controller.close()
            await session.close()
            await timeline.close()
            _drain_deletes()

    try:
        run_qasync(qapp, scenario)
    finally:
        qapp.setQuitOnLastWindowClosed(True)


@_inner("test_inner_console_replay")
def test_inner_console_replay(qapp: Any, tmp_path: Path) -> None:
    from ui.app.replay import ReplayLauncher
    from ui.app.wall import WallController
    from ui.support.bridge import EngineBridge
    from ui.views.console import ConsoleView

    config = load_defaults()

    async def scenario() -> None:
        # As the wall does (wall_main): closing windows runs nested Qt loops, where qasync has no
        # running loop for aiosqlite's get_event_loop().
        asyncio.set_event_loop(asyncio.get_running_loop())
        # As the wall does: closing its windows must not end the loop that still closes journals.
        qapp.setQuitOnLastWindowClosed(False)
        server = ServerProcess(tmp_path / "server.sqlite3", scenario="flood", speed=30, rate=6,
                               heartbeat=0.3).start()  # fmt: skip
        session = await WallSession.open(
            config, tmp_path / "wall.sqlite3",
            FeedSettings(url=server.url, token=CONSOLE, client_id="replay-test", heartbeat_timeout_s=2.0,
                         reconnect_min_s=0.05, reconnect_max_s=0.3),
        )  # fmt: skip
        bridge = EngineBridge(config, session.store, session.feed)
        controller = WallController(qapp, bridge, config)
        controller.build()
        launcher = ReplayLauncher(qapp, bridge, config, controller.layout, session.journal.path)
        session.start()
        try:
            await until(lambda: session.feed.status.state is FeedState.LIVE, "live wall")
            # Live events journaled after the start's snapshot: something to replay.
            first = session.store.seq
            await until(lambda: session.store.seq > first + 10, "live events journaled")
            consoles = [c for w in controller.windows for c in w.widget.findChildren(ConsoleView)]
            assert consoles and consoles[0].replay_button.isVisibleTo(consoles[0])
            consoles[0].replay_button.click()
            await until(lambda: bool(launcher.windows) or bool(launcher.last_error), "replay window")
            assert not launcher.last_error, launcher.last_error
            replay = launcher.windows[0]
            assert replay.window.header.is_replay_shown()
            assert replay.window.widget.isVisible() and not replay.window.widget.isFullScreen()
            # The replay's own console has no "Putar ulang" (it would replay the replay).
            inner = replay.window.widget.findChildren(ConsoleView)
            assert inner and not inner[0].replay_button.isVisibleTo(inner[0])
            # The live wall goes on: new events journaled and shown, live, no replay banner.
            seq = session.store.seq
            await until(lambda: session.store.seq > seq + 5, "live events after the replay opened")
            assert session.feed.status.state is FeedState.LIVE
            assert not any(w.header.is_replay_shown() for w in controller.windows)
            # The replay reads up to where the journal was when it opened, then stays there.
            assert replay.session.timeline.journal.path == session.journal.path
            assert len(replay.session.timeline) > 0
            await replay.session.player.seek(replay.session.player.end)
            assert replay.session.player.store.seq <= session.store.seq
        finally:
            await launcher.close()
            controller.close()
            bridge.shutdown()
            await session.close()
            server.stop()
            _drain_deletes()

    try:
        run_qasync(qapp, scenario)
    finally:
        qapp.setQuitOnLastWindowClosed(True)


@pytest.mark.slow
def test_wall_replay_command_shows_the_banner_on_every_screen(journal: Path, tmp_path: Path) -> None:
    """`commandcenter wall --replay` on four headless panels: the banner colour on each."""
    env = dict(os.environ, QTWEBENGINE_DISABLE_SANDBOX="1")
    out = subprocess.run(
        [sys.executable, "-m", "ui.app.cli", "wall", "--replay", str(journal), "--from", "2026-11-27T08:30",
         "--speed", "60", "--play", "--headless", "--preset", "four-panels", "--run-for", "4",
         "--data-dir", str(tmp_path / "data"), "--screenshot-dir", str(tmp_path / "shots")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    shots = sorted((tmp_path / "shots").glob("*.png"))
    assert len(shots) == 4, shots
    for shot in shots:
        assert replay_pixels(QImage(str(shot))) > 2000, f"{shot.name}: no replay banner"


def test_a_bad_replay_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "not-a-journal.sqlite3").write_text("hello")
    for extra in (["--replay", str(tmp_path / "missing.sqlite3")],
                  ["--replay", str(tmp_path / "not-a-journal.sqlite3")],
                  ["--replay", str(tmp_path / "x"), "--from", "kemarin"]):  # fmt: skip
        out = subprocess.run(
            [sys.executable, "-m", "ui.app.cli", "wall", *extra, "--headless", "--run-for", "1",
             "--data-dir", str(tmp_path / "data")],
            cwd=ROOT, env=dict(os.environ, QTWEBENGINE_DISABLE_SANDBOX="1"), capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert out.returncode == 2, (extra, out.stderr[-2000:])
        lines = [ln for ln in out.stderr.splitlines() if ln.startswith("replay:")]
        assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
