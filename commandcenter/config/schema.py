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

import argparse
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

from commandcenter.core.i18n import strings_for
from commandcenter.core.model import Agency as AgencyModel
from commandcenter.core.model import AgencyCode, Code, Latitude, Longitude, Priority, ShortText
from commandcenter.core.protocol import MAX_FRAME_BYTES, Role

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
    ("map", "regency_geojson"),
    ("map", "boundary_geojson"),
    ("map", "village_geojson"),
    ("map", "tile_pack"),
    ("serve", "tls_cert"),
    ("serve", "tls_key"),
    ("journal", "path"),
    ("province", "journal_dir"),
    ("province", "geojson"),
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


# --- one source for every default -----------------------------------------------
# Every key carries its type, bounds and default in its annotation and a one-line
# description through doc() (or data()). commandcenter.config.docgen writes
# docs/configuration.md from them and checks config/default.toml against them, so
# a default lives here and nowhere else; other modules read it with default_of().


def doc(description: str) -> Meta:
    """A key's one-line description, shown in docs/configuration.md."""
    return Meta(description=description)


def data(description: str) -> Meta:
    """Like :func:`doc` for an array whose entries are data kept in default.toml
    (agencies, districts, rules ...): its content is not compared with the schema."""
    return Meta(description=description, extra={"data": True})


def default_of(section: type[Struct], key: str) -> Any:
    """The schema's default of ``key`` in a table class (``default_of(ServerConfig,
    "heartbeat_timeout_s")``), for code that must not repeat the number."""
    for field in msgspec.structs.fields(section):
        if field.name != key:
            continue
        if field.default is not msgspec.NODEFAULT:
            return field.default
        if field.default_factory is not msgspec.NODEFAULT:
            return field.default_factory()
        raise KeyError(f"{section.__name__}.{key} has no default")
    raise KeyError(f"{section.__name__} has no key {key!r}")


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
    url: Annotated[
        str,
        doc("Websocket URL of the dispatch server (ws:// or wss://); COMMANDCENTER_SERVER_URL overrides it."),
    ] = "ws://127.0.0.1:8112/"
    servers: Annotated[
        list[str],
        Meta(max_length=16),
        doc("More gateways of the same event log to fail over to (ws:// or wss://): when the server "
            "in use dies or falls silent the wall moves to the next of url and these, round-robin, "
            "and resumes where its journal stopped; empty: url alone. --server A,B overrides both."),
    ] = []
    token: Annotated[
        str,
        Meta(max_length=256),
        doc("The wall's token at the dispatch server; better set through the COMMANDCENTER_TOKEN variable."),
    ] = ""
    client_id: Annotated[
        ClientId, doc("Name of this wall at the server; empty: derived from the host name.")
    ] = ""
    heartbeat_timeout_s: Annotated[
        Seconds, doc("Silence from the server longer than this marks the feed stale and reconnects.")
    ] = 10.0
    reconnect_min_s: Annotated[
        Seconds, doc("Reconnect backoff (exponential with full jitter) starts at this ...")
    ] = 0.5
    reconnect_max_s: Annotated[Seconds, doc("... and grows up to this.")] = 30.0
    stable_after_s: Annotated[
        Seconds, doc("The backoff resets only after the link has been up this long.")
    ] = 30.0
    reconnect_refused_fast_s: Annotated[
        float,
        Meta(ge=0.0, le=3600.0),
        doc("While a server refuses connections (nothing listens: a restart in progress) tries stay "
            "within reconnect_min_s for this long before the backoff grows: a refused try costs "
            "the server nothing, and the wall is live again right after the restart; 0 = off."),
    ] = 15.0

    def __post_init__(self) -> None:
        reason = _websocket_url_problem(self.url)
        if reason:
            raise _invalid("url", reason)
        for i, url in enumerate(self.servers):
            reason = _websocket_url_problem(url)
            if reason:
                raise _invalid(f"servers[{i}]", reason)
        if self.reconnect_min_s > self.reconnect_max_s:
            raise _invalid("reconnect_min_s", "must not exceed reconnect_max_s")

    def effective_client_id(self) -> str:
        return self.client_id or default_client_id()

    def server_urls(self) -> list[str]:
        """url, then the gateways of servers not already named (the fail-over order)."""
        return list(dict.fromkeys([self.url, *self.servers]))


def default_client_id() -> str:
    """The client id of a wall that sets none: its host name, made a valid id."""
    host = re.sub(r"[^A-Za-z0-9_.:\-]", "-", socket.gethostname())[:64]
    return host or "wall"


def server_argument(text: str) -> str:
    """The argparse type of a --server value: one ws:// or wss:// URL, or several
    comma-separated. A URL that can never work is a bad argument (exit 2 at once),
    not a server that is away (a feed would retry it forever)."""
    urls = [u.strip() for u in text.split(",") if u.strip()]
    if not urls:
        raise argparse.ArgumentTypeError(f"no server URL in {text!r}")
    for url in urls:
        problem = _websocket_url_problem(url)
        if problem:
            raise argparse.ArgumentTypeError(problem)
    return text


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
    token: Annotated[
        str, Meta(min_length=1, max_length=256), doc("Secret token a client presents in its hello.")
    ]
    role: Annotated[
        Role,
        doc("What it may do: wall (read only), console (acknowledge, shelve, mute), admin (also inject)."),
    ]
    name: Annotated[ShortText, doc("Who holds the token; named in the server's log and the audit trail.")] = (
        ""
    )


class NatsLogConfig(_Section, frozen=True, kw_only=True):
    """The event log on NATS JetStream (serve --log nats://HOST:PORT)."""

    stream: Annotated[
        str,
        Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$"),
        doc("JetStream stream that holds the event log; every gateway of one center names the same."),
    ] = "OKI112_EVENTS"
    subject: Annotated[
        str,
        Meta(pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"),
        doc("Subject the events are published on (the stream's only subject)."),
    ] = "oki112.events"
    max_age_days: Annotated[
        float,
        Meta(ge=0.0, le=36_500.0),
        doc("Events older than this many days leave the stream; 0 keeps them for good."),
    ] = 0.0
    max_bytes: Annotated[
        int,
        Meta(ge=-1, le=2**62),
        doc("Largest size of the stream in bytes (oldest events go first); -1: no limit."),
    ] = -1
    replicas: Annotated[
        int,
        Meta(ge=1, le=5),
        doc("Copies of the stream in a JetStream cluster (3 on a three-node cluster; 1 on one server)."),
    ] = 1
    duplicate_window_s: Annotated[
        Seconds,
        doc("JetStream's deduplication window: a command id seen within it is never stored twice."),
    ] = 600.0
    stale_after_s: Annotated[
        Seconds,
        doc("A gateway that has lost NATS this long closes its walls (1013) until NATS is back."),
    ] = 3.0
    snapshot_every_events: Annotated[
        int,
        Meta(ge=10, le=10_000_000),
        doc("A gateway stores the state in the object store bucket <stream>_SNAP when the last "
            "snapshot is this many events old; a gateway starts from it instead of the stream's start."),
    ] = 5000


class ServeConfig(_Section, frozen=True, kw_only=True):
    host: Annotated[
        str, Meta(min_length=1, max_length=255), doc("Address the reference server listens on.")
    ] = "127.0.0.1"
    port: Annotated[
        int,
        Meta(ge=0, le=65535),
        doc("Port the reference server listens on; 0 lets the system pick a free one (tests)."),
    ] = 8112
    heartbeat_interval_s: Annotated[Seconds, doc("Seconds between two heartbeats to every client.")] = 2.0
    max_frame_bytes: Annotated[
        int,
        Meta(ge=1024, le=64 * 1024 * 1024),
        doc("Largest websocket frame accepted; a bigger one closes the connection."),
    ] = MAX_FRAME_BYTES
    send_queue_limit: Annotated[
        int, Meta(ge=1, le=10_000_000), doc("Frames queued for one slow client before it is disconnected.")
    ] = 10_000
    client_rate_per_s: Annotated[
        float, Meta(gt=0.0, le=100_000.0), doc("Messages a second one client may send (token bucket) ...")
    ] = 20.0
    client_burst: Annotated[int, Meta(ge=1, le=1_000_000), doc("... with bursts up to this many.")] = 40
    tls_cert: Annotated[
        PathStr, doc("TLS certificate (PEM) for wss://; set both tls_cert and tls_key or neither.")
    ] = ""
    tls_key: Annotated[PathStr, doc("TLS private key (PEM) belonging to tls_cert.")] = ""
    history_limit_events: Annotated[
        int,
        Meta(ge=1, le=1_000_000_000),
        doc("Replay window: a client further behind than this gets a snapshot instead."),
    ] = 1_000_000
    max_shelve_minutes: Annotated[
        int, Meta(ge=1, le=7 * 24 * 60), doc("Longest shelve the server grants, in minutes.")
    ] = 480
    max_mute_minutes: Annotated[
        int, Meta(ge=1, le=7 * 24 * 60), doc("Longest mute of a console the server grants, in minutes.")
    ] = 60
    max_connections: Annotated[
        int,
        Meta(ge=1, le=1_000_000),
        doc("Open connections at most; more are refused (close code 1013) and logged once a minute."),
    ] = 500
    prune_closed_after_s: Annotated[
        Seconds,
        doc(
            "Closed incidents leave the server's state (and the snapshots walls get) this long after "
            "they ended, in the server's clock (simulated time with the simulator at a --speed)."
        ),
    ] = 21600.0
    housekeeping_interval_s: Annotated[
        Seconds,
        doc(
            "How often the server prunes its state, in the same clock; its SQLite log is snapshotted "
            "and pruned every this many real seconds."
        ),
    ] = 600.0
    allow_demo_tokens: Annotated[
        bool,
        doc("Serve the shipped, public demo-* tokens on an address other than loopback (demos only)."),
    ] = False
    tokens: Annotated[
        list[ServeToken],
        data("Tokens the server accepts; the shipped demo-* tokens are public and for demos only."),
    ] = []
    nats: Annotated[
        NatsLogConfig, doc("The event log on NATS JetStream, for serve --log nats://HOST:PORT.")
    ] = msgspec.field(default_factory=NatsLogConfig)

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

    enabled: Annotated[bool, doc("Shift static content slowly against panel burn-in.")] = True
    shift_px: Annotated[
        int, Meta(ge=0, le=32), doc("Largest offset from the home position, in pixels, each axis.")
    ] = 4
    step_interval_s: Annotated[
        float,
        Meta(ge=1.0, le=3600.0),
        doc("Seconds between two one-pixel steps; a full cycle takes many minutes."),
    ] = 60.0


ClockTime = Annotated[str, Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class NightDimmingConfig(_Section, frozen=True, kw_only=True):
    """Optional dimming of every screen at night (WIB, may cross midnight)."""

    enabled: Annotated[
        bool, doc("Dim every screen at night; the alert and stale banners stay at full brightness.")
    ] = False
    start: Annotated[
        ClockTime, doc("Start of the night, WIB (HH:MM); may be later than end (crossing midnight).")
    ] = "22:00"
    end: Annotated[ClockTime, doc("End of the night, WIB (HH:MM).")] = "06:00"
    level: Annotated[
        float,
        Meta(ge=0.2, le=1.0),
        doc("Brightness kept at night: 1.0 = no dimming, 0.5 = half. Never below the level at which "
            "text keeps 7:1 against its background (0.96 with the dark palette), which wins."),
    ] = 0.7


class DisplayConfig(_Section, frozen=True, kw_only=True):
    language: Annotated[
        Literal["id", "en"], doc("Language of the screens: id (Bahasa Indonesia) or en (English).")
    ] = "id"
    viewing_distance_m: Annotated[
        float,
        Meta(gt=0.0, le=50.0),
        doc("Farthest viewer distance; wall text is sized from it (text height >= distance / 150)."),
    ] = 6.0
    theme: Annotated[Literal["dark"], doc("Only dark: the room is staffed 24 hours.")] = "dark"
    layout: Annotated[
        Annotated[str, Meta(min_length=1, max_length=512)],
        doc("Room layout: a shipped preset (four-panels, videowall-2x2, single-4k, laptop; "
            "config/layouts.toml) or a layout file (.toml, relative to this file). With the default, "
            "a [[screens]] list other than the shipped one is used instead."),
    ] = "four-panels"
    timezone: Annotated[Literal["WIB"], doc("Times are shown in WIB, fixed UTC+7 (no daylight saving).")] = (
        "WIB"
    )
    operators: Annotated[
        list[NonEmptyText], doc("Operator names offered when acknowledging on the console.")
    ] = msgspec.field(default_factory=lambda: ["Sari", "Budi", "Rina", "Andi"])
    console_name: Annotated[
        ShortText, doc("Name of this console in acknowledgements and mutes; empty: the client id.")
    ] = ""
    panel_diagonal_in: Annotated[
        float,
        Meta(ge=10.0, le=400.0),
        doc("Panel diagonal (inches) for a screen reporting no believable physical size (projectors, TVs)."),
    ] = 55.0
    burn_in: Annotated[
        BurnInConfig, doc("Slow shift of every screen's static content against panel burn-in.")
    ] = msgspec.field(default_factory=BurnInConfig)
    night: Annotated[NightDimmingConfig, doc("Optional dimming of every screen at night.")] = msgspec.field(
        default_factory=NightDimmingConfig
    )

    def __post_init__(self) -> None:
        for i in _duplicates(_name_key(n) for n in self.operators):
            raise _invalid(f"operators[{i}]", f"duplicate operator {self.operators[i]!r}")


# --- [[agencies]] and [[categories]] ---------------------------------------------


class AgencyConfig(_Section, frozen=True, kw_only=True):
    code: Annotated[AgencyCode, doc("Agency code (OPD) used by the feed and the categories, e.g. BPBD.")]
    name: Annotated[NonEmptyText, doc("Full Indonesian name.")]
    name_en: Annotated[ShortText, doc("English name.")] = ""
    short: Annotated[ShortText, doc("Short name for tight spaces on the wall.")] = ""
    color: Annotated[Color, doc("Colour on the wall (#rrggbb); red is kept for alarms.")]

    def to_model(self) -> AgencyModel:
        return AgencyModel(code=self.code, name=self.name, name_en=self.name_en, short=self.short)


class Sla(_Section, frozen=True, kw_only=True):
    """Service-level targets, in seconds from receipt of the report."""

    verify_s: Annotated[SlaSeconds, doc("Seconds from receipt until the report is verified.")]
    forward_s: Annotated[SlaSeconds, doc("Seconds from receipt until it is forwarded to the agency.")]
    dispatch_s: Annotated[SlaSeconds, doc("Seconds from receipt until a unit is dispatched.")]
    arrive_s: Annotated[SlaSeconds, doc("Seconds from receipt until a unit is on scene.")]

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
    code: Annotated[Code, doc("Category code used by the feed, e.g. kebakaran.")]
    name_id: Annotated[NonEmptyText, doc("Indonesian name.")]
    name_en: Annotated[NonEmptyText, doc("English name.")]
    short_id: Annotated[ShortText, doc("Short Indonesian name for the wall's queue (empty: the name).")] = ""
    short_en: Annotated[ShortText, doc("Short English name for the wall's queue (empty: the name).")] = ""
    agencies: Annotated[
        list[AgencyCode], Meta(min_length=1), doc("Agencies the category is forwarded to, lead agency first.")
    ]
    default_priority: Annotated[Priority, doc("Priority of a report before the dispatcher sets one.")]
    cap_category: Annotated[CapCategory, doc("CAP (Common Alerting Protocol) category for exports.")]
    marker_shape: Annotated[
        MarkerShape, doc("Map marker shape: the map shows category by shape as well as colour.")
    ]
    life_threatening: Annotated[
        bool, doc("Lives at stake: arrive_s must meet the national 15-minute response target.")
    ] = False
    sla: Annotated[Sla, doc("Service-level targets counted from receipt of the report.")]

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
    south: Annotated[Latitude, doc("Southern edge (latitude).")]
    west: Annotated[Longitude, doc("Western edge (longitude).")]
    north: Annotated[Latitude, doc("Northern edge (latitude).")]
    east: Annotated[Longitude, doc("Eastern edge (longitude).")]

    def __post_init__(self) -> None:
        if not self.south < self.north:
            raise _invalid("south", f"{self.south} must be less than north ({self.north})")
        if not self.west < self.east:
            raise _invalid("west", f"{self.west} must be less than east ({self.east})")

    def contains(self, lat: float, lon: float) -> bool:
        return self.south <= lat <= self.north and self.west <= lon <= self.east


class LatLon(_Section, frozen=True, kw_only=True):
    lat: Annotated[Latitude, doc("Latitude.")]
    lon: Annotated[Longitude, doc("Longitude.")]


Zoom = Annotated[int, Meta(ge=0, le=22)]


class MapConfig(_Section, frozen=True, kw_only=True):
    bounds: Annotated[Bounds, doc("The regency's bounding box; district centroids must lie inside.")] = (
        Bounds(south=-4.267, west=104.632, north=-2.391, east=106.221)
    )
    center: Annotated[LatLon, doc("Where the map opens.")] = LatLon(lat=-3.364, lon=105.397)
    zoom: Annotated[Zoom, doc("Zoom level the map opens at.")] = 9
    min_zoom: Annotated[Zoom, doc("Farthest zoom out.")] = 7
    max_zoom: Annotated[Zoom, doc("Closest zoom in.")] = 18
    regency_geojson: Annotated[
        PathStr, doc("Regency outline (GeoJSON): builtin:NAME is a file the program ships, '' none.")
    ] = "builtin:oki-kabupaten.geojson"
    boundary_geojson: Annotated[
        PathStr, doc("District boundaries (GeoJSON); '' = none: the map works from district centroids.")
    ] = "builtin:oki-kecamatan.geojson"
    village_geojson: Annotated[
        PathStr, doc("Village boundaries (GeoJSON) with kecamatan_kode; names incidents' villages.")
    ] = "builtin:oki-desa.geojson"
    tile_pack: Annotated[
        PathStr, doc("Offline base map: an .mbtiles or .pmtiles file of raster tiles; '' = none.")
    ] = ""
    online_tiles: Annotated[
        bool,
        doc("Add the online tile layer; the map stays useful without it and then makes no network request."),
    ] = False
    tile_url: Annotated[
        str, Meta(max_length=1000), doc("Online tile URL template with {z}, {x} and {y}.")
    ] = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: Annotated[ShortText, doc("Attribution shown with the online tiles.")] = (
        "© OpenStreetMap contributors"
    )
    tile_cache_mb: Annotated[
        int, Meta(ge=1, le=100_000),
        doc("Disk cache of online tiles (the program fetches them, the page never goes online); size cap."),
    ] = 256
    hazard_layers: Annotated[
        list[Literal["warning", "quake", "hotspot", "report"]], Meta(max_length=4),
        doc("Context layers drawn when the map starts: BMKG warnings (polygons by severity with their "
            "validity), BMKG quakes (epicentre, felt-radius ring, magnitude), FIRMS hotspots, PetaBencana "
            "flood reports. The others start switched off; the map's legend switches any of them."),
    ] = msgspec.field(default_factory=lambda: ["warning", "quake", "hotspot", "report"])

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

    code: Annotated[DistrictCode, doc("Kemendagri code of the kecamatan, e.g. 16.02.05.")]
    name: Annotated[NonEmptyText, doc("Name of the kecamatan.")]
    lat: Annotated[Latitude, doc("Latitude of the centroid; an incident without coordinates is placed here.")]
    lon: Annotated[Longitude, doc("Longitude of the centroid.")]


# --- [[screens]] -----------------------------------------------------------------


class ScreenConfig(_Section, frozen=True, kw_only=True):
    """One physical screen: found by Qt screen name, else by index."""

    name: Annotated[ShortText, doc("Qt screen name; empty: found by index.")] = ""
    index: Annotated[int, Meta(ge=0, le=64), doc("Screen index when no name is given.")] = 0
    view: Annotated[ScreenView, doc("What the screen shows: map, operations, leader or console.")]
    interactive: Annotated[
        bool, doc("Operators use this screen (acknowledge, shelve); wall screens are read only.")
    ] = False
    viewing_distance_m: Annotated[
        Annotated[float, Meta(gt=0.0, le=50.0)] | None,
        doc("Overrides display.viewing_distance_m here (a desk console is read from under a metre)."),
    ] = None
    diagonal_in: Annotated[
        Annotated[float, Meta(ge=10.0, le=400.0)] | None,
        doc("Overrides display.panel_diagonal_in for this screen."),
    ] = None


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

    name: Annotated[
        str,
        Meta(pattern=r"^[a-z0-9_]{1,64}$"),
        doc("Unique rule name (a-z, 0-9, _), shown in the audit trail."),
    ]
    when: Annotated[
        AlertRuleWhen,
        doc("What raises the alert: new_incident, category, sla_breach, unit_emergency or situation."),
    ]
    min_priority: Annotated[Priority, doc("Only incidents at or above this priority.")] = "low"
    categories: Annotated[
        list[Code], doc("Only these categories; empty: any. For situation rules: the hazards.")
    ] = []
    stages: Annotated[
        list[SlaStage], doc("For sla_breach: which targets (verify, forward, dispatch, arrive); empty: any.")
    ] = []
    after_s: Annotated[
        SlaSeconds | None,
        doc("For sla_breach: breach this many seconds after receipt instead of the category's own target."),
    ] = None
    priority: Annotated[Priority, doc("Priority of the alert raised.")] = "medium"
    repeat_s: Annotated[Seconds | None, doc("Overrides alerts.repeat_s for this rule's alerts.")] = None
    escalate_after_s: Annotated[
        Seconds | None, doc("Overrides alerts.escalate_after_s for this rule's alerts.")
    ] = None
    enabled: Annotated[bool, doc("A disabled rule raises nothing.")] = True

    def __post_init__(self) -> None:
        if self.after_s is not None and self.when != "sla_breach":
            raise _invalid("after_s", 'only applies to rules with when = "sla_breach"')
        if self.stages and self.when != "sla_breach":
            raise _invalid("stages", 'only applies to rules with when = "sla_breach"')


class AlertPriorityAction(_Section, frozen=True, kw_only=True):
    """What an alert of one priority does on the wall."""

    tone: Annotated[
        AlertTone, doc("Tone played: tone_high, tone_medium, tone_low, tone_escalation or empty for none.")
    ] = ""
    voice: Annotated[bool, doc("Speak the alert (text-to-speech) besides the tone.")] = True
    visual: Annotated[AlertVisual, doc("flash or steady banner.")] = "flash"
    repeat: Annotated[bool, doc("Sound again every repeat_s until acknowledged.")] = True
    escalate: Annotated[bool, doc("Escalate after escalate_after_s unacknowledged.")] = True


class AlertPriorityActions(_Section, frozen=True, kw_only=True):
    high: Annotated[AlertPriorityAction, doc("What a high-priority alert does.")] = AlertPriorityAction(
        tone="tone_high"
    )
    medium: Annotated[AlertPriorityAction, doc("What a medium-priority alert does.")] = AlertPriorityAction(
        tone="tone_medium"
    )
    low: Annotated[AlertPriorityAction, doc("What a low-priority alert does.")] = AlertPriorityAction(
        tone="tone_low", voice=False, visual="steady", repeat=False, escalate=False
    )

    def of(self, priority: str) -> AlertPriorityAction:
        return self.low if priority == "low" else self.medium if priority == "medium" else self.high


AlertText = Annotated[str, Meta(min_length=1, max_length=300)]
#: The default speech and alert texts are in the speech catalog
#: (resources/locale/<lang>/LC_MESSAGES/speech.po), like every other string.
_SPEECH_ID, _SPEECH_EN = strings_for("id"), strings_for("en")


class AlertTexts(_Section, frozen=True, kw_only=True):
    """Alert texts of one language that [speech] does not cover (its incident,
    reminder, group and escalation templates are used for those). A
    comma-separated part whose placeholders are all empty is left out."""

    sla_breach: Annotated[AlertText, doc("A service-level target missed.")] = (
        _SPEECH_ID.t("speech.alert.sla_breach")
    )
    unit_emergency: Annotated[AlertText, doc("A unit pressed its emergency button.")] = (
        _SPEECH_ID.t("speech.alert.unit_emergency")
    )
    situation: Annotated[AlertText, doc("A disaster situation was declared.")] = (
        _SPEECH_ID.t("speech.alert.situation")
    )
    escalation_group: Annotated[AlertText, doc("During a flood, escalations are announced together.")] = (
        _SPEECH_ID.t("speech.alert.escalation_group")
    )
    group_sla: Annotated[
        AlertText, doc("During a flood, service-level breaches are announced per category and kecamatan.")
    ] = _SPEECH_ID.t("speech.alert.group_sla")
    stage_verify: Annotated[AlertText, doc("Words for a missed verify target ({tahap}).")] = (
        _SPEECH_ID.t("speech.alert.stage_verify")
    )
    stage_forward: Annotated[AlertText, doc("Words for a missed forward target.")] = (
        _SPEECH_ID.t("speech.alert.stage_forward")
    )
    stage_dispatch: Annotated[AlertText, doc("Words for a missed dispatch target.")] = (
        _SPEECH_ID.t("speech.alert.stage_dispatch")
    )
    stage_arrive: Annotated[AlertText, doc("Words for a missed arrive target.")] = (
        _SPEECH_ID.t("speech.alert.stage_arrive")
    )

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
    **{f.name: _SPEECH_EN.t(f"speech.alert.{f.name}") for f in msgspec.structs.fields(AlertTexts)}
)


class AlertTextLanguages(_Section, frozen=True, kw_only=True):
    """Per display language (display.language picks one)."""

    id: Annotated[AlertTexts, doc("Indonesian alert texts.")] = AlertTexts()
    en: Annotated[AlertTexts, doc("English alert texts.")] = _ALERT_TEXTS_EN

    def for_language(self, lang: str) -> AlertTexts:
        return self.en if lang == "en" else self.id


# --- external items: [alerts.hazards], [[sources]], [eido] ------------------------------

HazardSeverityWord = Literal["extreme", "severe", "moderate", "minor"]


class HazardAlertsConfig(_Section, frozen=True, kw_only=True):
    enabled: Annotated[bool, doc("Raise alerts from external items (the rules below).")] = True
    warning_min_severity: Annotated[
        HazardSeverityWord, doc("A CAP warning that touches OKI raises an alert at this severity or above.")
    ] = "severe"
    quake_min_magnitude: Annotated[
        float, Meta(ge=0.0, le=10.0), doc("A quake raises an alert at this magnitude or above ...")
    ] = 5.0
    quake_max_distance_km: Annotated[
        float, Meta(gt=0.0, le=2000.0), doc("... when its epicentre is at most this far from OKI (km).")
    ] = 150.0
    peat_districts: Annotated[
        list[NonEmptyText], doc("Peat districts: a new hotspot cluster here raises an alert (karhutla).")
    ] = msgspec.field(default_factory=lambda: ["Pangkalan Lampam", "Tulung Selapan", "Air Sugihan", "Cengal"])
    hotspot_min_count: Annotated[
        int, Meta(ge=1, le=10_000), doc("Hotspots a new cluster needs in a peat district to raise an alert.")
    ] = 1


IngestKind = Literal["bmkg-quake", "bmkg-rss", "cap", "firms", "petabencana", "eido", "eido-ws"]


class IngestSourceConfig(_Section, frozen=True, kw_only=True):
    name: Annotated[
        str, Meta(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$"), doc("Name of the source on the wall and in logs.")
    ]
    kind: Annotated[
        IngestKind,
        doc(
            "Format: bmkg-quake, bmkg-rss (BMKG nowcast index), cap, firms, petabencana, eido; "
            "eido-ws: a NENA-STA-024 EIDO subscription over a websocket."
        ),
    ]
    url: Annotated[
        str,
        Meta(min_length=1, max_length=2000),
        doc("http(s) URL of the feed, or a local file path; eido-ws: the notifier's ws:// or wss:// URL."),
    ]
    interval_s: Annotated[
        Seconds,
        doc(
            "Seconds between two polls (never faster than the publisher allows: 60 s, FIRMS 300 s); "
            "eido-ws: the minRate asked of the notifier (a keepalive at least this often)."
        ),
    ] = 300.0
    timeout_s: Annotated[float, Meta(gt=0.0, le=300.0), doc("Seconds a fetch may take.")] = 20.0
    enabled: Annotated[bool, doc("Poll this source (the shipped ones are off by default).")] = (
        False
    )
    expires_s: Annotated[
        float,
        Meta(ge=30.0, le=86_400.0),
        doc("eido-ws: the subscription length asked of the notifier (renewed at two thirds of it)."),
    ] = 3600.0
    qual_filter: Annotated[
        str,
        Meta(max_length=4000),
        doc("eido-ws: the subscription's qualFilter (NENA-STA-024 2.3); empty: every new incident."),
    ] = ""

    def __post_init__(self) -> None:
        pushed = self.kind == "eido-ws"
        if pushed != self.url.startswith(("ws://", "wss://")):
            why = (
                "an eido-ws source needs a ws:// or wss:// URL"
                if pushed
                else f"a {self.kind} source is polled: an http(s) URL or a file, not a websocket"
            )
            raise _invalid("url", why)


class EidoAgencyMap(_Section, frozen=True, kw_only=True):
    id: Annotated[NonEmptyText, doc("The agency id in the other system's EIDO documents.")]
    agency: Annotated[AgencyCode, doc("Our agency code it stands for.")]


class EidoTypeMap(_Section, frozen=True, kw_only=True):
    type: Annotated[NonEmptyText, doc("An EIDO incident type (e.g. Fire-Wildland).")]
    category: Annotated[Code, doc("Our category it becomes.")]


class EidoConfig(_Section, frozen=True, kw_only=True):
    default_category: Annotated[Code, doc("Category of an EIDO incident whose type is not listed.")] = (
        "ketertiban_umum"
    )
    agencies: Annotated[list[EidoAgencyMap], data("Their agency ids -> our agency codes.")] = []
    types: Annotated[list[EidoTypeMap], data("Their incident types -> our categories.")] = []


class AlertsConfig(_Section, frozen=True, kw_only=True):
    flood_threshold: Annotated[
        int,
        Meta(ge=1, le=10_000),
        doc("Alarm flood (EEMUA 191): more than this many alerts within flood_window_s ..."),
    ] = 10
    flood_window_s: Annotated[Seconds, doc("... this window (seconds) ...")] = 600.0
    flood_end_threshold: Annotated[
        int, Meta(ge=0, le=10_000), doc("... and it ends below this many within the window.")
    ] = 5
    flood_announce_s: Annotated[
        Seconds,
        doc("During a flood, one grouped announcement per category and kecamatan at most this often."),
    ] = 60.0
    repeat_s: Annotated[Seconds, doc("An unacknowledged alert sounds again after this.")] = 60.0
    escalate_after_s: Annotated[
        Seconds, doc("An unacknowledged alert is escalated after this (distinct tone, spoken reminder).")
    ] = 180.0
    escalation_tone: Annotated[AlertTone, doc("Tone of an escalation.")] = "tone_escalation"
    recent_ack_s: Annotated[Seconds, doc("The recently acknowledged list reaches this far back.")] = 3600.0
    priorities: Annotated[AlertPriorityActions, doc("What an alert of each priority does.")] = (
        AlertPriorityActions()
    )
    texts: Annotated[AlertTextLanguages, doc("Alert texts per display language.")] = AlertTextLanguages()
    rules: Annotated[list[AlertRule], data("Which events raise an alert.")] = []
    hazards: Annotated[HazardAlertsConfig, doc("Alerts from external items (BMKG, FIRMS).")] = msgspec.field(
        default_factory=lambda: HazardAlertsConfig()
    )

    def __post_init__(self) -> None:
        if self.flood_end_threshold >= self.flood_threshold:
            raise _invalid("flood_end_threshold", "must be less than flood_threshold")
        for i in _duplicates(r.name for r in self.rules):
            raise _invalid(f"rules[{i}].name", f"duplicate rule name {self.rules[i].name!r}")


# --- [journal] and [logging] -------------------------------------------------------


class JournalConfig(_Section, frozen=True, kw_only=True):
    path: Annotated[
        PathStr, doc("The wall's journal (SQLite); empty: wall-journal.sqlite3 in the user data directory.")
    ] = ""
    retention_days: Annotated[int, Meta(ge=1, le=36_500), doc("Events older than this are pruned.")] = 90
    max_mb: Annotated[int, Meta(ge=16, le=10_000_000), doc("The journal is pruned below this size.")] = 2048
    snapshot_every_events: Annotated[
        int, Meta(ge=1, le=100_000_000), doc("A snapshot of the state is written after this many events ...")
    ] = 5000
    snapshot_interval_s: Annotated[Seconds, doc("... or after this long, whichever comes first.")] = 300.0
    audit_retention_days: Annotated[
        int, Meta(ge=1, le=36_500), doc("Acknowledgements and shelving are audited this long.")
    ] = 730
    # Housekeeping keeps a node that runs for months bounded.
    prune_closed_after_s: Annotated[
        Seconds,
        doc(
            "Closed and cancelled incidents that ended this long ago leave the store (they still count "
            "in today's figures), with acknowledged alerts and expired shelves."
        ),
    ] = 21_600.0
    housekeeping_interval_s: Annotated[Seconds, doc("How often housekeeping prunes the store.")] = 600.0
    journal_prune_interval_s: Annotated[
        Seconds, doc("How often housekeeping writes a snapshot and prunes the journal by age and size.")
    ] = 3600.0

    def resolved_path(self) -> Path:
        if self.path:
            return Path(self.path)
        return platformdirs.user_data_path(APP_NAME, appauthor=False) / "wall-journal.sqlite3"


class LoggingConfig(_Section, frozen=True, kw_only=True):
    level: Annotated[LogLevel, doc("Log level of the log file.")] = "INFO"
    dir: Annotated[PathStr, doc("Log directory; empty: the user log directory.")] = ""

    def resolved_dir(self) -> Path:
        if self.dir:
            return Path(self.dir)
        return platformdirs.user_log_path(APP_NAME, appauthor=False)


class WatchdogConfig(_Section, frozen=True, kw_only=True):
    """Self-supervision of a wall that runs for months unattended."""

    enabled: Annotated[
        bool, doc("The wall supervises itself and restarts cleanly when frozen or too big.")
    ] = True
    stall_limit_s: Annotated[
        float,
        Meta(ge=2.0, le=600.0),
        doc("The GUI thread not answering this long means frozen: log every thread's stack and restart."),
    ] = 30.0
    stall_warn_ms: Annotated[
        float, Meta(ge=20.0, le=10_000.0), doc("GUI-thread stalls longer than this are logged and counted.")
    ] = 200.0
    memory_limit_mb: Annotated[
        int,
        Meta(ge=0, le=1_000_000),
        doc("Memory (RSS) of the wall and its QtWebEngine renderers before a clean restart; 0 = off."),
    ] = 3072
    check_interval_s: Annotated[float, Meta(ge=0.5, le=300.0), doc("Seconds between two checks.")] = 5.0
    min_restart_interval_s: Annotated[
        float,
        Meta(ge=0.0, le=3600.0),
        doc("Restarts closer together than this back off (doubling up to 5 minutes)."),
    ] = 60.0
    map_renderer_growth_pct: Annotated[
        float,
        Meta(ge=0.0, le=1000.0),
        doc("Map renderer growth past its settled size that moves the map to a fresh renderer; 0 = never."),
    ] = 15.0
    map_renderer_warmup_s: Annotated[
        float, Meta(ge=0.0, le=86_400.0), doc("The settled size is measured this long after a page load.")
    ] = 300.0
    map_renderer_min_interval_s: Annotated[
        float, Meta(ge=0.0, le=604_800.0), doc("Never move to a fresh renderer more often than this.")
    ] = 1800.0
    map_page_answer_s: Annotated[
        float,
        Meta(ge=0.0, le=3600.0),
        doc("A map page that owes an answer (a script, a batch, its start after a load) and gives none "
            "this long is taken as hung: its renderer is ended and the map reloaded; 0 = never."),
    ] = 20.0


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

    voice: Annotated[
        str,
        Meta(pattern=r"^[A-Za-z0-9_./+\-]{1,64}$"),
        doc("espeak-ng voice: a language (id), a voice file (poz/id) or a name."),
    ]
    incident: Annotated[SpeechTemplate, doc("Announcement of a new alert.")]
    reminder: Annotated[SpeechTemplate, doc("Reminder of an unacknowledged alert.")]
    group: Annotated[SpeechTemplate, doc("Grouped announcement during an alarm flood.")]
    escalation: Annotated[SpeechTemplate, doc("Announcement of an escalation.")]
    pronunciation: Annotated[
        PronunciationTable,
        doc("Written = spoken form, whole words; ALL-CAPITAL keys match case-sensitively, others not."),
    ] = {}

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
        incident=_SPEECH_ID.t("speech.incident"),
        reminder=_SPEECH_ID.t("speech.reminder"),
        group=_SPEECH_ID.t("speech.group"),
        escalation=_SPEECH_ID.t("speech.escalation"),
        pronunciation=dict(DEFAULT_PRONUNCIATION_ID),
    )


def _default_speech_en() -> SpeechLanguageConfig:
    return SpeechLanguageConfig(
        voice="en",
        incident=_SPEECH_EN.t("speech.incident"),
        reminder=_SPEECH_EN.t("speech.reminder"),
        group=_SPEECH_EN.t("speech.group"),
        escalation=_SPEECH_EN.t("speech.escalation"),
        pronunciation=dict(DEFAULT_PRONUNCIATION_EN),
    )


class SpeechConfig(_Section, frozen=True, kw_only=True):
    enabled: Annotated[
        bool, doc("Speak alerts; when speech fails the wall plays the tone and says so on screen.")
    ] = True
    language: Annotated[
        Literal["", "id", "en"], doc("Language of the announcements; empty: display.language.")
    ] = ""
    rate_wpm: Annotated[
        int,
        Meta(ge=80, le=400),
        doc("Words per minute; espeak's default is 175, a room carries slower speech better."),
    ] = 150
    volume: Annotated[float, Meta(ge=0.0, le=1.0), doc("Volume, 0.0 to 1.0.")] = 1.0
    player: Annotated[
        list[Annotated[str, Meta(min_length=1, max_length=4096)]],
        doc("WAV player command with {file} for the file; empty: paplay, pw-play, aplay or play."),
    ] = []
    max_queue: Annotated[
        int,
        Meta(ge=1, le=1000),
        doc("Announcements waiting at most; beyond, the lowest-priority newest is dropped."),
    ] = 20
    max_age_s: Annotated[
        Seconds, doc("An announcement waiting longer than this is dropped, never spoken late.")
    ] = 120.0
    id: Annotated[SpeechLanguageConfig, doc("Indonesian voice, sentences and pronunciations.")] = (
        msgspec.field(default_factory=_default_speech_id)
    )
    en: Annotated[SpeechLanguageConfig, doc("English voice, sentences and pronunciations.")] = msgspec.field(
        default_factory=_default_speech_en
    )

    def __post_init__(self) -> None:
        if self.player and not any("{file}" in arg for arg in self.player):
            raise _invalid("player", 'must contain "{file}" where the WAV path goes')

    def for_language(self, lang: str) -> SpeechLanguageConfig:
        return self.en if lang == "en" else self.id


# --- the whole configuration -----------------------------------------------------


# --- [province]: a provincial wall following several regencies ---------------------

RegencyCode = Annotated[str, Meta(pattern=r"^[0-9]{2}\.[0-9]{2}$")]
ProvinceFigure = Literal["active", "unacked_high", "breaches"]


class ProvinceFeedConfig(_Section, frozen=True, kw_only=True):
    """One regency's 112 center followed by the provincial wall."""

    code: Annotated[RegencyCode, doc("Kemendagri code of the regency or city, e.g. 16.02.")]
    name: Annotated[NonEmptyText, doc("Its name as the boards show it, e.g. Ogan Komering Ilir.")]
    servers: Annotated[
        list[str], Meta(min_length=1, max_length=16),
        doc("Websocket URLs of the regency's dispatch server (ws:// or wss://); the first is used, "
            "the others are its gateways to fail over to."),
    ]
    token: Annotated[str, Meta(max_length=256), doc("The provincial wall's token at that server.")] = ""

    def __post_init__(self) -> None:
        for i, url in enumerate(self.servers):
            reason = _websocket_url_problem(url)
            if reason:
                raise _invalid(f"servers[{i}]", reason)


class ProvinceConfig(_Section, frozen=True, kw_only=True):
    name: Annotated[NonEmptyText, doc("The province's name on the provincial wall.")] = "Sumatera Selatan"
    feeds: Annotated[
        list[ProvinceFeedConfig],
        doc("The regencies a provincial wall (commandcenter wall --province) follows; each feed "
            "keeps its own journal (epoch and seq) in province.journal_dir."),
    ] = []
    journal_dir: Annotated[
        PathStr, doc("Directory of the per-regency journals; '' = province/ in the wall's data directory.")
    ] = ""
    geojson: Annotated[
        PathStr, doc("Regency outlines of the province (GeoJSON with kode and nama per Feature).")
    ] = "builtin:sumsel-kabupaten.geojson"
    choropleth: Annotated[
        ProvinceFigure,
        doc("The figure that colours each regency on the province map: active incidents, "
            "unacknowledged high-priority incidents, or today's arrivals past the response target."),
    ] = "active"

    def __post_init__(self) -> None:
        for i in _duplicates(f.code for f in self.feeds):
            raise _invalid(f"feeds[{i}].code", f"duplicate regency code {self.feeds[i].code}")


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
    config_version: Annotated[
        int,
        Meta(ge=1, le=CONFIG_VERSION),
        doc("Version of the file's schema; an older file is migrated, a newer one refused."),
    ] = CONFIG_VERSION
    server: Annotated[ServerConfig, doc("The wall's link to the dispatch server.")] = msgspec.field(
        default_factory=ServerConfig
    )
    serve: Annotated[ServeConfig, doc("The reference dispatch server (commandcenter serve).")] = (
        msgspec.field(default_factory=ServeConfig)
    )
    display: Annotated[DisplayConfig, doc("What every screen shares.")] = msgspec.field(
        default_factory=DisplayConfig
    )
    agencies: Annotated[list[AgencyConfig], data("The agencies (OPD) the 112 service forwards to.")]
    categories: Annotated[
        list[CategoryConfig], data("Report categories with their agencies and service-level targets.")
    ]
    map: Annotated[MapConfig, doc("The map's area, zoom and optional layers.")] = msgspec.field(
        default_factory=MapConfig
    )
    districts: Annotated[
        list[DistrictConfig], data("The kecamatan with Kemendagri codes and centroids.")
    ] = []
    screens: Annotated[list[ScreenConfig], doc("The physical screens and what each shows.")] = msgspec.field(
        default_factory=_default_screens
    )
    alerts: Annotated[AlertsConfig, doc("When and how the wall raises alerts.")] = msgspec.field(
        default_factory=AlertsConfig
    )
    journal: Annotated[JournalConfig, doc("The wall's local journal.")] = msgspec.field(
        default_factory=JournalConfig
    )
    logging: Annotated[LoggingConfig, doc("Log file.")] = msgspec.field(default_factory=LoggingConfig)
    watchdog: Annotated[
        WatchdogConfig, doc("Self-supervision of a wall that runs for months unattended.")
    ] = msgspec.field(default_factory=WatchdogConfig)
    speech: Annotated[SpeechConfig, doc("Spoken announcements (espeak-ng).")] = msgspec.field(
        default_factory=SpeechConfig
    )
    sources: Annotated[
        list[IngestSourceConfig], data("External feeds `commandcenter ingest run` polls (BMKG, FIRMS...).")
    ] = []
    eido: Annotated[EidoConfig, doc("How NENA EIDO incidents map onto our agencies and categories.")] = (
        msgspec.field(default_factory=EidoConfig)
    )
    province: Annotated[
        ProvinceConfig, doc("A provincial wall: the regencies it follows and the province map.")
    ] = msgspec.field(default_factory=ProvinceConfig)

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
