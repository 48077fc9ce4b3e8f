"""The alert service of one node: rules driven on the engine's schedule, the
operator's commands and their bookkeeping (no Qt).

:class:`AlertService` owns this node's :class:`~commandcenter.wall.alerts.AlertEngine`
and drives it itself: it takes every change set straight from the feed
(``feed.change_listeners``) and runs its own one-second tick on asyncio. So a
node without screens (``commandcenter follow --alerts``) raises exactly the
alerts a wall raises, and a wall's alerts do not wait for its views.

It also holds what used to live in the Qt layer:

- the acknowledgement state machine: an alert is *pending* ("mengirim…")
  from the operator's command until the server's ``AlertAcknowledged`` event
  is in ``store.acks``, or the server refused it (``rejected``). Nothing here
  ever marks an alert acknowledged: only the store does;
- building acknowledge / shelve / unshelve / mute / unmute commands, their
  audit rows, and sending them through the feed's outbox;
- acknowledgements still in the journal's outbox after a restart: pending
  again until the server answers;
- sound decisions: which tone an action asks for, which text is spoken, and a
  tone instead when speech could not be heard.

Whoever shows or plays it subscribes with plain callbacks (the Qt adapter in
ui.alerts turns them into signals; ``follow --alerts`` prints them). Callbacks
run on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import heapq
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Literal

from commandcenter.core import protocol as p
from commandcenter.core.store import ChangeSet, Store
from commandcenter.core.timeutil import Clock
from commandcenter.wall.alerts import ActiveAlert, AlertAction, AlertEngine, write_audit
from commandcenter.wall.tones import tone_key

if TYPE_CHECKING:
    from commandcenter.config import Config
    from commandcenter.storage.journal import Journal
    from commandcenter.wall.feed import FeedClient
    from commandcenter.wall.speech import SpeechItem, SpeechWorker

log = logging.getLogger(__name__)

__all__ = ["ACK_LINE_S", "TICK_S", "AlertService", "IncidentAlertState", "IncidentStateChanges"]

#: The engine's evaluation period: SLA deadlines, repeats, escalations and
#: expiries are checked this often (the rules are set in seconds and minutes).
TICK_S = 1.0
#: The latest acknowledgement stays on the banner for this long.
ACK_LINE_S = 600.0

#: What an incident's map popup says: an alert to acknowledge, every active
#: one on its way, or (nothing active) the latest acknowledgement.
IncidentAlertState = tuple[Literal["alert", "sending", "acked"], ActiveAlert]

Listener = Callable[[], None]
#: Incident id -> its new state, or None: it has none any more.
IncidentStateChanges = dict[str, "IncidentAlertState | None"]


class AlertService:
    """This node's alert rules, sound decisions and operator commands.

    ``console`` is this console's name (empty for a wall without a desk),
    ``operator`` who sits at it. Commands go through ``feed.submit`` (journal
    outbox first, then the server); with no feed, into the journal's outbox.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        journal: Journal | None = None,
        feed: FeedClient | None = None,
        operator: str = "",
        console: str = "",
        speech: SpeechWorker | None = None,
        clock: Clock | None = None,
        tick_s: float = TICK_S,
    ) -> None:
        self.config = config
        self.store = store
        self.journal = journal
        self.feed: Any = None
        self.operator = operator
        self.console = console
        self.speech = speech
        self.clock: Clock = clock if clock is not None else store.clock
        self.tick_s = tick_s
        self.engine = AlertEngine(config, store, clock=self.clock, console=console)
        #: Alert ids whose acknowledgement was sent and not yet confirmed.
        self.pending_acks: set[str] = set()
        #: Alert id -> the server's reason for refusing its acknowledgement.
        self.rejected: dict[str, str] = {}
        self._commands: dict[str, tuple[str, str]] = {}  # command id -> (kind, alert id)
        self._tasks: set[asyncio.Future[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._muted: dict[str, dt.datetime] = self.engine.muted_consoles()
        #: The active / shelved / recent lists may have changed.
        self.alerts_listeners: list[Listener] = []
        #: ``pending_acks`` or ``rejected`` changed (a command, a confirmation, a refusal).
        self.pending_listeners: list[Listener] = []
        #: ``muted_consoles()`` changed.
        self.muted_listeners: list[Listener] = []
        #: Every non-empty list of actions the engine answered, in order.
        self.action_listeners: list[Callable[[list[AlertAction]], None]] = []
        #: Incidents whose alert state changed (the map popups): only those, so a burst
        #: of thousands of alerts costs the views what changed, not a pass over all.
        self.incident_state_listeners: list[Callable[[IncidentStateChanges], None]] = []
        self._incident_states: dict[str, IncidentAlertState] = {}
        self._pending_seen: set[str] = set()
        #: (when an "acked" line leaves, incident id): looked at again then.
        self._acked_heap: list[tuple[float, str]] = []
        #: A tone to play now ("high", "escalation", ...): the sound output.
        self.tone_listeners: list[Callable[[str], object]] = []
        #: Latency marks for the benchmark: (monotonic, tone) / (monotonic, item).
        self.tones_played: deque[tuple[float, str]] = deque(maxlen=256)
        self.speech_started: deque[tuple[float, Any]] = deque(maxlen=256)
        self.speech_failures: deque[tuple[str, str]] = deque(maxlen=64)
        self.actions_seen = 0
        if feed is not None:
            self.attach_feed(feed)

    # --- wiring --------------------------------------------------------------------------

    def attach_feed(self, feed: FeedClient) -> None:
        """Take change sets and command results straight from the feed.

        The feed calls its change listeners once per committed batch, right
        after the store applied it, so a reset (snapshot, restored state)
        always arrives on its own and before any live event behind it: the
        engine never takes a fire reported just after a snapshot for restored
        history (which it would raise without a sound)."""
        self.feed = feed
        feed.change_listeners.append(self.on_changes)
        feed.result_listeners.append(self.on_command_result)

    def detach_feed(self) -> None:
        feed = self.feed
        if feed is None:
            return
        for listeners, fn in (
            (feed.change_listeners, self.on_changes),
            (feed.result_listeners, self.on_command_result),
        ):
            if fn in listeners:
                listeners.remove(fn)
        self.feed = None

    def start(self) -> None:
        """Start the tick, hear the speech worker, and restore acknowledgements
        still in the outbox. Call on the running event loop."""
        self._loop = asyncio.get_running_loop()
        if self._ticker is None:
            self._ticker = self._loop.create_task(self._tick_loop(), name="alert tick")
        if self.speech is not None:
            loop = self._loop

            def started(item: SpeechItem) -> None:
                with contextlib.suppress(RuntimeError):  # the loop is closing
                    loop.call_soon_threadsafe(self._on_speech_started, item)

            def failed(item: SpeechItem, exc: BaseException) -> None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._on_speech_failed, item, exc)

            self.speech.on_started = started
            self.speech.on_failed = failed
        journal = self.journal or (self.feed.journal if self.feed is not None else None)
        if journal is not None:
            self._spawn(self._restore_pending(journal), "restore pending acknowledgements")

    def stop(self) -> None:
        """Stop evaluating: no tick, no feed, no speech callbacks. Commands in
        flight finish; :meth:`drain` waits for them."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        self.detach_feed()
        if self.speech is not None:
            self.speech.on_started = lambda _item: None
            self.speech.on_failed = lambda _item, _exc: None

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                self.tick()
            except Exception:
                log.exception("alert tick failed")

    # --- queries -------------------------------------------------------------------------

    def active(self) -> list[ActiveAlert]:
        return self.engine.active()

    def top_alert(self) -> ActiveAlert | None:
        """The alert a banner shows: the most urgent one not already being
        sent, else the most urgent one."""
        return self.engine.top(self.pending_acks)

    def is_active(self, alert_id: str) -> bool:
        return self.engine.is_active(alert_id)

    def latest_ack(self, within_s: float = ACK_LINE_S) -> ActiveAlert | None:
        recent = self.engine.acknowledged_recent(within_s)
        return recent[0] if recent else None

    def muted_consoles(self) -> dict[str, dt.datetime]:
        return self.engine.muted_consoles()

    def incident_states(self) -> dict[str, IncidentAlertState]:
        """Per incident: "alert" (an active alert to acknowledge), "sending"
        (every active one is on its way) or "acked" (the latest acknowledgement
        within the recent list, once nothing is active)."""
        self._publish_incident_states(force=True)
        return dict(self._incident_states)

    def _incident_state(self, incident_id: str, now: dt.datetime) -> IncidentAlertState | None:
        within = self.config.alerts.recent_ack_s
        active, acked = self.engine.incident_alerts(incident_id, within)
        state: IncidentAlertState | None = None
        for alert in active:  # most urgent first: the least urgent to acknowledge is named
            if alert.id in self.pending_acks:
                if state is None:
                    state = ("sending", alert)
            else:
                state = ("alert", alert)
        if state is None and acked is not None and acked.acknowledged_at is not None:
            state = ("acked", acked)
            leaves = acked.acknowledged_at.timestamp() + within + 0.001
            heapq.heappush(self._acked_heap, (leaves, incident_id))
        return state

    def _publish_incident_states(self, *, force: bool = False) -> None:
        """Bring the per-incident states up to date with what changed since the last
        look (the engine's changed incidents, pending acknowledgements that came or
        went, "acked" lines that ran out) and tell the listeners the differences."""
        if not self.incident_state_listeners and not force:
            return  # nobody reads them (a node without a map): the engine keeps the changes
        eng, now = self.engine, self.clock()
        if eng.changed_all:
            eng.changed_all = False
            eng.changed_incidents.clear()
            dirty = set(eng.incident_ids()) | self._incident_states.keys()
        else:
            dirty, eng.changed_incidents = eng.changed_incidents, set()
        moved = self.pending_acks ^ self._pending_seen
        if moved:
            self._pending_seen = set(self.pending_acks)
            for aid in moved:
                iid = eng.incident_of(aid)
                if iid:
                    dirty.add(iid)
        heap, limit = self._acked_heap, now.timestamp()
        while heap and heap[0][0] <= limit:
            dirty.add(heapq.heappop(heap)[1])
        if len(heap) > 2 * len(self._incident_states) + 1024:
            self._acked_heap = []
            dirty |= self._incident_states.keys()
        changes: IncidentStateChanges = {}
        for iid in sorted(dirty):
            new = self._incident_state(iid, now)
            if new == self._incident_states.get(iid):
                continue
            if new is None:
                del self._incident_states[iid]
            else:
                self._incident_states[iid] = new
            changes[iid] = new
        if changes:
            for listener in list(self.incident_state_listeners):
                _safe_call(listener, changes)

    # --- operator commands ---------------------------------------------------------------

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
        self._notify(self.pending_listeners)
        self._notify(self.alerts_listeners)
        self._publish_incident_states()
        return True

    def acknowledge_incident(self, incident_id: str) -> str | None:
        """Acknowledge the most urgent active alert of an incident (the queue's
        context action and the map popup); returns its id, or None."""
        active, _ = self.engine.incident_alerts(incident_id, 0.0)
        for alert in active:
            if alert.id not in self.pending_acks:
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

    def _send(self, cmd: p.Command, action: str, kind: str, target: str, detail: dict[str, Any]) -> None:
        detail = {**detail, "command_id": cmd.command_id}
        self._spawn(self._submit(cmd, action, kind, target, detail), f"send {action}")

    async def _submit(
        self, cmd: p.Command, action: str, kind: str, target: str, detail: dict[str, Any]
    ) -> None:
        feed, journal = self.feed, self.journal
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

    async def _restore_pending(self, journal: Journal) -> None:
        """Acknowledgements still in the outbox (sent before a restart, or while
        offline) are pending again until the server confirms them."""
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
            self._notify(self.pending_listeners)
            self._notify(self.alerts_listeners)
            self._publish_incident_states()

    def on_command_result(self, result: p.CommandResult) -> None:
        entry = self._commands.pop(result.command_id, None)
        if entry is None:
            return
        kind, alert_id = entry
        if result.status == "rejected":
            log.warning("%s %s refused by the server: %s", kind, alert_id or self.console, result.reason)
        if kind != "ack" or alert_id not in self.pending_acks:
            return
        if result.status == "applied" or alert_id in self.store.acks:
            # Pending until the AlertAcknowledged event has gone through the
            # store and the engine (on_changes clears it then).
            return
        # Refused, or a duplicate whose event is not here (sent before a
        # reconnect, or the alert was taken by another console): no longer
        # pending. Whether it is acknowledged is still only what the store says.
        if result.status == "rejected":
            self.rejected[alert_id] = result.reason or "rejected"
        self.pending_acks.discard(alert_id)
        self._notify(self.pending_listeners)
        self._notify(self.alerts_listeners)
        self._publish_incident_states()

    # --- evaluation ----------------------------------------------------------------------

    def on_changes(self, changes: ChangeSet) -> list[AlertAction]:
        """Evaluate one change set, already applied to the store (from the feed,
        or from housekeeping's prune); returns the actions it caused."""
        actions = self.engine.on_changes(changes)
        self._perform(actions)
        confirmed = {aid for aid in self.pending_acks if aid in self.store.acks}
        if confirmed:
            self.pending_acks -= confirmed
            self._notify(self.pending_listeners)
        touched = bool(actions) or bool(confirmed) or changes.reset or bool(changes.acks)
        self._check_muted()
        if touched or changes.shelved or changes.unshelved:
            self._notify(self.alerts_listeners)
        self._publish_incident_states()
        return actions

    def tick(self) -> list[AlertAction]:
        """Time-driven rules (deadlines, repeats, escalations, expiries); the
        service's own task calls it every ``tick_s``."""
        if self.feed is not None:
            # A warning leaves at its expiry: the change goes to every listener (views and
            # this service, whose engine clears the warning's alert).
            expired = self.store.expire_hazards()
            if expired:
                self.feed.publish(expired)
        actions = self.engine.tick()
        self._perform(actions)
        self._check_muted()
        if actions:
            self._notify(self.alerts_listeners)
        self._publish_incident_states()
        return actions

    def _check_muted(self) -> None:
        muted = self.engine.muted_consoles()
        if muted != self._muted:
            self._muted = muted
            self._notify(self.muted_listeners)

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
        for listener in list(self.action_listeners):
            _safe_call(listener, actions)
        if self.journal is not None and any(a.audit is not None for a in actions):
            self._spawn(write_audit(self.journal, actions), "write alert audit")

    def _play(self, sound: str) -> None:
        name = tone_key(sound)
        self.tones_played.append((time.monotonic(), name))
        for listener in list(self.tone_listeners):
            _safe_call(listener, name)

    def _on_speech_started(self, item: SpeechItem) -> None:
        self.speech_started.append((time.monotonic(), item))

    def _on_speech_failed(self, item: SpeechItem, exc: BaseException) -> None:
        """Speech could not be heard: the priority's tone instead, unless the
        alert is acknowledged or gone by now, or this console is muted."""
        self.speech_failures.append((item.text, str(exc)))
        if item.key and (item.key in self.store.acks or self.engine.get(item.key) is None):
            return
        tone = self.config.alerts.priorities.of(item.priority).tone
        if tone and not self.engine.is_muted():
            self._play(tone)

    # --- tasks ---------------------------------------------------------------------------

    def _notify(self, listeners: list[Listener]) -> None:
        for listener in list(listeners):
            try:
                listener()
            except Exception:
                log.exception("alert listener %r failed", listener)

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
        # finished tasks never yields, so waiting on those spun forever.
        while pending := [t for t in self._tasks if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)


def _safe_call(fn: Callable[[Any], object], arg: Any) -> None:
    try:
        fn(arg)
    except Exception:
        log.exception("alert listener %r failed", fn)
