"""Can the wall be read? Every text view on every shipped preset's region, in both languages and
four data states (empty, a normal afternoon, the flood surge, and the surge under the stale
banner), built at the region's pixel size with the preset's text sizes, then walked
widget by widget as a reader would see it:

- no text wider or taller than its widget (the font metrics of the font it is drawn in);
- no visible sibling drawn over another, no text widget reaching outside its parent;
- no table row cut by the bottom edge, and the queue shows the whole rows the layout check
  (commandcenter.wall.layout) promises;
- no body text below 16 minutes of arc at the preset's distance on a wall (non-interactive) screen;
- no ellipsis on a field that must stay whole (a priority, a category, a number, a time);
- no wrapping of a caption marked one line (the ``oneLine`` property: the leader's median);
- chart axis labels that do not collide, bars with room to be read.

The map (a web page) has its own checks in tests/ui/test_map*.py. The region sizes, distances and
text sizes all come from config/layouts.toml through the engine; nothing here is a number of its own
except the one-pixel rounding tolerance.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, QRect, Qt
from PySide6.QtGui import QFont, QFontInfo, QFontMetrics, QImage, QPainter, QTextDocument
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractScrollArea,
    QLabel,
    QLineEdit,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from commandcenter.core.i18n import strings_for
from commandcenter.core.legibility import BODY_ARCMIN, font_arcmin
from commandcenter.core.store import Store
from commandcenter.core.timeutil import FakeClock
from commandcenter.wall import layout as lay
from tests.ui.conftest import T_START, simulated_events

#: Pixels of rounding a font's metrics may differ from a layout's integer geometry.
TOL = 1

# --- the cases: regions of the shipped presets ----------------------------------------------


@dataclass(frozen=True)
class Case:
    preset: str
    screen: str
    view: str
    width: int
    height: int
    screen_w: int
    screen_h: int
    diagonal_in: float
    distance_m: float
    interactive: bool
    rows: int  # whole queue rows the layout check promises (0: no queue)
    #: The region while the stale banner shows under the header: its height, and the whole queue
    #: rows the check promises there (a region in the top row loses the banner's height).
    stale_height: int = 0
    stale_rows: int = 0

    def stale(self) -> Case:
        """The same region as the wall gives it while the feed is not live."""
        return dataclasses.replace(self, height=self.stale_height, rows=self.stale_rows)

    @property
    def id(self) -> str:
        return f"{self.preset}-{self.screen}-{self.view}"


def _cases() -> list[Case]:
    out: dict[tuple[Any, ...], Case] = {}
    for name, layout in lay.shipped_presets().items():
        for s, screen in enumerate(layout.screens):
            for region in screen.regions:
                rep = lay.check_region(screen, region, f"s{s}")
                views = [region.view] if region.view != "map" else []
                if region.cell[1] == 0:
                    views.append("header")  # the screen's header line sits above its top cells
                for view in views:
                    if view == "header":
                        w, h = screen.width_px, lay.header_px(lay.screen_sizes(screen))
                    else:
                        w, h = rep.width_px, rep.height_px
                    queue = view != "header"
                    case = Case(name, f"s{s}", view, w, h, screen.width_px, screen.height_px,
                                screen.diagonal_in, screen.distance_m, screen.interactive,
                                int(rep.shows.get("rows", 0)) if queue else 0,
                                rep.stale_height_px if queue else h,
                                int(rep.shows.get("rows_stale", 0)) if queue else 0)  # fmt: skip
                    key = (view, w, h, screen.diagonal_in, screen.distance_m, screen.interactive)
                    out.setdefault(key, case)
    # The operations board (queue over the tiles) is not in a preset today but a user's layout
    # may place it: a whole 1080p panel at 6 m, where issue 11 found one and a half rows.
    four = lay.shipped_presets()["four-panels"].screens[1]
    region = lay.Region(view="operations")
    rep = lay.check_region(four, region, "s1")
    out[("operations",)] = Case("four-panels", "s1", "operations", rep.width_px, rep.height_px, four.width_px,
                                four.height_px, four.diagonal_in, four.distance_m, False,
                                int(rep.shows["rows"]), rep.stale_height_px,
                                int(rep.shows["rows_stale"]))  # fmt: skip
    return sorted(out.values(), key=lambda c: c.id)


CASES = _cases()
#: "stale": the surge's data in the height the wall leaves a region while the stale banner shows
#: (the feed down in the middle of the flood: the banner is never hidden, so everything must still
#: read under it).
STATES = ("empty", "afternoon", "surge", "stale")
LANGS = ("id", "en")

# --- data, built once per state ---------------------------------------------------------------


def _events(state: str) -> list[Any]:
    if state == "empty":
        return []
    if state == "afternoon":
        return simulated_events(20, scenario="mixed", rate=1.0)
    return simulated_events(35, scenario="flood", rate=10.0)


def _worst_case(store: Store, epoch: str) -> list[Any]:
    """Everything optional a reader may meet at once, on top of the simulated data: the longest
    district and village names of OKI and the longest category names, a three-digit victim count,
    all eight agencies on one incident, unacknowledged high-priority incidents (their alerts
    escalate: the leader's flag shows), a BMKG warning, a quake, a peat hotspot and a source gone
    stale (the leader's hazard panel with its stale mark)."""
    from commandcenter.core import protocol as p
    from commandcenter.core.model import AgencyTask, HazardItem, IncidentTimes, Location, SourceStatus
    from tests.factories import make_event, make_incident

    now = store.clock()
    long_ago = now - dt.timedelta(minutes=9)
    agencies = ["DAMKAR", "DINKES", "DLH", "BPBD", "DISHUB", "DINSOS", "BNN", "DPPPA"]
    where = Location(lat=-3.5777, lon=104.74584, kecamatan="Sirah Pulau Padang", kecamatan_code="16.02.08",
                     desa="Pulau Gemantung Darat")  # fmt: skip
    bodies: list[Any] = []
    for n, category in enumerate(("perlindungan_perempuan_anak", "karhutla", "ketertiban_lalu_lintas")):
        inc = make_incident(
            id=f"worst-{n}", ticket=f"OKI-20260310-{9990 + n}", category=category, priority="high",
            status="received", location=where, victims=123 if n == 0 else 0,
            description="Warga melaporkan kejadian di dekat jembatan gantung ujung desa, " * 3,
            tasks=[AgencyTask(agency=a, status="forwarded", forwarded_at=long_ago) for a in agencies],
            times=IncidentTimes(received=long_ago),
        )  # fmt: skip
        bodies.append(p.IncidentUpserted(incident=inc))
    bodies += [
        p.HazardReported(item=HazardItem(
            source="bmkg-cap", kind="warning", id="worst-warning", time=now - dt.timedelta(minutes=5),
            expires=now + dt.timedelta(hours=2), severity="severe",
            text="Hujan Lebat disertai Petir dan Angin Kencang di Sumatera Selatan",
            kecamatan=["Sirah Pulau Padang", "Pangkalan Lampam", "Pedamaran Timur"],
            area=[[(-3.33, 104.84), (-3.33, 104.93), (-3.42, 104.93)]])),
        p.HazardReported(item=HazardItem(
            source="bmkg-quake", kind="quake", id="worst-quake", time=now - dt.timedelta(minutes=3),
            lat=-4.35, lon=104.05, magnitude=6.1, detail={"wilayah": "21 km BaratLaut OKU Selatan"})),
        p.HazardReported(item=HazardItem(
            source="firms", kind="hotspot", id="worst-hotspot", time=now - dt.timedelta(minutes=30),
            lat=-3.23, lon=105.05, kecamatan=["Sirah Pulau Padang"], desa=["Pulau Gemantung Darat"])),
        p.SourceStatusChanged(status=SourceStatus(
            name="bmkg-nowcast", kind="bmkg-rss", state="live", at=long_ago, last_ok=long_ago,
            stale_after_s=60.0)),
    ]  # fmt: skip
    return [make_event(body, seq=store.seq + 1 + i, epoch=epoch, ts=now) for i, body in enumerate(bodies)]


_STORES: dict[str, tuple[Store, int, Any]] = {}


def _store(state: str, config: Any) -> tuple[Store, Any]:
    """The state's store, and an alert service over it whose alerts have escalated (no feed)."""
    from commandcenter.wall.alerting import AlertService

    if state not in _STORES:
        minutes = {"empty": 0, "afternoon": 20, "surge": 35}[state]
        clock = FakeClock(T_START + dt.timedelta(minutes=minutes))
        store = Store(clock=clock)
        store.apply_many(_events(state))
        if state != "empty":
            store.apply_many(_worst_case(store, "test-epoch"))
        service = AlertService(config, store, operator="Sari", console="meja-1", clock=clock)
        service.tick()
        clock.advance(config.alerts.escalate_after_s + 1)  # the alerts raised now escalate
        service.tick()
        _STORES[state] = (store, store.kpis().active_total, service)
    store, active, service = _STORES[state]
    if state == "surge":
        assert active >= 400, f"the surge must have 400 open incidents, has {active}"
    if state != "empty":
        assert service.engine.escalated(), "the data must raise the leader's escalation flag"
    return store, service


# --- building a view -------------------------------------------------------------------------


def _metrics(case: Case) -> Any:
    from ui.support import theme

    return theme.metrics_for(case.screen_w, case.screen_h, case.diagonal_in, case.distance_m)


def _build(case: Case, bridge: Any, metrics: Any, alerts: Any = None) -> QWidget:
    if case.view == "header":
        from ui.alerts.banner import _Mark
        from ui.support import theme
        from ui.views.header import ScreenHeader

        header = ScreenHeader(bridge, metrics, bridge.strings.t("view.operations"))
        # Both marks on, as on a wall with no sound device and the tones muted.
        t = bridge.strings.t
        texts = {"muteMark": "✕ " + t("audio.muted", console="", time="14:30"),
                 "audioMark": "⊘ " + t("audio.none")}  # fmt: skip
        for name, text in texts.items():
            mark = _Mark(metrics, name, theme.WARN)
            mark.setText(text)
            mark.show()
            header.add_mark(mark)
        return header
    if case.view == "queue":
        from ui.views.queue_view import QueueView

        return QueueView(bridge, metrics, interactive=case.interactive)
    if case.view == "agencies":
        from ui.views.agency_view import AgenciesView

        return AgenciesView(bridge, metrics)
    if case.view == "operations":
        from ui.views.operations import OperationsView

        return OperationsView(bridge, metrics, interactive=case.interactive)
    if case.view == "leader":
        from ui.views.leader import LeaderView

        leader = LeaderView(bridge, metrics)
        if alerts is not None:
            leader.set_alerts(alerts)  # escalated alerts: the flag over the figures
        return leader
    if case.view == "console":
        from ui.alerts.banner import AlertBanner
        from ui.views.console import ConsoleView
        from ui.views.operations import OperationsView

        queue = OperationsView(bridge, metrics, interactive=True, tiles=False)
        # The top alert's banner over the console and the tiles beside the queue, as on a wall
        # (ui.app.wall).
        banner = AlertBanner(alerts, metrics, interactive=True) if alerts is not None else None
        return ConsoleView(bridge, metrics, queue_widget=queue, banner=banner, tiles=True)
    raise AssertionError(case.view)


# --- the walk --------------------------------------------------------------------------------


def _visible_widgets(root: QWidget) -> Iterator[QWidget]:
    for w in [root, *root.findChildren(QWidget)]:
        if w.isVisibleTo(root) and w.width() > 0 and w.height() > 0 and not w.isWindow():
            yield w


def _name(w: QWidget) -> str:
    parts = []
    cur: QWidget | None = w
    while cur is not None and len(parts) < 4:
        parts.append(cur.objectName() or type(cur).__name__)
        cur = cur.parentWidget()
    return "/".join(reversed(parts))


def _rich(label: QLabel) -> QTextDocument | None:
    """The label's text laid out as Qt lays out rich text (None: plain text)."""
    fmt = label.textFormat()
    # AutoText is taken as rich when it looks like markup (Qt's own guess, roughly).
    if not (fmt == Qt.TextFormat.RichText or (fmt == Qt.TextFormat.AutoText and "<" in label.text())):
        return None
    doc = QTextDocument()
    doc.setDefaultFont(label.font())
    doc.setDocumentMargin(0)
    doc.setHtml(label.text())
    return doc


def _plain(label: QLabel) -> str:
    doc = _rich(label)
    return label.text() if doc is None else doc.toPlainText()


def _label_problems(label: QLabel) -> list[str]:
    text = _plain(label)
    if not text.strip():
        return []
    fm = QFontMetrics(label.font())
    box = label.contentsRect()
    margin = label.margin() * 2
    width, height = box.width() - margin, box.height() - margin
    out = []
    if label.wordWrap():
        need_h = label.heightForWidth(label.width())
        # A caption marked one line (a key figure's: "Median Tiba") must not wrap, even where
        # its tile would be tall enough for two.
        if label.property("oneLine") and need_h > fm.height() + TOL:
            wrapped = round(need_h / max(1, fm.height()))
            out.append(f"{_name(label)}: {text!r} wraps onto {wrapped} lines in {width} px (one line only)")
        if need_h > label.height() + TOL:
            out.append(f"{_name(label)}: {text!r} wraps to {need_h} px in {label.height()} px")
        # A word longer than the line is cut, not wrapped.
        longest = max((fm.horizontalAdvance(word) for word in text.split()), default=0)
        if longest > width + TOL:
            out.append(f"{_name(label)}: a word of {text!r} is {longest} px wide in {width} px")
        return out
    lines = text.split("\n")
    need_w = max(fm.horizontalAdvance(line) for line in lines)
    need_h = fm.height() * len(lines)
    doc = _rich(label)
    if doc is not None:
        need_w = math.ceil(doc.idealWidth())
    if need_w > width + TOL:
        out.append(f"{_name(label)}: {text!r} is {need_w} px wide in {width} px")
    if need_h > height + TOL:
        out.append(f"{_name(label)}: {text!r} is {need_h} px tall in {height} px")
    return out


def _overlaps(root: QWidget) -> list[str]:
    out = []
    for parent in [root, *root.findChildren(QWidget)]:
        if not parent.isVisibleTo(root) or isinstance(parent, QAbstractScrollArea):
            continue  # a scroll area arranges its own viewport, bars and headers
        kids = [c for c in parent.children()
                if isinstance(c, QWidget) and c.isVisibleTo(root) and not c.isWindow() and c.width() > 0
                and c.height() > 0]  # fmt: skip
        for a, b in itertools.combinations(kids, 2):
            common = a.geometry().intersected(b.geometry())
            if common.width() > TOL and common.height() > TOL:
                out.append(f"{_name(a)} {_rect(a.geometry())} overlaps {_name(b)} {_rect(b.geometry())}")
        if isinstance(parent.parentWidget(), QAbstractScrollArea):
            continue  # a scroll area's viewport: its contents may be larger (they scroll)
        inside = parent.rect().adjusted(-TOL, -TOL, TOL, TOL)
        for c in kids:
            # A text widget, or a panel of them (its text would be cut with it).
            texts = (d for d in c.findChildren(QWidget) if d.isVisibleTo(root))
            holds_text = _shows_text(c) or any(_shows_text(d) for d in texts)
            if holds_text and not inside.contains(c.geometry()):
                out.append(f"{_name(c)} {_rect(c.geometry())} reaches outside its parent "
                           f"{_rect(parent.rect())}")  # fmt: skip
    return out


def _rect(r: QRect) -> str:
    return f"[{r.x()},{r.y()} {r.width()}x{r.height()}]"


def _shows_text(w: QWidget) -> bool:
    if isinstance(w, QLabel):
        return bool(w.text().strip())
    return isinstance(w, (QAbstractButton, QLineEdit, QAbstractItemView))


def _table_problems(table: QTableView, case: Case, must_show: int, may_elide: set[int]) -> list[str]:
    out = []
    vp = table.viewport().height()
    model = table.model()
    rows = model.rowCount()
    for r in range(rows):
        if table.isRowHidden(r):
            continue
        y = table.rowViewportPosition(r)
        if y < 0 or y >= vp:
            continue
        if y + table.rowHeight(r) > vp + TOL:
            bottom = y + table.rowHeight(r)
            out.append(f"{_name(table)}: row {r} is cut: {y}..{bottom} in a viewport of {vp} px")
    whole = vp // max(1, table.verticalHeader().defaultSectionSize())
    if must_show and whole < must_show:
        out.append(f"{_name(table)}: room for {whole} whole rows, the layout check promises {must_show}")
    # Cells that must stay whole: their text, icon and padding inside the column.
    delegate = table.itemDelegate()
    option = QStyleOptionViewItem()
    table.initViewItemOption(option)
    for r in range(min(rows, whole + 1)):
        for c in range(model.columnCount()):
            if table.isColumnHidden(c) or c in may_elide:
                continue
            index: QModelIndex = model.index(r, c)
            text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
            need = delegate.sizeHint(option, index).width()
            have = table.columnWidth(c)
            if text and need > have + TOL:
                head = model.headerData(c, Qt.Orientation.Horizontal)
                out.append(f"{_name(table)}: {head!r} cell {text!r} needs {need} px, column has {have}")
    hh = table.horizontalHeader()
    if hh.isVisible():
        # The stylesheet draws sections at weight 600, which font() does not report.
        header_font = QFont(hh.font())
        header_font.setWeight(QFont.Weight.DemiBold)
        fm = QFontMetrics(header_font)
        for c in range(model.columnCount()):
            if table.isColumnHidden(c):
                continue
            head = str(model.headerData(c, Qt.Orientation.Horizontal) or "")
            if head and fm.horizontalAdvance(head) > hh.sectionSize(c) + TOL:
                have = hh.sectionSize(c)
                out.append(f"{_name(table)}: header {head!r} is wider than its column ({have} px)")
        if fm.height() > hh.height() + TOL:
            out.append(f"{_name(table)}: header text {fm.height()} px tall in {hh.height()} px")
    return out


def _plot_problems(plot: Any, case: Case, metrics: Any) -> list[str]:
    """Axis tick labels of a pyqtgraph chart: readable, not colliding; bars with room."""
    out = []
    if plot.objectName() == "sparkline":
        return out  # a tile's trend line: shape only, no text, no axis
    item = plot.getPlotItem()
    image = QImage(max(1, plot.width()), max(1, plot.height()), QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            if not axis.isVisible():
                continue
            font = axis.style.get("tickFont") or axis.font()
            if not case.interactive:
                out += _arcmin_problem(f"{_name(plot)} {name} axis", font, case)
            specs = axis.generateDrawSpecs(painter)
            if not specs:
                continue
            rects = [(rect, text) for rect, _flags, text in specs[2]]
            for (ra, ta), (rb, tb) in itertools.combinations(rects, 2):
                common = ra.intersected(rb)
                if common.width() > TOL and common.height() > TOL:
                    out.append(f"{_name(plot)}: {name} axis labels {ta!r} and {tb!r} collide")
    finally:
        painter.end()
    if item.vb.height() < 2 * metrics.row_px:
        out.append(f"{_name(plot)}: a chart {int(item.vb.height())} px high (bars unreadable; hide it)")
    return out


def _arcmin_problem(what: str, font: Any, case: Case) -> list[str]:
    from commandcenter.core.legibility import px_per_mm

    px = QFontInfo(font).pixelSize()
    ppm = px_per_mm(case.screen_w, case.screen_h, case.diagonal_in)
    arcmin = font_arcmin(px, ppm, case.distance_m)
    if arcmin < BODY_ARCMIN - 0.05:
        return [f"{what}: {px} px text is {arcmin:.1f}' at {case.distance_m:g} m (at least {BODY_ARCMIN:g}')"]
    return []


#: Queue columns that may end in "…": free text only (the place, the agencies' names).
def _elidable_columns() -> set[int]:
    from ui.views.queue import COL_AGENCIES, COL_LOCATION

    return {COL_LOCATION, COL_AGENCIES}


def legibility_problems(root: QWidget, case: Case, metrics: Any) -> list[str]:
    import pyqtgraph as pg

    problems: list[str] = []
    problems += _overlaps(root)
    for w in _visible_widgets(root):
        if isinstance(w, QLabel):
            problems += _label_problems(w)
            full = getattr(w, "full_text", None)
            full = full() if callable(full) else full  # an older ElidedLabel had it as a method
            if full is not None and w.text() != full and not w.property("mayElide"):
                problems.append(f"{_name(w)}: {full!r} elided to {w.text()!r} (not free text)")
        if isinstance(w, QTableView):
            must = case.rows if case.view in ("queue", "operations", "console") else 0
            problems += _table_problems(w, case, must, _elidable_columns())
        if isinstance(w, pg.PlotWidget):
            problems += _plot_problems(w, case, metrics)
        if not case.interactive and (_shows_text(w) or isinstance(w, QTableView)):
            problems += _arcmin_problem(_name(w), w.font(), case)
    return sorted(set(problems))


# --- the test --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def config() -> Any:
    from commandcenter.config import load_defaults

    return load_defaults()


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_view_reads_on_every_preset(qtbot: Any, config: Any, case: Case, lang: str, state: str) -> None:
    from ui.alerts.adapter import AlertAdapter
    from ui.support.bridge import EngineBridge

    if state == "stale":
        case = case.stale()
    store, service = _store("surge" if state == "stale" else state, config)
    bridge = EngineBridge(config, store, strings=strings_for(lang))
    alerts = AlertAdapter(service, bridge)
    metrics = _metrics(case)
    try:
        view = _build(case, bridge, metrics, alerts)
        qtbot.addWidget(view)
        # A header is one line at the layout's header height, and the stale banner under it
        # (no feed here: the banner shows, as it must, below the line).
        height = case.height
        if case.view == "header":
            view.banner.ensurePolished()
            height = getattr(view, "line_px", case.height) + view.banner.sizeHint().height()
        view.setFixedSize(case.width, height)
        view.show()
        qtbot.waitExposed(view)
        # The views refit on resize (columns, tiles, charts): let the layouts settle.
        qtbot.waitUntil(lambda: view.layout() is None or not view.layout().geometry().isEmpty())
        for _ in range(3):
            qtbot.wait(0)
        problems = legibility_problems(view, case, metrics)
        if case.view == "header":
            bar = view.findChild(QWidget, "headerBar")
            one_line = max(case.height, getattr(view, "line_px", 0))  # a desk's framed marks: a few px more
            if bar.height() > one_line or bar.height() >= 2 * metrics.row_px or view.mark_strip.isVisible():
                problems.append(f"the header takes more than one line of {case.height} px")
            if not view.banner.isVisible():
                problems.append("the stale banner is hidden while the feed is not live")
        assert not problems, f"{case.id} [{lang}, {state}], {case.width}x{case.height} px at " \
            f"{case.distance_m:g} m:\n  " + "\n  ".join(problems[:40])  # fmt: skip
    finally:
        alerts.shutdown()
        bridge.shutdown()
        bridge.deleteLater()


def test_the_walk_finds_what_the_issue_found(qtbot: Any, config: Any) -> None:
    """The checks themselves can fail: a label squeezed under its text, two siblings on top of each
    other, a table cut mid-row, text too small for the distance."""
    from PySide6.QtWidgets import QTableWidget

    case = next(c for c in CASES if c.preset == "four-panels" and c.view == "queue")
    metrics = _metrics(case)
    root = QWidget()
    qtbot.addWidget(root)
    root.setFixedSize(400, 300)
    squeezed = QLabel("Panggilan Hari Ini", root)
    squeezed.setGeometry(0, 0, 60, 10)
    on_top = QLabel("Masuk", root)
    on_top.setGeometry(10, 5, 60, 10)
    table = QTableWidget(30, 1, root)
    table.verticalHeader().setDefaultSectionSize(40)
    table.setGeometry(0, 100, 400, 130)
    small = QLabel("x", root)
    small.setStyleSheet("font-size: 10px;")
    small.setGeometry(300, 0, 50, 50)
    # A one-line caption in a tile tall enough for its two lines: wrapped all the same.
    caption = QLabel("Median Tiba Hari Ini", root)
    caption.setWordWrap(True)
    caption.setProperty("oneLine", True)
    caption.setGeometry(0, 240, 90, 60)
    root.show()
    qtbot.waitExposed(root)
    text = "\n".join(legibility_problems(root, case, metrics))
    assert "'Median Tiba Hari Ini' wraps onto" in text and "(one line only)" in text
    assert "wide in" in text and "tall in" in text
    assert "overlaps" in text
    assert "is cut" in text
    assert "at 6 m (at least 16')" in text


QUEUE_CASES = [c for c in CASES if c.view in ("queue", "operations", "console")]


def _planned_columns(case: Case, lang: str) -> list[str]:
    """The queue columns `commandcenter layout check` lists for the case's region."""
    screen = lay.shipped_presets()[case.preset].screens[int(case.screen[1:])]
    region = next((r for r in screen.regions if r.view == case.view), lay.Region(view="operations"))
    return list(lay.check_region(screen, region, case.screen, lang).shows["columns"])


def _shown_columns(table: QTableView | None, names: tuple[str, ...]) -> list[str]:
    assert table is not None
    return [names[c] for c in range(len(names)) if not table.isColumnHidden(c)]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("case", QUEUE_CASES, ids=[c.id for c in QUEUE_CASES])
def test_the_layout_check_counts_the_rows_the_widget_shows(
    qtbot: Any, config: Any, case: Case, lang: str
) -> None:
    """`commandcenter layout check` reports the queue's whole rows of every shipped preset; the
    real widget at that region's size, with an alert in the console's banner, shows exactly as
    many, at least QUEUE_MIN_ROWS, and on the console all eight agency tiles complete beside it
    (the laptop's console claimed 22 rows and showed none: the banner and the tiles took them)."""
    from ui.alerts.adapter import AlertAdapter
    from ui.support.bridge import EngineBridge

    store, service = _store("surge", config)
    bridge = EngineBridge(config, store, strings=strings_for(lang))
    alerts = AlertAdapter(service, bridge)
    metrics = _metrics(case)
    try:
        view = _build(case, bridge, metrics, alerts)
        qtbot.addWidget(view)
        view.setFixedSize(case.width, case.height)
        view.show()
        qtbot.waitExposed(view)
        table = view.findChild(QTableView)

        def whole() -> int:
            return table.viewport().height() // table.verticalHeader().defaultSectionSize()

        qtbot.waitUntil(lambda: whole() == case.rows, timeout=5000)
        # The columns too: the check listed an agencies column the 2x2 wall's queue did not show.
        from ui.views.queue import COLUMNS

        planned = set(_planned_columns(case, lang))
        try:
            qtbot.waitUntil(lambda: set(_shown_columns(table, COLUMNS)) == planned, timeout=5000)
        except qtbot.TimeoutError:
            shown = _shown_columns(table, COLUMNS)
            raise AssertionError(
                f"{case.id}: the layout check lists {sorted(planned)}, the queue shows {shown}"
            ) from None
        if case.view != "operations":  # the operations board is in no shipped preset (see _cases)
            assert case.rows >= lay.QUEUE_MIN_ROWS, f"{case.id}: the layout check promises {case.rows} rows"
        if case.view == "console":
            board = view.agency_board
            assert board is not None and view.fit is not None
            tiles = list(board.tiles.values())
            assert len(tiles) == lay.AGENCY_TILES
            side = view.side.rect()
            for tile in tiles:
                rect = QRect(tile.mapTo(view.side, tile.rect().topLeft()), tile.size())
                where = f"{case.id}: tile {tile.code} at {_rect(rect)}"
                assert tile.isVisible() and side.contains(rect), where
            assert board.height() == view.fit.tiles_px
            # The banner is as planned (not squeezed, not taller than the check assumed).
            assert view.alert_banner is not None
            assert view.alert_banner.height() >= view.banner_need() > 0
            assert view.alert_slot.height() == view.fit.banner_px
    finally:
        alerts.shutdown()
        bridge.shutdown()
        bridge.deleteLater()
