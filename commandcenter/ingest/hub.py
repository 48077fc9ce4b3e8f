"""`commandcenter ingest run`: the hub that polls the configured sources and publishes what is new.

Each source (BMKG earthquakes, BMKG's nowcast RSS with its CAP files, a CAP file, NASA FIRMS,
PetaBencana.id, an EIDO file) is polled at its interval, never faster than its publisher allows
(:data:`MIN_INTERVAL_S`), with conditional requests (ETag / If-Modified-Since: a 304 costs the
publisher nothing), a timeout, and exponential backoff with jitter after a failure. Items are
deduplicated by the source's own id (CAP identifier, quake time + place, FIRMS satellite + time +
place, PetaBencana pkey, EIDO $id + its update time) and handed to ``publish``; an item is marked
seen only once ``publish`` returned, so a failed publish is retried at the next poll: nothing is
lost, and the publisher's deterministic command id (:func:`command_id`) makes a repeat after a
restart a no-op at the server: nothing is doubled.

A source that fails or goes quiet is reported with its age (:meth:`Hub.status`), so the wall can
show it as stale instead of showing old warnings as current.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import hashlib
import logging
import random
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from commandcenter.ingest import bmkg_quake, cap, eido, firms, petabencana
from commandcenter.ingest.items import MAX_DOCUMENT_BYTES, IngestError, Item
from commandcenter.ingest.regions import Regions

log = logging.getLogger(__name__)

SourceKind = Literal["bmkg-quake", "bmkg-rss", "cap", "firms", "petabencana", "eido", "eido-ws"]
#: Sources that push (a NENA-STA-024 subscription, commandcenter.ingest.eido_ws) instead of being polled.
PUSH_KINDS = frozenset({"eido-ws"})
#: The fastest each publisher is polled. BMKG updates autogempa within minutes and asks for
#: reasonable use; FIRMS' area API allows 5,000 transactions per 10 minutes per key and its
#: near-real-time files change every few minutes; PetaBencana's reports API is cached for a minute.
MIN_INTERVAL_S: dict[str, float] = {
    "bmkg-quake": 60.0, "bmkg-rss": 60.0, "cap": 60.0, "firms": 300.0, "petabencana": 60.0, "eido": 5.0,
    "eido-ws": 5.0,  # the minRate asked of the notifier: its keepalive
}  # fmt: skip
MAX_BACKOFF_S = 1800.0
#: CAP files fetched per RSS poll at most (a burst of new warnings is taken over a few polls).
MAX_CAP_PER_POLL = 25
USER_AGENT = "oki-siaga-112-wall/0.1 (+https://example.invalid/oki-siaga-112)"
SEEN_LIMIT = 100_000


@dataclass(frozen=True)
class Source:
    name: str
    kind: SourceKind
    url: str
    interval_s: float = 300.0
    timeout_s: float = 20.0
    enabled: bool = True
    #: Quiet for longer than this (no successful poll) and the source shows as stale.
    stale_after_s: float = 0.0
    #: eido-ws: the subscription's length asked of the notifier (renewed before it ends).
    expires_s: float = 3600.0
    #: eido-ws: the subscription's qualFilter (STA-024 2.3); empty: every new incident.
    qual_filter: str = ""

    @property
    def interval(self) -> float:
        return max(self.interval_s, MIN_INTERVAL_S.get(self.kind, 60.0))

    @property
    def stale_after(self) -> float:
        return self.stale_after_s or 3 * self.interval + self.timeout_s


@dataclass
class Fetched:
    status: int
    body: bytes = b""
    etag: str = ""
    last_modified: str = ""


class PublishError(Exception):
    """The items could not be handed on (the server refused or was away)."""


class FetchError(Exception):
    """A fetch that failed: connection refused, timeout, HTTP error, oversized answer."""


def _fetch_blocking(url: str, etag: str, last_modified: str, timeout: float) -> Fetched:
    if not url.startswith(("http://", "https://")):
        path = Path(url.removeprefix("file://"))
        try:
            stat = path.stat()
            stamp = email.utils.formatdate(stat.st_mtime, usegmt=True)
            if last_modified and stamp == last_modified:
                return Fetched(304, last_modified=stamp)
            with path.open("rb") as fh:
                body = fh.read(MAX_DOCUMENT_BYTES + 1)
        except OSError as exc:
            raise FetchError(f"{path}: {exc.strerror or exc}") from None
        return Fetched(200, body, last_modified=stamp)
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    request = urllib.request.Request(url, headers=headers)
    try:
        # The hub talks to public publishers directly, never through a proxy from the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=timeout) as resp:
            body = resp.read(MAX_DOCUMENT_BYTES + 1)
            return Fetched(
                resp.status, body, resp.headers.get("ETag", ""), resp.headers.get("Last-Modified", "")
            )
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return Fetched(304, etag=etag, last_modified=last_modified)
        raise FetchError(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"{type(exc).__name__}: {reason}") from None


async def fetch(url: str, etag: str = "", last_modified: str = "", timeout: float = 20.0) -> Fetched:
    """One conditional GET (or a file read), off the event loop; FetchError on failure."""
    try:
        result = await asyncio.wait_for(
            asyncio.to_thread(_fetch_blocking, url, etag, last_modified, timeout), timeout + 1.0
        )
    except TimeoutError:
        raise FetchError(f"no answer within {timeout:g} s") from None
    if len(result.body) > MAX_DOCUMENT_BYTES:
        raise FetchError(f"answer larger than {MAX_DOCUMENT_BYTES} bytes")
    return result


def item_key(source: str, item: Item) -> str:
    """What makes an item new: the source's own id, and for EIDO its update time."""
    version = str(item.detail.get("updated", "")) if item.source == "eido" else ""
    return f"{source}\x1f{item.source}\x1f{item.id}\x1f{version}"


def command_id(key: str) -> str:
    """A deterministic command id for publishing an item: the same item is the same command,
    so the server applies it once however often it arrives (hub restarts, two hubs)."""
    return "ingest-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


@dataclass
class SourceStatus:
    name: str
    kind: str
    state: Literal["live", "stale", "failing", "disabled", "waiting"]
    #: Seconds since the last successful poll (None: never).
    age_s: float | None
    last_error: str = ""
    published: int = 0


@dataclass
class _State:
    etag: str = ""
    last_modified: str = ""
    last_ok: float | None = None
    failures: int = 0
    last_error: str = ""
    next_due: float = 0.0
    published: int = 0
    seen: OrderedDict[str, None] = field(default_factory=OrderedDict)
    #: Parts of the last poll that failed while the rest worked (an RSS entry's CAP file).
    partial_errors: list[str] = field(default_factory=list)


Publish = Callable[[Source, Sequence[Item]], Awaitable[None]]


class Hub:
    def __init__(
        self,
        sources: Sequence[Source],
        publish: Publish,
        regions: Regions | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        rng: random.Random | None = None,
    ) -> None:
        self.sources = list(sources)
        self.publish = publish
        self.regions = regions
        self.monotonic = monotonic
        self.now = now
        self.rng = rng or random.Random()
        self.states = {s.name: _State() for s in self.sources}

    # --- one poll --------------------------------------------------------------------

    async def poll(self, source: Source) -> int:
        """Poll one source now; the number of new items published. Never raises for a
        publisher's fault: it is recorded in the source's status and retried later."""
        st = self.states[source.name]
        if source.kind in PUSH_KINDS:
            # Pushed, not polled: its subscriber reports through take/pushed_ok/pushed_failed.
            st.next_due = self.monotonic() + source.interval
            return 0
        st.partial_errors = []
        try:
            published = await self._poll(source, st)
        except PublishError as exc:
            # Not the publisher's fault: nothing was marked seen, the next poll tries again.
            st.last_error = str(exc)[:300]
            st.next_due = self.monotonic() + source.interval
            log.error("source %s: %s", source.name, st.last_error)
            return 0
        except (FetchError, IngestError) as exc:
            st.failures += 1
            st.last_error = str(exc)[:300]
            backoff = min(MAX_BACKOFF_S, source.interval * 2 ** min(st.failures, 10))
            st.next_due = self.monotonic() + self.rng.uniform(source.interval, max(source.interval, backoff))
            log.warning("source %s: %s (failure %d; next poll in %.0f s)", source.name, st.last_error,
                        st.failures, st.next_due - self.monotonic())  # fmt: skip
            return 0
        if st.failures:
            log.info("source %s: working again after %d failure(s)", source.name, st.failures)
        st.failures = 0
        st.last_error = "; ".join(st.partial_errors)
        st.last_ok = self.monotonic()
        st.next_due = st.last_ok + source.interval
        return published

    async def _poll(self, source: Source, st: _State) -> int:
        got = await fetch(source.url, st.etag, st.last_modified, source.timeout_s)
        if got.status == 304:
            return 0
        if got.status != 200:
            raise FetchError(f"HTTP {got.status}")
        if source.kind == "bmkg-rss":
            items = await self._rss_items(source, st, got.body)
        else:
            items = self._parse(source.kind, got.body)
        taken = await self.take(source, items)
        # Validators only once everything was taken: a failed publish fetches the document again.
        st.etag, st.last_modified = got.etag, got.last_modified
        return taken

    async def take(self, source: Source, items: Sequence[Item]) -> int:
        """Publish the items not seen yet and mark them seen; the number published. PublishError
        when publishing failed: nothing is marked, the next delivery of the items tries again."""
        st = self.states[source.name]
        fresh = self._fresh(source, st, items)
        if fresh:
            try:
                await self.publish(source, fresh)
            except Exception as exc:
                raise PublishError(f"publishing {len(fresh)} item(s) failed: {exc}") from exc
            for item in fresh:
                self._mark(st, item_key(source.name, item))
            st.published += len(fresh)
        return len(fresh)

    def pushed_ok(self, source: Source, error: str = "") -> None:
        """A pushing source was heard from (a notification, a keepalive): live again."""
        st = self.states[source.name]
        st.failures = 0
        st.last_error = error[:300]
        st.last_ok = self.monotonic()

    def pushed_failed(self, source: Source, error: str) -> None:
        """A pushing source's link failed (refused, dropped, silent); stale once it stays so."""
        st = self.states[source.name]
        st.failures += 1
        st.last_error = error[:300]

    def _parse(self, kind: str, body: bytes) -> list[Item]:
        if kind == "bmkg-quake":
            return bmkg_quake.parse(body, self.regions)
        if kind == "cap":
            return [cap.parse_alert(body, self.regions)]
        if kind == "firms":
            return firms.parse(body, self.regions)
        if kind == "petabencana":
            return petabencana.parse(body, self.regions)
        if kind == "eido":
            return eido.parse(body, self.regions)
        raise IngestError("source", f"unknown kind {kind!r}")

    async def _rss_items(self, source: Source, st: _State, body: bytes) -> list[Item]:
        """The CAP alerts behind the RSS items not seen yet (at most MAX_CAP_PER_POLL a poll)."""
        out: list[Item] = []
        index = cap.parse_rss(body)
        for entry in index:
            key = item_key(source.name, msgspec_replace_source(entry, "bmkg-cap"))
            if key in st.seen:
                continue
            if len(out) >= MAX_CAP_PER_POLL:
                break
            link = str(entry.detail["link"])
            try:
                got = await fetch(link, timeout=source.timeout_s)
                alert = cap.parse_alert(got.body, self.regions)
                if alert.id != entry.id:
                    raise IngestError(link, f"CAP identifier {alert.id!r} is not the RSS guid {entry.id!r}")
            except (FetchError, IngestError) as exc:
                # One broken CAP file must not hold back the others; it is tried again next poll.
                st.partial_errors.append(f"{entry.id}: {exc}"[:300])
                log.warning("source %s: CAP %s not taken: %s", source.name, entry.id, exc)
                continue
            out.append(alert)
        return out

    def _fresh(self, source: Source, st: _State, items: Sequence[Item]) -> list[Item]:
        now = self.now()
        fresh, keys = [], set()
        for item in items:
            key = item_key(source.name, item)
            if key in st.seen or key in keys:
                continue
            if item.expires is not None and item.expires <= now:
                # Already over: the wall would only drop it again. Seen, so an RSS entry for it
                # does not fetch its CAP file at every poll.
                self._mark(st, key)
                continue
            keys.add(key)
            fresh.append(item)
        return fresh

    @staticmethod
    def _mark(st: _State, key: str) -> None:
        st.seen[key] = None
        while len(st.seen) > SEEN_LIMIT:
            st.seen.popitem(last=False)

    # --- running ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every enabled source when it is due until ``stop`` is set."""
        while not stop.is_set():
            now = self.monotonic()
            due = [s for s in self.sources if s.enabled and self.states[s.name].next_due <= now]
            for source in due:
                await self.poll(source)
            upcoming = [self.states[s.name].next_due for s in self.sources if s.enabled]
            wait = max(0.5, min(upcoming, default=now + 60) - self.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(wait, 60.0))

    def status(self) -> list[SourceStatus]:
        out = []
        now = self.monotonic()
        for s in self.sources:
            st = self.states[s.name]
            age = None if st.last_ok is None else now - st.last_ok
            if not s.enabled:
                state = "disabled"
            elif st.failures and (age is None or age > s.stale_after):
                state = "failing"
            elif age is None:
                state = "waiting"
            elif age > s.stale_after:
                state = "stale"
            else:
                state = "live"
            out.append(SourceStatus(s.name, s.kind, state, age, st.last_error, st.published))  # type: ignore[arg-type]
        return out


def msgspec_replace_source(item: Item, source: str) -> Item:
    """The RSS entry keyed as the CAP alert it announces (same identifier), so an alert seen
    through the RSS is not fetched again."""
    import msgspec

    return msgspec.structs.replace(item, source=source, detail={})
