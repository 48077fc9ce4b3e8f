"""Distances on the Earth's surface: the one formula the program uses (no Qt).

The console's "unit is 4,2 km away", the simulator's travel times and anything
else that measures between two coordinates call :func:`distance_km`, so two
screens never disagree about how far something is.
"""

from __future__ import annotations

import math

__all__ = ["EARTH_RADIUS_KM", "distance_km"]

#: Mean Earth radius (IUGG), kilometres.
EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance between two points in kilometres.

    Haversine rather than a flat approximation: it stays exact for the short
    hops inside a regency and for the 65 km to Palembang alike, and costs a
    microsecond.
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    # min(): rounding can push a just past 1 for antipodal points.
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
