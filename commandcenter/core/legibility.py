"""How big text must be to be read from across the room, and how much fits.

The rule (ISO 9241-3, NUREG-0700; domain.md): body text subtends at least 16 minutes of arc at
the farthest viewing distance; headings and key figures about 23 (the "150H" rule: capital
height at least distance / 150). A font's capital height is about 0.7 of its pixel size for the
sans-serif faces the wall uses, and an average character about 0.55 of it wide. Everything here
is plain arithmetic on a screen's pixels, its diagonal and the distance: the Qt layer turns it
into font sizes, the layout check into advice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Minimum for body text on a wall screen, in minutes of arc.
BODY_ARCMIN = 16.0
#: Headings and key figures ("150H": capital height >= distance / 150 is 22.9').
HEADING_ARCMIN = 23.0
#: Capital height per pixel of font size (DejaVu Sans / Noto Sans: 0.71-0.73).
CAP_HEIGHT_PER_EM = 0.7
#: Average advance of a character per pixel of font size (mixed Indonesian words and digits).
CHAR_WIDTH_PER_EM = 0.55
#: Line pitch of text and table rows per pixel of font size.
LINE_PER_EM = 1.25
#: Never smaller than this, whatever the distance (a console on a desk).
MIN_FONT_PX = 14


def cap_height_mm(distance_m: float, arcmin: float) -> float:
    """Capital height that subtends ``arcmin`` minutes of arc at ``distance_m``."""
    return 2 * distance_m * 1000 * math.tan(math.radians(arcmin / 60) / 2)


def arcmin_of(cap_mm: float, distance_m: float) -> float:
    """The angle, in minutes of arc, of a capital ``cap_mm`` high seen from ``distance_m``."""
    return math.degrees(2 * math.atan(cap_mm / (2 * distance_m * 1000))) * 60


def px_per_mm(width_px: int, height_px: int, diagonal_in: float) -> float:
    return math.hypot(width_px, height_px) / (diagonal_in * 25.4)


def font_px(arcmin: float, ppm: float, distance_m: float) -> int:
    """The font size in pixels whose capitals subtend ``arcmin`` at ``distance_m``."""
    return max(MIN_FONT_PX, math.ceil(cap_height_mm(distance_m, arcmin) * ppm / CAP_HEIGHT_PER_EM - 1e-9))


def font_arcmin(font: int, ppm: float, distance_m: float) -> float:
    """What a font of ``font`` pixels subtends at ``distance_m``."""
    return arcmin_of(font * CAP_HEIGHT_PER_EM / ppm, distance_m)


@dataclass(frozen=True)
class TextSizes:
    """Font sizes for one screen at one distance, and what they subtend."""

    ppm: float
    distance_m: float
    body_px: int
    heading_px: int
    figure_px: int

    @property
    def line_px(self) -> int:
        """Pitch of a line of body text or a table row."""
        return math.ceil(self.body_px * LINE_PER_EM)

    @property
    def heading_line_px(self) -> int:
        return math.ceil(self.heading_px * LINE_PER_EM)

    @property
    def figure_line_px(self) -> int:
        return math.ceil(self.figure_px * 1.1)

    @property
    def char_px(self) -> float:
        return self.body_px * CHAR_WIDTH_PER_EM

    @property
    def body_arcmin(self) -> float:
        return font_arcmin(self.body_px, self.ppm, self.distance_m)

    def lines(self, height_px: int) -> int:
        """Whole lines of body text that fit in ``height_px``."""
        return max(0, height_px // self.line_px)

    def chars(self, width_px: int) -> int:
        """Characters of body text that fit on one line of ``width_px``."""
        return max(0, int(width_px / self.char_px))


def sizes_for(width_px: int, height_px: int, diagonal_in: float, distance_m: float) -> TextSizes:
    """Sizes for a screen of ``diagonal_in`` inches showing ``width_px`` x ``height_px`` pixels
    read from ``distance_m``: body at 16', headings at 23', key figures 1.4 x headings.
    At 6 m on a 55-inch 1080p panel that is a 63 px body (capitals 28 mm) and 90 px headings."""
    ppm = px_per_mm(width_px, height_px, diagonal_in)
    body = font_px(BODY_ARCMIN, ppm, distance_m)
    heading = font_px(HEADING_ARCMIN, ppm, distance_m)
    return TextSizes(ppm, distance_m, body, heading, max(heading, round(heading * 1.4)))


def max_distance_m(font: int, ppm: float, arcmin: float = BODY_ARCMIN) -> float:
    """The farthest distance at which a ``font``-pixel text still subtends ``arcmin``."""
    cap_mm = font * CAP_HEIGHT_PER_EM / ppm
    return cap_mm / (2 * math.tan(math.radians(arcmin / 60) / 2)) / 1000
