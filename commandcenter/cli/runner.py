"""Headless entry points: `serve`, `follow` and `inject`.

These run plain asyncio (no Qt): the reference server, a recording node that
follows a server into a journal (the engine session a wall runs, without
screens; with --alerts a headless alert node that prints, and can speak, its
alerts), and the drill/test injector.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any, NoReturn

import msgspec

from commandcenter.core import protocol as p
from commandcenter.ops.runtime import fix_mmap_threshold, freeze_heap, tune_gc

log = logging.getLogger(__name__)


def _install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def _wait_for(stop: asyncio.Event, run_for: float | None) -> None:
    if run_for is None:
        await stop.wait()
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), run_for)


# --- serve ---------------------------------------------------------------------------


def _load_config(path: str | None) -> Any:
    from commandcenter.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        sys.stderr.write(f"config error: {exc}\n")
        raise SystemExit(2) from None


def server_settings_from(args: argparse.Namespace) -> Any:
    from commandcenter.refserver.server import ServerSettings, TokenGrant

    cfg = _load_config(getattr(args, "config", None))
    serve = cfg.serve
    _check_demo_tokens(serve, args.host or serve.host, bool(getattr(args, "allow_demo_tokens", False)))
    area, ticket = None, "OKI"
    regency = getattr(args, "regency", None)
    if regency:
        # Another regency of the province: its outline and one district, itself (refserver.regency).
        from commandcenter.refserver.regency import OKI_CODE, regency_geography

        try:
            cfg, area, _ = regency_geography(cfg, regency)
        except ValueError as exc:
            raise SystemExit(f"serve: --regency: {exc}") from None
        ticket = "OKI" if regency == OKI_CODE else "R" + regency.replace(".", "")
    from commandcenter.refserver.eventlog import SQLITE, parse_log_url

    try:
        kind, _ = parse_log_url(getattr(args, "log", None) or SQLITE)
    except ValueError as exc:
        _usage_error(f"--log: {exc}")
    if kind == SQLITE and not args.db:
        _usage_error("--db FILE is needed (the SQLite event log), or --log nats://HOST:PORT")
    if kind != SQLITE and args.db:
        _usage_error("--db and --log nats:// exclude each other: the stream is the log")
    return ServerSettings(
        host=args.host or serve.host,
        port=serve.port if args.port is None else args.port,
        db_path=args.db or "",
        log_url=getattr(args, "log", None) or SQLITE,
        tokens=[TokenGrant(t.token, t.role, t.name) for t in serve.tokens],
        heartbeat_interval_s=args.heartbeat or serve.heartbeat_interval_s,
        max_frame_bytes=serve.max_frame_bytes,
        send_queue_limit=args.queue_limit or serve.send_queue_limit,
        client_rate_per_s=serve.client_rate_per_s,
        client_burst=serve.client_burst,
        history_limit_events=serve.history_limit_events,
        max_shelve_s=serve.max_shelve_minutes * 60.0,
        max_mute_s=serve.max_mute_minutes * 60.0,
        max_connections=serve.max_connections,
        keep_closed_s=serve.prune_closed_after_s,
        housekeeping_interval_s=serve.housekeeping_interval_s,
        tls_cert=args.tls_cert or serve.tls_cert,
        tls_key=args.tls_key or serve.tls_key,
        scenario=None if args.scenario == "none" else args.scenario,
        rate_per_min=args.rate,
        speed=args.speed,
        sim_origin=_parse_origin(getattr(args, "sim_origin", None)),
        seed=args.seed,
        config=cfg,
        sim_area=area,
        sim_ticket_prefix=ticket,
    )


def _usage_error(line: str) -> NoReturn:
    """A command line that must change: one line, exit 2 (as a config error)."""
    sys.stderr.write(f"serve: {line}\n")
    raise SystemExit(2)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or "": reachable from the network


def _check_demo_tokens(serve: Any, host: str, allowed_by_flag: bool) -> None:
    """The shipped demo tokens are public (they are in default.toml): off
    loopback they would let anyone on the network in, so serving them there
    needs serve.allow_demo_tokens or --allow-demo-tokens."""
    demo = serve.demo_tokens_in_use
    if not demo or _is_loopback(host):
        return
    if allowed_by_flag or serve.allow_demo_tokens:
        log.warning("serving the public demo tokens (%s) on %s, as allowed", ", ".join(demo), host)
        return
    sys.stderr.write(
        f"serve: refusing to serve the public demo tokens ({', '.join(demo)}) on {host}: anyone on the "
        "network could use them. Configure your own [[serve.tokens]], or allow them with "
        "serve.allow_demo_tokens = true or --allow-demo-tokens\n"
    )
    raise SystemExit(2)


def _tls_problem(cert: str, key: str) -> str:
    """A TLS file that cannot be read, said in one line ('' when fine)."""
    for what, path in (("certificate", cert), ("key", key)):
        if not path:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            return f"TLS {what} {path}: {exc.strerror or exc}"
    return ""


def _parse_origin(text: str | None) -> dt.datetime | None:
    """--sim-origin: an aware ISO time (the demo wall passes its own)."""
    if not text:
        return None
    try:
        origin = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise SystemExit(f"--sim-origin: not an ISO time: {text!r}") from exc
    if origin.tzinfo is None:
        raise SystemExit(f"--sim-origin: needs a UTC offset: {text!r}")
    return origin


def serve_main(args: argparse.Namespace) -> int:
    tune_gc()
    fix_mmap_threshold()  # snapshots of the whole state must not fragment the heap
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from commandcenter.refserver.eventlog import make_server

    settings = server_settings_from(args)
    problem = _tls_problem(settings.tls_cert, settings.tls_key)
    if problem:
        sys.stderr.write(f"serve: {problem}\n")
        return 2
    server = make_server(settings)
    # A server that cannot start says why in one line and exits non-zero,
    # never a traceback followed by a process that hangs.
    try:
        await server.start()
    except BaseException as exc:
        await server.close()
        if not isinstance(exc, Exception):
            raise
        code, line = _start_failure(exc, settings)
        log.debug("serve could not start", exc_info=True)
        sys.stderr.write(f"serve: {line}\n")
        return code
    # One machine-readable line so scripts and tests learn the port (with --port 0).
    sys.stdout.write(f"LISTENING {server.url} epoch={server.epoch} head={server.head_seq}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    _install_stop_signals(stop)
    server.failure_listeners.append(stop.set)
    try:
        await _wait_for(stop, args.run_for)
    finally:
        await server.close()
    if server.failure:
        sys.stderr.write(f"serve: {server.failure}\n")
        return 1
    return 0


def _start_failure(exc: Exception, settings: Any) -> tuple[int, str]:
    """(exit code, one line) for a server that could not start: 2 when the
    configuration must change (TLS material), 1 otherwise (a port in use may
    be free at the next try)."""
    import ssl

    from commandcenter.storage.journal import JournalError

    if isinstance(exc, ssl.SSLError):
        return 2, f"TLS certificate {settings.tls_cert} or key {settings.tls_key} cannot be used: {exc}"
    if isinstance(exc, JournalError):
        return 1, str(exc)
    if type(exc).__module__.startswith("nats"):
        return 1, f"event log {settings.log_url}: {type(exc).__name__}: {exc}"
    if isinstance(exc, OSError):
        return 1, f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
    return 1, f"{type(exc).__name__}: {exc}"


def add_serve_arguments(p_: argparse.ArgumentParser) -> None:
    p_.add_argument("--config", default=None, help="configuration file (tokens, TLS, limits)")
    p_.add_argument("--db", default=None, help="the server's own event log (SQLite; the default log)")
    p_.add_argument(
        "--log", default="sqlite", metavar="sqlite|nats://HOST:PORT",
        help="where the event log lives: sqlite (--db, the default) or a NATS JetStream stream "
        "(several comma-separated servers of a cluster); serve processes on one stream are gateways "
        "([serve.nats]; run the simulator, --scenario, on exactly one of them)",
    )  # fmt: skip
    p_.add_argument("--host", default=None, help="address to listen on (default from config: 127.0.0.1)")
    p_.add_argument("--port", type=int, default=None, help="port (default: serve.port; 0 picks a free one)")
    p_.add_argument("--scenario", default="none", choices=["none", "normal", "flood", "karhutla", "mixed"])
    p_.add_argument("--rate", type=float, default=6.0, help="new incidents a minute in normal times")
    p_.add_argument("--speed", type=float, default=1.0, help="simulated time runs X times faster")
    p_.add_argument("--seed", type=int, default=112, help="same seed, same events")
    p_.add_argument(
        "--regency", default=None, metavar="CODE",
        help="simulate this regency of Sumatera Selatan (e.g. 16.01; default: OKI, 16.02): incidents "
        "inside its outline (a provincial wall's demo)",
    )  # fmt: skip
    p_.add_argument(
        "--sim-origin",
        default=None,
        help="ISO time from which simulated time runs --speed times faster (default: start-up)",
    )
    p_.add_argument("--heartbeat", type=float, default=None, help="heartbeat interval in seconds")
    p_.add_argument("--queue-limit", type=int, default=None, help="per-client send queue (frames)")
    p_.add_argument("--tls-cert", default="", help="certificate (PEM) for wss://")
    p_.add_argument("--tls-key", default="", help="private key (PEM) for wss://")
    p_.add_argument(
        "--allow-demo-tokens",
        action="store_true",
        help="serve the public demo-* tokens on a non-loopback address (demos only)",
    )
    p_.add_argument("--run-for", type=float, default=None, help="stop after SECONDS")


# --- follow --------------------------------------------------------------------------


def follow_main(args: argparse.Namespace) -> int:
    tune_gc()
    return asyncio.run(_follow(args))


async def _follow(args: argparse.Namespace) -> int:
    from commandcenter.ops.supervisor import feed_exit
    from commandcenter.wall.feed import FeedState
    from commandcenter.wall.session import WallSession, feed_settings

    cfg = _load_config(getattr(args, "config", None))
    alerting = bool(args.alerts or args.speak)
    settings = feed_settings(
        cfg,
        url=args.server,
        token=args.token,
        client_id=args.client_id or cfg.server.client_id or f"follow-{uuid.uuid4().hex[:8]}",
        # A recording node is no console; an alert node may name one (mutes).
        console=args.console or "",
        heartbeat_timeout_s=args.heartbeat_timeout,
    )
    session = await WallSession.open(
        cfg, args.db, settings, speech=bool(args.speak), alerts=alerting, on_restored=freeze_heap
    )
    client = session.feed
    stop = asyncio.Event()
    _install_stop_signals(stop)

    def on_status(status: Any) -> None:
        sys.stdout.write(
            f"STATE {status.state.value} epoch={client.store.epoch} seq={client.store.seq}"
            f" server={status.server}\n"
        )
        sys.stdout.flush()
        if args.exit_when_live and status.state is FeedState.LIVE:
            stop.set()

    client.status_listeners.append(on_status)
    if alerting:
        session.alerts.action_listeners.append(_print_alert_actions)
    task = session.start()
    task.add_done_callback(lambda t: stop.set())
    code = 0
    try:
        await _wait_for(stop, args.run_for)
        # A refused token, a journal that cannot be written (a full disk), a
        # bug: never exit 0 for those (0 means a requested stop).
        code, line = feed_exit(task, "follow")
        if line:
            log.debug("the feed ended", exc_info=task.exception())
            sys.stderr.write(line + "\n")
    finally:
        await session.close()
        c = client.counters
        sys.stdout.write(
            f"DONE epoch={client.store.epoch} seq={client.store.seq} applied={c.events_applied} "
            f"duplicates={c.duplicates} gaps={c.gaps} bad_frames={c.bad_frames} refused={c.refused} "
            f"snapshots={c.snapshots} "
            f"reconnects={c.reconnects}\n"
        )
        sys.stdout.flush()
    return code


def alert_action_line(action: Any) -> str:
    """One alert action as the line `follow --alerts` prints: ALERT and JSON."""
    doc = {
        "kind": action.kind,
        "alert_ids": list(action.alert_ids),
        "priority": action.priority,
        "text": action.text,
        "reason": action.reason,
        "escalated": action.escalated,
        "muted": action.muted,
        "count": action.count,
        "sound": action.sound,
        "speech": action.speech,
    }
    return "ALERT " + json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def _print_alert_actions(actions: list[Any]) -> None:
    sys.stdout.write("".join(alert_action_line(a) + "\n" for a in actions))
    sys.stdout.flush()


def add_follow_arguments(p_: argparse.ArgumentParser) -> None:
    from commandcenter.config.schema import server_argument

    p_.add_argument("--config", default=None)
    p_.add_argument(
        "--server", default=None, type=server_argument,
        help="ws:// or wss:// URL, or several comma-separated to fail over between (default from config)",
    )  # fmt: skip
    p_.add_argument("--token", default=None, help="access token (default from config)")
    p_.add_argument("--db", required=True, help="journal file to write")
    p_.add_argument("--client-id", default=None)
    p_.add_argument("--heartbeat-timeout", type=float, default=None)
    p_.add_argument("--run-for", type=float, default=None, help="stop after SECONDS")
    p_.add_argument("--exit-when-live", action="store_true", help="stop once caught up with the server")
    p_.add_argument(
        "--alerts",
        action="store_true",
        help="a headless alert node: print each alert action (raise, repeat, escalate, clear) as a line",
    )
    p_.add_argument("--speak", action="store_true", help="with --alerts: speak the announcements (speech.*)")
    p_.add_argument("--console", default=None, help="this node's console name (mutes apply to it)")


# --- inject --------------------------------------------------------------------------

_bodies_decoder = msgspec.json.Decoder(list[p.EventBody])


def load_inject_file(path: str) -> list[p.EventBody]:
    """A JSON list of event bodies, or {"bodies": [...]}. Raises ValueError."""
    raw = Path(path).read_bytes()
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from None
    if isinstance(doc, dict) and "bodies" in doc:
        doc = doc["bodies"]
    try:
        return _bodies_decoder.decode(json.dumps(doc))
    except (msgspec.ValidationError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def chunk_bodies(
    bodies: list[p.EventBody], max_bytes: int = p.MAX_FRAME_BYTES // 2, max_items: int = 1000
) -> list[list[p.EventBody]]:
    """Split bodies into inject frames that stay well under the frame limit."""
    chunks: list[list[p.EventBody]] = []
    current: list[p.EventBody] = []
    size = 0
    for body in bodies:
        n = len(p.encode(body)) + 1
        if current and (size + n > max_bytes or len(current) >= max_items):
            chunks.append(current)
            current, size = [], 0
        current.append(body)
        size += n
    if current:
        chunks.append(current)
    return chunks


def inject_main(args: argparse.Namespace) -> int:
    try:
        bodies = load_inject_file(args.file)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"inject: {exc}\n")
        return 2
    import os

    from commandcenter.config import ENV_TOKEN

    token = args.token or os.environ.get(ENV_TOKEN, "")
    if not token:
        sys.stderr.write(f"inject: no token: give --token-file FILE or set {ENV_TOKEN}\n")
        return 2
    from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

    try:
        return asyncio.run(_inject(args.server, token, bodies, args.timeout))
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI, WebSocketException) as exc:
        sys.stderr.write(f"inject: {args.server}: {type(exc).__name__}: {exc}\n")
        return 1


async def _inject(url: str, token: str, bodies: list[p.EventBody], timeout: float) -> int:
    import websockets

    deadline = time.monotonic() + timeout
    async with websockets.connect(
        url, proxy=None, compression=None, max_size=p.MAX_FRAME_BYTES, open_timeout=timeout
    ) as ws:
        await ws.send(
            p.encode(
                p.Hello(token=token, client_id=f"inject-{uuid.uuid4().hex[:8]}", last_epoch="", last_seq=0)
            ).decode()
        )
        applied = 0
        # One chunk at a time, reading what the server sends in between: this
        # connection also receives the broadcast and must not fall behind.
        for chunk in chunk_bodies(bodies):
            cid = uuid.uuid4().hex
            await ws.send(p.encode(p.Inject(command_id=cid, bodies=chunk)).decode())
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    sys.stderr.write("inject: timed out waiting for the server\n")
                    return 1
                raw = await asyncio.wait_for(ws.recv(), remaining)
                try:
                    frame = p.decode_server_frame(raw)
                except p.ProtocolError:
                    continue
                if isinstance(frame, p.Error) and frame.fatal:
                    sys.stderr.write(f"inject: server refused: {frame.code}: {frame.reason}\n")
                    return 3
                if isinstance(frame, p.CommandResult) and frame.command_id == cid:
                    if frame.status == "rejected":
                        sys.stderr.write(f"inject: rejected: {frame.reason}\n")
                        return 3
                    applied += len(chunk)
                    sys.stdout.write(f"applied {len(chunk)} events up to seq {frame.seq}\n")
                    break
        sys.stdout.write(f"OK {applied} events injected\n")
        return 0


def add_inject_arguments(p_: argparse.ArgumentParser) -> None:
    from commandcenter.config.schema import server_argument

    p_.add_argument("--server", required=True, type=server_argument, help="ws:// or wss:// URL")
    p_.add_argument(
        "--token", default=None, help="admin-role token (better: --token-file or COMMANDCENTER_TOKEN)"
    )
    p_.add_argument("--timeout", type=float, default=30.0)
    p_.add_argument("file", help="JSON file: a list of event bodies (see docs/protocol.md)")
