"""The GUI side of the wall's watchdog: the timer that beats.

The checks run on a thread of commandcenter.ops.watchdog; here a QTimer on the GUI
thread proves the event loop still turns. A beat can only be late because the
GUI thread was busy, so lateness is the stall.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer

from commandcenter.config import Config
from commandcenter.ops.watchdog import BEAT_INTERVAL_S, Watchdog

log = logging.getLogger(__name__)

#: Test-only: names a marker file. When the file does not exist yet, the wall
#: creates it and freezes its GUI thread once the feed is live, so a test can
#: watch a real freeze, the watchdog's exit and the supervisor's restart. The
#: marker makes it happen once, not again in the restarted wall.
TEST_FREEZE_ENV = "OKI112_TEST_FREEZE_MARKER"


class GuiWatchdog(QObject):
    def __init__(self, watchdog: Watchdog, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.watchdog = watchdog
        self._timer = QTimer(self)
        # A coarse timer may fire up to 5 % late by design; that is not a stall.
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(round(watchdog.beat_interval_s * 1000))
        self._timer.timeout.connect(watchdog.beat)
        self._freeze_probe: QTimer | None = None

    def start(self) -> None:
        self.watchdog.start()
        self._timer.start()
        marker = os.environ.get(TEST_FREEZE_ENV)
        if marker and not Path(marker).exists():
            Path(marker).write_text(str(os.getpid()))
            log.warning("test hook %s: the GUI thread will freeze once the feed is live", TEST_FREEZE_ENV)
            self._freeze_probe = QTimer(self)
            self._freeze_probe.setInterval(200)
            self._freeze_probe.timeout.connect(self._freeze_when_live)
            self._freeze_probe.start()

    def stop(self) -> None:
        self._timer.stop()
        if self._freeze_probe is not None:
            self._freeze_probe.stop()
        self.watchdog.stop()

    def paused(self) -> contextlib.AbstractContextManager[None]:
        """No stall counted while the wall blocks its GUI thread on purpose (screenshots)."""
        return self.watchdog.paused()

    def _freeze_when_live(self) -> None:
        if self.watchdog.feed_state() == "live":
            assert self._freeze_probe is not None
            self._freeze_probe.stop()
            log.warning("test hook: freezing the GUI thread now")
            time.sleep(3600)  # the watchdog ends the process long before


def start_watchdog(
    config: Config, stats_file: str | None, feed_state: Callable[[], str], on_restart: Callable[[str], None]
) -> GuiWatchdog:
    """The wall's watchdog, running. ``on_restart`` is called from the
    watchdog's thread: it must hand over to the GUI thread itself."""
    watchdog = Watchdog(
        config.watchdog,
        on_restart=on_restart,
        stats_file=stats_file,
        feed_state=feed_state,
        beat_interval_s=BEAT_INTERVAL_S,
    )
    gui = GuiWatchdog(watchdog)
    gui.start()
    return gui
