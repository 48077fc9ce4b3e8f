"""The wall's event loop: asyncio inside Qt's (qasync), with the error hooks.

While it runs, every exception nobody caught (a slot, a task, a thread) is logged
with its traceback and counted in commandcenter.ops.errors.UNCAUGHT, and the
wall carries on: no slot needs a wrapper of its own.

Why not ``asyncio.run(main, loop_factory=...)`` as qasync's README shows: its
shutdown runs the loop again (cancel leftovers, shutdown_asyncgens, the default
executor) after the wall has closed its windows, and that re-entered
``app.exec()`` processes the windows' deferred deletions; with QtWebEngine
(PySide6 6.12) the process then dies of SIGSEGV in ``QEventLoop.stop`` (seen on
``demo --headless --run-for 8``: every run, three supervisor restarts). So the
loop is made by the same factory, runs ``main`` once to its end and is closed,
as qasync's ``with loop: loop.run_until_complete(...)`` form does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import qasync
from PySide6.QtWidgets import QApplication

from commandcenter.ops.errors import UNCAUGHT, UncaughtErrors

T = TypeVar("T")


def new_qt_loop(app: QApplication, errors: UncaughtErrors = UNCAUGHT) -> asyncio.AbstractEventLoop:
    """A qasync loop over ``app`` whose exception handler logs and counts."""
    loop: asyncio.AbstractEventLoop = qasync.QEventLoop(app)
    loop.set_exception_handler(errors.loop_handler)
    return loop


def run_in_qt_loop(app: QApplication, main: Coroutine[Any, Any, T], errors: UncaughtErrors = UNCAUGHT) -> T:
    """Run ``main`` to its end on a qasync loop over ``app``, the error hooks installed."""
    restore = errors.install()
    loop = new_qt_loop(app, errors)
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        restore()
