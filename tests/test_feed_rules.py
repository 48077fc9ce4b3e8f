"""Single rules of the feed client, without a server."""

from __future__ import annotations

import random

from commandcenter.core.store import Store
from commandcenter.wall.feed import FeedClient, FeedSettings


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
