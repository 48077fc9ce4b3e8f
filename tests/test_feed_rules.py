"""Single rules of the feed client, without a server."""

from __future__ import annotations

import asyncio
import random
import socket

from commandcenter.core.store import Store
from commandcenter.wall.feed import FeedClient, FeedSettings, _is_refused


class _NoJournal:
    pass


def test_backoff_is_full_jitter_within_growing_caps() -> None:
    client = FeedClient(
        FeedSettings(url="ws://127.0.0.1:1/", token="t"),
        _NoJournal(),
        Store(),  # type: ignore[arg-type]
        rng=random.Random(5),
    )
    floor = 0.05
    caps = {1: 0.5, 2: 0.5, 3: 0.5, 4: 1.0, 5: 2.0, 6: 4.0, 9: 30.0, 20: 30.0}
    for attempt, cap in caps.items():
        delays = [client.backoff_delay(attempt) for _ in range(400)]
        assert min(delays) >= floor
        assert max(delays) <= floor + cap
        # Full jitter: spread over the whole range, not clustered at the cap.
        assert min(delays) < floor + cap * 0.1
        assert max(delays) > floor + cap * 0.9


def test_a_server_that_refuses_is_tried_within_reconnect_min_s_then_the_backoff_grows() -> None:
    """A restarting server refuses connections until it listens (1-2 s for 50,000 incidents):
    the backoff had grown to several seconds by then (the bench's reconnect took 2.4-6 s).
    While every try is refused, for reconnect_refused_fast_s, tries stay within
    reconnect_min_s; a server that accepts and drops, or times out, backs off as before."""
    client = FeedClient(
        FeedSettings(url="ws://127.0.0.1:1/", token="t", reconnect_refused_fast_s=15.0),
        _NoJournal(),
        Store(),  # type: ignore[arg-type]
        rng=random.Random(7),
    )
    quick = 0.05 + 0.5  # reconnect_min_s: a tenth as a floor plus full jitter up to it
    client._failures[0] = 12  # twelve failed tries: the backoff's cap is 30 s

    def delays(now: float) -> list[float]:
        return [client.retry_delay(now) for _ in range(400)]

    assert max(delays(100.0)) > 20.0  # not refused: the grown backoff
    client.note_refused(True, 100.0)
    client.note_refused(True, 110.0)  # still refused: the window runs from the first
    assert max(delays(100.0)) <= quick and max(delays(115.0)) <= quick
    assert max(delays(115.5)) > 20.0  # refused for longer than the window: the backoff again
    client.note_refused(False, 116.0)  # a timeout, or a server that accepted and dropped
    client.note_refused(True, 117.0)
    assert max(delays(118.0)) <= quick


def test_a_refused_connect_is_told_from_other_failures() -> None:
    """On a real port where nothing listens; asyncio joins several addresses' errors."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there

    async def connect() -> BaseException:
        try:
            await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            return exc
        raise AssertionError("something listens on a closed port")

    assert _is_refused(asyncio.run(connect()))
    assert _is_refused(OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 8765, 0, 0), "
                               "[Errno 111] Connect call failed ('127.0.0.1', 8765)"))
    assert not _is_refused(TimeoutError("timed out during opening handshake"))
    assert not _is_refused(OSError("Multiple exceptions: [Errno 110] Connection timed out, "
                                   "[Errno 111] Connect call failed ('127.0.0.1', 8765)"))
