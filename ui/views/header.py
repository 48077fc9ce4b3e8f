"""What every screen shows on top: the WIB clock, the feed state with the age of
the last event, and, when the feed is not live, a full-width red banner
("TERPUTUS — DATA LAMA, 3 menit") that cannot be mistaken for an all-clear.

The banner stays until the feed is live again; it is not dismissable.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics, QResizeEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from commandcenter.core.i18n import Strings
from commandcenter.history.player import ReplayStatus
from commandcenter.wall import layout as room
from commandcenter.wall.feed import FeedState, FeedStatus
from ui.support import theme
from ui.support.bridge import EngineBridge
from ui.support.text import plain_tooltip
from ui.support.widgets import ElidedLabel, PanelBanner
from ui.views.timebar import ReplayBanner, replay_banner_texts


def stale_banner_texts(strings: Strings, age: float | None) -> list[str]:
    """The stale banner's texts, longest first: "TERPUTUS — DATA LAMA, 2 jam 5 menit", then
    "DATA LAMA, 2 jam 5 menit", then "DATA LAMA, 2,1 jam" (a narrow screen with heading-size
    text takes the first that fits; the age is shortened, never cut)."""
    if age is None:
        return [strings.t("banner.never"), strings.t("banner.never_short")]
    return [
        strings.t("banner.stale", age=strings.age(age)),
        strings.t("banner.stale_short", age=strings.age(age)),
        strings.t("banner.stale_short", age=strings.age_tile(age)),
    ]


class StaleBanner(PanelBanner):
    """Red banner shown while the data is not live: one line of heading-size text between two
    thin rules, as compact as the header line above it; the age is never elided. On a video
    wall its text is written once in each panel (:class:`ui.support.widgets.PanelBanner`)."""

    def __init__(self, metrics: theme.ScreenMetrics, parent: QWidget | None = None,
                 panel_columns: int = 1) -> None:
        super().__init__(metrics, "staleBanner", theme.ALARM_BG, theme.ALARM_TEXT,
                         room.stale_rule_px(metrics.sizes), parent, panel_columns)  # fmt: skip


class ScreenHeader(QWidget):
    """Clock, title and feed state; owns the stale banner beneath it."""

    def __init__(
        self, bridge: EngineBridge, metrics: theme.ScreenMetrics, title: str, parent: QWidget | None = None,
        panel_columns: int = 1,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.strings = bridge.strings
        self.metrics = metrics
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        bar = QWidget(self)
        bar.setObjectName("headerBar")
        bar.setStyleSheet(f"QWidget#headerBar {{ background: {theme.BG_PANEL}; }}")
        row = QHBoxLayout(bar)
        # One body line and a mark's frame (commandcenter.wall.layout.header_px, what the
        # layout check leaves the views): body-size text centred in it, no padding.
        body = QFont(self.font())
        body.setPixelSize(metrics.body_px)
        self.line_px = max(room.header_px(metrics.sizes), QFontMetrics(body).height() + 8)
        bar.setFixedHeight(self.line_px)
        row.setContentsMargins(metrics.pad_px * 2, 0, metrics.pad_px * 2, 0)
        self.title = ElidedLabel(title, bar)
        self.title.setObjectName("heading")
        self.title.setProperty("mayElide", True)  # the view names: the first to give way
        self.title.setStyleSheet(f"font-size: {metrics.body_px}px; font-weight: 600;")
        self.feed_label = QLabel(bar)
        self.feed_label.setTextFormat(Qt.TextFormat.PlainText)
        self.clock = QLabel(bar)
        self.clock.setStyleSheet(f"font-size: {metrics.body_px}px; font-weight: 700;")
        # The title gives way (it is clipped) so that the feed state and the
        # clock always show in full and the window never grows past its screen.
        self.feed_label.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)
        self.feed_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._row = row
        row.addWidget(self.title, 1)
        row.addWidget(self.feed_label, 0)
        row.addSpacing(metrics.pad_px * 4)
        row.addWidget(self.clock, 0)
        outer.addWidget(bar)
        # Marks (no audio, sound muted) move here when the bar has no room for
        # them next to the feed state and the clock: on a 1080p panel sized
        # for 6 m the three do not fit on one line, and the feed state must
        # never be the one that is cut.
        self.mark_strip = QWidget(self)
        self.mark_strip.setObjectName("markStrip")
        self.mark_strip.setStyleSheet(f"QWidget#markStrip {{ background: {theme.BG_PANEL}; }}")
        self._strip_row = QHBoxLayout(self.mark_strip)
        self._strip_row.setContentsMargins(metrics.pad_px * 2, 0, metrics.pad_px * 2, metrics.pad_px)
        self._strip_row.addStretch(1)
        self.mark_strip.hide()
        outer.addWidget(self.mark_strip)
        self._marks: list[QWidget] = []
        self._marks_in_strip = False
        # A video wall's panels side by side: the banner's text once in each panel.
        self.banner = StaleBanner(metrics, self, panel_columns)
        outer.addWidget(self.banner)
        # Replay (ui.app.replay): its own banner where the stale one sits, in its own colour.
        self.replay_banner = ReplayBanner(metrics, self, panel_columns)
        outer.addWidget(self.replay_banner)
        bridge.tick.connect(self.refresh)
        bridge.feed_status_changed.connect(self._on_feed_status)
        self.refresh()

    def _on_feed_status(self, status: FeedStatus) -> None:
        self.refresh()

    def add_mark(self, widget: QWidget) -> None:
        """Put a status mark (no audio, sound muted) just before the feed state,
        or on the strip below the bar when the bar has no room for it."""
        self._marks.append(widget)
        if self._marks_in_strip:
            self._strip_row.addWidget(widget, 0)
        else:
            self._row.insertWidget(self._row.indexOf(self.feed_label), widget, 0)
        self._place_marks()

    def marks_in_strip(self) -> bool:
        return self._marks_in_strip

    def _place_marks(self) -> None:
        """Keep the marks in the bar while the feed state and the clock still
        show in full beside them (only shown marks take room): with their words,
        else as their shapes alone (the words stay the tooltip); only a bar too
        narrow even for the shapes puts them on a strip below."""
        if not self._marks:
            return
        bar = self.feed_label.parentWidget()
        width = (bar.width() if bar is not None else 0) or self.width()
        if width <= 0:
            return
        margins = self._row.contentsMargins()
        shown = [m for m in self._marks if not m.isHidden()]
        spacing = max(0, self._row.spacing())
        fixed = self.clock.sizeHint().width()
        fixed += self.metrics.pad_px * 4 + margins.left() + margins.right() + spacing * 3
        feed_fm = self.feed_label.fontMetrics()
        feed_texts = getattr(self, "_feed_texts", None) or [self.feed_label.text()]
        feed_text = feed_texts[0]

        def need() -> int:
            feed = feed_fm.horizontalAdvance(feed_text) + 2 * self.feed_label.margin() + 4
            return fixed + feed + sum(m.sizeHint().width() + spacing for m in shown)

        # Give way in this order: the marks' words (their shapes stay), then the feed state's age
        # (the stale banner says it), and only then a strip below.
        steps = [(False, feed_texts[0]), (True, feed_texts[0]), *((True, t) for t in feed_texts[1:])]
        for short, text in steps:
            feed_text = text
            for mark in self._marks:
                set_short = getattr(mark, "set_short", None)
                if set_short is not None:
                    set_short(short)
                    mark.setProperty("mayElide", short)
            if need() <= width:
                break
        if self.feed_label.text() != feed_text and feed_text in feed_texts:
            self.feed_label.setText(feed_text)
        to_strip = need() > width
        if to_strip == self._marks_in_strip:
            self.mark_strip.setVisible(to_strip and bool(shown))
            return
        self._marks_in_strip = to_strip
        for mark in self._marks:
            (self._row if not to_strip else self._strip_row).removeWidget(mark)
            if to_strip:
                self._strip_row.addWidget(mark, 0)
            else:
                self._row.insertWidget(self._row.indexOf(self.feed_label), mark, 0)
        self.mark_strip.setVisible(to_strip and bool(shown))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_marks()

    def is_banner_shown(self) -> bool:
        return not self.banner.isHidden()

    def is_replay_shown(self) -> bool:
        return not self.replay_banner.isHidden()

    def _show_replay(self, replay: ReplayStatus) -> None:
        """A replay: the replayed moment instead of the feed state, never the stale banner (the
        journal is not a link that can go stale)."""
        s = self.strings
        self.clock.setText(f"{s.clock(replay.position)} {s.t('clock.zone')}")
        self._feed_texts = [f"▶ {s.t('replay.state')}"]
        self.feed_label.setText(self._feed_texts[0])
        self.feed_label.setStyleSheet(
            f"color: {theme.REPLAY_TEXT}; background: {theme.REPLAY_BG}; font-size: {self.metrics.body_px}px;"
            f" font-weight: 800; padding: 0 {self.metrics.pad_px}px;"
        )
        self._place_marks()
        self.banner.hide()
        self.replay_banner.show_texts(replay_banner_texts(s, replay))

    def refresh(self) -> None:
        replay = self.bridge.replay_status()
        if replay is not None:
            self._show_replay(replay)
            return
        # The store's clock: simulated time in the demo, so the clock agrees with ages.
        now = self.bridge.store.clock()
        self.clock.setText(f"{self.strings.clock(now)} {self.strings.t('clock.zone')}")
        status = self.bridge.feed_status()
        age = status.event_age_s()
        state = status.state
        color = theme.FEED_STATE_COLOR[state.value]
        # Short enough for wall-size text: "● LANGSUNG · 4 detik".
        age_text = self.strings.age(age) if age is not None else self.strings.t("feed.no_event")
        # A shape as well as a colour: filled dot when live, hollow when not.
        dot = "●" if state is FeedState.LIVE else "○"
        self._feed_texts = [f"{dot} {self.strings.t('feed.' + state.value)} · {age_text}"]
        if status.servers > 1:
            # A wall that fails over between gateways says which one it is on (first to give way).
            self._feed_texts.insert(0, f"{self._feed_texts[0]} · {status.server_name()}")
        if state is not FeedState.LIVE:
            # The stale banner below says how old the data is: the bar may say the state alone.
            self._feed_texts.append(f"{dot} {self.strings.t('feed.' + state.value)}")
        self.feed_label.setToolTip(plain_tooltip(status.server))
        self.feed_label.setText(self._feed_texts[0])
        self.feed_label.setStyleSheet(
            f"color: {color}; font-size: {self.metrics.body_px}px; font-weight: 700;"
        )
        self._place_marks()  # a longer state ("TERPUTUS · 3 menit") needs more room
        if state is FeedState.LIVE:
            self.banner.hide()
        else:
            self.banner.show_texts(stale_banner_texts(self.strings, age))
