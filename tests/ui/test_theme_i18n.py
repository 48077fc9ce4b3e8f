"""Readability numbers and the two languages (the catalogs themselves: tests/test_i18n.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from commandcenter.config import Config, load_config
from commandcenter.core.i18n import strings_for
from commandcenter.core.store import Store
from ui.support import theme
from ui.support.bridge import EngineBridge


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


def test_the_bridge_carries_the_language_of_the_config_or_the_one_given(
    qapp: object, config: Config, store: Store, tmp_path: Path
) -> None:
    # No module-global language: each bridge holds the Strings its views use.
    default = EngineBridge(config, store).strings
    assert default.t("banner.stale", age=default.age(180)) == "TERPUTUS — DATA LAMA, 3 menit"
    user = tmp_path / "en.toml"
    user.write_text('[display]\nlanguage = "en"\n', encoding="utf-8")
    english = EngineBridge(load_config(str(user)), store).strings
    assert (english.t("feed.stale"), english.age(45), english.number(1206)) == ("STALE", "45 s", "1,206")
    # --lang: the program makes the Strings and hands them over.
    assert EngineBridge(config, store, strings=strings_for("en")).strings.language == "en"
    with pytest.raises(ValueError, match="unsupported language 'jv'"):
        strings_for("jv")
