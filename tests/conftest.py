"""Shared test set-up.

Qt runs offscreen (no display here or in CI) and QtWebEngine without its sandbox
when the tests run as root. Both must be set before any Qt import.

Nothing a test run writes lands outside pytest's temporary directory: HOME and
the XDG base directories (so platformdirs' config, cache, data, state and log
directories, QtWebEngine's and Mesa's caches, generated map pages and tone
WAVs) point into it for the whole run, child processes included. The run fails
when it left new files in the source tree, and lists what appeared or changed in
the real user's directories of the program (see ``_OutsideWrites``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ui.support.chromium import chromium_environment

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The wall's own Chromium settings (no sandbox as root): tests run what the wall runs.
os.environ.update(chromium_environment(os.environ))

import pytest
from hypothesis import HealthCheck, settings

# CI machines have 2 cores and run other work: no hypothesis deadlines, a fixed
# profile so runs are comparable. No example database: it would be a
# .hypothesis/ folder in the source tree (a failing example is printed anyway).
settings.register_profile(
    "ci", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow], database=None
)
settings.register_profile("dev", deadline=None, max_examples=100, database=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
PYTHON = sys.executable


# --- nothing written outside tmp_path -----------------------------------------------------

#: Folders of the source tree that tools write (Python's bytecode, the venv, the
#: linters' caches; *.egg-info of an editable install), and the one cache a test
#: keeps there on purpose: tests/test_bundle.py's PyInstaller build, reused
#: while nothing it depends on changed (a cold build costs a minute).
TREE_SKIP = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", "build/bundle-test"}
#: What people write while a run goes on (another terminal, an editor), never a test.
AUTHORED_SUFFIXES = {".py", ".md", ".toml", ".po", ".pot", ".sh", ".txt", ".in"}
#: The program's name in platformdirs (commandcenter.config.APP_NAME; not
#: imported here, so that nothing of the program loads before the env is set).
APP_DIR_NAME = "oki-siaga-112"
XDG_HOMES = {
    "XDG_CONFIG_HOME": ".config",
    "XDG_CACHE_HOME": ".cache",
    "XDG_DATA_HOME": ".local/share",
    "XDG_STATE_HOME": ".local/state",
}


def _files_under(top: Path, skip: set[str]) -> dict[str, int]:
    """Each file's path relative to ``top`` and its modification time."""
    found: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = os.path.relpath(dirpath, top)
        dirnames[:] = [
            d
            for d in dirnames
            if d not in skip and os.path.join(rel_dir, d).removeprefix("./") not in skip
            and not d.endswith(".egg-info")
        ]  # fmt: skip
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                found[os.path.relpath(path, top)] = os.stat(path, follow_symlinks=False).st_mtime_ns
            except FileNotFoundError:  # removed while we looked
                continue
    return found


class _OutsideWrites:
    """Files that appear during the run in the source tree, and files that
    appear or change in the real user's config/cache/data/state directories of
    the program. (Changes to the tree's existing files are not looked at: people
    edit those while a run goes on.)"""

    def __init__(self) -> None:
        home = Path(os.environ.get("HOME") or Path.home())
        self.places: list[tuple[Path, set[str]]] = [(ROOT, TREE_SKIP)]
        for var, default in XDG_HOMES.items():
            base = Path(os.environ.get(var) or home / default)
            self.places.append((base / APP_DIR_NAME, set()))
        self.before = [_files_under(top, skip) for top, skip in self.places]

    def written(self) -> tuple[list[Path], list[Path]]:
        """(new files in the source tree, new or changed files in the user's directories)."""
        tree: list[Path] = []
        user: list[Path] = []
        for (top, skip), before in zip(self.places, self.before, strict=True):
            for rel, mtime in sorted(_files_under(top, skip).items()):
                if top == ROOT:
                    if rel not in before and Path(rel).suffix not in AUTHORED_SUFFIXES:
                        tree.append(top / rel)
                elif before.get(rel) != mtime:
                    user.append(top / rel)
        return tree, user


@pytest.hookimpl(trylast=True)  # after the tmpdir plugin set up its factory
def pytest_configure(config: pytest.Config) -> None:
    """HOME and the XDG base directories in the run's temporary directory, so
    whatever follows the platform's rules (platformdirs, Qt, Mesa, PulseAudio)
    writes there, in this process and in every child it starts. Done before
    collection: Hypothesis caches what it collects from the test modules."""
    from hypothesis.configuration import set_hypothesis_home_dir

    config.stash[_outside_key] = _OutsideWrites()  # the real places, before they move
    factory: pytest.TempPathFactory = config._tmp_path_factory  # type: ignore[attr-defined]
    home = factory.mktemp("home", numbered=False)
    mp = config.stash[_env_key] = pytest.MonkeyPatch()
    mp.setenv("HOME", str(home))
    for var, sub in XDG_HOMES.items():
        (home / sub).mkdir(parents=True, exist_ok=True)
        mp.setenv(var, str(home / sub))
    # Hypothesis keeps a cache of constants in ./.hypothesis even without an
    # example database; children learn the place from the variable.
    mp.setenv("HYPOTHESIS_STORAGE_DIRECTORY", str(home / ".hypothesis"))
    set_hypothesis_home_dir(home / ".hypothesis")


#: Set in the pytest that an ``own_process`` test runs in (see below).
OWN_PROCESS = "OKI112_OWN_PROCESS"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """A test marked ``own_process`` runs in a pytest of its own: some tests start and stop
    a qasync loop over QtWebEngine pages, and after a few hundred Qt tests in the same
    process that stop has crashed the whole run (SIGSEGV in QApplication.exit on CI). A
    crash there then fails that one test, with its output, instead of the suite."""
    import subprocess

    if pyfuncitem.get_closest_marker("own_process") is None or os.environ.get(OWN_PROCESS):
        return None
    base = pyfuncitem.funcargs.get("tmp_path")
    args = [sys.executable, "-m", "pytest", "-q", pyfuncitem.nodeid]
    if isinstance(base, Path):
        args[4:4] = ["--basetemp", str(base / "own")]
    out = subprocess.run(args, cwd=ROOT, env=dict(os.environ, **{OWN_PROCESS: "1"}),
                         capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    if out.returncode != 0:
        pytest.fail(f"in its own pytest (exit {out.returncode}):\n{(out.stdout + out.stderr)[-6000:]}",
                    pytrace=False)  # fmt: skip
    return True


def pytest_unconfigure(config: pytest.Config) -> None:
    from hypothesis.configuration import set_hypothesis_home_dir

    mp = config.stash.get(_env_key, None)
    if mp is not None:
        mp.undo()
        set_hypothesis_home_dir(None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    watch = session.config.stash.get(_outside_key, None)
    if watch is None:
        return
    tree, user = watch.written()
    session.config.stash[_outside_found_key] = (tree, user)
    # A new file in the tree fails the run. The user's own directories are only
    # reported: a demo or wall running on this machine meanwhile writes there
    # too, and the run's own processes have HOME and XDG_* pointing elsewhere.
    if tree and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    tree, user = terminalreporter.config.stash.get(_outside_found_key, ([], []))
    if tree:
        terminalreporter.section("written outside tmp_path", red=True)
        terminalreporter.line(
            f"{len(tree)} new file(s) in the source tree after the run (a test writes under tmp_path only):",
            red=True,
        )
        for path in tree[:50]:
            terminalreporter.line(f"  {path}")
    if user:
        terminalreporter.section("written in the user's directories", yellow=True)
        terminalreporter.line(
            f"{len(user)} file(s) of the program in the real user's directories appeared or changed "
            "during the run: by a test that ignores HOME/XDG_*, or by a demo or wall running meanwhile:",
            yellow=True,
        )
        for path in user[:50]:
            terminalreporter.line(f"  {path}")


_outside_key = pytest.StashKey[_OutsideWrites]()
_outside_found_key = pytest.StashKey[tuple[list[Path], list[Path]]]()
_env_key = pytest.StashKey[pytest.MonkeyPatch]()
