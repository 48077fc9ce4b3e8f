"""The event log on NATS JetStream: `serve --log nats://HOST:PORT`.

Several `serve` processes over one stream are gateways. Each one:

- follows the stream from its start (a pull consumer of its own, re-created
  at its head + 1 after any trouble) and applies every message to its own
  Store, keeps the encoded events of the replay window in memory and
  broadcasts them to its walls over protocol v1/1.1 exactly as the SQLite
  server does;
- names the history by the stream: the epoch is stored in the stream's
  metadata when the stream is created (a new stream is a new epoch) and an
  event's seq is its stream sequence, so a wall at seq N resumes on any
  gateway with exactly N+1...;
- publishes commands into the stream (one message per event body) and
  answers once it has applied them from the stream itself.

Exactly once: a command's last message carries ``Nats-Msg-Id`` = the command
id (earlier bodies of a multi-body inject ``<id>#<i>``), so JetStream stores
it once within the dedup window whichever gateways it reaches, and the
gateways also remember every command id they have seen in the stream (for
resends after the window). A command is validated against the gateway's own
view (references, "alert already acknowledged"); its first message is
published with ``Nats-Expected-Last-Sequence`` = the seq that view stands at,
so the stream refuses it when anything was appended meanwhile: the gateway
catches up, validates again and retries. The stream is the arbiter, never a
gateway's possibly stale view.

When NATS is unreachable the gateway stops its heartbeats at once (the walls
see the feed go stale) and after ``serve.nats.stale_after_s`` closes its walls
with 1013 and refuses new ones until NATS is back; walls then reconnect and
resume by replay. Commands in flight get no answer (the connection is
closed), so consoles resend them from their outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
import time
import uuid
import weakref
from collections.abc import Sequence
from typing import Any, Literal

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.js import api

from commandcenter.config.schema import NatsLogConfig
from commandcenter.core import protocol as p
from commandcenter.core.store import decode_state, encode_state
from commandcenter.core.timeutil import utcnow
from commandcenter.refserver.eventlog import parse_log_url
from commandcenter.refserver.server import (
    CLOSE_TRY_AGAIN,
    ROLE_COMMANDS,
    DispatchServer,
    ServerSettings,
    _Client,
    _close_now,
)

log = logging.getLogger(__name__)

#: The stream metadata key that holds the epoch.
EPOCH_KEY = "oki112_epoch"
#: JetStream's error code for a failed Nats-Expected-Last-Sequence.
WRONG_LAST_SEQUENCE = 10071
#: Attempts of a command against a moving stream before it is published
#: without the expected-last-seq check (see _publish_command).
COMMAND_ATTEMPTS = 25
#: Longest wait for a publish's acknowledgement.
PUBLISH_TIMEOUT_S = 5.0
#: Encoded events a gateway keeps for replays (about 30 MB at 600 bytes each).
RING_EVENTS = 50_000
#: Connection attempts per server at start (0.25 s apart).
STARTUP_ATTEMPTS = 40
#: Messages asked for in one fetch.
FETCH_BATCH = 1000


class _Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One stream message: an event without its epoch and seq (the stream gives those)."""

    id: str
    ts: dt.datetime
    body: p.EventBody


_encode_entry = msgspec.json.Encoder().encode
_decode_entry = msgspec.json.Decoder(_Entry).decode


class _Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A gateway's state at ``seq``, and the command ids applied up to it (so
    a resend after JetStream's dedup window is still answered duplicate)."""

    epoch: str
    seq: int
    state: bytes
    commands: dict[str, int]


_encode_snapshot = msgspec.msgpack.Encoder().encode
_decode_snapshot = msgspec.msgpack.Decoder(_Snapshot).decode
#: The object that holds the latest snapshot in the bucket <stream>_SNAP.
SNAPSHOT_OBJECT = "state"
#: How often a gateway looks whether a snapshot is due (a local comparison).
SNAPSHOT_CHECK_S = 2.0


class _LogUnavailable(Exception):
    """NATS did not answer: the client is closed (1013) and resends later."""


def _pending(msg: Any) -> int:
    """Messages of the stream after ``msg`` not yet delivered to this consumer."""
    try:
        return int(msg.metadata.num_pending)
    except (AttributeError, TypeError, ValueError):
        return 0


class HistoryBroken(RuntimeError):
    """The stream is no longer the history this gateway serves (see _check_stream)."""


class NatsGateway(DispatchServer):
    """A stateless gateway over the JetStream event log (see the module doc)."""

    #: Following the stream is vital: a gateway that cannot must exit (and be restarted).
    VITAL_TASKS = DispatchServer.VITAL_TASKS | {"follow"}

    def __init__(self, settings: ServerSettings) -> None:
        super().__init__(settings)
        cfg = settings.config.serve.nats if settings.config is not None else NatsLogConfig()
        self.nats_cfg: NatsLogConfig = cfg
        _, self.nats_urls = parse_log_url(settings.log_url)
        self._nc: Any = None
        self._js: Any = None
        #: The encoded events of the replay window: seq ring_first + i at index i.
        self._ring: list[bytes] = []
        self._ring_first = 1
        # Bounded memory: a wall further behind gets a snapshot, as past the
        # history limit on the single server.
        self._ring_limit = max(1, min(settings.history_limit_events, RING_EVENTS))
        #: Command id -> seq of its (last) event, for every command in the stream.
        self.commands: dict[str, int] = {}
        self._advanced = asyncio.Event()
        #: Whether the stream is reachable and followed (heartbeats go out).
        self.log_live = False
        self._down_since: float | None = None
        self._resubscribe = False
        self._closing = False
        #: Seq of the latest snapshot known (written here or read from the bucket).
        self._snapshot_seq = 0
        # At most a quarter of a send queue per fetch (see _pace_follow).
        self._fetch_batch = max(1, min(FETCH_BATCH, settings.send_queue_limit // 4))
        #: Walls judged stuck by _pace_follow, with what they had sent then.
        self._stuck: weakref.WeakKeyDictionary[_Client, int] = weakref.WeakKeyDictionary()

    # --- start and stop -------------------------------------------------------------

    async def _open_log(self) -> None:
        # A bounded first connection (about 10 s): a gateway that cannot reach
        # NATS at start says so and exits 1 (its supervisor retries) instead of
        # hanging without ever listening. Once connected it never gives up.
        self._nc = await nats.connect(
            servers=self.nats_urls,
            name=f"oki112-gateway-{self.settings.server_id}",
            max_reconnect_attempts=STARTUP_ATTEMPTS,
            reconnect_time_wait=0.25,
            connect_timeout=3,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            error_cb=self._on_error,
        )
        self._nc.options["max_reconnect_attempts"] = -1
        self._js = self._nc.jetstream(timeout=PUBLISH_TIMEOUT_S)
        self.epoch = await self._ensure_stream()
        self.store.epoch, self.store.seq = self.epoch, 0
        # Build the state before listening (the first walls get it whole): from
        # the latest snapshot when the stream goes on from it, else from the start.
        info = await self._js.stream_info(self.nats_cfg.stream)
        await self._start_from_snapshot(info)
        if info.state.first_seq > self.head_seq + 1:
            log.warning(
                "stream %s starts at seq %d and no snapshot covers the events before it: "
                "the state lacks them (incidents opened earlier are missing)",
                self.nats_cfg.stream, info.state.first_seq,
            )  # fmt: skip
        target = info.state.last_seq
        self.log_live = True
        follow = self._spawn(self._follow_loop(), "follow")
        self._spawn(self._stale_loop(), "stale-watch")
        self._spawn(self._snapshot_loop(), "snapshots")
        caught_up = asyncio.ensure_future(self._wait_applied(target, timeout=None))
        await asyncio.wait([follow, caught_up], return_when=asyncio.FIRST_COMPLETED)
        if not caught_up.done():
            caught_up.cancel()
            raise HistoryBroken(f"cannot follow stream {self.nats_cfg.stream}: {follow.exception()}")
        log.info("gateway on stream %s: epoch %s head %d", self.nats_cfg.stream, self.epoch, self.head_seq)

    async def _ensure_stream(self) -> str:
        cfg = self.nats_cfg
        try:
            info = await self._js.stream_info(cfg.stream)
        except nats.js.errors.NotFoundError:
            fresh = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(4)
            config = api.StreamConfig(
                name=cfg.stream,
                subjects=[cfg.subject],
                storage=api.StorageType.FILE,
                retention=api.RetentionPolicy.LIMITS,
                discard=api.DiscardPolicy.OLD,
                max_age=cfg.max_age_days * 86400.0 if cfg.max_age_days else None,
                max_bytes=cfg.max_bytes,
                num_replicas=cfg.replicas,
                duplicate_window=cfg.duplicate_window_s,
                allow_direct=True,
                metadata={EPOCH_KEY: fresh},
            )
            try:
                info = await self._js.add_stream(config)
            except nats.js.errors.BadRequestError:
                # Another gateway created it a moment before: its epoch stands.
                info = await self._js.stream_info(cfg.stream)
        epoch: str = (info.config.metadata or {}).get(EPOCH_KEY) or ""
        if not epoch:
            # A stream made by hand: its creation time names the history.
            created = info.created or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
            epoch = f"{cfg.stream[:40]}-{created:%Y%m%dT%H%M%S}"
        if cfg.subject not in (info.config.subjects or []):
            raise RuntimeError(f"stream {cfg.stream} does not take subject {cfg.subject}")
        return epoch

    # --- snapshots ----------------------------------------------------------------------

    @property
    def _bucket(self) -> str:
        return f"{self.nats_cfg.stream}_SNAP"

    async def _object_store(self, create: bool) -> Any:
        try:
            return await self._js.object_store(self._bucket)
        except nats.js.errors.BucketNotFoundError:
            if not create:
                return None
        config = api.ObjectStoreConfig(
            bucket=self._bucket,
            description=f"latest state of stream {self.nats_cfg.stream} (OKI Siaga 112 gateways)",
            storage=api.StorageType.FILE,
            replicas=self.nats_cfg.replicas,
        )
        try:
            return await self._js.create_object_store(self._bucket, config=config)
        except nats.js.errors.BadRequestError:
            return await self._js.object_store(self._bucket)  # another gateway made it

    async def _start_from_snapshot(self, info: Any) -> None:
        try:
            store = await self._object_store(create=False)
            if store is None:
                return
            result = await store.get(SNAPSHOT_OBJECT)
            snap = _decode_snapshot(result.data or b"")
        except nats.js.errors.ObjectNotFoundError:
            return
        except (nats.errors.Error, msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("snapshot in %s cannot be used (%s): building from the stream", self._bucket, exc)
            return
        if snap.epoch != self.epoch or snap.seq > info.state.last_seq or info.state.first_seq > snap.seq + 1:
            # Another history's, or the stream no longer goes on from it.
            log.info("snapshot at %s/%d does not continue the stream: not used", snap.epoch, snap.seq)
            return
        self.store.load_state(decode_state(snap.state))
        self.commands.update(snap.commands)
        self.head_seq = snap.seq
        self._ring_first = snap.seq + 1
        self._snapshot_seq = snap.seq
        log.info("started from the snapshot at seq %d", snap.seq)

    async def _snapshot_loop(self) -> None:
        """Store this gateway's state when the latest snapshot (anyone's) is
        ``snapshot_every_events`` behind: gateways then start from it, and a
        stream trimmed by max age or size still yields the whole state."""
        every = self.nats_cfg.snapshot_every_events
        while True:
            await asyncio.sleep(SNAPSHOT_CHECK_S)
            if self.head_seq - self._snapshot_seq < every or not self.log_live:
                continue
            try:
                store = await self._object_store(create=True)
                with contextlib.suppress(nats.js.errors.ObjectNotFoundError):
                    info = await store.get_info(SNAPSHOT_OBJECT)
                    seq = int((info.description or "0").rsplit(":", 1)[-1] or 0)
                    if info.description and info.description.startswith(self.epoch + ":"):
                        self._snapshot_seq = max(self._snapshot_seq, seq)
                if self.head_seq - self._snapshot_seq < every:
                    continue  # another gateway wrote a recent one
                # State and seq agree: _take applies and moves head_seq in one step.
                seq = self.head_seq
                snap = _Snapshot(
                    epoch=self.epoch, seq=seq, state=encode_state(self.store.to_state()),
                    commands=dict(self.commands),
                )  # fmt: skip
                meta = api.ObjectMeta(name=SNAPSHOT_OBJECT, description=f"{self.epoch}:{seq}")
                await store.put(SNAPSHOT_OBJECT, _encode_snapshot(snap), meta=meta)
                self._snapshot_seq = seq
                log.info("snapshot at seq %d stored in %s", seq, self._bucket)
            except (nats.errors.Error, ValueError, OSError) as exc:
                log.warning("snapshot not stored: %r", exc)
            except Exception:
                # Snapshots only speed a start up: never let one stop the gateway.
                log.exception("snapshot not stored")

    async def close(self) -> None:
        self._closing = True
        await super().close()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()

    # --- following the stream --------------------------------------------------------

    async def _follow_loop(self) -> None:
        sub: Any = None
        idle_since = time.monotonic()
        backlog = False
        while True:
            if sub is None or self._resubscribe:
                self._resubscribe = False
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                    sub = None
                try:
                    sub = await self._subscribe()
                except HistoryBroken:
                    raise
                except Exception as exc:  # NATS down or restarting: try again soon
                    log.debug("subscribe failed: %r", exc)
                    # Not following: no heartbeats (the walls see it), and past
                    # stale_after_s the walls are closed.
                    self._set_live(False)
                    await asyncio.sleep(0.25)
                    continue
            if backlog:
                await self._pace_follow()
            try:
                msgs = await sub.fetch(batch=self._fetch_batch, timeout=1.0)
            except (nats.errors.TimeoutError, TimeoutError):
                self._set_live(self._nc.is_connected)
                if time.monotonic() - idle_since > 5.0 and self._nc.is_connected:
                    # A consumer lost in a server restart only times out: compare
                    # with the stream now and then and start a new one if behind.
                    idle_since = time.monotonic()
                    try:
                        info = await self._js.stream_info(self.nats_cfg.stream)
                    except Exception:
                        continue
                    self._check_stream(info)
                    if info.state.last_seq > self.head_seq:
                        self._resubscribe = True
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("fetch failed: %r", exc)
                self._resubscribe = True
                await asyncio.sleep(0.1)
                continue
            idle_since = time.monotonic()
            self._set_live(True)
            # More is waiting in the stream (a burst, or catching up): a full fetch, or the
            # stream's own count of what this consumer has not been given yet. A fetch is
            # short while the publisher is still writing a burst (the fetch outruns it), and
            # judged by its length alone the burst went out unpaced and cut off a wall that
            # keeps up (4503) whenever the machine was busy.
            backlog = len(msgs) >= self._fetch_batch or (bool(msgs) and _pending(msgs[-1]) > 0)
            self._take(msgs)

    async def _pace_follow(self) -> None:
        """After a full fetch (more is waiting in the stream), take no more until
        every wall that is taking from its queue has drained it below half (issue
        13, item 5). Another gateway's simulator publishes its starting state
        (~12,000 events) at once, and nothing on that gateway can pace it by this
        gateway's walls: offered as fast as fetches bring it, the burst would
        overflow (4503) a wall that keeps up. With fetches of at most a quarter of
        a queue and this wait, a burst never fills a queue past three quarters,
        as on the single server (DispatchServer._append_paced, which also waits
        only between the slices of a burst: a slow wall does not hold the steady
        stream back). A wall that took nothing for ``inject_stuck_s`` is stuck,
        not slow: it is waited for no more until it takes something (its queue
        overflows and it is cut off, as ever), and no wait lasts longer than
        ``inject_drain_timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = None
        progress: dict[_Client, tuple[int, float]] = {}
        while True:
            waiting = [
                c for c in list(self.clients)
                if not c.drained.is_set() and not c.too_slow and self._stuck.get(c) != c.sent
            ]  # fmt: skip
            now = loop.time()
            deadline = deadline or now + self.settings.inject_drain_timeout_s
            if not waiting or now >= deadline:
                return
            for c in waiting:
                sent, since = progress.setdefault(c, (c.sent, now))
                if c.sent != sent:
                    progress[c] = (c.sent, now)
                elif now - since >= self.settings.inject_stuck_s:
                    self._stuck[c] = c.sent
            tasks = [asyncio.ensure_future(c.drained.wait()) for c in waiting]
            try:
                await asyncio.wait(tasks, timeout=min(0.5, deadline - now), return_when=asyncio.ALL_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()

    async def _subscribe(self) -> Any:
        info = await self._js.stream_info(self.nats_cfg.stream)
        self._check_stream(info)
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.head_seq + 1,
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=60.0,
            mem_storage=True,
            num_replicas=1,
        )
        cfg = self.nats_cfg
        return await self._js.pull_subscribe(cfg.subject, stream=cfg.stream, config=config)

    def _check_stream(self, info: Any) -> None:
        """The stream must still be the history this gateway serves: a stream
        deleted and made again (a new epoch) or one that lost events this
        gateway has applied would reissue seqs; the gateway stops instead
        (`serve` exits non-zero and is restarted on the new history)."""
        epoch = (info.config.metadata or {}).get(EPOCH_KEY)
        if epoch and epoch != self.epoch:
            raise HistoryBroken(f"stream {self.nats_cfg.stream} is a new history (epoch {epoch})")
        if info.state.last_seq < self.head_seq:
            raise HistoryBroken(
                f"stream {self.nats_cfg.stream} ends at seq {info.state.last_seq}, before this "
                f"gateway's {self.head_seq}: events were lost"
            )

    def _take(self, msgs: Sequence[Any]) -> None:
        events: list[p.Event] = []
        frames: list[bytes] = []
        for msg in msgs:
            seq = int(msg.metadata.sequence.stream)
            if seq <= self.head_seq:
                continue  # delivered again after a new consumer
            if seq != self.head_seq + 1 and self.head_seq:
                # Events this gateway never saw left the stream (max age/bytes):
                # its state and its walls cannot be made whole from here.
                raise HistoryBroken(f"stream skipped from seq {self.head_seq} to {seq}: events are missing")
            if not self._ring and not frames:
                self._ring_first = seq
            try:
                entry = _decode_entry(msg.data)
                event = p.Event(epoch=self.epoch, seq=seq, id=entry.id, ts=entry.ts, body=entry.body)
            except (msgspec.ValidationError, msgspec.DecodeError, p.ProtocolError) as exc:
                # Only gateways may publish on the subject (docs/operations.md).
                raise HistoryBroken(f"stream message {seq} is no event: {exc}") from None
            msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
            if msg_id and "#" not in msg_id:
                self.commands[msg_id] = seq
            data = p.encode(event)
            events.append(event)
            frames.append(data)
            self.head_seq = seq
        if not events:
            return
        self.store.apply_many(events)
        self._ring.extend(frames)
        if len(self._ring) > self._ring_limit + self._ring_limit // 4:
            drop = len(self._ring) - self._ring_limit
            del self._ring[:drop]
            self._ring_first += drop
        # What one fetch brought goes out as the single server sends an append: protocol 1.1
        # walls share `events` frames joined once (the fan-out's cost is per frame and per
        # client; one frame per event made 500 subscribers over 4 gateways 20 times dearer).
        self._broadcast_events(frames)
        self._advanced.set()
        self._advanced = asyncio.Event()

    async def _wait_applied(self, seq: int, timeout: float | None) -> bool:
        """Until this gateway has applied ``seq`` (False after ``timeout``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.head_seq < seq:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._advanced.wait(), left)
        return True

    # --- NATS up and down ------------------------------------------------------------

    async def _on_disconnected(self) -> None:
        if self._down_since is None and not self._closing:
            self._down_since = time.monotonic()
            self.log_live = False
            log.warning("event log unavailable: lost NATS (%s); walls go stale", ", ".join(self.nats_urls))

    async def _on_reconnected(self) -> None:
        # The server may have restarted: its consumers are gone, start a new one.
        self._resubscribe = True
        log.warning("NATS reconnected: following stream %s from seq %d", self.nats_cfg.stream, self.head_seq)

    async def _on_error(self, exc: Exception) -> None:
        log.debug("nats: %r", exc)

    def _set_live(self, live: bool) -> None:
        if live and not self.log_live:
            log.warning("event log available again: head %d", self.head_seq)
        if not live and self.log_live:
            log.warning("event log unavailable: not following %s; walls go stale", self.nats_cfg.stream)
        if live:
            self._down_since = None
        elif self._down_since is None:
            self._down_since = time.monotonic()
        self.log_live = live

    async def _stale_loop(self) -> None:
        """Past stale_after_s without NATS, close every wall (1013): a wall
        that stays connected to a gateway that cannot follow the log would
        show a frozen picture; reconnecting elsewhere (or here, later) is right."""
        while True:
            await asyncio.sleep(0.25)
            down = self._down_since
            if down is None or time.monotonic() - down < self.nats_cfg.stale_after_s:
                continue
            for client in list(self.clients):
                self.clients.discard(client)
                self._spawn(_close_now(client.ws, CLOSE_TRY_AGAIN, "event log unavailable"), "close-stale")

    # --- what the server asks of its log ---------------------------------------------------

    async def _admit(self, ws: Any) -> None:
        down = self._down_since
        if down is not None and time.monotonic() - down >= self.nats_cfg.stale_after_s:
            with contextlib.suppress(Exception):
                await ws.close(CLOSE_TRY_AGAIN, "event log unavailable: try again later")
            return
        await super()._admit(ws)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval_s)
            if not self.log_live:
                continue  # the walls must see the feed go stale
            data = p.encode(p.Heartbeat(epoch=self.epoch, head_seq=self.head_seq, server_time=utcnow()))
            self._broadcast_heartbeat(data)

    async def _replay_span(self, hello: p.Hello) -> tuple[int, int] | None:
        if hello.last_epoch == self.epoch and hello.last_seq > self.head_seq:
            # A wall coming from a gateway that is ahead of this one: catch up
            # first, so it gets a replay instead of a snapshot that goes back.
            await self._wait_applied(hello.last_seq, timeout=5.0)
        if not self._ring:
            return None
        return self._ring_first, self._ring_first + len(self._ring) - 1

    async def _events_after(self, seq: int, limit: int, upto: int) -> list[tuple[int, bytes]]:
        start = max(seq + 1, self._ring_first)
        stop = min(upto, self._ring_first + len(self._ring) - 1, start + limit - 1)
        return [(s, self._ring[s - self._ring_first]) for s in range(start, stop + 1)]

    async def _next_sim_run(self) -> int:
        # An empty stream is the first run; later ones need ids that never
        # collide with a run before (id prefix r<run>-): the time does.
        return 1 if self.head_seq == 0 else int(time.time())

    async def _housekeeping_loop(self) -> None:
        # The store only: the stream's retention is JetStream's (max_age_days, max_bytes).
        every_s, _ = self._housekeeping_passes()
        while True:
            await asyncio.sleep(every_s)
            self._prune_store()

    async def append(
        self, bodies: Sequence[p.EventBody], ts: dt.datetime | None = None, *, command_id: str | None = None
    ) -> list[p.Event]:
        """Publish bodies (the simulator's) and wait until this gateway has
        applied them. Returns no events: another gateway's may lie between
        them in the stream, and the simulator needs none back.

        While NATS is away the simulator waits instead of failing: the batch
        is published again with the same message ids (``<batch>#<i>``, never
        recorded as commands), so what reached the stream before is not stored twice."""
        if not bodies:
            return []
        batch = command_id or "sim-" + uuid.uuid4().hex
        ts = ts or self.clock()
        while True:
            try:
                last, _ = await self._publish(bodies, ts, batch, expect=None, whole_id=False)
            except _LogUnavailable as exc:
                log.info("simulator waits for the event log: %s", exc)
                await asyncio.sleep(0.25)
                continue
            await self._wait_applied(last, timeout=None)
            return []

    async def _publish(
        self,
        bodies: Sequence[p.EventBody],
        ts: dt.datetime,
        command_id: str | None,
        expect: int | None,
        *,
        whole_id: bool = True,
    ) -> tuple[int, bool]:
        """(seq of the last message, whether JetStream took it as a duplicate).
        The last message's id is the command id itself when ``whole_id``.
        Raises APIError (wrong last sequence) or _LogUnavailable."""
        n = len(bodies)
        futures = []
        try:
            for i, body in enumerate(bodies):
                headers: dict[str, str] = {}
                if command_id is not None:
                    last = i == n - 1 and whole_id
                    headers["Nats-Msg-Id"] = command_id if last else f"{command_id}#{i}"
                payload = _encode_entry(_Entry(id=uuid.uuid4().hex[:20], ts=ts, body=body))
                if i == 0 and expect is not None:
                    # The check must pass before the rest go out.
                    headers["Nats-Expected-Last-Sequence"] = str(expect)
                    ack = await self._js.publish(self.nats_cfg.subject, payload, headers=headers)
                    futures.append(asyncio.get_running_loop().create_future())
                    futures[-1].set_result(ack)
                    continue
                futures.append(
                    await self._js.publish_async(self.nats_cfg.subject, payload, headers=headers or None)
                )
            acks = await asyncio.wait_for(asyncio.gather(*futures), PUBLISH_TIMEOUT_S)
        except nats.js.errors.APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                raise
            raise _LogUnavailable(f"JetStream refused the publish: {exc}") from exc
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            for future in futures:
                future.cancel()
            raise _LogUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return int(acks[-1].seq), bool(acks[-1].duplicate)

    async def _on_command(self, client: _Client, frame: p.ClientFrame) -> None:
        if isinstance(frame, (p.Ping, p.Hello)):
            await super()._on_command(client, frame)
            return
        kind = type(frame).__struct_config__.tag
        if kind not in ROLE_COMMANDS.get(client.role, frozenset()):
            await super()._on_command(client, frame)  # the role's refusal
            return
        command_id: str = frame.command_id
        try:
            outcome = await self._publish_command(client, frame)
        except _LogUnavailable as exc:
            # No answer: the console keeps the command in its outbox and
            # resends it after reconnecting (to this gateway or another).
            log.warning(
                "command %s: event log unavailable (%s): closing %s", command_id, exc, client.client_id
            )
            self.clients.discard(client)
            await _close_now(client.ws, CLOSE_TRY_AGAIN, "event log unavailable")
            return
        if outcome is None:
            return  # answered already (rejected or a conflict)
        status, seq, reason = outcome
        if status == "applied" and isinstance(frame, p.Inject):
            await self._wait_for_room(client)
        self._reply(client, p.CommandResult(command_id=command_id, status=status, seq=seq, reason=reason))

    async def _publish_command(
        self, client: _Client, frame: Any
    ) -> tuple[Literal["applied", "duplicate"], int | None, str] | None:
        command_id: str = frame.command_id
        for attempt in range(COMMAND_ATTEMPTS):
            async with self._command_lock():
                known = self.commands.get(command_id)
                bodies = await self._screen_command(client, frame, known)
                if bodies is None:
                    return None  # rejected, answered
                if bodies == "duplicate":
                    return "duplicate", known, ""
                if not bodies:
                    return "duplicate", None, "alert already acknowledged"
                # The last attempt goes without the check rather than never.
                expect = self.head_seq if attempt < COMMAND_ATTEMPTS - 1 else None
                stand = self.head_seq
                try:
                    last, duplicate = await self._publish(bodies, self.clock(), command_id, expect)
                except nats.js.errors.APIError:
                    # The stream moved on since this gateway's view: catch up
                    # (at least one more event), then validate again.
                    pass
                else:
                    await self._wait_applied(last, timeout=PUBLISH_TIMEOUT_S)
                    return ("duplicate" if duplicate else "applied"), last, ""
            await self._wait_applied(stand + 1, timeout=1.0)
        raise _LogUnavailable("the stream kept moving")  # not reached: the last attempt has no check
