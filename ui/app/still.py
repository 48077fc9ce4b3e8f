"""A wall held still for its pictures: the gallery's (tools/screenshots.py, ``--frozen-clock``).

Two runs of the gallery must give the same pictures, so the wall is grabbed once what it shows
no longer depends on timing, each step waiting on a condition, not on a time:

- the feed is live (the journal has applied everything up to the server's head) and the
  bridge has handed every change to the views;
- each map page is sent the whole state again in the store's order (:meth:`MapView.resync`):
  the batches it got while the feed caught up followed the feed's timing, and markercluster
  groups markers in the order they come; the view is then idle (every batch confirmed);
- each page is settled (``OkiMap.settled``: no chunks, zoom, cluster animation, declutter or
  spread due, labels placed for where the markers are, tiles and fonts in), then has its CSS
  animations off (``OkiMap.holdStill``: a pulsing ring whole; a paused animation's phase still
  varied) and its labels and icons placed again for what it holds, and is settled again;
- a frame drawn after that has reached the widget: a grab may show an older frame (the page
  paints on its own time, its frames reach the window later still), so a mark is drawn in the
  page's corner and taken away again, each seen in a grab (``OkiMap.frameMark``);
- an alert banner's flashing border is in its lit phase (:func:`light_banners`, right before
  the grab), not in whichever phase the number of one-second ticks left it.

The clock is frozen by the caller (ui.app.wall: ages, the header's clock, burn-in's shift).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from ui.alerts.banner import AlertBanner
from ui.views.map.view import MapView

if TYPE_CHECKING:
    from commandcenter.wall.feed import FeedClient
    from ui.app.wall import WallController
    from ui.support.bridge import EngineBridge

log = logging.getLogger(__name__)

#: How often a condition is looked at again while waiting for it.
POLL_S = 0.1
#: The frame mark's colour (map.js OkiMap.frameMark), one the map never paints, and its size.
MARK = "#ff00ff"
MARK_PX = 16


class NotStill(RuntimeError):
    """The wall did not come to rest in time (the message says what was still moving)."""


def map_views(controller: WallController) -> list[MapView]:
    return [m for w in controller.windows for m in w.widget.findChildren(MapView)]


def light_banners(controller: WallController) -> None:
    for w in controller.windows:
        for banner in w.widget.findChildren(AlertBanner):
            banner.show_flash_lit()


async def _js(view: MapView, expression: str) -> Any:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()

    def answer(value: Any) -> None:
        if not done.done():
            done.set_result(value)

    view.run_js_json(expression, answer)
    return await done


async def _idle(maps: list[MapView]) -> str:
    """The maps with batches queued or unconfirmed ("" when none)."""
    return "; ".join(f"map {i}: {m.pending_calls()} queued, {m.in_flight()} unconfirmed"
                     for i, m in enumerate(maps) if not m.is_idle())


async def _settled(m: MapView) -> str:
    """What the page is still doing ("" once settled)."""
    reasons = await _js(m, "OkiMap.settled()")
    if not m.is_idle():
        reasons = [*(reasons or []), "batches"]
    return ", ".join(reasons or [])


async def _marked(m: MapView, shown: bool) -> str:
    image = m.web_view().grab().toImage()
    seen = image.pixelColor(MARK_PX // 2, MARK_PX // 2).name() == MARK
    return "" if seen == shown else "waiting for a frame"


async def _until(check: Callable[[], Awaitable[str]], deadline: float, what: str) -> None:
    """Until ``check`` says "" (else what is still moving); NotStill past the deadline."""
    while True:
        busy = await check()
        if not busy:
            return
        if time.monotonic() > deadline:
            raise NotStill(f"{what}: {busy}")
        await asyncio.sleep(POLL_S)


async def hold_still(controller: WallController, feed: FeedClient, bridge: EngineBridge,
                     *, timeout: float) -> None:
    """Return once the wall may be grabbed (see the module's text); NotStill after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    try:
        await asyncio.wait_for(feed.wait_live(), timeout)
    except TimeoutError:
        raise NotStill(f"the feed was not live within {timeout:g} s ({feed.status.state.value})") from None
    bridge.flush(whole=True)
    maps = map_views(controller)
    # Idle before the full sync as well: a page still adding the last diffs' markers in
    # chunks when it is cleared could drop some of them.
    await _until(lambda: _idle(maps), deadline, "the maps' batches")
    for m in maps:
        m.resync()
    await _until(lambda: _idle(maps), deadline, "the maps' full sync")
    for i, m in enumerate(maps):
        await _until(partial(_settled, m), deadline, f"map {i}")
        await _js(m, "OkiMap.holdStill()")
        await _until(partial(_settled, m), deadline, f"map {i}")
        # The page paints on its own time and its frames reach the widget later still: a
        # grab may show a frame from before the page came to rest. A mark drawn now and then
        # taken away again, each seen in a grab, shows that the last frame drawn after the
        # rest is the one in the widget.
        await _js(m, f"OkiMap.frameMark({json.dumps(MARK)})")
        await _until(partial(_marked, m, True), deadline, f"map {i}: the frame mark never showed")
        await _js(m, "OkiMap.frameMark(null)")
        await _until(partial(_marked, m, False), deadline, f"map {i}: the frame mark never went")
        reasons = await _settled(m)
        if reasons:  # something moved meanwhile: a bug to see, not a picture to take
            raise NotStill(f"map {i} moved while it was grabbed: {reasons}")
    log.info("still: feed live at seq %d, %d map(s) settled", feed.status.seq, len(maps))


__all__ = ["NotStill", "hold_still", "light_banners", "map_views"]
