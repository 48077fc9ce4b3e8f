"""`commandcenter doctor` (the Qt-free checks) against the real reference
server process, real journal files and the real CLI in a subprocess."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commandcenter.config import load_defaults
from commandcenter.core.i18n import strings_for
from commandcenter.core.timeutil import utcnow
from commandcenter.ops.doctor import (
    DISK_FAIL_BYTES,
    Check,
    DoctorOptions,
    check_disk,
    check_journal,
    exit_code,
    format_report,
    run_checks,
)
from commandcenter.wall.feed import FeedSettings
from commandcenter.wall.session import WallSession
from tests.conftest import ROOT
from tests.serverproc import WALL, ServerProcess, wait_client

ID, EN = strings_for("id"), strings_for("en")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("doctor-server") / "server.sqlite3", scenario="mixed", speed=30
    ).start()
    yield srv
    srv.stop()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A user file that keeps the logs (and their disk check) inside the test's dir."""
    path = tmp_path / "config.toml"
    path.write_text(f'config_version = 1\n[logging]\ndir = "{tmp_path / "logs"}"\n')
    return path


def options(config_file: Path, tmp_path: Path, **kw: Any) -> DoctorOptions:
    return DoctorOptions(config=str(config_file), data_dir=str(tmp_path / "data"), lang="en", **kw)


def by_key(checks: list[Check]) -> dict[str, Check]:
    return {c.key: c for c in checks}


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COMMANDCENTER_CONFIG="")
    return subprocess.run(
        [sys.executable, "-m", "commandcenter.cli", "doctor", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def record_journal(url: str, path: Path) -> int:
    """Follow the server into a journal, as the wall does, until events are in."""

    async def follow() -> int:
        settings = FeedSettings(url=url, token=WALL, client_id="doctor-test")
        client = (await WallSession.open(load_defaults(), path, settings, alerts=False)).feed
        client.start()
        try:
            # A new client starts from a snapshot: wait for live events after it.
            await wait_client(client, lambda: client.welcome is not None, what="welcome")
            assert client.welcome is not None
            head = client.welcome.head_seq
            await wait_client(client, lambda: client.store.seq >= head + 3, what="live events journaled")
            return client.store.seq
        finally:
            await client.stop()
            await client.journal.close()

    return asyncio.run(follow())


# --- the server and the token ---------------------------------------------------------------


def test_good_token_is_accepted(server: ServerProcess, config_file: Path, tmp_path: Path) -> None:
    checks, strings = run_checks(options(config_file, tmp_path, server=server.url, token=WALL))
    srv = by_key(checks)["server"]
    assert strings.language == "en"
    assert srv.status == "ok", srv
    assert srv.data["role"] == "wall" and srv.data["epoch"] == server.epoch
    assert "token accepted" in srv.detail


def test_wrong_token_fails_with_exit_code_1(server: ServerProcess, config_file: Path, tmp_path: Path) -> None:
    out = run_cli(
        "--config", str(config_file), "--data-dir", str(tmp_path / "data"),
        "--server", server.url, "--token", "not-a-token", "--json",
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    srv = next(c for c in report["checks"] if c["key"] == "server")
    assert srv["status"] == "fail" and srv["label"] == "GAGAL"
    assert "token ditolak" in srv["detail"] and "bad_token" in srv["detail"]
    assert "server.token" in srv["action"]
    assert report["exit_code"] == 1 and not report["ok"]


def test_unreachable_port_fails_with_a_readable_reason(config_file: Path, tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    checks, _ = run_checks(options(config_file, tmp_path, server=url, token=WALL))
    srv = by_key(checks)["server"]
    assert srv.status == "fail"
    assert srv.detail.startswith(f"{url}: cannot be reached (")
    assert "refused" in srv.detail.lower(), srv.detail
    assert "firewall" in srv.action
    assert exit_code(checks) == 1


def test_a_port_that_never_answers_times_out(config_file: Path, tmp_path: Path) -> None:
    # A listening socket that never accepts the websocket handshake.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        url = f"ws://127.0.0.1:{s.getsockname()[1]}"
        checks, _ = run_checks(options(config_file, tmp_path, server=url, token=WALL, timeout_s=1.0))
    srv = by_key(checks)["server"]
    assert srv.status == "fail"
    assert "no answer within 1 s" in srv.detail


# --- the journal ------------------------------------------------------------------------------


def test_healthy_journal_then_corrupted_journal(
    server: ServerProcess, config_file: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "data" / "wall-journal.sqlite3"
    journal.parent.mkdir()
    seq = record_journal(server.url, journal)
    checks, _ = run_checks(options(config_file, tmp_path, server=server.url, token=WALL))
    j = by_key(checks)["journal"]
    assert j.status == "ok", j
    assert j.data["integrity"] == "ok" and j.data["events"] > 0 and j.data["seq"] >= seq
    assert 0 <= j.data["newest_age_s"] < 600
    assert "healthy" in j.detail and "newest data" in j.detail

    # Overwrite most pages after the first (the schema stays readable).
    page = 4096
    data = bytearray(journal.read_bytes())
    assert len(data) > 3 * page, "the journal should span several pages"
    for i in range(page, len(data) - page, 7):
        data[i] = (i * 131) % 251
    journal.write_bytes(bytes(data))
    out = run_cli(
        "--config", str(config_file), "--data-dir", str(tmp_path / "data"),
        "--server", server.url, "--token", WALL, "--lang", "en",
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.split()[1:2] == ["Journal"])
    assert line.startswith("FAIL")
    assert "damaged or not a journal" in line and "move the file aside" in line


def test_missing_journal_is_a_warning_and_is_not_created(config_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "data" / "wall-journal.sqlite3"
    check = check_journal(path, load_defaults(), ID, utcnow())
    assert check.status == "warn"
    assert "belum ada" in check.detail
    assert not path.exists() and not path.parent.exists()


def test_a_file_that_is_not_a_journal_fails(tmp_path: Path) -> None:
    path = tmp_path / "wall-journal.sqlite3"
    path.write_bytes(b"this is not SQLite at all" * 200)
    check = check_journal(path, load_defaults(), EN, utcnow())
    assert check.status == "fail"
    assert "not a journal" in check.detail or "not a database" in check.detail


def test_an_old_journal_is_a_warning(server: ServerProcess, tmp_path: Path) -> None:
    journal = tmp_path / "wall-journal.sqlite3"
    record_journal(server.url, journal)
    # The simulator's event times run ahead of the clock (speed 30): three
    # days later is still more than a day after the newest event.
    later = utcnow() + dt.timedelta(days=3)
    check = check_journal(journal, load_defaults(), EN, later)
    assert check.status == "warn"
    assert check.data["newest_age_s"] > 86_400
    assert "newest data 2 d ago" in check.detail or "newest data 1 d ago" in check.detail
    assert check_journal(journal, load_defaults(), EN, utcnow()).status == "ok"


def test_events_refused_by_the_feed_are_a_warning_naming_how_many(tmp_path: Path) -> None:
    from commandcenter.core import protocol as p
    from commandcenter.storage.journal import Journal
    from tests.factories import make_event, make_incident

    path = tmp_path / "wall-journal.sqlite3"

    async def record() -> None:
        async with await Journal.open(path) as journal:
            ev = make_event(p.IncidentUpserted(incident=make_incident()), seq=1, ts=utcnow())
            await journal.append([(ev, p.encode(ev))])
            await journal.record_refused("ep-1", 2, "Expected datetime <= 2100 - at `$.ts`", b"{}")

    asyncio.run(record())
    check = check_journal(path, load_defaults(), ID, utcnow())
    assert check.status == "warn"
    assert "1 peristiwa dari server ditolak" in check.detail
    assert check.data["refused"] == 1
    assert "1 event(s) from the server refused" in check_journal(path, load_defaults(), EN, utcnow()).detail


# --- disk, config, report ------------------------------------------------------------------------


def test_disk_space_thresholds(tmp_path: Path) -> None:
    # One rule's unit test: the thresholds, with the sizes handed in.
    real = shutil.disk_usage(tmp_path)

    def usage(free: int, total: int) -> Any:
        return lambda _p: real._replace(free=free, total=total, used=total - free)

    gb = 1 << 30
    assert check_disk("disk.logs", tmp_path, EN, usage(500 * gb, 1000 * gb)).status == "ok"
    low = check_disk("disk.logs", tmp_path, EN, usage(int(0.5 * gb), 1000 * gb))
    assert low.status == "warn" and "only 512.0 MB free" in low.detail
    assert check_disk("disk.logs", tmp_path, EN, usage(3 * gb, 100 * gb)).status == "warn"  # 3 %
    assert check_disk("disk.logs", tmp_path, EN, usage(DISK_FAIL_BYTES - 1, 100 * gb)).status == "fail"
    # The real disk, for a directory that does not exist yet: its parent is measured.
    real_check = check_disk("disk.journal", tmp_path / "not" / "yet", EN)
    assert real_check.data["checked"] == str(tmp_path)
    assert real_check.data["free_bytes"] == pytest.approx(shutil.disk_usage(tmp_path).free, rel=0.05)


def test_invalid_config_fails_and_the_rest_still_runs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("config_version = 1\n[display.night]\nlevel = 7.0\n")
    checks, _ = run_checks(DoctorOptions(config=str(bad), data_dir=str(tmp_path), lang="en",
                                         server=f"ws://127.0.0.1:{free_port()}", token=WALL))  # fmt: skip
    cfg = by_key(checks)["config"]
    assert cfg.status == "fail"
    assert "display.night.level" in cfg.detail
    assert {"server", "journal", "disk.journal", "disk.logs", "speech"} <= set(by_key(checks))


def test_report_has_one_line_per_check_in_both_languages(
    server: ServerProcess, config_file: Path, tmp_path: Path
) -> None:
    out = run_cli("--config", str(config_file), "--data-dir", str(tmp_path / "data"),
                  "--server", server.url, "--token", WALL)  # fmt: skip
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Pemeriksaan OKI Siaga 112")
    body = [ln for ln in lines[2:] if ln and not ln.startswith(("Semua", "Tidak ada", "1 ", "2 "))]
    keys = ["Konfigurasi", "Layar", "Keluaran audio", "Suara ucapan", "Server", "Jurnal", "Disk (jurnal)",
            "Disk (log)"]  # fmt: skip
    assert len(body) == len(keys), out.stdout
    for line, key in zip(body, keys, strict=True):
        assert line.split("  ")[0].strip() in ("OK", "PERINGATAN", "GAGAL", "DILEWATI")
        assert key in line
    # The Qt-free variant says that it skipped screens and audio, and why.
    assert "DILEWATI" in body[1] and "tanpa Qt" in body[1]
    # No failure here (the journal is missing: a warning): exit 0.
    assert "GAGAL" not in out.stdout, out.stdout
    assert out.returncode == 0
    # (Both languages of every text: tests/test_i18n.py checks the catalogs.)


def test_report_format_counts_failures_and_warnings() -> None:
    checks = [Check("config", "ok", "fine"), Check("server", "warn", "slow", "wait")]
    text = format_report(checks, EN)
    assert text.rstrip().endswith("No failures; 1 warning(s).")
    assert "\nWARN     Server         slow → Action: wait\n" in text
    assert exit_code(checks) == 0
    checks.append(Check("journal", "fail", "broken", "fix"))
    assert format_report(checks, ID).rstrip().endswith("1 pemeriksaan GAGAL.")
    assert exit_code(checks) == 1
