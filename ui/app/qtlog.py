"""Qt's own messages (qWarning, QtWebEngine, the platform plugin) into Python logging.

Each message goes to the logger named after its category (``qt.multimedia``;
``qt.default`` when it has none, ``qt.<name>`` for other names) at the
matching level, so it lands in the wall's log file with the rest. A handler that
was installed before (pytest-qt's capture, say) still gets every message:
this one chains, it does not replace.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QtMsgType, qInstallMessageHandler

LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


def install_qt_log_handler() -> Callable[[], None]:
    """Route Qt's messages into logging; returns the function that puts the
    previous handler back."""
    previous: Any = None

    def handler(mode: QtMsgType, context: Any, message: str) -> None:
        category = getattr(context, "category", None) or "default"
        # Qt's own categories already start with "qt." (qt.multimedia.ffmpeg).
        logger = logging.getLogger(category if category.startswith("qt.") else f"qt.{category}")
        level = LEVELS.get(mode, logging.WARNING)
        if logger.isEnabledFor(level):
            where = f" ({context.file}:{context.line})" if getattr(context, "file", None) else ""
            logger.log(level, "%s%s", message, where)
        if previous is not None:
            previous(mode, context, message)

    previous = qInstallMessageHandler(handler)

    def restore() -> None:
        qInstallMessageHandler(previous)

    return restore


def start_wall_logging(args: Any, filename: str = "wall.log") -> Callable[[], None]:
    """The wall's rotating log file (level and place from the config) and Qt's
    messages routed into logging; returns what undoes both. A config that does
    not load gets no file here: run_wall reports the error and exits 2."""
    from commandcenter.config import ConfigError, load_config
    from commandcenter.ops.logsetup import FileLogging, log_dir

    files: FileLogging | None = None
    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError:
        config = None
    if config is not None:
        directory = log_dir(config.logging, getattr(args, "data_dir", None))
        try:
            files = FileLogging(directory, filename, config.logging.level)
        except OSError as exc:
            logging.getLogger(__name__).error("no log file in %s: %s", directory, exc)
    restore = install_qt_log_handler()
    log = logging.getLogger("ui.app.wall")
    log.info(
        "wall starting (pid %d%s); log file %s",
        os.getpid(),
        ", supervised" if getattr(args, "supervised", False) else "",
        files.path if files else "none",
    )

    def stop() -> None:
        restore()
        if files is not None:
            files.close()

    return stop
