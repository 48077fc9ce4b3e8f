"""The incident queue alone on a region (layout view ``queue``): the operations
board without the agency tiles, so that a whole panel is rows of incidents.

How many rows, which columns and which category names fit come from the engine
(commandcenter.wall.layout) through :class:`ui.views.operations.OperationsView`.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from ui.support.bridge import EngineBridge
from ui.support.theme import ScreenMetrics
from ui.views.operations import OperationsView


class QueueView(OperationsView):
    def __init__(
        self,
        bridge: EngineBridge,
        metrics: ScreenMetrics,
        parent: QWidget | None = None,
        *,
        interactive: bool = False,
    ) -> None:
        super().__init__(bridge, metrics, parent, interactive=interactive, tiles=False)
        self.setObjectName("queueView")
