"""Child of tests/ui/test_province_ui.py: the real provincial wall (ui.app.province) in
one process on the offscreen platform, following the servers named on the command line;
it reports what the province map's page drew and what the header says, as JSON lines."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any


def _say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


async def scenario(app: Any, config_path: str, data_dir: str, shots: str) -> int:
    from commandcenter.config import load_config
    from commandcenter.core.i18n import strings_for
    from ui.app.province import ProvinceController, open_province
    from ui.views.map.province import ProvinceMapView
    from ui.views.province import ProvinceModel

    config = load_config(config_path)
    session = await open_province(config, Path(data_dir))
    model = ProvinceModel(session, strings_for("id"))
    from commandcenter.wall.province_layout import province_layout

    controller = ProvinceController(app, model, province_layout("province", config.display), config,
                                    page_dir=Path(data_dir) / "page")  # fmt: skip
    # Burn-in on its own clock (the feeds keep the real one): it steps when the scenario says.
    import datetime as dt

    from commandcenter.core.timeutil import FakeClock

    burn_clock = FakeClock(dt.datetime(2026, 3, 10, 5, 0, tzinfo=dt.UTC))  # noon WIB: no dimming
    controller.clock = burn_clock
    controller.build()
    session.start()
    view = next(w for win in controller.windows for w in win.views.values() if isinstance(w, ProvinceMapView))
    header = controller.windows[0].header

    async def page_state() -> dict[str, Any]:
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        view.web_page().runJavaScript("window.provinceState ? provinceState() : '{}'", 0,
                                      lambda r: fut.done() or fut.set_result(str(r)))  # fmt: skip
        return dict(json.loads(await fut))

    async def until(pred: Any, what: str, timeout: float = 60.0) -> None:
        async with asyncio.timeout(timeout):
            while not await pred():  # noqa: ASYNC110 - polls the page's drawing
                await asyncio.sleep(0.2)  # the page's drawing has no signal to wait on
        _say(reached=what)

    async def live_drawn() -> bool:
        st = await page_state()
        return bool(model.figures.live_count == len(model.figures.regencies) and st.get("points", 0) > 0
                    and st.get("regencies") == 17)  # fmt: skip

    def burn_in() -> dict[str, Any]:
        """Every window's guard, and whether one step of its clock moves the header one pixel."""
        from PySide6.QtCore import QPoint

        moved = []
        for win in controller.windows:
            guard = win.burn_in
            if guard is None:
                moved.append(None)
                continue
            before = win.header.mapTo(win.widget, QPoint(0, 0))
            burn_clock.advance(config.display.burn_in.step_interval_s)
            guard.update_now()
            after = win.header.mapTo(win.widget, QPoint(0, 0))
            moved.append(abs(after.x() - before.x()) + abs(after.y() - before.y()))
        return {"guards": [w.burn_in is not None for w in controller.windows], "moved": moved,
                "shift_px": config.display.burn_in.shift_px}  # fmt: skip

    try:
        _say(burn_in=burn_in())
        await until(live_drawn, "live")
        _say(state=await page_state(), banner=header.is_banner_shown(), live=model.figures.live_count,
             js_errors=view.js_errors)  # fmt: skip
        controller.screenshots(Path(shots) / "live")
        _say(waiting="kill")
        # The test kills one server now (it reads this line).
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        assert line.strip() == "killed"

        async def stale_drawn() -> bool:
            return bool((await page_state()).get("stale") == 1 and header.is_banner_shown())

        await until(stale_drawn, "stale")
        rows = {r.code: r.live for r in model.figures.regencies}
        _say(state=await page_state(), banner=header.is_banner_shown(), banner_text=header.banner_text(),
             rows=rows)  # fmt: skip
        controller.screenshots(Path(shots) / "stale")
    finally:
        controller.close()
        model.shutdown()
        await session.close()
    return 0


def main() -> int:
    from ui.app.wall import prepare_environment

    prepare_environment(True, None)
    import PySide6.QtWebEngineWidgets  # noqa: F401
    from PySide6.QtWidgets import QApplication

    from ui.app.eventloop import run_in_qt_loop

    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # the windows close before the session does
    config_path, data_dir, shots = sys.argv[1:4]
    return int(run_in_qt_loop(app, scenario(app, config_path, data_dir, shots)))


if __name__ == "__main__":
    sys.exit(main())
