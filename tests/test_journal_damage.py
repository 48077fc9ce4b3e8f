"""A damaged journal heals; a journal in trouble says what the trouble is.

Real SQLite files in tmp_path, damaged the ways disks and people damage them:
cut short, garbage pages in the middle, a latest snapshot that does not load
(with a good older one), an event missing inside the journal. And the
trouble that is not damage and must never heal anything: another process's
lock, a read-only directory and a full disk (small tmpfs mounts: root only,
skipped elsewhere). The store is the real one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from commandcenter.core import protocol as p
from commandcenter.core.store import Store, decode_state, encode_state
from commandcenter.storage.journal import Journal, JournalError
from tests.factories import incident_event

EPOCH = "ep-1"


def framed(first: int, last: int) -> list[tuple[p.Event, bytes]]:
    out = []
    for seq in range(first, last + 1):
        ev = incident_event(seq, epoch=EPOCH, description=f"Kebakaran lahan {seq} " + "x" * 200)
        out.append((ev, p.encode(ev)))
    return out


class Rebuilt:
    """The real store, rebuilt through Journal.restore."""

    def __init__(self) -> None:
        self.store = Store()

    def load(self, data: bytes) -> None:
        self.store.load_state(decode_state(data))

    def apply(self, events: list[p.Event]) -> None:
        self.store.apply_many(events)


async def write_journal(path: Path, *, events: int = 300, snapshot_at: int | None = 200) -> None:
    """A journal as a wall leaves it: events, a snapshot, a pending
    acknowledgement and audit rows; closed (so the WAL is checkpointed)."""
    store = Store()
    async with await Journal.open(path) as j:
        rows = framed(1, events)
        for i in range(0, len(rows), 50):
            chunk = rows[i : i + 50]
            await j.append(chunk)
            store.apply_many([ev for ev, _ in chunk])
            if snapshot_at is not None and chunk[-1][0].seq == snapshot_at:
                await j.write_snapshot(EPOCH, snapshot_at, encode_state(store.to_state()))
        await j.outbox_add("ack-pending", "ack", b'{"type":"ack"}')
        await j.audit("alert.acknowledged", operator="Sari", console="Konsol 1", target_id="al-1")


def damaged_copies(path: Path) -> list[Path]:
    """The moved-aside main files (not their -wal/-shm)."""
    copies = path.parent.glob(path.name + ".damaged-*")
    return sorted(c for c in copies if not c.name.endswith(("-wal", "-shm")))


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# --- damage: moved aside, a fresh journal, the operators' rows kept -------------------------


async def assert_healed(path: Path, caplog: pytest.LogCaptureFixture, what: str) -> None:
    before = path.read_bytes()  # noqa: ASYNC240 - a test's own small file
    rebuilt = Rebuilt()
    async with await Journal.open(path) as j:
        assert await j.restore(rebuilt.load, rebuilt.apply) == ("", 0, 0)
        # The server sends a snapshot to a client at ("", 0); nothing half-restored.
        assert rebuilt.store.seq == 0 and not rebuilt.store.incidents
        assert await j.count_events() == 0
        # What the server cannot send back survived when its pages did.
        pending = [e.command_id for e in await j.outbox_pending()]
        assert pending in ([], ["ack-pending"])
    copies = damaged_copies(path)
    assert len(copies) == 1 and copies[0].read_bytes() == before, "the damaged file is kept, unchanged"
    errors = error_lines(caplog)
    assert len(errors) == 1, errors
    assert str(path) in errors[0] and str(copies[0]) in errors[0] and what in errors[0], errors[0]
    # And the next start is quiet: the fresh journal is healthy.
    caplog.clear()
    async with await Journal.open(path) as j:
        assert await j.restore(Rebuilt().load, Rebuilt().apply) == ("", 0, 0)
        assert j.healed == ""
    assert error_lines(caplog) == [] and len(damaged_copies(path)) == 1


async def test_a_truncated_journal_is_moved_aside_and_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "wall-journal.sqlite3"
    await write_journal(path)
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(size // 2)
    await assert_healed(path, caplog, "damaged")


async def test_garbage_pages_in_the_middle_are_noticed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "wall-journal.sqlite3"
    await write_journal(path)
    page = 4096
    pages = path.stat().st_size // page
    assert pages > 12
    rng = random.Random(15)
    with path.open("r+b") as fh:
        for n in rng.sample(range(2, pages - 1), 4):
            fh.seek(n * page)
            fh.write(rng.randbytes(page))
    await assert_healed(path, caplog, "damaged")


async def test_a_missing_event_inside_the_journal_is_noticed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "wall-journal.sqlite3"
    await write_journal(path)
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("DELETE FROM events WHERE epoch = ? AND seq = 250", (EPOCH,))
        db.commit()
    await assert_healed(path, caplog, f"event {EPOCH}/250 is missing")


async def test_a_bad_latest_snapshot_falls_back_to_the_good_older_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "wall-journal.sqlite3"
    await write_journal(path, events=300, snapshot_at=200)
    async with await Journal.open(path) as j:
        await j.write_snapshot(EPOCH, 300, b"\x93not a state")
    caplog.set_level(logging.WARNING, "commandcenter.storage.journal")
    rebuilt = Rebuilt()
    async with await Journal.open(path) as j:
        assert await j.restore(rebuilt.load, rebuilt.apply) == (EPOCH, 300, 100)
        snap = await j.latest_snapshot()
        # The bad one is gone: prune must not delete events on its word.
        assert snap is not None and snap.seq == 200
        assert [e.command_id for e in await j.outbox_pending()] == ["ack-pending"]
    assert rebuilt.store.seq == 300 and len(rebuilt.store.incidents) == 300
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "could not be loaded" in warnings[0] and str(path) in warnings[0]
    assert "restored from snapshot" in warnings[0]
    assert damaged_copies(path) == [] and error_lines(caplog) == []


# --- trouble that is not damage: said as what it is, nothing moved ------------------------


async def test_a_locked_journal_is_reported_as_locked(tmp_path: Path) -> None:
    path = tmp_path / "wall-journal.sqlite3"
    await write_journal(path, events=10, snapshot_at=None)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("PRAGMA locking_mode=EXCLUSIVE")
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(JournalError, match="locked") as err:
            await Journal.open(path)
        other.execute("ROLLBACK")
    assert err.value.kind == "locked"
    assert "not a journal" not in str(err.value)
    assert damaged_copies(path) == []


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs under tmp_path (needs root and mount permission)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"mount not permitted here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def remount_readonly(mnt: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)


async def test_a_read_only_directory_is_reported_as_read_only(small_fs: Path) -> None:
    existing = small_fs / "wall-journal.sqlite3"
    await write_journal(existing, events=10, snapshot_at=None)
    remount_readonly(small_fs)
    with pytest.raises(JournalError, match="read-only") as err:
        await Journal.open(existing)
    assert err.value.kind == "readonly" and "not a journal" not in str(err.value)
    assert existing.exists() and damaged_copies(existing) == []
    # A new journal there cannot even be created: the same, said so.
    with pytest.raises(JournalError, match="read-only") as err:
        await Journal.open(small_fs / "new" / "journal.sqlite3")
    assert err.value.kind == "readonly"
    # Inspection still works on a read-only medium.
    async with await Journal.open(existing, readonly=True) as j:
        assert await j.count_events() == 10


async def test_a_full_disk_is_reported_as_a_full_disk(small_fs: Path) -> None:
    path = small_fs / "wall-journal.sqlite3"
    seq = 0
    failure: JournalError | None = None
    async with await Journal.open(path) as j:
        for _ in range(1000):  # 1 MB holds far fewer than 1000 x 50 events of ~1 kB
            try:
                await j.append(framed(seq + 1, seq + 50))
            except JournalError as exc:
                failure = exc
                break
            seq += 50
        assert failure is not None and failure.kind == "full"
        assert str(failure).startswith(f"journal: disk full at {path}")
        # What was committed before is still there and readable.
        assert await j.count_events() == seq
    assert seq > 0
    async with await Journal.open(path, readonly=True) as j:
        assert await j.count_events() == seq


def test_journal_stats_on_a_locked_journal_says_locked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from commandcenter.storage.journal import journal_stats_main

    path = tmp_path / "wall-journal.sqlite3"
    asyncio.run(write_journal(path, events=5, snapshot_at=None))
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("PRAGMA locking_mode=EXCLUSIVE")
        other.execute("BEGIN EXCLUSIVE")
        assert journal_stats_main(str(path)) == 1
        other.execute("ROLLBACK")
    err = capsys.readouterr().err
    assert err == f"journal stats: {path} is locked by another process or connection (database is locked)\n"
    assert journal_stats_main(str(path)) == 0  # and fine once the lock is gone


async def test_quick_check_is_skipped_only_after_a_clean_close_left_the_file_untouched(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "wall-journal.sqlite3"
    mark = tmp_path / "wall-journal.sqlite3.clean"
    await write_journal(path)
    assert mark.exists()  # closed cleanly: the next open may skip quick_check
    assert mark.stat().st_mode & 0o777 == 0o600
    journal = await Journal.open(path)
    assert not mark.exists()  # taken at open: a crash from here on means a full check
    assert journal.healed == ""
    await journal.close()
    assert mark.exists()
    # Damage after the clean close, the same size, at once: the mark no longer
    # matches the file (its mtime was set into the past at close), so quick_check runs.
    page = 4096
    with path.open("r+b") as fh:
        fh.seek(3 * page)
        fh.write(random.Random(3).randbytes(page))
    await assert_healed(path, caplog, "damaged")
