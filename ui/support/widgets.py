"""Small widgets more than one view uses."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QStyle, QStyleOption, QWidget

from commandcenter.wall import layout as room
from ui.support import theme
from ui.support.text import plain_tooltip

__all__ = ["ElidedLabel", "PanelBanner"]


class PanelBanner(QLabel):
    """A full-width banner of one line of heading-size text under the header (the stale and the
    replay banners), at the height the layout check plans (commandcenter.wall.layout
    .stale_banner_px). Of its texts (longest first) it shows the first that fits on one line.

    On a video wall of ``panel_columns`` panels side by side the text is written once in each
    panel, centred there: one line centred on the whole wall would be cut by the bezel, and the
    width that must hold it is one panel's."""

    def __init__(
        self, metrics: theme.ScreenMetrics, name: str, background: str, colour: str, rule_px: int = 0,
        parent: QWidget | None = None, panel_columns: int = 1,
    ) -> None:
        super().__init__(parent)
        self.panel_columns = max(1, panel_columns)
        self.setObjectName(name)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self._pad = metrics.pad_px
        rules = (f" border-top: {rule_px}px solid {colour}; border-bottom: {rule_px}px solid {colour};"
                 if rule_px else "")  # fmt: skip
        self.setStyleSheet(
            f"QLabel#{name} {{ background: {background}; color: {colour};"
            f" font-size: {metrics.heading_px}px; font-weight: 800; padding: 0 {self._pad}px;{rules} }}"
        )
        self.setFixedHeight(room.stale_banner_px(metrics.sizes))
        # Its width is the window's, never its text's (a long text must not widen the window).
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self._texts: list[str] = []
        self.hide()

    def show_texts(self, texts: list[str]) -> None:
        self._texts = texts
        self._fit()
        self.show()

    def _fit(self) -> None:
        """The first text that fits on one line in one panel (the last one if none does)."""
        if not self._texts:
            return
        self.ensurePolished()
        holder = self.parentWidget()
        width = ((holder.width() if holder is not None else 0) or self.width()) // self.panel_columns
        room_px = width - 2 * self._pad - 8
        fm = self.fontMetrics()
        chosen = next((t for t in self._texts if fm.horizontalAdvance(t) <= room_px), self._texts[-1])
        if self.text() != chosen:
            self.setText(chosen)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def text_rects(self) -> list[QRectF]:
        """Where the text is written: the whole banner, or each panel's share of it."""
        share = self.width() / self.panel_columns
        return [QRectF(i * share, 0, share, self.height()) for i in range(self.panel_columns)]

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.panel_columns == 1:
            super().paintEvent(event)
            return
        # The style sheet's background and rules, then the text centred in each panel.
        option = QStyleOption()
        option.initFrom(self)
        painter = QPainter(self)
        self.style().drawPrimitive(QStyle.PrimitiveElement.PE_Widget, option, painter, self)
        painter.setFont(self.font())
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        for rect in self.text_rects():
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.text())
        painter.end()


class ElidedLabel(QLabel):
    """One line of plain text that ends in "…" when it does not fit the width
    it is given, instead of being cut or widening its layout. The whole text
    stays in :attr:`full_text` and in the tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        # Ignored: the layout gives the width; the text never asks for more.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(0)
        self.full_text = ""
        #: Shorter wordings of the same text, tried in order before any "…" (set_variants).
        self._variants: list[str] = []
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self.set_variants([text])

    def set_variants(self, texts: list[str]) -> None:
        """The longest of ``texts`` that fits the width is shown whole (and is the full text);
        only the shortest ever ends in "…". The tooltip keeps the longest."""
        self._variants = list(texts) or [""]
        self.full_text = self._variants[0]
        self.setToolTip(plain_tooltip(self._variants[0]))
        self._elide()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = self.contentsRect().width()
        if len(self._variants) > 1 and width > 0:
            fm = self.fontMetrics()
            fits = [v for v in self._variants if fm.horizontalAdvance(v) <= width]
            self.full_text = fits[0] if fits else self._variants[-1]
        # Before the first layout there is no width yet: show it whole.
        shown = (
            self.fontMetrics().elidedText(self.full_text, Qt.TextElideMode.ElideRight, width)
            if width > 0
            else self.full_text
        )
        if shown != self.text():
            self.setText(shown)
