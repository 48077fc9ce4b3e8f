"""The string catalogs (resources/locale) and the locale formats of commandcenter.core.i18n."""

from __future__ import annotations

import datetime as dt
import re
import string
from pathlib import Path

import pytest
from babel.numbers import format_decimal

from commandcenter.core.i18n import LANGUAGES, CatalogError, read_catalogs, shipped_catalogs, strings_for

ROOT = Path(__file__).resolve().parents[1]
CODE_DIRS = ("commandcenter", "ui")
#: A literal key: t("kpi.active") or strings.t("kpi.active", ...).
LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)["']""")
#: A composed key: t(f"status.{s}") -- at least one key must start with the prefix.
KEY_PREFIX = re.compile(r"""\bt\(\s*f["']([a-z][a-z0-9_.]*\.)\{""")
#: The doctor's texts: tr(lang, "journal.ok") is the key "doctor.journal.ok".
DOCTOR_KEY = re.compile(r"""\btr\(\s*\w+,\s*["']([a-z][a-z0-9_.]*)["']""")
DOCTOR_PREFIX = re.compile(r"""\btr\(\s*\w+,\s*f["']([a-z][a-z0-9_.]*\.)\{""")


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}


def _code() -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8")) for d in CODE_DIRS for p in sorted((ROOT / d).rglob("*.py"))]


def test_every_key_has_both_languages_with_the_same_placeholders() -> None:
    cats = shipped_catalogs()
    assert set(cats.messages) == set(LANGUAGES)
    base = cats.messages["id"]
    assert len(base) > 250
    for lang in LANGUAGES:
        assert set(cats.messages[lang]) == set(base), lang
        for key, text in cats.messages[lang].items():
            assert text.strip(), f"{lang}: {key} is empty"
            if key not in cats.own_placeholders:
                assert _fields(text) == _fields(base[key]), key
    # Only the configurable speech and alert templates name their placeholders per language.
    assert cats.own_placeholders and all(k.startswith("speech.") for k in cats.own_placeholders)


def test_every_key_the_code_uses_is_in_the_catalogs() -> None:
    keys = set(shipped_catalogs().messages["id"])
    used: dict[str, Path] = {}
    prefixes: dict[str, Path] = {}
    for path, text in _code():
        for key in LITERAL_KEY.findall(text):
            used.setdefault(key, path)
        for prefix in KEY_PREFIX.findall(text):
            prefixes.setdefault(prefix, path)
        for key in DOCTOR_KEY.findall(text):
            used.setdefault(f"doctor.{key}", path)
        for prefix in DOCTOR_PREFIX.findall(text):
            prefixes.setdefault(f"doctor.{prefix}", path)
    assert len(used) > 120, "the pattern no longer finds the t() calls"
    missing = {k: str(p.relative_to(ROOT)) for k, p in used.items() if k not in keys}
    assert not missing, f"keys used in the code but in no catalog: {missing}"
    orphans = {p for p in prefixes if not any(k.startswith(p) for k in keys)}
    assert not orphans, f"composed keys with no catalog entry: {orphans}"


#: Strings registered by import, or a language held in a module (the old ui.support.i18n).
FORBIDDEN = re.compile(
    r"STRINGS\.setdefault|EXTRA_STRINGS|EXTRA_TEXT|\bglobal _LANG\b|ui\.support\.i18n|set_language"
)


def test_no_module_registers_strings_or_holds_a_language() -> None:
    # Strings come from the catalogs only, and the language from a Strings object.
    offenders = []
    for path, text in _code():
        if FORBIDDEN.search(text):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders


def _write(root: Path, lang: str, area: str, entries: dict[str, str]) -> None:
    folder = root / lang / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join(f'msgid "{k}"\nmsgstr "{v}"\n\n' for k, v in entries.items())
    header = f'msgid ""\nmsgstr ""\n"Language: {lang}\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
    (folder / f"{area}.po").write_text(header + body, encoding="utf-8")


def _good(root: Path) -> None:
    _write(root, "id", "core", {"a.b": "Halo {name}"})
    _write(root, "en", "core", {"a.b": "Hello {name}"})


def test_a_good_catalog_reads(tmp_path: Path) -> None:
    _good(tmp_path)
    cats = read_catalogs(tmp_path)
    assert cats.strings("en").t("a.b", name="Budi") == "Hello Budi"
    assert cats.areas == {"a.b": "core"}
    with pytest.raises(ValueError, match="unsupported language 'jv'"):
        cats.strings("jv")


def test_a_key_in_two_area_files_is_an_error(tmp_path: Path) -> None:
    _good(tmp_path)
    _write(tmp_path, "id", "queue", {"a.b": "Halo lagi {name}"})
    with pytest.raises(CatalogError, match=r"'a\.b' is in both core\.po and queue\.po"):
        read_catalogs(tmp_path)


def test_a_key_missing_from_one_language_is_an_error(tmp_path: Path) -> None:
    _good(tmp_path)
    _write(tmp_path, "id", "queue", {"q.new": "Baru"})
    with pytest.raises(CatalogError, match=r"'q\.new'.*missing"):
        read_catalogs(tmp_path)


def test_a_flagged_template_may_name_its_placeholders_per_language(tmp_path: Path) -> None:
    _write(tmp_path, "id", "speech", {"s.a": "{kategori} baru"})
    _write(tmp_path, "en", "speech", {"s.a": "new {category}"})
    with pytest.raises(CatalogError, match="placeholders differ"):
        read_catalogs(tmp_path)
    for lang in ("id", "en"):
        path = tmp_path / lang / "LC_MESSAGES" / "speech.po"
        path.write_text(path.read_text(encoding="utf-8").replace(
            'msgid "s.a"', '#, own-placeholders\nmsgid "s.a"'), encoding="utf-8")
    cats = read_catalogs(tmp_path)
    assert cats.strings("en").t("s.a", category="fire") == "new fire"
    assert cats.own_placeholders == {"s.a"}


def test_a_stray_brace_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "id", "core", {"a.b": "Halo {nama"})
    _write(tmp_path, "en", "core", {"a.b": "Hello {nama"})
    with pytest.raises(CatalogError, match=r"core\.po: 'a\.b': expected '}'"):
        read_catalogs(tmp_path)


def test_an_empty_text_or_other_placeholders_are_errors(tmp_path: Path) -> None:
    _write(tmp_path, "id", "core", {"a.b": "Halo {name}"})
    _write(tmp_path, "en", "core", {"a.b": ""})
    with pytest.raises(CatalogError, match="has no text"):
        read_catalogs(tmp_path)
    _write(tmp_path, "en", "core", {"a.b": "Hello {nama}"})
    with pytest.raises(CatalogError, match="placeholders differ"):
        read_catalogs(tmp_path)


def test_a_missing_language_folder_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "id", "core", {"a.b": "Halo"})
    with pytest.raises(CatalogError, match="no catalogs for language 'en'"):
        read_catalogs(tmp_path)


def test_numbers_through_the_locale() -> None:
    id_, en = strings_for("id"), strings_for("en")
    assert id_.number(1234.5, 1) == "1.234,5"
    assert en.number(1234.5, 1) == "1,234.5"
    assert id_.number(1206) == "1.206"
    assert en.number(1206) == "1,206"
    assert (id_.number(7.5, None), id_.number(15.0, None), en.number(7.25, None)) == ("7,5", "15", "7.25")
    assert id_.minutes(750) == "12,5 mnt"
    assert en.minutes(750) == "12.5 min"
    assert id_.minutes(None) == "—"
    assert id_.percent(0.37) == "37"
    assert id_.percent(None) == "—"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_numbers_are_what_babel_makes_of_them(lang: str) -> None:
    # Strings.number applies the locale's signs to Python's formatting (fast);
    # it must say exactly what Babel's own CLDR formatting says.
    strings = strings_for(lang)
    values = [0, 7, -999, 1000, -1000, 1_234_567, 0.5, 2.5, 12.345, -1234.5678, 99_999.995, 1e9 + 0.25, 0.004,
              float("inf")]
    for value in values:
        for decimals in (0, 1, 2, None):
            fraction = "##" if decimals is None else "0" * decimals
            pattern = "#,##0" + ("." + fraction if fraction else "")
            expected = format_decimal(value, format=pattern, locale=strings.locale)
            assert strings.number(value, decimals) == expected, (value, decimals)


def test_the_age_forms() -> None:
    id_, en = strings_for("id"), strings_for("en")
    assert id_.age(45) == "45 detik"
    assert id_.age(180) == "3 menit"
    assert id_.age(2 * 3600 + 5 * 60) == "2 jam 5 menit"
    assert en.age(45) == "45 s"
    assert id_.age_column(83 * 60 + 5) == "83 mnt"
    assert id_.age_column(30) == "30 detik"
    assert id_.age_tile(82 * 60 + 5) == "82 menit"
    assert id_.age_tile(3.5 * 3600) == "3,5 jam"
    assert en.age_tile(3.5 * 3600) == "3.5 h"
    assert id_.age_coarse(3 * 86400 + 7) == "3 hari"
    assert en.age_coarse(2 * 3600 + 59) == "2 h"
    assert id_.age_coarse(-5) == "0 detik"


def test_times_are_wib() -> None:
    ts = dt.datetime(2026, 12, 4, 17, 5, 9, tzinfo=dt.UTC)  # 00:05:09 WIB on 5 December
    assert strings_for("id").clock(ts) == "00:05:09"
    assert strings_for("en").clock(ts, seconds=False) == "00:05"
    assert strings_for("id").clock(None) == "—"
    assert strings_for("id").date(ts) == "5 Des 2026"
    assert strings_for("en").date(ts) == "Dec 5, 2026"


def test_configured_names_in_the_language() -> None:
    assert strings_for("en").pick("Kebakaran", "Fire") == "Fire"
    assert strings_for("id").pick("Kebakaran", "Fire") == "Kebakaran"
    assert strings_for("en").pick("Dinas Sosial", "") == "Dinas Sosial"


def test_every_problem_code_has_a_text_in_both_languages() -> None:
    from commandcenter.core.plausibility import PROBLEMS, problem_text

    for lang in LANGUAGES:
        missing = [code for code in PROBLEMS if f"problem.{code}" not in strings_for(lang)]
        assert not missing, (lang, missing)
    text = problem_text(["outside_area", "a_new_code"], strings_for("id"))
    assert text == "⚠ Data meragukan:\n– koordinat jauh di luar kabupaten\n– a_new_code"


def test_every_view_has_a_title_in_both_languages() -> None:
    """A window's title names its views as t(f"view.{name}"): a view without an entry put its
    raw key ("view.queue") in the header of every wall that showed it."""
    from typing import get_args

    from commandcenter.wall.layout import View

    for lang in LANGUAGES:
        missing = [v for v in get_args(View) if f"view.{v}" not in strings_for(lang)]
        assert not missing, (lang, missing)
