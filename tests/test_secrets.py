"""Secrets stay secret: private files, tokens never on a command line or in a log.

Token files and their refusals, the supervisor handing the token to the wall
through the environment (a real supervisor and a real wall: the child's argv
and the supervisor's log are read back, its environment through psutil),
journal files created 0600, the server comparing tokens in constant time over
every grant, and the demo tokens refused off loopback (a real server process).
"""

from __future__ import annotations

import hmac
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from commandcenter.ops.secrets import TokenError, read_token_file, strip_token_args
from commandcenter.refserver.server import DispatchServer, ServerSettings, TokenGrant
from commandcenter.storage.journal import Journal
from tests.conftest import ROOT
from tests.waits import wait_for

SECRET = "rahasia-7f3a9c"


def _env() -> dict[str, str]:
    env = dict(os.environ, COMMANDCENTER_CONFIG="", PYTHONUNBUFFERED="1", QTWEBENGINE_DISABLE_SANDBOX="1")
    env.pop("COMMANDCENTER_TOKEN", None)
    return env


# --- token files ------------------------------------------------------------------------------


def test_a_private_token_file_gives_its_first_line(tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text(f"  {SECRET}  \nsecond line ignored\n")
    f.chmod(0o600)
    assert read_token_file(f) == SECRET


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        (SECRET, 0o644, "readable by other users"),
        (SECRET, 0o640, "readable by other users"),
        ("\n\n", 0o600, "is empty"),
        (None, 0o600, "No such file"),
        ("x" * 300, 0o600, "longer than 256"),
    ],
)
def test_a_token_file_that_cannot_be_trusted_is_refused(
    tmp_path: Path, content: str | None, mode: int, message: str
) -> None:
    f = tmp_path / "token"
    if content is not None:
        f.write_text(content)
        f.chmod(mode)
    with pytest.raises(TokenError, match=message):
        read_token_file(f)


def test_the_token_is_taken_out_of_a_command_line() -> None:
    argv = ["wall", "--headless", "--token", SECRET, "--data-dir", "/d"]
    assert strip_token_args(argv) == (["wall", "--headless", "--data-dir", "/d"], SECRET)
    assert strip_token_args(["wall", f"--token={SECRET}"]) == (["wall"], SECRET)
    assert strip_token_args(["wall", "--token-file", "/etc/t"]) == (["wall", "--token-file", "/etc/t"], None)


def test_token_on_the_command_line_warns_and_token_file_does_not(tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text(SECRET)
    f.chmod(0o600)
    bodies = tmp_path / "bodies.json"
    bodies.write_text("[]")
    base = [
        sys.executable,
        "-m",
        "commandcenter.cli",
        "inject",
        "--server",
        "ws://127.0.0.1:9/",
        "--timeout",
        "1",
    ]
    warned = subprocess.run(
        [*base, "--token", SECRET, str(bodies)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "--token is visible to every user" in warned.stderr
    quiet = subprocess.run(
        [*base, "--token-file", str(f), str(bodies)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "visible to every user" not in quiet.stderr
    # It got as far as the (unreachable) server: the token was accepted.
    assert quiet.returncode == 1 and "inject: ws://127.0.0.1:9/" in quiet.stderr
    for out in (warned, quiet):
        assert SECRET not in out.stderr and SECRET not in out.stdout


# --- the supervisor passes the token by environment ---------------------------------------------


def test_the_supervisor_gives_the_wall_its_token_by_environment_never_argv_or_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sup = subprocess.Popen(
        [sys.executable, "-m", "ui.app.cli", "wall", "--headless", "--server", "ws://127.0.0.1:9/",
         "--token", SECRET, "--operator", "Sari", "--data-dir", str(data), "--run-for", "60"],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    log = data / "logs" / "supervisor.log"
    try:
        started = wait_for(
            lambda: log.exists() and re.search(r"wall started \(pid (\d+)", log.read_text()),
            60, "the supervised wall", proc=sup,
        )  # fmt: skip
        child = psutil.Process(int(started.group(1)))
        assert SECRET not in " ".join(child.cmdline())
        assert child.environ().get("COMMANDCENTER_TOKEN") == SECRET
    finally:
        sup.send_signal(signal.SIGTERM)
        out, err = sup.communicate(timeout=60)
    # 0, or 143 when the stop reached the wall before its own handler was up.
    assert sup.returncode in (0, 128 + signal.SIGTERM), err[-3000:]
    assert SECRET not in log.read_text()
    assert "--supervised" in log.read_text()
    wall_log = data / "logs" / "wall.log"
    assert not wall_log.exists() or SECRET not in wall_log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert SECRET not in out + err


# --- files --------------------------------------------------------------------------------------


async def test_a_journal_and_its_wal_are_created_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "new-dir" / "wall-journal.sqlite3"
        async with await Journal.open(path) as j:
            await j.meta_set("k", "v")
            modes = {
                p.name: stat.S_IMODE(p.stat().st_mode)
                for p in path.parent.iterdir()
            }
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert modes.get("wall-journal.sqlite3") == 0o600
    assert set(modes.values()) == {0o600}, modes


async def test_an_existing_world_readable_journal_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "wall-journal.sqlite3"
    async with await Journal.open(path) as j:
        await j.meta_set("k", "v")
    path.chmod(0o644)
    async with await Journal.open(path) as j:
        assert await j.meta_get("k") == "v"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- the server ------------------------------------------------------------------------------------


def test_token_comparison_is_constant_time_over_every_grant(monkeypatch: pytest.MonkeyPatch) -> None:
    grants = [TokenGrant(f"token-{i}", "wall", f"w{i}") for i in range(5)]
    server = DispatchServer(ServerSettings(tokens=grants))
    calls: list[bytes] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(a)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    for grant in grants:
        calls.clear()
        assert server._grant_for(grant.token) is grant
        # No early exit: the first grant costs what the last one does.
        assert len(calls) == len(grants)
    calls.clear()
    assert server._grant_for("token-") is None and server._grant_for("") is None
    assert len(calls) == 2 * len(grants)


@pytest.mark.parametrize(
    ("extra", "config", "served"),
    [
        ([], "", False),
        (["--allow-demo-tokens"], "", True),
        ([], "[serve]\nallow_demo_tokens = true\n", True),
        (["--host", "127.0.0.1"], "", True),
    ],
)
def test_demo_tokens_are_refused_off_loopback_unless_allowed(
    tmp_path: Path, extra: list[str], config: str, served: bool
) -> None:
    cfg = tmp_path / "serve.toml"
    cfg.write_text("config_version = 1\n" + config)
    host = [] if "--host" in extra else ["--host", "0.0.0.0"]
    out = subprocess.run(
        [sys.executable, "-m", "commandcenter.cli", "serve", "--db", str(tmp_path / "s.sqlite3"),
         "--port", "0", "--config", str(cfg), *host, *extra, "--run-for", "0.2"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if served:
        assert out.returncode == 0 and out.stdout.startswith("LISTENING "), out.stderr
    else:
        assert out.returncode == 2
        assert (
            "refusing to serve the public demo tokens (demo-wall, demo-console, demo-admin) on 0.0.0.0"
            in (out.stderr)
        )
        assert "LISTENING" not in out.stdout
