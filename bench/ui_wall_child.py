"""The wall program with a first-frame probe, for bench_ui's start-up figure.

``python -m bench.ui_wall_child ARGS`` runs what ``python -m ui.app.cli wall ARGS``
runs (ui.app.wall.wall_main with the same parser), except that an event filter is
installed on each wall window (object name ``wall-*``) just before ui.app.wall shows
it. When a window gets its first Paint event, a zero timer fires after that
paint pass and the child prints

    FIRST_FRAME <time.time()> <psutil create_time (whole-second accuracy)> <window>
    ALL_WINDOWS <time.time()>          (once every wall window has painted)

on stdout. Nothing else changes: it keeps running until --run-for or SIGTERM.

With ``BENCH_TICKS_FILE=PATH`` in the environment, a 5 ms PreciseTimer on the GUI thread
records the time.time() of each timeout from the moment the windows are up, and the list is
written to PATH (JSON) when the wall stops: the frame gaps of the real wall (bench_ui's
``ui.frame_gap_p99_ms_burst_videowall_2x2``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any


def main(argv: list[str]) -> int:
    from ui.app import wall as app_mod
    from ui.app.cli import build_parser

    args = build_parser().parse_args(["wall", *argv])
    original = app_mod.run_wall
    keep: list[Any] = []

    async def run_wall(app: Any, args: Any, *, demo: bool, on_ready: Any = None) -> int:
        import psutil
        from PySide6.QtCore import QEvent, QObject, QTimer

        created = psutil.Process().create_time()
        painted: set[str] = set()
        expected: list[int] = [0]
        done = {"first": False, "all": False}

        def first_done(name: str) -> None:
            if not done["first"]:
                done["first"] = True
                sys.stdout.write(f"FIRST_FRAME {time.time():.6f} {created:.3f} {name}\n")
                sys.stdout.flush()

        def all_done() -> None:
            if not done["all"]:
                done["all"] = True
                sys.stdout.write(f"ALL_WINDOWS {time.time():.6f}\n")
                sys.stdout.flush()

        class Probe(QObject):
            def eventFilter(self, obj: Any, event: Any) -> bool:
                if event.type() == QEvent.Type.Paint and obj.isWidgetType() and obj.isWindow():
                    name = obj.objectName()
                    if name.startswith("wall-") and name not in painted:
                        painted.add(name)
                        QTimer.singleShot(0, lambda n=name: first_done(n))
                        if expected[0] and len(painted) >= expected[0]:
                            QTimer.singleShot(0, all_done)
                return False

        probe = Probe()
        keep.append(probe)
        # The filter goes on each wall window just before it is shown (an
        # application-wide Python filter crashes inside QtWebEngine).
        from PySide6.QtWidgets import QWidget

        # Full screen for a window on one screen, a plain show for one spanning a video
        # wall's screens (ui.app.wall.show_pages): both are probed.
        show_full_screen, show = QWidget.showFullScreen, QWidget.show

        def probed(original: Any) -> Any:
            def probed_show(widget: Any) -> None:
                if widget.objectName().startswith("wall-"):
                    widget.installEventFilter(probe)
                original(widget)

            return probed_show

        QWidget.showFullScreen = probed(show_full_screen)  # type: ignore[method-assign]
        QWidget.show = probed(show)  # type: ignore[method-assign]

        ticks: list[float] = []
        ticks_file = os.environ.get("BENCH_TICKS_FILE")
        if ticks_file:
            from PySide6.QtCore import Qt

            tick_timer = QTimer()
            tick_timer.setTimerType(Qt.TimerType.PreciseTimer)
            tick_timer.setInterval(5)
            tick_timer.timeout.connect(lambda: ticks.append(time.time()))
            keep.append(tick_timer)

        def ready(controller: Any) -> None:
            if ticks_file:
                keep[-1].start()
            expected[0] = len(controller.windows)
            if expected[0] and len(painted) >= expected[0]:
                QTimer.singleShot(0, all_done)
            if on_ready is not None:
                on_ready(controller)

        try:
            return await original(app, args, demo=demo, on_ready=ready)
        finally:
            if ticks_file:
                with open(ticks_file, "w", encoding="utf-8") as f:  # noqa: ASYNC230 - once, at the end
                    json.dump(ticks, f)

    app_mod.run_wall = run_wall
    return app_mod.wall_main(args, demo=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
