"""The map without a network: no request leaves the machine with the defaults,
and an offline base map comes from a tile pack the tests build (MBTiles with
sqlite3, PMTiles with the pmtiles writer), served by the program's own URL
scheme, all in real QtWebEngine."""

from __future__ import annotations

import http.server
import math
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

# QtWebEngineWidgets (and the map's URL scheme) before the QApplication exists.
import PySide6.QtWebEngineWidgets  # noqa: F401
import pytest
from PySide6.QtCore import QBuffer, QIODevice
from PySide6.QtGui import QColor, QImage
from PySide6.QtWebEngineCore import QWebEngineUrlRequestInfo, QWebEngineUrlRequestInterceptor

from commandcenter.config import Config
from commandcenter.core.store import Store
from tests.ui.conftest import page_value
from ui.support import theme
from ui.support.bridge import EngineBridge
from ui.views.map import tiles as map_tiles
from ui.views.map.view import MapView

WAIT_MS = 30_000
TILE_COLOR = "#3f8f5a"
pytestmark = [pytest.mark.qt]


class RequestLog(QWebEngineUrlRequestInterceptor):
    """Every URL the page asks for (the interceptor sees them before any
    scheme handler or the network does)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._lock = threading.Lock()

    def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:
        with self._lock:
            self.urls.append(info.requestUrl().toString())

    def remote(self) -> list[str]:
        with self._lock:
            return [u for u in self.urls if u.split(":", 1)[0].lower() not in map_tiles.LOCAL_SCHEMES]


def png(color: str) -> bytes:
    img = QImage(256, 256, QImage.Format.Format_RGB32)
    img.fill(QColor(color))
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    assert img.save(buf, "PNG")
    return bytes(buf.data().data())


def tiles_over(config: Config, zooms: range) -> Iterator[tuple[int, int, int]]:
    """XYZ tiles covering the regency's bounds (padded by half) at ``zooms``."""
    b = config.map.bounds
    pad_lat, pad_lon = (b.north - b.south), (b.east - b.west)

    def xy(lat: float, lon: float, z: int) -> tuple[int, int]:
        n = 1 << z
        x = int((lon + 180.0) / 360.0 * n)
        y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
        return min(max(x, 0), n - 1), min(max(y, 0), n - 1)

    for z in zooms:
        x0, y0 = xy(b.north + pad_lat, b.west - pad_lon, z)
        x1, y1 = xy(b.south - pad_lat, b.east + pad_lon, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                yield z, x, y


def write_mbtiles(path: Path, tiles: Iterator[tuple[int, int, int]], data: bytes) -> int:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER,"
               " tile_data BLOB)")
    db.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "test"), ("format", "png")])
    rows = [(z, x, (1 << z) - 1 - y, data) for z, x, y in tiles]  # MBTiles rows are TMS
    db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    return len(rows)


def write_pmtiles(path: Path, tiles: Iterator[tuple[int, int, int]], data: bytes) -> int:
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    ids = sorted(zxy_to_tileid(z, x, y) for z, x, y in tiles)
    with path.open("wb") as fh:
        writer = Writer(fh)
        for tile_id in ids:
            writer.write_tile(tile_id, data)
        writer.finalize({
            "tile_type": TileType.PNG, "tile_compression": Compression.NONE,
            "min_lon_e7": int(104.0e7), "min_lat_e7": int(-5.0e7), "max_lon_e7": int(107.0e7),
            "max_lat_e7": int(-2.0e7), "center_zoom": 8, "center_lon_e7": int(105.4e7),
            "center_lat_e7": int(-3.36e7),
        }, {"attribution": "test pack"})
    return len(ids)


@pytest.fixture
def open_map(qtbot: Any, store: Store, tmp_path: Path) -> Iterator[Callable[..., tuple[MapView, RequestLog]]]:
    bridges: list[EngineBridge] = []

    def make(config: Config, *, interactive: bool = False) -> tuple[MapView, RequestLog]:
        bridge = EngineBridge(config, store)
        bridges.append(bridge)
        view = MapView(bridge, interactive=interactive, metrics=theme.metrics_for(1280, 720, 55.0, 6.0),
                       page_dir=tmp_path / "page")
        qtbot.addWidget(view)
        log = RequestLog()
        view.web_page().profile().setUrlRequestInterceptor(log)
        view.resize(1280, 720)
        view.show()
        with qtbot.waitSignal(view.ready, timeout=WAIT_MS):
            pass
        # Load the page again with the interceptor surely in place: every
        # request from the first byte on is counted.
        with qtbot.waitSignal(view.ready, timeout=WAIT_MS):
            view.web_page().triggerAction(view.web_page().WebAction.ReloadAndBypassCache)
        qtbot.waitUntil(view.is_idle, timeout=WAIT_MS)
        view._request_log = log  # keep the interceptor alive as long as the view
        return view, log

    yield make
    for b in bridges:
        b.shutdown()
        b.deleteLater()


def js(qtbot: Any, view: MapView, expression: str) -> Any:
    return page_value(qtbot, view, expression, WAIT_MS)


def with_map(config: Config, **changes: Any) -> Config:
    return msgspec.structs.replace(config, map=msgspec.structs.replace(config.map, **changes))


def test_defaults_make_no_network_request(qtbot: Any, open_map: Callable[..., tuple[MapView, RequestLog]],
                                          config: Config) -> None:
    view, log = open_map(config, interactive=True)
    # Move about: zoomed in, villages and their names come in; still nothing remote.
    js(qtbot, view, "OkiMap.setView(-3.40, 104.85, 12)")
    qtbot.waitUntil(lambda: js(qtbot, view, "OkiMap.counts()")["villagesShown"], timeout=WAIT_MS)
    js(qtbot, view, "OkiMap.setView(-2.70, 105.50, 11)")
    assert any(u.startswith("file:") for u in log.urls), "the interceptor saw nothing"
    assert log.remote() == []
    assert view.js_errors() == []


class _TileServer(http.server.BaseHTTPRequestHandler):
    body = b""
    hits: list[str] = []  # noqa: RUF012 - the test's own record

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def tile_server() -> Iterator[str]:
    """A real tile server on loopback; yields its URL template."""
    _TileServer.body = png(TILE_COLOR)
    _TileServer.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TileServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/{{z}}/{{x}}/{{y}}.png"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


OpenMap = Callable[..., tuple[MapView, RequestLog]]


def test_online_tiles_only_when_asked_for_fetched_by_the_program_and_cached(
        qtbot: Any, open_map: OpenMap, config: Config, tile_server: str, tmp_path: Path) -> None:
    """The online source is a real server on loopback. Named but switched off,
    it gets no request; switched on, the program fetches its tiles (the page
    still asks only the local scheme) and keeps them in the disk cache."""
    view, log = open_map(with_map(config, tile_url=tile_server))
    assert js(qtbot, view, "OkiMap.setView(-3.40, 104.85, 10)") > 0
    # Switched off, the page has no tile layer to ask with at all.
    assert js(qtbot, view, "document.querySelectorAll('.leaflet-tile').length") == 0
    assert _TileServer.hits == [] and log.remote() == []

    view, log = open_map(with_map(config, tile_url=tile_server, online_tiles=True))
    qtbot.waitUntil(lambda: js(qtbot, view, "document.querySelectorAll('.leaflet-tile-loaded').length") > 0,
                    timeout=WAIT_MS)
    assert _TileServer.hits and all(h.endswith(".png") for h in _TileServer.hits)
    assert view._tile_handler.fetched > 0
    assert any(u.startswith(f"{map_tiles.SCHEME}://online/") for u in log.urls)
    assert log.remote() == []
    cached = [p for p in (tmp_path / "tiles").rglob("*") if p.is_file()]
    assert len(cached) == view._tile_handler.fetched
    assert view.js_errors() == []


def test_tile_cache_keeps_under_its_cap_dropping_the_least_recently_used(tmp_path: Path) -> None:
    cache = map_tiles.TileCache(tmp_path / "tiles", max_bytes=1000)
    for y in range(3):
        cache.put(5, 1, y, bytes(300))
    assert cache.get(5, 1, 0) == bytes(300)  # used again: now the most recent
    old = tmp_path / "tiles" / "5" / "1" / "1"
    os.utime(old, (1, 1))  # the least recently used, whatever the clock's resolution
    cache.put(5, 1, 3, bytes(300))
    files = [p for p in (tmp_path / "tiles").rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 1000
    assert cache.get(5, 1, 1) is None and cache.get(5, 1, 3) == bytes(300)
    # A new cache over the same folder knows what is there.
    assert map_tiles.TileCache(tmp_path / "tiles", max_bytes=1000).total == cache.total


@pytest.mark.parametrize("kind", ["mbtiles", "pmtiles"])
def test_tile_pack_is_served_through_the_local_scheme(qtbot: Any, open_map: OpenMap, config: Config,
                                                     tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"oki.{kind}"
    writer = write_mbtiles if kind == "mbtiles" else write_pmtiles
    written = writer(path, tiles_over(config, range(6, 12)), png(TILE_COLOR))
    assert written > 20
    view, log = open_map(with_map(config, tile_pack=str(path)))
    qtbot.waitUntil(lambda: js(qtbot, view, "document.querySelectorAll('.leaflet-tile-loaded').length") > 0,
                    timeout=WAIT_MS)
    handler = view._tile_handler
    assert handler.served > 0
    assert any(u.startswith(f"{map_tiles.SCHEME}://pack/") for u in log.urls)
    assert log.remote() == []
    # A tile outside the pack is a clean miss, not an error in the page.
    assert view.js_errors() == []


def test_tile_pack_reads_xyz_rows_and_refuses_other_files(tmp_path: Path) -> None:
    mb = tmp_path / "one.mbtiles"
    write_mbtiles(mb, iter([(3, 6, 4)]), b"\x89PNG-tile")
    pack = map_tiles.TilePack(mb)
    assert pack.tile(3, 6, 4) == b"\x89PNG-tile"
    assert pack.tile(3, 6, 3) is None  # the TMS row of (3, 6, 4), read as XYZ, is another tile
    pack.close()
    assert pack.tile(3, 6, 4) is None
    pm = tmp_path / "one.pmtiles"
    write_pmtiles(pm, iter([(3, 6, 4), (3, 6, 5)]), b"\x89PNG-tile")
    assert map_tiles.TilePack(pm).tile(3, 6, 5) == b"\x89PNG-tile"
    assert map_tiles.TilePack(pm).tile(4, 0, 0) is None
    junk = tmp_path / "junk.mbtiles"
    junk.write_bytes(b"not a tile pack")
    with pytest.raises(map_tiles.TilePackError, match="neither an MBTiles nor a PMTiles"):
        map_tiles.TilePack(junk)
    empty_db = tmp_path / "empty.mbtiles"
    sqlite3.connect(empty_db).execute("CREATE TABLE x (y)").connection.close()
    with pytest.raises(map_tiles.TilePackError, match="not a usable MBTiles"):
        map_tiles.TilePack(empty_db)
    assert map_tiles.open_pack(str(junk)) is None  # the map goes on without a base map
