"""The reference dispatch server: `commandcenter serve`.

It keeps an event log in its own journal (SQLite), so it survives a restart
with the same epoch; a fresh database starts a new epoch. Each client gets a
replay from its (epoch, seq) or a snapshot, then the live stream, through a
bounded send queue: a client that cannot keep up is cut off with close code
4503 and resumes on reconnect, without slowing the others or growing memory.

Optionally it runs the OKI scenario simulator, mapping wall time to simulated
time at ``speed`` times real time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import errno
import hmac
import logging
import secrets
import ssl
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import websockets
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.protocol import State

from commandcenter.config.schema import Config, ServeConfig, default_of
from commandcenter.core import protocol as p
from commandcenter.core.store import Store, decode_state, encode_state
from commandcenter.core.timeutil import Clock, WarpClock, utcnow
from commandcenter.storage.journal import Journal, JournalError

log = logging.getLogger(__name__)

# Close codes (documented in docs/protocol.md).
CLOSE_BAD_FRAME = 4400
CLOSE_BAD_TOKEN = 4401
CLOSE_HELLO_TIMEOUT = 4408
CLOSE_RATE_LIMIT = 4429
CLOSE_TOO_SLOW = 4503
#: The server is at serve.max_connections (the standard "try again later").
CLOSE_TRY_AGAIN = 1013
#: Seconds between two log lines about refused connections or failing accepts.
QUIET_LOG_S = 60.0
#: After closing a connection for a client fault, the longest wait for the
#: client's side of the close before the socket is dropped.
CLOSE_GRACE_S = 1.0
#: How every event frame the server encodes begins (msgspec writes the tag
#: first and omits v=1): the sender batches those for protocol 1.1 clients.
_EVENT_PREFIX = b'{"type":"event",'
_BATCH_HEAD = b'{"type":"events","events":['
#: Sentinel of an empty carry-over slot in the sender (None means "cut off").
_NOTHING = b""

ROLE_COMMANDS: dict[str, frozenset[str]] = {
    "wall": frozenset(),
    "console": frozenset({"ack", "shelve", "unshelve", "mute", "unmute"}),
    "admin": frozenset({"ack", "shelve", "unshelve", "mute", "unmute", "inject"}),
}


@dataclass(frozen=True)
class TokenGrant:
    token: str
    role: str
    name: str = ""


@dataclass
class ServerSettings:
    # Defaults of keys that [serve] has are the config schema's, never repeated here.
    host: str = default_of(ServeConfig, "host")
    port: int = default_of(ServeConfig, "port")
    db_path: str = "dispatch-server.sqlite3"
    tokens: Sequence[TokenGrant] = ()
    heartbeat_interval_s: float = default_of(ServeConfig, "heartbeat_interval_s")
    hello_timeout_s: float = 5.0
    max_frame_bytes: int = default_of(ServeConfig, "max_frame_bytes")
    send_queue_limit: int = default_of(ServeConfig, "send_queue_limit")
    client_rate_per_s: float = default_of(ServeConfig, "client_rate_per_s")
    client_burst: int = default_of(ServeConfig, "client_burst")
    tls_cert: str = ""
    tls_key: str = ""
    snapshot_every_events: int = 5000
    snapshot_part_items: int = 500
    replay_batch: int = 2000
    #: A client further behind than this gets a snapshot instead of a replay:
    #: past some point a snapshot is smaller and faster than the whole history.
    history_limit_events: int = default_of(ServeConfig, "history_limit_events")
    #: Connections open at once at most; more are refused with CLOSE_TRY_AGAIN.
    max_connections: int = default_of(ServeConfig, "max_connections")
    #: Longest shelve and mute a console may ask for: a shelf until 2099 would
    #: silence an alert for good.
    max_shelve_s: float = default_of(ServeConfig, "max_shelve_minutes") * 60.0
    max_mute_s: float = default_of(ServeConfig, "max_mute_minutes") * 60.0
    #: An admin inject waits (up to this long) for every client's send queue to
    #: drain below half its limit before the next batch, so a burst of 50,000
    #: incidents reaches a wall that keeps up instead of cutting it off (4503).
    inject_drain_timeout_s: float = 30.0
    #: ... except for a client that has sent nothing for this long: it is stuck,
    #: not busy (a wall's GUI may stall a few seconds; a stuck one is cut off).
    inject_stuck_s: float = 5.0
    #: How often the store is pruned, in the server's clock (simulated time
    #: with the simulator at a speed); the log every this many real seconds.
    housekeeping_interval_s: float = default_of(ServeConfig, "housekeeping_interval_s")
    #: Closed incidents leave the live state (and snapshots) this long after they
    #: ended, in the server's clock.
    keep_closed_s: float = default_of(ServeConfig, "prune_closed_after_s")
    # Simulator (scenario None = no simulator).
    scenario: str | None = None
    rate_per_min: float = 6.0
    speed: float = 1.0
    #: With the simulator at speed != 1, the server's "now" is simulated time
    #: (WarpClock) from this origin; a demo wall given the same origin and speed
    #: agrees with it. None: the moment the server starts.
    sim_origin: dt.datetime | None = None
    seed: int = 112
    #: Agencies, categories and districts the simulator reports with; None:
    #: the shipped defaults.
    config: Config | None = None
    #: A regency other than OKI (serve --regency): the outline (shapely) every
    #: incident is placed inside, and the ticket prefix; None / "OKI" for OKI.
    sim_area: Any = None
    sim_ticket_prefix: str = "OKI"
    sim_tick_s: float = 0.25
    server_id: str = field(default_factory=lambda: "srv-" + secrets.token_hex(4))
    #: Where the event log lives: "sqlite" (db_path) or nats://HOST:PORT
    #: (refserver.eventlog); with NATS the [serve.nats] keys of ``config``.
    log_url: str = "sqlite"


class _TokenBucket:
    """Client message rate limit: ``rate`` a second with bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class _Connection(ServerConnection):
    """A connection that says why before websockets closes it for a frame over
    max_size (1009): the library fails the connection from its frame parser,
    before any handler sees the frame, so the error frame is queued there."""

    def __init__(self, protocol: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(protocol, *args, **kwargs)
        fail = protocol.fail

        def fail_saying_why(code: int, reason: str = "") -> None:
            if code == CloseCode.MESSAGE_TOO_BIG and protocol.state is State.OPEN:
                error = p.Error(code="frame_too_big", reason=reason[:180] or "frame too big", fatal=True)
                with contextlib.suppress(Exception):  # mid-fragment: the close alone
                    protocol.send_text(p.encode(error))
            fail(code, reason)

        protocol.fail = fail_saying_why


class _Client:
    """One connected client: its bounded queue of encoded frames and sender task."""

    def __init__(
        self,
        ws: ServerConnection,
        role: str,
        name: str,
        client_id: str,
        limit: int,
        console: str = "",
        batch: bool = False,
    ) -> None:
        self.ws = ws
        #: Protocol 1.1: queued events go out several to a frame.
        self.batch = batch
        self.role = role
        self.name = name
        self.client_id = client_id
        #: The console this client speaks for (its hello), the only one a
        #: console-role client may mute or unmute.
        self.console = console or client_id
        self.limit = limit
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=limit)
        self.too_slow = False
        self.sent = 0
        #: Events in the queue (an ``events`` frame holds several) and each item's count, in
        #: queue order: the limit is in events whether they come one or many to a frame.
        self.pending = 0
        self.counts: collections.deque[int] = collections.deque()
        #: Set by the sender whenever the queue is at most half full.
        self.drained = asyncio.Event()
        self.drained.set()

    def offer(self, data: bytes, events: int = 1) -> bool:
        """Queue a frame of ``events`` events without waiting; False when the client is too
        slow."""
        if self.too_slow:
            return False
        if self.pending + events > self.limit:
            self.too_slow = True
            self.drained.set()  # nobody waits for a client that is cut off
            return False
        self.queue.put_nowait(data)
        self.counts.append(events)
        self.pending += events
        if self.pending > self.limit // 2:
            self.drained.clear()
        return True

    def took(self) -> int:
        """The sender took the next queued frame: how many events it holds."""
        n = self.counts.popleft() if self.counts else 0  # 0: the cut-off's None
        self.pending -= n
        return n


class DispatchServer:
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.tokens = {t.token: t for t in settings.tokens}
        #: Every grant, compared in constant time (see _grant_for).
        self._grants = [(t.token.encode(), t) for t in settings.tokens]
        self.open_connections = 0
        self._quiet: dict[str, list[float]] = {}  # what -> [count since last line, last line at]
        self._previous_handler: Any = None
        #: Why a vital task ended (None: none did); listeners are told once.
        self.failure: str | None = None
        self.failure_listeners: list[Any] = []
        self.journal: Journal | None = None
        self.clock: Clock = utcnow
        if settings.scenario and settings.speed != 1.0:
            self.clock = WarpClock(settings.sim_origin or utcnow(), settings.speed)
        self.store = Store(clock=self.clock)
        #: Ids of incidents pruned from the store -> when (server clock, insertion
        #: order): commands may still name them for PRUNED_IDS_KEPT_S.
        self._pruned_ids: dict[str, float] = {}
        self.epoch = ""
        self.head_seq = 0
        self.clients: set[_Client] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: Any = None
        self._since_snapshot = 0
        self._append_lock = asyncio.Lock()
        self.port: int | None = None
        self.stats = {"connections": 0, "too_slow": 0, "bad_frames": 0, "rate_limited": 0, "bad_token": 0}

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        await self._open_log()
        await self._listen()

    async def _open_log(self) -> None:
        """The SQLite log (the default; a JetStream gateway overrides this)."""
        self.journal = await Journal.open(self.settings.db_path)
        # Restore before reading the epoch: a log the journal cannot rebuild is
        # moved aside and loses its epoch, so this server starts a new history
        # (clients take a snapshot) instead of reissuing seqs they have seen.
        r_epoch, r_seq, tail = await self.journal.restore(self._load_state, self._apply_restored)
        epoch = await self.journal.meta_get("server_epoch")
        if not epoch:
            # A fresh database is a new history: an epoch that can never repeat.
            epoch = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(4)
            await self.journal.meta_set("server_epoch", epoch)
        self.epoch = epoch
        # Where the restored state stands (not the last row: that may lie past a hole).
        self.head_seq = r_seq if r_epoch == epoch else 0
        if self.store.epoch != epoch:
            # Restored nothing of this epoch: the store must still say which
            # history its snapshots belong to.
            self.store.epoch, self.store.seq = epoch, self.head_seq
        log.info("epoch %s head %d (restored %d tail events)", epoch, self.head_seq, tail)

    async def _listen(self) -> None:
        s = self.settings
        ssl_ctx = None
        if s.tls_cert:
            ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_ctx.load_cert_chain(s.tls_cert, s.tls_key)
        loop = asyncio.get_running_loop()
        self._previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._loop_exception)
        self._server = await websockets.serve(
            self._admit,
            s.host,
            s.port,
            max_size=s.max_frame_bytes,
            max_queue=32,
            compression=None,  # loopback/LAN: CPU matters more than bytes
            ping_interval=None,  # our own heartbeats carry liveness
            ssl=ssl_ctx,
            write_limit=256 * 1024,
            create_connection=_Connection,
        )
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        self._spawn(self._heartbeat_loop(), "heartbeat")
        self._spawn(self._housekeeping_loop(), "housekeeping")
        if s.scenario:
            self._spawn(self._simulator_loop(), "simulator")

    def _load_state(self, data: bytes) -> None:
        self.store.load_state(decode_state(data))

    def _apply_restored(self, events: list[p.Event]) -> None:
        self.store.apply_many(events)

    # What the rest of the server asks of its log (refserver.natslog overrides these).

    async def _replay_span(self, hello: p.Hello) -> tuple[int, int] | None:
        """(first, last) seq of this epoch still in the log, None if none."""
        return await self.journal.epoch_range(self.epoch) if self.journal else None

    async def _events_after(self, seq: int, limit: int, upto: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` encoded events of this epoch after ``seq``, to ``upto``."""
        assert self.journal is not None
        return await self.journal.events_with_seq_after(self.epoch, seq, limit, upto=upto)

    async def _next_sim_run(self) -> int:
        """Count of simulator starts on this log, this one included."""
        assert self.journal is not None
        run = int(await self.journal.meta_get("sim_runs") or "0") + 1
        await self.journal.meta_set("sim_runs", str(run))
        return run

    @property
    def url(self) -> str:
        scheme = "wss" if self.settings.tls_cert else "ws"
        return f"{scheme}://{self.settings.host}:{self.port}/"

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        if self.journal is not None:
            await self.journal.close()
        # The loop's exception handler stays: asyncio may still run an accept
        # retry scheduled after EMFILE, on the socket closed above.

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A full disk or a lock says it all; anything else gets its stack.
            plain = isinstance(task.exception(), JournalError)
            log.error("task %s failed: %s", task.get_name(), task.exception(),
                      exc_info=None if plain else task.exception())  # fmt: skip
            if task.get_name() in self.VITAL_TASKS and self.failure is None:
                # A server without heartbeats or housekeeping only seems to
                # run: `serve` exits non-zero so that it is restarted.
                exc = task.exception()
                self.failure = f"{task.get_name()} failed: {type(exc).__name__}: {exc}"
                for listener in list(self.failure_listeners):
                    listener()

    # --- the event log -------------------------------------------------------------

    async def append(
        self, bodies: Sequence[p.EventBody], ts: dt.datetime | None = None, *, command_id: str | None = None
    ) -> list[p.Event]:
        """Give bodies the next seqs, journal them, apply them, broadcast them."""
        if not bodies and command_id is None:
            return []
        assert self.journal is not None
        async with self._append_lock:
            now = ts or self.clock()
            events: list[p.Event] = []
            rows: list[tuple[p.Event, bytes]] = []
            seq = self.head_seq
            for body in bodies:
                seq += 1
                ev = p.Event(epoch=self.epoch, seq=seq, id=uuid.uuid4().hex[:20], ts=now, body=body)
                events.append(ev)
                rows.append((ev, p.encode(ev)))
            await self.journal.append(rows, command_id=command_id)
            self.head_seq = seq
            self.store.apply_many(events)
            self._broadcast_events([data for _, data in rows])
            self._since_snapshot += len(events)
            if self._since_snapshot >= self.settings.snapshot_every_events:
                self._since_snapshot = 0
                await self.journal.write_snapshot(
                    self.epoch, self.head_seq, encode_state(self.store.to_state())
                )
        return events

    def _broadcast(self, data: bytes) -> None:
        for client in list(self.clients):
            if not client.offer(data):
                self._cut_off(client)

    def _broadcast_heartbeat(self, data: bytes) -> None:
        """A heartbeat to every client with nothing queued. One with frames waiting learns the
        server is alive from those; heartbeats piling up behind them while its process is busy
        elsewhere only filled the quarter of its queue a burst leaves free, and cut off (4503)
        a wall that had kept up with every event."""
        for client in list(self.clients):
            if client.pending == 0 and not client.offer(data):
                self._cut_off(client)

    def _broadcast_events(self, frames: list[bytes]) -> None:
        """An append's event frames to every client. Protocol 1.1 clients share ``events``
        frames joined once here: the fan-out's cost is per frame and per client, and joining
        the same events again in every client's sender (and a queue item per event per client)
        was most of the server's time with 50 walls."""
        batched = [c for c in self.clients if c.batch]
        if len(frames) > 1 and batched:
            groups = self._groups(frames)
            for client in batched:
                for frame, n in groups:
                    if not client.offer(frame, n):
                        self._cut_off(client)
                        break
            for client in [c for c in self.clients if not c.batch]:
                for data in frames:
                    if not client.offer(data):
                        self._cut_off(client)
                        break
            return
        for data in frames:
            self._broadcast(data)

    def _cut_off(self, client: _Client) -> None:
        if client in self.clients:
            self.clients.discard(client)
            self.stats["too_slow"] += 1
            log.warning("client %s too slow: send queue full, disconnecting", client.client_id)
            # Drop what is queued so the memory goes now, then close from the sender.
            while not client.queue.empty():
                client.queue.get_nowait()
            client.counts.clear()
            client.pending = 0
            client.queue.put_nowait(None)

    # --- connections ------------------------------------------------------------------

    #: Tasks without which the server must not go on (see _task_done).
    VITAL_TASKS = frozenset({"heartbeat", "housekeeping", "simulator"})

    def _grant_for(self, token: str) -> TokenGrant | None:
        """The grant of ``token``, compared with every configured token in
        constant time (no early exit): a dict lookup's timing would tell a
        guesser how close a guess came."""
        given = token.encode()
        found: TokenGrant | None = None
        for secret, grant in self._grants:
            if hmac.compare_digest(secret, given) and found is None:
                found = grant
        return found

    def _quiet_log(self, what: str, message: str, *args: Any, exc_info: BaseException | None = None) -> None:
        """Log ``message`` at most once a minute per ``what``, with how many
        times it happened since the last line: a flood of refused connections
        or failing accepts must not flood the log (one line per event wrote
        73,500 tracebacks in 15 s at a low descriptor limit)."""
        now = time.monotonic()
        entry = self._quiet.setdefault(what, [0.0, -QUIET_LOG_S])
        entry[0] += 1
        if now - entry[1] >= QUIET_LOG_S:
            log.warning("%s (%d times in the last minute)", message % args, int(entry[0]), exc_info=exc_info)
            entry[0], entry[1] = 0.0, now

    async def _admit(self, ws: ServerConnection) -> None:
        """The connection cap, then :meth:`_handle`. A handler's unexpected
        exception is logged quietly, never a traceback per connection."""
        if self.open_connections >= self.settings.max_connections:
            self.stats["refused_cap"] = self.stats.get("refused_cap", 0) + 1
            self._quiet_log(
                "cap", "connection refused: %d open, serve.max_connections = %d",
                self.open_connections, self.settings.max_connections,
            )  # fmt: skip
            with contextlib.suppress(Exception):
                await ws.close(CLOSE_TRY_AGAIN, "server full: try again later")
            return
        self.open_connections += 1
        try:
            await self._handle(ws)
        except ConnectionClosed:
            pass
        except OSError as exc:
            self._quiet_log("handler-oserror", "a connection failed: %s", exc)
        except Exception as exc:
            # A bug hit by every connection must not write a stack per connection.
            self._quiet_log("handler", "a connection handler failed: %r", exc, exc_info=exc)
        finally:
            self.open_connections -= 1

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Out of file descriptors, asyncio reports every failed accept with a
        traceback (and retries a second later): one line a minute instead."""
        exc = context.get("exception")
        out_of = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
        if isinstance(exc, OSError) and exc.errno in out_of:
            self._quiet_log("accept", "cannot accept connections: %s (raise the fd limit)", exc.strerror)
            return
        retry = "_start_serving" in str(context.get("handle", ""))
        if isinstance(exc, ValueError) and retry and "file descriptor" in str(exc):
            # That retry, run after the server closed its socket: nothing to accept.
            log.debug("accept retry after close: %s", exc)
            return
        if self._previous_handler is not None:
            self._previous_handler(loop, context)
        else:
            loop.default_exception_handler(context)

    async def _handle(self, ws: ServerConnection) -> None:
        self.stats["connections"] += 1
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout=self.settings.hello_timeout_s)
        except TimeoutError:
            await self._refuse(ws, CLOSE_HELLO_TIMEOUT, "hello_timeout", "no hello in time")
            return
        except ConnectionClosed:
            return
        if isinstance(raw, bytes):
            self.stats["bad_frames"] += 1
            await self._refuse(ws, CLOSE_BAD_FRAME, "binary_frame", "binary frames are refused: send text")
            return
        try:
            hello = p.decode_client_frame(raw, self.settings.max_frame_bytes)
        except p.ProtocolError as exc:
            self.stats["bad_frames"] += 1
            await self._refuse(ws, CLOSE_BAD_FRAME, "bad_frame", exc.reason[:180])
            return
        if not isinstance(hello, p.Hello):
            await self._refuse(ws, CLOSE_BAD_FRAME, "expected_hello", "the first frame must be hello")
            return
        grant = self._grant_for(hello.token)
        if grant is None:
            self.stats["bad_token"] += 1
            await self._refuse(ws, CLOSE_BAD_TOKEN, "bad_token", "token refused")
            return

        # The highest revision both sides speak (a v1.0 hello lists none).
        revision = p.PROTOCOL_1_1 if p.PROTOCOL_1_1 in hello.protocols else p.PROTOCOL_1_0
        client = _Client(
            ws,
            grant.role,
            grant.name,
            hello.client_id,
            self.settings.send_queue_limit,
            hello.console,
            batch=revision == p.PROTOCOL_1_1,
        )
        span = await self._replay_span(hello)
        # From here to registration there is no await: every later event lands
        # in the client's queue, every earlier one in the replay or snapshot.
        head = self.head_seq
        first_seq = span[0] if span else head + 1
        replay = (
            hello.last_epoch == self.epoch
            and hello.last_seq <= head
            and hello.last_seq + 1 >= first_seq
            and head - hello.last_seq <= self.settings.history_limit_events
        )
        snapshot_parts = [] if replay else self.store.to_snapshot_parts(self.settings.snapshot_part_items)
        self.clients.add(client)
        welcome = p.Welcome(
            server_id=self.settings.server_id,
            epoch=self.epoch,
            head_seq=head,
            role=grant.role,  # type: ignore[arg-type]
            resume="replay" if replay else "snapshot",
            heartbeat_interval_s=self.settings.heartbeat_interval_s,
            server_time=utcnow(),
            protocol=revision,
        )
        log.info(
            "client %s (%s, %s, protocol %s) from seq %s/%d: %s",
            hello.client_id,
            grant.role,
            hello.software or "software not named",
            revision,
            hello.last_epoch,
            hello.last_seq,
            welcome.resume,
        )
        sender = self._spawn(
            self._send_loop(client, welcome, replay, hello.last_seq, head, snapshot_parts),
            f"send-{hello.client_id}",
        )
        try:
            await self._receive_loop(client)
        finally:
            self.clients.discard(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    async def _refuse(self, ws: ServerConnection, code: int, err: str, reason: str) -> None:
        """An error frame, then the close frame, then the TCP connection closed
        at once: a client at fault (a flooder that reads nothing) is not
        waited for to answer the close (that took the 10 s close timeout)."""
        with contextlib.suppress(ConnectionClosed):
            await ws.send(p.encode(p.Error(code=err, reason=reason, fatal=True)).decode())
        await _close_now(ws, code, reason)

    def _batches(self, frames: Sequence[bytes]) -> list[bytes]:
        """Event frames grouped into ``events`` frames (protocol 1.1), each
        under the frame limit and MAX_BATCH_EVENTS; a lone event stays as is."""
        return [frame for frame, _ in self._groups(frames)]

    def _groups(self, frames: Sequence[bytes]) -> list[tuple[bytes, int]]:
        """:meth:`_batches` with the number of events in each frame."""
        limit = min(self.settings.max_frame_bytes, p.MAX_FRAME_BYTES) - len(_BATCH_HEAD) - 4
        out: list[tuple[bytes, int]] = []
        group: list[bytes] = []
        size = 0
        for data in frames:
            if group and (len(group) >= p.MAX_BATCH_EVENTS or size + len(data) + 1 > limit):
                out.append((_join(group), len(group)))
                group, size = [], 0
            group.append(data)
            size += len(data) + 1
        if group:
            out.append((_join(group), len(group)))
        return out

    async def _send_loop(
        self,
        client: _Client,
        welcome: p.Welcome,
        replay: bool,
        last_seq: int,
        head: int,
        parts: list[p.Snapshot],
    ) -> None:
        ws = client.ws
        try:
            await ws.send(p.encode(welcome).decode())
            if replay:
                seq = last_seq
                while seq < head:
                    rows = await self._events_after(seq, self.settings.replay_batch, head)
                    if not rows:
                        break
                    if client.batch:
                        for batch in self._batches([row for _, row in rows]):
                            await ws.send(batch, text=True)
                        seq = rows[-1][0]
                    else:
                        for ev_seq, row in rows:
                            await ws.send(row, text=True)
                            seq = ev_seq
                    # Counts as progress for inject pacing (see _wait_for_room).
                    client.sent += len(rows)
                    if client.too_slow:
                        break
            else:
                for part in parts:
                    await ws.send(p.encode(part).decode())
            carry: bytes | None = _NOTHING
            carry_count = 1
            while True:
                if carry is not _NOTHING:
                    data, count = carry, carry_count
                else:
                    data = await client.queue.get()
                    count = client.took()
                carry = _NOTHING
                if client.batch and data is not None and data.startswith(_EVENT_PREFIX):
                    # Protocol 1.1: everything queued behind it goes in the same
                    # frame (the cost of a send is per frame, not per byte).
                    group = [data]
                    size = len(data)
                    room = min(self.settings.max_frame_bytes, p.MAX_FRAME_BYTES) - len(_BATCH_HEAD) - 4
                    while len(group) < p.MAX_BATCH_EVENTS and not client.queue.empty():
                        nxt = client.queue.get_nowait()
                        n = client.took()
                        if nxt is None or not nxt.startswith(_EVENT_PREFIX) or size + len(nxt) + 1 > room:
                            carry, carry_count = nxt, n
                            break
                        group.append(nxt)
                        size += len(nxt) + 1
                    if len(group) > 1:
                        data, count = _join(group), len(group)
                if client.pending <= client.limit // 2:
                    client.drained.set()
                if data is None:
                    # The client is gone from the broadcast list: close at once.
                    await _close_now(ws, CLOSE_TOO_SLOW, "too slow: send queue overflowed")
                    return
                # Sent as a text frame straight from the shared bytes: no
                # decode per client.
                await ws.send(data, text=True)
                client.sent += count
        except ConnectionClosed:
            return

    async def _receive_loop(self, client: _Client) -> None:
        bucket = _TokenBucket(self.settings.client_rate_per_s, self.settings.client_burst)
        ws = client.ws
        try:
            async for raw in ws:
                # Every frame counts, pings and refused ones included.
                if not bucket.take():
                    self.stats["rate_limited"] += 1
                    await self._refuse(ws, CLOSE_RATE_LIMIT, "rate_limited", "too many messages")
                    return
                if isinstance(raw, bytes):
                    self.stats["bad_frames"] += 1
                    self._reply(
                        client, p.Error(code="binary_frame", reason="binary frames are refused: send text")
                    )
                    continue
                try:
                    frame = p.decode_client_frame(raw, self.settings.max_frame_bytes)
                except p.ProtocolError as exc:
                    self.stats["bad_frames"] += 1
                    log.info("bad frame from %s: %s", client.client_id, exc.reason[:200])
                    # With its command_id the console can drop it from its
                    # outbox instead of resending it after every reconnect.
                    self._reply(
                        client,
                        p.Error(code="bad_frame", reason=exc.reason[:180], command_id=p.peek_command_id(raw)),
                    )
                    continue
                await self._on_command(client, frame)
        except ConnectionClosed:
            return

    async def _append_paced(self, bodies: Sequence[p.EventBody], ts: dt.datetime | None = None) -> None:
        """Append a burst (the simulator's start: ~12,000 events) in chunks no
        bigger than a quarter of a send queue, each after every client has
        drained below half: a wall that connects during the burst and keeps
        up is never cut off (4503) by the burst itself."""
        step = max(1, self.settings.send_queue_limit // 4)
        for i in range(0, len(bodies), step):
            if i:
                await self._wait_for_room(None)
            await self.append(bodies[i : i + step], ts=ts)

    def _reply(self, client: _Client, frame: Any) -> None:
        if not client.offer(p.encode(frame)):
            self._cut_off(client)

    async def _on_command(self, client: _Client, frame: p.ClientFrame) -> None:
        if isinstance(frame, p.Ping):
            self._reply(client, p.Pong(nonce=frame.nonce, server_time=utcnow()))
            return
        if isinstance(frame, p.Hello):
            self._reply(client, p.Error(code="unexpected_hello", reason="already greeted"))
            return
        kind = type(frame).__struct_config__.tag  # the wire 'type'
        command_id: str = frame.command_id
        if kind not in ROLE_COMMANDS.get(client.role, frozenset()):
            self._reply(
                client,
                p.CommandResult(
                    command_id=command_id, status="rejected", reason=f"role {client.role} may not {kind}"
                ),
            )
            return
        async with self._command_lock():
            assert self.journal is not None
            known = await self.journal.command_seq(command_id)
            bodies = await self._screen_command(client, frame, known)
            if bodies is None:
                return  # rejected, answered
            if bodies == "duplicate":
                self._reply(
                    client, p.CommandResult(command_id=command_id, status="duplicate", seq=known or None)
                )
                return
            if not bodies:
                # Nothing to append (an ack of an alert acknowledged already): the id is
                # not recorded, as on the NATS log, so a later command under it is new
                # instead of a "duplicate" of something that was never applied.
                reason = "alert already acknowledged" if isinstance(frame, p.Acknowledge) else ""
                self._reply(client, p.CommandResult(command_id=command_id, status="duplicate", reason=reason))
                return
            # The command id is recorded in the same transaction as its events.
            events = await self.append(bodies, command_id=command_id)
        if isinstance(frame, p.Inject):
            await self._wait_for_room(client)
        self._reply(client, p.CommandResult(command_id=command_id, status="applied", seq=events[-1].seq))

    async def _screen_command(
        self, client: _Client, frame: Any, known: int | None
    ) -> list[p.EventBody] | Literal["duplicate"] | None:
        """The checks every log runs before a command's events are written: a command id
        already in the log (``known``: its seq) is a duplicate when it is the same command
        and rejected when it is not; a new one is turned into its bodies or rejected. Gives
        the bodies, "duplicate" (not answered), or None (rejected and answered)."""
        command_id: str = frame.command_id
        if known is not None:
            conflict = await self._conflicting(frame, known)
            if conflict:
                # Answering duplicate would let the sender believe a different command was applied.
                log.warning("command %s from %s: %s", command_id, client.client_id, conflict)
                self._reply(
                    client, p.CommandResult(command_id=command_id, status="rejected", reason=conflict[:200])
                )
                return None
            return "duplicate"
        bodies, reject = self._bodies_for(frame, client)
        if reject:
            kind = type(frame).__struct_config__.tag
            log.info("command %s (%s) from %s rejected: %s", command_id, kind, client.client_id, reject)
            self._reply(
                client, p.CommandResult(command_id=command_id, status="rejected", reason=reject[:200])
            )
            return None
        return bodies

    async def _wait_for_room(self, sender: _Client | None) -> None:
        """Hold the injector's answer until every other client has drained its
        queue below half, so the next batch cannot overflow a wall that keeps
        up. A client that sent nothing for ``inject_stuck_s`` is stuck, not
        busy: it is not waited for (the usual cut-off deals with it), and no
        wait lasts longer than ``inject_drain_timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.inject_drain_timeout_s
        progress = {c: (c.sent, loop.time()) for c in self.clients}
        while True:
            waiting = [
                c
                for c in list(self.clients)
                if c is not sender and not c.drained.is_set() and not c.too_slow and c in progress
            ]
            left = deadline - loop.time()
            if not waiting or left <= 0:
                return
            tasks = [asyncio.ensure_future(c.drained.wait()) for c in waiting]
            try:
                await asyncio.wait(tasks, timeout=min(1.0, left), return_when=asyncio.ALL_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
            now = loop.time()
            for c in waiting:
                sent, since = progress[c]
                if c.sent != sent:
                    progress[c] = (c.sent, now)
                elif now - since >= self.settings.inject_stuck_s:
                    del progress[c]  # stuck: do not hold the inject for it

    async def _conflicting(self, frame: Any, seq: int) -> str:
        """Why a command whose id was applied before at ``seq`` is a different
        command (empty when it is the same one, or when the event that recorded
        it is no longer in the log and cannot be compared)."""
        kind = type(frame).__struct_config__.tag
        if seq <= 0:
            return ""
        # A command's events are consecutive and the id names the last one.
        count = len(frame.bodies) if isinstance(frame, p.Inject) else 1
        rows = await self._events_after(max(seq - count, 0), count, seq)
        if not rows:
            return ""
        try:
            logged = [p.decode_event(data).body for _, data in rows]
        except p.ProtocolError:
            return ""
        body = logged[-1]
        same: bool
        if isinstance(frame, p.Acknowledge):
            same = isinstance(body, p.AlertAcknowledged) and body.ack.alert_id == frame.alert_id
        elif isinstance(frame, p.Shelve):
            same = isinstance(body, p.AlertShelved) and (body.alert_id, body.until) == (
                frame.alert_id,
                frame.until,
            )
        elif isinstance(frame, p.Unshelve):
            same = isinstance(body, p.AlertUnshelved) and body.alert_id == frame.alert_id
        elif isinstance(frame, p.Mute):
            same = isinstance(body, p.ConsoleMuted) and (body.console, body.until) == (
                frame.console,
                frame.until,
            )
        elif isinstance(frame, p.Unmute):
            same = isinstance(body, p.ConsoleUnmuted) and body.console == frame.console
        elif isinstance(frame, p.Inject):
            # Every body still in the log, not only the last (pruned ones cannot be compared).
            same = logged == list(frame.bodies[len(frame.bodies) - len(logged) :])
        else:
            same = True
        if same:
            return ""
        return f"conflict: command_id {frame.command_id} was already used for a different {kind} command"

    _cmd_lock: asyncio.Lock | None = None

    def _command_lock(self) -> asyncio.Lock:
        if self._cmd_lock is None:
            self._cmd_lock = asyncio.Lock()
        return self._cmd_lock

    def _bodies_for(self, frame: Any, client: _Client | None = None) -> tuple[list[p.EventBody], str]:
        if isinstance(frame, p.Inject):
            return list(frame.bodies), self._check_references(frame.bodies)
        if isinstance(frame, (p.Acknowledge, p.Shelve, p.Unshelve)) and not self._alert_known(frame.alert_id):
            return [], f"alert_id {frame.alert_id}: no such alert"
        if (
            isinstance(frame, p.Acknowledge)
            and frame.incident_id is not None
            and not self._incident_known(frame.incident_id)
        ):
            return [], f"incident_id {frame.incident_id}: no such incident"
        if (
            isinstance(frame, (p.Mute, p.Unmute))
            and client is not None
            and client.role == "console"
            and frame.console != client.console
        ):
            return [], f"console: role console may mute or unmute only its own console ({client.console})"
        if isinstance(frame, (p.Shelve, p.Mute)):
            limit = self.settings.max_shelve_s if isinstance(frame, p.Shelve) else self.settings.max_mute_s
            if (frame.until - self.clock()).total_seconds() > limit:
                return [], f"until is more than {limit / 60:g} minutes away (the server's limit)"
        if isinstance(frame, p.Acknowledge):
            existing = self.store.acks.get(frame.alert_id)
            if existing is not None:
                # Two operators took the same alert: the first one stands.
                return [], ""
            ack = p.Acknowledgement(
                ack_id=frame.command_id,
                alert_id=frame.alert_id,
                operator=frame.operator,
                console=frame.console,
                at=self.clock(),
                incident_id=frame.incident_id,
            )
            return [p.AlertAcknowledged(ack=ack)], ""
        if isinstance(frame, p.Shelve):
            if frame.until <= self.clock():
                return [], "until is in the past"
            return [
                p.AlertShelved(
                    alert_id=frame.alert_id,
                    until=frame.until,
                    operator=frame.operator,
                    console=frame.console,
                    reason=frame.reason,
                )
            ], ""
        if isinstance(frame, p.Unshelve):
            return [
                p.AlertUnshelved(alert_id=frame.alert_id, operator=frame.operator, console=frame.console)
            ], ""
        if isinstance(frame, p.Mute):
            if frame.until <= self.clock():
                return [], "until is in the past"
            return [p.ConsoleMuted(console=frame.console, until=frame.until, operator=frame.operator)], ""
        if isinstance(frame, p.Unmute):
            return [p.ConsoleUnmuted(console=frame.console, operator=frame.operator)], ""
        return [], "unknown command"

    # --- references -------------------------------------------------------------

    def _alert_known(self, alert_id: str) -> bool:
        return alert_id in self.store.alerts or self._wall_alert_known(alert_id)

    def _incident_known(self, incident_id: str) -> bool:
        return (
            incident_id in self.store.incidents
            or incident_id in self.store.retired
            or incident_id in self._pruned_ids
        )

    #: Prefixes of the ids the walls' own alert rules derive from an incident or
    #: a situation (commandcenter.wall.alerts.make_alert_id): the server never
    #: sees those alerts, only their acknowledgements.
    _WALL_ALERT_PREFIXES = ("incident:", "sla:", "situation:")

    def _wall_alert_known(self, alert_id: str) -> bool:
        """Whether ``alert_id`` is a wall-rule alert of something the server has.
        ``incident:<id>`` / ``situation:<id>`` / ``sla:<rule>:<stage>:<id>`` name
        their subject; a long id is hashed (``<prefix>:<20 hex>``) and cannot be
        traced, so it is accepted by its form."""
        head, sep, rest = alert_id.partition(":")
        if not sep or head + ":" not in self._WALL_ALERT_PREFIXES:
            return False
        if len(rest) == 20 and all(ch in "0123456789abcdef" for ch in rest):
            return True
        if head == "situation":
            return rest in self.store.situations
        subject = rest.rsplit(":", 1)[-1] if head == "sla" else rest
        return self._incident_known(subject)

    def _check_references(self, bodies: Sequence[p.EventBody]) -> str:
        """The first reference in an inject to a unit, incident, situation or
        alert that neither the server nor the same inject has ('' if none).
        References may point forward within the inject (an incident and its
        units arrive together)."""
        store = self.store
        units = {b.unit.id for b in bodies if isinstance(b, p.UnitUpserted)}
        incidents = {b.incident.id for b in bodies if isinstance(b, p.IncidentUpserted)}
        situations = {b.situation.id for b in bodies if isinstance(b, p.SituationUpserted)}
        alerts = {b.alert.id for b in bodies if isinstance(b, p.AlertRaised)}

        def unit_ok(uid: str) -> bool:
            return uid in units or uid in store.units

        def incident_ok(iid: str) -> bool:
            return iid in incidents or self._incident_known(iid)

        def situation_ok(sid: str) -> bool:
            return sid in situations or sid in store.situations

        def alert_ok(aid: str) -> bool:
            return aid in alerts or self._alert_known(aid)

        for i, body in enumerate(bodies):
            where = f"bodies[{i}]"
            if isinstance(body, p.IncidentUpserted):
                inc = body.incident
                for uid in inc.units:
                    if not unit_ok(uid):
                        return f"{where}.incident.units: unit {uid} does not exist"
                for j, task in enumerate(inc.tasks):
                    for uid in task.units:
                        if not unit_ok(uid):
                            return f"{where}.incident.tasks[{j}].units: unit {uid} does not exist"
                if inc.situation_id is not None and not situation_ok(inc.situation_id):
                    return f"{where}.incident.situation_id: situation {inc.situation_id} does not exist"
            elif isinstance(body, p.UnitUpserted):
                if body.unit.incident_id is not None and not incident_ok(body.unit.incident_id):
                    return f"{where}.unit.incident_id: incident {body.unit.incident_id} does not exist"
            elif isinstance(body, p.AlertRaised):
                alert = body.alert
                if alert.incident_id is not None and not incident_ok(alert.incident_id):
                    return f"{where}.alert.incident_id: incident {alert.incident_id} does not exist"
                if alert.unit_id is not None and not unit_ok(alert.unit_id):
                    return f"{where}.alert.unit_id: unit {alert.unit_id} does not exist"
                if alert.situation_id is not None and not situation_ok(alert.situation_id):
                    return f"{where}.alert.situation_id: situation {alert.situation_id} does not exist"
            elif isinstance(body, p.AlertAcknowledged):
                if not alert_ok(body.ack.alert_id):
                    return f"{where}.ack.alert_id: alert {body.ack.alert_id} does not exist"
            elif isinstance(body, (p.AlertShelved, p.AlertUnshelved)) and not alert_ok(body.alert_id):
                return f"{where}.alert_id: alert {body.alert_id} does not exist"
        return ""

    # --- periodic work ---------------------------------------------------------------------

    #: How long a pruned incident's id stays known to commands (server clock):
    #: the day a store that keeps history would have kept it in ``retired``.
    PRUNED_IDS_KEPT_S = 24 * 3600.0

    def _clock_speed(self) -> float:
        """Server-clock seconds per real second (the simulator's speed when warped)."""
        return self.clock.speed if isinstance(self.clock, WarpClock) else 1.0

    def _prune_store(self) -> None:
        """Forget incidents closed more than keep_closed_s ago. Without history:
        the server reads none of the store's figures, and retired incidents kept
        for them were a day of incidents in memory (at 60x, a day every 24
        minutes). Their ids stay known to commands for PRUNED_IDS_KEPT_S."""
        cs = self.store.prune(closed_older_than_s=self.settings.keep_closed_s, keep_history=False)
        now = self.clock().timestamp()
        pruned = self._pruned_ids
        for key in cs.incidents_removed:
            pruned.pop(key, None)  # to the end: the dict stays in time order
            pruned[key] = now
        cutoff = now - self.PRUNED_IDS_KEPT_S
        while pruned:
            oldest = next(iter(pruned))
            if pruned[oldest] >= cutoff:
                break
            del pruned[oldest]

    def _housekeeping_passes(self) -> tuple[float, int]:
        """(real seconds between two store prunes, store prunes per log prune).
        The store's data follows the server's clock, so it is pruned every
        housekeeping_interval_s of that clock: on real time, a server at 60x
        held ten simulated hours of closed incidents between two prunes. The
        log's snapshot and prune stay on real time (each pass costs the same
        whatever the speed)."""
        speed = self._clock_speed()
        return self.settings.housekeeping_interval_s / speed, max(1, round(speed))

    async def _housekeeping_loop(self) -> None:
        """Bounded memory and disk for a server that runs for months: forget
        incidents closed hours ago (snapshots stay small) and prune the log
        (old snapshots; events only once a snapshot covers them)."""
        assert self.journal is not None
        every_s, per_log = self._housekeeping_passes()
        passes = 0
        while True:
            await asyncio.sleep(every_s)
            self._prune_store()
            passes += 1
            if passes % per_log:
                continue
            async with self._append_lock:
                await self.journal.write_snapshot(
                    self.epoch, self.head_seq, encode_state(self.store.to_state())
                )
            result = await self.journal.prune()
            log.info("housekeeping: %s", result)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval_s)
            data = p.encode(p.Heartbeat(epoch=self.epoch, head_seq=self.head_seq, server_time=utcnow()))
            self._broadcast_heartbeat(data)

    async def _simulator_loop(self) -> None:
        from commandcenter.refserver.simulator import Simulator

        s = self.settings
        # A restart on the same database continues with a new simulation run:
        # new id prefix (no collisions) and unit versions above the stored ones
        # (the store ignores versions it already has).
        run = await self._next_sim_run()
        unit_base = max((u.version for u in self.store.units.values()), default=0)
        start = self.clock()
        sim = Simulator(
            scenario=s.scenario or "mixed",
            rate_per_min=s.rate_per_min,
            seed=s.seed + run - 1,
            start=start,
            id_prefix="" if run == 1 else f"r{run}-",
            config=s.config,
            area=s.sim_area,
            ticket_prefix=s.sim_ticket_prefix,
        )

        def fix(body: p.EventBody) -> p.EventBody:
            if unit_base and isinstance(body, p.UnitUpserted):
                unit = msgspec.structs.replace(body.unit, version=body.unit.version + unit_base)
                return p.UnitUpserted(unit=unit)
            return body

        await self._append_paced([fix(b) for b in sim.initial_bodies()], ts=start)
        t0 = time.monotonic()
        while True:
            await asyncio.sleep(s.sim_tick_s)
            if isinstance(self.clock, WarpClock):
                # The same simulated "now" as every wall given this origin and speed.
                target = max(sim.now, self.clock())
            else:
                target = start + dt.timedelta(seconds=(time.monotonic() - t0) * s.speed)
            produced = sim.advance_to(target)
            # Event ts is the server's send time (simulated when warped).
            await self._append_paced([fix(body) for _, body in produced])


def _join(group: Sequence[bytes]) -> bytes:
    """One event frame alone, or several as an ``events`` frame (1.1)."""
    if len(group) == 1:
        return group[0]
    return _BATCH_HEAD + b",".join(group) + b"]}"


async def _close_now(ws: ServerConnection, code: int, reason: str) -> None:
    """The close frame and the end of the TCP connection from our side (a
    half-close, so what the client still sends is read and dropped instead of
    answered with a reset that could lose the close frame), then the connection
    ends within CLOSE_GRACE_S whether the client answers or not: a client at
    fault may read nothing (a flooder, a stalled wall), and websockets' own
    close would hold it for its 10 s close timeout."""
    ws.close_timeout = CLOSE_GRACE_S
    with contextlib.suppress(Exception):
        async with ws.send_context():
            ws.protocol.fail(code, reason[:120])
