"""What every adapter produces: :class:`Item`, and :class:`IngestError` for what it refuses."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from msgspec import Struct

#: A document larger than this is refused before it is parsed (a BMKG CAP file is a few kB, a
#: FIRMS country CSV for one day a few MB; a 50 MB answer is a broken or hostile publisher).
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024


class IngestError(ValueError):
    """A document that cannot be used: ``where`` says which part (item 3, field DateTime,
    line 17), ``why`` what is wrong. Nothing of the document is applied."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}" if where else why)
        self.where = where
        self.why = why


class Item(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One external item as the wall shows it.

    ``id`` is the publisher's own id (CAP identifier, quake time + place, FIRMS
    satellite + time + place, PetaBencana pkey, EIDO $id): the hub deduplicates by
    (source, id). Coordinates are WGS84 degrees; ``area`` holds polygons as
    [[lat, lon], ...] rings (CAP order, not GeoJSON's). ``kecamatan`` and ``desa`` are the
    OKI districts and villages the item touches (empty when none).
    """

    source: str
    kind: str
    id: str
    time: dt.datetime
    text: str
    expires: dt.datetime | None = None
    lat: float | None = None
    lon: float | None = None
    area: list[list[tuple[float, float]]] = []
    kecamatan: list[str] = []
    desa: list[str] = []
    severity: str = ""
    magnitude: float | None = None
    detail: dict[str, Any] = {}


def check_size(data: bytes) -> None:
    if len(data) > MAX_DOCUMENT_BYTES:
        raise IngestError("document", f"{len(data)} bytes, more than the {MAX_DOCUMENT_BYTES} allowed")


def finite(value: str | float | int | None, where: str, *, lo: float, hi: float) -> float:
    """A number from a string field, finite and within [lo, hi]; IngestError otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise IngestError(where, "missing")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise IngestError(where, f"not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(number) or not lo <= number <= hi:
        raise IngestError(where, f"{number} outside {lo}..{hi}")
    return number


def aware_time(text: str | None, where: str, *, default_tz: dt.tzinfo | None = None) -> dt.datetime:
    """An ISO 8601 time with an offset (or ``default_tz`` when the format defines one), in UTC.
    Times outside 2000..2100 are refused: no publisher reports those, and the wall's countdowns
    must never be fed one."""
    if not text or not text.strip():
        raise IngestError(where, "missing time")
    raw = text.strip()
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise IngestError(where, f"not an ISO time: {raw[:40]!r}") from None
    if value.tzinfo is None:
        if default_tz is None:
            raise IngestError(where, f"time without a UTC offset: {raw[:40]!r}")
        value = value.replace(tzinfo=default_tz)
    if not 2000 <= value.year <= 2100:
        raise IngestError(where, f"time outside 2000..2100: {raw[:40]!r}")
    return value.astimezone(dt.UTC)


def clean_text(value: Any, limit: int = 1000) -> str:
    """Text from a publisher, as plain text for the wall: whitespace runs collapsed, control
    characters dropped, at most ``limit`` characters. Never interpreted as markup anywhere."""
    if value is None:
        return ""
    text = "".join(ch if ch.isprintable() or ch == " " else " " for ch in str(value))
    text = " ".join(text.split())
    return text[:limit]
