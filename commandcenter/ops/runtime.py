"""Process-wide tuning shared by the wall, the server and the recording node."""

from __future__ import annotations

import gc

#: Generation-0 threshold. The default (2,000 allocations in 3.12) makes a
#: process holding tens of thousands of long-lived incidents spend a large
#: share of its time in the collector while applying events; the live data
#: has no reference cycles worth collecting that often.
GC_GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Collect less often; call :func:`freeze_heap` after a big restore."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, max(gen1, 20), max(gen2, 50))


def freeze_heap() -> None:
    """Move everything alive now (config, restored state) out of the collector's
    way: later collections no longer traverse it."""
    gc.collect()
    gc.freeze()
