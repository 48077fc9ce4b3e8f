"""Room layouts on the real wall: which layout screen goes on which Qt screen(s), the regions'
rectangles, headless screens shaped like the preset, and the older [[screens]] configuration.

The planning is pure (no windows); the last test runs the real `commandcenter wall` process on
the videowall-2x2 preset against the real server and reads back where every region went.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from commandcenter.config import load_config, load_defaults
from commandcenter.wall.layout import LayoutError, load_layout, region_rects, resolve_layout
from tests.conftest import ROOT
from tests.serverproc import CONSOLE, ServerProcess
from ui.app.wall import ScreenInfo, offscreen_screens, plan_windows

pytestmark = [pytest.mark.qt]


def _infos(config: dict) -> list[ScreenInfo]:
    return [ScreenInfo(s["name"], i, s["width"], s["height"], s["x"], s["y"])
            for i, s in enumerate(sorted(config["screens"], key=lambda s: s["name"]))]  # fmt: skip


@pytest.mark.parametrize(
    ("preset", "sizes"),
    [
        ("four-panels", [(1920, 1080)] * 4),
        ("videowall-2x2", [(3840, 2160), (1920, 1080)]),
        ("single-4k", [(3840, 2160)]),
        ("laptop", [(1366, 768)]),
    ],
)
def test_headless_screens_follow_the_preset(preset: str, sizes: list[tuple[int, int]]) -> None:
    _, layout = load_layout(preset)
    screens = offscreen_screens(layout)["screens"]
    assert [(s["width"], s["height"]) for s in screens] == sizes
    # Qt orders screens by name: that order must be the layout's index order.
    assert [s["name"] for s in screens] == sorted(s["name"] for s in screens)
    plans = plan_windows(layout, _infos(offscreen_screens(layout)))
    assert len(plans) == len(sizes), "every layout screen on a screen of its own"
    assert sorted(v for p in plans for v in p.views) == sorted(
        r.view for s in layout.screens for r in s.regions
    )


def test_a_video_wall_shown_as_four_screens_gets_one_window_over_all_four(tmp_path: Path) -> None:
    (tmp_path / "wall.toml").write_text(
        '[[screens]]\nqt_screens = ["P1", "P2", "P3", "P4"]\nwidth_px = 3840\nheight_px = 2160\n'
        'diagonal_in = 110\npanels = [2, 2]\ndistance_m = 5\ngrid = [2, 2]\n'
        'regions = [{ view = "map", span = [1, 2] }, { view = "queue", cell = [1, 0] },'
        ' { view = "leader", cell = [1, 1] }]\n'
    )
    _, layout = load_layout(file=str(tmp_path / "wall.toml"))
    infos = _infos(offscreen_screens(layout))
    assert [(i.name, i.x, i.y, i.width) for i in infos] == [
        ("P1", 0, 0, 1920), ("P2", 1920, 0, 1920), ("P3", 0, 1080, 1920), ("P4", 1920, 1080, 1920)
    ]  # fmt: skip
    (plan,) = plan_windows(layout, infos)
    assert plan.geometry == (0, 0, 3840, 2160)
    assert plan.spans_screens and plan.qt_screens == ["P1", "P2", "P3", "P4"]
    # One panel missing: the wall's views join the primary screen instead of vanishing.
    (plan,) = plan_windows(layout, [i for i in infos if i.name != "P4"])
    assert plan.views == ["map", "queue", "leader"] and not plan.spans_screens


def test_regions_sit_at_their_cells_and_the_header_comes_off_the_top_row_only() -> None:
    _, layout = load_layout("videowall-2x2")
    wall = layout.screens[0]
    header = 105
    rects = dict(zip([r.view for r in wall.regions], region_rects(wall, 3840, 2160 - header, header),
                     strict=True))  # fmt: skip
    assert rects["map"] == (0, 0, 1920, 2160 - header)
    # The queue ends, and the agencies start, exactly on the bezel between the panels
    # (y = 1080 on the screen), so no row of text is cut by it.
    assert rects["queue"] == (1920, 0, 1920, 1080 - header)
    assert rects["agencies"][1] + header == 1080
    assert rects["leader"] == (1920, 1440 - header, 1920, 720)


def test_the_older_screens_configuration_still_decides_when_no_layout_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'config_version = 1\n[[screens]]\nindex = 0\nview = "leader"\n'
        '[[screens]]\nindex = 1\nview = "console"\ninteractive = true\nviewing_distance_m = 0.7\n'
    )
    name, layout = resolve_layout(load_config(str(tmp_path / "config.toml")))
    assert name == "screens"
    assert [(s.regions[0].view, s.index, s.distance_m, s.interactive) for s in layout.screens] == [
        ("leader", 0, 6.0, False), ("console", 1, 0.7, True)
    ]  # fmt: skip
    # A layout named in the configuration, or on the command line, wins.
    (tmp_path / "named.toml").write_text((tmp_path / "config.toml").read_text().replace(
        "config_version = 1\n", 'config_version = 1\n[display]\nlayout = "laptop"\n'))  # fmt: skip
    assert resolve_layout(load_config(str(tmp_path / "named.toml")))[0] == "laptop"
    assert resolve_layout(load_config(str(tmp_path / "config.toml")), preset="single-4k")[0] == "single-4k"
    assert resolve_layout(load_defaults())[0] == "four-panels"
    with pytest.raises(LayoutError, match="no preset 'nope'"):
        resolve_layout(load_defaults(), preset="nope")


@pytest.mark.slow
def test_the_wall_runs_the_videowall_preset(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server.sqlite3", scenario="mixed", speed=30, rate=3).start()
    try:
        out = subprocess.run(
            [sys.executable, "-m", "ui.app.cli", "wall", "--no-supervisor", "--headless",
             "--preset", "videowall-2x2", "--run-for", "8", "--server", server.url, "--token", CONSOLE,
             "--operator", "Sari", "--data-dir", str(tmp_path / "data"),
             "--placement-report", str(tmp_path / "placement.json")],
            cwd=ROOT, env=dict(os.environ, QTWEBENGINE_DISABLE_SANDBOX="1"), capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
    finally:
        server.stop()
    assert out.returncode == 0, out.stderr[-3000:]
    placement = {p["screen"]: p for p in json.loads((tmp_path / "placement.json").read_text())}
    assert sorted(placement) == ["S1-map-queue-agencies-leader", "S2-console"]
    wall, desk = placement["S1-map-queue-agencies-leader"], placement["S2-console"]
    assert wall["window"] == wall["screen_geometry"] == [0, 0, 3840, 2160]
    assert desk["window"] == desk["screen_geometry"] == [3840, 0, 1920, 1080]
    # Text sized for the whole wall read from 5 m, and for the desk at 0.7 m.
    assert wall["body_px"] > 2 * desk["body_px"]
    regions = {r["view"]: r["rect"] for r in wall["regions"]}
    shift = 8  # the burn-in shift moves everything by a few pixels
    for view in ("queue", "agencies", "leader"):
        x, y, w, h = regions[view]
        assert abs(x - 1920) <= shift and abs(w - 1920) <= shift, (view, regions[view])
        top, bottom = y, y + h
        assert bottom <= 1080 + shift or top >= 1080 - shift, f"{view} crosses the bezel: {regions[view]}"
    assert regions["map"][3] > 1900, "the map spans both panels' height"
    assert [r["view"] for r in desk["regions"]] == ["console"]


# --- the layout check against the real wall's windows -------------------------------------


class _LiveFeed:
    """A feed that is live (the header's stale banner hides: the state the check plans for),
    with the listener lists EngineBridge.attach_feed fills."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.change_listeners: list[Any] = []
        self.status_listeners: list[Any] = []
        self.result_listeners: list[Any] = []

    @property
    def status(self) -> Any:
        from commandcenter.wall.feed import FeedState, FeedStatus

        now = time.monotonic()
        return FeedStatus(FeedState.LIVE, now, now, self.store.epoch, self.store.seq)


def _wall_parts(
    monkeypatch: pytest.MonkeyPatch, config: Any, store: Any, clock: Any, feed: Any
) -> tuple[Any, Any]:
    """A bridge on ``feed`` and the alert adapter of a service whose alerts have escalated (the
    leader's flag and the console's banner show), for real wall windows whose map cells hold a
    placeholder: the map page plays no part in where its cell goes (tests/ui/test_map*.py load
    it)."""
    from PySide6.QtWidgets import QLabel

    import ui.app.wall as wall_app
    from commandcenter.wall.alerting import AlertService
    from ui.alerts.adapter import AlertAdapter
    from ui.support.bridge import EngineBridge

    real_view = wall_app._make_view

    def make_view(view: str, *args: Any, **kwargs: Any) -> Any:
        return QLabel("map") if view == "map" else real_view(view, *args, **kwargs)

    monkeypatch.setattr(wall_app, "_make_view", make_view)
    bridge = EngineBridge(config, store)
    bridge.attach_feed(feed)
    service = AlertService(config, store, operator="Sari", console="meja-1", clock=clock)
    service.tick()
    clock.advance(config.alerts.escalate_after_s + 1)
    service.tick()
    return bridge, AlertAdapter(service, bridge)


def _cell(widget: Any) -> tuple[int, int]:
    cell = widget.parentWidget()  # the region's cell (ui.app.wall._region_grid)
    return cell.width(), cell.height()


# A user's own layout: a desk (interactive) screen with the operations board and a queue side by
# side, whose search bar, margins and gaps the check once planned as a wall's (rows too many).
DESK_BOARDS = """
[presets.desk-boards]
description_id = "Meja dengan papan operasi dan antrean"
description_en = "A desk with the operations board and a queue"

[[presets.desk-boards.screens]]
index = 0
diagonal_in = 24
distance_m = 0.7
interactive = true
grid = [2, 1]
regions = [{ view = "operations", cell = [0, 0] }, { view = "queue", cell = [1, 0] }]
"""


@pytest.mark.parametrize("preset", ["laptop", "four-panels", "videowall-2x2", "single-4k", "desk-boards"])
def test_the_layout_check_plans_the_regions_the_wall_gives_the_views(
    qtbot: Any, qapp: Any, config: Any, store: Any, clock: Any, preset: str, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Every region of every shipped preset in a real wall window (header, burn-in margins, an
    escalated alert in the console's banner): the rectangle `commandcenter layout check` measured
    is the view's, and a queue shows exactly the whole rows and the columns it listed, wherever
    the burn-in shift has moved the content (the check once planned without the shift's margins:
    regions 8 px smaller than planned, and the 2x2 desk's console one row short of its 38)."""
    from PySide6.QtWidgets import QTableView

    from commandcenter.wall import layout as lay
    from ui.app.burnin import install_burn_in
    from ui.app.wall import WallWindow, WindowPlan
    from ui.views.queue import COLUMNS

    bridge, alerts = _wall_parts(monkeypatch, config, store, clock, _LiveFeed(store))
    margin = config.display.burn_in.shift_px
    assert config.display.burn_in.enabled and margin > 0
    if preset == "desk-boards":
        (tmp_path / "layouts.toml").write_text(DESK_BOARDS, encoding="utf-8")
        _, layout = load_layout(preset, str(tmp_path / "layouts.toml"))
    else:
        _, layout = load_layout(preset)
    problems: list[str] = []
    windows: list[WallWindow] = []
    try:
        for s, screen in enumerate(layout.screens):
            size, qscreen = (screen.width_px, screen.height_px), qapp.primaryScreen()
            plan = WindowPlan(ScreenInfo(f"S{s}", 0, *size), (0, 0, *size), [screen], [qscreen.name()])
            window = WallWindow(plan, qscreen, bridge, config, alerts)
            windows.append(window)
            window.burn_in = install_burn_in(window, config, clock=clock)
            qtbot.waitExposed(window.widget)
            reports = [lay.check_region(screen, r, f"s{s}", config.display.language) for r in screen.regions]
            if window.header.height() != lay.header_px(lay.screen_sizes(screen)):
                problems.append(f"{preset} s{s}: the header is {window.header.height()} px, planned "
                                f"{lay.header_px(lay.screen_sizes(screen))}")  # fmt: skip
            positions = set()
            for _ in range(3):  # home, then two steps of the shift
                positions.add(window.burn_in.offset)
                for (view, widget, _page), rep, region in zip(window.regions, reports, screen.regions,
                                                               strict=True):  # fmt: skip
                    where = f"{preset} s{s} {view} at offset {window.burn_in.offset}"
                    expected = rep.shows
                    if window.alert_banner is not None:
                        # A desk without a console: the alert banner over the grid takes the
                        # alert's height, so the view is measured in the cell it got.
                        expected = lay.shows_in(screen, region, *_cell(widget), config.display.language)
                    elif _cell(widget) != (rep.width_px, rep.height_px):
                        problems.append(f"{where}: planned {rep.width_px}x{rep.height_px}, "
                                        f"the wall gives {_cell(widget)}")  # fmt: skip
                    table = widget.findChild(QTableView)
                    if table is None:
                        continue
                    planned = (int(expected["rows"]), set(expected["columns"]))

                    def shown(table: QTableView = table) -> tuple[int, set[str]]:
                        rows = table.viewport().height() // table.verticalHeader().defaultSectionSize()
                        return rows, {COLUMNS[c] for c in range(len(COLUMNS)) if not table.isColumnHidden(c)}

                    try:
                        qtbot.waitUntil(lambda p=planned, f=shown: f() == p, timeout=3000)
                    except qtbot.TimeoutError:
                        problems.append(f"{where}: the check lists {planned[0]} rows {sorted(planned[1])}, "
                                        f"the view shows {shown()[0]} {sorted(shown()[1])}")  # fmt: skip
                clock.advance(config.display.burn_in.step_interval_s)
                window.burn_in.update_now()
            assert len(positions) == 3, f"the burn-in shift did not move: {positions}"
    finally:
        for window in windows:
            window.close()
        alerts.shutdown()
        bridge.shutdown()
        bridge.deleteLater()
    assert not problems, "\n".join(problems)


# --- the stale state: the banner under the header, and what it leaves the views ----------------


class _StaleFeed(_LiveFeed):
    """A feed that lost its server 23 h 59 min after its last event (the banner's longest age)."""

    AGE_S = 23 * 3600 + 59 * 60 + 30

    @property
    def status(self) -> Any:
        from commandcenter.wall.feed import FeedState, FeedStatus

        last = time.monotonic() - self.AGE_S
        return FeedStatus(FeedState.OFFLINE, last, last, self.store.epoch, self.store.seq,
                          server="ws://127.0.0.1:9/")  # fmt: skip


def _whole(label: Any) -> str:
    """'' when ``label``'s text is drawn whole inside it (one line, its height), else why."""
    fm = label.fontMetrics()
    rect = label.contentsRect()
    lines = label.text().splitlines() or [""]
    if not label.wordWrap() and max(fm.horizontalAdvance(t) for t in lines) > rect.width():
        return f"{label.text()!r} is {max(fm.horizontalAdvance(t) for t in lines)} px wide in {rect.width()}"
    need = label.heightForWidth(rect.width()) if label.wordWrap() else fm.height() * len(lines)
    if need > rect.height():
        return f"{label.text()!r} needs {need} px of height, has {rect.height()}"
    return ""


@pytest.mark.parametrize("lang", ["id", "en"])
@pytest.mark.parametrize("preset", ["four-panels", "videowall-2x2", "single-4k", "laptop"])
def test_the_stale_banner_is_one_line_and_the_views_keep_their_minimums(
    qtbot: Any, qapp: Any, config: Any, store: Any, clock: Any, preset: str, lang: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every screen of every shipped preset in a real wall window with the feed down: the red
    stale banner shows on one line at the height the engine plans (layout.stale_banner_px, one
    heading line between thin rules; it was a heading line, its padding and two thick rules:
    about 150 px on a 1080p panel at 6 m, and the four-panels queue showed 8 whole rows), its age
    whole; every region gets the rectangle the layout check plans for the stale state; a queue
    shows the whole rows the check reports while stale (rows_stale), at least ten; the leader's
    four key figures are whole under the escalation flag."""
    import msgspec
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtWidgets import QTableView

    from commandcenter.wall import layout as lay
    from ui.app.burnin import install_burn_in
    from ui.app.wall import WallWindow, WindowPlan
    from ui.views.leader import LeaderView

    config = msgspec.structs.replace(config, display=msgspec.structs.replace(config.display, language=lang))
    bridge, alerts = _wall_parts(monkeypatch, config, store, clock, _StaleFeed(store))
    age = bridge.strings.age(_StaleFeed.AGE_S)
    _, layout = load_layout(preset)
    problems: list[str] = []
    windows: list[WallWindow] = []
    try:
        for s, screen in enumerate(layout.screens):
            size, qscreen = (screen.width_px, screen.height_px), qapp.primaryScreen()
            # Shown as a window over "two" screens (window.show, not full screen): the offscreen
            # platform's one 800x600 screen would otherwise take a full-screen window's size
            # while the test waits for the views to settle.
            plan = WindowPlan(ScreenInfo(f"S{s}", 0, *size), (0, 0, *size), [screen], [qscreen.name()] * 2)
            window = WallWindow(plan, qscreen, bridge, config, alerts)
            windows.append(window)
            window.burn_in = install_burn_in(window, config, clock=clock)
            qtbot.waitExposed(window.widget)
            where = f"{preset} {lang} s{s}"
            banner = window.header.banner
            sizes = lay.screen_sizes(screen)
            # The header settles to its line and the banner (the marks give way to the longer
            # feed state on the bar itself, never a strip of their own).
            header_h = lay.header_px(sizes) + lay.stale_banner_px(sizes)
            try:
                qtbot.waitUntil(lambda w=window, h=header_h: w.header.height() == h, timeout=3000)
            except qtbot.TimeoutError:
                strip = window.header.mark_strip.isVisible()
                problems.append(f"{where}: the header with the banner is {window.header.height()} px, "
                                f"planned {header_h} (the mark strip shown: {strip})")
            if not window.header.is_banner_shown() or not banner.isVisible():
                problems.append(f"{where}: the stale banner is hidden")
            if banner.height() != lay.stale_banner_px(sizes):
                problems.append(f"{where}: the stale banner is {banner.height()} px, planned "
                                f"{lay.stale_banner_px(sizes)} (a heading line {sizes.heading_line_px})")
            if banner.wordWrap() or _whole(banner):
                problems.append(f"{where}: the stale banner is not one whole line: {_whole(banner)}")
            if age not in banner.text() or "…" in banner.text():
                problems.append(f"{where}: the banner {banner.text()!r} does not give the age {age!r}")
            if banner.width() != window.header.width():
                problems.append(f"{where}: the banner is {banner.width()} px wide, the header "
                                f"{window.header.width()}")  # fmt: skip
            reports = [lay.check_region(screen, r, f"s{s}", lang) for r in screen.regions]
            for (view, widget, _page), rep in zip(window.regions, reports, strict=True):
                at = f"{where} {view}"
                planned = (rep.width_px, rep.stale_height_px)
                if _cell(widget) != planned:
                    problems.append(f"{at}: planned {planned} while stale, the wall gives {_cell(widget)}")
                table = widget.findChild(QTableView)
                if table is not None:
                    must = int(rep.shows["rows_stale"])

                    def shown(table: QTableView = table) -> int:
                        return table.viewport().height() // table.verticalHeader().defaultSectionSize()

                    try:
                        qtbot.waitUntil(lambda m=must, f=shown: f() == m, timeout=3000)
                    except qtbot.TimeoutError:
                        problems.append(f"{at}: the check reports {must} rows while stale, the queue "
                                        f"shows {shown()}")  # fmt: skip
                    if min(must, shown()) < lay.QUEUE_MIN_ROWS:
                        problems.append(f"{at}: {shown()} whole rows while stale (the check: {must}; "
                                        f"{rep.height_px} px live, {rep.stale_height_px} px under the "
                                        f"{lay.stale_banner_px(sizes)} px banner, rows of {sizes.line_px} "
                                        f"px), at least {lay.QUEUE_MIN_ROWS} needed")  # fmt: skip
                leader = widget if isinstance(widget, LeaderView) else widget.findChild(LeaderView)
                if leader is not None:

                    def cut(v: LeaderView = leader, at: str = at) -> list[str]:
                        out = []
                        for tile in v.figure_tiles:
                            rect = QRect(tile.mapTo(v, QPoint(0, 0)), tile.size())
                            if not tile.isVisible() or not v.rect().contains(rect):
                                out.append(f"{at}: the figure {tile.caption.text()!r} at {rect.getRect()} "
                                           f"is not whole in the view {v.rect().getRect()}")  # fmt: skip
                            for label in (tile.caption, tile.value):
                                if why := _whole(label):
                                    out.append(f"{at}: figure {tile.caption.text()!r}: {why}")
                        return out

                    # The leader settles its arrangement after a resize (ui.views.leader's fit).
                    try:
                        qtbot.waitUntil(lambda f=cut: not f(), timeout=3000)
                    except qtbot.TimeoutError:
                        problems += cut()
            if (window.widget.width(), window.widget.height()) != size:
                problems.append(f"{where}: the window is {window.widget.size().toTuple()}, not {size}")
    finally:
        for window in windows:
            window.close()
        alerts.shutdown()
        bridge.shutdown()
        bridge.deleteLater()
    assert not problems, "\n".join(problems)
