"""Loading the configuration: the shipped defaults, a user file, the environment, migrations and
errors that name the file, the key and the reason."""

from __future__ import annotations

import copy
import functools
import importlib.resources
import os
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

import msgspec
import platformdirs

from commandcenter.config.schema import (
    APP_NAME,
    CONFIG_VERSION,
    ENV_CONFIG,
    ENV_SERVER_URL,
    ENV_TOKEN,
    MIGRATIONS,
    PATH_KEYS,
    Config,
    ConfigError,
    Migration,
)
from commandcenter.core.places import BUILTIN_PREFIX, GeoError, geo_path

# --- loading -----------------------------------------------------------------------

_PATH_TOKEN = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_FIELD_PREFIX = re.compile(
    r"^([A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])*(?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])*)*): (.*)$", re.DOTALL
)
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(.*)`$", re.DOTALL)
_MISSING_FIELD = re.compile(r"^Object missing required field `(.*)`$", re.DOTALL)
_TOML_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")

KeyPart = str | int


def _parse_path(path: str) -> list[KeyPart]:
    """``.map.bounds[0].south`` (msgspec's path without the ``$``) as parts."""
    return [name if name else int(idx) for name, idx in _PATH_TOKEN.findall(path)]


def format_key(parts: Iterable[KeyPart]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _split_validation_error(exc: msgspec.ValidationError) -> tuple[list[KeyPart], str, list[str]]:
    """msgspec's "Expected `float`, got `str` - at `$.map.bounds.south`" as
    (["map", "bounds", "south"], "Expected `float`, got `str`", related keys)."""
    text = str(exc)
    message, sep, tail = text.rpartition(" - at `$")
    if sep and tail.endswith("`"):
        parts = _parse_path(tail[:-1])
    else:
        message, parts = text, []
    if m := _UNKNOWN_FIELD.match(message):
        return [*parts, m.group(1)], "unknown key (not in the schema; a typo?)", []
    if m := _MISSING_FIELD.match(message):
        return [*parts, m.group(1)], "required key is missing", []
    if m := _FIELD_PREFIX.match(message):
        # A rule across fields of one table (south < north): whoever wrote any
        # of that table may have broken it.
        return parts + _parse_path("." + m.group(1)), m.group(2), [format_key(parts)]
    return parts, message, []


def _present(data: Any, parts: Iterable[KeyPart]) -> bool:
    """Whether ``data`` (one file's raw table) supplied the value at ``parts``."""
    node = data
    for part in parts:
        if isinstance(node, list):
            return True  # arrays replace wholesale: everything inside came from this file
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
            continue
        return False
    return True


class _Sources:
    """Who supplied what, to blame the right file for a bad key."""

    def __init__(self, defaults_file: str) -> None:
        self.defaults_file = defaults_file
        self.user_file: str | None = None
        self.user_data: dict[str, Any] = {}
        self.env: dict[str, str] = {}  # key path -> variable name

    def blame(self, key: str, related: Iterable[str] = ()) -> str:
        for env_key, var in self.env.items():
            if key == env_key or key.startswith(env_key + "."):
                return var
        if self.user_file is not None:
            for candidate in (key, *related):
                parts = _parse_path("." + candidate) if candidate else []
                if candidate and _present(self.user_data, parts):
                    return self.user_file
        return self.defaults_file


def _read_toml(file: Path, label: str) -> dict[str, Any]:
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(label, "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(label, "", "is a directory, not a file") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ConfigError(label, "", f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    return _parse_toml(raw, label)


def _parse_toml(raw: bytes, label: str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(label, "", f"not UTF-8 text (byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise ConfigError(label, "", "TOML nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_LINE.search(str(exc))
        raise ConfigError(
            label, "", f"TOML syntax error: {exc}", line=int(m.group(1)) if m else None
        ) from None


def _defaults_resource() -> Any:
    return importlib.resources.files("config") / "default.toml"


@functools.cache
def _default_data_cached() -> tuple[str, dict[str, Any]]:
    res = _defaults_resource()
    label = str(res)
    return label, _parse_toml(res.read_bytes(), label)


def default_data() -> dict[str, Any]:
    """A fresh copy of the shipped defaults as a plain TOML table."""
    return copy.deepcopy(_default_data_cached()[1])


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; anything else (arrays included) is replaced."""
    merged = {k: copy.deepcopy(v) for k, v in base.items()}
    for key, value in override.items():
        old = merged.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def migrate(
    data: dict[str, Any],
    file: str,
    *,
    current: int = CONFIG_VERSION,
    migrations: Mapping[int, Migration] = MIGRATIONS,
) -> dict[str, Any]:
    """Bring a user file's table up to ``current``; refuse a newer version."""
    version = data.get("config_version", current)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ConfigError(file, "config_version", f"must be an integer, got {type(version).__name__}")
    if version < 1:
        raise ConfigError(file, "config_version", f"{version} is not a valid version (1 or more)")
    if version > current:
        raise ConfigError(
            file,
            "config_version",
            f"version {version} is newer than this program understands (up to {current}); "
            "upgrade the program or write a version "
            f"{current} file",
        )
    while version < current:
        step = migrations.get(version)
        if step is None:
            raise ConfigError(file, "config_version", f"no migration from version {version}")
        data = step(data)
        version += 1
        data["config_version"] = version
    return data


def _resolve_paths(data: dict[str, Any], base: Path, file: str) -> None:
    """Make the path values of one file absolute, relative to that file."""
    for section, key in PATH_KEYS:
        table = data.get(section)
        if not isinstance(table, dict):
            continue
        value = table.get(key)
        if not isinstance(value, str) or not value:
            continue  # empty means the built-in default; a wrong type is msgspec's to report
        if value.startswith(BUILTIN_PREFIX):
            continue  # a file the program ships, not a path
        if "\x00" in value:
            raise ConfigError(file, f"{section}.{key}", "path contains a NUL character")
        try:
            p = Path(value).expanduser()
            table[key] = str(p if p.is_absolute() else (base / p).resolve())
        except (RuntimeError, OSError, ValueError) as exc:
            # RuntimeError: "~user" naming no user, or no home directory at all.
            raise ConfigError(file, f"{section}.{key}", f"cannot resolve path {value!r}: {exc}") from None


def _build(data: Mapping[str, Any], sources: _Sources) -> Config:
    try:
        return msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        parts, reason, related = _split_validation_error(exc)
        key = format_key(parts)
        raise ConfigError(sources.blame(key, related), key, reason) from None
    except ConfigError as exc:
        raise ConfigError(sources.blame(exc.key, exc.related), exc.key, exc.reason) from None
    except RecursionError:
        raise ConfigError(sources.user_file or sources.defaults_file, "", "nested too deeply") from None


def parse_config(data: Mapping[str, Any], *, file: str = "<data>") -> Config:
    """Validate a complete configuration table (no defaults merged in)."""
    return _build(data, _Sources(file))


def user_config_path() -> Path:
    """Where the user's file is looked for when no path is given."""
    return platformdirs.user_config_path(APP_NAME, appauthor=False) / "config.toml"


def system_config_path() -> Path:
    """The machine-wide file (``install-linux.sh --system`` writes it), used
    when the user has none. /etc on Linux, not platformdirs' /etc/xdg; on
    Windows the ProgramData folder."""
    if os.name == "posix":
        return Path("/etc") / APP_NAME / "config.toml"
    return platformdirs.site_config_path(APP_NAME, appauthor=False) / "config.toml"


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    use_user_dir: bool = True,
) -> Config:
    """The effective configuration: defaults, user file, environment.

    ``env`` defaults to ``os.environ``; pass ``{}`` to ignore the environment.
    Empty environment values count as unset. Raises :class:`ConfigError`.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    defaults_label, _ = _default_data_cached()
    sources = _Sources(defaults_label)
    merged = default_data()

    user_file: Path | None = None
    if path is not None:
        user_file = Path(path)
    elif environ.get(ENV_CONFIG):
        user_file = Path(environ[ENV_CONFIG])
    elif use_user_dir:
        # The user's own file wins over the machine-wide one; they do not merge,
        # so what the wall runs with is always one file over the defaults.
        user_file = next((c for c in (user_config_path(), system_config_path()) if c.is_file()), None)

    if user_file is not None:
        label = str(user_file)
        user_data = migrate(_read_toml(user_file, label), label)
        _resolve_paths(user_data, user_file.resolve().parent, label)
        sources.user_file, sources.user_data = label, user_data
        try:
            merged = deep_merge(merged, user_data)
        except RecursionError:
            raise ConfigError(label, "", "nested too deeply") from None

    for var, section, key in ((ENV_SERVER_URL, "server", "url"), (ENV_TOKEN, "server", "token")):
        value = environ.get(var)
        if value:
            table = merged.setdefault(section, {})
            if isinstance(table, dict):
                table[key] = value
                sources.env[f"{section}.{key}"] = var

    cfg = _build(merged, sources)
    _check_files(cfg, sources)
    return cfg


def _check_files(cfg: Config, sources: _Sources) -> None:
    """Files named in the config must exist (a typo shows at start-up, not later)."""
    for key, value in (
        ("map.regency_geojson", cfg.map.regency_geojson),
        ("map.boundary_geojson", cfg.map.boundary_geojson),
        ("map.village_geojson", cfg.map.village_geojson),
        ("map.tile_pack", cfg.map.tile_pack),
        ("province.geojson", cfg.province.geojson),
        ("serve.tls_cert", cfg.serve.tls_cert),
        ("serve.tls_key", cfg.serve.tls_key),
    ):
        try:
            path = geo_path(value)  # builtin:NAME is a shipped file; others are paths as given
        except GeoError as exc:
            raise ConfigError(sources.blame(key), key, str(exc)) from None
        if path is not None and not path.is_file():
            raise ConfigError(sources.blame(key), key, f"file not found: {value!r}")


def load_defaults() -> Config:
    """The shipped configuration alone (no user file, no environment)."""
    return load_config(env={}, use_user_dir=False)


def check_file(path: str | Path) -> Config:
    """Validate ``path`` merged over the shipped defaults, ignoring the environment."""
    return load_config(path, env={}, use_user_dir=False)


def config_check_main(path: str, out: TextIO | None = None) -> int:
    """``commandcenter config check FILE``: 0 if valid, 1 with the reason if not."""
    stream = sys.stdout if out is None else out
    try:
        cfg = check_file(path)
    except ConfigError as exc:
        stream.write(f"ERROR: {exc}\n")
        return 1
    stream.write(
        f"OK: {path}: {len(cfg.agencies)} agencies, {len(cfg.categories)} categories, "
        f"{len(cfg.districts)} districts, {len(cfg.screens)} screens\n"
    )
    return 0
