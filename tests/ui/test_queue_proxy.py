"""The queue's sorted and filtered view (IncidentQueueProxy) against a brute-force
recount, through a seeded random walk of batches, filters and sorts, with a real
QTableView attached whose selection must follow its incident."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from PySide6.QtCore import QAbstractItemModel, QItemSelectionModel, QModelIndex, Qt
from PySide6.QtWidgets import QTableView

from commandcenter.config import Config
from commandcenter.core import protocol as p
from commandcenter.core.model import INCIDENT_STATUSES, PRIORITY_RANK, Incident, IncidentTimes, Location
from commandcenter.core.store import ChangeSet, Store
from commandcenter.core.timeutil import FakeClock
from tests.factories import make_incident
from ui.views.queue import (
    COL_AGE,
    COL_CATEGORY,
    COL_PRIORITY,
    COL_STATUS,
    FINE_MOVES,
    IncidentQueueModel,
    IncidentQueueProxy,
)

T0 = dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC)
_seq = itertools.count(1)
KECAMATAN = ("Kayuagung", "Pampangan", "Tulung Selapan", "Lempuing", "Mesuji")
CATEGORIES = ("banjir", "kebakaran_lahan", "kecelakaan_lalu_lintas", "medis")
SORTS = (
    (COL_PRIORITY, Qt.SortOrder.AscendingOrder),
    (COL_AGE, Qt.SortOrder.DescendingOrder),
    (COL_STATUS, Qt.SortOrder.DescendingOrder),
    (COL_AGE, Qt.SortOrder.AscendingOrder),
    (COL_CATEGORY, Qt.SortOrder.DescendingOrder),
    (COL_PRIORITY, Qt.SortOrder.DescendingOrder),
)


def event(body: p.EventBody) -> p.Event:
    n = next(_seq)
    return p.Event(epoch="proxy-walk", seq=n, id=f"w-{n}", ts=T0, body=body)


def brute_order(
    proxy: IncidentQueueProxy, model: IncidentQueueModel, store: Store, config: Config
) -> list[str]:
    """What the view must show, computed from scratch and independently of the proxy's keys."""
    col, order = proxy.sort_column(), proxy.sort_order()
    desc = order == Qt.SortOrder.DescendingOrder
    shown = [i for i in store.incidents.values() if model.row_of(i.id) >= 0 and proxy.accepts(i)]

    def tie(i: Incident) -> tuple[Any, ...]:
        return (PRIORITY_RANK[i.priority], i.times.received, i.id)

    if col == COL_PRIORITY:
        sign = -1 if desc else 1  # descending: the newest first among equals; ids ascending
        ranked = sorted(
            shown, key=lambda i: (sign * PRIORITY_RANK[i.priority], sign * i.times.received.timestamp(), i.id)
        )
    elif col == COL_AGE:
        ranked = sorted(
            shown, key=lambda i: (-i.times.received.timestamp() if desc else i.times.received, *tie(i))
        )
    elif col == COL_STATUS:
        ranked = sorted(
            shown, key=lambda i: ((-1 if desc else 1) * INCIDENT_STATUSES.index(i.status), *tie(i))
        )
    else:  # category, by its name; descending names, ties as always

        def name(i: Incident) -> str:
            return str(model.strings.category_name(config, i.category)).casefold()

        by_tie = sorted(shown, key=tie)
        ranked = sorted(by_tie, key=name, reverse=desc)  # stable: ties keep priority, then oldest
    return [i.id for i in ranked]


class Structural:
    def __init__(self, model: QAbstractItemModel) -> None:
        self.count = 0
        for sig in (model.rowsInserted, model.rowsRemoved, model.layoutChanged, model.modelReset):
            sig.connect(self._bump)

    def _bump(self, *_: Any) -> None:
        self.count += 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_batches_filters_and_sorts_match_a_full_recount(
    qtbot: Any, qtmodeltester: Any, config: Config, seed: int
) -> None:
    rnd = random.Random(seed)
    clock = FakeClock(T0)
    store = Store(clock=clock)

    def new_incident() -> Incident:
        status = rnd.choice(("received", "verified", "forwarded", "in_handling", "closed"))
        received = T0 - dt.timedelta(seconds=rnd.randrange(0, 4 * 3600))
        times = IncidentTimes(
            received=received, closed=received + dt.timedelta(minutes=5) if status == "closed" else None
        )
        return make_incident(
            priority=rnd.choice(("high", "medium", "low")),
            status=status,
            category=rnd.choice(CATEGORIES),
            location=Location(kecamatan=rnd.choice(KECAMATAN), desa=f"Desa {rnd.randrange(50)}"),
            times=times,
            tasks=[],
        )

    store.apply_many(event(p.IncidentUpserted(incident=new_incident())) for _ in range(300))
    model = IncidentQueueModel(store, config)
    proxy = IncidentQueueProxy(model)
    table = QTableView()
    qtbot.addWidget(table)
    table.setModel(proxy)
    table.resize(900, 600)
    table.show()
    signals = Structural(proxy)

    def select_some() -> str | None:
        if proxy.rowCount() == 0:
            return None
        row = rnd.randrange(proxy.rowCount())
        table.selectionModel().setCurrentIndex(
            proxy.index(row, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
        )
        return proxy.incident_id(row)

    def add() -> ChangeSet:
        return store.apply_many(
            event(p.IncidentUpserted(incident=new_incident()))
            for _ in range(rnd.choice((1, 3, FINE_MOVES + 5, 60)))
        )

    def update() -> ChangeSet:
        picked = rnd.sample(sorted(store.incidents), min(len(store.incidents), rnd.choice((1, 4, 30))))
        events = []
        for iid in picked:
            inc = store.incidents[iid]
            change = rnd.choice(("priority", "status", "victims", "close"))
            if change == "priority":
                fields: dict[str, Any] = {"priority": rnd.choice(("high", "medium", "low"))}
            elif change == "status" and inc.active:
                fields = {"status": rnd.choice(("received", "verified", "forwarded", "in_handling"))}
            elif change == "close" and inc.active:
                fields = {"status": "closed", "times": msgspec.structs.replace(inc.times, closed=clock())}
            else:
                fields = {"victims": inc.victims + 1}
            events.append(
                event(
                    p.IncidentUpserted(
                        incident=msgspec.structs.replace(inc, version=inc.version + 1, **fields)
                    )
                )
            )
        return store.apply_many(events)

    def prune() -> ChangeSet:
        clock.advance(rnd.choice((60, 3600)))
        return store.prune(1800)

    filters: list[Callable[[], None]] = [
        lambda: proxy.set_active_only(not proxy.active_only),
        lambda: proxy.set_priorities(rnd.choice(((), ("high",), ("medium", "low")))),
        lambda: proxy.set_kecamatan(rnd.choice(((), KECAMATAN[:2]))),
        lambda: proxy.set_categories(rnd.choice(((), CATEGORIES[:1]))),
        lambda: proxy.set_search_text(rnd.choice(("", "desa 1", "KAYU"))),
    ]

    for step in range(120):
        selected = select_some()
        signals.count = 0
        kind = rnd.choice(("add", "add", "update", "update", "prune", "filter", "sort"))
        if kind == "filter":
            rnd.choice(filters)()
        elif kind == "sort":
            proxy.sort(*rnd.choice(SORTS))
        else:
            model.apply_changes({"add": add, "update": update, "prune": prune}[kind]())
        shown = [proxy.incident_id(r) for r in range(proxy.rowCount())]
        assert shown == brute_order(proxy, model, store, config), (
            seed,
            step,
            kind,
            proxy.sort_column(),
            proxy.sort_order(),
        )
        assert all(proxy.proxy_row_of(iid) == r for r, iid in enumerate(shown)), (seed, step, kind)
        if kind in ("add", "update", "prune"):
            # A batch is either a few single-row signals or append + layout + removal.
            assert signals.count <= max(3, FINE_MOVES), (seed, step, kind, signals.count)
        current = table.selectionModel().currentIndex()
        if selected is not None and selected in shown:
            assert current.isValid() and proxy.incident_id(current.row()) == selected, (seed, step, kind)
            assert table.selectionModel().isRowSelected(current.row(), QModelIndex())
        elif selected is not None:
            assert not current.isValid() or proxy.incident_id(current.row()) != selected
    qtmodeltester.check(proxy)  # the model contract, once at the end (after every step it costs minutes)


def test_a_burst_into_a_large_queue_is_three_signals(qtbot: Any, config: Config) -> None:
    clock = FakeClock(T0)
    store = Store(clock=clock)
    rnd = random.Random(7)

    def fresh() -> Incident:
        received = T0 - dt.timedelta(seconds=rnd.uniform(0, 7200))
        return make_incident(
            priority=rnd.choice(("high", "medium", "low")),
            status="verified",
            tasks=[],
            times=IncidentTimes(received=received),
        )

    store.apply_many(event(p.IncidentUpserted(incident=fresh())) for _ in range(5000))
    model = IncidentQueueModel(store, config)
    proxy = IncidentQueueProxy(model)
    kinds: list[str] = []
    proxy.rowsInserted.connect(lambda *_: kinds.append("inserted"))
    proxy.rowsRemoved.connect(lambda *_: kinds.append("removed"))
    proxy.layoutChanged.connect(lambda *_: kinds.append("layout"))
    proxy.modelReset.connect(lambda *_: kinds.append("reset"))
    old = {proxy.incident_id(r) for r in range(proxy.rowCount())}
    cs = store.apply_many(event(p.IncidentUpserted(incident=fresh())) for _ in range(250))
    closing = [store.incidents[i] for i in rnd.sample(sorted(old), 40)]
    cs = cs.merge(
        store.apply_many(
            event(
                p.IncidentUpserted(
                    incident=msgspec.structs.replace(
                        inc,
                        version=inc.version + 1,
                        status="closed",
                        times=msgspec.structs.replace(inc.times, closed=clock()),
                    )
                )
            )
            for inc in closing
        )
    )
    model.apply_changes(cs)
    # QSortFilterProxyModel gave one rowsInserted per new row's place (~250 here).
    assert kinds == ["inserted", "layout", "removed"]
    assert proxy.rowCount() == 5000 + 250 - 40
    assert [proxy.incident_id(r) for r in range(proxy.rowCount())] == brute_order(proxy, model, store, config)


def test_a_burst_that_sorts_after_every_row_is_one_append(qtbot: Any, config: Config) -> None:
    """New incidents that all sort after the last row (the newest of the lowest priority
    shown, as in a burst of routine calls) are one rowsInserted at the end, without a
    layout change: that would have the table and its header repaint every row shown,
    none of which moved. A selected row stays selected."""
    clock = FakeClock(T0)
    store = Store(clock=clock)

    def fresh(seconds_ago: float) -> Incident:
        received = T0 - dt.timedelta(seconds=seconds_ago)
        return make_incident(
            priority="low", status="verified", tasks=[], times=IncidentTimes(received=received)
        )

    store.apply_many(event(p.IncidentUpserted(incident=fresh(3600 - i))) for i in range(300))
    model = IncidentQueueModel(store, config)
    proxy = IncidentQueueProxy(model)
    table = QTableView()
    table.setModel(proxy)
    table.selectRow(5)
    selected = proxy.incident_id(5)
    kinds: list[tuple[Any, ...]] = []
    proxy.rowsInserted.connect(lambda _p, a, b: kinds.append(("inserted", a, b)))
    proxy.rowsRemoved.connect(lambda *_: kinds.append(("removed",)))
    proxy.layoutChanged.connect(lambda *_: kinds.append(("layout",)))
    proxy.modelReset.connect(lambda *_: kinds.append(("reset",)))
    # Given in a shuffled order: the proxy sorts them before appending.
    cs = store.apply_many(
        event(p.IncidentUpserted(incident=fresh(s))) for s in random.Random(3).sample(range(100), 100)
    )
    model.apply_changes(cs)
    assert kinds == [("inserted", 300, 399)]
    assert [proxy.incident_id(r) for r in range(proxy.rowCount())] == brute_order(proxy, model, store, config)
    assert table.selectionModel().isRowSelected(5, QModelIndex()) and proxy.incident_id(5) == selected
    # One that sorts before the tail still takes the general path (append, layout change).
    kinds.clear()
    model.apply_changes(
        store.apply_many(event(p.IncidentUpserted(incident=fresh(s))) for s in (7200, *range(20)))
    )
    assert [k[0] for k in kinds] == ["inserted", "layout"]
    assert [proxy.incident_id(r) for r in range(proxy.rowCount())] == brute_order(proxy, model, store, config)
    table.deleteLater()
