"""The Qt face of the engine's alert service.

:class:`~commandcenter.wall.alerting.AlertService` holds the rules, the
acknowledgement state machine and the operator's commands, and is driven by
the feed and its own tick. :class:`AlertAdapter` only turns its plain
callbacks into Qt signals for the banner, the marks and the views, plays the
tones it asks for through :class:`~ui.alerts.sound.SoundOutput`, and says
whether sound can be heard.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from commandcenter.wall.alerting import ACK_LINE_S, AlertService, IncidentAlertState
from commandcenter.wall.alerts import ActiveAlert

if TYPE_CHECKING:
    from commandcenter.config import Config
    from commandcenter.core.timeutil import Clock
    from commandcenter.wall.alerts import AlertEngine
    from ui.alerts.sound import SoundOutput
    from ui.support.bridge import EngineBridge

__all__ = ["AlertAdapter"]


class AlertAdapter(QObject):
    """Signals over an :class:`AlertService`; commands pass straight through."""

    #: The active / shelved / recent lists may have changed.
    alerts_changed = Signal()
    #: ``pending_acks`` changed (a click, a confirmation, a refusal).
    ack_pending_changed = Signal()
    #: ``muted_consoles()`` changed.
    muted_changed = Signal()
    #: Sound availability changed.
    audio_changed = Signal()
    #: Incidents whose alert state changed: {incident id: IncidentAlertState or None}.
    incident_states_changed = Signal(object)

    def __init__(
        self,
        service: AlertService,
        bridge: EngineBridge,
        audio: SoundOutput | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = service
        #: Its one-second tick drives the banner's flashing and the marks' times.
        self.bridge = bridge
        self.audio = audio
        self._hooks: list[tuple[list[Any], Callable[..., Any]]] = [
            (service.alerts_listeners, self._emit_alerts_changed),
            (service.pending_listeners, self._emit_ack_pending_changed),
            (service.muted_listeners, self._emit_muted_changed),
            (service.incident_state_listeners, self.incident_states_changed.emit),
        ]
        if audio is not None:
            self._hooks.append((service.tone_listeners, audio.play))
            audio.availability_changed.connect(self._emit_audio_changed)
        for listeners, fn in self._hooks:
            listeners.append(fn)

    # --- the service, as the widgets read it -------------------------------------------------

    @property
    def engine(self) -> AlertEngine:
        return self.service.engine

    @property
    def config(self) -> Config:
        return self.service.config

    @property
    def operator(self) -> str:
        return self.service.operator

    @property
    def console(self) -> str:
        return self.service.console

    @property
    def clock(self) -> Clock:
        return self.service.clock

    @property
    def pending_acks(self) -> set[str]:
        return self.service.pending_acks

    @property
    def rejected(self) -> dict[str, str]:
        return self.service.rejected

    def active(self) -> list[ActiveAlert]:
        return self.service.active()

    def top_alert(self) -> ActiveAlert | None:
        return self.service.top_alert()

    def latest_ack(self, within_s: float = ACK_LINE_S) -> ActiveAlert | None:
        return self.service.latest_ack(within_s)

    def muted_consoles(self) -> dict[str, dt.datetime]:
        return self.service.muted_consoles()

    def incident_states(self) -> dict[str, IncidentAlertState]:
        return self.service.incident_states()

    def is_active(self, alert_id: str) -> bool:
        return self.service.is_active(alert_id)

    def active_count(self) -> int:
        return self.service.engine.active_count()

    def audio_status(self) -> tuple[bool, str]:
        if self.audio is None:
            return False, self.bridge.strings.t("audio.disabled")
        return self.audio.available()

    # --- the operator's commands (the service builds, audits and sends them) ----------------

    def acknowledge(self, alert_id: str) -> bool:
        return self.service.acknowledge(alert_id)

    def acknowledge_incident(self, incident_id: str) -> str | None:
        return self.service.acknowledge_incident(incident_id)

    def shelve(self, alert_id: str, minutes: float, reason: str = "") -> None:
        self.service.shelve(alert_id, minutes, reason)

    def unshelve(self, alert_id: str) -> None:
        self.service.unshelve(alert_id)

    def mute(self, minutes: float) -> None:
        self.service.mute(minutes)

    def unmute(self) -> None:
        self.service.unmute()

    # --- signals -----------------------------------------------------------------------------

    def _emit_alerts_changed(self) -> None:
        self.alerts_changed.emit()

    def _emit_ack_pending_changed(self) -> None:
        self.ack_pending_changed.emit()

    def _emit_muted_changed(self) -> None:
        self.muted_changed.emit()

    def _emit_audio_changed(self, *_: Any) -> None:
        self.audio_changed.emit()

    def shutdown(self) -> None:
        """Stop relaying (the service may outlive this adapter) and stop the tones."""
        for listeners, fn in self._hooks:
            if fn in listeners:
                listeners.remove(fn)
        self._hooks = []
        if self.audio is not None:
            self.audio.stop()
