"""`commandcenter ingest run` against the real server: every item reaches the wall once, a
restarted hub doubles nothing, and items taken while the server is away are not lost."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
from pathlib import Path
from typing import Any

import pytest

from commandcenter.config import load_defaults
from commandcenter.ingest.demo import SampleServer, demo_documents, demo_sources
from commandcenter.ingest.regions import load_regions
from commandcenter.ingest.run import Ingest, ServerLink
from commandcenter.wall.feed import FeedSettings
from commandcenter.wall.session import WallSession
from tests.serverproc import ADMIN, WALL, ServerProcess, export, wait_client

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _wall(db: Path, url: str) -> Any:
    settings = FeedSettings(url=url, token=WALL, client_id="wall-ingest", heartbeat_timeout_s=2.0,
                            reconnect_min_s=0.05, reconnect_max_s=0.5)  # fmt: skip
    session = await WallSession.open(load_defaults(), db, settings, alerts=False)
    session.feed.start()
    try:
        yield session
    finally:
        await session.feed.stop()
        await session.journal.close()


async def test_items_reach_the_wall_once_and_nothing_is_lost_while_the_server_is_away(tmp_path: Path) -> None:
    samples = SampleServer(demo_documents(dt.datetime.now(dt.UTC))).start()
    port = _free_port()
    config, regions = load_defaults(), load_regions("", "")
    sources = demo_sources(samples.url)
    link = ServerLink(f"ws://127.0.0.1:{port}", ADMIN, timeout_s=5.0)
    ingest = Ingest(config, link, sources=sources, regions=regions)
    server = None
    try:
        # The server is away: nothing is published and nothing is marked seen.
        for source in sources:
            assert await ingest.hub.poll(source) == 0
            assert not ingest.hub.states[source.name].seen
            assert "publishing" in ingest.hub.states[source.name].last_error
        server = ServerProcess(tmp_path / "server.sqlite3", port=port).start()
        async with _wall(tmp_path / "wall.sqlite3", server.url) as wall:
            published = [await ingest.hub.poll(source) for source in sources]
            await ingest.publish_status()
            total = sum(published)
            assert total == 1 + 2 + 3  # a quake, two warnings, three reports
            store = wall.store
            await wait_client(
                wall.feed, lambda: len(store.hazards) == total and len(store.sources) == len(sources)
            )
            oki = store.hazards["bmkg-cap/CSS20261204003"]
            assert (
                oki.kecamatan == ["Jejawi", "Kayu Agung", "Sirah Pulau Padang"] and oki.severity == "severe"
            )
            assert store.hazards["bmkg-cap/CSS20261204004"].kecamatan == []  # Palembang only
            figures = store.hazard_figures()
            assert figures.warnings == ["bmkg-cap/CSS20261204003"]
            assert figures.latest_quake is not None and figures.latest_quake.startswith("bmkg-quake/")
            assert figures.reports_recent == 2  # the third report is in Palembang
            assert all(store.source_state(name)[0] == "live" for name in store.sources)
            # A restarted hub publishes the same items again: duplicates at the server.
            again = Ingest(config, ServerLink(server.url, ADMIN), sources=sources, regions=regions)
            for source in sources:
                await again.hub.poll(source)
            assert (again.link.published, again.link.duplicates) == (0, total)
            await again.link.close()
    finally:
        await link.close()
        if server is not None:
            server.stop()
        samples.stop()
    kinds = [e["event"]["body"]["kind"] for e in export(tmp_path / "server.sqlite3")]
    assert kinds.count("hazard") == total


async def test_the_demo_feeds_bring_a_quake_and_an_oki_warning_in_the_first_minutes(tmp_path: Path) -> None:
    from commandcenter.ingest.demo import DemoIngest

    server = ServerProcess(tmp_path / "server.sqlite3").start()
    demo = None
    try:
        async with _wall(tmp_path / "wall.sqlite3", server.url) as wall:
            demo = DemoIngest(server.url, token=ADMIN).start()
            store = wall.store
            await wait_client(
                wall.feed,
                lambda: (
                    "bmkg-cap/CSS20261204003" in store.hazards
                    and store.hazard_figures().latest_quake is not None
                ),
                what="the demo's warning and quake",
            )
            figures = store.hazard_figures()
            assert figures.warnings == ["bmkg-cap/CSS20261204003"]
            warning = store.hazards["bmkg-cap/CSS20261204003"]
            assert warning.expires is not None and warning.expires > store.clock()
            await demo.close()
    finally:
        if demo is not None:
            await demo.close()
        server.stop()


async def test_the_command_publishes_from_the_configured_sources_and_ends_on_sigterm(tmp_path: Path) -> None:
    import asyncio
    import os
    import signal
    import subprocess
    import sys

    from commandcenter.ingest.demo import shift_times
    from tests.conftest import ROOT

    cap_file = tmp_path / "cap.xml"
    sample = (ROOT / "tests" / "fixtures" / "ingest" / "CSS20261204003_alert.xml").read_bytes()
    cap_file.write_bytes(shift_times(sample, dt.datetime.now(dt.UTC), dt.timedelta(minutes=5)))
    config = tmp_path / "ingest.toml"
    config.write_text(f'[[sources]]\nname = "cap-file"\nkind = "cap"\nurl = "{cap_file}"\nenabled = true\n')
    token = tmp_path / "token"
    token.write_text(ADMIN + "\n")
    token.chmod(0o600)
    server = ServerProcess(tmp_path / "server.sqlite3").start()
    env = dict(os.environ, COMMANDCENTER_CONFIG="", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    proc = None
    try:
        async with _wall(tmp_path / "wall.sqlite3", server.url) as wall:
            argv = [sys.executable, "-m", "commandcenter.cli", "ingest", "run", "--server", server.url,
                    "--token-file", str(token), "--config", str(config)]  # fmt: skip
            proc = await asyncio.to_thread(
                subprocess.Popen,
                argv,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            store = wall.store
            await wait_client(
                wall.feed, lambda: "bmkg-cap/CSS20261204003" in store.hazards and "cap-file" in store.sources
            )
            proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.to_thread(proc.communicate, timeout=20)
            assert proc.returncode == 0, err
            assert "DONE published=1 duplicates=0 rejected=0" in out
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop()


def test_the_command_without_an_enabled_source_says_so(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    token = tmp_path / "token"
    token.write_text("x\n")
    token.chmod(0o600)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    done = subprocess.run(
        [sys.executable, "-m", "commandcenter.cli", "ingest", "run", "--server", "ws://127.0.0.1:9",
         "--token-file", str(token)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == "ingest run: no source enabled in [[sources]] of the configuration"
