"""In-process walls against the real server, shared by the alert and map tests.

Each wall has its own engine session (journal, feed, alert service), an
EngineBridge, an AlertAdapter and widgets, all under one qasync loop in the
test process (``run_qasync``), against the real `commandcenter serve` in a
subprocess. ``two_walls`` is the usual set-up: an operator console and a plain
wall on the same server. Waits are on
the walls' signals and a deadline (``until``), never on fixed sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from commandcenter.config import Config
from commandcenter.core.timeutil import utcnow
from commandcenter.wall.alerting import AlertService
from commandcenter.wall.feed import FeedClient, FeedSettings, FeedState
from commandcenter.wall.session import WallSession
from tests.serverproc import CONSOLE, WALL, ServerProcess
from ui.alerts.adapter import AlertAdapter
from ui.alerts.banner import AlertBanner, AudioStatusMark, MuteMark, make_marks
from ui.alerts.sound import SoundOutput
from ui.support import theme
from ui.support.bridge import EngineBridge
from ui.views.console import ConsoleView
from ui.views.header import ScreenHeader

#: An operator console read from 0.8 m.
METRICS = theme.metrics_for(1920, 1080, 24, 0.8)


def run_qasync(qapp: Any, coro_fn: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``coro_fn()`` to completion in a fresh qasync loop on ``qapp`` (as
    the wall does), and close that loop so the next test starts clean."""
    import qasync

    loop = qasync.QEventLoop(qapp, already_running=False)
    try:
        return loop.run_until_complete(coro_fn())
    finally:
        loop.close()
        asyncio.set_event_loop(None)


def add_marks(header: ScreenHeader, adapter: AlertAdapter) -> tuple[AudioStatusMark, MuteMark]:
    """The no-audio and muted marks in a header, as the wall's windows put them."""
    audio_mark, mute_mark = make_marks(adapter, header.metrics)
    header.add_mark(mute_mark)
    header.add_mark(audio_mark)
    audio_mark.refresh()
    mute_mark.refresh()
    return audio_mark, mute_mark


@dataclass
class Wall:
    """One in-process wall: engine session, bridge, alert adapter, widgets."""

    session: WallSession
    bridge: EngineBridge
    audio: SoundOutput
    controller: AlertAdapter
    banner: AlertBanner
    headers: list[ScreenHeader]
    #: (no audio, muted) marks of each header.
    marks: list[tuple[AudioStatusMark, MuteMark]]
    console_view: ConsoleView | None = None
    offset_s: list[float] = field(default_factory=lambda: [0.0])
    states: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def client(self) -> FeedClient:
        return self.session.feed

    @property
    def service(self) -> AlertService:
        return self.session.alerts

    @property
    def engine(self) -> Any:
        return self.service.engine

    async def close(self) -> None:
        self.controller.shutdown()
        self.bridge.shutdown()
        await self.session.close()
        # The widgets are qtbot's: it closes them after the test.


async def make_wall(
    qtbot: Any, tmp_path: Path, config: Config, url: str, name: str, *, console: str, operator: str,
    token: str = CONSOLE, headers: int = 1, coalesce_ms: int = 16,
) -> Wall:  # fmt: skip
    """A started wall named ``name`` (its journal is tmp_path/<name>.sqlite3);
    with ``console`` an operator console view with the banner, without it a
    plain wall's banner. Its clock is real time plus ``wall.offset_s[0]``."""
    offset = [0.0]

    def clock() -> dt.datetime:
        return utcnow() + dt.timedelta(seconds=offset[0])

    session = await WallSession.open(
        config,
        tmp_path / f"{name}.sqlite3",
        FeedSettings(
            url=url, token=token, client_id=name, console=console, heartbeat_timeout_s=1.5,
            reconnect_min_s=0.05, reconnect_max_s=0.3,
        ),
        clock=clock,
        operator=operator,
    )  # fmt: skip
    bridge = EngineBridge(config, session.store, session.feed, coalesce_ms=coalesce_ms)
    audio = SoundOutput(tmp_path / "tones")
    controller = AlertAdapter(session.alerts, bridge, audio=audio)
    view: ConsoleView | None = None
    if console:
        banner = AlertBanner(controller, METRICS, interactive=True)
        view = ConsoleView(bridge, METRICS, banner=banner)
        view.resize(1920, 900)
        qtbot.addWidget(view)
        view.show()
    else:
        banner = AlertBanner(controller, METRICS, interactive=False)
        qtbot.addWidget(banner)
        banner.show()
    hdrs, marks = [], []
    for i in range(headers):
        h = ScreenHeader(bridge, METRICS, f"{name} {i}")
        marks.append(add_marks(h, controller))
        qtbot.addWidget(h)
        h.show()
        hdrs.append(h)
    wall = Wall(session, bridge, audio, controller, banner, hdrs, marks, view, offset)
    banner.state_changed.connect(
        lambda state: wall.states.append((state, wall.banner.alert_id in session.store.acks))
    )
    session.start()
    return wall


async def until(walls: list[Wall], pred: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait until ``pred()`` holds, re-checking on every signal the walls give."""
    poked = asyncio.Event()

    def poke(*_: Any) -> None:
        poked.set()

    hooks = []
    for w in walls:
        for sig in (
            w.bridge.changed, w.bridge.tick, w.bridge.feed_status_changed, w.bridge.command_result,
            w.controller.alerts_changed, w.controller.ack_pending_changed, w.controller.muted_changed,
        ):  # fmt: skip
            sig.connect(poke)
            hooks.append(sig)
    try:
        async with asyncio.timeout(timeout):
            while not pred():
                poked.clear()
                await poked.wait()
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
    finally:
        for sig in hooks:
            sig.disconnect(poke)


def settled(w: Wall) -> bool:
    """Live, and nothing waiting in the bridge for the views."""
    return w.client.status.state is FeedState.LIVE and w.bridge.pending_since is None


@contextlib.asynccontextmanager
async def two_walls(
    qtbot: Any, tmp_path: Path, config: Config, *, headers: int = 1
) -> AsyncIterator[tuple[ServerProcess, Wall, Wall]]:
    """The real server (tmp_path/server.sqlite3), operator Sari's console
    "meja-1" and a plain wall "wall-2", both live; closed and stopped after."""
    server = ServerProcess(tmp_path / "server.sqlite3", heartbeat=0.3).start()
    walls: list[Wall] = []
    try:
        roles = (("meja-1", "meja-1", "Sari", CONSOLE), ("wall-2", "", "", WALL))
        for name, console, operator, token in roles:
            wall = await make_wall(
                qtbot, tmp_path, config, server.url, name, console=console, operator=operator,
                token=token, headers=headers,
            )  # fmt: skip
            walls.append(wall)
        await until(walls, lambda: all(settled(w) for w in walls), "both walls live")
        yield server, walls[0], walls[1]
    finally:
        for w in walls:
            await w.close()
        server.stop()


# --- the map page: ask it, and look at what it painted --------------------------------


async def js(view: Any, expression: str) -> Any:
    """The JSON value of ``expression`` in a MapView's page."""
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    view.run_js_json(expression, lambda value: done.done() or done.set_result(value))
    return await asyncio.wait_for(done, 30)


async def wait_js(view: Any, expression: str, pred: Callable[[Any], bool], what: str,
                  timeout: float = 30.0) -> Any:  # fmt: skip
    """Ask the page until ``pred`` holds for the answer, re-asking after each
    batch the page confirms (or at the latest after 0.2 s: a popup opening
    after a zoom animation confirms nothing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    poked = asyncio.Event()
    view.batch_applied.connect(lambda *_: poked.set())
    while True:
        poked.clear()
        value = await js(view, expression)
        if pred(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}: last {value!r}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(poked.wait(), 0.2)


def count_colour(image: Any, colour: str, step: int = 2) -> int:
    """Pixels (on a ``step`` grid) within a small tolerance of ``colour``."""
    from PySide6.QtGui import QColor

    want = QColor(colour)
    n = 0
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            c = image.pixelColor(x, y)
            n += abs(c.red() - want.red()) + abs(c.green() - want.green()) + abs(c.blue() - want.blue()) < 24
    return n


async def wait_painted(view: Any, colour: str, what: str, minimum: int = 200, *,
                       fewer_than: int | None = None, step: int = 2) -> Any:  # fmt: skip
    """The view's pixels once ``colour`` covers some area (or, with ``fewer_than``, once it
    has almost gone): the page paints after it answered, so the DOM being there does not
    mean it is on screen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        image = view.grab().toImage()
        n = count_colour(image, colour, step)
        if (n < fewer_than) if fewer_than is not None else (n >= minimum):
            return image
        if loop.time() > deadline:
            raise AssertionError(f"{what} never painted")
        await js(view, "1")  # one round trip to the page: it gets to paint meanwhile
