"""The situation report and the shift handover as PDF, HTML and CSV.

PDF with reportlab in its invariant mode (no creation date or random id in the file), charts and
the district map drawn with reportlab.graphics (the same drawings become inline SVG in the
HTML), so the same figures give the same bytes; the only time of the run is the one footer line.
Text from the feed (place names, alert messages) is set as text, never as markup.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportlab.graphics import renderSVG
from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.shapes import Circle, Drawing, Line, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from commandcenter.core.i18n import Strings
from commandcenter.core.timeutil import WIB
from commandcenter.history.report import ReportFigures

FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/Library/Fonts",
    "C:/Windows/Fonts",
)
PRIORITY_COLOR = {
    "high": colors.HexColor("#c62828"),
    "medium": colors.HexColor("#ef6c00"),
    "low": colors.HexColor("#1565c0"),
}
#: Sequential classes for the choropleth (print friendly, readable in grey).
CLASSES = ["#f2f2f2", "#c6dbef", "#6baed6", "#2171b5", "#08306b"]
OPEN_ROWS_PDF = 40
HANDOVER_OPEN_ROWS = 22
#: Column widths (mm) that keep a handover row on one line: ticket, priority, category, location,
#: age, agencies, status.
#: Each set sums to 175 mm: A4 less the margins and the frame's padding (wider tables spill into
#: the margin).
HANDOVER_WIDTHS = {"open_at_end": [30, 17, 26, 43, 15, 23, 21], "unacknowledged": [28, 20, 127]}
#: The report's open incidents in its larger type: the ticket and "Prioritas" on one line.
REPORT_OPEN_WIDTHS = [32, 19, 31, 35, 16, 19, 23]


@dataclass(frozen=True)
class Meta:
    kind: str  # "report" or "handover"
    produced_by: str
    journal: str
    generated: dt.datetime
    situation: str = ""


def _font() -> tuple[str, str]:
    """DejaVu Sans where installed (it has ▲ ◆ ● and every Indonesian letter), else Helvetica."""
    for folder in FONT_DIRS:
        regular, bold = Path(folder) / "DejaVuSans.ttf", Path(folder) / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont("DejaVuSans", str(regular)))
                pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(bold)))
            return "DejaVuSans", "DejaVuSans-Bold"
    return "Helvetica", "Helvetica-Bold"


def _wib(ts: dt.datetime | None, fmt: str = "%d-%m-%Y %H:%M") -> str:
    return "" if ts is None else ts.astimezone(WIB).strftime(fmt)


def _mins(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f}"


def _pct(share: float | None, s: Strings) -> str:
    return "–" if share is None else s.t("report.pct", pct=s.percent(share))


SHAPE = {"high": "▲", "medium": "◆", "low": "●"}


# --- tables (shared by PDF, HTML and CSV) -------------------------------------------------------


def _word(s: Strings, prefix: str, value: str) -> str:
    key = f"{prefix}.{value}"
    return s.t(key) if key in s else value


def tables(fig: ReportFigures, s: Strings, config: Any) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Every table of the report: name -> (header, rows), all as text."""
    t = s.t
    cat = lambda code: s.category_name(config, code) if config is not None else code  # noqa: E731
    agency = lambda code: s.agency_name(config, code) if config is not None else code  # noqa: E731
    out: dict[str, tuple[list[str], list[list[str]]]] = {
        "by_category": (
            [t("report.col.category"), t("report.col.count")],
            [[cat(c.key), str(c.count)] for c in fig.by_category],
        ),
        "by_agency": (
            [t("report.col.agency"), t("report.col.count")],
            [[agency(c.key), str(c.count)] for c in fig.by_agency],
        ),
        "by_district": (
            [t("report.col.district"), t("report.col.count")],
            [[c.key, str(c.count)] for c in fig.by_district],
        ),
        "calls": (
            [t("report.col.step"), t("report.col.count")],
            [
                [t(f"report.{k}" if k != "calls_in" else "report.calls_in"), str(v)]
                for k, v in fig.funnel.items()
            ],
        ),
        "steps": (
            [
                t("report.col.step"),
                t("report.col.count"),
                t("report.col.median"),
                t("report.col.p90"),
                t("report.col.within"),
            ],
            [
                [
                    t(f"report.step.{d.key}"),
                    str(d.count),
                    _mins(d.median_s),
                    _mins(d.p90_s),
                    _pct(d.within_target, s),
                ]
                for d in fig.steps
            ],
        ),
        "arrival_by_agency": (
            [
                t("report.col.agency"),
                t("report.col.count"),
                t("report.col.median"),
                t("report.col.p90"),
                t("report.col.within"),
            ],
            [
                [agency(d.key), str(d.count), _mins(d.median_s), _mins(d.p90_s), _pct(d.within_target, s)]
                for d in fig.arrival_by_agency
            ],
        ),
        "situation": (
            [
                t("report.col.time"),
                t("report.col.situation"),
                t("report.col.status"),
                t("report.col.district"),
                t("report.col.households"),
                t("report.col.evacuated"),
            ],
            [
                [
                    _wib(x.at),
                    x.name,
                    _word(s, "report.situation_status", x.status),
                    ", ".join(x.kecamatan),
                    str(x.households),
                    str(x.evacuated),
                ]
                for x in fig.situation
            ],
        ),
        "open_at_end": (
            [
                t("report.col.ticket"),
                t("report.col.priority"),
                t("report.col.category"),
                t("report.col.location"),
                t("report.col.age"),
                t("report.col.agency"),
                t("report.col.status"),
            ],
            [
                [
                    o.ticket,
                    f"{SHAPE.get(o.priority, '')} {_word(s, 'priority.short', o.priority)}",
                    cat(o.category),
                    " / ".join(x for x in (o.desa, o.kecamatan) if x),
                    s.age_column(o.age_s),
                    ", ".join(o.agencies),
                    _word(s, "status", o.status),
                ]
                for o in fig.open_at_end
            ],
        ),
        "unacknowledged": (
            [t("report.col.time"), t("report.col.priority"), t("report.col.alert")],
            [
                [
                    _wib(a.raised_at),
                    f"{SHAPE.get(a.priority, '')} {_word(s, 'priority.short', a.priority)}",
                    a.message or a.kind,
                ]
                for a in fig.unacknowledged
            ],
        ),
        "shelved": (
            [t("report.col.alert"), t("report.col.by"), t("report.col.until"), t("report.col.reason")],
            [[a.id, a.by, _wib(a.until), a.reason] for a in fig.shelved],
        ),
        "muted": (
            [t("report.col.alert"), t("report.col.by"), t("report.col.until")],
            [[a.id, a.by, _wib(a.until)] for a in fig.muted],
        ),
        "units_out_of_service": (
            [t("report.col.agency"), t("report.col.count")],
            [[agency(c.key), str(c.count)] for c in fig.units_out_of_service],
        ),
    }
    return out


# --- drawings ------------------------------------------------------------------------------------


def nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``raw`` (axis labels people read at a glance)."""
    if raw <= 1:
        return 1
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    font: str,
    *,
    width: float = 170 * mm,
    horizontal: bool = True,
    target: float | None = None,
) -> Drawing:
    n = max(1, len(labels))
    height = (14 + 11 * n) * 1.0 if horizontal else 70 * mm
    d = Drawing(width, height + 18)
    d.add(String(0, height + 6, title, fontName=font, fontSize=10))
    chart = HorizontalBarChart() if horizontal else VerticalBarChart()
    chart.x, chart.y = (60 * mm, 4) if horizontal else (10 * mm, 14)
    chart.width = width - chart.x - 10
    chart.height = height - 8 if horizontal else height - 24
    chart.data = [list(values) or [0]]
    chart.categoryAxis.categoryNames = list(labels) or [""]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    top = max([*values, target or 0, 1])
    chart.valueAxis.valueMax = top * 1.1
    chart.valueAxis.valueStep = nice_step(top / 5)
    chart.bars[0].fillColor = colors.HexColor("#2171b5")
    chart.bars[0].strokeColor = None
    if horizontal:
        chart.categoryAxis.reverseDirection = 1
        chart.categoryAxis.labels.boxAnchor = "e"
        chart.categoryAxis.labels.dx = -4
    else:
        # An hourly axis: label every few bars so the labels never collide.
        step = max(1, math.ceil(n / 12))
        chart.categoryAxis.categoryNames = [x if i % step == 0 else "" for i, x in enumerate(labels)] or [""]
    d.add(chart)
    if target is not None and horizontal:
        x = chart.x + chart.width * target / chart.valueAxis.valueMax
        d.add(
            Line(
                x,
                chart.y,
                x,
                chart.y + chart.height,
                strokeColor=colors.HexColor("#c62828"),
                strokeWidth=1.2,
                strokeDashArray=[3, 2],
            )
        )
    return d


def district_map(
    fig: ReportFigures,
    geo: dict[str, Any] | None,
    font: str,
    title: str,
    legend: str,
    width: float = 170 * mm,
    height: float = 120 * mm,
) -> Drawing:
    """A choropleth of the districts by incident count with the incidents as points."""
    d = Drawing(width, height + 44)
    d.add(String(0, height + 32, title, fontName=font, fontSize=10))
    d.add(String(0, height + 20, legend, fontName=font, fontSize=7))
    if not geo:
        return d
    counts = {c.key: c.count for c in fig.by_district}
    rings: list[tuple[str, list[tuple[float, float]]]] = []
    for feat in geo.get("features", []):
        name = str(feat.get("properties", {}).get("nama", ""))
        g = feat.get("geometry") or {}
        polys = [g["coordinates"]] if g.get("type") == "Polygon" else g.get("coordinates", [])
        for poly in polys:
            if poly:
                rings.append((name, [(float(x), float(y)) for x, y in poly[0]]))
    if not rings:
        return d
    xs = [x for _, r in rings for x, _ in r]
    ys = [y for _, r in rings for _, y in r]
    lat0 = math.radians((min(ys) + max(ys)) / 2)
    sx = math.cos(lat0)
    scale = min(width / ((max(xs) - min(xs)) * sx), height / (max(ys) - min(ys)))

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return dx + (lon - min(xs)) * sx * scale, (lat - min(ys)) * scale

    # Centred in the space the page gives it (the regency is taller than wide).
    dx = (width - (max(xs) - min(xs)) * sx * scale) / 2
    top = max(counts.values(), default=0)

    def klass(n: int) -> int:
        """0 for none, else 1..4 by quarters of the busiest district's count."""
        return 0 if n <= 0 else min(4, 1 + int(4 * (n - 1) / max(1, top)))

    # The legend says which counts each colour stands for, from the districts themselves.
    members: dict[int, list[int]] = {}
    for n in counts.values():
        members.setdefault(klass(n), []).append(n)
    lx = 0.0
    for k in range(5):
        if k and k not in members:
            continue
        lo, hi = (0, 0) if k == 0 else (min(members[k]), max(members[k]))
        label = str(lo) if lo == hi else f"{lo}–{hi}"
        d.add(Rect(lx, height + 6, 9, 6, fillColor=colors.HexColor(CLASSES[k]),
                   strokeColor=colors.HexColor("#555555"), strokeWidth=0.4))  # fmt: skip
        d.add(String(lx + 12, height + 7, label, fontName=font, fontSize=7))
        lx += 16 + pdfmetrics.stringWidth(label, font, 7) + 8
    for name, ring in rings:
        cls = klass(counts.get(name, 0))
        pts = [c for lon, lat in ring for c in xy(lon, lat)]
        d.add(
            Polygon(
                pts,
                fillColor=colors.HexColor(CLASSES[cls]),
                strokeColor=colors.HexColor("#555555"),
                strokeWidth=0.4,
            )
        )
    for pt in fig.points:
        x, y = xy(pt.lon, pt.lat)
        c = PRIORITY_COLOR.get(pt.priority, colors.black)
        if pt.priority == "high":
            d.add(
                Polygon(
                    [x, y + 2.6, x - 2.3, y - 1.4, x + 2.3, y - 1.4],
                    fillColor=c,
                    strokeColor=colors.white,
                    strokeWidth=0.3,
                )
            )
        elif pt.priority == "medium":
            d.add(
                Polygon(
                    [x, y + 2.2, x + 2.2, y, x, y - 2.2, x - 2.2, y],
                    fillColor=c,
                    strokeColor=colors.white,
                    strokeWidth=0.3,
                )
            )
        else:
            d.add(Circle(x, y, 1.6, fillColor=c, strokeColor=colors.white, strokeWidth=0.3))
    for feat in geo.get("features", []):
        props = feat.get("properties", {})
        name = str(props.get("nama", ""))
        if "lat" in props and "lng" in props and counts.get(name):
            x, y = xy(float(props["lng"]), float(props["lat"]))
            d.add(Rect(x - 5, y - 3, 10, 8, fillColor=colors.white, strokeColor=None, fillOpacity=0.8))
            d.add(String(x, y - 1, str(counts[name]), fontName=font, fontSize=6.5, textAnchor="middle"))
    return d


def charts(
    fig: ReportFigures, s: Strings, config: Any, font: str, geo: dict[str, Any] | None
) -> list[Drawing]:
    t = s.t
    cat = [s.category_name(config, c.key) if config is not None else c.key for c in fig.by_category]
    agency = [s.agency_name(config, d.key) if config is not None else d.key for d in fig.arrival_by_agency]
    out = [
        district_map(fig, geo, font, t("report.map"), t("report.map_legend")),
        bar_chart(t("report.by_category"), cat, [c.count for c in fig.by_category], font),
        bar_chart(
            t("report.hourly"),
            [c.key[-5:] for c in fig.hourly],
            [c.count for c in fig.hourly],
            font,
            horizontal=False,
        ),
    ]
    if fig.arrival_by_agency:
        out.append(
            bar_chart(
                f"{t('report.arrival')} · {t('report.col.median')} (min)",
                agency,
                [(d.median_s or 0) / 60 for d in fig.arrival_by_agency],
                font,
                target=15,
            )
        )
    return out


# --- PDF ---------------------------------------------------------------------------------------------


class _Drawing(Flowable):
    def __init__(self, drawing: Drawing) -> None:
        super().__init__()
        self.drawing = drawing
        self.width, self.height = drawing.width, drawing.height

    def draw(self) -> None:
        from reportlab.graphics import renderPDF

        renderPDF.draw(self.drawing, self.canv, 0, 0)


def _table(
    header: list[str],
    rows: list[list[str]],
    font: str,
    bold: str,
    widths: Sequence[float] | None = None,
    size: float = 7.5,
) -> Table:
    body = ParagraphStyle("cell", fontName=font, fontSize=size, leading=size * 1.2, alignment=TA_LEFT)
    head = ParagraphStyle("head", parent=body, fontName=bold)
    data = [[Paragraph(html.escape(h), head) for h in header]]
    data += [[Paragraph(html.escape(c), body) for c in row] for row in rows]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#999999")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return table


def render_pdf(
    fig: ReportFigures, s: Strings, config: Any, meta: Meta, out: Path, geo: dict[str, Any] | None
) -> None:
    font, bold = _font()
    t = s.t
    styles = {
        "title": ParagraphStyle("title", fontName=bold, fontSize=16, leading=20),
        "h": ParagraphStyle("h", fontName=bold, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4),
        "p": ParagraphStyle("p", fontName=font, fontSize=9, leading=12),
    }

    def para(text: str, style: str = "p") -> Paragraph:
        return Paragraph(html.escape(text), styles[style])

    tabs = tables(fig, s, config)

    def build_story(open_rows: int) -> list[Any]:
        """The pages' content; ``open_rows``: how many open incidents the handover lists."""
        story: list[Any] = [
            para(t("report.handover_title" if meta.kind == "handover" else "report.title"), "title"),
            para(t("report.service")),
            para(t("report.period", start=_wib(fig.period_from), end=_wib(fig.period_to))),
            para(t("report.by", name=meta.produced_by)),
        ]
        if meta.situation:
            story.append(para(t("report.situation", name=meta.situation)))
        story.append(Spacer(1, 4 * mm))
        if meta.kind == "handover":
            # One page for the next shift: the longest lists are cut, with what was left out said.
            lh = fig.last_hour
            last_hour = t(
                "report.last_hour",
                new=lh.get("new", 0),
                closed=lh.get("closed", 0),
                alerts=lh.get("alerts", 0),
                acked=lh.get("acknowledged", 0),
            )
            story.append(para(last_hour))
            oos = ", ".join(f"{row[0]} {row[1]}" for row in tabs["units_out_of_service"][1]) or t(
                "report.none"
            )
            story.append(para(f"{t('report.units_oos')}: {oos}"))
            limits = {"open_at_end": open_rows, "unacknowledged": 8, "shelved": 5, "muted": 4}
            titles = {
                "open_at_end": t("report.open", n=len(fig.open_at_end)),
                "unacknowledged": t("report.unacked", n=len(fig.unacknowledged)),
                "shelved": t("report.shelved", n=len(fig.shelved)),
                "muted": t("report.muted", n=len(fig.muted)),
            }
            for name, limit in limits.items():
                header, rows = tabs[name]
                story.append(para(titles[name], "h"))
                if not rows:
                    story.append(para(t("report.none")))
                    continue
                widths = HANDOVER_WIDTHS.get(name)
                story.append(
                    _table(
                        header, rows[:limit], font, bold, [w * mm for w in widths] if widths else None, 6.5
                    )
                )
                if len(rows) > limit:
                    story.append(para(t("report.open_more", n=len(rows) - limit)))
        else:
            story.append(para(t("report.incidents_total", n=fig.incidents), "h"))
            drawings = charts(fig, s, config, font, geo)
            story.append(_Drawing(drawings[0]))
            for name, title in (("by_agency", "report.by_agency"), ("by_district", "report.by_district")):
                header, rows = tabs[name]
                story.append(
                    KeepTogether(
                        [
                            para(t(title), "h"),
                            _table(header, rows, font, bold) if rows else para(t("report.none")),
                        ]
                    )
                )
            for drawing in drawings[1:3]:
                story += [Spacer(1, 5 * mm), _Drawing(drawing)]
            story.append(para(t("report.calls"), "h"))
            if fig.funnel_days:
                story.append(para(t("report.calls_days", days=", ".join(fig.funnel_days))))
                story.append(_table(*tabs["calls"], font, bold))
                story.append(para(t("report.prank_ghost_share", pct=_pct(fig.prank_ghost_share, s))))
            else:
                story.append(para(t("report.calls_none")))
            story.append(para(t("report.answer_times")))
            story.append(KeepTogether([para(t("report.steps"), "h"), _table(*tabs["steps"], font, bold)]))
            story.append(para(t("report.arrival"), "h"))
            if fig.arrival_by_agency:
                story.append(_table(*tabs["arrival_by_agency"], font, bold))
                story += [Spacer(1, 4 * mm), _Drawing(drawings[3])]
            else:
                story.append(para(t("report.arrival_none")))
            story.append(para(t("report.situation_timeline"), "h"))
            header, rows = tabs["situation"]
            names = {row[1] for row in rows}
            if not rows:
                story.append(para(t("report.situation_none")))
            elif len(names) == 1:
                # One situation: its name once above the table, not on every line of it.
                story.append(para(t("report.situation", name=rows[0][1])))
                story.append(_table([h for i, h in enumerate(header) if i != 1],
                                    [[c for i, c in enumerate(r) if i != 1] for r in rows], font, bold,
                                    [w * mm for w in (30, 24, 61, 30, 30)]))  # fmt: skip
            else:
                story.append(_table(header, rows, font, bold, [w * mm for w in (28, 40, 20, 43, 22, 22)]))
            header, rows = tabs["open_at_end"]
            story.append(para(t("report.open", n=len(rows)), "h"))
            widths = [w * mm for w in REPORT_OPEN_WIDTHS]
            if rows:
                story.append(_table(header, rows[:OPEN_ROWS_PDF], font, bold, widths))
                if len(rows) > OPEN_ROWS_PDF:
                    story.append(para(t("report.open_more", n=len(rows) - OPEN_ROWS_PDF)))
            for name, title in (("unacknowledged", "report.unacked"), ("shelved", "report.shelved")):
                header, rows = tabs[name]
                story.append(para(t(title, n=len(rows)), "h"))
                widths = [w * mm for w in HANDOVER_WIDTHS[name]] if name in HANDOVER_WIDTHS else None
                if rows:
                    story.append(_table(header, rows[:OPEN_ROWS_PDF], font, bold, widths))
                    if len(rows) > OPEN_ROWS_PDF:
                        story.append(para(t("report.open_more", n=len(rows) - OPEN_ROWS_PDF)))
                else:
                    story.append(para(t("report.none")))
        return story

    footer_time = _wib(meta.generated)

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.drawString(
            15 * mm, 10 * mm, t("report.footer", generated=footer_time, journal=meta.journal, page=doc.page)
        )
        canvas.restoreState()

    title = t("report.handover_title" if meta.kind == "handover" else "report.title")

    def build(open_rows: int) -> tuple[bytes, int]:
        """The PDF's bytes and its number of pages."""
        buf = io.BytesIO()
        doc = SimpleDocTemplate(
            buf,
            pagesize=A4,
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=15 * mm,
            bottomMargin=18 * mm,
            title=title,
            author=meta.produced_by,
            creator="OKI Siaga 112",
            invariant=1,
        )
        doc.build(build_story(open_rows), onFirstPage=footer, onLaterPages=footer)
        return buf.getvalue(), doc.page

    data, pages = build(HANDOVER_OPEN_ROWS)
    # The handover is one page whatever the shift held: fewer open incidents listed (the rest
    # counted, "... and N more") until it fits; wrapped locations make rows taller than one line.
    rows = HANDOVER_OPEN_ROWS
    while meta.kind == "handover" and pages > 1 and rows > 0:
        rows = max(0, rows - 3)
        data, pages = build(rows)
    out.write_bytes(data)


# --- HTML and CSV ------------------------------------------------------------------------------------------


def render_html(fig: ReportFigures, s: Strings, config: Any, meta: Meta, geo: dict[str, Any] | None) -> str:
    t = s.t
    font, _ = _font()
    tabs = tables(fig, s, config)
    e = html.escape
    period = t("report.period", start=_wib(fig.period_from), end=_wib(fig.period_to))
    footer = t("report.footer", generated=_wib(meta.generated), journal=meta.journal, page=1)
    parts = [
        "<!doctype html>",
        f'<html lang="{e(s.language)}"><head><meta charset="utf-8">',
        f"<title>{e(t('report.title'))}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#111}"
        "table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #999;padding:2px 6px;font-size:90%}"
        "th{background:#e8eef5}h2{margin-top:1.4em}</style></head><body>",
        f"<h1>{e(t('report.handover_title' if meta.kind == 'handover' else 'report.title'))}</h1>",
        f"<p>{e(t('report.service'))}<br>{e(period)}<br>{e(t('report.by', name=meta.produced_by))}</p>",
    ]
    if meta.kind != "handover":
        for drawing in charts(fig, s, config, font, geo):
            parts.append(renderSVG.drawToString(drawing))
    # Each table under the heading the PDF gives it, in the report's language.
    headings = {
        "by_category": t("report.by_category"),
        "by_agency": t("report.by_agency"),
        "by_district": t("report.by_district"),
        "calls": t("report.calls"),
        "steps": t("report.steps"),
        "arrival_by_agency": t("report.arrival"),
        "situation": t("report.situation_timeline"),
        "open_at_end": t("report.open", n=len(fig.open_at_end)),
        "unacknowledged": t("report.unacked", n=len(fig.unacknowledged)),
        "shelved": t("report.shelved", n=len(fig.shelved)),
        "muted": t("report.muted", n=len(fig.muted)),
        "units_out_of_service": t("report.units_oos"),
    }
    for name, (header, rows) in tabs.items():
        parts.append(
            f"<h2>{e(headings.get(name, name))}</h2><table><tr>"
            + "".join(f"<th>{e(h)}</th>" for h in header)
            + "</tr>"
        )
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
    parts.append(f"<footer><small>{e(footer)}</small></footer></body></html>")
    return "\n".join(parts) + "\n"


def render_csv(fig: ReportFigures, s: Strings, config: Any, out: Path) -> list[Path]:
    """One CSV per table next to ``out`` (``out`` itself holds the summary figures)."""
    written = []
    summary = io.StringIO()
    w = csv.writer(summary)
    w.writerow(["figure", "value"])
    w.writerow(["period_from", fig.period_from.isoformat()])
    w.writerow(["period_to", fig.period_to.isoformat()])
    w.writerow(["incidents", fig.incidents])
    for k, v in fig.funnel.items():
        w.writerow([f"calls_{k}" if k != "calls_in" else k, v])
    w.writerow(["prank_ghost_share", "" if fig.prank_ghost_share is None else f"{fig.prank_ghost_share:.4f}"])
    out.write_text(summary.getvalue(), encoding="utf-8")
    written.append(out)
    for name, (header, rows) in tables(fig, s, config).items():
        path = out.with_name(f"{out.stem}-{name}.csv")
        buf = io.StringIO()
        cw = csv.writer(buf)
        cw.writerow(header)
        cw.writerows(rows)
        path.write_text(buf.getvalue(), encoding="utf-8")
        written.append(path)
    return written


def load_geo(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
