"""The reference server's memory stays bounded when it runs for months (issue 13):
closed incidents leave its store on the server's own clock (simulated time with
the simulator at a speed) and are forgotten, not kept a day for figures the
server never reads; the retention comes from [serve] in the configuration."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from commandcenter.cli import build_parser
from commandcenter.cli.runner import serve_main, server_settings_from
from commandcenter.core import protocol as p
from commandcenter.core.model import Alert
from commandcenter.core.timeutil import utcnow
from commandcenter.refserver.server import DispatchServer, ServerSettings
from tests.conftest import ROOT


async def test_closed_incidents_are_pruned_on_the_simulated_clock_and_forgotten(tmp_path: Path) -> None:
    # One simulated hour a real second: housekeeping every 10 simulated minutes is
    # every 1/6 s. On real time (as before) the first prune came after 600 s.
    settings = ServerSettings(
        host="127.0.0.1",
        port=0,
        db_path=str(tmp_path / "server.sqlite3"),
        scenario="normal",
        speed=3600.0,
        rate_per_min=1.0,
        sim_tick_s=0.05,
        keep_closed_s=600.0,
        housekeeping_interval_s=600.0,
        heartbeat_interval_s=3600.0,
    )
    server = DispatchServer(settings)
    removed: set[str] = set()
    pruned = asyncio.Event()
    real_prune = server.store.prune

    def prune(*args: Any, **kwargs: Any) -> Any:
        cs = real_prune(*args, **kwargs)
        if cs.incidents_removed:
            removed.update(cs.incidents_removed)
            pruned.set()
        return cs

    server.store.prune = prune  # type: ignore[method-assign]
    await server.start()
    try:
        async with asyncio.timeout(120):  # a guard: it takes a few seconds
            await pruned.wait()
        # Forgotten at once: nothing waits in retired for the figures.
        assert server.store.retired == {}
        assert server.store.to_state().retired == []
        gone = sorted(removed - set(server.store.incidents))
        assert gone
        # Commands may still name a pruned incident (an alert acknowledged late).
        assert all(server._incident_known(key) for key in gone)
        alert = Alert(
            id="late-1", kind="system", priority="low", raised_at=server.clock(), incident_id=gone[0]
        )
        assert server._check_references([p.AlertRaised(alert=alert)]) == ""
        # Closed incidents stay only for keep_closed_s of the server's clock (a
        # prune runs every housekeeping_interval_s of it).
        pruned.clear()
        async with asyncio.timeout(120):
            await pruned.wait()
        horizon = server.clock().timestamp() - settings.keep_closed_s - 2 * settings.housekeeping_interval_s
        for inc in server.store.incidents.values():
            if inc.status in ("closed", "cancelled"):
                ended = inc.times.closed or inc.updated_at
                assert ended is not None
                assert ended.timestamp() >= horizon, (inc.id, ended)
    finally:
        await server.close()


def test_pruned_ids_are_remembered_for_a_day_of_the_server_clock(tmp_path: Path) -> None:
    server = DispatchServer(ServerSettings(db_path=str(tmp_path / "s.sqlite3")))
    now = utcnow().timestamp()
    server._pruned_ids = {"old": now - server.PRUNED_IDS_KEPT_S - 1, "new": now - 60}
    server._prune_store()  # an empty store: only the ids expire
    assert server._pruned_ids == {"new": now - 60}
    assert not server._incident_known("old")
    assert server._incident_known("new")


def test_retention_comes_from_the_serve_section(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[serve]\nprune_closed_after_s = 3600.0\nhousekeeping_interval_s = 60.0\n")
    args = build_parser().parse_args(
        ["serve", "--config", str(config), "--db", str(tmp_path / "s.sqlite3"), "--port", "0"]
    )
    settings = server_settings_from(args)
    assert settings.keep_closed_s == 3600.0
    assert settings.housekeeping_interval_s == 60.0
    # The schema's defaults when the file says nothing.
    plain = build_parser().parse_args(["serve", "--db", str(tmp_path / "s.sqlite3"), "--port", "0"])
    defaults = server_settings_from(plain)
    assert (defaults.keep_closed_s, defaults.housekeeping_interval_s) == (21600.0, 600.0)


_MMAP_PROBE = """
import ctypes, sys
from commandcenter.ops.runtime import fix_mmap_threshold
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
libc = ctypes.CDLL("libc.so.6")
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]
libc.mallinfo2.restype = Info
first = bytearray(4 << 20)
del first  # a freed 4 MiB mapping: glibc would now raise its threshold to 4 MiB
before = libc.mallinfo2().hblkhd
second = bytearray(4 << 20)
print(libc.mallinfo2().hblkhd - before >= 4 << 20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_serve_keeps_big_buffers_out_of_the_heap() -> None:
    # A fresh process each: the threshold is process state.
    def mapped(mode: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", _MMAP_PROBE, mode], capture_output=True, text=True, check=True, cwd=ROOT
        )
        return out.stdout.strip()

    assert mapped("default") == "False"  # glibc's dynamic threshold: the heap, and its holes
    assert mapped("fixed") == "True"
    assert "fix_mmap_threshold()" in inspect.getsource(serve_main)
