"""A wall with two servers: the stale banner is up while it is away from a
killed server, the header names the server it is on, and the banner goes
once the other server carries it (real servers on loopback, a real header)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from commandcenter.config import Config
from commandcenter.wall.feed import FeedSettings, FeedState
from commandcenter.wall.session import WallSession
from tests.serverproc import WALL, ServerProcess, admin_inject
from tests.test_feed import incident_bodies
from tests.ui.walls import METRICS, run_qasync
from ui.support.bridge import EngineBridge
from ui.support.text import plain_tooltip
from ui.views.header import ScreenHeader

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _scenario(qtbot: Any, tmp_path: Path, config: Config) -> None:
    db = tmp_path / "server.sqlite3"
    a = ServerProcess(db, heartbeat=0.3).start()
    b_port = _free_port()
    b_url = f"ws://127.0.0.1:{b_port}/"
    b: ServerProcess | None = None
    session = await WallSession.open(
        config, tmp_path / "wall.sqlite3",
        FeedSettings(
            url=a.url, urls=(a.url, b_url), token=WALL, client_id="failover-ui", heartbeat_timeout_s=1.5,
            reconnect_min_s=0.05, reconnect_max_s=0.3,
        ),
        alerts=False,
    )  # fmt: skip
    bridge = EngineBridge(config, session.store, session.feed)
    header = ScreenHeader(bridge, METRICS, "Papan Operasi")
    header.resize(1920, 200)
    qtbot.addWidget(header)
    header.show()
    changed = asyncio.Event()
    bridge.feed_status_changed.connect(lambda *_: changed.set())
    bridge.tick.connect(lambda: changed.set())

    async def until(pred: Any, what: str, timeout: float = 30.0) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not pred():
                    changed.clear()
                    await changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    client = session.feed

    def live() -> bool:
        return client.status.state is FeedState.LIVE and not header.is_banner_shown()

    session.start()
    try:
        await admin_inject(a.url, incident_bodies(5, "a"))
        await until(live, "live on A")
        await until(lambda: f"127.0.0.1:{a.port}" in header.feed_label.text(), "A named in the header")
        a.kill()
        await until(header.is_banner_shown, "banner while away")
        assert header.banner.isVisible() and header.banner.height() > 0
        b = ServerProcess(db, port=b_port, heartbeat=0.3).start()
        await until(live, "live on B")
        await until(lambda: f"127.0.0.1:{b_port}" in header.feed_label.text(), "B named in the header")
        assert header.feed_label.toolTip() == plain_tooltip(b_url)
    finally:
        bridge.shutdown()
        await session.close()
        a.kill()
        if b is not None:
            b.stop()


@pytest.mark.own_process  # a qasync loop over QtWebEngine: see tests/conftest.py
def test_stale_banner_while_failing_over_and_the_server_named(
    qapp: Any, qtbot: Any, tmp_path: Path, config: Config
) -> None:
    run_qasync(qapp, lambda: _scenario(qtbot, tmp_path, config))
