"""A journal with a damaged page: the report and the replay refuse it with one line saying after
which event it breaks, write nothing, and leave the file as it was."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import pytest

from commandcenter.history.timeline import HistoryError, Timeline
from tests.test_report import FROM, TO, _write, cli


async def test_a_damaged_page_is_refused_naming_where_it_breaks(tmp_path: Path) -> None:
    path = tmp_path / "wall-journal.sqlite3"
    await _write(path, 150)
    with sqlite3.connect(path) as db:
        page = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    with path.open("r+b") as fh:  # one page in the middle of the events overwritten
        fh.seek(page * (pages // 2))
        fh.write(b"\xa5" * page)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    message = r"damaged after its event \d+ \(27 Nov \d\d:\d\d:\d\d WIB\): the events from there on"
    with pytest.raises(HistoryError, match=message):
        await Timeline.open(path)
    out = tmp_path / "lapsit.pdf"
    args = ("report", "--db", str(path), "--from", FROM, "--to", TO, "--out", str(out))
    res = await asyncio.to_thread(cli, *args)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("report: ") and res.stderr.count("\n") == 1, res.stderr
    assert "damaged after its event" in res.stderr
    assert not out.exists()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
