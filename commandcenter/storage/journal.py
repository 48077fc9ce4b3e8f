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

Self-check and healing. A read-write open checks the file (``PRAGMA
quick_check``) unless it was closed cleanly and has not been written since
(see :func:`_take_clean_mark`: quick_check reads the whole file, about a second
per few hundred MB, and a restart after a clean stop must be quick);
:meth:`Journal.restore` checks that the events it replays are
contiguous and decode, and falls back to an older snapshot when the newest
cannot be loaded. A file that cannot be rebuilt is moved aside as
``<name>.damaged-<UTC time>`` (nothing is deleted), a fresh journal takes its
place with the operators' outbox and audit rows copied over, and one ERROR line
says what happened: the server has every event and sends a snapshot to a
client that starts from nothing. A locked file, a read-only directory and a
full disk are reported as what they are (:attr:`JournalError.kind`), never as
damage, and never heal anything.

Privacy. The file is created 0600 (and a directory the journal creates, 0700):
it holds operators' names and actions.

No Qt here: this module runs under plain asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import io
import json
import logging
import os
import shutil
import sqlite3
import stat
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal, Protocol, TextIO, cast

import aiosqlite
import msgspec

from commandcenter.config.schema import JournalConfig, default_of
from commandcenter.core import protocol
from commandcenter.core.timeutil import Clock, utcnow

log = logging.getLogger(__name__)

#: Written in the SQLite header so a journal can be told from any other SQLite
#: file ("OKI1"); the CLI refuses files without it.
APPLICATION_ID = 0x4F4B4931
#: Current schema version (``PRAGMA user_version``); see :data:`_MIGRATIONS`.
SCHEMA_VERSION = 2

OutboxStatus = Literal["pending", "applied", "duplicate", "rejected"]
SnapshotSource = Literal["local", "server"]
_RESOLVED_STATUSES = frozenset({"applied", "duplicate", "rejected"})
_SNAPSHOT_SOURCES = frozenset({"local", "server"})
#: Snapshots kept by :meth:`Journal.prune` (the newest ones).
KEEP_SNAPSHOTS = 3
#: Rows deleted per transaction while pruning, so appends are never held up long.
_PRUNE_CHUNK = 20_000
#: Tail events restore keeps decoded from its check (about 2 KB each); a longer
#: tail is decoded again in batches instead of held whole.
_KEEP_TAIL = 50_000


def _clean_mark_path(p: Path) -> Path:
    return p.with_name(p.name + ".clean")


def _put_clean_mark(p: Path) -> None:
    """After a clean close: record the file's identity in ``<name>.clean`` so
    the next open may skip quick_check. The file's mtime is set one second into
    the past and recorded: any later write to the file (a crash can't leave one,
    but a disk tool, a copy or damage can) sets a current mtime that no longer
    matches, even within the file system's timestamp granularity."""
    wal = p.with_name(p.name + "-wal")
    try:
        if wal.exists() and wal.stat().st_size > 0:
            return  # not checkpointed: another connection is still open
        st = p.stat()
        mtime_ns = time.time_ns() - 1_000_000_000
        os.utime(p, ns=(st.st_atime_ns, mtime_ns))
        st = p.stat()
        fd = os.open(_clean_mark_path(p), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w") as f:
            f.write(f"{st.st_size} {st.st_mtime_ns} {st.st_ino}\n")
    except OSError:
        with contextlib.suppress(OSError):
            _clean_mark_path(p).unlink()


def _take_clean_mark(p: Path) -> bool:
    """Whether ``p`` is exactly as its last clean close left it. The mark is
    removed either way, so a crash before the next clean close means a check."""
    mark = _clean_mark_path(p)
    try:
        text = mark.read_text()
    except OSError:
        return False
    with contextlib.suppress(OSError):
        mark.unlink()
    try:
        st = p.stat()
        wal = p.with_name(p.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            return False
    except OSError:
        return False
    return text.split() == [str(st.st_size), str(st.st_mtime_ns), str(st.st_ino)]


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
    2: (
        # Events a feed received and refused (a value this program cannot hold,
        # from a foreign or older server): their seq is taken, so a restore and
        # the replay timeline step over them instead of seeing a gap, and the
        # feed does not ask for them again. The exact bytes are kept as evidence.
        """CREATE TABLE refused (
            epoch TEXT NOT NULL,
            seq INTEGER NOT NULL,
            at TEXT NOT NULL,
            reason TEXT NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (epoch, seq)
        )""",
    ),
}


class JournalError(Exception):
    """The file is missing, is not a journal, is from a newer version, is
    locked, cannot be written or the disk is full. The message is one line meant
    for a person; ``kind`` says which for a program: "damaged", "locked",
    "readonly", "full", "io", "foreign", "newer", "missing" or "" (other)."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


class _Damaged(Exception):
    """Internal: the file is damaged (the message says how); heal it."""


#: Mode of a journal file and of a directory the journal creates: operators'
#: names and actions are nobody else's business.
FILE_MODE = 0o600
DIR_MODE = 0o700
#: How long an open waits for another process's lock before saying "locked".
OPEN_BUSY_TIMEOUT_MS = 2000


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


_AUDIT_INSERT = (
    "INSERT INTO audit (at, action, operator, console, target_kind, target_id, detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _detail_json(detail: dict[str, Any] | None) -> str:
    # enc_hook=str: an odd value in detail must not lose the audit row.
    return msgspec.json.encode(detail or {}, enc_hook=str).decode()


class AuditRow(Protocol):
    """One audit row to write (commandcenter.wall.alerts.AuditEntry is one)."""

    @property
    def action(self) -> str: ...
    @property
    def operator(self) -> str: ...
    @property
    def console(self) -> str: ...
    @property
    def target_kind(self) -> str: ...
    @property
    def target_id(self) -> str: ...
    @property
    def detail(self) -> dict[str, Any] | None: ...
    @property
    def at(self) -> dt.datetime | None: ...


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


def _sqlite_target(p: Path, readonly: bool, immutable: bool = False) -> str:
    """What to hand sqlite3.connect. Read-only goes through a ``mode=ro`` URI so
    that SQLite never creates nor writes the file; ``immutable`` (a file on a
    read-only medium, where SQLite cannot make the WAL's shared-memory file)
    tells SQLite that nobody can change it."""
    if readonly:
        if not p.is_file():
            raise JournalError(f"{p}: no such journal file", "missing")
        return p.resolve().as_uri() + ("?immutable=1" if immutable else "?mode=ro")
    _prepare_file(p)
    return str(p)


def _prepare_file(p: Path) -> None:
    """Create the directory (0700) and the empty file (0600) before SQLite
    does (it would use the umask: 0644); tighten a file of ours that others
    can read. SQLite gives the -wal and -shm files the main file's mode."""
    try:
        p.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        fd = os.open(p, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
        try:
            st = os.fstat(fd)
            if os.name == "posix" and st.st_mode & 0o077 and st.st_uid == os.geteuid():
                os.fchmod(fd, FILE_MODE)
                log.info("journal %s: made private (mode 0600; was %o)", p, stat.S_IMODE(st.st_mode))
        finally:
            os.close(fd)
    except OSError as exc:
        kind, message = _problem(exc, p)
        raise JournalError(message, kind) from None


def _readonly_why(p: Path) -> str:
    directory = p.parent if p.parent != Path("") else Path(".")
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return f"{directory} is on a read-only file system"
    except (OSError, AttributeError):
        pass
    if not os.access(directory, os.W_OK):
        return f"the directory {directory} is read-only for this user"
    if p.exists() and not os.access(p, os.W_OK):
        return f"the file {p} is read-only for this user"
    return "read-only file system or permissions"


def _disk_full(p: Path) -> bool:
    try:
        return shutil.disk_usage(p.parent if str(p.parent) else ".").free < 64 * 1024
    except OSError:
        return False


def _problem(exc: BaseException, p: Path) -> tuple[str, str]:
    """(kind, one-line message) for an error met while using the journal at ``p``.
    kind "damaged" means the file itself is bad; every other kind is about its
    surroundings (a lock, permissions, space) and must never heal the file."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            return "full", f"journal: disk full at {p} ({exc.strerror})"
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "readonly", f"journal: cannot write {p}: {_readonly_why(p)} ({exc.strerror})"
        return "io", f"journal: {p}: {exc.strerror or text}"
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    low = text.lower()
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in low:
        return "locked", f"journal: {p} is locked by another process or connection ({text})"
    if name.startswith("SQLITE_FULL") or "disk is full" in low:
        return "full", f"journal: disk full at {p} ({text})"
    if name.startswith("SQLITE_READONLY") or "readonly database" in low:
        return "readonly", f"journal: cannot write {p}: {_readonly_why(p)} ({text})"
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in low:
        why = _readonly_why(p)
        if not why.startswith("read-only file system or"):
            return "readonly", f"journal: cannot write {p}: {why} ({text})"
        return "io", f"journal: cannot open {p} ({text})"
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in low or "not a database" in low:
        return "damaged", f"{p}: damaged ({text})"
    if name.startswith("SQLITE_IOERR") or "disk i/o error" in low:
        if _disk_full(p):
            return "full", f"journal: disk full at {p} ({text})"
        return "io", f"journal: {p}: input/output error ({text})"
    return "", f"{p}: {text}"


def _damaged_name(p: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = p.with_name(f"{p.name}.damaged-{stamp}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = p.with_name(f"{p.name}.damaged-{stamp}-{n}")
    return candidate


def _move_aside(p: Path) -> Path:
    """Rename the journal and its WAL/shm files to ``<name>.damaged-<UTC time>``
    (SQLite opens that name with its own -wal, so the copy stays readable)."""
    target = _damaged_name(p)
    for suffix in ("-wal", "-shm"):
        side = p.with_name(p.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    p.rename(target)
    return target


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
        self._synchronous = "FULL"
        #: Set when this journal replaced a damaged file: what was wrong, where it went.
        self.healed = ""

    # --- lifecycle ---------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        retention_days: float = default_of(JournalConfig, "retention_days"),
        max_mb: float = default_of(JournalConfig, "max_mb"),
        audit_retention_days: float = default_of(JournalConfig, "audit_retention_days"),
        clock: Clock = utcnow,
        synchronous: Literal["NORMAL", "FULL"] = "FULL",
        readonly: bool = False,
        check: bool = True,
    ) -> Journal:
        """Open (creating or migrating if needed) the journal at ``path``.

        ``readonly=True`` (inspection tools) never creates nor changes the file
        and refuses a missing file or one that is not a journal.

        Read-write, ``check=True`` runs ``PRAGMA quick_check`` (it reads the
        whole file: about a second per few hundred MB) and a file found damaged
        is moved aside and replaced by a fresh journal (see the module's doc).
        An SQLite file of another application, a newer schema, a lock, a
        read-only directory or a full disk raise :class:`JournalError`."""
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        p = Path(path)
        db = await cls._connect(p, readonly)
        damage = ""
        try:
            if readonly:
                try:
                    await cls._check_existing(db, p)
                except JournalError as exc:
                    if exc.kind != "readonly":
                        raise
                    # A journal on a read-only medium (a copy for inspection).
                    await db.close()
                    db = await cls._connect(p, readonly, immutable=True)
                    await cls._check_existing(db, p)
            else:
                try:
                    await cls._prepare(db, p, synchronous, check, quick=check and _take_clean_mark(p))
                except _Damaged as exc:
                    damage = str(exc)
        except BaseException:
            await db.close()
            raise
        journal = cls(
            db,
            p,
            retention_days=retention_days,
            max_mb=max_mb,
            audit_retention_days=audit_retention_days,
            clock=clock,
            readonly=readonly,
        )
        journal._synchronous = synchronous
        if damage:
            try:
                await journal._heal(damage)
            except BaseException:
                await journal.close()
                raise
        return journal

    @classmethod
    async def _connect(cls, p: Path, readonly: bool, immutable: bool = False) -> aiosqlite.Connection:
        db = aiosqlite.connect(_sqlite_target(p, readonly, immutable), uri=readonly, isolation_level=None)
        # A journal someone forgot to close must not keep the process alive
        # after main() returns (aiosqlite's worker is not a daemon): that hung
        # walls that failed at start instead of letting them exit for a
        # restart. SQLite itself survives a process ending mid-transaction.
        thread = getattr(db, "_thread", None)
        if thread is not None and not thread.is_alive():
            thread.daemon = True
        try:
            await db
        except sqlite3.Error as exc:
            kind, message = _problem(exc, p)
            raise JournalError(message if kind else f"{p}: cannot open ({exc})", kind) from None
        return db

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
            kind, message = _problem(exc, p)
            if kind in ("locked", "readonly", "full", "io"):
                raise JournalError(message, kind) from None
            damaged = "damaged" if kind == "damaged" else ""
            raise JournalError(f"{p}: not a journal ({exc})", damaged) from None
        if app_id != APPLICATION_ID:
            raise JournalError(f"{p}: not a journal (an SQLite file of another application)", "foreign")
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"{p}: journal schema {version} is newer than this program supports ({SCHEMA_VERSION})",
                "newer",
            )
        return version

    @classmethod
    async def _prepare(
        cls, db: aiosqlite.Connection, p: Path, synchronous: str, check: bool = False, quick: bool = False
    ) -> None:
        try:
            # Before anything reads the file: another process's lock is waited
            # for a little, then reported as a lock (not as "not a journal").
            await db.execute(f"PRAGMA busy_timeout={OPEN_BUSY_TIMEOUT_MS}")
            app_id = await cls._scalar(db, "PRAGMA application_id")
            tables = await cls._scalar(db, "SELECT count(*) FROM sqlite_master")
        except sqlite3.Error as exc:
            kind, message = _problem(exc, p)
            if kind == "damaged":
                raise _Damaged(message) from None
            raise JournalError(message, kind) from None
        fresh = app_id == 0 and tables == 0
        try:
            if not fresh:
                await cls._check_existing(db, p)
                if check:
                    # Before anything is written: a damaged file is moved aside as found.
                    await cls._self_check(db, p, full=not quick)
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
                if version != SCHEMA_VERSION:
                    await db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                await db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await db.execute("ROLLBACK")
                raise
        except JournalError as exc:
            if exc.kind == "damaged":
                raise _Damaged(str(exc)) from None
            raise
        except sqlite3.Error as exc:
            kind, message = _problem(exc, p)
            if kind == "damaged":
                raise _Damaged(message) from None
            raise JournalError(message, kind) from None

    @classmethod
    async def _self_check(cls, db: aiosqlite.Connection, p: Path, full: bool = True) -> None:
        """quick_check (``full``: not after a clean close, see _take_clean_mark), and
        the newest snapshot's row readable; _Damaged if not."""
        try:
            if full:
                check = [str(r[0]) for r in await db.execute_fetchall("PRAGMA quick_check")]
                if check != ["ok"]:
                    raise _Damaged(f"{p}: damaged (quick_check: {'; '.join(check[:3])})")
            rows = list(
                await db.execute_fetchall(
                    "SELECT rowid, epoch, seq, upto_rowid, created_at, length(data) FROM snapshots "
                    "ORDER BY rowid DESC LIMIT 1"
                )
            )
            if rows:
                _parse_req(rows[0][4])
        except sqlite3.Error as exc:
            kind, message = _problem(exc, p)
            if kind in ("damaged", ""):
                raise _Damaged(message) from None
            raise JournalError(message, kind) from None
        except ValueError as exc:
            raise _Damaged(f"{p}: damaged (the newest snapshot's row: {exc})") from None

    # --- healing -----------------------------------------------------------------

    #: Tables copied from a damaged journal into its fresh replacement: what the
    #: server cannot send back (operators' commands and actions), and the
    #: server's record of applied command ids. Events and snapshots are not
    #: copied: a client gets them again from the server.
    _SALVAGE: tuple[tuple[str, str], ...] = (
        ("outbox", _OUTBOX_COLS),
        ("audit", "at, action, operator, console, target_kind, target_id, detail"),
        ("commands", "command_id, seq, at"),
        ("meta", "key, value"),
    )
    #: Meta keys that belong to the damaged history and must not carry over: a
    #: server that lost events must start a new epoch, so that no client is
    #: replayed a history that differs from what it saw.
    _NOT_SALVAGED_META = frozenset({"server_epoch", "created_at"})

    async def _salvage(self) -> tuple[dict[str, list[tuple[Any, ...]]], list[str]]:
        """Rows worth keeping from the damaged file, and the tables it could not read."""
        saved: dict[str, list[tuple[Any, ...]]] = {}
        lost: list[str] = []
        for table, cols in self._SALVAGE:
            try:
                rows = [tuple(r) for r in await self._db.execute_fetchall(f"SELECT {cols} FROM {table}")]
            except (sqlite3.Error, ValueError) as exc:
                log.debug("journal %s: damaged file's %s table unreadable: %s", self.path, table, exc)
                lost.append(table)
                continue
            if table == "meta":
                rows = [r for r in rows if r[0] not in self._NOT_SALVAGED_META]
            saved[table] = rows
        return saved, lost

    async def _heal(self, reason: str) -> None:
        """Move the damaged file aside, start a fresh journal in its place with
        the salvaged rows, and say so loudly (one ERROR line)."""
        async with self._lock:
            saved, lost = await self._salvage()
            with contextlib.suppress(sqlite3.Error, ValueError):
                await self._db.close()
            try:
                aside = _move_aside(self.path)
            except OSError as exc:
                kind, message = _problem(exc, self.path)
                raise JournalError(f"{reason}; and it cannot be moved aside: {message}", kind) from None
            self._db = await self._connect(self.path, False)
            try:
                await self._prepare(self._db, self.path, self._synchronous)
            except _Damaged as exc:  # a fresh file cannot be damaged; never loop
                raise JournalError(str(exc), "damaged") from None
            copied: dict[str, int] = {}
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                for table, cols in self._SALVAGE:
                    rows = saved.get(table, [])
                    marks = ", ".join("?" for _ in cols.split(","))
                    insert = f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({marks})"
                    n = 0
                    for row in rows:
                        try:
                            await self._db.execute(insert, row)
                            n += 1
                        except sqlite3.IntegrityError:
                            continue  # a garbled row: it stays in the damaged copy
                    copied[table] = n
                await self._db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await self._db.execute("ROLLBACK")
                raise
        self.healed = f"{reason}; moved to {aside.name}"
        pending = sum(1 for r in saved.get("outbox", []) if len(r) > 6 and r[6] == "pending")
        log.error(
            "journal %s: %s. Moved it aside to %s and started a fresh journal (kept %d pending "
            "acknowledgements, %d audit rows%s); the state comes again from the server",
            self.path,
            reason.removeprefix(f"{self.path}: "),
            aside,
            pending,
            copied.get("audit", 0),
            f"; unreadable: {', '.join(lost)}" if lost else "",
        )

    async def close(self) -> None:
        async with self._lock:
            # Closing must end the worker thread even when the file is in
            # trouble (a full disk): a thread left behind keeps the process alive.
            closed = False
            with contextlib.suppress(sqlite3.Error, ValueError):
                await self._db.close()
                closed = True
            if closed and not self.readonly:
                _put_clean_mark(self.path)

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
            try:
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
            except sqlite3.Error as exc:
                # A full disk, a lock or a read-only file is said as such, in
                # one line, so a process can exit with it instead of a traceback.
                kind, message = _problem(exc, self.path)
                if kind:
                    with contextlib.suppress(sqlite3.Error, ValueError):
                        await self._db.execute("ROLLBACK")
                    raise JournalError(message, kind) from exc
                raise

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

    async def events_of_kinds(self, kinds: Sequence[str], after_rowid: int, upto_rowid: int) -> list[bytes]:
        """The frames of the events of these body kinds ("funnel", "situation" ...) with
        after_rowid < rowid <= upto_rowid, in order: a report reads the few it needs without
        decoding a day of incident updates."""
        if not kinds:
            return []
        marks = ",".join("?" * len(kinds))
        rows = await self._fetchall(
            f"SELECT data FROM events WHERE rowid > ? AND rowid <= ? AND kind IN ({marks}) ORDER BY rowid",
            (after_rowid, upto_rowid, *kinds),
        )
        return [bytes(r[0]) for r in rows]

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

    # --- refused events ------------------------------------------------------------------

    async def record_refused(self, epoch: str, seq: int, reason: str, data: bytes) -> bool:
        """Note that the event at (epoch, seq) was received and refused (its
        exact bytes and why). Returns False when it was already noted."""
        async with self._write() as db:
            cur = await db.execute(
                "INSERT OR IGNORE INTO refused (epoch, seq, at, reason, data) VALUES (?, ?, ?, ?, ?)",
                (epoch, seq, _iso(self._clock()), reason[:500], bytes(data)),
            )
            return int(cur.rowcount) > 0

    async def refused_positions(self, epoch: str | None = None) -> set[tuple[str, int]]:
        """(epoch, seq) of every refused event (of ``epoch`` when given). A
        journal of schema 1 opened read-only has none."""
        sql = "SELECT epoch, seq FROM refused" + (" WHERE epoch = ?" if epoch is not None else "")
        try:
            rows = await self._fetchall(sql, () if epoch is None else (epoch,))
        except sqlite3.OperationalError:
            return set()  # an older journal inspected read-only: no such table
        return {(str(r[0]), int(r[1])) for r in rows}

    async def refused_events(self) -> list[tuple[str, int, dt.datetime, str]]:
        """(epoch, seq, when, reason) of every refused event, in order."""
        try:
            rows = await self._fetchall("SELECT epoch, seq, at, reason FROM refused ORDER BY at, epoch, seq")
        except sqlite3.OperationalError:
            return []
        return [(str(r[0]), int(r[1]), _parse_req(r[2]), str(r[3])) for r in rows]

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

    async def snapshot_index(self) -> list[tuple[int, str, int, int, dt.datetime, str]]:
        """(rowid, epoch, seq, upto_rowid, created_at, source) of every snapshot, oldest first,
        without their data (replay and reports pick the ones they need)."""
        rows = await self._fetchall(
            "SELECT rowid, epoch, seq, upto_rowid, created_at, source FROM snapshots ORDER BY rowid"
        )
        return [(int(r[0]), str(r[1]), int(r[2]), int(r[3]), _parse_req(r[4]), str(r[5])) for r in rows]

    async def snapshot_data(self, rowid: int) -> bytes | None:
        row = await self._fetchone("SELECT data FROM snapshots WHERE rowid = ?", (rowid,))
        return None if row is None else bytes(row[0])

    async def restore(
        self,
        load_state: Callable[[bytes], None],
        apply_events: Callable[[list[protocol.Event]], None],
        *,
        batch: int = 5000,
    ) -> tuple[str, int, int]:
        """Rebuild the caller's state: a snapshot's bytes go to ``load_state``,
        then the events of its epoch after it (decoded, in seq order) to
        ``apply_events`` in batches. Returns (epoch, seq, tail events applied):
        the position to resume the feed from.

        The base is the newest snapshot whose events after it are all there
        (seq + 1, seq + 2, ...) and decode, and which ``load_state`` accepts;
        else a replay of the whole history when it still starts at seq 1.
        Falling back to an older snapshot is logged (WARNING) and the snapshots
        that failed are deleted (prune must not trust them). When nothing can
        rebuild the state, the file is moved aside and a fresh journal takes its
        place (ERROR): the result is ("", 0, 0) and the server sends a snapshot.
        ``load_state`` must leave the state unchanged when it raises (decode
        first, then swap)."""
        snaps = await self._fetchall("SELECT rowid, epoch, seq FROM snapshots ORDER BY rowid DESC")
        failed: list[tuple[int, str]] = []
        base: tuple[str, int] | None = None
        tail: list[protocol.Event] = []
        for rowid, epoch, seq in snaps:
            label = f"snapshot {rowid} ({epoch}/{seq})"
            tail = []
            problem = await self._tail_problem(str(epoch), int(seq), keep=tail)
            if problem:
                failed.append((int(rowid), f"{label}: {problem}"))
                continue
            row = await self._fetchone("SELECT data FROM snapshots WHERE rowid = ?", (rowid,))
            try:
                load_state(bytes(row[0]))
            except Exception as exc:
                failed.append((int(rowid), f"{label} could not be loaded: {str(exc)[:200]}"))
                continue
            base = (str(epoch), int(seq))
            break
        if base is None:
            # No usable snapshot: the whole history of the newest epoch, if it
            # still starts at seq 1 (nothing pruned).
            row = await self._fetchone("SELECT epoch FROM events ORDER BY rowid DESC LIMIT 1")
            if row is not None:
                epoch = str(row[0])
                first = await self._fetchone("SELECT min(seq) FROM events WHERE epoch = ?", (epoch,))
                refused = {s for _, s in await self.refused_positions(epoch)}
                start = 1
                while start in refused:  # refused events at the start are stepped over too
                    start += 1
                if first is not None and first[0] == start:
                    tail = []
                    problem = await self._tail_problem(epoch, 0, keep=tail)
                    if not problem:
                        base = (epoch, 0)
                    else:
                        failed.append((0, f"replay of {epoch}: {problem}"))
                else:
                    failed.append((0, f"the events of {epoch} no longer start at seq 1"))
            elif not snaps:
                return "", 0, 0  # a fresh journal
        if base is None:
            await self._heal(f"{self.path}: cannot rebuild the state ({'; '.join(m for _, m in failed)})")
            return "", 0, 0
        if failed:
            bad = [rowid for rowid, _ in failed if rowid]
            log.warning(
                "journal %s: %s; restored from %s",
                self.path,
                "; ".join(m for _, m in failed),
                f"snapshot {base[0]}/{base[1]}" if base[1] or snaps else "the events from seq 1",
            )
            if bad and not self.readonly:
                async with self._write() as db:
                    await db.executemany("DELETE FROM snapshots WHERE rowid = ?", [(r,) for r in bad])
        epoch, seq = base
        refused = {s for _, s in await self.refused_positions(epoch)}
        applied = 0
        if tail:
            # Decoded once by _tail_problem, and complete: nothing left to read.
            for i in range(0, len(tail), batch):
                apply_events(tail[i : i + batch])
            applied = len(tail)
            seq = tail[-1].seq
        while not tail:
            rows = await self._fetchall(
                "SELECT seq, data FROM events WHERE epoch = ? AND seq > ? ORDER BY seq LIMIT ?",
                (epoch, seq, batch),
            )
            # _tail_problem has decoded every one of these.
            decoded = [protocol.decode_event(data) for _, data in rows]
            if decoded:
                apply_events(decoded)
                applied += len(decoded)
                seq = decoded[-1].seq
            if len(rows) < batch:
                break
        # Refused events right after the last one are stepped over as well: the
        # position to resume from is past them (they are never asked for again).
        while seq + 1 in refused:
            seq += 1
        return epoch, seq, applied

    async def _tail_problem(
        self, epoch: str, seq: int, batch: int = 5000, keep: list[protocol.Event] | None = None
    ) -> str:
        """'' when the journaled events of ``epoch`` after ``seq`` are seq + 1,
        seq + 2, ... without a hole (a refused event fills its place) and each
        decodes; else what is wrong. ``keep`` collects the decoded events (up to
        _KEEP_TAIL, then it is cleared and None-like: restore reads them again),
        so a restore does not decode its tail twice."""
        refused = {s for _, s in await self.refused_positions(epoch)}
        expect = seq + 1
        while True:
            rows = await self._fetchall(
                "SELECT seq, data FROM events WHERE epoch = ? AND seq >= ? ORDER BY seq LIMIT ?",
                (epoch, expect, batch),
            )
            for ev_seq, data in rows:
                while expect < ev_seq and expect in refused:
                    expect += 1
                if ev_seq != expect:
                    return f"event {epoch}/{expect} is missing (the next is {ev_seq})"
                try:
                    event = protocol.decode_event(data)
                except Exception as exc:
                    return f"event {epoch}/{ev_seq} is corrupt ({str(exc)[:120]})"
                if keep is not None:
                    if len(keep) < _KEEP_TAIL:
                        keep.append(event)
                    else:  # too long to hold: restore reads the rest in batches
                        keep.clear()
                        keep = None
                expect += 1
            if len(rows) < batch:
                return ""

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
        detail_json = _detail_json(detail)
        row = (_iso(at or self._clock()), action, operator, console, target_kind, target_id, detail_json)
        async with self._write() as db:
            cur = await db.execute(_AUDIT_INSERT, row)
            return int(cur.lastrowid or 0)

    async def audit_many(self, rows: Sequence[AuditRow]) -> int:
        """Several audit rows in one transaction (an alert burst raises thousands at
        once: one transaction each was three trips to the database thread per row)."""
        if not rows:
            return 0
        now = _iso(self._clock())
        params = [
            (
                _iso(r.at) if r.at is not None else now, r.action, r.operator, r.console, r.target_kind,
                r.target_id, _detail_json(r.detail),
            )
            for r in rows
        ]  # fmt: skip
        async with self._write() as db:
            await db.executemany(_AUDIT_INSERT, params)
        return len(params)

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
            # A refused event's note goes with age once a kept snapshot is past
            # it (nothing then needs to step over it).
            await db.execute(
                "DELETE FROM refused WHERE at < ? AND EXISTS (SELECT 1 FROM snapshots s "
                "WHERE s.epoch = refused.epoch AND s.seq >= refused.seq)",
                (cutoff,),
            )

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
            try:
                n_refused = (await one("SELECT count(*) FROM refused"))[0]
            except sqlite3.OperationalError:
                n_refused = 0  # schema 1, inspected read-only
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
            "refused": n_refused,
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
            kind, described = _problem(exc, Path(db))
            msg = described if kind and kind != "damaged" else f"{db}: not a readable journal ({msg})"
        # "journal stats: FILE is locked …", not "journal stats: journal: …".
        sys.stderr.write(f"journal {name}: {msg.removeprefix('journal: ')}\n")
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
