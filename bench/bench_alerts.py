"""Alert sound benchmarks against the real server process.

``python -m bench alerts`` (or ``python -m bench.bench_alerts``) measures:

alerts.tone_latency_ms
    From the moment the feed client hands the change set holding a new
    high-priority fire to its listeners (a listener put first in
    ``FeedClient.change_listeners``: the event is journaled and applied to
    the store by then) to the moment ``SoundOutput.play`` asks the tone's
    QSoundEffect to play. In between: the alert service (a feed listener
    too: AlertEngine.on_changes, the sound decision) and the Qt adapter.
    Before the engine session (issue 10) the EngineBridge's 16 ms coalescing
    timer sat in between as well. Value: p95 of
    ``BENCH_ALERTS_ROUNDS`` (default 20) alerts, one at a time.
    On a machine without an audio device (this one, CI) QSoundEffect never
    reports "playing": the SoundOutput is built with ``load_without_device``
    so the effect exists and is asked to play, and the figure stops there.
    ``extra.tone_started_seen`` says whether any effect reported playing.

alerts.speech_latency_ms
    From the same moment to the SpeechWorker's ``on_started`` for that
    alert's announcement (``SpeechItem.started_at``): pyttsx3 with espeak-ng
    synthesises the text to a WAV on the speech thread and the player process
    is launched. Without an audio device the player (sox ``play``) starts and
    then fails; the worker reports ``on_failed`` and the wall plays the tone
    instead (counted in ``extra.speech_failed``). Value: p95.

The real ``commandcenter serve`` (no simulator) runs on loopback; the wall
side is what the wall runs: a qasync loop, a WallSession (feed client
journaling into SQLite, alert service, speech worker), an EngineBridge and an
AlertAdapter with its SoundOutput. The alert flood threshold is
raised for the run (otherwise the eleventh alert in ten minutes would be
grouped and not announced on its own), and each alert is acknowledged
before the next, as an operator would.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec

from commandcenter.config import load_defaults
from commandcenter.core import protocol as p
from commandcenter.core.model import IncidentTimes
from commandcenter.core.store import ChangeSet
from commandcenter.core.timeutil import utcnow
from commandcenter.wall.feed import FeedSettings, FeedState
from commandcenter.wall.session import WallSession
from commandcenter.wall.speech import check_available
from tests.factories import make_incident
from tests.serverproc import CONSOLE, ServerProcess, admin_inject


def _rounds() -> int:
    raw = os.environ.get("BENCH_ALERTS_ROUNDS", "")
    return int(raw) if raw.strip() else 20


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, round(q * (len(s) - 1))))
    return s[k]


async def _until(pred: Any, timeout: float, what: str) -> None:
    """Poll every 5 ms. The timestamps measured are taken inside the callbacks
    themselves, so the polling adds nothing to them."""
    try:
        async with asyncio.timeout(timeout):
            while not pred():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise RuntimeError(f"bench_alerts: timed out waiting for {what}") from None


async def _measure(tmp: Path) -> dict[str, Any]:
    from ui.alerts.adapter import AlertAdapter
    from ui.alerts.sound import SoundOutput
    from ui.support.bridge import EngineBridge

    config = load_defaults()
    config = msgspec.structs.replace(
        config, alerts=msgspec.structs.replace(config.alerts, flood_threshold=10_000)
    )
    server = ServerProcess(tmp / "server.sqlite3", heartbeat=0.5).start()
    adapter = None
    bridge = None
    session = await WallSession.open(
        config,
        tmp / "wall.sqlite3",
        FeedSettings(url=server.url, token=CONSOLE, client_id="bench-alerts", console="meja-1"),
        operator="Bench",
        speech=True,
    )
    client, service = session.feed, session.alerts
    speech = session.speech
    if speech is None:
        raise RuntimeError("bench_alerts: the speech worker did not start (see the log)")
    try:
        seen: dict[str, float] = {}

        def on_change(cs: ChangeSet) -> None:
            now = time.monotonic()
            for iid in cs.incidents_added:
                seen.setdefault(iid, now)

        client.change_listeners.insert(0, on_change)
        bridge = EngineBridge(config, session.store, client)
        audio = SoundOutput(tmp / "tones", load_without_device=True)
        adapter = AlertAdapter(service, bridge, audio=audio)
        session.start()
        await _until(
            lambda: client.status.state is FeedState.LIVE and bridge.pending_since is None, 30, "live"
        )
        tone_ms: list[float] = []
        speech_ms: list[float] = []
        failed = 0
        for i in range(_rounds()):
            iid = f"bench-{uuid.uuid4().hex[:8]}-{i}"
            aid = f"incident:{iid}"
            n_tones = len(audio.history)
            n_started = len(service.speech_started)
            n_failed = len(service.speech_failures)
            inc = make_incident(id=iid, ticket=f"B-{i}", times=IncidentTimes(received=utcnow()))
            await admin_inject(server.url, [p.IncidentUpserted(incident=inc)])
            await _until(lambda n=n_tones: len(audio.history) > n, 10, "tone")
            await _until(
                lambda a=n_started, b=n_failed: (
                    len(service.speech_started) > a or len(service.speech_failures) > b
                ),
                30,
                "speech",
            )
            t_event = seen[iid]
            tone_ms.append((audio.history[n_tones][0] - t_event) * 1000)
            started = [item for _, item in list(service.speech_started)[n_started:]]
            if started and started[0].started_at is not None:
                speech_ms.append((started[0].started_at - t_event) * 1000)
            await _until(
                lambda b=n_failed: len(service.speech_failures) > b or speech.current is None, 30, "done"
            )
            failed += len(service.speech_failures) > n_failed
            service.acknowledge(aid)
            await _until(lambda a=aid: a in client.store.acks and not service.pending_acks, 10, "ack")
        ok, reason = audio.available()
        speech_ok, speech_reason = await asyncio.get_running_loop().run_in_executor(
            None, lambda: check_available(config.speech, "id")
        )
        return {
            "tone_ms": tone_ms,
            "speech_ms": speech_ms,
            "speech_failed": failed,
            "tone_started_seen": audio.last_started is not None,
            "audio": reason,
            "audio_ok": ok,
            "speech_available": f"{speech_ok}: {speech_reason}",
        }
    finally:
        if adapter is not None:
            adapter.shutdown()
        if bridge is not None:
            bridge.shutdown()
        await session.close()
        server.stop()


def run() -> dict[str, dict[str, Any]]:
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app, already_running=False)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
            r = loop.run_until_complete(_measure(Path(tmp)))
    finally:
        with contextlib.suppress(Exception):
            loop.close()
        asyncio.set_event_loop(None)
    tone, spoken = r["tone_ms"], r["speech_ms"]
    common = {
        "rounds": len(tone),
        "audio_output": r["audio"],
        "start_point": "FeedClient change listener (event journaled and applied)",
    }
    return {
        "alerts.tone_latency_ms": {
            "value": round(_pct(tone, 0.95), 1),
            "unit": "ms",
            "target": "<= 300",
            "extra": {
                **common,
                "p50_ms": round(statistics.median(tone), 1),
                "max_ms": round(max(tone), 1),
                "end_point": (
                    "QSoundEffect.play() requested"
                    if not r["tone_started_seen"]
                    else "QSoundEffect.play() requested (effects also reported playing)"
                ),
                "tone_started_seen": r["tone_started_seen"],
                "note": (
                    "no audio device on this machine: QSoundEffect is asked to play but never plays; "
                    "the wall shows TANPA AUDIO"
                    if not r["audio_ok"]
                    else "audio device present"
                ),
            },
        },
        "alerts.speech_latency_ms": {
            "value": round(_pct(spoken, 0.95), 1) if spoken else float("nan"),
            "unit": "ms",
            "target": "<= 1000",
            "extra": {
                **common,
                "samples": len(spoken),
                "p50_ms": round(statistics.median(spoken), 1) if spoken else None,
                "max_ms": round(max(spoken), 1) if spoken else None,
                "end_point": "SpeechWorker on_started: espeak-ng WAV synthesised, player process launched",
                "speech_failed": r["speech_failed"],
                "speech_available": r["speech_available"],
                "note": "without an audio device the player starts and fails; the tone is played instead",
            },
        },
    }


if __name__ == "__main__":
    import json

    import PySide6.QtWebEngineWidgets  # noqa: F401  - as python -m bench does, before any QApplication

    json.dump(run(), sys.stdout, indent=2)
    sys.stdout.write("\n")
