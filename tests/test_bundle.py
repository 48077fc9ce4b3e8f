"""The PyInstaller bundle: built from packaging/oki-siaga-112.spec and run for real.

The bundle is built once into build/bundle-test/ and reused while the sources,
the spec and the tool versions are unchanged (packaging/build_bundle.py keeps a
stamp), so a second `make test` does not rebuild. A cold build takes about 35 s
on the 2-core CI machine.

The bundled executable then runs the wall headless against the real reference
server (a venv process), and the bundled `demo` starts its own server through
commandcenter.ops.selfexec (the bundle's executable, not `python -m`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from commandcenter.ops.selfexec import ENGINE_MODULE, FULL_MODULE, self_command
from tests.conftest import ROOT
from tests.serverproc import WALL, ServerProcess, export

# The first test also builds the bundle (about a minute cold, more on a busy machine).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

BUILD = ROOT / "build" / "bundle-test"
# The headless wall's default layout (ui.app.wall.DEMO_SCREENS): four 1080p screens.
# The four-panels preset: the offscreen screens are named after what they show.
SHOTS = ("S1-map", "S2-queue", "S3-leader-agencies", "S4-console")


@pytest.fixture(scope="module")
def bundle_exe() -> Path:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "packaging" / "build_bundle.py"),
            "--dist",
            str(BUILD / "dist"),
            "--work",
            str(BUILD / "work"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    exe = Path(out.stdout.strip().splitlines()[-1])
    assert exe.is_file() and os.access(exe, os.X_OK), exe
    return exe


def _env(tmp_path: Path) -> dict[str, str]:
    """The bundle sees no user config and writes its caches under tmp_path."""
    env = dict(
        os.environ,
        COMMANDCENTER_CONFIG="",
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        XDG_CACHE_HOME=str(tmp_path / "xdg-cache"),
        XDG_DATA_HOME=str(tmp_path / "xdg-data"),
        XDG_STATE_HOME=str(tmp_path / "xdg-state"),
    )
    # The bundle must not lean on the checkout or the venv.
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(var, None)
    return env


def _rgb(path: Path) -> np.ndarray:
    img = QImage(str(path))
    assert not img.isNull(), path
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    h, w = img.height(), img.width()
    raw = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.sizeInBytes())
    # copy(): the array must not outlive the QImage's buffer.
    return raw.reshape(h, img.bytesPerLine())[:, : w * 3].reshape(h, w, 3).copy()


def _content(rgb: np.ndarray) -> tuple[int, float]:
    """Below the header: (distinct colours at 4 bits a channel, share of pixels
    that are not the background colour)."""
    body = rgb[int(rgb.shape[0] * 0.12) :] // 16
    keys = body[..., 0].astype(np.int32) * 256 + body[..., 1].astype(np.int32) * 16 + body[..., 2]
    _, counts = np.unique(keys, return_counts=True)
    return len(counts), 1.0 - counts.max() / counts.sum()


def _check_screenshots(shots: Path) -> None:
    for name in SHOTS:
        rgb = _rgb(shots / f"{name}.png")
        assert rgb.shape == (1080, 1920, 3), (name, rgb.shape)
        assert rgb.std() > 10, f"{name} is blank"
        colours, _ = _content(rgb)
        assert colours > 12, f"{name} shows almost nothing ({colours} colours)"
    # The map screen shows the map itself (labels, markers, clusters drawn by
    # Leaflet from the bundled xstatic files), not an empty web view.
    colours, covered = _content(_rgb(shots / "S1-map.png"))
    assert colours > 60 and covered > 0.02, f"map looks empty: {colours} colours, {covered:.1%} covered"


def test_self_command_runs_the_same_installation() -> None:
    # From the venv: python -m <module>; the bundle is covered by the demo test below.
    assert self_command("serve", "--port", "0") == [
        sys.executable,
        "-m",
        ENGINE_MODULE,
        "serve",
        "--port",
        "0",
    ]
    assert self_command("wall", module=FULL_MODULE)[:3] == [sys.executable, "-m", "ui.app.cli"]


def test_bundled_wall_runs_headless_against_the_server(bundle_exe: Path, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server.sqlite3", scenario="mixed", speed=30, rate=3).start()
    try:
        out = subprocess.run(
            [
                str(bundle_exe),
                "wall",
                "--headless",
                "--run-for",
                "8",
                "--screenshot-dir",
                str(tmp_path / "shots"),
                "--server",
                server.url,
                "--token",
                WALL,
                "--data-dir",
                str(tmp_path / "data"),
            ],
            cwd=tmp_path,
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=150,
            check=False,
        )
    finally:
        server.stop()
    assert out.returncode == 0, out.stderr[-4000:]
    _check_screenshots(tmp_path / "shots")
    # The wall ran under its supervisor, which re-ran the bundle's own
    # executable (commandcenter.ops.selfexec), not `python -m`.
    logs = "".join(p.read_text() for p in (tmp_path / "data").rglob("supervisor.log"))
    assert f"{bundle_exe} wall --headless" in logs, logs[-2000:]
    # The server accepted the wall's hello and fed it: the wall's journal holds
    # events of exactly this server's epoch.
    events = export(tmp_path / "data" / "wall-journal.sqlite3")
    assert events, "the wall journaled nothing"
    assert {e["epoch"] for e in events} == {server.epoch}


def test_bundled_demo_starts_its_own_server(bundle_exe: Path, tmp_path: Path) -> None:
    # `demo` starts `serve` as a child through selfexec: with a frozen
    # executable that is the bundle itself; `-m commandcenter.cli` would fail.
    out = subprocess.run(
        [
            str(bundle_exe),
            "demo",
            "--headless",
            "--run-for",
            "8",
            "--speed",
            "30",
            "--screenshot-dir",
            str(tmp_path / "shots"),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert (tmp_path / "data" / "server.sqlite3").is_file(), "the demo server never ran"
    _check_screenshots(tmp_path / "shots")
