"""journal.restore_10k_s: rebuild the store from a journal of 10,000 incidents and
200,000 events (periodic snapshots, as the feed client writes them)."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from commandcenter.core import protocol as p
from commandcenter.core.model import IncidentTimes, Location
from commandcenter.core.store import Store, decode_state, encode_state
from commandcenter.storage.journal import Journal
from tests.factories import make_incident

START = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)
INCIDENTS = 10_000
EVENTS = 200_000
SNAPSHOT_EVERY = 5_000


def _event(seq: int) -> p.Event:
    i = seq % INCIDENTS
    version = seq // INCIDENTS + 1
    received = START + dt.timedelta(seconds=i)
    inc = make_incident(
        id=f"inc-{i}",
        ticket=f"OKI-{i:06d}",
        version=version,
        status="in_handling" if version > 2 else "received",
        location=Location(
            lat=-3.3 + (i % 100) / 1000, lon=105.0 + (i % 77) / 1000, kecamatan="Pampangan", desa="Kandis"
        ),
        times=IncidentTimes(
            received=received, dispatched=received + dt.timedelta(minutes=5) if version > 2 else None
        ),
        description="Banjir setinggi 60 cm masuk rumah warga, butuh perahu evakuasi",
    )
    return p.Event(epoch="bench", seq=seq, id=f"e{seq}", ts=received, body=p.IncidentUpserted(incident=inc))


async def _build(path: Path) -> None:
    journal = await Journal.open(path, synchronous="NORMAL")
    store = Store(clock=lambda: START)
    batch: list[tuple[p.Event, bytes]] = []
    for seq in range(1, EVENTS + 1):
        ev = _event(seq)
        batch.append((ev, p.encode(ev)))
        if len(batch) == 1000:
            await journal.append(batch)
            store.apply_many([e for e, _ in batch])
            batch = []
        if seq % SNAPSHOT_EVERY == 0:
            await journal.write_snapshot("bench", seq, encode_state(store.to_state()))
    # A tail past the last snapshot, as after a crash.
    for seq in range(EVENTS + 1, EVENTS + 1 + SNAPSHOT_EVERY - 1):
        ev = _event(seq)
        batch.append((ev, p.encode(ev)))
    await journal.append(batch)
    await journal.close()


async def _restore(path: Path) -> tuple[float, int, int]:
    gc.collect()
    t0 = time.perf_counter()
    journal = await Journal.open(path)
    store = Store(clock=lambda: START)

    def load(data: bytes) -> None:
        store.load_state(decode_state(data))

    _, seq, tail = await journal.restore(load, store.apply_many)
    elapsed = time.perf_counter() - t0
    await journal.close()
    assert len(store.incidents) == INCIDENTS, len(store.incidents)
    return elapsed, seq, tail


async def _replay_all(path: Path) -> float:
    """Worst case for comparison: no snapshot at all, every event replayed."""
    journal = await Journal.open(path)
    store = Store(clock=lambda: START)
    t0 = time.perf_counter()
    batch: list[p.Event] = []
    async for _, data in journal.iter_events():
        batch.append(p.decode_event(data))
        if len(batch) >= 5000:
            store.apply_many(batch)
            batch = []
    store.apply_many(batch)
    elapsed = time.perf_counter() - t0
    await journal.close()
    return elapsed


def run() -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.sqlite3"
        t0 = time.perf_counter()
        asyncio.run(_build(path))
        build_s = time.perf_counter() - t0
        times = []
        for _ in range(5):
            elapsed, seq, tail = asyncio.run(_restore(path))
            times.append(elapsed)
        times.sort()
        replay_s = asyncio.run(_replay_all(path))
        size_mb = path.stat().st_size / 1e6
    return {
        "journal.restore_10k_s": {
            "value": times[len(times) // 2],
            "unit": "s",
            "target": "<= 1",
            "extra": {
                "worst_of_5_s": round(times[-1], 3),
                "tail_events": tail,
                "last_seq": seq,
                "file_mb": round(size_mb, 1),
                "build_s": round(build_s, 1),
                "replay_all_without_snapshot_s": round(replay_s, 2),
                "how": "open + latest snapshot decode/load + tail replay into a new Store",
            },
        }
    }
