"""`python -m commandcenter`: the engine's Qt-free command line, in a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_python_m_commandcenter_runs_the_engine_cli() -> None:
    done = _run("-m", "commandcenter", "--help")
    assert done.returncode == 0, done.stderr
    assert "schema" in done.stdout and "layout" in done.stdout
    # A real command runs, and without loading Qt (the engine never imports it).
    done = _run("-X", "importtime", "-m", "commandcenter", "schema")
    assert done.returncode == 0, done.stderr
    assert '"$schema"' in done.stdout
    assert "PySide6" not in done.stderr and "shiboken6" not in done.stderr


def test_a_wall_command_says_where_the_wall_is() -> None:
    for argv in (["wall", "--preset", "laptop", "--headless"], ["--log-level", "INFO", "demo"]):
        done = _run("-m", "commandcenter", *argv)
        assert done.returncode == 2, (argv, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
        command = argv[-1] if argv[0].startswith("-") else argv[0]
        assert f"`commandcenter {command} ...`" in lines[0] and "python -m ui.app.cli" in lines[0]
