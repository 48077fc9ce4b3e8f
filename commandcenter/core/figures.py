"""Figures over sorted samples: median, percentile, response statistics, histograms (no Qt).

The store keeps its samples (durations in seconds) in ascending lists, so each
figure here costs O(1) or O(bins · log n), never a sort or a scan.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from msgspec import Struct

__all__ = ["Histogram", "ResponseStats", "histogram", "median", "percentile", "response_stats"]


class ResponseStats(Struct, frozen=True, kw_only=True):
    """Durations of one step (dispatch or arrival) measured today, in seconds."""

    count: int = 0
    median_s: float | None = None
    p90_s: float | None = None
    within_target: int = 0
    #: Share (0..1) of ``count`` within the response target; None without samples.
    within_target_share: float | None = None
    #: Whether the median is within the response target; None without samples.
    median_within_target: bool | None = None


class Histogram(Struct, frozen=True, kw_only=True):
    """Counts of durations per bin of ``bin_s`` seconds from 0 to ``max_s``, plus a last
    bin for everything from ``max_s`` on."""

    bin_s: float
    max_s: float
    counts: list[int]
    #: Per bin: it ends at or before the response target (the last, open bin never does).
    within_target: list[bool]


def median(sorted_values: Sequence[float]) -> float | None:
    """The median of an ascending sequence (mean of the two middle values when even)."""
    n = len(sorted_values)
    if n == 0:
        return None
    mid = n // 2
    return sorted_values[mid] if n % 2 else (sorted_values[mid - 1] + sorted_values[mid]) / 2


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (always an observed value) of an ascending sequence:
    the smallest value with at least ``q`` of the values at or below it."""
    n = len(sorted_values)
    if n == 0:
        return None
    # round() keeps 0.9 * 70 = 63.00000000000001 from ranking one too high.
    rank = math.ceil(round(q * n, 9))
    return sorted_values[min(n, max(1, rank)) - 1]


def response_stats(sorted_values: Sequence[float] | None, target_s: float) -> ResponseStats:
    """Count, median, p90 and the share within ``target_s`` of ascending durations."""
    if not sorted_values:
        return ResponseStats()
    within = bisect.bisect_right(sorted_values, target_s)
    mid = median(sorted_values)
    return ResponseStats(
        count=len(sorted_values),
        median_s=mid,
        p90_s=percentile(sorted_values, 0.9),
        within_target=within,
        within_target_share=within / len(sorted_values),
        median_within_target=mid is not None and mid <= target_s,
    )


def histogram(sorted_values: Sequence[float], bin_s: float, max_s: float, target_s: float) -> Histogram:
    """Counts of ascending durations per ``bin_s`` bin up to ``max_s`` plus an overflow bin.

    A value ``v`` falls in bin ``floor(v / bin_s)`` (negative values in the first);
    values at or past ``max_s`` in the last."""
    if bin_s <= 0 or max_s < bin_s:
        raise ValueError("a histogram needs bin_s > 0 and max_s >= bin_s")
    n_bins = int(max_s // bin_s)
    counts: list[int] = []
    below = 0
    for i in range(1, n_bins + 1):
        upto = bisect.bisect_left(sorted_values, i * bin_s)
        counts.append(upto - below)
        below = upto
    counts.append(len(sorted_values) - below)
    within = [(i + 1) * bin_s <= target_s for i in range(n_bins)] + [False]
    return Histogram(bin_s=float(bin_s), max_s=float(n_bins * bin_s), counts=counts, within_target=within)
