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


#: glibc's mallopt parameter number of M_MMAP_THRESHOLD (malloc.h).
_M_MMAP_THRESHOLD = -3
#: Allocations this large or larger get their own mapping (glibc's starting value).
MMAP_THRESHOLD_BYTES = 128 * 1024


def fix_mmap_threshold() -> bool:
    """Keep glibc's mmap threshold where it starts (True when set; False off glibc).

    glibc raises the threshold to the size of every mapped block freed, up to
    32 MiB, so after the first multi-megabyte state snapshot is freed the next
    ones come from the heap, and the heap keeps their holes: 7 MB more RSS in
    10 minutes of the server at 60x (bench feed soak), flat with the threshold
    fixed. Fixing it also stops the trim threshold from rising with it.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
