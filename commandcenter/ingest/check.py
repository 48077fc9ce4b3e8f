"""`commandcenter ingest check --format FORMAT FILE`: how an integrator checks a feed offline.

Prints one JSON line per item (source, kind, id, time, lat/lon or area, kecamatan and desa it
touches, severity or magnitude, the text the wall shows, and the format's details) and exits 0;
on bad input prints one line naming the file, where and why, and exits 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import msgspec

from commandcenter.ingest import bmkg_quake, cap, eido, firms, petabencana
from commandcenter.ingest.items import MAX_DOCUMENT_BYTES, IngestError, Item
from commandcenter.ingest.regions import Regions, load_regions

FORMATS: dict[str, Callable[[bytes, Regions | None], list[Item]]] = {
    "bmkg-quake": bmkg_quake.parse,
    "bmkg-rss": lambda data, _regions: cap.parse_rss(data),
    "cap": cap.parse_alert_list,
    "firms": firms.parse,
    "petabencana": petabencana.parse,
    "eido": eido.parse,
}


def check_main(
    fmt: str, path: str, *, districts: str = "", villages: str = "", out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:  # fmt: skip
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        err.write(f"{path}: cannot read: {exc.strerror or exc}\n")
        return 2
    try:
        regions = load_regions(districts, villages)
    except (OSError, ValueError) as exc:
        err.write(f"boundaries: {exc}\n")
        return 2
    try:
        items = FORMATS[fmt](data, regions)
    except IngestError as exc:
        err.write(f"{Path(path).name}: {exc.where}: {exc.why}\n")
        return 2
    enc = msgspec.json.Encoder()
    for item in items:
        out.write(enc.encode(item).decode() + "\n")
    return 0
