"""The soak's analysis and report (bench/soak.py) on generated samples.

No test runs a soak: `make soak` takes half an hour. These check the parts that
turn samples into PASS/MISS lines, plus the process-tree sampler on a real
two-process tree and the plots on the offscreen platform.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import soak
from bench.soak import Sample, SoakResult

START = 1_800_000_000.0


def ramp_samples(
    minutes: float, *, base: float = 800.0, growth_pct_per_h: float = 0.0, noise: float = 0.0, seed: int = 1
) -> list[Sample]:
    """Samples every 5 s: a tree of wall/server/webengine at ``base`` MB that
    grows linearly, with optional uniform noise."""
    rnd = random.Random(seed)
    out = []
    n = int(minutes * 60 / soak.SAMPLE_INTERVAL_S)
    for i in range(1, n + 1):
        t = i * soak.SAMPLE_INTERVAL_S
        total = base * (1 + growth_pct_per_h / 100 * t / 3600) + rnd.uniform(-noise, noise)
        roles = {"wall": total * 0.4, "server": total * 0.1, "webengine": total * 0.5, "supervisor": 0.0,
                 "other": 0.0}
        out.append(Sample(t=t, tree_mb=total, roles=roles, nproc=6))
    return out


def stats_lines(minutes: float, *, pid: int = 4242, stall_ms: float = 40.0) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(1, int(minutes * 12) + 1):
        t = START + i * 5.0
        out.append({"t": t, "uptime_s": i * 5.0, "pid": pid, "rss_mb": 300.0, "tree_rss_mb": 800.0,
                    "stall_max_ms": stall_ms, "stalls_over_warn": 0, "feed_state": "live"})
    return out


def result_of(samples: list[Sample], stats: list[dict[str, object]], **kw: object) -> SoakResult:
    fields: dict[str, object] = {
        "started": "2027-01-01T00:00:00+00:00", "minutes": 30.0, "speed": 48.0, "rate": 2.0,
        "scenario": "mixed", "duration_s": samples[-1].t if samples else 0.0, "exit_code": 0, "hung": False,
        "samples": samples, "stats": stats, "output": soak.OutputFindings(), "start_unix": START,
        "command": ["python", "-m", "ui.app.cli", "demo", "--headless"],
    }
    fields.update(kw)
    return SoakResult(**fields)  # type: ignore[arg-type]


# --- growth ---------------------------------------------------------------------------------


def test_growth_of_a_flat_noisy_run_is_near_zero() -> None:
    g = soak.compute_growth(ramp_samples(30, noise=20.0))
    assert g is not None and not g.short_run
    assert abs(g.pct) < 1.5
    assert g.baseline_window == (270.0, 330.0) and g.end_window == (1740.0, 1800.0)
    assert g.baseline_n == 13 and g.end_n == 13


def test_growth_follows_a_steady_leak() -> None:
    # 20 %/h from t=0: from 5 min (801.. -> 833 MB) to 30 min (960 MB) the tree grows 15.4 %.
    g = soak.compute_growth(ramp_samples(30, growth_pct_per_h=20.0))
    assert g is not None
    expected = (1 + 0.2 * 29.5 / 60) / (1 + 0.2 * 5 / 60) - 1
    assert g.pct == pytest.approx(expected * 100, abs=0.3)
    assert g.slope_mb_per_h == pytest.approx(160.0, rel=0.01)  # 20 % of 800 MB an hour


def test_growth_ignores_one_spike_in_the_last_minute() -> None:
    samples = ramp_samples(30)
    samples[-1] = Sample(t=samples[-1].t, tree_mb=2000.0, roles=samples[-1].roles, nproc=6)
    g = soak.compute_growth(samples)
    assert g is not None and g.pct == pytest.approx(0.0, abs=1e-9)
    # A single last sample would have said +150 %.
    assert (samples[-1].tree_mb - samples[59].tree_mb) / samples[59].tree_mb > 1


def test_growth_per_role() -> None:
    samples = ramp_samples(30, growth_pct_per_h=10.0)
    for s in samples:
        s.roles["webengine"] = 400.0  # the renderer flat, the rest grows
    g = soak.compute_growth(samples, role="webengine")
    assert g is not None and g.pct == pytest.approx(0.0)
    wall = soak.compute_growth(samples, role="wall")
    assert wall is not None and wall.pct > 3


def test_short_run_takes_its_baseline_a_third_in_and_never_passes() -> None:
    samples = ramp_samples(3)
    g = soak.compute_growth(samples)
    assert g is not None and g.short_run
    assert g.baseline_window[0] <= 60.0 <= g.baseline_window[1]
    targets = {t.name: t for t in soak.evaluate(result_of(samples, stats_lines(3), minutes=3.0))}
    assert targets["RSS growth after 5 min"].status == "n/a"
    leaking = ramp_samples(3, growth_pct_per_h=600.0)
    targets = {t.name: t for t in soak.evaluate(result_of(leaking, stats_lines(3), minutes=3.0))}
    assert targets["RSS growth after 5 min"].status == "MISS"


def test_growth_needs_samples() -> None:
    assert soak.compute_growth([]) is None
    assert soak.compute_growth(ramp_samples(30)[:1]) is None
    assert math.isnan(soak.slope_mb_per_h(ramp_samples(30), after_s=10_000))


# --- restarts and stalls --------------------------------------------------------------------


def test_restart_detected_by_a_new_pid() -> None:
    lines = stats_lines(10)
    for i, line in enumerate(lines[60:]):
        line["pid"] = 5000
        line["uptime_s"] = 5.0 * (i + 1)
    restarts = soak.detect_restarts(lines, START)
    assert len(restarts) == 1
    r = restarts[0]
    assert (r.old_pid, r.new_pid, r.reason) == (4242, 5000, "pid changed")
    assert r.t == pytest.approx(61 * 5.0)


def test_restart_detected_by_uptime_going_back_with_the_same_pid() -> None:
    lines = stats_lines(10)
    for i, line in enumerate(lines[30:]):
        line["uptime_s"] = 5.0 * (i + 1)
    restarts = soak.detect_restarts(lines, START)
    assert [(r.reason, r.old_pid) for r in restarts] == [("uptime went back", 4242)]


def test_restart_announced_by_the_supervisor() -> None:
    sup = "2026-11-27 23:50:00,100 22703 {} commandcenter.ops.supervisor: "
    log = [
        sup.format("INFO") + "wall started (pid 22704, start 1): python -m ui.app.cli demo",
        sup.format("WARNING") + "the wall (pid 22704) exited with code 75: GUI thread frozen for 31 s "
        "after 840.2 s; restart 2 in 1.0 s",
        sup.format("INFO") + "wall started (pid 23000, start 2): python -m ui.app.cli demo",
        sup.format("INFO") + "the wall (pid 23000) exited with code 0 after 299.0 s; the supervisor ends",
    ]
    found = soak.supervisor_restarts(log)
    assert len(found) == 1 and "GUI thread frozen" in found[0]
    # Even with no stats line after the restart, the run counts as crashed.
    result = result_of(ramp_samples(30), stats_lines(30), supervisor_restarts=found)
    assert result.crashed
    assert "1 restart(s)" in soak.evaluate(result)[0].measured
    assert "supervisor: `" in soak.render_report(result)


def test_steady_stats_have_no_restart() -> None:
    assert soak.detect_restarts(stats_lines(30), START) == []


def test_stalls_after_start_up_count_and_start_up_apart() -> None:
    lines = stats_lines(10, stall_ms=35.0)
    lines[2]["stall_max_ms"] = 900.0  # building the windows: start-up
    lines[2]["stalls_over_warn"] = 2
    lines[50]["stall_max_ms"] = 250.0
    lines[50]["stalls_over_warn"] = 1
    s = soak.summarize_stalls(lines, START)
    assert s.measured and s.lines == 120
    assert s.startup_max_ms == 900.0
    assert s.max_ms == 250.0 and s.over_warn == 1
    target = next(t for t in soak.evaluate(result_of(ramp_samples(10), lines)) if "stall" in t.name)
    assert target.status == "MISS" and "250 ms" in target.measured


def test_no_stats_means_stalls_not_measured() -> None:
    assert not soak.summarize_stalls([], START).measured
    target = next(t for t in soak.evaluate(result_of(ramp_samples(30), [])) if "stall" in t.name)
    assert target.status == "n/a"


# --- output scanning ------------------------------------------------------------------------


def test_scan_output_sorts_lines() -> None:
    text = """\
2026-11-27 23:30:25,209 WARNING commandcenter.wall.speech: speech failed: no audio output
[3851:3923:1127/233015.187089:ERROR:../../dbus/bus.cc:408] Failed to connect to the bus: no socket
[3851:3923:1127/233016.000001:ERROR:gpu/command_buffer/service/shared_image.cc:12] lost context
2026-11-27 23:31:00,000 ERROR ui.views.map.view: map page failed to load
Traceback (most recent call last):
  File "x.py", line 1, in <module>
ValueError: boom
2026-11-27 23:37:59,212 WARNING commandcenter.ops.watchdog: GUI thread stalled for 318 ms (warning > 200 ms)
2026-11-27 23:39:05,742 WARNING commandcenter.ops.watchdog: GUI thread stalled for 812 ms (warning > 200 ms)
Fatal Python error: Segmentation fault
[1:2:1127/233017.000001:FATAL:render_process_host_impl.cc(1)] Check failed
"""
    found = soak.scan_output(text.splitlines())
    assert found.ignored == 1
    assert found.tracebacks == 1
    assert [line.rsplit(" ", 2)[-2:] for line in found.error_lines] == [["lost", "context"], ["to", "load"]]
    assert len(found.fatal_lines) == 2
    assert found.stall_warnings_ms == [318.0, 812.0]
    assert soak.scan_output(["2026-11-27 WARNING x: fine", ""]).error_lines == []


def test_core_files_written_during_the_run(tmp_path: Path) -> None:
    old = tmp_path / "core"
    old.write_bytes(b"\0")
    (tmp_path / "core.1234").write_bytes(b"\0")
    (tmp_path / "score.txt").write_bytes(b"\0")
    since = old.stat().st_mtime + 0.5
    import os

    os.utime(old, (since - 100, since - 100))
    found = soak.find_core_files([tmp_path, tmp_path / "missing"], since - 1)
    assert [p.name for p in found] == ["core.1234"]


# --- verdict and report ---------------------------------------------------------------------


def test_clean_run_passes_everything_and_exits_clean() -> None:
    result = result_of(ramp_samples(30), stats_lines(30),
                       journal={"events": 5000, "position": {"seq": 6000}, "snapshots": 3,
                                "integrity": "ok", "file_bytes": 4_000_000},
                       incidents_created=321)
    assert [t.status for t in soak.evaluate(result)] == ["PASS", "PASS", "PASS"]
    assert not result.crashed
    assert result.simulated_hours == pytest.approx(24.0)
    report = soak.render_report(result)
    assert "| no crash | 0 crashes, 0 restarts | none | **PASS** |" in report
    assert "24.0 simulated hours" in report
    assert "5000 events journaled, server position seq 6000" in report
    assert "highest incident number seen): 321" in report
    assert "| **tree** | 800 | 800 |" in report
    assert "Short run" not in report


def test_crash_and_leak_are_misses() -> None:
    samples = ramp_samples(30, growth_pct_per_h=30.0)
    lines = stats_lines(30)
    for line in lines[200:]:
        line["pid"] = 9999
    output = soak.scan_output(["Fatal Python error: Aborted"])
    result = result_of(samples, lines, exit_code=-6, output=output)
    assert result.crashed
    crash, growth, _ = soak.evaluate(result)
    assert crash.status == "MISS"
    assert "exit code -6" in crash.measured and "1 restart(s)" in crash.measured
    assert "1 fatal line(s)" in crash.measured
    assert growth.status == "MISS"
    report = soak.render_report(result)
    assert "pid 4242 -> 9999 (pid changed)" in report
    assert "Fatal Python error: Aborted" in report


def test_hang_is_a_crash() -> None:
    result = result_of(ramp_samples(30), stats_lines(30), hung=True, exit_code=-15)
    assert result.crashed
    assert "hung (killed)" in soak.evaluate(result)[0].measured


def test_soak_json_is_strict_json() -> None:
    # Only one sample after the baseline: the slope is NaN, soak.json says null.
    samples = ramp_samples(30)
    result = result_of(samples, stats_lines(30))
    data = soak.result_to_json(result)
    text = json.dumps(data, allow_nan=False)
    back = json.loads(text)
    assert len(back["samples"]) == len(samples) and len(back["stats"]) == 360
    assert [t["status"] for t in back["targets"]] == ["PASS", "PASS", "PASS"]
    assert soak._finite({"a": [math.nan, 1.0]}) == {"a": [None, 1.0]}


def test_display_command_hides_local_paths() -> None:
    cmd = [sys.executable, "-m", "ui.app.cli", "demo", "--data-dir", "/tmp/x/data", "--stats-file",
           "/tmp/x/data/stats.jsonl", "--screenshot-dir", "/repo/bench/soak/screenshots"]
    shown = soak.display_command(cmd, {"/tmp/x/data": "<data-dir>", "/repo/bench/soak": "<out>"})
    assert shown == ["python", "-m", "ui.app.cli", "demo", "--data-dir", "<data-dir>", "--stats-file",
                     "<data-dir>/stats.jsonl", "--screenshot-dir", "<out>/screenshots"]


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        soak.parse_args(["--minutes", "0"])
    assert exc.value.code == 2
    assert "must be positive" in capsys.readouterr().err
    args = soak.parse_args([])
    assert (args.minutes, args.speed, args.scenario, args.out) == (30.0, 48.0, "mixed", soak.DEFAULT_OUT)


# --- the real parts: stats file, process tree, plots ----------------------------------------


def test_stats_tail_reads_complete_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "stats.jsonl"
    tail = soak.StatsTail(path)
    assert tail.read() == []  # not written yet
    with path.open("w") as f:
        f.write('{"pid": 1, "t": 1.0}\n{"pid": 1,')
    assert tail.read() == [{"pid": 1, "t": 1.0}]
    with path.open("a") as f:
        f.write(' "t": 2.0}\nnot json\n[1]\n')
    assert tail.read() == [{"pid": 1, "t": 2.0}]
    assert tail.bad_lines == 2
    assert tail.read() == []


def test_tree_sampler_sorts_a_real_process_tree() -> None:
    # The root plays the wall; its child looks like the demo's server by its cmdline.
    child = "import sys; sys.stdin.read()"
    root_code = (
        "import subprocess, sys\n"
        f"c = subprocess.Popen([sys.executable, '-c', {child!r}, '-m', 'commandcenter.cli', 'serve'],"
        " stdin=subprocess.PIPE)\n"
        "print(c.pid, flush=True)\n"
        "sys.stdin.read()\n"
        "c.stdin.close(); c.wait()\n"
    )
    root = subprocess.Popen([sys.executable, "-c", root_code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert root.stdout is not None
        server_pid = int(root.stdout.readline())
        sampler = soak.TreeSampler(root.pid)
        sample = sampler.sample(5.0)
        assert sample is not None
        assert sample.nproc == 2
        assert sample.roles["wall"] > 1 and sample.roles["server"] > 1
        assert sample.roles["webengine"] == 0 and sample.roles["supervisor"] == 0
        assert sample.tree_mb == pytest.approx(sample.roles["wall"] + sample.roles["server"], abs=0.02)
        assert {pid for (pid, _) in sampler.server_seen} == {server_pid}
        # Stats name another process as the wall: the root is then the supervisor.
        sampler.wall_pid = server_pid
        again = sampler.sample(10.0)
        assert again is not None and again.roles["supervisor"] > 1
    finally:
        assert root.stdin is not None
        root.stdin.close()
        root.wait(30)
        root.stdout.close()  # type: ignore[union-attr]
    assert sampler.sample(15.0) is None  # the tree is gone


def test_plots_are_written(qapp: object, tmp_path: Path) -> None:
    from PySide6.QtGui import QImage

    lines = stats_lines(30)
    lines[100]["stall_max_ms"] = 260.0
    result = result_of(ramp_samples(30, growth_pct_per_h=5.0, noise=3.0), lines)
    soak.write_plots(result, tmp_path)
    for name in ("rss.png", "stalls.png"):
        image = QImage(str(tmp_path / name))
        assert not image.isNull(), name
        assert (image.width(), image.height()) == (1200, 600)

    def count(image: QImage, rgb: tuple[int, int, int]) -> int:
        # Grid lines are blended over the curves: near the colour, not exactly it.
        img = image.convertToFormat(QImage.Format.Format_RGB32)
        bgra = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
        diff = np.abs(bgra[..., 2::-1].astype(int) - np.array(rgb)).sum(axis=-1)
        return int((diff < 60).sum())

    rss = QImage(str(tmp_path / "rss.png"))
    for role in ("tree", "wall", "server", "webengine"):
        assert count(rss, soak.ROLE_COLOURS[role]) > 200, role
    assert count(rss, soak.ROLE_COLOURS["supervisor"]) == 0  # no such process: no curve
    stalls = QImage(str(tmp_path / "stalls.png"))
    assert count(stalls, (200, 0, 0)) > 200  # the 200 ms line
    assert count(stalls, soak.ROLE_COLOURS["wall"]) > 200
