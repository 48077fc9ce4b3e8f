"""Exceptions nobody caught: logged with their traceback and counted, never fatal.

A wall must keep running when one slot, task or thread fails, and the failure
must not pass silently either. Instead of wrapping every slot, the process
installs three hooks once: ``sys.excepthook`` (PySide6 hands an exception raised
in a slot or a virtual override to it), ``threading.excepthook`` and the asyncio
loop's exception handler (a task whose exception nobody retrieved, a failing
callback). Each logs one ERROR record with the traceback and adds one to
:data:`UNCAUGHT`, which the watchdog's stats line reports.

Qt-free, so a headless node can install the same hooks.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Any

log = logging.getLogger("commandcenter.uncaught")


class UncaughtErrors:
    """A thread-safe count of uncaught exceptions, by where they surfaced."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_origin: Counter[str] = Counter()

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._by_origin.values())

    def by_origin(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by_origin)

    def record(self, origin: str, message: str, exc: BaseException | None) -> None:
        """Log one error (with the traceback when there is one) and count it."""
        with self._lock:
            self._by_origin[origin] += 1
        if exc is not None:
            log.error("uncaught (%s): %s", origin, message, exc_info=(type(exc), exc, exc.__traceback__))
        else:
            log.error("uncaught (%s): %s", origin, message)

    # --- the hooks ---------------------------------------------------------------------

    def excepthook(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt | SystemExit):
            # Not a bug: let Python's own handling say it.
            sys.__excepthook__(exc_type, exc, tb)
            return
        if exc.__traceback__ is None:
            exc.__traceback__ = tb
        self.record("slot", f"{exc_type.__name__}: {exc}", exc)

    def thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return  # a thread ending itself (threading's default is silent too)
        name = args.thread.name if args.thread is not None else "?"
        exc = args.exc_value
        if exc is not None and exc.__traceback__ is None:
            exc.__traceback__ = args.exc_traceback
        self.record(f"thread {name}", f"{args.exc_type.__name__}: {exc}", exc)

    def loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = str(context.get("message") or "asyncio error")
        task = context.get("task") or context.get("future")
        if task is not None:
            message = f"{message} ({task!r})"
        self.record("task", message, exc if isinstance(exc, BaseException) else None)

    def install(self) -> Callable[[], None]:
        """Take over sys.excepthook and threading.excepthook; returns the undo.

        The loop handler is set on each loop by who makes it
        (``loop.set_exception_handler(errors.loop_handler)``)."""
        previous_sys, previous_thread = sys.excepthook, threading.excepthook
        sys.excepthook = self.excepthook
        threading.excepthook = self.thread_excepthook

        def restore() -> None:
            sys.excepthook = previous_sys
            threading.excepthook = previous_thread

        return restore


#: This process's count (the hooks are process-wide, so is the count).
UNCAUGHT = UncaughtErrors()
