"""Qt's own messages (qWarning, QtWebEngine, the platform plugin) into Python logging.

Each message goes to the logger named after its category (``qt.multimedia``;
``qt.default`` when it has none, ``qt.<name>`` for other names) at the
matching level, so it lands in the wall's log file with the rest. A handler that
was installed before (pytest-qt's capture, say) still gets every message:
this one chains, it does not replace.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler

LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


#: Expected platform noise: (logger name prefix, start of the message). Each is what a wall PC
#: without some optional part says at start, true and harmless, and the wall already shows what
#: matters of it (TANPA AUDIO, doctor's checks). They still go to the log file; only the
#: terminal is spared them, so a newcomer's first run does not look like a crash.
PLATFORM_NOISE: tuple[tuple[str, str], ...] = (
    # Qt Multimedia probing optional libraries (PipeWire, VA-API hardware video decoding).
    ("qt.multimedia.symbolsresolver", "Couldn't "),
    # No PulseAudio server (a headless box, a service account): the wall shows TANPA AUDIO.
    ("qt.default", "PulseAudioService:"),
    ("qt.multimedia", "PulseAudioService:"),
    # QtWebEngine/RHI probing GPU back-ends before falling back to software rendering.
    ("qt.default", "QRhiGles2: Failed to create"),
    ("qt.default", "Failed to create RHI for backend"),
    ("qt.default", "This plugin does not support createPlatformVulkanInstance"),
    ("qt.default", "QVulkanInstance: Failed to initialize Vulkan"),
    ("qt.default", "GBM is not supported"),
    ("qt.default", "GPUInfo not initialized"),
    ("qt.default", "This plugin does not support propagateSizeHints"),
    ("qt.qpa", "This plugin does not support"),
    ("qt.rhi", "Failed to create"),
    # pyttsx3's espeak driver writes no WAV on some systems; the espeak-ng program speaks instead.
    ("commandcenter.wall.speech", "pyttsx3 wrote no audio"),
    # A PC without an audio device (shown as TANPA AUDIO); an announcement that then fails
    # for that reason is filtered below (other speech failures still reach the terminal).
    ("ui.alerts.sound", "sound: no audio output device"),
)


class PlatformNoiseFilter(logging.Filter):
    """Keeps :data:`PLATFORM_NOISE` off a handler (the terminal's), nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if not name.startswith(("qt.", "commandcenter.wall.speech", "ui.alerts.sound")):
            return True
        message = record.getMessage()
        if name == "commandcenter.wall.speech" and message.startswith("speech failed for"):
            return "no audio output" not in message
        return not any(name.startswith(p) and message.startswith(text) for p, text in PLATFORM_NOISE)


def quiet_terminal() -> Callable[[], None]:
    """Put the noise filter on the root logger's terminal handlers (stderr), not on the log
    file's; returns what takes it off again."""
    noise = PlatformNoiseFilter()
    handlers = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    for h in handlers:
        h.addFilter(noise)

    def undo() -> None:
        for h in handlers:
            h.removeFilter(noise)

    return undo


def install_qt_log_handler() -> Callable[[], None]:
    """Route Qt's messages into logging; returns the function that puts the
    previous handler back."""
    previous: Any = None

    def handler(mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
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


def start_wall_logging(args: argparse.Namespace, filename: str = "wall.log") -> Callable[[], None]:
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
    unquiet = quiet_terminal()
    log = logging.getLogger("ui.app.wall")
    log.info(
        "wall starting (pid %d%s); log file %s",
        os.getpid(),
        ", supervised" if getattr(args, "supervised", False) else "",
        files.path if files else "none",
    )

    def stop() -> None:
        unquiet()
        restore()
        if files is not None:
            files.close()

    return stop
