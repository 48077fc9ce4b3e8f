"""The newcomer's first minute: `commandcenter demo` on a headless box says what ran in one
last line, keeps the platform's expected noise (Qt Multimedia and GPU probes, PulseAudio, the
pyttsx3 fallback) in the log file instead of the terminal, and does not report its own
screenshot grab as a GUI stall.

Runs the real demo (supervisor, reference server with the simulator, the wall) headless.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.qt, pytest.mark.slow]

#: What the platform says on a headless box, and our own fallbacks: expected, not for the terminal.
NOISE = re.compile(
    r"Couldn't (load|resolve) .* (library|symbols)|PulseAudioService|QRhiGles2|Vulkan|"
    r"GBM is not supported|Failed to create RHI|GPUInfo not initialized|pyttsx3 wrote no audio|"
    r"no audio output"
)


def test_the_demo_is_quiet_and_ends_on_one_summary_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QTWEBENGINE_DISABLE_SANDBOX"] = "1"
    shots = tmp_path / "shots"
    out = subprocess.run(
        [sys.executable, "-m", "ui.app.cli", "demo", "--run-for", "6", "--data-dir", str(tmp_path / "data"),
         "--screenshot-dir", str(shots)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    warnings = [line for line in out.stderr.splitlines() if " WARNING " in line]
    noisy = [line for line in warnings if NOISE.search(line)]
    assert not noisy, "expected platform noise on the terminal:\n" + "\n".join(noisy)
    # A stall sampled while the wall grabbed its own screenshots is not a stall.
    assert "in screenshots" not in out.stderr and "grab()" not in out.stderr, out.stderr[-3000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("demo done: mixed scenario for 6 s on the four-panels layout (4 windows), exit 0")
    assert f"screenshots in {shots}" in last
    assert sorted(p.name for p in shots.glob("*.png")) == sorted(
        ["S1-map.png", "S2-queue.png", "S3-leader-agencies.png", "S4-console.png"]
    )
    # Nothing is lost: the noise the terminal was spared is in the log file.
    log_file = tmp_path / "data" / "logs" / "wall.log"
    assert str(log_file) in last
    logged = log_file.read_text(encoding="utf-8")
    assert "wall exits with code 0" in logged
