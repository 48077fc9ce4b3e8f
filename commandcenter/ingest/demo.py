"""The demo's external feeds: recorded samples (resources/ingest) served from a local HTTP
server, their times moved so that they are fresh on the demo's clock: a BMKG quake that touches
OKI, a nowcast warning over Kayu Agung and Jejawi (and one over Palembang only, which touches no
district), citizen flood reports. `commandcenter demo` runs the hub on them."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import http.server
import importlib.resources
import logging
import re
import threading
from collections.abc import Callable

from commandcenter.core.timeutil import WIB
from commandcenter.ingest.hub import Source

log = logging.getLogger(__name__)

_ISO = re.compile(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")
#: file -> (kind, how long before the demo's start its newest time lies)
SAMPLES: dict[str, tuple[str, dt.timedelta]] = {
    "autogempa.json": ("bmkg-quake", dt.timedelta(minutes=2)),
    "CSS20261204003_alert.xml": ("cap", dt.timedelta(minutes=5)),
    "CSS20261204004_alert.xml": ("cap", dt.timedelta(minutes=5)),
    "petabencana-reports.json": ("petabencana", dt.timedelta(minutes=10)),
}


def _parse(raw: bytes) -> dt.datetime:
    return dt.datetime.fromisoformat(raw.decode().replace("Z", "+00:00"))


def shift_times(data: bytes, now: dt.datetime, before: dt.timedelta) -> bytes:
    """Every ISO time in the document moved by the same amount, so that its earliest time
    lies ``before`` ahead of ``now`` (validity spans and orders are kept). A BMKG quake's
    local Tanggal and Jam follow its DateTime."""
    times = [_parse(m.group()) for m in _ISO.finditer(data)]
    if not times:
        return data
    delta = (now - before) - min(times)

    def moved(m: re.Match[bytes]) -> bytes:
        raw = m.group()
        t = _parse(raw) + delta
        text = t.isoformat(timespec="seconds")
        if raw.endswith(b"Z"):
            text = t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return text.encode()

    out = _ISO.sub(moved, data)
    quake_time = min(times) + delta
    local = quake_time.astimezone(WIB)
    out = re.sub(rb'"Jam":"[^"]*"', f'"Jam":"{local:%H:%M:%S} WIB"'.encode(), out)
    tanggal = f"{local.day:02d} {_MONTHS[local.month - 1]} {local.year}"
    return re.sub(rb'"Tanggal":"[^"]*"', f'"Tanggal":"{tanggal}"'.encode(), out)


def demo_documents(now: dt.datetime) -> dict[str, bytes]:
    folder = importlib.resources.files("resources") / "ingest"
    return {
        name: shift_times((folder / name).read_bytes(), now, before) for name, (_, before) in SAMPLES.items()
    }


class SampleServer:
    """A local HTTP server for documents (path -> bytes), with ETags so the hub's conditional
    requests get a 304 once a document was taken. Runs in a daemon thread on loopback."""

    def __init__(self, documents: dict[str, bytes]) -> None:
        self.documents = dict(documents)
        docs = self.documents

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = docs.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="ingest-samples", daemon=True)

    def start(self) -> SampleServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def demo_sources(base_url: str) -> list[Source]:
    return [
        Source(name=f"demo-{name.split('.')[0].lower().replace('_', '-')}", kind=kind,  # type: ignore[arg-type]
               url=f"{base_url}/{name}", interval_s=60.0, timeout_s=10.0)
        for name, (kind, _) in SAMPLES.items()
    ]  # fmt: skip


class DemoIngest:
    """The hub on the samples, publishing into the demo server, as one asyncio task."""

    def __init__(
        self, url: str, now: Callable[[], dt.datetime] | None = None, token: str = "demo-admin"
    ) -> None:
        self.url = url
        self.token = token
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> DemoIngest:
        self._task = asyncio.create_task(self._run(), name="demo-ingest")
        self._task.add_done_callback(_log_end)
        return self

    async def _run(self) -> None:
        from commandcenter.config import load_defaults
        from commandcenter.ingest.regions import load_regions
        from commandcenter.ingest.run import Ingest, ServerLink

        samples = SampleServer(demo_documents(self.now())).start()
        link = ServerLink(self.url, self.token)
        try:
            regions = await asyncio.to_thread(load_regions, "", "")
            ingest = Ingest(
                load_defaults(), link, sources=demo_sources(samples.url), regions=regions, now=self.now
            )
            await ingest.run(self._stop)
        finally:
            await link.close()
            samples.stop()

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 10.0)


def _log_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("demo feeds stopped: %s", task.exception())
