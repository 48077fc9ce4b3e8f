"""`make demo-scale`: the event log on NATS JetStream, all on loopback.

Starts a nats-server with JetStream (file storage in the data dir), two
`serve --log nats://` gateways on the one stream (the simulator runs on the
first: exactly one process may simulate), and one wall given both gateways
(--server A,B: it fails over when one dies; try `kill -9` of a gateway's pid,
printed below). Everything stops when the wall closes or on Ctrl-C.

    .venv/bin/python tools/demo_scale.py [--data-dir DIR] [--rate N] [-- WALL ARGS...]

Unattended (no one to answer the console's "who is on duty" question, e.g.
offscreen): make demo-scale ARGS="-- --run-for 60 --operator Sari".
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from commandcenter.ops.natsserver import NatsServer  # noqa: E402


def _say(line: str) -> None:
    sys.stdout.write(f"demo-scale: {line}\n")
    sys.stdout.flush()


def _gateway(
    nats_url: str, log: Path, env: dict[str, str], extra: list[str]
) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "commandcenter.cli", "--log-level", "INFO", "serve",
         "--log", nats_url, "--port", "0", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log.open("a"), text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("LISTENING "):
        proc.kill()
        raise SystemExit(f"demo-scale: a gateway did not start ({line.strip()!r}); see {log}")
    return proc, line.split()[1]


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="NATS storage, logs and the wall's journal")
    parser.add_argument("--rate", type=float, default=6.0, help="simulated incidents a minute")
    parser.add_argument("--scenario", default="mixed", choices=["normal", "flood", "karhutla", "mixed"])
    parser.add_argument("wall_args", nargs="*", help="after --: passed to `commandcenter wall`")
    args = parser.parse_args(argv)
    data = Path(args.data_dir or tempfile.mkdtemp(prefix="oki112-demo-scale-"))
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", COMMANDCENTER_TOKEN="demo-wall")
    procs: list[subprocess.Popen[Any]] = []
    nats = NatsServer(data / "nats").start()
    try:
        sim = ["--scenario", args.scenario, "--rate", str(args.rate)]
        gw_a, url_a = _gateway(nats.url, data / "gateway-a.log", env, sim)
        procs.append(gw_a)
        gw_b, url_b = _gateway(nats.url, data / "gateway-b.log", env, [])
        procs.append(gw_b)
        _say(f"nats-server {nats.url} (pid {nats.proc.pid if nats.proc else '?'}), storage {data / 'nats'}")
        _say(f"gateway A {url_a} (pid {gw_a.pid}, the simulator), gateway B {url_b} (pid {gw_b.pid})")
        _say(f"logs in {data}; the wall follows A and fails over to B")
        wall = subprocess.Popen(
            [sys.executable, "-m", "ui.app.cli", "wall", "--server", f"{url_a},{url_b}",
             "--data-dir", str(data / "wall"), *args.wall_args],
            cwd=ROOT, env=env,
        )  # fmt: skip
        procs.append(wall)
        with contextlib.suppress(KeyboardInterrupt):
            wall.wait()
        return wall.returncode or 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the cleanup
        for proc in reversed(procs):
            _stop(proc)
        nats.stop()


if __name__ == "__main__":
    sys.exit(main())
