"""Fake benchmark groups for tests/test_bench_harness.py, run by the harness in
its child processes: small imports, so that each child starts quickly."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RESULTS_ENV = "OKI112_BENCH_TEST_RESULTS"


def fake_first() -> dict[str, dict[str, Any]]:
    return {"fake.first_per_s": {"value": 120.0, "unit": "/s", "target": ">= 100"}}


def fake_segfault() -> dict[str, dict[str, Any]]:
    import faulthandler
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file in the source tree
    faulthandler._sigsegv()  # a real SIGSEGV, as QtWebEngine or QtMultimedia might
    raise AssertionError("still alive after SIGSEGV")


def fake_raises() -> dict[str, dict[str, Any]]:
    raise RuntimeError("no audio device for this benchmark")


def fake_after() -> dict[str, dict[str, Any]]:
    """Reports whether the first group's figures were on disk before it started."""
    on_disk = json.loads(Path(os.environ[RESULTS_ENV]).read_text())
    seen = "fake.first_per_s" in on_disk and on_disk["_groups"]["crash"]["status"] == "crashed"
    return {"fake.after_ms": {"value": 5.0, "unit": "ms", "target": "<= 1", "extra": {"seen_before": seen}}}
