"""Run the benchmarks and write bench/results.json.

Usage: python -m bench [--groups core,feed] [GROUP ...] [--results PATH]
       (groups: core, journal, feed, map, queue, ui, alerts, history, interop, hostile, scale;
       all by default)

Each group runs in a process of its own (``python -X faulthandler``), one after
the other, and its figures are merged into results.json as soon as it ends. A
group that crashes (a segmentation fault in QtWebEngine or QtMultimedia, an
exception, a non-zero exit) loses only its own figures: the file keeps that
group's previous figures with their dates and records the crash (exit code or
signal, the last lines of its stderr), the terminal says so, the other groups
still run, and the exit code is 1.

results.json maps each metric name to {"value", "unit", "target", "extra",
"group", "when"} where target is a string such as ">= 50000" or "<= 1.0";
"_groups" holds each group's last run (status, exit code, seconds, when, and
for a failure its stderr tail); "_meta" the machine. Performance targets live
in the benchmark code, never in tests.

A group is a name (module bench.bench_<name>, function run) or, for tests of
this harness, NAME=MODULE:FUNCTION.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

GROUPS = ["core", "journal", "feed", "map", "queue", "ui", "alerts", "history", "interop", "hostile", "scale"]
QT_GROUPS = {"map", "queue", "ui", "alerts"}
RESULTS = Path(__file__).resolve().parent / "results.json"
ROOT = Path(__file__).resolve().parent.parent
#: Lines of a failed group's stderr kept in results.json and shown.
STDERR_TAIL = 30


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


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def parse_group(spec: str) -> tuple[str, str, str]:
    """``name`` -> (name, bench.bench_name, run); ``name=module:function`` as given."""
    name, _, target = spec.partition("=")
    if not target:
        return name, f"bench.bench_{name}", "run"
    module, _, function = target.partition(":")
    return name, module, function or "run"


# --- the child: one group ---------------------------------------------------------------


def run_child(spec: str, out: Path) -> int:
    """Run one group in this process and write its metrics to ``out`` (JSON)."""
    name, module_name, function = parse_group(spec)
    if name in QT_GROUPS:
        # Qt reads these at start-up (the wall's own Chromium settings: what is
        # measured is what runs); QtWebEngine must load before any QApplication.
        from ui.support.chromium import chromium_environment

        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        os.environ.update(chromium_environment(os.environ))
        import PySide6.QtWebEngineWidgets  # noqa: F401
    module = importlib.import_module(module_name)
    metrics: dict[str, dict[str, Any]] = getattr(module, function)()
    tmp = out.with_suffix(".part")
    tmp.write_text(json.dumps(metrics))
    os.replace(tmp, out)
    return 0


# --- the parent: every group in its own process ----------------------------------------------


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _pump(stream: Any, tail: collections.deque[str]) -> None:
    """Show the child's stderr as it comes and keep its last lines."""
    for line in iter(stream.readline, ""):
        sys.stderr.write(line)
        sys.stderr.flush()
        tail.append(line.rstrip("\n"))
    stream.close()


def run_group(spec: str) -> dict[str, Any]:
    """One group in a child process: its metrics, or what went wrong."""
    name = parse_group(spec)[0]
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        out = Path(tmp) / "metrics.json"
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-m", "bench", "--child", spec, "--out", str(out)],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        pump = threading.Thread(target=_pump, args=(proc.stderr, tail), daemon=True)
        pump.start()
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            proc.wait()
            raise
        pump.join(10)
        seconds = round(time.perf_counter() - started, 1)
        result: dict[str, Any] = {"status": "ok", "exit_code": code, "seconds": seconds, "when": _now()}
        metrics: dict[str, dict[str, Any]] = {}
        if code == 0 and out.exists():
            try:
                metrics = json.loads(out.read_text())
            except json.JSONDecodeError as exc:
                result.update(status="failed", error=f"unreadable figures: {exc}")
        elif code == 0:
            result.update(status="failed", error="ended without writing its figures")
        else:
            result.update(status="crashed" if code < 0 else "failed", error=_describe_exit(code))
        if result["status"] != "ok":
            result["stderr_tail"] = list(tail)
        result["metrics"] = metrics
        return result


def merge(path: Path, group: str, result: dict[str, Any]) -> dict[str, Any]:
    """Merge one group's outcome into results.json at ``path`` (written at once,
    atomically): its new figures replace its old ones; a failed group keeps its
    last figures and only its entry in "_groups" says what happened."""
    results: dict[str, Any] = {}
    if path.exists():
        try:
            results = json.loads(path.read_text())
        except json.JSONDecodeError:
            results = {}
    # Figures from before this harness carry the date of the run that made them.
    old_when = results.get("_meta", {}).get("when")
    for key, value in results.items():
        if not key.startswith("_") and isinstance(value, dict) and old_when:
            value.setdefault("when", old_when)
    metrics = result.get("metrics", {})
    for key, value in metrics.items():
        results[key] = dict(value, group=group, when=result["when"])
    results.setdefault("_groups", {})[group] = {k: v for k, v in result.items() if k != "metrics"}
    results["_meta"] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "when": result["when"],
    }
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return results


def print_metrics(metrics: dict[str, dict[str, Any]]) -> None:
    if not metrics:
        return
    width = max(len(k) for k in metrics)
    print(f"\n{'metric'.ljust(width)}  {'value':>12}  unit        target       ok")
    for name, m in sorted(metrics.items()):
        ok = _meets(float(m["value"]), str(m.get("target", "")))
        mark = {True: "yes", False: "MISS", None: "-"}[ok]
        print(f"{name.ljust(width)}  {m['value']:>12.4g}  {m['unit']:<10}  {m.get('target', ''):<11}  {mark}")
        for k, v in sorted(m.get("extra", {}).items()):
            print(f"{'':{width}}    {k}: {v}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("group", nargs="*", help=f"groups to run (default: all of {', '.join(GROUPS)})")
    parser.add_argument("--groups", default="", help="the same as a comma-separated list: --groups feed,ui")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSON file to merge into")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return run_child(args.child, args.out)

    groups = [g for g in args.groups.split(",") if g.strip()] + args.group or GROUPS
    unknown = [g for g in groups if "=" not in g and g not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s): {', '.join(unknown)} (groups: {', '.join(GROUPS)})")
    outcomes: dict[str, dict[str, Any]] = {}
    for spec in groups:
        name = parse_group(spec)[0]
        print(f"[{name}] running in its own process ...", flush=True)
        result = run_group(spec)
        merge(args.results, name, result)
        outcomes[name] = result
        if result["status"] == "ok":
            print(f"[{name}] {result['seconds']:.1f} s, {len(result['metrics'])} figures written", flush=True)
            print_metrics(result["metrics"])
        else:
            print(
                f"[{name}] {result['status'].upper()} after {result['seconds']:.1f} s ({result['error']}); "
                f"its previous figures are kept. Last lines of its stderr:",
                flush=True,
            )
            for line in result.get("stderr_tail", [])[-15:]:
                print(f"    {line}")
        print(flush=True)
    bad = {n: r for n, r in outcomes.items() if r["status"] != "ok"}
    print("groups: " + ", ".join(f"{n} {r['status']}" for n, r in outcomes.items()))
    print(f"written to {args.results}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
