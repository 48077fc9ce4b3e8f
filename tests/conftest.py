"""Shared test set-up.

Qt runs offscreen (no display here or in CI) and QtWebEngine without its sandbox
when the tests run as root. Both must be set before any Qt import.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if hasattr(os, "geteuid") and os.geteuid() == 0:
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

from hypothesis import HealthCheck, settings

# CI machines have 2 cores and run other work: no hypothesis deadlines, a fixed
# profile so runs are comparable.
settings.register_profile("ci", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
PYTHON = sys.executable
