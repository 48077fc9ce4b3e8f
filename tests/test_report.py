"""The situation report and the shift handover: numbers against a brute-force recomputation
from the exported journal, the same PDF for the same data, pages that render, and a journal that
cannot be replayed refused with what is missing."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import re
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from commandcenter.core import protocol as p
from commandcenter.refserver.simulator import Simulator
from commandcenter.storage.journal import Journal
from tests.conftest import ROOT

T0 = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)  # 08:00 WIB
FROM, TO = "2026-11-27T08:40", "2026-11-27T10:20"  # WIB
WIB = dt.timezone(dt.timedelta(hours=7))


async def _write(path: Path, minutes: float) -> None:
    sim = Simulator(scenario="flood", rate_per_min=3.0, seed=11, start=T0)
    bodies = [(T0, b) for b in sim.initial_bodies()] + sim.advance_to(T0 + dt.timedelta(minutes=minutes))
    events = [
        p.Event(epoch="ep", seq=i + 1, id=f"e{i + 1}", ts=ts, body=b) for i, (ts, b) in enumerate(bodies)
    ]
    journal = await Journal.open(path)
    try:
        for i in range(0, len(events), 1000):
            await journal.append([(ev, p.encode(ev)) for ev in events[i : i + 1000]])
    finally:
        await journal.close()


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "wall-journal.sqlite3"
    asyncio.run(_write(path, 150))
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "commandcenter.cli", *args], capture_output=True, text=True, timeout=300,
        check=False, cwd=ROOT,
    )  # fmt: skip


def exported(journal: Path) -> list[dict]:
    out = cli("journal", "export", "--db", str(journal))
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def _t(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def brute(rows: list[dict], start: dt.datetime, end: dt.datetime) -> dict:
    """The report's rules recomputed the plainest way from the JSON export."""
    incidents: dict[str, dict] = {}
    funnels: dict[str, dict] = {}
    for row in rows:
        ev = row.get("event", row)
        if _t(ev["ts"]) > end:
            continue
        body = ev["body"]
        if body["kind"] == "incident":
            inc = body["incident"]
            if inc["id"] not in incidents or inc["version"] > incidents[inc["id"]]["version"]:
                incidents[inc["id"]] = inc
        elif body["kind"] == "funnel":
            funnels[body["funnel"]["day"]] = body["funnel"]
    chosen = [i for i in incidents.values() if start <= _t(i["times"]["received"]) <= end]
    arrivals: dict[str, list[float]] = defaultdict(list)
    for inc in chosen:
        for task in inc.get("tasks", []):
            if task.get("on_scene_at"):
                took = _t(task["on_scene_at"]) - _t(inc["times"]["received"])
                arrivals[task["agency"]].append(took.total_seconds())
    days = {(start.astimezone(WIB) + dt.timedelta(days=d)).date().isoformat() for d in range(2)}
    days = {d for d in days if d <= end.astimezone(WIB).date().isoformat()}
    funnel = Counter()
    for day, f in funnels.items():
        if day in days:
            for k in ("calls_in", "answered", "abandoned", "prank", "ghost", "valid", "info"):
                funnel[k] += f.get(k, 0)
    open_ids = sorted(i["id"] for i in incidents.values() if i["status"] not in ("closed", "cancelled"))
    return {
        "count": len(chosen),
        "by_category": Counter(i["category"] for i in chosen),
        "by_district": Counter(i["location"].get("kecamatan") or "-" for i in chosen),
        "by_agency": Counter(a for i in chosen for a in {t["agency"] for t in i.get("tasks", [])}),
        "arrivals": {a: sorted(v) for a, v in arrivals.items()},
        "funnel": funnel,
        "open": open_ids,
    }


def _p90(values: list[float]) -> float:
    return values[max(1, math.ceil(round(0.9 * len(values), 9))) - 1]


def test_report_numbers_equal_a_brute_force_recomputation(journal: Path) -> None:
    from commandcenter.history.report import report_figures
    from commandcenter.history.timeline import Timeline
    from commandcenter.storage.audit import parse_since

    start, end = parse_since(FROM), parse_since(TO)

    async def figures():
        timeline = await Timeline.open(journal)
        try:
            return await report_figures(timeline, start, end)
        finally:
            await timeline.close()

    fig = asyncio.run(figures())
    want = brute(exported(journal), start, end)
    assert fig.incidents == want["count"] > 100
    assert {c.key: c.count for c in fig.by_category} == dict(want["by_category"])
    assert {c.key: c.count for c in fig.by_district} == dict(want["by_district"])
    assert {c.key: c.count for c in fig.by_agency} == dict(want["by_agency"])
    assert {k: v for k, v in fig.funnel.items() if v} == {k: v for k, v in want["funnel"].items() if v}
    assert sorted(o.id for o in fig.open_at_end) == want["open"]
    got = {d.key: d for d in fig.arrival_by_agency}
    assert set(got) == set(want["arrivals"])
    for agency, values in want["arrivals"].items():
        n = len(values)
        mid = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
        assert got[agency].count == n and got[agency].median_s == pytest.approx(mid)
        assert got[agency].p90_s == pytest.approx(_p90(values))
        assert got[agency].within_target == pytest.approx(sum(v <= 900 for v in values) / n)


def _text(pdf: Path) -> str:
    args = ["pdftotext", "-layout", str(pdf), "-"]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def test_same_data_same_pdf_and_pages_that_render(journal: Path, tmp_path: Path) -> None:
    args = ["report", "--db", str(journal), "--from", FROM, "--to", TO, "--by", "Sari (Pusat 112)"]
    a, b, c = tmp_path / "a.pdf", tmp_path / "b.pdf", tmp_path / "c.pdf"
    runs = ((a, "2026-11-27T13:00"), (b, "2026-11-27T13:00"), (c, "2026-11-28T07:45"))
    for out, gen in runs:
        res = cli(*args, "--out", str(out), "--generated", gen)
        assert res.returncode == 0, res.stderr
    assert a.read_bytes() == b.read_bytes()
    ta, tc = _text(a).splitlines(), _text(c).splitlines()
    differ = [(x, y) for x, y in zip(ta, tc, strict=True) if x != y]
    assert differ and all("27-11-2026 13:00" in x and "28-11-2026 07:45" in y for x, y in differ)
    assert all("Dibuat" in x for x, _ in differ)  # only the footer line, once per page
    text = "\n".join(ta)
    for words in ("Laporan Situasi", "Disusun oleh: Sari (Pusat 112)", "Panggilan 112", "Waktu tiba"):
        assert words in text
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(a), str(tmp_path / "page")], check=True)
    from PySide6.QtGui import QImage

    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2
    first = QImage(str(pages[0]))
    colours = {first.pixel(x, y) for x in range(0, first.width(), 7) for y in range(0, first.height(), 7)}
    assert len(colours) > 8  # the map's classes, the text, the table: not a blank page


def test_handover_is_one_page_and_english(journal: Path, tmp_path: Path) -> None:
    out = tmp_path / "handover.pdf"
    res = cli("report", "--db", str(journal), "--handover", "--lang", "en", "--out", str(out),
              "--at", "2026-11-27T10:31")  # fmt: skip
    assert res.returncode == 0, res.stderr
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Pages:\s+1$", info, re.M), info
    text = _text(out)
    # 10:31 is not within an hour of a change of shift: the shift so far, from 07:00.
    assert "Shift Handover" in text and "Period: 27-11-2026 07:00 to 27-11-2026 10:31 WIB" in text
    assert "in_handling" not in text  # statuses in words


def test_html_and_csv(journal: Path, tmp_path: Path) -> None:
    base = ("report", "--db", str(journal), "--from", FROM, "--to", TO)
    res = cli(*base, "--out", str(tmp_path / "lapsit.html"))
    assert res.returncode == 0, res.stderr
    page = (tmp_path / "lapsit.html").read_text()
    assert page.count("<svg") >= 3 and "<script" not in page
    res = cli(*base, "--out", str(tmp_path / "lapsit.csv"))
    assert res.returncode == 0, res.stderr
    files = res.stdout.split()
    assert any(f.endswith("lapsit-by_category.csv") for f in files) and len(files) >= 10


def test_a_journal_with_a_gap_is_refused_naming_what_is_missing(journal: Path, tmp_path: Path) -> None:
    broken = tmp_path / "gap.sqlite3"
    broken.write_bytes(journal.read_bytes())
    with sqlite3.connect(broken) as db:
        db.execute("DELETE FROM events WHERE seq BETWEEN 5000 AND 5010")
    res = cli("report", "--db", str(broken), "--from", FROM, "--to", TO, "--out", str(tmp_path / "x.pdf"))
    assert res.returncode == 3
    assert "events 5000..5010 of epoch ep are not in the journal" in res.stderr
    assert not (tmp_path / "x.pdf").exists()
    absent = str(tmp_path / "none.sqlite3")
    res = cli("report", "--db", absent, "--from", FROM, "--to", TO, "--out", str(tmp_path / "y.pdf"))
    assert res.returncode == 2 and res.stderr.startswith("report: ")
