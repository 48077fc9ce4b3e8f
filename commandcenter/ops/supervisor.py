"""The supervisor: a small parent process that keeps the wall running.

``commandcenter wall`` (and ``demo``) run this; it starts the real wall as a
child (the same command line plus ``--supervised``) and starts it again when
it exits with any code but two: 0 (a requested stop: the wall exits 0 for
nothing else) and 2 (the configuration or the command line is broken: starting
again would fail the same way, see :data:`FINAL_EXITS`) end the supervisor with
that code. Everything else starts the wall again: a restart asked for by the
watchdog (:data:`EXIT_RESTART`), a signal, a crash, a journal that cannot be
written (1), a token the server refused (3: the server may accept it later).
Restarts closer together than ``watchdog.min_restart_interval_s`` back off,
doubling up to five minutes.

Secrets. A ``--token`` on the wall's command line is taken out of the child's
argv (which the supervisor logs and ``ps`` shows) and handed over in the
``COMMANDCENTER_TOKEN`` environment variable instead.

The child runs in a process group (a session) of its own, so the QtWebEngine
renderers and the demo's server it starts can be found and ended with it: on
its own SIGTERM/SIGINT the supervisor asks the wall to stop, waits for a clean
exit, then kills whatever is left of the group. Windows has no process groups
of this kind; there the supervisor keeps a list of the child's descendants
(psutil) while it runs and ends those.

Qt-free and small: it never imports the wall's modules.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from commandcenter.ops.watchdog import EXIT_RESTART, REASON_FILE_ENV

log = logging.getLogger(__name__)

EXIT_OK = 0
#: Something failed that a restart may cure (a journal that cannot be written,
#: an exception nobody expected); said in one line on stderr and in the log.
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_FATAL_FEED = 3
#: Exit codes after which the supervisor ends: a requested stop, and a broken
#: configuration or command line (systemd: RestartPreventExitStatus=2).
FINAL_EXITS = {
    EXIT_OK: "finished",
    EXIT_USAGE: "configuration or usage error",
}
#: Codes that are restarted but named (the restart backs off as a crash does).
KNOWN_EXITS = {
    EXIT_FATAL_FEED: "fatal feed error (e.g. the server rejected the token)",
}
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 300.0
#: How long the wall may take to shut down cleanly after SIGTERM.
STOP_GRACE_S = 20.0
#: How often the supervisor looks at its child (and learns its descendants).
POLL_S = 0.5
POSIX = os.name == "posix"


class RestartPolicy:
    """How long to wait before the next start.

    A run that lasted at least ``min_interval_s`` restarts at once and resets
    the backoff; each shorter run waits twice as long as the one before
    (``first_s``, then doubling), never more than ``max_s``.
    """

    def __init__(
        self, min_interval_s: float, first_s: float = BACKOFF_FIRST_S, max_s: float = BACKOFF_MAX_S
    ) -> None:
        self.min_interval_s = min_interval_s
        self.first_s = first_s
        self.max_s = max_s
        self._delay = 0.0

    def delay_after(self, run_s: float) -> float:
        if run_s >= self.min_interval_s:
            self._delay = 0.0
        else:
            self._delay = self.first_s if self._delay == 0.0 else min(self._delay * 2, self.max_s)
        return self._delay


def describe_exit(code: int) -> str:
    """Why a child ended, in words (a negative code is the signal that killed it)."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"killed by signal {name}"
    if code == EXIT_RESTART:
        return f"asked for a restart (exit code {code})"
    if code in FINAL_EXITS:
        return f"{FINAL_EXITS[code]} (exit code {code})"
    if code in KNOWN_EXITS:
        return f"{KNOWN_EXITS[code]} (exit code {code})"
    return f"crashed (exit code {code})"


def feed_exit(task: Any, who: str) -> tuple[int, str]:
    """(exit code, one line for stderr) for a process whose feed task (an
    asyncio Task) may have ended by itself. A task still running, cancelled or
    finished without an exception was stopped on request: (0, ""). A refused
    token is :data:`EXIT_FATAL_FEED`; anything else (a journal on a full disk,
    an unexpected exception) is :data:`EXIT_FAILURE`, never 0, so that this
    supervisor and systemd's Restart=on-failure start the process again."""
    if task is None or not task.done() or task.cancelled():
        return EXIT_OK, ""
    exc = task.exception()
    if exc is None:
        return EXIT_OK, ""
    # Imported here: the supervisor itself never loads the wall's modules.
    from commandcenter.storage.journal import JournalError
    from commandcenter.wall.feed import FatalFeedError

    if isinstance(exc, FatalFeedError):
        return EXIT_FATAL_FEED, f"{who}: {exc}"
    if isinstance(exc, JournalError):
        return EXIT_FAILURE, str(exc) if str(exc).startswith("journal:") else f"{who}: journal: {exc}"
    first = str(exc).splitlines()[0] if str(exc) else ""
    return EXIT_FAILURE, f"{who}: the feed failed: {type(exc).__name__}: {first}"[:500]


class ProcessTree:
    """The child and everything it started, so nothing outlives it."""

    def __init__(self, proc: subprocess.Popen[Any]) -> None:
        self.proc = proc
        self.known: dict[int, psutil.Process] = {}
        self.root: psutil.Process | None = None
        with contextlib.suppress(psutil.Error):
            self.root = psutil.Process(proc.pid)
        self.refresh()

    def refresh(self) -> None:
        """Learn the current descendants (needed where process groups cannot
        find them: Windows, or a renderer that made its own session)."""
        if self.root is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(psutil.Error):
            for child in self.root.children(recursive=True):
                self.known.setdefault(child.pid, child)

    def leftovers(self) -> list[psutil.Process]:
        alive = []
        for p in self.known.values():
            # is_running() also checks the start time: a reused pid is not ours.
            with contextlib.suppress(psutil.Error):
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
        return alive

    def ask_to_stop(self, signum: int) -> None:
        """Forward a stop request to the wall itself; it shuts its children down."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, OSError):
            if POSIX:
                self.proc.send_signal(signum)
            else:
                # No clean way to signal a windowed process on Windows: end it.
                self.proc.terminate()

    def kill_all(self) -> int:
        """SIGKILL the child's process group and every known descendant;
        returns how many were still there."""
        self.refresh()
        killed = 0
        if POSIX:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
                killed += 1
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.kill()
        rest = self.leftovers()
        for p in rest:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(rest, timeout=5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        return killed + len(rest)


def _parent_death_signal() -> Callable[[], None] | None:
    """What the child runs before exec (Linux): ask for SIGTERM when the
    supervisor dies, even by SIGKILL or the OOM killer, so a wall never runs
    on unsupervised next to the one a new supervisor starts. The C function is
    looked up here, in the parent: between fork and exec the child must not
    import or load anything (another thread may hold those locks)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)

    def run() -> None:
        prctl(pr_set_pdeathsig, sigterm)

    return run


class Supervisor:
    def __init__(
        self,
        command: Sequence[str],
        *,
        min_restart_interval_s: float,
        env: dict[str, str] | None = None,
        reason_file: Path | None = None,
        stop_grace_s: float = STOP_GRACE_S,
        backoff_first_s: float = BACKOFF_FIRST_S,
    ) -> None:
        self.command = list(command)
        self.env = dict(os.environ if env is None else env)
        self.reason_file = reason_file
        if reason_file is not None:
            self.env[REASON_FILE_ENV] = str(reason_file)
        self.stop_grace_s = stop_grace_s
        self.policy = RestartPolicy(min_restart_interval_s, first_s=backoff_first_s)
        self.starts = 0
        #: (exit code, seconds it ran, delay before the next start) per run.
        self.history: list[tuple[int, float, float]] = []
        self._stop_signal = 0
        self._stopping = threading.Event()

    # --- signals ---------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only note it: the wait loop forwards it (a handler must stay tiny).
        if not self._stop_signal:
            self._stop_signal = signum
        self._stopping.set()

    def _install_signals(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}
        wanted = [signal.SIGTERM, signal.SIGINT]
        if hasattr(signal, "SIGHUP"):
            wanted.append(signal.SIGHUP)
        for sig in wanted:
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                previous[sig] = signal.signal(sig, self._on_signal)
        return previous

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Stop from another thread (tests, embedding): as if signalled."""
        self._on_signal(signum, None)

    # --- running ---------------------------------------------------------------------

    def run(self) -> int:
        previous = self._install_signals()
        try:
            return self._loop()
        finally:
            for sig, handler in previous.items():
                with contextlib.suppress(ValueError, OSError, TypeError):
                    signal.signal(sig, handler)
            if self.reason_file is not None:
                with contextlib.suppress(OSError):
                    self.reason_file.unlink(missing_ok=True)

    def _loop(self) -> int:
        while not self._stopping.is_set():
            code, run_s, pid = self._run_child()
            if self._stopping.is_set():
                result = code if code >= 0 else 128 - code
                log.info("supervisor stopping on %s; the wall (pid %d) %s", self._signal_name(), pid,
                         describe_exit(code))
                return result
            why = describe_exit(code)
            reason = self._read_reason()
            if reason:
                why += f": {reason}"
            if code in FINAL_EXITS:
                self.history.append((code, run_s, 0.0))
                log.info("the wall (pid %d) %s after %.1f s; the supervisor ends", pid, why, run_s)
                return code
            delay = self.policy.delay_after(run_s)
            self.history.append((code, run_s, delay))
            log.warning(
                "the wall (pid %d) %s after %.1f s; restart %d in %.1f s",
                pid,
                why,
                run_s,
                self.starts,
                delay,
            )
            if delay and self._stopping.wait(delay):
                break
        log.info("supervisor stopping on %s while no wall was running", self._signal_name())
        return EXIT_OK

    def _signal_name(self) -> str:
        try:
            return signal.Signals(self._stop_signal).name
        except ValueError:
            return "request"

    def _read_reason(self) -> str:
        if self.reason_file is None:
            return ""
        try:
            text = self.reason_file.read_text(encoding="utf-8").strip()
            self.reason_file.unlink()
        except OSError:
            return ""
        return text

    def _run_child(self) -> tuple[int, float, int]:
        """Start the wall, wait for it to end (forwarding a stop), clean up
        everything it left; returns (exit code, seconds it ran, pid)."""
        if self.reason_file is not None:
            with contextlib.suppress(OSError):
                self.reason_file.unlink(missing_ok=True)
        kwargs: dict[str, Any] = {}
        if POSIX:
            kwargs["start_new_session"] = True
            kwargs["preexec_fn"] = _parent_death_signal()
        else:
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        started = time.monotonic()
        proc = subprocess.Popen(self.command, env=self.env, **kwargs)
        self.starts += 1
        log.info("wall started (pid %d, start %d): %s", proc.pid, self.starts, " ".join(self.command))
        tree = ProcessTree(proc)
        forwarded_at: float | None = None
        while True:
            try:
                code = proc.wait(POLL_S)
                break
            except subprocess.TimeoutExpired:
                pass
            tree.refresh()
            if self._stopping.is_set():
                if forwarded_at is None:
                    forwarded_at = time.monotonic()
                    log.info("forwarding %s to the wall (pid %d)", self._signal_name(), proc.pid)
                    tree.ask_to_stop(self._stop_signal or signal.SIGTERM)
                elif time.monotonic() - forwarded_at > self.stop_grace_s:
                    log.warning("the wall did not stop within %.0f s; killing it", self.stop_grace_s)
                    tree.kill_all()
        run_s = time.monotonic() - started
        left = tree.leftovers()
        if left:
            log.info("ending %d processes the wall left behind: %s", len(left), [p.pid for p in left])
        tree.kill_all()
        return code, run_s, proc.pid


def supervise_main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``commandcenter wall`` / ``demo`` without ``--no-supervisor``: run the
    same command line as a supervised child."""
    from commandcenter.config import ENV_TOKEN, ConfigError, load_config
    from commandcenter.ops.logsetup import FileLogging, log_dir
    from commandcenter.ops.secrets import strip_token_args
    from commandcenter.ops.selfexec import FULL_MODULE, self_command

    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        sys.stderr.write(f"config error: {exc}\n")
        return EXIT_USAGE
    files: FileLogging | None = None
    directory = log_dir(config.logging, getattr(args, "data_dir", None))
    try:
        files = FileLogging(directory, "supervisor.log", config.logging.level)
    except OSError as exc:
        log.error("no supervisor log file in %s: %s", directory, exc)
    fd, reason_path = tempfile.mkstemp(prefix="oki112-restart-reason-", suffix=".txt")
    os.close(fd)
    # The token goes to the child in its environment, never on its command
    # line (logged below and shown by ps); --token-file stays: a path is no secret.
    child_argv, _ = strip_token_args(argv)
    env = dict(os.environ)
    token = getattr(args, "token", None)
    if token:
        env[ENV_TOKEN] = token
    supervisor = Supervisor(
        self_command(*child_argv, "--supervised", module=FULL_MODULE),
        min_restart_interval_s=config.watchdog.min_restart_interval_s,
        reason_file=Path(reason_path),
        env=env,
    )
    log.info("supervisor (pid %d) starting the wall", os.getpid())
    try:
        code = supervisor.run()
    finally:
        if files is not None:
            files.close()
    return code
