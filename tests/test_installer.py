"""installer/install-linux.sh, run for real into a temporary HOME and prefix.

One install (a fresh venv filled by pip from the package index, about 40 s here)
is shared by the module; the last test re-runs, uninstalls and purges it. The
machine's own systemd user manager is kept out of reach (no XDG_RUNTIME_DIR, no
session bus), as in a container: the installer then writes the unit and says
how to enable it.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from commandcenter import config as config_module
from commandcenter.config import load_config
from tests.conftest import ROOT

# The first test also makes the venv (30-40 s here, more on a busy machine).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SCRIPT = ROOT / "installer" / "install-linux.sh"
APP = "oki-siaga-112"


@dataclass
class Install:
    home: Path
    prefix: Path
    env: dict[str, str]
    output: str

    @property
    def exe(self) -> Path:
        return self.prefix / "venv" / "bin" / "commandcenter"

    @property
    def config(self) -> Path:
        return self.home / ".config" / APP / "config.toml"

    @property
    def envfile(self) -> Path:
        return self.home / ".config" / APP / "environment"

    @property
    def unit(self) -> Path:
        return self.home / ".config" / "systemd" / "user" / f"{APP}.service"

    @property
    def desktop(self) -> Path:
        return self.home / ".local" / "share" / "applications" / f"{APP}.desktop"

    @property
    def autostart(self) -> Path:
        return self.home / ".config" / "autostart" / f"{APP}.desktop"

    @property
    def launcher(self) -> Path:
        return self.prefix / "bin" / f"{APP}-launch"

    @property
    def link(self) -> Path:
        return self.home / ".local" / "bin" / "commandcenter"

    @property
    def data_dir(self) -> Path:
        return self.home / ".local" / "share" / APP


def _env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        # Nothing from this session's user: its dirs, its systemd user manager, its config.
        if not k.startswith(("XDG_", "DBUS_", "VIRTUAL_ENV", "COMMANDCENTER_", "PYTHON"))
    }
    env["HOME"] = str(home)
    # The same interpreter line as the test venv (PySide6 pins depend on it).
    env["PYTHON"] = getattr(sys, "_base_executable", sys.executable)
    return env


def _run(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Install:
    root = tmp_path_factory.mktemp("install")
    home, prefix = root / "home", root / "prefix"
    home.mkdir()
    env = _env(home)
    out = _run(["--no-system-packages", "--prefix", str(prefix)], env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return Install(home, prefix, env, out.stdout)


def test_installed_program_runs_from_its_own_venv(installed: Install) -> None:
    help_text = subprocess.run(
        [str(installed.exe), "--help"],
        env=installed.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "wall" in help_text and "serve" in help_text
    check = subprocess.run(
        [str(installed.exe), "config", "check", str(installed.config)],
        env=installed.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("OK:")
    # A real install, not the checkout: the package lives in the new venv.
    where = subprocess.run(
        [
            str(installed.prefix / "venv" / "bin" / "python"),
            "-c",
            "import ui, commandcenter; print(ui.__file__)",
        ],
        env=installed.env,
        cwd=installed.home,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed.prefix / "venv"), where
    assert installed.link.resolve() == installed.exe.resolve()
    # No user manager here: the installer says how to enable the unit instead of failing.
    assert "systemctl --user daemon-reload && systemctl --user enable --now" in installed.output


def test_starter_config_is_commented_and_the_program_reads_it(installed: Install) -> None:
    text = installed.config.read_text()
    assert text.startswith("#") and "config_version = 1" in text
    assert str(installed.config) in text, "the header names the file to check"
    assert oct(installed.envfile.stat().st_mode & 0o777) == "0o600", "the environment file may hold the token"
    # The program finds the file in the user's config dir by itself (platformdirs).
    shown = subprocess.run(
        [str(installed.exe), "config", "show"],
        env=installed.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert '"config_version": 1' in shown.stdout or '"config_version":1' in shown.stdout


def _unit_sections(path: Path) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith(("#", ";")):
            continue
        if m := re.fullmatch(r"\[(.+)\]", line):
            current = sections.setdefault(m.group(1), {})
            continue
        assert current is not None, f"key outside a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not key=value: {line!r}"
        current.setdefault(key, []).append(value)
    return sections


def test_service_unit_is_valid(installed: Install, tmp_path: Path) -> None:
    unit = _unit_sections(installed.unit)
    service = unit["Service"]
    assert service["ExecStart"] == [f"{installed.exe} wall"]
    assert service["Restart"] == ["on-failure"]
    assert float(service["RestartSec"][0]) > 0
    assert service["EnvironmentFile"] == [f"-{installed.envfile}"]
    assert unit["Install"]["WantedBy"] == ["graphical-session.target"]
    assert "graphical-session.target" in unit["Unit"]["After"][0]
    if os.geteuid() == 0:
        assert "QTWEBENGINE_DISABLE_SANDBOX=1" in service["Environment"]
    if shutil.which("systemd-analyze"):
        runtime = tmp_path / "run"
        runtime.mkdir(mode=0o700)
        out = subprocess.run(
            ["systemd-analyze", "--user", "verify", str(installed.unit)],
            env=dict(installed.env, XDG_RUNTIME_DIR=str(runtime)),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        # verify exits 0 on unknown keys and bad values but names the file; neither may appear.
        assert out.returncode == 0, out.stderr
        assert installed.unit.name not in out.stderr + out.stdout, out.stderr


DESKTOP_KEYS = {
    "Type", "Version", "Name", "GenericName", "Comment", "Exec", "Icon", "Terminal", "NoDisplay",
    "Categories", "Keywords", "StartupNotify", "Hidden", "OnlyShowIn", "NotShowIn", "TryExec", "Path",
}  # fmt: skip
MAIN_CATEGORIES = {
    "AudioVideo", "Audio", "Video", "Development", "Education", "Game", "Graphics", "Network",
    "Office", "Science", "Settings", "System", "Utility",
}  # fmt: skip


def _desktop_problems(path: Path) -> list[str]:
    """What desktop-file-validate would refuse, for the keys we use (Desktop
    Entry Specification 1.5)."""
    lines = [
        ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")
    ]
    if not lines or lines[0] != "[Desktop Entry]":
        return ["first group is not [Desktop Entry]"]
    entry: dict[str, str] = {}
    problems = []
    for line in lines[1:]:
        m = re.fullmatch(r"([A-Za-z0-9-]+)(\[[A-Za-z_@.]+\])?=(.*)", line)
        if not m:
            problems.append(f"bad line {line!r}")
            continue
        key, locale, value = m.groups()
        if key not in DESKTOP_KEYS and not key.startswith("X-"):
            problems.append(f"unknown key {key}")
        full = key + (locale or "")
        if full in entry:
            problems.append(f"duplicate key {full}")
        entry[full] = value
    for key in ("Type", "Name", "Exec"):
        if key not in entry:
            problems.append(f"missing {key}")
    if entry.get("Type") != "Application":
        problems.append("Type is not Application")
    for key in ("Terminal", "NoDisplay", "StartupNotify", "Hidden"):
        if key in entry and entry[key] not in ("true", "false"):
            problems.append(f"{key} is not a boolean")
    for key in ("Categories", "Keywords"):
        if key in entry and not entry[key].endswith(";"):
            problems.append(f"{key} does not end with ';'")
    if "Categories" in entry and not MAIN_CATEGORIES & set(entry["Categories"].split(";")):
        problems.append("no main category")
    program = entry.get("Exec", "").split(" ")[0]
    if not (os.path.isabs(program) and os.access(program, os.X_OK)):
        problems.append(f"Exec program {program!r} is not an executable file")
    if "Name[en]" not in entry:
        problems.append("no English name (the default Name is Indonesian)")
    return problems


@pytest.mark.parametrize("which", ["desktop", "autostart"])
def test_desktop_entries_are_valid(installed: Install, which: str) -> None:
    path: Path = getattr(installed, which)
    assert _desktop_problems(path) == []
    assert f"Exec={installed.launcher}" in path.read_text()
    validator = shutil.which("desktop-file-validate")
    if validator:
        out = subprocess.run([validator, str(path)], capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0 and not out.stdout.strip(), out.stdout


def test_launcher_starts_the_wall_command(installed: Install) -> None:
    # No user manager here, so the launcher runs the program itself; --help
    # shows it reached `commandcenter wall` without opening a window.
    out = subprocess.run(
        [str(installed.launcher), "--help"],
        env=installed.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "--headless" in out.stdout and "--screenshot-dir" in out.stdout


def test_desktop_parser_finds_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.desktop"
    bad.write_text("[Desktop Entry]\nType=Application\nName=X\nExec=/nonexistent\nTerminal=yes\nColour=red\n")
    problems = _desktop_problems(bad)
    assert any("Terminal" in p for p in problems)
    assert any("Colour" in p for p in problems)
    assert any("/nonexistent" in p for p in problems)


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    out = _run(["--no-system-packages", "--dry-run", "--prefix", str(tmp_path / "prefix")], _env(home))
    assert out.returncode == 0, out.stderr
    assert "would write" in out.stdout and "would run" in out.stdout
    assert list(home.iterdir()) == []
    assert not (tmp_path / "prefix").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frobnicate"], "unknown option '--frobnicate'"),
        (["--prefix"], "--prefix needs a value"),
        (["--purge"], "--purge only goes with --uninstall"),
        (["--from-source", "/nonexistent"], "no pyproject.toml in '/nonexistent'"),
        (["--wheel", "/nonexistent.whl"], "wheel '/nonexistent.whl' not found"),
        (["--wheel", "x.whl", "--from-source", "."], "exclude each other"),
        (["--wall-user", "root"], "--wall-user only goes with --system"),
        (["--system", "--dry-run", "--wall-user", "no-such-user-oki"], "no user 'no-such-user-oki'"),
    ],
)
def test_bad_options_are_refused_before_anything_changes(
    tmp_path: Path, args: list[str], message: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    out = _run(["--no-system-packages", "--prefix", str(tmp_path / "prefix"), *args], _env(home))
    assert out.returncode == 2
    assert message in out.stderr
    assert list(home.iterdir()) == [] and not (tmp_path / "prefix").exists()


#: What --system writes outside its --prefix (the machine's config, unit, menu and link dirs).
SYSTEM_DIRS = ["/etc", "/usr/share/applications", "/usr/local/bin"]


def test_a_system_install_writes_the_environment_file_private_and_the_wall_users(tmp_path: Path) -> None:
    """The issue's "install-linux.sh --system writes the token file 0644". The real
    script in --system mode, as root, in a mount namespace of its own where each
    system directory is an overlay whose writes land in tmp_path: the machine's
    own /etc is never touched."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a --system install in a mount namespace needs root and unshare")
    mounts = []
    for i, d in enumerate(SYSTEM_DIRS):
        upper, work = tmp_path / f"upper{i}", tmp_path / f"work{i}"
        upper.mkdir()
        work.mkdir()
        mounts.append(f"mount -t overlay overlay -o lowerdir={d},upperdir={upper},workdir={work} {d}")
    prefix = tmp_path / "prefix"
    etc = f"/etc/{APP}"
    script = " && ".join([
        "mount --make-rprivate /", *mounts,
        f"bash {SCRIPT} --system --no-system-packages --prefix {prefix} --wall-user nobody",
        f"stat -c 'MODE %a %U' {etc}/environment",
    ])  # fmt: skip
    env = _env(tmp_path / "home")
    probe = subprocess.run(["unshare", "-m", "sh", "-c", " && ".join(["mount --make-rprivate /", *mounts])],
                           capture_output=True, text=True, check=False)  # fmt: skip
    if probe.returncode != 0:
        pytest.skip(f"overlay mounts not permitted here: {probe.stderr.strip()}")
    out = subprocess.run(["unshare", "-m", "sh", "-c", script], env=env, capture_output=True, text=True,
                         timeout=600, check=False)  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "MODE 600 nobody" in out.stdout, out.stdout[-3000:]
    written = tmp_path / "upper0" / APP / "environment"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert f"{etc}/environment belongs to nobody (the wall's user), mode 600" in out.stdout
    assert not Path(etc).exists(), "the machine's own /etc was written"


def test_uninstall_leaves_a_foreign_prefix_alone(tmp_path: Path) -> None:
    # A mistyped --prefix must not delete a venv that is not ours.
    home = tmp_path / "home"
    home.mkdir()
    foreign = tmp_path / "elsewhere" / "venv" / "bin"
    foreign.mkdir(parents=True)
    (foreign / "python").write_text("not ours\n")
    out = _run(["--uninstall", "--purge", "--prefix", str(tmp_path / "elsewhere")], _env(home))
    assert out.returncode == 0, out.stderr
    assert (foreign / "python").read_text() == "not ours\n"
    assert "left" in out.stdout and "alone" in out.stdout


def test_rerun_keeps_edited_config_then_uninstall_keeps_config_and_journal_then_purge(
    installed: Install,
) -> None:
    # An operator's edits survive a second run (an upgrade).
    edited = installed.config.read_text().replace(
        '# console_name = "Konsol 1"', 'console_name = "Konsol Uji"'
    )
    assert "Konsol Uji" in edited
    installed.config.write_text(edited)
    installed.envfile.write_text("COMMANDCENTER_TOKEN=rahasia\n")
    # As an older install (or an editor) may have left it: readable by everyone.
    installed.envfile.chmod(0o644)
    unit_before = installed.unit.read_text()
    again = _run(["--no-system-packages", "--prefix", str(installed.prefix)], installed.env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"kept {installed.config}" in again.stdout
    assert installed.config.read_text() == edited
    assert installed.envfile.read_text() == "COMMANDCENTER_TOKEN=rahasia\n"
    assert oct(installed.envfile.stat().st_mode & 0o777) == "0o600", "the token must not stay world-readable"
    assert f"made {installed.envfile} private (mode 600; was 644)" in again.stdout
    assert installed.unit.read_text() == unit_before
    shown = subprocess.run(
        [str(installed.exe), "config", "show"], env=installed.env, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    assert "Konsol Uji" in shown.stdout

    # A journal the wall wrote (a real SQLite file in the program's data dir).
    installed.data_dir.mkdir(parents=True, exist_ok=True)
    journal = installed.data_dir / "journal.sqlite3"
    with sqlite3.connect(journal) as db:
        db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, body TEXT)")
        db.execute("INSERT INTO events VALUES (1, 'x')")
    db.close()

    dry = _run(["--uninstall", "--dry-run"], installed.env)
    assert dry.returncode == 0, dry.stderr
    assert f"would remove {installed.prefix / 'venv'}" in dry.stdout
    assert installed.exe.exists() and installed.unit.exists()

    # No --prefix: the uninstaller finds the venv through the unit's ExecStart.
    gone = _run(["--uninstall"], installed.env)
    assert gone.returncode == 0, gone.stderr
    for path in (installed.exe, installed.unit, installed.desktop, installed.autostart, installed.launcher):
        assert not path.exists(), f"{path} is still there"
    assert not installed.link.is_symlink()
    assert not installed.prefix.exists()
    assert installed.config.read_text() == edited
    assert installed.envfile.exists()
    with sqlite3.connect(journal) as db:
        assert db.execute("SELECT count(*) FROM events").fetchone() == (1,)
    db.close()

    purged = _run(["--uninstall", "--purge"], installed.env)
    assert purged.returncode == 0, purged.stderr
    assert not installed.config.parent.exists()
    assert not installed.data_dir.exists()


# --- where the program looks for its config (the /etc file the --system install writes) ---


@pytest.fixture
def config_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    user = tmp_path / "xdg" / APP / "config.toml"
    system = tmp_path / "etc" / APP / "config.toml"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(config_module.loader, "system_config_path", lambda: system)
    return user, system


def _console_file(path: Path, name: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'config_version = 1\n[display]\nconsole_name = "{name}"\n')


def test_machine_wide_config_is_used_when_the_user_has_none(config_dirs: tuple[Path, Path]) -> None:
    user, system = config_dirs
    assert load_config(env={}).display.console_name == ""
    _console_file(system, "dari-etc")
    assert config_module.user_config_path() == user
    assert load_config(env={}).display.console_name == "dari-etc"


def test_users_config_wins_over_the_machine_wide_one(config_dirs: tuple[Path, Path]) -> None:
    user, system = config_dirs
    _console_file(system, "dari-etc")
    _console_file(user, "dari-pengguna")
    assert load_config(env={}).display.console_name == "dari-pengguna"


def test_system_config_path_is_etc_on_linux() -> None:
    # Where install-linux.sh --system writes it (not platformdirs' /etc/xdg).
    assert config_module.system_config_path() == Path("/etc") / APP / "config.toml"
