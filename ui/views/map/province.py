"""The province map: each regency coloured by one figure (a choropleth), the
incidents of every followed regency as points.

The page is built once per configuration and screen size (the outlines of
province.geojson, Leaflet from the xstatic packages, resources/map/province.js)
and gets its data as JSON through QWebChannel, at most a few times a second
(the province model coalesces). Regencies the wall does not follow are grey
and unlabelled (their names at wall size would cover the followed ones); a
followed regency whose link is not live is drawn with a dashed alarm outline,
the age of its data instead of its figure and its incidents in grey, so
nothing stale looks live. The figures come from the engine
(commandcenter.core.province); this module picks colours and texts only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from importlib.resources import files
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile, QWebEngineSettings
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QVBoxLayout, QWidget
from shapely.geometry import MultiPolygon, Polygon
from shapely.ops import polylabel

from commandcenter.core.places import geo_path, read_feature_collection
from commandcenter.core.province import short_name
from commandcenter.wall.province import regency_areas
from ui.support import theme
from ui.views.map import page as map_page
from ui.views.province import ProvinceModel, state_text

log = logging.getLogger(__name__)

#: Fill of a regency the wall does not follow, of a stale one, and the classes 0 .. highest.
UNFOLLOWED = "#2a3038"
STALE_FILL = "#3b3f46"
CLASS_COLORS = ("#24506b", "#c9a93a", "#e07b2e", "#d2452f", "#9e1b2c")
STALE_LINE = theme.ALARM_RED
STALE_POINT = "#7d8794"


def class_breaks(values: list[int]) -> list[int]:
    """Upper bounds of the non-zero classes (at most four) for the values shown."""
    top = max(values, default=0)
    if top <= 0:
        return []
    return sorted({max(1, -(-top * k // 4)) for k in range(1, 5)})


def class_color(value: int, breaks: list[int]) -> str:
    if value <= 0 or not breaks:
        return CLASS_COLORS[0]
    for i, upper in enumerate(breaks):
        if value <= upper:
            return CLASS_COLORS[min(i + 1, len(CLASS_COLORS) - 1)]
    return CLASS_COLORS[-1]


def _label_point(geom: Any) -> tuple[float, float]:
    """Where a regency's label goes: the pole of inaccessibility of its largest part."""
    part = max(geom.geoms, key=lambda g: g.area) if isinstance(geom, MultiPolygon) else geom
    if not isinstance(part, Polygon):
        c = geom.representative_point()
        return c.y, c.x
    p = polylabel(part, tolerance=0.005)
    return round(p.y, 5), round(p.x, 5)


def build_page(model: ProvinceModel, metrics: theme.ScreenMetrics, out_dir: Path) -> Path:
    """Write the page (and its assets) into ``out_dir``; the name is a hash of its content."""
    cfg = model.config
    path = geo_path(cfg.province.geojson)
    data: dict[str, Any] = (
        read_feature_collection(path) if path is not None else {"type": "FeatureCollection", "features": []}
    )
    areas = {a.code: a for a in regency_areas(cfg.province.geojson).areas}
    names = {f.code: f.name for f in cfg.province.feeds}
    features = []
    feature: dict[str, Any]
    for feature in data["features"]:
        props = dict(feature.get("properties") or {})
        code = str(props.get("kode", ""))
        area = areas.get(code)
        lat, lng = _label_point(area.geom) if area is not None else (props.get("lat"), props.get("lng"))
        props.update(short=short_name(code, names.get(code) or str(props.get("nama", ""))),
                     label_lat=lat, label_lng=lng)  # fmt: skip
        features.append({"type": "Feature", "properties": props, "geometry": feature.get("geometry")})
    page_cfg = {
        "geojson": {"type": "FeatureCollection", "features": features},
        "fontPx": metrics.body_px,
        "pointPx": max(4, metrics.body_px // 6),
        "lineColor": "#0b0f14",
        "staleLine": STALE_LINE,
        "emptyColor": UNFOLLOWED,
    }
    px = metrics.body_px
    css = f"""
html, body, #map {{ margin: 0; height: 100%; background: {theme.BG}; }}
.leaflet-container {{ background: {theme.BG}; font-family: "Noto Sans", "DejaVu Sans", sans-serif; }}
.plabel-wrap {{ pointer-events: none; }}
.plabel {{ position: absolute; transform: translate(-50%, -50%); text-align: center; white-space: nowrap;
  color: {theme.TEXT}; line-height: 1.05;
  text-shadow: 0 0 3px {theme.BG}, 0 0 6px {theme.BG}, 2px 2px 4px {theme.BG}, -2px -2px 4px {theme.BG}; }}
.pname {{ font-size: {px}px; font-weight: 600; }}
.pvalue {{ font-size: {metrics.heading_px}px; font-weight: 800; }}
.plabel.stale .pvalue {{ color: {theme.ALARM_RED}; font-size: {px}px; }}
.plabel.unfollowed {{ display: none; }}
.plegend {{ background: {theme.BG_PANEL}; color: {theme.TEXT}; font-size: {px}px;
  padding: {px // 4}px {px // 2}px; border: 1px solid {theme.GRID}; border-radius: 6px; line-height: 1.25; }}
.ptitle {{ font-weight: 700; }}
.pswatch {{ display: inline-block; width: {px}px; height: {int(px * 0.7)}px; margin-right: {px // 3}px;
  border: 1px solid {theme.GRID}; vertical-align: middle; }}
"""
    own = (files("resources") / "map" / "province.js").read_text(encoding="utf-8")
    html = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{model.strings.t("view.province_map")}</title>
<link rel="stylesheet" href="assets/leaflet/leaflet.css">
<style>{css}</style>
<script src="assets/leaflet/leaflet.js"></script>
<script src="qrc:///qtwebchannel/qwebchannel.js"></script>
<script>window.PROVINCE_CONFIG = {map_page.script_json(page_cfg)};</script>
</head><body><div id="map"></div>
<script>{own}</script>
</body></html>"""
    map_page.install_assets(out_dir)
    digest = hashlib.sha256(html.encode()).hexdigest()[:16]
    page = out_dir / f"province-{digest}.html"
    if not page.exists():
        map_page._write_atomic(page, html.encode())
    return page


class _Bridge(QObject):
    data = Signal(str)

    def __init__(self, view: ProvinceMapView) -> None:
        super().__init__(view)
        self._view = view

    @Slot()
    def pageReady(self) -> None:
        self._view._on_ready()

    @Slot(int, int)
    def rendered(self, regions: int, points: int) -> None:
        self._view.rendered = (regions, points)


class _Page(QWebEnginePage):
    def __init__(self, profile: QWebEngineProfile, parent: QObject) -> None:
        super().__init__(profile, parent)
        self.js_errors: list[str] = []

    def javaScriptConsoleMessage(self, level: QWebEnginePage.JavaScriptConsoleMessageLevel, message: str,
                                 line: int, source: str) -> None:  # fmt: skip
        if level == QWebEnginePage.JavaScriptConsoleMessageLevel.ErrorMessageLevel:
            self.js_errors.append(f"{source}:{line}: {message}")
            log.warning("province map page error %s:%d: %s", source, line, message)


class ProvinceMapView(QWidget):
    """The province's regencies coloured by the configured figure (province.choropleth)."""

    def __init__(self, model: ProvinceModel, metrics: theme.ScreenMetrics, parent: QWidget | None = None, *,
                 page_dir: Path | None = None, figure: str | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setObjectName("provinceMapView")
        self.model = model
        self.strings = model.strings
        self.figure = figure or model.config.province.choropleth
        self.ready = False
        #: (regions, points) the page last drew (tests).
        self.rendered: tuple[int, int] = (0, 0)
        self._sent = ""
        out = Path(page_dir) if page_dir is not None else map_page.default_page_dir()
        self.page_path = build_page(model, metrics, out)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._view = QWebEngineView(self)
        self._profile = QWebEngineProfile(self)
        self._page = _Page(self._profile, self._view)
        self._page.setBackgroundColor(QColor(theme.BG))
        settings = self._page.settings()
        settings.setAttribute(QWebEngineSettings.WebAttribute.ShowScrollBars, False)
        settings.setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessRemoteUrls, False)
        self._channel = QWebChannel(self._page)
        self._bridge = _Bridge(self)
        self._channel.registerObject("provinceBridge", self._bridge)
        self._page.setWebChannel(self._channel)
        self._view.setPage(self._page)
        layout.addWidget(self._view)
        model.updated.connect(self.push)
        from PySide6.QtCore import QUrl

        self._view.load(QUrl.fromLocalFile(str(self.page_path)))

    @property
    def js_errors(self) -> list[str]:
        return self._page.js_errors

    def web_page(self) -> QWebEnginePage:
        return self._page

    def _on_ready(self) -> None:
        self.ready = True
        self._sent = ""
        self.push()

    def payload(self) -> dict[str, Any]:
        """What the page draws: a fill and a text per regency, the points, the legend."""
        s = self.strings
        f = self.model.figures
        values = f.choropleth(self.figure)
        live_values = [v for r in f.regencies if r.live for v in (values[r.code],)]
        breaks = class_breaks(live_values)
        regions = []
        for r in f.regencies:
            if r.live:
                fill, text = class_color(values[r.code], breaks), s.number(values[r.code])
            else:
                fill, text = STALE_FILL, state_text(r, s)
            regions.append({"code": r.code, "fill": fill, "text": text, "live": r.live, "followed": True})
        followed = {r.code for r in f.regencies}
        for code in self._all_codes():
            if code not in followed:
                regions.append(
                    {"code": code, "fill": UNFOLLOWED, "text": "", "live": True, "followed": False}
                )
        live = {r.code for r in f.regencies if r.live}
        # A stale regency's incidents stay on the map in grey: where they were, not as live.
        points = [
            {"lat": p.lat, "lon": p.lon, "high": p.unacked_high and p.regency in live,
             "color": theme.PRIORITY_COLOR.get(p.priority, theme.TEXT) if p.regency in live else STALE_POINT}
            for p in self.model.points if p.regency in followed
        ]  # fmt: skip
        target = s.t("age.minutes_short", n=s.number(f.total.response_target_s // 60))
        classes = [{"color": CLASS_COLORS[0], "label": s.number(0)}]
        low = 1
        for i, upper in enumerate(breaks):
            label = s.number(upper) if upper == low else f"{s.number(low)}–{s.number(upper)}"
            classes.append({"color": CLASS_COLORS[min(i + 1, len(CLASS_COLORS) - 1)], "label": label})
            low = upper + 1
        classes.append({"color": STALE_FILL, "label": s.t("province.legend_stale")})
        classes.append({"color": UNFOLLOWED, "label": s.t("province.unfollowed")})
        title = s.t(f"province.figure.{self.figure}", target=target)
        return {"regions": regions, "points": points, "legend": {"title": title, "classes": classes}}

    def _all_codes(self) -> list[str]:
        codes = getattr(self, "_codes", None)
        if codes is None:
            codes = self._codes = [a.code for a in regency_areas(self.model.config.province.geojson).areas]
        return codes

    def push(self) -> None:
        if not self.ready:
            return
        text = json.dumps(self.payload(), ensure_ascii=False, separators=(",", ":"))
        if text != self._sent:
            self._sent = text
            self._bridge.data.emit(text)

    def shutdown(self) -> None:
        self.ready = False
        with contextlib.suppress(RuntimeError, TypeError):
            self.model.updated.disconnect(self.push)


__all__ = ["ProvinceMapView", "build_page", "class_breaks", "class_color"]
