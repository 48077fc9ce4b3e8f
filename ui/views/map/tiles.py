"""The offline base map: tiles from a local tile pack, served to the map page
through a custom URL scheme.

A tile pack is one file of raster tiles, MBTiles (SQLite, rows in TMS order)
or PMTiles (read here with the ``pmtiles`` package: Chromium makes no HTTP
range requests on a custom scheme, so the archive is read server-side). The
page asks for ``oki-tiles://pack/{z}/{x}/{y}``; :class:`TileSchemeHandler`
answers from the file, so the base map needs no network at all.

The optional online layer goes the same way (``oki-tiles://online/...``): the
program fetches a tile it does not have, keeps it in a disk cache with a size
cap (:class:`TileCache`) and answers from there. The page itself never goes
online (QtWebEngine keeps a local page off the network, and it stays so).

The scheme must be registered before the QApplication exists
(:func:`register_scheme`, called when :mod:`ui.views.map.view` is imported).
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import mmap
import os
import re
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, QUrl
from PySide6.QtNetwork import QNetworkAccessManager, QNetworkReply, QNetworkRequest
from PySide6.QtWebEngineCore import (
    QWebEngineUrlRequestJob,
    QWebEngineUrlScheme,
    QWebEngineUrlSchemeHandler,
)

log = logging.getLogger(__name__)

SCHEME = "oki-tiles"
#: The tile URL templates the page uses for the configured pack and the online layer.
PACK_TEMPLATE = f"{SCHEME}://pack/{{z}}/{{x}}/{{y}}"
ONLINE_TEMPLATE = f"{SCHEME}://online/{{z}}/{{x}}/{{y}}"
#: A tile server that does not answer within this long is given up (the square stays empty).
ONLINE_TIMEOUT_MS = 15_000
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


class TileCache:
    """Online tiles on disk (``z/x/y`` files), at most ``max_bytes``: past the
    cap the least recently used tiles go first (a hit refreshes a tile's time)."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self.dir.mkdir(parents=True, exist_ok=True)
        self.total = sum(p.stat().st_size for p in self._files())

    def _files(self) -> list[Path]:
        return [p for p in self.dir.glob("*/*/*") if p.is_file() and not p.name.startswith(".")]

    def _path(self, z: int, x: int, y: int) -> Path:
        return self.dir / str(z) / str(x) / str(y)

    def get(self, z: int, x: int, y: int) -> bytes | None:
        path = self._path(z, x, y)
        try:
            data = path.read_bytes()
            os.utime(path)
        except OSError:
            return None
        return data

    def put(self, z: int, x: int, y: int, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        path = self._path(z, x, y)
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # replacing a tile: its old size goes
            self.total -= path.stat().st_size
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        self.total += len(data)
        if self.total > self.max_bytes:
            self._evict()

    def _evict(self) -> None:
        files = sorted(self._files(), key=lambda p: p.stat().st_mtime)
        for path in files:
            if self.total <= self.max_bytes * 0.9:  # some room, so not every put evicts
                break
            size = path.stat().st_size
            path.unlink(missing_ok=True)
            self.total -= size


class TileSchemeHandler(QWebEngineUrlSchemeHandler):
    """Answers ``oki-tiles://pack/z/x/y`` from the tile pack and
    ``oki-tiles://online/z/x/y`` from the cache or, fetched by the program,
    from the online tile server. A pack read is one indexed SQLite row or a few
    mmap slices: quick enough for the GUI thread; a fetch is asynchronous."""

    def __init__(self, pack: TilePack | None, parent: QObject | None = None, *,
                 online_url: str = "", cache: TileCache | None = None) -> None:
        super().__init__(parent)
        self._pack = pack
        self._online_url = online_url
        self._cache = cache
        self._nam: QNetworkAccessManager | None = None
        #: Tiles served, not found, and fetched from the online server (diagnostics, tests).
        self.served = 0
        self.missing = 0
        self.fetched = 0

    def requestStarted(self, job: QWebEngineUrlRequestJob) -> None:
        url = job.requestUrl()
        match = _PATH.match(url.path())
        if match is None or url.host() not in ("pack", "online"):
            job.fail(QWebEngineUrlRequestJob.Error.UrlInvalid)
            return
        z, x, y = (int(g) for g in match.groups())
        if x >= (1 << z) or y >= (1 << z):
            self._miss(job)
        elif url.host() == "pack":
            self._from_pack(job, z, x, y)
        else:
            self._from_online(job, z, x, y)

    def _miss(self, job: QWebEngineUrlRequestJob) -> None:
        # No such tile: Leaflet leaves the square empty (the dark background).
        self.missing += 1
        job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)

    def _reply(self, job: QWebEngineUrlRequestJob, data: bytes) -> None:
        self.served += 1
        buffer = QBuffer(job)  # lives as long as the request
        buffer.setData(QByteArray(data))
        buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        job.reply(_image_type(data).encode(), buffer)

    def _from_pack(self, job: QWebEngineUrlRequestJob, z: int, x: int, y: int) -> None:
        if self._pack is None:
            job.fail(QWebEngineUrlRequestJob.Error.UrlInvalid)
            return
        try:
            data = self._pack.tile(z, x, y)
        except (sqlite3.Error, ValueError, OSError) as exc:
            log.warning("map: tile %d/%d/%d of %s unreadable: %s", z, x, y, self._pack.path, exc)
            data = None
        if data is None:
            self._miss(job)
        else:
            self._reply(job, data)

    def _from_online(self, job: QWebEngineUrlRequestJob, z: int, x: int, y: int) -> None:
        if not self._online_url:
            job.fail(QWebEngineUrlRequestJob.Error.UrlInvalid)
            return
        cached = self._cache.get(z, x, y) if self._cache is not None else None
        if cached is not None:
            self._reply(job, cached)
            return
        if self._nam is None:
            self._nam = QNetworkAccessManager(self)
            self._nam.setTransferTimeout(ONLINE_TIMEOUT_MS)
        request = QNetworkRequest(QUrl(self._online_url.format(z=z, x=x, y=y)))
        request.setHeader(QNetworkRequest.KnownHeaders.UserAgentHeader, "OKI-Siaga-112-wall")
        reply = self._nam.get(request)
        alive = [True]
        # The page may drop the request (the view moved on); the job is then deleted.
        job.destroyed.connect(lambda *_: alive.__setitem__(0, False))
        reply.finished.connect(lambda: self._on_fetched(reply, job, alive, z, x, y))

    def _on_fetched(self, reply: QNetworkReply, job: QWebEngineUrlRequestJob, alive: list[bool],
                    z: int, x: int, y: int) -> None:
        reply.deleteLater()
        ok = reply.error() == QNetworkReply.NetworkError.NoError
        data = bytes(reply.readAll().data()) if ok else b""
        if ok and data:
            self.fetched += 1
            if self._cache is not None:
                try:
                    self._cache.put(z, x, y, data)
                except OSError as exc:
                    log.warning("map: tile cache %s not written: %s", self._cache.dir, exc)
        else:
            log.debug("map: online tile %d/%d/%d not fetched: %s", z, x, y, reply.errorString())
        if not alive[0]:
            return
        try:
            if data:
                self._reply(job, data)
            else:
                self._miss(job)
        except RuntimeError:
            pass  # the job went away between the check and the reply


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
