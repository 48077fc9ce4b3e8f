"""Acknowledging from the map popup: real QtWebEngine pages, a real server.

Two walls run in this process under one qasync loop (as in test_alerts_ui):
the operator console's interactive map and a display-only wall map. The page
is asked through ``MapView.run_js_json`` (the same queue as the diffs), and
waits are on the page's batch confirmations or a condition with a deadline,
never on fixed sleeps.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

# QtWebEngineWidgets must be imported before the QApplication is created.
import PySide6.QtWebEngineWidgets  # noqa: F401
import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent

from commandcenter.config import load_defaults
from commandcenter.core import protocol as p
from commandcenter.core.model import IncidentTimes, Location
from commandcenter.core.timeutil import WIB, utcnow
from tests.factories import make_incident
from tests.serverproc import admin_inject, export
from tests.ui.walls import (
    Wall,
    count_colour,
    js,
    run_qasync,
    settled,
    two_walls,
    until,
    wait_js,
    wait_painted,
)
from ui.alerts.banner import incident_alert_states, sync_map_alert_states
from ui.support import theme
from ui.views.map.view import MapView

HOSTILE = "<img src=x onerror=alert(1)>"
#: The acknowledge button's fill in resources/map/map.css (the banner's too).
ACK_BUTTON_FILL = "#24507a"
# QtWebEngine's GPU probes and QtMultimedia's notes on a machine without sound
# are ignored for every test (pyproject's qt_log_ignore).
pytestmark = [pytest.mark.qt, pytest.mark.slow]  # two walls, two QtWebEngine pages, a server

#: The operator console (read from 0.8 m) and the wall map (6 m).
CONSOLE_METRICS = theme.metrics_for(1920, 1080, 24, 0.8)
WALL_METRICS = theme.metrics_for(1280, 720, 55.0, 6.0)


def _map(qtbot: Any, wall: Wall, tmp_path: Path, *, interactive: bool) -> MapView:
    view = MapView(
        wall.bridge, interactive=interactive, metrics=CONSOLE_METRICS if interactive else WALL_METRICS,
        page_dir=tmp_path / "page",
    )  # fmt: skip
    view.resize(1280, 720)
    view.show()
    # As the wall wires a map (ui.app.wall._make_view).
    sync_map_alert_states(view, wall.controller)
    if interactive:
        view.ack_requested.connect(wall.controller.acknowledge_incident)
    return view


def _fire(incident_id: str) -> p.IncidentUpserted:
    return p.IncidentUpserted(
        incident=make_incident(
            id=incident_id, ticket=f"OKI-{incident_id}", category="kebakaran", priority="high",
            description=HOSTILE, times=IncidentTimes(received=utcnow()),
            location=Location(lat=-3.086, lon=105.223, kecamatan="Pangkalan Lampam", desa="Deling"),
        )
    )  # fmt: skip


@pytest.mark.own_process  # its qasync loop's stop crashed once after hundreds of Qt tests
def test_konfirmasi_in_the_map_popup_acknowledges_once_on_every_wall(
    qapp: Any, qtbot: Any, tmp_path: Path
) -> None:
    config = load_defaults()
    shots = os.environ.get("H1_SCREENSHOTS")  # set to a directory to keep the rendered popups
    maps: list[MapView] = []

    async def scenario() -> None:
        async with contextlib.AsyncExitStack() as stack:
            server, console, plain = await stack.enter_async_context(two_walls(qtbot, tmp_path, config))
            walls = [console, plain]
            console_map = _map(qtbot, console, tmp_path, interactive=True)
            wall_map = _map(qtbot, plain, tmp_path, interactive=False)
            maps.extend([console_map, wall_map])
            # The pages stop before their walls' bridges close (callbacks run first).
            stack.callback(lambda: [view.shutdown() for view in maps])
            await until(
                walls, lambda: all(settled(w) for w in walls) and all(m.is_idle() for m in maps), "ready"
            )

            await admin_inject(server.url, [_fire("fire-1")])
            aid = "incident:fire-1"
            # The alert service hears the feed before the bridge hands the views
            # the incident: wait for the maps to have its marker too.
            await until(
                walls,
                lambda: all(w.banner.alert_id == aid and settled(w) for w in walls)
                and all(m.is_idle() for m in maps),
                "alert on both walls, marker on both maps",
            )
            for w in walls:
                w.bridge.select_incident("fire-1")  # opens the popup on both maps
            dom = await wait_js(
                console_map, "OkiMap.openPopupDom()", lambda d: bool(d and d["button"]), "popup with a button"
            )
            assert dom["id"] == "fire-1"
            assert dom["button"] == {"text": "Konfirmasi", "disabled": False}
            # The hostile description is text, never markup, next to the button.
            assert HOSTILE in dom["text"] and dom["imgs"] == 0 and dom["scripts"] == 0
            wall_dom = await wait_js(wall_map, "OkiMap.openPopupDom()", lambda d: bool(d), "wall popup")
            assert wall_dom["id"] == "fire-1" and wall_dom["button"] is None  # nothing to press on a wall
            # Rendered, not only in the DOM: the button's fill on the console, none on the wall.
            image = await wait_painted(console_map, ACK_BUTTON_FILL, "the Konfirmasi button")
            if shots:
                image.save(str(Path(shots) / "h1-map-popup-alert.png"))
            await wait_painted(wall_map, theme.BG_RAISED, "the wall's popup")
            # No button on the wall: the console's covers at least 200 sampled pixels of its fill;
            # the wall's map may hold a few stray pixels of that blue (the map's own drawing).
            assert count_colour(wall_map.grab().toImage(), ACK_BUTTON_FILL) < 60

            seen: list[dict[str, str]] = []

            def record(iid: str) -> None:  # after the controller's slot: what the page was sent
                seen.append(console_map.alert_states()[iid])

            console_map.ack_requested.connect(record)
            # A real DOM click on the button, and the popup right after it.
            dom = await js(console_map, "(OkiMap.clickAck(), OkiMap.openPopupDom())")
            assert dom["button"] == {"text": "mengirim…", "disabled": True}
            await until(walls, lambda: bool(seen), "the click reached Python")
            assert seen == [{"state": "sending", "line": "mengirim…"}]
            assert aid not in console.client.store.acks  # sent, not yet acknowledged

            await until(
                walls, lambda: all(aid in w.client.store.acks for w in walls), "acknowledged everywhere"
            )
            ack = console.client.store.acks[aid]
            assert (ack.operator, ack.console, ack.incident_id) == ("Sari", "meja-1", "fire-1")
            line = f"✓ Dikonfirmasi oleh Sari, {ack.at.astimezone(WIB):%H:%M}"
            for view in maps:
                dom = await wait_js(
                    view,
                    "OkiMap.openPopupDom()",
                    lambda d: bool(d) and d["alertLine"] == line,
                    "acknowledged",
                )
                assert dom["button"] is None and dom["id"] == "fire-1"
                assert view.js_errors() == []
            if shots:
                for view, name in ((console_map, "acked"), (wall_map, "wall")):
                    image = await wait_painted(view, theme.OK, "the acknowledgement line", minimum=50)
                    image.save(str(Path(shots) / f"h1-map-popup-{name}.png"))
            # A second press (a stale page) sends nothing more.
            console_map._on_page_ack_requested("fire-1")
            await console.service.drain()
            acks = [e for e in export(server.db) if e["event"]["body"]["kind"] == "acknowledged"]
            assert [e["event"]["body"]["ack"]["alert_id"] for e in acks] == [aid]

    try:
        run_qasync(qapp, scenario)
    finally:
        # Deleted here, each page before its profile (see MapView), not
        # whenever the interpreter gets to it.
        for view in maps:
            view.deleteLater()
        # No event loop runs here to handle the deferred deletions: send them.
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
        assert not [view for view in maps if shiboken6.isValid(view)]


def test_alert_states_per_incident(qtbot: Any, bridge: Any, clock: Any) -> None:
    """ "alert" while one is to be pressed, "sending" once all are on their
    way."""
    from commandcenter.wall.alerting import AlertService
    from ui.alerts.adapter import AlertAdapter

    service = AlertService(bridge.config, bridge.store, operator="Sari", console="meja-1", clock=clock)
    controller = AlertAdapter(service, bridge)
    try:
        active = [a for a in controller.active() if a.incident_id]
        assert active
        states = incident_alert_states(controller)
        assert {a.incident_id for a in active} == set(states)
        assert all(s == {"state": "alert", "line": ""} for s in states.values())
        iid = active[0].incident_id
        assert iid is not None
        for alert in active:
            if alert.incident_id == iid:
                controller.pending_acks.add(alert.id)
        assert incident_alert_states(controller)[iid] == {"state": "sending", "line": "mengirim…"}
    finally:
        controller.shutdown()
