"""Log files for the wall and its supervisor.

Each process writes its own rotating file (``wall.log``, ``supervisor.log``):
two processes rotating one file would rename it under each other. stderr keeps
the level given on the command line (``--log-level``); the file gets the
configured ``[logging] level``.

The files are private (0600, in a directory created 0700): they name operators
and consoles, and a log must never be where someone else reads a secret.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import cast

from commandcenter.config import LoggingConfig

#: A file of 10 MB and 5 old ones: weeks of INFO lines on a busy wall, bounded.
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
FILE_MODE = 0o600
DIR_MODE = 0o700


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files (the first and each one after a
    rollover) are created 0600 whatever the umask, and an existing file of
    ours readable by others is made private."""

    def _open(self) -> io.TextIOWrapper:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.baseFilename, flags, FILE_MODE)
        try:
            if os.name == "posix":
                st = os.fstat(fd)
                if st.st_mode & 0o077 and st.st_uid == os.geteuid():
                    os.fchmod(fd, FILE_MODE)
            # Text mode as FileHandler opens it (self.mode is 'a').
            return cast(io.TextIOWrapper, open(fd, self.mode, encoding=self.encoding, errors=self.errors))
        except BaseException:
            os.close(fd)
            raise


def log_dir(config: LoggingConfig, data_dir: str | None = None) -> Path:
    """Where the log files go: ``[logging] dir`` when set, else
    ``<data-dir>/logs`` when ``--data-dir`` was given, else the platform's
    user log directory."""
    if config.dir:
        return config.resolved_dir()
    if data_dir:
        return Path(data_dir) / "logs"
    return config.resolved_dir()


class FileLogging:
    """A rotating log file on the root logger; :meth:`close` undoes it all."""

    def __init__(
        self,
        directory: Path,
        filename: str,
        level: str | int,
        *,
        max_bytes: int = MAX_BYTES,
        backups: int = BACKUPS,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        self.path = directory / filename
        self.handler = PrivateRotatingFileHandler(
            self.path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        self.handler.setLevel(level)
        self.handler.setFormatter(logging.Formatter(FORMAT))
        root = logging.getLogger()
        self._root_level = root.level
        self._stderr: logging.Handler | None = None
        self._pinned: list[logging.Handler] = []
        stderr_level = root.level if root.level != logging.NOTSET else logging.WARNING
        plain = [h for h in root.handlers if type(h) is logging.StreamHandler]
        if not root.handlers:
            # Not started from the CLI (which sets up stderr): still say what goes wrong.
            self._stderr = logging.StreamHandler(sys.stderr)
            self._stderr.setLevel(stderr_level)
            self._stderr.setFormatter(logging.Formatter(FORMAT))
            root.addHandler(self._stderr)
        for h in plain:
            # Lowering the root level for the file must not make stderr chattier.
            if h.level == logging.NOTSET:
                h.setLevel(stderr_level)
                self._pinned.append(h)
        root.addHandler(self.handler)
        if root.level == logging.NOTSET or self.handler.level < root.level:
            root.setLevel(self.handler.level)

    def close(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self.handler)
        self.handler.close()
        if self._stderr is not None:
            root.removeHandler(self._stderr)
        for h in self._pinned:
            h.setLevel(logging.NOTSET)
        root.setLevel(self._root_level)
