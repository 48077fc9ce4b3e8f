"""Room layouts of a provincial wall, and how its board fits a region.

The provincial wall's views are the province map (a choropleth per regency with
the incidents), the province board (a tile per regency) and the existing
boards of one chosen regency (leader, queue, agencies). Its layouts are built
here from the same :class:`~commandcenter.wall.layout.Layout` structures as
the single-regency wall's presets (which stay in config/layouts.toml, unchanged)
and are checked by the same legibility rule (commandcenter.core.legibility).

A board tile is two lines of body text: the regency's short name with its
link state (or the age of its data when stale), then its three figures
(active, unacknowledged high priority, arrivals past the target). The tiles
go as many to a row as leave each :data:`TILE_CHARS` characters; a legend
line sits above them. At 6 m a 55-inch 1080p panel holds 12 lines: four tiles
to a row, the 17 regencies of Sumatera Selatan and the province in five rows.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import msgspec

from commandcenter.core.legibility import TextSizes
from commandcenter.wall.layout import (
    Layout,
    Region,
    ScreenLayout,
    default_margin_px,
    planned_rects,
    screen_sizes,
)

#: Characters a tile needs: "Lubuklinggau", "Empat Lawang", or "123  12  12".
TILE_CHARS = 13
#: Space between tiles, in characters.
TILE_GAP_CHARS = 0.5
#: Lines of body text per tile.
TILE_LINES = 2
#: Lines of the legend above the tiles.
LEGEND_LINES = 1
#: The provincial views (the regency's own views keep their names: leader, queue, agencies).
PROVINCE_VIEWS = ("province_map", "province_board")
PRESETS = ("province", "province-laptop")


class BoardFit(NamedTuple):
    per_row: int
    rows: int
    #: Height the legend and every row of tiles need.
    height_px: int
    #: Characters a tile's line holds.
    tile_chars: int
    fits: bool


def board_fit(sizes: TextSizes, width: int, height: int, tiles: int) -> BoardFit:
    """``tiles`` tiles (the regencies and the province's own) in ``width`` x ``height`` px."""
    tiles = max(tiles, 1)
    per_row = max(1, min(tiles, int(width // ((TILE_CHARS + TILE_GAP_CHARS) * sizes.char_px))))

    def need(per: int) -> int:
        return (LEGEND_LINES + math.ceil(tiles / per) * TILE_LINES) * sizes.line_px

    # With room to spare, fewer and wider tiles read better than one long row.
    while per_row > 1 and need(per_row - 1) <= height:
        per_row -= 1
    chars = int((width / per_row) / sizes.char_px - TILE_GAP_CHARS)
    return BoardFit(per_row, math.ceil(tiles / per_row), need(per_row), chars,
                    need(per_row) <= height and chars >= TILE_CHARS)  # fmt: skip


def province_layout(name: str, display: Any) -> Layout:
    """A provincial layout: ``province`` (three 1080p panels at the configured distance and
    diagonal: the map, the board, the chosen regency's leader overview) or
    ``province-laptop`` (one screen at 0.8 m with all three)."""
    if name == "province":
        d, diag = display.viewing_distance_m, display.panel_diagonal_in
        screens = [
            ScreenLayout(index=0, diagonal_in=diag, distance_m=d, regions=[Region(view="province_map")]),  # type: ignore[arg-type]
            ScreenLayout(index=1, diagonal_in=diag, distance_m=d, regions=[Region(view="province_board")]),  # type: ignore[arg-type]
            ScreenLayout(index=2, diagonal_in=diag, distance_m=d, regions=[Region(view="leader")]),
        ]
        return Layout(description_en="Provincial wall: map, regency board, one regency's overview",
                      description_id="Dinding provinsi: peta, papan kabupaten/kota, ringkasan satu kabupaten",
                      screens=screens)  # fmt: skip
    if name == "province-laptop":
        screen = ScreenLayout(
            index=0, diagonal_in=15.6, distance_m=0.8, grid=(2, 2),
            regions=[
                Region(view="province_map", cell=(0, 0), span=(1, 2)),  # type: ignore[arg-type]
                Region(view="province_board", cell=(1, 0)),  # type: ignore[arg-type]
                Region(view="leader", cell=(1, 1)),
            ],
        )  # fmt: skip
        return Layout(description_en="Provincial wall on one laptop screen",
                      description_id="Dinding provinsi pada satu layar laptop", screens=[screen])  # fmt: skip
    raise ValueError(f"no provincial layout {name!r}; there are {', '.join(PRESETS)}")


def check_board(screen: ScreenLayout, region: Region, tiles: int, margin_px: int | None = None) -> list[str]:
    """What does not fit of the board in ``region`` (empty: it fits), measured in the rectangle
    the wall gives it, as the layout check measures every region (layout.planned_rects: under
    the header line, inside the burn-in margins of ``margin_px``, default the shipped
    configuration's)."""
    margin = default_margin_px() if margin_px is None else margin_px
    page = screen if region in screen.regions else msgspec.structs.replace(screen, regions=[region])
    _, _, width, height = planned_rects(page, margin)[page.regions.index(region)]
    fit = board_fit(screen_sizes(screen), width, height, tiles)
    problems = []
    if fit.height_px > height:
        problems.append(
            f"province board: {tiles} tiles in {fit.rows} rows need {fit.height_px} px, {height} available"
        )
    if fit.tile_chars < TILE_CHARS:
        problems.append(f"province board: a tile holds {fit.tile_chars} characters, {TILE_CHARS} needed")
    return problems


__all__ = [
    "PRESETS", "PROVINCE_VIEWS", "TILE_CHARS", "BoardFit", "board_fit", "check_board", "province_layout",
]  # fmt: skip
