"""The priority tones through QSoundEffect (commandcenter.wall.tones makes them).

With no audio output device (QMediaDevices lists none, or a tone fails to
load) :class:`SoundOutput` reports ``available() == (False, reason)`` and the
wall shows "TANPA AUDIO" on every screen instead of pretending to play.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QUrl, Signal

from commandcenter.wall.tones import TONE_NAMES, tone_key, write_tones

if TYPE_CHECKING:  # QtMultimedia loads when the sound starts
    from PySide6.QtMultimedia import QAudioDevice, QSoundEffect

log = logging.getLogger(__name__)

__all__ = ["SoundOutput", "default_tone_dir"]


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

    def _load(self, device: QAudioDevice | None) -> None:
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

    def _on_status(self, name: str, effect: QSoundEffect) -> None:
        from PySide6.QtMultimedia import QSoundEffect

        if effect.status() == QSoundEffect.Status.Error:
            self._errors[name] = "QSoundEffect status Error (no device or unsupported format)"
            if self._state[0]:
                self._set_state(False, f"tone {name} cannot play: {self._errors[name]}")
        else:
            self._errors.pop(name, None)

    def _on_playing(self, name: str, effect: QSoundEffect) -> None:
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
