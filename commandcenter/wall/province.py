"""A provincial wall's engine: one WallSession per regency, and the province model.

Each ``[[province.feeds]]`` entry is followed by its own :class:`WallSession`
(journal, store, feed client) with its own journal file in the province's
journal directory (``regency-<code>.sqlite3``), so every feed has its own
epoch and seq, restores and resumes on its own and goes stale on its own.
Incidents carry their regency by the feed they came from: the province keys
them ``<code>/<incident id>``; the protocol is unchanged.

Alerts (sound, speech, escalation) stay with each regency's own 112 center:
the provincial wall watches, so its sessions run without the alert service.
The figures (commandcenter.core.province) are computed here for the views.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from commandcenter.core.places import Area, AreaIndex, geo_path, read_feature_collection
from commandcenter.core.plausibility import Plausibility
from commandcenter.core.province import (
    IncidentPoint,
    LinkState,
    ProvinceFigures,
    RegencyInput,
    incident_points,
    province_figures,
)
from commandcenter.core.store import ChangeSet, Store
from commandcenter.core.timeutil import Clock
from commandcenter.wall.feed import FeedClient, FeedSettings, FeedStatus
from commandcenter.wall.session import WallSession, feed_settings

if TYPE_CHECKING:
    from commandcenter.config import Config
    from commandcenter.config.schema import ProvinceFeedConfig

log = logging.getLogger(__name__)

#: The province's journals go here in a wall's data directory when province.journal_dir is ''.
PROVINCE_DIR = "province"


def journal_dir(config: Config, data_dir: Path) -> Path:
    """province.journal_dir when set, else province/ in ``data_dir``."""
    return Path(config.province.journal_dir) if config.province.journal_dir else data_dir / PROVINCE_DIR


def regency_journal(directory: Path, code: str) -> Path:
    """One regency's journal file: its own epoch, seq, snapshots and outbox."""
    return directory / f"regency-{code}.sqlite3"


def regency_areas(value: str) -> AreaIndex:
    """The regency outlines of the province (province.geojson)."""
    path = geo_path(value)
    if path is None:
        return AreaIndex(())
    return AreaIndex.from_features(read_feature_collection(path))


def regency_area(areas: AreaIndex, code: str) -> Area | None:
    return next((a for a in areas.areas if a.code == code), None)


class RegencyFeed:
    """One regency followed by the provincial wall."""

    def __init__(self, code: str, name: str, session: WallSession) -> None:
        self.code = code
        self.name = name
        self.session = session

    @property
    def store(self) -> Store:
        return self.session.store

    @property
    def feed(self) -> FeedClient:
        return self.session.feed

    @property
    def state(self) -> LinkState:
        value = self.feed.status.state.value
        assert value in ("connecting", "live", "stale", "offline")
        return value  # type: ignore[return-value]

    def age_s(self) -> float | None:
        return self.feed.status.event_age_s()

    def as_input(self) -> RegencyInput:
        return RegencyInput(self.code, self.name, self.store, self.state, self.age_s())


def _settings(
    config: Config, feed: ProvinceFeedConfig, client_id: str, heartbeat_timeout_s: float | None
) -> FeedSettings:
    # Several servers: the regency's gateways, failed over between (feed_settings splits the list).
    return feed_settings(
        config, url=",".join(feed.servers), token=feed.token or config.server.token,
        client_id=f"{client_id}-{feed.code}", heartbeat_timeout_s=heartbeat_timeout_s,
    )  # fmt: skip


class ProvinceSession:
    """The sessions of every configured regency and the province's figures.

    Make one with :meth:`open`, run it with :meth:`start`, end it with :meth:`close`.
    ``change_listeners`` get (regency code, change set); ``status_listeners``
    (regency code, feed status)."""

    def __init__(self, config: Config, feeds: Sequence[RegencyFeed], directory: Path, clock: Clock) -> None:
        self.config = config
        self.feeds = list(feeds)
        self.by_code = {f.code: f for f in self.feeds}
        self.directory = directory
        self.clock = clock
        self.change_listeners: list[Callable[[str, ChangeSet], object]] = []
        self.status_listeners: list[Callable[[str, FeedStatus], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._watchers: list[asyncio.Task[None]] = []
        for f in self.feeds:
            f.feed.change_listeners.append(self._change_relay(f.code))
            f.feed.status_listeners.append(self._status_relay(f.code))

    @classmethod
    async def open(
        cls,
        config: Config,
        directory: str | Path,
        *,
        clock: Clock | None = None,
        client_id: str | None = None,
        heartbeat_timeout_s: float | None = None,
    ) -> ProvinceSession:
        """Open (and restore) one journal per configured regency in ``directory``."""
        pc = config.province
        if not pc.feeds:
            raise ValueError("the configuration names no regency to follow ([[province.feeds]])")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        areas = regency_areas(pc.geojson)
        cid = client_id or config.server.effective_client_id()
        opened: list[RegencyFeed] = []
        try:
            for fc in pc.feeds:
                area = regency_area(areas, fc.code)
                rules = None
                if area is not None:
                    west, south, east, north = area.geom.bounds
                    # Categories and agencies are the province's; places are the regency's outline.
                    rules = Plausibility.of(
                        categories=[c.code for c in config.categories],
                        agencies=[a.code for a in config.agencies],
                        area=(south, west, north, east),
                    )
                session = await WallSession.open(
                    config, regency_journal(directory, fc.code),
                    _settings(config, fc, cid, heartbeat_timeout_s),
                    clock=clock, alerts=False, plausibility=rules,
                )  # fmt: skip
                opened.append(RegencyFeed(fc.code, fc.name, session))
        except BaseException:
            for f in opened:
                with contextlib.suppress(Exception):
                    await f.session.close()
            raise
        return cls(config, opened, directory, opened[0].store.clock)

    # --- running -----------------------------------------------------------------

    def start(self) -> list[asyncio.Task[None]]:
        """Start every regency's feed; one that ends (a refused token) is logged
        and leaves the others running."""
        if not self._tasks:
            loop = asyncio.get_running_loop()
            for f in self.feeds:
                task = f.session.start()
                self._tasks.append(task)
                self._watchers.append(loop.create_task(self._watch(f, task), name=f"province-{f.code}"))
        return list(self._tasks)

    async def _watch(self, feed: RegencyFeed, task: asyncio.Task[None]) -> None:
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            log.error("regency %s (%s): feed ended: %s", feed.code, feed.name, exc)

    async def close(self) -> None:
        for w in self._watchers:
            w.cancel()
        for f in self.feeds:
            try:
                await f.session.close()
            except Exception:
                log.exception("regency %s: session did not close cleanly", f.code)

    def _change_relay(self, code: str) -> Callable[[ChangeSet], None]:
        return lambda changes: self._changed(code, changes)

    def _status_relay(self, code: str) -> Callable[[FeedStatus], None]:
        return lambda status: self._status(code, status)

    def _changed(self, code: str, changes: ChangeSet) -> None:
        for listener in list(self.change_listeners):
            try:
                listener(code, changes)
            except Exception:
                log.exception("province change listener failed")

    def _status(self, code: str, status: FeedStatus) -> None:
        for listener in list(self.status_listeners):
            try:
                listener(code, status)
            except Exception:
                log.exception("province status listener failed")

    # --- figures -----------------------------------------------------------------

    def inputs(self) -> list[RegencyInput]:
        return [f.as_input() for f in self.feeds]

    def figures(self) -> ProvinceFigures:
        return province_figures(self.config.province.name, self.inputs(), self.clock())

    def points(self) -> list[IncidentPoint]:
        return incident_points(self.inputs())


__all__ = [
    "PROVINCE_DIR",
    "ProvinceSession",
    "RegencyFeed",
    "journal_dir",
    "regency_area",
    "regency_areas",
    "regency_journal",
]
