"""Facts about the Qt binding this project depends on."""

from __future__ import annotations

import sys

import pytest

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
    import PySide6

    major, minor = (int(x) for x in PySide6.__version__.split(".")[:2])
    if sys.version_info < (3, 12):
        assert (major, minor) < (6, 12), "PySide6 6.12 crashes on Python 3.11"
