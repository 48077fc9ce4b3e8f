"""Configuration: shipped defaults, user file, environment, and every refusal
naming the right file, key and reason."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from commandcenter import config as cfgmod
from commandcenter.config import (
    CONFIG_VERSION,
    ENV_CONFIG,
    ENV_SERVER_URL,
    ENV_TOKEN,
    NATIONAL_RESPONSE_TARGET_S,
    Config,
    ConfigError,
    check_file,
    config_check_main,
    deep_merge,
    default_data,
    load_config,
    load_defaults,
    migrate,
    parse_config,
)

DEFAULTS_FILE = cfgmod.loader._default_data_cached()[0]


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_user(path: Path, env: dict[str, str] | None = None) -> Config:
    return load_config(path, env=env or {}, use_user_dir=False)


def error_of(path: Path, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_user(path, env)
    return info.value


# --- shipped defaults -----------------------------------------------------------


def test_defaults_load_and_validate() -> None:
    cfg = load_defaults()
    assert cfg.config_version == CONFIG_VERSION
    assert [a.code for a in cfg.agencies] == [
        "DAMKAR", "DINKES", "DLH", "BPBD", "DISHUB", "DINSOS", "BNN", "DPPPA"
    ]  # fmt: skip
    assert len(cfg.districts) == 18
    assert [s.view for s in cfg.screens] == ["map", "operations", "leader", "console"]
    assert [s.interactive for s in cfg.screens] == [False, False, False, True]
    required = {
        "kebakaran", "karhutla", "banjir", "angin_puting_beliung", "pohon_tumbang", "medis",
        "kecelakaan_lalu_lintas", "ketertiban_lalu_lintas", "ketertiban_umum", "sampah_lingkungan",
        "sosial", "narkotika", "perlindungan_perempuan_anak", "evakuasi_hewan",
    }  # fmt: skip
    assert required <= {c.code for c in cfg.categories}
    assert cfg.server.url == "ws://127.0.0.1:8112/"
    assert cfg.serve.port == 8112
    assert cfg.serve.demo_tokens_in_use == ["demo-wall", "demo-console", "demo-admin"]
    assert all("DEMO" in t.name for t in cfg.serve.tokens)
    assert cfg.display.language == "id"
    assert cfg.map.online_tiles is False
    assert cfg.map.min_zoom <= cfg.map.zoom <= cfg.map.max_zoom == 18
    assert {r.name for r in cfg.alerts.rules} >= {"new_high_priority", "critical_category"}


def test_defaults_domain_rules() -> None:
    cfg = load_defaults()
    for d in cfg.districts:
        assert cfg.map.bounds.contains(d.lat, d.lon), d.name
    for code in ("kebakaran", "medis", "kecelakaan_lalu_lintas"):
        cat = cfg.category(code)
        assert cat is not None
        assert cat.life_threatening
        assert cat.sla.arrive_s <= NATIONAL_RESPONSE_TARGET_S
    karhutla = cfg.category("karhutla")
    assert karhutla is not None
    assert set(karhutla.agencies) == {"BPBD", "DAMKAR"}
    kll = cfg.category("kecelakaan_lalu_lintas")
    assert kll is not None
    assert set(kll.agencies) == {"DISHUB", "DINKES"}


def test_struct_defaults_match_shipped_file() -> None:
    """The Struct defaults (used when code builds a Config) and default.toml
    say the same, except the arrays that only the file ships."""
    shipped = load_defaults()
    built = Config(agencies=shipped.agencies, categories=shipped.categories)
    for section in ("server", "display", "map", "journal", "logging", "screens"):
        assert getattr(built, section) == getattr(shipped, section), section
    assert msgspec.structs.replace(shipped.serve, tokens=[]) == built.serve
    assert msgspec.structs.replace(shipped.alerts, rules=[]) == built.alerts


def test_lookup_helpers() -> None:
    cfg = load_defaults()
    dinkes = cfg.agency("DINKES")
    assert dinkes is not None
    assert dinkes.short == "Dinkes"
    assert dinkes.to_model().code == "DINKES"
    assert cfg.agency("NOPE") is None
    banjir = cfg.category("banjir")
    assert banjir is not None
    assert banjir.agencies == ["BPBD"]
    assert cfg.category("gempa") is None
    for name in ("Kayu Agung", "kayuagung", "  KAYU   AGUNG "):
        district = cfg.district_by_name(name)
        assert district is not None
        assert district.code == "16.02.05"
    assert cfg.district_by_name("Palembang") is None
    jejawi = cfg.district("16.02.17")
    assert jejawi is not None
    assert jejawi.name == "Jejawi"
    assert cfg.index is cfg.index  # built once


def test_config_encodes_without_index() -> None:
    cfg = load_defaults()
    _ = cfg.index
    data = msgspec.json.decode(msgspec.json.encode(cfg))
    assert "index" not in data
    assert msgspec.convert(data, Config) == cfg


def test_derived_paths_and_client_id() -> None:
    cfg = load_defaults()
    assert cfg.journal.resolved_path().name == "wall-journal.sqlite3"
    assert cfg.logging.resolved_dir().is_absolute()
    assert cfg.server.effective_client_id()
    fixed = msgspec.structs.replace(cfg.server, client_id="wall-1")
    assert fixed.effective_client_id() == "wall-1"


# --- user file and environment ---------------------------------------------------------


def test_user_file_deep_merges_tables_and_replaces_arrays(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [server]
        url = "wss://dispatch.example:9443/feed"
        [map]
        zoom = 10
        [map.bounds]
        south = -4.3
        [display]
        operators = ["Dewi"]
        [[screens]]
        name = "HDMI-1"
        view = "map"
        """,
    )
    cfg = load_user(path)
    assert cfg.server.url == "wss://dispatch.example:9443/feed"
    assert cfg.server.heartbeat_timeout_s == 10.0  # untouched key of a merged table
    assert cfg.map.zoom == 10
    assert cfg.map.bounds.south == -4.3
    assert cfg.map.bounds.north == -2.391
    assert cfg.display.operators == ["Dewi"]
    assert len(cfg.screens) == 1
    assert cfg.screens[0].name == "HDMI-1"
    assert len(cfg.agencies) == 8


def test_deep_merge_does_not_touch_inputs() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    override = {"a": {"c": [3]}, "e": {"f": 1}}
    merged = deep_merge(base, override)
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1, "e": {"f": 1}}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    merged["e"]["f"] = 2
    assert override == {"a": {"c": [3]}, "e": {"f": 1}}


def test_user_dir_file_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[display]\nlanguage = "en"\n')
    monkeypatch.setattr(cfgmod.loader, "user_config_path", lambda: path)
    assert load_config(env={}).display.language == "en"
    assert load_config(env={}, use_user_dir=False).display.language == "id"
    monkeypatch.setattr(cfgmod.loader, "user_config_path", lambda: tmp_path / "absent.toml")
    assert load_config(env={}).display.language == "id"


def test_env_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nurl = "ws://file.example/"\ntoken = "from-file"\n')
    env = {ENV_SERVER_URL: "wss://env.example:8443/", ENV_TOKEN: "from-env"}
    cfg = load_user(path, env)
    assert cfg.server.url == "wss://env.example:8443/"
    assert cfg.server.token == "from-env"
    # Empty values count as unset.
    cfg = load_user(path, {ENV_SERVER_URL: "", ENV_TOKEN: ""})
    assert (cfg.server.url, cfg.server.token) == ("ws://file.example/", "from-file")


def test_env_config_path(tmp_path: Path) -> None:
    path = write(tmp_path, '[display]\nlanguage = "en"\n')
    assert load_config(env={ENV_CONFIG: str(path)}, use_user_dir=False).display.language == "en"
    # An explicit path wins over the variable.
    other = write(tmp_path, "[display]\nviewing_distance_m = 9\n", "other.toml")
    cfg = load_config(other, env={ENV_CONFIG: str(path)}, use_user_dir=False)
    assert (cfg.display.language, cfg.display.viewing_distance_m) == ("id", 9.0)


def test_env_config_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(env={ENV_CONFIG: str(missing)}, use_user_dir=False)
    assert info.value.file == str(missing)
    assert "not found" in info.value.reason


def test_bad_env_url_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "[display]\n")
    err = error_of(path, {ENV_SERVER_URL: "http://example/"})
    assert err.file == ENV_SERVER_URL
    assert err.key == "server.url"
    assert "ws://" in err.reason
    assert str(err).startswith(f"{ENV_SERVER_URL}: server.url: ")


def test_relative_paths_resolve_against_the_file(tmp_path: Path) -> None:
    sub = tmp_path / "site"
    sub.mkdir()
    (sub / "oki.geojson").write_text("{}", encoding="utf-8")
    path = write(sub, '[map]\nboundary_geojson = "oki.geojson"\n[journal]\npath = "data/j.sqlite3"\n')
    cfg = load_user(path)
    assert Path(cfg.map.boundary_geojson) == (sub / "oki.geojson").resolve()
    assert cfg.journal.resolved_path() == (sub / "data" / "j.sqlite3").resolve()


def test_missing_boundary_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[map]\nboundary_geojson = "absent.geojson"\n')
    err = error_of(path)
    assert (err.file, err.key) == (str(path), "map.boundary_geojson")
    assert "not found" in err.reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [("~nosuchuser-oki/x.geojson", "cannot resolve path"), ("a\\u0000b", "NUL")],
)
def test_unusable_paths_are_refused(tmp_path: Path, value: str, reason: str) -> None:
    path = write(tmp_path, f'[map]\nboundary_geojson = "{value}"\n')
    err = error_of(path)
    assert (err.file, err.key) == (str(path), "map.boundary_geojson")
    assert reason in err.reason


# --- refusals: file, key, reason --------------------------------------------------------

CASES: list[tuple[str, str, str]] = [
    # (user file, key, fragment of the reason)
    ('[map.bounds]\nsouth = "x"\n', "map.bounds.south", "Expected `float`, got `str`"),
    ("[map.bounds]\nsouth = -2.0\nnorth = -3.0\n", "map.bounds.south", "less than north"),
    ("[map.bounds]\nwest = 107.0\n", "map.bounds.west", "less than east"),
    ("[map.center]\nlat = 0.0\n", "map.center", "outside"),
    ("[map]\nzoom = 19\n", "map.zoom", "outside"),
    ("[map]\nmax_zoom = 8\n", "map.zoom", "outside"),
    ("[map]\nmin_zoom = 12\nzoom = 12\nmax_zoom = 10\n", "map.min_zoom", "exceeds"),
    ('[map]\ntile_url = "ftp://x/{z}/{x}/{y}"\n', "map.tile_url", "http"),
    ("screens = []\n", "screens", "at least one"),
    ("agencies = []\n", "agencies", "at least one"),
    ("categories = []\n", "categories", "at least one"),
    (
        '[[agencies]]\ncode = "DAMKAR"\nname = "Damkar"\ncolor = "#ff8800"\n',
        "categories[1].agencies[0]",
        "unknown agency BPBD",
    ),
    (
        '[[agencies]]\ncode = "DAMKAR"\nname = "A"\ncolor = "#ff8800"\n'
        '[[agencies]]\ncode = "DAMKAR"\nname = "B"\ncolor = "#ff8800"\n',
        "agencies[1].code",
        "duplicate",
    ),
    ('[[agencies]]\ncode = "DAMKAR"\nname = "A"\ncolor = "orange"\n', "agencies[0].color", "regex"),
    ('[[agencies]]\ncode = "damkar"\nname = "A"\ncolor = "#ff8800"\n', "agencies[0].code", "regex"),
    ('[[agencies]]\ncode = "DAMKAR"\nname = "A"\n', "agencies[0].color", "required key is missing"),
    (
        '[[categories]]\ncode = "x"\nname_id = "X"\nname_en = "X"\nagencies = ["BPBD"]\n'
        'default_priority = "high"\ncap_category = "Fire"\nmarker_shape = "circle"\n'
        "sla = { verify_s = 60, forward_s = 30, dispatch_s = 90, arrive_s = 900 }\n",
        "categories[0].sla.forward_s",
        "less than verify_s",
    ),
    (
        '[[categories]]\ncode = "x"\nname_id = "X"\nname_en = "X"\nagencies = ["BPBD"]\n'
        'default_priority = "high"\ncap_category = "Fire"\nmarker_shape = "circle"\n'
        "life_threatening = true\n"
        "sla = { verify_s = 60, forward_s = 120, dispatch_s = 300, arrive_s = 1200 }\n",
        "categories[0].sla.arrive_s",
        "national response target",
    ),
    (
        '[[categories]]\ncode = "x"\nname_id = "X"\nname_en = "X"\nagencies = ["BPBD"]\n'
        'default_priority = "urgent"\ncap_category = "Fire"\nmarker_shape = "circle"\n'
        "sla = { verify_s = 60, forward_s = 120, dispatch_s = 300, arrive_s = 900 }\n",
        "categories[0].default_priority",
        "Invalid enum value 'urgent'",
    ),
    (
        '[[categories]]\ncode = "x"\nname_id = "X"\nname_en = "X"\nagencies = ["BPBD"]\n'
        'default_priority = "high"\ncap_category = "Fire"\nmarker_shape = "pentagon"\n'
        "sla = { verify_s = 60, forward_s = 120, dispatch_s = 300, arrive_s = 900 }\n",
        "categories[0].marker_shape",
        "Invalid enum value",
    ),
    (
        '[[districts]]\ncode = "16.02.99"\nname = "Bangka"\nlat = -2.1\nlon = 106.1\n',
        "districts[0]",
        "outside map.bounds",
    ),
    (
        '[[districts]]\ncode = "16.02.02"\nname = "A"\nlat = -3.5\nlon = 105.0\n'
        '[[districts]]\ncode = "16.02.02"\nname = "B"\nlat = -3.5\nlon = 105.0\n',
        "districts[1].code",
        "duplicate",
    ),
    (
        '[[districts]]\ncode = "16.02.02"\nname = "Kayu Agung"\nlat = -3.5\nlon = 105.0\n'
        '[[districts]]\ncode = "16.02.03"\nname = "kayuagung"\nlat = -3.5\nlon = 105.0\n',
        "districts[1].name",
        "duplicate",
    ),
    (
        '[[screens]]\nindex = 0\nview = "map"\n[[screens]]\nindex = 0\nview = "leader"\n',
        "screens[1].index",
        "already uses",
    ),
    ('[[screens]]\nview = "wall"\n', "screens[0].view", "Invalid enum value"),
    (
        '[[alerts.rules]]\nname = "x"\nwhen = "category"\ncategories = ["gempa"]\n',
        "alerts.rules[0].categories[0]",
        "unknown category gempa",
    ),
    (
        '[[alerts.rules]]\nname = "x"\nwhen = "new_incident"\n'
        '[[alerts.rules]]\nname = "x"\nwhen = "situation"\n',
        "alerts.rules[1].name",
        "duplicate",
    ),
    ("[alerts]\nflood_end_threshold = 10\n", "alerts.flood_end_threshold", "less than"),
    (
        '[[serve.tokens]]\ntoken = "t"\nrole = "wall"\n[[serve.tokens]]\ntoken = "t"\nrole = "admin"\n',
        "serve.tokens[1].token",
        "duplicate",
    ),
    ('[[serve.tokens]]\ntoken = "t"\nrole = "root"\n', "serve.tokens[0].role", "Invalid enum value"),
    ('[serve]\ntls_cert = "cert.pem"\n', "serve.tls_key", "both"),
    ("[serve]\nport = 70000\n", "serve.port", "<= 65535"),
    ('[server]\nurl = "http://example/"\n', "server.url", "ws://"),
    ('[server]\nurl = "ws:///path"\n', "server.url", "no host"),
    ('[server]\nurl = "ws://host:99999/"\n', "server.url", "not a valid URL"),
    ("[server]\nreconnect_min_s = 60\n", "server.reconnect_min_s", "reconnect_max_s"),
    ("[server]\nheartbeat_timeout_s = 0\n", "server.heartbeat_timeout_s", "> 0"),
    ('[display]\nlanguage = "fr"\n', "display.language", "Invalid enum value 'fr'"),
    ("[display]\nviewing_distance_m = 0\n", "display.viewing_distance_m", "> 0"),
    ("[display]\nviewing_distance_m = 51\n", "display.viewing_distance_m", "<= 50"),
    ('[display]\noperators = ["Sari", "sari"]\n', "display.operators[1]", "duplicate"),
    ("[journal]\nretention_days = 0\n", "journal.retention_days", ">= 1"),
    ("[journal]\nmax_mb = 8\n", "journal.max_mb", ">= 16"),
    ('[logging]\nlevel = "LOUD"\n', "logging.level", "Invalid enum value"),
    ("[server]\nurll = 1\n", "server.urll", "unknown key"),
    ("colour = 1\n", "colour", "unknown key"),
    (
        '[[agencies]]\ncode = "X"\nname = "X"\ncolor = "#ffffff"\ncolour = "red"\n',
        "agencies[0].colour",
        "unknown",
    ),
    ("server = 1\n", "server", "Expected `object`, got `int`"),
    ("config_version = 2\n", "config_version", "newer than this program"),
    ('config_version = "1"\n', "config_version", "integer"),
    ("config_version = 0\n", "config_version", "not a valid version"),
]


@pytest.mark.parametrize(("text", "key", "reason"), CASES, ids=[c[1] + "/" + c[2][:20] for c in CASES])
def test_refusal_names_file_key_and_reason(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = write(tmp_path, text)
    err = error_of(path)
    assert err.key == key
    assert reason in err.reason
    assert err.file == str(path)
    assert str(err) == f"{path}: {key}: {err.reason}"


def test_message_format_of_a_type_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[map.bounds]\nsouth = "far"\n')
    assert str(error_of(path)) == f"{path}: map.bounds.south: Expected `float`, got `str`"


def test_error_in_the_defaults_blames_the_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    broken = default_data()
    broken["map"]["bounds"]["south"] = "oops"
    monkeypatch.setattr(cfgmod.loader, "_default_data_cached", lambda: ("/shipped/default.toml", broken))
    path = write(tmp_path, '[display]\nlanguage = "en"\n')
    err = error_of(path)
    assert (err.file, err.key) == ("/shipped/default.toml", "map.bounds.south")


def test_cross_reference_blames_the_file_that_changed_it(tmp_path: Path) -> None:
    # The user moved the map away: the shipped districts now lie outside it.
    path = write(tmp_path, "[map]\nbounds = { south = 0.0, west = 0.0, north = 1.0, east = 1.0 }\n"
                           "center = { lat = 0.5, lon = 0.5 }\n")  # fmt: skip
    err = error_of(path)
    assert err.key == "districts[0]"
    assert err.file == str(path)


# --- files that are not TOML or not there ---------------------------------------------------


def test_toml_syntax_error_reports_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nurl = "ws://x/"\ntoken = \n')
    err = error_of(path)
    assert err.file == str(path)
    assert err.key == ""
    assert err.line == 3
    assert "line 3" in str(err)
    assert str(err).startswith(f"{path}: TOML syntax error")


def test_deeply_nested_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "a = " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deeply" in error_of(path).reason


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[display]\nconsole_name = "Konsol \xe9"\n')
    assert "UTF-8" in error_of(path).reason


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    err = error_of(missing)
    assert (err.file, err.key) == (str(missing), "")
    assert "not found" in err.reason


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert "directory" in error_of(tmp_path).reason


# --- versions --------------------------------------------------------------------------------


def test_migration_hook_upgrades_old_files() -> None:
    def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
        data = dict(data)
        data["display"] = {"language": data.pop("bahasa")}
        return data

    out = migrate({"config_version": 1, "bahasa": "en"}, "f.toml", current=2, migrations={1: v1_to_v2})
    assert out == {"config_version": 2, "display": {"language": "en"}}
    with pytest.raises(ConfigError, match="no migration from version 1"):
        migrate({"config_version": 1}, "f.toml", current=2, migrations={})
    with pytest.raises(ConfigError, match="newer"):
        migrate({"config_version": 3}, "f.toml", current=2, migrations={1: v1_to_v2})
    # A file without a version is taken as current.
    assert migrate({}, "f.toml") == {}


# --- check command -----------------------------------------------------------------------


def test_config_check_main_ok(tmp_path: Path) -> None:
    path = write(tmp_path, '[[screens]]\nview = "map"\n')
    out = io.StringIO()
    assert config_check_main(str(path), out=out) == 0
    assert out.getvalue() == f"OK: {path}: 8 agencies, 14 categories, 18 districts, 1 screens\n"


def test_config_check_main_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[display]\nlanguage = "fr"\n')
    out = io.StringIO()
    assert config_check_main(str(path), out=out) == 1
    assert out.getvalue().startswith(f"ERROR: {path}: display.language: ")


def test_config_check_ignores_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_SERVER_URL, "not a url")
    path = write(tmp_path, "")
    assert check_file(path).server.url == "ws://127.0.0.1:8112/"


def test_example_user_file_is_valid() -> None:
    example = Path(cfgmod.__file__).resolve().parents[2] / "config" / "example-user.toml"
    out = io.StringIO()
    assert config_check_main(str(example), out=out) == 0, out.getvalue()


def test_config_module_does_not_import_qt() -> None:
    code = (
        "import sys, commandcenter.config as c; c.load_defaults(); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'ui', 'qasync')]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- fuzzing: bad input raises ConfigError and nothing else ---------------------------------

FIELD_NAMES = sorted(
    {
        f.name
        for cls in (
            cfgmod.Config, cfgmod.ServerConfig, cfgmod.ServeConfig, cfgmod.ServeToken, cfgmod.DisplayConfig,
            cfgmod.AgencyConfig, cfgmod.CategoryConfig, cfgmod.Sla, cfgmod.MapConfig, cfgmod.Bounds,
            cfgmod.LatLon, cfgmod.DistrictConfig, cfgmod.ScreenConfig, cfgmod.AlertsConfig,
            cfgmod.AlertRule, cfgmod.JournalConfig, cfgmod.LoggingConfig,
        )
        for f in msgspec.structs.fields(cls)
    }
)  # fmt: skip
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
KEYS = st.sampled_from(FIELD_NAMES) | TEXT
SCALARS = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | TEXT
    | st.sampled_from(
        [
            "ws://h/",
            "~nosuchuser-oki/x",
            "DAMKAR",
            "kebakaran",
            "#123456",
            "map",
            "high",
            "Fire",
            "circle",
            "16.02.02",
        ]
    )
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)
TOML_FRAGMENTS = st.sampled_from(
    [
        "[server]", "[map.bounds]", "[[agencies]]", "[[categories]]", "[[screens]]", "[[alerts.rules]]",
        "[display]", "url = ", "south = ", "code = ", "view = ", "\"ws://x/\"", "\"DAMKAR\"", "1", "-3.5",
        "true", "[", "]", "{", "}", "=", ",", "\"", "'", "\n", " ", "#", "1979-05-27T07:32:00Z", "inf",
        "nan", "agencies = []", "config_version = 2", "[serve]", "tls_cert = \"a\"", "zoom = 99",
    ]
)  # fmt: skip


def _toml_char(ch: str) -> str:
    if ch in '\\"':
        return "\\" + ch
    if ord(ch) < 0x20 or ord(ch) == 0x7F:
        return f"\\u{ord(ch):04x}"
    return ch


def toml_string(text: str) -> str:
    return '"' + "".join(_toml_char(ch) for ch in text) + '"'


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_dumps(data: dict[str, Any]) -> str:
    """A tiny TOML writer: every table inline (enough for fuzzing)."""
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in data.items())


def _default_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            paths += _default_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            paths += _default_paths(v, (*prefix, i))
    return paths


DEFAULT_PATHS = _default_paths(default_data())


def _accepts_or_config_error(load: Any) -> None:
    error: ConfigError | None = None
    try:
        cfg = load()
    except ConfigError as exc:
        error = exc
    if error is None:
        assert isinstance(cfg, Config)
    else:
        assert str(error)
        assert isinstance(error.key, str)
        assert isinstance(error.reason, str)


@given(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200))
def test_random_text_is_refused_cleanly(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "config.toml"
    path.write_text(text, encoding="utf-8")
    _accepts_or_config_error(lambda: load_user(path))


@given(st.lists(TOML_FRAGMENTS, max_size=30))
def test_toml_like_text_is_refused_cleanly(
    tmp_path_factory: pytest.TempPathFactory, parts: list[str]
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "config.toml"
    path.write_text("".join(parts), encoding="utf-8")
    _accepts_or_config_error(lambda: load_user(path))


@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_random_tables_written_as_toml(
    tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any]
) -> None:
    text = toml_dumps(data)
    parsed = cfgmod.loader.tomllib.loads(text)
    assert json.dumps(parsed, sort_keys=True, default=str) == json.dumps(data, sort_keys=True, default=str)
    path = tmp_path_factory.mktemp("fuzz") / "config.toml"
    path.write_text(text, encoding="utf-8")
    _accepts_or_config_error(lambda: load_user(path))


@given(st.lists(st.tuples(st.sampled_from(DEFAULT_PATHS), VALUES), min_size=1, max_size=3))
def test_mutated_defaults_are_refused_cleanly(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    data = default_data()
    for path, value in mutations:
        node: Any = data
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed this path
    _accepts_or_config_error(lambda: parse_config(data))


@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_random_tables_merged_over_defaults(data: dict[str, Any]) -> None:
    _accepts_or_config_error(lambda: parse_config(deep_merge(default_data(), data)))
