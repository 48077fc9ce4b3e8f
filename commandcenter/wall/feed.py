"""The feed client: follows the dispatch server into the journal and the store.

The contract (docs/protocol.md): hello with the last journaled (epoch, seq);
replay or snapshot; every event journaled before it is applied; duplicates
dropped; a gap never skipped (reconnect and resume); an event whose body
the protocol refuses (a value this program cannot hold, from a foreign or
older server) is journaled as refused and stepped over, never applied, so it
neither looks like a gap nor comes back in an endless replay; silence past the
heartbeat timeout marks the feed stale and reconnects with exponential backoff
and full jitter. Commands (acknowledgements) go to the journal's outbox first
and are resent after every reconnect until the server answers them, paced
under the server's rate limit so a long outbox never gets the link closed.

Fail-over: with several server URLs (gateways over one event log) a link that
dies or falls silent moves to the next URL, round-robin, each URL with its own
backoff; the hello carries the journal's (epoch, seq) as always, so the next
gateway replays from exactly there (another epoch: a snapshot, as ever).

No Qt here: the UI subscribes with plain callbacks and turns them into signals.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import errno
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from commandcenter.config.schema import (
    JournalConfig,
    ServeConfig,
    ServerConfig,
    default_client_id,
    default_of,
)
from commandcenter.core import protocol as p
from commandcenter.core.store import ChangeSet, Store, decode_state, encode_state
from commandcenter.storage.journal import Journal

log = logging.getLogger(__name__)


class FeedState(enum.Enum):
    CONNECTING = "connecting"
    LIVE = "live"
    STALE = "stale"
    OFFLINE = "offline"


@dataclass
class FeedStatus:
    """What the UI shows about the link: state, and the age of the last event."""

    state: FeedState
    last_event_at: float | None  # time.monotonic() of the last applied event
    last_frame_at: float | None  # any frame, heartbeats included
    epoch: str
    seq: int
    reason: str = ""
    attempt: int = 0
    #: Events refused and stepped over since start (the header shows a mark).
    refused: int = 0
    #: The last of them: "epoch/seq: reason" (field and why), for a tooltip or the log.
    last_refused: str = ""
    #: The server URL the feed is on (or trying), and how many it may fail over between.
    server: str = ""
    servers: int = 1

    def event_age_s(self, now: float | None = None) -> float | None:
        if self.last_event_at is None:
            return None
        return (time.monotonic() if now is None else now) - self.last_event_at

    def server_name(self) -> str:
        """host:port of the server, as the header shows it (a wall with
        several servers says which one it is on)."""
        parts = urlsplit(self.server)
        if not parts.hostname:
            return self.server
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return f"{host}:{parts.port}" if parts.port else host


@dataclass
class FeedCounters:
    events_applied: int = 0
    duplicates: int = 0
    gaps: int = 0
    bad_frames: int = 0
    reconnects: int = 0
    snapshots: int = 0
    commands_sent: int = 0
    commands_resolved: int = 0
    #: Moves to another server URL (fail-over).
    failovers: int = 0
    last_bad_reason: str = ""
    #: Events refused (body out of the protocol's bounds) and stepped over.
    refused: int = 0


@dataclass(frozen=True)
class RefusedEvent:
    """An event frame whose position (epoch, seq) reads but whose body the
    protocol refuses; it takes its place in the stream so that the seq goes on."""

    epoch: str
    seq: int
    reason: str


class _Resync(Exception):
    """Leave this connection and resume from the journal's position.

    ``leave``: the server itself is the trouble (silent, refusing): fail over
    to the next URL rather than ask the same one again."""

    def __init__(self, reason: str, *, leave: bool = False) -> None:
        super().__init__(reason)
        self.leave = leave


class FatalFeedError(Exception):
    """The server refused us for good (bad token): retrying would not help."""


#: The server's documented per-connection limit (docs/protocol.md "Limits"):
#: commands are sent under it with a margin (clocks and the network bunch frames).
_SERVER_RATE_PER_S: float = default_of(ServeConfig, "client_rate_per_s")
_SERVER_BURST: int = default_of(ServeConfig, "client_burst")


@dataclass
class FeedSettings:
    url: str
    token: str
    #: Every server URL to fail over between, in order (``url`` is the first);
    #: empty: ``url`` alone. See :func:`split_urls` for a comma-separated list.
    urls: tuple[str, ...] = ()
    client_id: str = field(default_factory=default_client_id)
    console: str = ""
    # Defaults are the config schema's ([server], [journal]); never repeated here.
    heartbeat_timeout_s: float = default_of(ServerConfig, "heartbeat_timeout_s")
    reconnect_min_s: float = default_of(ServerConfig, "reconnect_min_s")
    reconnect_max_s: float = default_of(ServerConfig, "reconnect_max_s")
    stable_after_s: float = default_of(ServerConfig, "stable_after_s")
    reconnect_refused_fast_s: float = default_of(ServerConfig, "reconnect_refused_fast_s")
    open_timeout_s: float = 5.0
    max_frame_bytes: int = p.MAX_FRAME_BYTES
    #: Events journaled and applied per step: small enough that one step never
    #: holds the GUI thread for long (the wall shares it with the event loop: 500
    #: new incidents of a burst with their alerts took up to 250 ms).
    batch_max: int = 250
    #: Frames decoded before the reader yields to other work on the loop.
    yield_every: int = 100
    #: Frames read ahead of the journal writer; past this the client stops
    #: reading and the server's per-client queue takes the strain.
    read_ahead: int = 8000
    #: Revisions of protocol v1 offered in hello; the server picks one. "1.1"
    #: lets it send several events per frame (pin ("1.0",) to refuse that).
    protocols: tuple[str, ...] = p.REVISIONS
    snapshot_every_events: int = default_of(JournalConfig, "snapshot_every_events")
    snapshot_interval_s: float = default_of(JournalConfig, "snapshot_interval_s")
    #: Commands (the outbox's resend and new ones) a second and in one burst:
    #: three quarters of the server's rate and half its burst (the hello also
    #: counts), so a console's long outbox drains without a 4429 close.
    command_rate_per_s: float = _SERVER_RATE_PER_S * 0.75
    command_burst: int = max(1, _SERVER_BURST // 2)

    def server_urls(self) -> tuple[str, ...]:
        """Every URL to fail over between: ``urls``, starting with ``url``."""
        if not self.urls:
            return (self.url,)
        return self.urls if self.url in self.urls else (self.url, *self.urls)

    def __post_init__(self) -> None:
        if self.command_rate_per_s <= 0 or self.command_burst < 1:
            raise ValueError("command_rate_per_s must be > 0 and command_burst >= 1")


def split_urls(text: str) -> tuple[str, ...]:
    """``ws://a:8112/,ws://b:8112/`` (a --server value) as URLs, blanks dropped."""
    return tuple(u.strip() for u in text.split(",") if u.strip())


class _Pacer:
    """A token bucket on the sending side, the mirror of the server's."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def reset(self, spent: int = 0) -> None:
        """A new connection: the server's bucket is full again (``spent``: the hello)."""
        self.tokens = self.burst - spent
        self.stamp = time.monotonic()

    async def take(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return
            # Pacing is the point here: wait for the next token.
            await asyncio.sleep((1.0 - self.tokens) / self.rate)


class FeedClient:
    def __init__(
        self,
        settings: FeedSettings,
        journal: Journal,
        store: Store,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.store = store
        self.rng = rng or random.Random()
        self.counters = FeedCounters()
        self.status = FeedStatus(
            FeedState.OFFLINE, None, None, store.epoch, store.seq,
            server=settings.url, servers=len(settings.server_urls()),
        )  # fmt: skip
        self.change_listeners: list[Callable[[ChangeSet], object]] = []
        self.status_listeners: list[Callable[[FeedStatus], None]] = []
        self.result_listeners: list[Callable[[p.CommandResult], None]] = []
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._since_snapshot = 0
        self._last_snapshot_at = time.monotonic()
        self.role: str = ""
        self.welcome: p.Welcome | None = None
        #: The server's head seq from the last welcome or heartbeat.
        self.server_head = 0
        #: Close code and reason of the last connection the server closed.
        self.last_close: tuple[int, str] | None = None
        #: Code of the last fatal error frame (e.g. rate_limited before a 4429).
        self.last_fatal_error = ""
        # Resolves when the feed is live (tests and `follow --until-live` wait on it).
        self._live_event = asyncio.Event()
        self._last_raw = b""
        #: The last connect error per URL (said once at WARNING while it repeats).
        self._last_error: dict[str, str] = {}
        self._inflight: asyncio.Future[None] | None = None
        #: When the writer last committed a batch (monotonic): see _watchdog.
        self._progress_at = 0.0
        #: Event frames of a received ``events`` frame (1.1) not yet handed on.
        self._pending: collections.deque[bytes] = collections.deque()
        #: The servers to fail over between, and the index of the one the
        #: feed is on (or trying).
        self.urls = settings.server_urls()
        self._index = 0
        #: Failed tries in a row per URL: each URL backs off on its own.
        self._failures = [0] * len(self.urls)
        # Since when each URL has refused every try (None: it did not refuse the last one).
        self._refused_since: list[float | None] = [None] * len(self.urls)
        #: The connection commands may go on: set once its welcome arrived
        #: (a command must never go out before the hello).
        self._cmd_ws: Any = None
        self._send_lock = asyncio.Lock()
        self._pacer = _Pacer(settings.command_rate_per_s, settings.command_burst)
        #: Command ids sent (or answered) on the current connection: the
        #: outbox's resend skips them.
        self._sent_ids: set[str] = set()

    # --- public --------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="feed")
        return self._task

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self._set_state(FeedState.OFFLINE, "stopped")

    @property
    def url(self) -> str:
        """The server URL the feed is on (or trying next)."""
        return self.urls[self._index]

    async def wait_live(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._live_event.wait(), timeout)

    async def submit(self, command: p.Command) -> None:
        """Store a command in the outbox, then send it if connected.

        It is resent after each reconnect until the server answers; the server
        applies each command_id once, so resending is safe."""
        await self.journal.outbox_add(
            command.command_id, str(type(command).__struct_config__.tag), p.encode(command)
        )
        await self._send_command(command.command_id, p.encode(command))

    # --- main loop --------------------------------------------------------------------

    async def run(self) -> None:
        urls = self.urls
        attempt = 0  # failed tries in a row, whichever URL
        while not self._stopping:
            url = urls[self._index]
            self.status.server = url
            self._set_state(
                FeedState.CONNECTING if attempt == 0 else self._down_state(), "connecting", attempt
            )
            connected_at: float | None = None
            leave = True  # the server failed us: the next try goes to the next URL
            refused = False  # nothing listened (a restart in progress)
            try:
                async with websockets.connect(
                    url,
                    open_timeout=self.settings.open_timeout_s,
                    max_size=self.settings.max_frame_bytes,
                    compression=None,
                    ping_interval=None,
                    proxy=None,
                    close_timeout=2,
                ) as ws:
                    self._ws = ws
                    connected_at = time.monotonic()
                    await self._session(ws)
            except FatalFeedError as exc:
                self._set_state(FeedState.OFFLINE, str(exc))
                log.error("feed refused: %s", exc)
                raise
            except _Resync as exc:
                log.info("resync: %s", exc)
                # A gap or an odd frame: the same server again (it has the events).
                leave = exc.leave
                if not self._stopping:
                    self.counters.reconnects += 1
            except ConnectionClosed as exc:
                if exc.rcvd is not None:
                    self.last_close = (exc.rcvd.code, exc.rcvd.reason)
                log.info("feed connection to %s closed: %s", url, exc)
                if not self._stopping:
                    self.counters.reconnects += 1
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError, p.ProtocolError) as exc:
                # Say it once at WARNING (a bad certificate or a wrong URL must
                # be visible without debug logging), then quietly while it repeats.
                reason = f"{type(exc).__name__}: {exc}"
                if reason != self._last_error.get(url):
                    log.warning("feed cannot connect to %s: %s", url, reason)
                    self._last_error[url] = reason
                else:
                    log.info("feed connection to %s ended: %s", url, exc)
                self.status.reason = reason
                self.counters.reconnects += 1
                refused = connected_at is None and _is_refused(exc)
            finally:
                self._ws = None
            self.note_refused(refused, time.monotonic())
            if self._stopping:
                break
            # Reset the backoff only after the link held for a while, so a
            # server that accepts and drops at once is not hammered.
            if connected_at is not None and time.monotonic() - connected_at >= self.settings.stable_after_s:
                attempt = 0
                self._failures[self._index] = 0
            attempt += 1
            self._failures[self._index] += 1
            if leave and len(urls) > 1:
                self._index = (self._index + 1) % len(urls)
                self.counters.failovers += 1
                self.status.server = urls[self._index]
                log.warning("feed fails over from %s to %s", url, urls[self._index])
            self._set_state(self._down_state(), "reconnecting", attempt)
            # The backoff of the URL tried next: a healthy gateway is tried at
            # once (within reconnect_min_s); when all are down each has failed
            # once more per round, so the waits grow and nothing spins.
            await asyncio.sleep(self.retry_delay(time.monotonic()))

    def note_refused(self, refused: bool, now: float) -> None:
        """Whether the last try at the current URL was refused (nothing listened)."""
        if not refused:
            self._refused_since[self._index] = None
        elif self._refused_since[self._index] is None:
            self._refused_since[self._index] = now

    def retry_delay(self, now: float) -> float:
        """The wait before trying the current URL again: its backoff, except while it has
        refused every try for at most ``reconnect_refused_fast_s``: the server is restarting
        (or gone), a refused try costs it nothing, and the wall should be live right after the
        restart (a 50,000-incident server takes 1-2 s to listen again, by when the backoff had
        grown to several seconds)."""
        since = self._refused_since[self._index]
        window = self.settings.reconnect_refused_fast_s
        if since is not None and window > 0 and now - since <= window:
            return self.backoff_delay(1)
        return self.backoff_delay(max(1, self._failures[self._index]))

    def backoff_delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter. The first three tries stay
        within ``reconnect_min_s`` (a server restart takes about a second and
        the wall should be live again right after it); from then on the cap
        doubles per try up to ``reconnect_max_s``."""
        s = self.settings
        cap = min(s.reconnect_max_s, s.reconnect_min_s * (2 ** max(0, attempt - 3)))
        return s.reconnect_min_s * 0.1 + self.rng.uniform(0, cap)

    def _down_state(self) -> FeedState:
        # Data seen before: it is now old (stale); never seen: offline.
        return (
            FeedState.STALE if self.status.last_event_at is not None or self.store.seq else FeedState.OFFLINE
        )

    async def _session(self, ws: Any) -> None:
        self._pending.clear()  # nothing of an earlier connection carries over
        epoch, seq = self.store.epoch, self.store.seq
        hello = p.Hello(
            token=self.settings.token,
            client_id=self.settings.client_id,
            last_epoch=epoch,
            last_seq=seq,
            console=self.settings.console,
            software="oki-siaga-112-wall",
            protocols=list(self.settings.protocols),
        )
        await ws.send(p.encode(hello).decode())
        first = await self._recv(ws, timeout=True)
        if isinstance(first, p.Error):
            if first.code == "bad_token":
                raise FatalFeedError(f"server refused the token: {first.reason}")
            raise _Resync(f"server error {first.code}: {first.reason}", leave=True)
        if not isinstance(first, p.Welcome):
            raise _Resync(f"expected welcome, got {type(first).__name__}")
        self.welcome = first
        self.role = first.role
        self.server_head = first.head_seq
        if first.resume == "snapshot":
            await self._take_snapshot(ws)
        elif first.epoch != epoch:
            raise _Resync("replay offered for another epoch")
        # Replay, then live: events flow through one queue to one writer.
        queue: asyncio.Queue[tuple[p.Event | RefusedEvent, bytes] | None] = asyncio.Queue(
            maxsize=self.settings.read_ahead
        )
        writer = asyncio.get_running_loop().create_task(self._writer(queue), name="feed-writer")
        watchdog = asyncio.get_running_loop().create_task(self._watchdog(ws), name="feed-watchdog")
        # Commands may go now; the outbox drains paced, beside the reading
        # (a long one takes seconds, and the stream must not wait for it).
        self._sent_ids.clear()
        self._pacer.reset(spent=1)  # the hello took one of the server's tokens
        self._cmd_ws = ws
        resender = asyncio.get_running_loop().create_task(self._resend_outbox(ws), name="feed-outbox")
        frames = 0
        try:
            caught_up = first.head_seq <= self.store.seq
            if caught_up:
                self._go_live()
            while True:
                frame = await self._recv(ws, events=True)
                frames += 1
                if frames % self.settings.yield_every == 0:
                    # ws.recv() does not yield while frames are buffered: let
                    # the GUI and the writer run between runs of frames.
                    await asyncio.sleep(0)
                if writer.done():
                    writer.result()  # re-raise a resync from the writer
                if watchdog.done():
                    watchdog.result()
                if isinstance(frame, p.Event | RefusedEvent):
                    self.server_head = max(self.server_head, frame.seq)
                    await queue.put((frame, self._last_raw))
                    if not caught_up and frame.seq >= first.head_seq:
                        caught_up = True
                        # Go live once the writer has applied up to the head.
                        await queue.join()
                        self._go_live()
                elif isinstance(frame, p.Heartbeat):
                    self.server_head = frame.head_seq
                    if caught_up and self.status.state is not FeedState.LIVE:
                        self._go_live()
                elif isinstance(frame, p.CommandResult):
                    await self._on_result(frame)
                elif isinstance(frame, p.Error):
                    log.warning("server error %s: %s", frame.code, frame.reason)
                    if frame.command_id is not None:
                        # The server could not read that command: resending the
                        # same bytes would fail again, so it leaves the outbox.
                        reason = f"{frame.code}: {frame.reason}"[:200]
                        await self._on_result(
                            p.CommandResult(command_id=frame.command_id, status="rejected", reason=reason)
                        )
                    if frame.fatal:
                        self.last_fatal_error = frame.code
                        raise _Resync(f"server error {frame.code}", leave=True)
                elif isinstance(frame, p.Snapshot | p.Welcome):
                    raise _Resync(f"unexpected {type(frame).__name__}")
        finally:
            self._cmd_ws = None
            resender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await resender
            writer.cancel()
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError, _Resync):
                await writer
            inflight = self._inflight
            if inflight is not None and not inflight.done():
                with contextlib.suppress(asyncio.CancelledError, _Resync):
                    await inflight
            with contextlib.suppress(asyncio.CancelledError, _Resync):
                await watchdog

    async def _recv(
        self, ws: Any, timeout: bool = False, events: bool = False
    ) -> p.ServerFrame | RefusedEvent:
        """Next valid frame; bad frames are counted, logged and dropped.

        In the live stream silence is caught by the watchdog task (a timeout
        per frame costs more than decoding it); ``timeout`` guards the
        handshake frames, before the watchdog runs. With ``events`` (the
        stream after the handshake) a refused event whose position reads comes
        back as a :class:`RefusedEvent`, to be stepped over in order."""
        while True:
            element = bool(self._pending)
            if element:
                # The next element of an ``events`` frame, decoded on its own.
                raw = self._pending.popleft()
            elif timeout:
                try:
                    async with asyncio.timeout(self.settings.heartbeat_timeout_s):
                        raw = await ws.recv()
                except TimeoutError:
                    self._set_state(FeedState.STALE, "no heartbeat")
                    raise _Resync("heartbeat timeout", leave=True) from None
            else:
                raw = await ws.recv()
            self.status.last_frame_at = time.monotonic()
            self._last_raw = raw.encode() if isinstance(raw, str) else bytes(raw)
            if events and not element and (items := p.split_events(self._last_raw)) is not None:
                self._pending.extend(items)
                continue
            try:
                return p.decode_server_frame(self._last_raw, self.settings.max_frame_bytes)
            except p.ProtocolError as exc:
                position = p.peek_position(self._last_raw) if events else None
                if position is not None:
                    return RefusedEvent(position[0], position[1], exc.reason[:200])
                self.counters.bad_frames += 1
                self.counters.last_bad_reason = exc.reason[:200]
                log.warning("dropped a bad frame: %s", exc.reason[:200])

    async def _watchdog(self, ws: Any) -> None:
        """Silence past the heartbeat timeout: mark the feed stale and drop the
        connection so that run() reconnects."""
        limit = self.settings.heartbeat_timeout_s
        while True:
            # A wall busy with a burst stops reading once its read-ahead is
            # full: the silence is then its own backlog, not the server's, as
            # long as the writer still gets through batches (a reconnect would
            # only make the server send the backlog again).
            last = max(self.status.last_frame_at or time.monotonic(), self._progress_at)
            remaining = limit - (time.monotonic() - last)
            if remaining <= 0:
                self._set_state(FeedState.STALE, "no heartbeat")
                with contextlib.suppress(Exception):
                    await ws.close(1001, "heartbeat timeout")
                raise _Resync("heartbeat timeout", leave=True)
            await asyncio.sleep(min(remaining + 0.01, limit / 4))

    async def _writer(self, queue: asyncio.Queue[tuple[p.Event | RefusedEvent, bytes] | None]) -> None:
        while True:
            first = await queue.get()
            batch = [first]
            while len(batch) < self.settings.batch_max:
                try:
                    batch.append(queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                # A commit (journal, then store) is never cut in half by the end
                # of a connection: the session waits for it (see _session).
                self._inflight = asyncio.ensure_future(
                    self._journal_and_apply([e for e in batch if e is not None])
                )
                await asyncio.shield(self._inflight)
                self._progress_at = time.monotonic()
                # Let the GUI paint between batches of a burst.
                await asyncio.sleep(0)
            finally:
                for _ in batch:
                    queue.task_done()

    async def _journal_and_apply(self, items: list[tuple[p.Event | RefusedEvent, bytes]]) -> None:
        accepted: list[tuple[p.Event, bytes]] = []
        epoch, seq = self.store.epoch, self.store.seq
        for item in items:
            ev = item[0]
            if ev.epoch != epoch:
                self.counters.gaps += 1
                raise _Resync(f"event of epoch {ev.epoch} while at {epoch}")
            if ev.seq <= seq:
                self.counters.duplicates += 1
                continue
            if ev.seq != seq + 1:
                self.counters.gaps += 1
                # Keep what came before the gap, then resume from there.
                await self._commit(accepted)
                raise _Resync(f"gap: expected seq {seq + 1}, got {ev.seq}")
            if isinstance(ev, RefusedEvent):
                # In order: what came before it is committed first.
                await self._commit(accepted)
                accepted = []
                await self._step_over(ev, item[1])
            else:
                accepted.append((ev, item[1]))
            seq = ev.seq
        await self._commit(accepted)

    async def _step_over(self, ev: RefusedEvent, raw: bytes) -> None:
        """Journal a refused event as refused, count it, say it once, and move
        the position past it: nothing is applied and nothing else stops."""
        new = await self.journal.record_refused(ev.epoch, ev.seq, ev.reason, raw)
        # Only the position moves; the store's content stays as it was.
        self.store.seq = ev.seq
        self.status.epoch, self.status.seq = self.store.epoch, self.store.seq
        self.counters.refused += 1
        self.status.refused += 1
        self.status.last_refused = f"{ev.epoch}/{ev.seq}: {ev.reason}"
        if new:
            log.warning(
                "refused event %s/%d and stepped over it (nothing applied): %s",
                ev.epoch, ev.seq, ev.reason,
            )  # fmt: skip
        # The state is unchanged but the status is not (its refused counter).
        for listener in list(self.status_listeners):
            _safe_call(listener, self.status)

    async def _commit(self, items: list[tuple[p.Event, bytes]]) -> None:
        if not items:
            return
        # Journal first (the exact bytes received): a crash after this line
        # resumes after these events.
        await self.journal.append(items)
        events = [ev for ev, _ in items]
        changes = self.store.apply_many(events)
        self.counters.events_applied += len(events)
        self.status.last_event_at = time.monotonic()
        self.status.epoch, self.status.seq = self.store.epoch, self.store.seq
        self._emit_changes(changes)
        self._since_snapshot += len(events)
        if (
            self._since_snapshot >= self.settings.snapshot_every_events
            or time.monotonic() - self._last_snapshot_at >= self.settings.snapshot_interval_s
        ):
            await self.write_snapshot()

    async def write_snapshot(self) -> None:
        self._since_snapshot = 0
        self._last_snapshot_at = time.monotonic()
        await self.journal.write_snapshot(
            self.store.epoch, self.store.seq, encode_state(self.store.to_state())
        )

    async def _take_snapshot(self, ws: Any) -> None:
        parts: list[p.Snapshot] = []
        while True:
            frame = await self._recv(ws, timeout=True)
            if not isinstance(frame, p.Snapshot):
                raise _Resync(f"expected snapshot part, got {type(frame).__name__}")
            if parts and (
                frame.epoch != parts[0].epoch or frame.seq != parts[0].seq or frame.part != len(parts)
            ):
                raise _Resync("snapshot parts out of order")
            if not parts and frame.part != 0:
                raise _Resync("snapshot did not start at part 0")
            parts.append(frame)
            if len(parts) == frame.parts:
                break
        # Build the new state aside, journal it, then swap it in.
        fresh = Store(clock=self.store.clock)
        fresh.apply_snapshot(parts)
        state = fresh.to_state()
        await self.journal.write_snapshot(state.epoch, state.seq, encode_state(state), source="server")
        changes = self.store.load_state(decode_state(encode_state(state)))
        self.counters.snapshots += 1
        self.status.last_event_at = time.monotonic()
        self.status.epoch, self.status.seq = self.store.epoch, self.store.seq
        self._emit_changes(changes)

    # --- commands ---------------------------------------------------------------------

    async def _resend_outbox(self, ws: Any) -> None:
        for row in await self.journal.outbox_pending():
            if self._cmd_ws is not ws:
                return
            await self._send_command(row.command_id, row.data, resend=True)

    async def _send_command(self, command_id: str, data: bytes, *, resend: bool = False) -> None:
        """Send on the current connection, paced under the server's rate
        limit; without a connection it waits in the outbox for the next one.
        A ``resend`` is skipped when this connection already carried the
        command (submitted meanwhile) or its answer."""
        ws = self._cmd_ws
        if ws is None:
            return  # sent after the next connect
        async with self._send_lock:
            await self._pacer.take()
            if self._cmd_ws is not ws or (resend and command_id in self._sent_ids):
                return  # the link changed meanwhile (resent there) or already sent
            try:
                await ws.send(data.decode())
            except ConnectionClosed:
                return
            self._sent_ids.add(command_id)
            self.counters.commands_sent += 1
        await self.journal.outbox_mark_sent(command_id)

    async def _on_result(self, result: p.CommandResult) -> None:
        self._sent_ids.add(result.command_id)  # answered: nothing to resend
        await self.journal.outbox_resolve(result.command_id, result.status, result.reason)
        self.counters.commands_resolved += 1
        for listener in list(self.result_listeners):
            _safe_call(listener, result)

    # --- state -----------------------------------------------------------------------

    def _go_live(self) -> None:
        self._last_error.clear()
        self._set_state(FeedState.LIVE, "live")
        self._live_event.set()

    def _set_state(self, state: FeedState, reason: str, attempt: int = 0) -> None:
        if state is not FeedState.LIVE:
            self._live_event.clear()
        changed = state is not self.status.state
        self.status.state = state
        self.status.reason = reason
        self.status.attempt = attempt
        if changed:
            for listener in list(self.status_listeners):
                _safe_call(listener, self.status)

    def publish(self, changes: ChangeSet) -> None:
        """Hand a change set made outside the feed (housekeeping's prune) to
        the same listeners, so the alert engine and the views see every change
        to the store through one path."""
        self._emit_changes(changes)

    def _emit_changes(self, changes: ChangeSet) -> None:
        # Called once per committed batch, right after the store applied it:
        # a listener never gets a reset merged with the live events behind it.
        for listener in list(self.change_listeners):
            _safe_call(listener, changes)


def _safe_call(fn: Callable[[Any], object], arg: Any) -> None:
    try:
        fn(arg)
    except Exception:
        log.exception("listener %r failed", fn)


def _is_refused(exc: BaseException) -> bool:
    """Whether a connect failed because nothing listens on the port (refused at once). asyncio
    joins the errors of several addresses (localhost's ::1 and 127.0.0.1) into one OSError
    without an errno, naming each; an address family this host lacks does not count."""
    if isinstance(exc, ConnectionRefusedError):
        return True
    text = str(exc)
    if not isinstance(exc, OSError) or exc.errno is not None or not text.startswith("Multiple exceptions"):
        return False
    codes = {int(c) for c in re.findall(r"\[Errno (\d+)\]", text)}
    return errno.ECONNREFUSED in codes and codes <= {errno.ECONNREFUSED, errno.EADDRNOTAVAIL}
