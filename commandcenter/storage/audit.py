"""``commandcenter audit --db FILE --since ISO-TIME``: the audit log as CSV.

Every alert raised, repeated, escalated, acknowledged, shelved, unshelved and
every console muted or unmuted is in the journal's audit table (written by
:func:`commandcenter.wall.alerts.write_audit`). The journal is opened read-only, so
the export can run next to a live wall.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import sqlite3
import sys
from typing import TextIO

from commandcenter.core.timeutil import WIB
from commandcenter.storage.journal import AuditRecord, Journal, JournalError

__all__ = ["CSV_COLUMNS", "audit_main", "parse_since", "write_csv"]

CSV_COLUMNS = ("at", "at_wib", "action", "operator", "console", "target_kind", "target_id", "detail")
#: A spreadsheet runs a cell starting with one of these as a formula; place
#: names and reasons come from people, so such cells get a leading quote (OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def parse_since(text: str) -> dt.datetime:
    """An ISO 8601 date or time; without an offset it is WIB (the wall's local
    time). Raises ValueError with a message meant for a person."""
    value = text.strip()
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise ValueError(
            f"--since {text!r} is not an ISO time (e.g. 2026-11-27, 2026-11-27T08:00 or 2026-11-27T01:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=WIB)
    return parsed


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def write_csv(records: list[AuditRecord], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        at = r.at.astimezone(dt.UTC)
        writer.writerow(
            [
                at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                at.astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S"),
                _cell(r.action),
                _cell(r.operator),
                _cell(r.console),
                _cell(r.target_kind),
                _cell(r.target_id),
                _cell(json.dumps(r.detail, ensure_ascii=False, sort_keys=True, default=str)),
            ]
        )


def audit_main(db: str, since: str, out: TextIO | None = None) -> int:
    """Write the audit rows at or after ``since`` as CSV; 0 on success, 1 with
    a one-line message on stderr for a bad time, a missing file or a file that
    is not a journal."""
    try:
        start = parse_since(since)
    except ValueError as exc:
        sys.stderr.write(f"audit: {exc}\n")
        return 1

    async def run() -> list[AuditRecord]:
        async with await Journal.open(db, readonly=True) as journal:
            return await journal.audit_since(start)

    try:
        records = asyncio.run(run())
    except (JournalError, sqlite3.Error, OSError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = msg.removeprefix("journal: ")  # a JournalError's own prefix; "audit: " says where
        sys.stderr.write(f"audit: {db}: {msg}\n" if isinstance(exc, sqlite3.Error) else f"audit: {msg}\n")
        return 1
    target = sys.stdout if out is None else out
    write_csv(records, target)
    target.flush()
    return 0
