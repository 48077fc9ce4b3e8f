"""A quicker decoder that accepts exactly what a strict msgspec decoder accepts.

msgspec checks each ``Meta(pattern=...)`` with one regex call per string it
decodes: about 9 of the 14 µs an incident event took to decode. The strict
decoder stays the authority; :class:`FastDecoder` only saves it work on the
frames it can clear cheaply:

- It decodes into *mirror* classes: copies of the model's structs (same fields
  in the same order, defaults, tags, config and ``__post_init__``) without two
  kinds of pattern.
- Text patterns (no control or bidi control characters) are dropped: msgspec
  refuses raw control bytes and invalid UTF-8 by itself, so a frame without a
  backslash escape, a DEL byte and the UTF-8 of a C1 or bidi control cannot
  hold such a character in any string. One scan of the bytes stands for every
  text field.
- Alphabet patterns (``^[...]{m,n}$``: ids, codes, tickets, epochs) become
  ``min_length``/``max_length``; their characters are checked by one regex
  over all such strings of the frame, joined per alphabet. Any other pattern
  (district codes, masked phones) is searched by the walk, as msgspec would,
  without msgspec's overhead per call (0.7 µs against 0.35 here).
- The same walk turns the mirror instances into instances of the real classes
  (same layout, so ``__class__`` can be set): the caller gets exactly what the
  strict decoder returns.

Whenever the fast path has a doubt (the scan finds an escape, the mirror
decoder refuses, a character is outside its alphabet) it returns None and the
caller runs the strict decoder on the same bytes, so every refusal keeps its
error text and field path. tests/test_protocol_fast.py holds both to the same
verdicts.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

import msgspec

#: A pattern that only limits the characters and the length of a string.
_ALPHABET_PATTERN = re.compile(r"^\^\[((?:[^\]\\]|\\.)+)\]\{([0-9]+),([0-9]+)\}\$$")
#: What a text pattern may forbid for the scan to stand for it: C0 and C1 controls,
#: DEL, bidi embeddings, overrides and isolates.
FORBIDDEN_BY_SCAN = "[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
#: The byte after 0xC2 of U+0080..U+009F.
_C1_TAILS = frozenset(bytes((low,)) for low in range(0x80, 0xA0))
#: The two bytes after 0xE2 of U+202A..U+202E and U+2066..U+2069.
_BIDI_TAILS = frozenset(bytes((0x80, low)) for low in range(0xAA, 0xAF)) | frozenset(
    bytes((0x81, low)) for low in range(0xA6, 0xAA)
)

# Kinds of step of a walk: a kind + 1 is its optional form, + 2 its list form.
_ALPHA, _ALPHA_OPTIONAL, _ALPHA_LIST, _MATCH, _MATCH_OPTIONAL, _MATCH_LIST, _STRUCT, _STRUCT_LIST = range(8)
_set_class = object.__dict__["__class__"].__set__


class Unsupported(TypeError):
    """A type the mirror cannot copy faithfully."""


def plain_text_frame(data: bytes) -> bool:
    """True when no string in this JSON frame can hold a control or bidi control character.

    Any backslash counts (an escape may stand for any character); bytes' find
    is used rather than a regex, which steps through every byte far slower."""
    if data.find(b"\\") >= 0 or data.find(b"\x7f") >= 0:
        return False
    if data.isascii():
        return True
    i = data.find(b"\xc2")  # C1 controls: C2 80..C2 9F
    while i >= 0:
        if data[i + 1 : i + 2] in _C1_TAILS:
            return False
        i = data.find(b"\xc2", i + 1)
    i = data.find(b"\xe2")  # bidi controls: E2 80 AA..AE, E2 81 A6..A9
    while i >= 0:
        if data[i + 1 : i + 3] in _BIDI_TAILS:
            return False
        i = data.find(b"\xe2", i + 1)
    return True


def _has_pattern(tp: Any) -> bool:
    """A pattern in this type outside any struct."""
    if isinstance(tp, msgspec.Meta):
        return tp.pattern is not None
    return any(_has_pattern(arg) for arg in get_args(tp))


class _Doubt(Exception):
    """A value the walk cannot clear: the strict decoder decides."""


def _skip(obj: Any, *found: list[str]) -> None:
    """The walk of a real instance: a field's default, never decoded."""


class FastDecoder:
    """Decode ``type_`` as ``msgspec.json.Decoder(type_)`` would, or return None when
    only that strict decoder can tell (see the module's docstring)."""

    def __init__(self, type_: Any, text_patterns: set[str]) -> None:
        self._text = text_patterns
        self._alphabets: dict[str, int] = {}
        self._mirrors: dict[type, type] = {}
        self._steps: dict[type, tuple[type, tuple[tuple[int, str, Any], ...]]] = {}
        self._decoder = msgspec.json.Decoder(self._field("", type_)[0])
        # One regex for every alphabet: their strings joined, the alphabets apart by a NUL
        # (in none of them), so the split is unambiguous.
        for chars in self._alphabets:
            if re.fullmatch(f"[{chars}]", "\x00"):
                raise Unsupported(f"alphabet [{chars}] holds NUL")
        self._check = re.compile("\x00".join(f"[{chars}]*" for chars in self._alphabets)).fullmatch
        self._lists = len(self._alphabets)
        #: class -> its walk (real classes, met as defaults: nothing to do)
        self._walkers: dict[type, Callable[..., None]] = dict.fromkeys(self._mirrors, _skip)
        self._walkers.update(self._walks())

    def decode(self, data: bytes) -> Any:
        if not plain_text_frame(data):
            return None
        try:
            obj = self._decoder.decode(data)
            found: list[list[str]] = [[] for _ in range(self._lists)]
            self._walkers[type(obj)](obj, *found)
        except Exception:  # a refusal, or any surprise: the strict decoder decides
            return None
        if self._check("\x00".join(["".join(strings) for strings in found])) is None:
            return None
        return obj

    # --- building the mirror and its walks ---------------------------------------------

    def _walks(self) -> dict[type, Callable[..., None]]:
        """For each mirror, a function that makes an instance one of the real class and
        gathers its alphabet-checked strings, then walks its nested mirrors. Generated
        (names of our own structs' fields only): a loop over steps cost as much as the
        patterns it replaces."""
        lists = ", ".join(f"l{i}" for i in range(self._lists))
        number = {mirror: n for n, mirror in enumerate(self._steps)}
        namespace: dict[str, Any] = {"setcls": _set_class, "W": self._walkers, "Doubt": _Doubt}
        lines = []
        searches: dict[Any, str] = {}
        for mirror, (real, steps) in self._steps.items():
            n = number[mirror]
            namespace[f"R{n}"] = real
            namespace[f"M{n}"] = mirror
            lines.append(f"def walk{n}(o, {lists}):")
            # A frozen mirror refuses setattr; the descriptor's own setter does not ask it.
            frozen = mirror.__struct_config__.frozen  # type: ignore[attr-defined]
            lines.append(f"    setcls(o, R{n})" if frozen else f"    o.__class__ = R{n}")
            for kind, name, arg in steps:
                if kind == _ALPHA:
                    lines.append(f"    l{arg}.append(o.{name})")
                elif kind == _ALPHA_OPTIONAL:
                    lines += [f"    v = o.{name}", "    if v is not None:", f"        l{arg}.append(v)"]
                elif kind == _ALPHA_LIST:
                    lines.append(f"    l{arg} += o.{name}")
                elif kind in (_MATCH, _MATCH_OPTIONAL, _MATCH_LIST):
                    search, empty_ok = arg
                    fn = searches.setdefault(search, f"S{len(searches)}")
                    namespace[fn] = search
                    test = f"v and {fn}(v) is None" if empty_ok else f"{fn}(v) is None"
                    if kind == _MATCH_OPTIONAL:
                        test = f"v is not None and {test}"
                    head = f"    for v in o.{name}:" if kind == _MATCH_LIST else f"    v = o.{name}"
                    pad = "    " if kind == _MATCH_LIST else ""
                    lines += [head, f"    {pad}if {test}:", f"        {pad}raise Doubt"]
                else:
                    if arg is None:  # a union: the walk of whatever was decoded
                        call = f"W[type(v)](v, {lists})"
                    else:  # one struct: its walk when it is a mirror (not a default, not None)
                        call = f"if type(v) is M{number[arg]}: walk{number[arg]}(v, {lists})"
                    if kind == _STRUCT:
                        lines += [
                            f"    v = o.{name}",
                            f"    {call}" if arg is not None else "    if v is not None:",
                        ]
                        if arg is None:
                            lines.append(f"        {call}")
                    else:
                        lines += [f"    for v in o.{name}:", f"        {call}"]
        exec("\n".join(lines), namespace)
        return {mirror: namespace[f"walk{number[mirror]}"] for mirror in self._steps}

    def _type(self, tp: Any) -> Any:
        """``tp`` for the mirror where no walk reaches it: text patterns dropped (the scan
        stands for them anywhere), every other pattern kept, no mirror inside."""
        origin = get_origin(tp)
        if origin is Annotated:
            base, *metas = get_args(tp)
            out = [self._meta(m, text_only=True) if isinstance(m, msgspec.Meta) else m for m in metas]
            return Annotated[(self._type(base), *out)]
        if origin in (Union, types.UnionType):
            return Union[tuple(self._type(arg) for arg in get_args(tp))]
        if origin is list:
            return list[self._type(get_args(tp)[0])]  # type: ignore[misc]
        if origin is dict:
            key, value = get_args(tp)
            return dict[self._type(key), self._type(value)]  # type: ignore[misc]
        if origin is tuple:
            return tuple[tuple(self._type(arg) for arg in get_args(tp))]  # type: ignore[misc]
        if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            if self._mirror(tp) is not tp:
                raise Unsupported(f"a struct with patterns where no walk reaches: {tp!r}")
            return tp
        if origin is not None and origin is not Literal:
            raise Unsupported(f"cannot mirror {tp!r}")
        return tp

    def _meta(self, meta: msgspec.Meta, text_only: bool = False) -> msgspec.Meta:
        """``meta`` without its pattern when the fast path checks it otherwise."""
        pattern = meta.pattern
        if pattern is None or (text_only and pattern not in self._text):
            return meta
        keep = {
            name: getattr(meta, name)
            for name in ("min_length", "max_length", "title", "description", "examples", "extra_json_schema")
            if getattr(meta, name) is not None
        }
        match = _ALPHABET_PATTERN.match(pattern)
        if pattern not in self._text and match is not None:
            keep["min_length"] = max(int(match[2]), keep.get("min_length", 0))
            keep["max_length"] = min(int(match[3]), keep.get("max_length", int(match[3])))
        return msgspec.Meta(**keep)

    def _string(self, tp: Any) -> tuple[Any, tuple[int, Any] | None] | None:
        """For ``Annotated[str, ..., Meta(pattern=...)]``: its mirror type and how the walk
        checks it (None: the scan does); None when ``tp`` is no such type."""
        if get_origin(tp) is not Annotated or get_args(tp)[0] is not str:
            return None
        metas = [m for m in get_args(tp)[1:] if isinstance(m, msgspec.Meta) and m.pattern is not None]
        if len(metas) != 1:
            return None
        pattern = metas[0].pattern
        assert pattern is not None
        mirror_type = Annotated[
            (str, *(self._meta(m) if isinstance(m, msgspec.Meta) else m for m in get_args(tp)[1:]))
        ]
        if pattern in self._text:
            return mirror_type, None
        match = _ALPHABET_PATTERN.match(pattern)
        if match is not None:
            return mirror_type, (_ALPHA, self._alphabets.setdefault(match[1], len(self._alphabets)))
        # Any other pattern: searched by the walk as msgspec would (re.search), skipped
        # for "" when the pattern accepts it (an absent field's default costs nothing).
        search = re.compile(pattern).search
        return mirror_type, (_MATCH, (search, search("") is not None))

    def _field(self, name: str, tp: Any) -> tuple[Any, tuple[int, str, Any] | None]:
        """A field's type in the mirror and how the walk visits it (None: no visit)."""
        union = get_origin(tp) in (Union, types.UnionType)
        members = [a for a in get_args(tp) if a is not type(None)] if union else [tp]
        optional = union and len(members) < len(get_args(tp))
        if len(members) == 1:
            core = members[0]
            string = self._string(core)
            if string is not None:
                mirror_type, check = string
                mirror_type = Union[mirror_type, None] if optional else mirror_type
                if check is None:
                    return mirror_type, None
                return mirror_type, (check[0] + optional, name, check[1])
            outer = get_args(core)[1:] if get_origin(core) is Annotated else ()
            inner = get_args(core)[0] if outer else core
            if get_origin(inner) is list and not optional:
                (item,) = get_args(inner)
                string = self._string(item)
                if string is not None:
                    item_type, check = string
                    list_type = Annotated[(list[item_type], *outer)] if outer else list[item_type]  # type: ignore[valid-type]
                    return list_type, None if check is None else (check[0] + 2, name, check[1])
                items = get_args(item) if get_origin(item) in (Union, types.UnionType) else (item,)
                if all(isinstance(m, type) and issubclass(m, msgspec.Struct) for m in items):
                    mirrors = tuple(self._mirror(m) for m in items)
                    if mirrors == items:
                        return tp, None
                    item_type = Union[mirrors]
                    list_type = Annotated[(list[item_type], *outer)] if outer else list[item_type]  # type: ignore[valid-type]
                    return list_type, (_STRUCT_LIST, name, mirrors[0] if len(mirrors) == 1 else None)
        if all(isinstance(m, type) and issubclass(m, msgspec.Struct) for m in members):
            mirrors = tuple(self._mirror(m) for m in members)
            if mirrors == tuple(members):
                return tp, None
            mirror_type = Union[(*mirrors, None)] if optional else Union[mirrors]
            return mirror_type, (_STRUCT, name, mirrors[0] if len(mirrors) == 1 else None)
        return self._type(tp), None

    def _mirror(self, real: type) -> type:
        if real in self._mirrors:
            mirror = self._mirrors[real]
            if mirror is None:
                raise Unsupported(f"{real.__name__} refers to itself")
            return mirror
        self._mirrors[real] = None  # type: ignore[assignment]  # being built
        base = real.__base__
        assert base is not None
        config = real.__struct_config__  # type: ignore[attr-defined]
        if real.__struct_encode_fields__ != real.__struct_fields__ or config.array_like:  # type: ignore[attr-defined]
            raise Unsupported(f"{real.__name__}: renamed fields or array_like")
        for option in ("weakref", "dict", "cache_hash"):  # they change the layout
            if getattr(config, option, False):
                raise Unsupported(f"{real.__name__}: {option}=True")
        inherited = set(getattr(base, "__struct_fields__", ()))
        own = [f for f in msgspec.structs.fields(real) if f.name not in inherited]
        hints = get_type_hints(real, include_extras=True)
        namespace: dict[str, Any] = {"__module__": __name__, "__qualname__": f"mirror.{real.__qualname__}"}
        annotations: dict[str, Any] = {}
        steps = []
        for field in own:
            annotations[field.name], step = self._field(field.name, hints[field.name])
            if step is not None:
                steps.append(step)
        if not steps and not any(_has_pattern(hints[f.name]) for f in own):
            self._mirrors[real] = real  # nothing to save: decoded as it is
            return real
        for field in own:
            if field.default is not msgspec.NODEFAULT:
                namespace[field.name] = field.default
            elif field.default_factory is not msgspec.NODEFAULT:
                namespace[field.name] = msgspec.field(default_factory=field.default_factory)
        namespace["__annotations__"] = annotations
        if "__post_init__" in vars(real):
            namespace["__post_init__"] = vars(real)["__post_init__"]
        options = {
            name: getattr(config, name)
            for name in (
                "frozen",
                "eq",
                "order",
                "omit_defaults",
                "forbid_unknown_fields",
                "gc",
                "repr_omit_defaults",
            )
        }
        options["kw_only"] = True
        # Not frozen where msgspec allows (a base that is not frozen): setting
        # __class__ then costs a plain assignment.
        options["frozen"] = base is not msgspec.Struct and base.__struct_config__.frozen  # type: ignore[attr-defined]
        if config.tag is not None:
            options["tag"] = config.tag
            options["tag_field"] = config.tag_field
        mirror = types.new_class(real.__name__, (base,), options, lambda ns: ns.update(namespace))
        if mirror.__struct_fields__ != real.__struct_fields__:  # type: ignore[attr-defined]
            raise Unsupported(f"{real.__name__}: fields differ in the mirror")
        self._mirrors[real] = mirror
        self._steps[mirror] = (real, tuple(steps))
        return mirror
