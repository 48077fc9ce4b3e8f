"""A wall whose set-up fails half-way still lets go of what it opened.

Found with a broken bundle: a view that could not be built left the journal's
SQLite thread (not a daemon) and the demo server running, and the process hung
instead of exiting for the supervisor to restart it.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.serverproc import CONSOLE, ServerProcess
from tests.ui.test_alerts_ui import QT_MULTIMEDIA_WITHOUT_SOUND

pytestmark = [pytest.mark.qt, pytest.mark.qt_log_ignore(*QT_MULTIMEDIA_WITHOUT_SOUND)]


def test_a_view_that_cannot_be_built_closes_the_journal(
    qapp: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qasync

    from ui import app as wall_app
    from ui.app import add_wall_arguments, run_wall

    def broken_build(self: Any) -> None:
        raise RuntimeError("map view cannot be built")

    monkeypatch.setattr(wall_app.WallController, "build", broken_build)
    server = ServerProcess(tmp_path / "server.sqlite3").start()
    parser = argparse.ArgumentParser()
    add_wall_arguments(parser, demo=False)
    args = parser.parse_args(
        ["--headless", "--server", server.url, "--token", CONSOLE, "--operator", "Sari",
         "--data-dir", str(tmp_path / "data"), "--run-for", "30"]
    )  # fmt: skip
    before = {t.ident for t in threading.enumerate()}
    loop = qasync.QEventLoop(qapp, already_running=False)
    try:
        with pytest.raises(RuntimeError, match="cannot be built"):
            loop.run_until_complete(run_wall(qapp, args, demo=False))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        server.stop()
    # Nothing the wall started keeps the process alive.
    left = [t for t in threading.enumerate() if t.ident not in before and not t.daemon and t.is_alive()]
    assert not left, [t.name for t in left]
    journal = tmp_path / "data" / "wall-journal.sqlite3"
    with sqlite3.connect(journal) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
