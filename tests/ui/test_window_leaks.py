"""The check in tests/ui/conftest.py that fails a test leaving a window open.

The three inner tests run in a pytest of their own (this file again, with
INNER set): one leaves a window open, one closes its window, one fails for its
own reason with a window open.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

INNER = "OKI112_WINDOW_LEAK_INNER"
inner_only = pytest.mark.skipif(not os.environ.get(INNER), reason="run by the test below, in its own pytest")


@pytest.mark.slow  # a pytest of its own
@pytest.mark.skipif(bool(os.environ.get(INNER)), reason="the inner run must not start itself again")
def test_a_window_left_open_fails_its_test_and_only_that_one(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "--basetemp", str(tmp_path / "inner"),
         f"{Path(__file__).resolve()}::test_inner_leaves_a_window_open",
         f"{Path(__file__).resolve()}::test_inner_closes_its_window",
         f"{Path(__file__).resolve()}::test_inner_fails_with_a_window_open"],
        cwd=ROOT, env=dict(os.environ, **{INNER: "1", "COLUMNS": "200"}), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "PASSED tests/ui/test_window_leaks.py::test_inner_closes_its_window" in text, text
    assert "ERROR tests/ui/test_window_leaks.py::test_inner_leaves_a_window_open" in text, text
    assert "1 window(s) left open by this test" in text and "'left-open'" in text, text
    # A test failing for its own reason is reported for that, not for its window too.
    assert "FAILED tests/ui/test_window_leaks.py::test_inner_fails_with_a_window_open" in text, text
    assert "ERROR tests/ui/test_window_leaks.py::test_inner_fails_with_a_window_open" not in text, text
    # Only one teardown error, and it is the leaving test's (the short summary
    # repeats the message when the terminal is wide, so count the sections).
    assert text.count("ERROR at teardown of") == 1, text
    assert "ERROR at teardown of test_inner_leaves_a_window_open" in text, text


@inner_only
def test_inner_leaves_a_window_open(qapp: Any) -> None:
    from PySide6.QtWidgets import QLabel

    label = QLabel("tertinggal")
    label.setObjectName("left-open")
    label.show()
    # Kept alive past the test, as a widget held by a module or a closure would be.
    _kept.append(label)


@inner_only
def test_inner_closes_its_window(qtbot: Any) -> None:
    from PySide6.QtWidgets import QLabel

    label = QLabel("ditutup")
    qtbot.addWidget(label)
    label.show()
    assert label.isVisible()


@inner_only
def test_inner_fails_with_a_window_open(qapp: Any) -> None:
    from PySide6.QtWidgets import QLabel

    label = QLabel("gagal")
    label.show()
    _kept.append(label)
    raise AssertionError("this test's own failure")


_kept: list[Any] = []
