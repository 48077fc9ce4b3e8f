"""Map benchmarks: time to a ready map, the cost of regenerating the page versus
one live diff, and pushing 5,000 markers.

Run alone with ``python -m bench.bench_map`` (or ``python -m bench map``). It
makes its own offscreen QApplication; QtWebEngineWidgets is imported before it.
"""

from __future__ import annotations

import os

from ui.support.chromium import chromium_environment

# Before any Qt import: no display on benchmark machines; the wall's Chromium settings.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.update(chromium_environment(os.environ))

import datetime as dt
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

# Must precede the QApplication (OpenGL context sharing).
import PySide6.QtWebEngineWidgets  # noqa: F401

from commandcenter.config import Config, load_defaults
from commandcenter.core import places
from commandcenter.core import protocol as p
from commandcenter.core.model import ACTIVE_STATUSES, AgencyTask, Incident, IncidentTimes, Location
from commandcenter.core.store import ChangeSet, Store
from commandcenter.core.timeutil import FakeClock
from commandcenter.refserver.simulator import Simulator

T0 = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)
SIM_MINUTES = 90
BIG = 5_000
UPDATES = 30
TIMEOUT_S = 120.0
_CATEGORIES = ("kebakaran", "banjir", "medis", "pohon_tumbang", "kecelakaan_lalu_lintas", "sosial")
_PRIORITIES = ("high", "medium", "low", "low", "low")


def _simulated_store() -> Store:
    sim = Simulator(scenario="mixed", rate_per_min=3.0, seed=7, start=T0)
    bodies: list[tuple[dt.datetime, p.EventBody]] = [(T0, b) for b in sim.initial_bodies()]
    bodies += sim.advance_to(T0 + dt.timedelta(minutes=SIM_MINUTES))
    store = Store(clock=FakeClock(T0 + dt.timedelta(minutes=SIM_MINUTES)))
    store.apply_many(p.Event(epoch="bench", seq=i + 1, id=f"ev-{i + 1}", ts=ts, body=b)
                     for i, (ts, b) in enumerate(bodies))
    return store


def _big_store(config: Config, n: int) -> Store:
    rng = random.Random(112)
    b = config.map.bounds
    store = Store(clock=FakeClock(T0 + dt.timedelta(hours=2)))
    events = []
    for i in range(n):
        inc = Incident(
            id=f"big-{i}", ticket=f"OKI-20261127-{i:05d}", version=1,
            category=rng.choice(_CATEGORIES),
            priority=rng.choice(_PRIORITIES),  # type: ignore[arg-type]
            status="received",
            location=Location(lat=rng.uniform(b.south, b.north), lon=rng.uniform(b.west, b.east),
                              kecamatan=rng.choice(config.districts).name, desa=f"Desa {i % 97}"),
            description=f"Laporan {i}",
            tasks=[AgencyTask(agency="BPBD", status="forwarded")],
            times=IncidentTimes(received=T0 + dt.timedelta(seconds=i)),
        )
        events.append(p.Event(epoch="big", seq=i + 1, id=f"big-ev-{i + 1}", ts=T0,
                              body=p.IncidentUpserted(incident=inc)))
    store.apply_many(events)
    return store


def _wait_until(app: Any, predicate: Callable[[], bool], timeout_s: float = TIMEOUT_S) -> None:
    from PySide6.QtCore import QEventLoop

    deadline = time.perf_counter() + timeout_s
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("map benchmark: condition not met in time")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)


def _js_value(app: Any, view: Any, expression: str) -> Any:
    box: list[Any] = []
    view.run_js_json(expression, box.append)
    _wait_until(app, lambda: bool(box))
    return box[0]


def _regenerate_page(config: Config, store: Store, out_dir: Path) -> Path:
    """What the map would cost if every change rebuilt the folium page."""
    import folium

    from ui.views.map import page as map_page

    fmap = map_page.make_map(config, map_page.PageOptions())
    for inc in store.incidents.values():
        if inc.status not in ACTIVE_STATUSES or inc.location.lat is None:
            continue
        folium.Marker([inc.location.lat, inc.location.lon],
                      icon=folium.DivIcon(html=f"<b>{inc.priority[:1]}</b>", icon_size=(40, 40)),
                      tooltip=inc.ticket).add_to(fmap)
    path = out_dir / "regenerated.html"
    path.write_text(fmap.get_root().render(), encoding="utf-8")
    return path


def run() -> dict[str, dict[str, Any]]:
    from PySide6.QtCore import QEvent, QUrl
    from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile
    from PySide6.QtWebEngineWidgets import QWebEngineView
    from PySide6.QtWidgets import QApplication

    from ui.support import theme
    from ui.support.bridge import EngineBridge
    from ui.views.map import page as map_page
    from ui.views.map.view import MapView

    app = QApplication.instance() or QApplication([])
    config = load_defaults()
    metrics = theme.metrics_for(1920, 1080, 55.0, 6.0)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-map-") as tmp:
        page_dir = Path(tmp)
        map_page.build_page(config, map_page.PageOptions.for_metrics(metrics, interactive=False),
                            out_dir=page_dir)  # assets in place, as on a wall that ran before

        # --- ready with a populated store -------------------------------------------------
        store = _simulated_store()
        active = [i for i in store.incidents.values() if i.status in ACTIVE_STATUSES]
        bridge = EngineBridge(config, store)
        started = time.perf_counter()
        view = MapView(bridge, interactive=False, metrics=metrics, page_dir=page_dir)
        view.resize(1920, 1080)
        view.show()
        _wait_until(app, view.is_idle)
        ready_s = time.perf_counter() - started
        shown = _js_value(app, view, "OkiMap.counts()")
        results["ui.map_ready_s"] = {
            "value": ready_s, "unit": "s", "target": "<= 3.0",
            "extra": {"incidents": shown["incidents"], "units": shown["units"],
                      "store_active": len(active), "sim_minutes": SIM_MINUTES},
        }

        # --- one live update through the bridge, until the page confirms it ---------------
        update_s: list[float] = []
        inc = active[0]
        for n in range(UPDATES):
            inc = msgspec.structs.replace(inc, version=inc.version + 1,
                                          location=msgspec.structs.replace(
                                              inc.location, lat=-3.3 + n * 0.001, lon=105.0))
            event = p.Event(epoch=store.epoch, seq=store.seq + 1, id=f"bench-{store.seq + 1}", ts=T0,
                            body=p.IncidentUpserted(incident=inc))
            confirmed: list[int] = []
            view.batch_applied.connect(confirmed.append)
            t0 = time.perf_counter()
            bridge.push_changes(store.apply(event))
            bridge.flush(whole=True)  # the frame coalescing (16 ms) is measured separately below
            _wait_until(app, lambda c=confirmed: bool(c))
            update_s.append(time.perf_counter() - t0)
            view.batch_applied.disconnect(confirmed.append)
        one_update = statistics.median(update_s)

        # --- regenerating the folium page and reloading it ---------------------------------
        profile = QWebEngineProfile()
        regen_view = QWebEngineView()
        regen_page = QWebEnginePage(profile, regen_view)
        regen_view.setPage(regen_page)
        regen_view.resize(1920, 1080)
        regen_s: list[float] = []
        for _ in range(3):
            loaded: list[bool] = []
            regen_page.loadFinished.connect(loaded.append)
            t0 = time.perf_counter()
            path = _regenerate_page(config, store, page_dir)
            regen_page.load(QUrl.fromLocalFile(str(path)))
            _wait_until(app, lambda done=loaded: bool(done))
            regen_s.append(time.perf_counter() - t0)
            regen_page.loadFinished.disconnect(loaded.append)
        regen = statistics.median(regen_s)
        results["map.incremental_vs_regen_ratio"] = {
            "value": regen / one_update, "unit": "x", "target": ">= 100",
            "extra": {"regen_and_reload_s": round(regen, 4), "one_update_s": round(one_update, 5),
                      "one_update_p90_s": round(sorted(update_s)[int(len(update_s) * 0.9)], 5),
                      "bridge_coalesce_ms": 16, "markers": len(active)},
        }
        del regen_view  # page (its child) goes before the profile
        regen_page = None  # type: ignore[assignment]
        profile.deleteLater()

        # --- 5,000 markers -------------------------------------------------------------------
        big = _big_store(config, BIG)
        big_bridge = EngineBridge(config, big)
        big_view = MapView(big_bridge, interactive=False, metrics=metrics, page_dir=page_dir)
        big_view.resize(1920, 1080)
        big_view.show()
        _wait_until(app, big_view.is_idle)
        t0 = time.perf_counter()
        big_bridge.push_changes(ChangeSet.full_reset())
        big_bridge.flush(whole=True)
        _wait_until(app, big_view.is_idle)
        confirmed_s = time.perf_counter() - t0
        # markercluster adds in chunks after the call returns: wait for all of them.
        _wait_until(app, lambda: _js_value(app, big_view, "OkiMap.counts()")["incidents"] >= BIG)
        all_in_s = time.perf_counter() - t0
        results["map.push_5000_markers_s"] = {
            "value": all_in_s, "unit": "s", "target": "<= 5.0",
            "extra": {"confirmed_s": round(confirmed_s, 3), "markers": BIG},
        }

        # --- naming villages: the page with OKI's geography, and the lookup -------------
        page_path = map_page.build_page(config, map_page.PageOptions.for_metrics(metrics, interactive=False),
                                        out_dir=page_dir)
        results["map.page_kb"] = {
            "value": page_path.stat().st_size / 1024, "unit": "kB", "target": "<= 1500",
            "extra": {"villages": config.map.village_geojson, "districts": config.map.boundary_geojson},
        }
        t0 = time.perf_counter()
        places.place_finder.cache_clear()
        finder = places.place_finder(config.map.boundary_geojson, config.map.village_geojson)
        index_s = time.perf_counter() - t0
        box = config.map.bounds
        n = 20_000
        points = [(box.south + (box.north - box.south) * ((i * 7919) % n) / n,
                   box.west + (box.east - box.west) * ((i * 104729) % n) / n) for i in range(n)]
        t0 = time.perf_counter()
        named = sum(1 for lat, lon in points if finder.locate(lat, lon).village)
        lookup_us = (time.perf_counter() - t0) / n * 1e6
        results["core.place_lookup_us"] = {
            "value": lookup_us, "unit": "us", "target": "<= 100",
            "extra": {"index_s": round(index_s, 3), "points": n, "in_a_village": named,
                      "villages": len(finder.villages)},
        }

        for v, b in ((view, bridge), (big_view, big_bridge)):
            v.shutdown()
            v.close()
            v.deleteLater()
            b.shutdown()
        app.processEvents()
        app.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # pages go before profiles
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
