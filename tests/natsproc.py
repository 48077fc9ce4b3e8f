"""A real nats-server (JetStream, file storage under tmp_path, a free loopback
port) and `commandcenter serve --log nats://...` gateways as subprocesses.

Importable from bench/ as well (the NATS fan-out benchmark uses it); the
server starter itself is commandcenter.ops.natsserver (make demo-scale uses it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nats

from commandcenter.config.schema import NatsLogConfig
from commandcenter.ops.natsserver import NatsServer, NatsServerError
from tests.serverproc import ServerProcess

__all__ = ["GatewayProcess", "NatsServer", "NatsServerError", "stream_events"]


class GatewayProcess(ServerProcess):
    """`commandcenter serve --log NATS_URL` in a child process (no --db); learns
    its URL, epoch and head from the LISTENING line. stderr goes to ``log_path``."""

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
        super().__init__(log_path, port=port, scenario=scenario, speed=speed, rate=rate, heartbeat=heartbeat,
                         extra=extra)  # fmt: skip
        self.nats_url = nats_url
        self.log_path = log_path
        self.log_level = log_level

    def _log_args(self) -> list[str]:
        return ["--log", self.nats_url]

    def _open_log(self) -> None:
        self._log = open(self.log_path, "a")  # noqa: SIM115 - closed in _close_streams


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
            out.append((seq, json.loads(msg.data or b""), (msg.headers or {}).get("Nats-Msg-Id", "")))
        return out
    finally:
        await nc.close()
