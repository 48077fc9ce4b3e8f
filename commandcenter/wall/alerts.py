"""Alert rules: which changes need a human, and how loudly (no Qt).

The engine reads the store after each applied change set (:meth:`AlertEngine.on_changes`)
and on a timer (:meth:`AlertEngine.tick`), and answers with :class:`AlertAction`
records that tell the UI and sound layer what to do: play a tone, speak a
text, flash a row, clear it. Each action may carry an :class:`AuditEntry` that
the caller writes with :func:`write_audit`.

Rules worth knowing:

* Alert ids are computed from the situation (``incident:<id>``,
  ``sla:<rule>:<stage>:<id>``, ``situation:<id>``; the server's own id for a
  server-raised alert), so every wall names an alert the same way and an
  acknowledgement made on one console (``store.acks``) stops the repeats on
  all of them. At most one ``incident:`` alert exists per incident: of the
  matching new_incident/category rules the highest priority wins, ties by
  config order.
* Only active incidents raise alerts; closing or cancelling an incident
  clears its alerts (except a unit's emergency: the officer still needs
  help). The call funnel (prank and ghost calls) is never looked at.
* Acknowledged, shelved (``store.shelved`` until > now) and resolved alerts
  are silent. An acknowledgement is latched: a later prune of ``store.acks``
  never brings an alert back.
* Alarm flood (EEMUA 191 / ISA-18.2): above ``flood_threshold`` alerts raised in
  ``flood_window_s`` the individual announcements stop; incident alerts are
  announced per (category, kecamatan) at most every ``flood_announce_s``
  ("12 laporan banjir baru di Kecamatan Pampangan", the count being that
  group's alerts in the window) while every alert stays in :meth:`active`.
  Unit emergencies and situations are never grouped. Reminders
  (repeats/escalations) due together in a flood, or more than
  ``flood_end_threshold`` of them at once, become one summary announcement.
  The flood ends below ``flood_end_threshold`` alerts in the window.
* A muted console (``store.muted[console].until > now``) gets every action
  without sound and speech (``muted=True``); visuals are unchanged.
* Audit rows name who did it: shelve/unshelve and mute/unmute take the
  operator and console from the server's event (``store.unshelved_by`` /
  ``unmuted_by`` for the taking off); a shelf or mute that ran out is audited
  with the operator :data:`SYSTEM_OPERATOR` and ``reason: expired``.
* Timers run on the injected clock and only inside :meth:`tick`, so tests use a
  FakeClock and no sleeps. Repeat timers are local to a wall; escalation is due
  at ``raised_at + escalate_after_s`` (the same on every wall).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import hashlib
import heapq
import logging
import re
from collections import deque
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from commandcenter.config import AlertPriorityAction, AlertRule, AlertsConfig, Config, SpeechConfig
from commandcenter.core import sla
from commandcenter.core.model import (
    ACTIVE_STATUSES,
    PRIORITY_RANK,
    Alert,
    DisasterSituation,
    Incident,
    Priority,
)
from commandcenter.core.store import ChangeSet, Store
from commandcenter.core.text import isolate, match_key
from commandcenter.core.timeutil import Clock, utcnow
from commandcenter.wall import hazard_alerts as ha
from commandcenter.wall.speech import announcement, render

if TYPE_CHECKING:
    from commandcenter.storage.journal import Journal

log = logging.getLogger(__name__)

__all__ = [
    "SLA_STAGES",
    "SYSTEM_OPERATOR",
    "ActionKind",
    "ActiveAlert",
    "AlertAction",
    "AlertEngine",
    "AuditEntry",
    "Sound",
    "make_alert_id",
    "stage_met",
    "write_audit",
]

ActionKind = Literal[
    "raise",
    "repeat",
    "escalate",
    "announce_group",
    "clear",
    "shelve",
    "unshelve",
    "shelve_expired",
    "mute",
    "unmute",
    "mute_expired",
    "flood_start",
    "flood_end",
]
Sound = Literal["tone_high", "tone_medium", "tone_low", "tone_escalation"]
SLA_STAGES: tuple[str, ...] = ("verify", "forward", "dispatch", "arrive")
#: The audit log's operator for what the wall did by itself (a shelf or mute
#: that ran out): a fixed machine word, so a CSV filter on it is reliable.
SYSTEM_OPERATOR = "system"
_AUDIBLE_KINDS = frozenset({"raise", "repeat", "escalate", "announce_group", "shelve_expired"})
_INCIDENT_RULES = frozenset({"new_incident", "category"})
_ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_ID_BAD = re.compile(r"[^A-Za-z0-9_.:\-]")


# --- public records ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row for :meth:`Journal.audit` (see :func:`write_audit`)."""

    action: str
    target_kind: str
    target_id: str
    at: dt.datetime
    operator: str = ""
    console: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AlertAction:
    """What the UI and sound layer must do.

    ``sound``/``speech`` are None when nothing is to be heard (voice off for
    the priority, grouped into an ``announce_group``, or this console muted:
    then ``muted`` is True). ``text`` is always the visible text. Public text
    (place names) ends up in ``text``/``speech``: escape it when rendering.
    """

    kind: ActionKind
    alert_ids: tuple[str, ...] = ()
    priority: Priority | None = None
    sound: Sound | None = None
    speech: str | None = None
    text: str = ""
    #: "flash" or "steady" for an alert on screen, None when nothing to show.
    visual: str | None = None
    muted: bool = False
    #: Announced as part of an ``announce_group`` instead of on its own.
    grouped: bool = False
    #: announce_group / flood_start / flood_end: how many alerts it covers.
    count: int = 0
    #: mute / unmute / mute_expired: which console.
    console: str = ""
    #: clear: "acknowledged" or why it resolved; raise: "resync" on a rebuild.
    reason: str = ""
    escalated: bool = False
    audit: AuditEntry | None = None

    @property
    def alert_id(self) -> str | None:
        return self.alert_ids[0] if self.alert_ids else None

    @property
    def audible(self) -> bool:
        return self.sound is not None or self.speech is not None


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    """An alert as the lists show it."""

    id: str
    kind: str
    rule: str
    priority: Priority
    raised_at: dt.datetime
    text: str
    incident_id: str | None = None
    unit_id: str | None = None
    situation_id: str | None = None
    category: str = ""
    kecamatan: str = ""
    stage: str = ""
    #: Raised by the dispatch server (AlertRaised) rather than by a wall rule.
    server: bool = False
    escalated: bool = False
    repeats: int = 0
    shelved_until: dt.datetime | None = None
    shelved_by: str = ""
    shelve_reason: str = ""
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: str = ""
    acknowledged_console: str = ""

    def age_s(self, now: dt.datetime) -> float:
        return (now - self.raised_at).total_seconds()


class _Live:
    """The live (unacknowledged, unresolved) records by id, also kept in the active
    list's order (priority, then oldest) and, for the escalated ones, oldest first.
    The banner, the leader's flag and the map ask after every change; with tens of
    thousands of alerts (a burst) a sort each time was seconds of the GUI thread."""

    __slots__ = ("_escalated", "_order", "_recs")

    def __init__(self) -> None:
        self._recs: dict[str, _Record] = {}
        self._order: list[tuple[int, dt.datetime, str]] = []
        self._escalated: list[tuple[dt.datetime, str]] = []

    @staticmethod
    def key(rec: _Record) -> tuple[int, dt.datetime, str]:
        return _rank(rec.priority), rec.raised_at, rec.id

    def __contains__(self, aid: object) -> bool:
        return aid in self._recs

    def __len__(self) -> int:
        return len(self._recs)

    def __getitem__(self, aid: str) -> _Record:
        return self._recs[aid]

    def __setitem__(self, aid: str, rec: _Record) -> None:
        self.pop(aid)
        self._recs[aid] = rec
        bisect.insort(self._order, self.key(rec))
        if rec.escalated:
            bisect.insort(self._escalated, (rec.raised_at, aid))

    def get(self, aid: str) -> _Record | None:
        return self._recs.get(aid)

    def values(self) -> Iterable[_Record]:
        return self._recs.values()

    def pop(self, aid: str, default: None = None) -> _Record | None:
        rec = self._recs.pop(aid, None)
        if rec is not None:
            _remove(self._order, self.key(rec))
            if rec.escalated:
                _remove(self._escalated, (rec.raised_at, aid))
        return rec

    def ordered(self) -> Iterable[_Record]:
        recs = self._recs
        return (recs[k[2]] for k in self._order)

    def escalate(self, rec: _Record) -> None:
        if rec.escalated:
            return
        rec.escalated = True
        if self._recs.get(rec.id) is rec:
            bisect.insort(self._escalated, (rec.raised_at, rec.id))

    def escalated(self) -> Iterable[_Record]:
        recs = self._recs
        return (recs[k[1]] for k in self._escalated)

    def escalated_count(self) -> int:
        return len(self._escalated)

    def rebuild_escalated(self) -> None:
        """After flags were set on the records directly (a resync restores them)."""
        self._escalated = sorted((r.raised_at, r.id) for r in self._recs.values() if r.escalated)


def _remove(keys: list[Any], key: Any) -> None:
    i = bisect.bisect_left(keys, key)
    if i < len(keys) and keys[i] == key:
        del keys[i]


@dataclass(slots=True)
class _Record:
    id: str
    kind: str
    rule: AlertRule | None
    priority: Priority
    raised_at: dt.datetime
    text: str
    incident_id: str | None = None
    unit_id: str | None = None
    situation_id: str | None = None
    category: str = ""
    category_name: str = ""
    kecamatan: str = ""
    stage: str = ""
    server: bool = False
    #: Flood group (class, category, kecamatan); None: never grouped.
    group: tuple[str, str, str] | None = None
    escalate_at: dt.datetime | None = None
    next_repeat_at: dt.datetime | None = None
    escalated: bool = False
    repeats: int = 0
    ack: Any = None  # model.Acknowledgement, latched
    resolved: bool = False
    sounded_call: int = -1

    @property
    def live(self) -> bool:
        return self.ack is None and not self.resolved


# --- helpers -----------------------------------------------------------------------------


def make_alert_id(*parts: str) -> str:
    """A model.Id from ``parts`` joined by ':'; hashed when too long or odd,
    so every wall derives the same id from the same parts."""
    raw = ":".join(parts)
    if _ID_RE.match(raw):
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:20]
    head = _ID_BAD.sub("_", parts[0] if parts else "")[:40]
    return f"{head}:{digest}" if head else digest


def stage_met(inc: Incident, stage: str) -> bool:
    """Whether the incident has passed a service-level step: the one rule the
    queue's colours use too (commandcenter.core.sla)."""
    return sla.step_met(inc, stage)


#: Placeholder aliases of [alerts.texts] beyond those commandcenter.wall.speech.render knows.
_TEXT_ALIASES = (("tahap", "stage"), ("menit", "minutes"), ("situasi", "situation"), ("bahaya", "hazard"))


def _render(template: str, **fields: object) -> str:
    for a, b in _TEXT_ALIASES:
        if a in fields or b in fields:
            value = fields.get(a, fields.get(b))
            fields[a] = fields[b] = value
    return render(template, **fields)


def _rank(priority: str) -> int:
    return PRIORITY_RANK.get(priority, 2)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


async def write_audit(journal: Journal, actions: Iterable[AlertAction]) -> int:
    """Write the audit entries carried by ``actions`` (one transaction); returns how many."""
    return await journal.audit_many([a.audit for a in actions if a.audit is not None])


#: Repeats and escalations looked at per tick, at most (see AlertEngine._timers).
TIMER_BATCH = 300


# --- the engine ------------------------------------------------------------------------------


class AlertEngine:
    """Alert rules over a :class:`Store`. See the module docstring."""

    def __init__(
        self,
        config: AlertsConfig | Config,
        store: Store,
        *,
        clock: Clock = utcnow,
        console: str = "",
        language: str | None = None,
    ) -> None:
        full = config if isinstance(config, Config) else None
        self.config: AlertsConfig = config.alerts if isinstance(config, Config) else config
        self.store = store
        self.clock = clock
        self.console = console
        self.language = language or (
            (full.speech.language or full.display.language) if full is not None else "id"
        )
        self._speech: SpeechConfig = full.speech if full is not None else SpeechConfig()
        self._texts = self.config.texts.for_language(self.language)
        self._categories = {c.code: c for c in full.categories} if full is not None else {}
        rules = [r for r in self.config.rules if r.enabled]
        self._incident_rules = [r for r in rules if r.when in _INCIDENT_RULES]
        self._sla_rules = [r for r in rules if r.when == "sla_breach"]
        self._situation_rules = [r for r in rules if r.when == "situation"]
        self._rule_kinds = {r.when for r in self.config.rules}
        self._rule_by_kind: dict[str, AlertRule] = {}
        for r in rules:
            self._rule_by_kind.setdefault(r.when, r)
        self._records: dict[str, _Record] = {}
        self._live = _Live()
        self._by_incident: dict[str, set[str]] = {}
        # (deadline ts, tie, incident id, rule name, stage); stale entries are re-checked when popped.
        self._sla_heap: list[tuple[float, int, str, str, str]] = []
        self._sla_scheduled: set[tuple[str, str, str]] = set()
        self._tie = 0
        # (when, tie, alert id): the next repeat or escalation of each live alert; stale
        # entries are re-checked when popped (a tick looks only at what is due).
        self._timer_heap: list[tuple[float, int, str]] = []
        #: Incidents whose alerts changed since the service last looked (changed_all: every one).
        self.changed_incidents: set[str] = set()
        self.changed_all = True
        #: Moves on whenever an alert's view may have (cache key of the active list).
        self._version = 0
        self._raise_times: deque[float] = deque()
        self._group_times: dict[tuple[str, str, str], deque[float]] = {}
        self._pending: dict[tuple[str, str, str], list[str]] = {}
        self._group_last: dict[tuple[str, str, str], float] = {}
        self.flood_active = False
        self._shelf_until: dict[str, dt.datetime] = {}
        self._shelf_expired: set[tuple[str, dt.datetime]] = set()
        self._mute_until: dict[str, dt.datetime] = {}
        self._mute_expired: set[tuple[str, dt.datetime]] = set()
        self._call = 0
        self._new: list[_Record] = []
        self._resyncing = False
        # External items ([alerts.hazards], commandcenter.wall.hazard_alerts): the full config
        # has the rules; hotspot cluster -> the hotspot keys in it, and each key's cluster.
        self._full = full
        self._clusters: dict[tuple[str, str, str], set[str]] = {}
        self._cluster_of: dict[str, tuple[str, str, str]] = {}
        #: The active list as of (entry-point call, clock second): see active().
        self._active_cache: tuple[tuple[int, int], list[ActiveAlert]] | None = None
        #: Alert id -> (record, escalated, repeats, ack, shelf, its view): see _view.
        self._views: dict[str, tuple[_Record, bool, int, Any, Any, ActiveAlert]] = {}
        self._resync_all(self.clock(), [], initial=True)

    # --- entry points ------------------------------------------------------------------

    def on_changes(self, cs: ChangeSet) -> list[AlertAction]:
        """Evaluate what ``cs`` (from Store.apply / apply_many / prune) changed."""
        now = self._begin()
        out: list[AlertAction] = []
        if cs.reset:
            self._resync_all(now, out)
        else:
            store = self.store
            for key in cs.incidents_removed:
                self._drop_incident(key)
            for key in cs.alerts_removed:
                self._drop(key)
            for key in sorted(cs.situations_added | cs.situations_updated):
                sit = store.situations.get(key)
                if sit is not None:
                    self._eval_situation(sit, now, out)
            for key in sorted(cs.hazards):
                self._eval_hazard(key, now, out)
            for key in sorted(cs.incidents_added | cs.incidents_updated):
                inc = store.incidents.get(key)
                if inc is not None:
                    self._eval_incident(inc, now, out)
            for key in sorted(cs.alerts_added | cs.alerts_updated):
                alert = store.alerts.get(key)
                if alert is not None:
                    self._eval_server_alert(alert, now, out)
            for key in sorted(cs.acks):
                self._on_ack(key, out)
            for key in sorted(cs.shelved):
                self._on_shelved(key, now, out)
            for key in sorted(cs.unshelved):
                self._on_unshelved(key, now, out)
            for key in sorted(cs.muted):
                self._on_muted(key, out, now)
            for key in sorted(cs.unmuted):
                self._on_unmuted(key, out, now)
        self._due_sla(now, out)
        return self._finish(now, out)

    def tick(self) -> list[AlertAction]:
        """Time-driven work: SLA deadlines, expiries, repeats, escalations."""
        now = self._begin()
        out: list[AlertAction] = []
        self._due_sla(now, out)
        self._expire_shelves(now, out)
        self._expire_mutes(now, out)
        self._timers(now, out)
        return self._finish(now, out)

    # --- queries ---------------------------------------------------------------------

    def active(self) -> list[ActiveAlert]:
        """Unacknowledged, unresolved, not shelved; by priority, then oldest first."""
        return list(self._active())

    def _active(self) -> list[ActiveAlert]:
        """The active list, made once per entry-point call (on_changes and tick are
        the only ones that change the engine; each starts a new call) and clock
        second (a shelve runs out by time). The banner, the map, the queue and the
        leader each ask for it after every change and every second: with thousands
        of alerts (a burst) a pass each was seconds of the GUI thread."""
        now = self.clock()
        key = (self._version, int(now.timestamp()))
        cached = self._active_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        views = [self._view(r) for r in self._live.ordered() if not self._is_shelved(r.id, now)]
        self._active_cache = (key, views)
        return views

    def top(self, skip: Container[str] = ()) -> ActiveAlert | None:
        """The first active alert not in ``skip``, else the first active one (the
        banner's alert; a look at the head of the kept order, not a pass over all)."""
        now = self.clock()
        first: _Record | None = None
        for rec in self._live.ordered():
            if self._is_shelved(rec.id, now):
                continue
            if rec.id not in skip:
                return self._view(rec)
            if first is None:
                first = rec
        return None if first is None else self._view(first)

    def incident_ids(self) -> Iterable[str]:
        """Incidents with alerts (acknowledged and resolved ones included)."""
        return self._by_incident.keys()

    def incident_of(self, alert_id: str) -> str | None:
        rec = self._records.get(alert_id)
        return None if rec is None else rec.incident_id

    def is_active(self, alert_id: str) -> bool:
        return alert_id in self._live and not self._is_shelved(alert_id, self.clock())

    def active_count(self) -> int:
        now = self.clock()
        shelved = sum(1 for aid, b in self.store.shelved.items() if b.until > now and aid in self._live)
        return len(self._live) - shelved

    def escalated_summary(self) -> tuple[int, ActiveAlert | None]:
        """How many active alerts are past their escalation time, and the oldest of them
        (the leader's flag, after every change and every second)."""
        now = self.clock()
        shelved = sum(
            1 for aid, b in self.store.shelved.items()
            if b.until > now and (r := self._live.get(aid)) is not None and r.escalated
        )  # fmt: skip
        oldest = next((r for r in self._live.escalated() if not self._is_shelved(r.id, now)), None)
        return self._live.escalated_count() - shelved, None if oldest is None else self._view(oldest)

    def incident_alerts(
        self, incident_id: str, within_s: float
    ) -> tuple[list[ActiveAlert], ActiveAlert | None]:
        """One incident's active alerts in the active list's order, and its latest
        acknowledgement within ``within_s`` (what its map popup says)."""
        now = self.clock()
        horizon = now - dt.timedelta(seconds=within_s)
        live: list[_Record] = []
        acked: _Record | None = None
        for aid in self._by_incident.get(incident_id, ()):
            rec = self._records.get(aid)
            if rec is None:
                continue
            if aid in self._live:
                if not self._is_shelved(aid, now):
                    live.append(rec)
            elif (
                rec.ack is not None and rec.ack.at >= horizon
                and (acked is None or (rec.ack.at, rec.id) > (acked.ack.at, acked.id))
            ):  # fmt: skip
                acked = rec
        live.sort(key=_Live.key)
        return [self._view(r) for r in live], None if acked is None else self._view(acked)

    def escalated(self) -> list[ActiveAlert]:
        """Active alerts past their escalation time, in the active list's order."""
        return [a for a in self._active() if a.escalated]

    def shelved_list(self) -> list[ActiveAlert]:
        """Alerts shelved now, soonest to return first."""
        now = self.clock()
        out = []
        for aid, body in self.store.shelved.items():
            rec = self._live.get(aid)
            if rec is not None and body.until > now:
                out.append(self._view(rec))
        out.sort(key=lambda a: (a.shelved_until or now, _rank(a.priority), a.id))
        return out

    def acknowledged_recent(self, within_s: float | None = None) -> list[ActiveAlert]:
        """Alerts acknowledged within ``within_s`` (default recent_ack_s), newest first."""
        now = self.clock()
        horizon = now - dt.timedelta(seconds=self.config.recent_ack_s if within_s is None else within_s)
        recs = [r for r in self._records.values() if r.ack is not None and r.ack.at >= horizon]
        recs.sort(key=lambda r: (r.ack.at, r.id), reverse=True)
        return [self._view(r) for r in recs]

    def get(self, alert_id: str) -> ActiveAlert | None:
        rec = self._records.get(alert_id)
        return None if rec is None else self._view(rec)

    def is_muted(self, console: str | None = None) -> bool:
        body = self.store.muted.get(self.console if console is None else console)
        return body is not None and body.until > self.clock()

    def muted_consoles(self) -> dict[str, dt.datetime]:
        """Consoles muted now -> until when (every screen shows "SUARA MATI")."""
        now = self.clock()
        return {c: b.until for c, b in self.store.muted.items() if b.until > now}

    def _view(self, rec: _Record) -> ActiveAlert:
        shelf = self.store.shelved.get(rec.id)
        ack = rec.ack
        # A record changes in place only in these (the rest is fixed when it is
        # made): its view is made again only when one of them moved.
        hit = self._views.get(rec.id)
        if (
            hit is not None and hit[0] is rec and hit[1] == rec.escalated and hit[2] == rec.repeats
            and hit[3] is ack and hit[4] is shelf
        ):  # fmt: skip
            return hit[5]
        view = self._make_view(rec, shelf, ack)
        if len(self._views) > 2 * len(self._records) + 1024:
            self._views = {k: v for k, v in self._views.items() if self._records.get(k) is v[0]}
        self._views[rec.id] = (rec, rec.escalated, rec.repeats, ack, shelf, view)
        return view

    def _make_view(self, rec: _Record, shelf: Any, ack: Any) -> ActiveAlert:
        return ActiveAlert(
            id=rec.id, kind=rec.kind, rule=rec.rule.name if rec.rule else "", priority=rec.priority,
            raised_at=rec.raised_at, text=rec.text, incident_id=rec.incident_id, unit_id=rec.unit_id,
            situation_id=rec.situation_id, category=rec.category, kecamatan=rec.kecamatan, stage=rec.stage,
            server=rec.server, escalated=rec.escalated, repeats=rec.repeats,
            shelved_until=shelf.until if shelf is not None else None,
            shelved_by=shelf.operator if shelf is not None else "",
            shelve_reason=shelf.reason if shelf is not None else "",
            acknowledged_at=ack.at if ack is not None else None,
            acknowledged_by=ack.operator if ack is not None else "",
            acknowledged_console=ack.console if ack is not None else "",
        )  # fmt: skip

    # --- evaluation ---------------------------------------------------------------------

    def _begin(self) -> dt.datetime:
        self._call += 1
        self._new = []
        return self.clock()

    def _matches(self, rule: AlertRule, inc: Incident) -> bool:
        if rule.categories and inc.category not in rule.categories:
            return False
        return _rank(inc.priority) <= _rank(rule.min_priority)

    def _category_name(self, code: str) -> str:
        cat = self._categories.get(code)
        if cat is None:
            return code.replace("_", " ").capitalize()
        return cat.name_en if self.language == "en" else cat.name_id

    def _incident_fields(self, inc: Incident) -> dict[str, Any]:
        loc = inc.location
        return {
            "category": self._category_name(inc.category),
            "priority": inc.priority,
            # Feed names isolated: a right-to-left name cannot reorder the words around it.
            "desa": isolate(loc.desa),
            "kecamatan": isolate(loc.kecamatan),
            "km": loc.km_marker,
            "ticket": inc.ticket,
        }

    def _eval_incident(self, inc: Incident, now: dt.datetime, out: list[AlertAction]) -> None:
        if inc.status not in ACTIVE_STATUSES:
            for aid in sorted(self._by_incident.get(inc.id, ())):
                rec = self._records[aid]
                if rec.kind != "unit_emergency":
                    self._resolve(rec, now, out, inc.status)
            return
        aid = make_alert_id("incident", inc.id)
        if aid not in self._records:
            best: AlertRule | None = None
            for rule in self._incident_rules:
                if rule.when == "category" and not rule.categories:
                    continue  # a category rule naming no category would alert on everything
                if self._matches(rule, inc) and (best is None or _rank(rule.priority) < _rank(best.priority)):
                    best = rule
            if best is not None:
                text = announcement(self._speech, "incident", self.language, **self._incident_fields(inc))
                self._create(
                    _Record(
                        id=aid, kind=best.when, rule=best, priority=best.priority,
                        raised_at=inc.times.received, text=text, incident_id=inc.id,
                        category=inc.category, category_name=self._category_name(inc.category),
                        kecamatan=inc.location.kecamatan,
                        group=("new", inc.category, match_key(inc.location.kecamatan)),
                    ),
                    now, out,
                )  # fmt: skip
        for rule in self._sla_rules:
            if not self._matches(rule, inc):
                continue
            for stage in rule.stages or SLA_STAGES:
                sid = make_alert_id("sla", rule.name, stage, inc.id)
                existing = self._records.get(sid)
                if existing is not None:
                    if existing.live and stage_met(inc, stage):
                        self._resolve(existing, now, out, f"{stage}_met")
                    continue
                if stage_met(inc, stage):
                    continue
                target = self._sla_target(rule, inc, stage)
                if target is None:
                    continue
                deadline = inc.times.received + dt.timedelta(seconds=target)
                if deadline <= now:
                    self._raise_sla(rule, inc, stage, target, now, out)
                elif (inc.id, rule.name, stage) not in self._sla_scheduled:
                    self._sla_scheduled.add((inc.id, rule.name, stage))
                    self._tie += 1
                    heapq.heappush(
                        self._sla_heap, (deadline.timestamp(), self._tie, inc.id, rule.name, stage)
                    )

    def _sla_target(self, rule: AlertRule, inc: Incident, stage: str) -> float | None:
        if rule.after_s is not None:
            return float(rule.after_s)
        cat = self._categories.get(inc.category)
        if cat is None:
            return None
        return float(getattr(cat.sla, f"{stage}_s"))

    def _raise_sla(
        self,
        rule: AlertRule,
        inc: Incident,
        stage: str,
        target: float,
        now: dt.datetime,
        out: list[AlertAction],
    ) -> None:
        fields = self._incident_fields(inc)
        fields.update(stage=self._texts.stage_words(stage), minutes=str(max(1, round(target / 60))))
        self._create(
            _Record(
                id=make_alert_id("sla", rule.name, stage, inc.id), kind="sla_breach", rule=rule,
                priority=rule.priority, raised_at=inc.times.received + dt.timedelta(seconds=target),
                text=_render(self._texts.sla_breach, **fields), incident_id=inc.id, category=inc.category,
                category_name=self._category_name(inc.category), kecamatan=inc.location.kecamatan,
                stage=stage, group=("sla", inc.category, match_key(inc.location.kecamatan)),
            ),
            now, out,
        )  # fmt: skip

    def _due_sla(self, now: dt.datetime, out: list[AlertAction]) -> None:
        heap = self._sla_heap
        limit = now.timestamp()
        rules = {r.name: r for r in self._sla_rules}
        while heap and heap[0][0] <= limit:
            _, _, inc_id, rule_name, stage = heapq.heappop(heap)
            self._sla_scheduled.discard((inc_id, rule_name, stage))
            inc = self.store.incidents.get(inc_id)
            rule = rules.get(rule_name)
            if inc is None or rule is None:
                continue
            # Re-evaluate on the current version (status, tasks and times may have changed).
            self._eval_incident(inc, now, out)

    def _eval_situation(self, sit: DisasterSituation, now: dt.datetime, out: list[AlertAction]) -> None:
        aid = make_alert_id("situation", sit.id)
        rec = self._records.get(aid)
        if sit.status != "active":
            if rec is not None:
                self._resolve(rec, now, out, "situation_ended")
            return
        if rec is not None:
            return
        rule = next(
            (r for r in self._situation_rules if not r.categories or sit.hazard in r.categories), None
        )
        if rule is None:
            return
        kecamatan = ", ".join(isolate(k) for k in sit.kecamatan)
        text = _render(
            self._texts.situation,
            situation=isolate(sit.name),
            hazard=self._category_name(sit.hazard),
            kecamatan=kecamatan,
        )
        self._create(
            _Record(
                id=aid, kind="situation", rule=rule, priority=rule.priority, raised_at=sit.declared_at,
                text=text, situation_id=sit.id, category=sit.hazard, kecamatan=kecamatan,
            ),
            now, out,
        )  # fmt: skip

    def _eval_hazard(self, key: str, now: dt.datetime, out: list[AlertAction]) -> None:
        """An external item added, changed or gone (expired, cancelled, pruned)."""
        cfg = self._full
        if cfg is None or not cfg.alerts.hazards.enabled:
            return
        item = self.store.hazards.get(key)
        old_cluster = self._cluster_of.pop(key, None)
        if old_cluster is not None:
            self._clusters.get(old_cluster, set()).discard(key)
        if item is None:
            rec = self._records.get(make_alert_id("hazard", key))
            if rec is not None:
                self._resolve(rec, now, out, "expired")
            return
        cluster = ha.hotspot_cluster(item, cfg)
        if cluster is not None:
            members = self._clusters.setdefault(cluster, set())
            members.add(key)
            self._cluster_of[key] = cluster
            if len(members) < cfg.alerts.hazards.hotspot_min_count or not ha.is_today(cluster, now):
                return
            found: ha.HazardAlert | None = ha.hotspot_alert(cluster, len(members), self.language)
        else:
            lang = self.language
            found = ha.warning_alert(item, cfg, lang) or ha.quake_alert(item, cfg, lang, now)
        if found is None:
            return
        aid, raised = make_alert_id(*found.parts), item.time
        if aid in self._records:
            return
        self._create(
            _Record(
                id=aid, kind="hazard", rule=None, priority=found.priority, raised_at=raised, text=found.text,
                category=item.kind, kecamatan=found.kecamatan,
            ),
            now, out,
        )  # fmt: skip

    def _eval_server_alert(self, alert: Alert, now: dt.datetime, out: list[AlertAction]) -> None:
        rec = self._records.get(alert.id)
        inc = self.store.incidents.get(alert.incident_id) if alert.incident_id else None
        if rec is not None:
            if inc is not None and not inc.active and rec.kind != "unit_emergency":
                self._resolve(rec, now, out, inc.status)
            return
        rule: AlertRule | None = None
        priority: Priority = alert.priority
        if alert.kind in self._rule_kinds:
            # A configured kind: its first enabled rule decides; all disabled means no alert.
            rule = self._rule_by_kind.get(alert.kind)
            if rule is None:
                return
            priority = rule.priority
        if inc is not None and not inc.active and alert.kind != "unit_emergency":
            return
        fields: dict[str, Any] = {"message": alert.message}
        if inc is not None:
            fields.update(self._incident_fields(inc))
            fields["priority"] = priority
        if alert.kind == "unit_emergency":
            unit = self.store.units.get(alert.unit_id) if alert.unit_id else None
            fields["unit"] = unit.callsign if unit is not None else (alert.unit_id or "")
            text = _render(self._texts.unit_emergency, **fields)
        elif inc is not None and alert.kind in _INCIDENT_RULES:
            text = announcement(self._speech, "incident", self.language, **fields)
        else:
            text = alert.message or _render(self._texts.unit_emergency, **fields)
        self._create(
            _Record(
                id=alert.id, kind=alert.kind, rule=rule, priority=priority, raised_at=alert.raised_at,
                text=text, incident_id=alert.incident_id, unit_id=alert.unit_id,
                situation_id=alert.situation_id, server=True,
                category=inc.category if inc is not None else "",
                kecamatan=inc.location.kecamatan if inc is not None else "",
            ),
            now, out,
        )  # fmt: skip

    # --- lifecycle of one alert ---------------------------------------------------------------

    def _pri(self, rec: _Record) -> AlertPriorityAction:
        return self.config.priorities.of(rec.priority)

    def _repeat_s(self, rec: _Record) -> float:
        return rec.rule.repeat_s if rec.rule is not None and rec.rule.repeat_s else self.config.repeat_s

    def _escalate_s(self, rec: _Record) -> float:
        if rec.rule is not None and rec.rule.escalate_after_s:
            return rec.rule.escalate_after_s
        return self.config.escalate_after_s

    def _create(self, rec: _Record, now: dt.datetime, out: list[AlertAction]) -> None:
        resync = self._resyncing
        self._records[rec.id] = rec
        if rec.incident_id is not None:
            self._by_incident.setdefault(rec.incident_id, set()).add(rec.id)
            self.changed_incidents.add(rec.incident_id)
        ack = self.store.acks.get(rec.id)
        if ack is not None:
            rec.ack = ack  # taken on another console before this wall raised it
            return
        self._live[rec.id] = rec
        pri = self._pri(rec)
        repeat_s = self._repeat_s(rec)
        rec.next_repeat_at = now + dt.timedelta(seconds=repeat_s) if pri.repeat else None
        if pri.escalate:
            escalate_s = self._escalate_s(rec)
            rec.escalate_at = rec.raised_at + dt.timedelta(seconds=escalate_s)
            if rec.escalate_at <= now:
                if resync:
                    self._live.escalate(rec)  # flagged, not announced: it was due while the wall was away
                else:
                    # A late event: announce it first, escalate one repeat later.
                    rec.escalate_at = now + dt.timedelta(seconds=min(repeat_s, escalate_s))
        silent = resync or self._is_shelved(rec.id, now)
        rec.sounded_call = self._call
        self._schedule(rec)
        if not resync:
            self._new.append(rec)
        detail: dict[str, Any] = {
            "kind": rec.kind, "rule": rec.rule.name if rec.rule else "", "priority": rec.priority,
            "text": rec.text, "raised_at": _iso(rec.raised_at),
        }  # fmt: skip
        for key in ("incident_id", "unit_id", "situation_id"):
            if getattr(rec, key):
                detail[key] = getattr(rec, key)
        if resync:
            detail["resync"] = True
        out.append(
            AlertAction(
                "raise",
                (rec.id,),
                rec.priority,
                sound=None if silent else self._tone(pri),
                speech=None if silent or not pri.voice else rec.text,
                text=rec.text,
                visual=pri.visual,
                reason="resync" if resync else ("shelved" if silent else ""),
                escalated=rec.escalated,
                audit=self._audit("alert.raised", rec.id, now, detail),
            )
        )

    def _resolve(self, rec: _Record, now: dt.datetime, out: list[AlertAction], reason: str) -> None:
        if rec.resolved:
            return
        was_live = rec.live
        rec.resolved = True
        self._live.pop(rec.id, None)
        if was_live:
            out.append(
                AlertAction(
                    "clear", (rec.id,), rec.priority, text=rec.text, reason=reason,
                    audit=self._audit("alert.resolved", rec.id, now, {"reason": reason}),
                )
            )  # fmt: skip

    def _drop(self, aid: str) -> None:
        rec = self._records.pop(aid, None)
        self._live.pop(aid, None)
        self._version += 1
        if rec is not None and rec.incident_id is not None:
            self.changed_incidents.add(rec.incident_id)
            ids = self._by_incident.get(rec.incident_id)
            if ids is not None:
                ids.discard(aid)
                if not ids:
                    del self._by_incident[rec.incident_id]

    def _drop_incident(self, inc_id: str) -> None:
        # Pruned from the store: it closed long ago, its alerts were cleared then.
        for aid in list(self._by_incident.get(inc_id, ())):
            rec = self._records.get(aid)
            if rec is not None and not rec.server:
                self._drop(aid)

    def _on_ack(self, aid: str, out: list[AlertAction]) -> None:
        rec = self._records.get(aid)
        ack = self.store.acks.get(aid)
        if rec is None or ack is None or rec.ack is not None:
            return  # unknown, pruned (latched anyway) or already taken
        rec.ack = ack
        self._live.pop(aid, None)
        detail: dict[str, Any] = {
            "ack_id": ack.ack_id,
            "response_s": round((ack.at - rec.raised_at).total_seconds(), 3),
        }
        if ack.incident_id:
            detail["incident_id"] = ack.incident_id
        out.append(
            AlertAction(
                "clear",
                (aid,),
                rec.priority,
                text=rec.text,
                reason="acknowledged",
                audit=AuditEntry(
                    "alert.acknowledged", "alert", aid, ack.at, operator=ack.operator, console=ack.console,
                    detail=detail,
                ),
            )
        )  # fmt: skip

    def _is_shelved(self, aid: str, now: dt.datetime) -> bool:
        body = self.store.shelved.get(aid)
        return body is not None and body.until > now

    def _touch(self, aid: str) -> None:
        """An alert's view may have changed without an action naming it."""
        self._version += 1
        rec = self._records.get(aid)
        if rec is not None and rec.incident_id is not None:
            self.changed_incidents.add(rec.incident_id)

    def _on_shelved(self, aid: str, now: dt.datetime, out: list[AlertAction]) -> None:
        self._touch(aid)
        body = self.store.shelved.get(aid)
        if body is None:
            return
        self._shelf_until[aid] = body.until
        rec = self._records.get(aid)
        out.append(
            AlertAction(
                "shelve", (aid,), rec.priority if rec else None, text=rec.text if rec else "",
                console=body.console, reason=body.reason,
                audit=AuditEntry(
                    "alert.shelved", "alert", aid, now, operator=body.operator, console=body.console,
                    detail={"until": _iso(body.until), "reason": body.reason},
                ),
            )
        )  # fmt: skip

    def _on_unshelved(self, aid: str, now: dt.datetime, out: list[AlertAction]) -> None:
        self._touch(aid)  # its view changes even when nothing is announced (returned by time)
        until = self._shelf_until.pop(aid, None)
        if until is not None and (aid, until) in self._shelf_expired:
            self._shelf_expired.discard((aid, until))
            return  # already returned (and audited) when it expired
        rec = self._records.get(aid)
        if rec is not None and rec.live:
            rec.next_repeat_at = now + dt.timedelta(seconds=self._repeat_s(rec))
            self._schedule(rec)
        body = self.store.unshelved_by.get(aid)
        operator, console = (body.operator, body.console) if body is not None else ("", "")
        detail: dict[str, Any] = {"reason": "operator"}
        if until is not None:
            detail["until"] = _iso(until)
        out.append(
            AlertAction(
                "unshelve", (aid,), rec.priority if rec else None, text=rec.text if rec else "",
                visual=self._pri(rec).visual if rec and rec.live else None, console=console,
                reason="operator",
                audit=AuditEntry(
                    "alert.unshelved", "alert", aid, now, operator=operator, console=console, detail=detail
                ),
            )
        )  # fmt: skip

    def _expire_shelves(self, now: dt.datetime, out: list[AlertAction]) -> None:
        shelved = self.store.shelved
        for aid in sorted(shelved):
            body = shelved[aid]
            key = (aid, body.until)
            if body.until > now or key in self._shelf_expired:
                continue
            self._shelf_expired.add(key)
            self._shelf_until[aid] = body.until
            rec = self._records.get(aid)
            live = rec is not None and rec.live
            sound: Sound | None = None
            speech = None
            if rec is not None and live:
                pri = self._pri(rec)
                sound, speech = self._tone(pri), (rec.text if pri.voice else None)
                rec.sounded_call = self._call
                rec.next_repeat_at = now + dt.timedelta(seconds=self._repeat_s(rec))
                self._schedule(rec)
            out.append(
                AlertAction(
                    "shelve_expired", (aid,), rec.priority if rec else None, sound=sound, speech=speech,
                    text=rec.text if rec else "", visual=self._pri(rec).visual if rec and live else None,
                    reason="expired",
                    audit=AuditEntry(
                        "alert.unshelved", "alert", aid, now, operator=SYSTEM_OPERATOR, console=self.console,
                        detail={"reason": "expired", "until": _iso(body.until), "shelved_by": body.operator},
                    ),
                )
            )  # fmt: skip
        if len(self._shelf_expired) > 2 * len(shelved) + 64:
            self._shelf_expired = {k for k in self._shelf_expired if k[0] in shelved}

    def _on_muted(self, console: str, out: list[AlertAction], now: dt.datetime) -> None:
        body = self.store.muted.get(console)
        if body is None:
            return
        self._mute_until[console] = body.until
        out.append(
            AlertAction(
                "mute", console=console,
                audit=AuditEntry(
                    "console.muted", "console", console, now, operator=body.operator, console=console,
                    detail={"until": _iso(body.until)},
                ),
            )
        )  # fmt: skip

    def _on_unmuted(self, console: str, out: list[AlertAction], now: dt.datetime) -> None:
        until = self._mute_until.pop(console, None)
        if until is not None and (console, until) in self._mute_expired:
            self._mute_expired.discard((console, until))
            return
        body = self.store.unmuted_by.get(console)
        detail: dict[str, Any] = {"reason": "operator"}
        if until is not None:
            detail["until"] = _iso(until)
        out.append(
            AlertAction(
                "unmute", console=console,
                audit=AuditEntry(
                    "console.unmuted", "console", console, now, operator=body.operator if body else "",
                    console=console, detail=detail,
                ),
            )
        )  # fmt: skip

    def _expire_mutes(self, now: dt.datetime, out: list[AlertAction]) -> None:
        muted = self.store.muted
        for console in sorted(muted):
            body = muted[console]
            key = (console, body.until)
            if body.until > now or key in self._mute_expired:
                continue
            self._mute_expired.add(key)
            self._mute_until[console] = body.until
            out.append(
                AlertAction(
                    "mute_expired", console=console, reason="expired",
                    audit=AuditEntry(
                        "console.unmuted", "console", console, now, operator=SYSTEM_OPERATOR, console=console,
                        detail={"reason": "expired", "until": _iso(body.until), "muted_by": body.operator},
                    ),
                )
            )  # fmt: skip
        if len(self._mute_expired) > 2 * len(muted) + 64:
            self._mute_expired = {k for k in self._mute_expired if k[0] in muted}

    def _timers(self, now: dt.datetime, out: list[AlertAction]) -> None:
        # Only what is due: a pass over every live alert each second was most of the GUI
        # thread with tens of thousands of them (a burst).
        # At most TIMER_BATCH a tick: tens of thousands of alerts raised together fall due
        # together, and in one tick they held the GUI thread for a quarter of a second; the
        # rest go on the next ticks (a flood announces reminders as one summary anyway).
        heap, limit = self._timer_heap, now.timestamp()
        due: set[str] = set()
        while heap and heap[0][0] <= limit and len(due) < TIMER_BATCH:
            due.add(heapq.heappop(heap)[2])
        later: list[_Record] = []
        for aid in sorted(due):
            rec = self._live.get(aid)
            if rec is None:
                continue  # acknowledged, resolved or dropped since
            shelf = self.store.shelved.get(aid)
            if shelf is not None and shelf.until > now:
                self._push_timer(shelf.until.timestamp(), aid)  # looked at again when it returns
                continue
            if rec.sounded_call == self._call:
                later.append(rec)  # sounded in this call already: the next tick
                continue
            pri = self._pri(rec)
            if rec.escalate_at is not None and not rec.escalated and now >= rec.escalate_at:
                self._live.escalate(rec)
                rec.sounded_call = self._call
                rec.next_repeat_at = now + dt.timedelta(seconds=self._repeat_s(rec))
                speech = announcement(self._speech, "escalation", self.language, message=rec.text)
                out.append(
                    AlertAction(
                        "escalate", (aid,), rec.priority, sound=self._escalation_tone(),
                        speech=speech if pri.voice else None, text=rec.text, visual=pri.visual,
                        escalated=True,
                        audit=self._audit(
                            "alert.escalated", aid, now,
                            {"after_s": round((now - rec.raised_at).total_seconds(), 3)},
                        ),
                    )
                )  # fmt: skip
            elif pri.repeat and rec.next_repeat_at is not None and now >= rec.next_repeat_at:
                rec.repeats += 1
                rec.sounded_call = self._call
                rec.next_repeat_at = now + dt.timedelta(seconds=self._repeat_s(rec))
                speech = announcement(self._speech, "reminder", self.language, message=rec.text)
                out.append(
                    AlertAction(
                        "repeat", (aid,), rec.priority,
                        sound=self._escalation_tone() if rec.escalated else self._tone(pri),
                        speech=speech if pri.voice else None, text=rec.text, visual=pri.visual,
                        escalated=rec.escalated,
                        audit=self._audit(
                            "alert.repeated", aid, now, {"repeat": rec.repeats, "escalated": rec.escalated}
                        ),
                    )
                )  # fmt: skip
            self._schedule(rec)
        for rec in later:
            self._push_timer(limit, rec.id)

    def _schedule(self, rec: _Record) -> None:
        """Put a live alert's next repeat or escalation on the timer heap."""
        if not rec.live:
            return
        times = []
        if rec.escalate_at is not None and not rec.escalated:
            times.append(rec.escalate_at)
        if rec.next_repeat_at is not None and self._pri(rec).repeat:
            times.append(rec.next_repeat_at)
        if times:
            self._push_timer(min(times).timestamp(), rec.id)

    def _push_timer(self, when: float, aid: str) -> None:
        heap = self._timer_heap
        if len(heap) > 4 * len(self._live) + 1024:
            # Stale entries (alerts gone, times moved) outgrew the live ones: start again.
            self._timer_heap = heap = []
            for rec in self._live.values():
                self._schedule(rec)
        self._tie += 1
        heapq.heappush(heap, (when, self._tie, aid))

    # --- flood grouping, mute, finishing a call -------------------------------------------------

    def _finish(self, now: dt.datetime, out: list[AlertAction]) -> list[AlertAction]:
        ts = now.timestamp()
        horizon = ts - self.config.flood_window_s
        for rec in self._new:
            self._raise_times.append(ts)
            if rec.group is not None:
                self._group_times.setdefault(rec.group, deque()).append(ts)
        while self._raise_times and self._raise_times[0] <= horizon:
            self._raise_times.popleft()
        for group in list(self._group_times):
            times = self._group_times[group]
            while times and times[0] <= horizon:
                times.popleft()
            if not times and group not in self._pending:
                del self._group_times[group]
                self._group_last.pop(group, None)
        count = len(self._raise_times)
        ended = False
        if not self.flood_active and count > self.config.flood_threshold:
            self.flood_active = True
            out.append(self._flood_action("flood_start", count, now))
        elif self.flood_active and count < self.config.flood_end_threshold:
            self.flood_active = False
            ended = True
            out.append(self._flood_action("flood_end", count, now))
        if out:
            self._version += 1
            records = self._records
            for action in out:
                for aid in action.alert_ids:
                    touched = records.get(aid)
                    if touched is not None and touched.incident_id is not None:
                        self.changed_incidents.add(touched.incident_id)
            if len(self.changed_incidents) > 100_000:
                self.changed_incidents.clear()  # nobody drains them: the next reader takes all
                self.changed_all = True
        new_ids = {rec.id: rec for rec in self._new}
        reminders: list[int] = []
        for i, action in enumerate(out):
            if not action.audible:
                continue
            if action.kind == "raise" and self.flood_active:
                fresh = new_ids.get(action.alert_ids[0])
                if fresh is not None and fresh.group is not None:
                    out[i] = dataclasses.replace(action, sound=None, speech=None, grouped=True)
                    self._pending.setdefault(fresh.group, []).append(fresh.id)
            elif action.kind in ("repeat", "escalate"):
                reminders.append(i)
        if reminders and (self.flood_active or len(reminders) > self.config.flood_end_threshold):
            self._summarize_reminders(reminders, now, out)
        self._announce_groups(ts, now, out, force=ended)
        if self.is_muted():
            out = [
                dataclasses.replace(a, sound=None, speech=None, muted=True)
                if a.kind in _AUDIBLE_KINDS and a.audible
                else a
                for a in out
            ]
        self._new = []
        return out

    def _summarize_reminders(self, indexes: Sequence[int], now: dt.datetime, out: list[AlertAction]) -> None:
        ids = []
        escalated = False
        best: Priority = "low"
        for i in indexes:
            action = out[i]
            out[i] = dataclasses.replace(action, sound=None, speech=None, grouped=True)
            ids.append(action.alert_ids[0])
            escalated |= action.escalated
            if action.priority is not None and _rank(action.priority) < _rank(best):
                best = action.priority
        text = _render(self._texts.escalation_group, n=len(ids))
        out.append(
            AlertAction(
                "announce_group", tuple(ids), best,
                sound=self._escalation_tone() if escalated else self._tone(self.config.priorities.of(best)),
                speech=text, text=text, visual=self.config.priorities.of(best).visual, grouped=True,
                count=len(ids), escalated=escalated,
            )
        )  # fmt: skip

    def _announce_groups(self, ts: float, now: dt.datetime, out: list[AlertAction], *, force: bool) -> None:
        for group in sorted(self._pending):
            last = self._group_last.get(group)
            if not force and last is not None and ts - last < self.config.flood_announce_s:
                continue
            recs = [
                r
                for aid in self._pending.pop(group)
                if (r := self._live.get(aid)) and not self._is_shelved(aid, now)
            ]
            if not recs:
                continue
            self._group_last[group] = ts
            n = max(len(self._group_times.get(group, ())), len(recs))
            best = min(recs, key=lambda r: _rank(r.priority))
            pri = self._pri(best)
            cls, _, key = group
            kecamatan = isolate(key)
            if n == 1:
                text = best.text
            elif cls == "sla":
                text = _render(
                    self._texts.group_sla, n=n, category=best.category_name.lower(), kecamatan=kecamatan
                )
            else:
                text = announcement(
                    self._speech, "group", self.language, n=n, category=best.category_name.lower(),
                    kecamatan=kecamatan,
                )  # fmt: skip
            out.append(
                AlertAction(
                    "announce_group", tuple(r.id for r in recs), best.priority, sound=self._tone(pri),
                    speech=text if pri.voice else None, text=text, visual=pri.visual, grouped=True, count=n,
                )
            )  # fmt: skip

    def _flood_action(self, kind: ActionKind, count: int, now: dt.datetime) -> AlertAction:
        window = self.config.flood_window_s
        return AlertAction(
            kind,
            count=count,
            reason=f"{count} alerts in {window:g} s",
            audit=self._audit(
                "alert.flood_started" if kind == "flood_start" else "alert.flood_ended",
                "",
                now,
                {"count": count, "window_s": window},
                target_kind="wall",
            ),
        )

    def _tone(self, pri: AlertPriorityAction) -> Sound | None:
        return pri.tone or None

    def _escalation_tone(self) -> Sound | None:
        return self.config.escalation_tone or None

    def _audit(
        self,
        action: str,
        target_id: str,
        now: dt.datetime,
        detail: dict[str, Any],
        *,
        console: str | None = None,
        target_kind: str = "alert",
    ) -> AuditEntry:
        return AuditEntry(
            action, target_kind, target_id, now, console=self.console if console is None else console,
            detail=detail,
        )  # fmt: skip

    # --- rebuild ------------------------------------------------------------------------------

    def _resync_all(self, now: dt.datetime, out: list[AlertAction], *, initial: bool = False) -> None:
        """Rebuild from the whole store (start-up, snapshot, restored journal).
        Alerts known before keep their timers and latched acknowledgement; new
        ones appear silently (reason "resync") and sound at their next repeat."""
        old = self._records
        self._records, self._live, self._by_incident = {}, _Live(), {}
        self._sla_heap, self._sla_scheduled = [], set()
        self._timer_heap = []
        self._version += 1
        self.changed_all = True
        self._pending.clear()
        scratch: list[AlertAction] = []
        store = self.store
        self._resyncing = True
        try:
            for sit in store.situations.values():
                self._eval_situation(sit, now, scratch)
            self._clusters, self._cluster_of = {}, {}
            for key in sorted(store.hazards):
                self._eval_hazard(key, now, scratch)
            for inc in store.incidents.values():
                self._eval_incident(inc, now, scratch)
            for alert in store.alerts.values():
                self._eval_server_alert(alert, now, scratch)
        finally:
            self._resyncing = False
        raised = {a.alert_ids[0]: a for a in scratch if a.kind == "raise"}
        for aid, rec in self._records.items():
            before = old.get(aid)
            if before is not None:
                rec.escalated, rec.repeats = before.escalated, before.repeats
                rec.escalate_at, rec.next_repeat_at = before.escalate_at, before.next_repeat_at
                if before.ack is not None and rec.ack is None:
                    rec.ack = before.ack
                    self._live.pop(aid, None)
            elif not initial and rec.live and aid in raised:
                out.append(raised[aid])
        self._live.rebuild_escalated()
        for rec in self._live.values():
            self._schedule(rec)
        self._shelf_until = {aid: b.until for aid, b in store.shelved.items()}
        self._shelf_expired = {(aid, b.until) for aid, b in store.shelved.items() if b.until <= now}
        self._mute_until = {c: b.until for c, b in store.muted.items()}
        self._mute_expired = {(c, b.until) for c, b in store.muted.items() if b.until <= now}
