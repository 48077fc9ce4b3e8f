"""The ingest hub against a real HTTP server on loopback that fails, times out, answers 304,
repeats items and serves garbage: nothing lost, nothing doubled, and the source's state says
what happened."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from commandcenter.ingest.hub import Hub, Source, command_id, item_key
from commandcenter.ingest.items import Item
from commandcenter.ingest.regions import Regions
from tests.conftest import ROOT

FIX = ROOT / "tests" / "fixtures" / "ingest"
#: "Now" for the hub: while the sample CAP warnings are in force.
NOW = dt.datetime(2026, 12, 4, 16, 30, tzinfo=dt.UTC)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    etag: str = ""
    delay_s: float = 0.0


@dataclass
class Script:
    """path -> replies, served in order (the last one repeats); every request is logged."""

    replies: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self, path: str) -> Reply:
        with self.lock:
            queue = self.replies.get(path)
            if not queue:
                return Reply(404, b"not found")
            return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            script.requests.append((self.path, dict(self.headers)))
            reply = script.next(self.path)
            if reply.delay_s:
                time.sleep(reply.delay_s)  # the publisher is slow, not the test
            if reply.etag and self.headers.get("If-None-Match") == reply.etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(reply.status)
            if reply.etag:
                self.send_header("ETag", reply.etag)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def regions() -> Regions:
    geo = ROOT / "resources" / "geo"  # the shipped boundaries
    return Regions.load(geo / "oki-kecamatan.geojson", geo / "oki-desa.geojson")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Sink:
    """Collects what the hub publishes, keyed like the server's command ids; can refuse."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.commands: set[str] = set()
        self.refuse = False
        self.got = asyncio.Event()

    async def __call__(self, source: Source, items: Sequence[Item]) -> None:
        if self.refuse:
            raise ConnectionError("server away")
        for item in items:
            cid = command_id(item_key(source.name, item))
            assert cid not in self.commands, f"published twice: {item.id}"
            self.commands.add(cid)
            self.items.append(item)
        self.got.set()


def _hub(sources: list[Source], sink: Sink, regions: Regions, clock: Clock) -> Hub:
    return Hub(sources, sink, regions, monotonic=clock, now=lambda: NOW)


async def test_rss_with_cap_files_then_304_then_a_new_warning(server, regions) -> None:
    url, script = server
    rss = (FIX / "rss-nowcast-id.xml").read_bytes().replace(b"https://www.bmkg.go.id", url.encode())
    script.replies["/rss.xml"] = [Reply(200, rss, etag='"v1"')]
    for cap_id in ("CSS20261204003", "CSS20261204004"):
        body = (FIX / f"{cap_id}_alert.xml").read_bytes()
        script.replies[f"/alerts/nowcast/id/{cap_id}_alert.xml"] = [Reply(200, body)]
    # The third entry's CAP file is missing (404): the others still come through.
    sink, clock = Sink(), Clock()
    source = Source("bmkg-nowcast", "bmkg-rss", f"{url}/rss.xml", timeout_s=5)
    hub = _hub([source], sink, regions, clock)
    assert await hub.poll(source) == 2
    assert sorted(i.id for i in sink.items) == ["CSS20261204003", "CSS20261204004"]
    (status,) = hub.status()
    assert status.state == "live" and "CJB20261204011" in status.last_error
    # Second poll: the RSS answers 304 to the ETag; nothing fetched again, nothing published.
    before = len(script.requests)
    assert await hub.poll(source) == 0
    assert script.requests[before][1].get("If-None-Match") == '"v1"'
    assert len(script.requests) == before + 1
    # The missing CAP file appears and the RSS changes: only it is fetched and published.
    script.replies["/rss.xml"] = [Reply(200, rss + b"\n", etag='"v2"')]
    cjb = (FIX / "CSS20261204004_alert.xml").read_bytes().replace(b"CSS20261204004", b"CJB20261204011")
    script.replies["/alerts/nowcast/id/CJB20261204011_alert.xml"] = [Reply(200, cjb)]
    assert await hub.poll(source) == 1
    assert [i.id for i in sink.items][-1] == "CJB20261204011"
    fetched = [p for p, _ in script.requests if p.endswith("_alert.xml")]
    assert fetched.count("/alerts/nowcast/id/CSS20261204003_alert.xml") == 1


async def test_failures_garbage_and_timeouts_lose_nothing_and_double_nothing(server, regions) -> None:
    url, script = server
    good = (FIX / "gempaterkini.json").read_bytes()
    script.replies["/gempa.json"] = [
        Reply(500, b"oops"),
        Reply(200, b'{"Infogempa": {"gempa": [{"DateTime": "garbage"'),
        Reply(200, good, delay_s=3.0),
        Reply(200, good),
        Reply(200, good),
    ]
    sink, clock = Sink(), Clock()
    source = Source("bmkg-m5", "bmkg-quake", f"{url}/gempa.json", timeout_s=0.5)
    hub = _hub([source], sink, regions, clock)
    errors = []
    for _ in range(3):
        assert await hub.poll(source) == 0
        (status,) = hub.status()
        assert status.state == "failing"
        errors.append(status.last_error)
    assert "HTTP 500" in errors[0] and "not JSON" in errors[1] and "timed out" in errors[2].lower()
    # Backoff grows with each failure, never below the interval.
    assert hub.states["bmkg-m5"].next_due - clock.t >= source.interval
    assert await hub.poll(source) == 15
    assert await hub.poll(source) == 0  # the same fifteen again: nothing doubled
    assert len(sink.items) == 15 and hub.status()[0].state == "live"


async def test_a_publish_that_fails_is_retried_not_lost(server, regions) -> None:
    url, script = server
    script.replies["/reports"] = [Reply(200, (FIX / "petabencana-reports.json").read_bytes(), etag='"r1"')]
    sink, clock = Sink(), Clock()
    source = Source("petabencana", "petabencana", f"{url}/reports", timeout_s=5)
    hub = _hub([source], sink, regions, clock)
    sink.refuse = True
    assert await hub.poll(source) == 0
    assert "server away" in hub.status()[0].last_error
    sink.refuse = False
    # The validators were not kept, so the document comes again in full (no 304) and is taken.
    assert await hub.poll(source) == 3
    assert script.requests[-1][1].get("If-None-Match") is None
    assert sorted(i.id for i in sink.items) == ["381204", "381207", "381211"]


async def test_a_quiet_source_turns_stale(server, regions, tmp_path: Path) -> None:
    url, script = server
    script.replies["/fires.csv"] = [Reply(200, (FIX / "firms_viirs_snpp.csv").read_bytes())]
    sink, clock = Sink(), Clock()
    source = Source("firms", "firms", f"{url}/fires.csv", interval_s=600, timeout_s=5)
    hub = _hub([source], sink, regions, clock)
    assert hub.status()[0].state == "waiting"
    await hub.poll(source)
    assert hub.status()[0].state == "live"
    clock.t += source.stale_after + 1
    status = hub.status()[0]
    assert status.state == "stale" and status.age_s is not None and status.age_s > source.stale_after


async def test_run_polls_file_sources_until_stopped(tmp_path: Path, regions) -> None:
    eido_file = tmp_path / "cad.json"
    eido_file.write_bytes((FIX / "eido-karhutla-deling.json").read_bytes())
    sink = Sink()
    hub = Hub([Source("cad", "eido", str(eido_file))], sink, regions, now=lambda: NOW)
    stop = asyncio.Event()
    task = asyncio.create_task(hub.run(stop))
    await asyncio.wait_for(sink.got.wait(), 30)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert [i.kind for i in sink.items] == ["incident"]
