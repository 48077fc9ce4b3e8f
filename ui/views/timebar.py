"""Replay on the wall: the banner every screen shows and the console's time bar.

:class:`ReplayBanner` ("PUTAR ULANG · Sabtu 12 Okt 10:32 WIB") sits where the stale banner
sits, in the one colour kept for replay (theme.REPLAY_BG), so a replayed past is never taken
for live. :class:`TimeBar` drives a :class:`~commandcenter.history.player.ReplayPlayer`: each
control is one player call (play, pause, set_speed, seek, next_alert); it holds no rule of its
own beyond reading what a person typed into the jump field.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Coroutine
from typing import Any

from babel.dates import format_date
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from commandcenter.core.i18n import Strings
from commandcenter.core.text import local_time
from commandcenter.core.timeutil import WIB
from commandcenter.history.player import ReplayPlayer, ReplayStatus
from commandcenter.storage.audit import parse_since
from ui.support import theme
from ui.support.bridge import EngineBridge
from ui.support.widgets import PanelBanner

log = logging.getLogger(__name__)

#: The speeds the bar offers (the player takes 1x to 600x).
SPEEDS = (1, 10, 60, 600)


def replay_moment(strings: Strings, ts: dt.datetime, *, weekday: bool = True) -> str:
    """'Sabtu 12 Okt 10:32' (id), 'Saturday 12 Oct 10:32' (en): the replayed moment in WIB,
    with the weekday, so a replay of last Saturday never reads as today."""
    local = local_time(ts)
    day = format_date(local.date(), "EEEE d MMM" if weekday else "d MMM", locale=strings.locale)
    return f"{day} {local:%H:%M}"


def replay_banner_texts(strings: Strings, status: ReplayStatus) -> list[str]:
    """The banner's text, longest first: with the speed (or "dijeda"), without it, without the
    weekday; a narrow screen with huge text takes the first that fits."""
    text = strings.t("replay.banner", when=replay_moment(strings, status.position))
    speed = strings.t("replay.speed", n=strings.number(status.speed, None))
    short = strings.t("replay.banner", when=replay_moment(strings, status.position, weekday=False))
    return [f"{text} · {speed if status.playing else strings.t('replay.paused')}", text, short]


class ReplayBanner(PanelBanner):
    """Banner shown on every screen while the wall replays a journal: where the stale banner
    sits, at its height, in its own colour; on a video wall written once in each panel
    (:class:`ui.support.widgets.PanelBanner`). The last text, the moment without its weekday,
    fits every shipped preset."""

    def __init__(self, metrics: theme.ScreenMetrics, parent: QWidget | None = None,
                 panel_columns: int = 1) -> None:
        super().__init__(metrics, "replayBanner", theme.REPLAY_BG, theme.REPLAY_TEXT, 0, parent,
                         panel_columns)  # fmt: skip


def parse_jump(text: str, around: dt.datetime) -> dt.datetime:
    """What the jump field means: 'HH:MM' (WIB) on the day of ``around``, or an ISO time
    (WIB when it has no offset). ValueError for anything else: never applied."""
    value = text.strip()
    if len(value) <= 5 and ":" in value:
        try:
            hh, mm = (int(x) for x in value.split(":"))
            clock = dt.time(hh, mm)
        except ValueError:
            raise ValueError(value) from None
        return dt.datetime.combine(local_time(around).date(), clock, WIB).astimezone(dt.UTC)
    try:
        return parse_since(value).astimezone(dt.UTC)
    except ValueError:
        raise ValueError(value) from None


class TimeBar(QWidget):
    """Play/pause, speed, a slider over the replayed period, jump to a time, next alert and the
    declared situations' moments; follows the player's status through the bridge."""

    def __init__(
        self, bridge: EngineBridge, metrics: theme.ScreenMetrics, player: ReplayPlayer,
        parent: QWidget | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.setObjectName("timeBar")
        self.bridge = bridge
        self.player = player
        self.strings = s = bridge.strings
        self._tasks: set[asyncio.Future[Any]] = set()
        pad = metrics.pad_px
        self.setStyleSheet(
            f"QWidget#timeBar {{ background: {theme.BG_PANEL}; border-top: 3px solid {theme.REPLAY_BG}; }}"
            f"QPushButton:checked {{ background: {theme.REPLAY_BG}; color: {theme.REPLAY_TEXT}; }}"
            f"QLabel#timeBarError {{ color: {theme.WARN}; }}"
            # The whole period visible as a track, the part already replayed in the replay colour.
            f"QSlider#replaySlider::groove:horizontal {{ height: {pad}px; background: {theme.GRID};"
            f" border-radius: {pad // 2}px; }}"
            f"QSlider#replaySlider::sub-page:horizontal {{ background: {theme.REPLAY_BG};"
            f" border-radius: {pad // 2}px; }}"
            f"QSlider#replaySlider::handle:horizontal {{ background: {theme.TEXT}; width: {pad * 3}px;"
            f" margin: -{pad}px 0; border-radius: {pad}px; }}"
        )
        # Two rows: the slider over the whole width (a day is long), the buttons under it.
        rows = QVBoxLayout(self)
        rows.setContentsMargins(pad * 2, pad, pad * 2, pad)
        rows.setSpacing(pad // 2)
        track = QHBoxLayout()
        track.setSpacing(pad)
        row = QHBoxLayout()
        row.setSpacing(pad)
        rows.addLayout(track)
        rows.addLayout(row)
        self.play_button = QPushButton(s.t("replay.play"))
        self.play_button.setObjectName("replayPlay")
        self.play_button.clicked.connect(self._on_play_clicked)
        row.addWidget(self.play_button)
        self.speed_group = QButtonGroup(self)
        self.speed_group.setExclusive(True)
        self.speed_buttons: dict[int, QPushButton] = {}
        for speed in SPEEDS:
            b = QPushButton(s.t("replay.speed", n=s.number(speed)))
            b.setObjectName(f"replaySpeed{speed}")
            b.setCheckable(True)
            self.speed_group.addButton(b, speed)
            self.speed_buttons[speed] = b
            row.addWidget(b)
        self.speed_group.idClicked.connect(self._on_speed_clicked)
        self.start_label = QLabel(replay_moment(s, player.start))
        track.addWidget(self.start_label)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("replaySlider")
        self.slider.setRange(0, max(1, int((player.end - player.start).total_seconds())))
        self.slider.setPageStep(600)
        self.slider.sliderReleased.connect(self._on_slider_released)
        self.slider.actionTriggered.connect(self._on_slider_action)
        track.addWidget(self.slider, 1)
        self.end_label = QLabel(replay_moment(s, player.end))
        track.addWidget(self.end_label)
        self.position_label = QLabel()
        self.position_label.setObjectName("replayPosition")
        self.position_label.setStyleSheet("font-weight: 700;")
        row.addWidget(self.position_label)
        row.addStretch(1)
        self.jump_field = QLineEdit()
        self.jump_field.setObjectName("replayJump")
        self.jump_field.setPlaceholderText(s.t("replay.jump_hint"))
        hint_px = self.jump_field.fontMetrics().horizontalAdvance(s.t("replay.jump_hint"))
        self.jump_field.setMinimumWidth(hint_px + pad * 4)
        self.jump_field.returnPressed.connect(self._on_jump)
        row.addWidget(self.jump_field)
        self.jump_button = QPushButton(s.t("replay.jump"))
        self.jump_button.clicked.connect(self._on_jump)
        row.addWidget(self.jump_button)
        self.next_alert_button = QPushButton(s.t("replay.next_alert"))
        self.next_alert_button.setObjectName("replayNextAlert")
        self.next_alert_button.clicked.connect(self._on_next_alert)
        row.addWidget(self.next_alert_button)
        self.situations = QComboBox()
        self.situations.setObjectName("replaySituations")
        self.situations.addItem(s.t("replay.situation"), None)
        for when in player.timeline.situation_times():
            if player.start <= when <= player.end:
                self.situations.addItem(s.t("replay.situation_at", time=s.clock(when, seconds=False)), when)
        self.situations.setEnabled(self.situations.count() > 1)
        self.situations.activated.connect(self._on_situation)
        row.addWidget(self.situations)
        #: Why the last jump was not made (a time not understood, no alert after this moment).
        self.error_label = QLabel()
        self.error_label.setObjectName("timeBarError")
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.hide()
        row.addWidget(self.error_label)
        bridge.feed_status_changed.connect(self._on_status)
        self.refresh()

    # --- following the player ------------------------------------------------------------

    def _on_status(self, *_: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        st = self.player.status()
        s = self.strings
        self.play_button.setText(s.t("replay.pause") if st.playing else s.t("replay.play"))
        button = self.speed_buttons.get(int(st.speed))
        if button is not None and not button.isChecked():
            button.setChecked(True)
        if not self.slider.isSliderDown():  # never pull the handle from under a hand
            self.slider.setValue(int((st.position - st.start).total_seconds()))
        self.position_label.setText(replay_moment(s, st.position))

    # --- controls: each one player call -------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("replay control failed", exc_info=task.exception())
            self._show_error(str(task.exception()))

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def seek(self, when: dt.datetime) -> None:
        self._show_error("")
        self._spawn(self.player.seek(when))

    def _on_play_clicked(self, *_: Any) -> None:
        if self.player.playing:
            self.player.pause()
        else:
            self.player.play()

    def _on_speed_clicked(self, speed: int) -> None:
        self.player.set_speed(speed)

    def _on_slider_released(self) -> None:
        self.seek(self.player.start + dt.timedelta(seconds=self.slider.sliderPosition()))

    def _on_slider_action(self, action: int) -> None:
        # Clicks on the groove and keys move the handle without a release: seek there too.
        if not self.slider.isSliderDown() and action != QSlider.SliderAction.SliderMove.value:
            self.seek(self.player.start + dt.timedelta(seconds=self.slider.sliderPosition()))

    def _on_jump(self, *_: Any) -> None:
        text = self.jump_field.text()
        try:
            when = parse_jump(text, self.player.position)
        except ValueError:
            self._show_error(self.strings.t("replay.bad_time", text=text.strip()))
            return
        self.seek(when)

    def _on_next_alert(self, *_: Any) -> None:
        self._show_error("")

        async def jump() -> None:
            if await self.player.next_alert() is None:
                self._show_error(self.strings.t("replay.no_alert"))

        self._spawn(jump())

    def _on_situation(self, index: int) -> None:
        when = self.situations.itemData(index)
        if isinstance(when, dt.datetime):
            self.seek(when)

    def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
