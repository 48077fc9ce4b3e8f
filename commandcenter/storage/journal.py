"""The journal: a local SQLite file holding what the wall must not forget.

It keeps the events applied from the feed (the exact JSON bytes of each
:class:`protocol.Event` frame, keyed by ``(epoch, seq)``), periodic snapshots of
the whole state, the outbox of acknowledgements not yet confirmed by the server,
and an audit log of what operators did. The reference server uses the same class
as its own event log, so the event API is generic: append events with their
epoch/seq, read ranges back.

Durability. The file runs in WAL mode with ``synchronous=FULL`` by default: in
WAL mode NORMAL already survives a SIGKILL of the process (a commit is in the
WAL file, i.e. the OS page cache, when COMMIT returns), but only FULL fsyncs the
WAL on each commit and so also survives a power cut. Operators' acknowledgements
in the outbox and the audit trail are not recoverable from the server, and event
batches are small and infrequent, so one fsync per commit is a price worth
paying. ``synchronous="NORMAL"`` is accepted for bulk tools and benchmarks.

Concurrency. One aiosqlite connection (one worker thread) and one asyncio lock:
every transaction runs under the lock so that coroutines sharing the journal
never interleave statements of one transaction. Long operations (prune, export,
restore, iteration) take the lock per batch, so live appends are not held up.

No Qt here: this module runs under plain asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import json
import logging
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal, TextIO, cast

import aiosqlite
import msgspec

from commandcenter.core import protocol
from commandcenter.core.timeutil import Clock, utcnow

log = logging.getLogger(__name__)

#: Written in the SQLite header so a journal can be told from any other SQLite
#: file ("OKI1"); the CLI refuses files without it.
APPLICATION_ID = 0x4F4B4931
#: Current schema version (``PRAGMA user_version``); see :data:`_MIGRATIONS`.
SCHEMA_VERSION = 1

OutboxStatus = Literal["pending", "applied", "duplicate", "rejected"]
SnapshotSource = Literal["local", "server"]
_RESOLVED_STATUSES = frozenset({"applied", "duplicate", "rejected"})
_SNAPSHOT_SOURCES = frozenset({"local", "server"})
#: Snapshots kept by :meth:`Journal.prune` (the newest ones).
KEEP_SNAPSHOTS = 3
#: Rows deleted per transaction while pruning, so appends are never held up long.
_PRUNE_CHUNK = 20_000

# Each entry brings the schema from version N-1 to N. Never edit a shipped entry:
# add a new one.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        # AUTOINCREMENT: rowids are never reused after pruning, so a snapshot's
        # upto_rowid keeps meaning "everything up to here" forever.
        """CREATE TABLE events (
            rowid INTEGER PRIMARY KEY AUTOINCREMENT,
            epoch TEXT NOT NULL,
            seq INTEGER NOT NULL,
            event_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            ts TEXT NOT NULL,
            data BLOB NOT NULL,
            UNIQUE (epoch, seq)
        )""",
        """CREATE TABLE snapshots (
            rowid INTEGER PRIMARY KEY AUTOINCREMENT,
            epoch TEXT NOT NULL,
            seq INTEGER NOT NULL,
            upto_rowid INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('local', 'server')),
            data BLOB NOT NULL
        )""",
        """CREATE TABLE outbox (
            command_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            data BLOB NOT NULL,
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_sent_at TEXT,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'applied', 'duplicate', 'rejected')),
            resolved_at TEXT,
            reason TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX outbox_status ON outbox (status, created_at)",
        """CREATE TABLE audit (
            rowid INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            action TEXT NOT NULL,
            operator TEXT NOT NULL DEFAULT '',
            console TEXT NOT NULL DEFAULT '',
            target_kind TEXT NOT NULL DEFAULT '',
            target_id TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX audit_at ON audit (at)",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        # A server's record of client commands it applied, so a resent
        # acknowledgement (same command_id) is applied once, across restarts too.
        """CREATE TABLE commands (
            command_id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            at TEXT NOT NULL
        )""",
    ),
}


class JournalError(Exception):
    """The file is missing, is not a journal, is from a newer version, or a
    snapshot could not be loaded. The message is one line meant for a person."""


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    rowid: int
    epoch: str
    seq: int
    #: The highest events rowid allocated when it was written (may exceed the
    #: max rowid: an ignored duplicate still consumes one); tail = rowid > upto_rowid.
    upto_rowid: int
    created_at: dt.datetime
    source: str
    data: bytes


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    command_id: str
    kind: str
    #: The encoded command frame, resent as is.
    data: bytes
    created_at: dt.datetime
    attempts: int
    last_sent_at: dt.datetime | None
    status: str
    resolved_at: dt.datetime | None
    reason: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    rowid: int
    at: dt.datetime
    action: str
    operator: str
    console: str
    target_kind: str
    target_id: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PruneResult:
    events_by_age: int = 0
    events_by_size: int = 0
    snapshots: int = 0
    audit: int = 0
    outbox: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    #: Still larger than max_mb: what is left is needed by a restore.
    over_limit: bool = False


# --- helpers --------------------------------------------------------------------


def _iso(value: dt.datetime) -> str:
    """Fixed-width UTC text, so that string comparison in SQL is time order."""
    if value.tzinfo is None:
        raise ValueError("journal timestamps must be timezone-aware")
    # isoformat is several times faster than strftime and gives the same
    # fixed width once microseconds are forced and the offset is dropped.
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _parse(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _parse_req(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def _sqlite_target(p: Path, readonly: bool) -> str:
    """What to hand sqlite3.connect. Read-only goes through a ``mode=ro`` URI so
    that SQLite never creates nor writes the file."""
    if readonly:
        if not p.is_file():
            raise JournalError(f"{p}: no such journal file")
        return p.resolve().as_uri() + "?mode=ro"
    p.parent.mkdir(parents=True, exist_ok=True)
    return str(p)


def _body_kind(event: protocol.Event) -> str:
    return str(type(event.body).__struct_config__.tag)


def _outbox_entry(row: Sequence[Any]) -> OutboxEntry:
    return OutboxEntry(
        command_id=row[0],
        kind=row[1],
        data=bytes(row[2]),
        created_at=_parse_req(row[3]),
        attempts=row[4],
        last_sent_at=_parse(row[5]),
        status=row[6],
        resolved_at=_parse(row[7]),
        reason=row[8],
    )


_OUTBOX_COLS = "command_id, kind, data, created_at, attempts, last_sent_at, status, resolved_at, reason"
_SNAPSHOT_COLS = "rowid, epoch, seq, upto_rowid, created_at, source, data"


def _snapshot_record(row: Sequence[Any]) -> SnapshotRecord:
    return SnapshotRecord(
        rowid=row[0],
        epoch=row[1],
        seq=row[2],
        upto_rowid=row[3],
        created_at=_parse_req(row[4]),
        source=row[5],
        data=bytes(row[6]),
    )


# --- the journal ------------------------------------------------------------------


class Journal:
    """One journal file. Make it with :meth:`open`; close it (or use ``async with``)."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        path: Path,
        *,
        retention_days: float,
        max_mb: float,
        audit_retention_days: float,
        clock: Clock,
        readonly: bool,
    ) -> None:
        self._db = db
        self.path = path
        self.retention_days = retention_days
        self.max_mb = max_mb
        self.audit_retention_days = audit_retention_days
        self.readonly = readonly
        self._clock = clock
        self._lock = asyncio.Lock()

    # --- lifecycle ---------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        retention_days: float = 90,
        max_mb: float = 2048,
        audit_retention_days: float = 730,
        clock: Clock = utcnow,
        synchronous: Literal["NORMAL", "FULL"] = "FULL",
        readonly: bool = False,
    ) -> Journal:
        """Open (creating or migrating if needed) the journal at ``path``.

        ``readonly=True`` (inspection tools) never creates nor changes the file
        and refuses a missing file or one that is not a journal."""
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        p = Path(path)
        db = aiosqlite.connect(_sqlite_target(p, readonly), uri=readonly, isolation_level=None)
        try:
            await db
        except sqlite3.Error as exc:
            raise JournalError(f"{p}: cannot open ({exc})") from None
        try:
            if readonly:
                await cls._check_existing(db, p)
            else:
                await cls._prepare(db, p, synchronous)
        except BaseException:
            await db.close()
            raise
        return cls(
            db,
            p,
            retention_days=retention_days,
            max_mb=max_mb,
            audit_retention_days=audit_retention_days,
            clock=clock,
            readonly=readonly,
        )

    @staticmethod
    async def _scalar(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = list(await db.execute_fetchall(sql, params))
        return rows[0][0] if rows else None

    @classmethod
    async def _check_existing(cls, db: aiosqlite.Connection, p: Path) -> int:
        """The schema version of a valid journal; JournalError otherwise."""
        try:
            app_id = await cls._scalar(db, "PRAGMA application_id")
            version = int(await cls._scalar(db, "PRAGMA user_version"))
        except sqlite3.Error as exc:
            raise JournalError(f"{p}: not a journal ({exc})") from None
        if app_id != APPLICATION_ID:
            raise JournalError(f"{p}: not a journal (an SQLite file of another application)")
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"{p}: journal schema {version} is newer than this program supports ({SCHEMA_VERSION})"
            )
        return version

    @classmethod
    async def _prepare(cls, db: aiosqlite.Connection, p: Path, synchronous: str) -> None:
        try:
            app_id = await cls._scalar(db, "PRAGMA application_id")
            tables = await cls._scalar(db, "SELECT count(*) FROM sqlite_master")
        except sqlite3.Error as exc:
            raise JournalError(f"{p}: not a journal ({exc})") from None
        fresh = app_id == 0 and tables == 0
        if not fresh:
            await cls._check_existing(db, p)
        else:
            # Only possible before the first table exists; lets prune() hand
            # freed pages back to the file system.
            await db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        mode = await cls._scalar(db, "PRAGMA journal_mode=WAL")
        if str(mode).lower() != "wal":
            raise JournalError(f"{p}: cannot switch the journal to WAL mode (got {mode})")
        await db.execute(f"PRAGMA synchronous={synchronous}")
        # The CLI may read while the wall writes: wait rather than fail at once.
        await db.execute("PRAGMA busy_timeout=5000")
        # Keep the WAL file from staying huge after a burst (bytes).
        await db.execute("PRAGMA journal_size_limit=67108864")
        await db.execute("PRAGMA cache_size=-16384")
        await db.execute("BEGIN IMMEDIATE")
        try:
            version = int(await cls._scalar(db, "PRAGMA user_version"))
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[target]:
                    await db.execute(statement)
                log.info("journal %s migrated to schema %d", p, target)
            if fresh:
                await db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                await db.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('created_at', ?)",
                    (_iso(utcnow()),),
                )
            await db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            await db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error, ValueError):
                await db.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        async with self._lock:
            await self._db.close()

    async def __aenter__(self) -> Journal:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- plumbing ------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction under the lock. BEGIN IMMEDIATE takes the write
        lock at once, so a concurrent reader process cannot make COMMIT fail."""
        if self.readonly:
            raise JournalError(f"{self.path}: opened read-only")
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                # Queued behind the failed statement on the worker thread, so it
                # also runs when we were cancelled mid-statement.
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._lock:
            return list(await self._db.execute_fetchall(sql, params))

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None

    # --- events ----------------------------------------------------------------------

    async def append(
        self, events: Sequence[tuple[protocol.Event, bytes]], *, command_id: str | None = None
    ) -> int:
        """Write a batch of events (each with its exact frame bytes) in one
        transaction; an (epoch, seq) already present is ignored. Returns how many
        were new. When this returns, the batch is committed.

        ``command_id`` (a server applying a client's command) is recorded in the
        same transaction, so a command is never applied twice nor half-recorded."""
        rows = [(ev.epoch, ev.seq, ev.id, _body_kind(ev), _iso(ev.ts), bytes(data)) for ev, data in events]
        if not rows and command_id is None:
            return 0
        async with self._write() as db:
            count = 0
            if rows:
                cur = await db.executemany(
                    "INSERT OR IGNORE INTO events (epoch, seq, event_id, kind, ts, data) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                count = int(cur.rowcount)
            if command_id is not None:
                last = events[-1][0].seq if events else 0
                await db.execute(
                    "INSERT OR IGNORE INTO commands (command_id, seq, at) VALUES (?, ?, ?)",
                    (command_id, last, _iso(self._clock())),
                )
            return count

    async def command_seq(self, command_id: str) -> int | None:
        """The seq a command was applied at (0 if it made no event), or None if
        this command_id was never applied."""
        row = await self._fetchone("SELECT seq FROM commands WHERE command_id = ?", (command_id,))
        return None if row is None else int(row[0])

    async def last_position(self) -> tuple[str, int]:
        """(epoch, seq) of the last journaled event, or of the latest snapshot when
        it is later (a server snapshot adopted with a new epoch); ("", 0) if empty."""
        async with self._lock:
            ev = list(
                await self._db.execute_fetchall(
                    "SELECT rowid, epoch, seq FROM events ORDER BY rowid DESC LIMIT 1"
                )
            )
            snap = list(
                await self._db.execute_fetchall(
                    "SELECT upto_rowid, epoch, seq FROM snapshots ORDER BY rowid DESC LIMIT 1"
                )
            )
        if snap and (not ev or snap[0][0] >= ev[0][0]):
            return str(snap[0][1]), int(snap[0][2])
        if ev:
            return str(ev[0][1]), int(ev[0][2])
        return "", 0

    async def events_after(
        self, epoch: str, seq: int, limit: int = 10_000, upto: int | None = None
    ) -> list[bytes]:
        """Frame bytes of the events of ``epoch`` with seq > ``seq`` (and <= ``upto``
        when given), in seq order (a server's replay). Check :meth:`epoch_range`
        first to know whether the history still reaches back to seq + 1."""
        rows = await self.events_with_seq_after(epoch, seq, limit, upto)
        return [data for _, data in rows]

    async def events_with_seq_after(
        self, epoch: str, seq: int, limit: int = 10_000, upto: int | None = None
    ) -> list[tuple[int, bytes]]:
        """Like :meth:`events_after`, with each event's seq (no decoding needed)."""
        rows = await self._fetchall(
            "SELECT seq, data FROM events WHERE epoch = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
            (epoch, seq, (2**63 - 1) if upto is None else upto, limit),
        )
        return [(int(r[0]), bytes(r[1])) for r in rows]

    async def epoch_range(self, epoch: str) -> tuple[int, int] | None:
        """(first seq, last seq) still journaled for ``epoch``, or None."""
        row = await self._fetchone("SELECT min(seq), max(seq) FROM events WHERE epoch = ?", (epoch,))
        if row is None or row[0] is None:
            return None
        return int(row[0]), int(row[1])

    async def iter_events(self, after_rowid: int = 0, batch: int = 5000) -> AsyncIterator[tuple[int, bytes]]:
        """(rowid, frame bytes) of every event after ``after_rowid`` in order.
        Reads by keyset pages, holding the lock only per page, so the consumer
        may append or await freely while iterating."""
        after = after_rowid
        while True:
            rows = await self._fetchall(
                "SELECT rowid, data FROM events WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, batch)
            )
            for rowid, data in rows:
                yield int(rowid), bytes(data)
            if len(rows) < batch:
                return
            after = rows[-1][0]

    async def count_events(self) -> int:
        row = await self._fetchone("SELECT count(*) FROM events")
        return int(row[0])

    # --- snapshots -------------------------------------------------------------------

    async def write_snapshot(
        self, epoch: str, seq: int, data: bytes, source: SnapshotSource = "local"
    ) -> int:
        """Store the whole state as of (epoch, seq). It covers every event
        journaled so far (upto_rowid = the highest events rowid ever given).
        With ``source='server'`` (a server snapshot adopted, usually a new
        epoch), :meth:`last_position` reports (epoch, seq) from now on."""
        if source not in _SNAPSHOT_SOURCES:
            raise ValueError(f"snapshot source must be local or server, not {source!r}")
        async with self._write() as db:
            # sqlite_sequence rather than max(rowid): correct even when pruning
            # emptied the events table.
            cur = await db.execute(
                "INSERT INTO snapshots (epoch, seq, upto_rowid, created_at, source, data) VALUES "
                "(?, ?, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), ?, ?, ?)",
                (epoch, seq, _iso(self._clock()), source, bytes(data)),
            )
            return int(cur.lastrowid or 0)

    async def latest_snapshot(self) -> SnapshotRecord | None:
        row = await self._fetchone(f"SELECT {_SNAPSHOT_COLS} FROM snapshots ORDER BY rowid DESC LIMIT 1")
        return None if row is None else _snapshot_record(row)

    async def restore(
        self,
        load_state: Callable[[bytes], None],
        apply_events: Callable[[list[protocol.Event]], None],
        *,
        batch: int = 5000,
    ) -> tuple[str, int, int]:
        """Rebuild the caller's state: the latest snapshot's bytes go to
        ``load_state``, then the tail events (decoded) to ``apply_events`` in
        batches. Returns (epoch, seq, tail events applied): the position to
        resume the feed from. A corrupt event row is logged and skipped.

        Raises :class:`JournalError` when ``load_state`` fails on the snapshot."""
        snap = await self.latest_snapshot()
        epoch, seq, after = "", 0, 0
        if snap is not None:
            try:
                load_state(snap.data)
            except Exception as exc:
                raise JournalError(
                    f"snapshot {snap.rowid} ({snap.epoch}/{snap.seq}) could not be loaded: {exc}"
                ) from exc
            epoch, seq, after = snap.epoch, snap.seq, snap.upto_rowid
        applied = 0
        while True:
            rows = await self._fetchall(
                "SELECT rowid, data FROM events WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, batch)
            )
            decoded: list[protocol.Event] = []
            for rowid, data in rows:
                try:
                    decoded.append(protocol.decode_event(data))
                except Exception as exc:  # never seen in practice; must not stop a restart
                    log.error("journal %s: skipping corrupt event row %d: %s", self.path, rowid, exc)
            if decoded:
                apply_events(decoded)
                applied += len(decoded)
                epoch, seq = decoded[-1].epoch, decoded[-1].seq
            if len(rows) < batch:
                break
            after = rows[-1][0]
        return epoch, seq, applied

    # --- outbox ------------------------------------------------------------------------

    async def outbox_add(self, command_id: str, kind: str, data: bytes) -> bool:
        """Store a command before it is first sent. Idempotent: adding an id
        again changes nothing and returns False."""
        async with self._write() as db:
            cur = await db.execute(
                "INSERT OR IGNORE INTO outbox (command_id, kind, data, created_at) VALUES (?, ?, ?, ?)",
                (command_id, kind, bytes(data), _iso(self._clock())),
            )
            return cur.rowcount == 1

    async def outbox_pending(self) -> list[OutboxEntry]:
        """Commands not yet confirmed, oldest first (insertion order, so a clock
        step cannot reorder them)."""
        rows = await self._fetchall(
            f"SELECT {_OUTBOX_COLS} FROM outbox WHERE status = 'pending' ORDER BY rowid"
        )
        return [_outbox_entry(r) for r in rows]

    async def outbox_mark_sent(self, command_id: str) -> bool:
        async with self._write() as db:
            cur = await db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_sent_at = ? WHERE command_id = ?",
                (_iso(self._clock()), command_id),
            )
            return cur.rowcount == 1

    async def outbox_resolve(self, command_id: str, status: OutboxStatus, reason: str = "") -> bool:
        """Record the server's answer. Only a pending entry changes (the first
        answer wins; a late duplicate result is ignored). Returns whether it did."""
        if status not in _RESOLVED_STATUSES:
            raise ValueError(f"outbox status must be applied, duplicate or rejected, not {status!r}")
        async with self._write() as db:
            cur = await db.execute(
                "UPDATE outbox SET status = ?, reason = ?, resolved_at = ? "
                "WHERE command_id = ? AND status = 'pending'",
                (status, reason, _iso(self._clock()), command_id),
            )
            return cur.rowcount == 1

    async def outbox_get(self, command_id: str) -> OutboxEntry | None:
        row = await self._fetchone(f"SELECT {_OUTBOX_COLS} FROM outbox WHERE command_id = ?", (command_id,))
        return None if row is None else _outbox_entry(row)

    # --- audit -------------------------------------------------------------------------

    async def audit(
        self,
        action: str,
        *,
        operator: str = "",
        console: str = "",
        target_kind: str = "",
        target_id: str = "",
        detail: dict[str, Any] | None = None,
        at: dt.datetime | None = None,
    ) -> int:
        """Record what an operator (or the wall) did, e.g. 'alert.acknowledged'."""
        # enc_hook=str: an odd value in detail must not lose the audit row.
        detail_json = msgspec.json.encode(detail or {}, enc_hook=str).decode()
        async with self._write() as db:
            cur = await db.execute(
                "INSERT INTO audit (at, action, operator, console, target_kind, target_id, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_iso(at or self._clock()), action, operator, console, target_kind, target_id, detail_json),
            )
            return int(cur.lastrowid or 0)

    async def audit_since(self, since: dt.datetime) -> list[AuditRecord]:
        rows = await self._fetchall(
            "SELECT rowid, at, action, operator, console, target_kind, target_id, detail FROM audit "
            "WHERE at >= ? ORDER BY at, rowid",
            (_iso(since),),
        )
        out = []
        for r in rows:
            try:
                detail = json.loads(r[7])
            except ValueError:
                detail = {"raw": r[7]}
            out.append(AuditRecord(r[0], _parse_req(r[1]), r[2], r[3], r[4], r[5], r[6], detail))
        return out

    # --- meta ----------------------------------------------------------------------------

    async def meta_get(self, key: str) -> str | None:
        row = await self._fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    async def meta_set(self, key: str, value: str) -> None:
        async with self._write() as db:
            await db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # --- retention -------------------------------------------------------------------------

    async def _pages(self) -> tuple[int, int, int]:
        async with self._lock:
            page_size = await self._scalar(self._db, "PRAGMA page_size")
            page_count = await self._scalar(self._db, "PRAGMA page_count")
            free = await self._scalar(self._db, "PRAGMA freelist_count")
        return int(page_size), int(page_count), int(free)

    async def _delete_chunked(self, select_rowids: str, params: tuple[Any, ...], table: str) -> int:
        """Delete in chunks (one transaction each) the rows ``select_rowids`` finds."""
        total = 0
        while True:
            async with self._write() as db:
                cur = await db.execute(
                    f"DELETE FROM {table} WHERE rowid IN ({select_rowids} LIMIT {_PRUNE_CHUNK})", params
                )
                n = int(cur.rowcount)
            total += n
            if n < _PRUNE_CHUNK:
                return total

    async def prune(self) -> PruneResult:
        """Apply retention. Events are deleted only if the latest snapshot covers
        them (rowid <= upto_rowid): by age first, then oldest first while the file
        is over max_mb. Keeps the newest snapshots, pending outbox entries always."""
        now = self._clock()
        cutoff = _iso(now - dt.timedelta(days=self.retention_days))
        audit_cutoff = _iso(now - dt.timedelta(days=self.audit_retention_days))
        page_size, page_count, _ = await self._pages()
        bytes_before = page_size * page_count

        async with self._write() as db:
            cur = await db.execute(
                "DELETE FROM snapshots WHERE rowid NOT IN "
                "(SELECT rowid FROM snapshots ORDER BY rowid DESC LIMIT ?)",
                (KEEP_SNAPSHOTS,),
            )
            n_snap = int(cur.rowcount)
            cur = await db.execute("DELETE FROM audit WHERE at < ?", (audit_cutoff,))
            n_audit = int(cur.rowcount)
            cur = await db.execute(
                "DELETE FROM outbox WHERE status != 'pending' AND resolved_at < ?", (cutoff,)
            )
            n_outbox = int(cur.rowcount)

        snap = await self.latest_snapshot()
        covered = snap.upto_rowid if snap is not None else 0
        n_age = await self._delete_chunked(
            "SELECT rowid FROM events WHERE rowid <= ? AND ts < ? ORDER BY rowid", (covered, cutoff), "events"
        )

        # Size: count used pages (freed ones go back at the vacuum below) and
        # aim 10 % under the limit so that prune does not run at every append.
        limit = self.max_mb * 1024 * 1024
        n_size = 0
        over = False
        page_size, page_count, free = await self._pages()
        if page_size * page_count > limit:
            target = 0.9 * limit
            while (page_count - free) * page_size > target:
                row = await self._fetchone(
                    "SELECT count(*), avg(length(data)) FROM "
                    "(SELECT data FROM events WHERE rowid <= ? ORDER BY rowid LIMIT 1000)",
                    (covered,),
                )
                if not row[0]:
                    over = True  # the rest is needed by a restore
                    break
                excess = (page_count - free) * page_size - target
                # ~64 bytes of row, key and index overhead per event.
                want = max(100, min(_PRUNE_CHUNK, int(excess / (float(row[1]) + 64)) + 1))
                async with self._write() as db:
                    cur = await db.execute(
                        "DELETE FROM events WHERE rowid IN "
                        "(SELECT rowid FROM events WHERE rowid <= ? ORDER BY rowid LIMIT ?)",
                        (covered, want),
                    )
                    n_size += int(cur.rowcount)
                page_size, page_count, free = await self._pages()

        async with self._lock:
            # incremental_vacuum frees pages one step at a time: drain it.
            await self._db.execute_fetchall("PRAGMA incremental_vacuum")
            # The truncation lives in the WAL until a checkpoint writes it back.
            await self._db.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size, page_count, _ = await self._pages()
        bytes_after = page_size * page_count
        if bytes_after > limit:
            over = True
        result = PruneResult(
            events_by_age=n_age,
            events_by_size=n_size,
            snapshots=n_snap,
            audit=n_audit,
            outbox=n_outbox,
            bytes_before=bytes_before,
            bytes_after=bytes_after,
            over_limit=over,
        )
        log.info("journal %s pruned: %s", self.path, result)
        return result

    # --- inspection ------------------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        """Size, counts, positions and health, as JSON-ready values."""

        async def one(sql: str, params: Sequence[Any] = ()) -> Any:
            rows = list(await self._db.execute_fetchall(sql, params))
            return rows[0] if rows else None

        async with self._lock:
            page_size = (await one("PRAGMA page_size"))[0]
            page_count = (await one("PRAGMA page_count"))[0]
            freelist = (await one("PRAGMA freelist_count"))[0]
            journal_mode = (await one("PRAGMA journal_mode"))[0]
            auto_vacuum = (await one("PRAGMA auto_vacuum"))[0]
            user_version = (await one("PRAGMA user_version"))[0]
            n_events = (await one("SELECT count(*) FROM events"))[0]
            first = await one("SELECT epoch, seq, ts FROM events ORDER BY rowid LIMIT 1")
            last = await one("SELECT epoch, seq, ts FROM events ORDER BY rowid DESC LIMIT 1")
            epochs = list(
                await self._db.execute_fetchall(
                    "SELECT epoch, count(*), min(seq), max(seq), min(rowid) FROM events "
                    "GROUP BY epoch ORDER BY min(rowid)"
                )
            )
            n_snap = (await one("SELECT count(*) FROM snapshots"))[0]
            snap = await one(
                "SELECT epoch, seq, upto_rowid, created_at, source, length(data) FROM snapshots "
                "ORDER BY rowid DESC LIMIT 1"
            )
            pending = (await one("SELECT count(*) FROM outbox WHERE status = 'pending'"))[0]
            n_outbox = (await one("SELECT count(*) FROM outbox"))[0]
            n_audit = (await one("SELECT count(*) FROM audit"))[0]
            check = [str(r[0]) for r in await self._db.execute_fetchall("PRAGMA quick_check")]

        def size(p: Path) -> int:
            try:
                return p.stat().st_size
            except OSError:
                return 0

        def pos(row: Any) -> dict[str, Any] | None:
            return None if row is None else {"epoch": row[0], "seq": row[1], "ts": row[2]}

        position = await self.last_position()
        return {
            "path": str(self.path),
            "file_bytes": size(self.path),
            "wal_bytes": size(self.path.with_name(self.path.name + "-wal")),
            "page_size": page_size,
            "page_count": page_count,
            "freelist_count": freelist,
            "journal_mode": journal_mode,
            "auto_vacuum": {0: "none", 1: "full", 2: "incremental"}.get(auto_vacuum, auto_vacuum),
            "schema_version": user_version,
            "events": n_events,
            "first": pos(first),
            "last": pos(last),
            "position": {"epoch": position[0], "seq": position[1]},
            "epochs": [{"epoch": e[0], "events": e[1], "first_seq": e[2], "last_seq": e[3]} for e in epochs],
            "snapshots": n_snap,
            "latest_snapshot": None
            if snap is None
            else {
                "epoch": snap[0],
                "seq": snap[1],
                "upto_rowid": snap[2],
                "created_at": snap[3],
                "source": snap[4],
                "bytes": snap[5],
            },
            "outbox": n_outbox,
            "outbox_pending": pending,
            "audit": n_audit,
            "integrity": "ok" if check == ["ok"] else "; ".join(check[:10]),
        }

    async def export_jsonl(self, out: TextIO | BinaryIO, batch: int = 5000) -> int:
        """Write every event as one JSON line, in journal order:
        {"epoch", "seq", "id", "kind", "ts", "event"}. A row whose bytes are not
        JSON (never expected) still gets its line, with "event": null and "error".
        Returns the number of lines."""
        text = isinstance(out, io.TextIOBase) or hasattr(out, "encoding")
        after = 0
        count = 0
        while True:
            rows = await self._fetchall(
                "SELECT rowid, epoch, seq, event_id, kind, ts, data FROM events "
                "WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (after, batch),
            )
            lines = []
            for _rowid, epoch, seq, event_id, kind, ts, data in rows:
                line: dict[str, Any] = {"epoch": epoch, "seq": seq, "id": event_id, "kind": kind, "ts": ts}
                try:
                    # Decoding to Raw validates the JSON and keeps the exact bytes.
                    line["event"] = msgspec.json.decode(data, type=msgspec.Raw)
                except Exception as exc:
                    line["event"] = None
                    line["error"] = f"corrupt event row: {exc}"
                lines.append(msgspec.json.encode(line))
            if lines:
                chunk = b"\n".join(lines) + b"\n"
                if text:
                    cast(TextIO, out).write(chunk.decode())
                else:
                    cast(BinaryIO, out).write(chunk)
                count += len(lines)
            if len(rows) < batch:
                return count
            after = rows[-1][0]


# --- CLI entry points (synchronous) ---------------------------------------------------


def _run_cli(name: str, db: str, job: Callable[[Journal], Any]) -> tuple[int, Any]:
    async def run() -> Any:
        async with await Journal.open(db, readonly=True) as journal:
            return await job(journal)

    try:
        return 0, asyncio.run(run())
    except BrokenPipeError:
        raise  # the CLI treats a closed pipe (| head) as success
    except (JournalError, sqlite3.Error, OSError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, sqlite3.Error):
            msg = f"{db}: not a readable journal ({msg})"
        sys.stderr.write(f"journal {name}: {msg}\n")
        return 1, None
    except Exception as exc:  # the CLI promises a one-line error, never a traceback
        log.debug("journal %s failed", name, exc_info=True)
        sys.stderr.write(f"journal {name}: {db}: {type(exc).__name__}: {exc}\n")
        return 1, None


def journal_stats_main(db: str, out: TextIO | None = None) -> int:
    """``commandcenter journal stats --db FILE``: stats as JSON; exit code 1 with
    a one-line message when the file is missing or not a journal."""
    code, stats = _run_cli("stats", db, lambda j: j.stats())
    if code == 0:
        (out or sys.stdout).write(json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    return code


def journal_export_main(db: str, out: TextIO | BinaryIO | None = None) -> int:
    """``commandcenter journal export --db FILE``: every event as JSON Lines."""
    target = out if out is not None else sys.stdout
    code, _ = _run_cli("export", db, lambda j: j.export_jsonl(target))
    if code == 0:
        target.flush()
    return code


__all__ = [
    "APPLICATION_ID",
    "KEEP_SNAPSHOTS",
    "SCHEMA_VERSION",
    "AuditRecord",
    "Journal",
    "JournalError",
    "OutboxEntry",
    "PruneResult",
    "SnapshotRecord",
    "journal_export_main",
    "journal_stats_main",
]
