"""A wall whose set-up fails half-way still lets go of what it opened.

Found with a broken bundle: a view that could not be built left the journal's
SQLite thread (not a daemon) running, and the process hung instead of exiting
for the supervisor to restart it. Runs the real wall in a child process: the
point is that the process ends.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.serverproc import CONSOLE, ServerProcess


def test_a_view_that_cannot_be_built_closes_the_journal_and_the_process_ends(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server.sqlite3").start()
    try:
        out = subprocess.run(
            [sys.executable, "-m", "tests.ui.wall_setup_child", "wall", "--no-supervisor", "--headless",
             "--server", server.url, "--token", CONSOLE, "--operator", "Sari",
             "--data-dir", str(tmp_path / "data"), "--run-for", "60"],
            cwd=ROOT, env=dict(os.environ, QTWEBENGINE_DISABLE_SANDBOX="1"),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        server.stop()
    assert "RAISED map view cannot be built" in out.stdout, out.stdout + out.stderr
    assert "THREADS LEFT []" in out.stdout, out.stdout
    assert out.returncode == 0, out.stderr
    with sqlite3.connect(tmp_path / "data" / "wall-journal.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
