"""The agency tiles alone on a region (layout view ``agencies``): all eight
tiles complete, as many to a row as the engine says fit the width at the
screen's text size (commandcenter.wall.layout), and the legend line of the
shapes when the region has room for it under the tiles."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ui.support import theme
from ui.support.bridge import EngineBridge
from ui.support.theme import ScreenMetrics
from ui.views.agencies import AgencyBoardWidget


class AgenciesView(QWidget):
    def __init__(self, bridge: EngineBridge, metrics: ScreenMetrics, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("agenciesView")
        self.setStyleSheet(theme.stylesheet(metrics))
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        compact = metrics.body_px >= 32  # read from metres away (as the operations board)
        self.board = AgencyBoardWidget(bridge, metrics, self, compact=compact)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.board)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.board.give_height(self.height())
