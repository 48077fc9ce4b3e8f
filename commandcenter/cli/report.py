"""`commandcenter report`: the situation report (Laporan Situasi) and the shift handover from a
journal, as PDF, HTML or CSV. Reads the journal read-only; a journal a live wall is writing can
be reported on at the same time."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path

from commandcenter.core.timeutil import WIB
from commandcenter.history.report import ReportFigures
from commandcenter.storage.audit import parse_since

DEFAULT_SHIFTS = "07:00,15:00,23:00"


def shift_period(at: dt.datetime, shifts: str) -> tuple[dt.datetime, dt.datetime]:
    """The shift a handover covers: it ends at the change of shift nearest to ``at`` (within an
    hour, so a report made just before or after the change covers the shift that ends), else at
    ``at``; it begins at the change before that."""
    times = sorted(dt.time.fromisoformat(x.strip()) for x in shifts.split(",") if x.strip())
    if not times:
        raise ValueError("--shift needs at least one time, e.g. 07:00,15:00,23:00")
    local = at.astimezone(WIB)
    days = [local.date() + dt.timedelta(days=d) for d in (-2, -1, 0, 1)]
    boundaries = sorted(dt.datetime.combine(day, t, WIB) for day in days for t in times)
    nearest = min(boundaries, key=lambda b: abs((b - local).total_seconds()))
    end = nearest if abs((nearest - local).total_seconds()) <= 3600 else local
    start = max(b for b in boundaries if b < end)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def report_main(args: argparse.Namespace) -> int:
    from commandcenter.config import ConfigError, load_config
    from commandcenter.core.i18n import strings_for
    from commandcenter.core.places import geo_path
    from commandcenter.history.render import Meta, load_geo, render_csv, render_html, render_pdf

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"config error: {exc}\n")
        return 2
    try:
        code, figures = asyncio.run(_figures(args))
        if figures is None:
            return code
        out = Path(args.out)
        fmt = args.format or {".html": "html", ".htm": "html", ".csv": "csv"}.get(out.suffix.lower(), "pdf")
        strings = strings_for(args.lang or config.display.language)
        situation = ""
        if args.situation:
            situation = next((x.name for x in figures.situation if x.id == args.situation), args.situation)
        meta = Meta(
            kind="handover" if args.handover else "report",
            produced_by=args.by or config.display.console_name or "OKI Siaga 112",
            journal=Path(args.db).name,
            generated=parse_since(args.generated) if args.generated else dt.datetime.now(dt.UTC),
            situation=situation,
        )
        geo = load_geo(geo_path(config.map.boundary_geojson))
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "pdf":
            render_pdf(figures, strings, config, meta, out, geo)
            written = [out]
        elif fmt == "html":
            out.write_text(render_html(figures, strings, config, meta, geo), encoding="utf-8")
            written = [out]
        else:
            written = render_csv(figures, strings, config, out)
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"report: {exc}\n")
        return 2
    sys.stdout.write("".join(f"{p}\n" for p in written))
    return 0


async def _figures(args: argparse.Namespace) -> tuple[int, ReportFigures | None]:
    """(exit code, figures): the figures, or why there are none (on stderr)."""
    from commandcenter.history.report import report_figures
    from commandcenter.history.timeline import HistoryError, Timeline
    from commandcenter.storage.journal import JournalError

    try:
        timeline = await Timeline.open(args.db)
    except (JournalError, HistoryError) as exc:
        sys.stderr.write(f"report: {exc}\n")
        return 2, None
    try:
        if timeline.end is None:
            sys.stderr.write(f"report: {args.db}: the journal holds no events\n")
            return 2, None
        if args.handover:
            at = parse_since(args.at) if args.at else timeline.end
            start, end = shift_period(at, args.shift)
        elif not args.from_ or not args.to:
            sys.stderr.write("report: --from and --to are needed (or --handover)\n")
            return 2, None
        else:
            start, end = parse_since(args.from_), parse_since(args.to)
        return 0, await report_figures(timeline, start, end, situation_id=args.situation or "")
    except HistoryError as exc:
        sys.stderr.write(f"report: {exc}\n")
        return 3, None
    finally:
        await timeline.close()


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, help="the journal (read-only)")
    p.add_argument("--from", dest="from_", default=None, help="start, ISO time (WIB when no offset)")
    p.add_argument("--to", default=None, help="end, ISO time (WIB when no offset)")
    p.add_argument("--situation", default=None, help="only the incidents of this declared situation (id)")
    p.add_argument("--handover", action="store_true", help="the one-page shift handover instead")
    p.add_argument("--shift", default=DEFAULT_SHIFTS, help=f"shift changes, WIB ({DEFAULT_SHIFTS})")
    p.add_argument("--at", default=None, help="handover at this time (default: the journal's end)")
    p.add_argument("--lang", choices=["id", "en"], default=None, help="language (default display.language)")
    p.add_argument("--format", choices=["pdf", "html", "csv"], default=None, help="by --out's suffix")
    p.add_argument("--out", required=True, help="the file to write (CSV: a file per table beside it)")
    p.add_argument("--by", default=None, help="who prepared it (default display.console_name)")
    p.add_argument("--config", default=None, help="configuration (agency and category names, boundaries)")
    # Tests and reproducible builds: the footer's generation time.
    p.add_argument("--generated", default=None, help=argparse.SUPPRESS)
