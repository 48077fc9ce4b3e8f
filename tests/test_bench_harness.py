"""The benchmark harness (bench/__main__.py) with fake groups: each group in its
own process, figures merged as soon as a group ends, a crash costs only that
group. No real benchmark runs here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.bench_fakes import RESULTS_ENV
from tests.conftest import ROOT

HERE = "tests.bench_fakes"


def _bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    results = tmp_path / "results.json"
    return subprocess.run(
        [sys.executable, "-m", "bench", "--results", str(results), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, **{RESULTS_ENV: str(results)}),
    )  # fmt: skip


def test_a_crashing_group_loses_only_its_own_figures(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    # The last full run, from before: the crashing group's and an untouched group's figures.
    results.write_text(json.dumps({
        "crash.old_ms": {"value": 17.4, "unit": "ms", "target": "<= 300"},
        "other.kept_s": {"value": 0.5, "unit": "s", "target": "<= 1"},
        "_meta": {"when": "2026-11-27T23:12:42Z", "python": "3.13.0"},
    }))  # fmt: skip
    out = _bench(
        tmp_path, "--groups", f"first={HERE}:fake_first,crash={HERE}:fake_segfault",
        f"raises={HERE}:fake_raises", f"after={HERE}:fake_after",
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    data = json.loads(results.read_text())

    # The groups that worked: their figures, each with its group and date.
    assert data["fake.first_per_s"]["value"] == 120.0 and data["fake.first_per_s"]["group"] == "first"
    assert data["fake.after_ms"]["group"] == "after" and data["fake.after_ms"]["when"]
    # Written as soon as each group ended: the last group found the first's figures and the crash.
    assert data["fake.after_ms"]["extra"]["seen_before"] is True
    assert data["_groups"]["first"]["status"] == "ok" and data["_groups"]["after"]["status"] == "ok"

    # The segmentation fault: recorded with its signal and faulthandler's report.
    crash = data["_groups"]["crash"]
    assert (crash["status"], crash["exit_code"], crash["error"]) == ("crashed", -11, "killed by SIGSEGV")
    tail = "\n".join(crash["stderr_tail"])
    assert "Fatal Python error: Segmentation fault" in tail and "fake_segfault" in tail, tail
    # An exception: a failure with its traceback.
    raises = data["_groups"]["raises"]
    assert raises["status"] == "failed" and raises["exit_code"] == 1
    assert "RuntimeError: no audio device for this benchmark" in "\n".join(raises["stderr_tail"])

    # Earlier figures stay, with the date of the run that made them.
    before = "2026-11-27T23:12:42Z"
    assert data["crash.old_ms"] == {"value": 17.4, "unit": "ms", "target": "<= 300", "when": before}
    assert data["other.kept_s"]["when"] == before

    # The terminal says which group crashed and how, and still shows the others' figures.
    assert "[crash] CRASHED" in out.stdout and "killed by SIGSEGV" in out.stdout
    assert "Fatal Python error: Segmentation fault" in out.stdout  # the tail, repeated at the end
    assert "[raises] FAILED" in out.stdout
    assert "fake.after_ms" in out.stdout and "MISS" in out.stdout
    assert "groups: first ok, crash crashed, raises failed, after ok" in out.stdout


def test_all_groups_ok_exit_zero_and_unknown_groups_are_refused(tmp_path: Path) -> None:
    out = _bench(tmp_path, f"first={HERE}:fake_first")
    assert out.returncode == 0, out.stdout + out.stderr
    data = json.loads((tmp_path / "results.json").read_text())
    assert set(data) == {"fake.first_per_s", "_groups", "_meta"}

    refused = _bench(tmp_path, "--groups", "core,nosuch")
    assert refused.returncode == 2 and "unknown group(s): nosuch" in refused.stderr
    assert json.loads((tmp_path / "results.json").read_text()) == data  # nothing ran, nothing changed
