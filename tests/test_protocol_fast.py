"""The fast decoder (commandcenter.core.fastdecode) next to the strict one.

decode_server_frame and decode_event first try a decoder without the regex
patterns, checking them another way, and fall back to the strict msgspec
decoder whenever in doubt. These tests hold the pair to the strict decoder
alone: the same frames accepted (equal values of the same classes), the same
refused with the same error text and field path, and the fast path taken by
the ordinary frames (otherwise it only costs time).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commandcenter.core import fastdecode
from commandcenter.core import protocol as p
from commandcenter.core.store import Store
from commandcenter.refserver.simulator import Simulator

START = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)


def _simulated_frames() -> list[bytes]:
    """Events of every kind the simulator makes (up to 40 of each), a few parts of the
    snapshot of their store and an events frame."""
    sim = Simulator(scenario="mixed", rate_per_min=20.0, seed=5, start=START)
    events: list[p.Event] = []
    t = START
    for _ in range(4):
        t += dt.timedelta(minutes=30)
        for ts, body in sim.advance_to(t):
            events.append(
                p.Event(epoch="ep-1", seq=len(events) + 1, id=f"e{len(events) + 1}", ts=ts, body=body)
            )
    store = Store(clock=lambda: t)
    store.apply_many(events)
    kept: list[p.Event] = []
    for kind in sorted({type(e.body) for e in events}, key=lambda k: k.__name__):
        kept += [e for e in events if type(e.body) is kind][-40:]
    frames = [p.encode(e) for e in kept]
    frames += [p.encode(part) for part in store.to_snapshot_parts()[:2]]
    frames.append(p.encode(p.Events(events=kept[:3])))
    return frames


FRAMES = _simulated_frames()
OTHER_FRAMES = [
    json.dumps(frame).encode()
    for frame in (
        {
            "type": "welcome",
            "server_id": "srv-1",
            "epoch": "ep-1",
            "head_seq": 7,
            "role": "wall",
            "resume": "replay",
            "heartbeat_interval_s": 5.0,
            "server_time": "2026-11-27T03:00:00Z",
            "protocol": "1.1",
        },
        {"type": "heartbeat", "epoch": "ep-1", "head_seq": 7, "server_time": "2026-11-27T03:00:00+07:00"},
        {
            "type": "command_result",
            "command_id": "c-1",
            "status": "rejected",
            "reason": "conflict: other",
            "seq": 3,
        },
        {"type": "error", "code": "bad_frame", "reason": "nope", "fatal": True, "command_id": "c-2"},
        {"type": "pong", "nonce": "n1", "server_time": "2026-11-27T03:00:00Z"},
        {
            "type": "event",
            "epoch": "ep-1",
            "seq": 9,
            "id": "e9",
            "ts": "2026-11-27T03:00:00Z",
            "body": {
                "kind": "hazard",
                "item": {
                    "source": "bmkg-cap",
                    "kind": "warning",
                    "id": "cap:1@x,y",
                    "time": "2026-11-27T03:00:00Z",
                    "text": "Hujan lebat",
                    "references": ["cap:0"],
                    "kecamatan": ["Kayuagung"],
                    "detail": {"wilayah": "OKI", "depth_km": 10.0},
                },
            },
        },
        {
            "type": "event",
            "epoch": "ep-1",
            "seq": 10,
            "id": "e10",
            "ts": "2026-11-27T03:00:00Z",
            "body": {
                "kind": "shelved",
                "alert_id": "al-1",
                "until": "2026-11-27T04:00:00Z",
                "operator": "Sari",
                "console": "meja-1",
                "reason": "sedang ditangani",
            },
        },
    )
]


def _strict(data: bytes, event: bool = False) -> tuple[str, Any]:
    """What the strict decoder alone makes of a frame, as decode_* would report it."""
    decoder = p._event_decoder if event else p._server_decoder
    try:
        return "ok", p._decode(decoder, data, p.MAX_FRAME_BYTES)
    except p.ProtocolError as exc:
        return "refused", exc.reason


def _same_classes(a: Any, b: Any) -> None:
    """Equal values are not enough: every nested struct must be of the same class."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, msgspec.Struct):
        for name in a.__struct_fields__:
            _same_classes(getattr(a, name), getattr(b, name))
    elif isinstance(a, list | tuple):
        for x, y in zip(a, b, strict=True):
            _same_classes(x, y)
    elif isinstance(a, dict):
        for key in a:
            _same_classes(a[key], b[key])


def _check(data: bytes) -> None:
    for event, fast, decode in (
        (False, p._server_fast, p.decode_server_frame),
        (True, p._event_fast, p.decode_event),
    ):
        verdict, strict = _strict(data, event)
        assert fast is not None
        quick = fast.decode(data)
        if quick is not None:
            assert verdict == "ok", f"the fast path accepted what the strict decoder refuses: {strict}"
            assert quick == strict
            _same_classes(quick, strict)
            assert p.encode(quick) == p.encode(strict)
        try:
            got: tuple[str, Any] = ("ok", decode(data))
        except p.ProtocolError as exc:
            got = ("refused", exc.reason)
        assert got[0] == verdict, (got, strict)
        assert got[1] == strict  # the same value, or the same error text and path
        if verdict == "ok":
            _same_classes(got[1], strict)


def test_every_simulated_frame_takes_the_fast_path_and_decodes_alike() -> None:
    for data in FRAMES + OTHER_FRAMES:
        assert p._server_fast is not None and p._server_fast.decode(data) is not None, data[:200]
        _check(data)


def test_text_patterns_forbid_only_what_the_scan_looks_for() -> None:
    """The scan stands for a text pattern only if every character it lets through
    passes the pattern (the lengths stay with msgspec)."""
    forbidden = re.compile(fastdecode.FORBIDDEN_BY_SCAN)
    allowed = "".join(
        chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF and not forbidden.match(chr(c))
    )
    assert p.TEXT_PATTERNS
    for pattern in p.TEXT_PATTERNS:
        assert re.search(pattern, allowed), pattern
        assert re.search(pattern, "a\u202eb") is None  # and they are text patterns at all


def test_the_scan_sees_every_way_to_write_a_forbidden_character() -> None:
    for char in [
        "\x00",
        "\x07",
        "\t",
        "\n",
        "\x1f",
        "\x7f",
        "\x80",
        "\x85",
        "\x9f",
        "\u202a",
        "\u202e",
        "\u2066",
        "\u2069",
    ]:
        for ensure_ascii in (True, False):
            data = json.dumps({"s": f"a{char}b"}, ensure_ascii=ensure_ascii).encode()
            assert not fastdecode.plain_text_frame(data), (char, data)
    data = b'{"s":"a\\u202eb"}'
    assert not fastdecode.plain_text_frame(data)
    for fine in [
        "Kayuagung",
        "Tol Terbanggi Besar\u2013Pematang",
        "\u200bx",
        "\u2028",
        "é",
        "🙂",
        "\xa0",
        "\u202f",
    ]:
        assert fastdecode.plain_text_frame(json.dumps({"s": fine}, ensure_ascii=False).encode()), fine
    # msgspec itself refuses raw control bytes in a string, so the scan need not look for them.
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(b'{"s":"a\x01b"}')


# --- hypothesis: hostile values anywhere in real frames -------------------------------------

_CHARS = (
    "aZ09_.:-/ *xX+@,#=<>&'\"\\KM"
    "\x00\x07\t\n\r\x1f\x7f\x80\x85\x9f\xa0é\u0301\u200b\u200f\u2013\u2028\u202a\u202e\u2066\u2069\ufeff🙂"
)
_HOSTILE = [
    "",
    " ",
    "a" * 64,
    "a" * 65,
    "x" * 200,
    "x" * 201,
    "x" * 4001,
    "inc-1\n",
    "\ninc-1",
    "inc 1",
    "__proto__",
    "a\u202eb",
    "\u2066x\u2069",
    "bell\u0007",
    "line\nbreak",
    "tab\tx",
    "del\x7f",
    "c1\x85",
    "KM 338",
    "KM 338+200 A",
    "KM 12345",
    "16.02.03",
    "16.02.03.04.05",
    "16",
    "0812****789",
    "0812345678",
    "+62812****789",
    "xxx",
    "1.1",
    "1.10",
    "BPBD",
    "bpbd",
    "DAMKAR",
    "medis",
    "Medis",
    "OKI-20261127-0001",
    "OKI/2026/1",
    "cap:1@x,y",
    "ep-1",
    "é",
    "ǅ",
]
_VALUES = st.one_of(
    st.sampled_from(_HOSTILE),
    st.text(alphabet=_CHARS, max_size=70),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from(
        [None, True, 0, -1, 1.5, float("1e300"), "2026-11-27T03:00:00Z", "9999-12-31T23:59:59-14:00"]
    ),
)


def _leaves(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every value and of every object key (as ("key", name) at the end)."""
    out: list[tuple[Any, ...]] = [path]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.append((*path, ("key", key)))
            out += _leaves(value, (*path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += _leaves(value, (*path, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, tuple):  # rename a key
        key = str(value) if not isinstance(value, str) else value
        return {(key if k == head[1] else k): v for k, v in doc.items()}
    copy = list(doc) if isinstance(doc, list) else dict(doc)
    copy[head] = _replace(doc[head], rest, value)
    return copy


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frame=st.sampled_from(FRAMES + OTHER_FRAMES),
    data=st.data(),
    ensure_ascii=st.booleans(),
)
def test_fast_path_never_accepts_what_the_strict_decoder_refuses(
    frame: bytes, data: Any, ensure_ascii: bool
) -> None:
    """One to three values (or keys) of a real frame replaced by hostile ones, written
    with or without escapes: both decoders give the same verdict, value or error."""
    doc = json.loads(frame)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        path = data.draw(st.sampled_from(_leaves(doc)))
        doc = _replace(doc, path, data.draw(_VALUES))
    try:
        raw = json.dumps(doc, ensure_ascii=ensure_ascii, allow_nan=False).encode("utf-8", "surrogatepass")
    except ValueError:
        return
    _check(raw)


_FORBIDDEN = [chr(c) for c in range(0x2070) if re.match(fastdecode.FORBIDDEN_BY_SCAN, chr(c))]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=st.sampled_from(FRAMES + OTHER_FRAMES), data=st.data())
def test_one_forbidden_character_in_any_string_is_seen(frame: bytes, data: Any) -> None:
    """A single control, DEL, C1 or bidi control character put into one string of a
    real frame, written raw where JSON allows it (the case the scan must catch by
    its bytes): the same verdict as the strict decoder."""
    doc = json.loads(frame)
    strings = [path for path in _leaves(doc) if isinstance(_get(doc, path), str)]
    path = data.draw(st.sampled_from(strings))
    value = _get(doc, path)
    at = data.draw(st.integers(min_value=0, max_value=len(value)))
    char = data.draw(st.sampled_from(_FORBIDDEN))
    doc = _replace(doc, path, value[:at] + char + value[at:])
    _check(json.dumps(doc, ensure_ascii=False).encode())


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        if isinstance(step, tuple):
            return step[1]  # a key
        doc = doc[step]
    return doc


@pytest.mark.parametrize(
    ("value", "field"),
    [("Deling\u202e", "desa"), ("16.2.3", "kecamatan_code"), ("0812345678", "phone_masked"), ("inc 1", "id")],
)
def test_a_refusal_names_the_field_as_before(value: str, field: str) -> None:
    doc = next(d for d in map(json.loads, FRAMES) if d.get("body", {}).get("kind") == "incident")
    incident = doc["body"]["incident"]
    target = {"desa": incident["location"], "kecamatan_code": incident["location"],
              "phone_masked": incident.setdefault("reporter", {}), "id": incident}[field]  # fmt: skip
    target[field] = value
    data = json.dumps(doc, ensure_ascii=False).encode()
    with pytest.raises(p.ProtocolError, match=re.escape(f".{field}`")) as caught:
        p.decode_server_frame(data)
    assert caught.value.reason == _strict(data)[1]
