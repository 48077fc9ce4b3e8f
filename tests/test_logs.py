"""Log files: where they go, rotation at the size limit, Qt's messages in them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from commandcenter.config import LoggingConfig
from commandcenter.ops.logsetup import FileLogging, log_dir


def test_log_dir_is_the_configured_one_else_the_data_dir_else_the_platform_one(tmp_path: Path) -> None:
    assert log_dir(LoggingConfig(dir=str(tmp_path / "x")), str(tmp_path / "data")) == tmp_path / "x"
    assert log_dir(LoggingConfig(), str(tmp_path / "data")) == tmp_path / "data" / "logs"
    assert log_dir(LoggingConfig()) == LoggingConfig().resolved_dir()
    assert "oki" in str(log_dir(LoggingConfig())).lower()


def test_the_file_rotates_at_the_size_limit_and_keeps_so_many_old_files(tmp_path: Path) -> None:
    files = FileLogging(tmp_path / "logs", "wall.log", "INFO", max_bytes=4000, backups=2)
    try:
        log = logging.getLogger("oki.test.rotation")
        for i in range(400):
            log.info("line %04d of a wall that runs for months", i)
        log.debug("below the configured level: not written")
    finally:
        files.close()
    names = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert names == ["wall.log", "wall.log.1", "wall.log.2"]
    for name in names:
        size = (tmp_path / "logs" / name).stat().st_size
        assert 0 < size <= 4000, (name, size)
    text = (tmp_path / "logs" / "wall.log").read_text()
    assert "line 0399" in text and "INFO oki.test.rotation" in text
    assert "line 0399" not in (tmp_path / "logs" / "wall.log.1").read_text()
    assert "below the configured level" not in text


def test_closing_puts_the_root_logger_back(tmp_path: Path) -> None:
    root = logging.getLogger()
    before_level, before_handlers = root.level, list(root.handlers)
    files = FileLogging(tmp_path, "supervisor.log", "DEBUG")
    assert root.level == logging.DEBUG and files.handler in root.handlers
    files.close()
    assert root.level == before_level and root.handlers == before_handlers


@pytest.mark.qt
@pytest.mark.qt_log_ignore("^oki112 log test:")
def test_qt_messages_land_in_the_file_with_their_category(tmp_path: Path, qtlog: object) -> None:
    from PySide6.QtCore import QLoggingCategory, qCCritical, qCWarning, qWarning

    from ui.app.qtlog import install_qt_log_handler

    files = FileLogging(tmp_path, "wall.log", "INFO")
    restore = install_qt_log_handler()
    try:
        qWarning("oki112 log test: plain warning")
        category = QLoggingCategory("qt.oki112.test")
        qCWarning(category, "oki112 log test: categorised warning")
        qCCritical(QLoggingCategory("oki112.other"), "oki112 log test: critical")
    finally:
        restore()
        files.close()
    text = (tmp_path / "wall.log").read_text()
    assert "WARNING qt.default: oki112 log test: plain warning" in text
    assert "WARNING qt.oki112.test: oki112 log test: categorised warning" in text
    assert "ERROR qt.oki112.other: oki112 log test: critical" in text
    # pytest-qt's own capture, installed before ours, still saw every message.
    seen = [r.message for r in qtlog.records]  # type: ignore[attr-defined]
    assert sum(m.startswith("oki112 log test:") for m in seen) == 3


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid"), reason="POSIX file modes")
def test_log_files_are_private_after_every_rollover_whatever_the_umask(tmp_path: Path) -> None:
    import os
    import stat

    old_umask = os.umask(0o022)  # the usual umask: files 0644 unless made private
    try:
        files = FileLogging(tmp_path / "logs", "supervisor.log", "INFO", max_bytes=2000, backups=2)
        try:
            log = logging.getLogger("oki.test.private")
            for i in range(200):
                log.info("started: commandcenter wall --data-dir /srv/oki line %04d", i)
        finally:
            files.close()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "logs").stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "logs").iterdir()}
    assert sorted(modes) == ["supervisor.log", "supervisor.log.1", "supervisor.log.2"]
    assert set(modes.values()) == {0o600}, modes


def test_an_existing_log_file_readable_by_others_is_made_private(tmp_path: Path) -> None:
    import stat

    (tmp_path / "logs").mkdir()
    old = tmp_path / "logs" / "wall.log"
    old.write_text("from an older version\n")
    old.chmod(0o644)
    files = FileLogging(tmp_path / "logs", "wall.log", "INFO")
    try:
        logging.getLogger("oki.test.private").info("now private")
    finally:
        files.close()
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert old.read_text().startswith("from an older version\n")
