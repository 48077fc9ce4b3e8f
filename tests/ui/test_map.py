"""The live map, in a real QtWebEngine page (offscreen).

Waits are on signals and conditions, never sleeps. The page is queried through
``MapView.run_js_json`` (the same queue as the diffs, so an answer reflects
everything sent before the question).
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

# QtWebEngineWidgets must be imported before the QApplication is created. This
# runs at collection, before pytest-qt's qapp fixture makes the application.
import PySide6.QtWebEngineWidgets  # noqa: F401
import pytest

from commandcenter.config import Config
from commandcenter.core import places
from commandcenter.core import protocol as p
from commandcenter.core.model import ACTIVE_STATUSES, Incident, Location
from commandcenter.core.store import ChangeSet, Store
from tests.ui.conftest import page_value
from ui.support import theme
from ui.support.bridge import EngineBridge
from ui.views.map import page as map_page
from ui.views.map import tiles as map_tiles
from ui.views.map.view import MapView

HOSTILE = "<img src=x onerror=alert(1)>"
WAIT_MS = 30_000

# QtWebEngine's GPU probes on a machine without GPU are ignored for every test,
# by their exact text (pyproject's qt_log_ignore): nothing the map could cause.
pytestmark = [pytest.mark.qt]


# --- helpers -----------------------------------------------------------------------


@pytest.fixture
def make_view(qtbot: Any, bridge: EngineBridge, tmp_path: Path) -> Callable[..., MapView]:
    """Build a MapView (by default waiting until its page is ready and has everything)."""

    def make(b: EngineBridge | None = None, *, wait: bool = True, **kwargs: Any) -> MapView:
        kwargs.setdefault("metrics", theme.metrics_for(1280, 720, 55.0, 6.0))
        kwargs.setdefault("page_dir", tmp_path / "page")
        view = MapView(b or bridge, **kwargs)
        qtbot.addWidget(view)
        view.resize(1280, 720)
        view.show()
        if wait:
            wait_idle(qtbot, view)
            # markercluster adds markers in chunks after the batch was confirmed.
            qtbot.waitUntil(lambda: (c := counts(qtbot, view))["incidents"] == c["incidentsTotal"],
                            timeout=WAIT_MS)
        return view

    return make


def wait_idle(qtbot: Any, view: MapView) -> None:
    if not view.is_ready():
        with qtbot.waitSignal(view.ready, timeout=WAIT_MS):
            pass
    qtbot.waitUntil(view.is_idle, timeout=WAIT_MS)


def js(qtbot: Any, view: MapView, expression: str) -> Any:
    return page_value(qtbot, view, expression, WAIT_MS)


def counts(qtbot: Any, view: MapView) -> dict[str, int]:
    box: list[Any] = []
    view.marker_count_js(box.append)
    qtbot.waitUntil(lambda: bool(box), timeout=WAIT_MS)
    return box[0]


def active(store: Store) -> list[Incident]:
    return [i for i in store.incidents.values() if i.status in ACTIVE_STATUSES]


def apply_event(store: Store, body: p.EventBody) -> ChangeSet:
    event = p.Event(epoch=store.epoch, seq=store.seq + 1, id=f"ev-test-{store.seq + 1}",
                    ts=store.clock(), body=body)
    return store.apply(event)


def push(qtbot: Any, bridge: EngineBridge, view: MapView, changes: ChangeSet) -> None:
    """Hand ``changes`` to the bridge and wait until the page confirmed them."""
    assert changes, "the event changed nothing"
    with qtbot.waitSignal(view.batch_applied, timeout=WAIT_MS):
        bridge.push_changes(changes)
    qtbot.waitUntil(view.is_idle, timeout=WAIT_MS)


def new_incident(store: Store, incident_id: str, **changes: Any) -> Incident:
    template = active(store)[0]
    return msgspec.structs.replace(template, id=incident_id, ticket=f"T-{incident_id}", version=1,
                                   status="received", tasks=[], units=[], **changes)


def without_geography(config: Config) -> Config:
    return msgspec.structs.replace(config, map=msgspec.structs.replace(
        config.map, boundary_geojson="", village_geojson="", regency_geojson=""))


# --- the page --------------------------------------------------------------------------


def test_page_needs_no_internet(config: Config, tmp_path: Path) -> None:
    online = msgspec.structs.replace(config, map=msgspec.structs.replace(config.map, online_tiles=True))
    for cfg in (config, online):
        page = map_page.render_html(cfg)
        assert map_page.remote_references(page) == []
        for tag in re.findall(r"<(?:script|link)\b[^>]*>", page):
            assert "http:" not in tag and "https:" not in tag, tag
        # No remote URL at all: even the online tiles come through the program's
        # own scheme (it fetches and caches them; the page stays offline).
        assert set(re.findall(r"https?://[^\"'\s]+", page)) == set()
        assert (map_tiles.ONLINE_TEMPLATE in page) == (cfg is online)
    path = map_page.build_page(config, out_dir=tmp_path)
    for src in re.findall(r'(?:src|href)="(assets/[^"]+)"', path.read_text(encoding="utf-8")):
        assert (tmp_path / src).is_file(), src
    assert "qrc:///qtwebchannel/qwebchannel.js" in path.read_text(encoding="utf-8")
    # Building again with the same config reuses the same file (the name is a content hash).
    assert map_page.build_page(config, out_dir=tmp_path) == path


def test_each_version_of_the_assets_gets_its_own_page_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two checkouts or installs on one machine (a gallery run beside a wall, an upgrade) kept
    one cache folder, and the last to start rewrote the other's map.js under its open page
    ("holdStill is not a function"): the folder is named by the assets' content."""
    first = map_page.default_page_dir()
    sources = map_page.asset_sources()
    changed = tmp_path / "map.js"
    changed.write_bytes(sources["map/map.js"].read_bytes() + b"\n// another version\n")
    monkeypatch.setattr(map_page, "asset_sources", lambda: {**sources, "map/map.js": changed})
    map_page.assets_digest.cache_clear()
    try:
        other = map_page.default_page_dir()
    finally:
        monkeypatch.undo()
        map_page.assets_digest.cache_clear()
    assert other != first and other.parent == first.parent
    assert map_page.default_page_dir() == first  # the same assets, the same folder


def test_other_versions_page_folders_go_once_unused_and_a_running_walls_stays(
        config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each upgrade left its page folder (1-9 MB) in the user's cache for ever, the one before
    content-named folders ("map") too. A folder goes once no process holds it and nothing in
    it was written for a week; one a running wall holds stays, whatever its age. The versions
    that used "map" hold no lock: it stays while another program's map renderer runs."""
    import contextlib
    import shutil
    import subprocess
    import sys
    import time

    import psutil

    before = set(map_page.foreign_renderers())  # left by anything else on this machine
    # An old version's wall: a real process named as QtWebEngine's renderer, not ours.
    sleep = shutil.which("sleep")
    assert sleep is not None
    fake = tmp_path / "bin" / map_page.RENDERER_NAME
    fake.parent.mkdir()
    shutil.copy(sleep, fake)
    started = subprocess.run(["sh", "-c", f'"{fake}" 600 </dev/null >/dev/null 2>&1 & echo $!'],
                             capture_output=True, text=True, check=True)
    renderer = int(started.stdout)

    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    current = map_page.default_page_dir()
    assert current.is_relative_to(cache)
    old = time.time() - 8 * 86_400

    def folder(name: str, mtime: float) -> Path:
        path = current.parent / name
        (path / "assets").mkdir(parents=True)
        for f in (path / "page.html", path / "assets" / "map.js"):
            f.write_text(name)
            os.utime(f, (mtime, mtime))
        return path

    legacy, unused = folder("map", old), folder("map-0123456789ab", old)
    recent, held = folder("map-aaaaaaaaaaaa", time.time() - 86_400), folder("map-bbbbbbbbbbbb", old)
    tones = current.parent / "tones"
    tones.mkdir()
    os.utime(tones, (old, old))
    # Another version's wall, still running: a real process holding its folder.
    try:
        assert renderer in map_page.foreign_renderers()
        with subprocess.Popen(
            [sys.executable, "-c", "import sys; from pathlib import Path; from ui.views.map.page import "
             "claim_page_dir; claim_page_dir(Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()",
             str(held)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as wall:
            assert wall.stdout is not None and wall.stdin is not None
            try:
                assert wall.stdout.readline().strip() == "held"
                page = map_page.build_page(config)  # the wall's start: its folder, then the others pruned
                assert page.parent == current and (current / map_page.IN_USE).is_file()
                assert not unused.exists()
                assert legacy.is_dir(), "the old versions' folder went while a renderer not ours ran"
                assert recent.is_dir() and held.is_dir() and tones.is_dir()
                assert (held / "assets" / "map.js").read_text() == "map-bbbbbbbbbbbb"
            finally:
                wall.stdin.close()
                wall.wait(timeout=30)
    finally:
        os.kill(renderer, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while renderer in map_page.foreign_renderers():  # killed, then reaped by whoever adopted it
        assert time.monotonic() < deadline, f"{renderer} still runs"
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.wait_procs([psutil.Process(renderer)], timeout=0.1)
    # That wall and the old one ended: their folders go at the next start of any version.
    others = lambda: [pid for pid in map_page.foreign_renderers() if pid not in before]  # noqa: E731
    assert map_page.prune_page_dirs(current, renderers=others) == [legacy, held]
    # A week on, the folder written a day ago goes too; the one this process holds never.
    assert map_page.prune_page_dirs(current, now=time.time() + 7 * 86_400) == [recent]
    assert map_page.prune_page_dirs(recent.parent / "map-cccccccccccc",
                                    now=time.time() + 30 * 86_400) == []
    assert current.is_dir()


def test_page_labels_every_district_and_escapes_config_text(config: Config) -> None:
    page = map_page.render_html(config)
    for district in config.districts:
        assert f'data-key=\\"{map_page.district_key(district.name)}\\"' in page
    assert "</script>" not in page.split("OkiMap.init(", 1)[1].split(");", 1)[0]


def test_view_queues_calls_until_the_page_is_ready(qtbot: Any, make_view: Callable[..., MapView],
                                                   store: Store) -> None:
    view = make_view(wait=False)
    assert not view.is_ready()
    assert view.pending_calls() >= 2  # clearAll + units, then incident chunks
    wait_idle(qtbot, view)
    assert view.pending_calls() == 0
    assert view.js_errors() == []


# --- markers ---------------------------------------------------------------------------


def test_markers_match_the_store(qtbot: Any, make_view: Callable[..., MapView], store: Store) -> None:
    view = make_view()
    c = counts(qtbot, view)
    assert c["incidents"] == c["incidentsTotal"] == len(active(store))
    assert c["units"] == c["unitsTotal"] == sum(1 for u in store.units.values() if u.position)
    high = {i.id for i in active(store) if i.priority == "high"}
    assert c["pulsing"] == len(high)  # no acknowledgements in this store yet
    assert c["errors"] == 0
    assert view.js_errors() == []


def test_new_update_and_close_change_the_markers(qtbot: Any, make_view: Callable[..., MapView],
                                                 bridge: EngineBridge, store: Store) -> None:
    view = make_view()
    before = counts(qtbot, view)["incidents"]

    added = new_incident(store, "map-new-1")
    push(qtbot, bridge, view, apply_event(store, p.IncidentUpserted(incident=added)))
    assert counts(qtbot, view)["incidents"] == before + 1

    moved = msgspec.structs.replace(added, version=2, status="verified",
                                    location=msgspec.structs.replace(added.location, lat=-3.0, lon=105.0))
    push(qtbot, bridge, view, apply_event(store, p.IncidentUpserted(incident=moved)))
    assert counts(qtbot, view)["incidents"] == before + 1

    victim = active(store)[1]
    now = store.clock()
    closed = msgspec.structs.replace(victim, version=victim.version + 1, status="closed",
                                     times=msgspec.structs.replace(victim.times, closed=now))
    push(qtbot, bridge, view, apply_event(store, p.IncidentUpserted(incident=closed)))
    cancelled = msgspec.structs.replace(moved, version=3, status="cancelled")
    push(qtbot, bridge, view, apply_event(store, p.IncidentUpserted(incident=cancelled)))
    c = counts(qtbot, view)
    assert c["incidents"] == c["incidentsTotal"] == before - 1 == len(active(store))
    assert view.js_errors() == []


def test_units_move_without_being_recreated(qtbot: Any, make_view: Callable[..., MapView],
                                            bridge: EngineBridge, store: Store) -> None:
    view = make_view()
    unit = next(u for u in store.units.values() if u.position is not None)
    # Tag the marker object in the page: the same object must survive the move.
    js(qtbot, view, f"(OkiMap.__probe = true, OkiMap.unitPosition({unit.id!r}))")
    assert unit.position is not None
    pos = msgspec.structs.replace(unit.position, lat=-3.2, lon=105.3)
    push(qtbot, bridge, view, apply_event(store, p.UnitUpserted(
        unit=msgspec.structs.replace(unit, version=unit.version + 1, position=pos))))
    assert js(qtbot, view, f"OkiMap.unitPosition({unit.id!r})") == [-3.2, 105.3]
    assert counts(qtbot, view)["units"] == sum(1 for u in store.units.values() if u.position)


def test_incident_without_coordinates_sits_near_its_district(qtbot: Any, make_view: Callable[..., MapView],
                                                             config: Config, store: Store) -> None:
    view = make_view(wait=False)
    district = config.districts[0]
    inc = new_incident(store, "map-nocoord", location=Location(kecamatan=district.name, desa="Desa X"))
    a, b = view.incident_payload(inc), view.incident_payload(inc)
    assert a == b and a["approx"] is True  # deterministic
    assert abs(a["lat"] - district.lat) < 0.02 and abs(a["lon"] - district.lon) < 0.02
    assert (a["lat"], a["lon"]) != (district.lat, district.lon)
    other = view.incident_payload(msgspec.structs.replace(inc, id="map-nocoord-2"))
    assert (other["lat"], other["lon"]) != (a["lat"], a["lon"])


def test_reset_sends_everything_again(qtbot: Any, make_view: Callable[..., MapView],
                                      bridge: EngineBridge, store: Store) -> None:
    view = make_view()
    n = len(active(store))

    def all_in() -> dict[str, int] | None:
        # markercluster adds in chunks after a batch is confirmed: wait for all.
        c = counts(qtbot, view)
        return c if c["incidents"] == n else None

    qtbot.waitUntil(lambda: all_in() is not None, timeout=WAIT_MS)
    before = counts(qtbot, view)
    push(qtbot, bridge, view, ChangeSet.full_reset())
    qtbot.waitUntil(lambda: all_in() is not None, timeout=WAIT_MS)
    after = counts(qtbot, view)
    assert after["incidents"] == before["incidents"] == n
    assert after["incidentsTotal"] == n
    assert after["units"] == before["units"]


def test_pulsing_follows_the_override(qtbot: Any, make_view: Callable[..., MapView], store: Store) -> None:
    view = make_view()
    some = [i.id for i in active(store)][:3]
    view.set_pulsing(some)
    assert counts(qtbot, view)["pulsing"] == 3
    view.set_pulsing(None)
    assert counts(qtbot, view)["pulsing"] == sum(1 for i in active(store) if i.priority == "high")


# --- text from the feed ------------------------------------------------------------------


def test_hostile_description_shows_as_text(qtbot: Any, make_view: Callable[..., MapView],
                                           bridge: EngineBridge, store: Store) -> None:
    view = make_view()
    inc = new_incident(store, "map-hostile", description=HOSTILE)
    push(qtbot, bridge, view, apply_event(store, p.IncidentUpserted(incident=inc)))
    bridge.select_incident(inc.id)  # the page opens its popup

    def popup_open() -> bool:
        dom = js(qtbot, view, "OkiMap.openPopupDom()")
        return bool(dom) and dom["id"] == inc.id

    qtbot.waitUntil(popup_open, timeout=WAIT_MS)
    dom = js(qtbot, view, "OkiMap.openPopupDom()")
    assert HOSTILE in dom["text"]
    assert inc.ticket in dom["text"]
    assert dom["imgs"] == 0 and dom["scripts"] == 0
    assert js(qtbot, view, "document.querySelectorAll('.leaflet-popup img').length") == 0
    assert view.js_errors() == []


# --- selection -----------------------------------------------------------------------------


def test_a_selection_made_while_clusters_animate_opens_its_popup(
        qtbot: Any, make_view: Callable[..., MapView], store: Store) -> None:
    """A console's selection waited for the map's next zoomend when markercluster was still
    animating its clusters (which it does after the map's zoomend): the popup then did not
    open until somebody moved the map. The selection here comes exactly then: in the map's
    zoomend, after markercluster started its animation."""
    view = make_view()
    target = active(store)[3].id
    script = """(function () {
      var map = Object.keys(window).map(function (k) { return window[k]; })
        .filter(function (v) { return v instanceof L.Map; })[0];
      map.once("zoomend", function () { OkiMap.select(TARGET); });
      map.setZoom(map.getZoom() + 1);
      return { zoom: map.getZoom() };
    })()"""
    started = js(qtbot, view, script.replace("TARGET", json.dumps(target)))
    assert started["zoom"] > 0

    def popup_open() -> bool:
        dom = js(qtbot, view, "OkiMap.openPopupDom()")
        return bool(dom) and dom["id"] == target

    qtbot.waitUntil(popup_open, timeout=WAIT_MS)
    # And the map comes to rest there (markercluster takes its animation class off on a timer
    # of its own, which can end after the popup opened).
    qtbot.waitUntil(lambda: js(qtbot, view, "document.querySelectorAll('.leaflet-cluster-anim').length") == 0,
                    timeout=WAIT_MS)
    assert view.js_errors() == []


def test_clicking_a_marker_selects_the_incident(qtbot: Any, make_view: Callable[..., MapView],
                                                bridge: EngineBridge, store: Store) -> None:
    view = make_view()
    target = active(store)[5].id
    with qtbot.waitSignal(bridge.incident_selected, timeout=WAIT_MS,
                          check_params_cb=lambda incident_id: incident_id == target):
        assert js(qtbot, view, f"OkiMap.clickMarker({target!r})") is True
    assert bridge.selected_incident == target


def test_clicks_on_a_display_only_wall_select_nothing(qtbot: Any, make_view: Callable[..., MapView],
                                                      bridge: EngineBridge, store: Store) -> None:
    view = make_view(interactive=False)
    target = active(store)[5].id
    assert js(qtbot, view, f"OkiMap.clickMarker({target!r})") is True
    # The slot call travels through the same channel as the answer below.
    assert js(qtbot, view, "OkiMap.counts()")["incidents"] > 0
    assert bridge.selected_incident == ""


# --- districts -------------------------------------------------------------------------------


def test_boundaries_make_a_live_choropleth(qtbot: Any, make_view: Callable[..., MapView],
                                           config: Config, store: Store) -> None:
    cfg = config  # the shipped districts, no extra file
    geo_bridge = EngineBridge(cfg, store)
    try:
        view = make_view(geo_bridge)
        assert counts(qtbot, view)["districts"] == 18
        by_kecamatan = store.kpis().active_by_kecamatan
        empty = next((d.name for d in cfg.districts if not by_kecamatan.get(d.name)), None)
        busy = max(by_kecamatan, key=lambda k: by_kecamatan[k])
        busy_style = js(qtbot, view, f"OkiMap.districtStyle({busy!r})")
        assert busy_style["count"] == by_kecamatan[busy]
        assert busy_style["fillOpacity"] > 0

        name = empty or cfg.districts[0].name
        before = js(qtbot, view, f"OkiMap.districtStyle({name!r})")
        district = cfg.district_by_name(name)
        assert district is not None
        inc = new_incident(store, "map-district", location=Location(
            kecamatan=district.name, lat=district.lat, lon=district.lon))
        push(qtbot, geo_bridge, view, apply_event(store, p.IncidentUpserted(incident=inc)))
        after = js(qtbot, view, f"OkiMap.districtStyle({name!r})")
        assert after["count"] == before["count"] + 1
        if empty is not None:
            assert before["fillOpacity"] == 0 and after["fillOpacity"] > 0
        assert view.js_errors() == []
    finally:
        geo_bridge.shutdown()
        geo_bridge.deleteLater()


def test_without_boundaries_the_map_still_counts_per_district(qtbot: Any,
                                                              make_view: Callable[..., MapView],
                                                              config: Config, store: Store) -> None:
    bare = EngineBridge(without_geography(config), store)
    try:
        view = make_view(bare)
        c = counts(qtbot, view)
        assert (c["districts"], c["villages"], c["regency"]) == (0, 0, False)
        shown = js(qtbot, view, "Array.from(document.querySelectorAll('.oki-district-count'))"
                                ".map(e => e.textContent).filter(t => t).length")
        assert shown == sum(1 for k, v in store.kpis().active_by_kecamatan.items() if k and v)
        assert js(qtbot, view, "OkiMap.visibleLabels()") > 0
        assert view.js_errors() == []
    finally:
        bare.shutdown()
        bare.deleteLater()


# --- the map people read ------------------------------------------------------------------


def _overlaps(a: dict[str, float], b: dict[str, float], slack: float = 1.0) -> bool:
    return not (a["r"] <= b["l"] + slack or a["l"] >= b["r"] - slack
                or a["b"] <= b["t"] + slack or a["t"] >= b["b"] - slack)


def _collisions(qtbot: Any, view: MapView) -> list[str]:
    labels = js(qtbot, view, "OkiMap.labelBoxes()")
    markers = js(qtbot, view, "OkiMap.markerBoxes()")
    found = [f"{lab['text']!r} under a marker" for lab in labels if any(_overlaps(lab, m) for m in markers)]
    for i, a in enumerate(labels):
        found += [f"{a['text']!r} over {b['text']!r}" for b in labels[i + 1:] if _overlaps(a, b)]
    return found


def test_fresh_install_draws_oki_regency_districts_and_villages(
        qtbot: Any, make_view: Callable[..., MapView], config: Config) -> None:
    """The defaults alone (no file outside the program) give the geography;
    village outlines and names wait until villages are big enough to read."""
    assert config.map.village_geojson.startswith("builtin:")
    view = make_view()
    c = counts(qtbot, view)
    assert (c["regency"], c["districts"], c["villages"]) == (True, 18, 327)
    # The whole regency on a 6 m wall: a village is a few pixels, so no outlines, no names.
    assert c["villagesShown"] is False and c["villageLabels"] == 0
    mpp = js(qtbot, view, "OkiMap.setView(-3.05, 105.55, 12)")
    assert mpp < map_page.VILLAGE_OUTLINE_M_PER_PX
    qtbot.waitUntil(lambda: counts(qtbot, view)["villageLabels"] > 0, timeout=WAIT_MS)
    assert counts(qtbot, view)["villagesShown"] is True
    names = {lab["text"] for lab in js(qtbot, view, "OkiMap.labelBoxes()") if lab["village"]}
    path = places.geo_path(config.map.village_geojson)
    assert path is not None
    shipped = {f["properties"]["nama"] for f in places.read_feature_collection(path)["features"]}
    assert names and names <= shipped
    assert view.js_errors() == []


@pytest.mark.parametrize("interactive", [False, True])
def test_labels_never_cover_markers_or_each_other(qtbot: Any, make_view: Callable[..., MapView],
                                                  interactive: bool) -> None:
    """Markers are drawn above labels, and no label sits under one: the
    Kayuagung cluster used to sit under its label. A label with no free spot
    is hidden. Also zoomed in, where village names join."""
    view = make_view(interactive=interactive, metrics=theme.metrics_for(1280, 720, 55.0, 6.0))
    z_labels = js(qtbot, view, "+getComputedStyle(document.querySelector('.leaflet-okiLabels-pane')).zIndex")
    z_markers = js(qtbot, view, "+getComputedStyle(document.querySelector('.leaflet-marker-pane')).zIndex")
    assert z_labels < z_markers
    qtbot.waitUntil(lambda: not _collisions(qtbot, view), timeout=WAIT_MS)
    assert js(qtbot, view, "OkiMap.visibleLabels()") > 0
    js(qtbot, view, "OkiMap.setView(-3.05, 105.55, 12)")
    qtbot.waitUntil(lambda: counts(qtbot, view)["villageLabels"] > 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not _collisions(qtbot, view), timeout=WAIT_MS)
    # Kayuagung, where clusters crowd: still nothing under a marker.
    js(qtbot, view, "OkiMap.setView(-3.40, 104.85, 12)")
    qtbot.waitUntil(lambda: not _collisions(qtbot, view), timeout=WAIT_MS)
    assert view.js_errors() == []


@pytest.mark.parametrize("lang", ["id", "en"])
def test_legend_scale_and_the_regency_filling_the_view(qtbot: Any, make_view: Callable[..., MapView],
                                                      bridge: EngineBridge, lang: str) -> None:
    from commandcenter.core.i18n import strings_for

    # The page takes the language of the wall's Strings (here the fixture's bridge).
    bridge.strings = strings_for(lang)
    t = bridge.strings.t
    # A wall screen: it follows its size (here from 1280x720 to a 1080p panel).
    view = make_view(interactive=False, metrics=theme.metrics_for(1920, 1080, 55.0, 6.0))
    view.resize(1920, 1080)
    legend = js(qtbot, view, "OkiMap.legendText()")
    for key in ("priority.short.high", "priority.short.low", "map.legend.unit.available",
                "map.legend.unit.out_of_service", "map.legend.cap.Fire", "map.legend.cap.Health"):
        assert t(key) in legend
    assert js(qtbot, view, "document.querySelectorAll('.leaflet-control-scale-line').length") == 1
    scale = js(qtbot, view, "document.querySelector('.leaflet-control-scale-line').textContent")
    assert re.fullmatch(r"\d+ k?m", scale)

    def fills() -> bool:
        box = js(qtbot, view, "OkiMap.regencyBox()")
        legend_w = js(qtbot, view, "document.querySelector('.oki-legend').offsetWidth")
        free_w = box["w"] - legend_w - 16
        # Fitted to the area beside the legend: one side spans it, nothing sticks out.
        spans = box["b"] - box["t"] >= 0.93 * box["h"] or box["r"] - box["l"] >= 0.93 * free_w
        inside = box["l"] >= -1 and box["t"] >= -1 and box["b"] <= box["h"] + 1 and box["r"] <= free_w + 1
        return spans and inside

    qtbot.waitUntil(fills, timeout=WAIT_MS)
    assert view.js_errors() == []


def test_popup_names_the_village_the_incident_lies_in(qtbot: Any, make_view: Callable[..., MapView],
                                                     bridge: EngineBridge, store: Store) -> None:
    # Deling (Pangkalan Lampam), a peat-fire village, at its source centroid;
    # the caller named no village.
    inc = new_incident(store, "map-deling", location=Location(lat=-3.23659, lon=105.05951))
    view = make_view()
    push(qtbot, bridge, view, apply_event(store, p.IncidentUpserted(incident=inc)))
    assert view.incident_payload(inc)["onMap"] == "Deling, Pangkalan Lampam"
    popup = js(qtbot, view, "OkiMap.popupOf('map-deling')")
    assert "Deling, Pangkalan Lampam" in popup["text"]


# --- a wall runs for months ------------------------------------------------------------------


def footprint(qtbot: Any, view: MapView) -> dict[str, int]:
    return js(qtbot, view, "OkiMap.footprint()")


def test_repeated_updates_leave_nothing_behind_in_the_page(qtbot: Any, make_view: Callable[..., MapView],
                                                           bridge: EngineBridge, store: Store) -> None:
    """The same incidents and units updated round after round (priority, so
    pulsing and icons, status, position) keep the page's DOM and the markers it
    tracks at what the map shows; batches travel as data, never as scripts (V8
    keeps every distinct script it compiled); closed incidents leave no node."""
    view = make_view()
    page = view.web_page()
    scripts: list[str] = []
    run_javascript = page.runJavaScript

    def spy(script: str, *args: Any) -> None:
        scripts.append(script)
        run_javascript(script, *args)

    page.runJavaScript = spy  # type: ignore[method-assign, assignment]

    incidents = {i.id: i for i in active(store)[:20]}
    originals = dict(incidents)
    units = {u.id: u for u in store.units.values() if u.position is not None}
    units = dict(list(units.items())[:30])
    unit_originals = dict(units)
    seq = store.seq

    def round_trip(n: int) -> None:
        """Odd rounds move and re-prioritise everything; even rounds put it back."""
        nonlocal seq
        bodies: list[p.EventBody] = []
        for iid, inc in incidents.items():
            first = originals[iid]
            odd = n % 2 == 1
            assert first.location.lat is not None and first.location.lon is not None
            loc = msgspec.structs.replace(first.location, lat=first.location.lat + (0.002 if odd else 0.0),
                                          lon=first.location.lon)
            incidents[iid] = msgspec.structs.replace(
                inc, version=inc.version + 1, location=loc,
                priority=("low" if first.priority == "high" else "high") if odd else first.priority,
                status="verified" if odd else first.status)
            bodies.append(p.IncidentUpserted(incident=incidents[iid]))
        for uid, unit in units.items():
            first_pos = unit_originals[uid].position
            assert first_pos is not None
            pos = msgspec.structs.replace(first_pos, lat=first_pos.lat + (0.003 * (n % 2)))
            units[uid] = msgspec.structs.replace(unit, version=unit.version + 1, position=pos)
            bodies.append(p.UnitUpserted(unit=units[uid]))
        events = []
        for body in bodies:
            seq += 1
            events.append(p.Event(epoch=store.epoch, seq=seq, id=f"ev-long-{seq}", ts=store.clock(),
                                  body=body))
        push(qtbot, bridge, view, store.apply_many(events))

    for n in range(3):  # one odd round and back: every icon the rounds use is made once
        round_trip(n)
    start = footprint(qtbot, view)
    # Units close together share one square with their count (as incidents share a cluster).
    assert start["incidents"] == len(active(store)) and 0 < start["unitEls"] <= start["units"]
    assert start["popups"] == 0 and start["queued"] == 0
    try:
        for n in range(3, 15):
            round_trip(n)
            if n % 2 == 0:  # back where it started: exactly the same page
                assert footprint(qtbot, view) == start, f"round {n}"
    finally:
        del page.runJavaScript
    assert scripts, "the spy saw nothing"
    assert not [s for s in scripts if "OkiMap.apply" in s or len(s) > 500], "batches sent as scripts"

    # Closing every incident takes every incident node and cluster off the page.
    template = new_incident(store, "map-long-template")
    now = store.clock()
    closing = []
    for inc in active(store):
        seq += 1
        latest = incidents.get(inc.id, inc)
        closed = msgspec.structs.replace(latest, version=latest.version + 1, status="closed",
                                         times=msgspec.structs.replace(inc.times, closed=now))
        closing.append(p.Event(epoch=store.epoch, seq=seq, id=f"ev-long-{seq}", ts=now,
                               body=p.IncidentUpserted(incident=closed)))
    push(qtbot, bridge, view, store.apply_many(closing))
    empty = footprint(qtbot, view)
    assert empty["incidents"] == empty["incidentEls"] == empty["pulsing"] == 0
    assert empty["markerEls"] == empty["unitEls"] == start["unitEls"]
    # Each incident marker or cluster on the map was one Leaflet layer and click target.
    assert empty["layers"] == start["layers"] - start["incidentEls"]
    assert empty["targets"] == start["targets"] - start["incidentEls"]
    assert empty["dom"] < start["dom"] - start["incidentEls"]

    # New incidents that come and go leave the page as they found it.
    for n in range(3):
        batch = [msgspec.structs.replace(template, id=f"map-long-{n}-{k}", ticket=f"T-long-{n}-{k}")
                 for k in range(10)]
        push(qtbot, bridge, view, store.apply_many([
            p.Event(epoch=store.epoch, seq=store.seq + 1 + k, id=f"ev-long-new-{n}-{k}", ts=now,
                    body=p.IncidentUpserted(incident=inc)) for k, inc in enumerate(batch)]))
        qtbot.waitUntil(lambda: footprint(qtbot, view)["incidentEls"] > 0, timeout=WAIT_MS)
        push(qtbot, bridge, view, store.apply_many([
            p.Event(epoch=store.epoch, seq=store.seq + 1 + k, id=f"ev-long-gone-{n}-{k}", ts=now,
                    body=p.IncidentUpserted(incident=msgspec.structs.replace(
                        inc, version=2, status="cancelled"))) for k, inc in enumerate(batch)]))
        assert footprint(qtbot, view) == empty, f"come and go {n}"
    assert view.js_errors() == []


# --- robustness ---------------------------------------------------------------------------------


def test_crashed_render_process_is_reloaded(qtbot: Any, make_view: Callable[..., MapView],
                                            store: Store) -> None:
    view = make_view()
    pid = view.web_page().renderProcessPid()
    assert pid > 0
    with qtbot.waitSignal(view.render_process_lost, timeout=WAIT_MS):
        os.kill(pid, signal.SIGKILL)
    wait_idle(qtbot, view)
    assert view.web_page().renderProcessPid() != pid
    # Every marker again (markercluster adds them in chunks after the batch).
    qtbot.waitUntil(lambda: counts(qtbot, view)["incidents"] == len(active(store)), timeout=WAIT_MS)


def test_a_script_the_dead_renderer_never_answered_runs_again_on_the_next_page(
        qtbot: Any, make_view: Callable[..., MapView]) -> None:
    """A caller waiting for a value (a popup, a count) gets it even when the
    renderer dies under the script: Chromium never answers for a dropped page."""
    view = make_view()
    pid = view.web_page().renderProcessPid()
    box: list[Any] = []
    # Busy for a while, so the renderer surely dies while the script runs.
    view.run_js("(() => { const t = Date.now(); while (Date.now() - t < 1500) {} return 7; })()",
                box.append)
    with qtbot.waitSignal(view.render_process_lost, timeout=WAIT_MS):
        os.kill(pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: bool(box), timeout=WAIT_MS)
    assert box == [7]
    assert view.web_page().renderProcessPid() != pid


@pytest.mark.parametrize("hang", ["script", "load"])
def test_a_hung_page_is_ended_and_the_map_comes_back_with_every_marker(
        qtbot: Any, make_view: Callable[..., MapView], config: Config, store: Store, tmp_path: Path,
        caplog: pytest.LogCaptureFixture, hang: str) -> None:
    """A renderer stuck in a script that never returns (or in a load that never ends) crashes
    nothing and answers nothing: the map stood still, with every later change and question
    queued behind it, while the header said live. Silent past watchdog.map_page_answer_s while
    owing an answer, its renderer is ended and the map reloads; the question asked meanwhile
    gets its answer from the new page."""
    quick = msgspec.structs.replace(config, watchdog=msgspec.structs.replace(
        config.watchdog, map_page_answer_s=2.0))
    b = EngineBridge(quick, store)
    try:
        view = make_view(b)
        pid = view.web_page().renderProcessPid()
        assert pid > 0 and view.page_silence_s() == 0.0
        hung: list[float] = []
        view.page_hung.connect(hung.append)
        if hang == "script":
            # Two in a row: the second hangs the new page before it was ever well again, so
            # it is given twice as long (a page that hangs on what the reload sends it again
            # does not reload in a loop).
            view.run_js("(() => { for (;;) {} })()")
            view.run_js("(() => { for (;;) {} })()")
        else:
            # A load stuck in its start: a reload the page asks for and then never lets happen.
            view.web_page().runJavaScript("location.reload(); for (;;) {}")
        box: list[Any] = []
        view.marker_count_js(box.append)
        qtbot.waitUntil(lambda: bool(box), timeout=WAIT_MS)
        assert hung and hung[0] > 2.0
        if hang == "script":
            assert len(hung) == 2 and hung[1] > 4.0, hung
        assert view.web_page().renderProcessPid() not in (0, pid)
        qtbot.waitUntil(lambda: counts(qtbot, view)["incidents"] == len(active(store)), timeout=WAIT_MS)
        assert view.page_silence_s() < 2.0
        said = [r.getMessage() for r in caplog.records if "answered nothing" in r.getMessage()]
        assert said and ("(loading;" if hang == "load" else "(3 scripts,") in said[0], said
        if hang == "script":
            assert any("dropped the script the page hung in" in r.getMessage() for r in caplog.records)
        assert view.js_errors() == []
    finally:
        b.shutdown()
        b.deleteLater()


def test_renderer_is_recycled_into_a_fresh_process_with_every_marker(
        qtbot: Any, make_view: Callable[..., MapView], bridge: EngineBridge, store: Store,
        caplog: pytest.LogCaptureFixture) -> None:
    """A reload stays in the same (grown) renderer process; recycling moves the
    map to a new one, ends the old one, and shows the same markers again,
    including a change that arrived while it moved."""
    import psutil

    view = make_view()
    before = counts(qtbot, view)
    old = view.web_page().renderProcessPid()
    assert old > 0 and view.renderer_rss_mb() is not None
    old_proc = psutil.Process(old)
    inc = new_incident(store, "recycle-new", priority="high")
    with qtbot.waitSignal(view.renderer_recycled, timeout=WAIT_MS) as recycled:
        view.recycle_renderer("test")
        bridge.push_changes(apply_event(store, p.IncidentUpserted(incident=inc)))
    assert recycled.args is not None and recycled.args[0] == old
    assert recycled.args[1] == view.web_page().renderProcessPid() != old
    qtbot.waitUntil(lambda: not old_proc.is_running() or old_proc.status() == psutil.STATUS_ZOMBIE,
                    timeout=WAIT_MS)
    wait_idle(qtbot, view)
    qtbot.waitUntil(lambda: counts(qtbot, view)["incidents"] == len(active(store)), timeout=WAIT_MS)
    after = counts(qtbot, view)
    assert after["incidents"] == before["incidents"] + 1 == len(active(store))
    assert after["units"] == before["units"]
    assert not view.js_errors()
    # A recycle is not a crash: no reload storm, no error in the log.
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_callbacks_after_teardown_are_ignored(qtbot: Any, make_view: Callable[..., MapView]) -> None:
    view = make_view()
    late: list[Any] = []
    view.run_js("1 + 1", late.append)
    view.shutdown()
    # A plain call behind the first one: once it answered, so would have the first.
    box: list[Any] = []
    view.web_page().runJavaScript("2 + 2", 0, box.append)
    qtbot.waitUntil(lambda: bool(box), timeout=WAIT_MS)
    assert late == []
    view.run_js("3 + 3", late.append)
    assert view.pending_calls() == 0


# --- pixels ------------------------------------------------------------------------------------


def test_screenshot_is_a_dark_map_with_markers(qtbot: Any, make_view: Callable[..., MapView],
                                               tmp_path: Path) -> None:
    view = make_view()
    from PySide6.QtGui import QColor, QImage

    # The page paints asynchronously after the last batch: wait for the markers'
    # colours instead of a fixed delay.
    high = QColor(theme.PRIORITY_COLOR["high"])

    def grabbed() -> QImage:
        path = tmp_path / "map.png"
        assert view.grab().save(str(path))
        return QImage(str(path))

    def has_priority_red() -> bool:
        img = grabbed()
        for y in range(0, img.height(), 3):
            for x in range(0, img.width(), 3):
                c = img.pixelColor(x, y)
                diff = abs(c.red() - high.red()) + abs(c.green() - high.green()) + abs(c.blue() - high.blue())
                if diff < 40:
                    return True
        return False

    qtbot.waitUntil(has_priority_red, timeout=WAIT_MS)
    img = grabbed()
    assert (img.width(), img.height()) == (1280, 720)
    colours = set()
    dark = 0
    total = 0
    for y in range(0, img.height(), 8):
        for x in range(0, img.width(), 8):
            c = img.pixelColor(x, y)
            colours.add((c.red() // 16, c.green() // 16, c.blue() // 16))
            total += 1
            dark += c.lightness() < 60
    assert len(colours) >= 8, "the map looks blank"
    assert dark / total > 0.5, "a 24-hour room needs a dark map"
    corner = img.pixelColor(2, 2)
    assert QColor(theme.BG).lightness() - 10 <= corner.lightness() <= QColor(theme.BG).lightness() + 10
