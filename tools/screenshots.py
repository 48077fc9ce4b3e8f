"""The screenshot gallery: `make screenshots` writes docs/screenshots/PRESET-VIEW-LANG.png.

Every shipped room layout (config/layouts.toml) in both languages, from the same data: the
OKI simulator at a fixed seed from a fixed origin, advanced to a fixed simulated moment (a
weekday afternoon) before any wall starts, and served by the reference server, which then adds
nothing. Each wall runs headless with its clock frozen at that moment, so ages, the header's
clock and the day's figures are the same in every run, and saves one picture per region,
cropped from its window's grab once nothing in it moves (ui.app.still: no wait for a time),
in an environment of its own (wall_env). Two runs give byte-identical pictures. Then the
situation report's pages and the shift handover (tools/report_pages.py: report-day-LANG-pN.png,
handover-LANG.png).

    python tools/screenshots.py [--out docs/screenshots] [--presets a,b] [--langs id,en]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # report_pages beside it

from commandcenter.config import load_defaults  # noqa: E402 - after the path
from commandcenter.core.timeutil import WIB  # noqa: E402
from commandcenter.refserver.server import DispatchServer, ServerSettings, TokenGrant  # noqa: E402
from commandcenter.refserver.simulator import Simulator  # noqa: E402
from commandcenter.wall.layout import shipped_presets  # noqa: E402

SEED = 112
#: A weekday morning in WIB; the walls look at it at AT (a busy afternoon with a day's figures).
ORIGIN = dt.datetime(2026, 3, 10, 6, 0, tzinfo=WIB)
AT = dt.datetime(2026, 3, 10, 15, 30, tzinfo=WIB)
SCENARIO = "mixed"
RATE_PER_MIN = 2.0
TOKEN = "gallery-console"
#: The longest a wall may take to come to rest before its pictures (ui.app.still): the wall
#: grabs them as soon as it is still and fails past this, it does not wait for a time.
RUN_FOR_S = 180.0


async def _fill(server: DispatchServer) -> int:
    """The simulator's events from ORIGIN to AT, stamped with their simulated times."""
    sim = Simulator(scenario=SCENARIO, rate_per_min=RATE_PER_MIN, seed=SEED, start=ORIGIN,
                    config=load_defaults())  # fmt: skip
    await server.append(sim.initial_bodies(), ts=ORIGIN)
    n = 0
    step = dt.timedelta(minutes=1)
    t = ORIGIN
    while t < AT:
        t = min(AT, t + step)
        produced = sim.advance_to(t)
        for i in range(0, len(produced), 500):
            chunk = produced[i : i + 500]
            await server.append([body for _, body in chunk], ts=chunk[-1][0])
            n += len(chunk)
    return n


def wall_env(work: Path) -> dict[str, str]:
    """The walls' environment: nothing in it that differs between runs or machines."""
    env = dict(os.environ, QTWEBENGINE_DISABLE_SANDBOX=os.environ.get("QTWEBENGINE_DISABLE_SANDBOX", "1"))
    # Set orders (str hashes) the same in every run.
    env["PYTHONHASHSEED"] = "0"
    # The map page and its assets (map.js, map.css) are written to the user's cache directory,
    # shared with every other wall, test and checkout of the user: one of another version
    # rewrote map.js under a gallery wall. The gallery's are its own.
    env["XDG_CACHE_HOME"] = str(work / "cache")
    # The shipped configuration only: no user's or machine's file, no server or token from the
    # environment (an empty file named by COMMANDCENTER_CONFIG stands for the user's).
    config = work / "gallery-config.toml"
    config.write_text("# the gallery: the shipped defaults only\n")
    env["COMMANDCENTER_CONFIG"] = str(config)
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "COMMANDCENTER_SERVER_URL", "COMMANDCENTER_TOKEN"):
        env.pop(var, None)
    return env


async def _wall(url: str, preset: str, lang: str, work: Path) -> tuple[int, Path, str]:
    shots = work / "shots"
    env = wall_env(work.parent)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ui.app.cli", "wall", "--no-supervisor", "--headless", "--preset", preset,
        "--lang", lang, "--server", url, "--token", TOKEN, "--operator", "Sari",
        "--frozen-clock", AT.isoformat(), "--run-for", str(RUN_FOR_S), "--data-dir", str(work / "data"),
        "--screenshot-dir", str(shots), "--screenshot-regions",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    return proc.returncode or 0, shots, err.decode(errors="replace")[-2000:]


async def main(out: Path, presets: list[str], langs: list[str]) -> int:
    work = Path(tempfile.mkdtemp(prefix="oki112-gallery-"))
    server = DispatchServer(ServerSettings(
        host="127.0.0.1", port=0, db_path=str(work / "server.sqlite3"),
        tokens=[TokenGrant(TOKEN, "console", "gallery")],
        # Nothing is pruned or added while the walls look: the data stay as at AT.
        housekeeping_interval_s=10 * 24 * 3600.0,
    ))  # fmt: skip
    await server.start()
    written: list[Path] = []
    try:
        events = await _fill(server)
        sys.stdout.write(f"gallery: {events} simulated events (seed {SEED}) up to {AT:%Y-%m-%d %H:%M} WIB\n")
        out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before the walls
        for preset in presets:
            for lang in langs:
                code, shots, err = await _wall(server.url, preset, lang, work / f"{preset}-{lang}")
                if code != 0:
                    sys.stderr.write(f"gallery: the {preset} wall in {lang} exited {code}:\n{err}\n")
                    return 1
                views = [r.view for s in shipped_presets()[preset].screens for r in s.regions]
                for view in views:
                    src = shots / f"{view}.png"
                    if not src.exists():
                        sys.stderr.write(f"gallery: {preset}/{lang}: no picture of {view}\n")
                        return 1
                    dst = out / f"{preset}-{view}-{lang}.png"
                    shutil.copyfile(src, dst)
                    written.append(dst)
                sys.stdout.write(f"gallery: {preset} ({lang}): {', '.join(views)}\n")
                sys.stdout.flush()
    finally:
        await server.close()
        shutil.rmtree(work, ignore_errors=True)
    sys.stdout.write(f"gallery: {len(written)} pictures in {out}\n")
    return 0


def cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    p.add_argument("--presets", default=",".join(shipped_presets()))
    p.add_argument("--langs", default="id,en")
    p.add_argument("--no-reports", action="store_true", help="skip the report pages (tools/report_pages.py)")
    a = p.parse_args(argv)
    code = asyncio.run(main(Path(a.out), a.presets.split(","), a.langs.split(",")))
    if code == 0 and not a.no_reports:
        # The situation report and the handover as pages, from a simulated day of their own.
        import report_pages

        code = report_pages.cli(["--out", a.out, "--langs", a.langs])
    return code


if __name__ == "__main__":
    sys.exit(cli())
