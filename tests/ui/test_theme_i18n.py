"""Readability numbers and the two languages."""

from __future__ import annotations

import importlib
import pkgutil
import string

import pytest

import ui
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


def _load_all_ui_modules() -> None:
    # Views merge their own strings into the table when imported.
    for mod in pkgutil.iter_modules(ui.__path__):
        if mod.name not in ("cli",):
            importlib.import_module(f"ui.{mod.name}")


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_visible_string_exists_in_both_languages_with_the_same_fields() -> None:
    _load_all_ui_modules()
    assert len(i18n.STRINGS) > 100
    for key, entry in i18n.STRINGS.items():
        assert entry.get("id"), f"{key} has no Indonesian text"
        assert entry.get("en"), f"{key} has no English text"
        assert _fields(entry["id"]) == _fields(entry["en"]), key


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
