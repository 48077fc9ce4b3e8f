"""Every visible string, and numbers, ages and times in the reader's language.

The texts live in gettext catalogs, one file per area and language:
``resources/locale/<lang>/LC_MESSAGES/<area>.po``. The ``msgid`` is a stable
key (``"kpi.active"``), the ``msgstr`` the text, with ``{name}`` placeholders.
They are read once with Babel; engine and UI share them, so a doctor line, an
alert text and a wall label are edited the same way (docs/operations.md).

Loading is strict, because a catalog is shipped with the program and a broken
one should stop the tests and the start, not show half a wall: a key in two
area files, a key missing from one language, an empty text, a stray brace or
placeholders that differ between the languages are a :class:`CatalogError`.
A message flagged ``#, own-placeholders`` (the default speech and alert
templates, whose Indonesian and English placeholder names are aliases of each
other) may use other names per language; the config schema checks those.

There is no current language in a module global: a :class:`Strings` object is
made once at start for ``display.language`` (or ``--lang``) and handed to
whoever shows text. Numbers, percentages and times go through Babel's locale
data (Indonesian ``1.234,5``, English ``1,234.5``), times in WIB.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, get_decimal_symbol, get_group_symbol

from commandcenter.core.text import local_time

#: 1, 0.1, 0.01, ...: the rounding steps of Strings.number.
_QUANTUM = [Decimal(1).scaleb(-places) for places in range(10)]

#: The languages every catalog must have; the first is the default.
LANGUAGES: tuple[str, ...] = ("id", "en")
DEFAULT_LANGUAGE = LANGUAGES[0]


class CatalogError(ValueError):
    """A shipped catalog is broken (the message names the file and the key)."""


#: The flag of a message whose languages may name their placeholders differently.
OWN_PLACEHOLDERS = "own-placeholders"


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@dataclass(frozen=True)
class Catalogs:
    """All areas of all languages: ``messages[lang][key]``, ``areas[key]`` and the
    keys flagged own-placeholders."""

    messages: Mapping[str, Mapping[str, str]]
    areas: Mapping[str, str]
    own_placeholders: frozenset[str] = frozenset()
    _made: dict[str, Strings] = field(default_factory=dict, compare=False, repr=False)

    def strings(self, language: str) -> Strings:
        if language not in self.messages:
            raise ValueError(f"unsupported language {language!r} (have: {', '.join(self.messages)})")
        # One per language: a Strings parses its Babel locale, and the alert rules ask
        # for the spoken priority words once per alert (thousands in a burst).
        made = self._made.get(language)
        if made is None:
            made = self._made[language] = Strings(language, self.messages[language])
        return made


def _read_area(path: Traversable, lang: str) -> dict[str, tuple[str, bool]]:
    """key -> (text, flagged own-placeholders) of one .po file."""
    with path.open("rb") as fh:
        try:
            catalog = read_po(fh, locale=lang, abort_invalid=True)
        except Exception as exc:  # Babel raises its own PoFileError and ValueErrors
            raise CatalogError(f"{path}: {exc}") from exc
    out: dict[str, tuple[str, bool]] = {}
    for message in catalog:
        if not message.id:  # the header entry
            continue
        if not isinstance(message.id, str) or not isinstance(message.string, str):
            raise CatalogError(f"{path}: {message.id!r}: plural forms are not used here")
        if not message.string:
            raise CatalogError(f"{path}: {message.id!r} has no text")
        try:
            _placeholders(message.string)
        except ValueError as exc:  # a stray { or }: t() would fail on the wall
            raise CatalogError(f"{path}: {message.id!r}: {exc}") from None
        out[message.id] = (message.string, OWN_PLACEHOLDERS in message.flags)
    return out


def read_catalogs(root: Traversable | Path) -> Catalogs:
    """Read ``root/<lang>/LC_MESSAGES/*.po`` for every language and check them."""
    messages: dict[str, dict[str, str]] = {}
    areas: dict[str, str] = {}
    own: set[str] = set()
    for lang in LANGUAGES:
        folder = root / lang / "LC_MESSAGES"
        if not folder.is_dir():
            raise CatalogError(f"{folder}: no catalogs for language {lang!r}")
        merged: dict[str, str] = {}
        where: dict[str, str] = {}
        for path in sorted(folder.iterdir(), key=lambda p: p.name):
            if not path.name.endswith(".po"):
                continue
            area = path.name.removesuffix(".po")
            for key, (text, own_names) in _read_area(path, lang).items():
                if key in where:
                    raise CatalogError(f"{lang}: key {key!r} is in both {where[key]}.po and {area}.po")
                where[key] = area
                merged[key] = text
                if own_names:
                    own.add(key)
        messages[lang] = merged
        if lang == DEFAULT_LANGUAGE:
            areas = where
        elif where != areas:
            for key in sorted(set(where) | set(areas)):
                if where.get(key) != areas.get(key):
                    raise CatalogError(
                        f"{key!r}: in {areas.get(key, '(missing)')}.po for {DEFAULT_LANGUAGE}, "
                        f"in {where.get(key, '(missing)')}.po for {lang}"
                    )
    base = messages[DEFAULT_LANGUAGE]
    for lang, texts in messages.items():
        for key, text in texts.items():
            if key not in own and _placeholders(text) != _placeholders(base[key]):
                raise CatalogError(f"{key!r}: placeholders differ between {DEFAULT_LANGUAGE} and {lang}")
    return Catalogs(messages, areas, frozenset(own))


@functools.cache
def shipped_catalogs() -> Catalogs:
    """The program's own catalogs, read once per process."""
    return read_catalogs(files("resources") / "locale")


def strings_for(language: str = DEFAULT_LANGUAGE) -> Strings:
    """The :class:`Strings` of ``language`` from the shipped catalogs."""
    return shipped_catalogs().strings(language)


class Strings:
    """The texts and formats of one language.

    ``t(key, **fields)`` gives a text; the other methods format figures. A
    missing key shows as the key itself (visible in a screenshot and caught by
    the catalog test) rather than stopping a wall that must keep running.
    """

    def __init__(self, language: str, messages: Mapping[str, str]) -> None:
        self.language = language
        self.locale = Locale.parse(language)
        self._messages = messages
        # The locale's decimal and group signs (CLDR, through Babel), applied to
        # Python's own formatting: Babel's format_decimal costs some 30 us a
        # call, too much for a queue that repaints its age column every second.
        # Only for grouping by threes (id, en); any other locale goes to Babel.
        pattern = self.locale.decimal_formats.get(None)
        self._fast = pattern is not None and pattern.grouping == (3, 3)
        group, decimal = get_group_symbol(self.locale), get_decimal_symbol(self.locale)
        self._signs = str.maketrans({",": group, ".": decimal})

    def __repr__(self) -> str:
        return f"Strings({self.language!r})"

    def __contains__(self, key: object) -> bool:
        return key in self._messages

    def t(self, key: str, /, **fields: Any) -> str:
        text = self._messages.get(key, key)
        return text.format(**fields) if fields else text

    # --- numbers -------------------------------------------------------------------

    def number(self, value: float, decimals: int | None = 0) -> str:
        """Grouped and rounded the local way: 1.234,5 (id), 1,234.5 (en).
        ``decimals=None``: as many as needed, at most two (15, 7,5)."""
        if decimals == 0 and type(value) is int and -1000 < value < 1000:
            return str(value)  # no sign to place: the common case (ages, counts)
        if not self._fast or (isinstance(value, float) and not math.isfinite(value)):
            fraction = "##" if decimals is None else "0" * decimals
            pattern = "#,##0" + ("." + fraction if fraction else "")
            return format_decimal(value, format=pattern, locale=self.locale)
        places = 2 if decimals is None else decimals
        # Rounded as Babel rounds: the shortest decimal form of the float, half to
        # even (12.345 -> 12.34), not the binary value (which says 12.35).
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        text = f"{exact.quantize(_QUANTUM[places], ROUND_HALF_EVEN):,.{places}f}"
        if decimals is None and "." in text:
            text = text.rstrip("0").rstrip(".")
        return text.translate(self._signs)

    def percent(self, share: float | None, decimals: int = 0) -> str:
        """A share (0.25) as the number of a percentage ("25"); the catalog text
        carries the % sign, where each language wants it. None is a dash."""
        return self.t("kpi.none") if share is None else self.number(share * 100, decimals)

    def minutes(self, seconds: float | None) -> str:
        """A duration on a figure: '12,5 mnt' (id), '12.5 min' (en)."""
        if seconds is None:
            return self.t("kpi.none")
        return self.t("duration.minutes", n=self.number(seconds / 60, 1))

    # --- ages ----------------------------------------------------------------------
    # Every display form of an age, in one place: the forms differ by the room
    # they have (a header line, a narrow queue column, a wall tile, a report).

    def age(self, seconds: float | None) -> str:
        """'45 detik', '3 menit', '2 jam 5 menit': header, banner, alerts."""
        if seconds is None:
            return self.t("kpi.none")
        s = max(0, int(seconds))
        if s < 60:
            return self.t("age.seconds", n=self.number(s))
        if s < 3600:
            return self.t("age.minutes", n=self.number(s // 60))
        return self.t("age.hours", n=self.number(s // 3600), m=self.number((s % 3600) // 60))

    def age_column(self, seconds: float | None) -> str:
        """'45 detik', '83 mnt': minutes only, so a queue column stays narrow."""
        if seconds is None or seconds < 60:
            return self.age(seconds)
        return self.t("age.minutes_short", n=self.number(int(seconds) // 60))

    def age_tile(self, seconds: float | None) -> str:
        """'45 detik', '82 menit', '3,5 jam': one figure that fits a wall tile."""
        if seconds is None:
            return self.t("kpi.none")
        s = max(0, int(seconds))
        if s < 60:
            return self.t("age.seconds", n=self.number(s))
        if s < 100 * 60:
            return self.t("age.minutes", n=self.number(s // 60))
        return self.t("age.hours_decimal", n=self.number(s / 3600, 1))

    def age_coarse(self, seconds: float) -> str:
        """'3 hari', '2 jam', '5 menit', '10 detik': the largest whole unit (reports)."""
        s = max(0, round(seconds))
        for key, size in (("age.days", 86400), ("age.hours_only", 3600), ("age.minutes", 60)):
            if s >= size:
                return self.t(key, n=self.number(s // size))
        return self.t("age.seconds", n=self.number(s))

    # --- times (always WIB) ----------------------------------------------------------

    def clock(self, ts: dt.datetime | None, seconds: bool = True) -> str:
        """'14:05:09' (or '14:05') in WIB; a dash for no time."""
        if ts is None:
            return self.t("kpi.none")
        # 24-hour WIB time with ASCII digits in both languages (CLDR's HH:mm:ss).
        return local_time(ts).strftime("%H:%M:%S" if seconds else "%H:%M")

    def date(self, value: dt.datetime | dt.date, style: str = "medium") -> str:
        """'4 Des 2026' (id), 'Dec 4, 2026' (en); a datetime is taken in WIB."""
        day = local_time(value).date() if isinstance(value, dt.datetime) else value
        return format_date(day, style, locale=self.locale)

    # --- names from the configuration -------------------------------------------------

    def pick(self, text_id: str, text_en: str) -> str:
        """A configured name in this language; English falls back to Indonesian."""
        return text_en if self.language == "en" and text_en else text_id

    def category_name(self, config: Any, code: str) -> str:
        cat = config.category(code) if config is not None else None
        return code if cat is None else self.pick(str(cat.name_id), str(cat.name_en))

    def agency_name(self, config: Any, code: str, short: bool = True) -> str:
        ag = config.agency(code) if config is not None else None
        if ag is None:
            return code
        short_name = str(getattr(ag, "short", None) or "")
        if short and short_name:
            return short_name
        return self.pick(str(ag.name), str(ag.name_en or ""))
