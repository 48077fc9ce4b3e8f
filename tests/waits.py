"""Waiting on another process or thread: a condition polled against a deadline.

For what gives no signal to wait on (a child's files, its exit, a thread's
state). In-process Qt and asyncio code waits on signals instead (qtbot.waitUntil,
tests/ui/walls.py ``until``, tests/serverproc.py ``wait_client``).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psutil

T = TypeVar("T")

#: How often the condition is looked at: quick enough not to lengthen the
#: tests, slow enough to cost nothing next to the processes being watched.
POLL_S = 0.02


def wait_for(
    predicate: Callable[[], T], timeout: float, what: str, proc: subprocess.Popen[Any] | None = None
) -> T:
    """``predicate()``'s first truthy value, or AssertionError naming ``what``
    after ``timeout`` seconds, or as soon as ``proc`` (a child we wait on)
    ended without the condition ever holding."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()  # never set: wait() is a pause that needs no sleep()
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause.wait(POLL_S)


def process_gone(pid: int) -> bool:
    """The process has exited (a zombie not yet reaped counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
