"""Fixtures for the Qt views: a real store filled by the real simulator; and a
check that no test leaves a window open behind it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from commandcenter.config import Config, load_defaults
from commandcenter.core import protocol as p
from commandcenter.core.store import Store
from commandcenter.core.timeutil import FakeClock
from commandcenter.refserver.simulator import Simulator

T_START = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)  # 08:00 WIB


def simulated_events(
    minutes: float, *, scenario: str = "mixed", rate: float = 3.0, seed: int = 7, epoch: str = "test-epoch"
) -> list[p.Event]:
    sim = Simulator(scenario=scenario, rate_per_min=rate, seed=seed, start=T_START)
    bodies: list[tuple[dt.datetime, p.EventBody]] = [(T_START, b) for b in sim.initial_bodies()]
    bodies += sim.advance_to(T_START + dt.timedelta(minutes=minutes))
    return [
        p.Event(epoch=epoch, seq=i + 1, id=f"ev-{i + 1}", ts=ts, body=b) for i, (ts, b) in enumerate(bodies)
    ]


@pytest.fixture(scope="session")
def config() -> Config:
    return load_defaults()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T_START + dt.timedelta(minutes=90))


@pytest.fixture
def store(clock: FakeClock) -> Store:
    """A store after 90 simulated minutes of the mixed scenario (a flood surge included)."""
    s = Store(clock=clock)
    s.apply_many(simulated_events(90))
    return s


@pytest.fixture
def bridge(qapp: object, config: Config, store: Store) -> Iterator[object]:
    from ui.support.bridge import EngineBridge

    b = EngineBridge(config, store)
    yield b
    b.shutdown()
    b.deleteLater()


def page_value(qtbot: Any, view: Any, expression: str, timeout_ms: int = 30_000) -> Any:
    """The value of a JS ``expression`` in a map view's page (decoded from JSON), once the
    page has answered; the view runs it in order with what it sends the page."""
    box: list[Any] = []
    view.run_js_json(expression, box.append)
    qtbot.waitUntil(lambda: bool(box), timeout=timeout_ms)
    return box[0]


# --- no window outlives its test ----------------------------------------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    # Keep each phase's report on the item: the leak check below stays quiet
    # about a test that already failed (its windows are a symptom, not news).
    report = yield
    setattr(item, f"_report_{report.when}", report)
    return report


def _shown_windows() -> list[Any]:
    """The application's visible top-level widgets (none without a QApplication)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return []
    import shiboken6

    return [w for w in app.topLevelWidgets() if shiboken6.isValid(w) and w.isVisible()]


def _describe(widget: Any) -> str:
    g = widget.geometry()
    name = f" {widget.objectName()!r}" if widget.objectName() else ""
    title = f" title {widget.windowTitle()!r}" if widget.windowTitle() else ""
    return f"{type(widget).__module__}.{type(widget).__qualname__}{name}{title} at {g.width()}x{g.height()}"


@pytest.fixture(autouse=True)
def _no_window_left_open(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that leaves a visible top-level window behind.

    Runs after pytest-qt closed what the test gave ``qtbot.addWidget`` (that
    happens before fixtures are torn down). A window still shown then was never
    closed: it stays on the (offscreen) screen, keeps its bridge and timers
    alive and would be painted, and counted, in every later test.
    """
    before = _shown_windows()
    yield
    leaked = [w for w in _shown_windows() if not any(w is b for b in before)]
    del before
    if not leaked:
        return
    lines = [_describe(w) for w in leaked]
    for w in leaked:  # the next test starts without them either way
        w.close()
        w.deleteLater()
    call = getattr(request.node, "_report_call", None)
    if call is not None and call.failed:
        return
    pytest.fail(
        f"{len(leaked)} window(s) left open by this test: give each to qtbot.addWidget(), or close it:\n  "
        + "\n  ".join(lines),
        pytrace=False,
    )
