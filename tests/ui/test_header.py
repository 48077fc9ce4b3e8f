"""The screen header never cuts the feed state: marks move to a strip below
the bar when a 1080p wall panel sized for 6 m has no room for all three."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtWidgets import QLabel, QWidget

from ui.support import theme
from ui.views.header import ScreenHeader


def _mark(text: str, metrics: theme.ScreenMetrics) -> QLabel:
    mark = QLabel(text)
    mark.setStyleSheet(f"font-size: {metrics.body_px}px; font-weight: 800; padding: 0 12px;")
    return mark


@pytest.mark.parametrize(
    ("distance_m", "strip"),
    [(6.0, True), (0.7, False)],  # the wall at 6 m; an operator's desk
)
def test_marks_never_cut_the_feed_state(qtbot: Any, bridge: Any, distance_m: float, strip: bool) -> None:
    metrics = theme.metrics_for(1920, 1080, 55.0 if distance_m > 1 else 24.0, distance_m)
    window = QWidget()
    window.resize(1920, 200)
    header = ScreenHeader(bridge, metrics, "Papan Operasi", window)
    header.resize(1920, 200)
    qtbot.addWidget(window)
    header.add_mark(_mark("⊘ TANPA AUDIO", metrics))
    header.add_mark(_mark("🔇 SUARA MATI", metrics))
    window.show()
    qtbot.waitUntil(lambda: header.feed_label.width() > 0)
    header.refresh()
    qtbot.waitUntil(lambda: header.marks_in_strip() is strip)
    # The feed state and the clock show in full wherever the marks are.
    qtbot.waitUntil(lambda: header.feed_label.width() >= header.feed_label.sizeHint().width())
    assert header.clock.width() >= header.clock.sizeHint().width()
    assert header.mark_strip.isVisible() is strip
    clock_right = header.clock.mapTo(window, header.clock.rect().topRight()).x()
    assert clock_right <= 1920


def test_hidden_marks_take_no_room(qtbot: Any, bridge: Any) -> None:
    metrics = theme.metrics_for(1920, 1080, 55.0, 6.0)
    window = QWidget()
    window.resize(1920, 200)
    header = ScreenHeader(bridge, metrics, "Papan Operasi", window)
    header.resize(1920, 200)
    qtbot.addWidget(window)
    mark = _mark("⊘ TANPA AUDIO", metrics)
    header.add_mark(mark)
    window.show()
    qtbot.waitUntil(lambda: header.marks_in_strip())
    mark.hide()
    header.refresh()
    qtbot.waitUntil(lambda: not header.marks_in_strip())
    assert not header.mark_strip.isVisible()
