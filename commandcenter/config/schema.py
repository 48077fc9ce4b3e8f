"""Typed, validated configuration of the wall and the reference dispatch server.

The schema is a tree of frozen msgspec Structs. Values come, in this order, from
the shipped ``config/default.toml``, a user file (``--config``, the
``COMMANDCENTER_CONFIG`` variable, ``config.toml`` in the platform's config
directory, else the machine-wide ``/etc/oki-siaga-112/config.toml``: the first
found is used, never both) and two environment variables (``COMMANDCENTER_SERVER_URL``,
``COMMANDCENTER_TOKEN``). Tables merge key by key; arrays (``[[agencies]]``,
``rules = [...]``) replace the shipped ones wholesale.

Anything wrong - TOML syntax, an unknown key, a wrong type, a value out of range,
a category naming an agency that does not exist - is refused at start-up with a
:class:`ConfigError` naming the file, the key and the reason. No traceback.
"""

from __future__ import annotations

import functools
import itertools
import re
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
import platformdirs
from msgspec import Meta, Struct

from commandcenter.core.model import Agency as AgencyModel
from commandcenter.core.model import AgencyCode, Code, Latitude, Longitude, Priority, ShortText
from commandcenter.core.protocol import Role

#: Version of the configuration schema. Raise it only together with an entry
#: in :data:`MIGRATIONS` that upgrades a file of the previous version.
CONFIG_VERSION = 1
APP_NAME = "oki-siaga-112"
ENV_SERVER_URL = "COMMANDCENTER_SERVER_URL"
ENV_TOKEN = "COMMANDCENTER_TOKEN"
ENV_CONFIG = "COMMANDCENTER_CONFIG"
#: The national response-time target: life-threatening categories must plan to
#: be on scene within it.
NATIONAL_RESPONSE_TARGET_S = 900
#: Tokens shipped in default.toml for the demo; never for a real deployment.
DEMO_TOKENS = frozenset({"demo-wall", "demo-console", "demo-admin"})
#: Config keys holding file paths; a relative path is relative to the file that set it.
PATH_KEYS: tuple[tuple[str, str], ...] = (
    ("map", "boundary_geojson"),
    ("serve", "tls_cert"),
    ("serve", "tls_key"),
    ("journal", "path"),
    ("logging", "dir"),
)

#: Upgrades a user file's data from version N (the key) to N + 1. Empty while
#: there is only version 1; the loader applies them in order.
Migration = Callable[[dict[str, Any]], dict[str, Any]]
MIGRATIONS: dict[int, Migration] = {}


class ConfigError(Exception):
    """A configuration that cannot be used: ``file``, ``key`` (dotted path such
    as ``map.bounds.south``, empty for the whole file) and ``reason``."""

    def __init__(
        self, file: str, key: str, reason: str, *, line: int | None = None, related: Iterable[str] = ()
    ) -> None:
        self.file = file
        self.key = key
        self.reason = reason
        self.line = line
        # Keys that also take part in a cross-field error; used to decide which
        # file to blame (e.g. a category naming an agency the user removed).
        self.related = tuple(related)
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.key:
            return f"{self.file}: {self.key}: {self.reason}"
        return f"{self.file}: {self.reason}"


def _invalid(field: str, reason: str) -> ValueError:
    """A ValueError from a section's ``__post_init__``; the loader turns the
    ``field:`` prefix into the key path below the section msgspec reports."""
    return ValueError(f"{field}: {reason}")


# --- constrained scalars -------------------------------------------------------

Seconds = Annotated[float, Meta(gt=0.0, le=86_400.0 * 7)]
SlaSeconds = Annotated[int, Meta(ge=1, le=86_400 * 7)]
PathStr = Annotated[str, Meta(max_length=4096)]
Color = Annotated[str, Meta(pattern=r"^#[0-9a-fA-F]{6}$")]
NonEmptyText = Annotated[str, Meta(min_length=1, max_length=200)]
DistrictCode = Annotated[str, Meta(pattern=r"^[0-9]{2}(\.[0-9]{2}){1,3}$")]
ClientId = Annotated[str, Meta(pattern=r"^(|[A-Za-z0-9_.:\-]{1,64})$")]
CapCategory = Literal[
    "Geo",
    "Met",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "CBRNE",
    "Other",
]
#: Map marker shapes: the map encodes category by shape as well as colour.
MarkerShape = Literal["circle", "square", "triangle", "diamond", "star", "cross", "hexagon"]
ScreenView = Literal["map", "operations", "leader", "console"]
AlertRuleWhen = Literal["new_incident", "category", "sla_breach", "unit_emergency", "situation"]
SlaStage = Literal["verify", "forward", "dispatch", "arrive"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class _Section(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every config table: immutable, keyword-only, typos refused."""


def _duplicates(values: Iterable[str]) -> list[int]:
    """Indexes of values already seen earlier in the sequence."""
    seen: set[str] = set()
    dups: list[int] = []
    for i, value in enumerate(values):
        if value in seen:
            dups.append(i)
        seen.add(value)
    return dups


def _name_key(name: str) -> str:
    """Lookup form of a place name: "Kayu Agung", "kayu  agung" and "KAYUAGUNG" match."""
    return "".join(name.split()).casefold()


# --- [server]: the wall's link to the dispatch server --------------------------


class ServerConfig(_Section, frozen=True, kw_only=True):
    url: str = "ws://127.0.0.1:8112/"
    token: Annotated[str, Meta(max_length=256)] = ""
    #: Empty: derived from the host name (see :meth:`effective_client_id`).
    client_id: ClientId = ""
    heartbeat_timeout_s: Seconds = 10.0
    reconnect_min_s: Seconds = 0.5
    reconnect_max_s: Seconds = 30.0
    #: The backoff resets only after the link has been up this long.
    stable_after_s: Seconds = 30.0

    def __post_init__(self) -> None:
        reason = _websocket_url_problem(self.url)
        if reason:
            raise _invalid("url", reason)
        if self.reconnect_min_s > self.reconnect_max_s:
            raise _invalid("reconnect_min_s", "must not exceed reconnect_max_s")

    def effective_client_id(self) -> str:
        if self.client_id:
            return self.client_id
        host = re.sub(r"[^A-Za-z0-9_.:\-]", "-", socket.gethostname())[:64]
        return host or "wall"


def _websocket_url_problem(url: str) -> str:
    if any(ch.isspace() for ch in url):
        return f"{url!r} contains whitespace"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        return f"{url!r} is not a valid URL ({exc})"
    if parts.scheme not in ("ws", "wss"):
        return f"{url!r} must start with ws:// or wss://"
    if not parts.hostname:
        return f"{url!r} names no host"
    return ""


# --- [serve]: the reference dispatch server ---------------------------------


class ServeToken(_Section, frozen=True, kw_only=True):
    token: Annotated[str, Meta(min_length=1, max_length=256)]
    role: Role
    name: ShortText = ""


class ServeConfig(_Section, frozen=True, kw_only=True):
    host: Annotated[str, Meta(min_length=1, max_length=255)] = "127.0.0.1"
    #: 0 lets the system pick a free port (tests).
    port: Annotated[int, Meta(ge=0, le=65535)] = 8112
    heartbeat_interval_s: Seconds = 2.0
    max_frame_bytes: Annotated[int, Meta(ge=1024, le=64 * 1024 * 1024)] = 1_048_576
    send_queue_limit: Annotated[int, Meta(ge=1, le=10_000_000)] = 10_000
    client_rate_per_s: Annotated[float, Meta(gt=0.0, le=100_000.0)] = 20.0
    client_burst: Annotated[int, Meta(ge=1, le=1_000_000)] = 40
    tls_cert: PathStr = ""
    tls_key: PathStr = ""
    #: Replay window: a client further behind than this gets a snapshot.
    history_limit_events: Annotated[int, Meta(ge=1, le=1_000_000_000)] = 1_000_000
    #: Longest shelve / mute the server grants, in minutes.
    max_shelve_minutes: Annotated[int, Meta(ge=1, le=7 * 24 * 60)] = 480
    max_mute_minutes: Annotated[int, Meta(ge=1, le=7 * 24 * 60)] = 60
    tokens: list[ServeToken] = []

    def __post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            missing = "tls_key" if self.tls_cert else "tls_cert"
            raise _invalid(missing, "tls_cert and tls_key must both be set or both be empty")
        for i in _duplicates(t.token for t in self.tokens):
            raise _invalid(f"tokens[{i}].token", "duplicate token")

    @property
    def demo_tokens_in_use(self) -> list[str]:
        """Shipped demo tokens still configured (the server should warn)."""
        return [t.token for t in self.tokens if t.token in DEMO_TOKENS]


# --- [display] -------------------------------------------------------------------


class BurnInConfig(_Section, frozen=True, kw_only=True):
    """Slow shift of every screen's static content against panel burn-in."""

    enabled: bool = True
    #: Largest offset from the home position, in pixels, each axis.
    shift_px: Annotated[int, Meta(ge=0, le=32)] = 4
    #: Seconds between two one-pixel steps; a full cycle takes many minutes.
    step_interval_s: Annotated[float, Meta(ge=1.0, le=3600.0)] = 60.0


ClockTime = Annotated[str, Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class NightDimmingConfig(_Section, frozen=True, kw_only=True):
    """Optional dimming of every screen at night (WIB, may cross midnight)."""

    enabled: bool = False
    start: ClockTime = "22:00"
    end: ClockTime = "06:00"
    #: Brightness kept at night: 1.0 = no dimming, 0.5 = half.
    level: Annotated[float, Meta(ge=0.2, le=1.0)] = 0.7
    #: The alert banner and the stale banner stay at full brightness.


class DisplayConfig(_Section, frozen=True, kw_only=True):
    language: Literal["id", "en"] = "id"
    #: Farthest viewer distance; wall text is sized from it (text height >= distance / 150).
    viewing_distance_m: Annotated[float, Meta(gt=0.0, le=50.0)] = 6.0
    #: Only dark: the room is staffed 24 hours.
    theme: Literal["dark"] = "dark"
    #: WIB is fixed UTC+7 (no daylight saving), see commandcenter.core.timeutil.WIB.
    timezone: Literal["WIB"] = "WIB"
    operators: list[NonEmptyText] = msgspec.field(default_factory=lambda: ["Sari", "Budi", "Rina", "Andi"])
    console_name: ShortText = ""
    #: Panel size used to turn millimetres into pixels when the screen does not
    #: report a believable physical size (projectors, offscreen, some TVs).
    panel_diagonal_in: Annotated[float, Meta(ge=10.0, le=400.0)] = 55.0
    burn_in: BurnInConfig = msgspec.field(default_factory=BurnInConfig)
    night: NightDimmingConfig = msgspec.field(default_factory=NightDimmingConfig)

    def __post_init__(self) -> None:
        for i in _duplicates(_name_key(n) for n in self.operators):
            raise _invalid(f"operators[{i}]", f"duplicate operator {self.operators[i]!r}")


# --- [[agencies]] and [[categories]] ---------------------------------------------


class AgencyConfig(_Section, frozen=True, kw_only=True):
    code: AgencyCode
    name: NonEmptyText
    name_en: ShortText = ""
    short: ShortText = ""
    color: Color

    def to_model(self) -> AgencyModel:
        return AgencyModel(code=self.code, name=self.name, name_en=self.name_en, short=self.short)


class Sla(_Section, frozen=True, kw_only=True):
    """Service-level targets, in seconds from receipt of the report."""

    verify_s: SlaSeconds
    forward_s: SlaSeconds
    dispatch_s: SlaSeconds
    arrive_s: SlaSeconds

    def __post_init__(self) -> None:
        # Cumulative from receipt, so each step's target follows the previous one.
        steps = [
            ("verify_s", self.verify_s),
            ("forward_s", self.forward_s),
            ("dispatch_s", self.dispatch_s),
            ("arrive_s", self.arrive_s),
        ]
        for (prev_name, prev), (name, value) in itertools.pairwise(steps):
            if value < prev:
                raise _invalid(name, f"{value} is less than {prev_name} ({prev}); targets count from receipt")


class CategoryConfig(_Section, frozen=True, kw_only=True):
    code: Code
    name_id: NonEmptyText
    name_en: NonEmptyText
    agencies: Annotated[list[AgencyCode], Meta(min_length=1)]
    default_priority: Priority
    cap_category: CapCategory
    marker_shape: MarkerShape
    #: Lives at stake: the plan must meet the national 15-minute response target.
    life_threatening: bool = False
    sla: Sla

    def __post_init__(self) -> None:
        for i in _duplicates(self.agencies):
            raise _invalid(f"agencies[{i}]", f"agency {self.agencies[i]} listed twice")
        if self.life_threatening and self.sla.arrive_s > NATIONAL_RESPONSE_TARGET_S:
            raise _invalid(
                "sla.arrive_s",
                f"{self.sla.arrive_s} s exceeds the national response target of "
                f"{NATIONAL_RESPONSE_TARGET_S} s for a life-threatening category",
            )


# --- [map] and [[districts]] -----------------------------------------------------


class Bounds(_Section, frozen=True, kw_only=True):
    south: Latitude
    west: Longitude
    north: Latitude
    east: Longitude

    def __post_init__(self) -> None:
        if not self.south < self.north:
            raise _invalid("south", f"{self.south} must be less than north ({self.north})")
        if not self.west < self.east:
            raise _invalid("west", f"{self.west} must be less than east ({self.east})")

    def contains(self, lat: float, lon: float) -> bool:
        return self.south <= lat <= self.north and self.west <= lon <= self.east


class LatLon(_Section, frozen=True, kw_only=True):
    lat: Latitude
    lon: Longitude


Zoom = Annotated[int, Meta(ge=0, le=22)]


class MapConfig(_Section, frozen=True, kw_only=True):
    bounds: Bounds = Bounds(south=-4.267, west=104.632, north=-2.391, east=106.221)
    center: LatLon = LatLon(lat=-3.364, lon=105.397)
    zoom: Zoom = 9
    min_zoom: Zoom = 7
    max_zoom: Zoom = 18
    #: Optional boundary file; without it the map works from district centroids.
    boundary_geojson: PathStr = ""
    #: Online tiles are an optional layer; the map must be useful without them.
    online_tiles: bool = False
    tile_url: Annotated[str, Meta(max_length=1000)] = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: ShortText = "© OpenStreetMap contributors"

    def __post_init__(self) -> None:
        if not self.bounds.contains(self.center.lat, self.center.lon):
            raise _invalid("center", "lies outside map.bounds")
        if self.min_zoom > self.max_zoom:
            raise _invalid("min_zoom", f"{self.min_zoom} exceeds max_zoom ({self.max_zoom})")
        if not self.min_zoom <= self.zoom <= self.max_zoom:
            span = f"{self.min_zoom}..{self.max_zoom}"
            raise _invalid("zoom", f"{self.zoom} is outside min_zoom..max_zoom ({span})")
        if not re.match(r"^https?://", self.tile_url) or not all(
            p in self.tile_url for p in ("{z}", "{x}", "{y}")
        ):
            raise _invalid("tile_url", "must be an http(s) URL containing {z}, {x} and {y}")


class DistrictConfig(_Section, frozen=True, kw_only=True):
    """A kecamatan with its Kemendagri code and centroid."""

    code: DistrictCode
    name: NonEmptyText
    lat: Latitude
    lon: Longitude


# --- [[screens]] -----------------------------------------------------------------


class ScreenConfig(_Section, frozen=True, kw_only=True):
    """One physical screen: found by Qt screen name, else by index."""

    name: ShortText = ""
    index: Annotated[int, Meta(ge=0, le=64)] = 0
    view: ScreenView
    interactive: bool = False
    #: Overrides display.viewing_distance_m for this screen (a desk console is
    #: read from under a metre, a wall from across the room).
    viewing_distance_m: Annotated[float, Meta(gt=0.0, le=50.0)] | None = None
    #: Overrides display.panel_diagonal_in for this screen.
    diagonal_in: Annotated[float, Meta(ge=10.0, le=400.0)] | None = None


def _default_screens() -> list[ScreenConfig]:
    return [
        ScreenConfig(index=0, view="map"),
        ScreenConfig(index=1, view="operations"),
        ScreenConfig(index=2, view="leader"),
        ScreenConfig(index=3, view="console", interactive=True, viewing_distance_m=0.8),
    ]


# --- [alerts] --------------------------------------------------------------------


#: Sounds the alert engine asks the sound layer for ("" = silent).
AlertTone = Literal["tone_high", "tone_medium", "tone_low", "tone_escalation", ""]
AlertVisual = Literal["flash", "steady"]
#: Placeholders an [alerts.texts] template may use (Indonesian and English
#: aliases); anything else is refused at start-up, not when the alarm sounds.
ALERT_TEXT_FIELDS = frozenset(
    {
        "category", "kategori", "priority", "prioritas", "desa", "kecamatan", "district", "km",
        "ticket", "tiket", "n", "jumlah", "message", "pesan", "stage", "tahap", "minutes", "menit",
        "unit", "situation", "situasi", "hazard", "bahaya",
    }
)  # fmt: skip


class AlertRule(_Section, frozen=True, kw_only=True):
    """When the wall raises an alert of its own (see commandcenter.wall.alerts)."""

    name: Annotated[str, Meta(pattern=r"^[a-z0-9_]{1,64}$")]
    when: AlertRuleWhen
    #: Incidents at or above this priority.
    min_priority: Priority = "low"
    #: Empty: any category. For ``situation`` rules: the hazards (category codes).
    categories: list[Code] = []
    #: For sla_breach: which targets; empty means any.
    stages: list[SlaStage] = []
    #: For sla_breach: breach after this many seconds from receipt instead of the
    #: category's own target ("not forwarded within N minutes").
    after_s: SlaSeconds | None = None
    #: Priority of the alert raised.
    priority: Priority = "medium"
    #: Override [alerts] repeat_s / escalate_after_s for this rule's alerts.
    repeat_s: Seconds | None = None
    escalate_after_s: Seconds | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.after_s is not None and self.when != "sla_breach":
            raise _invalid("after_s", 'only applies to rules with when = "sla_breach"')
        if self.stages and self.when != "sla_breach":
            raise _invalid("stages", 'only applies to rules with when = "sla_breach"')


class AlertPriorityAction(_Section, frozen=True, kw_only=True):
    """What an alert of one priority does on the wall."""

    tone: AlertTone = ""
    #: Speak the alert (text-to-speech) besides the tone.
    voice: bool = True
    visual: AlertVisual = "flash"
    #: Sound again every repeat_s until acknowledged.
    repeat: bool = True
    #: Escalate after escalate_after_s unacknowledged.
    escalate: bool = True


class AlertPriorityActions(_Section, frozen=True, kw_only=True):
    high: AlertPriorityAction = AlertPriorityAction(tone="tone_high")
    medium: AlertPriorityAction = AlertPriorityAction(tone="tone_medium")
    low: AlertPriorityAction = AlertPriorityAction(
        tone="tone_low", voice=False, visual="steady", repeat=False, escalate=False
    )

    def of(self, priority: str) -> AlertPriorityAction:
        return self.low if priority == "low" else self.medium if priority == "medium" else self.high


AlertText = Annotated[str, Meta(min_length=1, max_length=300)]


class AlertTexts(_Section, frozen=True, kw_only=True):
    """Alert texts of one language that [speech] does not cover (its incident,
    reminder, group and escalation templates are used for those). A
    comma-separated part whose placeholders are all empty is left out."""

    sla_breach: AlertText = "{kategori}, {tahap} dalam {menit} menit, Desa {desa}, Kecamatan {kecamatan}"
    unit_emergency: AlertText = "Darurat! Unit {unit} minta bantuan, Desa {desa}, Kecamatan {kecamatan}"
    situation: AlertText = "Situasi bencana ditetapkan: {situasi}, Kecamatan {kecamatan}"
    #: During a flood, escalations are announced together.
    escalation_group: AlertText = "{n} peringatan belum dikonfirmasi"
    #: During a flood, service-level breaches are announced per category and kecamatan.
    group_sla: AlertText = "{n} laporan {kategori} melewati batas waktu di Kecamatan {kecamatan}"
    stage_verify: AlertText = "belum diverifikasi"
    stage_forward: AlertText = "belum diteruskan"
    stage_dispatch: AlertText = "belum ada unit dikirim"
    stage_arrive: AlertText = "unit belum tiba"

    def __post_init__(self) -> None:
        import string

        for field in msgspec.structs.fields(self):
            text = getattr(self, field.name)
            try:
                parts = list(string.Formatter().parse(text))
            except ValueError as exc:
                raise _invalid(field.name, f"bad template ({exc})") from None
            for _, name, spec, conversion in parts:
                if name is None:
                    continue
                if name not in ALERT_TEXT_FIELDS:
                    known = ", ".join(sorted(ALERT_TEXT_FIELDS))
                    raise _invalid(field.name, f"unknown placeholder {{{name}}} (known: {known})")
                if spec or conversion:
                    raise _invalid(field.name, f"placeholder {{{name}}} must carry no format or conversion")

    def stage_words(self, stage: str) -> str:
        return {
            "verify": self.stage_verify,
            "forward": self.stage_forward,
            "dispatch": self.stage_dispatch,
        }.get(stage, self.stage_arrive)


_ALERT_TEXTS_EN = AlertTexts(
    sla_breach="{category}, {stage} within {minutes} minutes, {desa} village, {kecamatan} district",
    unit_emergency="Emergency! Unit {unit} needs help, {desa} village, {kecamatan} district",
    situation="Disaster situation declared: {situation}, {kecamatan} district",
    escalation_group="{n} alerts still unconfirmed",
    group_sla="{n} {category} reports overdue in {kecamatan} district",
    stage_verify="not verified",
    stage_forward="not forwarded",
    stage_dispatch="no unit dispatched",
    stage_arrive="no unit on scene",
)


class AlertTextLanguages(_Section, frozen=True, kw_only=True):
    """Per display language (display.language picks one)."""

    id: AlertTexts = AlertTexts()
    en: AlertTexts = _ALERT_TEXTS_EN

    def for_language(self, lang: str) -> AlertTexts:
        return self.en if lang == "en" else self.id


class AlertsConfig(_Section, frozen=True, kw_only=True):
    #: Alarm flood (EEMUA 191): more than this many alerts within flood_window_s ...
    flood_threshold: Annotated[int, Meta(ge=1, le=10_000)] = 10
    flood_window_s: Seconds = 600.0
    #: ... and it ends below this many within the window.
    flood_end_threshold: Annotated[int, Meta(ge=0, le=10_000)] = 5
    #: During a flood, one grouped announcement per (category, kecamatan) at most this often.
    flood_announce_s: Seconds = 60.0
    repeat_s: Seconds = 60.0
    escalate_after_s: Seconds = 180.0
    escalation_tone: AlertTone = "tone_escalation"
    #: acknowledged_recent() lists acknowledgements of this long ago.
    recent_ack_s: Seconds = 3600.0
    priorities: AlertPriorityActions = AlertPriorityActions()
    texts: AlertTextLanguages = AlertTextLanguages()
    rules: list[AlertRule] = []

    def __post_init__(self) -> None:
        if self.flood_end_threshold >= self.flood_threshold:
            raise _invalid("flood_end_threshold", "must be less than flood_threshold")
        for i in _duplicates(r.name for r in self.rules):
            raise _invalid(f"rules[{i}].name", f"duplicate rule name {self.rules[i].name!r}")


# --- [journal] and [logging] -------------------------------------------------------


class JournalConfig(_Section, frozen=True, kw_only=True):
    #: Empty: wall-journal.sqlite3 in the platform's user data directory (where the wall puts it).
    path: PathStr = ""
    retention_days: Annotated[int, Meta(ge=1, le=36_500)] = 90
    max_mb: Annotated[int, Meta(ge=16, le=10_000_000)] = 2048
    snapshot_every_events: Annotated[int, Meta(ge=1, le=100_000_000)] = 5000
    snapshot_interval_s: Seconds = 300.0
    audit_retention_days: Annotated[int, Meta(ge=1, le=36_500)] = 730

    def resolved_path(self) -> Path:
        if self.path:
            return Path(self.path)
        return platformdirs.user_data_path(APP_NAME, appauthor=False) / "wall-journal.sqlite3"


class LoggingConfig(_Section, frozen=True, kw_only=True):
    level: LogLevel = "INFO"
    #: Empty: the platform's user log directory.
    dir: PathStr = ""

    def resolved_dir(self) -> Path:
        if self.dir:
            return Path(self.dir)
        return platformdirs.user_log_path(APP_NAME, appauthor=False)


class WatchdogConfig(_Section, frozen=True, kw_only=True):
    """Self-supervision of a wall that runs for months unattended."""

    enabled: bool = True
    #: The GUI thread not answering for this long means the wall is frozen:
    #: log why (with every thread's stack) and restart cleanly.
    stall_limit_s: Annotated[float, Meta(ge=2.0, le=600.0)] = 30.0
    #: GUI-thread stalls longer than this are logged and counted.
    stall_warn_ms: Annotated[float, Meta(ge=20.0, le=10_000.0)] = 200.0
    #: Resident memory of the whole process tree (the wall plus its
    #: QtWebEngine renderers); above it the wall restarts cleanly. 0 = off.
    memory_limit_mb: Annotated[int, Meta(ge=0, le=1_000_000)] = 3072
    check_interval_s: Annotated[float, Meta(ge=0.5, le=300.0)] = 5.0
    #: Restarts closer together than this back off (doubling up to 5 minutes).
    min_restart_interval_s: Annotated[float, Meta(ge=0.0, le=3600.0)] = 60.0
    #: The map's Chromium renderer grows slowly however tidy the page is
    #: (measured: +180 MB/h at 48x simulated speed; a reload in the same process
    #: frees nothing). When its RSS passes its own settled size by this much, the
    #: map moves to a fresh renderer process (a blank map for under a second).
    #: 0 = never.
    map_renderer_growth_pct: Annotated[float, Meta(ge=0.0, le=1000.0)] = 15.0
    #: The settled size is measured this long after a page load (warm-up).
    map_renderer_warmup_s: Annotated[float, Meta(ge=0.0, le=86_400.0)] = 300.0
    #: Never recycle more often than this.
    map_renderer_min_interval_s: Annotated[float, Meta(ge=0.0, le=604_800.0)] = 1800.0


# --- [speech]: spoken announcements ------------------------------------------------

#: Placeholders a speech template may use. Indonesian and English names are
#: aliases of each other (commandcenter.wall.speech.render fills either from both).
SPEECH_FIELDS: frozenset[str] = frozenset(
    {
        "category", "kategori", "priority", "prioritas", "desa", "kecamatan", "district",
        "n", "jumlah", "message", "pesan", "agency", "instansi", "km", "ticket", "tiket",
    }
)  # fmt: skip
SpeechTemplate = Annotated[str, Meta(min_length=1, max_length=300)]
#: Checked in SpeechLanguageConfig.__post_init__ rather than by type: msgspec
#: reports a bad dict value at "pronunciation[...]", without naming the key.
PronunciationTable = dict[str, Any]
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: How people in the control room say acronyms and names; espeak's Indonesian
#: voice reads "BPBD" as one word and "OKI" as "oki". Letters are spelled the
#: Indonesian way (A=a, B=be, D=de, H=ha, K=ka, L=el, N=en, P=pe, ...).
DEFAULT_PRONUNCIATION_ID: dict[str, str] = {
    "BPBD": "Be Pe Be De",
    "DPPPA": "De Pe Pe Pe A",
    "BNN": "Be En En",
    "DLH": "De El Ha",
    "OKI": "O Ka I",
    "OPD": "O Pe De",
    "BMKG": "Be Em Ka Ge",
    "PP": "Pe Pe",
    "KM": "kilometer",
    "Damkar": "Dam kar",
    "Dinkes": "Dinas Kesehatan",
    "Dishub": "Dinas Perhubungan",
    "Dinsos": "Dinas Sosial",
    "Kayuagung": "Kayu Agung",
    # "Air" is two syllables in Indonesian (a-ir, water); espeak makes it one.
    "Air Sugihan": "A-ir Sugihan",
    "112": "satu satu dua",
}
#: The English voice spells capital acronyms by itself; it needs the names.
DEFAULT_PRONUNCIATION_EN: dict[str, str] = {
    "OKI": "O K I",
    "KM": "kilometre",
    "Damkar": "Dam kar",
    "Dinkes": "Din kes",
    "Kayuagung": "Kah-yoo Ah-goong",
    "Kayu Agung": "Kah-yoo Ah-goong",
    "Air Sugihan": "Ah-eer Soo-gee-han",
    "112": "one one two",
}


class SpeechLanguageConfig(_Section, frozen=True, kw_only=True):
    """Voice, templates and pronunciation list of one announcement language."""

    #: espeak-ng voice: a language ("id"), a voice file ("poz/id") or a name.
    voice: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_./+\-]{1,64}$")]
    incident: SpeechTemplate
    reminder: SpeechTemplate
    group: SpeechTemplate
    escalation: SpeechTemplate
    #: Written form -> spoken form, whole words; all-capital keys (acronyms)
    #: match case-sensitively, the others ignoring case.
    pronunciation: PronunciationTable = {}

    def __post_init__(self) -> None:
        import string

        for name in ("incident", "reminder", "group", "escalation"):
            template = getattr(self, name)
            try:
                parts = list(string.Formatter().parse(template))
            except ValueError as exc:
                raise _invalid(name, f"bad template {template!r}: {exc}") from None
            for _, field, spec, conversion in parts:
                if field is None:
                    continue
                if field not in SPEECH_FIELDS:
                    known = ", ".join(sorted(SPEECH_FIELDS))
                    raise _invalid(name, f"unknown placeholder {{{field}}} (known: {known})")
                if spec or conversion:
                    raise _invalid(name, f"placeholder {{{field}}} must not carry a format or conversion")
        for written, spoken in self.pronunciation.items():
            # A key the loader can show as a path names the entry; others go in the reason.
            simple = bool(_SIMPLE_KEY.match(written))
            key = f"pronunciation.{written}" if simple else "pronunciation"
            where = "" if simple else f"entry {written!r}: "
            if not written.strip() or len(written) > 100:
                raise _invalid("pronunciation", f"{where}written form must be 1 to 100 characters")
            if not isinstance(spoken, str):
                raise _invalid(key, f"{where}spoken form must be text, got {type(spoken).__name__}")
            if not spoken.strip() or len(spoken) > 200:
                raise _invalid(key, f"{where}spoken form must be 1 to 200 characters")


def _default_speech_id() -> SpeechLanguageConfig:
    return SpeechLanguageConfig(
        voice="id",
        incident="{kategori}, prioritas {prioritas}, Desa {desa}, Kecamatan {kecamatan}",
        reminder="Peringatan belum dikonfirmasi: {pesan}",
        group="{n} laporan {kategori} baru di Kecamatan {kecamatan}",
        escalation="Eskalasi: {pesan}",
        pronunciation=dict(DEFAULT_PRONUNCIATION_ID),
    )


def _default_speech_en() -> SpeechLanguageConfig:
    return SpeechLanguageConfig(
        voice="en",
        incident="{category}, {priority} priority, {desa} village, {kecamatan} district",
        reminder="Still unacknowledged: {message}",
        group="{n} new {category} reports in {kecamatan} district",
        escalation="Escalated: {message}",
        pronunciation=dict(DEFAULT_PRONUNCIATION_EN),
    )


class SpeechConfig(_Section, frozen=True, kw_only=True):
    enabled: bool = True
    #: Empty: the language of display.language.
    language: Literal["", "id", "en"] = ""
    #: Words per minute; espeak's default is 175, a control room wants it slower.
    rate_wpm: Annotated[int, Meta(ge=80, le=400)] = 150
    volume: Annotated[float, Meta(ge=0.0, le=1.0)] = 1.0
    #: Command playing a WAV, "{file}" standing for it; empty: the first of
    #: paplay, pw-play, aplay, play (sox) found.
    player: list[Annotated[str, Meta(min_length=1, max_length=4096)]] = []
    #: Announcements waiting at most; beyond, the lowest-priority newest is dropped.
    max_queue: Annotated[int, Meta(ge=1, le=1000)] = 20
    #: An announcement still waiting after this long is dropped, not spoken late.
    max_age_s: Seconds = 120.0
    id: SpeechLanguageConfig = msgspec.field(default_factory=_default_speech_id)
    en: SpeechLanguageConfig = msgspec.field(default_factory=_default_speech_en)

    def __post_init__(self) -> None:
        if self.player and not any("{file}" in arg for arg in self.player):
            raise _invalid("player", 'must contain "{file}" where the WAV path goes')

    def for_language(self, lang: str) -> SpeechLanguageConfig:
        return self.en if lang == "en" else self.id


# --- the whole configuration -----------------------------------------------------


class ConfigIndex:
    """Lookup tables built once per Config."""

    def __init__(self, cfg: Config) -> None:
        self.agencies: dict[str, AgencyConfig] = {a.code: a for a in cfg.agencies}
        self.categories: dict[str, CategoryConfig] = {c.code: c for c in cfg.categories}
        self.districts: dict[str, DistrictConfig] = {d.code: d for d in cfg.districts}
        self.districts_by_name: dict[str, DistrictConfig] = {_name_key(d.name): d for d in cfg.districts}


# dict=True gives the instance a __dict__ so the index can be cached on a frozen
# Struct; it is not a field, so it is never encoded or compared. Building a
# Config directly also validates it (ConfigError with file "<config>").
class Config(_Section, frozen=True, kw_only=True, dict=True):
    config_version: Annotated[int, Meta(ge=1, le=CONFIG_VERSION)] = CONFIG_VERSION
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    serve: ServeConfig = msgspec.field(default_factory=ServeConfig)
    display: DisplayConfig = msgspec.field(default_factory=DisplayConfig)
    agencies: list[AgencyConfig]
    categories: list[CategoryConfig]
    map: MapConfig = msgspec.field(default_factory=MapConfig)
    districts: list[DistrictConfig] = []
    screens: list[ScreenConfig] = msgspec.field(default_factory=_default_screens)
    alerts: AlertsConfig = msgspec.field(default_factory=AlertsConfig)
    journal: JournalConfig = msgspec.field(default_factory=JournalConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    watchdog: WatchdogConfig = msgspec.field(default_factory=WatchdogConfig)
    speech: SpeechConfig = msgspec.field(default_factory=SpeechConfig)

    def __post_init__(self) -> None:
        # Cross-section rules. ConfigError (not ValueError) passes through
        # msgspec untouched, keeping the exact key path.
        _check_cross_fields(self)

    @functools.cached_property
    def index(self) -> ConfigIndex:
        return ConfigIndex(self)

    def category(self, code: str) -> CategoryConfig | None:
        return self.index.categories.get(code)

    def agency(self, code: str) -> AgencyConfig | None:
        return self.index.agencies.get(code)

    def district(self, code: str) -> DistrictConfig | None:
        return self.index.districts.get(code)

    def district_by_name(self, name: str) -> DistrictConfig | None:
        """Case and spacing do not matter ("kayuagung" finds "Kayu Agung")."""
        return self.index.districts_by_name.get(_name_key(name))


def _check_cross_fields(cfg: Config) -> None:
    def fail(key: str, reason: str, related: Iterable[str] = ()) -> ConfigError:
        return ConfigError("<config>", key, reason, related=related)

    if not cfg.agencies:
        raise fail("agencies", "at least one agency is required")
    for i in _duplicates(a.code for a in cfg.agencies):
        raise fail(f"agencies[{i}].code", f"duplicate agency code {cfg.agencies[i].code}")
    if not cfg.categories:
        raise fail("categories", "at least one category is required")
    for i in _duplicates(c.code for c in cfg.categories):
        raise fail(f"categories[{i}].code", f"duplicate category code {cfg.categories[i].code}")
    agency_codes = {a.code for a in cfg.agencies}
    for i, cat in enumerate(cfg.categories):
        for j, code in enumerate(cat.agencies):
            if code not in agency_codes:
                raise fail(
                    f"categories[{i}].agencies[{j}]",
                    f"unknown agency {code} (configured: {', '.join(sorted(agency_codes))})",
                    related=["agencies"],
                )
    for i in _duplicates(d.code for d in cfg.districts):
        raise fail(f"districts[{i}].code", f"duplicate district code {cfg.districts[i].code}")
    for i in _duplicates(_name_key(d.name) for d in cfg.districts):
        raise fail(f"districts[{i}].name", f"duplicate district name {cfg.districts[i].name!r}")
    b = cfg.map.bounds
    for i, d in enumerate(cfg.districts):
        if not b.contains(d.lat, d.lon):
            raise fail(
                f"districts[{i}]",
                f"centroid of {d.name} ({d.lat}, {d.lon}) lies outside map.bounds",
                related=["map.bounds"],
            )
    if not cfg.screens:
        raise fail("screens", "at least one screen is required")
    # A named screen is found by name; an unnamed one by index: two entries
    # finding the same screen would fight over it.
    for i in _duplicates(f"name:{s.name}" if s.name else f"index:{s.index}" for s in cfg.screens):
        field = "name" if cfg.screens[i].name else "index"
        raise fail(f"screens[{i}].{field}", "another screen entry already uses this screen")
    category_codes = {c.code for c in cfg.categories}
    for i, rule in enumerate(cfg.alerts.rules):
        for j, code in enumerate(rule.categories):
            if code not in category_codes:
                key = f"alerts.rules[{i}].categories[{j}]"
                raise fail(key, f"unknown category {code}", related=["categories"])
