"""The map's context layers in a real QtWebEngine page, fed the way a wall is fed.

The shipped samples (resources/ingest, their times moved to now as the demo does) are
parsed by the real adapters, turned into events by the ingest's publisher and injected
into a real reference server; a wall session follows it and its map draws the layers
the engine derives. The legend's rows switch layers (a real DOM click), a source past
its limit turns its layer stale with its age, and a warning leaves the map when the
wall's clock passes its ``expires`` (the alert service's tick, not a page timer).
Waits are on the page's confirmations or conditions with deadlines, never sleeps.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

# QtWebEngineWidgets must be imported before the QApplication is created.
import PySide6.QtWebEngineWidgets  # noqa: F401
import pytest

from commandcenter.config import load_defaults
from commandcenter.core import protocol as p
from commandcenter.core.model import SourceStatus
from commandcenter.core.timeutil import WIB, utcnow
from commandcenter.ingest import bmkg_quake, cap, firms, petabencana
from commandcenter.ingest.demo import demo_documents
from commandcenter.ingest.publish import bodies_for
from commandcenter.ingest.regions import load_regions
from tests.serverproc import WALL, ServerProcess, admin_inject
from tests.ui.walls import Wall, js, make_wall, run_qasync, settled, until, wait_js, wait_painted
from ui.support import theme
from ui.views.map.view import MapView

pytestmark = [pytest.mark.qt, pytest.mark.slow]  # a server, a wall, a QtWebEngine page

WALL_METRICS = theme.metrics_for(1920, 1080, 55.0, 4.0)
#: The quake's magnitude and a severe warning's outline (ui/views/map/page.py HAZARD_COLORS, SEVERITY_COLORS).
QUAKE_YELLOW = "#ffe08a"
SEVERE_ORANGE = "#ff8a3d"


def _firms_csv(now: dt.datetime) -> bytes:
    """Three VIIRS detections an hour ago in Pangkalan Lampam's peat, two of them one fire."""
    t = (now - dt.timedelta(hours=1)).astimezone(dt.UTC)
    day, hhmm = t.strftime("%Y-%m-%d"), t.strftime("%H%M")
    rows = ["latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,"
            "version,bright_ti5,frp,daynight"]
    for lat, lon, conf, frp in ((-3.2369, 105.0614, "h", "12.40"), (-3.2346, 105.0552, "n", "3.80"),
                                (-3.3500, 105.2000, "l", "2.10")):
        rows.append(f"{lat},{lon},330.00,0.39,0.36,{day},{hhmm},N,VIIRS,{conf},2.0NRT,290.00,{frp},D")
    return ("\n".join(rows) + "\n").encode()


def _sample_bodies(now: dt.datetime) -> tuple[list[p.EventBody], dict[str, Any]]:
    """The demo's documents through the real adapters and publisher."""
    config = load_defaults()
    regions = load_regions("", "")
    docs = demo_documents(now)
    items = [*bmkg_quake.parse(docs["autogempa.json"], regions)]
    items += [cap.parse_alert(docs[name], regions) for name in docs if name.endswith("_alert.xml")]
    items += petabencana.parse(docs["petabencana-reports.json"], regions)
    items += firms.parse(_firms_csv(now), regions)
    bodies: list[p.EventBody] = [b for item in items for b in bodies_for(item, config)]
    for name, kind in (("bmkg-autogempa", "bmkg-quake"), ("bmkg-nowcast", "cap"), ("firms-sumsel", "firms"),
                       ("petabencana", "petabencana")):
        bodies.append(p.SourceStatusChanged(status=SourceStatus(
            name=name, kind=kind, state="live", at=now, last_ok=now, stale_after_s=900.0)))
    return bodies, {"items": items}


def _shown(state: dict[str, Any], layer: str) -> bool:
    return bool(state and state["layers"][layer]["shown"])


@pytest.mark.own_process  # a qasync loop over QtWebEngine: see tests/conftest.py
def test_layers_arrive_from_the_server_toggle_go_stale_and_expire(
    qapp: Any, qtbot: Any, tmp_path: Path
) -> None:
    config = load_defaults()
    shots = os.environ.get("H5_SCREENSHOTS")  # a directory to keep the rendered map in

    async def scenario() -> None:
        server = ServerProcess(tmp_path / "server.sqlite3", heartbeat=0.3).start()
        wall: Wall | None = None
        view: MapView | None = None
        try:
            wall = await make_wall(qtbot, tmp_path, config, server.url, "wall-1", console="", operator="",
                                   token=WALL)  # fmt: skip
            view = MapView(wall.bridge, interactive=False, metrics=WALL_METRICS, page_dir=tmp_path / "page")
            qtbot.addWidget(view)
            view.resize(1600, 1000)
            view.show()
            w = wall
            await until([w], lambda: settled(w) and view is not None and view.is_idle(), "wall and map ready")

            now = utcnow()
            bodies, ctx = _sample_bodies(now)
            warnings = [i for i in ctx["items"] if i.kind == "warning"]
            oki = next(i for i in warnings if i.kecamatan)
            assert any(not i.kecamatan for i in warnings)  # the Palembang one touches no district
            await admin_inject(server.url, bodies)

            state = await wait_js(
                view, "OkiMap.hazards()",
                lambda s: bool(s) and s["layers"]["warning"]["count"] == 2
                and s["layers"]["quake"]["count"] == 1
                and s["layers"]["report"]["count"] > 0 and s["layers"]["hotspot"]["count"] == 2,
                "all four layers drawn",
            )  # fmt: skip
            assert oki.expires is not None
            valid_until = oki.expires.astimezone(WIB).strftime("%H.%M")
            labels = " | ".join(state["labels"])
            assert f"berlaku s.d. {valid_until} WIB" in labels and "Berat" in labels
            assert "Sedang · di luar OKI" in labels  # Palembang's warning, beside the regency
            assert "M 6,1" in labels  # the epicentre is beyond the regency: its edge label says it
            assert state["edge"] == 1 and "km dari OKI" in labels
            assert "60 cm" in labels
            assert f"bmkg-cap/{oki.id}" in state["layers"]["warning"]["keys"]
            for layer in ("warning", "quake", "hotspot", "report"):
                assert _shown(state, layer) and not state["layers"][layer]["stale"]
            assert state["legendRows"] == ["warning", "quake", "hotspot", "report"]
            assert "Peringatan dini BMKG" in state["legend"]
            assert "BMKG" in state["layers"]["warning"]["status"]
            # Painted, not only in the DOM: the magnitude's yellow and the severe warning's orange.
            image = await wait_painted(view, QUAKE_YELLOW, "the quake's label", 40, step=3)
            image = await wait_painted(view, SEVERE_ORANGE, "the severe warning", 40, step=3)
            if shots:
                image.save(str(Path(shots) / "h5-map-layers.png"))

            # The legend's row switches its layer off and on (a DOM click), and Python knows.
            state = await js(view, "(OkiMap.clickHazardRow('warning'), OkiMap.hazards())")
            assert not _shown(state, "warning") and _shown(state, "quake")
            await until([w], lambda: view is not None and view.hazard_visibility()["warning"] is False,
                        "the switch reached Python")  # fmt: skip
            state = await js(view, "(OkiMap.clickHazardRow('warning'), OkiMap.hazards())")
            assert _shown(state, "warning")
            await wait_painted(view, SEVERE_ORANGE, "the warnings back on", minimum=200, step=3)
            # And from Python (a wall's key binding, a test).
            view.set_hazard_layer_visible("quake", False)
            state = await wait_js(view, "OkiMap.hazards()", lambda s: not _shown(s, "quake"), "quake off")
            assert state["edge"] == 0 and not any("M 6,1" in text for text in state["labels"])
            view.set_hazard_layer_visible("quake", True)
            await wait_js(view, "OkiMap.hazards()", lambda s: _shown(s, "quake"), "quake on")

            # The nowcast source's last good poll is two hours old: its layer is stale, with its age.
            old = utcnow() - dt.timedelta(hours=2)
            await admin_inject(server.url, [p.SourceStatusChanged(status=SourceStatus(
                name="bmkg-nowcast", kind="cap", state="live", at=utcnow(), last_ok=old,
                stale_after_s=900.0))])  # fmt: skip
            state = await wait_js(view, "OkiMap.hazards()", lambda s: s["layers"]["warning"]["stale"],
                                  "stale")  # fmt: skip
            assert state["layers"]["warning"]["status"] == "BMKG: data berumur 2 jam"
            assert "data berumur 2 jam" in state["legend"]
            # On screen: the severe warning's orange outline, plate and hatching have turned grey
            # (the legend's small swatch keeps its orange).
            image = await wait_painted(view, SEVERE_ORANGE, "the stale warnings in grey",
                                       fewer_than=150, step=3)
            if shots:
                image.save(str(Path(shots) / "h5-map-layers-stale.png"))
            assert not state["layers"]["quake"]["stale"]

            # The wall's clock passes the OKI warning's expiry: the engine drops it, the map follows.
            w.offset_s[0] = (oki.expires - utcnow()).total_seconds() + 1
            state = await wait_js(
                view, "OkiMap.hazards()",
                lambda s: f"bmkg-cap/{oki.id}" not in s["layers"]["warning"]["keys"], "the warning expired",
            )  # fmt: skip
            assert f"bmkg-cap/{oki.id}" not in w.client.store.hazards
            assert not any(f"s.d. {valid_until} WIB" in text for text in state["labels"])
            assert view.js_errors() == []
        finally:
            if view is not None:
                view.shutdown()
            if wall is not None:
                await wall.close()
            server.stop()

    run_qasync(qapp, scenario)


def _overlap(a: dict[str, float], b: dict[str, float]) -> float:
    w = min(a["r"], b["r"]) - max(a["l"], b["l"])
    h = min(a["b"], b["b"]) - max(a["t"], b["t"])
    return max(0.0, w) * max(0.0, h)


def test_the_laptop_maps_legends_leave_the_regency_clear(qtbot: Any, bridge: Any, store: Any,
                                                          tmp_path: Path) -> None:
    """The laptop preset's map region (once 680x343 of a 14-inch 1366x768 screen read from 0.6 m):
    its legend covered about half the regency, because an operator's map was fitted once, at a
    size its layout then changed. Now it fits again on resize beside its legends (the incidents'
    legend folded to its title when there is no room), with the context layers' legend too."""
    from commandcenter.core.model import HazardItem
    from tests.factories import make_event

    view = MapView(bridge, interactive=True, metrics=theme.metrics_for(1366, 768, 14.0, 0.6),
                   page_dir=tmp_path / "page")  # fmt: skip
    qtbot.addWidget(view)
    view.resize(1366, 768)  # first laid out at the screen's size, then given its region
    view.show()
    qtbot.waitUntil(view.is_idle, timeout=30_000)
    now = store.clock()
    warning = HazardItem(
        source="bmkg-cap", kind="warning", id="CSS3", time=now - dt.timedelta(minutes=5),
        expires=now + dt.timedelta(hours=2), text="Hujan Lebat disertai Petir di Sumatera Selatan",
        kecamatan=["Kayu Agung"], severity="severe",
        area=[[(-3.33, 104.84), (-3.33, 104.93), (-3.42, 104.93), (-3.42, 104.84)]],
    )  # fmt: skip
    bridge.push_changes(store.apply(make_event(p.HazardReported(item=warning), seq=store.seq + 1,
                                               ts=store.clock(), epoch=store.epoch)))  # fmt: skip
    from commandcenter.wall import layout as lay

    screen = lay.shipped_presets()["laptop"].screens[0]
    region = next(r for r in screen.regions if r.view == "map")
    rep = lay.check_region(screen, region, "s0")
    view.resize(rep.width_px, rep.height_px)
    answers: list[Any] = []

    def clear() -> bool:
        answers.clear()
        view.run_js_json("[OkiMap.regencyBox(), OkiMap.legendBox(), OkiMap.hazards()]", answers.append)
        qtbot.waitUntil(lambda: bool(answers), timeout=30_000)
        regency, legend, hazards = answers[0]
        if regency is None or regency["w"] != rep.width_px or hazards["layers"]["warning"]["count"] != 1:
            return False
        area = (regency["r"] - regency["l"]) * (regency["b"] - regency["t"])
        # The regency fills the area beside the legends (an operator's zoom steps in quarters)
        # and lies under neither of them.
        tall = regency["b"] - regency["t"] >= 0.8 * rep.height_px
        inside = _box_inside(regency, rep.width_px, rep.height_px)
        return _overlap(regency, legend) < 0.02 * area and tall and inside

    qtbot.waitUntil(clear, timeout=30_000)
    assert view.js_errors() == []


def _box_inside(box: dict[str, float], w: float, h: float) -> bool:
    return box["l"] >= -1 and box["t"] >= -1 and box["r"] <= w + 1 and box["b"] <= h + 1


@pytest.mark.parametrize("lang", ["id", "en"])
def test_the_four_panels_map_shows_the_whole_regency_beside_a_narrow_legend(
    qtbot: Any, bridge: Any, tmp_path: Path, lang: str
) -> None:
    """The four-panels preset's map (a 55-inch 1080p panel read from 6 m, its region under the
    header): its legend took about half the width and the regency was cut at the south-west.
    Now the regency lies whole inside the map, clear of the legends, the legend takes at most
    30 % of the width, and its text is still the body size that subtends 16' at 6 m."""
    from commandcenter.core.i18n import strings_for
    from commandcenter.wall import layout as lay

    bridge.strings = strings_for(lang)
    screen = lay.shipped_presets()["four-panels"].screens[0]
    rep = lay.check_region(screen, screen.regions[0], "s0", lang)
    metrics = theme.metrics_for(screen.width_px, screen.height_px, screen.diagonal_in, screen.distance_m)
    view = MapView(bridge, interactive=False, metrics=metrics, page_dir=tmp_path / "page")
    qtbot.addWidget(view)
    view.resize(screen.width_px, screen.height_px)  # the window at the screen's size, then its region
    view.show()
    qtbot.waitUntil(view.is_idle, timeout=30_000)
    view.resize(rep.width_px, rep.height_px)
    answers: list[Any] = []
    probe = ("[OkiMap.regencyBox(), OkiMap.legendBox(),"
             " parseFloat(getComputedStyle(document.querySelector('.oki-legend')).fontSize)]")  # fmt: skip
    last: list[Any] = []

    def clear() -> bool:
        answers.clear()
        view.run_js_json(probe, answers.append)
        qtbot.waitUntil(lambda: bool(answers), timeout=30_000)
        regency, legend, font = answers[0]
        last[:] = answers[0]
        if regency is None or regency["w"] != rep.width_px or regency["h"] != rep.height_px:
            return False
        area = (regency["r"] - regency["l"]) * (regency["b"] - regency["t"])
        return (_box_inside(regency, regency["w"], regency["h"]) and _overlap(regency, legend) < 0.005 * area
                and legend["r"] - legend["l"] <= 0.30 * regency["w"] and font >= metrics.body_px)  # fmt: skip

    try:
        qtbot.waitUntil(clear, timeout=30_000)
    except qtbot.TimeoutError:
        rows = []
        view.run_js_json("Array.from(document.querySelectorAll('.oki-legend-row'))"
                         ".map(function (r) { return [r.innerText, r.offsetWidth]; })", rows.append)
        qtbot.waitUntil(lambda: bool(rows), timeout=30_000)
        raise AssertionError(f"regency, legend, legend font: {last}; legend rows {rows[0]}") from None
    assert view.js_errors() == []


def test_a_legend_that_grows_after_the_fit_does_not_cover_the_regency(
    qtbot: Any, bridge: Any, tmp_path: Path
) -> None:
    """The legends' corner may change size with the map's size unchanged (the page's fonts
    arrive late, a context layer's legend grows): the gallery's single-4k map had its legend
    over the south of the regency. The wall fits again whenever the corner's size changes."""
    metrics = theme.metrics_for(1920, 1080, 55.0, 6.0)
    view = MapView(bridge, interactive=False, metrics=metrics, page_dir=tmp_path / "page")
    qtbot.addWidget(view)
    view.resize(1920, 966)
    view.show()
    qtbot.waitUntil(view.is_idle, timeout=30_000)
    answers: list[Any] = []

    def boxes() -> tuple[dict[str, float], dict[str, float]]:
        answers.clear()
        view.run_js_json("[OkiMap.regencyBox(), OkiMap.legendBox()]", answers.append)
        qtbot.waitUntil(lambda: bool(answers), timeout=30_000)
        return answers[0][0], answers[0][1]

    def clear(min_legend_w: float = 0) -> bool:
        regency, legend = boxes()
        if regency is None or legend["r"] - legend["l"] < min_legend_w:
            return False
        return _box_inside(regency, regency["w"], regency["h"]) and _overlap(regency, legend) == 0

    qtbot.waitUntil(clear, timeout=30_000)
    # The legend grows by itself: nothing else happens on the page.
    grown: list[Any] = []
    view.run_js_json("(document.querySelector('.oki-legend').style.minWidth = '900px', 1)", grown.append)
    qtbot.waitUntil(lambda: bool(grown), timeout=30_000)
    qtbot.waitUntil(lambda: clear(900), timeout=30_000)
    assert view.js_errors() == []
