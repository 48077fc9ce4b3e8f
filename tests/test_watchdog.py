"""The watchdog's checks (Qt-free part): stats lines, stalls, freeze, memory.

A helper thread plays the GUI thread and beats; the watchdog runs its real
thread and measures this real process (with a real child for the tree sum).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from commandcenter.config import WatchdogConfig
from commandcenter.ops.watchdog import EXIT_RESTART, REASON_FILE_ENV, Watchdog
from tests.conftest import ROOT
from tests.waits import wait_for

STATS_KEYS = {
    "t": float,
    "uptime_s": float,
    "pid": int,
    "rss_mb": float,
    "tree_rss_mb": float,
    "stall_max_ms": float,
    "stalls_over_warn": int,
    "feed_state": str,
    "uncaught_errors": int,
}


def _config(**kw: object) -> WatchdogConfig:
    base: dict[str, object] = {"stall_limit_s": 2.0, "stall_warn_ms": 100.0, "check_interval_s": 0.5}
    base.update(kw)
    return WatchdogConfig(**base)  # type: ignore[arg-type]


class Beater:
    """Plays the GUI thread: beats every 100 ms; can pause once or stop."""

    def __init__(self, watchdog: Watchdog) -> None:
        self.watchdog = watchdog
        self.pause_s = 0.0
        self.paused = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.watchdog.beat_interval_s):
            if self.pause_s:
                pause, self.pause_s = self.pause_s, 0.0
                self.stop.wait(pause)
                self.paused.set()
            self.watchdog.beat()


@pytest.fixture
def running() -> Iterator[Callable[..., tuple[Watchdog, Beater]]]:
    made: list[tuple[Watchdog, Beater]] = []

    def make(config: WatchdogConfig, **kw: object) -> tuple[Watchdog, Beater]:
        kw.setdefault("on_restart", lambda reason: None)
        wd = Watchdog(config, **kw)  # type: ignore[arg-type]
        beater = Beater(wd)
        made.append((wd, beater))
        wd.start()
        beater.thread.start()
        return wd, beater

    yield make
    for wd, beater in made:
        beater.stop.set()
        beater.thread.join(5)
        wd.stop()


def _lines(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_stats_lines_follow_the_contract_and_sum_the_process_tree(
    tmp_path: Path, running: Callable[..., tuple[Watchdog, Beater]]
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "x = bytearray(40 * 2**20); input()"], stdin=subprocess.PIPE
    )
    try:
        stats = tmp_path / "sub" / "stats.jsonl"
        wd, _ = running(_config(), stats_file=stats, feed_state=lambda: "live")
        # The child's 40 MB are resident once it is past its allocation.
        wait_for(lambda: len(_lines(stats)) >= 3, 15, "three stats lines")
    finally:
        child.kill()
        child.wait(10)
        assert child.stdin is not None
        child.stdin.close()
    lines = _lines(stats)
    for line in lines:
        assert set(line) == set(STATS_KEYS)
        for key, kind in STATS_KEYS.items():
            assert isinstance(line[key], kind), (key, line)
        assert line["pid"] == os.getpid()
        assert line["feed_state"] == "live"
        assert 0 < line["rss_mb"] <= line["tree_rss_mb"]  # type: ignore[operator]
    last = lines[-1]
    assert last["tree_rss_mb"] - last["rss_mb"] > 35  # type: ignore[operator]
    assert [ln["t"] for ln in lines] == sorted(ln["t"] for ln in lines)
    assert lines[-1]["uptime_s"] > lines[0]["uptime_s"]  # type: ignore[operator]
    assert wd.restart_reason == ""


def test_a_late_beat_is_a_stall_counted_in_the_next_line(
    tmp_path: Path, running: Callable[..., tuple[Watchdog, Beater]]
) -> None:
    stats = tmp_path / "stats.jsonl"
    wd, beater = running(_config(), stats_file=stats)
    wait_for(lambda: len(_lines(stats)) >= 1, 10, "a first line")
    beater.pause_s = 0.4
    wait_for(lambda: wd.stalls_over_warn >= 1, 10, "the stall counted")
    wait_for(lambda: any(ln["stalls_over_warn"] for ln in _lines(stats)), 10, "a line with the stall")
    stalled = [ln for ln in _lines(stats) if ln["stalls_over_warn"]]
    assert len(stalled) == 1 and stalled[0]["stalls_over_warn"] == 1
    assert 300 <= stalled[0]["stall_max_ms"] < 2000  # type: ignore[operator]
    assert wd.max_stall_ms >= 300
    assert all(ln["feed_state"] == "" for ln in _lines(stats))


def test_no_beat_past_the_limit_is_a_freeze(
    tmp_path: Path, running: Callable[..., tuple[Watchdog, Beater]]
) -> None:
    frozen: list[str] = []
    stats = tmp_path / "stats.jsonl"
    _, beater = running(_config(stall_limit_s=2.0), on_freeze=frozen.append, stats_file=stats)
    beater.stop.set()
    wait_for(lambda: bool(frozen), 10, "the freeze")
    assert "has not answered for 2." in frozen[0] and "limit 2.0 s" in frozen[0]
    # The ongoing stall shows in the figures; the freeze is reported once
    # (the default reaction ends the process).
    seen = len(_lines(stats))
    wait_for(lambda: len(_lines(stats)) >= seen + 2, 10, "two more checks")
    assert frozen == frozen[:1]
    assert _lines(stats)[-1]["stall_max_ms"] > 2000  # type: ignore[operator]


def test_memory_over_the_limit_asks_for_one_clean_restart(
    tmp_path: Path, running: Callable[..., tuple[Watchdog, Beater]], monkeypatch: pytest.MonkeyPatch
) -> None:
    reason_file = tmp_path / "reason.txt"
    monkeypatch.setenv(REASON_FILE_ENV, str(reason_file))
    asked: list[str] = []
    stats = tmp_path / "stats.jsonl"
    wd, _ = running(_config(memory_limit_mb=1), on_restart=asked.append, stats_file=stats)
    wait_for(lambda: len(_lines(stats)) >= 3, 10, "three checks")
    assert len(asked) == 1
    assert "over the limit of 1 MB" in asked[0] and "memory of the process tree" in asked[0]
    assert reason_file.read_text().strip() == asked[0] == wd.restart_reason


def test_disabled_watchdog_measures_but_does_not_act(
    tmp_path: Path, running: Callable[..., tuple[Watchdog, Beater]]
) -> None:
    asked: list[str] = []
    stats = tmp_path / "stats.jsonl"
    running(_config(enabled=False, memory_limit_mb=1), on_restart=asked.append, stats_file=stats)
    wait_for(lambda: len(_lines(stats)) >= 2, 10, "two lines")
    assert asked == []


FROZEN_CHILD = """
import logging, sys, threading
from commandcenter.config import WatchdogConfig
from commandcenter.ops.watchdog import Watchdog
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
wd = Watchdog(WatchdogConfig(stall_limit_s=2.0), on_restart=lambda r: None)
wd.start()
threading.Event().wait(120)  # the main thread never beats: frozen
"""


def test_a_frozen_process_dumps_every_stack_and_exits_75(tmp_path: Path) -> None:
    reason_file = tmp_path / "reason.txt"
    out = subprocess.run(
        [sys.executable, "-c", FROZEN_CHILD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ, **{REASON_FILE_ENV: str(reason_file)}),
    )
    assert out.returncode == EXIT_RESTART, out.stderr[-2000:]
    assert "the GUI thread has not answered" in out.stderr
    assert 'Thread "MainThread"' in out.stderr and 'Thread "watchdog"' in out.stderr
    assert "threading.Event().wait(120)" in out.stderr or "in wait" in out.stderr
    assert "has not answered" in reason_file.read_text()


def test_a_stall_is_logged_with_where_the_gui_thread_was(
    running: Callable[..., tuple[Watchdog, Beater]], caplog: pytest.LogCaptureFixture
) -> None:
    """The warning names the function the GUI thread was stuck in, sampled by
    the watchdog thread while the stall went on."""
    wd, beater = running(_config())
    wait_for(lambda: beater.thread.ident is not None, 5, "the beater thread")
    wd.gui_thread_id = beater.thread.ident
    caplog.set_level("WARNING", logger="commandcenter.ops.watchdog")
    beater.pause_s = 0.4
    wait_for(lambda: wd.stalls_over_warn >= 1, 10, "the stall counted")
    warnings = [r.getMessage() for r in caplog.records if "stalled for" in r.getMessage()]
    assert warnings, "no stall warning"
    assert "it was in:" in warnings[0] and "in _run" in warnings[0], warnings[0]


def test_renderer_budget_learns_the_settled_size_then_recycles_past_it() -> None:
    from commandcenter.ops.watchdog import RendererBudget

    budget = RendererBudget(growth_pct=15.0, warmup_s=300.0, min_interval_s=1800.0)
    assert not budget.check(900.0, 0.0), "nothing before a page has loaded"
    budget.loaded(0.0)
    assert not budget.check(500.0, 100.0), "still warming up: no baseline"
    assert budget.baseline_mb is None
    assert not budget.check(300.0, 300.0)
    assert budget.baseline_mb == 300.0
    assert not budget.check(345.0, 400.0), "exactly +15 % is within budget"
    assert budget.check(346.0, 500.0)
    budget.recycled(500.0)
    budget.loaded(501.0)
    assert budget.baseline_mb is None, "a fresh renderer settles anew"
    assert not budget.check(280.0, 801.0)
    assert not budget.check(999.0, 1000.0), "not again within min_interval_s"
    assert budget.check(999.0, 2300.0)


def test_renderer_budget_zero_means_never() -> None:
    from commandcenter.ops.watchdog import RendererBudget

    budget = RendererBudget(growth_pct=0.0, warmup_s=0.0, min_interval_s=0.0)
    budget.loaded(0.0)
    assert not any(budget.check(rss, t) for rss, t in [(100.0, 1.0), (10_000.0, 2.0), (1e6, 3.0)])
