"""replay.jump_24h_s and report.day_pdf_s on a 24-hour journal of 200,000 events from the OKI
simulator (a flood day), written as a wall writes it."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from commandcenter.core import protocol as p
from commandcenter.refserver.simulator import Simulator
from commandcenter.storage.journal import Journal

START = dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.UTC)  # 00:00 WIB
EVENTS = 200_000


async def _build(path: Path) -> int:
    sim = Simulator(scenario="flood", rate_per_min=4.0, seed=24, start=START)
    bodies = [(START, b) for b in sim.initial_bodies()] + sim.advance_to(START + dt.timedelta(hours=24))
    if len(bodies) < EVENTS:
        raise RuntimeError(f"the simulator made {len(bodies)} events in 24 h, fewer than {EVENTS}")
    # Spread the first EVENTS events over the day so the journal spans 24 hours.
    bodies = bodies[:EVENTS]
    step = 86400 / EVENTS
    events = [
        p.Event(
            epoch="bench",
            seq=i + 1,
            id=f"e{i + 1}",
            ts=max(ts, START + dt.timedelta(seconds=i * step)),
            body=b,
        )
        for i, (ts, b) in enumerate(bodies)
    ]
    # Times must not go backwards within the journal (a server stamps events as it sends them).
    for i in range(1, len(events)):
        if events[i].ts < events[i - 1].ts:
            events[i] = p.Event(
                epoch="bench", seq=events[i].seq, id=events[i].id, ts=events[i - 1].ts, body=events[i].body
            )
    journal = await Journal.open(path, synchronous="NORMAL")
    for i in range(0, len(events), 2000):
        await journal.append([(ev, p.encode(ev)) for ev in events[i : i + 2000]])
    await journal.close()
    return len(events)


async def _jumps(path: Path) -> tuple[float, list[float]]:
    from commandcenter.history.timeline import Timeline

    t0 = time.perf_counter()
    timeline = await Timeline.open(path)
    open_s = time.perf_counter() - t0
    assert timeline.start is not None and timeline.end is not None
    rng = random.Random(7)
    span = (timeline.end - timeline.start).total_seconds()
    times = []
    try:
        for _ in range(20):
            when = timeline.start + dt.timedelta(seconds=rng.uniform(0, span))
            t = time.perf_counter()
            await timeline.state_at(when)
            times.append(time.perf_counter() - t)
    finally:
        await timeline.close()
    return open_s, sorted(times)


def _report(path: Path, out: Path) -> float:
    import subprocess
    import sys

    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "commandcenter.cli", "report", "--db", str(path), "--from", "2026-11-28T00:00",
         "--to", "2026-11-28T23:59:59", "--out", str(out)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return time.perf_counter() - t0


def run() -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wall-journal.sqlite3"
        n = asyncio.run(_build(path))
        open_s, jumps = asyncio.run(_jumps(path))
        reports = sorted(_report(path, Path(tmp) / f"lapsit-{i}.pdf") for i in range(3))
        size_mb = path.stat().st_size / 1e6
    return {
        "replay.jump_24h_s": {
            "value": jumps[-1],
            "unit": "s",
            "target": "<= 1",
            "extra": {
                "median_s": round(jumps[len(jumps) // 2], 3),
                "jumps": len(jumps),
                "events": n,
                "journal_mb": round(size_mb, 1),
                "open_s": round(open_s, 2),
                "how": "the slowest of 20 Timeline.state_at jumps to random moments of a 24-hour journal; "
                "open_s is the one-time read that builds the checkpoints",
            },
        },
        "report.day_pdf_s": {
            "value": reports[len(reports) // 2],
            "unit": "s",
            "target": "<= 10",
            "extra": {
                "worst_s": round(reports[-1], 2),
                "events": n,
                "how": "`commandcenter report` for the whole day as a subprocess (start, journal read, "
                "figures, PDF), median of 3",
            },
        },
    }
