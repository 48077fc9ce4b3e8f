"""The gallery's reproducible pictures (tools/screenshots.py, ui.app.still): what made two runs
differ is fixed at its cause. Cheap checks; two whole gallery runs compared byte for byte are
the proof (docs/screenshots, regenerated with `make screenshots`)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

# QtWebEngineWidgets must be imported before the QApplication is created.
import PySide6.QtWebEngineWidgets  # noqa: F401
import pytest

from commandcenter.core.store import Store
from tests.ui.conftest import page_value
from ui.support import theme
from ui.support.bridge import EngineBridge
from ui.views.map.view import MapView

ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 30_000


def _screenshots() -> Any:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import screenshots
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return screenshots


def test_gallery_walls_run_from_nothing_that_differs_between_runs(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    shots = _screenshots()
    monkeypatch.setenv("COMMANDCENTER_SERVER_URL", "ws://elsewhere:1/")
    monkeypatch.setenv("PYTHONHASHSEED", "random")
    env = shots.wall_env(tmp_path)
    # Set orders fixed; the map page and its assets in the run's own cache, never the user's
    # (another checkout rewrote map.js there under a gallery wall); the shipped configuration.
    assert env["PYTHONHASHSEED"] == "0"
    assert Path(env["XDG_CACHE_HOME"]).is_relative_to(tmp_path)
    config = Path(env["COMMANDCENTER_CONFIG"])
    assert config.is_relative_to(tmp_path) and config.read_text().strip().startswith("#")
    assert "COMMANDCENTER_SERVER_URL" not in env and "DISPLAY" not in env


def test_the_frozen_clock_is_the_gallerys_moment_whatever_the_time() -> None:
    from ui.app.wall import _FrozenClock

    shots = _screenshots()
    clock = _FrozenClock(shots.AT.isoformat())
    assert clock() == clock() == shots.AT
    assert clock().astimezone(dt.UTC) == dt.datetime(2026, 3, 10, 8, 30, tzinfo=dt.UTC)


@pytest.mark.qt
def test_a_held_map_page_runs_no_animation_and_says_when_it_is_settled(
    qtbot: Any, bridge: EngineBridge, store: Store, tmp_path: Path
) -> None:
    view = MapView(bridge, metrics=theme.metrics_for(1280, 720, 55.0, 6.0), page_dir=tmp_path / "page")
    qtbot.addWidget(view)
    view.resize(1280, 720)
    view.show()
    qtbot.waitUntil(view.is_idle, timeout=WAIT_MS)

    def js(expression: str) -> Any:
        return page_value(qtbot, view, expression, WAIT_MS)

    # Pulsing rings: CSS animations whose phase at the moment of a grab differed between runs.
    # The full sync in the store's order (what the gallery sends once the feed is live) draws
    # every marker and cluster again, rings included.
    view.set_pulsing([i.id for i in store.incidents.values()])
    view.resync()
    qtbot.waitUntil(view.is_idle, timeout=WAIT_MS)
    ring = "(function () { var e = document.querySelector('.oki-pulse');" \
           " return e ? getComputedStyle(e, '::after').animationName : ''; })()"
    qtbot.waitUntil(lambda: js(ring) == "oki-pulse", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: js("OkiMap.settled()") == [], timeout=WAIT_MS)
    assert js("OkiMap.holdStill()") is True
    assert js(ring) == "none"
    assert js("document.querySelectorAll('.oki-pulse').length") > 0  # the rings are there, still
    qtbot.waitUntil(lambda: js("OkiMap.settled()") == [], timeout=WAIT_MS)
    # The frame mark the gallery waits for in its grabs: drawn, then gone.
    js("OkiMap.frameMark('#ff00ff')")
    assert js("!!document.getElementById('oki-frame-mark')") is True
    js("OkiMap.frameMark(null)")
    assert js("!!document.getElementById('oki-frame-mark')") is False
