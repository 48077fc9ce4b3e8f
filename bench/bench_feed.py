"""Feed benchmarks: the real `commandcenter serve` process on loopback.

Metrics (see docs/benchmarks.md):

- feed.loopback_events_per_s: admin injects N incident events; one FeedClient
  journaling into SQLite (synchronous=FULL) follows live. Time from the first
  inject to the client's store.seq reaching the head. Extra: the replay rate of
  a client whose journal is at (epoch, 0) and reconnects.
- feed.reconnect_to_live_s: SIGKILL the server, start it again on the same
  database and port; time from the restart command to the client LIVE again
  (median of 5 rounds, client reconnect settings at their defaults).
- feed.fanout_50_clients_events_per_s: 50 raw websocket readers; N injected
  events; events per second delivered to each of the 50 (all have all).
- feed.server_rss_growth_50_clients_pct / feed.server_rss_mb_50_clients: the
  server with the simulator (mixed, speed 60) and 50 raw readers for
  BENCH_SOAK_S seconds (default 600); RSS growth after a 20 % warm-up.

Environment: BENCH_SOAK_S (default 600), BENCH_FEED_EVENTS (default 50000),
BENCH_FANOUT_EVENTS (default 20000), BENCH_RECONNECT_HOLD_S (default: the
client's stable_after_s + 1, so each crash meets a link that had been stable
and the backoff starts from its minimum, as in production).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import websockets
from websockets.exceptions import ConnectionClosed

from commandcenter.config import load_defaults
from commandcenter.core import protocol as p
from commandcenter.wall.feed import FeedClient, FeedSettings, FeedState
from commandcenter.wall.session import WallSession
from tests.factories import make_incident
from tests.serverproc import ADMIN, WALL, ServerProcess, admin_inject, wait_client

EVENT_PREFIX = b'{"type":"event"'
#: Protocol 1.1: several events in one frame, each element an event frame.
EVENTS_PREFIX = b'{"type":"events"'
ELEMENT_MARK = b'{"type":"event",'
HEARTBEAT_PREFIX = b'{"type":"heartbeat"'
WELCOME_PREFIX = b'{"type":"welcome"'


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    return float(raw) if raw.strip() else default


def incident_bodies(n: int, prefix: str) -> list[p.EventBody]:
    return [p.IncidentUpserted(incident=make_incident(id=f"{prefix}-{i}", ticket=f"T-{prefix}-{i}"))
            for i in range(n)]


def _rss_mb(proc: psutil.Process) -> float:
    return proc.memory_info().rss / (1024 * 1024)


# --- raw readers ------------------------------------------------------------------------


@dataclass
class RawReader:
    """A minimal wall: hello, then count event frames by their prefix. No JSON
    decoding, no journal: what it measures is the server's fan-out."""

    url: str
    client_id: str
    reconnect: bool = False
    events: int = 0
    target: int = 0
    greeted: asyncio.Event = field(default_factory=asyncio.Event)
    heartbeat_seen: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    closes: list[int | None] = field(default_factory=list)
    connects: int = 0
    #: Revisions offered in hello: with "1.1" the server batches (as for a wall).
    protocols: tuple[str, ...] = ()

    def reset(self, target: int) -> None:
        self.events = 0
        self.target = target
        self.done.clear()

    async def run(self) -> None:
        hello = p.encode(
            p.Hello(token=WALL, client_id=self.client_id, protocols=list(self.protocols))
        ).decode()
        while True:
            try:
                async with websockets.connect(self.url, proxy=None, compression=None, max_size=None,
                                              ping_interval=None, close_timeout=1) as ws:
                    self.connects += 1
                    await ws.send(hello)
                    while True:
                        raw = await ws.recv(decode=False)
                        if raw.startswith(EVENTS_PREFIX):
                            self.events += raw.count(ELEMENT_MARK)
                            if self.target and self.events >= self.target:
                                self.done.set()
                        elif raw.startswith(EVENT_PREFIX):
                            self.events += 1
                            if self.target and self.events >= self.target:
                                self.done.set()
                        elif raw.startswith(HEARTBEAT_PREFIX):
                            self.heartbeat_seen.set()
                        elif raw.startswith(WELCOME_PREFIX):
                            self.greeted.set()
            except ConnectionClosed as exc:
                self.closes.append(exc.rcvd.code if exc.rcvd else None)
            except OSError:
                self.closes.append(None)
            if not self.reconnect:
                return
            await asyncio.sleep(1.0)


@contextlib.asynccontextmanager
async def raw_readers(
    url: str, n: int, *, reconnect: bool = False, protocols: tuple[str, ...] = p.REVISIONS
) -> Any:
    # Protocol 1.1 by default, as the wall's FeedClient offers it.
    readers = [
        RawReader(url, f"bench-raw-{i:02d}", reconnect=reconnect, protocols=protocols) for i in range(n)
    ]
    tasks = [asyncio.create_task(r.run(), name=r.client_id) for r in readers]
    try:
        # Ready when each has had its welcome, its snapshot and one heartbeat
        # (the heartbeat goes through the same queue, after the snapshot).
        async with asyncio.timeout(60):
            await asyncio.gather(*(r.heartbeat_seen.wait() for r in readers))
        yield readers
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


# --- follower helpers -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def follower(db: Path, url: str, client_id: str) -> Any:
    settings = FeedSettings(url=url, token=WALL, client_id=client_id)
    client: FeedClient = (await WallSession.open(load_defaults(), db, settings, alerts=False)).feed
    client.start()
    try:
        yield client
    finally:
        await client.stop()
        await client.journal.close()


# --- 1 + 2: loopback throughput, replay, reconnect -----------------------------------------------


async def _loopback_and_reconnect(tmp: Path) -> dict[str, dict[str, Any]]:
    n = int(_env_float("BENCH_FEED_EVENTS", 50_000))
    server_db = tmp / "server.sqlite3"
    servers: list[ServerProcess] = []
    out: dict[str, dict[str, Any]] = {}
    try:
        server = ServerProcess(server_db, heartbeat=0.5)
        await asyncio.to_thread(server.start)
        servers.append(server)
        # A wall that saw the (empty) start of this epoch and then went away:
        # when it comes back it is at (epoch, 0) and gets a replay.
        async with follower(tmp / "replay.sqlite3", server.url, "bench-replay") as rc:
            await wait_client(rc, lambda: rc.status.state is FeedState.LIVE, what="replay client live")

        bodies = incident_bodies(n, "lb")
        async with follower(tmp / "wall.sqlite3", server.url, "bench-wall") as client:
            await wait_client(client, lambda: client.status.state is FeedState.LIVE, what="live")
            live_since = time.monotonic()
            base = client.store.seq
            t0 = time.perf_counter()
            inject = asyncio.create_task(admin_inject(server.url, bodies, ADMIN))
            inject_done: list[float] = []
            inject.add_done_callback(lambda _t: inject_done.append(time.perf_counter()))
            await wait_client(client, lambda: client.store.seq >= base + n, timeout=600,
                              what="client at head")
            elapsed = time.perf_counter() - t0
            head = await inject
            assert head == base + n, (head, base, n)
            c = client.counters
            loopback_extra: dict[str, Any] = {
                "events": n,
                "elapsed_s": round(elapsed, 3),
                "server_accept_events_per_s": round(n / (inject_done[0] - t0), 1) if inject_done else None,
                "client_journal": "SQLite WAL, synchronous=FULL (default)",
                "gaps": c.gaps, "duplicates": c.duplicates, "reconnects": c.reconnects,
                "client_left_live": client.status.state is not FeedState.LIVE,
            }

            # Replay: the client at (epoch, 0) reconnects and catches up n events.
            async with follower(tmp / "replay.sqlite3", server.url, "bench-replay") as rc:
                t1 = time.perf_counter()
                await wait_client(rc, lambda: rc.store.seq >= head and rc.status.state is FeedState.LIVE,
                                  timeout=600, what="replay caught up")
                replay_s = time.perf_counter() - t1
                loopback_extra["replay_events_per_s"] = round(head / replay_s, 1)
                loopback_extra["replay_s"] = round(replay_s, 3)
                loopback_extra["replay_was_snapshot"] = rc.counters.snapshots > 0
            out["feed.loopback_events_per_s"] = {
                "value": round(n / elapsed, 1), "unit": "events/s", "target": ">= 5000",
                "extra": loopback_extra,
            }

            # Reconnect rounds: the client keeps its default backoff settings.
            hold = _env_float("BENCH_RECONNECT_HOLD_S", client.settings.stable_after_s + 1)
            times: list[float] = []
            starts: list[float] = []
            attempts: list[int] = []
            port = server.port
            for _ in range(5):
                wait = hold - (time.monotonic() - live_since)
                if wait > 0:
                    await asyncio.sleep(wait)
                servers[-1].kill()
                await wait_client(client, lambda: client.status.state is not FeedState.LIVE, what="feed down")
                reconnects_before = client.counters.reconnects
                t0 = time.perf_counter()
                restarted = ServerProcess(server_db, port=port, heartbeat=0.5)
                await asyncio.to_thread(restarted.start)
                servers.append(restarted)
                listening = time.perf_counter() - t0
                await wait_client(client, lambda: client.status.state is FeedState.LIVE, timeout=120,
                                  what="live after restart")
                times.append(time.perf_counter() - t0)
                live_since = time.monotonic()
                starts.append(listening)
                attempts.append(client.counters.reconnects - reconnects_before - 1)
                assert restarted.epoch == server.epoch
            out["feed.reconnect_to_live_s"] = {
                "value": round(statistics.median(times), 3), "unit": "s", "target": "<= 2",
                "extra": {
                    "rounds": len(times),
                    "p50_s": round(statistics.median(times), 3),
                    "max_s": round(max(times), 3),
                    "all_s": [round(t, 3) for t in times],
                    "server_start_to_listening_s": [round(t, 3) for t in starts],
                    "listening_to_live_s": [round(t - s, 3) for t, s in zip(times, starts, strict=True)],
                    "refused_connects_per_round": attempts,
                    "hold_before_kill_s": hold,
                    "client": f"reconnect_min_s={client.settings.reconnect_min_s}, "
                    f"max {client.settings.reconnect_max_s}, full jitter",
                    "server_head": head,
                    "gaps": client.counters.gaps, "duplicates": client.counters.duplicates,
                },
            }
    finally:
        for s in servers:
            with contextlib.suppress(Exception):
                s.kill()
    return out


# --- 3: fan-out ----------------------------------------------------------------------------------


async def _fanout(tmp: Path) -> dict[str, dict[str, Any]]:
    n = int(_env_float("BENCH_FANOUT_EVENTS", 20_000))
    clients = 50
    server = ServerProcess(tmp / "fanout.sqlite3", heartbeat=0.5)
    await asyncio.to_thread(server.start)
    try:
        assert server.proc is not None
        ps = psutil.Process(server.proc.pid)
        async with raw_readers(server.url, clients) as readers:
            for r in readers:
                r.reset(n)
            me = psutil.Process()
            cpu0, my0 = ps.cpu_times(), me.cpu_times()
            t0 = time.perf_counter()
            head = await admin_inject(server.url, incident_bodies(n, "fo"), ADMIN)
            inject_s = time.perf_counter() - t0
            try:
                async with asyncio.timeout(600):
                    await asyncio.gather(*(r.done.wait() for r in readers))
            except TimeoutError:
                pass
            elapsed = time.perf_counter() - t0
            cpu1, my1 = ps.cpu_times(), me.cpu_times()
            complete = sum(r.events >= n for r in readers)
            cut = sum(1 for r in readers for c in r.closes if c is not None)
        per_client = n / elapsed
        return {
            "feed.fanout_50_clients_events_per_s": {
                "value": round(per_client, 1),
                "unit": "events/s to each of 50",
                "target": ">= 5000",
                "extra": {
                    "clients": clients,
                    "protocol": "1.1: queued events batched in events frames",
                    "events": n,
                    "head": head,
                    "elapsed_s": round(elapsed, 3),
                    "delivered_total_events_per_s": round(
                        sum(min(r.events, n) for r in readers) / elapsed, 1),
                    "clients_complete": complete,
                    "clients_closed": cut,
                    "inject_acked_s": round(inject_s, 3),
                    "server_cpu_s": round((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system), 2),
                    "reader_process_cpu_s": round((my1.user + my1.system) - (my0.user + my0.system), 2),
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                    "readers": "raw websocket readers in the bench process counting event frames "
                               "(no JSON decode, no journal): a journaling client each would "
                               "measure 50 SQLite writers, not the server's fan-out",
                },
            }
        }
    finally:
        server.kill()


# --- 4: memory soak ---------------------------------------------------------------------------------


async def _soak(tmp: Path) -> dict[str, dict[str, Any]]:
    soak_s = _env_float("BENCH_SOAK_S", 600)
    interval = max(0.5, min(5.0, soak_s / 60))
    clients = 50
    server = ServerProcess(tmp / "soak.sqlite3", scenario="mixed", speed=60, heartbeat=2.0)
    await asyncio.to_thread(server.start)
    try:
        assert server.proc is not None
        ps = psutil.Process(server.proc.pid)
        async with raw_readers(server.url, clients, reconnect=True) as readers:
            samples: list[tuple[float, float]] = []
            t0 = time.monotonic()
            cpu0 = ps.cpu_times()
            while True:
                now = time.monotonic() - t0
                samples.append((now, _rss_mb(ps)))
                if now >= soak_s:
                    break
                await asyncio.sleep(min(interval, soak_s - now))
            cpu1 = ps.cpu_times()
            events = [r.events for r in readers]
            closes = [c for r in readers for c in r.closes]
            connects = sum(r.connects for r in readers)
        warm = soak_s * 0.2
        after = [s for s in samples if s[0] >= warm]
        base_mb = after[0][1]
        last_mb = samples[-1][1]
        growth = (last_mb - base_mb) / base_mb * 100
        # Least-squares slope over the post-warm-up samples, as MB per hour.
        xs = [s[0] for s in after]
        ys = [s[1] for s in after]
        slope = 0.0
        if len(after) >= 2:
            mx, my = statistics.fmean(xs), statistics.fmean(ys)
            den = sum((x - mx) ** 2 for x in xs)
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0
        extra = {
            "soak_s": soak_s,
            "samples": len(samples),
            "sample_interval_s": interval,
            "warmup_s": warm,
            "first_mb": round(samples[0][1], 1),
            "after_warmup_mb": round(base_mb, 1),
            "last_mb": round(last_mb, 1),
            "max_mb": round(max(s[1] for s in samples), 1),
            "slope_mb_per_h": round(slope * 3600, 2),
            "events_per_reader_min": min(events),
            "events_per_reader_max": max(events),
            "server_events_per_s": round(max(events) / soak_s, 1),
            "reader_connects": connects,
            "reader_closes": closes[:20],
            "server_cpu_pct": round(
                ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / soak_s * 100, 1),
            "server": "commandcenter serve --scenario mixed --speed 60 --rate 6 --heartbeat 2",
            "readers": "50 raw websocket readers in the bench process",
        }
        return {
            "feed.server_rss_growth_50_clients_pct": {
                "value": round(growth, 2), "unit": "%", "target": "<= 5", "extra": extra,
            },
            "feed.server_rss_mb_50_clients": {
                "value": round(last_mb, 1), "unit": "MB", "target": "",
                "extra": {"soak_s": soak_s, "max_mb": round(max(s[1] for s in samples), 1)},
            },
        }
    finally:
        server.kill()


async def _run_all() -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-feed-") as d:
        tmp = Path(d)
        for part in (_loopback_and_reconnect, _fanout, _soak):
            started = time.perf_counter()
            results.update(await part(tmp))
            print(f"  {part.__name__.strip('_')}: {time.perf_counter() - started:.1f} s", flush=True)
    return results


def run() -> dict[str, dict[str, Any]]:
    return asyncio.run(_run_all())


if __name__ == "__main__":  # pragma: no cover - a quick look without bench/__main__
    import json

    print(json.dumps(run(), indent=2))
