"""`make demo-province`: several regencies' reference servers and the provincial wall.

Starts one `commandcenter serve --regency CODE` per regency on loopback (the
simulator places each regency's incidents inside its outline; OKI keeps its
own districts), writes a configuration whose [[province.feeds]] name them, and
runs `commandcenter wall --province` on it. Everything goes into one data
directory (default: a new temporary one); the servers stop when the wall ends.

    python tools/demo_province.py [--regencies 16.01,16.02,16.71,16.74] [--speed 10]
        [--rate 2] [--preset province|province-laptop] [--data-dir DIR] [-- WALL ARGS...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_REGENCIES = "16.01,16.02,16.71,16.74"


def start_server(
    data_dir: Path, code: str, speed: float, rate: float, seed: int
) -> tuple[subprocess.Popen[str], str]:
    log = open(data_dir / f"server-{code}.log", "w")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "commandcenter.cli", "serve",
         "--db", str(data_dir / f"server-{code}.sqlite3"), "--port", "0", "--scenario", "mixed",
         "--speed", str(speed), "--rate", str(rate), "--regency", code, "--seed", str(seed)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
        env=dict(os.environ, COMMANDCENTER_CONFIG="", PYTHONUNBUFFERED="1"),
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("LISTENING "):
        proc.kill()
        raise SystemExit(f"server for {code} did not start: {line!r} (see {log.name})")
    return proc, line.split()[1]


def write_config(data_dir: Path, urls: dict[str, str]) -> Path:
    from commandcenter.core.province import short_name
    from commandcenter.wall.province import regency_areas

    names = {a.code: a.name for a in regency_areas("builtin:sumsel-kabupaten.geojson").areas}
    lines = ['[province]', 'name = "Sumatera Selatan"', ""]
    for code, url in urls.items():
        name = short_name(code, names.get(code, code))
        lines += ["[[province.feeds]]", f'code = "{code}"', f'name = "{name}"',
                  f'servers = ["{url}"]', 'token = "demo-wall"', ""]  # fmt: skip
    path = data_dir / "province.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    wall_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, wall_args = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regencies", default=DEFAULT_REGENCIES, help="comma-separated regency codes")
    ap.add_argument("--speed", type=float, default=1.0,
                    help="simulated time runs X times faster (the wall reads real time: keep 1)")
    ap.add_argument("--rate", type=float, default=6.0)
    ap.add_argument("--preset", default="province")
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args(argv)
    codes = [c.strip() for c in args.regencies.split(",") if c.strip()]
    if len(codes) < 1:
        raise SystemExit("--regencies: name at least one regency")
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="oki112-province-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    servers: list[subprocess.Popen[str]] = []
    try:
        urls = {}
        for i, code in enumerate(codes):
            proc, url = start_server(data_dir, code, args.speed, args.rate, 112 + i)
            servers.append(proc)
            urls[code] = url
            sys.stdout.write(f"regency {code}: {url}\n")
        config = write_config(data_dir, urls)
        cmd = [sys.executable, "-c", "import sys; from ui.app.cli import main; sys.exit(main())",
               "wall", "--province", "--config", str(config), "--data-dir", str(data_dir),
               "--preset", args.preset, *wall_args]  # fmt: skip
        sys.stdout.write(f"provincial wall: {len(codes)} regencies; data in {data_dir}\n")
        sys.stdout.flush()
        return subprocess.call(cmd, cwd=ROOT, env=dict(os.environ, COMMANDCENTER_CONFIG=""))
    finally:
        for proc in servers:
            proc.terminate()
        for proc in servers:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    raise SystemExit(main())
