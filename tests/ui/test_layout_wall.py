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
from pathlib import Path

import pytest

from commandcenter.config import load_config, load_defaults
from commandcenter.wall.layout import LayoutError, load_layout, resolve_layout
from tests.conftest import ROOT
from tests.serverproc import CONSOLE, ServerProcess
from ui.app.wall import ScreenInfo, offscreen_screens, plan_windows, region_rects

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
