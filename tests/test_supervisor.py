"""The supervisor: restarts, final exit codes, backoff, and nothing left behind.

The child is a real process (tests/supervised_child.py) scripted per start, so
each exit path (exit 75, SIGKILL, a Python crash, 0/1/2/3) happens for real; the
stop tests check that grandchildren, one of them in a session of its own, are
gone after the supervisor ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from commandcenter.ops.supervisor import (
    BACKOFF_MAX_S,
    RestartPolicy,
    Supervisor,
    describe_exit,
)
from tests.conftest import ROOT
from tests.waits import process_gone, wait_for

CHILD = str(ROOT / "tests" / "supervised_child.py")


def _command(state: Path, plan: str) -> list[str]:
    return [sys.executable, CHILD, str(state), plan]


# --- policy --------------------------------------------------------------------------------------


def test_quick_restarts_back_off_doubling_up_to_the_cap_and_a_long_run_resets() -> None:
    policy = RestartPolicy(min_interval_s=60)
    assert policy.delay_after(120) == 0.0
    delays = [policy.delay_after(5) for _ in range(12)]
    assert delays[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert delays[-1] == BACKOFF_MAX_S and max(delays) == BACKOFF_MAX_S
    assert policy.delay_after(61) == 0.0
    assert policy.delay_after(1) == 1.0


def test_exit_descriptions() -> None:
    assert describe_exit(75).startswith("asked for a restart")
    assert describe_exit(-signal.SIGKILL) == "killed by signal SIGKILL"
    assert describe_exit(3).startswith("fatal feed error")
    assert describe_exit(2).startswith("configuration or usage error")
    assert describe_exit(1) == "crashed (exit code 1)"


# --- restarts ------------------------------------------------------------------------------------


def test_restarts_after_exit_75_a_signal_and_a_crash_until_a_clean_exit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "commandcenter.ops.supervisor")
    state = tmp_path / "state"
    sup = Supervisor(
        _command(state, "restart,kill,crash,exit0"),
        min_restart_interval_s=0,
        reason_file=tmp_path / "reason.txt",
    )
    assert sup.run() == 0
    assert sup.starts == 4
    assert state.read_text() == "4"
    text = caplog.text
    assert "asked for a restart (exit code 75): scripted restart 1" in text
    assert "killed by signal SIGKILL" in text
    assert "crashed (exit code 1)" in text
    assert "finished (exit code 0)" in text
    assert [c for c, _, _ in sup.history] == [75, -signal.SIGKILL, 1, 0]


def test_a_broken_config_ends_the_supervisor_with_its_code(tmp_path: Path) -> None:
    sup = Supervisor(_command(tmp_path / "state", "exit2,exit0"), min_restart_interval_s=0)
    assert sup.run() == 2
    assert sup.starts == 1


@pytest.mark.parametrize("code", [1, 3, 4, 70, 255])
def test_every_other_failure_is_restarted(tmp_path: Path, code: int) -> None:
    """1 (a journal on a full disk), 3 (a refused token: the server may accept
    it later) and any other code: only 0 and 2 are final."""
    sup = Supervisor(_command(tmp_path / "state", f"exit{code},exit0"), min_restart_interval_s=0)
    assert sup.run() == 0
    assert sup.starts == 2
    assert [c for c, _, _ in sup.history] == [code, 0]


def test_quick_restarts_wait_longer_each_time(tmp_path: Path) -> None:
    sup = Supervisor(
        _command(tmp_path / "state", "restart,restart,restart,exit0"),
        min_restart_interval_s=60,
        backoff_first_s=0.05,
    )
    assert sup.run() == 0
    assert [d for _, _, d in sup.history] == [0.05, 0.1, 0.2, 0.0]


# --- stopping ------------------------------------------------------------------------------------


def test_sigterm_reaches_the_wall_and_nothing_it_started_survives(tmp_path: Path) -> None:
    """A real supervisor process gets SIGTERM: the child exits cleanly (and
    that exit is forwarded), its grandchildren are killed, the one in a
    session of its own included."""
    state = tmp_path / "state"
    code = (
        "import sys; from commandcenter.ops.supervisor import Supervisor; "
        f"sys.exit(Supervisor({_command(state, 'hang')!r}, min_restart_interval_s=0).run())"
    )
    sup = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        pids_file = state.with_suffix(".pids")
        wait_for(pids_file.exists, 30, "the child and its grandchildren")
        child, same_group, own_session = (int(x) for x in pids_file.read_text().split())
        assert not any(process_gone(p) for p in (child, same_group, own_session))
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(30) == 0
    finally:
        if sup.poll() is None:
            sup.kill()
    wait_for(lambda: all(process_gone(p) for p in (child, same_group, own_session)), 10, "every process gone")


def test_a_wall_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    state = tmp_path / "state"
    sup = Supervisor(_command(state, "stubborn"), min_restart_interval_s=0, stop_grace_s=1.0)
    pids_file = state.with_suffix(".pids")

    def stop_when_up() -> None:
        wait_for(pids_file.exists, 30, "the child")
        sup.stop()

    stopper = threading.Thread(target=stop_when_up)
    stopper.start()
    try:
        assert sup.run() == 128 + signal.SIGKILL
    finally:
        stopper.join(30)
    assert process_gone(int(pids_file.read_text()))
    assert sup.starts == 1


# --- the command line ----------------------------------------------------------------------------


def test_wall_with_a_bad_config_fails_in_the_supervisor_without_starting_a_wall(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("config_version = 1\n[watchdog]\nstall_limit_s = 0.1\n")
    out = subprocess.run(
        [sys.executable, "-m", "ui.app.cli", "wall", "--headless", "--config", str(bad), "--data-dir",
         str(tmp_path / "data")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ, COMMANDCENTER_CONFIG=""),
    )
    assert out.returncode == 2, out.stderr
    assert "config error" in out.stderr and "stall_limit_s" in out.stderr
    assert not (tmp_path / "data" / "logs" / "wall.log").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_a_killed_supervisor_takes_the_wall_with_it(tmp_path: Path) -> None:
    """SIGKILL (or the OOM killer) gives the supervisor no chance to clean up:
    the wall still must not run on unsupervised."""
    state = tmp_path / "state"
    code = (
        "import sys; from commandcenter.ops.supervisor import Supervisor; "
        f"sys.exit(Supervisor({_command(state, 'hang')!r}, min_restart_interval_s=0).run())"
    )
    sup = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    child = same_group = own_session = 0
    try:
        pids_file = state.with_suffix(".pids")
        wait_for(pids_file.exists, 30, "the child")
        child, same_group, own_session = (int(x) for x in pids_file.read_text().split())
        sup.kill()
        sup.wait(10)
        wait_for(lambda: process_gone(child), 10, "the wall ended with its supervisor")
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait(10)
        # The scripted child leaves its grandchildren on SIGTERM; end them here
        # (and the child, should the test have failed).
        for pid in (p for p in (child, same_group, own_session) if p):
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).kill()
