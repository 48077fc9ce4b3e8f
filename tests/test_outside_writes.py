"""A test run writes only under pytest's temporary directory (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

from commandcenter.config import APP_NAME, user_config_path
from tests import conftest
from tests.conftest import APP_DIR_NAME, ROOT

PROBE = "OKI112_OUTSIDE_PROBE"
inner_only = pytest.mark.skipif(not os.environ.get(PROBE), reason="run by the test below, in its own pytest")


def test_the_program_s_user_directories_are_in_the_run_s_temporary_directory(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    base = tmp_path_factory.getbasetemp().resolve()
    assert APP_DIR_NAME == APP_NAME
    assert Path.home().resolve().is_relative_to(base)
    # The cache holds the tone WAVs and the generated map pages, the data
    # directory the wall's journal: all of them now under the run's directory.
    for path in (
        platformdirs.user_config_path(APP_NAME, appauthor=False),
        platformdirs.user_cache_path(APP_NAME, appauthor=False),
        platformdirs.user_data_path(APP_NAME, appauthor=False),
        platformdirs.user_state_path(APP_NAME, appauthor=False),
        platformdirs.user_log_path(APP_NAME, appauthor=False),
        user_config_path(),
    ):
        assert path.resolve().is_relative_to(base), path


def test_new_files_in_the_tree_and_changes_in_the_user_s_directories_are_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree, user = tmp_path / "tree", tmp_path / "user" / APP_DIR_NAME
    for path in (
        tree / "README.md",
        tree / "build" / "bundle-test" / "old",
        user / "tones" / "tone-high.wav",
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("before")
    monkeypatch.setattr(conftest, "ROOT", tree)
    watch = conftest._OutsideWrites()
    watch.places = [(tree, conftest.TREE_SKIP), (user, set())]
    watch.before = [conftest._files_under(top, skip) for top, skip in watch.places]
    assert watch.written() == ([], [])

    for path in (
        tree / "server.sqlite3",  # a test's journal in the tree
        tree / "docs" / "notes.md",  # someone writing docs meanwhile
        tree / "tests" / "__pycache__" / "x.pyc",  # Python's own
        tree / "build" / "bundle-test" / "new",  # the bundle test's cache
        user / "map" / "map-1.html",  # a map page in the user's cache
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("after")
    wav = user / "tones" / "tone-high.wav"
    os.utime(wav, ns=(wav.stat().st_atime_ns, wav.stat().st_mtime_ns + 1_000_000))  # rewritten
    assert watch.written() == ([tree / "server.sqlite3"], [user / "map" / "map-1.html", wav])


@pytest.mark.slow  # a pytest of its own
@pytest.mark.skipif(bool(os.environ.get(PROBE)), reason="the inner run must not start itself again")
@pytest.mark.parametrize("where", ["user-cache", "tmp_path"])
def test_a_file_written_in_the_user_s_directories_is_listed_after_the_run(tmp_path: Path, where: str) -> None:
    # The inner run's "real" cache directory is one of ours, so nothing real is touched.
    real_cache = tmp_path / "real-cache"
    target = real_cache / APP_DIR_NAME / "tones" / "stray.wav" if where == "user-cache" else Path("")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "--basetemp", str(tmp_path / "inner"),
         f"{Path(__file__).resolve()}::test_inner_writes"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, XDG_CACHE_HOME=str(real_cache), **{PROBE: str(target)}),
    )  # fmt: skip
    text = out.stdout + out.stderr
    assert out.returncode == 0 and "1 passed" in text, text
    assert "written outside tmp_path" not in text, text  # nothing new in the source tree
    if where == "user-cache":
        assert "written in the user's directories" in text and str(target) in text, text
    else:
        assert "written in the user's directories" not in text, text


@inner_only
def test_inner_writes(tmp_path: Path) -> None:
    target = Path(os.environ[PROBE])
    if target == Path(""):
        target = tmp_path / "tones" / "fine.wav"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"RIFF")
