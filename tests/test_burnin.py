"""The burn-in path and the night schedule (pure, no Qt)."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from commandcenter.config import BurnInConfig, NightDimmingConfig
from commandcenter.core.timeutil import WIB, FakeClock
from commandcenter.wall.burnin import (
    BRIGHTNESS_STEP,
    MIN_TEXT_CONTRAST,
    BurnInSchedule,
    NightSchedule,
    contrast_of,
    dimmed,
    lowest_brightness,
    offset_at,
    shift_path,
    step_at,
    step_toward,
)

shifts = st.integers(min_value=0, max_value=32)
steps = st.integers(min_value=-(10**12), max_value=10**12)
times = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)
clock_times = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))


def wib(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, second, tzinfo=WIB)


# --- the path --------------------------------------------------------------------------


@given(shifts, steps)
def test_offset_always_within_bounds(shift: int, step: int) -> None:
    x, y = offset_at(step, shift)
    assert -shift <= x <= shift and -shift <= y <= shift


@given(shifts, steps)
def test_consecutive_offsets_differ_by_one_pixel_at_most(shift: int, step: int) -> None:
    a, b = offset_at(step, shift), offset_at(step + 1, shift)
    assert abs(a[0] - b[0]) <= 1 and abs(a[1] - b[1]) <= 1
    if shift > 0:
        assert a != b, "a step that does not move wastes a step"


@given(shifts, steps)
def test_every_offset_is_visited_within_one_cycle(shift: int, start: int) -> None:
    cycle = len(shift_path(shift))
    seen = {offset_at(start + i, shift) for i in range(cycle)}
    side = range(-shift, shift + 1)
    assert seen == {(x, y) for x in side for y in side}


def test_the_path_is_closed_and_balanced() -> None:
    path = shift_path(4)
    assert len(path) == 2 * 81 - 2
    # The wrap from the last offset to the first is one pixel, too.
    assert max(abs(path[-1][0] - path[0][0]), abs(path[-1][1] - path[0][1])) == 1
    # Every offset gets about the same time: twice per cycle, the two turning
    # corners once.
    counts = {o: path.count(o) for o in set(path)}
    assert sorted(counts.values()) == [1, 1] + [2] * 79
    assert shift_path(0) == ((0, 0),)
    with pytest.raises(ValueError, match="shift_px"):
        shift_path(-1)


@given(times, st.floats(min_value=1.0, max_value=3600.0))
def test_the_step_changes_once_per_interval(t: dt.datetime, interval: float) -> None:
    n = step_at(t, interval)
    assert step_at(t + dt.timedelta(seconds=interval), interval) in (n + 1, n + 2)  # float rounding
    assert step_at(t + dt.timedelta(seconds=interval * 0.49), interval) in (n, n + 1)


def test_step_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        step_at(dt.datetime(2026, 11, 27, 12, 0), 60.0)


@given(
    st.tuples(st.integers(-32, 32), st.integers(-32, 32)),
    st.tuples(st.integers(-32, 32), st.integers(-32, 32)),
)
def test_a_clock_jump_becomes_one_pixel_steps(current: tuple[int, int], target: tuple[int, int]) -> None:
    seen = [current]
    while seen[-1] != target:
        nxt = step_toward(seen[-1], target)
        assert abs(nxt[0] - seen[-1][0]) <= 1 and abs(nxt[1] - seen[-1][1]) <= 1
        seen.append(nxt)
        assert len(seen) <= 66
    assert len(seen) - 1 == max(abs(current[0] - target[0]), abs(current[1] - target[1]))


def test_schedule_from_config_follows_the_clock() -> None:
    sched = BurnInSchedule.from_config(BurnInConfig(shift_px=4, step_interval_s=60.0))
    clock = FakeClock(dt.datetime(2026, 11, 27, 1, 0, 30, tzinfo=dt.UTC))
    first = sched.target(clock())
    clock.advance(60)
    second = sched.target(clock())
    assert first != second
    assert max(abs(first[0] - second[0]), abs(first[1] - second[1])) == 1
    assert sched.cycle_s() == 160 * 60.0
    assert BurnInSchedule.from_config(BurnInConfig(enabled=False)).target(clock()) == (0, 0)


# --- the night -------------------------------------------------------------------------


NIGHT = NightSchedule.from_config(NightDimmingConfig(enabled=True, start="22:00", end="06:00", level=0.7))


def test_night_window_across_midnight() -> None:
    assert not NIGHT.is_night(wib(27, 21, 59, 59))
    assert NIGHT.is_night(wib(27, 22, 0))
    assert NIGHT.is_night(wib(27, 23, 59))
    assert NIGHT.is_night(wib(28, 0, 0))
    assert NIGHT.is_night(wib(28, 5, 59, 59))
    assert not NIGHT.is_night(wib(28, 6, 0))
    assert not NIGHT.is_night(wib(28, 12, 0))
    # The zone is WIB whatever zone the time comes in: 16:00 UTC is 23:00 WIB.
    assert NIGHT.is_night(dt.datetime(2026, 11, 27, 16, 0, tzinfo=dt.UTC))


def test_brightness_ramps_gently_at_both_edges() -> None:
    assert NIGHT.brightness(wib(27, 21, 0)) == 1.0
    assert NIGHT.brightness(wib(27, 22, 10)) == pytest.approx(1.0 - 0.3 * 0.5)
    assert NIGHT.brightness(wib(27, 23, 0)) == pytest.approx(0.7)
    assert NIGHT.brightness(wib(28, 3, 0)) == pytest.approx(0.7)
    assert NIGHT.brightness(wib(28, 5, 50)) == pytest.approx(1.0 - 0.3 * 0.5)
    assert NIGHT.brightness(wib(28, 7, 0)) == 1.0


def test_disabled_or_empty_night_never_dims() -> None:
    off = NightSchedule.from_config(NightDimmingConfig(enabled=False))
    empty = NightSchedule.from_config(NightDimmingConfig(enabled=True, start="22:00", end="22:00"))
    for hour in range(24):
        assert off.brightness(wib(27, hour)) == 1.0
        assert not empty.is_night(wib(27, hour))


@given(clock_times, clock_times, st.floats(min_value=0.2, max_value=1.0), times)
def test_brightness_within_level_and_one_and_never_jumps(
    start: str, end: str, level: float, t: dt.datetime
) -> None:
    sched = NightSchedule.from_config(NightDimmingConfig(enabled=True, start=start, end=end, level=level))
    b = sched.brightness(t)
    assert level - 1e-9 <= b <= 1.0
    assert (b < 1.0) <= sched.is_night(t)
    # One minute later it has changed by no more than the ramp allows (the
    # ramp is shorter for a short window: at least one minute per half).
    ramp = max(60.0, min(sched.ramp_s, sched.length_s / 2))
    later = sched.brightness(t + dt.timedelta(seconds=60))
    assert abs(later - b) <= (1.0 - level) * 60.0 / ramp + 1e-9


@given(clock_times, clock_times, times)
def test_is_night_matches_the_window(start: str, end: str, t: dt.datetime) -> None:
    sched = NightSchedule.from_config(NightDimmingConfig(enabled=True, start=start, end=end))
    local = t.astimezone(WIB)
    minute = local.hour * 60 + local.minute
    s = int(start[:2]) * 60 + int(start[3:])
    e = int(end[:2]) * 60 + int(end[3:])
    expected = (s <= minute < e) if s <= e else (minute >= s or minute < e)
    assert sched.is_night(t) == expected


# --- the contrast floor ----------------------------------------------------------------

#: The dark palette's text on its backgrounds (ui.support.theme): text, dim text, alarm red.
PALETTE_TEXT = [("#e8eef5", "#0b0f14"), ("#b4c0cc", "#121a23"), ("#ff7a7a", "#0b0f14")]
pair_colors = st.integers(0, 0xFFFFFF).map(lambda c: f"#{c:06x}")


def _ratio_at(fg: str, bg: str, level: float) -> float:
    return contrast_of(dimmed(fg, level), dimmed(bg, level))


def test_dimming_lowers_text_contrast_so_the_level_has_a_floor() -> None:
    # Black over text and background alike: alarm red on the background, 7.6:1 by day, is 4.1:1
    # at the default level 0.7, which is what the wall showed before the floor.
    assert _ratio_at("#ff7a7a", "#0b0f14", 1.0) == pytest.approx(7.61, abs=0.01)
    assert _ratio_at("#ff7a7a", "#0b0f14", 0.7) == pytest.approx(4.08, abs=0.01)
    floor = lowest_brightness(PALETTE_TEXT)
    assert floor == pytest.approx(0.96)
    assert all(_ratio_at(fg, bg, floor) >= MIN_TEXT_CONTRAST for fg, bg in PALETTE_TEXT)
    assert min(_ratio_at(fg, bg, floor - BRIGHTNESS_STEP) for fg, bg in PALETTE_TEXT) < MIN_TEXT_CONTRAST
    # White text alone could go much darker; a pair short of 7:1 by day allows no dimming.
    assert lowest_brightness([("#e8eef5", "#0b0f14")]) == pytest.approx(0.65)
    assert lowest_brightness([("#777777", "#000000")]) == 1.0
    assert lowest_brightness([]) == pytest.approx(BRIGHTNESS_STEP)


@given(st.lists(st.tuples(pair_colors, pair_colors), min_size=1, max_size=4))
def test_every_pair_keeps_7_to_1_at_the_floor(pairs: list[tuple[str, str]]) -> None:
    floor = lowest_brightness(pairs)
    for fg, bg in pairs:
        if _ratio_at(fg, bg, 1.0) >= MIN_TEXT_CONTRAST:
            assert _ratio_at(fg, bg, floor) >= MIN_TEXT_CONTRAST


def test_the_night_level_is_raised_to_the_floor() -> None:
    cfg = NightDimmingConfig(enabled=True, start="22:00", end="06:00", level=0.2)
    sched = NightSchedule.from_config(cfg, text_pairs=PALETTE_TEXT)
    assert sched.level == pytest.approx(0.96) and sched.configured_level == 0.2 and sched.capped
    assert sched.brightness(wib(27, 23, 0)) == pytest.approx(0.96)
    # A level lighter than the floor is kept as configured.
    light = NightSchedule.from_config(msgspec.structs.replace(cfg, level=0.98), text_pairs=PALETTE_TEXT)
    assert light.level == 0.98 and not light.capped
