"""Room layouts: which view goes where on which screen, and whether it can be read there.

A layout names each screen (a Qt screen by name or index, or several Qt screens that together
form one video wall) with its pixels, its diagonal, the physical panels it is made of and the
distance it is read from, and divides it into a grid whose cells the views take as rectangles.
Presets ship in config/layouts.toml (``--preset NAME``); a user's own layout file has the same
shape (``--layout FILE``).

:func:`check_layout` is the rule behind ``commandcenter layout check`` and the views' density:
for every region it works out the text sizes at the distance (commandcenter.core.legibility),
what the view can show there (queue rows and columns, agency tiles per row, leader figures), and
for every minimum not met what would fix it, with the numbers: a closer distance, a larger
panel, or a larger share of the screen.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import msgspec
from msgspec import Meta, Struct

from commandcenter.core.legibility import LINE_PER_EM, TextSizes, max_distance_m, px_per_mm, sizes_for
from commandcenter.wall.burnin import BurnInSchedule

View = Literal["map", "queue", "agencies", "operations", "leader", "console"]
Cell = Annotated[int, Meta(ge=0, le=15)]
Span = Annotated[int, Meta(ge=1, le=16)]


class Region(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A view on a rectangle of grid cells: ``cell`` = [column, row] of its top-left cell."""

    view: View
    cell: tuple[Cell, Cell] = (0, 0)
    span: tuple[Span, Span] = (1, 1)


class ScreenLayout(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One screen of a layout. ``qt_screens`` lists the Qt screens of a video wall that the wall
    controller shows to the PC as separate screens (they must form a rectangle); empty means one
    Qt screen, found by ``name``, else by ``index``. ``width_px``/``height_px`` are what the
    layout is designed for (the running wall uses what Qt reports); ``diagonal_in`` is the whole
    screen's diagonal, ``panels`` [columns, rows] the physical panels it is made of (bezels fall
    between them)."""

    name: Annotated[str, Meta(max_length=64)] = ""
    index: Annotated[int, Meta(ge=0, le=63)] = 0
    qt_screens: list[Annotated[str, Meta(min_length=1, max_length=64)]] = []
    width_px: Annotated[int, Meta(ge=320, le=32768)] = 1920
    height_px: Annotated[int, Meta(ge=240, le=32768)] = 1080
    diagonal_in: Annotated[float, Meta(gt=5, le=1000)]
    panels: tuple[Span, Span] = (1, 1)
    distance_m: Annotated[float, Meta(gt=0.2, le=50)]
    #: A desk screen an operator works at (clicks, keys): minimums are those of a console.
    interactive: bool = False
    grid: tuple[Span, Span] = (1, 1)
    regions: Annotated[list[Region], Meta(min_length=1)]


class Layout(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    description_id: str = ""
    description_en: str = ""
    screens: Annotated[list[ScreenLayout], Meta(min_length=1)]


#: The layout of a configuration that names none (display.layout's default).
DEFAULT_PRESET = "four-panels"


class LayoutError(ValueError):
    """A layout that cannot be used, naming the layout, the screen or region, and why."""


# --- loading -------------------------------------------------------------------------------


def _validate(name: str, layout: Layout) -> None:
    for s, screen in enumerate(layout.screens):
        where = f"{name}: screens[{s}]"
        cols, rows = screen.grid
        taken: dict[tuple[int, int], int] = {}
        for r, region in enumerate(screen.regions):
            c0, r0 = region.cell
            w, h = region.span
            if c0 + w > cols or r0 + h > rows:
                raise LayoutError(f"{where}.regions[{r}]: cells {c0}..{c0 + w - 1} x {r0}..{r0 + h - 1} "
                                  f"outside the {cols} x {rows} grid")  # fmt: skip
            for c in range(c0, c0 + w):
                for rr in range(r0, r0 + h):
                    if (c, rr) in taken:
                        raise LayoutError(f"{where}.regions[{r}]: cell [{c}, {rr}] is already taken by "
                                          f"regions[{taken[(c, rr)]}]")  # fmt: skip
                    taken[(c, rr)] = r
        if screen.qt_screens and len(screen.qt_screens) != screen.panels[0] * screen.panels[1]:
            raise LayoutError(f"{where}: {len(screen.qt_screens)} qt_screens for {screen.panels[0]} x "
                              f"{screen.panels[1]} panels")  # fmt: skip


def parse_layouts(data: dict[str, Any], source: str) -> dict[str, Layout]:
    """The layouts of a TOML document: ``[presets.NAME]`` tables (config/layouts.toml), a
    ``[layout]`` table (a user's configuration: one layout, or ``preset = NAME``), or one layout
    at the top level (a layout file), named after the file."""
    if "presets" in data:
        raw = data["presets"]
    elif "layout" in data:
        body = data["layout"]
        if isinstance(body, dict) and set(body) == {"preset"}:
            return {str(body["preset"]): shipped_presets()[_known_preset(str(body["preset"]), source)]}
        raw = {Path(source).stem: body}
    else:
        raw = {Path(source).stem: data}
    if not isinstance(raw, dict):
        raise LayoutError(f"{source}: [presets] must be a table of layouts")
    out = {}
    for name, body in raw.items():
        try:
            layout = msgspec.convert(body, Layout)
        except msgspec.ValidationError as exc:
            raise LayoutError(f"{source}: {name}: {exc}") from None
        _validate(name, layout)
        out[name] = layout
    return out


def _known_preset(name: str, source: str) -> str:
    presets = shipped_presets()
    if name not in presets:
        raise LayoutError(f"{source}: no preset {name!r}; the shipped presets are {', '.join(presets)}")
    return name


def shipped_presets() -> dict[str, Layout]:
    text = (files("config") / "layouts.toml").read_text(encoding="utf-8")
    return parse_layouts(tomllib.loads(text), "config/layouts.toml")


def load_layout(preset: str = "", file: str = "") -> tuple[str, Layout]:
    """The layout a wall runs: a user's file, else a shipped preset (default four-panels)."""
    if file:
        try:
            data = tomllib.loads(Path(file).read_text(encoding="utf-8"))
        except OSError as exc:
            raise LayoutError(f"{file}: cannot read: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise LayoutError(f"{file}: not TOML: {exc}") from None
        layouts = parse_layouts(data, file)
        name = preset or next(iter(layouts))
        if name not in layouts:
            raise LayoutError(f"{file}: no layout {name!r} (has {', '.join(layouts)})")
        return name, layouts[name]
    presets = shipped_presets()
    name = preset or DEFAULT_PRESET
    if name not in presets:
        raise LayoutError(f"no preset {name!r}; the shipped presets are {', '.join(presets)}")
    return name, presets[name]


def layout_from_screens(config: Any) -> Layout:
    """The older ``[[screens]]`` configuration as a layout: one view per screen, at the screen's
    own distance and diagonal (else display.viewing_distance_m / panel_diagonal_in)."""
    display = config.display
    screens = [
        ScreenLayout(
            name=sc.name, index=sc.index, interactive=sc.interactive,
            diagonal_in=sc.diagonal_in or display.panel_diagonal_in,
            distance_m=sc.viewing_distance_m or display.viewing_distance_m,
            regions=[Region(view=sc.view)],
        )
        for sc in config.screens
    ]  # fmt: skip
    return Layout(description_en="[[screens]] of the configuration", screens=screens)


def resolve_layout(
    config: Any, preset: str = "", file: str = "", config_dir: Path | None = None
) -> tuple[str, Layout]:
    """The layout a wall runs, in this order: ``--layout FILE`` / ``--preset NAME``; a
    display.layout other than the default; a ``[[screens]]`` list that differs from the shipped
    one (configurations written before layouts keep working); else display.layout
    (four-panels). A relative display.layout file is found beside the configuration file."""
    if preset or file:
        return load_layout(preset, file)
    chosen = str(getattr(config.display, "layout", "") or DEFAULT_PRESET)
    if chosen == DEFAULT_PRESET and not _default_screens(config):
        return "screens", layout_from_screens(config)
    if chosen in shipped_presets() or not chosen.endswith(".toml"):
        return load_layout(chosen)
    path = Path(chosen).expanduser()
    if not path.is_absolute() and config_dir is not None and (config_dir / path).exists():
        path = config_dir / path
    return load_layout("", str(path))


def _default_screens(config: Any) -> bool:
    from commandcenter.config import load_defaults

    return list(config.screens) == list(load_defaults().screens)


# --- what each view needs ----------------------------------------------------------------------

#: The queue's columns in the order they are given up when space runs short (the first five are
#: never dropped: priority, category, district and village, age, status), with the width in
#: characters each needs on a wall (short names from config). The optional ones are what the
#: queue widget really takes in either language, on a wall or a desk (its widest expected text
#: and the cell's padding: "Satpol PP / Damkar", "OKI-20261127-0000"), so that a column the
#: layout check lists is one the widget shows (it had agencies at 12 on the 2x2 wall, where
#: the widget needs 18 and showed five columns).
QUEUE_COLUMNS: tuple[tuple[str, int, bool], ...] = (
    ("priority", 8, True), ("category", 9, True), ("location", 14, True), ("age", 6, True),
    ("status", 10, True), ("agencies", 19, False), ("units", 7, False), ("ticket", 20, False),
    ("ack", 16, False), ("victims", 8, False),
)  # fmt: skip
#: A desk's queue (ui.views.operations with compact=False: an operator's console) words age and
#: status in full ("23 jam 59 mnt", "Dalam Perjalanan") where its five first columns fit with
#: them, else short as on a wall, and keeps the optional columns in their order while they fit
#: beside those (the place keeping its header's width): characters each takes, padding and icon
#: included, the wider of the two languages.
DESK_REQUIRED_CHARS = {
    False: {"priority": 12, "category": 12, "location": 18, "age": 19, "status": 21},
    True: {"priority": 12, "category": 12, "location": 10, "age": 11, "status": 12},
}  # fmt: skip
QUEUE_MIN_ROWS = 10
#: A queue whose body text is smaller than this is a desk's (ui.views.operations: compact below).
DESK_BODY_PX = 32
AGENCY_TILES = 8
#: An agency tile: its short name and its counts ("▲3 ●5 ✓2"), each on a line of this many chars.
AGENCY_TILE_CHARS = 9
AGENCY_TILE_LINES = 2
#: Pixels between two rows of wall tiles (ui.views.agencies' grid from metres away: the tiles'
#: borders part them), and between a wall's queue and the tiles under it (ui.views.operations).
AGENCY_TILE_GAP_PX = 2
OPERATIONS_GAP_PX = 2
#: The leader overview's key figures: a label line (body) over a value line (figure size).
LEADER_KEY_FIGURES = 4
#: A key figure's tile is at least this many characters of body text wide (its value: "10,2 mnt").
LEADER_FIGURE_CHARS = 13
#: Each key figure's widest value: (characters, at figure size (else heading size)): counts up to
#: "1.234", times like "10,2 mnt"; and a bold character's advance per pixel of font size.
LEADER_VALUES = ((5, True), (5, True), (8, False), (8, False))
BOLD_CHAR_PER_EM = 0.62
#: A label's line per pixel of font size (DejaVu Sans: ascent + descent = 1.164 em).
FONT_HEIGHT_PER_EM = 1.17
#: The key figures' captions, in their order on the wall (row by row).
LEADER_CAPTION_KEYS = ("kpi.active", "leader.unacked_high", "leader.oldest", "leader.median_arrival")
#: The call funnel (Panggilan Hari Ini, Masuk, Terjawab, Tak Terjawab, Prank, Ghost, Valid).
FUNNEL_LINES = 7
MAP_MIN_CHARS = 24
MAP_MIN_LINES = 8
#: Lines of an alert's text the console plans for in its banner (ui.alerts.banner): narrow (the
#: text on rows of its own, under the priority and the Konfirmasi button) and wide (beside them).
BANNER_TEXT_LINES = {True: 3, False: 2}
#: Characters of the wide banner's second row (escalated mark, age and count of other alerts, the
#: shelve and mute captions and their five buttons), generous: planning the narrow banner where the
#: wide one shows only costs rows, the other way round the banner would push the queue down.
BANNER_WIDE_CHARS = 110
BANNER_BUTTONS = 5
#: Lines of the selected incident's detail the console keeps beside the queue before it gives
#: the agency tiles their desk form (counts, median arrival and a sparkline) up for two lines each.
CONSOLE_DETAIL_LINES = 6
#: The console's queue : detail split (ui.views.console.ConsoleView's splitter).
CONSOLE_QUEUE_SHARE = 3 / 5
#: A console's agency tile is this many characters wide (two-line tiles, desk tiles): its counts
#: run to three digits each ("▲202 ✓248"), digits are wider than the average character, and a
#: desk tile has wider margins.
CONSOLE_TILE_CHARS = {True: 10, False: 12}
#: The detail column is never narrower than this many characters.
CONSOLE_SIDE_CHARS = 24


@dataclass
class RegionReport:
    screen: str
    view: str
    width_px: int
    height_px: int
    body_px: int
    body_arcmin: float
    distance_m: float
    interactive: bool = False
    #: The region's height while the stale banner shows (the same below the top row).
    stale_height_px: int = 0
    #: What the view can show there, e.g. {"rows": 12, "columns": [...], "tiles_per_row": 4}.
    shows: dict[str, Any] = field(default_factory=dict)
    #: Minimums not met, each with the fixes that would meet it.
    problems: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class LayoutReport:
    name: str
    regions: list[RegionReport]
    #: The display language whose captions were measured.
    lang: str = "id"

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.regions)


#: What a framed mark in the header (no audio, muted) adds to a body line, above and below.
HEADER_MARK_PX = 8


def header_px(sizes: TextSizes) -> int:
    """The screen header (ui.views.header.ScreenHeader): one line of body-size text (title, feed
    state, clock) and the frame of a mark (font_height_px is never below Qt's line height for the
    same size). Its text is body size, so a heading pitch only took height from the views: with it
    (114 px on a 1080p panel at 6 m) the four-panels queue showed 9 whole rows under the stale
    banner, with this (82 px) 10."""
    return font_height_px(sizes.body_px) + HEADER_MARK_PX


def banner_line_px(sizes: TextSizes) -> int:
    """One line of heading-size text: the stale banner's (and the replay banner's) line."""
    return max(sizes.heading_line_px, header_px(sizes))


def stale_rule_px(sizes: TextSizes) -> int:
    """The thin rules above and below the stale banner (its edge against the header and the views)."""
    return max(2, pad_px(sizes) // 8)


def stale_banner_px(sizes: TextSizes) -> int:
    """The stale banner under the header (ui.views.header.StaleBanner, and the replay banner in
    its place, ui.views.timebar.ReplayBanner): one line of heading-size text at heading pitch
    (:func:`banner_line_px`), between two thin rules. Its red, its full width
    and its heading size make it unmistakable; padding and thick rules only took the queue's
    rows (about 150 px on a 1080p panel at 6 m: 8 whole rows instead of 11)."""
    return banner_line_px(sizes) + 2 * stale_rule_px(sizes)


Rect = tuple[int, int, int, int]


def region_rects(page: ScreenLayout, width: int, height: int, offset_px: int) -> list[Rect]:
    """Each region's rectangle (x, y, w, h) in a grid area of ``width`` x ``height`` that sits
    ``offset_px`` below the top of its screen (under the header): cells at their true screen
    rectangles, so row boundaries (and a video wall's bezels between them) stay where the
    layout and its check put them; the header is taken from the top row only. The wall places
    its regions with this (ui.app.wall), the layout check plans them with it
    (:func:`planned_rects`)."""
    cols, rows = page.grid
    total_h = height + offset_px
    xs = [round(width * c / cols) for c in range(cols + 1)]
    ys = [max(0, round(total_h * r / rows) - offset_px) for r in range(rows + 1)]
    ys[-1] = height
    out = []
    for region in page.regions:
        (c0, r0), (cw, rh) = region.cell, region.span
        out.append((xs[c0], ys[r0], xs[c0 + cw] - xs[c0], ys[r0 + rh] - ys[r0]))
    return out


def planned_rects(screen: ScreenLayout, margin_px: int, *, stale: bool = False) -> list[Rect]:
    """The regions' rectangles on the running wall: inside the window's burn-in margins
    (commandcenter.wall.burnin.BurnInSchedule.margins: ``margin_px`` on each side at home, and
    always ``2 * margin_px`` in all on each axis, wherever the shift is) and under the header
    line, as ui.app.wall lays them out (a window with the alert banner of an interactive
    screen without a console loses its height too, which varies with the alert shown).
    ``stale``: with the stale banner under the header (the feed not live, or a replay)."""
    grid_w = screen.width_px - 2 * margin_px
    sizes = screen_sizes(screen)
    above = header_px(sizes) + (stale_banner_px(sizes) if stale else 0) + 2 * margin_px
    return region_rects(screen, grid_w, screen.height_px - above, above)


@functools.cache
def default_margin_px() -> int:
    """The burn-in margin of the shipped configuration (display.burn_in)."""
    from commandcenter.config import load_defaults

    return BurnInSchedule.from_config(load_defaults().display.burn_in).margin_px


def configured_margin_px() -> int:
    """The burn-in margin of the effective configuration, else the shipped one."""
    from commandcenter.config import ConfigError, load_config

    try:
        return BurnInSchedule.from_config(load_config().display.burn_in).margin_px
    except (ConfigError, OSError):
        return default_margin_px()


class QueueFit(NamedTuple):
    """What the incident queue shows in a rectangle (:func:`queue_fit`)."""

    #: Whole rows under the column header.
    rows: int
    #: The columns kept (QUEUE_COLUMNS' names, in their order).
    columns: list[str]
    #: Characters a line needs for the columns that are never dropped.
    min_chars: int
    #: A desk's age and status in their short wording (a wall's always are).
    short_text: bool = True


def queue_fit(sizes: TextSizes, width: int, height: int, *, desk: bool = False) -> QueueFit:
    """The incident queue in ``width`` x ``height`` px at ``sizes``: the whole rows under its
    header line and the columns that fit the width (QUEUE_COLUMNS, optional ones given up last
    first; the required five are kept even when the width is short, and the layout check then
    reports it). On a ``desk`` (DESK_REQUIRED_CHARS) the optional columns are kept in order while
    they fit. The queue views keep exactly these columns."""
    rows = max(0, height // sizes.line_px - 1)
    chars = sizes.chars(width)
    minimum = sum(n + 1 for _, n, req in QUEUE_COLUMNS if req)
    kept = [name for name, _, required in QUEUE_COLUMNS if required]
    if desk:
        short_text = chars < sum(DESK_REQUIRED_CHARS[False].values())
        free = chars - sum(DESK_REQUIRED_CHARS[short_text].values())
        for name, need, required in QUEUE_COLUMNS:
            if required:
                continue
            if need + 1 > free:
                break
            kept.append(name)
            free -= need + 1
        return QueueFit(rows, kept, minimum, short_text)
    used = minimum
    for name, need, required in QUEUE_COLUMNS:
        if not required and used + need + 1 <= chars:
            kept.append(name)
            used += need + 1
    order = [name for name, _, _ in QUEUE_COLUMNS]
    return QueueFit(rows, sorted(kept, key=order.index), minimum)


class TilesFit(NamedTuple):
    """How the eight agency tiles are arranged in a width (:func:`agency_tiles_fit`)."""

    per_row: int
    rows: int
    #: Height of all the rows of tiles.
    height_px: int


def agency_tiles_fit(sizes: TextSizes, width: int, tile_chars: int = AGENCY_TILE_CHARS) -> TilesFit:
    """The eight agency tiles in ``width`` px at ``sizes``: as many to a row as leave each
    AGENCY_TILE_CHARS characters (its short name, its counts), each tile AGENCY_TILE_LINES lines
    high. The agency views place their tiles in these rows."""
    per_row = max(1, min(AGENCY_TILES, int(width // ((tile_chars + 1) * sizes.char_px))))
    rows = math.ceil(AGENCY_TILES / per_row)
    return TilesFit(per_row, rows, rows * AGENCY_TILE_LINES * sizes.line_px + (rows - 1) * AGENCY_TILE_GAP_PX)


def leader_captions(lang: str = "") -> list[str]:
    """The key figures' captions in ``lang`` (the wall's display language: the layout check
    measures what the leader view will show); empty: every shipped language (the longest
    wording of each figure)."""
    from commandcenter.core.i18n import strings_for

    out = []
    for code in (lang,) if lang else ("id", "en"):
        t = strings_for(code).t
        out += [t(key) for key in LEADER_CAPTION_KEYS]
    return out


def _wrapped_lines(text: str, chars: int) -> int:
    """Lines ``text`` takes when wrapped at word boundaries to ``chars`` characters a line (a
    word longer than a line takes a line of its own: the tile then is too narrow)."""
    lines, used = 1, 0
    for word in text.split():
        if used and used + 1 + len(word) > chars:
            lines, used = lines + 1, len(word)
        else:
            used += (1 if used else 0) + len(word)
    return lines


def leader_fit(
    sizes: TextSizes, width: int, height: int, *, flag: bool = False, captions: list[str] | None = None
) -> dict[str, Any]:
    """What the leader overview shows in ``width`` x ``height`` px at ``sizes``.

    The key figures are tiles of a caption (wrapped to the tile's width) over a value line at
    figure size, 4, 3, 2 or 1 to a row; where no such arrangement fits, tiles with the value
    beside its caption (``beside``: a row only as tall as the value), whichever takes the least
    height. ``captions`` are the captions the view shows (default: the longest wording of every
    shipped language). With ``flag`` (escalated alerts: the flag above the figures is never
    hidden) its two lines, or only its headline (``flag_lines`` 1) when two leave the figures no
    room. The call funnel (label/value pairs two to a line under a title) and the hourly chart
    (four lines more) are shown only when they fit under the figures.

    Returns figures_per_row, figure_rows, beside, figures_px (the flag and the figures, margins
    included), flag_lines (0 without the flag), funnel and chart (bool)."""
    captions = captions if captions is not None else leader_captions()
    pad = max(4, sizes.body_px // 3)  # the view's padding (ui.support.theme.ScreenMetrics.pad_px)
    gap = pad // 2
    # A line of a label is the font's height (ascent + descent), a tile's value one line at
    # figure size; a tile adds its frame and margins.
    line = math.ceil(sizes.body_px * FONT_HEIGHT_PER_EM)
    value_px = math.ceil(sizes.figure_px * FONT_HEIGHT_PER_EM) + 2 * (pad // 4) + 2
    # Each tile's widest value, bold: counts at figure size, times at heading size.
    value_w = [chars * (sizes.figure_px if big else sizes.heading_px) * BOLD_CHAR_PER_EM
               for chars, big in LEADER_VALUES]  # fmt: skip
    # Each tile's captions (one per language) and its longest word, which must fit a line.
    tile_captions = [captions[i::LEADER_KEY_FIGURES] for i in range(LEADER_KEY_FIGURES)]
    words = [max(len(w) for c in cs for w in c.split()) for cs in tile_captions]
    widest = max(1, width - 2 * gap)
    flag_px = {0: 0, 1: line + 8 + gap, 2: 2 * line + 8 + gap}  # lines, its frame, a gap
    options: list[tuple[bool, int, int, int]] = []  # (beside, per_row, rows, px)
    for beside in (False, True):
        for per_row in range(LEADER_KEY_FIGURES, 0, -1):
            tile_w = (widest - (per_row - 1) * gap) / per_row - pad
            rows = math.ceil(LEADER_KEY_FIGURES / per_row)
            heights = [0] * rows
            fits = True
            for i in range(LEADER_KEY_FIGURES):
                text_w = tile_w - value_w[i] - pad if beside else tile_w
                chars = max(1, int(text_w / sizes.char_px))
                fits = fits and tile_w >= value_w[i] and chars >= words[i]
                lines = max(_wrapped_lines(c, chars) for c in tile_captions[i])
                tile_h = max(lines * line, value_px) if beside else lines * line + value_px
                heights[i // per_row] = max(heights[i // per_row], tile_h)  # a row: its tallest tile
            if fits or per_row == 1:
                options.append((beside, per_row, rows, 2 * gap + sum(h + gap for h in heights)))
    # Stacked tiles (the figures at their biggest) where they fit with the whole flag; else
    # the arrangement that takes the least height.
    room = height - flag_px[2 if flag else 0]
    stacked = [o for o in options if not o[0] and o[3] <= room]
    pick = min(stacked or options, key=lambda o: (o[3], o[0], -o[1]))
    beside, per_row, fig_rows, figures_px = pick
    flag_lines = 0
    if flag:
        flag_lines = 2 if figures_px + flag_px[2] <= height else 1
        figures_px += flag_px[flag_lines]
    # The funnel: its title over its six pairs two to a line, in a panel with margins.
    funnel_px = (1 + math.ceil((FUNNEL_LINES - 1) / 2)) * line + pad + gap
    chart_px = funnel_px + 4 * sizes.line_px
    return {"figures_per_row": per_row, "figure_rows": fig_rows, "beside": beside, "figures_px": figures_px,
            "flag_lines": flag_lines, "funnel": figures_px + funnel_px <= height,
            "chart": figures_px + chart_px <= height}  # fmt: skip


def _fixes(report: RegionReport, sizes: TextSizes, screen: ScreenLayout, need_px: int, have_px: int) -> None:
    """Ways to find ``need_px`` of height where there are ``have_px``."""
    if need_px <= 0 or have_px <= 0:
        return
    scale = have_px / need_px  # how much smaller the text would have to be
    font_ok = max(1, int(sizes.body_px * scale))
    report.fixes.append(f"read it from at most {max_distance_m(font_ok, sizes.ppm):.1f} m "
                        f"(now {screen.distance_m:g} m)")  # fmt: skip
    report.fixes.append(f"a panel of at least {screen.diagonal_in / scale:.0f} inch at the same resolution "
                        f"(now {screen.diagonal_in:g})")  # fmt: skip
    share = need_px / max(1, screen.height_px)
    report.fixes.append(
        f"give it {min(1.0, share):.0%} of the screen's height ({need_px} px; it has {have_px})"
    )


def pad_px(sizes: TextSizes) -> int:
    """The views' padding (ui.support.theme.ScreenMetrics.pad_px)."""
    return max(4, sizes.body_px // 3)


def font_height_px(font: int) -> int:
    """A line of a label in a ``font``-pixel font (ascent + descent)."""
    return math.ceil(font * FONT_HEIGHT_PER_EM)


def control_px(sizes: TextSizes) -> int:
    """A push button or a search field at body size: its text line, the stylesheet's padding
    (ui.support.theme: pad above and below) and its 1 px border; the console's widgets are given
    exactly this height."""
    return font_height_px(sizes.body_px) + 2 * pad_px(sizes) + 2


def console_banner_px(sizes: TextSizes, width: int) -> int:
    """The height the console keeps for its alert banner (ui.alerts.banner.AlertBanner) with an
    alert of BANNER_TEXT_LINES lines up and the last acknowledgement's line under it. Narrow (a
    laptop's half screen): the priority and the Konfirmasi button, the text, the state line, the
    shelve and the mute controls on rows of their own; wide: the text beside the button and
    every control on one row."""
    pad = pad_px(sizes)
    border = max(4, pad)  # an alert's frame
    button = int(sizes.heading_px * 1.8) + 2 * pad + 4  # Konfirmasi: min-height, padding, border
    text_line = font_height_px(sizes.heading_px)
    body = font_height_px(sizes.body_px)
    control = control_px(sizes)
    wide_px = BANNER_WIDE_CHARS * sizes.char_px + BANNER_BUTTONS * (4 * pad + 2) + 10 * 2 * pad + 4 * pad
    narrow = width < wide_px
    lines = BANNER_TEXT_LINES[narrow]
    if narrow:
        rows = [button, lines * text_line, body, control, control, body]
    else:
        rows = [max(button, lines * text_line), max(control, body), body]
    return 2 * border + 2 * pad + sum(rows) + (len(rows) - 1) * (pad // 2)


class ConsoleFit(NamedTuple):
    """How the operator console (ui.views.console.ConsoleView) divides its rectangle: the alert
    banner across the top (its planned height kept even while no alert shows, so that rows do
    not jump under the operator's pointer when one comes), under it the queue (search bar over
    whole rows) beside the selected incident's detail, the agency tiles and the replay button."""

    rows: int
    columns: list[str]
    banner_px: int
    #: The queue's and the detail column's widths.
    queue_w: int
    side_w: int
    tiles_per_row: int
    tile_rows: int
    #: Tiles of two lines (name, counts) instead of the desk's four (and a sparkline).
    compact_tiles: bool
    tiles_px: int
    #: Height left to the detail column's incident (negative: the tiles do not fit).
    detail_px: int
    control_px: int


def agency_tile_px(sizes: TextSizes, compact: bool) -> int:
    """An agency tile's height (ui.views.agencies.AgencyTile): two lines from metres away, three
    lines and a sparkline of two body heights on a desk."""
    return AGENCY_TILE_LINES * sizes.line_px if compact else 3 * sizes.line_px + 2 * sizes.body_px


def agency_board_px(sizes: TextSizes, width: int, compact: bool) -> tuple[TilesFit, int]:
    """The agency tiles' rows and their height in ``width`` px (ui.views.agencies' board:
    tiles 2 px apart from metres away, pad/2 on a desk)."""
    fit = agency_tiles_fit(sizes, width, CONSOLE_TILE_CHARS[compact])
    gap = AGENCY_TILE_GAP_PX if compact else pad_px(sizes) // 2
    return fit, fit.rows * agency_tile_px(sizes, compact) + (fit.rows - 1) * gap


def console_fit(sizes: TextSizes, width: int, height: int, *, tiles: bool = True) -> ConsoleFit:
    """The operator console in ``width`` x ``height`` px at ``sizes`` (see :class:`ConsoleFit`):
    the console's widgets take exactly these heights, so its rows are the layout check's."""
    pad = pad_px(sizes)
    control = control_px(sizes)
    banner = console_banner_px(sizes, width - 2 * pad)
    inner_w = width - 2 * pad - pad  # the margins, the splitter's handle (pad wide)
    # The queue's share, or more where its five first columns (and its margins and scroll bar,
    # about four characters) need it.
    minimum = sum(n + 1 for _, n, req in QUEUE_COLUMNS if req)
    queue_w = max(round(inner_w * CONSOLE_QUEUE_SHARE), math.ceil((minimum + 4) * sizes.char_px))
    queue_w = min(queue_w, inner_w - CONSOLE_SIDE_CHARS * math.ceil(sizes.char_px))
    side_w = inner_w - queue_w
    split_h = height - 2 * pad - banner - pad
    # The queue: its margins (pad/2), the search bar, a gap, then the column header over rows.
    table_h = split_h - 2 * (pad // 2) - control - pad // 2
    # Its columns share the table's width: inside the margins, less its frame and scroll bar
    # (about two characters), as the widget measures it.
    table_w = queue_w - 2 * (pad // 2) - math.ceil(2 * sizes.char_px)
    kept = queue_fit(sizes, table_w, table_h, desk=sizes.body_px < DESK_BODY_PX)
    # The side: the incident (a scroll area), the tiles and the replay button, pad/2 apart.
    fit, tiles_px, compact = TilesFit(0, 0, 0), 0, False
    if tiles:
        fit, tiles_px = agency_board_px(sizes, side_w, False)
        room = split_h - tiles_px - control - 2 * (pad // 2)
        if room < CONSOLE_DETAIL_LINES * sizes.line_px:
            compact = True
            fit, tiles_px = agency_board_px(sizes, side_w, True)
    detail = split_h - control - pad // 2 - ((tiles_px + pad // 2) if tiles else 0)
    return ConsoleFit(kept.rows, kept.columns, banner, queue_w, side_w, fit.per_row, fit.rows, compact,
                      tiles_px, detail, control)  # fmt: skip


def _measure(rep: RegionReport, screen: ScreenLayout, region: Region, sizes: TextSizes, lang: str) -> None:
    """What ``region``'s view shows in ``rep``'s rectangle, and its minimums not met."""
    width, height = rep.width_px, rep.height_px
    view = region.view
    queue_rows = QUEUE_MIN_ROWS
    if view == "console":
        con = console_fit(sizes, width, height)
        rep.shows.update(rows=con.rows, columns=con.columns, tiles_per_row=con.tiles_per_row,
                         tile_rows=con.tile_rows, compact_tiles=con.compact_tiles,
                         banner_px=con.banner_px)  # fmt: skip
        minimum = sum(n + 1 for _, n, req in QUEUE_COLUMNS if req)
        if sizes.chars(con.queue_w) < minimum:
            rep.problems.append(f"queue: {sizes.chars(con.queue_w)} characters per line, the five first "
                                f"columns need {minimum}")  # fmt: skip
        if con.rows < queue_rows:
            rep.problems.append(f"queue: {con.rows} whole rows, at least {queue_rows} needed")
            _fixes(rep, sizes, screen, height + (queue_rows - con.rows) * sizes.line_px, height)
        if con.detail_px < 0:
            rep.problems.append(f"agencies: {AGENCY_TILES} tiles need {con.tiles_px} px beside the queue, "
                                f"{con.tiles_px + con.detail_px} available")  # fmt: skip
            _fixes(rep, sizes, screen, height - con.detail_px, height)
    if view in ("queue", "operations"):
        avail, inner_w, table_w, gap = height, width, width, OPERATIONS_GAP_PX
        if screen.interactive:
            # At a desk (ui.views.operations): margins and gaps of pad/2 and the search bar over
            # the rows; the table keeps a frame and a scroll bar (about two characters).
            pad = pad_px(sizes)
            gap = pad // 2
            inner_w = width - 2 * (pad // 2)
            table_w = inner_w - math.ceil(2 * sizes.char_px)
            avail -= 2 * (pad // 2) + control_px(sizes) + gap
        if view == "operations":
            per_row, tile_rows, tiles_px = agency_tiles_fit(sizes, inner_w)
            if screen.interactive:  # a desk's tiles: three lines and a sparkline, pad/2 apart
                compact = sizes.body_px >= DESK_BODY_PX
                gap_px = AGENCY_TILE_GAP_PX if compact else gap
                tiles_px = tile_rows * agency_tile_px(sizes, compact) + (tile_rows - 1) * gap_px
            rep.shows.update(tiles_per_row=per_row, tile_rows=tile_rows)
            avail -= tiles_px + gap
        fit_rows, kept, minimum, _ = queue_fit(sizes, table_w, avail, desk=sizes.body_px < DESK_BODY_PX)
        rep.shows.update(rows=fit_rows, columns=kept)
        if sizes.chars(width) < minimum:
            rep.problems.append(f"queue: {sizes.chars(width)} characters per line, the five first columns "
                                f"need {minimum}")  # fmt: skip
        if fit_rows < queue_rows:
            rep.problems.append(f"queue: {fit_rows} whole rows, at least {queue_rows} needed")
            need = (queue_rows + 1) * sizes.line_px + (height - avail)
            _fixes(rep, sizes, screen, need, height)
    if view == "agencies":
        per_row, tile_rows, tiles_px = agency_tiles_fit(sizes, width)
        rep.shows.update(tiles_per_row=per_row, tile_rows=tile_rows)
        if tiles_px > height:
            rep.problems.append(f"agencies: {AGENCY_TILES} tiles need {tiles_px} px, {height} available")
            _fixes(rep, sizes, screen, tiles_px, height)
    if view == "leader":
        # Planned with the escalation flag up: it shows on top of the figures whenever alerts
        # wait past their time, and the figures must stay whole under it.
        fit = leader_fit(sizes, width, height, flag=True, captions=leader_captions(lang))
        need = fit.pop("figures_px")
        rep.shows.update(fit)
        if need > height:
            rep.problems.append(
                f"leader: the escalation flag and {LEADER_KEY_FIGURES} key figures need {need} px, "
                f"{height} available"
            )
            _fixes(rep, sizes, screen, need, height)
    if view == "map":
        if sizes.chars(width) < MAP_MIN_CHARS or sizes.lines(height) < MAP_MIN_LINES:
            holds = f"{sizes.chars(width)} x {sizes.lines(height)}"
            rep.problems.append(
                f"map: {width} x {height} px holds {holds} characters of labels, "
                f"at least {MAP_MIN_CHARS} x {MAP_MIN_LINES} needed"
            )
            if sizes.lines(height) < MAP_MIN_LINES:
                _fixes(rep, sizes, screen, MAP_MIN_LINES * sizes.line_px, height)
        # Village outlines and names need room: at least about 60 characters across the regency.
        rep.shows.update(legend_lines=min(sizes.lines(height) // 2, 11), villages=sizes.chars(width) >= 60)


def shows_in(
    screen: ScreenLayout, region: Region, width: int, height: int, lang: str = "id"
) -> dict[str, Any]:
    """What ``region``'s view shows in a rectangle of ``width`` x ``height`` px (rows, columns,
    tiles): for a rectangle the check cannot know ahead, such as the grid under the alert banner
    of a desk screen without a console, whose height follows the alert shown."""
    sizes = screen_sizes(screen)
    rep = RegionReport("", region.view, width, height, sizes.body_px, round(sizes.body_arcmin, 1),
                       screen.distance_m, screen.interactive)  # fmt: skip
    _measure(rep, screen, region, sizes, lang)
    return rep.shows


def check_region(
    screen: ScreenLayout, region: Region, label: str, lang: str = "id", margin_px: int | None = None
) -> RegionReport:
    """What ``region`` of ``screen`` shows, measured in the rectangle the wall gives it
    (:func:`planned_rects`: under the header line, inside the burn-in margins of ``margin_px``,
    default the shipped configuration's), both while the feed is live and while the stale
    banner shows under the header (a region in the top row loses its height): a minimum must
    hold in both states, since the banner is never hidden. ``shows`` has the live state's
    figures, and ``rows_stale`` beside ``rows``; a minimum missed only while stale is a problem
    that says so."""
    rows = screen.grid[1]
    cell_h = screen.height_px / rows
    margin = default_margin_px() if margin_px is None else margin_px
    # A region the screen does not list (a user's what-if) is planned as if it were its only one.
    page = screen if region in screen.regions else msgspec.structs.replace(screen, regions=[region])
    index = page.regions.index(region)
    _, _, width, height = planned_rects(page, margin)[index]
    stale_h = planned_rects(page, margin, stale=True)[index][3]
    sizes = screen_sizes(screen)
    rep = RegionReport(
        label, region.view, width, height, sizes.body_px, round(sizes.body_arcmin, 1), screen.distance_m,
        screen.interactive, stale_height_px=stale_h,
    )  # fmt: skip
    _measure(rep, screen, region, sizes, lang)
    stale = dataclasses.replace(rep, height_px=stale_h, shows={}, problems=[], fixes=[])
    if stale_h != height:
        _measure(stale, screen, region, sizes, lang)
    else:
        stale.shows = dict(rep.shows)
    if "rows" in rep.shows:
        # rows_stale right after rows, so the two read together.
        shows = list(rep.shows.items())
        at = [k for k, _ in shows].index("rows") + 1
        rep.shows = dict([*shows[:at], ("rows_stale", stale.shows["rows"]), *shows[at:]])
    banner = stale_banner_px(sizes)
    for problem in stale.problems:
        if problem not in rep.problems:
            rep.problems.append(f"while stale (the {banner} px stale banner under the header): {problem}")
    if stale.fixes:
        # The stale state has less height for the same need: its fixes (a closer distance, a
        # larger panel or share) are the stricter ones and fix the live state too.
        kinds = {tuple(f.split()[:2]) for f in stale.fixes}  # "read it", "a panel", "give it"
        rep.fixes = stale.fixes + [f for f in rep.fixes if tuple(f.split()[:2]) not in kinds]
    view = region.view
    if view in ("queue", "agencies", "leader", "operations") and screen.panels[1] > 1:
        panel_h = screen.height_px / screen.panels[1]
        top = cell_h * region.cell[1]
        bottom = top + cell_h * region.span[1]
        bezels = [round(panel_h * k) for k in range(1, screen.panels[1]) if top < panel_h * k < bottom - 0.5]
        if bezels:
            rep.problems.append(f"{view}: crosses the bezel between panels at y = {bezels[0]} px; "
                                f"rows of text would be cut by it")  # fmt: skip
            rep.fixes.append("keep text views within one panel's rows of the grid")
    if not screen.interactive and rep.body_arcmin < 16.0 - 0.05:
        rep.problems.append(f"body text {rep.body_arcmin:.1f}' at {screen.distance_m:g} m, below 16'")
    return rep


def screen_sizes(screen: ScreenLayout) -> TextSizes:
    """The text sizes of a layout screen at its distance (commandcenter.core.legibility)."""
    return sizes_for(screen.width_px, screen.height_px, screen.diagonal_in, screen.distance_m)


def check_layout(name: str, layout: Layout, lang: str = "id", margin_px: int | None = None) -> LayoutReport:
    """Every region of ``layout``, measured with the captions of ``lang`` (the wall's
    display.language: the views show that wording, not the longest of every language) inside
    the burn-in margins of ``margin_px`` (default the shipped configuration's)."""
    reports = []
    for s, screen in enumerate(layout.screens):
        label = screen.name or (
            " + ".join(screen.qt_screens) if screen.qt_screens else f"screen {screen.index}"
        )
        label = label or f"screens[{s}]"
        for region in screen.regions:
            reports.append(check_region(screen, region, label, lang, margin_px))
    return LayoutReport(name, reports, lang)


def format_report(report: LayoutReport) -> list[str]:
    """The lines `commandcenter layout check` (and doctor) print."""
    lines = [f"layout {report.name} ({report.lang}): {'ok' if report.ok else 'MINIMUM NOT MET'}"]
    for r in report.regions:
        shows = ", ".join(f"{k}={'/'.join(v) if isinstance(v, list) else v}" for k, v in r.shows.items())
        lines.append(f"  {r.screen} · {r.view}: {r.width_px}x{r.height_px} px at {r.distance_m:g} m, body "
                     f"{r.body_px} px = {r.body_arcmin:.1f}' · {shows}")  # fmt: skip
        for p in r.problems:
            lines.append(f"    ✗ {p}")
        for f in r.fixes:
            lines.append(f"      fix: {f}")
    return lines


def configured_language() -> str:
    """display.language of the effective configuration (its file, the environment), else the
    default (id): a configuration that cannot be read is `config check`'s to report."""
    from commandcenter.config import ConfigError, load_config

    try:
        return str(load_config().display.language)
    except (ConfigError, OSError):
        return "id"


def layout_check_main(preset: str = "", file: str = "", all_presets: bool = False, lang: str = "") -> int:
    """``commandcenter layout check``: measured with ``lang``'s captions (default display.language)."""
    import sys

    lang = lang or configured_language()
    margin = configured_margin_px()
    try:
        if all_presets:
            layouts = shipped_presets()
        else:
            name, layout = load_layout(preset, file)
            layouts = {name: layout}
    except LayoutError as exc:
        sys.stderr.write(f"layout: {exc}\n")
        return 2
    ok = True
    for name, layout in layouts.items():
        report = check_layout(name, layout, lang, margin)
        ok = ok and report.ok
        sys.stdout.write("\n".join(format_report(report)) + "\n")
    return 0 if ok else 1


__all__ = ["DEFAULT_PRESET", "LINE_PER_EM", "ConsoleFit", "Layout", "LayoutError", "QueueFit", "Region",
           "ScreenLayout", "TilesFit", "agency_tiles_fit", "check_layout", "configured_language",
           "console_fit", "control_px", "header_px", "layout_from_screens", "leader_fit", "load_layout",
           "planned_rects", "px_per_mm", "queue_fit", "region_rects", "resolve_layout",
           "screen_sizes", "stale_banner_px", "stale_rule_px"]  # fmt: skip
