"""The layers stay apart: the engine never imports Qt or the UI."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import commandcenter
from tests.conftest import ROOT


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout and "BROKEN" not in result.stdout


def test_engine_modules_load_no_qt_at_run_time() -> None:
    # import-linter sees static imports; this catches imports done inside functions
    # at module import time as well.
    # __main__ modules run the program when imported; they import only the cli.
    modules = [
        m.name
        for m in pkgutil.walk_packages(commandcenter.__path__, "commandcenter.")
        if not m.name.endswith(".__main__")
    ]
    assert "commandcenter.core.protocol" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'PySide6', 'shiboken6', 'ui', 'pyqtgraph', 'qasync'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "", f"engine pulled in: {out.stdout.strip()}"
