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


@pytest.mark.parametrize("kind", ["stale", "replay"])
def test_a_banner_on_a_video_wall_is_written_once_in_each_panel_never_across_a_bezel(
    qtbot: Any, config: Any, store: Any, kind: str
) -> None:
    """A 2×2 wall seen as one 3840×2160 screen: the stale (and the replay) banner spans both panel
    columns, and its text is drawn centred in each panel. Rendered, no text pixel lies near the
    bezel (x = 1920) and both panels carry the whole text (one line centred on the wall would be
    cut by the bezel: the replay banner was, until it shared the stale banner's drawing)."""
    import datetime as dt

    from PySide6.QtGui import QColor, QImage

    from commandcenter.core.i18n import strings_for
    from commandcenter.history.player import ReplayStatus
    from ui.views.header import StaleBanner, stale_banner_texts
    from ui.views.timebar import ReplayBanner, replay_banner_texts

    strings = strings_for("id")
    metrics = theme.metrics_for(3840, 2160, 110.0, 5.0)
    window = QWidget()
    qtbot.addWidget(window)
    window.resize(3840, 300)
    banner: Any
    if kind == "stale":
        texts = stale_banner_texts(strings, 3 * 60)
        banner = StaleBanner(metrics, window, panel_columns=2)
        colour, rule = theme.ALARM_TEXT, room.stale_rule_px(metrics.sizes)
    else:
        moment = dt.datetime(2026, 3, 14, 6, 30, tzinfo=dt.UTC)
        texts = replay_banner_texts(strings, ReplayStatus(moment, moment, moment, True, 8.0))
        banner = ReplayBanner(metrics, window, panel_columns=2)
        colour, rule = theme.REPLAY_TEXT, 0
    banner.resize(3840, 10)
    banner.show_texts(texts)
    window.show()
    qtbot.waitExposed(window)
    rects = banner.text_rects()
    assert [(r.left(), r.right()) for r in rects] == [(0, 1920), (1920, 3840)]
    fm = banner.fontMetrics()
    # The longest wording that fits in one panel is the one chosen (the stale banner's longest).
    fitting = [t for t in texts if fm.horizontalAdvance(t) <= 1920 - 2 * metrics.pad_px - 8]
    assert banner.text() == fitting[0] and (kind == "replay" or fitting[0] == texts[0])
    assert fm.horizontalAdvance(banner.text()) <= 1920 - 2 * metrics.pad_px
    image = QImage(banner.size(), QImage.Format.Format_ARGB32)
    banner.render(image)
    text_colour = QColor(colour).rgb() & 0xFFFFFF

    def text_columns(x0: int, x1: int) -> list[int]:
        """Columns in [x0, x1) with a text-coloured pixel between the two rules."""
        return [x for x in range(x0, x1)
                if any((image.pixel(x, y) & 0xFFFFFF) == text_colour
                       for y in range(rule + 2, banner.height() - rule - 2))]  # fmt: skip

    near_bezel = text_columns(1920 - 40, 1920 + 40)
    assert near_bezel == [], f"text drawn across the bezel at x = {near_bezel[:5]}"
    left, right = text_columns(0, 1920), text_columns(1920, 3840)
    assert left and right
    # The same text, centred in each panel: the two inked spans are mirror images of each other.
    assert abs((left[0] + left[-1]) / 2 - 960) <= 3 and abs((right[0] + right[-1]) / 2 - 2880) <= 3
    window.close()
