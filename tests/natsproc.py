"""A real nats-server (JetStream, file storage under tmp_path, a free loopback
port) and `commandcenter serve --log nats://...` gateways as subprocesses.

Importable from bench/ as well (the NATS fan-out benchmark uses it); the
server starter itself is commandcenter.ops.natsserver (make demo-scale uses it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats

from commandcenter.config.schema import NatsLogConfig
from commandcenter.ops.natsserver import NatsServer, NatsServerError
from tests.conftest import ROOT

__all__ = ["GatewayProcess", "NatsServer", "NatsServerError", "stream_events"]


class GatewayProcess:
    """`commandcenter serve --log NATS_URL` in a child process (no --db); learns
    its URL and epoch from the LISTENING line. stderr goes to ``log_path``."""

    def __init__(
        self,
        nats_url: str,
        log_path: Path,
        *,
        port: int = 0,
        scenario: str = "none",
        speed: float = 1.0,
        rate: float = 6.0,
        heartbeat: float = 0.3,
        extra: list[str] | None = None,
        log_level: str = "WARNING",
    ) -> None:
        self.nats_url = nats_url
        self.log_path = log_path
        self.port = port
        self.args = ["--scenario", scenario, "--speed", str(speed), "--rate", str(rate)]
        self.args += ["--heartbeat", str(heartbeat), *(extra or [])]
        self.log_level = log_level
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.epoch = ""
        self.head = 0

    def start(self) -> GatewayProcess:
        env = dict(os.environ, COMMANDCENTER_CONFIG="", PYTHONUNBUFFERED="1")
        self._log = open(self.log_path, "a")  # noqa: SIM115 - closed in _close_streams
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "commandcenter.cli", "--log-level", self.log_level,
                "serve", "--log", self.nats_url, "--port", str(self.port), *self.args,
            ],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until it listens (or dies)
        if not line.startswith("LISTENING "):
            self.proc.wait(10)
            self._close_streams()
            raise RuntimeError(f"gateway did not start: {line!r} {self.log_path.read_text()[-2000:]}")
        fields = line.split()
        self.url = fields[1]
        self.epoch = fields[2].split("=", 1)[1]
        self.head = int(fields[3].split("=", 1)[1])
        self.port = int(self.url.rsplit(":", 1)[1].strip("/"))
        return self

    def kill(self) -> None:
        """SIGKILL: a crash of the gateway."""
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


async def stream_events(nats_url: str, stream: str = "") -> list[tuple[int, dict[str, Any], str]]:
    """Every message of the event stream: (stream seq, decoded payload, Nats-Msg-Id),
    read straight from JetStream (the ground truth the gateways follow)."""
    import json

    name = stream or NatsLogConfig().stream
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(name)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(name, seq)
            out.append((seq, json.loads(msg.data), (msg.headers or {}).get("Nats-Msg-Id", "")))
        return out
    finally:
        await nc.close()
