"""Fixtures for the Qt views: a real store filled by the real simulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

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
