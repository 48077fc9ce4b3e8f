"""Figures of a province over the stores of its regencies (no Qt, no I/O).

A provincial wall follows several regencies' 112 centers, one store each
(commandcenter.wall.province). This module turns those stores into what the
province board and map show: per regency and for the whole province the
active incidents (by category and agency), the unacknowledged high-priority
ones, today's arrival times against the response target (median and the
arrivals past it, "breaches") and the link state with its age, so that a
stale regency never looks live. Views only render these figures.

The province's arrival median is the median of every regency's arrivals
together (not a median of medians); counts are sums.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from msgspec import Struct

from commandcenter.core.figures import ResponseStats, response_stats
from commandcenter.core.store import Store

#: The link states a regency's row shows (commandcenter.wall.feed.FeedState values).
LinkState = Literal["connecting", "live", "stale", "offline"]
#: Figures a choropleth can colour by (config province.choropleth).
CHOROPLETH_FIGURES: tuple[str, ...] = ("active", "unacked_high", "breaches")


#: Short names of Sumatera Selatan's regencies and cities as the province uses
#: them (the map's labels and the board's narrow tiles).
REGENCY_SHORT: dict[str, str] = {
    "16.01": "OKU", "16.02": "OKI", "16.03": "Muara Enim", "16.04": "Lahat", "16.05": "Mura",
    "16.06": "Muba", "16.07": "Banyuasin", "16.08": "OKU Timur", "16.09": "OKU Selatan",
    "16.10": "Ogan Ilir", "16.11": "Empat Lawang", "16.12": "PALI", "16.13": "Muratara",
    "16.71": "Palembang", "16.72": "Pagar Alam", "16.73": "Lubuklinggau", "16.74": "Prabumulih",
}  # fmt: skip


def short_name(code: str, name: str) -> str:
    """The regency's short name ("OKU Timur"), else its name without "Kabupaten"/"Kota"."""
    return REGENCY_SHORT.get(code) or name.removeprefix("Kabupaten ").removeprefix("Kota ").strip() or name


@dataclass(frozen=True)
class RegencyInput:
    """One regency as the province model reads it: its store and its link."""

    code: str
    name: str
    store: Store
    state: LinkState
    #: Seconds since the regency's last applied event (None: nothing yet).
    age_s: float | None


class RegencyFigures(Struct, frozen=True, kw_only=True):
    """One regency's row on the province board (or the province's total row)."""

    code: str
    name: str
    #: The name on a narrow tile or a map label (:func:`short_name`).
    short: str
    state: LinkState
    age_s: float | None
    #: True only when the link is live: a board shows anything else as stale.
    live: bool
    active_total: int
    active_by_category: dict[str, int]
    active_by_agency: dict[str, int]
    active_by_priority: dict[str, int]
    unacked_high: int
    arrival: ResponseStats
    #: Today's arrivals later than the response target.
    breaches: int
    response_target_s: float


class ProvinceFigures(Struct, frozen=True, kw_only=True):
    at: dt.datetime
    regencies: list[RegencyFigures]
    #: The whole province: sums of the regencies; the arrival figures over all arrivals.
    total: RegencyFigures
    live_count: int
    stale_count: int

    def regency(self, code: str) -> RegencyFigures | None:
        return next((r for r in self.regencies if r.code == code), None)

    def choropleth(self, figure: str) -> dict[str, int]:
        """The value of ``figure`` per regency code (what colours the map)."""
        if figure not in CHOROPLETH_FIGURES:
            raise ValueError(f"unknown figure {figure!r}; expected one of {', '.join(CHOROPLETH_FIGURES)}")
        attr = "active_total" if figure == "active" else figure
        return {r.code: int(getattr(r, attr)) for r in self.regencies}


class IncidentPoint(Struct, frozen=True, kw_only=True):
    """An active incident with coordinates, for the province map."""

    key: str  # "<regency code>/<incident id>": ids of two regencies' servers may collide
    regency: str
    lat: float
    lon: float
    category: str
    priority: str
    status: str
    unacked_high: bool


def _add(total: dict[str, int], part: dict[str, int]) -> None:
    for k, v in part.items():
        total[k] = total.get(k, 0) + v


def regency_figures(entry: RegencyInput) -> tuple[RegencyFigures, list[float]]:
    """The regency's row and its arrival samples of today (ascending)."""
    store = entry.store
    k = store.kpis()
    samples = store.arrival_samples()
    arrival = k.arrival
    row = RegencyFigures(
        code=entry.code,
        name=entry.name,
        short=short_name(entry.code, entry.name),
        state=entry.state,
        age_s=entry.age_s,
        live=entry.state == "live",
        active_total=k.active_total,
        active_by_category=k.active_by_category,
        active_by_agency=k.active_by_agency,
        active_by_priority=k.active_by_priority,
        unacked_high=k.unacked_high,
        arrival=arrival,
        breaches=arrival.count - arrival.within_target,
        response_target_s=k.response_target_s,
    )
    return row, samples


def province_figures(name: str, entries: Sequence[RegencyInput], at: dt.datetime) -> ProvinceFigures:
    """Per-regency rows and the province's total row, in the order of ``entries``."""
    rows: list[RegencyFigures] = []
    samples: list[float] = []
    by_cat: dict[str, int] = {}
    by_agency: dict[str, int] = {}
    by_priority: dict[str, int] = {}
    target = entries[0].store.response_target_s if entries else 900.0
    for entry in entries:
        row, own = regency_figures(entry)
        rows.append(row)
        samples.extend(own)
        _add(by_cat, row.active_by_category)
        _add(by_agency, row.active_by_agency)
        _add(by_priority, row.active_by_priority)
    samples.sort()
    arrival = response_stats(samples, target)
    live = sum(1 for r in rows if r.live)
    ages = [r.age_s for r in rows if r.age_s is not None and not r.live]
    total = RegencyFigures(
        code="",
        name=name,
        short=name,
        # The province is live only when every regency is.
        state="live" if rows and live == len(rows) else "stale",
        age_s=max(ages) if ages else None,
        live=bool(rows) and live == len(rows),
        active_total=sum(r.active_total for r in rows),
        active_by_category=by_cat,
        active_by_agency=by_agency,
        active_by_priority=by_priority,
        unacked_high=sum(r.unacked_high for r in rows),
        arrival=arrival,
        breaches=arrival.count - arrival.within_target,
        response_target_s=target,
    )
    return ProvinceFigures(at=at, regencies=rows, total=total, live_count=live, stale_count=len(rows) - live)


def incident_points(entries: Sequence[RegencyInput]) -> list[IncidentPoint]:
    """Every active incident with coordinates, of every regency."""
    out: list[IncidentPoint] = []
    for entry in entries:
        store = entry.store
        unacked = set(store.unacked_high_ids())
        for inc in store.incidents.values():
            loc = inc.location
            if not inc.active or loc.lat is None or loc.lon is None:
                continue
            out.append(IncidentPoint(
                key=f"{entry.code}/{inc.id}", regency=entry.code, lat=loc.lat, lon=loc.lon,
                category=inc.category, priority=inc.priority, status=inc.status,
                unacked_high=inc.id in unacked,
            ))  # fmt: skip
    return out


__all__ = [
    "CHOROPLETH_FIGURES",
    "REGENCY_SHORT",
    "IncidentPoint",
    "LinkState",
    "ProvinceFigures",
    "RegencyFigures",
    "RegencyInput",
    "incident_points",
    "province_figures",
    "regency_figures",
    "short_name",
]
