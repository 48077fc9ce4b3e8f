"""An exception nobody caught, in a slot, a task or a thread, is logged once with its
traceback and counted, and the wall's event loop carries on (issue 10, item 6)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QObject, QTimer, Signal

from commandcenter.ops.errors import UncaughtErrors
from tests.conftest import ROOT
from ui.app.eventloop import run_in_qt_loop

#: These tests start and close a qasync loop of their own, the wall's way. Closing one after the
#: many loops of the rest of the suite crashed in qasync's QEventLoop.stop (a segmentation fault
#: that took the whole pytest run down), so they run in a pytest process of their own.
INNER = "OKI112_EXCEPTHOOK_INNER"
inner_only = pytest.mark.skipif(not os.environ.get(INNER), reason="runs in its own process (see above)")


@pytest.mark.parametrize(
    "inner",
    [
        "test_slot_task_and_thread_errors_are_logged_counted_and_survived",
        "test_a_slot_emitted_directly_is_counted_and_the_caller_goes_on",
    ],
)
def test_the_hooks_in_a_process_of_their_own(inner: str, tmp_path: Path) -> None:
    # One wall loop per process, as in the wall: a second qasync loop on the same
    # QApplication after the first was closed hung.
    env = dict(os.environ, **{INNER: "1"})
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "--basetemp", str(tmp_path / "inner"),
         f"{Path(__file__).resolve()}::{inner}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=170, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "1 passed" in out.stdout, out.stdout[-2000:]


class Emitter(QObject):
    fired = Signal()


def _boom_records(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "commandcenter.uncaught" and r.exc_info and text in str(r.exc_info[1])
    ]


class ObservedErrors(UncaughtErrors):
    """The real counter, telling the test's coroutine when it counts one."""

    def __init__(self) -> None:
        super().__init__()
        self.counted = asyncio.Event()

    def record(self, origin: str, message: str, exc: BaseException | None) -> None:
        super().record(origin, message, exc)
        self.counted.set()

    async def wait_total(self, n: int) -> None:
        async with asyncio.timeout(10):
            while self.total < n:
                await self.counted.wait()
                self.counted.clear()


@inner_only
def test_slot_task_and_thread_errors_are_logged_counted_and_survived(
    qapp: Any, caplog: pytest.LogCaptureFixture
) -> None:
    errors = ObservedErrors()
    hook_before = sys.excepthook
    emitter = Emitter()

    def failing_slot() -> None:
        raise RuntimeError("slot boom")

    emitter.fired.connect(failing_slot)
    qt_turned = asyncio.Event()

    async def failing_task() -> None:
        raise ValueError("task boom")

    async def main() -> int:
        # A slot run by the Qt event loop (a timer), as a click or a feed signal would be.
        QTimer.singleShot(0, emitter.fired.emit)
        await errors.wait_total(1)
        # A fire-and-forget task whose exception nobody retrieves.
        task = asyncio.ensure_future(failing_task())
        await asyncio.wait([task])
        del task
        gc.collect()  # the task's finaliser reports the unretrieved exception
        await errors.wait_total(2)
        # A worker thread.
        worker = threading.Thread(target=lambda: 1 / 0, name="worker-x")
        worker.start()
        worker.join()
        assert errors.total == 3
        # The loop still turns: Qt timers and asyncio both.
        QTimer.singleShot(0, qt_turned.set)
        async with asyncio.timeout(10):
            await qt_turned.wait()
        return 42

    with caplog.at_level(logging.ERROR, logger="commandcenter.uncaught"):
        assert run_in_qt_loop(qapp, main(), errors) == 42

    assert errors.by_origin() == {"slot": 1, "task": 1, "thread worker-x": 1}
    for text in ("slot boom", "task boom", "division by zero"):
        records = _boom_records(caplog, text)
        assert len(records) == 1, (text, [r.getMessage() for r in caplog.records])
        assert records[0].levelno == logging.ERROR
        assert records[0].exc_info is not None and records[0].exc_info[2] is not None  # the traceback
    assert sys.excepthook is hook_before and threading.excepthook is not errors.thread_excepthook
    emitter.deleteLater()


@inner_only
def test_a_slot_emitted_directly_is_counted_and_the_caller_goes_on(
    qapp: Any, caplog: pytest.LogCaptureFixture
) -> None:
    errors = UncaughtErrors()
    emitter = Emitter()
    calls: list[int] = []

    def slot() -> None:
        calls.append(1)
        raise KeyError("direct boom")

    emitter.fired.connect(slot)

    async def main() -> int:
        emitter.fired.emit()
        emitter.fired.emit()
        return len(calls)

    with caplog.at_level(logging.ERROR, logger="commandcenter.uncaught"):
        assert run_in_qt_loop(qapp, main(), errors) == 2
    assert errors.by_origin() == {"slot": 2}
    assert len(_boom_records(caplog, "direct boom")) == 2
    emitter.deleteLater()
