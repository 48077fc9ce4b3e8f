"""The one elided-label widget the header and the leader overview share."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QVBoxLayout, QWidget

from ui.support.widgets import ElidedLabel

LONG = "Terlama (12 menit): Kebakaran Hutan dan Lahan · Desa <b>Sukaraja</b> · Kecamatan Pangkalan Lampam"


def _shown(qtbot: Any, width: int) -> tuple[QWidget, ElidedLabel]:
    window = QWidget()
    layout = QVBoxLayout(window)
    label = ElidedLabel(LONG)
    layout.addWidget(label)
    qtbot.addWidget(window)
    window.resize(width, 80)
    window.show()
    qtbot.waitUntil(lambda: label.contentsRect().width() > 0)
    return window, label


def test_text_that_does_not_fit_ends_in_an_ellipsis(qtbot: Any) -> None:
    window, label = _shown(qtbot, 200)
    qtbot.waitUntil(lambda: label.text().endswith("…"))
    assert LONG.startswith(label.text()[:-1])
    assert label.fontMetrics().horizontalAdvance(label.text()) <= label.contentsRect().width()
    assert label.full_text == LONG
    # The layout keeps its width: the text never asks for more.
    assert window.width() == 200
    # Plain text everywhere: the tooltip shows the markup literally.
    assert "&lt;b&gt;Sukaraja&lt;/b&gt;" in label.toolTip()


def test_widening_shows_it_whole_and_new_text_is_elided_again(qtbot: Any) -> None:
    window, label = _shown(qtbot, 200)
    qtbot.waitUntil(lambda: label.text().endswith("…"))
    window.resize(label.fontMetrics().horizontalAdvance(LONG) + 100, 80)
    qtbot.waitUntil(lambda: label.text() == LONG)
    label.set_full_text(LONG + LONG)
    assert label.text().endswith("…") and label.full_text == LONG + LONG
    label.set_full_text("Kayu Agung")
    assert label.text() == "Kayu Agung"


def test_before_any_layout_the_whole_text_shows(qtbot: Any) -> None:
    label = ElidedLabel("Papan Operasi")
    qtbot.addWidget(label)
    assert label.text() == "Papan Operasi" == label.full_text
