"""Domain model of the OKI Siaga 112 command center.

Every type here is a frozen msgspec Struct: the same classes are the wire format
(see :mod:`commandcenter.core.protocol`), the journal's storage format and what the
store hands to views. Decoding validates them strictly (types, ranges, patterns,
cross-field rules in ``__post_init__``), so a value that reaches the store is
known to be well-formed.

Codes on the wire are English identifiers (``high``, ``in_handling``); the UI
translates them (``Prioritas Tinggi``, ``Dalam Penanganan``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

# --- constrained scalar types -------------------------------------------------

#: Stable identifiers: letters, digits and ``_ . : -``; no spaces, no markup,
#: no control, bidi or zero-width characters (ASCII only). Names of JavaScript
#: object properties (``__proto__``, ``constructor``) are valid ids: every
#: consumer keys them in a Python dict or a JavaScript ``Map``, never a plain object.
Id = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$", description="Stable identifier")]
#: Short lowercase code used for categories, unit kinds, hazards.
Code = Annotated[str, Meta(pattern=r"^[a-z0-9_]{1,32}$")]
#: Agency short code as configured (e.g. ``BPBD``, ``DAMKAR``).
AgencyCode = Annotated[str, Meta(pattern=r"^[A-Z0-9_]{1,16}$")]

#: The window of times the wall can hold: every timestamp on the wire must fall
#: in it. Wider values fit the JSON schema but not the arithmetic of countdowns,
#: ages and day keys (a year-9999 time plus a minute overflows).
TIME_MIN = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
TIME_MAX = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
DAY_MIN = TIME_MIN.date()
DAY_MAX = TIME_MAX.date()
#: Timezone-aware timestamp (RFC 3339 on the wire, with an offset) between
#: TIME_MIN and TIME_MAX. Naive times are refused because the wall compares
#: times from several systems. The window is checked in ``__post_init__`` of
#: the structs that hold one (msgspec has no bounds for datetimes).
Timestamp = Annotated[
    dt.datetime,
    Meta(
        tz=True,
        description="RFC 3339 time with an offset, from 2000-01-01T00:00:00Z up to (not including) "
        "2100-01-01T00:00:00Z",
    ),
]
#: Largest integer for versions, seqs and counters: exact in a JavaScript number
#: (2**53 - 1) and so also in SQLite's and msgspec's int64.
MAX_INT = 2**53 - 1
Latitude = Annotated[float, Meta(ge=-90.0, le=90.0)]
Longitude = Annotated[float, Meta(ge=-180.0, le=180.0)]
#: Visible text: no C0/C1 control characters, no bidi embedding, override or
#: isolate controls (U+202A..U+202E, U+2066..U+2069: one would flip the text
#: beside it on the wall). Zero-width characters are allowed (some scripts need
#: them) and removed only for matching (see commandcenter.core.text).
_PLAIN = r"\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
ShortText = Annotated[
    str,
    Meta(
        max_length=200,
        pattern=rf"^[^{_PLAIN}]*$",
        description="Text of at most 200 characters without control or bidi control characters",
    ),
]
#: Like ShortText, but tabs and line breaks are allowed.
LongText = Annotated[
    str,
    Meta(
        max_length=4000,
        pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*$",
        description="Text of at most 4000 characters; tabs and line breaks allowed, "
        "no other control or bidi control characters",
    ),
]
Count = Annotated[int, Meta(ge=0, le=10_000_000)]
Version = Annotated[int, Meta(ge=1, le=MAX_INT)]
#: A reporter's phone number with the middle digits masked, e.g. ``0812****789``.
#: The wall never receives a full number: a value without a mask is refused.
MaskedPhone = Annotated[
    str,
    Meta(
        pattern=r"^(|\+?[0-9]{0,6}[*xX]{3,12}[0-9]{0,4})$",
        description="Phone number with at least three masked digits, or empty",
    ),
]

Priority = Literal["high", "medium", "low"]
PRIORITIES: tuple[Priority, ...] = ("high", "medium", "low")
PRIORITY_RANK: dict[str, int] = {"high": 0, "medium": 1, "low": 2}

IncidentStatus = Literal["received", "verified", "forwarded", "in_handling", "closed", "cancelled"]
INCIDENT_STATUSES: tuple[IncidentStatus, ...] = (
    "received",
    "verified",
    "forwarded",
    "in_handling",
    "closed",
    "cancelled",
)
#: Statuses in which an incident is still active (shown in the queue as open).
ACTIVE_STATUSES: frozenset[str] = frozenset({"received", "verified", "forwarded", "in_handling"})
#: Active but nobody is handling it on the ground yet.
UNHANDLED_STATUSES: frozenset[str] = frozenset({"received", "verified", "forwarded"})

TaskStatus = Literal["pending", "forwarded", "accepted", "in_handling", "done", "rejected"]
UnitStatus = Literal["available", "dispatched", "on_scene", "returning", "out_of_service"]
#: Coarse grouping used on agency boards: Tersedia / Bertugas / Tidak Aktif.
UNIT_STATUS_GROUP: dict[str, str] = {
    "available": "available",
    "dispatched": "busy",
    "on_scene": "busy",
    "returning": "busy",
    "out_of_service": "out_of_service",
}


class ModelError(ValueError):
    """A value that is well-typed but violates a domain rule."""


def check_time(value: dt.datetime | None, name: str) -> None:
    """Refuse a time outside [TIME_MIN, TIME_MAX), naming the field.

    Comparing aware datetimes never overflows (unlike astimezone or adding a
    timedelta), so this is safe on year 1 and year 9999 with any offset."""
    if value is not None and not (TIME_MIN <= value < TIME_MAX):
        raise ModelError(
            f"{name} {value.isoformat()} is outside the supported window "
            f"{TIME_MIN:%Y-%m-%d}..{TIME_MAX:%Y-%m-%d} (UTC)"
        )


def _check_times(obj: Struct, names: tuple[str, ...]) -> None:
    for name in names:
        check_time(getattr(obj, name), name)


def _in_window(*values: dt.datetime | None) -> bool:
    """True when every given time is None or inside the window: the cheap test
    the ``__post_init__`` methods run first (one call, no per-field getattr);
    only when it fails do they run the named checks that raise."""
    for value in values:  # noqa: SIM110 (a plain loop: no generator per call)
        if value is not None and not (TIME_MIN <= value < TIME_MAX):
            return False
    return True


# --- incidents ----------------------------------------------------------------


class Location(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Where an incident is. Coordinates may be missing (a caller who only
    names a village); then the map places it at the district centroid."""

    lat: Latitude | None = None
    lon: Longitude | None = None
    kecamatan: ShortText = ""
    kecamatan_code: Annotated[str, Meta(pattern=r"^(|[0-9]{2}(\.[0-9]{2}){0,3})$")] = ""
    desa: ShortText = ""
    address: ShortText = ""
    #: Toll road kilometre marker such as ``KM 338``; roads have no street address.
    km_marker: Annotated[str, Meta(pattern=r"^(|KM [0-9]{1,4}(\+[0-9]{1,3})?( [AB])?)$")] = ""
    road: ShortText = ""

    def __post_init__(self) -> None:
        if (self.lat is None) != (self.lon is None):
            raise ModelError("lat and lon must be given together")


class Reporter(Struct, frozen=True, kw_only=True, omit_defaults=True):
    name: ShortText = ""
    phone_masked: MaskedPhone = ""


class AgencyTask(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The part of an incident forwarded to one agency (OPD)."""

    agency: AgencyCode
    status: TaskStatus = "pending"
    forwarded_at: Timestamp | None = None
    accepted_at: Timestamp | None = None
    on_scene_at: Timestamp | None = None
    closed_at: Timestamp | None = None
    units: list[Id] = []
    note: ShortText = ""

    def __post_init__(self) -> None:
        if not _in_window(self.forwarded_at, self.accepted_at, self.on_scene_at, self.closed_at):
            _check_times(self, ("forwarded_at", "accepted_at", "on_scene_at", "closed_at"))


class IncidentTimes(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The timestamps that service levels are measured on."""

    received: Timestamp
    verified: Timestamp | None = None
    dispatched: Timestamp | None = None
    on_scene: Timestamp | None = None
    closed: Timestamp | None = None

    def __post_init__(self) -> None:
        # Fast path (every incident event): receipt in the window and each later
        # step in [receipt, TIME_MAX) passes every check below.
        received = self.received
        if TIME_MIN <= received < TIME_MAX:
            for value in (self.verified, self.dispatched, self.on_scene, self.closed):
                if value is not None and not (received <= value < TIME_MAX):
                    break
            else:
                return
        _check_times(self, ("received", "verified", "dispatched", "on_scene", "closed"))
        # Each later step may be missing but never earlier than receipt.
        for name in ("verified", "dispatched", "on_scene", "closed"):
            value = getattr(self, name)
            if value is not None and value < self.received:
                raise ModelError(f"times.{name} is earlier than times.received")


class Incident(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One report (kejadian) with its whole current state.

    The server always sends the full incident with a higher ``version``; the
    store ignores a version it already has or an older one, so replays and
    reordering can never roll an incident back.
    """

    id: Id
    ticket: Annotated[str, Meta(pattern=r"^[A-Za-z0-9/_.\-]{1,40}$")]
    version: Version
    category: Code
    priority: Priority
    status: IncidentStatus
    location: Location
    reporter: Reporter = Reporter()
    description: LongText = ""
    victims: Count = 0
    tasks: list[AgencyTask] = []
    units: list[Id] = []
    times: IncidentTimes
    situation_id: Id | None = None
    updated_at: Timestamp | None = None

    def __post_init__(self) -> None:
        updated_at = self.updated_at
        if updated_at is not None and not (TIME_MIN <= updated_at < TIME_MAX):
            check_time(updated_at, "updated_at")
        if self.status == "closed" and self.times.closed is None:
            raise ModelError("a closed incident needs times.closed")
        tasks = self.tasks
        if len(tasks) > 1:  # one task cannot repeat an agency
            seen: set[str] = set()
            for task in tasks:
                if task.agency in seen:
                    raise ModelError(f"agency {task.agency} has two tasks")
                seen.add(task.agency)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def agencies(self) -> list[str]:
        return [t.agency for t in self.tasks]


# --- units and agencies -------------------------------------------------------


class Position(Struct, frozen=True, kw_only=True, omit_defaults=True):
    lat: Latitude
    lon: Longitude
    heading: Annotated[float, Meta(ge=0.0, lt=360.0)] | None = None
    speed_kmh: Annotated[float, Meta(ge=0.0, le=400.0)] | None = None
    at: Timestamp | None = None

    def __post_init__(self) -> None:
        check_time(self.at, "at")


class Unit(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A field unit (fire truck, ambulance, rescue boat, patrol)."""

    id: Id
    callsign: ShortText
    agency: AgencyCode
    kind: Code
    status: UnitStatus
    version: Version
    position: Position | None = None
    incident_id: Id | None = None
    updated_at: Timestamp | None = None

    def __post_init__(self) -> None:
        check_time(self.updated_at, "updated_at")


class Agency(Struct, frozen=True, kw_only=True, omit_defaults=True):
    code: AgencyCode
    name: ShortText
    name_en: ShortText = ""
    short: ShortText = ""


# --- call funnel ------------------------------------------------------------


class CallFunnel(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Totals of the 112 line for one local (WIB) day.

    ``answered`` calls are classified as ``valid`` (an emergency), ``info``
    (a request for information), ``prank`` or ``ghost`` (silent); a call may be
    not yet classified, so the four need not add up to ``answered``.
    """

    day: dt.date
    calls_in: Count
    answered: Count
    abandoned: Count
    prank: Count
    ghost: Count
    valid: Count
    info: Count = 0
    updated_at: Timestamp | None = None

    def __post_init__(self) -> None:
        if not (DAY_MIN <= self.day < DAY_MAX):
            raise ModelError(f"day {self.day.isoformat()} is outside {DAY_MIN}..{DAY_MAX}")
        check_time(self.updated_at, "updated_at")
        if self.answered + self.abandoned > self.calls_in:
            raise ModelError("answered + abandoned exceeds calls_in")
        if self.prank + self.ghost + self.valid + self.info > self.answered:
            raise ModelError("prank + ghost + valid + info exceeds answered")


# --- alerts and acknowledgements ----------------------------------------------

AlertPriority = Literal["high", "medium", "low"]
AlertKind = Literal[
    "new_incident",
    "category",
    "sla_breach",
    "unit_emergency",
    "situation",
    "system",
]


class Alert(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An alarm that needs a human: raised by the dispatch server or by the
    wall's own rules; acknowledged by id."""

    id: Id
    kind: AlertKind
    priority: AlertPriority
    raised_at: Timestamp
    incident_id: Id | None = None
    unit_id: Id | None = None
    situation_id: Id | None = None
    message: ShortText = ""

    def __post_init__(self) -> None:
        check_time(self.raised_at, "raised_at")


class Acknowledgement(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The server's record that an operator took an alert. ``ack_id`` is made
    by the console, so a resent acknowledgement is recognised and applied once."""

    ack_id: Id
    alert_id: Id
    operator: ShortText
    console: ShortText
    at: Timestamp
    incident_id: Id | None = None

    def __post_init__(self) -> None:
        check_time(self.at, "at")


# --- disaster situations --------------------------------------------------------

SituationStatus = Literal["active", "ended"]


class DisasterSituation(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A declared disaster (a flood, a peat-fire emergency) that groups many
    incidents; incidents point at it through ``situation_id``."""

    id: Id
    version: Version
    hazard: Code
    name: ShortText
    status: SituationStatus
    kecamatan: list[ShortText] = []
    declared_at: Timestamp
    ended_at: Timestamp | None = None
    declared_by: ShortText = ""
    households_affected: Count = 0
    people_evacuated: Count = 0
    note: LongText = ""

    def __post_init__(self) -> None:
        _check_times(self, ("declared_at", "ended_at"))
        if self.status == "ended" and self.ended_at is None:
            raise ModelError("an ended situation needs ended_at")


# --- external items (protocol 1.0, optional kinds) ------------------------------

#: A publisher's own id: a CAP identifier, "time@lat,lon" of a quake, an EIDO URN. Longer and
#: freer than :data:`Id` (publishers choose them), but still plain ASCII without spaces or markup.
ExternalId = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9_.:@,+/#=\-]{1,200}$",
        description="A publisher's own id: 1..200 letters, digits or _ . : @ , + / # = -",
    ),
]
#: Name of an external source (``bmkg-cap``, ``firms``) or of a configured feed.
SourceName = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$")]
HazardKind = Literal["quake", "warning", "hotspot", "report", "incident"]
HAZARD_KINDS: tuple[HazardKind, ...] = ("quake", "warning", "hotspot", "report", "incident")
#: CAP 1.2 severities in lowercase, most severe first ("" when the publisher gives none).
HazardSeverity = Literal["", "extreme", "severe", "moderate", "minor", "unknown"]
SEVERITY_RANK: dict[str, int] = {"extreme": 0, "severe": 1, "moderate": 2, "minor": 3, "unknown": 4, "": 5}
#: One polygon ring as [lat, lon] pairs (CAP order, not GeoJSON's); bounded so that one item
#: can never approach the frame limit (BMKG's nowcast rings have a few dozen points).
Ring = Annotated[
    list[tuple[Latitude, Longitude]], Meta(min_length=3, max_length=500, description="[lat, lon] pairs")
]
DetailKey = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
DetailValue = Annotated[
    str,
    Meta(
        max_length=2000,
        pattern=rf"^[^{_PLAIN}]*$",
        description="Text of at most 2000 characters without control or bidi control characters",
    ),
]


class HazardItem(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One external item (a BMKG quake or warning, a satellite hotspot, a citizen report, an
    incident of another dispatch system), as the hub published it. Kept by ``(source, id)``: a
    newer copy replaces the stored one; ``cancels`` (a CAP Cancel) removes the named items of
    the same source instead of being stored; a warning leaves by itself at ``expires``."""

    source: SourceName
    kind: HazardKind
    id: ExternalId
    time: Timestamp
    text: ShortText = ""
    expires: Timestamp | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    area: Annotated[list[Ring], Meta(max_length=32)] = []
    #: The OKI districts and villages the item touches (empty: it touches none).
    kecamatan: Annotated[list[ShortText], Meta(max_length=40)] = []
    desa: Annotated[list[ShortText], Meta(max_length=400)] = []
    severity: HazardSeverity = ""
    magnitude: Annotated[float, Meta(ge=0.0, le=10.0)] | None = None
    #: Ids (same source) this item replaces (a CAP Update) or, with ``cancel``, withdraws.
    references: Annotated[list[ExternalId], Meta(max_length=32)] = []
    cancel: bool = False
    #: A few named details as text or numbers (wilayah, depth_km, felt_radius_km, urgency...).
    detail: Annotated[dict[DetailKey, DetailValue | float], Meta(max_length=32)] = {}

    def __post_init__(self) -> None:
        _check_times(self, ("time", "expires"))
        if (self.lat is None) != (self.lon is None):
            raise ModelError("lat and lon must be given together")
        for value in self.detail.values():
            if isinstance(value, float) and not -1e12 < value < 1e12:
                raise ModelError("detail numbers must be finite and below 1e12")

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.id)


SourceState = Literal["live", "stale", "failing", "disabled", "waiting"]


class SourceStatus(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """How one external source of the hub is doing. The wall computes the age from
    ``last_ok`` with its own clock, and shows the source stale once that age passes
    ``stale_after_s`` even when no newer status arrives (a hub that died says nothing)."""

    name: SourceName
    kind: SourceName
    state: SourceState
    at: Timestamp
    last_ok: Timestamp | None = None
    stale_after_s: Annotated[float, Meta(gt=0, le=30 * 86400)] = 900.0
    error: ShortText = ""

    def __post_init__(self) -> None:
        _check_times(self, ("at", "last_ok"))


def mask_phone(number: str) -> str:
    """Mask a phone number the way the protocol requires (keep the first four
    and last three digits). Used by the simulator and by adapters."""
    digits = re.sub(r"[^0-9+]", "", number)
    if len(digits) <= 7:
        return "*" * max(3, len(digits))
    head, tail = digits[:4], digits[-3:]
    return head + "*" * max(3, min(12, len(digits) - 7)) + tail


def to_builtins(obj: object) -> object:
    """Plain JSON-compatible form of any model value (for logs and exports)."""
    return msgspec.to_builtins(obj)
