"""Burn-in protection and night dimming: the schedule, without Qt.

A wall panel shows the same header, tile borders and labels for months. On
OLED and many LCD/plasma panels such static edges leave a ghost image. The
wall therefore moves its whole content by whole pixels along a path that visits
every offset in ``[-shift_px, +shift_px]²``, one pixel per step, so no edge
stays on the same pixel column for long and no step is visible from the floor.

The step comes from the wall clock (seconds since the Unix epoch divided by
``step_interval_s``), not from a counter: after a restart the content resumes
near where it was instead of starting again at the home position, so every
offset gets its share of time over months. :func:`step_toward` keeps the
one-pixel promise when the clock itself jumps (NTP, a manual change).

Night dimming: between ``start`` and ``end`` (WIB, the window may cross
midnight) the screens are dimmed to ``level``, with a gentle ramp at both edges
so that the room never sees the wall go dark at once. The wall dims text with
its background (a translucent black over both), which lowers their contrast:
the level is never below the lowest brightness at which every text colour
keeps 7:1 against its background (:func:`lowest_brightness`). On the dark
palette, whose weakest pair is about 7.6:1 by day, that is little dimming: the
rule wins over the configured level.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass

from commandcenter.config import BurnInConfig, NightDimmingConfig
from commandcenter.core.timeutil import WIB

Offset = tuple[int, int]

#: Text keeps at least this contrast (WCAG 2) against its background, by night too.
MIN_TEXT_CONTRAST = 7.0
#: Brightness levels are tried in steps of this size (:func:`lowest_brightness`).
BRIGHTNESS_STEP = 0.01
#: Length of each ramp at the edges of the night window (shorter when the
#: window is shorter than two ramps).
NIGHT_RAMP_S = 20 * 60.0
_DAY_S = 86_400


@functools.cache
def shift_path(shift_px: int) -> tuple[Offset, ...]:
    """One closed cycle of offsets (x, y) through every point of the square.

    Rows are swept like a snake (top to bottom), then columns (right to left)
    back to the start. Row sweeps and column sweeps alternate so that both
    horizontal and vertical edges keep moving. Each offset is visited twice per
    cycle except the two corners where the sweeps turn; consecutive offsets
    (the last and the first included) differ by one pixel on one axis.
    """
    if shift_px < 0:
        raise ValueError("shift_px must be >= 0")
    s = shift_px
    if s == 0:
        return ((0, 0),)
    span = range(-s, s + 1)
    rows: list[Offset] = []
    for i, y in enumerate(span):
        xs = span if i % 2 == 0 else reversed(span)
        rows.extend((x, y) for x in xs)
    # 2s+1 rows (odd): the row sweep ends at (s, s), where the column sweep
    # starts, going up column s first; 2s+1 columns: it ends at (-s, -s).
    columns: list[Offset] = []
    for i, x in enumerate(reversed(span)):
        ys = reversed(span) if i % 2 == 0 else span
        columns.extend((x, y) for y in ys)
    # Drop each sweep's last point: it is the next sweep's first.
    return tuple(rows[:-1] + columns[:-1])


def offset_at(step: int, shift_px: int) -> Offset:
    """The offset at step ``step`` (any integer, the path repeats)."""
    path = shift_path(shift_px)
    return path[step % len(path)]


def step_at(t: dt.datetime, step_interval_s: float) -> int:
    """The step number at time ``t`` (aware)."""
    if t.tzinfo is None:
        raise ValueError("step_at needs an aware datetime")
    return math.floor(t.timestamp() / step_interval_s)


def step_toward(current: Offset, target: Offset) -> Offset:
    """At most one pixel per axis from ``current`` toward ``target``: a clock
    jump becomes a few quiet steps instead of a jump seen from the floor."""

    def one(a: int, b: int) -> int:
        return a + (b > a) - (b < a)

    return one(current[0], target[0]), one(current[1], target[1])


def _linear(channel: int) -> float:
    c = channel / 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _rgb(hex_color: str) -> tuple[int, int, int]:
    h = hex_color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def relative_luminance(rgb: tuple[int, int, int]) -> float:
    r, g, b = rgb
    return 0.2126 * _linear(r) + 0.7152 * _linear(g) + 0.0722 * _linear(b)


def contrast_of(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (1 to 21)."""
    la, lb = relative_luminance(a), relative_luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def dimmed(hex_color: str, brightness: float) -> tuple[int, int, int]:
    """What the night overlay makes of a colour: black at ``1 - brightness`` painted over it
    (source-over on 8-bit sRGB, as the wall renders it)."""
    alpha = round((1.0 - brightness) * 255)
    r, g, b = _rgb(hex_color)

    def over(c: int) -> int:
        return round(c * (255 - alpha) / 255)

    return over(r), over(g), over(b)


def lowest_brightness(pairs: Iterable[tuple[str, str]], min_ratio: float = MIN_TEXT_CONTRAST) -> float:
    """The lowest brightness (in steps of :data:`BRIGHTNESS_STEP`) at which every (text,
    background) pair, both dimmed, keeps ``min_ratio``; 1.0 when a pair misses it undimmed.
    Dimming both lowers the contrast (the 0.05 of ambient light in the ratio stays), so the
    search goes down from full brightness and stops at the first level that misses."""
    colors = list(pairs)
    level = 1.0
    steps = round(1.0 / BRIGHTNESS_STEP)
    for i in range(steps - 1, 0, -1):
        trial = i * BRIGHTNESS_STEP
        if any(contrast_of(dimmed(fg, trial), dimmed(bg, trial)) < min_ratio for fg, bg in colors):
            break
        level = trial
    return level


def _seconds_of_day(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 3600 + int(minutes) * 60


@dataclass(frozen=True)
class NightSchedule:
    """When the wall is dimmed and how much. ``start == end`` means never."""

    enabled: bool
    start_s: int
    end_s: int
    level: float
    ramp_s: float = NIGHT_RAMP_S
    #: display.night.level as configured; ``level`` is it, or the contrast floor when higher.
    configured_level: float | None = None

    @classmethod
    def from_config(
        cls,
        cfg: NightDimmingConfig,
        ramp_s: float = NIGHT_RAMP_S,
        *,
        text_pairs: Iterable[tuple[str, str]] = (),
    ) -> NightSchedule:
        """``text_pairs``: the (text, background) colours the dimming covers; the level is raised
        to :func:`lowest_brightness` of them, so none drops below 7:1 at night."""
        floor = lowest_brightness(text_pairs)
        return cls(
            enabled=cfg.enabled,
            start_s=_seconds_of_day(cfg.start),
            end_s=_seconds_of_day(cfg.end),
            level=max(cfg.level, floor),
            ramp_s=ramp_s,
            configured_level=cfg.level,
        )

    @property
    def capped(self) -> bool:
        """The configured level is darker than the text contrast allows."""
        return self.configured_level is not None and self.level > self.configured_level

    @property
    def length_s(self) -> int:
        return (self.end_s - self.start_s) % _DAY_S

    def _elapsed(self, t: dt.datetime) -> float | None:
        """Seconds since the night began, or None when ``t`` is not at night."""
        if not self.enabled or self.length_s == 0:
            return None
        local = t.astimezone(WIB)
        of_day = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        elapsed = (of_day - self.start_s) % _DAY_S
        return elapsed if elapsed < self.length_s else None

    def is_night(self, t: dt.datetime) -> bool:
        return self._elapsed(t) is not None

    def brightness(self, t: dt.datetime) -> float:
        """1.0 by day, ``level`` at night, linear in between on the ramps."""
        elapsed = self._elapsed(t)
        if elapsed is None:
            return 1.0
        ramp = min(self.ramp_s, self.length_s / 2)
        edge = min(elapsed, self.length_s - elapsed)
        depth = 1.0 if ramp <= 0 else min(1.0, edge / ramp)
        return 1.0 - (1.0 - self.level) * depth


@dataclass(frozen=True)
class BurnInSchedule:
    """Where the content sits at a given time."""

    enabled: bool
    shift_px: int
    step_interval_s: float

    @classmethod
    def from_config(cls, cfg: BurnInConfig) -> BurnInSchedule:
        return cls(enabled=cfg.enabled, shift_px=cfg.shift_px, step_interval_s=cfg.step_interval_s)

    def target(self, t: dt.datetime) -> Offset:
        if not self.enabled or self.shift_px == 0:
            return (0, 0)
        return offset_at(step_at(t, self.step_interval_s), self.shift_px)

    @property
    def margin_px(self) -> int:
        """The margin the wall keeps on each side of a window at the home position (the offset
        takes from one side what it gives the other, so the content is always ``2 * margin_px``
        narrower and lower than the window): the room the shift moves in."""
        return self.shift_px if self.enabled else 0

    def margins(self, offset: Offset) -> tuple[int, int, int, int]:
        """The window's contents margins (left, top, right, bottom) at ``offset``."""
        s = self.margin_px
        dx, dy = offset
        return s + dx, s + dy, s - dx, s - dy

    def cycle_s(self) -> float:
        """How long one full cycle of the path takes."""
        return len(shift_path(self.shift_px)) * self.step_interval_s


__all__ = [
    "MIN_TEXT_CONTRAST",
    "NIGHT_RAMP_S",
    "BurnInSchedule",
    "NightSchedule",
    "Offset",
    "contrast_of",
    "dimmed",
    "lowest_brightness",
    "offset_at",
    "shift_path",
    "step_at",
    "step_toward",
]
