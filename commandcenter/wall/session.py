"""One node's engine, assembled in one place (no Qt).

A :class:`WallSession` opens the journal, rebuilds the store from it, makes
the feed client, the alert service (rules, operator commands, speech) and
runs housekeeping; :meth:`WallSession.close` shuts them down in order. The
wall (ui.app.wall), ``commandcenter follow`` (with or without ``--alerts``),
the terminal demo, the tests and the benchmarks all use it, so they follow a
server, raise alerts and keep their journals bounded the same way.

:func:`feed_settings` is the one place FeedSettings are made from the config.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from commandcenter.core import protocol as p
from commandcenter.core.plausibility import Plausibility
from commandcenter.core.store import ChangeSet, Store, decode_state
from commandcenter.core.timeutil import Clock
from commandcenter.storage.journal import Journal
from commandcenter.wall.alerting import TICK_S, AlertService
from commandcenter.wall.feed import FeedClient, FeedSettings, split_urls

if TYPE_CHECKING:
    from commandcenter.config import Config
    from commandcenter.wall.speech import SpeechWorker

log = logging.getLogger(__name__)

__all__ = ["WallSession", "feed_settings", "journal_path"]

#: The journal's file name in a data directory (the wall's and the demo's).
JOURNAL_FILE = "wall-journal.sqlite3"


def feed_settings(
    config: Config,
    *,
    url: str | None = None,
    token: str | None = None,
    client_id: str | None = None,
    console: str | None = None,
    heartbeat_timeout_s: float | None = None,
) -> FeedSettings:
    """The feed client's settings from ``config``; each argument given (a
    command-line override) wins over the config. ``url`` may name several
    servers, comma-separated (``--server A,B``): the feed fails over between
    them; else server.url and server.servers."""
    server = config.server
    cid = client_id or server.effective_client_id()
    urls = split_urls(url) if url else tuple(server.server_urls())
    if not urls:
        raise ValueError(f"no server URL in {url!r}")
    return FeedSettings(
        url=urls[0],
        urls=urls,
        token=token or server.token,
        client_id=cid,
        # Mutes and acknowledgements name the console; without a configured
        # name the client id stands in, never an empty string.
        console=(config.display.console_name or cid) if console is None else console,
        heartbeat_timeout_s=heartbeat_timeout_s or server.heartbeat_timeout_s,
        reconnect_min_s=server.reconnect_min_s,
        reconnect_max_s=server.reconnect_max_s,
        stable_after_s=server.stable_after_s,
        reconnect_refused_fast_s=server.reconnect_refused_fast_s,
        snapshot_every_events=config.journal.snapshot_every_events,
        snapshot_interval_s=config.journal.snapshot_interval_s,
    )


def journal_path(config: Config, data_dir: Path) -> Path:
    """journal.path when set, else wall-journal.sqlite3 in ``data_dir``."""
    return Path(config.journal.path) if config.journal.path else data_dir / JOURNAL_FILE


class WallSession:
    """Journal, store, feed client, alert service and housekeeping of one node.

    Make one with :meth:`open`, run it with :meth:`start`, end it with
    :meth:`close` (alerts drain, speech stops, feed stops, a last snapshot,
    journal closed).
    """

    def __init__(
        self,
        config: Config,
        journal: Journal,
        store: Store,
        feed: FeedClient,
        alerts: AlertService,
        speech: SpeechWorker | None = None,
        *,
        alerting: bool = True,
    ) -> None:
        self.config = config
        self.journal = journal
        self.store = store
        self.feed = feed
        self.alerts = alerts
        self.speech = speech
        self._feed_task: asyncio.Task[None] | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._closed = False
        #: Whether the alert service follows the feed and ticks (see :meth:`open`).
        self.alerting = alerting

    @classmethod
    async def open(
        cls,
        config: Config,
        path: str | Path,
        settings: FeedSettings,
        *,
        clock: Clock | None = None,
        operator: str = "",
        speech: bool = False,
        alerts: bool = True,
        tick_s: float = TICK_S,
        on_restored: Callable[[], None] | None = None,
        plausibility: Plausibility | None = None,
    ) -> WallSession:
        """Open the journal at ``path`` and rebuild the store from it.

        ``clock`` is the store's "now" (a WarpClock in the demo); ``speech``
        starts a SpeechWorker when config.speech.enabled (tones only if it
        cannot start); ``alerts=False`` (a recording node, the feed's tests and
        benchmark) leaves the alert service idle: it sees no change set and
        runs no tick. ``on_restored`` runs once the store is rebuilt (the
        commands freeze the restored heap out of the collector's way).
        ``plausibility`` replaces the rules made from the config (a provincial
        wall's regency other than the configured one)."""
        jc = config.journal
        journal = await Journal.open(
            path,
            retention_days=jc.retention_days,
            max_mb=jc.max_mb,
            audit_retention_days=jc.audit_retention_days,
        )
        worker: SpeechWorker | None = None
        try:
            store = Store(clock=clock) if clock is not None else Store()
            bounds = config.map.bounds
            # What this wall can place; anything else is shown flagged (⚠).
            store.plausibility = Plausibility.of(
                categories=[c.code for c in config.categories],
                agencies=[a.code for a in config.agencies],
                districts=[d.name for d in config.districts],
                area=(bounds.south, bounds.west, bounds.north, bounds.east),
            )
            if plausibility is not None:
                store.plausibility = plausibility
            # Whose hotspots the figures count (the same districts the hotspot alerts watch).
            store.peat_districts = frozenset(config.alerts.hazards.peat_districts)

            def load(data: bytes) -> None:
                store.load_state(decode_state(data))

            def apply(events: list[p.Event]) -> None:
                store.apply_many(events)

            epoch, seq, _ = await journal.restore(load, apply)
            if epoch and epoch == store.epoch and seq > store.seq:
                store.seq = seq  # past refused events at the end (never asked for again)
            if on_restored is not None:
                on_restored()
            feed = FeedClient(settings, journal, store)
            _age_restored_data(feed, store)
            if alerts and speech and config.speech.enabled:
                worker = await _start_speech(config)
            service = AlertService(
                config, store, journal=journal, feed=feed if alerts else None, operator=operator,
                console=settings.console, speech=worker, clock=store.clock, tick_s=tick_s,
            )  # fmt: skip
        except BaseException:
            if worker is not None:
                worker.stop()
            await journal.close()
            raise
        return cls(config, journal, store, feed, service, worker, alerting=alerts)

    # --- running -------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Start the alert service, housekeeping and the feed; returns the
        feed's task (it ends with FatalFeedError on a refused token)."""
        if self._feed_task is None:
            if self.alerting:
                self.alerts.start()
            loop = asyncio.get_running_loop()
            self._housekeeping = loop.create_task(self._housekeeping_loop(), name="housekeeping")
            self._feed_task = self.feed.start()
        return self._feed_task

    def prune_store(self) -> ChangeSet:
        """Forget incidents closed longer ago than journal.prune_closed_after_s;
        the change set goes to every feed listener (alerts and views)."""
        changes = self.store.prune(closed_older_than_s=self.config.journal.prune_closed_after_s)
        if changes:
            self.feed.publish(changes)
        return changes

    async def prune_journal(self) -> None:
        """A snapshot first (pruning deletes only events a snapshot covers), then
        retention by age and size."""
        await self.feed.write_snapshot()
        await self.journal.prune()

    async def _housekeeping_loop(self) -> None:
        """Keep a node that runs for months bounded."""
        jc = self.config.journal
        last_journal_prune = time.monotonic()
        while True:
            await asyncio.sleep(jc.housekeeping_interval_s)
            try:
                self.prune_store()
                if time.monotonic() - last_journal_prune >= jc.journal_prune_interval_s:
                    last_journal_prune = time.monotonic()
                    await self.prune_journal()
            except Exception:
                log.exception("housekeeping failed; trying again next time")

    async def close(self) -> None:
        """Shut down in order: alerts (commands and audit rows in flight are
        written), speech, housekeeping, the feed, a last snapshot, the journal."""
        if self._closed:
            return
        self._closed = True
        self.alerts.stop()
        with contextlib.suppress(Exception):
            await self.alerts.drain()
        if self.speech is not None:
            self.speech.stop()
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        await self.feed.stop()
        try:
            await self.feed.write_snapshot()
        except Exception:
            log.exception("last snapshot not written (the journal still has every event)")
        await self.journal.close()


def _age_restored_data(feed: FeedClient, store: Store) -> None:
    """Data restored from the journal is as old as its newest timestamp: the
    wall shows that age (and the stale banner) until the feed is live."""
    newest = max((i.updated_at or i.times.received for i in store.incidents.values()), default=None)
    if newest is None:
        return
    age = max(0.0, (store.clock() - newest).total_seconds())
    # A simulated clock runs faster than the monotonic one the feed uses.
    age /= getattr(store.clock, "speed", 1.0)
    feed.status.last_event_at = time.monotonic() - age


async def _start_speech(config: Config) -> SpeechWorker | None:
    from commandcenter.wall.speech import SpeechWorker, speech_language

    worker = SpeechWorker(config.speech, language=speech_language(config))
    try:
        # start() waits until the engine exists on its own thread.
        await asyncio.get_running_loop().run_in_executor(None, worker.start)
    except Exception:
        log.exception("speech worker could not start; tones only")
        return None
    return worker
