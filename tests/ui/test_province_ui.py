"""The provincial wall's map and header in a real QtWebEngine page (offscreen), following
two real regency servers: its windows shift against burn-in, the map draws all 17 regencies
of Sumatera Selatan with the incidents, and a killed server shows its regency stale on the map
and in the banner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.serverproc import WALL, ServerProcess

pytestmark = [pytest.mark.slow]


def _read(proc: subprocess.Popen[str], key: str) -> dict[str, Any]:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"child ended before {key!r} (exit {proc.wait(30)})")
        if line.startswith("{"):
            msg = json.loads(line)
            if key in msg:
                return dict(msg)


def test_province_map_shows_17_regencies_and_a_stale_one(tmp_path: Path) -> None:
    servers = {
        code: ServerProcess(tmp_path / f"server-{code}.sqlite3", scenario="normal", speed=1.0, rate=60.0,
                            heartbeat=0.3, extra=["--regency", code]).start()
        for code in ("16.01", "16.71")
    }  # fmt: skip
    config = tmp_path / "province.toml"
    lines = ["[server]", "reconnect_min_s = 0.05", "reconnect_max_s = 0.5", "heartbeat_timeout_s = 1.5", ""]
    for code, name in (("16.01", "Ogan Komering Ulu"), ("16.71", "Palembang")):
        lines += ["[[province.feeds]]", f'code = "{code}"', f'name = "{name}"',
                  f'servers = ["{servers[code].url}"]', f'token = "{WALL}"', ""]  # fmt: skip
    config.write_text("\n".join(lines), encoding="utf-8")
    shots = tmp_path / "shots"
    log = (tmp_path / "child.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ui.province_child", str(config), str(tmp_path / "data"), str(shots)],
        cwd=ROOT, env=dict(os.environ, QTWEBENGINE_DISABLE_SANDBOX="1", COMMANDCENTER_CONFIG=""),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip
    try:
        # Burn-in protection as on a regency's wall (the provincial windows had none): every
        # window has its guard, and one step of its clock moves the content by one pixel.
        burn = _read(proc, "burn_in")["burn_in"]
        assert burn["shift_px"] > 0 and burn["guards"] and all(burn["guards"]), burn
        assert burn["moved"] == [1] * len(burn["guards"]), burn
        live = _read(proc, "state")
        assert live["state"]["regencies"] == 17
        assert live["state"]["labels"] == 17
        assert live["state"]["points"] > 0
        assert live["state"]["stale"] == 0 and not live["banner"]
        assert live["js_errors"] == []
        _read(proc, "waiting")
        servers["16.71"].kill()
        assert proc.stdin is not None
        proc.stdin.write("killed\n")
        proc.stdin.flush()
        stale = _read(proc, "banner_text")
        assert stale["state"]["stale"] == 1 and stale["banner"]
        assert stale["rows"] == {"16.01": True, "16.71": False}
        assert "Palembang" in stale["banner_text"]
        assert proc.wait(60) == 0, (tmp_path / "child.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        for srv in servers.values():
            srv.stop()
        log.close()
    assert (shots / "live").is_dir() and any((shots / "stale").iterdir())
