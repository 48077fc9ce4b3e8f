"""QtWebEngine's Chromium settings come from one function (ui.support.chromium)
for the wall, the tests and the benchmarks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ui.support.chromium import CHROMIUM_FLAGS, LOG_LEVEL_FLAG, V8_INITIAL_OLD_SPACE_MB, chromium_environment

ROOT = Path(__file__).resolve().parents[1]
V8 = f"--js-flags=--initial-old-space-size={V8_INITIAL_OLD_SPACE_MB}"


def test_adds_the_network_and_v8_flags_once() -> None:
    env: dict[str, str] = {}
    env.update(chromium_environment(env))
    assert env["QTWEBENGINE_CHROMIUM_FLAGS"].split() == [*CHROMIUM_FLAGS, LOG_LEVEL_FLAG, V8]
    env.update(chromium_environment(env))  # idempotent: the wall and the map view both apply it
    assert env["QTWEBENGINE_CHROMIUM_FLAGS"].split() == [*CHROMIUM_FLAGS, LOG_LEVEL_FLAG, V8]


def test_keeps_flags_given_by_whoever_starts_the_wall() -> None:
    env = {"QTWEBENGINE_CHROMIUM_FLAGS": "--disable-component-update --js-flags=--max-old-space-size=512"}
    env.update(chromium_environment(env))
    assert env["QTWEBENGINE_CHROMIUM_FLAGS"].split() == [
        "--disable-component-update", "--js-flags=--max-old-space-size=512",
        "--disable-background-networking", LOG_LEVEL_FLAG,
    ]
    # A log level given is kept (to see Chromium's messages while debugging).
    env = {"QTWEBENGINE_CHROMIUM_FLAGS": "--log-level=0"}
    assert LOG_LEVEL_FLAG not in chromium_environment(env)["QTWEBENGINE_CHROMIUM_FLAGS"].split()


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX only")
def test_sandbox_is_off_only_for_root() -> None:
    assert ("QTWEBENGINE_DISABLE_SANDBOX" in chromium_environment({})) == (os.geteuid() == 0)
    # An explicit choice stays.
    assert "QTWEBENGINE_DISABLE_SANDBOX" not in chromium_environment({"QTWEBENGINE_DISABLE_SANDBOX": "0"})


def test_the_environment_given_is_not_changed() -> None:
    env = {"QTWEBENGINE_CHROMIUM_FLAGS": "--foo"}
    flags = chromium_environment(env)["QTWEBENGINE_CHROMIUM_FLAGS"].split()
    assert flags == ["--foo", *CHROMIUM_FLAGS, LOG_LEVEL_FLAG, V8]
    assert env == {"QTWEBENGINE_CHROMIUM_FLAGS": "--foo"}


def test_the_wall_and_the_map_view_set_the_same_flags() -> None:
    """In a fresh process: the wall's start-up and importing the map view give
    Chromium exactly the shared flags (no copy of its own anywhere)."""
    script = (
        "import os\n"
        "from ui.app.wall import prepare_environment\n"
        "prepare_environment(headless=True, screens_file=None)\n"
        "wall = os.environ['QTWEBENGINE_CHROMIUM_FLAGS']\n"
        "del os.environ['QTWEBENGINE_CHROMIUM_FLAGS']\n"
        "import ui.views.map.view\n"
        "print(wall)\n"
        "print(os.environ['QTWEBENGINE_CHROMIUM_FLAGS'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "QTWEBENGINE_CHROMIUM_FLAGS"}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        check=True,
    ).stdout.splitlines()
    assert out[-2].split() == out[-1].split() == [*CHROMIUM_FLAGS, LOG_LEVEL_FLAG, V8]


def test_chromium_says_nothing_on_the_terminal_at_start() -> None:
    """A real QtWebEngine page in a fresh process with the shared flags: none of Chromium's own
    ERROR or WARNING lines on stderr (on this machine kind, without a system D-Bus, it printed
    "Failed to connect to the bus" at every start). Qt's messages are the wall's log's business."""
    script = (
        "import os\n"
        "from ui.support.chromium import chromium_environment\n"
        "os.environ.update(chromium_environment(os.environ))\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from PySide6.QtWebEngineWidgets import QWebEngineView\n"
        "app = QApplication([])\n"
        "view = QWebEngineView()\n"
        "view.loadFinished.connect(lambda ok: (print('loaded', ok, flush=True), app.quit()))\n"
        "view.setHtml('<p>OKI</p>')\n"
        "view.show()\n"
        "app.exec()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "QTWEBENGINE_CHROMIUM_FLAGS"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert "loaded True" in done.stdout, done.stderr
    chromium = re.findall(r"^\[\d+:\d+:\d+/[\d.]+:(?:ERROR|WARNING):.*$", done.stderr, re.M)
    assert chromium == []
