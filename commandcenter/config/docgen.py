"""The configuration reference and the defaults check, both read from the schema.

The schema (:mod:`commandcenter.config.schema`) is the one source of every key's
type, bounds, default and description. From it this module

- writes ``docs/configuration.md`` (:func:`render_reference`; ``commandcenter config
  reference``), a test failing when the file in the tree is not what it produces;
- checks ``config/default.toml`` (:func:`check_defaults`; ``commandcenter config
  defaults --check``): every key of the schema is written there with the schema's
  default, and no other key. Arrays marked as data (agencies, categories,
  districts, rules, tokens) are validated by the loader but their entries are
  default.toml's own.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import msgspec
from msgspec import inspect as mi

from commandcenter.config.schema import Config
from commandcenter.core.model import ShortText

REFERENCE_PATH = Path("docs") / "configuration.md"
_NODEFAULT: Any = msgspec.NODEFAULT
#: The pattern ShortText uses; written in words instead of as a regex.
_SHORT_TEXT_PATTERN = getattr(getattr(mi.type_info(ShortText), "type", None), "pattern", None)


# --- walking the schema ------------------------------------------------------------


@dataclass(frozen=True)
class KeyDoc:
    """One key of the schema as the reference shows it."""

    table: str  # "server", "display.burn_in", "[[categories]].sla"; "" = top level
    name: str
    type: str
    bounds: str
    default: str
    description: str


@dataclass(frozen=True)
class TableDoc:
    path: str
    description: str
    array: bool
    keys: tuple[KeyDoc, ...]


def _unwrap(t: mi.Type) -> tuple[mi.Type, str, bool]:
    """(inner type, description, data flag) of a field's type."""
    if isinstance(t, mi.Metadata):
        desc = (t.extra_json_schema or {}).get("description", "")
        return t.type, str(desc), bool((t.extra or {}).get("data"))
    return t, "", False


def _optional(t: mi.Type) -> tuple[mi.Type, bool]:
    if isinstance(t, mi.UnionType):
        rest = [x for x in t.types if not isinstance(x, mi.NoneType)]
        if len(rest) == 1 and len(rest) < len(t.types):
            return rest[0], True
    return t, False


def _struct_of(t: mi.Type) -> type[msgspec.Struct] | None:
    return t.cls if isinstance(t, mi.StructType) else None


def _array_struct_of(t: mi.Type) -> type[msgspec.Struct] | None:
    if isinstance(t, mi.ListType) and isinstance(t.item_type, mi.StructType):
        return t.item_type.cls
    return None


def _type_name(t: mi.Type) -> str:
    inner, optional = _optional(t)
    suffix = " (optional)" if optional else ""
    if isinstance(inner, mi.BoolType):
        return "boolean" + suffix
    if isinstance(inner, mi.IntType):
        return "integer" + suffix
    if isinstance(inner, mi.FloatType):
        return "number" + suffix
    if isinstance(inner, mi.StrType):
        return "string" + suffix
    if isinstance(inner, mi.LiteralType):
        return "choice" + suffix
    if isinstance(inner, mi.ListType):
        if isinstance(inner.item_type, mi.StructType):
            return "array of tables" + suffix
        return f"array of {_type_name(inner.item_type)}" + suffix
    if isinstance(inner, mi.DictType):
        return "table of strings" + suffix
    if isinstance(inner, mi.StructType):
        return "table" + suffix
    return "value" + suffix  # Any: checked by the section's own rule


def _number(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    return f"{value:,}".replace(",", "\u202f") if abs(value) >= 10_000 else str(value)


def _bounds(t: mi.Type) -> str:
    inner, _ = _optional(t)
    parts: list[str] = []
    if isinstance(inner, mi.IntType | mi.FloatType):
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            value = getattr(inner, attr)
            if value is not None:
                parts.append(f"{sign} {_number(value)}")
    elif isinstance(inner, mi.StrType):
        if inner.pattern is not None:
            if inner.pattern == _SHORT_TEXT_PATTERN:
                parts.append("no control or bidi control characters")
            else:
                parts.append(f"pattern `{inner.pattern}`")
        if inner.min_length is not None and inner.max_length is not None:
            parts.append(f"{inner.min_length}–{inner.max_length} characters")
        elif inner.max_length is not None:
            parts.append(f"at most {inner.max_length} characters")
        elif inner.min_length:
            parts.append(f"at least {inner.min_length} character{'s' if inner.min_length > 1 else ''}")
    elif isinstance(inner, mi.LiteralType):
        parts.append(", ".join(f"`{json.dumps(v)}`" for v in inner.values))
    elif isinstance(inner, mi.ListType):
        if inner.min_length:
            parts.append(f"at least {inner.min_length}")
        item = _bounds(inner.item_type)
        if item and not isinstance(inner.item_type, mi.StructType):
            parts.append(f"each {item}")
    return ", ".join(parts)


def toml_value(value: Any) -> str:
    """A default written the way default.toml writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return (
            "{ "
            + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items())
            + " }"
        )
    if isinstance(value, msgspec.Struct):
        # TOML has no null: a key left at None is left out.
        return toml_value(
            {f: getattr(value, f) for f in value.__struct_fields__ if getattr(value, f) is not None}
        )
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _default_text(value: Any, data: bool) -> str:
    if data:
        return "see config/default.toml"
    if value is _NODEFAULT:
        return "required"
    if value is None:
        return "none"
    if isinstance(value, list) and value and isinstance(value[0], msgspec.Struct):
        return f"{len(value)} entries (config/default.toml)"
    if isinstance(value, Mapping) and len(value) > 3:
        return f"{len(value)} entries (config/default.toml)"
    return f"`{toml_value(value)}`"


def _field_default(field: mi.Field) -> Any:
    if field.default is not _NODEFAULT:
        return field.default
    if field.default_factory is not _NODEFAULT:
        return field.default_factory()
    return _NODEFAULT


def _tables(
    cls: type[msgspec.Struct], defaults: Any, path: str, description: str, array: bool
) -> Iterator[TableDoc]:
    """The table ``path`` and every table below it, depth first in schema order.

    ``defaults`` is the table's default value (a parent's default may differ from
    the child class's own: [alerts.texts.en] is not AlertTexts()); None when the
    table has none (an entry of an array), then each field's own default counts.
    """
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    keys: list[KeyDoc] = []
    below: list[TableDoc] = []
    for field in info.fields:
        t, desc, data = _unwrap(field.type)
        own = _field_default(field) if defaults is None else getattr(defaults, field.name)
        sub = _struct_of(t)
        item = _array_struct_of(t)
        child = f"{path}.{field.encode_name}" if path else field.encode_name
        if sub is not None:
            below.extend(_tables(sub, None if own is _NODEFAULT else own, child, desc, False))
            continue
        if item is not None:
            if not data and own:
                desc += f" Default: {_default_text(own, data)}."
            below.extend(_tables(item, None, child, desc, True))
            continue
        keys.append(
            KeyDoc(path, field.encode_name, _type_name(t), _bounds(t), _default_text(own, data), desc)
        )
    yield TableDoc(path, description, array, tuple(keys))
    yield from below


@functools.cache
def schema_tables() -> tuple[TableDoc, ...]:
    """Every table of the configuration, the top level first."""
    return tuple(_tables(Config, None, "", "Top level.", False))


def undocumented_keys() -> list[str]:
    """Keys of the schema without a description (a test keeps this empty)."""
    return [
        f"{t.path}.{k.name}" if t.path else k.name
        for t in schema_tables()
        for k in t.keys
        if not k.description.strip()
    ] + [t.path for t in schema_tables() if t.path and not t.description.strip()]


# --- the reference page -------------------------------------------------------------

_HEADER = """\
# Configuration reference

<!-- Generated from commandcenter/config/schema.py by `commandcenter config reference
--output docs/configuration.md`. Do not edit by hand: tests/test_config_docs.py fails
when this file differs from what the schema produces. -->

> **Ringkasan (Bahasa Indonesia).** Halaman ini adalah daftar lengkap kunci
> konfigurasi: tipe, nilai bawaan, batas yang diterima, dan artinya. Nilai bawaan
> ada di `config/default.toml`; berkas pengguna (`--config`, `COMMANDCENTER_CONFIG`,
> `~/.config/oki-siaga-112/config.toml` atau `/etc/oki-siaga-112/config.toml`) cukup
> berisi kunci yang berbeda. Tabel digabung kunci per kunci, sedangkan array
> (`[[agencies]]`, `[[categories]]`, `[[districts]]`, `[[screens]]`, `rules`,
> `tokens`) menggantikan array bawaan seluruhnya. Nilai yang salah ditolak saat
> mulai dengan nama berkas, kunci, dan alasannya. Periksa berkas dengan
> `commandcenter config check FILE`.

Every key with its type, default, accepted values and meaning, generated from the
schema (`commandcenter/config/schema.py`), which is the one place a default is
written; `config/default.toml` is checked against it. A user file holds only what
differs from the defaults. Tables merge key by key; arrays (`[[agencies]]`,
`[[categories]]`, `[[districts]]`, `[[screens]]`, `rules`, `tokens`) replace the
shipped ones wholesale. A bad value is refused at start-up with the file, the key
and the reason. Durations are in seconds (`_s`), sizes as named (`_mb`, `_px`,
`_bytes`). Two environment variables override keys: `COMMANDCENTER_SERVER_URL`
(`server.url`) and `COMMANDCENTER_TOKEN` (`server.token`).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _array_parent(table: TableDoc) -> tuple[str, str] | None:
    """(array path, rest) of a table under an array of tables, which each entry
    writes inline (``sla = { ... }`` in every [[categories]] entry)."""
    parts = table.path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        parent = ".".join(parts[:i])
        if any(t.path == parent and t.array for t in schema_tables()):
            return parent, ".".join(parts[i:])
    return None


def _heading(table: TableDoc) -> str:
    if not table.path:
        return "Top level"
    under = _array_parent(table)
    if under is not None:
        return f"`[[{under[0]}]]` · `{under[1]}`"
    return f"`[[{table.path}]]`" if table.array else f"`[{table.path}]`"


def _dotted(table: TableDoc, key: str) -> str:
    under = _array_parent(table)
    path = f"{under[0]}[].{under[1]}" if under else table.path + ("[]" if table.array else "")
    return f"{path}.{key}" if path else key


def render_reference() -> str:
    """The whole of docs/configuration.md."""
    out = [_HEADER]
    for table in schema_tables():
        if not table.keys:
            continue
        out.append(f"\n## {_heading(table)}\n")
        if table.path:
            out.append(f"\n{table.description}\n")
        if table.array:
            out.append("\nAn array: each entry is a table with these keys.\n")
        out.append("\n| key | type | default | accepted | description |\n|---|---|---|---|---|\n")
        for key in table.keys:
            cells = (f"`{key.name}`", key.type, key.default, key.bounds, key.description)
            out.append("| " + " | ".join(_cell(c) for c in cells) + " |\n")
    return "".join(out)


# --- default.toml against the schema ----------------------------------------------


def check_defaults(data: Mapping[str, Any] | None = None) -> list[str]:
    """Where default.toml (or ``data``, a TOML table) and the schema disagree.

    Each key of the schema must be written with the schema's default and every
    written key must be in the schema; arrays marked as data are only validated.
    An empty list means they agree.
    """
    from commandcenter.config.loader import default_data, parse_config

    raw = default_data() if data is None else dict(data)
    cfg = parse_config(raw, file="config/default.toml")
    problems: list[str] = []
    _compare(Config, None, raw, cfg, "", problems)
    return problems


def _compare(
    cls: type[msgspec.Struct],
    defaults: Any,
    raw: Mapping[str, Any],
    loaded: Any,
    path: str,
    problems: list[str],
) -> None:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    names = set()
    for field in info.fields:
        names.add(field.encode_name)
        key = f"{path}{field.encode_name}"
        t, _, data = _unwrap(field.type)
        want = _field_default(field) if defaults is None else getattr(defaults, field.name)
        if field.encode_name not in raw:
            if want is not None:  # TOML cannot write "none"; leaving the key out means it
                problems.append(f"{key}: in the schema but not in default.toml")
            continue
        if data:
            continue
        have = getattr(loaded, field.name)
        sub = _struct_of(_optional(t)[0])
        value = raw[field.encode_name]
        if sub is not None and isinstance(value, Mapping):
            _compare(sub, want, value, have, key + ".", problems)
        elif want is _NODEFAULT:
            continue
        elif have != want:
            problems.append(f"{key}: default.toml has {toml_value(have)}, the schema {toml_value(want)}")
    for extra in sorted(set(raw) - names):
        problems.append(f"{path}{extra}: in default.toml but not in the schema")


# --- CLI ----------------------------------------------------------------------------------


def reference_main(output: str | None, check: bool, out: TextIO) -> int:
    """``commandcenter config reference [--output FILE] [--check]``."""
    text = render_reference()
    if check:
        target = Path(output or REFERENCE_PATH)
        try:
            current = target.read_text(encoding="utf-8")
        except OSError as exc:
            out.write(f"ERROR: {target}: {exc.strerror or exc}\n")
            return 1
        if current != text:
            out.write(
                f"ERROR: {target} is not what the schema produces; regenerate it with "
                f"`commandcenter config reference --output {target}`\n"
            )
            return 1
        out.write(f"OK: {target} matches the schema\n")
        return 0
    if output:
        Path(output).write_text(text, encoding="utf-8")
        out.write(f"wrote {output}\n")
    else:
        out.write(text)
    return 0


def defaults_main(check: bool, out: TextIO) -> int:
    """``commandcenter config defaults [--check]``: the schema's defaults, one
    ``dotted.key = value`` a line (keys of arrays of tables: their entries' own
    defaults), or with ``--check`` where config/default.toml disagrees with them."""
    if check:
        problems = check_defaults()
        for problem in problems:
            out.write(f"ERROR: {problem}\n")
        if not problems:
            out.write("OK: config/default.toml agrees with the schema\n")
        return 1 if problems else 0
    for table in schema_tables():
        for key in table.keys:
            if key.default.startswith("`"):
                out.write(f"{_dotted(table, key.name)} = {key.default.strip('`')}\n")
    return 0
