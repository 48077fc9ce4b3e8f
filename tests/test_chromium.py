"""QtWebEngine's Chromium settings come from one function (ui.support.chromium)
for the wall, the tests and the benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ui.support.chromium import CHROMIUM_FLAGS, V8_INITIAL_OLD_SPACE_MB, chromium_environment

ROOT = Path(__file__).resolve().parents[1]
V8 = f"--js-flags=--initial-old-space-size={V8_INITIAL_OLD_SPACE_MB}"


def test_adds_the_network_and_v8_flags_once() -> None:
    env: dict[str, str] = {}
    env.update(chromium_environment(env))
    assert env["QTWEBENGINE_CHROMIUM_FLAGS"].split() == [*CHROMIUM_FLAGS, V8]
    env.update(chromium_environment(env))  # idempotent: the wall and the map view both apply it
    assert env["QTWEBENGINE_CHROMIUM_FLAGS"].split() == [*CHROMIUM_FLAGS, V8]


def test_keeps_flags_given_by_whoever_starts_the_wall() -> None:
    env = {"QTWEBENGINE_CHROMIUM_FLAGS": "--disable-component-update --js-flags=--max-old-space-size=512"}
    env.update(chromium_environment(env))
    assert env["QTWEBENGINE_CHROMIUM_FLAGS"].split() == [
        "--disable-component-update", "--js-flags=--max-old-space-size=512", "--disable-background-networking"
    ]


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX only")
def test_sandbox_is_off_only_for_root() -> None:
    assert ("QTWEBENGINE_DISABLE_SANDBOX" in chromium_environment({})) == (os.geteuid() == 0)
    # An explicit choice stays.
    assert "QTWEBENGINE_DISABLE_SANDBOX" not in chromium_environment({"QTWEBENGINE_DISABLE_SANDBOX": "0"})


def test_the_environment_given_is_not_changed() -> None:
    env = {"QTWEBENGINE_CHROMIUM_FLAGS": "--foo"}
    assert chromium_environment(env)["QTWEBENGINE_CHROMIUM_FLAGS"].split() == ["--foo", *CHROMIUM_FLAGS, V8]
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
    assert out[-2].split() == out[-1].split() == [*CHROMIUM_FLAGS, V8]
