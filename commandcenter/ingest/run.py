"""`commandcenter ingest run`: the hub on the configured sources, publishing into the server.

Each new item goes to the server as an ``inject`` command whose id is the item's deterministic
command id (:func:`commandcenter.ingest.hub.command_id`), so a repeat (a restart, a second hub)
is a duplicate at the server and never a second event. Each source's state goes out as a
``source_status`` event when it changes (and again before the wall would take a live source's
last good poll for stale). While the server is away, publishing fails, the hub keeps the items
unseen and tries them again at the next poll: nothing is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import signal
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from commandcenter.config import Config, ConfigError, load_config
from commandcenter.core import protocol as p
from commandcenter.core.model import SourceStatus
from commandcenter.ingest.eido_ws import EidoSubscriber
from commandcenter.ingest.hub import PUSH_KINDS, Hub, PublishError, Source, command_id, item_key
from commandcenter.ingest.items import IngestError, Item
from commandcenter.ingest.publish import bodies_for
from commandcenter.ingest.regions import Regions, load_regions

log = logging.getLogger(__name__)


class FatalLinkError(Exception):
    """The server refused this client for good (a bad token, a role without inject)."""


class ServerLink:
    """One admin connection to the server, reconnected on demand. A reader task takes every
    frame off the socket (this connection also receives the broadcast and must not fall
    behind) and answers the pending commands by id."""

    def __init__(self, url: str, token: str, *, timeout_s: float = 30.0) -> None:
        self.url = url
        self.token = token
        self.timeout_s = timeout_s
        self.client_id = f"ingest-{uuid.uuid4().hex[:8]}"
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[p.CommandResult]] = {}
        self._lock = asyncio.Lock()
        self.published = self.duplicates = self.rejected = 0

    async def _connect(self) -> None:
        import websockets

        ws = await websockets.connect(
            self.url, proxy=None, compression=None, max_size=p.MAX_FRAME_BYTES, open_timeout=self.timeout_s
        )
        hello = p.Hello(token=self.token, client_id=self.client_id, software="commandcenter ingest")
        await ws.send(p.encode(hello).decode())
        async with asyncio.timeout(self.timeout_s):
            while True:
                frame = p.decode_server_frame(await ws.recv())
                if isinstance(frame, p.Error) and frame.fatal:
                    await ws.close()
                    raise FatalLinkError(f"server refused: {frame.code}: {frame.reason}")
                if isinstance(frame, p.Welcome):
                    if frame.role != "admin":
                        await ws.close()
                        raise FatalLinkError(f"the token has role {frame.role}; publishing needs admin")
                    break
        self._ws = ws
        self._reader = asyncio.create_task(self._read(ws), name="ingest-link-reader")
        log.info("connected to %s", self.url)

    async def _read(self, ws: Any) -> None:
        try:
            async for raw in ws:
                try:
                    frame = p.decode_server_frame(raw)
                except p.ProtocolError:
                    continue  # events of kinds this release does not know, for instance
                if isinstance(frame, p.CommandResult):
                    fut = self._pending.pop(frame.command_id, None)
                    if fut is not None and not fut.done():
                        fut.set_result(frame)
        except Exception as exc:  # a closed or broken socket: every pending command fails
            log.info("link to %s lost: %s", self.url, exc)
        finally:
            self._ws = None
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(PublishError("connection to the server lost"))
            self._pending.clear()

    async def send(self, cid: str, bodies: list[p.EventBody], *, item: bool = True) -> p.CommandResult:
        """Send one inject and wait for its result; PublishError when the server is away.
        ``item``: an item (counted in published/duplicates/rejected), not a source state."""
        async with self._lock:
            try:
                if self._ws is None:
                    await self._connect()
                fut: asyncio.Future[p.CommandResult] = asyncio.get_running_loop().create_future()
                self._pending[cid] = fut
                await self._ws.send(p.encode(p.Inject(command_id=cid, bodies=bodies)).decode())
                async with asyncio.timeout(self.timeout_s):
                    result = await fut
            except (FatalLinkError, PublishError):
                raise
            except Exception as exc:
                self._pending.pop(cid, None)
                await self.close()
                raise PublishError(f"{self.url}: {type(exc).__name__}: {exc}") from None
        if not item:
            pass
        elif result.status == "applied":
            self.published += 1
        elif result.status == "duplicate":
            self.duplicates += 1
        else:
            self.rejected += 1
        return result

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None


def sources_from(config: Config) -> list[Source]:
    return [
        Source(name=s.name, kind=s.kind, url=s.url, interval_s=s.interval_s, timeout_s=s.timeout_s,
               enabled=s.enabled, expires_s=s.expires_s, qual_filter=s.qual_filter)
        for s in config.sources
    ]  # fmt: skip


class Ingest:
    """The hub wired to a server link: items and source states become events."""

    def __init__(
        self,
        config: Config,
        link: ServerLink,
        *,
        sources: Sequence[Source] | None = None,
        regions: Regions | None = None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.config = config
        self.link = link
        self.now = now
        self.hub = Hub(
            sources if sources is not None else sources_from(config), self.publish, regions, now=now
        )
        self._sent: dict[str, tuple[str, str, float | None]] = {}
        #: Set when the server refused us for good; run() then ends with it.
        self.fatal: FatalLinkError | None = None
        #: Set by a pushing source whose state may have changed: run() sends the states at once.
        self.wake = asyncio.Event()
        #: One NENA-STA-024 subscription per enabled eido-ws source (run() keeps them up).
        self.subscribers = [
            EidoSubscriber(
                s, self.hub, validate=lambda item: bodies_for(item, config), on_change=self.wake.set
            )
            for s in self.hub.sources
            if s.enabled and s.kind in PUSH_KINDS
        ]

    async def publish(self, source: Source, items: Sequence[Item]) -> None:
        for item in items:
            try:
                bodies = bodies_for(item, self.config)
            except (ValueError, IngestError, KeyError) as exc:
                # The item's own fault: said once, never retried.
                log.warning("source %s: item %s not publishable: %s", source.name, item.id, exc)
                continue
            try:
                result = await self.link.send(command_id(item_key(source.name, item)), bodies)
            except FatalLinkError as exc:
                self.fatal = exc
                raise PublishError(str(exc)) from None
            if result.status == "rejected":
                log.warning(
                    "source %s: item %s rejected by the server: %s", source.name, item.id, result.reason
                )

    async def publish_status(self) -> None:
        """Send each source's state when it changed, or when the wall would soon take its
        last good poll for stale."""
        now = self.now()
        by_name = {s.name: s for s in self.hub.sources}
        for st in self.hub.status():
            source = by_name[st.name]
            last_ok = None if st.age_s is None else now - dt.timedelta(seconds=st.age_s)
            stamp = None if last_ok is None else last_ok.timestamp()
            previous = self._sent.get(st.name)
            changed = previous is None or previous[:2] != (st.state, st.last_error[:200])
            refresh = (
                previous is not None and stamp is not None
                and (previous[2] is None or stamp - previous[2] > source.stale_after / 3)
            )  # fmt: skip
            if not (changed or refresh):
                continue
            status = SourceStatus(
                name=st.name, kind=st.kind, state=st.state, at=now, last_ok=last_ok,
                stale_after_s=min(source.stale_after, 30 * 86400.0), error=st.last_error[:200],
            )  # fmt: skip
            try:
                body = p.SourceStatusChanged(status=status)
                await self.link.send(f"srcst-{uuid.uuid4().hex}", [body], item=False)
            except FatalLinkError as exc:
                self.fatal = exc
                return
            except PublishError as exc:
                log.info("source states not sent: %s", exc)
                return
            self._sent[st.name] = (st.state, st.last_error[:200], stamp)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll what is due, keep the subscriptions up, publish the states, until ``stop``."""
        pushing = [asyncio.create_task(sub.run(stop), name=f"subscriber-{sub.source.name}")
                   for sub in self.subscribers]  # fmt: skip
        try:
            while not stop.is_set():
                self.wake.clear()
                mono = self.hub.monotonic()
                for source in self.hub.sources:
                    if source.enabled and self.hub.states[source.name].next_due <= mono:
                        await self.hub.poll(source)
                await self.publish_status()
                if self.fatal is not None:
                    raise self.fatal
                upcoming = [self.hub.states[s.name].next_due for s in self.hub.sources if s.enabled]
                wait = max(0.5, min(upcoming, default=mono + 30.0) - self.hub.monotonic())
                woken = asyncio.ensure_future(self.wake.wait())
                stopped = asyncio.ensure_future(stop.wait())
                await asyncio.wait(
                    {woken, stopped}, timeout=min(wait, 30.0), return_when=asyncio.FIRST_COMPLETED
                )
                woken.cancel()
                stopped.cancel()
        finally:
            if stop.is_set() and pushing:
                # Each subscriber unsubscribes on stop; give it the moment that takes.
                await asyncio.wait(pushing, timeout=5.0)
            for task in pushing:
                task.cancel()
            for task in pushing:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def ingest_run_main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"config error: {exc}\n")
        return 2
    if not args.token:
        sys.stderr.write("ingest run: no token: give --token-file FILE (an admin-role token)\n")
        return 2
    sources = sources_from(config)
    if not any(s.enabled for s in sources):
        sys.stderr.write("ingest run: no source enabled in [[sources]] of the configuration\n")
        return 2
    try:
        regions = load_regions("", "")
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"ingest run: boundaries: {exc}\n")
        return 2
    return asyncio.run(_run(config, args.server, args.token, regions))


async def _run(config: Config, url: str, token: str, regions: Regions) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    link = ServerLink(url, token)
    ingest = Ingest(config, link, regions=regions)
    names = ", ".join(s.name for s in ingest.hub.sources if s.enabled)
    sys.stdout.write(f"ingest: polling {names}; publishing to {url}\n")
    sys.stdout.flush()
    try:
        await ingest.run(stop)
    except FatalLinkError as exc:
        sys.stderr.write(f"ingest run: {exc}\n")
        return 3
    finally:
        await link.close()
    sys.stdout.write(
        f"DONE published={link.published} duplicates={link.duplicates} rejected={link.rejected}\n"
    )
    return 0

