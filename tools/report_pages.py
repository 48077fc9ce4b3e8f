"""The report pages of the gallery: the situation report (Laporan Situasi) of a simulated day and
the shift handover at its afternoon change of shift, in both languages, as PNG pages in
docs/screenshots (report-day-LANG-pN.png, handover-LANG.png).

The journal is written from the OKI simulator at a fixed seed from a fixed origin, exactly as a
wall journals its feed; `commandcenter report` then writes the PDFs with a fixed generation time
and pdftoppm (poppler-utils, installer/install-system-deps.sh) renders each page. Same seed, same
pages. tools/screenshots.py calls this after the walls; it runs on its own too:

    python tools/report_pages.py [--out docs/screenshots] [--langs id,en] [--dpi 110]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from commandcenter.config import load_defaults  # noqa: E402 - after the path
from commandcenter.core import protocol as p  # noqa: E402
from commandcenter.core.timeutil import WIB  # noqa: E402
from commandcenter.refserver.simulator import Simulator  # noqa: E402
from commandcenter.storage.journal import Journal  # noqa: E402

SEED = 112
SCENARIO = "mixed"
RATE_PER_MIN = 1.0
#: The simulated day: from 00:00 WIB, the flood surge of the mixed scenario in its first hours.
ORIGIN = dt.datetime(2026, 3, 10, 0, 0, tzinfo=WIB)
END = dt.datetime(2026, 3, 10, 23, 59, tzinfo=WIB)
#: The handover at the afternoon change of shift (it covers 07:00 to 15:00).
HANDOVER_AT = dt.datetime(2026, 3, 10, 15, 5, tzinfo=WIB)
#: The footer's generation time: the same in every run, so are the pages.
GENERATED = "2026-03-11T07:30"
BY = {"id": "Sari, Pusat 112 OKI", "en": "Sari, OKI 112 Center"}


async def write_journal(path: Path) -> int:
    """The simulator's day as a wall's journal: one epoch, seq from 1, each event at its time."""
    sim = Simulator(
        scenario=SCENARIO, rate_per_min=RATE_PER_MIN, seed=SEED, start=ORIGIN, config=load_defaults()
    )
    bodies = [(ORIGIN.astimezone(dt.UTC), b) for b in sim.initial_bodies()]
    t = ORIGIN
    while t < END:
        t = min(END, t + dt.timedelta(minutes=10))
        bodies.extend(sim.advance_to(t))
    journal = await Journal.open(path)
    try:
        for i in range(0, len(bodies), 2000):
            chunk = bodies[i : i + 2000]
            events = [
                p.Event(epoch="gallery", seq=i + k + 1, id=f"gallery-{i + k + 1}", ts=ts, body=body)
                for k, (ts, body) in enumerate(chunk)
            ]
            await journal.append([(ev, p.encode(ev)) for ev in events])
    finally:
        await journal.close()
    return len(bodies)


def _report(db: Path, out: Path, lang: str, *extra: str) -> None:
    cmd = [sys.executable, "-m", "commandcenter.cli", "report", "--db", str(db), "--lang", lang,
           "--by", BY[lang], "--generated", GENERATED, "--out", str(out), *extra]  # fmt: skip
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"report {' '.join(extra)} ({lang}) exited {res.returncode}: {res.stderr.strip()}")


def _pages(pdf: Path, prefix: Path, dpi: int) -> list[Path]:
    """Each page of ``pdf`` as PREFIX-N.png (pdftoppm numbers them with leading zeros as it likes)."""
    if shutil.which("pdftoppm") is None:
        raise RuntimeError("pdftoppm is missing: install poppler-utils (installer/install-system-deps.sh)")
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(prefix)], check=True)
    return sorted(prefix.parent.glob(f"{prefix.name}-*.png"), key=lambda f: int(f.stem.rsplit("-", 1)[1]))


def main(out: Path, langs: list[str], dpi: int, journal: Path | None = None) -> list[Path]:
    work = Path(tempfile.mkdtemp(prefix="oki112-report-pages-"))
    written: list[Path] = []
    try:
        db = journal or work / "wall-journal.sqlite3"
        if not db.exists():
            n = asyncio.run(write_journal(db))
            sys.stdout.write(f"report pages: {n} simulated events (seed {SEED}) on {ORIGIN:%Y-%m-%d} WIB\n")
        out.mkdir(parents=True, exist_ok=True)
        for old in [*out.glob("report-day-*.png"), *out.glob("handover-*.png")]:
            old.unlink()  # a shorter report leaves no stale page behind
        for lang in langs:
            day = work / f"day-{lang}.pdf"
            _report(
                db,
                day,
                lang,
                "--from",
                ORIGIN.strftime("%Y-%m-%dT%H:%M"),
                "--to",
                END.strftime("%Y-%m-%dT%H:%M"),
            )
            for i, page in enumerate(_pages(day, work / f"day-{lang}", dpi), start=1):
                dst = out / f"report-day-{lang}-p{i}.png"
                shutil.copyfile(page, dst)
                written.append(dst)
            hand = work / f"handover-{lang}.pdf"
            _report(db, hand, lang, "--handover", "--at", HANDOVER_AT.strftime("%Y-%m-%dT%H:%M"))
            pages = _pages(hand, work / f"handover-{lang}", dpi)
            if len(pages) != 1:
                raise RuntimeError(f"the handover ({lang}) has {len(pages)} pages; it must be one")
            dst = out / f"handover-{lang}.png"
            shutil.copyfile(pages[0], dst)
            written.append(dst)
            sys.stdout.write(f"report pages ({lang}): {len(written)} so far\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return written


def cli(argv: list[str] | None = None) -> int:
    a = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    a.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    a.add_argument("--langs", default="id,en")
    a.add_argument("--dpi", type=int, default=110)
    a.add_argument("--journal", default=None, help="keep the simulated journal here (reused when it exists)")
    args = a.parse_args(argv)
    try:
        written = main(
            Path(args.out), args.langs.split(","), args.dpi, Path(args.journal) if args.journal else None
        )
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        sys.stderr.write(f"report pages: {exc}\n")
        return 1
    sys.stdout.write(f"report pages: {len(written)} pictures in {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
