"""Room layouts and the legibility rule: the shipped presets meet their minimums, the numbers
agree with the domain's readability figures, and every fix the check proposes really fixes."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from commandcenter.core import legibility as lg
from commandcenter.wall.layout import (
    QUEUE_MIN_ROWS,
    LayoutError,
    Region,
    ScreenLayout,
    check_layout,
    load_layout,
    parse_layouts,
    shipped_presets,
)
from tests.conftest import ROOT

PRESETS = ("four-panels", "videowall-2x2", "single-4k", "laptop")


def test_the_domain_numbers() -> None:
    # domain.md: at 6 m, 16' is a 28 mm capital; on a 55-inch 1080p panel about 44 px of capital.
    assert lg.cap_height_mm(6.0, 16) == pytest.approx(27.9, abs=0.1)
    assert lg.cap_height_mm(6.0, 23) == pytest.approx(40.1, abs=0.1)
    s = lg.sizes_for(1920, 1080, 55, 6.0)
    ppm = math.hypot(1920, 1080) / (55 * 25.4)
    assert s.body_px * lg.CAP_HEIGHT_PER_EM == pytest.approx(44, abs=1.5)
    # The font chosen is the smallest that still reaches 16': one pixel less falls below it.
    assert lg.font_arcmin(s.body_px, ppm, 6.0) >= 16.0 > lg.font_arcmin(s.body_px - 1, ppm, 6.0)
    assert lg.font_arcmin(s.heading_px, ppm, 6.0) >= 23.0
    assert lg.max_distance_m(s.body_px, ppm) == pytest.approx(6.0, rel=0.03)


@pytest.mark.parametrize("lang", ["id", "en"])
@pytest.mark.parametrize("name", PRESETS)
def test_every_shipped_preset_meets_its_minimums(name: str, lang: str) -> None:
    report = check_layout(name, shipped_presets()[name], lang)
    assert report.lang == lang
    assert report.ok, "\n".join(p for r in report.regions for p in r.problems)
    views = {r.view for r in report.regions}
    # Every preset shows the queue (directly, in operations or in the console) and all agencies.
    assert views & {"queue", "operations", "console"}
    for r in report.regions:
        if r.view in ("queue", "operations", "console"):
            assert r.shows["rows"] >= QUEUE_MIN_ROWS
            assert r.shows["columns"][:5] == ["priority", "category", "location", "age", "status"]
        if r.view in ("agencies", "operations", "console"):
            assert r.shows["tiles_per_row"] * r.shows["tile_rows"] >= 8
        if not r.interactive:
            assert r.body_arcmin >= 16.0


def _one_screen(view: str, distance: float, diagonal: float = 55, **kw: object) -> ScreenLayout:
    return ScreenLayout(diagonal_in=diagonal, distance_m=distance, regions=[Region(view=view)], **kw)


def _layout(*screens: ScreenLayout) -> object:
    from commandcenter.wall.layout import Layout

    return Layout(screens=list(screens))


def test_the_old_operations_screen_fails_and_each_fix_fixes_it() -> None:
    # Queue and the eight agency tiles on one 55" 1080p panel at 6 m: 1.5 rows on the old wall.
    screen = _one_screen("operations", 6.0)
    (rep,) = check_layout("old", _layout(screen)).regions
    assert not rep.ok and any("whole rows" in p for p in rep.problems)
    fixes = " | ".join(rep.fixes)
    distance = float(re.search(r"at most ([0-9.]+) m", fixes).group(1))
    diagonal = float(re.search(r"at least ([0-9]+) inch", fixes).group(1))
    assert distance < 6.0 and diagonal > 55
    closer = msgspec.structs.replace(screen, distance_m=distance)
    larger = msgspec.structs.replace(screen, diagonal_in=diagonal)
    for fixed in (closer, larger):
        (again,) = check_layout("fixed", _layout(fixed)).regions
        # Under the stale banner too: the check's fixes are those of the state with less room.
        assert again.ok and again.shows["rows_stale"] >= QUEUE_MIN_ROWS, (fixed, again.problems)


def test_a_text_view_across_a_bezel_is_a_problem() -> None:
    wall = ScreenLayout(
        width_px=3840, height_px=2160, diagonal_in=110, panels=(2, 2), distance_m=5.0, grid=(2, 2),
        regions=[Region(view="map", span=(1, 2)), Region(view="queue", cell=(1, 0), span=(1, 2))],
    )  # fmt: skip
    reports = check_layout("bezel", _layout(wall)).regions
    queue = next(r for r in reports if r.view == "queue")
    assert any("bezel" in p and "1080" in p for p in queue.problems)
    assert next(r for r in reports if r.view == "map").ok  # the map may span panels


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("diagonal_in = 55\ndistance_m = 6\nregions = [{view = 'map', cell = [1, 0]}]", "outside"),
        (
            "grid = [2, 1]\ndiagonal_in = 55\ndistance_m = 6\n"
            "regions = [{view = 'map', span = [2, 1]}, {view = 'queue', cell = [1, 0]}]",
            "already taken",
        ),
        ("diagonal_in = 55\ndistance_m = 6\nregions = [{view = 'radar'}]", "radar"),
        ("diagonal_in = 55\ndistance_m = 99\nregions = [{view = 'map'}]", "distance_m"),
    ],
)
def test_a_bad_layout_is_refused_naming_why(toml: str, message: str) -> None:
    import tomllib

    doc = {"screens": [tomllib.loads(toml)]}
    with pytest.raises(LayoutError, match=message):
        parse_layouts(doc, "mine.toml")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "commandcenter.cli", "layout", "check", *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip


def test_layout_check_command(tmp_path: Path) -> None:
    out = _cli("--all")
    assert out.returncode == 0, out.stdout + out.stderr
    for name in PRESETS:
        assert f"layout {name} (id): ok" in out.stdout  # Indonesian: the default display language
    mine = tmp_path / "ruang-kecil.toml"
    mine.write_text(
        "[[screens]]\ndiagonal_in = 43\ndistance_m = 7\nregions = [{view = 'operations'}]\n", encoding="utf-8"
    )
    out = _cli("--config", str(mine))
    assert out.returncode == 1
    assert "MINIMUM NOT MET" in out.stdout and "fix: read it from at most" in out.stdout
    cfg = tmp_path / "config.toml"
    cfg.write_text("[layout]\npreset = 'single-4k'\n", encoding="utf-8")
    assert _cli("--config", str(cfg)).returncode == 0
    broken = tmp_path / "broken.toml"
    broken.write_text("[[screens]\n", encoding="utf-8")
    out = _cli("--config", str(broken))
    assert out.returncode == 2 and out.stderr.startswith("layout: ") and len(out.stderr.splitlines()) == 1
    out = _cli("--preset", "nine-panels")
    assert out.returncode == 2 and "four-panels" in out.stderr


def test_load_layout_defaults_to_four_panels() -> None:
    name, layout = load_layout()
    assert name == "four-panels" and len(layout.screens) == 4


@pytest.mark.parametrize("lang", ["id", "en"])
def test_the_check_measures_the_captions_of_the_display_language(lang: str) -> None:
    """The leader's captions are measured in the language the wall shows (default id), not in
    the longest wording of every language: the check plans what the view will lay out."""
    from commandcenter.core.i18n import strings_for
    from commandcenter.wall.layout import (
        LEADER_CAPTION_KEYS,
        check_region,
        leader_captions,
        leader_fit,
        screen_sizes,
    )

    t = strings_for(lang).t
    assert leader_captions(lang) == [t(k) for k in LEADER_CAPTION_KEYS]
    for name, layout in shipped_presets().items():
        for screen in layout.screens:
            for region in screen.regions:
                if region.view != "leader":
                    continue
                rep = check_region(screen, region, name, lang)
                fit = leader_fit(screen_sizes(screen), rep.width_px, rep.height_px, flag=True,
                                 captions=[t(k) for k in LEADER_CAPTION_KEYS])  # fmt: skip
                fit.pop("figures_px")
                assert rep.shows == fit, f"{name} ({lang})"


def test_layout_check_takes_the_configured_language(tmp_path: Path) -> None:
    import os

    from commandcenter.config.loader import ENV_CONFIG

    cfg = tmp_path / "config.toml"
    cfg.write_text("[display]\nlanguage = 'en'\n", encoding="utf-8")
    env = {**os.environ, ENV_CONFIG: str(cfg)}
    argv = [sys.executable, "-m", "commandcenter.cli", "layout", "check", "--preset", "laptop"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, cwd=ROOT, env=env)
    assert "layout laptop (en): ok" in out.stdout, out.stdout + out.stderr
    out = _cli("--preset", "laptop", "--lang", "en")
    assert "layout laptop (en)" in out.stdout


def test_the_check_plans_the_stale_banner_too(tmp_path: Path) -> None:
    """A queue that holds ten whole rows while the feed is live but not under the stale banner
    (which a layout may never hide) misses its minimum: the check reports the rows of both
    states, exits 1, and its fix, taken, gives ten rows while stale. A 55" 1080p panel with the
    queue alone at 6.2 m: 986 px live (10 rows under the column header), 864 px under the
    banner (one heading line between 2 px rules): 9 rows."""
    from commandcenter.wall.layout import banner_line_px, check_region, screen_sizes, stale_banner_px

    screen = _one_screen("queue", 6.2)
    sizes = screen_sizes(screen)
    assert stale_banner_px(sizes) == banner_line_px(sizes) + 4 == sizes.heading_line_px + 4
    rep = check_region(screen, screen.regions[0], "s1", margin_px=4)
    assert rep.stale_height_px == rep.height_px - stale_banner_px(sizes)
    assert rep.shows["rows"] >= QUEUE_MIN_ROWS > rep.shows["rows_stale"], rep.shows
    rows, stale = rep.shows["rows"], rep.shows["rows_stale"]
    assert rep.problems == [f"while stale (the {stale_banner_px(sizes)} px stale banner under the header): "
                            f"queue: {stale} whole rows, at least {QUEUE_MIN_ROWS} needed"]  # fmt: skip
    mine = tmp_path / "queue.toml"
    mine.write_text("[[screens]]\ndiagonal_in = 55\ndistance_m = 6.2\nregions = [{view = 'queue'}]\n")
    out = _cli("--config", str(mine))
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"rows={rows}, rows_stale={stale}" in out.stdout and "while stale" in out.stdout
    fix = re.search(r"fix: read it from at most ([0-9.]+) m", out.stdout)
    assert fix is not None, out.stdout
    distance = float(fix.group(1))
    closer = msgspec.structs.replace(screen, distance_m=distance)
    again = check_region(closer, closer.regions[0], "s1", margin_px=4)
    assert again.ok and again.shows["rows_stale"] >= QUEUE_MIN_ROWS, again.problems


@pytest.mark.parametrize("name", PRESETS)
def test_only_the_top_row_of_regions_gives_the_stale_banner_its_height(name: str) -> None:
    from commandcenter.wall.layout import check_region, screen_sizes, stale_banner_px

    for screen in shipped_presets()[name].screens:
        banner = stale_banner_px(screen_sizes(screen))
        for region in screen.regions:
            rep = check_region(screen, region, name)
            lost = rep.height_px - rep.stale_height_px
            assert lost == (banner if region.cell[1] == 0 else 0), (name, region, lost)
            if "rows" in rep.shows:
                assert rep.shows["rows_stale"] <= rep.shows["rows"]
