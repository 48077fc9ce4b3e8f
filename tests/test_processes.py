"""Every process either runs or exits non-zero with one clear line.

Exit 0 means a requested stop and nothing else: the supervisor and systemd
(Restart=on-failure) restart only what fails, so a process that exits 0 after a
failure, or hangs, is never brought back. Real subprocesses throughout: the
engine CLI, the Qt CLI, the real reference server on loopback, real journals,
and small tmpfs mounts for a full disk (root only; skipped elsewhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from commandcenter.core import protocol as p
from tests.conftest import ROOT
from tests.factories import make_incident
from tests.serverproc import ServerProcess, admin_inject

#: The brief's bound for a process told something impossible.
EXIT_WITHIN_S = 5.0
ENGINE = [sys.executable, "-m", "commandcenter.cli"]
FULL = [sys.executable, "-m", "ui.app.cli"]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, COMMANDCENTER_CONFIG="", PYTHONUNBUFFERED="1", QTWEBENGINE_DISABLE_SANDBOX="1")
    env.pop("COMMANDCENTER_TOKEN", None)
    env.update(extra)
    return env


def run(
    cmd: list[str], timeout: float = 60.0, **extra: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    out = subprocess.run(cmd, cwd=ROOT, env=_env(**extra), capture_output=True, text=True, timeout=timeout)
    return out, time.monotonic() - started


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    """A loopback port somebody else listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def eng(*args: str) -> list[str]:
    return [*ENGINE, *args]


def full(*args: str) -> list[str]:
    return [*FULL, *args]


def _cases(tmp: Path, busy: int) -> dict[str, tuple[list[str], int, str]]:
    """name -> (command, exit code, what the one stderr line says)."""
    bad_pem = str(tmp / "bad.pem")
    Path(bad_pem).write_text("not a certificate\n")
    bad_config = tmp / "bad.toml"
    bad_config.write_text("config_version = 1\n[serve]\nport = -1\n")
    cfg = str(bad_config)
    garbage = tmp / "garbage.sqlite3"
    garbage.write_bytes(b"\x00not sqlite" * 500)
    inject_file = tmp / "bodies.json"
    inject_file.write_text("[]")
    open_token = tmp / "token-0644"
    open_token.write_text("rahasia\n")
    open_token.chmod(0o644)
    db = str(tmp / "db.sqlite3")
    no_pem, no_key = str(tmp / "no.pem"), str(tmp / "no.key")
    nowhere = "ws://127.0.0.1:9/"  # the discard port: nobody answers
    serve = ("serve", "--db", db, "--port")
    return {
        "serve-port-in-use": (eng(*serve, str(busy)), 1, "cannot listen on"),
        "serve-tls-missing": (
            eng(*serve, "0", "--tls-cert", no_pem, "--tls-key", no_key),
            2,
            f"TLS certificate {no_pem}: No such file",
        ),
        "serve-tls-garbage": (
            eng(*serve, "0", "--tls-cert", bad_pem, "--tls-key", bad_pem),
            2,
            "cannot be used",
        ),
        "serve-demo-tokens-off-loopback": (
            eng(*serve, "0", "--host", "0.0.0.0"),
            2,
            "refusing to serve the public demo",
        ),
        "serve-bad-config": (eng("serve", "--db", db, "--config", cfg), 2, "config error"),
        "serve-db-is-a-directory": (eng("serve", "--db", str(tmp), "--port", "0"), 1, "Is a directory"),
        "follow-db-is-a-directory": (
            eng("follow", "--db", str(tmp), "--server", nowhere),
            1,
            "Is a directory",
        ),
        # A URL that can never work is a bad argument, not a server that is away: no retrying forever.
        "follow-server-not-a-url": (
            eng("follow", "--db", db, "--server", "notaurl"),
            2,
            "'notaurl' must start with ws:// or wss://",
        ),
        "follow-server-list-empty": (eng("follow", "--db", db, "--server", ","), 2, "no server URL"),
        "inject-server-not-a-url": (
            eng("inject", "--server", "http://127.0.0.1:9/", str(inject_file)),
            2,
            "must start with ws:// or wss://",
        ),
        "wall-server-not-a-url": (
            full("wall", "--headless", "--server", "ws://127.0.0.1:9/,wss://"),
            2,
            "'wss://' names no host",
        ),
        "follow-token-file-missing": (
            eng("follow", "--db", db, "--token-file", str(tmp / "no")),
            2,
            "No such file",
        ),
        "follow-token-file-readable-by-others": (
            eng("follow", "--db", db, "--token-file", str(open_token)),
            2,
            "readable by other users",
        ),
        "inject-file-missing": (
            eng("inject", "--server", nowhere, str(tmp / "none.json")),
            2,
            "No such file",
        ),
        "inject-no-token": (eng("inject", "--server", nowhere, str(inject_file)), 2, "no token"),
        "inject-server-unreachable": (
            eng("inject", "--server", nowhere, "--timeout", "2", str(inject_file)),
            1,
            f"inject: {nowhere}",
        ),
        "journal-stats-missing": (
            eng("journal", "stats", "--db", str(tmp / "no.db")),
            1,
            "no such journal file",
        ),
        "journal-stats-garbage": (eng("journal", "stats", "--db", str(garbage)), 1, "not a journal"),
        "doctor-bad-config": (eng("doctor", "--config", cfg), 1, ""),
        "wall-bad-config": (full("wall", "--headless", "--config", cfg), 2, "config error"),
        "demo-bad-argument": (full("demo", "--speed", "fast"), 2, "invalid float value"),
    }


CASE_NAMES = [
    "serve-port-in-use", "serve-tls-missing", "serve-tls-garbage", "serve-demo-tokens-off-loopback",
    "serve-bad-config", "serve-db-is-a-directory", "follow-db-is-a-directory", "follow-server-not-a-url",
    "follow-server-list-empty", "inject-server-not-a-url", "wall-server-not-a-url",
    "follow-token-file-missing", "follow-token-file-readable-by-others", "inject-file-missing",
    "inject-no-token", "inject-server-unreachable", "journal-stats-missing", "journal-stats-garbage",
    "doctor-bad-config", "wall-bad-config", "demo-bad-argument",
]  # fmt: skip


@pytest.mark.parametrize("name", CASE_NAMES)
def test_a_process_told_something_impossible_exits_non_zero_within_5_s(
    tmp_path: Path, busy_port: int, name: str
) -> None:
    cmd, code, says = _cases(tmp_path, busy_port)[name]
    inject_token = {"COMMANDCENTER_TOKEN": "demo-admin"} if name == "inject-server-unreachable" else {}
    out, took = run(cmd, timeout=60, **inject_token)
    assert out.returncode == code, (out.returncode, out.stdout[-2000:], out.stderr[-2000:])
    assert took < EXIT_WITHIN_S, f"{name} took {took:.1f} s to exit"
    assert "Traceback" not in out.stderr, out.stderr
    if says:
        lines = [line for line in out.stderr.splitlines() if says in line]
        assert lines, out.stderr
    if name == "serve-tls-missing":
        # Nothing was opened before the check: no journal made for nothing.
        assert not (tmp_path / "db.sqlite3").exists()


def test_the_process_cases_are_all_listed(tmp_path: Path) -> None:
    assert sorted(_cases(tmp_path, 1)) == sorted(CASE_NAMES)


# --- follow: a full disk, a damaged journal ---------------------------------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"mount not permitted here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _bodies(n: int, prefix: str) -> list[p.EventBody]:
    text = "Banjir di desa, air setinggi pinggang; warga mengungsi ke balai desa. " * 12
    return [
        p.IncidentUpserted(
            incident=make_incident(id=f"{prefix}-{i}", ticket=f"T-{prefix}-{i}", description=text)
        )
        for i in range(n)
    ]


@pytest.fixture
def loaded_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real server whose state is ~3 MB: more than the 1 MB disk holds."""
    server = ServerProcess(tmp_path / "server.sqlite3").start()
    try:
        asyncio.run(admin_inject(server.url, _bodies(3000, "big")))
        yield server
    finally:
        server.stop()


def test_follow_on_a_full_disk_exits_non_zero_with_one_line(
    small_fs: Path, loaded_server: ServerProcess
) -> None:
    db = small_fs / "journal.sqlite3"
    cmd = eng("follow", "--db", str(db), "--server", loaded_server.url)
    out, took = run(cmd, timeout=120, COMMANDCENTER_TOKEN="demo-wall")
    assert out.returncode == 1, (out.stdout[-2000:], out.stderr[-3000:])
    assert f"journal: disk full at {db}" in out.stderr, out.stderr[-3000:]
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert took < 60


def test_follow_heals_a_damaged_journal_and_resyncs_from_the_server(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server.sqlite3").start()
    db = tmp_path / "follow.sqlite3"
    cmd = eng("--log-level", "WARNING", "follow", "--db", str(db), "--server", server.url, "--exit-when-live")
    try:
        head = asyncio.run(admin_inject(server.url, _bodies(400, "a")))
        first, _ = run(cmd, COMMANDCENTER_TOKEN="demo-wall")
        assert first.returncode == 0, first.stderr
        assert f"DONE epoch={server.epoch} seq={head}" in first.stdout

        # 1. The newest snapshot does not load; the older one (the server's) does.
        with contextlib.closing(sqlite3.connect(db)) as con:
            con.execute(
                "UPDATE snapshots SET data = x'00ff00' WHERE rowid = (SELECT max(rowid) FROM snapshots)"
            )
            con.commit()
        head = asyncio.run(admin_inject(server.url, _bodies(50, "b")))
        second, _ = run(cmd, COMMANDCENTER_TOKEN="demo-wall")
        assert second.returncode == 0, second.stderr
        assert "could not be loaded" in second.stderr and "restored from snapshot" in second.stderr
        assert f"DONE epoch={server.epoch} seq={head}" in second.stdout
        assert not list(tmp_path.glob("follow.sqlite3.damaged-*"))

        # 2. Cut short: moved aside, a fresh journal, everything again from the server.
        size = db.stat().st_size
        with db.open("r+b") as fh:
            fh.truncate(size // 3)
        third, _ = run(cmd, COMMANDCENTER_TOKEN="demo-wall")
        assert third.returncode == 0, third.stderr
        assert "Moved it aside" in third.stderr and str(db) in third.stderr
        assert f"DONE epoch={server.epoch} seq={head}" in third.stdout
        copies = [
            c for c in tmp_path.glob("follow.sqlite3.damaged-*") if not c.name.endswith(("-wal", "-shm"))
        ]
        assert len(copies) == 1
    finally:
        server.stop()


def test_a_wall_that_cannot_write_its_journal_exits_non_zero_with_a_log_line(
    tmp_path: Path, small_fs: Path, loaded_server: ServerProcess
) -> None:
    """The issue's wall: it failed at its journal snapshot and exited 0 without
    a word, so nothing restarted it."""
    config = tmp_path / "wall.toml"
    journal = small_fs / "wall-journal.sqlite3"
    config.write_text(
        f'config_version = 1\n[journal]\npath = "{journal}"\n[logging]\ndir = "{tmp_path / "logs"}"\n'
        "[speech]\nenabled = false\n"
    )
    out, _ = run(
        full(
            "wall", "--no-supervisor", "--headless", "--config", str(config), "--server", loaded_server.url,
            "--token-file", str(_private_token(tmp_path)), "--operator", "Sari",
            "--data-dir", str(tmp_path / "data"), "--run-for", "90",
        ),
        timeout=150,
    )  # fmt: skip
    assert out.returncode == 1, (out.returncode, out.stderr[-3000:])
    assert f"journal: disk full at {journal}" in out.stderr, out.stderr[-3000:]
    log_text = (tmp_path / "logs" / "wall.log").read_text()
    assert f"disk full at {journal}" in log_text


def _private_token(tmp_path: Path) -> Path:
    token = tmp_path / "token"
    token.write_text("demo-console\n")
    token.chmod(0o600)
    return token


# --- the server's connection cap ------------------------------------------------------------


def test_connections_over_the_cap_are_refused_with_1013_and_one_log_line(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text("config_version = 1\n[serve]\nmax_connections = 3\n")
    server = ServerProcess(tmp_path / "server.sqlite3", extra=["--config", str(config)]).start()

    async def scenario() -> tuple[list[int], bool]:
        held = [await websockets.connect(server.url, proxy=None) for _ in range(3)]
        codes: list[int] = []
        try:
            for _ in range(40):
                ws = await websockets.connect(server.url, proxy=None)
                with contextlib.suppress(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                codes.append(ws.close_code or 0)
            # Below the cap again: a client gets its welcome.
            await held.pop().close()
            async with websockets.connect(server.url, proxy=None) as ws:
                await ws.send(p.encode(p.Hello(token="demo-wall", client_id="after-cap")).decode())
                welcomed = isinstance(p.decode_server_frame(await asyncio.wait_for(ws.recv(), 10)), p.Welcome)
        finally:
            for ws in held:
                await ws.close()
        return codes, welcomed

    try:
        codes, welcomed = asyncio.run(scenario())
    finally:
        server.stop()
    assert codes == [1013] * 40
    assert welcomed
    log_text = server.log_path.read_text()
    refused = [line for line in log_text.splitlines() if "connection refused" in line]
    assert len(refused) == 1, log_text[-3000:]
    assert "serve.max_connections = 3" in refused[0]
    assert "Traceback" not in log_text


def test_out_of_file_descriptors_the_server_logs_one_line_not_a_traceback_per_accept(tmp_path: Path) -> None:
    """At a low descriptor limit every accept fails with EMFILE: asyncio would
    log each with a traceback (73,500 of them in 15 s were seen)."""
    import resource

    log_path = tmp_path / "server.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            eng("serve", "--db", str(tmp_path / "server.sqlite3"), "--port", "0"),
            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=log_file, text=True,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40)),
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().split()[1]

            async def flood() -> bool:
                async def one() -> Any:
                    with contextlib.suppress(OSError, TimeoutError, websockets.InvalidHandshake):
                        return await websockets.connect(url, proxy=None, open_timeout=3)
                    return None

                held = [ws for ws in await asyncio.gather(*(one() for _ in range(150))) if ws is not None]
                assert len(held) < 150, "the limit was not reached: the test proves nothing"
                for ws in held:
                    await ws.close()
                # Descriptors free again: the server serves as before.
                async with websockets.connect(url, proxy=None, open_timeout=10) as ws:
                    await ws.send(p.encode(p.Hello(token="demo-wall", client_id="after-emfile")).decode())
                    frame = p.decode_server_frame(await asyncio.wait_for(ws.recv(), 10))
                    return isinstance(frame, p.Welcome)

            assert asyncio.run(flood())
        finally:
            proc.terminate()
            proc.wait(15)
            if proc.stdout:
                proc.stdout.close()
    text = log_path.read_text()
    assert "Traceback" not in text, text[-3000:]
    lines = [line for line in text.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, text[-3000:]
    assert "cannot accept connections: Too many open files" in lines[0]


def test_serve_on_a_full_disk_exits_non_zero_instead_of_running_without_its_log(small_fs: Path) -> None:
    """The simulator cannot append any more: a server that goes on would
    heartbeat forever over a history that stopped."""
    db = small_fs / "server.sqlite3"
    cmd = eng(
        "serve", "--db", str(db), "--port", "0", "--scenario", "flood", "--speed", "3600", "--rate", "60"
    )
    out, took = run(cmd, timeout=120)
    assert out.returncode == 1, (out.stdout[-1000:], out.stderr[-3000:])
    assert f"serve: simulator failed: JournalError: journal: disk full at {db}" in out.stderr
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert took < 60


def test_the_cap_and_accept_lines_come_at_most_once_a_minute_with_a_count(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The process test above sees the first line; this one the next minute's
    (the server's own monotonic clock replaced by a fake one)."""
    import types

    from commandcenter.refserver import server as server_module

    now = [1000.0]
    monkeypatch.setattr(server_module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    server = server_module.DispatchServer(server_module.ServerSettings())
    caplog.set_level(logging.WARNING, logger=server_module.log.name)
    for second in range(120):  # two refused connections a second for two minutes
        now[0] = 1000.0 + second
        for _ in range(2):
            server._quiet_log("cap", "connection refused: %d open, serve.max_connections = %d", 3, 3)
    server._quiet_log("accept", "cannot accept connections: %s (raise the fd limit)", "Too many open files")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "connection refused: 3 open, serve.max_connections = 3 (1 times in the last minute)",
        "connection refused: 3 open, serve.max_connections = 3 (120 times in the last minute)",
        "cannot accept connections: Too many open files (raise the fd limit) (1 times in the last minute)",
    ]
