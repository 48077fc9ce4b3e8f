"""Soak run: the demo wall for half an hour at 48x speed, then a report.

``python -m bench.soak`` (``make soak``) starts ``commandcenter demo --headless
--run-for ... --stats-file ... --screenshot-dir ...`` as a subprocess (the demo
starts the reference server with the simulator as its own child) and, every
5 s, sums the RSS of the whole process tree with psutil, split per role:

wall
    the process the stats lines name (the wall itself); before the first stats
    line, the parent of the QtWebEngine processes.
server
    the reference dispatch server (``... serve``) the demo started.
webengine
    every QtWebEngineProcess (zygotes, GPU/utility, renderers).
supervisor
    the demo's top process when the wall runs as its child.
other
    short-lived helpers (espeak-ng, sox ``play``).

The wall writes one JSON line per watchdog interval into the stats file (pid,
uptime, its own and its tree's RSS, the longest GUI-thread gap since the
previous line, the number of gaps over 200 ms, the feed state). The soak reads
it as it grows: stalls come from there, restarts are a change of pid or an
uptime that goes backwards.

At the end it writes, in ``--out`` (default ``bench/soak/``): ``report.md``
(targets against what was measured), ``soak.json`` (every sample and stats
line), ``rss.png`` and ``stalls.png`` (drawn with pyqtgraph's exporter on the
offscreen platform, only after the run: Qt is never loaded while sampling) and
the demo's final screenshots in ``screenshots/``.

Targets (issue 6): no crash; RSS growth of the tree after the first 5 minutes at
most 5 %; no GUI-thread stall over 200 ms. Growth compares the median of the
tree's samples in the minute centred on the 5-minute mark with the median of
the last minute's samples (a single sample is at the mercy of a GC or a
renderer's allocation burst). Stalls are judged after the start-up (the first
60 s: building the windows and loading the map page); the start-up's longest
gap is reported apart.

Exit code: 0 when the run completed without a crash (missed targets are MISS
lines in the report: it is a measurement), 1 on a crash, restart or hang, 2 when
the demo could not be started at all.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ui.support.chromium import chromium_environment

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "soak"
SAMPLE_INTERVAL_S = 5.0
WARMUP_S = 300.0
WINDOW_S = 60.0
STARTUP_S = 60.0
GROWTH_TARGET_PCT = 5.0
STALL_TARGET_MS = 200.0
# Start-up (windows, map page, first snapshot) and shutdown (final snapshot,
# screenshots) on top of --run-for before the demo counts as hung.
GRACE_S = 180.0
ROLES = ("wall", "server", "webengine", "supervisor", "other")

# Output lines that mean something went wrong. Python's own crash report,
# tracebacks (also those logged with log.exception), logging at ERROR or above,
# Chromium's FATAL lines.
_FATAL_RE = re.compile(r"Fatal Python error|Segmentation fault|core dumped|:FATAL:")
_TRACEBACK_RE = re.compile(r"^Traceback \(most recent call last\):")
_PY_ERROR_RE = re.compile(r"\b(ERROR|CRITICAL)\b")
_CHROMIUM_LINE_RE = re.compile(r"^\[\d+:\d+:\d+/\d+\.\d+:(ERROR|WARNING|INFO|FATAL):")
# Chromium's ERROR lines that say nothing about the wall: no system D-Bus in a
# container or on a kiosk without one.
_BENIGN_RES = (re.compile(r"dbus/bus\.cc.*Failed to connect to the bus"),)
_INCIDENT_ID_RE = re.compile(rb'"incident":\{"id":"inc-(\d+)"')
# The watchdog's own warning: also covers the start-up and the shutdown, which
# fall outside the stats lines.
_STALL_WARNING_RE = re.compile(r"GUI thread stalled for (\d+(?:\.\d+)?) ms")
# The supervisor's line for every wall it has to start again.
_SUPERVISOR_RESTART_RE = re.compile(r"the wall \(pid \d+\) .*; restart \d+ in ")


# --- the data -----------------------------------------------------------------------------


@dataclass
class Sample:
    """One psutil look at the demo's process tree."""

    t: float  # seconds since the demo was started
    tree_mb: float
    roles: dict[str, float]
    nproc: int


@dataclass
class Restart:
    t: float
    old_pid: int
    new_pid: int
    reason: str  # "pid changed" or "uptime went back"


@dataclass
class Growth:
    baseline_mb: float
    end_mb: float
    pct: float
    baseline_window: tuple[float, float]
    end_window: tuple[float, float]
    baseline_n: int
    end_n: int
    slope_mb_per_h: float
    short_run: bool


@dataclass
class OutputFindings:
    tracebacks: int = 0
    error_lines: list[str] = field(default_factory=list)
    fatal_lines: list[str] = field(default_factory=list)
    ignored: int = 0
    stall_warnings_ms: list[float] = field(default_factory=list)


@dataclass
class StallSummary:
    measured: bool
    max_ms: float = 0.0
    startup_max_ms: float = 0.0
    over_warn: int = 0
    lines: int = 0


@dataclass
class Target:
    name: str
    target: str
    measured: str
    status: str  # PASS, MISS or "n/a"


# --- analysis (pure functions; tests/test_soak.py feeds them generated data) -------------


def _median_in(samples: Sequence[Sample], t0: float, t1: float, role: str | None) -> tuple[float, int]:
    values = [s.tree_mb if role is None else s.roles.get(role, 0.0) for s in samples if t0 <= s.t <= t1]
    return (statistics.median(values), len(values)) if values else (math.nan, 0)


def slope_mb_per_h(samples: Sequence[Sample], after_s: float, role: str | None = None) -> float:
    """Least-squares slope of the RSS after ``after_s``, in MB per hour."""
    pts = [(s.t, s.tree_mb if role is None else s.roles.get(role, 0.0)) for s in samples if s.t >= after_s]
    if len(pts) < 2:
        return math.nan
    mx = statistics.fmean(t for t, _ in pts)
    my = statistics.fmean(v for _, v in pts)
    den = sum((t - mx) ** 2 for t, _ in pts)
    if den == 0:
        return math.nan
    return sum((t - mx) * (v - my) for t, v in pts) / den * 3600.0


def compute_growth(
    samples: Sequence[Sample],
    *,
    warmup_s: float = WARMUP_S,
    window_s: float = WINDOW_S,
    role: str | None = None,
) -> Growth | None:
    """RSS growth from the minute around ``warmup_s`` to the last minute (medians).

    A run too short to have a baseline minute and a separate last minute takes
    its baseline a third of the way in and says so (``short_run``): the figure
    is then only an indication, never the issue's target.
    """
    if len(samples) < 2:
        return None
    end_t = samples[-1].t
    short = end_t < warmup_s + 1.5 * window_s
    if short:
        warmup_s = end_t / 3.0
        window_s = min(window_s, end_t / 3.0)
    half = window_s / 2.0
    b_win = (warmup_s - half, warmup_s + half)
    e_win = (max(end_t - window_s, b_win[1]), end_t)
    base, bn = _median_in(samples, *b_win, role)
    end, en = _median_in(samples, *e_win, role)
    if bn == 0 or en == 0 or not base > 0:
        return None
    return Growth(
        baseline_mb=base,
        end_mb=end,
        pct=(end - base) / base * 100.0,
        baseline_window=b_win,
        end_window=e_win,
        baseline_n=bn,
        end_n=en,
        slope_mb_per_h=slope_mb_per_h(samples, warmup_s, role),
        short_run=short,
    )


def detect_restarts(stats: Iterable[dict[str, Any]], start_unix: float) -> list[Restart]:
    """Restarts of the wall seen in its stats lines: a new pid (the supervisor
    started a new child) or, with the same pid, an uptime that went backwards
    (a restart by exec)."""
    out: list[Restart] = []
    prev: dict[str, Any] | None = None
    for line in stats:
        if prev is not None:
            t = float(line.get("t", start_unix)) - start_unix
            if line.get("pid") != prev.get("pid"):
                out.append(Restart(t, int(prev.get("pid", 0)), int(line.get("pid", 0)), "pid changed"))
            elif float(line.get("uptime_s", 0.0)) + 1.0 < float(prev.get("uptime_s", 0.0)):
                out.append(Restart(t, int(prev["pid"]), int(line["pid"]), "uptime went back"))
        prev = line
    return out


def summarize_stalls(
    stats: Sequence[dict[str, Any]], start_unix: float, *, startup_s: float = STARTUP_S
) -> StallSummary:
    """Longest GUI-thread gap and the count of gaps over the warning limit.

    A stats line covers the interval since the previous line; lines whose
    interval began within ``startup_s`` of the start count as start-up."""
    if not stats:
        return StallSummary(measured=False)
    summary = StallSummary(measured=True, lines=len(stats))
    prev_t = start_unix
    for line in stats:
        t = float(line.get("t", prev_t))
        gap = float(line.get("stall_max_ms", 0.0))
        if prev_t - start_unix < startup_s:
            summary.startup_max_ms = max(summary.startup_max_ms, gap)
        else:
            summary.max_ms = max(summary.max_ms, gap)
            summary.over_warn += int(line.get("stalls_over_warn", 0))
        prev_t = t
    return summary


def scan_output(lines: Iterable[str]) -> OutputFindings:
    """Tracebacks, ERROR lines and fatal crash reports in the demo's output."""
    found = OutputFindings()
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        stall = _STALL_WARNING_RE.search(line)
        if stall:
            found.stall_warnings_ms.append(float(stall.group(1)))
            continue
        if _FATAL_RE.search(line):
            found.fatal_lines.append(line)
            continue
        if _TRACEBACK_RE.match(line):
            found.tracebacks += 1
            continue
        chromium = _CHROMIUM_LINE_RE.match(line)
        is_error = chromium.group(1) == "ERROR" if chromium else bool(_PY_ERROR_RE.search(line))
        if not is_error:
            continue
        if any(r.search(line) for r in _BENIGN_RES):
            found.ignored += 1
        else:
            found.error_lines.append(line)
    return found


def supervisor_restarts(lines: Iterable[str]) -> list[str]:
    """The supervisor log's lines that announce a restart of the wall (with why)."""
    return [line.rstrip("\n") for line in lines if _SUPERVISOR_RESTART_RE.search(line)]


def find_core_files(dirs: Iterable[Path], since: float) -> list[Path]:
    """Core dumps written during the run (core_pattern ``core`` or ``core.PID``)."""
    cores: list[Path] = []
    for d in dirs:
        if not d.is_dir():
            continue
        for p in d.iterdir():
            with contextlib.suppress(OSError):
                if re.fullmatch(r"core(\.\d+)?", p.name) and p.is_file() and p.stat().st_mtime >= since:
                    cores.append(p)
    return cores


@dataclass
class SoakResult:
    """Everything the report and soak.json are made of."""

    started: str
    minutes: float
    speed: float
    rate: float
    scenario: str
    duration_s: float
    exit_code: int | None
    hung: bool
    samples: list[Sample]
    stats: list[dict[str, Any]]
    output: OutputFindings
    cores: list[str] = field(default_factory=list)
    supervisor_restarts: list[str] = field(default_factory=list)
    webengine_exits: int = 0
    server_restarts: int = 0
    journal: dict[str, Any] = field(default_factory=dict)
    incidents_created: int | None = None
    screenshots: list[str] = field(default_factory=list)
    soak_cpu_s: float = 0.0
    stats_supported: bool = True
    start_unix: float = 0.0
    command: list[str] = field(default_factory=list)

    @property
    def simulated_hours(self) -> float:
        return self.duration_s * self.speed / 3600.0

    @property
    def restarts(self) -> list[Restart]:
        return detect_restarts(self.stats, self.start_unix)

    @property
    def crashed(self) -> bool:
        return bool(
            self.hung
            or self.exit_code != 0
            or self.restarts
            or self.supervisor_restarts
            or self.cores
            or self.output.fatal_lines
        )


def evaluate(result: SoakResult) -> list[Target]:
    """The issue's three targets, PASS or MISS (n/a when not measurable)."""
    targets: list[Target] = []
    why: list[str] = []
    if result.hung:
        why.append("hung (killed)")
    if result.exit_code not in (0, None):
        why.append(f"exit code {result.exit_code}")
    if result.restarts or result.supervisor_restarts:
        why.append(f"{max(len(result.restarts), len(result.supervisor_restarts))} restart(s)")
    if result.cores:
        why.append(f"{len(result.cores)} core dump(s)")
    if result.output.fatal_lines:
        why.append(f"{len(result.output.fatal_lines)} fatal line(s)")
    targets.append(
        Target("no crash", "0 crashes, 0 restarts", ", ".join(why) or "none",
               "MISS" if result.crashed else "PASS")
    )
    growth = compute_growth(result.samples)
    if growth is None:
        targets.append(
            Target("RSS growth after 5 min", f"<= {GROWTH_TARGET_PCT:g} %", "not enough samples", "n/a")
        )
    else:
        measured = f"{growth.pct:+.1f} % ({growth.baseline_mb:.0f} -> {growth.end_mb:.0f} MB)"
        if growth.short_run:
            measured += "; short run, baseline at a third of the run"
        ok = growth.pct <= GROWTH_TARGET_PCT
        targets.append(Target("RSS growth after 5 min", f"<= {GROWTH_TARGET_PCT:g} %", measured,
                              "PASS" if ok and not growth.short_run else ("MISS" if not ok else "n/a")))
    stalls = summarize_stalls(result.stats, result.start_unix)
    if not stalls.measured:
        targets.append(Target("no stall over 200 ms", f"max <= {STALL_TARGET_MS:g} ms",
                              "not measured (no stats lines)", "n/a"))
    else:
        ok = stalls.max_ms <= STALL_TARGET_MS and stalls.over_warn == 0
        targets.append(Target("no stall over 200 ms", f"max <= {STALL_TARGET_MS:g} ms",
                              f"max {stalls.max_ms:.0f} ms, {stalls.over_warn} over 200 ms",
                              "PASS" if ok else "MISS"))
    return targets


def _fmt(v: float | None, spec: str = ".0f") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def render_report(result: SoakResult) -> str:
    """report.md: targets first, then the figures behind them."""
    targets = evaluate(result)
    growth = compute_growth(result.samples)
    stalls = summarize_stalls(result.stats, result.start_unix)
    out: list[str] = []
    w = out.append
    w("# Soak run")
    w("")
    w(f"Started {result.started}; `{' '.join(result.command)}`.")
    w(f"Planned {result.minutes:g} min at speed {result.speed:g} (rate {result.rate:g}/min, scenario "
      f"`{result.scenario}`): ran {result.duration_s / 60:.1f} min = "
      f"{result.simulated_hours:.1f} simulated hours.")
    if result.minutes < 30:
        w("")
        w(f"**Short run ({result.minutes:g} min): the issue asks for at least 30 minutes; "
          "growth here is only an indication.**")
    w("")
    w("## Targets")
    w("")
    w("| target | wanted | measured | result |")
    w("|---|---|---|---|")
    for t in targets:
        w(f"| {t.name} | {t.target} | {t.measured} | **{t.status}** |")
    w("")
    w("## Memory (RSS, MB)")
    w("")
    if growth is None:
        w("Not enough samples.")
    else:
        b0, b1 = growth.baseline_window
        e0, e1 = growth.end_window
        w(f"Growth = median of the samples from {b0 / 60:.1f} to {b1 / 60:.1f} min "
          f"({growth.baseline_n} samples) against the median of the last samples from "
          f"{e0 / 60:.1f} to {e1 / 60:.1f} min ({growth.end_n}); samples every "
          f"{SAMPLE_INTERVAL_S:g} s. RSS counts pages shared between processes (QtWebEngine's "
          "zygote and renderers) once per process, so the tree's sum is an upper bound.")
        w("")
        w("| role | at baseline | at the end | growth | slope after baseline | max |")
        w("|---|---|---|---|---|---|")
        for role in (None, *ROLES):
            g = compute_growth(result.samples, role=role)
            values = [s.tree_mb if role is None else s.roles.get(role, 0.0) for s in result.samples]
            if role is not None and not any(values):
                continue
            name = "**tree**" if role is None else role
            if g is None:
                w(f"| {name} | - | - | - | - | {_fmt(max(values))} |")
                continue
            w(f"| {name} | {g.baseline_mb:.0f} | {g.end_mb:.0f} | {g.pct:+.1f} % | "
              f"{_fmt(g.slope_mb_per_h, '+.1f')} MB/h | {_fmt(max(values))} |")
        w("")
        w(f"Processes in the tree: {min(s.nproc for s in result.samples)} to "
          f"{max(s.nproc for s in result.samples)}. QtWebEngine processes that ended during the "
          f"run: {result.webengine_exits}; server restarts: {result.server_restarts}.")
    w("")
    w("## GUI thread")
    w("")
    if not stalls.measured:
        if result.stats_supported:
            w("No stats lines were written: stalls not measured.")
        else:
            w("This build's `commandcenter demo` has no `--stats-file`: stalls not measured.")
    else:
        w(f"{stalls.lines} stats lines. Longest gap after the start-up (first {STARTUP_S:g} s): "
          f"**{stalls.max_ms:.0f} ms**; gaps over {STALL_TARGET_MS:g} ms: **{stalls.over_warn}**. "
          f"Longest gap during the start-up: {stalls.startup_max_ms:.0f} ms.")
        states: dict[str, int] = {}
        for line in result.stats:
            states[str(line.get("feed_state", "?"))] = states.get(str(line.get("feed_state", "?")), 0) + 1
        w(f"Feed state per stats line: {', '.join(f'{k} {v}' for k, v in sorted(states.items()))}.")
    warned = result.output.stall_warnings_ms
    if warned:
        w("")
        w(f"The watchdog's log has {len(warned)} stall warnings over the whole run (start-up and "
          f"shutdown included), the longest {max(warned):.0f} ms.")
    w("")
    w("## Work done")
    w("")
    j = result.journal
    if j:
        pos = j.get("position") or {}
        w(f"- wall journal: {j.get('events', '-')} events journaled, server position seq "
          f"{pos.get('seq', '-')}, {j.get('snapshots', '-')} snapshots, integrity "
          f"`{j.get('integrity', '-')}`, {j.get('file_bytes', 0) / 1e6:.1f} MB")
    else:
        w("- wall journal: not read")
    if result.incidents_created is not None:
        w(f"- incidents created by the simulator (highest incident number seen): {result.incidents_created}")
    w(f"- the soak's own CPU time while sampling: {result.soak_cpu_s:.1f} s "
      f"({result.soak_cpu_s / max(result.duration_s, 1) * 100:.2f} % of one core)")
    w("")
    w("## Crashes, restarts, errors")
    w("")
    w(f"- exit code: {result.exit_code}{' (hung; killed)' if result.hung else ''}")
    if result.restarts:
        for r in result.restarts:
            w(f"- restart at {r.t / 60:.1f} min: pid {r.old_pid} -> {r.new_pid} ({r.reason})")
    for line in result.supervisor_restarts:
        w(f"- supervisor: `{line[:200]}`")
    if not result.restarts and not result.supervisor_restarts:
        w("- restarts: none")
    w(f"- core dumps: {', '.join(result.cores) if result.cores else 'none'}")
    w(f"- fatal lines: {len(result.output.fatal_lines)}; tracebacks: {result.output.tracebacks}; "
      f"ERROR lines: {len(result.output.error_lines)} (plus {result.output.ignored} known-harmless "
      "Chromium D-Bus lines)")
    shown = (result.output.fatal_lines + result.output.error_lines)[:10]
    if shown:
        w("")
        w("```")
        out.extend(line[:200] for line in shown)
        w("```")
    w("")
    w("## Files")
    w("")
    w("- `rss.png`: RSS per role and of the tree; dashed line at the baseline minute, band = baseline + 5 %")
    w("- `stalls.png`: longest GUI-thread gap per stats interval, line at 200 ms")
    w("- `soak.json`: every sample and stats line")
    for s in result.screenshots:
        w(f"- `{s}`")
    w("")
    return "\n".join(out)


def display_command(cmd: Sequence[str], replace: dict[str, str]) -> list[str]:
    """The command as the report shows it: no paths of this machine (it is committed)."""
    out = []
    for i, arg in enumerate(cmd):
        if i == 0 and arg == sys.executable:
            arg = "python"
        for path, name in replace.items():
            arg = arg.replace(path, name)
        out.append(arg)
    return out


def _finite(value: Any) -> Any:
    """NaN (a slope with too few points) as null: soak.json stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def result_to_json(result: SoakResult) -> dict[str, Any]:
    growth = compute_growth(result.samples)
    return _finite({
        "started": result.started,
        "command": result.command,
        "minutes": result.minutes,
        "speed": result.speed,
        "rate": result.rate,
        "scenario": result.scenario,
        "duration_s": result.duration_s,
        "simulated_hours": result.simulated_hours,
        "exit_code": result.exit_code,
        "hung": result.hung,
        "crashed": result.crashed,
        "targets": [asdict(t) for t in evaluate(result)],
        "growth": asdict(growth) if growth else None,
        "stalls": asdict(summarize_stalls(result.stats, result.start_unix)),
        "restarts": [asdict(r) for r in result.restarts],
        "webengine_exits": result.webengine_exits,
        "server_restarts": result.server_restarts,
        "cores": result.cores,
        "supervisor_restarts": result.supervisor_restarts,
        "output": asdict(result.output),
        "journal": result.journal,
        "incidents_created": result.incidents_created,
        "soak_cpu_s": result.soak_cpu_s,
        "start_unix": result.start_unix,
        "samples": [asdict(s) for s in result.samples],
        "stats": result.stats,
    })


# --- plots (Qt, loaded only after the run) --------------------------------------------------

ROLE_COLOURS = {
    "tree": (20, 20, 20),
    "wall": (31, 119, 180),
    "server": (44, 160, 44),
    "webengine": (255, 127, 14),
    "supervisor": (148, 103, 189),
    "other": (140, 140, 140),
}


def _plot_widget(title: str, left: str) -> Any:
    import pyqtgraph as pg

    w = pg.PlotWidget(background="w")
    # The exporter draws the scene at the widget's layout size: the widget must
    # have been laid out at the size of the PNG (offscreen: nothing appears).
    w.resize(1200, 600)
    w.show()
    item = w.getPlotItem()
    item.setTitle(title, color="k", size="13pt")
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen("k"))
        axis.setTextPen(pg.mkPen("k"))
    item.setLabel("left", left, color="k")
    item.setLabel("bottom", "minutes since start", color="k")
    item.showGrid(x=True, y=True, alpha=0.25)
    return w


def _export(widget: Any, path: Path) -> None:
    from pyqtgraph.exporters import ImageExporter

    path.parent.mkdir(parents=True, exist_ok=True)
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()
    exporter = ImageExporter(widget.getPlotItem())
    exporter.parameters()["width"] = widget.width()
    exporter.export(str(path))


def plot_rss(result: SoakResult, path: Path) -> None:
    """RSS over time per role and of the tree, the baseline minute and the +5 % band."""
    import pyqtgraph as pg

    widget = _plot_widget("RSS of the demo's process tree", "RSS (MB)")
    item = widget.getPlotItem()
    # One row across the top, above the data (the y range leaves room for it).
    legend = item.addLegend(offset=(10, 5), labelTextColor="k", brush=pg.mkBrush(255, 255, 255, 220),
                            colCount=6)
    xs = [s.t / 60.0 for s in result.samples]
    growth = compute_growth(result.samples)
    if growth is not None and xs:
        band = pg.LinearRegionItem(
            values=(growth.baseline_mb, growth.baseline_mb * (1 + GROWTH_TARGET_PCT / 100.0)),
            orientation="horizontal",
            movable=False,
            brush=pg.mkBrush(44, 160, 44, 50),
            pen=pg.mkPen(44, 160, 44, 120),
        )
        item.addItem(band)
        legend.addItem(pg.BarGraphItem(x=[0], height=[0], width=0, brush=pg.mkBrush(44, 160, 44, 50)),
                       f"tree baseline + {GROWTH_TARGET_PCT:g} %")
        dashed = pg.mkPen((90, 90, 90), width=1, style=pg.QtCore.Qt.PenStyle.DashLine)
        for x in growth.baseline_window:
            item.addItem(pg.InfiniteLine(pos=x / 60.0, angle=90, pen=dashed))
        item.addItem(pg.InfiniteLine(pos=sum(growth.baseline_window) / 120.0, angle=90,
                                     pen=pg.mkPen((200, 0, 0), width=1.5),
                                     label=f"baseline {growth.baseline_mb:.0f} MB",
                                     labelOpts={"color": (200, 0, 0), "position": 0.05}))
    item.plot(xs, [s.tree_mb for s in result.samples], pen=pg.mkPen(ROLE_COLOURS["tree"], width=2.5),
              name="tree (sum)")
    for role in ROLES:
        ys = [s.roles.get(role, 0.0) for s in result.samples]
        if any(ys):
            item.plot(xs, ys, pen=pg.mkPen(ROLE_COLOURS[role], width=1.8), name=role)
    item.setYRange(0, max([s.tree_mb for s in result.samples] or [1.0]) * 1.2, padding=0)
    _export(widget, path)
    widget.close()
    widget.deleteLater()


def plot_stalls(result: SoakResult, path: Path) -> None:
    """The longest GUI-thread gap of every stats interval, with the 200 ms line."""
    import pyqtgraph as pg

    widget = _plot_widget("Longest GUI-thread gap per stats interval", "gap (ms)")
    item = widget.getPlotItem()
    xs = [(float(s.get("t", result.start_unix)) - result.start_unix) / 60.0 for s in result.stats]
    ys = [float(s.get("stall_max_ms", 0.0)) for s in result.stats]
    item.addItem(pg.InfiniteLine(pos=STALL_TARGET_MS, angle=0, pen=pg.mkPen((200, 0, 0), width=1.5),
                                 label=f"{STALL_TARGET_MS:g} ms", labelOpts={"color": (200, 0, 0)}))
    item.addItem(pg.InfiniteLine(pos=STARTUP_S / 60.0, angle=90,
                                 pen=pg.mkPen((90, 90, 90), width=1, style=pg.QtCore.Qt.PenStyle.DashLine),
                                 label="end of start-up", labelOpts={"color": (90, 90, 90), "position": 0.9}))
    if xs:
        item.plot(xs, ys, pen=pg.mkPen(ROLE_COLOURS["wall"], width=1.5), symbol="o", symbolSize=4,
                  symbolBrush=ROLE_COLOURS["wall"], symbolPen=None)
    else:
        text = pg.TextItem("no stats lines: stalls not measured", color="k", anchor=(0.5, 0.5))
        item.addItem(text)
        text.setPos(0.5, 0.5)
    item.setYRange(0, max([*ys, STALL_TARGET_MS]) * 1.15, padding=0)
    _export(widget, path)
    widget.close()
    widget.deleteLater()


def write_plots(result: SoakResult, out: Path) -> None:
    # Qt reads these at start-up; this process never showed anything before.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    plot_rss(result, out / "rss.png")
    plot_stalls(result, out / "stalls.png")
    app.processEvents()


# --- sampling ---------------------------------------------------------------------------------


class TreeSampler:
    """RSS of a process tree per role; cmdlines looked at once per process."""

    def __init__(self, root_pid: int) -> None:
        import psutil

        self._psutil = psutil
        self.root = psutil.Process(root_pid)
        self._kinds: dict[tuple[int, float], str] = {}
        self._procs: dict[int, Any] = {}
        self.webengine_seen: set[tuple[int, float]] = set()
        self.server_seen: set[tuple[int, float]] = set()
        self.wall_pid: int | None = None

    def _kind(self, proc: Any) -> str:
        key = (proc.pid, proc.create_time())
        kind = self._kinds.get(key)
        if kind is None:
            cmd = proc.cmdline()
            head = Path(cmd[0]).name if cmd else proc.name()
            if "QtWebEngineProcess" in head:
                kind = "webengine"
            elif "serve" in cmd[1:] and any("commandcenter" in a for a in cmd):
                kind = "server"
            else:
                kind = "process"
            self._kinds[key] = kind
        if kind == "webengine":
            self.webengine_seen.add(key)
        elif kind == "server":
            self.server_seen.add(key)
        return kind

    def sample(self, t: float) -> Sample | None:
        psutil = self._psutil
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return None
        # Reuse Process objects: psutil caches create_time and checks pid reuse with it.
        current: dict[int, Any] = {}
        for p in procs:
            current[p.pid] = self._procs.get(p.pid, p)
        self._procs = current
        roles = dict.fromkeys(ROLES, 0.0)
        kinds: dict[int, str] = {}
        rss: dict[int, float] = {}
        parents: dict[int, int] = {}
        for pid, p in current.items():
            try:
                kinds[pid] = self._kind(p)
                rss[pid] = p.memory_info().rss / 1e6
                parents[pid] = p.ppid()
            except psutil.Error:
                continue  # exited between the listing and the look
        wall = self.wall_pid if self.wall_pid in kinds else None
        if wall is None:
            # The first-level QtWebEngineProcess's parent is the wall.
            wall = next((parents[pid] for pid, k in kinds.items()
                         if k == "webengine" and kinds.get(parents.get(pid, -1)) == "process"), None)
        for pid, kind in kinds.items():
            if kind in ("webengine", "server"):
                role = kind
            elif pid == wall or (wall is None and pid == self.root.pid):
                role = "wall"
            elif pid == self.root.pid:
                role = "supervisor"
            else:
                role = "other"
            roles[role] += rss[pid]
        return Sample(t=t, tree_mb=round(sum(rss.values()), 2),
                      roles={k: round(v, 2) for k, v in roles.items()}, nproc=len(rss))


class StatsTail:
    """Reads the complete JSON lines appended to the stats file since last time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pos = 0
        self._partial = b""
        self.bad_lines = 0

    def read(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as f:
                f.seek(self._pos)
                data = f.read()
                self._pos = f.tell()
        except FileNotFoundError:
            return []
        data = self._partial + data
        *complete, self._partial = data.split(b"\n")
        out = []
        for raw in complete:
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                self.bad_lines += 1
                continue
            if isinstance(line, dict):
                out.append(line)
            else:
                self.bad_lines += 1
        return out


def _demo_command(args: argparse.Namespace, stats_file: Path | None, shots: Path, data: Path) -> list[str]:
    cmd = [sys.executable, "-m", "ui.app.cli", "demo", "--headless", "--run-for", f"{args.minutes * 60:g}",
           "--speed", f"{args.speed:g}", "--scenario", args.scenario, "--data-dir", str(data),
           "--screenshot-dir", str(shots), "--rate", f"{args.rate:g}"]
    if stats_file is not None:
        cmd += ["--stats-file", str(stats_file)]
    return cmd


def _demo_supports_stats(env: dict[str, str]) -> bool:
    help_text = subprocess.run([sys.executable, "-m", "ui.app.cli", "demo", "--help"], env=env, cwd=ROOT,
                               capture_output=True, text=True, timeout=120, check=False).stdout
    return "--stats-file" in help_text


def _journal_figures(db: Path, env: dict[str, str]) -> tuple[dict[str, Any], int | None]:
    """`commandcenter journal stats` and the highest incident number in the export."""
    if not db.is_file():
        return {}, None
    base = [sys.executable, "-m", "commandcenter.cli", "journal"]
    stats_run = subprocess.run([*base, "stats", "--db", str(db)], env=env, capture_output=True, text=True,
                               timeout=300, check=False)
    try:
        stats = json.loads(stats_run.stdout) if stats_run.returncode == 0 else {}
    except ValueError:
        stats = {}
    stats.pop("path", None)
    highest: int | None = None
    with subprocess.Popen([*base, "export", "--db", str(db)], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL) as export:
        assert export.stdout is not None
        for raw in export.stdout:
            for m in _INCIDENT_ID_RE.finditer(raw):
                n = int(m.group(1))
                highest = n if highest is None or n > highest else highest
    return stats, highest


def run_soak(args: argparse.Namespace) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    shots = out / "screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    keep_data = args.data_dir is not None
    data = Path(args.data_dir) if keep_data else Path(tempfile.mkdtemp(prefix="oki112-soak-"))
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.update(chromium_environment(env))  # the demo wall applies it too; its helpers need it
    supported = _demo_supports_stats(env)
    stats_file = data / "stats.jsonl" if supported else None
    if stats_file is not None:
        stats_file.unlink(missing_ok=True)
    cmd = _demo_command(args, stats_file, shots, data)
    log_path = data / "demo-output.log"
    print(f"soak: {args.minutes:g} min at speed {args.speed:g}; data in {data}; output in {out}", flush=True)
    if not supported:
        print("soak: this demo has no --stats-file: stalls and restarts will not be measured", flush=True)
    cpu0 = time.process_time()
    start_unix = time.time()
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    with log_path.open("wb") as log_file:
        try:
            proc = subprocess.Popen(cmd, cwd=data, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        except OSError as exc:
            print(f"soak: could not start the demo: {exc}", file=sys.stderr)
            return 2
        sampler = TreeSampler(proc.pid)
        tail = StatsTail(stats_file) if stats_file is not None else None
        samples: list[Sample] = []
        stats: list[dict[str, Any]] = []
        deadline = t0 + args.minutes * 60 + GRACE_S
        next_tick = t0 + SAMPLE_INTERVAL_S
        hung = False
        last_report = t0
        while True:
            try:
                proc.wait(timeout=max(0.0, next_tick - time.monotonic()))
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            next_tick += SAMPLE_INTERVAL_S
            if tail is not None:
                stats.extend(tail.read())
                if stats:
                    sampler.wall_pid = int(stats[-1].get("pid", 0)) or None
            sample = sampler.sample(now - t0)
            if sample is not None:
                samples.append(sample)
            if now - last_report >= 60:
                last_report = now
                print(f"soak: {(now - t0) / 60:5.1f} min  tree {sample.tree_mb if sample else 0:7.0f} MB  "
                      f"stall max {max((float(s.get('stall_max_ms', 0)) for s in stats), default=0):.0f} ms",
                      flush=True)
            if now > deadline:
                hung = True
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                break
        duration = time.monotonic() - t0
    if tail is not None:
        stats.extend(tail.read())
    soak_cpu = time.process_time() - cpu0
    # The wall's own log file repeats its console lines: only the console is read.
    output_lines = _read_lines(log_path) + _read_lines(data / "server.log")
    journal, incidents = _journal_figures(data / "wall-journal.sqlite3", env)
    result = SoakResult(
        started=started,
        minutes=args.minutes,
        speed=args.speed,
        rate=args.rate,
        scenario=args.scenario,
        duration_s=duration,
        exit_code=proc.returncode,
        hung=hung,
        samples=samples,
        stats=stats,
        output=scan_output(output_lines),
        cores=[str(p) for p in find_core_files([data, ROOT], start_unix)],
        supervisor_restarts=supervisor_restarts(_supervisor_log_lines(data)),
        webengine_exits=max(0, len(sampler.webengine_seen) - _alive(sampler, "webengine")),
        server_restarts=max(0, len(sampler.server_seen) - 1),
        journal=journal,
        incidents_created=incidents,
        screenshots=sorted(str(p.relative_to(out)) for p in shots.glob("*.png")),
        soak_cpu_s=soak_cpu,
        stats_supported=supported,
        start_unix=start_unix,
        command=display_command(cmd, {str(data): "<data-dir>", str(out): "<out>"}),
    )
    (out / "soak.json").write_text(json.dumps(result_to_json(result), indent=1, allow_nan=False) + "\n")
    write_plots(result, out)
    (out / "report.md").write_text(render_report(result))
    for t in evaluate(result):
        print(f"soak: {t.status:4}  {t.name}: {t.measured}", flush=True)
    print(f"soak: report in {out / 'report.md'}", flush=True)
    if not keep_data:
        shutil.rmtree(data, ignore_errors=True)
    return 1 if result.crashed else 0


def _supervisor_log_lines(data: Path) -> list[str]:
    """The supervisor's log, rotated parts included, from where the demo put it."""
    from commandcenter.config import ConfigError, load_config
    from commandcenter.ops.logsetup import log_dir

    try:
        directory = log_dir(load_config(None).logging, str(data))
    except ConfigError:
        directory = data / "logs"
    lines: list[str] = []
    for path in sorted(directory.glob("supervisor.log*"), reverse=True):  # .2, .1, then the current
        lines += _read_lines(path)
    return lines


def _read_lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.is_file() else []


def _alive(sampler: TreeSampler, kind: str) -> int:
    """How many processes of ``kind`` the last sample still saw."""
    return sum(1 for (pid, _), k in sampler._kinds.items() if k == kind and pid in sampler._procs)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30.0, help="wall-clock minutes to run (default 30)")
    p.add_argument("--speed", type=float, default=48.0, help="simulated time runs X times faster")
    p.add_argument("--rate", type=float, default=2.0, help="incidents a minute in normal times (default 2)")
    p.add_argument("--scenario", default="mixed", choices=["normal", "flood", "karhutla", "mixed"])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report directory (default bench/soak/)")
    p.add_argument("--data-dir", default=None, help="keep the demo's journal and logs here")
    args = p.parse_args(argv)
    if not (args.minutes > 0 and args.speed > 0 and args.rate > 0):
        p.error("--minutes, --speed and --rate must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_soak(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
