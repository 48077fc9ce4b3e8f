"""The wall's self-watch: GUI-thread stalls, memory, and the stats file.

The GUI thread calls :meth:`Watchdog.beat` from a timer every
:data:`BEAT_INTERVAL_S`; a daemon thread here checks the beats. A beat that
comes late by more than ``stall_warn_ms`` is a stall: logged and counted. No
beat for ``stall_limit_s`` means the GUI thread is frozen: every thread's stack
goes to the log and the process exits at once with :data:`EXIT_RESTART`, so
the supervisor starts a fresh wall (the journal is SQLite in WAL mode with
synchronous=FULL: what was committed is safe without a clean close). Every
``check_interval_s`` the thread sums the memory of the process and its children
(the QtWebEngine renderers); over ``memory_limit_mb`` it asks for a clean
restart through ``on_restart``, and it appends one JSON line of figures to the
stats file when there is one.

Qt-free: the Qt side (ui.app.watchdog) only owns the timer that beats.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import psutil

from commandcenter.config import WatchdogConfig
from commandcenter.ops.errors import UNCAUGHT

log = logging.getLogger(__name__)

#: EX_TEMPFAIL: "try again". The supervisor restarts a wall that exits with it.
EXIT_RESTART = 75
#: How often the GUI thread beats.
BEAT_INTERVAL_S = 0.1
#: The supervisor names a file here; the wall writes why it asked for a
#: restart into it, so the supervisor's log says why without reading ours.
REASON_FILE_ENV = "OKI112_RESTART_REASON_FILE"
#: A clean restart (memory) that has not ended the process after this long is
#: treated like a freeze: shutting down must not become a new way to hang.
CLEAN_RESTART_GRACE_S = 60.0
#: If logging itself is stuck (a frozen thread may hold a handler's lock), the
#: process still exits this long after a freeze was seen.
HARD_EXIT_AFTER_S = 5.0

MB = 1024 * 1024


def process_rss_mb(proc: psutil.Process) -> tuple[float, float]:
    """(this process's RSS, RSS of it and all its descendants), in MB."""
    own = proc.memory_info().rss
    total = own
    for child in proc.children(recursive=True):
        # A renderer may exit between listing and asking: it no longer counts.
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            total += child.memory_info().rss
    return own / MB, total / MB


def thread_stacks() -> str:
    """Every Python thread's stack, named, most recent call last."""
    names = {t.ident: t.name for t in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        stack = "".join(traceback.format_stack(frame))
        parts.append(f'Thread "{names.get(ident, "?")}" ({ident}):\n{stack}')
    return "\n".join(parts)


def write_restart_reason(reason: str) -> None:
    """Tell the supervisor (when there is one) why this wall ends."""
    path = os.environ.get(REASON_FILE_ENV)
    if not path:
        return
    try:
        Path(path).write_text(reason + "\n", encoding="utf-8")
    except OSError as exc:
        log.warning("could not write the restart reason to %s: %s", path, exc)


def exit_frozen(reason: str) -> None:
    """Log the stacks and leave now with EXIT_RESTART (never returns)."""
    # A thread stuck inside a logging handler would make the log call below
    # wait forever: a timer makes sure the process ends anyway.
    hard = threading.Timer(HARD_EXIT_AFTER_S, os._exit, (EXIT_RESTART,))
    hard.daemon = True
    hard.start()
    write_restart_reason(reason)
    log.critical("%s; restarting. Every thread's stack:\n%s", reason, thread_stacks())
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    os._exit(EXIT_RESTART)


class Watchdog:
    """Checks the GUI thread's beats and the process tree's memory from a
    daemon thread; writes the stats file.

    ``on_restart(reason)`` is called (once, from the watchdog thread) when the
    wall should restart cleanly; ``on_freeze(reason)`` when the GUI thread is
    frozen (default :func:`exit_frozen`). With ``config.enabled`` false the
    limits are not acted on, but beats are measured and stats still written.
    """

    def __init__(
        self,
        config: WatchdogConfig,
        *,
        on_restart: Callable[[str], None],
        stats_file: str | Path | None = None,
        feed_state: Callable[[], str] | None = None,
        on_freeze: Callable[[str], None] = exit_frozen,
        beat_interval_s: float = BEAT_INTERVAL_S,
    ) -> None:
        self.config = config
        self.beat_interval_s = beat_interval_s
        self.stats_path = Path(stats_file) if stats_file else None
        self._feed_state = feed_state
        self._on_restart = on_restart
        self._on_freeze = on_freeze
        self._proc = psutil.Process()
        self._started_at = self._proc.create_time()
        self._lock = threading.Lock()
        self._last_beat = time.monotonic()
        self._period_max_ms = 0.0
        self._period_over_warn = 0
        #: Totals since start, for logs and tests.
        self.stalls_over_warn = 0
        self.max_stall_ms = 0.0
        self.restart_reason = ""
        self._restart_at: float | None = None
        self._frozen = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Where the GUI thread was while a stall went on (sampled once per
        #: stall by the watchdog thread): the log says why, not only how long.
        self.gui_thread_id = threading.main_thread().ident  # Qt's GUI thread; tests set another
        self._stall_stack: str | None = None
        self._paused = 0
        self._stats: TextIO | None = None
        self.lines_written = 0

    # --- the GUI thread --------------------------------------------------------------

    def beat(self) -> None:
        """Called by the GUI thread's timer; cheap."""
        now = time.monotonic()
        with self._lock:
            late_ms = max(0.0, (now - self._last_beat - self.beat_interval_s) * 1000.0)
            self._last_beat = now
            self._period_max_ms = max(self._period_max_ms, late_ms)
            self.max_stall_ms = max(self.max_stall_ms, late_ms)
            over = late_ms > self.config.stall_warn_ms
            if over:
                self._period_over_warn += 1
                self.stalls_over_warn += 1
            stack, self._stall_stack = self._stall_stack, None
        if over:
            log.warning(
                "GUI thread stalled for %.0f ms (warning above %.0f ms)%s",
                late_ms,
                self.config.stall_warn_ms,
                f"; it was in:\n{stack}" if stack else "",
            )

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Neither a stall nor a freeze while the wall blocks its own GUI thread on purpose
        (grabbing its screenshots): a first run must not report its own pictures as a stall."""
        with self._lock:
            self._paused += 1
        try:
            yield
        finally:
            with self._lock:
                self._paused -= 1
                self._last_beat = time.monotonic()
                self._stall_stack = None

    # --- the watchdog thread ---------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        if self.stats_path is not None:
            try:
                self.stats_path.parent.mkdir(parents=True, exist_ok=True)
                self._stats = open(self.stats_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
            except OSError as exc:
                log.error("stats file %s cannot be written: %s", self.stats_path, exc)
        with self._lock:
            self._last_beat = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()
        log.info(
            "watchdog on: stall limit %.1f s, memory limit %s MB, checks every %.1f s%s",
            self.config.stall_limit_s,
            self.config.memory_limit_mb or "no",
            self.config.check_interval_s,
            "" if self.config.enabled else " (limits not enforced: watchdog.enabled = false)",
        )

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._stats is not None:
            self._stats.close()
            self._stats = None

    def _run(self) -> None:
        # Fine enough to sample a stall's stack and catch a freeze near the
        # limit, cheap enough to ignore (20 wake-ups a second).
        poll = min(0.05, self.config.stall_warn_ms / 4000, self.config.check_interval_s)
        next_check = time.monotonic() + self.config.check_interval_s
        while not self._stop.wait(poll):
            try:
                now = time.monotonic()
                self._check_freeze(now)
                if now >= next_check:
                    next_check = now + self.config.check_interval_s
                    self._check_memory_and_report()
            except Exception:
                # The watchdog must outlive its own bugs; say so and go on.
                log.exception("watchdog check failed")

    def _check_freeze(self, now: float) -> None:
        with self._lock:
            if self._paused:
                return
            gap = now - self._last_beat
            late_s = gap - self.beat_interval_s
            sample = self._stall_stack is None and late_s > self.config.stall_warn_ms / 1000
        if sample:
            frame = sys._current_frames().get(self.gui_thread_id or 0)
            if frame is not None:
                stack = "".join(traceback.format_stack(frame)[-12:])
                with self._lock:
                    self._stall_stack = stack
        if self._frozen or not self.config.enabled:
            return
        reason = ""
        if gap > self.config.stall_limit_s:
            reason = (
                f"watchdog: the GUI thread has not answered for {gap:.1f} s "
                f"(limit {self.config.stall_limit_s:.1f} s)"
            )
        elif self._restart_at is not None and now - self._restart_at > CLEAN_RESTART_GRACE_S:
            reason = (
                f"watchdog: the clean restart asked {now - self._restart_at:.0f} s ago has not finished "
                f"({self.restart_reason})"
            )
        if reason:
            self._frozen = True
            self._on_freeze(reason)

    def _check_memory_and_report(self) -> None:
        own_mb, tree_mb = process_rss_mb(self._proc)
        limit = self.config.memory_limit_mb
        if self.config.enabled and limit and tree_mb > limit and self._restart_at is None:
            self.request_restart(
                f"watchdog: memory of the process tree {tree_mb:.0f} MB (wall {own_mb:.0f} MB, "
                f"{tree_mb - own_mb:.0f} MB in child processes) is over the limit of {limit} MB"
            )
        if self._stats is not None:
            self._write_stats(own_mb, tree_mb)

    def request_restart(self, reason: str) -> None:
        """Ask for a clean restart (once); any thread."""
        if self._restart_at is not None:
            return
        self._restart_at = time.monotonic()
        self.restart_reason = reason
        log.error("%s; restarting cleanly", reason)
        write_restart_reason(reason)
        self._on_restart(reason)

    def _write_stats(self, own_mb: float, tree_mb: float) -> None:
        now = time.monotonic()
        with self._lock:
            # A stall still going on counts too: a frozen wall must show in the
            # figures before the watchdog ends it.
            ongoing_ms = max(0.0, (now - self._last_beat - self.beat_interval_s) * 1000.0)
            stall_max = max(self._period_max_ms, ongoing_ms)
            over = self._period_over_warn
            self._period_max_ms = 0.0
            self._period_over_warn = 0
        t = time.time()
        line = {
            "t": t,
            "uptime_s": round(t - self._started_at, 3),
            "pid": self._proc.pid,
            "rss_mb": round(own_mb, 2),
            "tree_rss_mb": round(tree_mb, 2),
            "stall_max_ms": round(stall_max, 1),
            "stalls_over_warn": over,
            "feed_state": self.feed_state(),
            # Exceptions logged by the process's hooks since start (ops.errors).
            "uncaught_errors": UNCAUGHT.total,
        }
        assert self._stats is not None
        try:
            self._stats.write(json.dumps(line) + "\n")
            self._stats.flush()
            self.lines_written += 1
        except OSError as exc:
            log.error("stats file %s: %s; no more stats lines", self.stats_path, exc)
            with contextlib.suppress(OSError):
                self._stats.close()
            self._stats = None

    def feed_state(self) -> str:
        if self._feed_state is None:
            return ""
        try:
            return str(self._feed_state())
        except Exception:
            return ""

    def snapshot(self) -> dict[str, Any]:
        """Totals since start (for logs at exit)."""
        return {"stalls_over_warn": self.stalls_over_warn, "max_stall_ms": round(self.max_stall_ms, 1)}


class RendererBudget:
    """When to move a Chromium renderer to a fresh process (pure; no Qt).

    Chromium kiosks are known to grow for hours; here the map's renderer kept
    growing with a steady JS heap and DOM, and a reload in the same process gave
    nothing back. The budget learns the renderer's settled size ``warmup_s``
    after each load and answers "recycle" once RSS passes it by ``growth_pct``,
    never sooner than ``min_interval_s`` after the last recycle.
    """

    def __init__(self, growth_pct: float, warmup_s: float, min_interval_s: float) -> None:
        self.growth_pct = growth_pct
        self.warmup_s = warmup_s
        self.min_interval_s = min_interval_s
        self.baseline_mb: float | None = None
        self._loaded_at: float | None = None
        self._recycled_at: float | None = None

    def loaded(self, now: float) -> None:
        """A page load finished (first load or after a recycle or crash)."""
        self._loaded_at = now
        self.baseline_mb = None

    def recycled(self, now: float) -> None:
        self._recycled_at = now

    def check(self, rss_mb: float, now: float) -> bool:
        """True when the renderer should move to a fresh process now."""
        if self.growth_pct <= 0 or self._loaded_at is None:
            return False
        if self.baseline_mb is None:
            if now - self._loaded_at >= self.warmup_s:
                self.baseline_mb = rss_mb
            return False
        if self._recycled_at is not None and now - self._recycled_at < self.min_interval_s:
            return False
        return rss_mb > self.baseline_mb * (1.0 + self.growth_pct / 100.0)

