"""Terminal demo: the reference server with the simulator, followed by a journaling
feed client, and a live summary of what the wall would show.

It stands in until the Qt wall exists; it uses exactly the engine the wall uses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from commandcenter.cli.runner import _install_stop_signals
from commandcenter.config import load_defaults
from commandcenter.core.timeutil import WIB
from commandcenter.refserver.server import DispatchServer, ServerSettings, TokenGrant
from commandcenter.wall.feed import FeedState
from commandcenter.wall.session import JOURNAL_FILE, WallSession, feed_settings

STATE_LABEL = {
    FeedState.LIVE: "LANGSUNG / LIVE",
    FeedState.CONNECTING: "MENGHUBUNGKAN / CONNECTING",
    FeedState.STALE: "TERPUTUS — DATA LAMA / STALE",
    FeedState.OFFLINE: "TERPUTUS / OFFLINE",
}


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} mnt"


def summary_lines(client: Any) -> list[str]:
    k = client.store.kpis()
    status = client.status
    age = status.event_age_s()
    clock = k.at.astimezone(WIB)
    lines = [
        f"OKI Siaga 112 — {clock:%H:%M:%S} WIB   feed: {STATE_LABEL[status.state]}"
        f"  (event terakhir {age or 0:.0f} s lalu, seq {client.store.seq})",
        f"Kejadian aktif / active: {k.active_total}   belum ditangani tertua / oldest unhandled: "
        f"{_minutes(k.oldest_unhandled_age_s)}   situasi bencana: {k.situations_active}",
        "Prioritas: " + "  ".join(f"{p}={k.active_by_priority.get(p, 0)}" for p in ("high", "medium", "low")),
        "Kategori: "
        + ", ".join(f"{c} {n}" for c, n in sorted(k.active_by_category.items(), key=lambda x: -x[1])[:6]),
        "Kecamatan: "
        + ", ".join(f"{c} {n}" for c, n in sorted(k.active_by_kecamatan.items(), key=lambda x: -x[1])[:5]),
        f"Waktu respons hari ini: dispatch median {_minutes(k.dispatch.median_s)}"
        f" p90 {_minutes(k.dispatch.p90_s)};"
        f" tiba median {_minutes(k.arrival.median_s)} p90 {_minutes(k.arrival.p90_s)}"
        f" (target 15 mnt, tercapai {100 * (k.arrival.within_target_share or 0):.0f}%)",
        f"Panggilan hari ini: masuk {k.funnel.calls_in}, terjawab {k.funnel.answered}, tak terjawab "
        f"{k.funnel.abandoned}, prank {k.funnel.prank} ({100 * k.funnel.prank_share:.0f}%), ghost "
        f"{k.funnel.ghost} ({100 * k.funnel.ghost_share:.0f}%), valid {k.funnel.valid}",
    ]
    return lines


async def run_demo(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="oki112-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    server = DispatchServer(
        ServerSettings(
            port=0,
            db_path=str(data_dir / "server.sqlite3"),
            tokens=[TokenGrant("demo-wall", "wall", "demo wall")],
            scenario=args.scenario,
            rate_per_min=args.rate,
            speed=args.speed,
            seed=args.seed,
        )
    )
    await server.start()
    config = load_defaults()
    session = await WallSession.open(
        config,
        data_dir / JOURNAL_FILE,
        feed_settings(config, url=server.url, token="demo-wall", client_id="demo-wall", console=""),
    )
    client = session.feed
    session.start()
    stop = asyncio.Event()
    _install_stop_signals(stop)
    out.write(f"server {server.url} (scenario {args.scenario}, x{args.speed}); journal in {data_dir}\n")
    started = time.monotonic()
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)
            out.write("\n".join(summary_lines(client)) + "\n\n")
            out.flush()
            if args.run_for is not None and time.monotonic() - started >= args.run_for:
                break
    finally:
        await session.close()
        await server.close()
    out.write(
        f"demo ended; journals kept in {data_dir} "
        f"(try: commandcenter journal stats --db {data_dir / JOURNAL_FILE})\n"
    )
    return 0


def demo_main(args: argparse.Namespace) -> int:
    return asyncio.run(run_demo(args))
