"""Alert widgets: the Konfirmasi banner, the audio marks, the operator dialog.

They render what the alert service (through :class:`~ui.alerts.adapter.AlertAdapter`)
says and turn clicks into its commands; no rule lives here.

- :class:`AlertBanner` is the big banner of the operator console (and of wall
  screens configured interactive): the top alert's text, its priority as a
  word and a shape (never colour alone), a large "Konfirmasi" button (key F2),
  shelve and mute choices, and the latest acknowledgement. An alert is never
  shown acknowledged before the server confirmed it: "Dikonfirmasi oleh Sari,
  14:02" is read from the engine's latched acknowledgement, which only the
  store feeds.
- :class:`AudioStatusMark` ("TANPA AUDIO") and :class:`MuteMark` ("SUARA MATI
  s/d 14:30") go into every screen header (:func:`make_marks`).

Text from the feed (place names inside alert texts) is shown in plain-text
labels only.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import weakref
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from commandcenter.core.i18n import Strings, strings_for
from commandcenter.core.text import isolate, local_time, when_text
from commandcenter.wall.alerting import IncidentAlertState, IncidentStateChanges
from commandcenter.wall.alerts import ActiveAlert
from ui.alerts.adapter import AlertAdapter
from ui.support import theme
from ui.support.text import plain_tooltip

if TYPE_CHECKING:
    from commandcenter.config import Config
    from ui.support.bridge import EngineBridge
    from ui.views.map.view import MapView

__all__ = [
    "ACK_KEY",
    "AlertBanner",
    "AudioStatusMark",
    "MuteMark",
    "OperatorDialog",
    "RefusedMark",
    "ack_text",
    "ask_operator",
    "choose_operator",
    "incident_alert_states",
    "make_marks",
    "sync_map_alert_states",
]

#: The acknowledge key. F2 needs no modifier, so it can be hit without looking
#: at the keyboard, and none of the wall's views uses it (the tables are read
#: only, so F2 never starts an edit); Ctrl+K would need two hands on a
#: console keyboard and is "search" in browsers.
ACK_KEY = "F2"
SHELVE_MINUTES: tuple[int, ...] = (15, 30, 60)
MUTE_MINUTES: tuple[int, ...] = (5, 15)
#: Shapes that go with the priority words (never colour alone).
PRIORITY_SHAPE = {"high": "▲", "medium": "◆", "low": "●"}


def wib_hhmm(ts: dt.datetime) -> str:
    return local_time(ts).strftime("%H:%M")


def ack_text(alert: ActiveAlert, strings: Strings) -> str:
    """ "Dikonfirmasi oleh Sari, 14:02" (WIB) for an acknowledged alert."""
    assert alert.acknowledged_at is not None
    return strings.t("ack.by", operator=alert.acknowledged_by, time=wib_hhmm(alert.acknowledged_at))


def _plain(text: str = "", name: str = "", *, wrap: bool = True) -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    label.setText(text)
    if name:
        label.setObjectName(name)
    return label


# --- widgets ------------------------------------------------------------------------------


def _priority_label(priority: str, strings: Strings) -> str:
    return f"{PRIORITY_SHAPE.get(priority, '●')} {strings.t(f'alert.level.{priority}')}"


class AlertBanner(QFrame):
    """The Konfirmasi banner. ``interactive=False`` (a wall screen without a
    desk) shows the same information without buttons."""

    #: Emitted after each refresh with the state: "none", "alert", "sending", "rejected".
    state_changed = Signal(str)

    def __init__(
        self,
        controller: AlertAdapter,
        metrics: theme.ScreenMetrics,
        parent: QWidget | None = None,
        *,
        interactive: bool = True,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.strings = controller.bridge.strings
        self.metrics = metrics
        self.interactive = interactive
        self.alert_id = ""
        self.state = ""
        self._flash_on = True
        self._border_width = 0  # the width the style sheet was made for
        self.setObjectName("alertBanner")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        pad = metrics.pad_px
        big = metrics.heading_px
        self._base_css = (
            f"QLabel {{ background: transparent; }}"
            f"QLabel#alertPriority {{ font-size: {big}px; font-weight: 800; }}"
            f"QLabel#alertText {{ font-size: {big}px; font-weight: 700; color: {theme.TEXT}; }}"
            f"QLabel#alertState {{ font-size: {metrics.body_px}px; font-weight: 700; color: {theme.WARN}; }}"
            f"QLabel#alertInfo {{ font-size: {metrics.body_px}px; color: {theme.TEXT_DIM}; }}"
            f"QLabel#alertEscalated {{ font-size: {metrics.body_px}px; font-weight: 800;"
            f" color: {theme.ALARM_RED}; }}"
            f"QLabel#ackLine {{ font-size: {metrics.body_px}px; font-weight: 600; color: {theme.OK}; }}"
            f"QPushButton#ackButton {{ font-size: {big}px; font-weight: 800; background: #24507a;"
            f" color: {theme.TEXT}; border: 2px solid {theme.ACCENT}; border-radius: 8px;"
            f" padding: {pad}px {pad * 4}px; min-height: {int(big * 1.8)}px; }}"
            f"QPushButton#ackButton:disabled {{ background: {theme.BG_RAISED}; color: {theme.TEXT_DIM};"
            f" border: 2px solid {theme.GRID}; }}"
            f"QPushButton#ackButton:focus {{ border: 3px solid {theme.TEXT}; }}"
        )

        root = QVBoxLayout(self)
        root.setContentsMargins(pad * 2, pad, pad * 2, pad)
        root.setSpacing(pad // 2)
        self.priority_label = _plain("", "alertPriority", wrap=False)
        self.text_label = _plain("", "alertText")
        self.text_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.ack_button: QPushButton | None = None
        self.shortcut: QShortcut | None = None
        if interactive:
            t = self.strings.t
            self.ack_button = QPushButton(t("alert.shortcut", label=t("ack.button"), shortcut=ACK_KEY))
            self.ack_button.setObjectName("ackButton")
            self.ack_button.setCursor(Qt.CursorShape.PointingHandCursor)
            tip = self.strings.t("alert.operator", operator=controller.operator)
            self.ack_button.setToolTip(plain_tooltip(tip))
            self.ack_button.clicked.connect(self._on_ack_clicked)
            self.shortcut = QShortcut(QKeySequence(ACK_KEY), self)
            self.shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            self.shortcut.activated.connect(self._on_ack_clicked)
        self.state_label = _plain("", "alertState", wrap=False)
        self.info_label = _plain("", "alertInfo", wrap=False)
        self.escalated_label = _plain(f"▲▲ {self.strings.t('alert.escalated')}", "alertEscalated", wrap=False)
        self.escalated_label.hide()
        self.shelve_buttons: dict[int, QPushButton] = {}
        self.mute_buttons: dict[int, QPushButton] = {}
        self.unmute_button: QPushButton | None = None
        #: The shelve and the mute controls: a caption and its buttons each.
        self._shelve_group: list[QWidget] = []
        self._mute_group: list[QWidget] = []
        if interactive:
            self._shelve_group.append(_plain(self.strings.t("alert.shelve"), "alertInfo", wrap=False))
            for minutes in SHELVE_MINUTES:
                b = QPushButton(self.strings.t("alert.shelve_min", n=minutes))
                b.setObjectName(f"shelve{minutes}")
                b.clicked.connect(lambda _=False, m=minutes: self._on_shelve(m))
                self._shelve_group.append(b)
                self.shelve_buttons[minutes] = b
            self._mute_group.append(_plain(self.strings.t("alert.mute"), "alertInfo", wrap=False))
            for minutes in MUTE_MINUTES:
                b = QPushButton(self.strings.t("alert.shelve_min", n=minutes))
                b.setObjectName(f"mute{minutes}")
                b.clicked.connect(lambda _=False, m=minutes: self._on_mute(m))
                self._mute_group.append(b)
                self.mute_buttons[minutes] = b
            self.unmute_button = QPushButton(self.strings.t("alert.unmute"))
            self.unmute_button.setObjectName("unmute")
            self.unmute_button.clicked.connect(self._on_unmute)
            self._mute_group.append(self.unmute_button)
        # The rows, filled by _arrange: wide, the priority, the text and the button on one row
        # and the state with every control on the next; narrow (a laptop's half screen), the
        # text on a row of its own and the shelve and mute controls on one row each.
        self._rows = [QHBoxLayout() for _ in range(5)]
        for row in self._rows:
            row.setSpacing(pad * 2)
            root.addLayout(row)
        self.narrow: bool | None = None
        self._arrange(False)
        self.ack_line = _plain("", "ackLine", wrap=False)
        root.addWidget(self.ack_line)

        controller.alerts_changed.connect(self.refresh)
        controller.ack_pending_changed.connect(self.refresh)
        controller.muted_changed.connect(self.refresh)
        controller.bridge.tick.connect(self._on_tick)
        self.refresh()

    def _wide_px(self) -> int:
        """Width the wide arrangement needs: the wider of its two rows, margins included."""
        pad = self.metrics.pad_px

        def row(widgets: list[QWidget]) -> int:
            shown = [w for w in widgets if not w.isHidden()]
            return sum(w.sizeHint().width() for w in shown) + pad * 2 * max(0, len(shown) - 1)

        # The alert's text may wrap, but not below about 16 characters a line.
        text_min = self.text_label.fontMetrics().averageCharWidth() * 16
        top = row([self.priority_label, *([self.ack_button] if self.ack_button else [])]) + text_min + pad * 2
        info = row([self.state_label, self.escalated_label, self.info_label, *self._shelve_group,
                    *self._mute_group]) + pad * 2  # fmt: skip
        return max(top, info) + pad * 4

    def _arrange(self, narrow: bool) -> None:
        if narrow == self.narrow:
            return
        self.narrow = narrow
        for row in self._rows:
            while row.count():
                row.takeAt(0)  # the widgets stay the banner's children
        top, text, info, shelve, mute = self._rows
        button = [self.ack_button] if self.ack_button is not None else []
        if narrow:
            top.addWidget(self.priority_label, 0, Qt.AlignmentFlag.AlignVCenter)
            top.addStretch(1)
            for b in button:
                top.addWidget(b, 0, Qt.AlignmentFlag.AlignVCenter)
            text.addWidget(self.text_label, 1)
            rows = [(shelve, self._shelve_group), (mute, self._mute_group)]
        else:
            top.addWidget(self.priority_label, 0, Qt.AlignmentFlag.AlignVCenter)
            top.addWidget(self.text_label, 1)
            for b in button:
                top.addWidget(b, 0, Qt.AlignmentFlag.AlignVCenter)
            rows = [(info, self._shelve_group), (info, self._mute_group)]
        info.addWidget(self.state_label, 0)
        info.addWidget(self.escalated_label, 0)
        info.addWidget(self.info_label, 1)
        for i, (row, group) in enumerate(rows):
            if not narrow and i == 1 and group:
                row.addSpacing(self.metrics.pad_px * 2)
            for w in group:
                row.addWidget(w, 0)
            if narrow:
                row.addStretch(1)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._arrange(self.width() < self._wide_px())

    # --- state -------------------------------------------------------------------------

    def ack_line_text(self) -> str:
        return self.ack_line.text() if not self.ack_line.isHidden() else ""

    def refresh(self) -> None:
        c = self.controller
        alert = c.top_alert()
        self.alert_id = alert.id if alert is not None else ""
        # Counted over the pending ones (a few), not over every active alert (a burst: thousands).
        pending_others = sum(1 for aid in c.pending_acks if aid != self.alert_id and c.is_active(aid))
        if alert is None:
            state = "none"
            self.priority_label.setText("✓")
            self._priority_colour(theme.OK)
            self.text_label.setText(self.strings.t("alert.none"))
            self.state_label.setText("")
            self.info_label.setText("")
        else:
            pending = alert.id in c.pending_acks
            rejected = c.rejected.get(alert.id)
            state = "sending" if pending else ("rejected" if rejected else "alert")
            color = theme.PRIORITY_COLOR.get(alert.priority, theme.TEXT)
            self.priority_label.setText(_priority_label(alert.priority, self.strings))
            self._priority_colour(color)
            self.text_label.setText(alert.text)
            if pending:
                self.state_label.setText(self.strings.t("ack.sending"))
            elif rejected:
                self.state_label.setText(self.strings.t("alert.rejected", reason=rejected))
            elif pending_others:
                self.state_label.setText(self.strings.t("alert.pending_more", n=pending_others))
            else:
                self.state_label.setText("")
            parts = [self.strings.t("alert.age", age=self.strings.age(alert.age_s(c.clock())))]
            others = c.active_count() - 1
            if others > 0:
                parts.append(self.strings.t("alert.more", n=others))
            shelved = len(c.engine.shelved_list())
            if shelved:
                parts.append(self.strings.t("alert.shelved_count", n=shelved))
            self.info_label.setText(" · ".join(parts))
        self.state_label.setVisible(bool(self.state_label.text()))
        self.escalated_label.setVisible(alert is not None and alert.escalated)
        latest = c.latest_ack()
        if latest is not None:
            self.ack_line.setText(f"✓ {ack_text(latest, self.strings)} — {isolate(latest.text)}")
            self.ack_line.setToolTip(plain_tooltip(latest.text))
            self.ack_line.show()
        else:
            self.ack_line.hide()
        if self.ack_button is not None:
            self.ack_button.setEnabled(alert is not None and alert.id not in c.pending_acks)
        for b in self.shelve_buttons.values():
            b.setEnabled(alert is not None)
        muted = c.engine.is_muted()
        for b in self.mute_buttons.values():
            b.setVisible(not muted)
        if self.unmute_button is not None:
            self.unmute_button.setVisible(muted)
        self._restyle(alert)
        if self.width() > 0:
            self._arrange(self.width() < self._wide_px())  # a longer text may need the narrow rows
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def _priority_colour(self, colour: str) -> None:
        css = f"color: {colour};"
        if self.priority_label.styleSheet() != css:  # a style sheet set is a polish: only on change
            self.priority_label.setStyleSheet(css)

    def _restyle(self, alert: ActiveAlert | None) -> None:
        """Flash only what is unacknowledged: the border of a flashing alert
        toggles each tick; a steady alert keeps its colour; none, a grid line."""
        if alert is None:
            border, width = theme.GRID, 1
        else:
            color = theme.PRIORITY_COLOR.get(alert.priority, theme.TEXT)
            visual = self.controller.config.alerts.priorities.of(alert.priority).visual
            flashing = visual == "flash"
            border = color if (not flashing or self._flash_on) else theme.GRID
            width = max(4, self.metrics.pad_px)
        if self._border_width != width:
            # A new width (an alert came or all went: rare) is a new style sheet, with a rule
            # per colour the border can take at that width; the flash only changes colour, by
            # a property: a setStyleSheet every tick polished the banner and all its children
            # again (about 17 ms of each 1 s tick on the 2x2 desk during a burst).
            self._border_width = width
            colours = sorted({theme.GRID, theme.TEXT, *theme.PRIORITY_COLOR.values()})
            rules = "".join(f'QFrame#alertBanner[tone="{c}"] {{ border: {width}px solid {c}; }}'
                            for c in colours)  # fmt: skip
            self.setProperty("tone", border)
            self.setStyleSheet(f"QFrame#alertBanner {{ background: {theme.BG}; border-radius: 8px; }}"
                               + rules + self._base_css)  # fmt: skip
        elif border != self.property("tone"):
            self.setProperty("tone", border)
            # Only the banner itself is polished again (its border's colour), not its children.
            self.style().unpolish(self)
            self.style().polish(self)
            self.update()

    def is_flashing(self) -> bool:
        alert = self.controller.top_alert()
        if alert is None:
            return False
        return self.controller.config.alerts.priorities.of(alert.priority).visual == "flash"

    def _on_tick(self) -> None:
        self._flash_on = not self._flash_on
        self.refresh()

    def show_flash_lit(self) -> None:
        """The flashing border in its lit phase now (a picture: the gallery grabs the wall
        right after, whatever number of ticks went by); the next tick flashes on from there."""
        self._flash_on = True
        self.refresh()

    # --- clicks ------------------------------------------------------------------------

    def _on_ack_clicked(self, *_: Any) -> None:
        if self.alert_id:
            self.controller.acknowledge(self.alert_id)

    def _on_shelve(self, minutes: int) -> None:
        if self.alert_id:
            self.controller.shelve(self.alert_id, minutes, self.strings.t("alert.shelve_reason"))

    def _on_mute(self, minutes: int) -> None:
        self.controller.mute(minutes)

    def _on_unmute(self, *_: Any) -> None:
        self.controller.unmute()


class _Mark(QLabel):
    def __init__(self, metrics: theme.ScreenMetrics, name: str, color: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.setTextFormat(Qt.TextFormat.PlainText)
        pad = max(2, metrics.pad_px // 2)
        self.setStyleSheet(
            f"QLabel#{name} {{ color: {color}; background: {theme.BG}; border: 2px solid {color};"
            f" border-radius: 4px; font-size: {metrics.body_px}px; font-weight: 800;"
            f" padding: 0px {pad * 2}px; }}"
        )
        self.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)
        self.full_text = ""
        #: Only the mark's shape (a header without room for the words; they stay the tooltip).
        self.short = False
        self.hide()

    def setText(self, text: str) -> None:
        self.full_text = text
        super().setText(text.split(" ", 1)[0] if self.short else text)

    def set_short(self, short: bool) -> None:
        if short != self.short:
            self.short = short
            self.setText(self.full_text)

    def is_shown(self) -> bool:
        return not self.isHidden()


class AudioStatusMark(_Mark):
    """ "⊘ TANPA AUDIO" while no tone can be heard (no device, or no sound
    output configured); hidden otherwise. The reason is the tooltip."""

    def __init__(self, controller: AlertAdapter, metrics: theme.ScreenMetrics) -> None:
        super().__init__(metrics, "audioMark", theme.WARN)
        self.controller = controller
        self.strings = controller.bridge.strings
        controller.audio_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        ok, reason = self.controller.audio_status()
        self.setText(f"⊘ {self.strings.t('audio.none')}")
        self.setToolTip(plain_tooltip(reason))
        self.setVisible(not ok)


class MuteMark(_Mark):
    """ "SUARA MATI s/d 14:30" while a console is muted; hidden otherwise."""

    def __init__(self, controller: AlertAdapter, metrics: theme.ScreenMetrics) -> None:
        super().__init__(metrics, "muteMark", theme.WARN)
        self.controller = controller
        self.strings = controller.bridge.strings
        controller.muted_changed.connect(self.refresh)
        controller.bridge.tick.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        muted = self.controller.muted_consoles()
        if not muted:
            self.hide()
            return
        own = self.controller.console
        parts = []
        for console, until in sorted(muted.items(), key=lambda kv: (kv[0] != own, kv[0])):
            key = "audio.muted" if console == own else "audio.muted_other"
            # With its date when it ends on another day: a mute until 2099 must
            # never read as "until 14:02".
            until_text = when_text(until, self.controller.clock())
            parts.append(self.strings.t(key, console=isolate(console), time=until_text))
        self.setText("✕ " + " · ".join(parts))
        self.show()


class RefusedMark(_Mark):
    """ "⚠ 2 DITOLAK" once the feed has stepped over events whose values the
    protocol refuses (a foreign or older server's): nothing of them is applied
    or shown, the log names each once; hidden otherwise. The tooltip gives the
    last one (position, field and why)."""

    def __init__(self, bridge: EngineBridge, metrics: theme.ScreenMetrics) -> None:
        super().__init__(metrics, "refusedMark", theme.WARN)
        self.bridge = bridge
        self.strings = bridge.strings
        bridge.feed_status_changed.connect(self.refresh)
        self.refresh()

    def refresh(self, *_: object) -> None:
        status = self.bridge.feed_status()
        # A replay's status has no such counter: nothing is refused there.
        count = int(getattr(status, "refused", 0))
        self.setText(f"⚠ {self.strings.t('feed.refused_mark', n=self.strings.number(count))}")
        last = str(getattr(status, "last_refused", ""))
        self.setToolTip(plain_tooltip(self.strings.t("feed.refused_tip", last=last)))
        self.setVisible(count > 0)


def make_marks(adapter: AlertAdapter, metrics: theme.ScreenMetrics) -> tuple[AudioStatusMark, MuteMark]:
    """The no-audio and muted marks for one screen header (its ``add_mark``)."""
    return AudioStatusMark(adapter, metrics), MuteMark(adapter, metrics)


def incident_alert_states(adapter: AlertAdapter) -> dict[str, dict[str, str]]:
    """What each incident's map popup says about its alerts (the service
    decides the state): "alert" (to acknowledge), "sending" ("mengirim…") or
    "acked" ("✓ Dikonfirmasi oleh Sari, 14:02")."""
    strings = adapter.bridge.strings
    return {iid: _popup_state(state, strings) for iid, state in adapter.incident_states().items()}


def _popup_state(state: IncidentAlertState, strings: Strings) -> dict[str, str]:
    word, alert = state
    if word == "sending":
        return {"state": "sending", "line": strings.t("ack.sending")}
    if word == "acked":
        return {"state": "acked", "line": f"✓ {ack_text(alert, strings)}"}
    return {"state": "alert", "line": ""}


def sync_map_alert_states(view: MapView, adapter: AlertAdapter) -> None:
    """Keep a MapView's popups told about their incidents' alerts (its
    ``set_alert_states``)."""
    # A weak reference: the adapter outlives the windows (screens come and
    # go), and must not keep a closed map (and its web page) alive.
    ref = weakref.ref(view)

    def sync(changes: IncidentStateChanges) -> None:
        target = ref()
        if target is None:
            with contextlib.suppress(RuntimeError, TypeError):
                adapter.incident_states_changed.disconnect(sync)
            return
        # Only the incidents that changed: a burst of thousands of alerts must not
        # cost a pass over all of them per change.
        strings = adapter.bridge.strings
        target.update_alert_states(
            {iid: None if state is None else _popup_state(state, strings) for iid, state in changes.items()}
        )

    adapter.incident_states_changed.connect(sync)
    view.set_alert_states(incident_alert_states(adapter))


# --- the operator ---------------------------------------------------------------------------


class OperatorDialog(QDialog):
    """Who sits at this console: one big button per configured operator
    (display.operators), or a name field when none is configured."""

    def __init__(
        self,
        config: Config,
        parent: QWidget | None = None,
        metrics: theme.ScreenMetrics | None = None,
        strings: Strings | None = None,
    ) -> None:
        super().__init__(parent)
        m = metrics or theme.metrics_for(1920, 1080, 24, 0.8)
        #: Asked before the wall's bridge exists: the program's Strings, else the config's language.
        self.strings = strings if strings is not None else strings_for(config.display.language)
        self.chosen = ""
        self.setWindowTitle(self.strings.t("app.title"))
        self.setStyleSheet(
            theme.stylesheet(m) + f"QPushButton {{ font-size: {m.heading_px}px; font-weight: 700;"
            f" min-height: {int(m.heading_px * 1.8)}px; }}"
        )
        layout = QVBoxLayout(self)
        pad = m.pad_px
        layout.setContentsMargins(pad * 4, pad * 4, pad * 4, pad * 4)
        layout.setSpacing(pad * 2)
        layout.addWidget(_plain(self.strings.t("operator.title"), "heading"))
        self.buttons: dict[str, QPushButton] = {}
        operators = [str(o) for o in config.display.operators]
        for name in operators:
            b = QPushButton(name)
            b.setObjectName(f"operator-{name}")
            b.clicked.connect(lambda _=False, n=name: self.pick(n))
            layout.addWidget(b)
            self.buttons[name] = b
        self.field: QLineEdit | None = None
        if not operators:
            field = QLineEdit()
            field.setPlaceholderText(self.strings.t("operator.other"))
            field.setMaxLength(60)
            ok = QPushButton(self.strings.t("operator.ok"))
            ok.clicked.connect(lambda: self.pick(field.text()))
            field.returnPressed.connect(lambda: self.pick(field.text()))
            layout.addWidget(field)
            layout.addWidget(ok)
            self.field = field

    def pick(self, name: str) -> None:
        name = " ".join(name.split())
        if name:
            self.chosen = name
            self.accept()


def choose_operator(
    config: Config,
    parent: QWidget | None = None,
    metrics: theme.ScreenMetrics | None = None,
    strings: Strings | None = None,
) -> str:
    """Ask who sits at this console (a modal dialog); the name, or "" when
    it was closed. Runs a nested Qt event loop (QDialog.exec): call it before
    the qasync loop runs, or use :func:`ask_operator` inside it (a nested
    loop inside a qasync callback stalls asyncio tasks)."""
    dialog = OperatorDialog(config, parent, metrics, strings)
    dialog.exec()
    return dialog.chosen


async def ask_operator(
    config: Config,
    parent: QWidget | None = None,
    metrics: theme.ScreenMetrics | None = None,
    strings: Strings | None = None,
) -> str:
    """:func:`choose_operator` for code running on the qasync loop: the dialog
    is opened window-modal and awaited, without a nested event loop."""
    dialog = OperatorDialog(config, parent, metrics, strings)
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def finished(_code: int) -> None:
        if not done.done():
            done.set_result(dialog.chosen)

    dialog.finished.connect(finished)
    dialog.open()
    try:
        return await done
    finally:
        dialog.deleteLater()
