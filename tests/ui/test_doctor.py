"""`commandcenter doctor` with Qt: the screens (and the view each gets) and the
audio output, through the real `commandcenter doctor` process on an offscreen
layout, against the real server process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commandcenter.config import load_defaults
from commandcenter.core.i18n import strings_for
from tests.conftest import ROOT
from tests.serverproc import WALL, ServerProcess
from ui.app.wall import DEMO_SCREENS

pytestmark = [pytest.mark.qt]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("doctor-ui") / "server.sqlite3").start()
    yield srv
    srv.stop()


def run_doctor(tmp_path: Path, *args: str, config: str = "") -> tuple[int, dict[str, Any], str]:
    (tmp_path / "screens.json").write_text(json.dumps(DEMO_SCREENS))
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'config_version = 1\n[logging]\ndir = "{tmp_path / "logs"}"\n' + config)
    out = subprocess.run(
        [sys.executable, "-m", "ui.app.cli", "doctor", "--screens", str(tmp_path / "screens.json"),
         "--config", str(cfg), "--data-dir", str(tmp_path / "data"), "--json", *args],
        cwd=ROOT, env=dict(os.environ, COMMANDCENTER_CONFIG=""), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert out.stdout.startswith("{"), out.stdout + out.stderr
    report = json.loads(out.stdout)
    return out.returncode, {c["key"]: c for c in report["checks"]}, out.stderr


def test_four_headless_screens_each_get_their_view(server: ServerProcess, tmp_path: Path) -> None:
    code, checks, stderr = run_doctor(tmp_path, "--server", server.url, "--token", WALL)
    screens = checks["screens"]
    assert screens["status"] == "ok", screens
    rows = screens["data"]["screens"]
    # The default room layout (four-panels) on four screens.
    assert [(r["name"], r["views"]) for r in rows] == [
        ("S1-map", ["map"]),
        ("S2-operations", ["queue"]),
        ("S3-leader", ["leader", "agencies"]),
        ("S4-console", ["console"]),
    ]
    assert [r["geometry"] for r in rows] == [[1920 * i, 0, 1920, 1080] for i in range(4)]
    assert all(r["physical_mm"][0] > 0 for r in rows)
    assert rows[0]["primary"] and not any(r["primary"] for r in rows[1:])
    assert "S2-operations [1920x1080" in screens["detail"] and "]: queue" in screens["detail"]
    assert checks["layout"]["status"] == "ok" and checks["layout"]["data"]["layout"] == "four-panels"
    assert checks["server"]["status"] == "ok"
    # Nothing failed (no journal yet and no audio here are warnings): exit 0.
    assert all(c["status"] != "fail" for c in checks.values()), checks
    assert code == 0, stderr[-2000:]
    # QtMultimedia's list of missing optional back-ends is kept out of the report.
    assert "symbolsresolver" not in stderr


def test_a_configured_screen_that_is_missing_is_a_warning(server: ServerProcess, tmp_path: Path) -> None:
    extra = (
        '[[screens]]\nname = "S1-map"\nview = "map"\n'
        '[[screens]]\nname = "BOARD-9"\nindex = 9\nview = "leader"\n'
    )
    _, checks, _ = run_doctor(tmp_path, "--server", server.url, "--token", WALL, "--lang", "en", config=extra)
    screens = checks["screens"]
    assert screens["status"] == "warn"
    assert screens["data"]["missing"] == ["leader (BOARD-9)"]
    assert "not found: leader (BOARD-9)" in screens["detail"]
    # The leader view still shows: on the primary screen, with the map.
    assert screens["data"]["screens"][0]["views"] == ["map", "leader"]


def test_audio_check_tells_the_truth(qapp: Any) -> None:
    from PySide6.QtMultimedia import QMediaDevices

    from ui.app.doctor import check_audio

    check = check_audio(strings_for("id"))
    outputs = QMediaDevices.audioOutputs()
    if outputs and not QMediaDevices.defaultAudioOutput().isNull():
        assert check.status == "ok"
        assert QMediaDevices.defaultAudioOutput().description() in check.detail
    else:
        # This machine (and CI): no sound card. A warning, documented in
        # docs/operations.md: a wall screen may be silent by design.
        assert check.status == "warn"
        assert "tidak ada perangkat keluaran audio" in check.detail
        assert check.data["outputs"] == []


def test_screens_in_this_process_follow_the_wall_plan(qapp: Any) -> None:
    from ui.app.doctor import check_screens

    check = check_screens(qapp, load_defaults(), strings_for("en"))
    # The test platform has one screen: every view joins it, as the wall does.
    assert [r["views"] for r in check.data["screens"]] == [["map", "queue", "leader", "agencies", "console"]]
    assert check.status == "warn"
    assert check.data["missing"] == ["queue (#1)", "leader+agencies (#2)", "console (#3)"]


