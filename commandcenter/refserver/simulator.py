"""Deterministic scenario simulator for the reference dispatch server.

A pure, synchronous generator of protocol event bodies over *simulated* time:
no asyncio, no sockets, no wall clock. Every future action (a new report, a
verification, a unit reaching a scene, a funnel tick) sits in one priority
queue ordered by ``(time, insertion number)`` and every random draw comes from
one ``random.Random(seed)`` in the order the actions run. The output therefore
depends only on the seed, the parameters and the simulated time reached, never
on how the caller slices time into :meth:`Simulator.advance_to` calls.

Usage (the server maps wall time to simulated time itself)::

    sim = Simulator(scenario="mixed", rate_per_min=6.0, seed=42, start=t0)
    for body in sim.initial_bodies():      # agencies and units at ``start``
        ...
    for ts, body in sim.advance_to(t):     # everything in (previous, t], in order
        ...

Scenarios: ``normal`` (everyday mix), ``flood`` (rainy season with a flood
surge), ``karhutla`` (dry season with a peat-fire emergency), ``mixed`` (the
everyday mix plus a flood surge a few simulated minutes after the start, for
demos). Agencies, categories (with the agencies that handle them), districts
and the regency's bounds come from the configuration ([[agencies]],
[[categories]], [[districts]], [map] bounds; the shipped defaults when none is
given), so a deployment that renames or adds a kecamatan sees reports there.
What is known here about OKI - flood-prone and peat districts, villages, shares
of each category, the fleet, the toll road - applies to the configured districts
with the same Kemendagri code (whatever their configured name), categories and
agencies; a configured category or agency it does not know gets a small share
and a few generic units. Toll road kilometre positions are approximate (good enough
for a map, not a survey).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import heapq
import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from commandcenter.config import Config, load_defaults
from commandcenter.core import protocol as p
from commandcenter.core.geo import distance_km
from commandcenter.core.model import (
    Agency,
    AgencyTask,
    Alert,
    CallFunnel,
    DisasterSituation,
    Incident,
    IncidentTimes,
    Location,
    Position,
    Reporter,
    Unit,
    mask_phone,
)
from commandcenter.core.timeutil import WIB, local_day

Scenario = Literal["normal", "flood", "karhutla", "mixed"]
SCENARIOS: tuple[str, ...] = ("normal", "flood", "karhutla", "mixed")

#: (Kemendagri code, name, centroid lat, centroid lon)
District = tuple[str, str, float, float]
TimedBody = tuple[dt.datetime, p.EventBody]

CAPITAL = "Kayu Agung"
#: How far from a district-less regency's centre its incidents spread (sigma, km).
AREA_SIGMA_KM = 15.0

#: Named by BPBD as flood-prone (2025-2026 floods included).
FLOOD_PRONE: tuple[str, ...] = (
    "Mesuji Raya", "Jejawi", "Pedamaran", "Tanjung Lubuk", "Kayu Agung",
    "Lempuing", "Lempuing Jaya", "Air Sugihan", "Mesuji",
)
#: Peat districts with recurring forest and land fires.
PEAT: tuple[str, ...] = (
    "Pangkalan Lampam", "Pampangan", "Tulung Selapan", "Cengal", "Air Sugihan", "Sungai Menang",
)
#: Villages where peat fires recur (domain.md).
FIRE_HOTSPOTS: dict[str, str] = {"Pangkalan Lampam": "Deling", "Pampangan": "Kandis"}

#: Relative report volume per district (roughly population); others weigh 1.
DISTRICT_WEIGHT: dict[str, float] = {
    "Kayu Agung": 4.0, "Lempuing": 2.0, "Lempuing Jaya": 2.0, "Mesuji Raya": 2.0, "Mesuji": 2.0,
    "Pedamaran": 2.0, "Mesuji Makmur": 1.5, "Tanjung Lubuk": 1.5, "Tulung Selapan": 1.5,
    "Air Sugihan": 1.5, "Pampangan": 1.5, "Jejawi": 1.5, "Sirah Pulau Padang": 1.5,
}

#: A few villages per district: the district's namesake village where one exists
#: and the well-known fire villages; the rest come from a generic list.
DISTRICT_VILLAGES: dict[str, tuple[str, ...]] = {
    "Kayu Agung": ("Jua-Jua", "Sidakersa", "Cintaraja", "Kedaton", "Perigi", "Mangun Jaya"),
    "Pangkalan Lampam": ("Deling", "Pangkalan Lampam"),
    "Pampangan": ("Kandis", "Pampangan"),
    "Tanjung Lubuk": ("Tanjung Lubuk",),
    "Pedamaran": ("Pedamaran",),
    "Jejawi": ("Jejawi",),
    "Cengal": ("Cengal",),
    "Teluk Gelam": ("Teluk Gelam",),
    "Sirah Pulau Padang": ("Sirah Pulau Padang",),
}
GENERIC_VILLAGES: tuple[str, ...] = (
    "Sukamaju", "Sumber Jaya", "Karya Makmur", "Mekar Jaya", "Suka Damai", "Tanjung Baru",
    "Sungai Pinang", "Talang Jaya", "Bumi Harapan", "Sidomulyo",
)

#: Unit kinds that can serve (category, agency), in order of preference.
UNIT_KINDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("kebakaran", "DAMKAR"): ("mobil_damkar",),
    ("karhutla", "BPBD"): ("truk_rescue",),
    ("karhutla", "DAMKAR"): ("mobil_damkar",),
    ("banjir", "BPBD"): ("perahu_karet", "truk_rescue"),
    ("angin_puting_beliung", "BPBD"): ("truk_rescue",),
    ("pohon_tumbang", "BPBD"): ("truk_rescue",),
    ("pohon_tumbang", "DAMKAR"): ("mobil_damkar",),
    ("medis", "DINKES"): ("ambulans",),
    ("kecelakaan_lalu_lintas", "DISHUB"): ("patroli_dishub",),
    ("kecelakaan_lalu_lintas", "DINKES"): ("ambulans",),
    ("ketertiban_lalu_lintas", "DISHUB"): ("patroli_dishub",),
    ("ketertiban_umum", "DAMKAR"): ("patroli_satpol_pp",),
    ("sampah_lingkungan", "DLH"): ("mobil_dlh",),
    ("sosial", "DINSOS"): ("mobil_dinsos",),
    ("narkotika", "BNN"): ("mobil_bnn",),
    ("perlindungan_perempuan_anak", "DPPPA"): ("mobil_dpppa",),
    ("evakuasi_hewan", "DAMKAR"): ("mobil_damkar",),
}


@dataclass(frozen=True, slots=True)
class _FleetLine:
    agency: str
    kind: str
    callsign: str
    posts: tuple[tuple[str, int], ...]  # (district, units there)
    speed_kmh: tuple[float, float]
    area: str = "all"  # where extra units go when scaled: all, flood, peat


#: The base fleet: home bases at Kayu Agung plus district posts. Scaled up with
#: the report rate so that normal times are mostly served (surges still queue).
FLEET: tuple[_FleetLine, ...] = (
    _FleetLine("DAMKAR", "mobil_damkar", "DMK", (("Kayu Agung", 3), ("Lempuing", 1), ("Tulung Selapan", 1),
                                                  ("Pangkalan Lampam", 1), ("Mesuji Raya", 1)), (40, 60)),
    _FleetLine("DAMKAR", "patroli_satpol_pp", "SPP", (("Kayu Agung", 2), ("Pedamaran", 1), ("Lempuing", 1),
                                                       ("Tulung Selapan", 1), ("Mesuji Raya", 1)), (40, 60)),
    _FleetLine("DINKES", "ambulans", "AMB", (("Kayu Agung", 2), ("Pedamaran", 1), ("Lempuing", 1),
                                             ("Tulung Selapan", 1), ("Mesuji", 1), ("Air Sugihan", 1),
                                             ("Pampangan", 1), ("Tanjung Lubuk", 1), ("Cengal", 1),
                                             ("Lempuing Jaya", 1)), (45, 60)),
    _FleetLine("BPBD", "truk_rescue", "TRC", (("Kayu Agung", 2), ("Lempuing", 1), ("Pangkalan Lampam", 1)),
               (40, 55)),
    _FleetLine("BPBD", "perahu_karet", "PRH", (("Kayu Agung", 2), ("Jejawi", 1), ("Pedamaran", 1)), (25, 40),
               "flood"),
    _FleetLine("DISHUB", "patroli_dishub", "DSH", (("Kayu Agung", 2), ("Jejawi", 1), ("Lempuing", 1)),
               (45, 60)),
    _FleetLine("DLH", "mobil_dlh", "DLH", (("Kayu Agung", 2),), (40, 50)),
    _FleetLine("DINSOS", "mobil_dinsos", "DSS", (("Kayu Agung", 2),), (40, 55)),
    _FleetLine("BNN", "mobil_bnn", "BNN", (("Kayu Agung", 1),), (40, 60)),
    _FleetLine("DPPPA", "mobil_dpppa", "PPA", (("Kayu Agung", 2),), (40, 55)),
)

#: Everyday mix (weights) per season.
MIX_NORMAL: dict[str, float] = {
    "kecelakaan_lalu_lintas": 16, "medis": 22, "kebakaran": 9, "ketertiban_umum": 10,
    "ketertiban_lalu_lintas": 7, "pohon_tumbang": 5, "sampah_lingkungan": 6, "sosial": 6,
    "evakuasi_hewan": 5, "perlindungan_perempuan_anak": 4, "narkotika": 2, "banjir": 3,
    "angin_puting_beliung": 2, "karhutla": 3,
}
MIX_RAINY: dict[str, float] = {**MIX_NORMAL, "banjir": 10, "pohon_tumbang": 8, "angin_puting_beliung": 4,
                               "karhutla": 0, "kebakaran": 7}
MIX_DRY: dict[str, float] = {**MIX_NORMAL, "banjir": 0, "pohon_tumbang": 3, "angin_puting_beliung": 1,
                             "karhutla": 14, "kebakaran": 11}
MIX_FLOOD_SURGE: dict[str, float] = {"banjir": 82, "medis": 7, "pohon_tumbang": 5, "sosial": 4,
                                     "angin_puting_beliung": 2}
MIX_FIRE_SURGE: dict[str, float] = {"karhutla": 85, "medis": 10, "kebakaran": 5}
#: Everyday weight of a configured category none of the mixes knows (a total of
#: about 125): a few reports a day at the usual rates.
OTHER_CATEGORY_WEIGHT = 2.0

#: (P(high), P(medium)) per category; the rest is low. Tuned so the everyday
#: mix lands near 5% / 15% / 80%. Crashes are set from their victims instead.
PRIORITY_ODDS: dict[str, tuple[float, float]] = {
    "kebakaran": (0.18, 0.40), "karhutla": (0.15, 0.45), "banjir": (0.04, 0.16),
    "angin_puting_beliung": (0.08, 0.30), "pohon_tumbang": (0.02, 0.15), "medis": (0.05, 0.15),
    "ketertiban_lalu_lintas": (0.0, 0.06), "ketertiban_umum": (0.01, 0.08),
    "sampah_lingkungan": (0.0, 0.03), "sosial": (0.01, 0.08), "narkotika": (0.02, 0.15),
    "perlindungan_perempuan_anak": (0.12, 0.35), "evakuasi_hewan": (0.01, 0.15),
}

#: (P(high), P(medium)) of a category PRIORITY_ODDS does not know, by its
#: configured default_priority.
PRIORITY_BY_DEFAULT: dict[str, tuple[float, float]] = {
    "high": (0.30, 0.45), "medium": (0.05, 0.45), "low": (0.01, 0.10),
}

#: Minutes on scene before the incident is closed.
HANDLING_MIN: dict[str, tuple[float, float]] = {
    "kebakaran": (40, 120), "karhutla": (60, 120), "banjir": (30, 120), "medis": (20, 50),
    "kecelakaan_lalu_lintas": (25, 70), "angin_puting_beliung": (30, 90),
}
DEFAULT_HANDLING_MIN = (20.0, 60.0)

#: Toll road waypoints (km marker, lat, lon), south to north, approximate:
#: Terbanggi Besar-Pematang Panggang-Kayuagung, then Kayuagung-Palembang (Kapal Betung).
TOLL_WAYPOINTS: tuple[tuple[int, float, float], ...] = (
    (250, -4.060, 104.930),
    (275, -3.860, 104.950),
    (295, -3.690, 104.930),
    (310, -3.540, 104.915),
    (325, -3.400, 104.880),
    (345, -3.210, 104.855),
    (358, -3.090, 104.830),
)
TOLL_SPLIT_KM = 325
#: Districts the toll road crosses.
TOLL_DISTRICTS: tuple[str, ...] = (
    "Mesuji Makmur", "Lempuing", "Lempuing Jaya", "Teluk Gelam", "Pedamaran", "Kayu Agung", "Jejawi",
)
TOLL_SOUTH = "Tol Terbanggi Besar–Pematang Panggang–Kayuagung"
TOLL_NORTH = "Tol Kayuagung–Palembang (Kapal Betung)"

#: Short Indonesian descriptions; {h} water height, {v} victims, {ha} area.
DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "kebakaran": ("Kebakaran rumah warga, api membesar", "Kebakaran toko di pinggir jalan, asap tebal",
                  "Korsleting listrik, api di atap rumah", "Kebakaran gudang, warga mencoba memadamkan"),
    "karhutla": ("Kebakaran lahan gambut, api menjalar ke kebun warga",
                 "Titik api di lahan gambut, asap pekat, akses sulit",
                 "Lahan semak terbakar sekitar {ha} ha", "Asap tebal dari lahan gambut dekat permukiman"),
    "banjir": ("Banjir setinggi {h} cm masuk rumah", "Air sungai meluap, jalan desa terendam {h} cm",
               "Warga minta evakuasi lansia, air terus naik", "Sawah dan rumah warga terendam banjir"),
    "angin_puting_beliung": ("Angin puting beliung merusak atap rumah warga",
                             "Angin kencang, atap sekolah terbang"),
    "pohon_tumbang": ("Pohon tumbang menutup badan jalan", "Pohon tumbang menimpa kabel listrik",
                      "Pohon besar tumbang menimpa rumah warga"),
    "medis": ("Warga pingsan di rumah, butuh ambulans", "Ibu hamil akan melahirkan, butuh ambulans",
              "Lansia sesak napas", "Warga kejang, keluarga minta bantuan"),
    "kecelakaan_lalu_lintas": ("Kecelakaan sepeda motor, {v} korban luka",
                               "Tabrakan mobil dan truk, {v} korban",
                               "Motor terjatuh di jalan berlubang, {v} korban"),
    "ketertiban_lalu_lintas": ("Truk mogok menghalangi jalan", "Kemacetan panjang di simpang pasar",
                               "Lampu lalu lintas mati"),
    "ketertiban_umum": ("Keributan antarwarga di pasar", "Pedagang berjualan di badan jalan",
                        "Gangguan ketertiban, warga resah"),
    "sampah_lingkungan": ("Tumpukan sampah menutup saluran air", "Sampah dibakar, asap mengganggu warga",
                          "Sampah menumpuk di pinggir jalan"),
    "sosial": ("Orang terlantar di pinggir jalan", "Lansia hidup sendiri butuh bantuan",
               "Warga kurang mampu butuh bantuan darurat"),
    "narkotika": ("Laporan dugaan penyalahgunaan narkoba, minta ditindaklanjuti",),
    "perlindungan_perempuan_anak": ("Dugaan kekerasan dalam rumah tangga, korban perempuan",
                                    "Anak hilang, keluarga sudah mencari",
                                    "Anak terlantar, butuh pendampingan"),
    "evakuasi_hewan": ("Ular kobra masuk rumah warga", "Sarang tawon di atap rumah",
                       "Buaya terlihat di pinggir sungai dekat permukiman"),
}
TOLL_CRASH_DESCRIPTIONS = ("Kecelakaan di jalan tol, mobil menabrak pembatas, {v} korban",
                           "Truk terguling di bahu jalan tol, {v} korban",
                           "Tabrakan beruntun di jalan tol, {v} korban")
SURGE_DESCRIPTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("banjir", "banjir"): ("Banjir setinggi {h} cm masuk rumah",
                           "Air terus naik, sudah {h} cm di dalam rumah",
                           "Warga terjebak banjir, minta perahu evakuasi", "Jalan desa terendam {h} cm"),
    ("banjir", "medis"): ("Warga sakit di lokasi banjir, butuh ambulans",),
    ("banjir", "sosial"): ("Pengungsi banjir butuh makanan dan selimut",),
    ("banjir", "pohon_tumbang"): ("Pohon tumbang akibat hujan deras menutup jalan",),
    ("karhutla", "karhutla"): ("Api di lahan gambut meluas, sekitar {ha} ha",
                               "Titik api baru di lahan gambut, akses sulit"),
    ("karhutla", "medis"): ("Warga sesak napas akibat kabut asap",),
}
#: Milder wording for low-priority reports, so text and priority agree on the wall.
LOW_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "kebakaran": ("Pembakaran sampah dekat rumah, asap mengganggu", "Api kecil di tiang listrik",
                  "Semak di pinggir jalan terbakar"),
    "medis": ("Warga demam tinggi, minta diantar ke puskesmas", "Lansia jatuh di rumah, luka ringan",
              "Pasien butuh rujukan ke rumah sakit"),
    "karhutla": ("Asap dari lahan gambut terlihat dari jalan", "Lahan semak terbakar sekitar {ha} ha"),
}
HIGH_DESCRIPTIONS: dict[str, str] = {
    "banjir": "Warga terjebak banjir di atap rumah, minta evakuasi segera",
    "kebakaran": "Kebakaran rumah, ada penghuni di dalam",
}
REPORTER_NAMES: tuple[str, ...] = (
    "Budi", "Siti", "Ahmad", "Rina", "Hendra", "Yanti", "Dedi", "Sri", "Agus", "Nurhayati",
    "Rudi", "Dewi", "Joko", "Lestari", "Fajar", "Wati", "Andi", "Maya", "Herman", "Fitri",
)
MOBILE_PREFIXES: tuple[str, ...] = ("0811", "0812", "0813", "0821", "0822", "0852", "0853", "0857",
                                    "0877", "0878", "0895", "0896")

TICK_UNIT_S = 30.0
TICK_FUNNEL_S = 60.0
TICK_SITUATION_S = 300.0


def _bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    x = (lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    deg = math.degrees(math.atan2(x, lat2 - lat1)) % 360.0
    return 0.0 if deg >= 360.0 else deg


def _apportion(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``total`` by weight (largest remainder; deterministic)."""
    wsum = sum(weights.values())
    quotas = {k: total * w / wsum for k, w in weights.items()}
    out = {k: int(q) for k, q in quotas.items()}
    rest = total - sum(out.values())
    for k in sorted(quotas, key=lambda k: (out[k] - quotas[k], k))[:rest]:
        out[k] += 1
    return out


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:  # normal approximation keeps big minutes cheap
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


class _Weighted:
    """Precomputed weighted choice (rng.choices recomputes the sums each call)."""

    def __init__(self, weights: dict[str, float]) -> None:
        self.keys = [k for k, w in weights.items() if w > 0]
        self.cum = list(itertools.accumulate(weights[k] for k in self.keys))

    def pick(self, rng: random.Random) -> str:
        return self.keys[bisect.bisect_right(self.cum, rng.random() * self.cum[-1])]

    def share(self, key: str) -> float:
        if not self.keys:
            return 0.0
        i = self.keys.index(key) if key in self.keys else -1
        if i < 0:
            return 0.0
        return (self.cum[i] - (self.cum[i - 1] if i else 0.0)) / self.cum[-1]


# --- mutable state ------------------------------------------------------------


@dataclass(slots=True)
class _Task:
    agency: str
    status: str = "pending"
    forwarded_at: dt.datetime | None = None
    accepted_at: dt.datetime | None = None
    on_scene_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    units: list[str] = field(default_factory=list)
    note: str = ""


@dataclass(slots=True)
class _Inc:
    id: str
    ticket: str
    category: str
    priority: str
    location: Location
    reporter: Reporter
    description: str
    victims: int
    dest: tuple[float, float]
    district: str
    received: dt.datetime
    surge: _Surge | None
    version: int = 0
    status: str = "received"
    verified: dt.datetime | None = None
    dispatched: dt.datetime | None = None
    on_scene: dt.datetime | None = None
    closed: dt.datetime | None = None
    tasks: dict[str, _Task] = field(default_factory=dict)
    units: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Unit:
    id: str
    callsign: str
    agency: str
    kind: str
    home: tuple[float, float]
    speed_range: tuple[float, float]
    status: str = "available"
    version: int = 0
    lat: float = 0.0
    lon: float = 0.0
    # current leg: from, to, departure, arrival, speed; leg_no invalidates old ticks
    leg: tuple[float, float, float, float, dt.datetime, dt.datetime, float] | None = None
    leg_no: int = 0
    serving: list[str] = field(default_factory=list)  # incident ids, first = where it drives
    withdrawn: bool = False  # a reinforcement sent back after the disaster: takes no new task


@dataclass(slots=True)
class _Surge:
    hazard: str
    districts: list[str]
    start: dt.datetime
    end: dt.datetime
    reports: int
    situation_id: str
    declare_at: dt.datetime
    end_situation_at: dt.datetime
    mix: _Weighted
    name: str
    declared: bool = False
    ended: bool = False
    version: int = 0
    households: int = 0
    evacuated: int = 0
    burned_ha: float = 0.0
    dirty: bool = False
    reinforcements: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Funnel:
    day: dt.date
    calls_in: int = 0
    answered: int = 0
    abandoned: int = 0
    prank: int = 0
    ghost: int = 0
    valid: int = 0
    info: int = 0
    valid_at_tick: int = 0
    pg_ratio: float = 0.75  # prank+ghost per valid call, drawn per day
    info_ratio: float = 0.2
    ghost_share: float = 0.55


# --- the simulator ------------------------------------------------------------


class Simulator:
    """Seedable generator of protocol event bodies over simulated time.

    Output depends only on the constructor arguments and the target times (not
    on the step sizes of :meth:`advance_to`). Bodies are ``IncidentUpserted``,
    ``UnitUpserted``, ``FunnelUpdated``, ``SituationUpserted`` and
    ``AlertRaised`` (unit emergencies); :meth:`initial_bodies` adds the
    agencies and units as of ``start``.

    ``rate_per_min`` is the daily average of new reports outside a surge; the
    hour of the WIB day modulates it by up to 30% (quiet nights, busy
    afternoons). The fleet is sized from it so normal times are mostly served;
    a surge overloads BPBD on purpose until reinforcements arrive with the
    declaration of the situation. ``start`` defaults to a fixed date, never to
    the wall clock.
    """

    def __init__(
        self,
        scenario: str = "mixed",
        rate_per_min: float = 1.0,
        seed: int = 0,
        start: dt.datetime | None = None,
        *,
        config: Config | None = None,
        surge_start_s: float | None = None,
        surge_reports: int | None = None,
        id_prefix: str = "",
        area: Any = None,
        ticket_prefix: str = "OKI",
    ) -> None:
        # A regency other than OKI (refserver.regency): a shapely outline every
        # incident is placed inside, and its own ticket prefix.
        self._area = area
        if area is not None:
            import shapely

            shapely.prepare(area)
        if not ticket_prefix.replace("-", "").isalnum():
            raise ValueError("ticket_prefix must be letters, digits and '-'")
        self.ticket_prefix = ticket_prefix
        # A server restarted on the same database runs a new simulation: the
        # prefix keeps its incident, situation and alert ids from colliding
        # with the earlier run's.
        if id_prefix and not id_prefix.replace("-", "").isalnum():
            raise ValueError("id_prefix must be letters, digits and '-'")
        self.id_prefix = id_prefix
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}")
        if not rate_per_min >= 0 or math.isinf(rate_per_min):
            raise ValueError("rate_per_min must be a finite number >= 0")
        if start is None:
            start = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if surge_start_s is not None and surge_start_s < 0:
            raise ValueError("surge_start_s must be >= 0")
        if surge_reports is not None and surge_reports < 0:
            raise ValueError("surge_reports must be >= 0")
        self.scenario = scenario
        self.rate_per_min = float(rate_per_min)
        self.seed = seed
        self.start = start
        self._rng = random.Random(seed)
        self._t = start
        self._now = start
        self._heap: list[tuple[dt.datetime, int, Callable[..., None], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._out: list[TimedBody] = []

        cfg = config if config is not None else shipped_config()
        b = cfg.map.bounds
        self._bounds = (b.south, b.north, b.west, b.east)
        self._districts: dict[str, District] = {d.name: (d.code, d.name, d.lat, d.lon) for d in cfg.districts}
        if not self._districts:
            raise ValueError("the configuration names no districts ([[districts]]): nowhere to place reports")
        names = list(self._districts)
        # What this module knows about OKI's districts is keyed by their shipped
        # names; a configured district is the known one with the same Kemendagri
        # code, so a renamed kecamatan keeps its floods, peat, posts and villages.
        shipped = {d.code: d.name for d in shipped_config().districts}
        known = {shipped[d.code]: d.name for d in cfg.districts if d.code in shipped}
        self._known = known
        self._capital = known.get(CAPITAL, names[0])
        self._weight = {known[k]: w for k, w in DISTRICT_WEIGHT.items() if k in known}
        self._hotspots = {known[k]: v for k, v in FIRE_HOTSPOTS.items() if k in known}
        self._villages = {known[k]: v for k, v in DISTRICT_VILLAGES.items() if k in known}
        self._district_pick = _Weighted({n: self._weight.get(n, 1.0) for n in names})
        self._flood_names = [known[n] for n in FLOOD_PRONE if n in known] or names
        self._peat_names = [known[n] for n in PEAT if n in known] or names
        peat_w = {n: (3.0 if n in self._hotspots else 1.0) for n in self._peat_names}
        self._peat_pick = _Weighted(peat_w)
        self._toll_districts = [known[n] for n in TOLL_DISTRICTS if n in known]

        self._agencies: list[Agency] = [a.to_model() for a in cfg.agencies]
        #: Which agencies a category is forwarded to (first = lead agency).
        self._handling: dict[str, tuple[str, ...]] = {c.code: tuple(c.agencies) for c in cfg.categories}
        self._default_priority = {c.code: c.default_priority for c in cfg.categories}
        mixes = {"normal": MIX_NORMAL, "mixed": MIX_NORMAL, "flood": MIX_RAINY, "karhutla": MIX_DRY}
        base_mix = mixes[scenario]
        # Only configured categories are reported; one the mixes do not know gets a small share.
        weights = {c: w for c, w in base_mix.items() if c in self._handling}
        for code in self._handling:
            if code not in MIX_NORMAL:
                weights[code] = OTHER_CATEGORY_WEIGHT
        self._mix = _Weighted(weights)

        self._incs: dict[str, _Inc] = {}
        self._inc_counter = 0
        self._ticket_day: dt.date | None = None
        self._ticket_counter = 0
        self._alert_counter = 0
        # waiting tasks per (agency, kind): heap of (priority rank, received, order, incident id)
        self._waiting: dict[tuple[str, str], list[tuple[int, dt.datetime, int, str]]] = {}

        self._units: dict[str, _Unit] = {}
        self._unit_list: list[_Unit] = []
        self._by_kind: dict[tuple[str, str], list[_Unit]] = {}
        self._initial: list[p.EventBody] = [p.AgencyUpserted(agency=a) for a in self._agencies]
        self._build_fleet()

        self._funnel = self._new_funnel(local_day(start, WIB))
        self._surge: _Surge | None = self._plan_surge(surge_start_s, surge_reports)

        # Recurring processes.
        self._max_rate = self.rate_per_min * 1.3
        if self._max_rate > 0 and self._mix.keys:
            self._schedule_arrival(start)
        self._push(start, self._funnel_tick)

    # --- public API -----------------------------------------------------------

    @property
    def now(self) -> dt.datetime:
        """The simulated time reached so far."""
        return self._now

    @property
    def surge(self) -> tuple[str, list[str], dt.datetime, dt.datetime] | None:
        """(hazard, districts, start, end) of the planned surge, or None."""
        s = self._surge
        return None if s is None else (s.hazard, list(s.districts), s.start, s.end)

    @property
    def units(self) -> list[Unit]:
        """The current state of every unit."""
        return [self._unit_model(u) for u in self._unit_list]

    def initial_bodies(self) -> list[p.EventBody]:
        """Agencies and units as of ``start`` (always the same list)."""
        return list(self._initial)

    def advance_to(self, t: dt.datetime) -> list[TimedBody]:
        """Run every action up to and including ``t``; return the bodies made,
        in time order, each with its simulated timestamp."""
        if t.tzinfo is None:
            raise ValueError("t must be timezone-aware")
        if t < self._now:
            raise ValueError("simulated time cannot go backwards")
        heap = self._heap
        while heap and heap[0][0] <= t:
            when, _, fn, args = heapq.heappop(heap)
            self._t = when
            fn(*args)
        self._now = t
        self._t = t
        out, self._out = self._out, []
        return out

    # --- scheduling helpers -----------------------------------------------------

    def _push(self, when: dt.datetime, fn: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self._heap, (when, next(self._order), fn, args))

    def _after(self, seconds: float, fn: Callable[..., None], *args: Any) -> None:
        self._push(self._t + dt.timedelta(seconds=seconds), fn, *args)

    def _emit(self, body: p.EventBody) -> None:
        self._out.append((self._t, body))

    # --- fleet ----------------------------------------------------------------------

    def _fleet(self) -> list[_FleetLine]:
        """FLEET for the configured agencies, plus two generic units at the
        capital for an agency it does not know."""
        lines = [line for line in FLEET if line.agency in {a.code for a in self._agencies}]
        known = {line.agency for line in lines}
        for a in self._agencies:
            if a.code not in known:
                lines.append(_FleetLine(a.code, f"mobil_{a.code.lower()}", a.code[:3], ((self._capital, 2),),
                                        (40, 55)))
        return lines

    def _build_fleet(self) -> None:
        for line in self._fleet():
            cats = [c for c, ags in self._handling.items() if line.agency in ags
                    and UNIT_KINDS.get((c, line.agency), (line.kind,))[0] == line.kind]
            # Expected tasks per minute for this kind, times its busy time
            # (handling plus both drives), at about half load.
            demand = sum(self.rate_per_min * self._mix.share(c) for c in cats)
            handling = [sum(HANDLING_MIN.get(c, DEFAULT_HANDLING_MIN)) / 2 for c in cats]
            busy = 25.0 + max(handling, default=40.0)
            posts: dict[str, int] = {}
            for district, count in line.posts:
                name = self._known.get(district, self._capital)
                posts[name] = posts.get(name, 0) + count
            extra = math.ceil(demand * busy / 0.5) - sum(posts.values())
            if extra > 0:
                # A busier service has posts where the reports come from.
                areas = {"flood": self._flood_names, "peat": self._peat_names}
                pool = areas.get(line.area, list(self._districts))
                for name, n in _apportion(extra, {d: self._weight.get(d, 1.0) for d in pool}).items():
                    posts[name] = posts.get(name, 0) + n
            self._add_units(line, posts)

    def _add_units(self, line: _FleetLine, posts: dict[str, int]) -> None:
        rng = self._rng
        width = 3 if sum(posts.values()) >= 100 else 2
        number = 0
        for district, count in posts.items():
            d = self._districts[district]
            for _ in range(count):
                number += 1
                callsign = f"{line.callsign}-{number:0{width}d}"
                # Posts sit near, not exactly on, the district centroid.
                home = (round(d[2] + rng.uniform(-0.01, 0.01), 5), round(d[3] + rng.uniform(-0.01, 0.01), 5))
                unit = _Unit(id=callsign, callsign=callsign, agency=line.agency,
                             kind=line.kind, home=home, speed_range=line.speed_kmh, lat=home[0], lon=home[1])
                self._units[unit.id] = unit
                self._unit_list.append(unit)
                self._by_kind.setdefault((unit.agency, unit.kind), []).append(unit)
                if rng.random() < 0.04:  # in the workshop at the start
                    unit.status = "out_of_service"
                    back = self.start + dt.timedelta(hours=rng.uniform(1, 6))
                    self._push(back, self._unit_repaired, unit.id)
                unit.version = 1
                self._initial.append(p.UnitUpserted(unit=self._unit_model(unit, self.start)))

    def _unit_model(self, u: _Unit, at: dt.datetime | None = None) -> Unit:
        at = at or self._t
        heading = speed = None
        if u.leg is not None and u.status in ("dispatched", "returning"):
            f_lat, f_lon, t_lat, t_lon, _, _, spd = u.leg
            heading, speed = _bearing(f_lat, f_lon, t_lat, t_lon), spd
        elif u.status in ("on_scene", "available", "out_of_service"):
            speed = 0.0
        return Unit(
            id=u.id, callsign=u.callsign, agency=u.agency, kind=u.kind, status=u.status,  # type: ignore[arg-type]
            version=u.version,
            position=Position(lat=round(u.lat, 6), lon=round(u.lon, 6), heading=heading, speed_kmh=speed,
                              at=at),
            incident_id=u.serving[0] if u.serving and u.status in ("dispatched", "on_scene") else None,
            updated_at=at,
        )

    def _emit_unit(self, u: _Unit) -> None:
        u.version += 1
        self._emit(p.UnitUpserted(unit=self._unit_model(u)))

    def _unit_position(self, u: _Unit) -> tuple[float, float]:
        if u.leg is None:
            return u.lat, u.lon
        f_lat, f_lon, t_lat, t_lon, dep, arr, _ = u.leg
        total = (arr - dep).total_seconds()
        frac = 1.0 if total <= 0 else min(1.0, max(0.0, (self._t - dep).total_seconds() / total))
        return f_lat + (t_lat - f_lat) * frac, f_lon + (t_lon - f_lon) * frac

    def _start_leg(
        self, u: _Unit, to: tuple[float, float], slow: float, on_arrive: Callable[..., None]
    ) -> None:
        u.lat, u.lon = self._unit_position(u)
        speed = self._rng.uniform(*u.speed_range) * slow
        km = distance_km(u.lat, u.lon, to[0], to[1])
        arrive = self._t + dt.timedelta(seconds=max(60.0, km / speed * 3600.0))
        u.leg_no += 1
        u.leg = (u.lat, u.lon, to[0], to[1], self._t, arrive, round(speed, 1))
        self._push(arrive, on_arrive, u.id, u.leg_no)
        if self._t + dt.timedelta(seconds=TICK_UNIT_S) < arrive:
            self._after(TICK_UNIT_S, self._unit_tick, u.id, u.leg_no)

    def _unit_tick(self, unit_id: str, leg_no: int) -> None:
        u = self._units[unit_id]
        if u.leg_no != leg_no or u.leg is None:
            return  # re-tasked since: this tick belongs to an old leg
        u.lat, u.lon = self._unit_position(u)
        self._emit_unit(u)
        if self._t + dt.timedelta(seconds=TICK_UNIT_S) < u.leg[5]:
            self._after(TICK_UNIT_S, self._unit_tick, unit_id, leg_no)

    def _unit_repaired(self, unit_id: str) -> None:
        u = self._units[unit_id]
        u.status = "available"
        self._emit_unit(u)
        self._unit_free(u)

    # --- incidents: arrival ---------------------------------------------------------

    def _rate_factor(self, t: dt.datetime) -> float:
        # Quieter nights, busier afternoons; averages 1 over a day.
        local = t.astimezone(WIB)
        hour = local.hour + local.minute / 60.0
        return 1.0 + 0.3 * math.cos(2 * math.pi * (hour - 16.0) / 24.0)

    def _schedule_arrival(self, after: dt.datetime) -> None:
        gap = self._rng.expovariate(self._max_rate / 60.0)
        self._push(after + dt.timedelta(seconds=gap), self._arrival)

    def _arrival(self) -> None:
        # Thinning of a Poisson process with the diurnal rate.
        if self._rng.random() * 1.3 < self._rate_factor(self._t):
            self._new_incident(self._mix.pick(self._rng), None)
        self._schedule_arrival(self._t)

    def _surge_report(self) -> None:
        s = self._surge
        assert s is not None
        self._new_incident(s.mix.pick(self._rng), s)

    def _next_ticket(self) -> str:
        day = local_day(self._t, WIB)
        if day != self._ticket_day:
            self._ticket_day, self._ticket_counter = day, 0
        self._ticket_counter += 1
        return f"{self.ticket_prefix}-{day:%Y%m%d}-{self.id_prefix}{self._ticket_counter:04d}"

    def _jitter(self, lat: float, lon: float, sigma_km: float) -> tuple[float, float]:
        rng = self._rng
        dlat = max(-2.5, min(2.5, rng.gauss(0, 1))) * sigma_km / 111.0
        dlon = max(-2.5, min(2.5, rng.gauss(0, 1))) * sigma_km / (111.0 * math.cos(math.radians(lat)))
        south, north, west, east = self._bounds
        # Clamp to the regency, unless a custom district lies outside it.
        new_lat = min(max(lat + dlat, min(south, lat)), max(north, lat))
        new_lon = min(max(lon + dlon, min(west, lon)), max(east, lon))
        return round(new_lat, 5), round(new_lon, 5)

    def _in_area(self, lat: float, lon: float) -> tuple[float, float]:
        """A point inside the regency's outline, spread around its centre (a
        regency without districts): drawn again while outside, else the centre."""
        import shapely

        rng = self._rng
        km_lon = 111.0 * math.cos(math.radians(lat))
        for _ in range(40):
            dlat = max(-2.5, min(2.5, rng.gauss(0, 1))) * AREA_SIGMA_KM / 111.0
            dlon = max(-2.5, min(2.5, rng.gauss(0, 1))) * AREA_SIGMA_KM / km_lon
            p_lat, p_lon = round(lat + dlat, 5), round(lon + dlon, 5)
            if shapely.contains_xy(self._area, p_lon, p_lat):
                return p_lat, p_lon
        return lat, lon

    def _village(self, district: str) -> str:
        own = self._villages.get(district, ())
        rng = self._rng
        if own and rng.random() < 0.6:
            return rng.choice(own)
        return rng.choice(GENERIC_VILLAGES)

    def _place(self, category: str, surge: _Surge | None) -> tuple[Location, tuple[float, float], str, bool]:
        """Location, destination for units, district, and whether it is on the toll road."""
        rng = self._rng
        if surge is not None:
            district = rng.choice(surge.districts)
        elif category == "karhutla":
            district = self._peat_pick.pick(rng)
        elif category == "banjir":
            district = rng.choice(self._flood_names)
        elif category == "kecelakaan_lalu_lintas" and self._toll_districts and rng.random() < 0.4:
            return self._place_toll()
        else:
            district = self._district_pick.pick(rng)
        code, name, clat, clon = self._districts[district]
        if category == "karhutla" and district in self._hotspots and rng.random() < 0.6:
            desa = self._hotspots[district]
        else:
            desa = self._village(district)
        lat, lon = self._jitter(clat, clon, 5.0 if category == "karhutla" else 3.0)
        if self._area is not None:
            lat, lon = self._in_area(clat, clon)
        if category == "karhutla":
            address = f"Lahan gambut Desa {desa}"
        elif category in ("kecelakaan_lalu_lintas", "ketertiban_lalu_lintas", "pohon_tumbang"):
            address = f"Jalan poros Desa {desa}"
        else:
            address = f"RT {rng.randint(1, 12):02d} Desa {desa}"
        if rng.random() < 0.04:
            # A caller who only names the village: the wall uses the centroid.
            # Crews head for the village; the wall shows the district centroid.
            bare = Location(kecamatan=name, kecamatan_code=code, desa=desa, address=address)
            return bare, (clat, clon), name, False
        loc = Location(lat=lat, lon=lon, kecamatan=name, kecamatan_code=code, desa=desa, address=address)
        return loc, (lat, lon), name, False

    def _place_toll(self) -> tuple[Location, tuple[float, float], str, bool]:
        rng = self._rng
        first, last = TOLL_WAYPOINTS[0][0], TOLL_WAYPOINTS[-1][0]
        km = rng.randint(first, last - 1)
        metres = rng.randrange(0, 1000, 100)
        lat = lon = 0.0
        for (k1, la1, lo1), (k2, la2, lo2) in itertools.pairwise(TOLL_WAYPOINTS):
            if k1 <= km < k2:
                f = (km + metres / 1000.0 - k1) / (k2 - k1)
                lat, lon = la1 + (la2 - la1) * f, lo1 + (lo2 - lo1) * f
                break
        district = min(self._toll_districts,
                       key=lambda n: distance_km(lat, lon, self._districts[n][2], self._districts[n][3]))
        code = self._districts[district][0]
        marker = f"KM {km}" if metres == 0 else f"KM {km}+{metres}"
        road = TOLL_NORTH if km >= TOLL_SPLIT_KM else TOLL_SOUTH
        direction = rng.choice(("arah Palembang", "arah Lampung"))
        lat, lon = round(lat, 5), round(lon, 5)
        loc = Location(lat=lat, lon=lon, kecamatan=district, kecamatan_code=code, road=road, km_marker=marker,
                       address=f"{road} {marker} {direction}")
        return loc, (lat, lon), district, True

    def _priority(self, category: str, victims: int) -> str:
        r = self._rng.random()
        if category == "kecelakaan_lalu_lintas":
            high, med = {0: (0.0, 0.05), 1: (0.03, 0.2), 2: (0.15, 0.5)}.get(victims, (0.5, 0.5))
        elif category == "kebakaran" and victims:
            high, med = 0.8, 0.2  # people hurt or trapped
        else:
            high, med = PRIORITY_ODDS.get(category) or PRIORITY_BY_DEFAULT[self._default_priority[category]]
        return "high" if r < high else "medium" if r < high + med else "low"

    def _victims(self, category: str) -> int:
        rng = self._rng
        r = rng.random()
        if category == "kecelakaan_lalu_lintas":
            return 0 if r < 0.25 else 1 if r < 0.70 else 2 if r < 0.88 else rng.randint(3, 5)
        if category in ("medis", "perlindungan_perempuan_anak"):
            return 1
        if category == "kebakaran":
            return 0 if r < 0.85 else rng.randint(1, 2)
        if category == "banjir":
            return 0 if r < 0.9 else rng.randint(1, 3)
        return 0

    def _describe(self, category: str, priority: str, victims: int, toll: bool, surge: _Surge | None) -> str:
        rng = self._rng
        if priority == "high" and category in HIGH_DESCRIPTIONS and rng.random() < 0.7:
            return HIGH_DESCRIPTIONS[category]
        options: Sequence[str]
        if toll:
            options = TOLL_CRASH_DESCRIPTIONS
        elif surge is not None and (surge.hazard, category) in SURGE_DESCRIPTIONS:
            options = SURGE_DESCRIPTIONS[(surge.hazard, category)]
        elif priority == "low" and category in LOW_DESCRIPTIONS:
            options = LOW_DESCRIPTIONS[category]
        else:
            options = DESCRIPTIONS.get(category, ("Laporan warga",))
        progress = 0.5
        if surge is not None:
            span = (surge.end - surge.start).total_seconds() or 1.0
            progress = min(1.0, max(0.0, (self._t - surge.start).total_seconds() / span))
        height = int(round((30 + 90 * progress + rng.uniform(-15, 15)) / 5.0) * 5)
        return rng.choice(options).format(h=max(10, height), v=max(victims, 1), ha=rng.randint(1, 15))

    def _reporter(self) -> Reporter:
        rng = self._rng
        digits = "".join(str(rng.randrange(10)) for _ in range(rng.randint(7, 8)))
        number = rng.choice(MOBILE_PREFIXES) + digits
        name = rng.choice(REPORTER_NAMES) if rng.random() < 0.7 else ""
        return Reporter(name=name, phone_masked=mask_phone(number))

    def _new_incident(self, category: str, surge: _Surge | None) -> None:
        rng = self._rng
        loc, dest, district, toll = self._place(category, surge)
        victims = self._victims(category)
        priority = self._priority(category, victims)
        if surge is not None and category == "banjir" and rng.random() < 0.05:
            priority = "high"  # people trapped by the water
        self._inc_counter += 1
        inc = _Inc(
            id=f"{self.id_prefix}inc-{self._inc_counter:06d}", ticket=self._next_ticket(), category=category,
            priority=priority,
            location=loc, reporter=self._reporter(),
            description=self._describe(category, priority, victims, toll, surge),
            victims=victims, dest=dest, district=district, received=self._t, surge=surge,
        )
        self._incs[inc.id] = inc
        if surge is not None:
            if surge.hazard == "banjir" and category == "banjir":
                surge.households += rng.randint(2, 12)
            elif surge.hazard == "karhutla" and category == "karhutla":
                surge.burned_ha += rng.uniform(1.0, 8.0)
                surge.households += rng.randint(0, 3)  # smoke and fire near settlements
            surge.dirty = True
        self._funnel_valid_call()
        self._emit_incident(inc)
        verify = rng.uniform(30, 60) if priority == "high" else rng.uniform(30, 120)
        self._after(verify, self._verify, inc.id)

    # --- incidents: lifecycle -------------------------------------------------------

    def _emit_incident(self, inc: _Inc) -> None:
        inc.version += 1
        s = inc.surge
        situation_id = s.situation_id if s is not None and s.declared else None
        tasks = [
            AgencyTask(agency=t.agency, status=t.status, forwarded_at=t.forwarded_at,  # type: ignore[arg-type]
                       accepted_at=t.accepted_at, on_scene_at=t.on_scene_at, closed_at=t.closed_at,
                       units=list(t.units), note=t.note)
            for t in inc.tasks.values()
        ]
        incident = Incident(
            id=inc.id, ticket=inc.ticket, version=inc.version, category=inc.category,
            priority=inc.priority, status=inc.status, location=inc.location,  # type: ignore[arg-type]
            reporter=inc.reporter, description=inc.description, victims=inc.victims, tasks=tasks,
            units=list(inc.units),
            times=IncidentTimes(received=inc.received, verified=inc.verified, dispatched=inc.dispatched,
                                on_scene=inc.on_scene, closed=inc.closed),
            situation_id=situation_id, updated_at=self._t,
        )
        self._emit(p.IncidentUpserted(incident=incident))

    def _verify(self, inc_id: str) -> None:
        inc = self._incs[inc_id]
        rng = self._rng
        # Some reports fall away early: a duplicate of a report already taken
        # (common in a surge) or the caller says help is no longer needed.
        if rng.random() < (0.12 if inc.surge is not None else 0.05):
            inc.status = "cancelled"
            self._emit_incident(inc)
            del self._incs[inc_id]
            return
        inc.status, inc.verified = "verified", self._t
        self._emit_incident(inc)
        delay = rng.uniform(60, 240) if inc.priority != "high" else rng.uniform(60, 120)
        self._after(delay, self._forward, inc_id)

    def _forward(self, inc_id: str) -> None:
        inc = self._incs[inc_id]
        rng = self._rng
        agencies = self._handling[inc.category]
        if inc.category == "kecelakaan_lalu_lintas" and inc.victims == 0:
            agencies = agencies[:1]  # no ambulance without victims
        elif inc.category == "karhutla" and inc.surge is not None and inc.priority != "high":
            agencies = agencies[:1]  # the task force takes fires away from homes; fire trucks stay free
        for code in agencies:
            inc.tasks[code] = _Task(agency=code, status="forwarded", forwarded_at=self._t)
        inc.status = "forwarded"
        self._emit_incident(inc)
        for code in agencies:
            # The agency needs a moment to take the task and pick a unit.
            self._after(rng.uniform(20, 90), self._request_unit, inc_id, code)

    def _kinds(self, category: str, agency: str) -> tuple[str, ...]:
        kinds = UNIT_KINDS.get((category, agency))
        if kinds is None:  # an agency added by configuration: any of its units
            kinds = tuple(sorted({u.kind for u in self._unit_list if u.agency == agency}))
        return kinds

    def _request_unit(self, inc_id: str, agency: str) -> None:
        inc = self._incs.get(inc_id)
        if inc is None or not _needs_unit(inc, agency):
            return
        kinds = self._kinds(inc.category, agency)
        best: _Unit | None = None
        to_lat, to_lon = inc.dest
        coslat = math.cos(math.radians(to_lat))
        for kind in kinds:
            best_d = math.inf
            for u in self._by_kind.get((agency, kind), ()):
                if u.withdrawn:
                    continue
                if u.status == "available":
                    lat, lon = u.lat, u.lon
                elif u.status == "returning":
                    lat, lon = self._unit_position(u)
                else:
                    continue
                # Squared flat distance: enough to rank units, and cheap (hot loop).
                d = ((lon - to_lon) * coslat) ** 2 + (lat - to_lat) ** 2
                if d < best_d:
                    best, best_d = u, d
            if best is not None:
                break
        if best is None:
            # Nobody free: the task waits (that is what shows SLA breaches).
            rank = {"high": 0, "medium": 1, "low": 2}[inc.priority]
            for kind in kinds:
                heapq.heappush(self._waiting.setdefault((agency, kind), []),
                               (rank, inc.received, next(self._order), inc_id))
            return
        self._dispatch(best, inc, agency)

    def _dispatch(self, u: _Unit, inc: _Inc, agency: str) -> None:
        batch = [inc]
        if inc.surge is not None and inc.category == "banjir":
            batch += self._flood_batch(u, inc, agency)
        slow = 1.0
        if inc.category == "banjir" and u.kind != "perahu_karet":
            slow = 0.6  # flooded roads
        elif inc.category == "karhutla":
            slow = 0.7  # peat land far from roads
        u.status = "dispatched"
        u.serving = [i.id for i in batch]
        self._start_leg(u, inc.dest, slow, self._unit_arrived)
        self._emit_unit(u)
        for i in batch:
            task = i.tasks[agency]
            task.status, task.accepted_at = "accepted", self._t
            task.units.append(u.id)
            if u.id not in i.units:
                i.units.append(u.id)
            if i.dispatched is None:
                i.dispatched = self._t
            self._emit_incident(i)

    def _flood_batch(self, u: _Unit, inc: _Inc, agency: str) -> list[_Inc]:
        """Nearby waiting flood reports the same crew handles in one trip:
        in a flood many calls come from one neighbourhood."""
        found: list[_Inc] = []
        limit = self._rng.randint(4, 10)
        for entry in sorted(self._waiting.get((agency, u.kind), [])):
            other = self._incs.get(entry[3])
            if (other is None or other is inc or other in found or other.surge is not inc.surge
                    or other.category != "banjir" or other.district != inc.district
                    or not _needs_unit(other, agency)):
                continue
            if distance_km(*other.dest, *inc.dest) <= 5.0:
                found.append(other)
                if len(found) >= limit:
                    break
        return found

    def _unit_arrived(self, unit_id: str, leg_no: int) -> None:
        u = self._units[unit_id]
        if u.leg_no != leg_no or u.status != "dispatched":
            return
        assert u.leg is not None
        u.lat, u.lon = u.leg[2], u.leg[3]
        u.leg = None
        u.status = "on_scene"
        self._emit_unit(u)
        rng = self._rng
        batch_s: float | None = None
        for inc_id in list(u.serving):
            inc = self._incs.get(inc_id)
            if inc is None:
                continue
            task = inc.tasks[u.agency]
            if task.on_scene_at is None:
                task.on_scene_at = self._t
            task.status = "in_handling"
            if inc.on_scene is None:
                inc.on_scene = self._t
                inc.status = "in_handling"
                lo, hi = HANDLING_MIN.get(inc.category, DEFAULT_HANDLING_MIN)
                if len(u.serving) == 1:
                    handling_s = rng.uniform(lo, hi) * 60.0
                else:
                    # One crew works a neighbourhood: its reports close within one spell.
                    batch_s = batch_s or rng.uniform(lo, hi) * 60.0
                    handling_s = batch_s * rng.uniform(0.5, 1.0)
                self._after(handling_s, self._close, inc_id)
                if inc.surge is not None and inc.surge.hazard == "banjir":
                    inc.surge.evacuated += rng.randint(0, 15)
                    inc.surge.dirty = True
            self._emit_incident(inc)
        if rng.random() < 0.004:  # a crew presses its emergency button (rare)
            self._after(rng.uniform(60, 900), self._unit_emergency, unit_id, leg_no)

    def _close(self, inc_id: str) -> None:
        inc = self._incs.pop(inc_id, None)
        if inc is None:
            return
        inc.status, inc.closed = "closed", self._t
        released: list[_Unit] = []
        for task in inc.tasks.values():
            if task.status == "in_handling":
                task.note = ""
            elif task.units:
                task.note = "Dibatalkan, sudah ditangani"
            else:
                task.note = "Ditangani instansi lain"
            task.status, task.closed_at = "done", self._t
            for uid in task.units:
                u = self._units[uid]
                if inc_id not in u.serving:
                    continue
                u.serving.remove(inc_id)
                if not u.serving:
                    released.append(u)
                elif u.status == "on_scene":
                    self._emit_unit(u)  # still busy with the rest of its batch
        self._emit_incident(inc)
        for u in released:
            self._unit_return(u)

    def _unit_return(self, u: _Unit) -> None:
        u.status = "returning"
        self._start_leg(u, u.home, 1.0, self._unit_home)
        self._emit_unit(u)
        self._unit_free(u)

    def _unit_home(self, unit_id: str, leg_no: int) -> None:
        u = self._units[unit_id]
        if u.leg_no != leg_no or u.status != "returning":
            return
        u.lat, u.lon = u.home
        u.leg = None
        u.status = "out_of_service" if u.withdrawn else "available"
        self._emit_unit(u)

    def _unit_free(self, u: _Unit) -> None:
        """A unit became free: give it the most urgent waiting task it can serve."""
        if u.withdrawn:
            return
        queue = self._waiting.get((u.agency, u.kind))
        while queue:
            _, _, _, inc_id = heapq.heappop(queue)
            inc = self._incs.get(inc_id)
            if inc is not None and _needs_unit(inc, u.agency):
                self._dispatch(u, inc, u.agency)
                return

    def _unit_emergency(self, unit_id: str, leg_no: int) -> None:
        u = self._units[unit_id]
        if u.status != "on_scene" or u.leg_no != leg_no or not u.serving:
            return
        self._alert_counter += 1
        inc = self._incs.get(u.serving[0])
        place = f" di Kecamatan {inc.district}" if inc is not None else ""
        alert = Alert(
            id=f"{self.id_prefix}alert-unit-{self._alert_counter:05d}",
            kind="unit_emergency",
            priority="high",
            raised_at=self._t, incident_id=u.serving[0], unit_id=u.id,
            message=f"Tombol darurat unit {u.callsign} ditekan{place}",
        )
        self._emit(p.AlertRaised(alert=alert))

    # --- surge and disaster situation ----------------------------------------------

    def _plan_surge(self, start_s: float | None, reports: int | None) -> _Surge | None:
        rng = self._rng
        if self.scenario in ("flood", "mixed"):
            hazard, pool, mix = "banjir", self._flood_names, MIX_FLOOD_SURGE
            count = rng.randint(2, min(4, len(pool))) if len(pool) >= 2 else 1
            districts = rng.sample(pool, count)
            offset = start_s if start_s is not None else rng.uniform(60, 240)
            n = reports if reports is not None else rng.randint(300, 400)
            duration = rng.uniform(45, 55) * 60
            declare = offset + rng.uniform(6, 12) * 60
            end_after = rng.uniform(90, 180) * 60
        elif self.scenario == "karhutla":
            hazard, pool, mix = "karhutla", self._peat_names, MIX_FIRE_SURGE
            hotspots = [n for n in pool if n in self._hotspots]
            others = [n for n in pool if n not in hotspots]
            districts = hotspots + rng.sample(others, min(1, len(others)))
            offset = start_s if start_s is not None else rng.uniform(5, 15) * 60
            n = reports if reports is not None else rng.randint(50, 90)
            duration = rng.uniform(150, 210) * 60
            declare = offset + rng.uniform(30, 50) * 60
            end_after = rng.uniform(120, 240) * 60
        else:
            return None
        mix = {c: w for c, w in mix.items() if self._handling.get(c)}
        if not mix.get(hazard):
            return None  # nobody configured to handle this hazard
        start = self.start + dt.timedelta(seconds=offset)
        end = start + dt.timedelta(seconds=duration)
        label = "Banjir" if hazard == "banjir" else "Karhutla"
        names = districts[0] if len(districts) == 1 else ", ".join(districts[:-1]) + " dan " + districts[-1]
        surge = _Surge(
            hazard=hazard, districts=districts, start=start, end=end, reports=n,
            situation_id=f"{self.id_prefix}sit-0001", declare_at=self.start + dt.timedelta(seconds=declare),
            end_situation_at=end + dt.timedelta(seconds=end_after), mix=_Weighted(mix),
            name=f"{label} Kecamatan {names}",
        )
        # Reports rise quickly, then ebb: a triangular profile over the window.
        for _ in range(n):
            t = start + dt.timedelta(seconds=rng.triangular(0.0, duration, duration * 0.3))
            self._push(t, self._surge_report)
        self._push(surge.declare_at, self._declare)
        return surge

    def _situation(self) -> DisasterSituation:
        s = self._surge
        assert s is not None
        if s.hazard == "banjir":
            note = "Posko banjir BPBD dibuka; warga diimbau mengungsi ke tempat aman"
        else:
            note = f"Perkiraan luas lahan terbakar {s.burned_ha:.0f} ha; pemadaman darat dan water bombing"
        return DisasterSituation(
            id=s.situation_id, version=s.version, hazard=s.hazard, name=s.name,
            status="ended" if s.ended else "active", kecamatan=list(s.districts), declared_at=s.declare_at,
            ended_at=self._t if s.ended else None, declared_by="BPBD Kabupaten Ogan Komering Ilir",
            households_affected=s.households, people_evacuated=s.evacuated, note=note,
        )

    def _emit_situation(self) -> None:
        s = self._surge
        assert s is not None
        s.version += 1
        s.dirty = False
        self._emit(p.SituationUpserted(situation=self._situation()))

    def _declare(self) -> None:
        s = self._surge
        assert s is not None
        s.declared = True
        self._emit_situation()
        # Open surge incidents now belong to the situation: send them again.
        for inc in list(self._incs.values()):
            if inc.surge is s:
                self._emit_incident(inc)
        self._reinforce(s)
        self._after(TICK_SITUATION_S, self._situation_tick)
        self._push(max(s.end_situation_at, self._t), self._end_situation)

    def _reinforce(self, s: _Surge) -> None:
        """The declaration brings crews from outside (province, Basarnas,
        volunteers) to posts in the affected districts."""
        if "BPBD" not in {a.code for a in self._agencies}:
            return
        rng = self._rng
        kind, prefix, speed = (("perahu_karet", "PRH", (25.0, 40.0)) if s.hazard == "banjir"
                               else ("truk_rescue", "TRC", (40.0, 55.0)))
        # Peat fires burn for hours and need many crews (Manggala Agni, TNI, Polri).
        count = max(3, s.reports // 20) if s.hazard == "banjir" else max(4, s.reports // 6)
        new: list[_Unit] = []
        for n in range(1, count + 1):
            d = self._districts[s.districts[(n - 1) % len(s.districts)]]
            home = (round(d[2] + rng.uniform(-0.02, 0.02), 5), round(d[3] + rng.uniform(-0.02, 0.02), 5))
            callsign = f"{prefix}-P{n:02d}"
            u = _Unit(id=callsign, callsign=callsign, agency="BPBD", kind=kind, home=home,
                      speed_range=speed, lat=home[0], lon=home[1])
            self._units[u.id] = u
            self._unit_list.append(u)
            self._by_kind.setdefault(("BPBD", kind), []).append(u)
            self._emit_unit(u)
            new.append(u)
        s.reinforcements = [u.id for u in new]
        for u in new:
            self._unit_free(u)

    def _situation_tick(self) -> None:
        s = self._surge
        assert s is not None
        if s.ended:
            return
        if s.dirty:
            self._emit_situation()
        self._after(TICK_SITUATION_S, self._situation_tick)

    def _end_situation(self) -> None:
        s = self._surge
        assert s is not None
        if any(inc.surge is s for inc in self._incs.values()):
            self._after(600.0, self._end_situation)  # not over while its reports are open
            return
        s.ended = True
        self._emit_situation()
        for uid in s.reinforcements:
            u = self._units[uid]
            u.withdrawn = True
            if u.status == "available":
                u.status = "out_of_service"
                self._emit_unit(u)

    # --- call funnel ------------------------------------------------------------------

    def _new_funnel(self, day: dt.date) -> _Funnel:
        rng = self._rng
        # Prank + ghost share of answered calls (Semarang 2025: 38.6%), info
        # requests, and the valid rest; drawn per day.
        pg, info = rng.uniform(0.34, 0.46), rng.uniform(0.08, 0.14)
        valid = 1.0 - pg - info
        ghost_share = rng.uniform(0.5, 0.65)
        return _Funnel(day=day, pg_ratio=pg / valid, info_ratio=info / valid, ghost_share=ghost_share)

    def _funnel_roll(self) -> _Funnel:
        day = local_day(self._t, WIB)
        if day != self._funnel.day:  # totals are per WIB day
            self._funnel = self._new_funnel(day)
        return self._funnel

    def _funnel_valid_call(self) -> None:
        f = self._funnel_roll()
        f.valid += 1
        f.answered += 1
        f.calls_in += 1

    def _funnel_tick(self) -> None:
        rng = self._rng
        f = self._funnel_roll()
        new_valid = f.valid - f.valid_at_tick
        f.valid_at_tick = f.valid
        # Non-emergency calls follow the line's load, with a floor at the base
        # rate (ghost and prank calls come at night too).
        load = 0.3 * self.rate_per_min * TICK_FUNNEL_S / 60.0 + 0.7 * new_valid
        pg = _poisson(rng, f.pg_ratio * load)
        ghost = sum(1 for _ in range(pg) if rng.random() < f.ghost_share)
        info = _poisson(rng, f.info_ratio * load)
        f.ghost += ghost
        f.prank += pg - ghost
        f.info += info
        f.answered += pg + info
        # Callers hanging up before an answer: a few percent of all calls.
        abandoned = _poisson(rng, 0.035 * (pg + info + new_valid))
        f.abandoned += abandoned
        f.calls_in += pg + info + abandoned
        self._emit(p.FunnelUpdated(funnel=CallFunnel(
            day=f.day, calls_in=f.calls_in, answered=f.answered, abandoned=f.abandoned, prank=f.prank,
            ghost=f.ghost, valid=f.valid, info=f.info, updated_at=self._t,
        )))
        self._after(TICK_FUNNEL_S, self._funnel_tick)


@functools.cache
def shipped_config() -> Config:
    """The shipped configuration (config/default.toml), read once: the
    simulator's geography when it is given no configuration."""
    return load_defaults()


def _needs_unit(inc: _Inc, agency: str) -> bool:
    """True while the agency's task of an open incident still waits for a unit."""
    task = inc.tasks.get(agency)
    return task is not None and task.status == "forwarded" and not task.units


__all__ = [
    "FLOOD_PRONE",
    "PEAT",
    "SCENARIOS",
    "District",
    "Simulator",
    "TimedBody",
    "distance_km",
    "shipped_config",
]
