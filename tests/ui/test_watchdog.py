"""The watchdog in the real wall: a freeze restarted by the supervisor, a
memory limit ending the wall cleanly, and the GUI beat itself.

The restart cycle runs `commandcenter wall` as it runs on a wall PC (the
supervisor, the wall as its child, QtWebEngine renderers under it) against
the real reference server; a test-only hook freezes the first wall's GUI
thread once its feed is live. Every wait is on a file the processes write
(stats lines, log lines), with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from commandcenter.ops.watchdog import EXIT_RESTART
from tests.conftest import ROOT
from tests.serverproc import CONSOLE, ServerProcess
from tests.waits import process_gone, wait_for
from ui.app.watchdog import TEST_FREEZE_ENV

pytestmark = [pytest.mark.slow]

CONFIG = """config_version = 1
[watchdog]
stall_limit_s = 2.0
check_interval_s = 0.5
min_restart_interval_s = 0.0
{extra}
[speech]
enabled = false
[[screens]]
name = "S1-map"
index = 0
view = "map"
[[screens]]
name = "S2-operations"
index = 1
view = "operations"
"""


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        # The last line may be half written while we read.
        if line.endswith("}"):
            out.append(json.loads(line))
    return out


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _tree(pid: int) -> list[int]:
    try:
        return [pid] + [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _wall_command(tmp_path: Path, url: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ui.app.cli",
        "wall",
        "--headless",
        "--config",
        str(tmp_path / "config.toml"),
        "--server",
        url,
        "--token",
        CONSOLE,
        "--data-dir",
        str(tmp_path / "data"),
        "--stats-file",
        str(tmp_path / "stats.jsonl"),
        *extra,
    ]


def test_a_frozen_wall_is_restarted_and_comes_back_from_its_journal_then_live(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(CONFIG.format(extra=""))
    stats = tmp_path / "stats.jsonl"
    logs = tmp_path / "data" / "logs"
    server = ServerProcess(tmp_path / "server.sqlite3", scenario="mixed", speed=30, rate=3).start()
    env = dict(os.environ, COMMANDCENTER_CONFIG="", **{TEST_FREEZE_ENV: str(tmp_path / "froze-once")})
    with open(tmp_path / "stderr.txt", "w") as err:
        sup = subprocess.Popen(
            _wall_command(tmp_path, server.url, "--placement-report", str(tmp_path / "placement.json")),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    everything: set[int] = set()
    try:
        # The first wall goes live; its renderers are noted, then it freezes.
        first = wait_for(
            lambda: next((ln["pid"] for ln in _lines(stats) if ln["feed_state"] == "live"), None),
            90, "the first wall live", sup,
        )
        everything.update(_tree(first))
        assert first != sup.pid and first in _tree(sup.pid)
        wait_for(lambda: "asked for a restart (exit code 75)" in _text(logs / "supervisor.log"),
                  60, "the restart in the supervisor's log", sup)
        sup_log = _text(logs / "supervisor.log")
        assert "watchdog: the GUI thread has not answered for 2." in sup_log
        assert "--supervised" in sup_log
        wall_log = _text(logs / "wall.log")
        assert 'Thread "MainThread"' in wall_log and "_freeze_when_live" in wall_log
        # The second wall: the journal's state at once, stale, then live.
        second = wait_for(
            lambda: next((ln["pid"] for ln in _lines(stats) if ln["pid"] != first), None),
            60, "a new wall", sup,
        )
        wait_for(lambda: f"wall up (pid {second})" in _text(logs / "wall.log"), 60, "the new wall up", sup)
        up = next(ln for ln in _text(logs / "wall.log").splitlines() if f"wall up (pid {second})" in ln)
        incidents = int(up.split("): ")[1].split()[0])
        assert incidents > 0, up
        assert "stale banner shown" in up and "feed offline" in up
        wait_for(
            lambda: any(ln["pid"] == second and ln["feed_state"] == "live" for ln in _lines(stats)),
            60, "the new wall live", sup,
        )
        assert all(process_gone(p) for p in everything), "the frozen wall left processes behind"
        everything.update(_tree(sup.pid))
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(60) == 0, _text(tmp_path / "stderr.txt")[-3000:]
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait(10)
        server.stop()
    wait_for(lambda: all(process_gone(p) for p in everything), 15, "every process of the wall gone")
    # The restarted wall, stopped while live, showed no stale banner.
    placement = json.loads((tmp_path / "placement.json").read_text())
    assert placement and not any(p["banner"] for p in placement)
    assert "supervisor stopping on SIGTERM" in _text(logs / "supervisor.log")


def test_memory_over_the_limit_ends_the_wall_cleanly_with_75(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(CONFIG.format(extra="memory_limit_mb = 1"))
    server = ServerProcess(tmp_path / "server.sqlite3", scenario="mixed", speed=30, rate=3).start()
    try:
        out = subprocess.run(
            [*_wall_command(tmp_path, server.url), "--no-supervisor"],
            cwd=ROOT,
            env=dict(os.environ, COMMANDCENTER_CONFIG=""),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        server.stop()
    assert out.returncode == EXIT_RESTART, out.stderr[-3000:]
    wall_log = _text(tmp_path / "data" / "logs" / "wall.log")
    assert "is over the limit of 1 MB; restarting cleanly" in wall_log
    assert "wall exits with code 75" in wall_log
    assert not (tmp_path / "data" / "logs" / "supervisor.log").exists()
    # A clean end: the journal was closed (its WAL checkpointed away).
    assert not (tmp_path / "data" / "wall-journal.sqlite3-wal").exists()
