"""The command line that starts this program again, frozen or not.

Child processes (the demo's reference server, the wall's supervisor restarting
the wall) must not assume ``python -m ...`` works: in a PyInstaller bundle
``sys.executable`` is the bundle's own executable, which takes the subcommand
directly and has no ``-m`` switch. Every place that re-executes the program goes
through :func:`self_command` so the difference lives in one spot.
"""

from __future__ import annotations

import sys

#: The Qt-free engine CLI; enough for `serve`, `journal`, `config` and friends.
ENGINE_MODULE = "commandcenter.cli"
#: The full CLI with the Qt commands (`wall`, `demo`). Named as a string only:
#: the engine never imports the UI layer.
FULL_MODULE = "ui.app.cli"


def is_frozen() -> bool:
    """True inside a PyInstaller (or similar) bundle."""
    return bool(getattr(sys, "frozen", False))


def self_command(*args: str, module: str = ENGINE_MODULE) -> list[str]:
    """argv that runs ``commandcenter <args...>`` with this same installation.

    ``module`` picks the entry when running from source or a venv: the engine
    CLI by default, :data:`FULL_MODULE` for `wall`/`demo`. A frozen bundle has a
    single executable whose entry is the full CLI, so ``module`` is ignored there.
    """
    if is_frozen():
        return [sys.executable, *args]
    return [sys.executable, "-m", module, *args]
