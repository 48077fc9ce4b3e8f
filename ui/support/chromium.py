"""QtWebEngine's Chromium settings, in one place for the wall, the tests and the
benchmarks, so that what is measured and tested is what runs.

Chromium reads them from the environment once, when QtWebEngine starts (the
first profile or page), so :func:`chromium_environment` is applied before that:
at the wall's start-up, in tests/conftest.py, in each benchmark, and again when
the map view is imported (harmless: it is idempotent and keeps what the caller
set).
No Qt import here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["CHROMIUM_FLAGS", "LOG_LEVEL_FLAG", "V8_INITIAL_OLD_SPACE_MB", "chromium_environment"]

#: The wall lives on a closed network: no background calls home from Chromium.
CHROMIUM_FLAGS: tuple[str, ...] = ("--disable-background-networking", "--disable-component-update")

#: Chromium's own log lines (``[pid:tid:time:ERROR:file(line)] ...``) go straight to file
#: descriptor 2, past Qt's message handler and the wall's log: on a PC without a system D-Bus
#: (a container, a minimal install) every start printed "Failed to connect to the bus" on the
#: terminal. Only fatal ones are kept; what matters reaches the wall through Qt (a renderer
#: that dies, a page that fails to load, the page's console). A --log-level given by whoever
#: starts the wall wins (--log-level=0 to see them all).
LOG_LEVEL_FLAG = "--log-level=3"

#: V8 leaves its first full garbage collection until the old generation reaches
#: its initial limit, by default half the maximum heap: gigabytes on a wall PC.
#: The map page never goes idle (a batch several times a second), so without a
#: first limit every DOM and style object a batch leaves behind stays in the
#: render process (measured: +3.5 MB/s under the simulator, never levelling
#: off). After that first collection V8 sizes its limits from the live heap. A
#: first limit, not a maximum: big maps still fit.
V8_INITIAL_OLD_SPACE_MB = 16


def chromium_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables to set in ``environ`` (``os.environ``, or a child process's
    environment) so that Chromium runs with the flags above:
    ``os.environ.update(chromium_environment(os.environ))``.

    Flags already there stay; flags for V8 (``--js-flags``) given by whoever
    starts the wall are kept as they are. As root, Chromium refuses its
    sandbox, so it is turned off (QTWEBENGINE_DISABLE_SANDBOX) unless set.
    Idempotent: the wall and the map view both apply it.
    """
    out: dict[str, str] = {}
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "QTWEBENGINE_DISABLE_SANDBOX" not in environ:
        out["QTWEBENGINE_DISABLE_SANDBOX"] = "1"
    flags = environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "").split()
    for flag in CHROMIUM_FLAGS:
        if flag not in flags:
            flags.append(flag)
    if not any(f.startswith("--log-level") for f in flags):
        flags.append(LOG_LEVEL_FLAG)
    if not any(f.startswith("--js-flags") for f in flags):
        flags.append(f"--js-flags=--initial-old-space-size={V8_INITIAL_OLD_SPACE_MB}")
    out["QTWEBENGINE_CHROMIUM_FLAGS"] = " ".join(flags)
    return out
