"""docs/protocol.md is the contract: the reference server does what it says.

Each test takes one statement of the document and checks it against the real
server on loopback (tests/serverproc.py) with a bare websocket, the way a
third-party integrator would, or against the document's own text (close codes,
error codes, limits, the validation recipe)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import os
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from commandcenter.config.schema import ServeConfig, default_of
from commandcenter.core import protocol as p
from commandcenter.core.model import Alert, CallFunnel, ModelError
from commandcenter.core.store import Store
from commandcenter.core.timeutil import utcnow
from commandcenter.refserver import server as server_module
from commandcenter.refserver.server import DispatchServer, ServerSettings, TokenGrant
from commandcenter.refserver.simulator import Simulator
from commandcenter.wall.feed import FeedState
from tests.conftest import ROOT
from tests.serverproc import ADMIN, CONSOLE, WALL, ServerProcess, admin_inject, export, wait_client
from tests.test_feed import assert_contiguous, assert_same_events, follower, incident_bodies, settings

DOC = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
CONN: dict[str, Any] = dict(proxy=None, compression=None, max_size=None, ping_interval=None)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("docs") / "server.sqlite3", heartbeat=0.3).start()
    try:
        yield proc
    finally:
        proc.stop()


async def greet(ws: Any, token: str = WALL, **fields: Any) -> p.Welcome:
    await ws.send(p.encode(p.Hello(token=token, client_id=f"docs-{uuid.uuid4().hex[:6]}", **fields)).decode())
    frame = await next_frame(ws, p.Welcome)
    assert isinstance(frame, p.Welcome)
    return frame


async def next_frame(ws: Any, *types: type[Any], timeout: float = 10.0) -> Any:
    """The next frame of one of ``types`` (heartbeats, events and snapshot parts skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = p.decode_server_frame(await ws.recv())
            if isinstance(frame, types):
                return frame


async def still_open(ws: Any) -> None:
    """The connection is usable: a ping gets its pong."""
    await ws.send(p.encode(p.Ping(nonce="still-open")).decode())
    pong = await next_frame(ws, p.Pong)
    assert pong.nonce == "still-open"


async def closed_with(ws: Any) -> tuple[list[p.Error], int | None]:
    """Error frames until the server closes, and its close code."""
    errors: list[p.Error] = []
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(10):
            while True:
                frame = p.decode_server_frame(await ws.recv())
                if isinstance(frame, p.Error):
                    errors.append(frame)
    return errors, ws.close_code


def command(kind: type[Any], command_id: str | None = None, **fields: Any) -> str:
    base: dict[str, Any] = dict(
        command_id=command_id or uuid.uuid4().hex,
        operator="Sari",
        console="meja-1",
        at=dt.datetime.now(dt.UTC),
    )
    base.update(fields)
    return p.encode(kind(**base)).decode()


# --- transport -------------------------------------------------------------------


async def test_a_binary_hello_is_refused_with_an_error_then_4400(server: ServerProcess) -> None:
    async with websockets.connect(server.url, **CONN) as ws:
        await ws.send(p.encode(p.Hello(token=WALL, client_id="binary")))  # bytes: a binary frame
        errors, code = await closed_with(ws)
    assert code == 4400
    assert [(e.code, e.fatal) for e in errors] == [("binary_frame", True)]


@pytest.mark.parametrize(
    ("first", "code", "close"),
    [
        (p.encode(p.Hello(token="not-a-token", client_id="x")).decode(), "bad_token", 4401),
        (None, "hello_timeout", 4408),  # nothing sent: the hello deadline passes
        ("{{{ not json", "bad_frame", 4400),
        (p.encode(p.Ping(nonce="first")).decode(), "expected_hello", 4400),
    ],
)
async def test_each_fatal_first_frame_error_comes_before_its_close_code(
    server: ServerProcess, first: str | None, code: str, close: int
) -> None:
    """The table's rows for the first frame: one error frame, fatal, then the close code."""
    async with websockets.connect(server.url, **CONN) as ws:
        if first is not None:
            await ws.send(first)
        errors, got = await closed_with(ws)
    assert [(e.code, e.fatal) for e in errors] == [(code, True)]
    assert got == close


async def test_a_binary_frame_after_hello_is_refused_and_the_connection_stays(server: ServerProcess) -> None:
    async with websockets.connect(server.url, **CONN) as ws:
        await greet(ws)
        await ws.send(p.encode(p.Ping(nonce="bin")))
        error = await next_frame(ws, p.Error, p.Pong)
        assert isinstance(error, p.Error) and error.code == "binary_frame" and not error.fatal
        await still_open(ws)


async def test_an_oversize_frame_gets_an_error_frame_before_1009(server: ServerProcess) -> None:
    async with websockets.connect(server.url, **CONN) as ws:
        await greet(ws)
        await ws.send("x" * (p.MAX_FRAME_BYTES + 1))
        errors, code = await closed_with(ws)
    assert code == 1009
    assert [(e.code, e.fatal) for e in errors] == [("frame_too_big", True)]


def _masked_text(payload: bytes) -> bytes:
    """One client-to-server text frame (RFC 6455 5.2: FIN, opcode 1, masked)."""
    mask = os.urandom(4)
    size = len(payload)
    head = bytes([0x81]) + (
        bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + size.to_bytes(2, "big")
    )
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_a_flood_gets_rate_limited_and_the_connection_ends_at_once(server: ServerProcess) -> None:
    """A bare socket that speaks just enough websocket to flood and never
    answers a close frame (as a flooder that reads nothing): the server sends
    the error, the 4429 close frame, and ends the TCP connection itself, instead
    of waiting for websockets' 10 s close timeout."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
    writer.write(_masked_text(p.encode(p.Hello(token=WALL, client_id="flooder"))))
    # Pings count against the rate limit like any frame.
    for i in range(200):
        writer.write(_masked_text(p.encode(p.Ping(nonce=str(i)))))
    await writer.drain()
    received = b""
    async with asyncio.timeout(5):
        while chunk := await reader.read(65536):  # b"": the server closed the TCP connection
            received += chunk
    writer.close()
    assert b'"code":"rate_limited"' in received
    close_frame = bytes([0x88]) + bytes([2 + len("too many messages")]) + (4429).to_bytes(2, "big")
    assert close_frame in received
    assert received.index(b'"code":"rate_limited"') < received.index(close_frame)


async def test_a_malformed_command_is_answered_with_its_command_id(server: ServerProcess) -> None:
    async with websockets.connect(server.url, **CONN) as ws:
        await greet(ws, token=CONSOLE)
        await ws.send('{"type": "ack", "command_id": "cmd-7", "alert_id": 5}')
        error = await next_frame(ws, p.Error)
        assert (error.code, error.command_id, error.fatal) == ("bad_frame", "cmd-7", False)
        await ws.send('{"type": "ack", "alert_id": 5}')  # no command_id to name
        error = await next_frame(ws, p.Error)
        assert error.command_id is None
        await still_open(ws)


async def test_a_console_drops_a_command_the_server_cannot_read_from_its_outbox(
    server: ServerProcess, tmp_path: Path
) -> None:
    """The wall's own client (FeedClient) acts on the error's command_id: it
    resolves the command as rejected instead of resending it forever."""
    async with follower(tmp_path / "console.sqlite3", settings(server.url, token=CONSOLE)) as feed:
        await wait_client(feed, lambda: feed.status.state is FeedState.LIVE, what="live")
        # An outbox row an older version wrote that this server cannot read.
        await feed.journal.outbox_add("old-cmd-1", "ack", b'{"type": "ack", "command_id": "old-cmd-1"}')
        await feed._resend_outbox(feed._cmd_ws)
        await wait_client(feed, lambda: feed.counters.commands_resolved == 1, what="the command resolved")
        assert not await feed.journal.outbox_pending()


async def test_a_second_hello_is_an_error_and_the_connection_stays(server: ServerProcess) -> None:
    async with websockets.connect(server.url, **CONN) as ws:
        await greet(ws)
        await ws.send(p.encode(p.Hello(token=WALL, client_id="again")).decode())
        error = await next_frame(ws, p.Error)
        assert (error.code, error.fatal) == ("unexpected_hello", False)
        await still_open(ws)


async def test_a_command_the_role_may_not_send_is_rejected_and_the_connection_stays(
    server: ServerProcess,
) -> None:
    async with websockets.connect(server.url, **CONN) as ws:
        await greet(ws, token=WALL)
        cid = uuid.uuid4().hex
        await ws.send(command(p.Acknowledge, cid, alert_id="al-x"))
        result = await next_frame(ws, p.CommandResult)
        assert (result.command_id, result.status) == (cid, "rejected")
        assert result.reason == "role wall may not ack"
        await still_open(ws)  # no 4403 close


# --- commands ---------------------------------------------------------------------


async def test_acknowledging_an_unknown_alert_is_rejected_and_nothing_is_appended(
    server: ServerProcess,
) -> None:
    async with websockets.connect(server.url, **CONN) as ws:
        welcome = await greet(ws, token=CONSOLE)
        await ws.send(command(p.Acknowledge, alert_id="al-nowhere"))
        result = await next_frame(ws, p.CommandResult)
        assert result.status == "rejected" and result.reason == "alert_id al-nowhere: no such alert"
        beat = await next_frame(ws, p.Heartbeat)
        assert beat.head_seq == welcome.head_seq


async def test_ack_id_is_the_command_id_the_time_is_the_servers_and_a_resend_names_the_first_seq(
    server: ServerProcess,
) -> None:
    alert_id = f"al-{uuid.uuid4().hex[:8]}"
    raised = dt.datetime.now(dt.UTC)
    await admin_inject(
        server.url,
        [p.AlertRaised(alert=Alert(id=alert_id, kind="system", priority="high", raised_at=raised))],
    )
    console_time = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
    cid = uuid.uuid4().hex
    async with websockets.connect(server.url, **CONN) as ws:
        await greet(ws, token=CONSOLE, console="meja-1")
        await ws.send(command(p.Acknowledge, cid, alert_id=alert_id, at=console_time))
        # The event goes to every client, the result to the sender: either may come first.
        result, event = None, None
        while result is None or event is None:
            frame = await next_frame(ws, p.CommandResult, p.Event)
            if isinstance(frame, p.CommandResult):
                result = frame
            elif isinstance(frame.body, p.AlertAcknowledged):
                event = frame
        assert result.status == "applied" and result.seq is not None
        assert isinstance(event.body, p.AlertAcknowledged)
        assert event.seq == result.seq
        assert event.body.ack.ack_id == cid
        assert event.body.ack.at != console_time and event.body.ack.at >= raised
        # The console resends it (it never saw the result): duplicate, same seq.
        await ws.send(command(p.Acknowledge, cid, alert_id=alert_id, at=console_time))
        again = await next_frame(ws, p.CommandResult)
        assert (again.status, again.seq) == ("duplicate", result.seq)
        # Another console takes the same alert later: the first ack stands.
        other = uuid.uuid4().hex
        await ws.send(command(p.Acknowledge, other, alert_id=alert_id))
        late = await next_frame(ws, p.CommandResult)
        assert (late.command_id, late.status, late.seq) == (other, "duplicate", None)
        assert late.reason == "alert already acknowledged"


async def test_server_id_changes_at_every_start_and_the_epoch_does_not(tmp_path: Path) -> None:
    ids, epochs = [], []
    for _ in range(2):
        proc = ServerProcess(tmp_path / "server.sqlite3").start()
        try:
            async with websockets.connect(proc.url, **CONN) as ws:
                welcome = await greet(ws, software="docs-test 1")
                ids.append(welcome.server_id)
                epochs.append(welcome.epoch)
        finally:
            proc.stop()
    assert ids[0] != ids[1]
    assert epochs[0] == epochs[1]


# --- protocol 1.1 -----------------------------------------------------------------


async def test_the_welcome_names_the_revision_a_hello_offered(server: ServerProcess) -> None:
    for offered, expected in (
        ([], "1.0"),
        (["1.0"], "1.0"),
        (["1.0", "1.1"], "1.1"),
        (["1.1", "9.9"], "1.1"),
    ):
        async with websockets.connect(server.url, **CONN) as ws:
            welcome = await greet(ws, protocols=offered)
            assert welcome.protocol == expected, offered


@pytest.mark.slow
async def test_v1_0_and_v1_1_walls_side_by_side_receive_the_same_events(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "server.sqlite3", heartbeat=0.3).start()
    try:
        await admin_inject(proc.url, incident_bodies(500, "before"))
        async with (
            follower(
                tmp_path / "v10.sqlite3", settings(proc.url, client_id="v10", protocols=("1.0",))
            ) as old,
            follower(tmp_path / "v11.sqlite3", settings(proc.url, client_id="v11")) as new,
        ):
            for feed in (old, new):
                await wait_client(feed, lambda f=feed: f.status.state is FeedState.LIVE, what="live")
            head = await admin_inject(proc.url, incident_bodies(3000, "during"))
            for feed in (old, new):
                await wait_client(feed, lambda f=feed: f.store.seq == head, what="at head")
            assert old.welcome is not None and old.welcome.protocol == "1.0"
            assert new.welcome is not None and new.welcome.protocol == "1.1"
    finally:
        proc.stop()
    server_events = export(tmp_path / "server.sqlite3")
    walls = [export(tmp_path / f"{name}.sqlite3") for name in ("v10", "v11")]
    for events in walls:
        assert_contiguous(events)
        assert_same_events(events, server_events)
    assert [(e["seq"], e["event"]) for e in walls[0]] == [(e["seq"], e["event"]) for e in walls[1]]


async def test_a_1_1_client_gets_events_frames_and_a_1_0_client_never_does(server: ServerProcess) -> None:
    seen: dict[str, set[str]] = {}
    async with (
        websockets.connect(server.url, **CONN) as ws10,
        websockets.connect(server.url, **CONN) as ws11,
    ):
        start = (await greet(ws10)).head_seq
        await greet(ws11, protocols=["1.0", "1.1"])
        head = await admin_inject(server.url, incident_bodies(1500, f"b{uuid.uuid4().hex[:4]}"))
        for name, ws in (("1.0", ws10), ("1.1", ws11)):
            types: set[str] = set()
            seqs: list[int] = []
            async with asyncio.timeout(30):
                while not seqs or seqs[-1] < head:
                    raw = await ws.recv()
                    frame = p.decode_server_frame(raw)
                    types.add(type(frame).__name__)
                    if isinstance(frame, p.Events):
                        # Each element is exactly an event frame on its own.
                        assert [bytes(x) for x in p.split_events(raw) or []] == [
                            p.encode(e) for e in frame.events
                        ]
                        seqs += [e.seq for e in frame.events]
                    elif isinstance(frame, p.Event):
                        seqs.append(frame.seq)
            assert seqs == list(range(start + 1, head + 1)), name
            seen[name] = types
    assert "Events" not in seen["1.0"]
    assert "Events" in seen["1.1"]


# --- the start-up burst (issue 13, item 5) ------------------------------------------


async def test_a_wall_connected_during_the_start_up_burst_is_not_cut_off(tmp_path: Path) -> None:
    """A server that starts writes its simulator's first burst (over 1,200 events
    here, ~12,000 in a large configuration) at once: with a send queue of 40 a
    wall already connected would overflow at once unless the burst is paced."""
    srv = DispatchServer(
        ServerSettings(
            host="127.0.0.1",
            port=0,
            db_path=str(tmp_path / "server.sqlite3"),
            tokens=[TokenGrant(WALL, "wall")],
            send_queue_limit=40,
            scenario="mixed",
            heartbeat_interval_s=0.3,
        )
    )
    # As many events as the simulator writes at its start (the same seed).
    burst = len(Simulator(scenario="mixed", rate_per_min=6.0, seed=112, start=utcnow()).initial_bodies())
    assert burst > 4 * 40
    await srv.start()
    try:
        # The simulator's first append waits until the wall is in.
        await srv._append_lock.acquire()
        async with follower(tmp_path / "wall.sqlite3", settings(srv.url)) as feed:
            await wait_client(feed, lambda: feed.status.state is FeedState.LIVE, what="wall live")
            srv._append_lock.release()
            await wait_client(
                feed, lambda: feed.store.seq >= burst, timeout=120, what="the burst at the wall"
            )
            assert feed.last_close is None, feed.last_close
            assert feed.counters.reconnects == 0
        assert srv.stats["too_slow"] == 0
    finally:
        await srv.close()


# --- the document itself ----------------------------------------------------------------


def _close_table() -> dict[int, str]:
    section = DOC.split("## Errors and close codes", 1)[1].split("\n## ", 1)[0]
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d{4}) \| (.*)$", section, re.M)}


def test_every_close_code_the_server_uses_is_in_the_table_and_no_other() -> None:
    used = {v for k, v in vars(server_module).items() if k.startswith("CLOSE_") and isinstance(v, int)}
    used |= {1009}  # websockets' own, for a frame over max_size
    table = _close_table()
    assert set(table) == used | {1000, 1001}
    assert 4403 not in table


def test_every_error_code_the_server_sends_is_documented() -> None:
    source = Path(server_module.__file__).read_text(encoding="utf-8")
    codes = set(re.findall(r'code="([a-z_]+)"', source)) | set(
        re.findall(r'CLOSE_[A-Z_]+, "([a-z_]+)"', source)
    )
    assert {"binary_frame", "frame_too_big", "rate_limited", "bad_frame", "unexpected_hello"} <= codes
    section = DOC.split("## Errors and close codes", 1)[1].split("\n## ", 1)[0]
    missing = sorted(c for c in codes if f"`{c}`" not in section)
    assert not missing, f"error codes not in docs/protocol.md: {missing}"
    assert "`fatal`" in section and "`command_id`" in section


def test_the_limits_in_the_document_are_the_servers() -> None:
    section = DOC.split("## Limits", 1)[1].split("\n## ", 1)[0]
    figures = {
        "hello": ServerSettings().hello_timeout_s,
        "rate": default_of(ServeConfig, "client_rate_per_s"),
        "burst": default_of(ServeConfig, "client_burst"),
        "queue": default_of(ServeConfig, "send_queue_limit"),
        "connections": default_of(ServeConfig, "max_connections"),
    }
    for name, value in figures.items():
        shown = f"{value:,.0f}" if float(value) == int(value) else f"{value}"
        assert shown in section, f"{name}: {shown} not in the Limits section"
    assert "1 MiB" in section and "ping" in section.lower()


def test_the_funnel_rules_and_an_earlier_days_funnel_are_as_documented() -> None:
    assert "answered + abandoned ≤ calls_in" in DOC and "prank + ghost + valid + info ≤ answered" in DOC
    day = dt.date(2026, 11, 27)
    ok: dict[str, Any] = dict(
        day=day, calls_in=10, answered=8, abandoned=2, prank=2, ghost=2, valid=3, info=1
    )
    CallFunnel(**ok)
    with pytest.raises(ModelError):
        CallFunnel(**{**ok, "abandoned": 3})
    with pytest.raises(ModelError):
        CallFunnel(**{**ok, "info": 2})
    store = Store()
    now = dt.datetime(2026, 11, 27, 3, tzinfo=dt.UTC)
    events = [
        p.Event(
            epoch="e",
            seq=i + 1,
            id=f"f{i}",
            ts=now,
            body=p.FunnelUpdated(funnel=CallFunnel(**{**ok, "day": d})),
        )
        for i, d in enumerate([day, day - dt.timedelta(days=1)])
    ]
    store.apply_many(events)
    assert store.funnel is not None and store.funnel.day == day  # the earlier day is ignored


def test_the_python_validation_recipe_refuses_a_time_without_an_offset(tmp_path: Path) -> None:
    block = DOC.split("## Validating with the schema", 1)[1].split("```", 2)[1]
    line = next(x for x in block.splitlines() if x.startswith("python "))
    line = line.rstrip("\\").strip() + " oki112-protocol-v1.schema.json frame.json"
    schema = subprocess.run(
        [sys.executable, "-m", "commandcenter.cli", "schema"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (tmp_path / "oki112-protocol-v1.schema.json").write_text(schema)
    argv = shlex.split(line)
    argv[0] = sys.executable
    ping = '{"type": "pong", "nonce": "x", "server_time": "%s"}'
    results = {}
    for when in ("2026-11-27T03:00:00Z", "2026-11-27T03:00:00"):
        (tmp_path / "frame.json").write_text(ping % when)
        results[when] = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True).returncode
    assert results == {"2026-11-27T03:00:00Z": 0, "2026-11-27T03:00:00": 1}
    assert "ajv-formats" in block and "-c ajv-formats" in block


def test_the_document_states_what_the_issue_found_missing() -> None:
    for phrase in (
        "ack_id",  # = command_id
        "`at` is the server's",
        "same `seq`",
        "server_id",
        "`console`",
        "`software`",
        "part 0",
        "Binary frames",
        "second `hello`",
        "`ping`",
        "`events`",
        "`protocols`",
    ):
        assert phrase in DOC, phrase
    assert ADMIN  # the admin token is what `inject` needs (see serverproc)
