"""Run the benchmarks and write bench/results.json.

Usage: python -m bench [GROUP ...]   (groups: core, journal, feed, ui, alerts)

results.json maps each metric name to {"value", "unit", "target"} where target
is a string such as ">= 50000" or "<= 1.0". A partial run updates only its
metrics and keeps the others. Performance targets live here, never in tests.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

GROUPS = ["core", "journal", "feed", "map", "queue", "ui", "alerts"]
QT_GROUPS = {"map", "queue", "ui", "alerts"}
RESULTS = Path(__file__).resolve().parent / "results.json"


def _meets(value: float, target: str) -> bool | None:
    target = target.strip()
    try:
        if target.startswith(">="):
            return value >= float(target[2:])
        if target.startswith("<="):
            return value <= float(target[2:])
    except ValueError:
        return None
    return None


def main(argv: list[str]) -> int:
    groups = argv or GROUPS
    if QT_GROUPS & set(groups):
        # Qt reads these at start-up; QtWebEngine must load before any QApplication.
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from ui.support.chromium import chromium_environment

        os.environ.update(chromium_environment(os.environ))
        import PySide6.QtWebEngineWidgets  # noqa: F401
    results: dict[str, Any] = {}
    if RESULTS.exists():
        try:
            results = json.loads(RESULTS.read_text())
        except json.JSONDecodeError:
            results = {}
    ran: dict[str, dict[str, Any]] = {}
    for group in groups:
        try:
            module = importlib.import_module(f"bench.bench_{group}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.bench_{group}":
                print(f"(no benchmarks for {group} yet)")
                continue
            raise
        started = time.perf_counter()
        metrics: dict[str, dict[str, Any]] = module.run()
        print(f"[{group}] {time.perf_counter() - started:.1f} s")
        ran.update(metrics)
    results.update(ran)
    results["_meta"] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    width = max((len(k) for k in ran), default=10)
    print(f"\n{'metric'.ljust(width)}  {'value':>12}  unit        target       ok")
    for name, m in sorted(ran.items()):
        ok = _meets(float(m["value"]), str(m.get("target", "")))
        mark = {True: "yes", False: "MISS", None: "-"}[ok]
        print(f"{name.ljust(width)}  {m['value']:>12.4g}  {m['unit']:<10}  {m.get('target', ''):<11}  {mark}")
        for k, v in sorted(m.get("extra", {}).items()):
            print(f"{'':{width}}    {k}: {v}")
    print(f"\nwritten to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
