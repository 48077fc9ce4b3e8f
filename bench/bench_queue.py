"""Queue model benchmark: one change set of 100 updated incidents applied to the
model and its sorting/filtering proxy holding 20,000 rows.

Run alone with ``python -m bench.bench_queue``; ``python -m bench ui`` does not
pick it up (the group module is bench_ui), so the lead may import it there.
"""

from __future__ import annotations

import os

# Before any Qt import: no display on benchmark machines.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import datetime as dt
import random
import statistics
import time
from typing import Any

import msgspec

from commandcenter.config import load_defaults
from commandcenter.core import protocol as p
from commandcenter.core.model import AgencyTask, Incident, IncidentTimes, Location
from commandcenter.core.store import Store
from commandcenter.core.timeutil import FakeClock

ROWS = 20_000
BATCH = 100
REPEATS = 30
_T0 = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)
_STATUSES = ("received", "verified", "forwarded", "in_handling")
_PRIORITIES = ("high", "medium", "low", "low", "low")


def _incident(n: int, rng: random.Random) -> Incident:
    return Incident(
        id=f"inc-{n}",
        ticket=f"OKI-20261127-{n:05d}",
        version=1,
        category=rng.choice(("kebakaran", "banjir", "medis", "pohon_tumbang")),
        priority=rng.choice(_PRIORITIES),  # type: ignore[arg-type]
        status=rng.choice(_STATUSES),  # type: ignore[arg-type]
        location=Location(kecamatan="Jejawi", desa=f"Desa {n % 97}"),
        tasks=[AgencyTask(agency="BPBD", status="forwarded")],
        times=IncidentTimes(received=_T0 + dt.timedelta(seconds=n)),
    )


def _event(seq: int, inc: Incident) -> p.Event:
    return p.Event(epoch="bench", seq=seq, id=f"b-{seq}", ts=_T0, body=p.IncidentUpserted(incident=inc))


def run() -> dict[str, dict[str, Any]]:
    from PySide6.QtWidgets import QApplication

    from ui.views.queue import IncidentQueueModel, IncidentQueueProxy

    app = QApplication.instance() or QApplication([])
    rng = random.Random(112)
    clock = FakeClock(_T0 + dt.timedelta(hours=6))
    store = Store(clock=clock)
    store.apply_many(_event(n + 1, _incident(n, rng)) for n in range(ROWS))
    config = load_defaults()
    started = time.perf_counter()
    model = IncidentQueueModel(store, config)
    proxy = IncidentQueueProxy(model)
    proxy.set_active_only(False)  # every row stays in the proxy: the worst case
    build_ms = (time.perf_counter() - started) * 1000
    seq = ROWS + 1
    samples: list[float] = []
    tick: list[float] = []
    for _ in range(REPEATS):
        events = []
        for iid in rng.sample(sorted(store.incidents), BATCH):
            inc = store.incidents[iid]
            changed = msgspec.structs.replace(
                inc, version=inc.version + 1, status=rng.choice(_STATUSES), victims=rng.randrange(5)
            )
            events.append(_event(seq, changed))
            seq += 1
        cs = store.apply_many(events)  # the store's share is measured by bench_core
        started = time.perf_counter()
        model.apply_changes(cs)
        samples.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        model.refresh_time()
        tick.append((time.perf_counter() - started) * 1000)
    assert proxy.rowCount() == ROWS
    del proxy, model
    app.processEvents()
    return {
        "ui.queue_apply_20k_update_ms": {
            "value": statistics.median(samples),
            "unit": "ms",
            "target": "<= 16",
            "extra": {
                "rows": ROWS,
                "updated_per_changeset": BATCH,
                "repeats": REPEATS,
                "max_ms": round(max(samples), 2),
                "build_model_and_sort_ms": round(build_ms, 1),
                "tick_refresh_median_ms": round(statistics.median(tick), 3),
            },
        }
    }


if __name__ == "__main__":
    for name, m in run().items():
        print(name, m)
