"""The journal: events, snapshots and restore, outbox, audit, retention, inspection,
and survival of a SIGKILL mid-write. Real SQLite files in tmp_path."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import json
import os
import signal
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from commandcenter.core import protocol as p
from commandcenter.core.model import Incident, IncidentTimes, Location
from commandcenter.core.timeutil import FakeClock
from commandcenter.storage.journal import (
    KEEP_SNAPSHOTS,
    SCHEMA_VERSION,
    Journal,
    JournalError,
    journal_export_main,
    journal_stats_main,
)
from tests.conftest import PYTHON, ROOT
from tests.factories import T0, incident_event, make_event

CHILD = ROOT / "tests" / "journal_writer_child.py"


def framed(event: p.Event) -> tuple[p.Event, bytes]:
    return event, p.encode(event)


def batch(first: int, last: int, epoch: str = "ep-1", **overrides: object) -> list[tuple[p.Event, bytes]]:
    return [framed(incident_event(s, epoch=epoch, **overrides)) for s in range(first, last + 1)]


def aged_batch(first: int, last: int, ts: dt.datetime, epoch: str = "ep-1") -> list[tuple[p.Event, bytes]]:
    body = p.ConsoleUnmuted(console="console-1")
    return [framed(make_event(body, seq=s, epoch=epoch, ts=ts)) for s in range(first, last + 1)]


def damaged_copies(path: Path) -> list[bytes]:
    """The moved-aside main files (not their -wal/-shm)."""
    copies = sorted(path.parent.glob(path.name + ".damaged-*"))
    return [c.read_bytes() for c in copies if not c.name.endswith(("-wal", "-shm"))]


class FakeState:
    """Stands in for the store: the snapshot is a JSON list of seqs applied."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.loaded: bytes | None = None
        self.batches = 0

    def load(self, data: bytes) -> None:
        # Decode first: a snapshot that fails leaves the state as it was (as the store does).
        seqs = list(json.loads(data))
        self.loaded = data
        self.seqs = seqs

    def apply(self, events: list[p.Event]) -> None:
        self.batches += 1
        self.seqs.extend(e.seq for e in events)

    def snapshot(self) -> bytes:
        return json.dumps(self.seqs).encode()


@pytest.fixture
async def journal(tmp_path: Path):
    async with await Journal.open(tmp_path / "journal.db") as j:
        yield j


# --- events ------------------------------------------------------------------------


async def test_new_journal_is_empty_wal_incremental(journal: Journal) -> None:
    assert await journal.last_position() == ("", 0)
    assert await journal.count_events() == 0
    assert await journal.latest_snapshot() is None
    stats = await journal.stats()
    assert stats["journal_mode"] == "wal"
    assert stats["auto_vacuum"] == "incremental"
    assert stats["schema_version"] == SCHEMA_VERSION
    assert stats["integrity"] == "ok"


async def test_append_ignores_duplicates_and_tracks_position(journal: Journal) -> None:
    assert await journal.append(batch(1, 10)) == 10
    assert await journal.last_position() == ("ep-1", 10)
    # A replay overlapping what we have: only the new ones count.
    assert await journal.append(batch(6, 15)) == 5
    assert await journal.append(batch(1, 15)) == 0
    assert await journal.append([]) == 0
    assert await journal.count_events() == 15
    assert await journal.last_position() == ("ep-1", 15)
    # The first bytes stored win: a duplicate never overwrites.
    stored = [data async for _, data in journal.iter_events()]
    assert [p.decode_event(d).seq for d in stored] == list(range(1, 16))


async def test_appended_bytes_are_kept_exactly(journal: Journal) -> None:
    ev = incident_event(1)
    data = p.encode(ev)
    await journal.append([(ev, data)])
    assert await journal.events_after("ep-1", 0, 10) == [data]


async def test_events_after_epoch_range_and_iteration(journal: Journal) -> None:
    await journal.append(batch(1, 30, epoch="ep-1"))
    await journal.append(batch(1, 5, epoch="ep-2"))
    after = await journal.events_after("ep-1", 25, limit=100)
    assert [p.decode_event(d).seq for d in after] == [26, 27, 28, 29, 30]
    assert len(await journal.events_after("ep-1", 0, limit=7)) == 7
    assert await journal.events_after("ep-9", 0, 10) == []
    assert await journal.epoch_range("ep-1") == (1, 30)
    assert await journal.epoch_range("ep-2") == (1, 5)
    assert await journal.epoch_range("nope") is None
    assert await journal.last_position() == ("ep-2", 5)

    rows = [r async for r in journal.iter_events(batch=4)]
    assert len(rows) == 35
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    tail = [r async for r in journal.iter_events(after_rowid=rows[29][0], batch=2)]
    assert [p.decode_event(d).epoch for _, d in tail] == ["ep-2"] * 5


async def test_iteration_lets_the_consumer_append(journal: Journal) -> None:
    await journal.append(batch(1, 10))
    seen = 0
    async for _ in journal.iter_events(batch=3):
        seen += 1
        if seen == 1:
            # Would deadlock if the iterator held the lock across yields.
            await journal.append(batch(11, 11))
    assert seen == 11


async def test_concurrent_appends_do_not_interleave(journal: Journal) -> None:
    async def writer(epoch: str) -> None:
        for start in range(1, 41, 10):
            await journal.append(batch(start, start + 9, epoch=epoch))

    await asyncio.gather(*(writer(f"ep-{i}") for i in range(5)))
    assert await journal.count_events() == 200
    assert (await journal.stats())["integrity"] == "ok"


async def test_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with await Journal.open(path) as j:
        await j.append(batch(1, 5))
        await j.outbox_add("ack-1", "ack", b"{}")
    async with await Journal.open(path) as j:
        assert await j.last_position() == ("ep-1", 5)
        assert [e.command_id for e in await j.outbox_pending()] == ["ack-1"]


async def test_refuses_foreign_and_newer_files(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(JournalError, match="not a journal"):
        await Journal.open(foreign)

    newer = tmp_path / "newer.db"
    async with await Journal.open(newer):
        pass
    con = sqlite3.connect(newer)
    con.execute("PRAGMA user_version=99")
    con.close()
    with pytest.raises(JournalError, match="newer"):
        await Journal.open(newer)

    # Not SQLite at all where a journal should be: moved aside, never deleted.
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"\x00garbage" * 1000)
    async with await Journal.open(garbage) as j:
        assert "not a database" in j.healed
        assert await j.count_events() == 0
    assert damaged_copies(garbage) == [b"\x00garbage" * 1000]


async def test_readonly_never_writes(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no such"):
        await Journal.open(tmp_path / "missing.db", readonly=True)
    assert not (tmp_path / "missing.db").exists()
    path = tmp_path / "j.db"
    async with await Journal.open(path) as j:
        await j.append(batch(1, 3))
    async with await Journal.open(path, readonly=True) as j:
        assert await j.count_events() == 3
        with pytest.raises(JournalError, match="read-only"):
            await j.append(batch(4, 4))


# --- snapshots and restore ------------------------------------------------------------


async def test_restore_is_snapshot_plus_tail(journal: Journal) -> None:
    state = FakeState()
    await journal.append(batch(1, 100))
    state.apply([p.decode_event(d) async for _, d in journal.iter_events()])
    await journal.write_snapshot("ep-1", 100, state.snapshot())
    await journal.append(batch(101, 130))

    restored = FakeState()
    epoch, seq, tail = await journal.restore(restored.load, restored.apply, batch=7)
    assert (epoch, seq, tail) == ("ep-1", 130, 30)
    assert restored.loaded == json.dumps(list(range(1, 101))).encode()
    assert restored.seqs == list(range(1, 131))
    assert restored.batches == 5  # 30 tail events in batches of 7


async def test_restore_without_snapshot_replays_everything(journal: Journal) -> None:
    await journal.append(batch(1, 12))
    state = FakeState()
    assert await journal.restore(state.load, state.apply) == ("ep-1", 12, 12)
    assert state.loaded is None
    assert state.seqs == list(range(1, 13))


async def test_restore_of_empty_journal(journal: Journal) -> None:
    state = FakeState()
    assert await journal.restore(state.load, state.apply) == ("", 0, 0)
    assert state.batches == 0


async def test_restore_never_replays_past_a_corrupt_row(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    """A row that does not decode is a missing event: replaying around it would
    build a state the server never had. Nothing older can rebuild it here, so
    the file is moved aside and the server sends a snapshot."""
    await journal.append(batch(1, 3))
    bad_event = incident_event(4)
    await journal.append([(bad_event, b'{"type":"event","truncated')])
    await journal.append(batch(5, 6))
    state = FakeState()
    assert await journal.restore(state.load, state.apply) == ("", 0, 0)
    assert state.seqs == []
    assert "event ep-1/4 is corrupt" in caplog.text
    assert "Moved it aside" in caplog.text
    assert await journal.count_events() == 0


async def test_restore_of_a_snapshot_that_cannot_load_and_nothing_older(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    await journal.outbox_add("ack-1", "ack", b"{}")
    await journal.write_snapshot("ep-1", 1, b"not json")
    state = FakeState()
    assert await journal.restore(state.load, state.apply) == ("", 0, 0)
    assert "could not be loaded" in caplog.text
    # The operator's acknowledgement waiting for the server is kept.
    assert [e.command_id for e in await journal.outbox_pending()] == ["ack-1"]
    assert await journal.latest_snapshot() is None


async def test_server_snapshot_sets_the_position(journal: Journal) -> None:
    await journal.append(batch(1, 50, epoch="old"))
    # The server reset its history: the client adopts its snapshot at seq 700.
    await journal.write_snapshot("new", 700, b"[700]", source="server")
    assert await journal.last_position() == ("new", 700)
    snap = await journal.latest_snapshot()
    assert snap is not None
    assert (snap.epoch, snap.seq, snap.source) == ("new", 700, "server")
    await journal.append(batch(701, 703, epoch="new"))
    assert await journal.last_position() == ("new", 703)
    state = FakeState()
    assert await journal.restore(state.load, state.apply) == ("new", 703, 3)
    assert state.seqs == [700, 701, 702, 703]
    with pytest.raises(ValueError, match="source"):
        await journal.write_snapshot("new", 1, b"", source="elsewhere")  # type: ignore[arg-type]


# --- outbox and audit ---------------------------------------------------------------------


async def test_outbox_lifecycle(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    async with await Journal.open(tmp_path / "j.db", clock=clock) as j:
        assert await j.outbox_add("ack-1", "ack", b'{"type":"ack"}')
        clock.advance(1)
        assert await j.outbox_add("ack-2", "shelve", b'{"type":"shelve"}')
        assert not await j.outbox_add("ack-1", "ack", b"other")  # idempotent
        assert [e.command_id for e in await j.outbox_pending()] == ["ack-1", "ack-2"]

        clock.advance(5)
        assert await j.outbox_mark_sent("ack-1")
        assert await j.outbox_mark_sent("ack-1")
        entry = await j.outbox_get("ack-1")
        assert entry is not None
        assert entry.attempts == 2
        assert entry.last_sent_at == T0 + dt.timedelta(seconds=6)
        assert entry.data == b'{"type":"ack"}'
        assert entry.status == "pending"
        assert entry.created_at == T0

        assert await j.outbox_resolve("ack-1", "applied")
        assert not await j.outbox_resolve("ack-1", "duplicate")  # the first answer wins
        assert await j.outbox_resolve("ack-2", "rejected", reason="alert unknown")
        assert not await j.outbox_resolve("nope", "applied")
        assert await j.outbox_pending() == []
        done = await j.outbox_get("ack-2")
        assert done is not None
        assert (done.status, done.reason, done.resolved_at) == ("rejected", "alert unknown", clock.now)
        assert await j.outbox_get("nope") is None
        assert not await j.outbox_mark_sent("nope")
        with pytest.raises(ValueError, match="status"):
            await j.outbox_resolve("ack-1", "pending")  # type: ignore[arg-type]


async def test_audit_since(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    async with await Journal.open(tmp_path / "j.db", clock=clock) as j:
        await j.audit("console.muted", operator="budi", console="c1")
        clock.advance(60)
        await j.audit(
            "alert.acknowledged",
            operator="sari",
            console="c2",
            target_kind="alert",
            target_id="al-1",
            detail={"ack_id": "ack-1", "at": T0},
        )
        await j.audit("alert.shelved", at=T0 + dt.timedelta(seconds=120), target_id="al-2")
        recs = await j.audit_since(T0 + dt.timedelta(seconds=30))
        assert [r.action for r in recs] == ["alert.acknowledged", "alert.shelved"]
        ack = recs[0]
        assert (ack.operator, ack.console, ack.target_kind, ack.target_id) == ("sari", "c2", "alert", "al-1")
        assert ack.detail == {"ack_id": "ack-1", "at": "2026-11-27T03:00:00Z"}
        assert ack.at == T0 + dt.timedelta(seconds=60)
        assert len(await j.audit_since(T0)) == 3
        # Another zone, same instant.
        wib = dt.timezone(dt.timedelta(hours=7))
        assert len(await j.audit_since((T0 + dt.timedelta(seconds=61)).astimezone(wib))) == 1
        with pytest.raises(ValueError, match="timezone-aware"):
            await j.audit("x", at=dt.datetime(2026, 1, 1))  # naive: refused


async def test_meta(journal: Journal) -> None:
    assert await journal.meta_get("client_id") is None
    await journal.meta_set("client_id", "wall-1")
    assert await journal.meta_get("client_id") == "wall-1"
    assert await journal.meta_get("created_at") is not None


# --- retention --------------------------------------------------------------------------------


async def test_prune_never_deletes_what_restore_needs(tmp_path: Path) -> None:
    clock = FakeClock(T0 + dt.timedelta(days=400))
    old = T0  # 400 days ago: past the 90 days retention
    async with await Journal.open(tmp_path / "j.db", clock=clock) as j:
        await j.append(aged_batch(1, 100, ts=old))
        # No snapshot yet: every old event is needed by a restore.
        result = await j.prune()
        assert result.events_by_age == 0
        assert await j.count_events() == 100

        state = FakeState()
        await j.append(aged_batch(101, 110, ts=old))
        state.seqs = list(range(1, 111))
        await j.write_snapshot("ep-1", 110, state.snapshot())
        # Old-stamped too (a server clock behind, a replay), but not covered.
        await j.append(aged_batch(111, 140, ts=old))

        result = await j.prune()
        assert result.events_by_age == 110
        # The old-stamped tail is not covered: it stays.
        assert await j.count_events() == 30
        restored = FakeState()
        assert await j.restore(restored.load, restored.apply) == ("ep-1", 140, 30)
        assert restored.seqs == list(range(1, 141))


async def test_prune_keeps_recent_events_and_last_snapshots(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    async with await Journal.open(tmp_path / "j.db", clock=clock, retention_days=10) as j:
        await j.append(aged_batch(1, 10, ts=T0 - dt.timedelta(days=20)))
        await j.append(aged_batch(11, 20, ts=T0 - dt.timedelta(days=1)))
        for i in range(KEEP_SNAPSHOTS + 2):
            await j.write_snapshot("ep-1", 20, b"[%d]" % i)
        result = await j.prune()
        assert (result.events_by_age, result.snapshots) == (10, 2)
        assert (await j.stats())["snapshots"] == KEEP_SNAPSHOTS
        snap = await j.latest_snapshot()
        assert snap is not None
        assert snap.data == b"[4]"
        assert await j.epoch_range("ep-1") == (11, 20)


async def test_prune_audit_and_resolved_outbox(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    async with await Journal.open(
        tmp_path / "j.db", clock=clock, retention_days=30, audit_retention_days=365
    ) as j:
        await j.audit("alert.acknowledged")
        await j.outbox_add("a-old", "ack", b"{}")
        await j.outbox_resolve("a-old", "applied")
        await j.outbox_add("a-stuck", "ack", b"{}")  # pending: never pruned
        clock.advance(40 * 86400)
        await j.outbox_add("a-new", "ack", b"{}")
        await j.outbox_resolve("a-new", "duplicate")
        result = await j.prune()
        assert (result.audit, result.outbox) == (0, 1)
        assert await j.outbox_get("a-old") is None
        assert await j.outbox_get("a-new") is not None
        assert [e.command_id for e in await j.outbox_pending()] == ["a-stuck"]
        clock.advance(400 * 86400)
        result = await j.prune()
        assert (result.audit, result.outbox) == (1, 1)
        assert [e.command_id for e in await j.outbox_pending()] == ["a-stuck"]


async def test_size_pruning_shrinks_the_file(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with await Journal.open(path, max_mb=1) as j:
        for start in range(1, 3001, 500):
            await j.append(batch(start, start + 499, description="x" * 1500))
        state = FakeState()
        state.seqs = list(range(1, 3001))
        await j.write_snapshot("ep-1", 3000, state.snapshot())
        await j.append(batch(3001, 3200, description="y" * 1500))
        big = path.stat().st_size
        assert big > 4 * 1024 * 1024
        result = await j.prune()
        small = path.stat().st_size
        assert result.events_by_size > 0
        assert small < 1024 * 1024 <= big
        assert result.bytes_after == small
        assert not result.over_limit
        assert (await j.stats())["integrity"] == "ok"
        first, last = await j.epoch_range("ep-1") or (0, 0)
        assert last == 3200
        assert 1 < first <= 3001  # the 200 uncovered tail events all survive
        restored = FakeState()
        assert await j.restore(restored.load, restored.apply) == ("ep-1", 3200, 200)
        assert restored.seqs == list(range(1, 3201))


async def test_size_pruning_stops_at_the_snapshot_coverage(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with await Journal.open(path, max_mb=0.5) as j:
        await j.append(batch(1, 100, description="x" * 1500))
        state = FakeState()
        state.seqs = list(range(1, 101))
        await j.write_snapshot("ep-1", 100, state.snapshot())
        await j.append(batch(101, 1000, description="z" * 1500))  # ~2 MB of tail
        result = await j.prune()
        assert result.events_by_size == 100
        assert result.over_limit
        restored = FakeState()
        assert await j.restore(restored.load, restored.apply) == ("ep-1", 1000, 900)
        assert restored.seqs == list(range(1, 1001))


# --- inspection and CLI --------------------------------------------------------------------


async def test_export_lines_in_order(journal: Journal) -> None:
    await journal.append(batch(1, 7, epoch="ep-a"))
    await journal.append(batch(1, 3, epoch="ep-b"))
    text = io.StringIO()
    assert await journal.export_jsonl(text, batch=4) == 10
    lines = text.getvalue().splitlines()
    assert len(lines) == 10
    rows = [json.loads(line) for line in lines]
    assert [(r["epoch"], r["seq"]) for r in rows] == [("ep-a", s) for s in range(1, 8)] + [
        ("ep-b", s) for s in range(1, 4)
    ]
    assert list(rows[0]) == ["epoch", "seq", "id", "kind", "ts", "event"]
    assert rows[0]["kind"] == "incident"
    assert rows[0]["id"] == "ep-a-1"
    assert p.decode_event(json.dumps(rows[0]["event"])) == incident_event_like(rows[0]["event"])
    binary = io.BytesIO()
    assert await journal.export_jsonl(binary) == 10
    assert binary.getvalue().decode() == text.getvalue()


def incident_event_like(obj: dict[str, object]) -> p.Event:
    return msgspec.convert(obj, p.Event)


async def test_export_keeps_a_line_for_a_corrupt_row(journal: Journal) -> None:
    await journal.append(batch(1, 1))
    await journal.append([(incident_event(2), b"\xffnot json")])
    out = io.StringIO()
    assert await journal.export_jsonl(out) == 2
    second = json.loads(out.getvalue().splitlines()[1])
    assert second["seq"] == 2
    assert second["event"] is None
    assert "corrupt" in second["error"]


async def test_stats(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db") as j:
        await j.append(batch(1, 20, epoch="ep-1"))
        await j.write_snapshot("ep-1", 20, b"[]")
        await j.append(batch(1, 4, epoch="ep-2"))
        await j.outbox_add("c1", "ack", b"{}")
        await j.outbox_add("c2", "ack", b"{}")
        await j.outbox_resolve("c2", "applied")
        await j.audit("console.muted")
        s = await j.stats()
    assert s["events"] == 24
    assert s["first"] == {"epoch": "ep-1", "seq": 1, "ts": "2026-11-27T03:00:00.000000Z"}
    assert s["last"]["epoch"] == "ep-2"
    assert s["last"]["seq"] == 4
    assert s["position"] == {"epoch": "ep-2", "seq": 4}
    assert s["epochs"] == [
        {"epoch": "ep-1", "events": 20, "first_seq": 1, "last_seq": 20},
        {"epoch": "ep-2", "events": 4, "first_seq": 1, "last_seq": 4},
    ]
    assert s["snapshots"] == 1
    assert s["latest_snapshot"]["seq"] == 20
    assert s["latest_snapshot"]["source"] == "local"
    assert (s["outbox"], s["outbox_pending"], s["audit"]) == (2, 1, 1)
    assert s["integrity"] == "ok"
    assert s["journal_mode"] == "wal"
    assert s["file_bytes"] > 0
    assert s["page_count"] * s["page_size"] > 0


async def test_cli_entry_points_on_a_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "j.db"
    async with await Journal.open(path) as j:
        await j.append(batch(1, 5))
    # The entry points run their own event loop: call them from a thread.
    out = io.StringIO()
    assert await asyncio.to_thread(journal_stats_main, str(path), out) == 0
    assert json.loads(out.getvalue())["events"] == 5
    out = io.StringIO()
    assert await asyncio.to_thread(journal_export_main, str(path), out) == 0
    assert [json.loads(x)["seq"] for x in out.getvalue().splitlines()] == [1, 2, 3, 4, 5]
    # Default output is the current sys.stdout.
    assert await asyncio.to_thread(journal_export_main, str(path)) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5


def test_cli_missing_file_is_a_clean_error_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.db"
    assert journal_stats_main(str(missing)) == 1
    assert journal_export_main(str(missing)) == 1
    assert journal_stats_main(str(tmp_path)) == 1  # a directory
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3
    assert all(line.startswith("journal ") for line in err)
    assert "no such journal file" in err[0]
    assert os.listdir(tmp_path) == []


def test_cli_foreign_sqlite_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE events (x)")
    con.commit()
    con.close()
    assert journal_stats_main(str(path)) == 1
    assert journal_export_main(str(path)) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert "not a journal" in err[0]


@given(st.binary(max_size=9000), st.booleans())
def test_cli_garbage_file_is_a_clean_error(data: bytes, sqlite_header: bool) -> None:
    if sqlite_header:
        data = b"SQLite format 3\x00" + data
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "garbage.db"
        path.write_bytes(data)
        for main in (journal_stats_main, journal_export_main):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stderr(err):
                assert main(str(path), out) == 1
            assert out.getvalue() == ""
            lines = err.getvalue().splitlines()
            assert len(lines) == 1
            assert lines[0].startswith("journal ")
            assert "Traceback" not in err.getvalue()
        assert path.read_bytes() == data


# --- crash safety ---------------------------------------------------------------------------


def _run_child_until(db: Path, commits: int, batch_size: int, snapshot_every: int) -> list[int]:
    """Start the writer, wait (on the pipe) for ``commits`` reported commits,
    SIGKILL it, and return every seq it reported as committed."""
    proc = subprocess.Popen(
        [PYTHON, str(CHILD), str(db), str(batch_size), str(snapshot_every)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    reported: list[int] = []
    try:
        assert proc.stdout is not None
        while len(reported) < commits:
            line = proc.stdout.readline()
            if not line:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise AssertionError(f"writer exited early: {err}")
            reported.append(int(line))
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate()
        # Lines written after our last read were also printed after a commit.
        reported.extend(int(x) for x in rest.split())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    return reported


@pytest.mark.slow
def test_sigkill_mid_write_loses_no_committed_event(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    last = 0
    for commits, batch_size, snapshot_every in [(1, 1, 1), (7, 3, 2), (25, 10, 4), (60, 7, 9)]:
        reported = _run_child_until(db, commits, batch_size, snapshot_every)
        assert reported
        assert reported[0] == last + batch_size  # resumed right after the last commit

        async def check(reported: list[int] = reported) -> tuple[str, int]:
            async with await Journal.open(db) as j:
                seqs = [p.decode_event(d).seq async for _, d in j.iter_events()]
                state = FakeState()
                epoch, seq, _ = await j.restore(lambda b: None, state.apply)
                assert (await j.stats())["integrity"] == "ok"
                pos = await j.last_position()
            # Every committed event is there, in order, without a gap.
            assert set(reported) <= set(seqs)
            assert seqs == list(range(1, len(seqs) + 1))
            assert seq == seqs[-1]
            assert pos == ("crash-1", seqs[-1])
            return epoch, seq

        _, last = asyncio.run(check())
        assert last >= reported[-1]
        con = sqlite3.connect(db)
        try:
            assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        finally:
            con.close()


# --- a big journal -----------------------------------------------------------------------------


@pytest.mark.slow
async def test_restore_of_a_big_journal_starts_from_the_latest_snapshot(tmp_path: Path) -> None:
    """10,000 incidents, 200,000 events, a snapshot every 20,000 events: restore loads the last
    snapshot and replays only the 5,000 events after it. How long that takes is a benchmark
    (journal.restore_10k_s in `make bench`), never a timed test."""
    path = tmp_path / "big.db"
    template = Incident(
        id="inc-0",
        ticket="OKI-0",
        version=1,
        category="banjir",
        priority="high",
        status="received",
        location=Location(lat=-3.4, lon=105.0, kecamatan="Kayuagung"),
        description="Banjir setinggi lutut di permukiman warga",
        times=IncidentTimes(received=T0),
    )
    snapshot_blob = b"x" * (10_000 * 700)  # ~10,000 encoded incidents
    async with await Journal.open(path, synchronous="NORMAL") as j:
        started = time.perf_counter()
        for start in range(1, 200_001, 1000):
            rows = []
            for seq in range(start, start + 1000):
                n = seq % 10_000
                inc = msgspec.structs.replace(template, id=f"inc-{n}", ticket=f"OKI-{n}", version=seq)
                body = p.IncidentUpserted(incident=inc)
                ev = p.Event(epoch="ep-1", seq=seq, id=f"ev-{seq}", ts=T0, body=body)
                rows.append((ev, p.encode(ev)))
            await j.append(rows)
            if (start + 999) % 20_000 == 15_000:  # last snapshot 5,000 events ago
                await j.write_snapshot("ep-1", start + 999, snapshot_blob)
        append_s = time.perf_counter() - started

    async with await Journal.open(path) as j:
        state = FakeState()
        loaded: list[bytes] = []
        started = time.perf_counter()
        epoch, seq, tail = await j.restore(loaded.append, state.apply)
        restore_s = time.perf_counter() - started
    assert (epoch, seq, tail) == ("ep-1", 200_000, 5000)
    assert loaded == [snapshot_blob]
    print(f"append 200k (incl. building events): {append_s:.2f} s; restore (5k tail): {restore_s:.3f} s")
    assert restore_s < 1.0
