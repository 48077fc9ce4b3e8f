"""Where the reference server keeps its event log.

Two backends, chosen by ``serve --log``:

- ``sqlite`` (the default): the server's own journal (commandcenter.storage),
  one process, ``--db FILE``; :class:`~commandcenter.refserver.server.DispatchServer`.
- ``nats://HOST:PORT[,HOST:PORT...]``: a JetStream stream that several
  ``serve`` processes share as stateless gateways;
  :class:`~commandcenter.refserver.natslog.NatsGateway`.

What the server asks of its log is a handful of methods of DispatchServer
(``_open_log``, ``append``, ``_replay_span``, ``_events_after``,
``_next_sim_run``, the command check in ``_on_command``): the SQLite server
implements them over the journal, the gateway over the stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from commandcenter.refserver.server import DispatchServer, ServerSettings

SQLITE = "sqlite"


def parse_log_url(text: str) -> tuple[str, list[str]]:
    """``("sqlite", [])`` or ``("nats", [server URLs])``; ValueError otherwise."""
    value = (text or SQLITE).strip()
    if value == SQLITE:
        return SQLITE, []
    urls = [u.strip() for u in value.split(",") if u.strip()]
    if not urls or not all(u.startswith(("nats://", "tls://")) for u in urls):
        raise ValueError(f"{text!r}: give sqlite or nats://HOST:PORT (several comma-separated)")
    for url in urls:
        host_port = url.split("://", 1)[1].rsplit("@", 1)[-1]
        host, sep, port = host_port.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"{url!r}: needs HOST:PORT, e.g. nats://127.0.0.1:4222")
    return "nats", urls


def make_server(settings: ServerSettings) -> DispatchServer:
    """The server for ``settings.log_url``."""
    kind, _ = parse_log_url(settings.log_url)
    if kind == SQLITE:
        from commandcenter.refserver.server import DispatchServer

        return DispatchServer(settings)
    from commandcenter.refserver.natslog import NatsGateway

    return NatsGateway(settings)
