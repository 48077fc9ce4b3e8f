"""Small widgets more than one view uses."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from ui.support.text import plain_tooltip

__all__ = ["ElidedLabel"]


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
