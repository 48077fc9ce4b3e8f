"""The offline base map: tiles from a local tile pack, served to the map page
through a custom URL scheme.

A tile pack is one file of raster tiles, MBTiles (SQLite, rows in TMS order)
or PMTiles (read here with the ``pmtiles`` package: Chromium makes no HTTP
range requests on a custom scheme, so the archive is read server-side). The
page asks for ``oki-tiles://pack/{z}/{x}/{y}``; :class:`TileSchemeHandler`
answers from the file, so the base map needs no network at all.

The scheme must be registered before the QApplication exists
(:func:`register_scheme`, called when :mod:`ui.views.map.view` is imported).
"""

from __future__ import annotations

import gzip
import logging
import mmap
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject
from PySide6.QtWebEngineCore import (
    QWebEngineUrlRequestJob,
    QWebEngineUrlScheme,
    QWebEngineUrlSchemeHandler,
)

log = logging.getLogger(__name__)

SCHEME = "oki-tiles"
#: The tile URL template the page uses for the configured pack.
PACK_TEMPLATE = f"{SCHEME}://pack/{{z}}/{{x}}/{{y}}"
#: Schemes the map page loads from; anything else is a network request.
LOCAL_SCHEMES = frozenset({"file", "qrc", "data", "about", SCHEME})
_PATH = re.compile(r"^/(\d{1,2})/(\d{1,7})/(\d{1,7})(?:\.\w+)?$")
_registered = False


def register_scheme() -> None:
    """Tell QtWebEngine about the tile scheme (once; before the QApplication)."""
    global _registered
    if _registered:
        return
    scheme = QWebEngineUrlScheme(SCHEME.encode())
    scheme.setSyntax(QWebEngineUrlScheme.Syntax.Host)
    # Secure and local: a file:// map page may show its images, no web page can.
    scheme.setFlags(QWebEngineUrlScheme.Flag.SecureScheme | QWebEngineUrlScheme.Flag.LocalScheme
                    | QWebEngineUrlScheme.Flag.LocalAccessAllowed)
    QWebEngineUrlScheme.registerScheme(scheme)
    _registered = True


class TilePackError(ValueError):
    """A tile pack that cannot be read (with the reason)."""


def _image_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


class TilePack:
    """Read-only access to one MBTiles or PMTiles file (by its contents, not its name)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pm: Any = None
        self._mm: mmap.mmap | None = None
        self._gzip = False
        try:
            with self.path.open("rb") as fh:
                head = fh.read(16)
        except OSError as exc:
            raise TilePackError(f"{self.path}: {exc}") from None
        if head.startswith(b"PMTiles"):
            self._open_pmtiles()
        elif head.startswith(b"SQLite format 3"):
            self._open_mbtiles()
        else:
            raise TilePackError(f"{self.path}: neither an MBTiles nor a PMTiles file")

    def _open_mbtiles(self) -> None:
        try:
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise TilePackError(f"{self.path}: not a usable MBTiles file: {exc}") from None
        self._db = db

    def _open_pmtiles(self) -> None:
        from pmtiles.reader import MmapSource, Reader
        from pmtiles.tile import Compression, TileType

        fh = self.path.open("rb")
        try:
            source = MmapSource(fh)
            reader = Reader(source)
            header = reader.header()
        except (ValueError, OSError, KeyError) as exc:
            raise TilePackError(f"{self.path}: not a usable PMTiles file: {exc}") from None
        finally:
            fh.close()  # the mapping stays valid after the file is closed
        if header.get("tile_type") == TileType.MVT:
            raise TilePackError(f"{self.path}: vector tiles (MVT); the map needs raster tiles")
        self._gzip = header.get("tile_compression") == Compression.GZIP
        self._pm = reader

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile's bytes (XYZ numbering, as Leaflet asks), or None."""
        with self._lock:
            if self._db is None and self._pm is None:
                return None  # closed
            if self._db is not None:
                row = self._db.execute(
                    "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                    (z, x, (1 << z) - 1 - y),  # MBTiles rows count from the south (TMS)
                ).fetchone()
                return bytes(row[0]) if row else None
            data = self._pm.get(z, x, y)
        if data is None:
            return None
        return gzip.decompress(data) if self._gzip else bytes(data)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._pm = None


class TileSchemeHandler(QWebEngineUrlSchemeHandler):
    """Answers ``oki-tiles://pack/z/x/y`` from the tile pack. A tile read is
    one indexed SQLite row or a few mmap slices: quick enough for the GUI thread."""

    def __init__(self, pack: TilePack | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pack = pack
        #: Tiles served and tiles not found (diagnostics, tests).
        self.served = 0
        self.missing = 0

    def requestStarted(self, job: QWebEngineUrlRequestJob) -> None:
        url = job.requestUrl()
        match = _PATH.match(url.path())
        if self._pack is None or url.host() != "pack" or match is None:
            job.fail(QWebEngineUrlRequestJob.Error.UrlInvalid)
            return
        z, x, y = (int(g) for g in match.groups())
        try:
            data = self._pack.tile(z, x, y) if x < (1 << z) and y < (1 << z) else None
        except (sqlite3.Error, ValueError, OSError) as exc:
            log.warning("map: tile %d/%d/%d of %s unreadable: %s", z, x, y, self._pack.path, exc)
            data = None
        if data is None:
            # Outside the pack: Leaflet leaves the square empty (the dark background).
            self.missing += 1
            job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
            return
        self.served += 1
        buffer = QBuffer(job)  # lives as long as the request
        buffer.setData(QByteArray(data))
        buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        job.reply(_image_type(data).encode(), buffer)


def open_pack(path: str) -> TilePack | None:
    """The configured pack, or None (logged) when there is none or it is unusable:
    the map stays useful without a base map."""
    if not path:
        return None
    try:
        return TilePack(path)
    except TilePackError as exc:
        log.error("map: tile pack not used: %s", exc)
        return None
