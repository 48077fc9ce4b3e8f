"""A stand-in for the wall under the supervisor: small, fast, scripted.

``python tests/supervised_child.py STATE PLAN`` runs step N of PLAN (comma
separated) on its N-th start, counting starts in the STATE file:

- ``restart``: exit 75, as the watchdog does (writing a reason when asked to)
- ``kill``: die from SIGKILL, as in a crash of Qt's native code
- ``crash``: an unhandled Python exception (exit 1)
- ``exitN``: exit with code N
- ``hang``: start two grandchildren (one in this process group, one in a
  session of its own, as a renderer might), write all pids to STATE.pids, then
  wait; exit 0 on SIGTERM without ending the grandchildren (the supervisor
  must find and end them)
- ``stubborn``: write STATE.pids, ignore SIGTERM and wait
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

REASON_FILE_ENV = "OKI112_RESTART_REASON_FILE"
SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def _write(path: Path, text: str) -> None:
    """Whole or not at all: the test reads the file as soon as it exists."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main() -> int:
    state, plan = Path(sys.argv[1]), sys.argv[2].split(",")
    n = int(state.read_text()) if state.exists() else 0
    state.write_text(str(n + 1))
    step = plan[min(n, len(plan) - 1)]
    pids = state.with_suffix(".pids")
    if step == "restart":
        reason = os.environ.get(REASON_FILE_ENV)
        if reason:
            Path(reason).write_text(f"scripted restart {n + 1}\n")
        return 75
    if step == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if step == "crash":
        raise RuntimeError("scripted crash")
    if step.startswith("exit"):
        return int(step[4:])
    done = threading.Event()
    if step == "hang":
        same_group = subprocess.Popen(SLEEPER)
        own_session = subprocess.Popen(SLEEPER, start_new_session=True)
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        _write(pids, f"{os.getpid()} {same_group.pid} {own_session.pid}")
    elif step == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _write(pids, str(os.getpid()))
    done.wait(600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
