"""Alerts on the wall: tones, speech, the Konfirmasi banner, the audio marks.

The rules live in :mod:`commandcenter.wall.alerts` (no Qt); this module is their Qt
half:

- :class:`AlertController` owns the :class:`~commandcenter.wall.alerts.AlertEngine`
  of this wall, feeds it the bridge's change sets and ticks, plays what its
  actions ask for (tones through :class:`SoundOutput`, text through the
  :class:`~commandcenter.wall.speech.SpeechWorker`; a tone instead when speech
  fails), writes their audit rows, and sends the operator's commands
  (acknowledge, shelve, mute) through the feed's outbox.
- An acknowledgement is *pending* ("mengirim…") from the click until the
  server's ``AlertAcknowledged`` event is in ``store.acks`` (or the server
  refused it). Nothing here ever shows an alert as acknowledged before that:
  "Dikonfirmasi oleh Sari, 14:02" is read from the engine's latched
  acknowledgement, which only the store feeds.
- :class:`SoundOutput` plays the generated tones (commandcenter.wall.tones) with
  QSoundEffect. With no audio output device (QMediaDevices lists none, or a
  tone fails to load) it reports ``available() == (False, reason)`` and
  :class:`AudioStatusMark` shows "TANPA AUDIO" on every screen instead of the
  wall pretending to play.
- :class:`AlertBanner` is the big banner of the operator console (and of wall
  screens configured interactive): the top alert's text, its priority as a
  word and a shape (never colour alone), a large "Konfirmasi" button (key F2),
  shelve and mute choices, and the latest acknowledgement.

Text from the feed (place names inside alert texts) is shown in plain-text
labels only.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
import weakref
from collections import deque
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QKeySequence, QShortcut
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

from commandcenter.core import protocol as p
from commandcenter.core.store import ChangeSet
from commandcenter.core.timeutil import WIB, Clock, utcnow
from commandcenter.wall.alerts import ActiveAlert, AlertAction, AlertEngine, write_audit
from commandcenter.wall.tones import TONE_NAMES, tone_key, write_tones
from ui.support import i18n, theme
from ui.support.bridge import EngineBridge, safe_slot
from ui.support.i18n import format_age, t

if TYPE_CHECKING:
    from commandcenter.config import Config
    from commandcenter.storage.journal import Journal
    from commandcenter.wall.speech import SpeechItem, SpeechWorker
    from ui.views.header import ScreenHeader

log = logging.getLogger(__name__)

EXTRA_STRINGS: dict[str, dict[str, str]] = {
    "alert.none": {"id": "Tidak ada peringatan aktif", "en": "No active alerts"},
    "alert.more": {"id": "+{n} peringatan lain", "en": "+{n} more alerts"},
    "alert.pending_more": {"id": "mengirim… ({n})", "en": "sending… ({n})"},
    "alert.age": {"id": "{age} lalu", "en": "{age} ago"},
    # The alert's own priority (from the rule), said as such: next to the
    # incident's "prioritas rendah" in the text, a bare "TINGGI" read as a
    # contradiction (a child-protection report is a high alert at any priority).
    "alert.level.high": {"id": "PERINGATAN TINGGI", "en": "HIGH ALERT"},
    "alert.level.medium": {"id": "PERINGATAN SEDANG", "en": "MEDIUM ALERT"},
    "alert.level.low": {"id": "PERINGATAN RENDAH", "en": "LOW ALERT"},
    "alert.escalated": {"id": "DIESKALASI", "en": "ESCALATED"},
    "alert.rejected": {"id": "Konfirmasi ditolak: {reason}", "en": "Acknowledgement refused: {reason}"},
    "alert.shortcut": {"id": "{label}  [{shortcut}]", "en": "{label}  [{shortcut}]"},
    "alert.shelve": {"id": "Tunda", "en": "Shelve"},
    "alert.shelve_min": {"id": "{n} mnt", "en": "{n} min"},
    "alert.mute": {"id": "Bisukan", "en": "Mute"},
    "alert.unmute": {"id": "Nyalakan suara", "en": "Sound on"},
    "alert.shelved_count": {"id": "Ditunda: {n}", "en": "Shelved: {n}"},
    "alert.shelve_reason": {"id": "ditunda operator", "en": "shelved by the operator"},
    "alert.operator": {"id": "Operator: {operator}", "en": "Operator: {operator}"},
    "audio.none": {"id": "TANPA AUDIO", "en": "NO AUDIO OUTPUT"},
    "audio.muted": {"id": "SUARA MATI s/d {time}", "en": "SOUND MUTED until {time}"},
    "audio.muted_other": {
        "id": "SUARA MATI {console} s/d {time}",
        "en": "SOUND MUTED {console} until {time}",
    },
    "audio.disabled": {"id": "suara tidak dipasang", "en": "no sound output configured"},
    "operator.title": {"id": "Siapa yang bertugas di konsol ini?", "en": "Who is on duty at this console?"},
    "operator.other": {"id": "Nama operator", "en": "Operator name"},
    "operator.ok": {"id": "Masuk", "en": "Sign in"},
}
for _key, _value in EXTRA_STRINGS.items():
    i18n.STRINGS.setdefault(_key, _value)

#: The acknowledge key. F2 needs no modifier, so it can be hit without looking
#: at the keyboard, and none of the wall's views uses it (the tables are read
#: only, so F2 never starts an edit); Ctrl+K would need two hands on a
#: console keyboard and is "search" in browsers.
ACK_KEY = "F2"
SHELVE_MINUTES: tuple[int, ...] = (15, 30, 60)
MUTE_MINUTES: tuple[int, ...] = (5, 15)
#: The latest acknowledgement stays on the banner for this long.
ACK_LINE_S = 600.0
#: Shapes that go with the priority words (never colour alone).
PRIORITY_SHAPE = {"high": "▲", "medium": "◆", "low": "●"}


def wib_hhmm(ts: dt.datetime) -> str:
    return ts.astimezone(WIB).strftime("%H:%M")


def ack_text(alert: ActiveAlert) -> str:
    """ "Dikonfirmasi oleh Sari, 14:02" (WIB) for an acknowledged alert."""
    assert alert.acknowledged_at is not None
    return t("ack.by", operator=alert.acknowledged_by, time=wib_hhmm(alert.acknowledged_at))


def _plain(text: str = "", name: str = "", *, wrap: bool = True) -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    label.setText(text)
    if name:
        label.setObjectName(name)
    return label


# --- sound -------------------------------------------------------------------------------


def default_tone_dir() -> Path:
    import platformdirs

    from commandcenter.config import APP_NAME

    return Path(platformdirs.user_cache_dir(APP_NAME)) / "tones"


class SoundOutput(QObject):
    """The priority tones through QSoundEffect, with an honest availability.

    ``available()`` is (False, reason) when Qt lists no audio output, the
    default output is null, or a tone failed to load (QSoundEffect reports
    ``Status.Error`` and stays silent without raising anything). Devices that
    come or go while running are followed (``availability_changed``).

    ``play()`` returns whether a tone was started. ``last_requested`` is the
    ``time.monotonic()`` of the last play request, ``last_started`` that of
    the last moment an effect said it was playing (only with a device).
    ``load_without_device`` creates the effects even when no device is found
    (the benchmark times the play request on machines without sound).
    """

    availability_changed = Signal(bool, str)
    #: A tone name, when its effect reports it is playing.
    started = Signal(str)

    def __init__(
        self,
        directory: str | Path | None = None,
        parent: QObject | None = None,
        *,
        load_without_device: bool = False,
    ) -> None:
        super().__init__(parent)
        from PySide6.QtMultimedia import QMediaDevices

        self.paths = write_tones(directory or default_tone_dir())
        self._load_without_device = load_without_device
        self._devices = QMediaDevices(self)
        self._devices.audioOutputsChanged.connect(self._probe)
        self._effects: dict[str, Any] = {}
        self._errors: dict[str, str] = {}
        self._state: tuple[bool, str] = (False, "")
        self.last_requested: float | None = None
        self.last_started: float | None = None
        #: (monotonic, tone, started?) of recent play requests, newest last.
        self.history: deque[tuple[float, str, bool]] = deque(maxlen=64)
        self._probe()

    def available(self) -> tuple[bool, str]:
        return self._state

    def _probe(self) -> None:
        from PySide6.QtMultimedia import QMediaDevices

        outputs = QMediaDevices.audioOutputs()
        default = QMediaDevices.defaultAudioOutput()
        if not outputs or default.isNull():
            device_ok, reason = False, "no audio output device (QMediaDevices lists none)"
        else:
            device_ok, reason = True, f"audio output: {default.description()}"
        if device_ok or self._load_without_device:
            self._load(default if device_ok else None)
        else:
            self._drop_effects()
        if device_ok and self._errors:
            name, why = next(iter(self._errors.items()))
            device_ok, reason = False, f"tone {name} cannot play: {why}"
        self._set_state(device_ok, reason)

    def _set_state(self, ok: bool, reason: str) -> None:
        if (ok, reason) != self._state:
            self._state = (ok, reason)
            (log.info if ok else log.warning)("sound: %s", reason)
            self.availability_changed.emit(ok, reason)

    def _drop_effects(self) -> None:
        for effect in self._effects.values():
            effect.stop()
            effect.deleteLater()
        self._effects = {}
        self._errors = {}

    def _load(self, device: Any) -> None:
        from PySide6.QtMultimedia import QSoundEffect

        self._drop_effects()
        for name in TONE_NAMES:
            effect = QSoundEffect(self)
            if device is not None:
                effect.setAudioDevice(device)
            effect.statusChanged.connect(lambda n=name, e=effect: self._on_status(n, e))
            effect.playingChanged.connect(lambda n=name, e=effect: self._on_playing(n, e))
            effect.setSource(QUrl.fromLocalFile(str(self.paths[name])))
            self._effects[name] = effect

    def _on_status(self, name: str, effect: Any) -> None:
        from PySide6.QtMultimedia import QSoundEffect

        if effect.status() == QSoundEffect.Status.Error:
            self._errors[name] = "QSoundEffect status Error (no device or unsupported format)"
            if self._state[0]:
                self._set_state(False, f"tone {name} cannot play: {self._errors[name]}")
        else:
            self._errors.pop(name, None)

    def _on_playing(self, name: str, effect: Any) -> None:
        if effect.isPlaying():
            self.last_started = time.monotonic()
            self.started.emit(name)

    def play(self, name: str) -> bool:
        """Play a tone ("high" or "tone_high"); False when nothing can be heard."""
        key = tone_key(name)
        self.last_requested = time.monotonic()
        effect = self._effects.get(key)
        ok = self._state[0] and effect is not None
        if effect is not None:
            for other in self._effects.values():
                if other is not effect and other.isPlaying():
                    other.stop()
            effect.play()
        self.history.append((self.last_requested, key, ok))
        return ok

    def stop(self) -> None:
        for effect in self._effects.values():
            effect.stop()


# --- the controller ------------------------------------------------------------------------


class AlertController(QObject):
    """This wall's alert engine, sound and speech, and the operator's commands.

    ``console`` is this console's name (an empty name for a wall without a
    desk), ``operator`` who sits at it. Every command goes through
    ``bridge.feed.submit`` (journal outbox first, then the server).
    """

    #: The active / shelved / recent lists may have changed.
    alerts_changed = Signal()
    #: ``pending_acks`` changed (a click, a confirmation, a refusal).
    ack_pending_changed = Signal()
    #: ``engine.muted_consoles()`` changed.
    muted_changed = Signal()
    #: Sound availability (SoundOutput or speech) changed.
    audio_changed = Signal()
    #: Speech callbacks, moved from the speech thread to the GUI thread.
    _speech_event = Signal(str, object, object)

    def __init__(
        self,
        bridge: EngineBridge,
        journal: Journal | None,
        *,
        operator: str,
        console: str,
        audio: SoundOutput | None = None,
        speech: SpeechWorker | None = None,
        clock: Clock | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.config: Config = bridge.config
        self.store = bridge.store
        self.journal = journal
        self.operator = operator
        self.console = console
        self.audio = audio
        self.speech = speech
        self.clock: Clock = clock or utcnow
        self.engine = AlertEngine(bridge.config, bridge.store, clock=self.clock, console=console)
        #: Alert ids whose acknowledgement was sent and not yet confirmed.
        self.pending_acks: set[str] = set()
        #: Alert id -> the server's reason for refusing its acknowledgement.
        self.rejected: dict[str, str] = {}
        self._commands: dict[str, tuple[str, str]] = {}  # command id -> (kind, alert id)
        self._tasks: set[asyncio.Future[Any]] = set()
        self._muted: dict[str, dt.datetime] = self.engine.muted_consoles()
        #: Latency marks for the benchmark: (monotonic, tone) / (monotonic, item).
        self.tones_played: deque[tuple[float, str]] = deque(maxlen=256)
        self.speech_started: deque[tuple[float, Any]] = deque(maxlen=256)
        self.speech_failures: deque[tuple[str, str]] = deque(maxlen=64)
        self.actions_seen = 0
        self._speech_event.connect(self._on_speech_event)
        if speech is not None:
            speech.on_started = lambda item: self._speech_event.emit("started", item, None)
            speech.on_failed = lambda item, exc: self._speech_event.emit("failed", item, exc)
        if audio is not None:
            audio.availability_changed.connect(lambda *_: self.audio_changed.emit())
        bridge.changed.connect(self._on_changed)
        bridge.tick.connect(self._on_tick)
        bridge.command_result.connect(self._on_command_result)
        if journal is not None or bridge.feed is not None:
            self._spawn(self._restore_pending(), "restore pending acknowledgements")

    # --- queries ---------------------------------------------------------------------

    def active(self) -> list[ActiveAlert]:
        return self.engine.active()

    def top_alert(self) -> ActiveAlert | None:
        """The alert the banner shows: the most urgent one not already being
        sent, else the most urgent one."""
        alerts = self.engine.active()
        for alert in alerts:
            if alert.id not in self.pending_acks:
                return alert
        return alerts[0] if alerts else None

    def latest_ack(self, within_s: float = ACK_LINE_S) -> ActiveAlert | None:
        recent = self.engine.acknowledged_recent(within_s)
        return recent[0] if recent else None

    def audio_status(self) -> tuple[bool, str]:
        if self.audio is None:
            return False, t("audio.disabled")
        return self.audio.available()

    def muted_consoles(self) -> dict[str, dt.datetime]:
        return self.engine.muted_consoles()

    # --- operator commands -------------------------------------------------------------

    def acknowledge(self, alert_id: str) -> bool:
        """Send an acknowledgement; False when there is nothing to send (already
        acknowledged or already on its way)."""
        if alert_id in self.store.acks or alert_id in self.pending_acks:
            return False
        alert = self.engine.get(alert_id)
        if alert is None or alert.acknowledged_at is not None:
            return False
        cmd = p.Acknowledge(
            command_id=uuid.uuid4().hex, operator=self.operator, console=self.console, at=self.clock(),
            alert_id=alert_id, incident_id=alert.incident_id,
        )  # fmt: skip
        self.pending_acks.add(alert_id)
        self.rejected.pop(alert_id, None)
        self._commands[cmd.command_id] = ("ack", alert_id)
        self._send(cmd, "alert.ack_sent", "alert", alert_id, {"incident_id": alert.incident_id})
        self.ack_pending_changed.emit()
        self.alerts_changed.emit()
        return True

    def acknowledge_incident(self, incident_id: str) -> str | None:
        """Acknowledge the most urgent active alert of an incident (the queue's
        context action and the map popup); returns its id, or None."""
        for alert in self.engine.active():
            if alert.incident_id == incident_id and alert.id not in self.pending_acks:
                return alert.id if self.acknowledge(alert.id) else None
        return None

    def shelve(self, alert_id: str, minutes: float, reason: str = "") -> None:
        until = self.clock() + dt.timedelta(minutes=minutes)
        cmd = p.Shelve(
            command_id=uuid.uuid4().hex, operator=self.operator, console=self.console, at=self.clock(),
            alert_id=alert_id, until=until, reason=reason[:200],
        )  # fmt: skip
        self._commands[cmd.command_id] = ("shelve", alert_id)
        detail = {"until": until.isoformat(), "minutes": minutes, "reason": reason}
        self._send(cmd, "alert.shelve_sent", "alert", alert_id, detail)

    def unshelve(self, alert_id: str) -> None:
        cmd = p.Unshelve(
            command_id=uuid.uuid4().hex, operator=self.operator, console=self.console, at=self.clock(),
            alert_id=alert_id,
        )  # fmt: skip
        self._commands[cmd.command_id] = ("unshelve", alert_id)
        self._send(cmd, "alert.unshelve_sent", "alert", alert_id, {})

    def mute(self, minutes: float) -> None:
        until = self.clock() + dt.timedelta(minutes=minutes)
        cmd = p.Mute(
            command_id=uuid.uuid4().hex, operator=self.operator, console=self.console, at=self.clock(),
            until=until,
        )  # fmt: skip
        self._commands[cmd.command_id] = ("mute", "")
        self._send(cmd, "console.mute_sent", "console", self.console, {"until": until.isoformat()})

    def unmute(self) -> None:
        cmd = p.Unmute(
            command_id=uuid.uuid4().hex, operator=self.operator, console=self.console, at=self.clock()
        )
        self._commands[cmd.command_id] = ("unmute", "")
        self._send(cmd, "console.unmute_sent", "console", self.console, {})

    def _send(self, cmd: Any, action: str, kind: str, target: str, detail: dict[str, Any]) -> None:
        detail = {**detail, "command_id": cmd.command_id}
        self._spawn(self._submit(cmd, action, kind, target, detail), f"send {action}")

    async def _submit(self, cmd: Any, action: str, kind: str, target: str, detail: dict[str, Any]) -> None:
        feed = self.bridge.feed
        journal = self.journal
        if journal is not None:
            await journal.audit(
                action, operator=self.operator, console=self.console, target_kind=kind, target_id=target,
                detail=detail, at=cmd.at,
            )  # fmt: skip
        if feed is not None:
            await feed.submit(cmd)
        elif journal is not None:
            # No feed attached: the outbox keeps it until a feed client sends it.
            tag = str(type(cmd).__struct_config__.tag)
            await journal.outbox_add(cmd.command_id, tag, p.encode(cmd))
        else:
            raise RuntimeError(f"no feed and no journal: {action} for {target} cannot be sent")

    async def _restore_pending(self) -> None:
        """Acknowledgements still in the outbox (sent before a restart, or while
        offline) show as "mengirim…" again until the server confirms them."""
        journal = self.journal or (self.bridge.feed.journal if self.bridge.feed else None)
        if journal is None:
            return
        changed = False
        for row in await journal.outbox_pending():
            if row.kind != "ack":
                continue
            try:
                frame = p.decode_client_frame(row.data)
            except p.ProtocolError:
                continue
            if isinstance(frame, p.Acknowledge) and frame.alert_id not in self.store.acks:
                self._commands[frame.command_id] = ("ack", frame.alert_id)
                if frame.alert_id not in self.pending_acks:
                    self.pending_acks.add(frame.alert_id)
                    changed = True
        if changed:
            self.ack_pending_changed.emit()
            self.alerts_changed.emit()

    # --- engine ---------------------------------------------------------------------

    @safe_slot
    def _on_changed(self, changes: ChangeSet) -> None:
        actions = self.engine.on_changes(changes)
        self._perform(actions)
        confirmed = {aid for aid in self.pending_acks if aid in self.store.acks}
        if confirmed:
            self.pending_acks -= confirmed
            self.ack_pending_changed.emit()
        touched = bool(actions) or bool(confirmed) or changes.reset or bool(changes.acks)
        self._check_muted()
        if touched or changes.shelved or changes.unshelved:
            self.alerts_changed.emit()

    @safe_slot
    def _on_tick(self) -> None:
        actions = self.engine.tick()
        self._perform(actions)
        self._check_muted()
        if actions:
            self.alerts_changed.emit()

    def _check_muted(self) -> None:
        muted = self.engine.muted_consoles()
        if muted != self._muted:
            self._muted = muted
            self.muted_changed.emit()

    def _perform(self, actions: list[AlertAction]) -> None:
        if not actions:
            return
        self.actions_seen += len(actions)
        for action in actions:
            if action.kind == "clear" and self.speech is not None:
                for aid in action.alert_ids:
                    self.speech.cancel(aid)  # acknowledged or resolved: not announced any more
            if action.sound:
                self._play(action.sound)
            if action.speech and self.speech is not None:
                self.speech.say(action.speech, action.priority or "medium", key=action.alert_id)
        if self.journal is not None and any(a.audit is not None for a in actions):
            self._spawn(write_audit(self.journal, actions), "write alert audit")

    def _play(self, sound: str) -> None:
        name = tone_key(sound)
        self.tones_played.append((time.monotonic(), name))
        if self.audio is not None:
            self.audio.play(name)

    @safe_slot
    def _on_speech_event(self, kind: str, item: SpeechItem, exc: object) -> None:
        if kind == "started":
            self.speech_started.append((time.monotonic(), item))
            return
        # Speech could not be heard: the priority's tone instead.
        self.speech_failures.append((item.text, str(exc)))
        if item.key and (item.key in self.store.acks or self.engine.get(item.key) is None):
            return
        tone = self.config.alerts.priorities.of(item.priority).tone
        if tone and not self.engine.is_muted():
            self._play(tone)

    @safe_slot
    def _on_command_result(self, result: p.CommandResult) -> None:
        entry = self._commands.pop(result.command_id, None)
        if entry is None:
            return
        kind, alert_id = entry
        if result.status == "rejected":
            log.warning("%s %s refused by the server: %s", kind, alert_id or self.console, result.reason)
        if kind != "ack" or alert_id not in self.pending_acks:
            return
        if result.status == "applied" or alert_id in self.store.acks:
            # "mengirim…" until the AlertAcknowledged event has gone through
            # the store and the engine (_on_changed clears it then).
            return
        # Refused, or a duplicate whose event is not here (sent before a
        # reconnect, or the alert was taken by another console): no longer
        # "sending". Whether it is acknowledged is still only what the store says.
        if result.status == "rejected":
            self.rejected[alert_id] = result.reason or "rejected"
        self.pending_acks.discard(alert_id)
        self.ack_pending_changed.emit()
        self.alerts_changed.emit()

    # --- tasks ----------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Future[Any] | None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coro.close()
            log.error("no running event loop: %s not done", what)
            return None
        task = loop.create_task(coro, name=what)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("alerts task %s failed", getattr(task, "get_name", lambda: "?")(), exc_info=exc)

    async def drain(self) -> None:
        """Wait for the commands and audit rows in flight (tests, shutdown)."""
        # Only tasks not yet done: a finished task leaves the set from its done
        # callback, which runs on a later loop turn, and awaiting a gather of
        # finished tasks never yields, so waiting on those spun forever (a hang
        # seen in a test and possible at a wall's shutdown).
        while pending := [t for t in self._tasks if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    def shutdown(self) -> None:
        for signal, slot in (
            (self.bridge.changed, self._on_changed),
            (self.bridge.tick, self._on_tick),
            (self.bridge.command_result, self._on_command_result),
        ):
            with contextlib.suppress(RuntimeError, TypeError):
                signal.disconnect(slot)
        if self.speech is not None:
            self.speech.on_started = lambda _item: None
            self.speech.on_failed = lambda _item, _exc: None
        if self.audio is not None:
            self.audio.stop()


# --- widgets ------------------------------------------------------------------------------


def _priority_label(priority: str) -> str:
    return f"{PRIORITY_SHAPE.get(priority, '●')} {t(f'alert.level.{priority}')}"


class AlertBanner(QFrame):
    """The Konfirmasi banner. ``interactive=False`` (a wall screen without a
    desk) shows the same information without buttons."""

    #: Emitted after each refresh with the state: "none", "alert", "sending", "rejected".
    state_changed = Signal(str)

    def __init__(
        self,
        controller: AlertController,
        metrics: theme.ScreenMetrics,
        parent: QWidget | None = None,
        *,
        interactive: bool = True,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.metrics = metrics
        self.interactive = interactive
        self.alert_id = ""
        self.state = ""
        self._flash_on = True
        self._border = ""
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
        top = QHBoxLayout()
        top.setSpacing(pad * 2)
        self.priority_label = _plain("", "alertPriority", wrap=False)
        self.text_label = _plain("", "alertText")
        self.text_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        top.addWidget(self.priority_label, 0, Qt.AlignmentFlag.AlignVCenter)
        top.addWidget(self.text_label, 1)
        self.ack_button: QPushButton | None = None
        self.shortcut: QShortcut | None = None
        if interactive:
            self.ack_button = QPushButton(t("alert.shortcut", label=t("ack.button"), shortcut=ACK_KEY))
            self.ack_button.setObjectName("ackButton")
            self.ack_button.setCursor(Qt.CursorShape.PointingHandCursor)
            self.ack_button.setToolTip(t("alert.operator", operator=controller.operator))
            self.ack_button.clicked.connect(self._on_ack_clicked)
            top.addWidget(self.ack_button, 0, Qt.AlignmentFlag.AlignVCenter)
            self.shortcut = QShortcut(QKeySequence(ACK_KEY), self)
            self.shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            self.shortcut.activated.connect(self._on_ack_clicked)
        root.addLayout(top)

        info = QHBoxLayout()
        info.setSpacing(pad * 2)
        self.state_label = _plain("", "alertState", wrap=False)
        self.info_label = _plain("", "alertInfo", wrap=False)
        self.escalated_label = _plain(f"▲▲ {t('alert.escalated')}", "alertEscalated", wrap=False)
        self.escalated_label.hide()
        info.addWidget(self.state_label, 0)
        info.addWidget(self.escalated_label, 0)
        info.addWidget(self.info_label, 1)
        self.shelve_buttons: dict[int, QPushButton] = {}
        self.mute_buttons: dict[int, QPushButton] = {}
        self.unmute_button: QPushButton | None = None
        if interactive:
            info.addWidget(_plain(t("alert.shelve"), "alertInfo", wrap=False), 0)
            for minutes in SHELVE_MINUTES:
                b = QPushButton(t("alert.shelve_min", n=minutes))
                b.setObjectName(f"shelve{minutes}")
                b.clicked.connect(lambda _=False, m=minutes: self._on_shelve(m))
                info.addWidget(b, 0)
                self.shelve_buttons[minutes] = b
            info.addSpacing(pad * 2)
            info.addWidget(_plain(t("alert.mute"), "alertInfo", wrap=False), 0)
            for minutes in MUTE_MINUTES:
                b = QPushButton(t("alert.shelve_min", n=minutes))
                b.setObjectName(f"mute{minutes}")
                b.clicked.connect(lambda _=False, m=minutes: self._on_mute(m))
                info.addWidget(b, 0)
                self.mute_buttons[minutes] = b
            self.unmute_button = QPushButton(t("alert.unmute"))
            self.unmute_button.setObjectName("unmute")
            self.unmute_button.clicked.connect(self._on_unmute)
            info.addWidget(self.unmute_button, 0)
        root.addLayout(info)
        self.ack_line = _plain("", "ackLine", wrap=False)
        root.addWidget(self.ack_line)

        controller.alerts_changed.connect(self.refresh)
        controller.ack_pending_changed.connect(self.refresh)
        controller.muted_changed.connect(self.refresh)
        controller.bridge.tick.connect(self._on_tick)
        self.refresh()

    # --- state -------------------------------------------------------------------------

    def ack_line_text(self) -> str:
        return self.ack_line.text() if not self.ack_line.isHidden() else ""

    @safe_slot
    def refresh(self) -> None:
        c = self.controller
        alert = c.top_alert()
        active = c.active()
        self.alert_id = alert.id if alert is not None else ""
        pending_others = len([a for a in active if a.id in c.pending_acks and a is not alert])
        if alert is None:
            state = "none"
            self.priority_label.setText("✓")
            self.priority_label.setStyleSheet(f"color: {theme.OK};")
            self.text_label.setText(t("alert.none"))
            self.state_label.setText("")
            self.info_label.setText("")
        else:
            pending = alert.id in c.pending_acks
            rejected = c.rejected.get(alert.id)
            state = "sending" if pending else ("rejected" if rejected else "alert")
            color = theme.PRIORITY_COLOR.get(alert.priority, theme.TEXT)
            self.priority_label.setText(_priority_label(alert.priority))
            self.priority_label.setStyleSheet(f"color: {color};")
            self.text_label.setText(alert.text)
            if pending:
                self.state_label.setText(t("ack.sending"))
            elif rejected:
                self.state_label.setText(t("alert.rejected", reason=rejected))
            elif pending_others:
                self.state_label.setText(t("alert.pending_more", n=pending_others))
            else:
                self.state_label.setText("")
            parts = [t("alert.age", age=format_age(alert.age_s(c.clock())))]
            others = len(active) - 1
            if others > 0:
                parts.append(t("alert.more", n=others))
            shelved = len(c.engine.shelved_list())
            if shelved:
                parts.append(t("alert.shelved_count", n=shelved))
            self.info_label.setText(" · ".join(parts))
        self.state_label.setVisible(bool(self.state_label.text()))
        self.escalated_label.setVisible(alert is not None and alert.escalated)
        latest = c.latest_ack()
        if latest is not None:
            self.ack_line.setText(f"✓ {ack_text(latest)} — {latest.text}")
            self.ack_line.setToolTip(latest.text)
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
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

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
        css = (
            f"QFrame#alertBanner {{ background: {theme.BG}; border: {width}px solid {border};"
            f" border-radius: 8px; }}" + self._base_css
        )
        if css != self._border:
            self._border = css
            self.setStyleSheet(css)

    def is_flashing(self) -> bool:
        alert = self.controller.top_alert()
        if alert is None:
            return False
        return self.controller.config.alerts.priorities.of(alert.priority).visual == "flash"

    @safe_slot
    def _on_tick(self) -> None:
        self._flash_on = not self._flash_on
        self.refresh()

    # --- clicks ------------------------------------------------------------------------

    @safe_slot
    def _on_ack_clicked(self, *_: Any) -> None:
        if self.alert_id:
            self.controller.acknowledge(self.alert_id)

    @safe_slot
    def _on_shelve(self, minutes: int) -> None:
        if self.alert_id:
            self.controller.shelve(self.alert_id, minutes, t("alert.shelve_reason"))

    @safe_slot
    def _on_mute(self, minutes: int) -> None:
        self.controller.mute(minutes)

    @safe_slot
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
        self.hide()

    def is_shown(self) -> bool:
        return not self.isHidden()


class AudioStatusMark(_Mark):
    """ "⊘ TANPA AUDIO" while no tone can be heard (no device, or no sound
    output configured); hidden otherwise. The reason is the tooltip."""

    def __init__(self, controller: AlertController, metrics: theme.ScreenMetrics) -> None:
        super().__init__(metrics, "audioMark", theme.WARN)
        self.controller = controller
        controller.audio_changed.connect(self.refresh)
        self.refresh()

    @safe_slot
    def refresh(self) -> None:
        ok, reason = self.controller.audio_status()
        self.setText(f"⊘ {t('audio.none')}")
        self.setToolTip(reason)
        self.setVisible(not ok)


class MuteMark(_Mark):
    """ "SUARA MATI s/d 14:30" while a console is muted; hidden otherwise."""

    def __init__(self, controller: AlertController, metrics: theme.ScreenMetrics) -> None:
        super().__init__(metrics, "muteMark", theme.WARN)
        self.controller = controller
        controller.muted_changed.connect(self.refresh)
        controller.bridge.tick.connect(self.refresh)
        self.refresh()

    @safe_slot
    def refresh(self) -> None:
        muted = self.controller.muted_consoles()
        if not muted:
            self.hide()
            return
        own = self.controller.console
        parts = []
        for console, until in sorted(muted.items(), key=lambda kv: (kv[0] != own, kv[0])):
            key = "audio.muted" if console == own else "audio.muted_other"
            parts.append(t(key, console=console, time=wib_hhmm(until)))
        self.setText("✕ " + " · ".join(parts))
        self.show()


def install_marks(header: ScreenHeader, controller: AlertController) -> tuple[AudioStatusMark, MuteMark]:
    """Put the no-audio and muted marks into a screen header's bar, before
    the feed state (the title gives way, the feed state and clock do not)."""
    audio = AudioStatusMark(controller, header.metrics)
    mute = MuteMark(controller, header.metrics)
    add_mark = getattr(header, "add_mark", None)
    if callable(add_mark):
        add_mark(mute)
        add_mark(audio)
    else:
        bar = header.feed_label.parentWidget()
        row = bar.layout() if bar is not None else None
        if isinstance(row, QHBoxLayout):
            index = max(0, row.indexOf(header.feed_label))
            row.insertWidget(index, audio, 0)
            row.insertWidget(index, mute, 0)
            row.insertSpacing(index + 2, header.metrics.pad_px * 2)
        else:  # pragma: no cover - a header without its bar
            outer = header.layout()
            assert outer is not None
            outer.addWidget(mute)
            outer.addWidget(audio)
    # Reparenting hides a widget: decide visibility again now that they are in place.
    audio.refresh()
    mute.refresh()
    header.alert_marks = (audio, mute)  # type: ignore[attr-defined]
    return audio, mute


def install_banner(view: Any, controller: AlertController, *, interactive: bool = True) -> AlertBanner:
    """Put a banner into a ConsoleView's ``alert_slot`` (or any widget with one)."""
    banner = AlertBanner(controller, view.metrics, interactive=interactive)
    view.alert_slot.layout().addWidget(banner)
    view.alert_banner = banner
    return banner


def incident_alert_states(controller: AlertController) -> dict[str, dict[str, str]]:
    """What each incident's map popup says about its alerts: "alert" (an
    active alert to acknowledge), "sending" (every active one is on its way:
    "mengirim…") or "acked" ("✓ Dikonfirmasi oleh Sari, 14:02", the latest
    acknowledgement within the recent list, once nothing is active)."""
    states: dict[str, dict[str, str]] = {}
    for alert in controller.active():
        iid = alert.incident_id
        if not iid:
            continue
        if alert.id in controller.pending_acks:
            states.setdefault(iid, {"state": "sending", "line": t("ack.sending")})
        else:
            states[iid] = {"state": "alert", "line": ""}
    for alert in controller.engine.acknowledged_recent():  # newest first
        iid = alert.incident_id
        if iid and iid not in states:
            states[iid] = {"state": "acked", "line": f"✓ {ack_text(alert)}"}
    return states


def attach_map(view: Any, controller: AlertController) -> None:
    """Keep a MapView's popups told about their incidents' alerts."""
    # A weak reference: the controller outlives the windows (screens come and
    # go), and must not keep a closed map (and its web page) alive.
    ref = weakref.ref(view)

    @safe_slot
    def sync(*_: Any) -> None:
        target = ref()
        if target is None:
            _disconnect(controller, sync)
            return
        target.set_alert_states(incident_alert_states(controller))

    controller.alerts_changed.connect(sync)
    controller.ack_pending_changed.connect(sync)
    sync()


def _disconnect(controller: AlertController, slot: Any) -> None:
    for signal in (controller.alerts_changed, controller.ack_pending_changed):
        with contextlib.suppress(RuntimeError, TypeError):
            signal.disconnect(slot)


def connect_map_acknowledge(view: Any, controller: AlertController) -> bool:
    """On an interactive map, the popup's Konfirmasi button acknowledges
    that incident's most urgent alert. False for anything but a MapView."""
    signal = getattr(view, "ack_requested", None)
    if signal is None:
        return False
    signal.connect(controller.acknowledge_incident)
    return True


def decorate_window(window: Any, controller: AlertController) -> None:
    """Marks on a WallWindow's header; a banner on its console view, and a
    banner on top of each view of a screen configured interactive; alert
    states in the map's popups; the escalation flag on the leader overview."""
    install_marks(window.header, controller)
    for view_name, interactive, _distance, _diagonal in window.plan.views:
        widget = window.views.get(view_name)
        if widget is None:
            continue
        if hasattr(widget, "set_alert_states"):
            attach_map(widget, controller)
        if hasattr(widget, "set_alerts"):
            widget.set_alerts(controller)
        if view_name == "console" and hasattr(widget, "alert_slot"):
            install_banner(widget, controller, interactive=True)
        elif interactive and window.tabs is None:
            banner = AlertBanner(controller, window.metrics, interactive=True)
            layout = window.widget.layout()
            layout.insertWidget(layout.indexOf(window.header) + 1, banner)
            window.alert_banner = banner


# --- the operator ---------------------------------------------------------------------------


class OperatorDialog(QDialog):
    """Who sits at this console: one big button per configured operator
    (display.operators), or a name field when none is configured."""

    def __init__(
        self, config: Config, parent: QWidget | None = None, metrics: theme.ScreenMetrics | None = None
    ) -> None:
        super().__init__(parent)
        m = metrics or theme.metrics_for(1920, 1080, 24, 0.8)
        self.chosen = ""
        self.setWindowTitle(t("app.title"))
        self.setStyleSheet(
            theme.stylesheet(m) + f"QPushButton {{ font-size: {m.heading_px}px; font-weight: 700;"
            f" min-height: {int(m.heading_px * 1.8)}px; }}"
        )
        layout = QVBoxLayout(self)
        pad = m.pad_px
        layout.setContentsMargins(pad * 4, pad * 4, pad * 4, pad * 4)
        layout.setSpacing(pad * 2)
        layout.addWidget(_plain(t("operator.title"), "heading"))
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
            field.setPlaceholderText(t("operator.other"))
            field.setMaxLength(60)
            ok = QPushButton(t("operator.ok"))
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
    config: Config, parent: QWidget | None = None, metrics: theme.ScreenMetrics | None = None
) -> str:
    """Ask who sits at this console (a modal dialog); the name, or "" when
    it was closed. Runs a nested Qt event loop (QDialog.exec): call it before
    the qasync loop runs, or use :func:`ask_operator` inside it (a nested
    loop inside a qasync callback stalls asyncio tasks)."""
    dialog = OperatorDialog(config, parent, metrics)
    dialog.exec()
    return dialog.chosen


async def ask_operator(
    config: Config, parent: QWidget | None = None, metrics: theme.ScreenMetrics | None = None
) -> str:
    """:func:`choose_operator` for code running on the qasync loop: the dialog
    is opened window-modal and awaited, without a nested event loop."""
    dialog = OperatorDialog(config, parent, metrics)
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


__all__ = [
    "ACK_KEY",
    "AlertBanner",
    "AlertController",
    "AudioStatusMark",
    "MuteMark",
    "OperatorDialog",
    "SoundOutput",
    "ack_text",
    "ask_operator",
    "attach_map",
    "choose_operator",
    "connect_map_acknowledge",
    "decorate_window",
    "incident_alert_states",
    "install_banner",
    "install_marks",
]
