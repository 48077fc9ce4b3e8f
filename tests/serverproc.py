"""Run the real reference server (`commandcenter serve`) as a subprocess on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Self

import websockets

from commandcenter.cli.runner import chunk_bodies
from commandcenter.core import protocol as p
from tests.conftest import ROOT

WALL, CONSOLE, ADMIN = "demo-wall", "demo-console", "demo-admin"


class ServerProcess:
    """`commandcenter serve` in a child process; learns its URL from stdout."""

    def __init__(
        self,
        db: Path,
        *,
        port: int = 0,
        scenario: str = "none",
        speed: float = 1.0,
        rate: float = 6.0,
        heartbeat: float = 0.5,
        queue_limit: int | None = None,
        extra: list[str] | None = None,
    ) -> None:
        self.db = db
        self.port = port
        self.args = [
            "--scenario",
            scenario,
            "--speed",
            str(speed),
            "--rate",
            str(rate),
            "--heartbeat",
            str(heartbeat),
        ]
        if queue_limit is not None:
            self.args += ["--queue-limit", str(queue_limit)]
        self.args += extra or []
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.epoch = ""
        self.head = 0

    #: The child's log level (stderr goes to ``log_path``).
    log_level = "WARNING"
    def _log_args(self) -> list[str]:
        """Where ``serve`` keeps its event log."""
        return ["--db", str(self.db)]

    def _open_log(self) -> None:
        # stderr to a file: a pipe nobody reads would block a chatty server.
        self.log_path = self.db.with_suffix(f".{len(list(self.db.parent.glob(self.db.stem + '*.log')))}.log")
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in _close_streams

    def start(self) -> Self:
        env = dict(os.environ, COMMANDCENTER_CONFIG="", PYTHONUNBUFFERED="1")
        self._open_log()
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "commandcenter.cli", "--log-level", self.log_level,
                "serve", *self._log_args(), "--port", str(self.port), *self.args,
            ],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until the server listens (or dies)
        if not line.startswith("LISTENING "):
            self.proc.wait(10)
            self._close_streams()
            raise RuntimeError(f"server did not start: {line!r} {self.log_path.read_text()[-2000:]}")
        # LISTENING URL epoch=E head=N
        fields = line.split()
        self.url = fields[1]
        self.epoch = fields[2].split("=", 1)[1]
        self.head = int(fields[3].split("=", 1)[1])
        self.port = int(self.url.rsplit(":", 1)[1].strip("/"))
        return self

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as in a crash or power cut of the process."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close_streams()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close_streams()

    def _close_streams(self) -> None:
        if self.proc and self.proc.stdout and not self.proc.stdout.closed:
            self.proc.stdout.close()
        if getattr(self, "_log", None) and not self._log.closed:
            self._log.close()


def export(db: Path) -> list[dict[str, Any]]:
    """`commandcenter journal export` of a database, parsed."""
    out = subprocess.run(
        [sys.executable, "-m", "commandcenter.cli", "journal", "export", "--db", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


async def admin_inject(url: str, bodies: list[p.EventBody], token: str = ADMIN) -> int:
    """Append events through the server's admin path; returns the last seq.
    One chunk at a time, reading everything in between, so this connection
    is never the slow client itself."""
    last = 0
    async with websockets.connect(url, proxy=None, compression=None) as ws:
        await ws.send(p.encode(p.Hello(token=token, client_id=f"admin-{uuid.uuid4().hex[:6]}")).decode())
        for chunk in chunk_bodies(bodies):
            cid = uuid.uuid4().hex
            await ws.send(p.encode(p.Inject(command_id=cid, bodies=chunk)).decode())
            while True:
                frame = p.decode_server_frame(await asyncio.wait_for(ws.recv(), 60))
                if isinstance(frame, p.CommandResult) and frame.command_id == cid:
                    assert frame.status == "applied", frame
                    last = max(last, frame.seq or 0)
                    break
    return last


async def wait_client(client: Any, predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
    """Wait until ``predicate()`` holds, re-checking each time the feed client (or a
    session of several) reports a change, a state transition or a command result
    (whichever of those listener lists it has; no polling, no fixed sleeps)."""
    poked = asyncio.Event()

    def poke(*_: Any) -> None:
        poked.set()

    lists = [getattr(client, name) for name in ("change_listeners", "status_listeners", "result_listeners")
             if hasattr(client, name)]  # fmt: skip
    for listeners in lists:
        listeners.append(poke)
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                poked.clear()
                if predicate():
                    break
                await poked.wait()
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
    finally:
        for listeners in lists:
            listeners.remove(poke)
