"""The operations board: queue model and proxy, agency tiles, the whole view."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QStyleOptionViewItem

from commandcenter.config import Config
from commandcenter.core import protocol as p
from commandcenter.core.model import (
    ACTIVE_STATUSES,
    PRIORITY_RANK,
    Acknowledgement,
    AgencyTask,
    Alert,
    Incident,
    IncidentTimes,
    Location,
    Unit,
)
from commandcenter.core.sla import STAGES
from commandcenter.core.store import ChangeSet, Store
from commandcenter.core.timeutil import FakeClock
from tests.factories import make_incident
from tests.ui.conftest import T_START
from ui.support import theme
from ui.views.agencies import AgencyBoardWidget
from ui.views.queue import (
    COL_ACK,
    COL_AGE,
    COL_PRIORITY,
    COL_STATUS,
    COLUMNS,
    NEW_ROW_BG,
    PRIORITY_TEXT,
    ROW_BACKGROUNDS,
    SLA_BREACH_BG,
    SLA_WARN_BG,
    IncidentIdRole,
    IncidentQueueModel,
    IncidentQueueProxy,
    QueueDelegate,
    SlaLevelRole,
    SortKeyRole,
)

BG = Qt.ItemDataRole.BackgroundRole
_seq = itertools.count(1_000_000)


def event(body: p.EventBody) -> p.Event:
    n = next(_seq)
    return p.Event(epoch="test-epoch", seq=n, id=f"t-{n}", ts=T_START, body=body)


def upsert(store: Store, inc: Incident) -> ChangeSet:
    return store.apply(event(p.IncidentUpserted(incident=inc)))


def bumped(inc: Incident, **changes: Any) -> Incident:
    return msgspec.structs.replace(inc, version=inc.version + 1, **changes)


class Recorder:
    """Every structural and data signal of a model, in order."""

    def __init__(self, model: Any) -> None:
        self.calls: list[tuple[Any, ...]] = []
        model.dataChanged.connect(
            lambda tl, br, roles=(): self.calls.append(
                ("data", tl.row(), br.row(), tl.column(), br.column(), list(roles))
            )
        )
        model.rowsInserted.connect(lambda _p, a, b: self.calls.append(("inserted", a, b)))
        model.rowsRemoved.connect(lambda _p, a, b: self.calls.append(("removed", a, b)))
        model.modelReset.connect(lambda: self.calls.append(("reset",)))
        model.layoutChanged.connect(lambda *a: self.calls.append(("layout",)))

    def kinds(self) -> list[str]:
        return [c[0] for c in self.calls]

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def model(qapp: Any, store: Store, config: Config) -> Iterator[IncidentQueueModel]:
    m = IncidentQueueModel(store, config)
    yield m
    m.deleteLater()


def brush_color(value: Any) -> str | None:
    return None if value is None else value.color().name()


def row_of(model: IncidentQueueModel, iid: str) -> int:
    row = model.row_of(iid)
    assert row >= 0
    return row


def fresh_incident(clock: FakeClock, age_s: float = 0.0, **overrides: Any) -> Incident:
    received = clock() - dt.timedelta(seconds=age_s)
    fields: dict[str, Any] = {"status": "verified", "times": IncidentTimes(received=received), "tasks": []}
    fields.update(overrides)
    return make_incident(**fields)


# --- model contract -----------------------------------------------------------------------------


def test_model_and_proxy_pass_the_model_tester(qtmodeltester: Any, model: IncidentQueueModel) -> None:
    assert model.rowCount() > 100
    assert model.columnCount() == len(COLUMNS)
    qtmodeltester.check(model)
    proxy = IncidentQueueProxy(model)
    assert 0 < proxy.rowCount() < model.rowCount()  # closed incidents filtered out
    qtmodeltester.check(proxy)


def test_cells_have_text_sort_keys_and_ids(model: IncidentQueueModel, store: Store) -> None:
    for row in range(model.rowCount()):
        inc = store.incidents[model.incident_id(row)]
        assert model.index(row, 0).data(IncidentIdRole) == inc.id
        assert (
            model.index(row, COL_PRIORITY).data()
            == {"high": "TINGGI", "medium": "SEDANG", "low": "RENDAH"}[inc.priority]
        )
        # Priority is a word plus a shape, never colour alone.
        assert not model.index(row, COL_PRIORITY).data(Qt.ItemDataRole.DecorationRole).isNull()
        for col in range(len(COLUMNS)):
            assert isinstance(model.index(row, col).data(), str)
            assert model.index(row, col).data(SortKeyRole) is not None
    assert {model.index(r, COL_ACK).data() for r in range(model.rowCount())} == {"Belum"}


def test_row_colours_keep_seven_to_one() -> None:
    for bg in ROW_BACKGROUNDS:
        assert theme.contrast_ratio(theme.TEXT, bg) >= 7.0, bg
    for fg in PRIORITY_TEXT.values():
        for bg in (theme.BG_PANEL, theme.BG_RAISED):
            assert theme.contrast_ratio(fg, bg) >= 7.0, (fg, bg)


# --- change sets become row signals ----------------------------------------------------------------


def test_an_update_changes_exactly_its_row(model: IncidentQueueModel, store: Store) -> None:
    rec = Recorder(model)
    inc = next(i for i in store.incidents.values() if i.status == "forwarded")
    row = row_of(model, inc.id)
    n = model.rowCount()
    cs = upsert(store, bumped(inc, status="in_handling", victims=3))
    model.apply_changes(cs)
    assert rec.calls == [("data", row, row, 0, len(COLUMNS) - 1, [])]
    assert model.rowCount() == n
    assert model.index(row, COL_STATUS).data() == "Dalam Penanganan"


def test_a_new_incident_is_appended_and_highlighted_for_ten_seconds(
    model: IncidentQueueModel, store: Store, clock: FakeClock
) -> None:
    rec = Recorder(model)
    n = model.rowCount()
    inc = fresh_incident(clock)
    model.apply_changes(upsert(store, inc))
    assert rec.calls == [("inserted", n, n)]
    assert model.incident_id(n) == inc.id
    assert brush_color(model.index(n, 3).data(BG)) == NEW_ROW_BG
    rec.clear()
    clock.advance(5)
    model.refresh_time()
    assert brush_color(model.index(n, 3).data(BG)) == NEW_ROW_BG
    clock.advance(6)
    model.refresh_time()
    assert model.index(n, 3).data(BG) is None
    assert ("data", n, n, 0, len(COLUMNS) - 1) in [c[:5] for c in rec.calls]
    assert "reset" not in rec.kinds()


def test_replayed_events_change_only_their_rows(
    model: IncidentQueueModel, store: Store, clock: FakeClock
) -> None:
    """A mixed batch (updates, new incidents, a no-op duplicate) as the feed delivers it."""
    rec = Recorder(model)
    known = sorted(store.incidents.values(), key=lambda i: i.id)[:3]
    new = [fresh_incident(clock) for _ in range(2)]
    events = [event(p.IncidentUpserted(incident=bumped(i, victims=i.victims + 1))) for i in known]
    events += [event(p.IncidentUpserted(incident=i)) for i in new]
    events.append(event(p.IncidentUpserted(incident=known[0])))  # an old version: ignored
    n = model.rowCount()
    model.apply_changes(store.apply_many(events))
    # One signal per contiguous run of rows.
    data_rows = sorted(r for c in rec.calls if c[0] == "data" for r in range(c[1], c[2] + 1))
    assert data_rows == sorted(row_of(model, i.id) for i in known)
    assert [c for c in rec.calls if c[0] == "inserted"] == [("inserted", n, n + 1)]
    assert "reset" not in rec.kinds() and "removed" not in rec.kinds()


def test_pruning_removes_contiguous_runs_without_reset(
    model: IncidentQueueModel, store: Store, clock: FakeClock
) -> None:
    rec = Recorder(model)
    closed = {i.id for i in store.incidents.values() if i.status not in ACTIVE_STATUSES}
    assert closed
    n = model.rowCount()
    clock.advance(24 * 3600)
    model.apply_changes(store.prune(3600))
    assert "reset" not in rec.kinds()
    removed = sum(c[2] - c[1] + 1 for c in rec.calls if c[0] == "removed")
    assert removed == len(closed) == n - model.rowCount()
    assert {model.incident_id(r) for r in range(model.rowCount())} == set(store.incidents)
    assert all(model.row_of(model.incident_id(r)) == r for r in range(model.rowCount()))


def test_only_a_reset_resets(model: IncidentQueueModel, store: Store) -> None:
    rec = Recorder(model)
    model.apply_changes(store.load_state(store.to_state()))
    assert rec.kinds() == ["reset"]
    assert model.rowCount() == len(store.incidents)


def test_acknowledgement_fills_the_ack_column(model: IncidentQueueModel, store: Store) -> None:
    inc = next(iter(store.incidents.values()))
    row = row_of(model, inc.id)
    at = T_START + dt.timedelta(minutes=80)
    alert = Alert(id="al-1", kind="new_incident", priority="high", raised_at=at, incident_id=inc.id)
    ack = Acknowledgement(
        ack_id="ack-1", alert_id="al-1", operator="Sari", console="c1", at=at + dt.timedelta(seconds=30)
    )
    rec = Recorder(model)
    model.apply_changes(
        store.apply_many([event(p.AlertRaised(alert=alert)), event(p.AlertAcknowledged(ack=ack))])
    )
    assert rec.calls == [("data", row, row, COL_ACK, COL_ACK, [])]
    assert model.index(row, COL_ACK).data() == "Sari 09:20"  # 08:00 WIB + 80 min


# --- 20,000 incidents ----------------------------------------------------------------------------------


def test_one_update_among_20000_rows_is_one_row_signal(qapp: Any, config: Config) -> None:
    clock = FakeClock(dt.datetime(2026, 11, 27, 4, 0, tzinfo=dt.UTC))
    store = Store(clock=clock)
    base = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)
    prios = ("high", "medium", "low")
    store.apply_many(
        event(
            p.IncidentUpserted(
                incident=make_incident(
                    priority=prios[i % 3], times=IncidentTimes(received=base + dt.timedelta(seconds=i * 0.1))
                )
            )
        )
        for i in range(20_000)
    )
    model = IncidentQueueModel(store, config)
    proxy = IncidentQueueProxy(model)
    assert model.rowCount() == proxy.rowCount() == 20_000
    rec, prec = Recorder(model), Recorder(proxy)
    target = store.incidents[model.incident_id(12_345)]
    model.apply_changes(upsert(store, bumped(target, status="in_handling")))
    assert rec.calls == [("data", 12_345, 12_345, 0, len(COLUMNS) - 1, [])]
    assert "reset" not in prec.kinds()
    # The age refresh is one signal for the whole column, and the proxy neither
    # re-sorts nor re-filters for it.
    filtered = []
    proxy.accepts = lambda inc: filtered.append(inc) or True  # type: ignore[method-assign]
    prec.clear()
    model.refresh_time()
    assert prec.calls == [("data", 0, 19_999, COL_AGE, COL_AGE, prec.calls[0][5])]
    assert filtered == []
    bare = IncidentQueueModel(store, config)  # without a proxy: the model says it itself
    brec = Recorder(bare)
    bare.refresh_time()
    assert brec.calls == [("data", 0, 19_999, COL_AGE, COL_AGE, brec.calls[0][5])]


# --- service levels --------------------------------------------------------------------------------


def test_rows_turn_amber_then_red_against_the_category_target(
    model: IncidentQueueModel, store: Store, config: Config, clock: FakeClock, bridge: Any
) -> None:
    model.connect_bridge(bridge)
    forward_s = config.category("kebakaran").sla.forward_s
    inc = fresh_incident(clock, category="kebakaran")  # verified: waiting to be forwarded
    model.apply_changes(upsert(store, inc))
    row = row_of(model, inc.id)
    clock.advance(11)
    bridge.tick.emit()
    assert model.index(row, 0).data(BG) is None
    rec = Recorder(model)
    clock.advance(forward_s * 0.8 - 11)
    bridge.tick.emit()
    assert brush_color(model.index(row, 0).data(BG)) == SLA_WARN_BG
    assert ("data", row, row, 0, len(COLUMNS) - 1) in [c[:5] for c in rec.calls]
    assert not model.index(row, COL_AGE).data(Qt.ItemDataRole.DecorationRole).isNull()  # a shape too
    clock.advance(forward_s * 0.2 + 1)
    bridge.tick.emit()
    assert brush_color(model.index(row, 0).data(BG)) == SLA_BREACH_BG
    assert "Melewati target diteruskan ke OPD" in model.index(row, COL_AGE).data(Qt.ItemDataRole.ToolTipRole)
    # Forwarded: the next target (dispatch) is further away, so the row is calm again.
    model.apply_changes(upsert(store, bumped(inc, status="forwarded")))
    assert model.index(row, 0).data(BG) is None or brush_color(model.index(row, 0).data(BG)) != SLA_BREACH_BG


def test_an_incident_past_its_forward_target_has_the_breach_background(
    model: IncidentQueueModel, store: Store, config: Config, clock: FakeClock
) -> None:
    sla = config.category("banjir").sla
    late = fresh_incident(clock, sla.forward_s + 5, category="banjir")
    ok = fresh_incident(clock, sla.forward_s * 0.5, category="banjir")
    model.apply_changes(
        store.apply_many([event(p.IncidentUpserted(incident=late)), event(p.IncidentUpserted(incident=ok))])
    )
    assert brush_color(model.index(row_of(model, late.id), 2).data(BG)) == SLA_BREACH_BG
    assert brush_color(model.index(row_of(model, ok.id), 2).data(BG)) == NEW_ROW_BG  # just arrived


def test_in_handling_without_a_dispatch_time_is_not_a_breach(
    model: IncidentQueueModel, store: Store, config: Config, clock: FakeClock
) -> None:
    """The old queue painted this red (no times.dispatched) while the alert engine
    called the step met: a unit handling it on the ground was dispatched."""
    arrive_s = config.category("kebakaran").sla.arrive_s
    inc = fresh_incident(
        clock, arrive_s + 60, category="kebakaran", status="in_handling",
        tasks=[AgencyTask(agency="DAMKAR", status="in_handling")],
    )  # fmt: skip
    assert inc.times.dispatched is None
    model.apply_changes(upsert(store, inc))
    row = row_of(model, inc.id)
    assert model.index(row, COL_AGE).data(SlaLevelRole) == ""
    assert model.index(row, 0).data(BG) is None or brush_color(model.index(row, 0).data(BG)) == NEW_ROW_BG


@pytest.mark.slow  # a simulated day
def test_queue_colours_agree_with_the_alert_engine_over_a_simulated_day(qapp: Any) -> None:
    """Every incident of a simulated day, every 433 s: a row is red exactly when the
    alert engine holds a service-level alert for it, and names the same step."""
    from tests.test_sla import live_sla_stages, simulated_day

    day = simulated_day()
    first = next(day)
    model = IncidentQueueModel(first.store, first.config)
    breaches = 0
    try:
        for step in day:
            model.apply_changes(step.changes)
            model.refresh_time()
            live = live_sla_stages(step.engine)
            assert model.rowCount() == len(step.store.incidents)
            for row in range(model.rowCount()):
                iid = model.incident_id(row)
                level = model.index(row, COL_AGE).data(SlaLevelRole)
                stages = live.get(iid, set())
                assert (level == "breach") == bool(stages), (iid, level, stages)
                if stages:
                    breaches += 1
                    assert brush_color(model.index(row, 0).data(BG)) == SLA_BREACH_BG
                    first_stage = min(stages, key=STAGES.index)
                    tooltip = model.index(row, COL_AGE).data(Qt.ItemDataRole.ToolTipRole)
                    assert model.strings.t(f"sla.stage.{first_stage}") in tooltip, (iid, tooltip)
    finally:
        model.deleteLater()
    assert breaches > 100


# --- proxy: order and filters ----------------------------------------------------------------------


def proxy_incidents(proxy: IncidentQueueProxy, store: Store) -> list[Incident]:
    return [store.incidents[proxy.incident_id(r)] for r in range(proxy.rowCount())]


def test_default_order_is_priority_then_oldest_first(model: IncidentQueueModel, store: Store) -> None:
    proxy = IncidentQueueProxy(model)
    rows = proxy_incidents(proxy, store)
    keys = [(PRIORITY_RANK[i.priority], i.times.received) for i in rows]
    assert keys == sorted(keys)
    assert all(i.status in ACTIVE_STATUSES for i in rows)


def test_updates_keep_the_order(model: IncidentQueueModel, store: Store, clock: FakeClock) -> None:
    proxy = IncidentQueueProxy(model)
    low = next(i for i in store.incidents.values() if i.priority == "low" and i.active)
    model.apply_changes(upsert(store, bumped(low, priority="high")))
    new = fresh_incident(clock, priority="high")
    model.apply_changes(upsert(store, new))
    rows = proxy_incidents(proxy, store)
    keys = [(PRIORITY_RANK[i.priority], i.times.received) for i in rows]
    assert keys == sorted(keys)
    assert rows[[i.id for i in rows].index(new.id) + 1].priority != "high"  # newest high: last of the highs


def test_sorting_by_another_column(model: IncidentQueueModel, store: Store) -> None:
    proxy = IncidentQueueProxy(model)
    proxy.sort(COL_AGE, Qt.SortOrder.AscendingOrder)
    received = [i.times.received for i in proxy_incidents(proxy, store)]
    assert received == sorted(received)
    proxy.sort(COL_STATUS, Qt.SortOrder.DescendingOrder)
    statuses = [i.status for i in proxy_incidents(proxy, store)]
    order = ["received", "verified", "forwarded", "in_handling"]
    assert [order.index(s) for s in statuses] == sorted((order.index(s) for s in statuses), reverse=True)


def test_filters(model: IncidentQueueModel, store: Store) -> None:
    proxy = IncidentQueueProxy(model)
    active = [i for i in store.incidents.values() if i.active]
    assert proxy.rowCount() == len(active)
    proxy.set_active_only(False)
    assert proxy.rowCount() == len(store.incidents)
    proxy.set_active_only(True)

    proxy.set_agencies({"DINKES"})
    assert proxy.rowCount() == sum(1 for i in active if "DINKES" in i.agencies) > 0
    proxy.set_agencies(())
    proxy.set_categories({"banjir"})
    assert proxy.rowCount() == sum(1 for i in active if i.category == "banjir") > 0
    proxy.set_categories(())
    kec = active[0].location.kecamatan
    proxy.set_kecamatan({kec})
    assert proxy.rowCount() == sum(1 for i in active if i.location.kecamatan == kec) > 0
    proxy.set_kecamatan(())
    proxy.set_priorities({"high"})
    assert all(i.priority == "high" for i in proxy_incidents(proxy, store))
    proxy.set_priorities(())

    target = active[5]
    proxy.set_search_text(target.ticket.lower())
    assert [i.id for i in proxy_incidents(proxy, store)] == [target.id]
    desa = target.location.desa or target.location.kecamatan
    proxy.set_search_text(desa.upper())
    assert target.id in {i.id for i in proxy_incidents(proxy, store)}
    proxy.set_search_text("")
    assert proxy.rowCount() == len(active)


def test_a_closed_incident_leaves_the_active_queue(
    model: IncidentQueueModel, store: Store, clock: FakeClock
) -> None:
    proxy = IncidentQueueProxy(model)
    inc = next(i for i in store.incidents.values() if i.status == "in_handling")
    before = proxy.rowCount()
    closed = bumped(inc, status="closed", times=msgspec.structs.replace(inc.times, closed=clock()))
    model.apply_changes(upsert(store, closed))
    assert proxy.rowCount() == before - 1
    assert proxy.proxy_row_of(inc.id) == -1


# --- agency board -------------------------------------------------------------------------------------


def known_store() -> Store:
    clock = FakeClock(dt.datetime(2026, 11, 27, 5, 0, tzinfo=dt.UTC))  # 12:00 WIB
    store = Store(clock=clock)
    t0 = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)
    events: list[p.EventBody] = []
    for n, status in enumerate(["available", "available", "on_scene", "dispatched", "out_of_service"]):
        events.append(
            p.UnitUpserted(
                unit=Unit(
                    id=f"u-bpbd-{n}",
                    callsign=f"BPBD {n}",
                    agency="BPBD",
                    kind="boat",
                    status=status,
                    version=1,
                )
            )
        )
    events.append(
        p.UnitUpserted(
            unit=Unit(
                id="u-dinkes-1",
                callsign="AMB 1",
                agency="DINKES",
                kind="ambulance",
                status="available",
                version=1,
            )
        )
    )
    loc = Location(kecamatan="Jejawi", desa="Jejawi")
    # BPBD: arrivals after 10, 20 and 40 minutes (median 20); one still open.
    for n, minutes in enumerate([10, 20, 40]):
        events.append(
            p.IncidentUpserted(
                incident=make_incident(
                    id=f"bpbd-{n}",
                    category="banjir",
                    priority="medium",
                    status="in_handling",
                    location=loc,
                    tasks=[AgencyTask(agency="BPBD", status="in_handling")],
                    times=IncidentTimes(
                        received=t0,
                        dispatched=t0 + dt.timedelta(minutes=2),
                        on_scene=t0 + dt.timedelta(minutes=minutes),
                    ),
                )
            )
        )
    events.append(
        p.IncidentUpserted(
            incident=make_incident(
                id="bpbd-open",
                category="banjir",
                priority="medium",
                status="forwarded",
                location=loc,
                tasks=[AgencyTask(agency="BPBD", status="forwarded")],
                times=IncidentTimes(received=t0),
            )
        )
    )
    store.apply_many(event(b) for b in events)
    return store


def test_agency_board_shows_the_figures_of_a_known_store(qtbot: Any, config: Config) -> None:
    from ui.support.bridge import EngineBridge

    store = known_store()
    bridge = EngineBridge(config, store)
    board = AgencyBoardWidget(bridge, theme.metrics_for(1920, 1080, 24, 0.7))
    qtbot.addWidget(board)
    assert list(board.tiles) == [a.code for a in config.agencies]
    bpbd = board.tiles["BPBD"]
    assert bpbd.figures["available"] == 2
    assert bpbd.figures["busy"] == 2
    assert bpbd.figures["out_of_service"] == 1
    assert bpbd.figures["active"] == 4
    assert bpbd.figures["median_s"] == 20 * 60
    assert bpbd.figures["hourly"][-3] == 4 and sum(bpbd.figures["hourly"]) == 4  # all received at 10:00 WIB
    # Not laid out yet: the longest wording (the counts with their words on one line).
    assert "Tersedia 2" in bpbd.units_label.text() and "Tidak Aktif 1" in bpbd.units_label.text()
    assert "Kejadian aktif 4" in bpbd.units_label.text()
    assert bpbd.median_label.text() == "Median respons 20,0 mnt"
    dinkes = board.tiles["DINKES"]
    assert (dinkes.figures["available"], dinkes.figures["active"], dinkes.figures["median_s"]) == (1, 0, None)

    # A new arrival moves the median; the board refreshes at most once a second (on the tick).
    inc = store.incidents["bpbd-open"]
    t0 = inc.times.received
    arrived = bumped(
        inc,
        status="in_handling",
        times=IncidentTimes(
            received=t0, dispatched=t0 + dt.timedelta(minutes=1), on_scene=t0 + dt.timedelta(minutes=30)
        ),
    )
    bridge.push_changes(upsert(store, arrived))
    bridge.flush()
    bridge.tick.emit()
    assert bpbd.figures["median_s"] == 25 * 60  # 10, 20, 30, 40
    count = board.refresh_count
    bridge.tick.emit()  # nothing changed: no work
    assert board.refresh_count == count
    bridge.shutdown()


def test_compact_tiles_pair_numbers_with_shapes_and_a_legend(qtbot: Any, config: Config) -> None:
    from ui.support.bridge import EngineBridge

    bridge = EngineBridge(config, known_store())
    board = AgencyBoardWidget(bridge, theme.metrics_for(1920, 1080, 55, 6.0), compact=True)
    qtbot.addWidget(board)
    assert "Tersedia" in board.legend.text() and "Tidak&nbsp;Aktif" in board.legend.text()
    bpbd = board.tiles["BPBD"]
    assert "✓2" in bpbd.units_label.text() and "✕1" in bpbd.units_label.text()
    assert "▲4" in bpbd.units_label.text()
    # Two lines from metres away: the median goes to the tooltip.
    assert bpbd.median_label.isHidden() and "Median respons 20,0 mnt" in bpbd.units_label.toolTip()
    bridge.shutdown()


def test_wall_tiles_give_up_words_then_rare_groups_to_fit(qtbot: Any, config: Config) -> None:
    """A narrow wall tile keeps the active count and the available units whole: it drops
    the out-of-service and busy groups before anything would be cut."""
    from ui.support.bridge import EngineBridge

    bridge = EngineBridge(config, known_store())
    metrics = theme.metrics_for(1920, 1080, 55, 6.0)
    board = AgencyBoardWidget(bridge, metrics, compact=True)
    board.setStyleSheet(theme.stylesheet(metrics))  # the wall's 63 px text, as in a view
    qtbot.addWidget(board)
    board.resize(1920, 400)
    board.show()
    bpbd = board.tiles["BPBD"]
    qtbot.waitUntil(lambda: bpbd.units_label.width() > 0 and "✕1" in bpbd.units_label.text())
    bpbd.setFixedWidth(metrics.body_px * 4)  # about five characters
    qtbot.waitUntil(lambda: "●" not in bpbd.units_label.text())
    assert "▲4" in bpbd.units_label.text() and "✓2" in bpbd.units_label.text()
    bridge.shutdown()


# --- the whole view ------------------------------------------------------------------------------------


@pytest.mark.qt_log_ignore("propagateSizeHints")  # the offscreen platform's note on show()
def test_operations_view_at_1920x1080(qtbot: Any, bridge: Any, tmp_path: Any) -> None:
    from ui.views.operations import OperationsView

    view = OperationsView(bridge, theme.metrics_for(1920, 1080, 55, 6.0))
    qtbot.addWidget(view)
    view.resize(1920, 1080)
    view.show()
    qtbot.waitExposed(view)
    assert view.compact
    assert view.table.verticalHeader().defaultSectionSize() == view.metrics.row_px
    assert view.table.font().pixelSize() == view.metrics.body_px
    shown = [c for c in range(len(COLUMNS)) if not view.table.isColumnHidden(c)]
    assert [COLUMNS[c] for c in shown] == ["priority", "category", "location", "age", "status"]
    assert view.width() == 1920  # nothing forces the board wider than the screen
    img = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    img.save(str(tmp_path / "operations.png"))
    assert (img.width(), img.height()) == (1920, 1080)
    colours: set[int] = set()
    dark = total = 0
    for y in range(0, img.height(), 8):
        for x in range(0, img.width(), 8):
            c = QColor(img.pixel(x, y))
            colours.add(c.rgb())
            dark += c.lightness() < 60
            total += 1
    assert len(colours) > 20  # text, tiles and sparklines drawn: not blank
    assert dark / total > 0.6  # a dark board for a 24-hour room


class _DrawTextDelegate(QueueDelegate):
    """The queue delegate's text as it was painted before its laid-out text memo:
    QFontMetrics and QPainter.drawText(rect, alignment, text) on every cell."""

    def draw_text(self, painter: QPainter, option: QStyleOptionViewItem, text: str, color: Any,
                  x: int, width: int, align: int) -> None:  # fmt: skip
        rect = option.rect
        fm = option.fontMetrics
        if fm.horizontalAdvance(text) > width:
            text = fm.elidedText(text, Qt.TextElideMode.ElideRight, width)
        painter.save()
        painter.setFont(option.font)
        painter.setPen(color)
        painter.drawText(x, rect.y(), width, rect.height(), align, text)
        painter.restore()


@pytest.mark.qt_log_ignore("propagateSizeHints")
@pytest.mark.parametrize(
    ("screen", "interactive", "size"),
    [
        ((1920, 1080, 55, 5.0), False, (1920, 1010)),  # a video wall's queue panel
        ((1920, 1080, 55, 6.0), False, (1500, 1080)),
        ((3840, 2160, 65, 4.0), False, (2240, 1300)),  # single-4k
        ((1920, 1080, 24, 0.7), True, (1016, 970)),  # the desk's queue beside the incident
        ((1920, 1080, 24, 0.7), True, (1920, 1080)),
        ((1366, 768, 14, 0.6), True, (820, 460)),  # a laptop's console
        ((1366, 768, 14, 0.6), True, (611, 459)),  # odd sizes: half pixels to centre in
    ],
)
def test_queue_cells_paint_the_pixels_drawtext_painted(
    qtbot: Any, bridge: Any, screen: tuple[int, int, float, float], interactive: bool, size: tuple[int, int]
) -> None:
    """The delegate lays each text out once (QStaticText) instead of drawText on every
    paint: the queue must look exactly as it did, pixel for pixel, at every screen's text
    size, with elided, right-aligned and selected cells among those shown."""
    from ui.views.operations import OperationsView

    view = OperationsView(bridge, theme.metrics_for(*screen), interactive=interactive, tiles=False)
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    view.table.selectRow(1)
    viewport = view.table.viewport()
    ours = view.table.itemDelegate()
    assert isinstance(ours, QueueDelegate)
    pictures = []
    for delegate in (ours, _DrawTextDelegate(view.proxy, view.table, ours._pad), ours):
        view.table.setItemDelegate(delegate)
        pictures.append(viewport.grab().toImage().convertToFormat(QImage.Format.Format_RGB32))
    assert pictures[0] == pictures[1] == pictures[2]
    shown = view.table.rowAt(viewport.height() - 1) - view.table.rowAt(0)
    y = view.table.rowViewportPosition(0) + view.table.rowHeight(0) // 2
    drawn = {pictures[1].pixel(x, y) for x in range(pictures[1].width())}
    assert shown >= 3 and len(drawn) > 10  # text drawn, not an empty table


def test_selection_follows_the_bridge_both_ways(qtbot: Any, bridge: Any, store: Store) -> None:
    from ui.views.operations import OperationsView

    view = OperationsView(bridge, theme.metrics_for(1920, 1080, 24, 0.7), interactive=True)
    qtbot.addWidget(view)
    assert not view.compact
    target = proxy_incidents(view.proxy, store)[-1]
    bridge.select_incident(target.id)
    current = view.table.currentIndex()
    assert current.data(IncidentIdRole) == target.id
    assert view.table.selectionModel().isRowSelected(current.row(), QModelIndex())
    other = view.proxy.index(0, 0)
    with qtbot.waitSignal(bridge.incident_selected) as blocker:
        view.table.setCurrentIndex(other)
    assert blocker.args == [other.data(IncidentIdRole)]
    view.search.setText(target.ticket)
    assert view.proxy.rowCount() == 1
    view.active_toggle.setChecked(False)
    assert view.active_toggle.text() == "Semua"


def test_a_burst_reaches_the_views_in_parts_with_the_event_loop_between(
    qtbot: Any, store: Store, config: Config
) -> None:
    """Hundreds of new incidents in one change set: the bridge hands the views at most
    FLUSH_INCIDENTS_MAX at a time, the rest on the next turns of the loop (a burst
    held the GUI thread for seconds in one flush), and the queue ends with every row."""
    from ui.support.bridge import FLUSH_INCIDENTS_MAX, EngineBridge

    bridge = EngineBridge(config, store)
    queue = IncidentQueueModel(store, config)
    bridge.changed.connect(queue.apply_changes)
    parts: list[ChangeSet] = []
    bridge.changed.connect(parts.append)
    before = queue.rowCount()
    n = FLUSH_INCIDENTS_MAX * 2 + 17
    burst = ChangeSet()
    for i in range(n):
        burst.merge(upsert(store, make_incident(id=f"burst-{i}")))
    bridge.push_changes(burst)
    bridge.flush()
    assert len(parts) == 1 and len(parts[0].incidents_added) == FLUSH_INCIDENTS_MAX
    assert queue.rowCount() == before + FLUSH_INCIDENTS_MAX  # the rest waits for the next turn
    qtbot.waitUntil(lambda: queue.rowCount() == before + n, timeout=5000)
    sizes = [len(cs.incidents_added) for cs in parts]
    assert sum(sizes) == n and len(sizes) >= 3 and max(sizes) == FLUSH_INCIDENTS_MAX, sizes
    assert parts[-1].kpis_changed  # the counts travel with the last part
    assert bridge.pending_since is None
    bridge.shutdown()
    queue.deleteLater()


def test_a_flush_part_shrinks_when_the_views_are_slow(qtbot: Any, store: Store, config: Config) -> None:
    """The part's size follows what the last part cost the GUI thread: views that take
    long per incident (a sorted queue of 50,000 rows) get smaller parts, never below
    the minimum, and all of it still arrives."""
    import time as _time

    from ui.support.bridge import FLUSH_BUDGET_S, FLUSH_INCIDENTS_MAX, FLUSH_INCIDENTS_MIN, EngineBridge

    bridge = EngineBridge(config, store)
    sizes: list[int] = []
    # Stands in for a slow view: the budget holds twice the smallest part's worth of incidents.
    per_incident_s = FLUSH_BUDGET_S / (2 * FLUSH_INCIDENTS_MIN)

    def slow_view(cs: ChangeSet) -> None:
        sizes.append(len(cs.incidents_added))
        end = _time.perf_counter() + per_incident_s * len(cs.incidents_added)
        while _time.perf_counter() < end:
            pass

    bridge.changed.connect(slow_view)
    n = FLUSH_INCIDENTS_MAX + 3 * FLUSH_INCIDENTS_MIN + 5
    burst = ChangeSet()
    for i in range(n):
        burst.merge(upsert(store, make_incident(id=f"slow-{i}")))
    bridge.push_changes(burst)
    bridge.flush()
    qtbot.waitUntil(lambda: sum(sizes) == n, timeout=10000)
    assert sizes[0] == FLUSH_INCIDENTS_MAX
    budget = int(FLUSH_BUDGET_S / per_incident_s)
    assert all(FLUSH_INCIDENTS_MIN <= s <= budget + 1 for s in sizes[1:-1]), sizes
    bridge.shutdown()
