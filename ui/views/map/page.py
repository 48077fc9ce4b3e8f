"""The map's base page, built once with folium (no Qt needed here).

folium lays out what never changes while the wall runs: the Leaflet map over the
regency's bounds, the district labels at the configured centroids, the regency,
district and village boundaries (by default OKI's, shipped in resources/geo;
see :mod:`commandcenter.core.places`), the base map from a local tile pack
(served by :mod:`ui.views.map.tiles`) and the optional online tile layer.
Everything live (incident and unit markers, counts per district, selection,
which village outlines and names fit the view) is handled by
``resources/map/map.js``.

The page must work without internet: Leaflet and Leaflet.markercluster come from
the xstatic packages and are copied, with the project's own JS/CSS, next to the
generated page. folium's default CDN scripts (jQuery, Bootstrap, awesome-markers)
are replaced, not just left unused. The only remote URL allowed in the page is
the online tile template, which is a layer that may fail; the tile pack's
template uses the program's own scheme.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import folium
import platformdirs
from branca.element import Element, Figure, MacroElement
from jinja2 import Template

from commandcenter.config import APP_NAME, Config
from commandcenter.core import places
from commandcenter.core.i18n import Strings, strings_for
from ui.support import theme
from ui.views.map import tiles as map_tiles

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so other versions' folders are left alone
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: The page loads these, in this order, from the ``assets`` folder next to it.
#: qwebchannel.js is Qt's own resource (qrc:), present in every QtWebEngine.
_JS = [
    ("leaflet", "assets/leaflet/leaflet.js"),
    ("markercluster", "assets/markercluster/leaflet.markercluster.js"),
    ("qwebchannel", "qrc:///qtwebchannel/qwebchannel.js"),
    ("okimap", "assets/map/map.js"),
    ("okihazards", "assets/map/hazards.js"),
]
_CSS = [
    ("leaflet_css", "assets/leaflet/leaflet.css"),
    ("markercluster_css", "assets/markercluster/MarkerCluster.css"),
    ("okimap_css", "assets/map/map.css"),
    ("okihazards_css", "assets/map/hazards.css"),
]
_REMOTE_REF = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']?(https?://[^"'\s>]+)""",
                         re.IGNORECASE)


def district_key(name: str) -> str:
    """Lookup form of a district name, the same in Python and map.js."""
    return "".join(name.split()).casefold()


#: The priority letter's font size in a marker, as a share of the marker's size (map.js
#: incidentIcon draws it with a halo of the marker's colour, so it reads where it passes the
#: edge of a triangle or a star).
LETTER_SHARE = 0.64


@dataclass(frozen=True)
class PageOptions:
    """What the page needs to know besides the config; sizes in CSS pixels."""

    interactive: bool = True
    #: District labels: the body size of the screen's metrics (readable from the
    #: farthest seat), never below the theme's minimum.
    label_px: int = 32
    #: Incident markers: the priority letter inside is LETTER_SHARE of this, body size.
    marker_px: int = 40
    #: Unit squares (no text inside: a unit's state is its ring's colour and the legend).
    unit_px: int = 15
    #: Popup text.
    popup_px: int = 24
    #: The page's language; empty: the config's display.language.
    language: str = ""

    @classmethod
    def for_metrics(
        cls, metrics: theme.ScreenMetrics, *, interactive: bool = True, language: str = ""
    ) -> PageOptions:
        body = max(theme.MIN_FONT_PX, metrics.body_px)
        # Popups too: nothing on the wall drops below the 16-arcminute body size. The priority
        # letter inside a marker is read from the farthest seat as well, so the marker is as large
        # as a body-size letter needs (it was 0.9 body, the letter about 7').
        marker = max(28, math.ceil(body / LETTER_SHARE))
        return cls(interactive=interactive, label_px=body, marker_px=marker,
                   unit_px=max(12, round(body * 0.34)), popup_px=body, language=language)

    def strings(self, config: Config) -> Strings:
        """The texts of the page: its own language, else the configured one."""
        return strings_for(self.language or config.display.language)


def default_page_dir() -> Path:
    """Where generated pages and their assets live: the user's cache directory, in a folder
    named by the assets' content. Two installs or checkouts on one machine (an upgrade beside
    the running wall, a test run beside a wall) each keep their own map.js: with one shared
    folder the last to start rewrote the other's scripts under its open pages."""
    return platformdirs.user_cache_path(APP_NAME, appauthor=False) / f"map-{assets_digest()}"


#: Another version's page folder (an upgrade leaves the old one behind, and the one before
#: content-named folders was called "map") is removed once no process holds it and none of its
#: files changed for this long: a wall runs for months, and each upgrade left 1-9 MB. The old
#: "map" folder also waits until no other program's map renderer runs (see prune_page_dirs).
STALE_PAGE_DIR_S = 7 * 86_400
#: The file a process holds a shared lock on while it uses a page folder (the system drops
#: the lock when the process ends, however it ends).
IN_USE = ".in-use"
_claimed: dict[Path, int] = {}


def claim_page_dir(out: Path) -> None:
    """Mark ``out`` as used by this process for as long as it runs, so that no other version's
    wall or tool removes it from under the pages loaded from it."""
    if fcntl is None or out in _claimed:
        return
    for _ in range(3):
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / IN_USE, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits while a pruner holds it, then sees it gone
        try:
            if os.fstat(fd).st_ino == os.stat(out / IN_USE).st_ino:
                _claimed[out] = fd
                return
        except OSError:
            pass
        os.close(fd)  # removed while waiting: made again on the next turn
    log.warning("map: could not mark %s as in use; another version may remove it", out)


def prune_page_dirs(
    keep: Path,
    *,
    max_age_s: float = STALE_PAGE_DIR_S,
    now: float | None = None,
    renderers: Callable[[], list[int]] | None = None,
) -> list[Path]:
    """Remove the page folders beside ``keep`` that no process holds and that were not
    written for ``max_age_s``; the folders removed. ``renderers``: other programs' map
    renderers (default :func:`foreign_renderers`)."""
    if fcntl is None or not keep.parent.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for folder in sorted(keep.parent.iterdir()):
        if folder == keep or folder.is_symlink() or not folder.is_dir():
            continue
        if folder.name != "map" and not folder.name.startswith("map-"):
            continue
        if folder.name == "map" and (renderers or foreign_renderers)():
            # The folder of versions before content-named folders: they hold no lock, so
            # while any other program's map renderer runs it may be theirs.
            continue
        try:
            fd = os.open(folder / IN_USE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a running wall's (or another tool's) folder
            newest = max((f.stat().st_mtime for f in folder.rglob("*") if f.is_file() and f.name != IN_USE),
                         default=folder.stat().st_mtime)
            if now - newest < max_age_s:
                continue
            shutil.rmtree(folder)
            removed.append(folder)
            log.info("map: removed %s, another version's page folder unused for %.0f days",
                     folder, (now - newest) / 86_400)
        except OSError as exc:
            log.warning("map: could not remove the old page folder %s: %s", folder, exc)
        finally:
            os.close(fd)
    return removed


#: What QtWebEngine's helper process is called (Linux cuts the process name to 15 characters).
RENDERER_NAME = "QtWebEngineProcess"


def foreign_renderers() -> list[int]:
    """The QtWebEngine processes of this user that are not this process's own: another
    wall's (or any other Qt program's) pages. Zombies do not count."""
    import psutil

    me, uid = os.getpid(), os.getuid()
    found = []
    for proc in psutil.process_iter(["name", "uids", "status"]):
        try:
            info = proc.info
            if not (info["name"] or "").startswith(RENDERER_NAME[:15]) or info["uids"] is None:
                continue
            if info["uids"].real != uid or info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(parent.pid == me for parent in proc.parents()):
                continue
        except (psutil.Error, OSError):
            continue
        found.append(proc.pid)
    return found


@functools.cache
def _prune_once(keep: Path) -> None:
    prune_page_dirs(keep)


@functools.cache
def assets_digest() -> str:
    """A short hash of every asset the page loads (read once per process)."""
    digest = hashlib.sha256()
    for rel, src in sorted(asset_sources().items()):
        digest.update(rel.encode() + b"\0" + src.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


# --- assets ------------------------------------------------------------------------


def _xstatic_dir(module: str) -> Traversable:
    return files(module) / "data"


def asset_sources() -> dict[str, Traversable]:
    """Relative asset path -> packaged file, for everything the page loads."""
    leaflet = _xstatic_dir("xstatic.pkg.leaflet")
    cluster = _xstatic_dir("xstatic.pkg.leaflet_markercluster")
    own = files("resources") / "map"
    sources: dict[str, Traversable] = {
        "leaflet/leaflet.js": leaflet / "leaflet.js",
        "leaflet/leaflet.css": leaflet / "leaflet.css",
        "markercluster/leaflet.markercluster.js": cluster / "leaflet.markercluster.js",
        "markercluster/MarkerCluster.css": cluster / "MarkerCluster.css",
        "map/map.js": own / "map.js",
        "map/map.css": own / "map.css",
        "map/hazards.js": own / "hazards.js",
        "map/hazards.css": own / "hazards.css",
    }
    # leaflet.css refers to images/layers.png etc. relative to itself.
    images = leaflet / "images"
    for item in images.iterdir():
        if item.is_file():
            sources[f"leaflet/images/{item.name}"] = item
    return sources


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a concurrent reader (another
    wall process, a parallel test) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install_assets(out_dir: Path) -> None:
    """Copy the page's scripts and styles into ``out_dir/assets`` (only what changed)."""
    for rel, src in asset_sources().items():
        data = src.read_bytes()
        dest = out_dir / "assets" / rel
        try:
            if dest.stat().st_size == len(data) and dest.read_bytes() == data:
                continue
        except OSError:
            pass
        _write_atomic(dest, data)


# --- boundaries --------------------------------------------------------------------


def _read_layer(value: str, what: str) -> dict[str, Any] | None:
    """The FeatureCollection a config value names, or None (logged) when there
    is none or it cannot be used: the map then works without that layer."""
    try:
        path = places.geo_path(value)
        return places.read_feature_collection(path) if path is not None else None
    except places.GeoError as exc:
        log.warning("map: %s boundaries not used: %s", what, exc)
        return None


def _clean(text: str) -> str:
    return text.replace("<", "").replace(">", "")


def load_boundaries(config: Config) -> dict[str, Any] | None:
    """The district FeatureCollection, each feature tagged with ``oki_key``
    (see :func:`district_key`) and ``oki_name``; None without one."""
    data = _read_layer(config.map.boundary_geojson, "district")
    if data is None:
        return None
    features = []
    for feature in data["features"]:
        if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
            continue
        raw = feature.get("properties")
        props: dict[str, Any] = raw if isinstance(raw, dict) else {}
        # Only what map.js needs: smaller page, and no stray file content in it.
        name = _clean(_feature_district_name(config, props))
        features.append({"type": "Feature", "geometry": feature["geometry"],
                          "properties": {"oki_key": district_key(name), "oki_name": name}})
    return {"type": "FeatureCollection", "features": features}


def load_villages(config: Config) -> dict[str, Any] | None:
    """The village FeatureCollection with ``oki_name`` (the village's name) and
    ``oki_code``; None without one."""
    data = _read_layer(config.map.village_geojson, "village")
    if data is None:
        return None
    features = []
    for feature in data["features"]:
        if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
            continue
        raw = feature.get("properties")
        props: dict[str, Any] = raw if isinstance(raw, dict) else {}
        # The source's centroid, where there is one, anchors the name.
        anchor = [props.get("lat"), props.get("lng")]
        features.append({"type": "Feature", "geometry": feature["geometry"], "properties": {
            "oki_name": _clean(places.feature_text(props, places.NAME_PROPS)),
            "oki_code": _clean(places.feature_text(props, places.CODE_PROPS)),
            "oki_anchor": anchor if all(isinstance(v, int | float) for v in anchor) else None,
        }})
    return {"type": "FeatureCollection", "features": features}


def load_regency(config: Config) -> dict[str, Any] | None:
    """The regency outline (geometry only), or None."""
    data = _read_layer(config.map.regency_geojson, "regency")
    if data is None:
        return None
    features = [{"type": "Feature", "geometry": f["geometry"], "properties": {}}
                for f in data["features"] if isinstance(f, dict) and isinstance(f.get("geometry"), dict)]
    return {"type": "FeatureCollection", "features": features}


def _feature_district_name(config: Config, props: Mapping[str, Any]) -> str:
    for key in places.CODE_PROPS:
        value = props.get(key)
        if isinstance(value, str) and (district := config.district(value)) is not None:
            return district.name
    for key in places.NAME_PROPS:
        value = props.get(key)
        if isinstance(value, str) and value.strip():
            district = config.district_by_name(value)
            return district.name if district is not None else value.strip()
    return ""


# --- the page ----------------------------------------------------------------------


class _PageInit(MacroElement):
    """Hands the folium-made objects to map.js once they exist (rendered last)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            OkiMap.init({{ this.fmap.get_name() }}, {
                {%- for key, layer in this.layers.items() %}
                {{ key }}: {{ layer.get_name() if layer else "null" }},
                {%- endfor %}
            }, {{ this.options_json }});
        {% endmacro %}
        """
    )

    def __init__(self, fmap: folium.Map, layers: Mapping[str, Element | None],
                 options: Mapping[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # branca's MacroElement.__init__ is unannotated
        self._name = "OkiMapInit"
        self.fmap = fmap
        self.layers = dict(layers)
        self.options_json = script_json(options)


def script_json(value: Any) -> str:
    """JSON safe to embed in an HTML <script> element (no '<' that could close it)."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("<", "\\u003c")


def _label_html(name: str) -> str:
    key = html.escape(district_key(name), quote=True)
    return (f'<div class="oki-district" data-key="{key}"><span class="oki-district-name">'
            f"{html.escape(name)}</span><span class=\"oki-district-count\"></span></div>")


#: Village outlines show once the map is at most this many metres per pixel
#: (an average OKI village, about 7 km across, is then 35 px or more); a
#: village's name shows where its outline is wide enough to hold it.
VILLAGE_OUTLINE_M_PER_PX = 200.0
#: Warning polygons by CAP severity (hazards.css uses the same for the label plates).
SEVERITY_COLORS = {"extreme": "#d65cff", "severe": "#ff8a3d", "moderate": "#ffd84a", "minor": "#7fd6c2",
                   "unknown": "#9aa7b4"}  # fmt: skip
#: The other context layers, and the grey of a stale one.
HAZARD_COLORS = {"quake": "#ffe08a", "hotspot": "#ff6a3d", "report": "#8fd0ff", "stale": "#9aa7b4"}
#: Unit groups in the legend, in this order.
_UNIT_GROUPS = ("available", "busy", "out_of_service")


def _legend(config: Config, strings: Strings) -> dict[str, Any]:
    """What the legend shows, in the wall's language: each marker shape with
    what it stands for, each priority's colour with its letter, each unit
    state's ring colour.

    A shape is named by the CAP categories of the categories drawn with it
    ("Cuaca · Keselamatan"), not by the category names: fourteen names such as
    "Perlindungan Perempuan dan Anak" do not fit beside the regency at a
    size readable from 6 m, a handful of short CAP words do, and they follow
    whatever shapes a deployment assigns."""
    t, category_name = strings.t, strings.category_name
    shapes: dict[str, list[str]] = {}
    for c in config.categories:
        words = shapes.setdefault(c.marker_shape, [])
        word = t(f"map.legend.cap.{c.cap_category}")
        if word not in words:
            words.append(word)
    return {
        "title": t("map.legend.title"),
        "categoriesTitle": t("map.legend.categories"),
        "prioritiesTitle": t("map.legend.priorities"),
        "unitsTitle": t("map.legend.units"),
        # "short": the shape's first CAP word, for a wall's narrow legend (map.js, compact).
        "shapes": [{"shape": shape, "label": " · ".join(words), "short": words[0]}
                   for shape, words in shapes.items()],
        # Full names too, for a hover title on an operator's screen.
        "shapeCategories": {shape: [category_name(config, c.code) for c in config.categories
                                    if c.marker_shape == shape] for shape in shapes},
        "priorities": [{"priority": p, "label": t(f"priority.short.{p}")}
                       for p in ("high", "medium", "low")],
        "units": [{"group": g, "label": t(f"map.legend.unit.{g}")} for g in _UNIT_GROUPS],
    }


def _js_options(config: Config, options: PageOptions, bounds: list[list[float]]) -> dict[str, Any]:
    strings = options.strings(config)
    t, agency_name = strings.t, strings.agency_name
    categories = {c.code: {"shape": c.marker_shape, "agencies": list(c.agencies)} for c in config.categories}
    return {
        "interactive": options.interactive,
        "bounds": bounds,
        "labelPx": options.label_px,
        "markerPx": options.marker_px,
        "unitPx": options.unit_px,
        "letterShare": LETTER_SHARE,
        "popupPx": options.popup_px,
        "villageOutlineMpp": VILLAGE_OUTLINE_M_PER_PX,
        # Data, not a layer: map.js makes the layer when villages first show.
        "villages": load_villages(config),
        "villageStyle": {"color": "#51677d", "weight": 1, "opacity": 0.9, "fill": False},
        "colors": {
            "priority": dict(theme.PRIORITY_COLOR),
            "unitGroup": dict(theme.UNIT_GROUP_COLOR),
            "bg": theme.BG, "panel": theme.BG_PANEL, "raised": theme.BG_RAISED, "grid": theme.GRID,
            "text": theme.TEXT, "textDim": theme.TEXT_DIM, "accent": theme.ACCENT,
            "alarm": theme.ALARM_RED,
            # Sequential fill for active incidents per district: blues, because red
            # is kept for alarms. Thresholds are counts (>=).
            "choropleth": [[1, "#13283d"], [3, "#173552"], [6, "#1d476e"], [11, "#245b8c"],
                           [21, "#2c6fab"], [51, "#3683c8"]],
        },
        # The context layers (hazards.js): severities by colour and, in the page, by a
        # fill pattern and a word; red stays the alarms' colour.
        "hazardColors": dict(HAZARD_COLORS, severity=dict(SEVERITY_COLORS)),
        "agencies": [{"code": a.code, "label": agency_name(config, a.code), "color": a.color}
                     for a in config.agencies],
        "categories": categories,
        "priorityLetter": {p: t(f"priority.short.{p}")[:1] for p in ("high", "medium", "low")},
        "legend": _legend(config, strings),
        "labels": {
            "incidents": t("map.layer.incidents"),
            "units": t("map.layer.units"),
            "districts": t("map.layer.districts"),
            "villages": t("map.layer.villages"),
            "tiles": t("map.layer.tiles"),
            "ticket": t("col.ticket"),
            "category": t("col.category"),
            "priority": t("col.priority"),
            "status": t("col.status"),
            "location": t("detail.location"),
            "onMap": t("map.popup.on_map"),
            "description": t("detail.description"),
            "units_col": t("col.units"),
            "ack": t("ack.button"),
            "sending": t("ack.sending"),
        },
    }


def _geojson(data: dict[str, Any], name: str, style: Mapping[str, Any]) -> folium.GeoJson:
    return folium.GeoJson(data, name=name, control=False, interactive=False,
                          style_function=lambda _feature: dict(style))


def make_map(config: Config, options: PageOptions) -> folium.Map:
    """The folium map with everything static; see the module docstring."""
    t = options.strings(config).t
    mc = config.map
    b = mc.bounds
    bounds = [[b.south, b.west], [b.north, b.east]]
    # Keep an operator's panning near the regency. A whole-regency view on a
    # wide panel is wider than that box, and Leaflet would centre it on the
    # box instead of beside the legend: a wall (it never pans) has none. Three
    # regency widths on each side: a small operator's map (the laptop's) gives
    # more than half its width to the legends and must still see the regency
    # beside them.
    pad_lat, pad_lon = (b.north - b.south) * 3.0, (b.east - b.west) * 3.0
    max_bounds = [[b.south - pad_lat, b.west - pad_lon], [b.north + pad_lat, b.east + pad_lon]]
    interactive = options.interactive
    fmap = folium.Map(
        location=[mc.center.lat, mc.center.lon],
        tiles=None,
        zoom_start=mc.zoom,
        zoom_control=interactive,
        # Passed through as Leaflet options (camelCase). maxZoom, not max_zoom:
        # without a tile layer MarkerCluster needs the map's own maxZoom.
        maxZoom=mc.max_zoom,
        minZoom=mc.min_zoom,
        # A wall fits the regency to its area exactly (fractional zoom); an
        # operator's wheel steps in halves.
        zoomSnap=0.25 if interactive else 0,
        zoomDelta=0.5,
        maxBounds=max_bounds if interactive else None,
        maxBoundsViscosity=0.8,
        attributionControl=mc.online_tiles,
        dragging=interactive,
        scrollWheelZoom=interactive,
        doubleClickZoom=interactive,
        boxZoom=interactive,
        keyboard=interactive,
        touchZoom=interactive,
    )
    # Local copies instead of folium's CDN defaults (instance attributes: folium's
    # add_js_link would edit the class-level lists in place).
    fmap.default_js = list(_JS)
    fmap.default_css = list(_CSS)

    pack = None
    if mc.tile_pack:
        # The base map from the local pack, through the program's own scheme.
        pack = folium.TileLayer(tiles=map_tiles.PACK_TEMPLATE, attr=html.escape(Path(mc.tile_pack).name),
                                name=t("map.layer.tile_pack"), overlay=False, control=False,
                                max_zoom=mc.max_zoom, min_zoom=mc.min_zoom)
        pack.add_to(fmap)
    tiles = None
    if mc.online_tiles:
        # Through the program's scheme: it fetches and caches, the page stays offline.
        tiles = folium.TileLayer(tiles=map_tiles.ONLINE_TEMPLATE, attr=html.escape(mc.tile_attribution),
                                 name=t("map.layer.tiles"), overlay=True, control=False,
                                 max_zoom=mc.max_zoom, min_zoom=mc.min_zoom)
        tiles.add_to(fmap)

    # Outlines only: the regency stands out from its surroundings by a faint
    # fill, districts by their line (their fill is the incident count); villages
    # (a thin line) are data for map.js, which shows them once they are big enough.
    regency = load_regency(config)
    regency_layer = districts_layer = None
    if regency is not None:
        regency_layer = _geojson(regency, "regency", {
            "color": theme.ACCENT, "weight": 4, "opacity": 0.9,
            "fillColor": theme.BG_PANEL, "fillOpacity": 0.0 if pack else 0.9,
        })
        regency_layer.add_to(fmap)
    boundaries = load_boundaries(config)
    if boundaries is not None:
        districts_layer = _geojson(boundaries, t("map.layer.districts"), {
            "color": theme.ACCENT, "weight": 2, "opacity": 0.6,
            "fillColor": theme.BG_PANEL, "fillOpacity": 0.0,
        })
        districts_layer.add_to(fmap)

    # Labels sit above the boundaries and below every marker, and never take clicks.
    folium.map.CustomPane("okiLabels", z_index=450, pointer_events=False).add_to(fmap)
    for d in config.districts:
        folium.Marker(
            [d.lat, d.lon],
            icon=folium.DivIcon(html=_label_html(d.name), icon_size=(0, 0), icon_anchor=(0, 0),
                                class_name="oki-district-label"),
            pane="okiLabels",
            interactive=False,
            keyboard=False,
        ).add_to(fmap)

    layers = {"districts": districts_layer, "regency": regency_layer, "tiles": tiles, "pack": pack}
    _PageInit(fmap, layers, _js_options(config, options, bounds)).add_to(fmap)
    return fmap


def _stable_ids(element: Element) -> None:
    """Replace folium's random element ids by sequential ones, so the same config
    renders the same bytes (the page file name is a hash of them)."""
    counter = 0
    stack = [element]
    while stack:
        el = stack.pop(0)
        el._id = f"{counter:06d}"
        counter += 1
        stack.extend(el._children.values())


def render_html(config: Config, options: PageOptions | None = None) -> str:
    """The complete HTML of the page (assets referenced relative to it)."""
    options = options or PageOptions()
    fmap = make_map(config, options)
    root = fmap.get_root()
    assert isinstance(root, Figure)  # a folium Map's root is always its Figure (typed Element)
    _stable_ids(root)
    root.title = options.strings(config).t("view.map")
    page = root.render()
    # The body gets the theme's background before any script runs: no white flash.
    style = f"<style>html, body, .folium-map {{ background: {theme.BG}; }}</style>"
    return page.replace("</head>", style + "\n</head>", 1)


def remote_references(page_html: str) -> list[str]:
    """http(s) URLs the page loads as scripts or stylesheets (must be none)."""
    return _REMOTE_REF.findall(page_html)


def build_page(config: Config, options: PageOptions | None = None, *, out_dir: Path | None = None) -> Path:
    """Render the page into ``out_dir`` (default: the cache directory) with its
    assets, and return its path. The file name is a hash of the content, so
    walls with different configs or sizes never overwrite each other's page."""
    out = Path(out_dir) if out_dir is not None else default_page_dir()
    if out_dir is None:  # the shared cache folder (a caller's own folder is its business)
        claim_page_dir(out)
        _prune_once(out)
    options = options or PageOptions()
    page_html = render_html(config, options)
    remote = remote_references(page_html)
    if remote:  # a folium upgrade that adds a CDN default must not go unnoticed
        raise RuntimeError(f"map page would load remote resources: {remote}")
    install_assets(out)
    digest = hashlib.sha256(page_html.encode("utf-8") + json.dumps(asdict(options)).encode()).hexdigest()[:16]
    path = out / f"map-{digest}.html"
    if not path.is_file() or path.read_text(encoding="utf-8") != page_html:
        _write_atomic(path, page_html.encode("utf-8"))
    return path

