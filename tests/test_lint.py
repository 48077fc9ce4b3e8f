"""House style holds: ruff on everything, mypy on the engine and (strictly) on the Qt layer."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BIN = Path(sys.executable).parent


def test_ruff_is_clean() -> None:
    out = subprocess.run(
        [str(BIN / "ruff"), "check", "commandcenter", "ui", "tests", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-4000:]


@pytest.mark.slow
def test_mypy_is_clean_on_the_engine_and_the_qt_layer() -> None:
    """pyproject's [tool.mypy]: the engine, and ui/ with the strict flags."""
    out = subprocess.run(
        [str(BIN / "mypy")], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stdout[-4000:]
    # Both packages are checked, every file of them (not only what the engine imports).
    sources = [p for pkg in ("commandcenter", "ui") for p in (ROOT / pkg).rglob("*.py")]
    summary = re.search(r"(\d+) source files", out.stdout)
    assert summary is not None, out.stdout[-2000:]
    assert int(summary.group(1)) >= len(sources), out.stdout[-2000:]
