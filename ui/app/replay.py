"""Replay on the wall (issue 14): `commandcenter wall --replay JOURNAL [--from] [--to] [--speed]`
and the live console's "Putar ulang" window.

The same windows and views as the live wall (ui.app.wall's WallController and WallWindow, the
same room layouts), driven by a :class:`~commandcenter.history.player.ReplayPlayer` instead of a
feed: :class:`ReplayFeed` gives the player the shape a feed has for the EngineBridge and the alert
service (change, status and result listeners, a status). The engine's AlertService runs on the
player's change sets and the replayed clock, so the alerts show as they were raised, but:

- silent: no tone (the sound output never hears the service) and no speech, unless
  ``--replay-sound``;
- never a command: the Konfirmasi banners are disabled and the adapter sends nothing;
- never taken for live: every header shows the replay banner in its own colour instead of the
  feed state (ui.views.header), and interactive screens get the time bar (ui.views.timebar).

The journal is opened read-only (commandcenter.history.timeline): a live wall may keep writing it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject

from commandcenter.core.plausibility import Plausibility
from commandcenter.history.player import ReplayPlayer, ReplayStatus
from commandcenter.history.timeline import HistoryError, Timeline
from commandcenter.storage.journal import JournalError
from commandcenter.wall.alerting import AlertService
from commandcenter.wall.feed import FeedState, FeedStatus
from ui.alerts.adapter import AlertAdapter
from ui.app.wall import ScreenInfo, WallController, WallWindow, WindowPlan

if TYPE_CHECKING:  # annotations only: these load when a replay opens
    from PySide6.QtGui import QScreen
    from PySide6.QtWidgets import QApplication

    from commandcenter.config import Config
    from commandcenter.core.i18n import Strings
    from commandcenter.wall.layout import Layout
    from commandcenter.wall.speech import SpeechWorker
    from ui.alerts.sound import SoundOutput
    from ui.support.bridge import EngineBridge
    from ui.views.timebar import TimeBar

log = logging.getLogger(__name__)


class ReplayReadOnlyError(RuntimeError):
    """A command was about to leave a replay: a replay never sends anything."""


class ReplayFeed:
    """A feed's face over a ReplayPlayer, for the EngineBridge and the AlertService."""

    #: AlertService restores pending acknowledgements from a feed's journal: a replay has none.
    journal = None

    def __init__(self, player: ReplayPlayer) -> None:
        self.player = player
        # The player's own list: every change set it hands on reaches whoever attaches here.
        self.change_listeners = player.change_listeners
        self.status_listeners: list[Callable[[FeedStatus], None]] = []
        self.result_listeners: list[Callable[[Any], None]] = []
        player.status_listeners.append(self._on_player_status)

    @property
    def status(self) -> FeedStatus:
        # Never stale: the journal is not a link that can drop. The header shows the replay
        # banner instead (EngineBridge.replay_status).
        now = time.monotonic()
        store = self.player.store
        return FeedStatus(FeedState.LIVE, now, now, store.epoch, store.seq)

    def replay_status(self) -> ReplayStatus:
        return self.player.status()

    def _on_player_status(self, _status: ReplayStatus) -> None:
        status = self.status
        for listener in list(self.status_listeners):
            try:
                listener(status)
            except Exception:
                log.exception("replay status listener %r failed", listener)

    async def submit(self, command: Any) -> None:
        raise ReplayReadOnlyError(f"replay: {type(command).__name__} not sent (a replay sends nothing)")


class ReplayAlertAdapter(AlertAdapter):
    """The alert adapter of a replay: silent unless ``sound``, and every command refused."""

    read_only = True

    def __init__(
        self, service: AlertService, bridge: EngineBridge, audio: SoundOutput | None = None, *,
        sound: bool = False,
    ) -> None:  # fmt: skip
        super().__init__(service, bridge, audio=audio)
        if audio is not None and not sound:
            # The output stays (its availability is still shown) but never hears a tone.
            hook = (service.tone_listeners, audio.play)
            if audio.play in service.tone_listeners:
                service.tone_listeners.remove(audio.play)
            self._hooks = [h for h in self._hooks if h != hook]

    def _refused(self, what: str) -> None:
        log.info("replay: %s not sent (a replay never sends a command)", what)

    def acknowledge(self, alert_id: str) -> bool:
        self._refused(f"acknowledgement of {alert_id}")
        return False

    def acknowledge_incident(self, incident_id: str) -> str | None:
        self._refused(f"acknowledgement for incident {incident_id}")
        return None

    def shelve(self, alert_id: str, minutes: float, reason: str = "") -> None:
        self._refused(f"shelving {alert_id}")

    def unshelve(self, alert_id: str) -> None:
        self._refused(f"unshelving {alert_id}")

    def mute(self, minutes: float) -> None:
        self._refused("mute")

    def unmute(self) -> None:
        self._refused("unmute")


class ReplaySession:
    """Player, feed face, alert service, bridge and alert adapter of one replay; the Qt twin of
    commandcenter.wall.session.WallSession for a journal's past."""

    def __init__(self, timeline: Timeline, player: ReplayPlayer, feed: ReplayFeed, service: AlertService,
                 bridge: EngineBridge, alerts: ReplayAlertAdapter,
                 speech: SpeechWorker | None = None) -> None:  # fmt: skip
        self.timeline = timeline
        self.player = player
        self.feed = feed
        self.service = service
        self.bridge = bridge
        self.alerts = alerts
        self.speech = speech
        self.stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        config: Config,
        timeline: Timeline,
        *,
        strings: Strings,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        speed: float = 1.0,
        audio: SoundOutput | None = None,
        sound: bool = False,
    ) -> ReplaySession:
        """Everything over ``timeline`` (which the caller closes), shown at ``start``. ValueError
        when the period holds nothing, HistoryError when the journal cannot say the state."""
        from ui.support.bridge import EngineBridge

        # Its jumps and steps take turns (the time bar jumps while the player steps).
        player = ReplayPlayer(timeline, start=start, end=end, speed=speed)
        bounds = config.map.bounds
        # What a live wall flags (⚠) is flagged in its replay too.
        player.store.plausibility = Plausibility.of(
            categories=[c.code for c in config.categories],
            agencies=[a.code for a in config.agencies],
            districts=[d.name for d in config.districts],
            area=(bounds.south, bounds.west, bounds.north, bounds.east),
        )
        feed = ReplayFeed(player)
        speech = await _start_speech(config) if sound and config.speech.enabled else None
        # No journal: a replay writes no audit row and no outbox entry.
        service = AlertService(config, player.store, journal=None, feed=None, speech=speech,
                               clock=player.store.clock)  # fmt: skip
        service.attach_feed(feed)  # type: ignore[arg-type]  # the feed's face, see ReplayFeed
        bridge = EngineBridge(config, player.store, None, strings=strings)
        bridge.attach_feed(feed)  # type: ignore[arg-type]
        alerts = ReplayAlertAdapter(service, bridge, audio=audio, sound=sound)
        session = cls(timeline, player, feed, service, bridge, alerts, speech)
        try:
            await player.seek(player.start)
        except BaseException:
            await session.close()
            raise
        return session

    def start(self) -> asyncio.Task[None]:
        """The alert tick and the player's clock (paused until played)."""
        if self._task is None:
            self.service.start()
            self._task = asyncio.get_running_loop().create_task(self.player.run(self.stop), name="replay")
        return self._task

    async def close(self) -> None:
        self.stop.set()
        self.player.pause()
        if self._task is not None:
            # Cancelled, not awaited to its end: a paused player sleeps up to a second first.
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self.service.stop()
        if self.speech is not None:
            self.speech.stop()
        self.alerts.shutdown()
        self.bridge.shutdown()


async def _start_speech(config: Config) -> SpeechWorker | None:
    from commandcenter.wall.speech import SpeechWorker, speech_language

    worker = SpeechWorker(config.speech, language=speech_language(config))
    try:
        await asyncio.get_running_loop().run_in_executor(None, worker.start)
    except Exception:
        log.exception("speech worker could not start; replay without speech")
        return None
    return worker


def make_read_only(window: WallWindow, strings: Strings) -> None:
    """Every Konfirmasi banner of a window disabled (its shortcut too): a replay acknowledges
    nothing. The adapter refuses commands as well; this is what the operator sees."""
    from ui.alerts.banner import AlertBanner

    for banner in window.widget.findChildren(AlertBanner):
        banner.setEnabled(False)
        banner.setToolTip(strings.t("replay.read_only"))
        if banner.shortcut is not None:
            banner.shortcut.setEnabled(False)


def add_time_bar(window: WallWindow, bridge: EngineBridge, player: ReplayPlayer) -> TimeBar | None:
    """The time bar at the foot of a window with an interactive (console) screen, else None."""
    from ui.views.timebar import TimeBar

    if not any(page.interactive for page in window.plan.pages):
        return None
    bar = TimeBar(bridge, window.metrics, player)
    column = window.widget.layout()
    assert column is not None  # WallWindow lays its widget out in one column
    column.addWidget(bar)
    return bar


class ReplayController(WallController):
    """The live wall's controller (screens, room layout, windows, rebuilds on screen changes),
    each window made read-only and the interactive ones given the time bar."""

    def __init__(
        self, app: QApplication, session: ReplaySession, config: Config, *, layout: Layout | None = None
    ) -> None:
        super().__init__(app, session.bridge, config, alerts=session.alerts, layout=layout)
        self.session = session
        self.time_bars: list[Any] = []

    def build(self) -> None:
        for bar in self.time_bars:
            bar.shutdown()
        self.time_bars = []
        super().build()
        for window in self.windows:
            make_read_only(window, self.bridge.strings)
            bar = add_time_bar(window, self.bridge, self.session.player)
            if bar is not None:
                self.time_bars.append(bar)

    def close(self) -> None:
        for bar in self.time_bars:
            bar.shutdown()
        self.time_bars = []
        super().close()


# --- `commandcenter wall --replay` -------------------------------------------------------


def _period(args: argparse.Namespace) -> tuple[dt.datetime | None, dt.datetime | None]:
    from commandcenter.storage.audit import parse_since

    out: list[dt.datetime | None] = []
    for flag, value in (("--from", args.replay_from), ("--to", args.replay_to)):
        try:
            out.append(parse_since(value) if value else None)
        except ValueError:
            raise ValueError(f"{flag} {value!r} is not an ISO time (e.g. 2026-11-27T08:00, WIB)") from None
    return out[0], out[1]


async def run_replay(
    app: QApplication, args: argparse.Namespace, config: Config, strings: Strings, *,
    on_ready: Callable[[WallController], None] | None = None,
) -> int:  # fmt: skip
    """The wall over a journal's past until stopped (or --run-for); 2 on a bad journal or period."""
    try:
        start, end = _period(args)
        if not 1.0 <= args.replay_speed <= 600.0:
            raise ValueError(f"--speed {args.replay_speed:g} is outside 1 to 600")
    except ValueError as exc:
        sys.stderr.write(f"replay: {exc}\n")
        return 2
    try:
        timeline = await Timeline.open(args.replay)
    except (JournalError, HistoryError, OSError) as exc:
        sys.stderr.write(f"replay: {args.replay}: {exc}\n")
        return 2
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(timeline.close)
        from ui.alerts.sound import SoundOutput

        try:
            session = await ReplaySession.open(
                config, timeline, strings=strings, start=start, end=end, speed=args.replay_speed,
                audio=SoundOutput(), sound=args.replay_sound,
            )  # fmt: skip
        except (ValueError, HistoryError) as exc:
            sys.stderr.write(f"replay: {args.replay}: {exc}\n")
            return 2
        stack.push_async_callback(session.close)
        controller = ReplayController(app, session, config, layout=args.room_layout)
        stack.callback(controller.close)
        controller.build()
        session.start()
        if args.replay_play:
            session.player.play()
        stop = asyncio.Event()
        app.aboutToQuit.connect(stop.set)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        player = session.player
        log.info("replay of %s (%d events) from %s to %s on %d windows", args.replay, len(timeline),
                 player.start.isoformat(), player.end.isoformat(), len(controller.windows))  # fmt: skip
        if on_ready is not None:
            on_ready(controller)
        if args.run_for is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.run_for)
        else:
            await stop.wait()
        if getattr(args, "placement_report", None):
            Path(args.placement_report).write_text(  # noqa: ASYNC240 - a few bytes at exit
                json.dumps(controller.placement(), indent=2)
            )
        if args.screenshot_dir:
            session.bridge.flush(whole=True)
            paths = controller.screenshots(Path(args.screenshot_dir), regions=args.screenshot_regions)
            args.screenshots_written = paths
        args.windows_shown = len(controller.windows)
        return 0
    raise AssertionError("unreachable")  # pragma: no cover - mypy: the stack does not swallow


# --- "Putar ulang" from the live console -----------------------------------------------


class ReplayWindow:
    """The replay of a live wall's own journal in a window of its own on the console's screen:
    every layout screen as a tab, the time bar at its foot. The journal is read-only here; the
    live wall goes on writing it."""

    def __init__(self, session: ReplaySession, config: Config, layout: Layout, qscreen: QScreen) -> None:
        from PySide6.QtCore import Qt

        self.session = session
        g = qscreen.geometry()
        # 90 % of the console's screen, framed: beside the live console, never over all of it.
        w, h = int(g.width() * 0.9), int(g.height() * 0.9)
        info = ScreenInfo(qscreen.name(), 0, g.width(), g.height(), g.x(), g.y())
        plan = WindowPlan(info, (g.x() + (g.width() - w) // 2, g.y() + (g.height() - h) // 2, w, h),
                          list(layout.screens), [qscreen.name()])  # fmt: skip
        self.window = WallWindow(plan, qscreen, session.bridge, config, session.alerts)
        widget = self.window.widget
        widget.setWindowFlag(Qt.WindowType.FramelessWindowHint, False)
        widget.setWindowTitle(session.bridge.strings.t("replay.window_title", journal=Path(
            str(session.timeline.journal.path)).name))
        make_read_only(self.window, session.bridge.strings)
        bar = add_time_bar(self.window, session.bridge, session.player)
        if bar is None:  # a layout with no console screen: the bar all the same
            from ui.views.timebar import TimeBar

            bar = TimeBar(session.bridge, self.window.metrics, session.player)
            column = widget.layout()
            assert column is not None  # WallWindow lays its widget out in one column
            column.addWidget(bar)
        self.time_bar: TimeBar = bar
        #: Called when the operator closes the window (not when the program closes it).
        self.closed_by_user: list[Callable[[], None]] = []
        self._closing = False
        self._filter = _CloseFilter(self._on_close_event)
        widget.installEventFilter(self._filter)
        widget.showNormal()

    def _on_close_event(self) -> None:
        if not self._closing:
            for fn in list(self.closed_by_user):
                fn()

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self.time_bar.shutdown()
        self.window.close()
        await self.session.close()
        await self.session.timeline.close()


class ReplayLauncher:
    """Opens ReplayWindows on the live wall's journal when the console asks
    (``bridge.replay_requested``); closes them with the wall."""

    def __init__(
        self, app: QApplication, bridge: EngineBridge, config: Config, layout: Layout, journal_path: Path
    ) -> None:
        self.app = app
        self.bridge = bridge
        self.config = config
        self.layout = layout
        self.journal_path = journal_path
        self.windows: list[ReplayWindow] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.last_error = ""
        bridge.replay_requested.connect(self._on_replay_requested)

    def _on_replay_requested(self, *_: Any) -> None:
        task = asyncio.get_running_loop().create_task(self.open(), name="open replay")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def console_screen(self) -> QScreen:
        """The Qt screen of the live wall's console (the primary screen without one)."""
        for window in self.app.topLevelWidgets():
            if window.isVisible() and window.findChild(_console_type()) is not None:
                return window.screen()
        return self.app.primaryScreen()

    async def open(self) -> ReplayWindow | None:
        s = self.bridge.strings
        try:
            timeline = await Timeline.open(self.journal_path)
        except (JournalError, HistoryError, OSError) as exc:
            self.last_error = s.t("replay.failed", reason=str(exc))
            log.warning("%s", self.last_error)
            return None
        try:
            session = await ReplaySession.open(self.config, timeline, strings=s)
        except (ValueError, HistoryError) as exc:
            await timeline.close()
            self.last_error = s.t("replay.failed", reason=str(exc))
            log.warning("%s", self.last_error)
            return None
        session.start()
        window = ReplayWindow(session, self.config, self.layout, self.console_screen())
        self.windows.append(window)
        window.closed_by_user.append(lambda: self._closed(window))
        return window

    def _closed(self, window: ReplayWindow) -> None:
        """The operator closed the window: the replay ends with it."""
        if window in self.windows:
            self.windows.remove(window)
            task = asyncio.get_running_loop().create_task(window.close(), name="close replay")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self.bridge.replay_requested.disconnect(self._on_replay_requested)
        for task in list(self._tasks):
            task.cancel()
        for window in self.windows:
            with contextlib.suppress(Exception):
                await window.close()
        self.windows = []


class _CloseFilter(QObject):
    """Tells when a window gets its close event."""

    def __init__(self, on_close: Callable[[], None]) -> None:
        super().__init__()
        self._on_close = on_close

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close:
            self._on_close()
        return False


def _console_type() -> Any:
    from ui.views.console import ConsoleView

    return ConsoleView

