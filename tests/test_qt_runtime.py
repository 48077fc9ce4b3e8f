"""Facts about the Qt binding this project depends on."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.qt


def test_two_hundred_thousand_signal_emits_survive(qapp: object) -> None:
    # PySide6 6.12.0 on Python 3.11 aborts after a few hundred Signal.emit()
    # calls ("Fatal Python error: bool_dealloc"); the installer picks 3.12+ or
    # pins PySide6 < 6.12 on 3.11. This guards that choice.
    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        toggled = Signal(bool)
        counted = Signal(int, str)

    emitter = Emitter()
    seen = {"true": 0, "count": 0}

    def on_toggled(value: bool) -> None:
        if value:
            seen["true"] += 1

    def on_counted(n: int, text: str) -> None:
        seen["count"] += 1

    emitter.toggled.connect(on_toggled)
    emitter.counted.connect(on_counted)
    for i in range(100_000):
        emitter.toggled.emit(i % 2 == 0)
        emitter.counted.emit(i, "x")
    assert seen == {"true": 50_000, "count": 100_000}


def test_pyside_version_matches_the_interpreter() -> None:
    # The PySide6 line that pyproject selects for this interpreter (by its
    # environment markers) is the one installed; on 3.11 that keeps 6.12 out.
    import tomllib

    import PySide6
    from packaging.requirements import Requirement

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [r for r in map(Requirement, deps) if r.name.lower() == "pyside6"]
    chosen = [r for r in pins if r.marker is None or r.marker.evaluate()]
    assert len(chosen) == 1, chosen
    assert chosen[0].specifier.contains(PySide6.__version__), (PySide6.__version__, str(chosen[0]))
    if sys.version_info < (3, 12):
        assert not chosen[0].specifier.contains("6.12.0"), "PySide6 6.12 crashes on Python 3.11"
