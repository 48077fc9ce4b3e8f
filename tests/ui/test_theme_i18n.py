"""Readability numbers and the two languages (the catalogs themselves: tests/test_i18n.py)."""

from __future__ import annotations

import pytest

from ui.support import i18n, theme


@pytest.mark.parametrize(("fg", "bg"), theme.TEXT_PAIRS)
def test_text_contrast_is_at_least_seven_to_one(fg: str, bg: str) -> None:
    assert theme.contrast_ratio(fg, bg) >= 7.0


def test_contrast_formula_on_known_values() -> None:
    assert theme.contrast_ratio("#ffffff", "#000000") == pytest.approx(21.0)
    assert theme.contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_wall_text_meets_the_arcminute_rules_at_six_metres() -> None:
    # 55-inch 1080p panel read from 6 m: capitals of 28 mm (16') to 40 mm (23'),
    # i.e. about 44 to 63 px (domain notes).
    m = theme.metrics_for(1920, 1080, 55.0, 6.0)
    cap_body = m.body_px * theme.CAP_HEIGHT_PER_EM
    cap_heading = m.heading_px * theme.CAP_HEIGHT_PER_EM
    assert 43 <= cap_body <= 46
    assert 61 <= cap_heading <= 65
    assert m.small_px >= m.body_px  # nothing below the 16' minimum
    # Sizes scale with distance and screen.
    near = theme.metrics_for(1920, 1080, 55.0, 3.0)
    assert near.body_px < m.body_px
    assert theme.metrics_for(3840, 2160, 55.0, 6.0).body_px == pytest.approx(2 * m.body_px, abs=2)


def test_console_text_is_never_tiny() -> None:
    assert theme.metrics_for(1920, 1080, 24.0, 0.3).body_px >= theme.MIN_FONT_PX


def test_language_switch_and_age_format() -> None:
    try:
        i18n.set_language("id")
        assert i18n.format_age(180) == "3 menit"
        assert i18n.t("banner.stale", age=i18n.format_age(180)) == "TERPUTUS — DATA LAMA, 3 menit"
        i18n.set_language("en")
        assert i18n.format_age(45) == "45 s"
        assert i18n.t("feed.stale") == "STALE"
        with pytest.raises(ValueError, match="unsupported"):
            i18n.set_language("jv")
    finally:
        i18n.set_language("id")
