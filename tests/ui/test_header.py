"""The screen header is one line: on a 1080p wall panel sized for 6 m the marks
(no audio, sound muted) give way to their shapes, then the feed state to its
word alone (the stale banner says the age), and the feed state and the clock
are never cut."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtWidgets import QWidget

from commandcenter.wall import layout as room
from ui.alerts.banner import _Mark
from ui.support import theme
from ui.views.header import ScreenHeader


def _mark(text: str, metrics: theme.ScreenMetrics) -> _Mark:
    mark = _Mark(metrics, "audioMark", theme.WARN)
    mark.setText(text)
    mark.show()
    return mark


@pytest.mark.parametrize(
    ("distance_m", "short"),
    [(6.0, True), (0.7, False)],  # the wall at 6 m; an operator's desk
)
def test_marks_never_cut_the_feed_state(qtbot: Any, bridge: Any, distance_m: float, short: bool) -> None:
    metrics = theme.metrics_for(1920, 1080, 55.0 if distance_m > 1 else 24.0, distance_m)
    window = QWidget()
    window.resize(1920, 400)
    header = ScreenHeader(bridge, metrics, "Papan Operasi", window)
    header.resize(1920, 400)
    qtbot.addWidget(window)
    marks = [_mark("⊘ TANPA AUDIO", metrics), _mark("✕ SUARA MATI s/d 14:30", metrics)]
    for mark in marks:
        header.add_mark(mark)
    window.show()
    qtbot.waitUntil(lambda: header.feed_label.width() > 0)
    header.refresh()
    qtbot.waitUntil(lambda: all(m.short is short for m in marks))
    # One line at the layout check's header height, everything in it whole.
    assert not header.marks_in_strip() and not header.mark_strip.isVisible()
    bar = header.findChild(QWidget, "headerBar")
    assert bar.height() <= max(room.header_px(metrics.sizes), header.line_px)
    qtbot.waitUntil(lambda: header.feed_label.width() >= header.feed_label.sizeHint().width())
    assert header.clock.width() >= header.clock.sizeHint().width()
    for mark in marks:
        assert mark.width() >= mark.sizeHint().width()
        assert mark.text() == (mark.full_text.split(" ")[0] if short else mark.full_text)
    clock_right = header.clock.mapTo(window, header.clock.rect().topRight()).x()
    assert clock_right <= 1920
    # No feed: the stale banner shows under the line, whatever the marks do.
    assert header.is_banner_shown()


def test_hidden_marks_take_no_room(qtbot: Any, bridge: Any) -> None:
    metrics = theme.metrics_for(1920, 1080, 55.0, 6.0)
    window = QWidget()
    window.resize(1920, 400)
    header = ScreenHeader(bridge, metrics, "Papan Operasi", window)
    header.resize(1920, 400)
    qtbot.addWidget(window)
    marks = [_mark("⊘ TANPA AUDIO", metrics), _mark("✕ SUARA MATI s/d 14:30", metrics)]
    for mark in marks:
        header.add_mark(mark)
    window.show()
    qtbot.waitUntil(lambda: all(m.short for m in marks))
    for mark in marks:
        mark.hide()
    header.refresh()
    # With no mark shown the feed state has its full text back.
    qtbot.waitUntil(lambda: "·" in header.feed_label.text())
    assert not header.mark_strip.isVisible()


@pytest.mark.parametrize("lang", ["id", "en"])
def test_the_stale_banner_is_one_heading_line_and_shortens_its_words_never_its_age(
    qtbot: Any, config: Any, store: Any, lang: str
) -> None:
    """On a 1080p panel read from 6 m (91 px headings) the banner is one line of 118 px (a heading
    line, 114 px, between 2 px rules), not a line, its padding and two thick rules (190 px); where
    the whole text is wider than the window it shows a shorter wording from the catalogs, with
    the age whole: '23 jam 59 menit' is never elided."""
    from commandcenter.core.i18n import strings_for
    from ui.support.bridge import EngineBridge
    from ui.views.header import StaleBanner, stale_banner_texts

    strings = strings_for(lang)
    bridge = EngineBridge(config, store, strings=strings)
    metrics = theme.metrics_for(1920, 1080, 55.0, 6.0)
    texts = stale_banner_texts(strings, 23 * 3600 + 59 * 60)
    age = strings.age(23 * 3600 + 59 * 60)
    assert age in texts[0] and age in texts[1] and all("…" not in t for t in texts)
    try:
        for width, first in ((3840, 0), (1920, 1), (1200, 2)):
            window = QWidget()
            qtbot.addWidget(window)
            window.resize(width, 400)
            banner = StaleBanner(metrics, window)
            banner.resize(width, 10)
            banner.show_texts(texts)
            window.show()
            qtbot.waitExposed(window)
            assert banner.height() == room.stale_banner_px(metrics.sizes) == 118
            fm = banner.fontMetrics()
            assert not banner.wordWrap() and fm.height() <= banner.contentsRect().height()
            assert fm.horizontalAdvance(banner.text()) <= banner.contentsRect().width(), width
            assert banner.text() == texts[first], (width, banner.text())
            window.close()
    finally:
        bridge.shutdown()
        bridge.deleteLater()
