"""The leader overview's BMKG panel: the external items the store keeps, read from afar.

One line per active BMKG warning that touches OKI (severity as a word and a shape, the
headline, the districts, valid until, source and age), the latest quake, today's hotspots in
the peat districts, recent citizen reports, and every source that is stale or failing with
its age, so nothing stale looks current. Every figure is the store's
(:meth:`Store.hazard_figures`, :meth:`Store.source_state`); the panel only words and paints
them, as plain text. It follows ``bridge.changed`` for the items and ``bridge.tick`` for ages.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from commandcenter.core.store import ChangeSet, Store
from commandcenter.core.text import isolate, local_time
from ui.support import theme
from ui.support.bridge import EngineBridge

#: A shape per severity, so the level reads without colour too (most severe: fullest).
SEVERITY_SHAPE = {"extreme": "◆", "severe": "▲", "moderate": "●", "minor": "○", "unknown": "○", "": "○"}
SEVERITY_COLOR = {"extreme": theme.ALARM_RED, "severe": theme.ALARM_RED, "moderate": theme.WARN}
#: Warning lines shown at most; the rest are counted in the last one.
MAX_WARNINGS = 3
SOURCE_LABEL = {"bmkg-cap": "BMKG", "bmkg-quake": "BMKG", "firms": "FIRMS", "petabencana": "PetaBencana",
                "eido": "EIDO"}  # fmt: skip


def _label(object_name: str = "") -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)  # publishers' text is never markup
    label.setWordWrap(True)
    if object_name:
        label.setObjectName(object_name)
    return label


class HazardPanel(QFrame):
    """See the module docstring. Hidden while there is nothing to show."""

    def __init__(
        self, bridge: EngineBridge, metrics: theme.ScreenMetrics, parent: QWidget | None = None
    ) -> None:
        # A parent from the start: shown before it is laid out, a parentless frame would be a window.
        super().__init__(parent)
        self.setObjectName("panel")
        self.store: Store = bridge.store
        self.strings = bridge.strings
        pad = metrics.pad_px
        layout = QVBoxLayout(self)
        layout.setContentsMargins(pad, pad // 2, pad, pad // 2)
        layout.setSpacing(0)
        self.title = _label("dim")
        self.title.setText(self.strings.t("hazards.title"))
        self.warnings = [_label() for _ in range(MAX_WARNINGS)]
        self.more = _label("dim")
        self.quake = _label()
        self.hotspots = _label()
        self.reports = _label("dim")
        self.sources = _label()
        self.sources.setStyleSheet(f"color: {theme.ALARM_RED}; font-weight: 700;")
        for w in (
            self.title,
            *self.warnings,
            self.more,
            self.quake,
            self.hotspots,
            self.reports,
            self.sources,
        ):
            layout.addWidget(w)
        layout.addStretch(1)
        #: False while the view it sits in has no height to show it whole (the leader's trim).
        self.room = True
        bridge.changed.connect(self._on_bridge_changed)
        bridge.tick.connect(self.refresh)
        self.refresh()

    def set_room(self, room: bool) -> None:
        self.room = room
        self.refresh()

    def has_content(self) -> bool:
        return bool(self.store.hazards or self.store.sources)

    def _age(self, seconds: float | None) -> str:
        tr = self.strings
        return tr.t("hazards.source.never") if seconds is None else tr.age_tile(max(0.0, seconds))

    def refresh(self) -> None:
        store, tr = self.store, self.strings
        now = store.clock()
        figures = store.hazard_figures()
        keys = figures.warnings
        for label, key in zip(self.warnings, keys, strict=False):
            item = store.hazards[key]
            until = local_time(item.expires).strftime("%H.%M") if item.expires else "-"
            severity = item.severity or "unknown"
            age = self._age((now - item.time).total_seconds())
            label.setText(tr.t(
                "hazards.warning", shape=SEVERITY_SHAPE[severity],
                severity=tr.t(f"hazards.severity.{severity}"),
                # Feed text isolated: a right-to-left name cannot reorder the words beside it.
                text=isolate(item.text), kecamatan=", ".join(isolate(k) for k in item.kecamatan), until=until,
                source=SOURCE_LABEL.get(item.source, item.source), age=age,
            ))  # fmt: skip
            label.setStyleSheet(f"color: {SEVERITY_COLOR.get(severity, theme.TEXT)}; font-weight: 700;")
        for i, label in enumerate(self.warnings):
            label.setVisible(i < len(keys))
        if not keys:
            self.warnings[0].setText(tr.t("hazards.none"))
            self.warnings[0].setStyleSheet(f"color: {theme.TEXT_DIM};")
            self.warnings[0].setVisible(True)
        self.more.setVisible(len(keys) > MAX_WARNINGS)
        self.more.setText(f"+{len(keys) - MAX_WARNINGS}" if len(keys) > MAX_WARNINGS else "")
        quake = store.hazards.get(figures.latest_quake) if figures.latest_quake else None
        self.quake.setVisible(quake is not None)
        if quake is not None:
            where = str(quake.detail.get("wilayah", "")) or ", ".join(quake.kecamatan)
            self.quake.setText(tr.t(
                "hazards.quake", magnitude=tr.number(quake.magnitude or 0.0, 1), where=isolate(where),
                time=local_time(quake.time).strftime("%H.%M"),
                source=SOURCE_LABEL.get(quake.source, "BMKG"),
                age=self._age((now - quake.time).total_seconds()),
            ))  # fmt: skip
        hot = figures.hotspots_today_by_kecamatan
        self.hotspots.setText(
            tr.t("hazards.hotspots",
                 list=", ".join(f"{isolate(k)} {tr.number(n)}" for k, n in sorted(hot.items())))
            if hot else tr.t("hazards.hotspots.none")
        )  # fmt: skip
        self.reports.setText(tr.t("hazards.reports", hours=tr.number(round(figures.report_window_s / 3600)),
                                  n=tr.number(figures.reports_recent)))  # fmt: skip
        bad = []
        for name in sorted(store.sources):
            state, since_ok = store.source_state(name)
            if state in ("stale", "failing"):
                bad.append(tr.t(f"hazards.source.{state}", name=name, age=self._age(since_ok)))
        self.sources.setText(" · ".join(bad))
        self.sources.setVisible(bool(bad))
        self.setVisible(self.has_content() and self.room)

    def _on_bridge_changed(self, changes: ChangeSet) -> None:
        if changes.reset or changes.hazards or changes.sources:
            self.refresh()

    def lines(self) -> list[str]:
        """The visible lines, top to bottom (tests, and the layout check's count)."""
        return [w.text() for w in self.findChildren(QLabel) if w.isVisibleTo(self) and w.text()]

