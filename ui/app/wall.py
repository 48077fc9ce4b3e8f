"""The wall program: `commandcenter wall` and `commandcenter demo`.

One process drives every screen. asyncio runs inside the Qt event loop
(qasync); the feed client journals and applies events on it, and the views
render the store through the EngineBridge. Each configured screen gets a
frameless full-screen window on the Qt screen with that name (or at that
index); views without a screen join the primary window as tabs, so a
single-screen laptop gets everything in one window. Screens that come and go
while running are followed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VIEW_ORDER = ("map", "operations", "leader", "console")

def offscreen_layout(names: Sequence[str]) -> dict[str, Any]:
    """A layout for Qt's offscreen platform (its configfile): one 1080p panel
    per name, side by side."""
    return {
        "windowFrameMargins": False,
        "screens": [
            {"name": name, "x": 1920 * i, "y": 0, "width": 1920, "height": 1080,
             "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
            for i, name in enumerate(names)
        ],
    }  # fmt: skip


#: The screen layout the headless demo uses when none is given: four 1080p
#: panels side by side, named after what they show.
DEMO_SCREENS = offscreen_layout([f"S{i + 1}-{view}" for i, view in enumerate(VIEW_ORDER)])


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in (
        "win32",
        "darwin",
    )


def prepare_environment(headless: bool, screens_file: str | None) -> None:
    """Set what Qt reads at start-up; must run before any Qt import."""
    if headless or screens_file:
        platform = "offscreen"
        if screens_file:
            platform += f":configfile={Path(screens_file).resolve()}"
        os.environ["QT_QPA_PLATFORM"] = platform
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Chromium refuses to run its sandbox as root.
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    # The wall lives on a closed network: no background calls home from Chromium.
    flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
    for flag in ("--disable-background-networking", "--disable-component-update"):
        if flag not in flags:
            flags += " " + flag
    # V8 would let the map page's heap grow far before its first full GC
    # (measured: +3.5 MB/s of renderer memory under the simulator); see ui.views.map.view.
    if "--js-flags" not in flags:
        flags += " --js-flags=--initial-old-space-size=16"
    os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = flags.strip()


# --- screen planning (pure; tested without windows) ------------------------------------


@dataclass(frozen=True)
class ScreenInfo:
    name: str
    index: int
    width: int
    height: int


@dataclass
class WindowPlan:
    screen: ScreenInfo
    #: (view, interactive, viewing distance override, diagonal override)
    views: list[tuple[str, bool, float | None, float | None]] = field(default_factory=list)


def plan_windows(screen_configs: list[Any], screens: list[ScreenInfo]) -> list[WindowPlan]:
    """Which views go on which screen.

    A configured screen is found by its Qt name, else by index. Views whose
    screen is missing join the first (primary) screen's window as tabs, so no
    view is ever lost when a monitor is unplugged.
    """
    if not screens:
        return []
    plans: dict[int, WindowPlan] = {}
    leftovers: list[tuple[str, bool, float | None, float | None]] = []
    by_name = {s.name: s for s in screens if s.name}
    for sc in screen_configs:
        entry = (sc.view, sc.interactive, sc.viewing_distance_m, sc.diagonal_in)
        target = by_name.get(sc.name) if sc.name else None
        if target is None and (not sc.name or sc.name not in by_name):
            target = screens[sc.index] if sc.index < len(screens) else None
        if target is None:
            leftovers.append(entry)
            continue
        plans.setdefault(target.index, WindowPlan(target)).views.append(entry)
    if leftovers:
        primary = screens[0]
        plans.setdefault(primary.index, WindowPlan(primary)).views.extend(leftovers)
    return [plans[i] for i in sorted(plans)]


# --- the windows ------------------------------------------------------------------------


def _make_view(view: str, bridge: Any, metrics: Any, interactive: bool) -> Any:
    """Build one view widget; a view that fails to build shows why instead of
    taking the whole wall down."""
    from PySide6.QtWidgets import QLabel

    try:
        if view == "map":
            from ui.views.map.view import MapView

            return MapView(bridge, interactive=interactive)
        if view == "operations":
            from ui.views.operations import OperationsView

            return OperationsView(bridge, metrics, interactive=interactive)
        if view == "leader":
            from ui.views.leader import LeaderView

            return LeaderView(bridge, metrics)
        if view == "console":
            from ui.views.console import ConsoleView

            queue = None
            with contextlib.suppress(ImportError):
                from ui.views.operations import OperationsView

                queue = OperationsView(bridge, metrics, interactive=True)
            return ConsoleView(bridge, metrics, queue_widget=queue)
    except Exception:
        log.exception("view %s could not be built", view)
    label = QLabel(f"{view}: not available")
    label.setObjectName("heading")
    return label


class WallWindow:
    """A frameless full-screen window on one screen: header, banner, views."""

    def __init__(self, plan: WindowPlan, qscreen: Any, bridge: Any, config: Any) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

        from ui.support import theme
        from ui.support.i18n import t
        from ui.views.header import ScreenHeader

        self.plan = plan
        first = plan.views[0]
        distance = first[2] or config.display.viewing_distance_m
        diagonal = first[3] or config.display.panel_diagonal_in
        geo = qscreen.geometry()
        self.metrics = theme.metrics_for(geo.width(), geo.height(), diagonal, distance)
        self.widget = QWidget()
        self.widget.setObjectName(f"wall-{plan.screen.name or plan.screen.index}")
        self.widget.setWindowTitle(t("app.title"))
        self.widget.setStyleSheet(theme.stylesheet(self.metrics))
        layout = QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        titles = " · ".join(t(f"view.{v[0]}") for v in plan.views)
        self.header = ScreenHeader(bridge, self.metrics, titles, self.widget)
        layout.addWidget(self.header)
        self.views: dict[str, Any] = {}
        if len(plan.views) == 1:
            view, interactive, _, _ = first
            w = _make_view(view, bridge, self.metrics, interactive)
            self.views[view] = w
            layout.addWidget(w, 1)
            self.tabs = None
        else:
            self.tabs = QTabWidget(self.widget)
            for view, interactive, _, _ in plan.views:
                w = _make_view(view, bridge, self.metrics, interactive)
                self.views[view] = w
                self.tabs.addTab(w, t(f"view.{view}"))
            layout.addWidget(self.tabs, 1)
        self.widget.setWindowFlag(Qt.WindowType.FramelessWindowHint, True)
        self.widget.setScreen(qscreen)
        # Exactly the screen: a view with a large minimum size must shrink or
        # clip inside it, never stretch the window onto the next panel.
        self.widget.setFixedSize(geo.size())
        self.widget.setGeometry(geo)
        self.widget.showFullScreen()

    def close(self) -> None:
        burn_in = getattr(self, "burn_in", None)
        if burn_in is not None:
            burn_in.stop()
        for w in self.views.values():
            close = getattr(w, "shutdown", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
        self.widget.close()
        self.widget.deleteLater()


def screen_infos(app: Any) -> tuple[list[ScreenInfo], list[Any]]:
    """The screens as the wall plans them (also for `commandcenter doctor`)."""
    screens = list(app.screens())
    primary = app.primaryScreen()
    # The primary screen first: leftover views land there.
    if primary in screens:
        screens.remove(primary)
        screens.insert(0, primary)
    infos = [
        ScreenInfo(s.name(), i, s.geometry().width(), s.geometry().height()) for i, s in enumerate(screens)
    ]
    return infos, screens


class WallController:
    """Builds the windows from the screen plan and follows screen changes."""

    def __init__(self, app: Any, bridge: Any, config: Any, alerts: Any = None, clock: Any = None) -> None:
        from PySide6.QtCore import QTimer

        self.app = app
        self.alerts = alerts
        #: Time for burn-in and night dimming (commandcenter.core.timeutil); tests set it.
        self.clock = clock
        self.bridge = bridge
        self.config = config
        self.windows: list[WallWindow] = []
        self._rebuild_timer = QTimer()
        self._rebuild_timer.setSingleShot(True)
        self._rebuild_timer.setInterval(300)  # screens often change in bursts
        self._rebuild_timer.timeout.connect(self.build)
        app.screenAdded.connect(lambda *_: self._rebuild_timer.start())
        app.screenRemoved.connect(lambda *_: self._rebuild_timer.start())
        self.rebuilds = 0

    def screen_infos(self) -> tuple[list[ScreenInfo], list[Any]]:
        return screen_infos(self.app)

    def build(self) -> None:
        for w in self.windows:
            w.close()
        self.windows = []
        infos, qscreens = self.screen_infos()
        for plan in plan_windows(list(self.config.screens), infos):
            window = WallWindow(plan, qscreens[plan.screen.index], self.bridge, self.config)
            if self.alerts is not None:
                from ui.alerts.controller import connect_map_acknowledge, decorate_window

                decorate_window(window, self.alerts)
                for view_name, view in window.views.items():
                    interactive = any(v[0] == view_name and v[1] for v in window.plan.views)
                    if interactive:
                        connect_queue_acknowledge(view, self.alerts)
                        connect_map_acknowledge(view, self.alerts)
            from ui.app.burnin import install_burn_in

            # After the banners: the night overlay must know them to leave them bright.
            window.burn_in = install_burn_in(window, self.config, clock=self.clock)
            self.windows.append(window)
        self.rebuilds += 1
        log.info(
            "wall windows: %s", [(w.plan.screen.name, [v[0] for v in w.plan.views]) for w in self.windows]
        )

    def screenshots(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        out = []
        for i, w in enumerate(self.windows):
            name = w.plan.screen.name or f"screen-{i + 1}"
            path = directory / f"{_safe(name)}.png"
            w.widget.grab().save(str(path))
            out.append(path)
        return out

    def placement(self) -> list[dict[str, Any]]:
        """Where each window is: for tests, `--placement-report` and doctor."""
        out = []
        for w in self.windows:
            screen = w.widget.screen()
            g, sg = w.widget.geometry(), screen.geometry()
            out.append(
                {
                    "screen": screen.name(),
                    "planned_screen": w.plan.screen.name,
                    "views": [v[0] for v in w.plan.views],
                    "window": [g.x(), g.y(), g.width(), g.height()],
                    "screen_geometry": [sg.x(), sg.y(), sg.width(), sg.height()],
                    "fullscreen": w.widget.isFullScreen(),
                    "frameless": bool(w.widget.windowFlags() & _frameless_flag()),
                    "banner": w.header.is_banner_shown(),
                }
            )
        return out

    def close(self) -> None:
        self._rebuild_timer.stop()
        for w in self.windows:
            w.close()
        self.windows = []


def connect_queue_acknowledge(view: Any, alerts: Any) -> bool:
    """On an interactive queue, a double-click on a row or its context action
    "Konfirmasi" acknowledges that incident's most urgent alert."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QAction

    from ui.support.i18n import t

    queue = getattr(view, "queue_widget", None) or view
    table = getattr(queue, "table", None)
    proxy = getattr(queue, "proxy", None)
    if table is None or proxy is None:
        return False

    def ack_row(index: Any) -> None:
        if index.isValid():
            alerts.acknowledge_incident(proxy.incident_id(index.row()))

    def ack_current() -> None:
        ack_row(table.currentIndex())

    table.doubleClicked.connect(ack_row)
    action = QAction(t("ack.button"), table)
    action.triggered.connect(ack_current)
    table.addAction(action)
    table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
    return True


def _frameless_flag() -> Any:
    from PySide6.QtCore import Qt

    return Qt.WindowType.FramelessWindowHint


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "screen"


# --- running -----------------------------------------------------------------------------


class DemoServer:
    """The reference server with the simulator, as a child process."""

    def __init__(
        self, data_dir: Path, speed: float, rate: float, seed: int, scenario: str, origin: Any = None
    ) -> None:
        from commandcenter.ops.selfexec import self_command

        self.proc = subprocess.Popen(
            # Not `python -m ...`: a frozen bundle runs its own executable.
            self_command(
                "serve",
                "--db",
                str(data_dir / "server.sqlite3"),
                "--port",
                "0",
                "--scenario",
                scenario,
                "--speed",
                str(speed),
                "--rate",
                str(rate),
                "--seed",
                str(seed),
                # The wall's WarpClock uses the same origin: both agree on "now".
                *(("--sim-origin", origin.isoformat()) if origin is not None else ()),
            ),
            stdout=subprocess.PIPE,
            stderr=open(data_dir / "server.log", "a"),  # noqa: SIM115 - the child keeps it
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("LISTENING "):
            self.proc.kill()
            raise RuntimeError(f"demo server did not start (see {data_dir / 'server.log'})")
        self.url = line.split()[1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.proc.stdout:
            self.proc.stdout.close()


async def run_wall(
    app: Any, args: argparse.Namespace, *, demo: bool, on_ready: Callable[[Any], None] | None = None
) -> int:
    import platformdirs

    from commandcenter.cli.runner import open_follower
    from commandcenter.config import APP_NAME, ConfigError, load_config
    from commandcenter.wall.feed import FatalFeedError, FeedSettings
    from ui.support.bridge import EngineBridge
    from ui.support.i18n import set_language

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"config error: {exc}\n")
        return 2
    set_language(args.lang or config.display.language)
    if demo and not config.map.boundary_geojson:
        config = _with_demo_boundaries(config)
    data_dir = Path(args.data_dir) if args.data_dir else Path(platformdirs.user_data_dir(APP_NAME))
    data_dir.mkdir(parents=True, exist_ok=True)
    server: DemoServer | None = None
    clock: Any = None
    origin: Any = None
    if demo and args.speed != 1.0:
        from commandcenter.core.timeutil import WarpClock

        origin = _demo_origin(data_dir, args.speed)
        clock = WarpClock(origin, args.speed)
    url = getattr(args, "server", None) or config.server.url
    token = getattr(args, "token", None) or config.server.token
    client: Any = None
    bridge: Any = None
    alerts: Any = None
    speech: Any = None
    controller: Any = None
    housekeeping: Any = None
    watchdog: Any = None
    code = 0
    try:
        # Set-up inside the try: a failure half-way (a view that cannot be
        # built, a journal that cannot open) still stops the demo server and
        # closes the journal, whose thread would otherwise keep the process alive.
        if demo:
            server = await asyncio.get_running_loop().run_in_executor(
                None, lambda: DemoServer(data_dir, args.speed, args.rate, args.seed, args.scenario, origin)
            )
            url, token = server.url, "demo-console"
        journal_path = (
            config.journal.resolved_path()
            if (config.journal.path and not demo)
            else data_dir / "wall-journal.sqlite3"
        )
        client_id = config.server.effective_client_id()
        settings = FeedSettings(
            url=url,
            token=token,
            client_id=client_id,
            # Mutes and acknowledgements name the console; without a configured
            # name the client id stands in, never an empty string.
            console=config.display.console_name or client_id,
            heartbeat_timeout_s=config.server.heartbeat_timeout_s,
            reconnect_min_s=config.server.reconnect_min_s,
            reconnect_max_s=config.server.reconnect_max_s,
            stable_after_s=config.server.stable_after_s,
            snapshot_every_events=config.journal.snapshot_every_events,
            snapshot_interval_s=config.journal.snapshot_interval_s,
        )
        client = await open_follower(str(journal_path), settings, config.journal, clock=clock)
        bridge = EngineBridge(config, client.store, client)
        alerts, speech = await _start_alerts(args, config, bridge, client, settings.console)
        controller = WallController(app, bridge, config, alerts=alerts)
        controller.build()
        feed_task = client.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        housekeeping = loop.create_task(_housekeeping(client, bridge), name="housekeeping")
        app.aboutToQuit.connect(stop.set)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        feed_task.add_done_callback(lambda t: None if t.cancelled() or t.exception() is None else stop.set())
        log.info(
            "wall up (pid %d): %d incidents from the journal at seq %d, feed %s, stale banner %s",
            os.getpid(),
            len(client.store.incidents),
            client.store.seq,
            client.status.state.value,
            "shown" if any(w.header.is_banner_shown() for w in controller.windows) else "hidden",
        )
        restart_reasons: list[str] = []
        watchdog = _start_watchdog(config, args, client, loop, restart_reasons, stop)
        if on_ready is not None:
            on_ready(controller)
        if args.run_for is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.run_for)
        else:
            await stop.wait()
        if (
            feed_task.done()
            and not feed_task.cancelled()
            and isinstance(feed_task.exception(), FatalFeedError)
        ):
            sys.stderr.write(f"wall: {feed_task.exception()}\n")
            code = 3
        elif restart_reasons:
            from commandcenter.ops.watchdog import EXIT_RESTART

            code = EXIT_RESTART
        if getattr(args, "placement_report", None):
            Path(args.placement_report).write_text(  # noqa: ASYNC240 - a few bytes at exit
                json.dumps(controller.placement(), indent=2)
            )
        if args.screenshot_dir:
            bridge.flush()
            paths = controller.screenshots(Path(args.screenshot_dir))
            sys.stdout.write("screenshots:\n" + "".join(f"  {p}\n" for p in paths))
    finally:
        if alerts is not None:
            alerts.shutdown()
            with contextlib.suppress(Exception):
                await alerts.drain()
        if speech is not None:
            speech.stop()
        if housekeeping is not None:
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
        if client is not None:
            await client.stop()
            with contextlib.suppress(Exception):
                await client.write_snapshot()
            await client.journal.close()
        if controller is not None:
            controller.close()
        if bridge is not None:
            bridge.shutdown()
        if server is not None:
            server.stop()
        if watchdog is not None:
            watchdog.stop()
    return code


def _start_watchdog(
    config: Any, args: argparse.Namespace, client: Any, loop: Any, reasons: list[str], stop: asyncio.Event
) -> Any:
    """The GUI-thread watchdog (ui.app.watchdog); a restart it asks for (from its
    own thread) ends the event loop cleanly, and the wall exits with 75."""
    from ui.app.watchdog import start_watchdog

    def restart(reason: str) -> None:
        reasons.append(reason)
        stop.set()

    return start_watchdog(
        config,
        getattr(args, "stats_file", None),
        lambda: str(client.status.state.value),
        lambda reason: loop.call_soon_threadsafe(restart, reason),
    )


async def _start_alerts(
    args: argparse.Namespace, config: Any, bridge: Any, client: Any, console: str
) -> tuple[Any, Any]:
    """Alert rules, tones and speech for this wall. The operator comes from
    --operator, else is asked at start on a wall with a console screen."""
    from commandcenter.wall.speech import SpeechWorker, speech_language
    from ui.alerts.controller import AlertController, SoundOutput, ask_operator

    operator = getattr(args, "operator", None) or ""
    has_console = any(sc.view == "console" for sc in config.screens)
    if not operator and has_console and not args.headless:
        operator = await ask_operator(config)
    if not operator and has_console:
        # Headless demo: the first configured operator.
        operator = config.display.operators[0] if config.display.operators else "operator"
    speech = None
    if config.speech.enabled:
        speech = SpeechWorker(config.speech, language=speech_language(config))
        try:
            # start() waits until the engine exists on its own thread.
            await asyncio.get_running_loop().run_in_executor(None, speech.start)
        except Exception:
            log.exception("speech worker could not start; tones only")
            speech = None
    alerts = AlertController(
        bridge,
        client.journal,
        operator=operator,
        console=console,
        audio=SoundOutput(),
        speech=speech,
        clock=bridge.store.clock,
    )
    return alerts, speech


def _demo_origin(data_dir: Path, speed: float) -> Any:
    """Origin of the demo's simulated clock, kept in the data dir so a demo run
    again on the same journals continues forward in simulated time instead of
    starting "now" behind incidents it already showed."""
    import datetime as dt

    from commandcenter.core.timeutil import utcnow

    path = data_dir / "demo-clock.json"
    try:
        saved = json.loads(path.read_text())
        if float(saved["speed"]) == speed:
            origin = dt.datetime.fromisoformat(saved["origin"])
            if origin.tzinfo is not None:
                return origin
    except (OSError, ValueError, KeyError, TypeError):
        pass  # none yet, or unreadable: start a new simulated clock
    origin = utcnow()
    path.write_text(json.dumps({"origin": origin.isoformat(), "speed": speed}))
    return origin


def _with_demo_boundaries(config: Any) -> Any:
    """The demo shows real district boundaries when the project's shared test
    data sits next to the checkout; the product itself never needs them."""
    import msgspec

    candidate = Path(__file__).resolve().parents[3] / "shared" / "data" / "oki-kecamatan.geojson"
    if not candidate.is_file():
        return config
    return msgspec.structs.replace(
        config, map=msgspec.structs.replace(config.map, boundary_geojson=str(candidate))
    )


async def _housekeeping(client: Any, bridge: Any) -> None:
    """Keep a wall that runs for months bounded: forget incidents closed long
    ago (they stay in today's figures) and prune the journal by age and size."""
    last_journal_prune = time.monotonic()
    while True:
        await asyncio.sleep(600)
        changes = client.store.prune(closed_older_than_s=6 * 3600)
        if changes:
            bridge.push_changes(changes)
        if time.monotonic() - last_journal_prune > 3600:
            last_journal_prune = time.monotonic()
            await client.write_snapshot()
            await client.journal.prune()


def wall_main(args: argparse.Namespace, *, demo: bool = False) -> int:
    headless = bool(args.headless)
    screens_file = args.screens
    if demo and not has_display() and not headless:
        headless = True
        if args.run_for is None:
            args.run_for = 60.0
        if not args.screenshot_dir:
            args.screenshot_dir = str(Path.cwd() / "demo-screenshots")
        sys.stdout.write(
            f"no display: running headless for {args.run_for:.0f} s; screenshots go to "
            f"{args.screenshot_dir}\n"
        )
    if headless and not screens_file:
        tmp = Path(tempfile.mkdtemp(prefix="oki112-screens-"))
        screens_file = str(tmp / "screens.json")
        Path(screens_file).write_text(json.dumps(DEMO_SCREENS))
    args.headless = headless
    prepare_environment(headless, screens_file)
    from ui.app.qtlog import start_wall_logging

    stop_logging = start_wall_logging(args)

    import PySide6.QtWebEngineWidgets  # noqa: F401  - must come before the QApplication
    import qasync
    from PySide6.QtWidgets import QApplication

    from commandcenter.ops.runtime import tune_gc

    tune_gc()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("oki-siaga-112-wall")
    app.setQuitOnLastWindowClosed(False)  # screens may all vanish for a moment
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with loop:
            code = loop.run_until_complete(run_wall(app, args, demo=demo))
        log.info("wall exits with code %s", code)
    finally:
        stop_logging()
    return int(code)


def add_wall_arguments(p: argparse.ArgumentParser, *, demo: bool) -> None:
    p.add_argument("--config", default=None, help="configuration file")
    p.add_argument("--headless", action="store_true", help="no display: Qt's offscreen platform")
    p.add_argument("--screens", default=None, help="offscreen screen layout (JSON) to run on")
    p.add_argument("--run-for", type=float, default=None, help="exit 0 after SECONDS")
    p.add_argument("--screenshot-dir", default=None, help="save one PNG per screen at the end")
    p.add_argument("--data-dir", default=None, help="journal and logs (default: the platform data dir)")
    p.add_argument("--lang", choices=["id", "en"], default=None, help="override display.language")
    p.add_argument("--operator", default=None, help="operator at this console (else asked at start)")
    p.add_argument("--server", default=None, help="server URL (overrides the config)")
    p.add_argument("--token", default=None, help="access token (overrides the config)")
    p.add_argument("--placement-report", default=None, help="write where each window went (JSON) at the end")
    p.add_argument(
        "--stats-file",
        default=None,
        help="append a JSON line of health figures (memory, GUI stalls, feed) each watchdog.check_interval_s",
    )
    p.add_argument(
        "--no-supervisor",
        action="store_true",
        help="run the wall in this process: no restart after a crash, freeze or memory limit (debugging)",
    )
    # Internal: set by the supervisor on the wall it starts.
    p.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)
    if demo:
        p.add_argument("--speed", type=float, default=10.0, help="simulated time runs X times faster")
        p.add_argument("--rate", type=float, default=2.0, help="incidents a minute in normal times")
        p.add_argument("--seed", type=int, default=112)
        p.add_argument("--scenario", default="mixed", choices=["normal", "flood", "karhutla", "mixed"])
