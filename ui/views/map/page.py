"""The map's base page, built once with folium (no Qt needed here).

folium lays out what never changes while the wall runs: the Leaflet map over the
regency's bounds, the district labels at the configured centroids, the optional
district boundaries (a GeoJSON file named in config) and the optional online
tile layer. Everything live (incident and unit markers, counts per district,
selection) is added later by ``resources/map/map.js`` through small diffs.

The page must work without internet: Leaflet and Leaflet.markercluster come from
the xstatic packages and are copied, with the project's own JS/CSS, next to the
generated page. folium's default CDN scripts (jQuery, Bootstrap, awesome-markers)
are replaced, not just left unused. The only remote URL allowed in the page is
the online tile template, which is a layer that may fail.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import folium
import platformdirs
from branca.element import Element, MacroElement
from jinja2 import Template

from commandcenter.config import APP_NAME, Config
from ui.support import theme
from ui.support.i18n import agency_name, language, t

log = logging.getLogger(__name__)

#: The page loads these, in this order, from the ``assets`` folder next to it.
#: qwebchannel.js is Qt's own resource (qrc:), present in every QtWebEngine.
_JS = [
    ("leaflet", "assets/leaflet/leaflet.js"),
    ("markercluster", "assets/markercluster/leaflet.markercluster.js"),
    ("qwebchannel", "qrc:///qtwebchannel/qwebchannel.js"),
    ("okimap", "assets/map/map.js"),
]
_CSS = [
    ("leaflet_css", "assets/leaflet/leaflet.css"),
    ("markercluster_css", "assets/markercluster/MarkerCluster.css"),
    ("okimap_css", "assets/map/map.css"),
]
#: Feature properties that may hold a district's code or name in a boundary file.
_CODE_PROPS = ("kode", "code", "KODE", "kode_kec", "KDCPUM")
_NAME_PROPS = ("nama", "name", "NAMA", "NAME", "NAMOBJ", "WADMKC", "kecamatan", "KECAMATAN")
_REMOTE_REF = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']?(https?://[^"'\s>]+)""",
                         re.IGNORECASE)


def district_key(name: str) -> str:
    """Lookup form of a district name, the same in Python and map.js."""
    return "".join(name.split()).casefold()


@dataclass(frozen=True)
class PageOptions:
    """What the page needs to know besides the config; sizes in CSS pixels."""

    interactive: bool = True
    #: District labels: the body size of the screen's metrics (readable from the
    #: farthest seat), never below the theme's minimum.
    label_px: int = 32
    #: Incident markers (the priority letter inside is about half of this).
    marker_px: int = 40
    #: Popup text.
    popup_px: int = 24
    language: str = field(default_factory=language)

    @classmethod
    def for_metrics(cls, metrics: theme.ScreenMetrics, *, interactive: bool = True) -> PageOptions:
        body = max(theme.MIN_FONT_PX, metrics.body_px)
        # Popups too: nothing on the wall drops below the 16-arcminute body size.
        return cls(interactive=interactive, label_px=body, marker_px=max(28, round(body * 0.9)),
                   popup_px=body)


def default_page_dir() -> Path:
    """Where generated pages and their assets live (the user's cache directory)."""
    return platformdirs.user_cache_path(APP_NAME, appauthor=False) / "map"


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


def load_boundaries(config: Config) -> dict[str, Any] | None:
    """The configured boundary FeatureCollection, each feature tagged with
    ``oki_key`` (see :func:`district_key`) and ``oki_name``; None when none is
    configured or the file cannot be used (the map then works from centroids)."""
    path = config.map.boundary_geojson
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("map: boundary file %s not used: %s", path, exc)
        return None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" \
            or not isinstance(data.get("features"), list):
        log.warning("map: boundary file %s is not a GeoJSON FeatureCollection", path)
        return None
    features = []
    for feature in data["features"]:
        if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
            continue
        props = feature.get("properties") if isinstance(feature.get("properties"), dict) else {}
        # Only what map.js needs: smaller page, and no stray file content in it.
        name = _feature_district_name(config, props).replace("<", "").replace(">", "")
        features.append({"type": "Feature", "geometry": feature["geometry"],
                          "properties": {"oki_key": district_key(name), "oki_name": name}})
    return {"type": "FeatureCollection", "features": features}


def _feature_district_name(config: Config, props: Mapping[str, Any]) -> str:
    for key in _CODE_PROPS:
        value = props.get(key)
        if isinstance(value, str) and (district := config.district(value)) is not None:
            return district.name
    for key in _NAME_PROPS:
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
            OkiMap.init({{ this.fmap.get_name() }},
                        {{ this.districts.get_name() if this.districts else "null" }},
                        {{ this.tiles.get_name() if this.tiles else "null" }},
                        {{ this.options_json }});
        {% endmacro %}
        """
    )

    def __init__(self, fmap: folium.Map, districts: folium.GeoJson | None, tiles: folium.TileLayer | None,
                 options: Mapping[str, Any]) -> None:
        super().__init__()
        self._name = "OkiMapInit"
        self.fmap = fmap
        self.districts = districts
        self.tiles = tiles
        self.options_json = script_json(options)


def script_json(value: Any) -> str:
    """JSON safe to embed in an HTML <script> element (no '<' that could close it)."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("<", "\\u003c")


def _label_html(name: str) -> str:
    key = html.escape(district_key(name), quote=True)
    return (f'<div class="oki-district" data-key="{key}"><span class="oki-district-name">'
            f"{html.escape(name)}</span><span class=\"oki-district-count\"></span></div>")


def _js_options(config: Config, options: PageOptions, bounds: list[list[float]]) -> dict[str, Any]:
    categories = {c.code: {"shape": c.marker_shape, "agencies": list(c.agencies)} for c in config.categories}
    return {
        "interactive": options.interactive,
        "bounds": bounds,
        "labelPx": options.label_px,
        "markerPx": options.marker_px,
        "popupPx": options.popup_px,
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
        "agencies": [{"code": a.code, "label": agency_name(config, a.code), "color": a.color}
                     for a in config.agencies],
        "categories": categories,
        "priorityLetter": {p: t(f"priority.short.{p}")[:1] for p in ("high", "medium", "low")},
        "labels": {
            "incidents": t("map.layer.incidents"),
            "units": t("map.layer.units"),
            "districts": t("map.layer.districts"),
            "tiles": t("map.layer.tiles"),
            "ticket": t("col.ticket"),
            "category": t("col.category"),
            "priority": t("col.priority"),
            "status": t("col.status"),
            "location": t("detail.location"),
            "description": t("detail.description"),
            "units_col": t("col.units"),
            "ack": t("ack.button"),
            "sending": t("ack.sending"),
        },
    }


def make_map(config: Config, options: PageOptions) -> folium.Map:
    """The folium map with everything static; see the module docstring."""
    mc = config.map
    b = mc.bounds
    bounds = [[b.south, b.west], [b.north, b.east]]
    # Keep panning near the regency: a wall must not drift off into the sea.
    pad_lat, pad_lon = (b.north - b.south) * 0.5, (b.east - b.west) * 0.5
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
        zoomSnap=0.25,
        zoomDelta=0.5,
        maxBounds=[[b.south - pad_lat, b.west - pad_lon], [b.north + pad_lat, b.east + pad_lon]],
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

    tiles = None
    if mc.online_tiles:
        tiles = folium.TileLayer(tiles=mc.tile_url, attr=html.escape(mc.tile_attribution),
                                 name=t("map.layer.tiles"), overlay=True, control=False,
                                 max_zoom=mc.max_zoom, min_zoom=mc.min_zoom)
        tiles.add_to(fmap)

    geo = None
    boundaries = load_boundaries(config)
    if boundaries is not None:
        geo = folium.GeoJson(
            boundaries,
            name=t("map.layer.districts"),
            control=False,
            style_function=lambda _feature: {
                "color": theme.ACCENT, "weight": 2, "opacity": 0.55,
                "fillColor": theme.BG_PANEL, "fillOpacity": 0.0,
            },
            interactive=False,
        )
        geo.add_to(fmap)

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

    _PageInit(fmap, geo, tiles, _js_options(config, options, bounds)).add_to(fmap)
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
    _stable_ids(root)
    root.title = t("view.map")
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

