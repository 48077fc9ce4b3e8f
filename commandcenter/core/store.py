"""The live state of the wall: applies server events, reports change sets and
keeps the figures (KPIs) up to date incrementally.

The store is pure engine code (no Qt, no I/O). It is fed by the feed client (or
the journal on start-up) and read by the views, which are told what changed
through a :class:`ChangeSet` so that they redraw only that.

Rules worth knowing:

* Applying is idempotent: an incident, unit or situation whose ``version`` is
  not higher than the stored one is ignored, an acknowledgement whose
  ``ack_id`` was applied is ignored, a call funnel of an older day than the
  stored one is ignored (the same day replaces). The store does *not* drop
  events by ``seq``: the feed does that before calling :meth:`Store.apply`.
* Figures are kept by adding and removing each incident's contribution when it
  changes, so an event costs a few microseconds whatever the number of
  incidents. Historical figures (per-hour counts, today's response times,
  closed today) must not drop when :meth:`Store.prune` frees memory, so a pruned
  incident moves to :attr:`Store.retired` until its contributions have left
  every window, and only then is forgotten.
* The store also keeps what the views show beside the KPIs, each maintained per
  event: today's arrival samples per agency, the unacknowledged high-priority
  incidents (an incident counts as acknowledged while an acknowledgement in
  :attr:`Store.acks` names it, directly or through its alert), the first
  acknowledgement of each incident, and incidents per status of each disaster
  situation. Views read these; they never scan the incidents themselves.
* "Today" is the local (WIB) day of the injected clock. Samples of past days and
  hours are dropped lazily when :meth:`Store.kpis` or :meth:`Store.prune` notices
  that the day or hour moved on. The clock is assumed not to step back.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from msgspec import Struct

from commandcenter.core import protocol as p
from commandcenter.core.figures import Histogram, ResponseStats, histogram, median, percentile, response_stats
from commandcenter.core.model import (
    ACTIVE_STATUSES,
    INCIDENT_STATUSES,
    SEVERITY_RANK,
    UNHANDLED_STATUSES,
    UNIT_STATUS_GROUP,
    Acknowledgement,
    Agency,
    Alert,
    CallFunnel,
    DisasterSituation,
    HazardItem,
    Incident,
    SourceStatus,
    Unit,
)
from commandcenter.core.plausibility import Plausibility, incident_problems
from commandcenter.core.text import match_key
from commandcenter.core.timeutil import WIB, Clock, local_day, utcnow

__all__ = [
    "ChangeSet",
    "FunnelFigures",
    "HazardFigures",
    "Histogram",
    "Kpis",
    "ResponseStats",
    "Store",
    "StoreState",
    "decode_state",
    "encode_state",
    "median",
    "percentile",
]

#: The peat districts of OKI whose hotspots the figures count by default (BPBD's karhutla areas).
PEAT_DISTRICTS = ("Pangkalan Lampam", "Tulung Selapan", "Air Sugihan", "Cengal")
#: External items without an expiry stay this long (hotspots, reports), quakes this long.
HAZARD_KEEP_S = 48 * 3600.0
QUAKE_KEEP_S = 7 * 86400.0
TIME_END = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
#: Task statuses after which an agency no longer counts an incident as its own.
_TASK_FINISHED = frozenset({"done", "rejected"})
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_UTC = dt.UTC


# --- change sets -------------------------------------------------------------------


class ChangeSet:
    """What one or more applied events changed, as ids, for the views.

    Contract for a view: for every listed id, read the current value from the
    store. The incident sets are disjoint and relative to what the view last
    saw: ``incidents_added`` are in the store and new to the view,
    ``incidents_updated`` are in the store and were known to the view,
    ``incidents_removed`` are no longer in the store and were known to the view.
    Merging keeps that meaning: added then updated stays *added*; added then
    removed *disappears* (the view never saw it); removed then added becomes
    *updated*. Units, situations and alerts follow the same rules (units and
    situations are only removed by a reset).

    ``shelved``/``unshelved`` and ``muted``/``unmuted`` hold the last thing that
    happened to each alert id / console within the set; ``acks`` holds alert ids
    whose acknowledgement appeared or disappeared and ``incident_acks`` the
    incident ids whose acknowledgement (:meth:`Store.incident_ack`) may have
    changed with them; ``agencies`` holds agency codes added or changed.

    ``reset`` means the whole state was replaced (snapshot, restored state): the
    view must rebuild from the store, and the id sets are left empty. A reset
    merged with anything stays a reset.
    """

    __slots__ = (
        "acks",
        "agencies",
        "alerts_added",
        "alerts_removed",
        "alerts_updated",
        "funnel_changed",
        "hazards",
        "incident_acks",
        "incidents_added",
        "incidents_removed",
        "incidents_updated",
        "kpis_changed",
        "muted",
        "reset",
        "shelved",
        "situations_added",
        "situations_updated",
        "sources",
        "units_added",
        "units_updated",
        "unmuted",
        "unshelved",
    )

    def __init__(self) -> None:
        self.reset = False
        self.incidents_added: set[str] = set()
        self.incidents_updated: set[str] = set()
        self.incidents_removed: set[str] = set()
        self.units_added: set[str] = set()
        self.units_updated: set[str] = set()
        self.agencies: set[str] = set()
        self.situations_added: set[str] = set()
        self.situations_updated: set[str] = set()
        self.alerts_added: set[str] = set()
        self.alerts_updated: set[str] = set()
        self.alerts_removed: set[str] = set()
        self.acks: set[str] = set()
        self.incident_acks: set[str] = set()
        self.shelved: set[str] = set()
        self.unshelved: set[str] = set()
        self.muted: set[str] = set()
        self.unmuted: set[str] = set()
        #: External items added, changed or removed (:func:`hazard_key`) and sources whose
        #: status changed: the views re-read them from the store.
        self.hazards: set[str] = set()
        self.sources: set[str] = set()
        self.funnel_changed = False
        self.kpis_changed = False

    @classmethod
    def full_reset(cls) -> ChangeSet:
        cs = cls()
        cs.reset = cs.funnel_changed = cs.kpis_changed = True
        return cs

    # Recording one change, already merged with what the set holds.

    @staticmethod
    def _added(added: set[str], updated: set[str], removed: set[str], key: str) -> None:
        if key in removed:
            removed.discard(key)
            updated.add(key)
        else:
            added.add(key)

    @staticmethod
    def _updated(added: set[str], updated: set[str], key: str) -> None:
        if key not in added:
            updated.add(key)

    @staticmethod
    def _removed(added: set[str], updated: set[str], removed: set[str], key: str) -> None:
        if key in added:
            added.discard(key)
        else:
            updated.discard(key)
            removed.add(key)

    def split_incidents(self, limit: int) -> ChangeSet | None:
        """Take up to ``limit`` new and changed incidents out of this set into one of
        their own and return it; None when this set has no more than ``limit``.

        The taken set goes first and this one, with everything else in it, after:
        a view learns of a burst's incidents a part at a time, and of the alerts,
        acknowledgements and counts that refer to them once it knows them all."""
        if self.reset or len(self.incidents_added) + len(self.incidents_updated) <= limit:
            return None
        head = ChangeSet()
        added, updated = self.incidents_added, self.incidents_updated
        while added and len(head.incidents_added) < limit:
            head.incidents_added.add(added.pop())
        while updated and len(head.incidents_added) + len(head.incidents_updated) < limit:
            head.incidents_updated.add(updated.pop())
        return head

    def merge(self, other: ChangeSet) -> ChangeSet:
        """Fold ``other`` (which happened after ``self``) into ``self``; returns self."""
        if self.reset or other.reset:
            for name in self.__slots__:
                value = getattr(self, name)
                if isinstance(value, set):
                    value.clear()
            self.reset = self.funnel_changed = self.kpis_changed = True
            return self
        for key in other.incidents_added:
            self._added(self.incidents_added, self.incidents_updated, self.incidents_removed, key)
        for key in other.incidents_updated:
            self._updated(self.incidents_added, self.incidents_updated, key)
        for key in other.incidents_removed:
            self._removed(self.incidents_added, self.incidents_updated, self.incidents_removed, key)
        self.units_added |= other.units_added
        self.units_updated |= other.units_updated - self.units_added
        self.situations_added |= other.situations_added
        self.situations_updated |= other.situations_updated - self.situations_added
        for key in other.alerts_added:
            self._added(self.alerts_added, self.alerts_updated, self.alerts_removed, key)
        for key in other.alerts_updated:
            self._updated(self.alerts_added, self.alerts_updated, key)
        for key in other.alerts_removed:
            self._removed(self.alerts_added, self.alerts_updated, self.alerts_removed, key)
        self.agencies |= other.agencies
        self.hazards |= other.hazards
        self.sources |= other.sources
        self.acks |= other.acks
        self.incident_acks |= other.incident_acks
        for key in other.shelved:
            self.unshelved.discard(key)
            self.shelved.add(key)
        for key in other.unshelved:
            self.shelved.discard(key)
            self.unshelved.add(key)
        for key in other.muted:
            self.unmuted.discard(key)
            self.muted.add(key)
        for key in other.unmuted:
            self.muted.discard(key)
            self.unmuted.add(key)
        self.funnel_changed |= other.funnel_changed
        self.kpis_changed |= other.kpis_changed
        return self

    def __len__(self) -> int:
        """Number of listed ids plus one per flag: the work a view has to do."""
        n = sum(len(getattr(self, name)) for name in self.__slots__ if isinstance(getattr(self, name), set))
        return n + self.reset + self.funnel_changed + self.kpis_changed

    def __bool__(self) -> bool:
        return len(self) > 0

    def __repr__(self) -> str:
        parts = []
        for name in sorted(self.__slots__):
            value = getattr(self, name)
            if value:
                parts.append(f"{name}={sorted(value) if isinstance(value, set) else value}")
        return f"ChangeSet({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChangeSet):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable


# --- figures -------------------------------------------------------------------------


class FunnelFigures(Struct, frozen=True, kw_only=True):
    """Today's call funnel; zeros when the stored funnel is of another day."""

    day: dt.date
    calls_in: int = 0
    answered: int = 0
    abandoned: int = 0
    prank: int = 0
    ghost: int = 0
    valid: int = 0
    info: int = 0
    #: Shares of ``answered`` (0.0 when nothing was answered).
    prank_share: float = 0.0
    ghost_share: float = 0.0


class HazardFigures(Struct, frozen=True, kw_only=True):
    """What the wall shows of the external items at one instant (kept per event)."""

    at: dt.datetime
    #: Warnings in force that touch OKI, per severity (lowercase CAP words).
    warnings_by_severity: dict[str, int]
    #: Their keys, most severe first, then soonest to expire.
    warnings: list[str]
    #: The most recent quake (key), or None.
    latest_quake: str | None
    #: Hotspots of today (WIB) per peat district (only the districts in Store.peat_districts).
    hotspots_today_by_kecamatan: dict[str, int]
    #: Citizen reports that touch OKI in the last ``report_window_s``.
    reports_recent: int
    report_window_s: float


def hazard_key(item: HazardItem) -> str:
    """The key of an external item in the store and in change sets: its source and its id."""
    return f"{item.source}/{item.id}"


class Kpis(Struct, frozen=True, kw_only=True):
    """The figures of the wall at one instant (built from maintained aggregates)."""

    at: dt.datetime
    day: dt.date
    active_total: int
    active_by_category: dict[str, int]
    #: Active incidents with an unfinished task (not done/rejected) for the agency.
    active_by_agency: dict[str, int]
    active_by_kecamatan: dict[str, int]
    active_by_priority: dict[str, int]
    active_by_status: dict[str, int]
    oldest_unhandled_id: str | None
    oldest_unhandled_age_s: float | None
    dispatch: ResponseStats
    arrival: ResponseStats
    response_target_s: float
    closed_today: int
    funnel: FunnelFigures
    #: Start (UTC) of the first of the 24 hourly buckets; the last one is the current hour.
    hour_start: dt.datetime
    #: Incidents received per hour, by category / by agency (from tasks), 24 buckets.
    hourly_by_category: dict[str, list[int]]
    hourly_by_agency: dict[str, list[int]]
    #: Units per agency and status group (available / busy / out_of_service).
    units_by_agency: dict[str, dict[str, int]]
    situations_active: int
    #: Today's arrival statistics per agency (an incident's arrival counts for every
    #: agency with a task in it); only agencies with samples today.
    arrival_by_agency: dict[str, ResponseStats]
    #: Active high-priority incidents no acknowledgement names, and the oldest of them.
    unacked_high: int
    oldest_unacked_high_id: str | None


# --- persisted state ---------------------------------------------------------------


class StoreState(Struct, kw_only=True):
    """Everything the store holds, for the journal (msgpack via :func:`encode_state`)."""

    epoch: str = ""
    seq: int = 0
    incidents: list[Incident] = []
    units: list[Unit] = []
    agencies: list[Agency] = []
    situations: list[DisasterSituation] = []
    alerts: list[Alert] = []
    acks: list[Acknowledgement] = []
    shelved: list[p.AlertShelved] = []
    muted: list[p.ConsoleMuted] = []
    funnel: CallFunnel | None = None
    #: Applied ack ids with the time of their acknowledgement (for pruning).
    ack_ids: dict[str, dt.datetime] = {}
    #: Pruned incidents still counted in historical figures.
    retired: list[Incident] = []
    hazards: list[HazardItem] = []
    sources: list[SourceStatus] = []


_state_encoder = msgspec.msgpack.Encoder()
_json_encoder = msgspec.json.Encoder()
_state_decoder = msgspec.msgpack.Decoder(StoreState)


def encode_state(state: StoreState) -> bytes:
    return _state_encoder.encode(state)


def decode_state(data: bytes) -> StoreState:
    """Decode (and validate) a state made by :func:`encode_state`."""
    return _state_decoder.decode(data)


# --- helpers --------------------------------------------------------------------------


def _bump(counter: dict[Any, int], key: Any, n: int) -> None:
    value = counter.get(key, 0) + n
    if value:
        counter[key] = value
    else:
        del counter[key]


def _drop(counter: dict[Any, int], key: Any) -> None:
    """Remove one count whose bucket may already have expired."""
    value = counter.get(key)
    if value is None:
        return
    if value > 1:
        counter[key] = value - 1
    else:
        del counter[key]


def _closed_time(inc: Incident) -> dt.datetime:
    """When a closed or cancelled incident ended (cancelled ones may lack times.closed)."""
    return inc.times.closed or inc.updated_at or inc.times.received


#: An incident's contribution to the figures, cached per incident so that an
#: update touches only the aggregates whose keys changed:
#: (active key, hourly key, dispatch sample, arrival sample, closed day).
#: active key = (status, category, priority, kecamatan, agencies with an open task)
#: hourly key = (UTC hour of receipt, category, agencies of all tasks)
#: samples = (day ordinal, seconds since receipt, agencies of all tasks); the
#: agencies are used for arrivals only (dispatch samples carry ()).
_ActiveKey = tuple[str, str, str, str, tuple[str, ...]]
_HourlyKey = tuple[int, str, tuple[str, ...]]
_Sample = tuple[int, float, tuple[str, ...]]
_Keys = tuple[_ActiveKey | None, _HourlyKey | None, _Sample | None, _Sample | None, int | None]
_NO_KEYS: _Keys = (None, None, None, None, None)


# --- the store -------------------------------------------------------------------------


class Store:
    """The wall's live state. See the module docstring for the rules."""

    def __init__(
        self, *, clock: Clock = utcnow, tz: dt.tzinfo = WIB, response_target_s: float = 900.0
    ) -> None:
        self.clock = clock
        self.tz = tz
        self.response_target_s = float(response_target_s)
        # Fixed-offset zones (WIB) get a fast day computation from the timestamp.
        offset = tz.utcoffset(None) if isinstance(tz, dt.timezone) else None
        self._tz_offset_s: float | None = offset.total_seconds() if offset is not None else None
        #: What this wall can place (the wall sets it from its configuration);
        #: incidents that fail it are kept and listed in :attr:`problems`.
        self.plausibility = Plausibility()
        #: Districts whose hotspots the figures count (the wall sets them from alerts.peat_districts).
        self.peat_districts: frozenset[str] = frozenset(PEAT_DISTRICTS)
        #: How far back citizen reports count in :meth:`hazard_figures`.
        self.report_window_s = 6 * 3600.0
        #: The clock read once for a whole batch (apply_many, load_state): the
        #: plausibility check of every incident in it compares with this time.
        self._batch_now: dt.datetime | None = None
        self._clear()

    # -- state -----------------------------------------------------------------------

    def _clear(self) -> None:
        self.epoch = ""
        self.seq = 0
        self.incidents: dict[str, Incident] = {}
        #: Incident id -> problem codes (commandcenter.core.plausibility) of the
        #: stored version; absent when it has none. Shown as a mark, never refused.
        self.problems: dict[str, tuple[str, ...]] = {}
        self.units: dict[str, Unit] = {}
        self.agencies: dict[str, Agency] = {}
        self.situations: dict[str, DisasterSituation] = {}
        self.alerts: dict[str, Alert] = {}
        #: alert_id -> the first acknowledgement applied for it.
        self.acks: dict[str, Acknowledgement] = {}
        #: Every applied ack_id -> when it was acknowledged.
        self.ack_ids: dict[str, dt.datetime] = {}
        self.shelved: dict[str, p.AlertShelved] = {}
        self.muted: dict[str, p.ConsoleMuted] = {}
        #: The event that last took a shelf off (alert id) or unmuted (console):
        #: who did it, for the audit log. Gone at the next shelve/mute or prune.
        self.unshelved_by: dict[str, p.AlertUnshelved] = {}
        self.unmuted_by: dict[str, p.ConsoleUnmuted] = {}
        self.funnel: CallFunnel | None = None
        #: Pruned incidents whose history still counts (id -> last state).
        self.retired: dict[str, Incident] = {}
        self._keys: dict[str, _Keys] = {}
        self._active_total = 0
        self._unhandled = 0
        self._by_status: dict[str, int] = {}
        self._by_category: dict[str, int] = {}
        self._by_priority: dict[str, int] = {}
        self._by_kecamatan: dict[str, int] = {}
        self._by_agency: dict[str, int] = {}
        self._hourly_category: dict[tuple[int, str], int] = {}
        self._hourly_agency: dict[tuple[int, str], int] = {}
        # day ordinal -> ascending durations (seconds)
        self._dispatch: dict[int, list[float]] = {}
        self._arrival: dict[int, list[float]] = {}
        # day ordinal -> agency -> ascending arrival durations
        self._arrival_by_agency: dict[int, dict[str, list[float]]] = {}
        self._closed_by_day: dict[int, int] = {}
        # Lazy-deletion heaps of (time, id, version): valid while that version is stored.
        self._unhandled_heap: list[tuple[float, str, int]] = []
        self._closed_heap: list[tuple[float, str, int]] = []
        self._units_by_agency: dict[str, dict[str, int]] = {}
        #: alert id (of an ack in self.acks) -> the incident that ack names.
        self._ack_incident: dict[str, str] = {}
        #: incident id -> alert ids of the acks that name it.
        self._incident_acked: dict[str, set[str]] = {}
        #: Active high-priority incidents that no ack names, and a lazy heap of
        #: (receipt timestamp, id) over them: valid while the id is in the set
        #: with that receipt time.
        self._unacked_high: set[str] = set()
        self._unacked_high_heap: list[tuple[float, str]] = []
        #: situation id -> incident status -> count (incidents in self.incidents).
        self._situation_counts: dict[str, dict[str, int]] = {}
        #: External items by hazard_key and source states by name (protocol 1.0 optional kinds).
        self.hazards: dict[str, HazardItem] = {}
        self.sources: dict[str, SourceStatus] = {}
        # Their figures, kept per event: OKI warnings per severity, peat hotspots per
        # (day, district), receipt times of OKI reports (ascending), quakes by key.
        self._warning_severity: dict[str, int] = {}
        self._warning_keys: set[str] = set()
        self._hotspots: dict[tuple[int, str], int] = {}
        self._report_times: list[float] = []
        self._quakes: set[str] = set()
        # Lazy heap of (expires timestamp, key): valid while the stored item expires then.
        self._expiry_heap: list[tuple[float, str]] = []
        # Samples before these are dropped (and not added); None = nothing dropped yet.
        self._day_floor: int | None = None
        self._hour_floor: int | None = None

    # -- time keys ---------------------------------------------------------------------

    def _day(self, ts: dt.datetime) -> int:
        if self._tz_offset_s is not None:
            return int((ts.timestamp() + self._tz_offset_s) // 86400) + _EPOCH_ORDINAL
        return local_day(ts, self.tz).toordinal()

    def _roll(self, now: dt.datetime) -> None:
        """Drop samples of past days and of hours outside the last 24."""
        day = self._day(now)
        if self._day_floor is None or day > self._day_floor:
            self._day_floor = day
            day_buckets: tuple[dict[int, Any], ...] = (
                self._dispatch,
                self._arrival,
                self._arrival_by_agency,
                self._closed_by_day,
            )
            for buckets in day_buckets:
                for key in [k for k in buckets if k < day]:
                    del buckets[key]
        hour_floor = int(now.timestamp() // 3600) - 23
        if self._hour_floor is None or hour_floor > self._hour_floor:
            self._hour_floor = hour_floor
            for counts in (self._hourly_category, self._hourly_agency):
                for hkey in [k for k in counts if k[0] < hour_floor]:
                    del counts[hkey]

    # -- incident contributions ---------------------------------------------------------

    def _keys_of(self, inc: Incident, received_ts: float) -> _Keys:
        # Hot path (every incident event): inlined day arithmetic, list-built tuples.
        times = inc.times
        received = times.received
        tasks = inc.tasks
        status = inc.status
        active: _ActiveKey | None = None
        if status in ACTIVE_STATUSES:
            open_agencies = (
                tuple([t.agency for t in tasks if t.status not in _TASK_FINISHED]) if tasks else ()
            )
            # match_key: a zero-width space or another normal form must not
            # split one district's count in two.
            active = (status, inc.category, inc.priority, match_key(inc.location.kecamatan), open_agencies)
        all_agencies = tuple([t.agency for t in tasks]) if tasks else ()
        hourly = (int(received_ts // 3600), inc.category, all_agencies)
        offset = self._tz_offset_s
        dispatch = arrival = None
        closed_day = None
        step = times.dispatched
        if step is not None:
            day = (
                int((step.timestamp() + offset) // 86400) + _EPOCH_ORDINAL
                if offset is not None
                else self._day(step)
            )
            dispatch = (day, (step - received).total_seconds(), ())
        step = times.on_scene
        if step is not None:
            day = (
                int((step.timestamp() + offset) // 86400) + _EPOCH_ORDINAL
                if offset is not None
                else self._day(step)
            )
            arrival = (day, (step - received).total_seconds(), all_agencies)
        if status == "closed" and times.closed is not None:
            closed_day = self._day(times.closed)
        return (active, hourly, dispatch, arrival, closed_day)

    def _active_change(self, key: _ActiveKey, n: int) -> None:
        status, category, priority, kecamatan, agencies = key
        self._active_total += n
        if status in UNHANDLED_STATUSES:
            self._unhandled += n
        # _bump inlined: this runs for nearly every incident event.
        for counter, name in (
            (self._by_status, status),
            (self._by_category, category),
            (self._by_priority, priority),
            (self._by_kecamatan, kecamatan),
        ):
            value = counter.get(name, 0) + n
            if value:
                counter[name] = value
            else:
                del counter[name]
        for agency in agencies:
            _bump(self._by_agency, agency, n)

    def _hourly_change(self, key: tuple[int, str, tuple[str, ...]], add: bool) -> None:
        hour, category, agencies = key
        if add:
            if self._hour_floor is not None and hour < self._hour_floor:
                return  # already outside the window
            _bump(self._hourly_category, (hour, category), 1)
            for agency in agencies:
                _bump(self._hourly_agency, (hour, agency), 1)
        else:
            _drop(self._hourly_category, (hour, category))
            for agency in agencies:
                _drop(self._hourly_agency, (hour, agency))

    @staticmethod
    def _sorted_change(buckets: dict[Any, list[float]], key: Any, value: float, add: bool) -> None:
        if add:
            values = buckets.get(key)
            if values is None:
                buckets[key] = [value]
            else:
                bisect.insort(values, value)
        else:
            values = buckets.get(key)
            if values is not None:
                i = bisect.bisect_left(values, value)
                if i < len(values) and values[i] == value:
                    del values[i]
                    if not values:
                        del buckets[key]

    def _sample_change(self, buckets: dict[int, list[float]], key: _Sample, add: bool) -> None:
        day, value, agencies = key
        if add and self._day_floor is not None and day < self._day_floor:
            return  # already outside the window
        self._sorted_change(buckets, day, value, add)
        if agencies and buckets is self._arrival:
            by_agency = self._arrival_by_agency.get(day)
            if by_agency is None:
                if not add:
                    return
                by_agency = self._arrival_by_agency[day] = {}
            for agency in agencies:
                self._sorted_change(by_agency, agency, value, add)
            if not by_agency:
                del self._arrival_by_agency[day]

    def _closed_change(self, day: int, add: bool) -> None:
        if add:
            if self._day_floor is None or day >= self._day_floor:
                _bump(self._closed_by_day, day, 1)
        else:
            _drop(self._closed_by_day, day)

    def _contribute(self, old: _Keys, new: _Keys) -> None:
        """Move the figures from the ``old`` contribution to ``new`` (_NO_KEYS for none)."""
        o, n = old[0], new[0]
        if o != n:
            if o is not None:
                self._active_change(o, -1)
            if n is not None:
                self._active_change(n, 1)
        oh, nh = old[1], new[1]
        if oh != nh:
            if oh is not None:
                self._hourly_change(oh, False)
            if nh is not None:
                self._hourly_change(nh, True)
        for os, ns, buckets in ((old[2], new[2], self._dispatch), (old[3], new[3], self._arrival)):
            if os != ns:
                if os is not None:
                    self._sample_change(buckets, os, False)
                if ns is not None:
                    self._sample_change(buckets, ns, True)
        o_day, n_day = old[4], new[4]
        if o_day != n_day:
            if o_day is not None:
                self._closed_change(o_day, False)
            if n_day is not None:
                self._closed_change(n_day, True)

    def _live_entries(self, heap: list[tuple[float, str, int]]) -> list[tuple[float, str, int]]:
        """The entries of a lazy heap whose version is still the stored one.

        Every stored version is pushed when it is put (_put_incident is the only
        way in), so these are exactly the entries a scan of the incidents would
        make, for the cost of the heap (about twice the live entries) instead of
        every incident: with thousands of closed incidents and a few dozen
        unhandled ones, a scan per rebuild was most of the store's time."""
        incidents = self.incidents
        live = []
        for entry in heap:
            inc = incidents.get(entry[1])
            if inc is not None and inc.version == entry[2]:
                live.append(entry)
        heapq.heapify(live)
        return live

    def _rebuild_unhandled_heap(self) -> None:
        # Amortised O(1): the heap has grown by more than the live entries since the last rebuild.
        self._unhandled_heap = self._live_entries(self._unhandled_heap)

    def _rebuild_closed_heap(self) -> None:
        self._closed_heap = self._live_entries(self._closed_heap)

    def _situation_change(self, inc: Incident, n: int) -> None:
        sid = inc.situation_id
        if sid is None:
            return
        counts = self._situation_counts.get(sid)
        if counts is None:
            counts = self._situation_counts[sid] = {}
        _bump(counts, inc.status, n)
        if not counts:
            del self._situation_counts[sid]

    def _note_unacked_high(self, inc: Incident | None, key: str, moved: bool = False) -> bool:
        """Bring ``key``'s membership of the unacknowledged high-priority set up to
        date (``moved``: its receipt time may have changed); returns whether it changed."""
        members = self._unacked_high
        if (
            inc is not None
            and inc.priority == "high"
            and inc.status in ACTIVE_STATUSES
            and key not in self._incident_acked
        ):
            # Every member has a heap entry with its current receipt time; entries
            # of former members or old times are skipped when read, dropped on a rebuild.
            entered = key not in members
            if entered or moved:
                members.add(key)
                heap = self._unacked_high_heap
                heapq.heappush(heap, (inc.times.received.timestamp(), key))
                if len(heap) > 2 * len(members) + 64:
                    self._rebuild_unacked_high_heap()
            return entered
        if key in members:
            members.discard(key)
            return True
        return False

    def _rebuild_unacked_high_heap(self) -> None:
        incidents = self.incidents
        self._unacked_high_heap = [(incidents[k].times.received.timestamp(), k) for k in self._unacked_high]
        heapq.heapify(self._unacked_high_heap)

    def _put_incident(self, inc: Incident, cs: ChangeSet) -> None:
        key = inc.id
        old = self.incidents.get(key)
        if old is not None:
            if inc.version <= old.version:
                return
            old_keys = self._keys[key]
            self.incidents[key] = inc
            if key not in cs.incidents_added:
                cs.incidents_updated.add(key)
            if old.situation_id is not None and (
                old.situation_id != inc.situation_id or old.status != inc.status
            ):
                self._situation_change(old, -1)
                self._situation_change(inc, 1)
            elif inc.situation_id is not None and old.situation_id is None:
                self._situation_change(inc, 1)
        else:
            retired = self.retired.get(key)
            if retired is not None:
                if inc.version <= retired.version:
                    return
                del self.retired[key]  # a pruned incident came back
                old_keys = self._keys[key]
            else:
                old_keys = _NO_KEYS
            self.incidents[key] = inc
            ChangeSet._added(cs.incidents_added, cs.incidents_updated, cs.incidents_removed, key)
            self._situation_change(inc, 1)
        if inc.priority == "high" or key in self._unacked_high:
            self._note_unacked_high(inc, key, old is None or old.times.received != inc.times.received)
        received_ts = inc.times.received.timestamp()
        new_keys = self._keys_of(inc, received_ts)
        self._keys[key] = new_keys
        self._contribute(old_keys, new_keys)
        status = inc.status
        if status in UNHANDLED_STATUSES:
            heap = self._unhandled_heap
            heapq.heappush(heap, (received_ts, key, inc.version))
            if len(heap) > 2 * self._unhandled + 64:
                self._rebuild_unhandled_heap()
        elif status not in ACTIVE_STATUSES:
            heap = self._closed_heap
            heapq.heappush(heap, (_closed_time(inc).timestamp(), key, inc.version))
            if len(heap) > 2 * (len(self.incidents) - self._active_total) + 64:
                self._rebuild_closed_heap()
        cs.kpis_changed = True
        now = self._batch_now
        problems = incident_problems(inc, now if now is not None else self.clock(), self.plausibility)
        if problems:
            self.problems[key] = problems
            for problem in problems:
                self.plausibility.log_once(problem, key)
        elif self.problems:
            self.problems.pop(key, None)

    # -- acknowledged incidents ---------------------------------------------------------

    def _index_ack(self, alert_id: str, cs: ChangeSet) -> None:
        """Re-file the acknowledgement of ``alert_id`` under the incident it names now
        (its own incident_id, else its alert's; none once the ack is pruned)."""
        ack = self.acks.get(alert_id)
        new: str | None = None
        if ack is not None:
            new = ack.incident_id
            if new is None:
                alert = self.alerts.get(alert_id)
                new = alert.incident_id if alert is not None else None
        old = self._ack_incident.get(alert_id)
        if old == new:
            return
        if old is not None:
            del self._ack_incident[alert_id]
            alert_ids = self._incident_acked[old]
            alert_ids.discard(alert_id)
            if not alert_ids:
                del self._incident_acked[old]
        if new is not None:
            self._ack_incident[alert_id] = new
            self._incident_acked.setdefault(new, set()).add(alert_id)
        for key in (old, new):
            if key is not None:
                cs.incident_acks.add(key)
                if self._note_unacked_high(self.incidents.get(key), key):
                    cs.kpis_changed = True

    # -- units ----------------------------------------------------------------------

    def _unit_group(self, unit: Unit, n: int) -> None:
        groups = self._units_by_agency.get(unit.agency)
        if groups is None:
            groups = self._units_by_agency[unit.agency] = {}
        _bump(groups, UNIT_STATUS_GROUP[unit.status], n)
        if not groups:
            del self._units_by_agency[unit.agency]

    def _put_unit(self, unit: Unit, cs: ChangeSet) -> None:
        old = self.units.get(unit.id)
        if old is None:
            cs.units_added.add(unit.id)
        elif unit.version <= old.version:
            return
        else:
            if unit.id not in cs.units_added:
                cs.units_updated.add(unit.id)
            if old.agency == unit.agency and UNIT_STATUS_GROUP[old.status] == UNIT_STATUS_GROUP[unit.status]:
                self.units[unit.id] = unit
                return  # a position report: the figures stay
            self._unit_group(old, -1)
        self.units[unit.id] = unit
        self._unit_group(unit, 1)
        cs.kpis_changed = True

    # -- external items ----------------------------------------------------------------

    def _hazard_contribution(self, item: HazardItem, n: int) -> None:
        key = hazard_key(item)
        if item.kind == "warning" and item.kecamatan:
            _bump(self._warning_severity, item.severity or "unknown", n)
            if n > 0:
                self._warning_keys.add(key)
            else:
                self._warning_keys.discard(key)
        elif item.kind == "hotspot":
            day = self._day(item.time)
            for kec in item.kecamatan:
                if kec in self.peat_districts:
                    _bump(self._hotspots, (day, kec), n)
        elif item.kind == "report" and item.kecamatan:
            self._sorted_change_list(self._report_times, item.time.timestamp(), n > 0)
        elif item.kind == "quake":
            if n > 0:
                self._quakes.add(key)
            else:
                self._quakes.discard(key)

    @staticmethod
    def _sorted_change_list(values: list[float], value: float, add: bool) -> None:
        if add:
            bisect.insort(values, value)
        else:
            i = bisect.bisect_left(values, value)
            if i < len(values) and values[i] == value:
                del values[i]

    def _remove_hazard(self, key: str, cs: ChangeSet) -> None:
        old = self.hazards.pop(key, None)
        if old is not None:
            self._hazard_contribution(old, -1)
            cs.hazards.add(key)
            cs.kpis_changed = True

    def _put_hazard(self, item: HazardItem, cs: ChangeSet) -> None:
        """Store an external item by (source, id); a CAP Update replaces what it references,
        a Cancel only withdraws it; an item already expired is not kept."""
        for ref in item.references:
            if ref != item.id:
                self._remove_hazard(f"{item.source}/{ref}", cs)
        key = hazard_key(item)
        if item.cancel:
            self._remove_hazard(key, cs)
            return
        if item.expires is not None and item.expires <= self.clock():
            self._remove_hazard(key, cs)
            return
        old = self.hazards.get(key)
        if old == item:
            return
        if old is not None:
            self._hazard_contribution(old, -1)
        self.hazards[key] = item
        self._hazard_contribution(item, 1)
        if item.expires is not None:
            heapq.heappush(self._expiry_heap, (item.expires.timestamp(), key))
        cs.hazards.add(key)
        cs.kpis_changed = True

    def expire_hazards(self) -> ChangeSet:
        """Remove the items whose ``expires`` has passed (a warning leaves by itself);
        the wall calls it every second, it costs a heap peek when nothing is due."""
        cs = ChangeSet()
        now = self.clock().timestamp()
        heap = self._expiry_heap
        while heap and heap[0][0] <= now:
            at, key = heapq.heappop(heap)
            item = self.hazards.get(key)
            if item is not None and item.expires is not None and item.expires.timestamp() == at:
                self._remove_hazard(key, cs)
        return cs

    def source_state(self, name: str) -> tuple[str, float | None]:
        """A source's state as the wall shows it now, and its age in seconds (None: never
        worked): ``stale`` once the last good poll is older than the source's limit, whatever
        the hub last said (a hub that stopped says nothing more)."""
        status = self.sources[name]
        now = self.clock()
        age = (now - status.last_ok).total_seconds() if status.last_ok is not None else None
        state: str = status.state
        if state == "live" and (age is None or age > status.stale_after_s):
            state = "stale"
        return state, age

    def hazard_figures(self) -> HazardFigures:
        """The external items' figures now; cost proportional to the warnings and quakes
        in force and the peat districts, not to the items held."""
        now = self.clock()
        today = self._day(now)
        hazards = self.hazards
        warnings = sorted(
            self._warning_keys,
            key=lambda k: (
                SEVERITY_RANK.get(hazards[k].severity, 9),
                hazards[k].expires or TIME_END,
                k,
            ),
        )
        latest = max(self._quakes, key=lambda k: (hazards[k].time, k), default=None)
        since = now.timestamp() - self.report_window_s
        reports = len(self._report_times) - bisect.bisect_left(self._report_times, since)
        return HazardFigures(
            at=now,
            warnings_by_severity=dict(self._warning_severity),
            warnings=warnings,
            latest_quake=latest,
            hotspots_today_by_kecamatan={k: n for (d, k), n in self._hotspots.items() if d == today},
            reports_recent=reports,
            report_window_s=self.report_window_s,
        )

    def _prune_hazards(self, now: dt.datetime, cs: ChangeSet) -> None:
        """Hotspots, reports and incidents of other systems older than HAZARD_KEEP_S and
        quakes older than QUAKE_KEEP_S leave the store (warnings leave at their expiry)."""
        cutoff = now.timestamp() - HAZARD_KEEP_S
        quake_cutoff = now.timestamp() - QUAKE_KEEP_S
        for key, item in list(self.hazards.items()):
            if item.kind == "warning" and item.expires is not None:
                continue
            limit = quake_cutoff if item.kind == "quake" else cutoff
            if item.time.timestamp() < limit:
                self._remove_hazard(key, cs)

    # -- applying events ------------------------------------------------------------

    def apply(self, event: p.Event) -> ChangeSet:
        """Apply one event; returns what changed (empty when it was a duplicate)."""
        cs = ChangeSet()
        self._apply(event, cs)
        return cs

    def apply_many(self, events: Iterable[p.Event]) -> ChangeSet:
        """Apply events in order; returns one merged change set."""
        cs = ChangeSet()
        apply = self._apply
        self._batch_now = self.clock()
        try:
            for event in events:
                apply(event, cs)
        finally:
            self._batch_now = None
        return cs

    def _apply(self, event: p.Event, cs: ChangeSet) -> None:
        self.epoch = event.epoch
        self.seq = event.seq
        body = event.body
        # The two frequent kinds first: position reports and incident updates.
        if isinstance(body, p.IncidentUpserted):
            self._put_incident(body.incident, cs)
        elif isinstance(body, p.UnitUpserted):
            self._put_unit(body.unit, cs)
        elif isinstance(body, p.AgencyUpserted):
            agency = body.agency
            if self.agencies.get(agency.code) != agency:
                self.agencies[agency.code] = agency
                cs.agencies.add(agency.code)
        elif isinstance(body, p.FunnelUpdated):
            funnel = body.funnel
            old_funnel = self.funnel
            if old_funnel is None or (funnel.day >= old_funnel.day and funnel != old_funnel):
                self.funnel = funnel
                cs.funnel_changed = cs.kpis_changed = True
        elif isinstance(body, p.AlertRaised):
            alert = body.alert
            old_alert = self.alerts.get(alert.id)
            if old_alert is None:
                self.alerts[alert.id] = alert
                ChangeSet._added(cs.alerts_added, cs.alerts_updated, cs.alerts_removed, alert.id)
            elif old_alert != alert:
                self.alerts[alert.id] = alert
                ChangeSet._updated(cs.alerts_added, cs.alerts_updated, alert.id)
            if alert.id in self.acks:  # an ack without incident id names the alert's incident
                self._index_ack(alert.id, cs)
        elif isinstance(body, p.AlertAcknowledged):
            ack = body.ack
            if ack.ack_id not in self.ack_ids:
                self.ack_ids[ack.ack_id] = ack.at
                # The first acknowledgement is the one that took the alert.
                if ack.alert_id not in self.acks:
                    self.acks[ack.alert_id] = ack
                    cs.acks.add(ack.alert_id)
                    self._index_ack(ack.alert_id, cs)
        elif isinstance(body, p.AlertShelved):
            if self.shelved.get(body.alert_id) != body:
                self.shelved[body.alert_id] = body
                self.unshelved_by.pop(body.alert_id, None)
                cs.unshelved.discard(body.alert_id)
                cs.shelved.add(body.alert_id)
        elif isinstance(body, p.AlertUnshelved):
            if self.shelved.pop(body.alert_id, None) is not None:
                self.unshelved_by[body.alert_id] = body
                cs.shelved.discard(body.alert_id)
                cs.unshelved.add(body.alert_id)
        elif isinstance(body, p.ConsoleMuted):
            if self.muted.get(body.console) != body:
                self.muted[body.console] = body
                self.unmuted_by.pop(body.console, None)
                cs.unmuted.discard(body.console)
                cs.muted.add(body.console)
        elif isinstance(body, p.ConsoleUnmuted):
            if self.muted.pop(body.console, None) is not None:
                self.unmuted_by[body.console] = body
                cs.muted.discard(body.console)
                cs.unmuted.add(body.console)
        elif isinstance(body, p.HazardReported):
            self._put_hazard(body.item, cs)
        elif isinstance(body, p.SourceStatusChanged):
            status = body.status
            if self.sources.get(status.name) != status:
                self.sources[status.name] = status
                cs.sources.add(status.name)
        elif isinstance(body, p.SituationUpserted):
            situation = body.situation
            old_situation = self.situations.get(situation.id)
            if old_situation is None:
                self.situations[situation.id] = situation
                cs.situations_added.add(situation.id)
                cs.kpis_changed = True
            elif situation.version > old_situation.version:
                self.situations[situation.id] = situation
                if situation.id not in cs.situations_added:
                    cs.situations_updated.add(situation.id)
                cs.kpis_changed |= situation.status != old_situation.status

    # -- whole-state replacement ------------------------------------------------------

    def apply_snapshot(self, parts: Sequence[p.Snapshot]) -> ChangeSet:
        """Replace the whole state with a complete snapshot.

        Raises ValueError (leaving the state untouched) unless the parts share
        epoch, seq and part count and are numbered exactly 0..parts-1.
        Shelved alerts and muted consoles come from the parts' ``shelved`` and
        ``muted`` lists (a server that sends none clears them).
        """
        if not parts:
            raise ValueError("a snapshot needs at least one part")
        first = parts[0]
        for part in parts:
            if (part.epoch, part.seq, part.parts) != (first.epoch, first.seq, first.parts):
                raise ValueError(
                    f"snapshot parts disagree: {(part.epoch, part.seq, part.parts)} "
                    f"vs {(first.epoch, first.seq, first.parts)}"
                )
        numbers = sorted(part.part for part in parts)
        if numbers != list(range(first.parts)):
            missing = sorted(set(range(first.parts)) - set(numbers))
            raise ValueError(f"snapshot parts incomplete or repeated (missing {missing[:10]})")
        funnels = [part.funnel for part in parts if part.funnel is not None]
        acks = [a for part in parts for a in part.acks]
        state = StoreState(
            epoch=first.epoch,
            seq=first.seq,
            incidents=[i for part in parts for i in part.incidents],
            units=[u for part in parts for u in part.units],
            agencies=[a for part in parts for a in part.agencies],
            situations=[s for part in parts for s in part.situations],
            alerts=[a for part in parts for a in part.alerts],
            acks=acks,
            funnel=max(funnels, key=lambda f: f.day) if funnels else None,
            ack_ids={a.ack_id: a.at for a in acks},
            shelved=[s for part in parts for s in part.shelved],
            muted=[m for part in parts for m in part.muted],
            hazards=[h for part in parts for h in part.hazards],
            sources=[s for part in parts for s in part.sources],
        )
        return self.load_state(state)

    def load_state(self, state: StoreState) -> ChangeSet:
        """Replace the whole state (a restored journal state or a snapshot)."""
        self._clear()
        self.epoch = state.epoch
        self.seq = state.seq
        cs = ChangeSet()  # scratch: the caller gets a reset
        self._batch_now = self.clock()
        try:
            for inc in state.incidents:
                self._put_incident(inc, cs)
        finally:
            self._batch_now = None
        for inc in state.retired:
            if inc.id not in self.incidents:
                keys = self._keys_of(inc, inc.times.received.timestamp())
                self._keys[inc.id] = keys
                self._contribute(_NO_KEYS, keys)
                self.retired[inc.id] = inc
        for unit in state.units:
            self._put_unit(unit, cs)
        self.agencies = {a.code: a for a in state.agencies}
        for situation in state.situations:
            old = self.situations.get(situation.id)
            if old is None or situation.version > old.version:
                self.situations[situation.id] = situation
        self.alerts = {a.id: a for a in state.alerts}
        for ack in state.acks:
            self.acks.setdefault(ack.alert_id, ack)
        for alert_id in self.acks:
            self._index_ack(alert_id, cs)
        self.ack_ids = {a.ack_id: a.at for a in state.acks}
        self.ack_ids.update(state.ack_ids)
        self.shelved = {s.alert_id: s for s in state.shelved}
        self.muted = {m.console: m for m in state.muted}
        self.funnel = state.funnel
        for item in state.hazards:
            self._put_hazard(item, cs)
        self.sources = {s.name: s for s in state.sources}
        return ChangeSet.full_reset()

    def to_state(self) -> StoreState:
        return StoreState(
            epoch=self.epoch,
            seq=self.seq,
            incidents=list(self.incidents.values()),
            units=list(self.units.values()),
            agencies=list(self.agencies.values()),
            situations=list(self.situations.values()),
            alerts=list(self.alerts.values()),
            acks=list(self.acks.values()),
            shelved=list(self.shelved.values()),
            muted=list(self.muted.values()),
            funnel=self.funnel,
            ack_ids=dict(self.ack_ids),
            retired=list(self.retired.values()),
            hazards=list(self.hazards.values()),
            sources=list(self.sources.values()),
        )

    def to_snapshot_parts(
        self, max_items_per_part: int = 500, max_bytes_per_part: int = p.MAX_FRAME_BYTES // 2
    ) -> list[p.Snapshot]:
        """The state as snapshot frames of at most ``max_items_per_part`` items and
        about ``max_bytes_per_part`` bytes of JSON each (incidents may carry 4 kB
        descriptions, so a count alone could exceed the frame limit). The funnel
        rides in part 0. Shelves, mutes and retired incidents are not part of a
        snapshot. An item larger than the byte budget gets a part of its own."""
        if max_items_per_part < 1:
            raise ValueError("max_items_per_part must be at least 1")
        # Room for the envelope and the funnel.
        budget = max(1, max_bytes_per_part - 2048)
        size_of = _json_encoder.encode
        fields = ("incidents", "units", "agencies", "situations", "alerts", "acks", "hazards")
        sources: list[list[Any]] = [
            list(self.incidents.values()),
            list(self.units.values()),
            list(self.agencies.values()),
            list(self.situations.values()),
            list(self.alerts.values()),
            list(self.acks.values()),
            list(self.hazards.values()),
        ]
        chunks: list[dict[str, list[Any]]] = [{}]
        count = size = 0
        for name, items in zip(fields, sources, strict=True):
            for item in items:
                item_size = len(size_of(item)) + 1
                if count and (count >= max_items_per_part or size + item_size > budget):
                    chunks.append({})
                    count = size = 0
                chunks[-1].setdefault(name, []).append(item)
                count += 1
                size += item_size
        total = len(chunks)
        return [
            p.Snapshot(
                epoch=self.epoch,
                seq=self.seq,
                part=i,
                parts=total,
                incidents=chunk.get("incidents", []),
                units=chunk.get("units", []),
                agencies=chunk.get("agencies", []),
                situations=chunk.get("situations", []),
                alerts=chunk.get("alerts", []),
                acks=chunk.get("acks", []),
                funnel=self.funnel if i == 0 else None,
                shelved=list(self.shelved.values()) if i == 0 else [],
                muted=list(self.muted.values()) if i == 0 else [],
                hazards=chunk.get("hazards", []),
                sources=list(self.sources.values()) if i == 0 else [],
            )
            for i, chunk in enumerate(chunks)
        ]

    # -- retention --------------------------------------------------------------------

    def prune(self, closed_older_than_s: float, *, keep_history: bool = True) -> ChangeSet:
        """Forget closed/cancelled incidents that ended more than this long ago
        (reported removed), acknowledged alerts and acks older than that, and
        shelves/mutes that expired that long ago.

        A pruned incident still counts in today's / the last 24 hours' figures:
        it waits in :attr:`retired` until its samples have expired. A newer
        version of it arriving later brings it back (reported added).

        ``keep_history=False`` is for a store whose figures nobody reads (the
        reference server): a pruned incident is forgotten at once, its
        contribution to the figures withdrawn, and :attr:`retired` is emptied.
        Kept, a day of retired incidents is most of such a store's memory.
        """
        cs = ChangeSet()
        now = self.clock()
        self._roll(now)
        cutoff = (now - dt.timedelta(seconds=closed_older_than_s)).timestamp()
        heap = self._closed_heap
        while heap and heap[0][0] < cutoff:
            _, key, version = heapq.heappop(heap)
            inc = self.incidents.get(key)
            if inc is None or inc.version != version:
                continue  # a stale entry
            del self.incidents[key]
            self.problems.pop(key, None)
            if keep_history:
                self.retired[key] = inc
            else:
                self._contribute(self._keys.pop(key), _NO_KEYS)
            self._situation_change(inc, -1)
            ChangeSet._removed(cs.incidents_added, cs.incidents_updated, cs.incidents_removed, key)
        if not keep_history:
            # Retired by an earlier prune that kept history (or a restored state).
            for key in self.retired:
                self._contribute(self._keys.pop(key), _NO_KEYS)
            self.retired.clear()
        # Retired incidents whose samples have all expired are forgotten for good.
        day_floor, hour_floor = self._day_floor, self._hour_floor
        assert day_floor is not None  # both set by _roll
        assert hour_floor is not None
        for key in list(self.retired):
            _, hourly, dispatch, arrival, closed_day = self._keys[key]
            if (
                (hourly is None or hourly[0] < hour_floor)
                and (dispatch is None or dispatch[0] < day_floor)
                and (arrival is None or arrival[0] < day_floor)
                and (closed_day is None or closed_day < day_floor)
            ):
                del self.retired[key]
                del self._keys[key]
        for alert_id, ack in list(self.acks.items()):
            if ack.at.timestamp() < cutoff:
                del self.acks[alert_id]
                cs.acks.add(alert_id)
                if self.alerts.pop(alert_id, None) is not None:
                    ChangeSet._removed(cs.alerts_added, cs.alerts_updated, cs.alerts_removed, alert_id)
                self._index_ack(alert_id, cs)
        for ack_id, at in list(self.ack_ids.items()):
            if at.timestamp() < cutoff:
                del self.ack_ids[ack_id]
        for alert_id, shelf in list(self.shelved.items()):
            if shelf.until.timestamp() < cutoff:
                del self.shelved[alert_id]
                cs.unshelved.add(alert_id)
        for console, mute in list(self.muted.items()):
            if mute.until.timestamp() < cutoff:
                del self.muted[console]
                cs.unmuted.add(console)
        cs.merge(self.expire_hazards())
        self._prune_hazards(now, cs)
        # Read by the alert engine right after the event; by now long done.
        self.unshelved_by.clear()
        self.unmuted_by.clear()
        if cs.incidents_removed:
            cs.kpis_changed = True
        return cs

    # -- figures -----------------------------------------------------------------------

    def oldest_unhandled(self) -> Incident | None:
        """The active incident received longest ago that nobody handles yet."""
        heap = self._unhandled_heap
        incidents = self.incidents
        while heap:
            _, key, version = heap[0]
            inc = incidents.get(key)
            if inc is not None and inc.version == version:
                return inc
            heapq.heappop(heap)
        return None

    def oldest_unacked_high(self) -> Incident | None:
        """The unacknowledged high-priority incident received longest ago (ties by id)."""
        heap = self._unacked_high_heap
        members = self._unacked_high
        incidents = self.incidents
        while heap:
            ts, key = heap[0]
            if key in members:
                inc = incidents[key]
                if inc.times.received.timestamp() == ts:
                    return inc
            heapq.heappop(heap)
        return None

    def unacked_high_ids(self) -> list[str]:
        """Active high-priority incidents that no acknowledgement names, oldest first."""
        incidents = self.incidents
        return sorted(self._unacked_high, key=lambda k: (incidents[k].times.received.timestamp(), k))

    def incident_ack(self, incident_id: str) -> Acknowledgement | None:
        """The acknowledgement that took the incident: the earliest of those naming it."""
        alert_ids = self._incident_acked.get(incident_id)
        if not alert_ids:
            return None
        acks = self.acks
        return min((acks[a] for a in alert_ids), key=lambda a: (a.at, a.ack_id))

    def arrival_samples(self, agency: str | None = None) -> list[float]:
        """Today's arrival durations (receipt to on scene, seconds), ascending; of
        one agency's incidents when ``agency`` is given. Pruned incidents still count."""
        now = self.clock()
        self._roll(now)
        today = self._day(now)
        if agency is None:
            return list(self._arrival.get(today, ()))
        return list(self._arrival_by_agency.get(today, {}).get(agency, ()))

    def arrival_histogram(self, bin_s: float, max_s: float) -> Histogram:
        """Today's arrival durations per ``bin_s`` bin up to ``max_s`` (and one bin past it),
        each bin marked whether it ends within the response target."""
        now = self.clock()
        self._roll(now)
        return histogram(self._arrival.get(self._day(now), []), bin_s, max_s, self.response_target_s)

    def situation_status_counts(self, situation_id: str) -> dict[str, int]:
        """Incidents grouped under a situation, counted by status (in status order)."""
        counts = self._situation_counts.get(situation_id, {})
        return {s: counts[s] for s in INCIDENT_STATUSES if s in counts}

    def active_situations(self) -> list[DisasterSituation]:
        """Active situations, the most recently declared first (ties by id)."""
        sits = [s for s in self.situations.values() if s.status == "active"]
        sits.sort(key=lambda s: (s.declared_at, s.id), reverse=True)
        return sits

    def _response(self, values: list[float] | None) -> ResponseStats:
        return response_stats(values, self.response_target_s)

    def _funnel_today(self, today: dt.date) -> FunnelFigures:
        f = self.funnel
        if f is None or f.day != today:
            return FunnelFigures(day=today)
        answered = f.answered
        return FunnelFigures(
            day=today,
            calls_in=f.calls_in,
            answered=answered,
            abandoned=f.abandoned,
            prank=f.prank,
            ghost=f.ghost,
            valid=f.valid,
            info=f.info,
            prank_share=f.prank / answered if answered else 0.0,
            ghost_share=f.ghost / answered if answered else 0.0,
        )

    @staticmethod
    def _hourly(counts: dict[tuple[int, str], int], first_hour: int) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for (hour, name), n in counts.items():
            i = hour - first_hour
            if 0 <= i < 24:
                row = out.get(name)
                if row is None:
                    row = out[name] = [0] * 24
                row[i] += n
        return out

    def kpis(self) -> Kpis:
        """The figures now; cost proportional to the number of distinct keys, not incidents."""
        now = self.clock()
        self._roll(now)
        today = self._day(now)
        today_date = dt.date.fromordinal(today)
        oldest = self.oldest_unhandled()
        oldest_unacked = self.oldest_unacked_high()
        first_hour = int(now.timestamp() // 3600) - 23
        return Kpis(
            at=now,
            day=today_date,
            active_total=self._active_total,
            active_by_category=dict(self._by_category),
            active_by_agency=dict(self._by_agency),
            active_by_kecamatan=dict(self._by_kecamatan),
            active_by_priority=dict(self._by_priority),
            active_by_status=dict(self._by_status),
            oldest_unhandled_id=oldest.id if oldest else None,
            oldest_unhandled_age_s=(now - oldest.times.received).total_seconds() if oldest else None,
            dispatch=self._response(self._dispatch.get(today)),
            arrival=self._response(self._arrival.get(today)),
            response_target_s=self.response_target_s,
            closed_today=self._closed_by_day.get(today, 0),
            funnel=self._funnel_today(today_date),
            hour_start=dt.datetime.fromtimestamp(first_hour * 3600, _UTC),
            hourly_by_category=self._hourly(self._hourly_category, first_hour),
            hourly_by_agency=self._hourly(self._hourly_agency, first_hour),
            units_by_agency={a: dict(g) for a, g in self._units_by_agency.items()},
            situations_active=sum(1 for s in self.situations.values() if s.status == "active"),
            arrival_by_agency={
                a: self._response(v) for a, v in self._arrival_by_agency.get(today, {}).items()
            },
            unacked_high=len(self._unacked_high),
            oldest_unacked_high_id=oldest_unacked.id if oldest_unacked is not None else None,
        )
