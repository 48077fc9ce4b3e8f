"""Crash-test helper: appends event batches to a journal until it is killed.

Usage: journal_writer_child.py DB BATCH SNAPSHOT_EVERY

Resumes after the journal's last position (epoch ``crash-1``) and prints the
last seq of each batch on its own line right after the commit returned, so every
printed seq is committed. Every SNAPSHOT_EVERY batches it also writes a snapshot,
so a SIGKILL can land in the middle of an append, a snapshot or a checkpoint.
Event bodies are a few KB so that the WAL grows and autocheckpoints run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from commandcenter.core import protocol as p
from commandcenter.core.model import Incident, IncidentTimes, Location
from commandcenter.storage.journal import Journal

EPOCH = "crash-1"
T0 = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)


def event(seq: int) -> tuple[p.Event, bytes]:
    incident = Incident(
        id=f"inc-{seq % 997}",
        ticket=f"OKI-{seq:06d}",
        version=seq,
        category="banjir",
        priority="medium",
        status="received",
        location=Location(kecamatan="Kayuagung"),
        description=f"air naik {seq} " * 200,
        times=IncidentTimes(received=T0),
    )
    ev = p.Event(epoch=EPOCH, seq=seq, id=f"{EPOCH}-{seq}", ts=T0, body=p.IncidentUpserted(incident=incident))
    return ev, p.encode(ev)


async def main(db: str, batch: int, snapshot_every: int) -> None:
    async with await Journal.open(db) as journal:
        _, seq = await journal.last_position()
        n = 0
        while True:
            events = [event(s) for s in range(seq + 1, seq + 1 + batch)]
            await journal.append(events)
            seq += batch
            sys.stdout.write(f"{seq}\n")
            sys.stdout.flush()
            n += 1
            if n % snapshot_every == 0:
                await journal.write_snapshot(EPOCH, seq, b"state-upto-%d" % seq)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
