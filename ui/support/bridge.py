"""The one place where the engine meets Qt.

Views take an :class:`EngineBridge` in their constructor, read the store
through it and connect to its signals; they never write to the store. The feed
client's plain callbacks (called on the GUI thread: qasync runs asyncio inside
the Qt event loop) become Qt signals here.

Change sets are coalesced: a burst of events becomes one merged ChangeSet per
frame interval, so views repaint at most about 60 times a second however fast
the feed runs, and each repaint is proportional to what changed.
"""

from __future__ import annotations

import logging
import time
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QTimer, Signal

from commandcenter.config import Config
from commandcenter.core.i18n import Strings, strings_for
from commandcenter.core.store import ChangeSet, Store
from commandcenter.wall.feed import FeedClient, FeedState, FeedStatus

log = logging.getLogger(__name__)

T = TypeVar("T")


#: A flush hands the views at most this many new or changed incidents; the rest
#: follow on the next turns of the event loop, so the GUI thread paints (and the
#: feed reads) between parts of a burst: thousands merged while the thread was busy
#: then stall it for seconds in one flush.
FLUSH_INCIDENTS_MAX = 250
#: Fewest incidents a part carries, however slow the views are.
FLUSH_INCIDENTS_MIN = 20
#: What one part may cost the GUI thread: the part's size follows what the last
#: took (inserting into a sorted queue of 50,000 rows costs far more per row than
#: into one of 500).
FLUSH_BUDGET_S = 0.03


class EngineBridge(QObject):
    #: A merged ChangeSet, already applied to the store.
    changed = Signal(object)
    #: The feed's FeedStatus whenever its state changes (and once a second for ages).
    feed_status_changed = Signal(object)
    #: A protocol.CommandResult for a command this console sent.
    command_result = Signal(object)
    #: An incident id selected on any view ("" clears the selection).
    incident_selected = Signal(str)
    #: Emitted once a second: views refresh ages and clocks from it.
    tick = Signal()
    #: The console's "Putar ulang": open a replay of this wall's journal (ui.app.replay).
    replay_requested = Signal()

    def __init__(
        self,
        config: Config,
        store: Store,
        feed: FeedClient | None = None,
        parent: QObject | None = None,
        coalesce_ms: int = 16,
        strings: Strings | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config
        self.store = store
        #: Every visible text and number format of this wall, in its one language
        #: (display.language unless the program was given another, e.g. --lang).
        self.strings = strings if strings is not None else strings_for(config.display.language)
        self.feed: FeedClient | None = None
        self.selected_incident = ""
        self._pending: ChangeSet | None = None
        #: Incidents the next part may carry (see FLUSH_BUDGET_S).
        self._part_size = FLUSH_INCIDENTS_MAX
        #: time.monotonic() when the oldest change in ``_pending`` arrived.
        self.pending_since: float | None = None
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(coalesce_ms)
        self._flush_timer.timeout.connect(self.flush)
        self._tick_timer = QTimer(self)
        self._tick_timer.setInterval(1000)
        self._tick_timer.timeout.connect(self.tick)
        self._tick_timer.start()
        if feed is not None:
            self.attach_feed(feed)

    # --- feed ------------------------------------------------------------------------

    def attach_feed(self, feed: FeedClient) -> None:
        self.feed = feed
        feed.change_listeners.append(self.push_changes)
        feed.status_listeners.append(self._on_feed_status)
        feed.result_listeners.append(self.command_result.emit)

    def detach_feed(self) -> None:
        feed = self.feed
        if feed is None:
            return
        _unlisten(feed.change_listeners, self.push_changes)
        _unlisten(feed.status_listeners, self._on_feed_status)
        _unlisten(feed.result_listeners, self.command_result.emit)
        self.feed = None

    def feed_status(self) -> FeedStatus:
        if self.feed is not None:
            return self.feed.status
        return FeedStatus(FeedState.OFFLINE, None, None, self.store.epoch, self.store.seq)

    def replay_status(self) -> Any:
        """The replayed moment (commandcenter.history.player.ReplayStatus) when this bridge is
        attached to a replay (ui.app.replay.ReplayFeed), else None: the header then shows the
        replay banner instead of the feed state, so a replay is never taken for live."""
        replay = getattr(self.feed, "replay_status", None)
        return replay() if callable(replay) else None

    def _on_feed_status(self, status: FeedStatus) -> None:
        self.feed_status_changed.emit(status)

    # --- changes ---------------------------------------------------------------------

    def push_changes(self, changes: ChangeSet) -> None:
        """Queue a change set; views get the merged set on the next flush.

        A reset (snapshot, restored state) is handed over at once and never
        merged: merged, it would carry no ids, and when the views got it the
        store would already hold the live events applied behind it, so a view
        could not tell a fire reported a moment after a snapshot from restored
        history. The alert rules no longer depend on this: the alert service
        (commandcenter.wall.alerting) takes each change set straight from the
        feed, one committed batch at a time (tests/test_alerting.py checks a
        live fire right behind the start-up reset still sounds)."""
        if changes.reset:
            self.flush(whole=True)  # what came before it first: those were live events
            self.changed.emit(changes)
            return
        if self._pending is None:
            self._pending = changes
            self.pending_since = time.monotonic()
        else:
            self._pending = self._pending.merge(changes)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def flush(self, whole: bool = False) -> None:
        """Hand the views what is pending: all of it, or (``whole`` false) a part of at
        most FLUSH_INCIDENTS_MAX incidents when there is more, the rest on the next turn."""
        pending = self._pending
        if pending is None:
            return
        part = None if whole else pending.split_incidents(self._part_size)
        if part is None:
            self._pending = None
            self.pending_since = None
            self._emit_timed(pending)
            return
        # The rest stays pending (newer changes merge into it) and goes on the next turn.
        self._emit_timed(part)
        if self._pending is not None and not self._flush_timer.isActive():
            QTimer.singleShot(0, self, self._flush_rest)

    def _emit_timed(self, changes: ChangeSet) -> None:
        n = len(changes.incidents_added) + len(changes.incidents_updated)
        started = time.perf_counter()
        self.changed.emit(changes)
        took = time.perf_counter() - started
        if n >= FLUSH_INCIDENTS_MIN and took > 0:
            # The next part's size from this one's cost per incident, within the bounds.
            fit = int(n * FLUSH_BUDGET_S / took)
            self._part_size = max(FLUSH_INCIDENTS_MIN, min(FLUSH_INCIDENTS_MAX, fit))

    def _flush_rest(self) -> None:
        if self._pending is not None and not self._flush_timer.isActive():
            self.flush()

    # --- selection -------------------------------------------------------------------

    def select_incident(self, incident_id: str) -> None:
        if incident_id != self.selected_incident:
            self.selected_incident = incident_id
            self.incident_selected.emit(incident_id)

    def shutdown(self) -> None:
        self._tick_timer.stop()
        self._flush_timer.stop()
        self.detach_feed()


def _unlisten(listeners: list[T], fn: T) -> None:
    if fn in listeners:
        listeners.remove(fn)
