"""The provincial wall's engine: several regencies' real servers on loopback,
one journal per regency under tmp_path, and the province's figures checked
against a recomputation from the incidents themselves."""

from __future__ import annotations

import datetime as dt
import statistics
from pathlib import Path
from typing import Any

import msgspec
import pytest
import shapely

from commandcenter.config import Config, load_defaults
from commandcenter.config.schema import ConfigError, ProvinceConfig, ProvinceFeedConfig
from commandcenter.core import protocol as p
from commandcenter.core.model import ACTIVE_STATUSES, IncidentTimes
from commandcenter.core.province import ProvinceFigures, RegencyInput, province_figures
from commandcenter.core.store import Store
from commandcenter.core.timeutil import utcnow
from commandcenter.refserver.regency import regency_geography
from commandcenter.wall.province import ProvinceSession, regency_areas, regency_journal
from tests.factories import make_event, make_incident
from tests.serverproc import WALL, ServerProcess, export, wait_client

REGENCIES = (("16.01", "Ogan Komering Ulu"), ("16.02", "Ogan Komering Ilir"), ("16.71", "Palembang"))
_TASK_FINISHED = ("done", "rejected")


def _server(tmp_path: Path, code: str, port: int = 0) -> ServerProcess:
    return ServerProcess(
        tmp_path / f"server-{code}.sqlite3", port=port, scenario="normal", speed=120.0, rate=6.0,
        heartbeat=0.3, extra=["--regency", code, "--seed", str(int(code.replace(".", "")))],
    ).start()  # fmt: skip


def _config(urls: dict[str, str]) -> Config:
    cfg = load_defaults()
    feeds = [ProvinceFeedConfig(code=c, name=n, servers=[urls[c]], token=WALL) for c, n in REGENCIES]
    server = msgspec.structs.replace(
        cfg.server, reconnect_min_s=0.05, reconnect_max_s=0.5, stable_after_s=1.0
    )
    return msgspec.structs.replace(cfg, server=server, province=ProvinceConfig(feeds=feeds))


# --- brute force: the figures from the incidents themselves ---------------------------


def _today_arrivals(store: Store) -> list[float]:
    today = store.clock().astimezone(store.tz).date()
    return sorted(
        (inc.times.on_scene - inc.times.received).total_seconds()
        for inc in store.incidents.values()
        if inc.times.on_scene is not None and inc.times.on_scene.astimezone(store.tz).date() == today
    )


def _brute(store: Store) -> dict[str, Any]:
    active = [i for i in store.incidents.values() if i.status in ACTIVE_STATUSES]
    by_cat: dict[str, int] = {}
    by_agency: dict[str, int] = {}
    for inc in active:
        by_cat[inc.category] = by_cat.get(inc.category, 0) + 1
        for task in inc.tasks:
            if task.status not in _TASK_FINISHED:
                by_agency[task.agency] = by_agency.get(task.agency, 0) + 1
    unacked = [i for i in active if i.priority == "high" and store.incident_ack(i.id) is None]
    arrivals = _today_arrivals(store)
    return {
        "active": len(active), "by_cat": by_cat, "by_agency": by_agency, "unacked": len(unacked),
        "arrivals": arrivals,
    }  # fmt: skip


def _check_against_brute_force(figures: ProvinceFigures, stores: dict[str, Store]) -> None:
    all_arrivals: list[float] = []
    totals = {"active": 0, "unacked": 0}
    cat_total: dict[str, int] = {}
    for row in figures.regencies:
        b = _brute(stores[row.code])
        assert row.active_total == b["active"], row.code
        assert row.active_by_category == b["by_cat"], row.code
        assert row.active_by_agency == b["by_agency"], row.code
        assert row.unacked_high == b["unacked"], row.code
        assert row.arrival.count == len(b["arrivals"]), row.code
        if b["arrivals"]:
            assert row.arrival.median_s == pytest.approx(statistics.median(b["arrivals"]))
        assert row.breaches == sum(1 for s in b["arrivals"] if s > row.response_target_s)
        all_arrivals += b["arrivals"]
        totals["active"] += b["active"]
        totals["unacked"] += b["unacked"]
        for k, v in b["by_cat"].items():
            cat_total[k] = cat_total.get(k, 0) + v
    t = figures.total
    assert (t.active_total, t.unacked_high) == (totals["active"], totals["unacked"])
    assert t.active_by_category == cat_total
    assert t.arrival.count == len(all_arrivals)
    if all_arrivals:
        assert t.arrival.median_s == pytest.approx(statistics.median(all_arrivals))
    assert t.breaches == sum(1 for s in all_arrivals if s > t.response_target_s)


def _seqs(rows: list[dict[str, Any]], epoch: str) -> list[int]:
    return [r["seq"] for r in rows if r["epoch"] == epoch]


# --- the tests --------------------------------------------------------------------------


@pytest.mark.slow
async def test_three_regencies_each_with_its_own_journal_stale_alone_and_resumed(tmp_path: Path) -> None:
    servers = {code: _server(tmp_path, code) for code, _ in REGENCIES}
    province_dir = tmp_path / "province"
    try:
        config = _config({c: s.url for c, s in servers.items()})
        session = await ProvinceSession.open(
            config, province_dir, client_id="prov-test", heartbeat_timeout_s=1.5
        )
        try:
            session.start()
            feeds = session.by_code
            ready = lambda: all(f.state == "live" and len(f.store.incidents) >= 3 for f in session.feeds)  # noqa: E731
            await wait_client(session, ready, 60, "every regency live with incidents")
            # Arrivals on scene too, so the medians and breaches are compared on real samples.
            await wait_client(session, lambda: session.figures().total.arrival.count >= 5, 60, "arrivals")
            # Each feed follows its own server: its own epoch and seq, its own journal file.
            for code, srv in servers.items():
                assert feeds[code].store.epoch == srv.epoch
                assert feeds[code].session.journal.path == regency_journal(province_dir, code)
            assert len({f.store.epoch for f in session.feeds}) == 3
            # Incidents carry their regency: a point of 16.01 lies inside 16.01's outline.
            areas = {a.code: a.geom for a in regency_areas(config.province.geojson).areas}
            points = session.points()
            assert {pt.regency for pt in points} == {"16.01", "16.02", "16.71"}
            for pt in points:
                assert pt.key.startswith(pt.regency + "/")
                if pt.regency != "16.02":
                    assert shapely.contains_xy(areas[pt.regency], pt.lon, pt.lat), pt
            figures = session.figures()
            assert figures.live_count == 3 and figures.total.live
            _check_against_brute_force(figures, {f.code: f.store for f in session.feeds})

            # One regency's server dies: that regency alone goes stale, with its age.
            oki = feeds["16.02"]
            port = servers["16.02"].port
            servers["16.02"].kill()
            await wait_client(session, lambda: oki.state != "live", 60, "OKI stale")
            figures = session.figures()
            row = figures.regency("16.02")
            assert row is not None and not row.live and row.state in ("stale", "connecting")
            assert row.age_s is not None and row.age_s >= 0
            assert [r.code for r in figures.regencies if r.live] == ["16.01", "16.71"]
            assert figures.stale_count == 1 and not figures.total.live
            # The other regencies keep receiving.
            seq_01 = feeds["16.01"].store.seq
            await wait_client(session, lambda: feeds["16.01"].store.seq > seq_01, 60, "16.01 goes on")
            assert oki.state != "live"

            # Back on the same port and database: it resumes where its journal stopped.
            seq_before = oki.store.seq
            servers["16.02"] = _server(tmp_path, "16.02", port=port)
            assert servers["16.02"].epoch == oki.store.epoch
            await wait_client(
                session, lambda: oki.state == "live" and oki.store.seq > seq_before + 5, 60, "OKI resumed"
            )
            _check_against_brute_force(session.figures(), {f.code: f.store for f in session.feeds})
            positions = {f.code: (f.store.epoch, f.store.seq) for f in session.feeds}
        finally:
            await session.close()
    finally:
        for srv in servers.values():
            srv.stop()

    # Every regency's journal holds its server's events once each, none missing.
    for code, srv in servers.items():
        epoch, seq = positions[code]
        wall = _seqs(export(regency_journal(province_dir, code)), epoch)
        assert len(wall) == len(set(wall)), f"{code}: duplicates"
        assert wall == list(range(wall[0], wall[-1] + 1)), f"{code}: gap"
        assert wall[-1] >= seq
        server_seqs = [s for s in _seqs(export(srv.db), epoch) if s <= wall[-1]]
        assert wall == server_seqs[server_seqs.index(wall[0]):]

    # With no server at all, each journal restores its own regency; nothing looks live.
    again = await ProvinceSession.open(config, province_dir, client_id="prov-test")
    try:
        for f in again.feeds:
            assert (f.store.epoch, f.store.seq) >= positions[f.code]
            assert f.store.incidents
        figures = again.figures()
        assert figures.live_count == 0 and all(not r.live for r in figures.regencies)
    finally:
        await again.close()


def test_province_figures_sum_regencies_and_take_the_median_over_all_arrivals() -> None:
    now = utcnow().replace(microsecond=0)
    stores = []
    for k, arrivals in enumerate(([300.0, 1200.0], [600.0], [])):
        store = Store(clock=lambda: now)
        for j, a in enumerate(arrivals):
            received = now - dt.timedelta(seconds=a)
            inc = make_incident(
                id=f"r{k}-{j}", status="in_handling", priority="high",
                times=IncidentTimes(received=received, on_scene=now),
            )
            store.apply(make_event(p.IncidentUpserted(incident=inc), seq=j + 1, epoch=f"e{k}"))
        stores.append(store)
    entries = [
        RegencyInput(f"16.0{k + 1}", f"R{k}", s, "live" if k else "stale", 3.0) for k, s in enumerate(stores)
    ]
    figures = province_figures("Sumatera Selatan", entries, now)
    assert [r.active_total for r in figures.regencies] == [2, 1, 0]
    assert figures.total.active_total == 3 and figures.total.unacked_high == 3
    assert figures.total.active_by_agency == {"DAMKAR": 3}
    assert figures.total.arrival.median_s == 600.0  # median of 300, 600, 1200 (not of the medians)
    assert figures.total.breaches == 1 and figures.regencies[0].breaches == 1
    assert figures.stale_count == 1 and not figures.total.live
    assert figures.total.age_s == 3.0
    assert figures.choropleth("active") == {"16.01": 2, "16.02": 1, "16.03": 0}
    with pytest.raises(ValueError, match="unknown figure"):
        figures.choropleth("nope")


def test_province_config_refuses_bad_feeds() -> None:
    with pytest.raises((ConfigError, ValueError, msgspec.ValidationError)):
        ProvinceFeedConfig(code="16.01", name="X", servers=["http://x"], token="t")
    with pytest.raises((ConfigError, ValueError, msgspec.ValidationError)):
        ProvinceConfig(feeds=[
            ProvinceFeedConfig(code="16.01", name="A", servers=["ws://a"]),
            ProvinceFeedConfig(code="16.01", name="B", servers=["ws://b"]),
        ])  # fmt: skip


def test_regency_geography_keeps_oki_and_gives_others_their_outline() -> None:
    cfg = load_defaults()
    same, area, name = regency_geography(cfg, "16.02")
    assert same is cfg and area is None and name == "Ogan Komering Ilir"
    other, area, name = regency_geography(cfg, "16.03")
    assert name == "Muara Enim" and area is not None
    assert [d.code for d in other.districts] == ["16.03"]
    d = other.districts[0]
    assert shapely.contains_xy(area, d.lon, d.lat)
    with pytest.raises(ValueError, match="unknown regency"):
        regency_geography(cfg, "16.99")


def test_the_province_board_fits_17_regencies_at_6_m_on_a_55_inch_panel() -> None:
    from commandcenter.core.legibility import sizes_for
    from commandcenter.wall.layout import header_px
    from commandcenter.wall.province_layout import TILE_CHARS, board_fit, check_board, province_layout

    sizes = sizes_for(1920, 1080, 55, 6.0)
    fit = board_fit(sizes, 1920, 1080 - header_px(sizes), 18)
    assert fit.fits and fit.per_row * fit.rows >= 18 and fit.tile_chars >= TILE_CHARS
    assert fit.height_px <= 1080 - header_px(sizes)
    # From farther away the same panel cannot hold them: the check says so.
    far = sizes_for(1920, 1080, 55, 9.0)
    assert not board_fit(far, 1920, 1080 - header_px(far), 18).fits
    layout = province_layout("province", load_defaults().display)
    board = next(s for s in layout.screens if s.regions[0].view == "province_board")
    assert check_board(board, board.regions[0], 18) == []


def test_the_province_board_check_plans_inside_the_burn_in_margins() -> None:
    """check_board measures the rectangle the wall gives the board, as the layout check does for
    every region (layout.planned_rects: under the header, inside BurnInSchedule.margins)."""
    from commandcenter.wall.burnin import BurnInSchedule
    from commandcenter.wall.layout import header_px, planned_rects, screen_sizes
    from commandcenter.wall.province_layout import board_fit, check_board, province_layout

    margin = BurnInSchedule.from_config(load_defaults().display.burn_in).margin_px
    assert margin > 0
    layout = province_layout("province", load_defaults().display)
    board = next(s for s in layout.screens if s.regions[0].view == "province_board")
    # At 8.15 m seven tiles fit three to a row in the whole 1920 px, but not in the 1912 px the
    # margins leave: two to a row need four rows, more than the height.
    board = msgspec.structs.replace(board, distance_m=8.15)
    sizes = screen_sizes(board)
    (_, _, w, h), = planned_rects(board, margin)
    assert (w, h) == (1920 - 2 * margin, 1080 - header_px(sizes) - 2 * margin)
    assert board_fit(sizes, w + 2 * margin, h + 2 * margin, 7).fits
    inside = board_fit(sizes, w, h, 7)
    assert not inside.fits
    problems = check_board(board, board.regions[0], 7)
    need = f"{inside.height_px} px, {h} available"
    assert problems == [f"province board: 7 tiles in {inside.rows} rows need {need}"]
    # Without burn-in (margin 0) the same board fits.
    assert check_board(board, board.regions[0], 7, margin_px=0) == []
