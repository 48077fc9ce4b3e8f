"""Wire protocol v1 between the dispatch server and the wall.

Every websocket text frame is one JSON object with a ``type`` tag. Frames are
decoded with msgspec into the tagged unions below: unknown types, wrong types,
out-of-range values and broken domain rules are refused with a short reason
(:class:`ProtocolError`) and never reach the store.

Server events travel inside an :class:`Event` envelope that carries the
resume contract: ``epoch`` (names one history of the server; a server with a
fresh database starts a new one) and ``seq`` (strictly increasing by one within
an epoch). See docs/protocol.md for the rules and an example of every frame.

Unknown *fields* are ignored, so a server may add optional fields within v1;
a frame with ``v`` other than 1 is refused.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import Meta, Struct

from commandcenter.core.fastdecode import FastDecoder, Unsupported
from commandcenter.core.model import (
    MAX_INT,
    TIME_MAX,
    TIME_MIN,
    Acknowledgement,
    Agency,
    Alert,
    CallFunnel,
    Code,
    Count,
    DetailValue,
    DisasterSituation,
    HazardItem,
    Id,
    Incident,
    LongText,
    ModelError,
    ShortText,
    SourceStatus,
    Timestamp,
    Unit,
    check_time,
)

PROTOCOL_VERSION = 1
#: Frames larger than this are refused before decoding (bytes). Snapshots are
#: split into parts so that no legitimate frame comes near it.
MAX_FRAME_BYTES = 1_048_576

ProtocolVersion = Annotated[int, Meta(ge=PROTOCOL_VERSION, le=PROTOCOL_VERSION)]
#: Revisions of protocol v1 this implementation speaks, oldest first. A client
#: lists the ones it speaks in hello (``protocols``); the welcome names the one
#: the connection uses (``protocol``; missing = "1.0"). 1.1 adds the ``events``
#: frame (several events in one websocket frame).
PROTOCOL_1_0 = "1.0"
PROTOCOL_1_1 = "1.1"
REVISIONS: tuple[str, ...] = (PROTOCOL_1_0, PROTOCOL_1_1)
Revision = Annotated[str, Meta(pattern=r"^[0-9]{1,3}\.[0-9]{1,3}$")]
#: Events in one ``events`` frame at most (a sender also keeps the frame
#: under MAX_FRAME_BYTES).
MAX_BATCH_EVENTS = 1000
#: An epoch names one history of the server. It is a string (not a counter) so
#: that a server restarted on a fresh database can never reuse an old epoch.
Epoch = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
Seq = Annotated[int, Meta(ge=0, le=MAX_INT)]
Token = Annotated[str, Meta(min_length=1, max_length=256)]
Role = Literal["wall", "console", "admin"]


class ProtocolError(ValueError):
    """A frame that cannot be applied: not JSON, too large, wrong schema."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Frame(Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="type"):
    v: ProtocolVersion = PROTOCOL_VERSION


# --- event bodies (what happened) ---------------------------------------------


class _Body(Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind"):
    pass


class IncidentUpserted(_Body, frozen=True, kw_only=True, tag="incident"):
    """The full current state of an incident (new or changed)."""

    incident: Incident


class UnitUpserted(_Body, frozen=True, kw_only=True, tag="unit"):
    """The full current state of a unit: status and position."""

    unit: Unit


class AgencyUpserted(_Body, frozen=True, kw_only=True, tag="agency"):
    agency: Agency


class FunnelUpdated(_Body, frozen=True, kw_only=True, tag="funnel"):
    """Today's call funnel totals (absolute, not increments, so a replay is harmless)."""

    funnel: CallFunnel


class AlertRaised(_Body, frozen=True, kw_only=True, tag="alert"):
    """An alert raised by the dispatch system itself (a unit's emergency button)."""

    alert: Alert


class AlertAcknowledged(_Body, frozen=True, kw_only=True, tag="acknowledged"):
    """An operator took an alert; the server applied this ack_id once."""

    ack: Acknowledgement


class AlertShelved(_Body, frozen=True, kw_only=True, tag="shelved"):
    alert_id: Id
    until: Timestamp
    operator: ShortText
    console: ShortText
    reason: ShortText = ""

    def __post_init__(self) -> None:
        check_time(self.until, "until")


class AlertUnshelved(_Body, frozen=True, kw_only=True, tag="unshelved"):
    alert_id: Id
    operator: ShortText = ""
    console: ShortText = ""


class ConsoleMuted(_Body, frozen=True, kw_only=True, tag="muted"):
    console: ShortText
    until: Timestamp
    operator: ShortText

    def __post_init__(self) -> None:
        check_time(self.until, "until")


class ConsoleUnmuted(_Body, frozen=True, kw_only=True, tag="unmuted"):
    console: ShortText
    operator: ShortText = ""


class SituationUpserted(_Body, frozen=True, kw_only=True, tag="situation"):
    situation: DisasterSituation


class HazardReported(_Body, frozen=True, kw_only=True, tag="hazard"):
    """An external item (added in protocol 1.0 as an optional kind): a BMKG quake or
    warning, a hotspot, a citizen report, another dispatch system's incident. A wall that
    does not know the kind steps over the event (see docs/protocol.md)."""

    item: HazardItem


class SourceStatusChanged(_Body, frozen=True, kw_only=True, tag="source_status"):
    """An external source changed state (live, stale, failing...); optional kind of 1.0."""

    status: SourceStatus


EventBody = Union[
    IncidentUpserted,
    UnitUpserted,
    AgencyUpserted,
    FunnelUpdated,
    AlertRaised,
    AlertAcknowledged,
    AlertShelved,
    AlertUnshelved,
    ConsoleMuted,
    ConsoleUnmuted,
    SituationUpserted,
    HazardReported,
    SourceStatusChanged,
]


# --- server to client -----------------------------------------------------------


class Event(_Frame, frozen=True, kw_only=True, tag="event"):
    """One event of the server's history. ``id`` is stable across replays."""

    epoch: Epoch
    seq: Annotated[int, Meta(ge=1, le=MAX_INT)]
    id: Id
    ts: Timestamp
    body: EventBody

    def __post_init__(self) -> None:
        ts = self.ts
        if not (TIME_MIN <= ts < TIME_MAX):  # checked inline: one per event
            check_time(ts, "ts")


class Welcome(_Frame, frozen=True, kw_only=True, tag="welcome"):
    """Answer to a valid hello. ``resume`` says what follows: ``replay`` (events
    after the client's seq) or ``snapshot`` (snapshot parts, then live events).
    ``server_id`` changes at every start of the server (it is not the epoch).
    ``protocol`` is the revision this connection uses (missing: "1.0")."""

    server_id: Id
    epoch: Epoch
    head_seq: Seq
    role: Role
    resume: Literal["replay", "snapshot"]
    heartbeat_interval_s: Annotated[float, Meta(gt=0, le=300)]
    server_time: Timestamp
    protocol: Revision = PROTOCOL_1_0

    def __post_init__(self) -> None:
        check_time(self.server_time, "server_time")


class Events(_Frame, frozen=True, kw_only=True, tag="events"):
    """Protocol 1.1 only: several events in one frame, in seq order, each
    exactly as it would travel alone (an ``event`` frame). Sent only to a
    client whose hello listed "1.1"; the receiver treats every element as if
    it had arrived on its own frame."""

    events: Annotated[list[Event], Meta(min_length=1, max_length=MAX_BATCH_EVENTS)]


class Snapshot(_Frame, frozen=True, kw_only=True, tag="snapshot"):
    """The whole state as of ``seq``, split into ``parts`` frames numbered from 0.
    The client applies it only when every part has arrived."""

    epoch: Epoch
    seq: Seq
    part: Annotated[int, Meta(ge=0)]
    parts: Annotated[int, Meta(ge=1, le=100_000)]
    incidents: list[Incident] = []
    units: list[Unit] = []
    agencies: list[Agency] = []
    situations: list[DisasterSituation] = []
    alerts: list[Alert] = []
    acks: list[Acknowledgement] = []
    #: Alerts shelved and consoles muted at ``seq`` (part 0 carries them), so a
    #: wall that resyncs keeps showing them and unshelves them on time.
    shelved: list[AlertShelved] = []
    muted: list[ConsoleMuted] = []
    funnel: CallFunnel | None = None
    #: External items and source states (optional kinds of 1.0; a wall that does not know
    #: them ignores these fields).
    hazards: list[HazardItem] = []
    sources: list[SourceStatus] = []

    def __post_init__(self) -> None:
        if self.part >= self.parts:
            raise ModelError("part must be lower than parts")


class Heartbeat(_Frame, frozen=True, kw_only=True, tag="heartbeat"):
    """Sent at a fixed interval; silence past the timeout means the feed is stale."""

    epoch: Epoch
    head_seq: Seq
    server_time: Timestamp

    def __post_init__(self) -> None:
        check_time(self.server_time, "server_time")


class CommandResult(_Frame, frozen=True, kw_only=True, tag="command_result"):
    """Answer to one client command. ``duplicate`` means the same command (same
    id, same content) was applied before: the client treats it like ``applied``
    and drops it from its outbox. ``rejected`` (with ``reason``) is final; a
    command id reused for a different command is rejected with a reason that
    starts ``conflict:``."""

    command_id: Id
    status: Literal["applied", "duplicate", "rejected"]
    reason: ShortText = ""
    seq: Seq | None = None


class Error(_Frame, frozen=True, kw_only=True, tag="error"):
    """A problem the server reports. ``fatal``: the server closes the
    connection right after it. ``command_id``: the command frame it answers,
    when that frame was refused but its command_id could be read (the console
    drops it from its outbox, as for a rejected command)."""

    code: Code
    reason: ShortText
    fatal: bool = False
    command_id: Id | None = None


# --- client to server -----------------------------------------------------------


class Hello(_Frame, frozen=True, kw_only=True, tag="hello"):
    """First frame of every connection. ``last_epoch``/``last_seq`` are the last
    event the client has journaled (empty epoch and 0 for a new client).
    ``console``: the console this client speaks for (what a console-role client
    may mute; empty: its client_id). ``software``: name and version, for the
    server's log. ``protocols``: the revisions of v1 it speaks (empty: "1.0")."""

    token: Token
    client_id: Id
    last_epoch: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:\-]{0,64}$")] = ""
    last_seq: Seq = 0
    console: ShortText = ""
    software: ShortText = ""
    protocols: Annotated[list[Revision], Meta(max_length=16)] = []


class _Command(_Frame, frozen=True, kw_only=True):
    command_id: Id
    operator: ShortText
    console: ShortText
    at: Timestamp

    def __post_init__(self) -> None:
        check_time(self.at, "at")


class Acknowledge(_Command, frozen=True, kw_only=True, tag="ack"):
    alert_id: Id
    incident_id: Id | None = None


class Shelve(_Command, frozen=True, kw_only=True, tag="shelve"):
    alert_id: Id
    until: Timestamp
    reason: ShortText = ""

    def __post_init__(self) -> None:
        _Command.__post_init__(self)
        check_time(self.until, "until")


class Unshelve(_Command, frozen=True, kw_only=True, tag="unshelve"):
    alert_id: Id


class Mute(_Command, frozen=True, kw_only=True, tag="mute"):
    until: Timestamp

    def __post_init__(self) -> None:
        _Command.__post_init__(self)
        check_time(self.until, "until")


class Unmute(_Command, frozen=True, kw_only=True, tag="unmute"):
    pass


class Inject(_Frame, frozen=True, kw_only=True, tag="inject"):
    """Admin only: append events (drills, tests). The server assigns epoch/seq."""

    command_id: Id
    bodies: Annotated[list[EventBody], Meta(min_length=1, max_length=1000)]


class Ping(_Frame, frozen=True, kw_only=True, tag="ping"):
    nonce: Annotated[str, Meta(max_length=64)] = ""


class Pong(_Frame, frozen=True, kw_only=True, tag="pong"):
    nonce: Annotated[str, Meta(max_length=64)] = ""
    server_time: Timestamp

    def __post_init__(self) -> None:
        check_time(self.server_time, "server_time")


ServerFrame = Union[Event, Events, Welcome, Snapshot, Heartbeat, CommandResult, Error, Pong]
ClientFrame = Union[Hello, Acknowledge, Shelve, Unshelve, Mute, Unmute, Inject, Ping]
Command = Union[Acknowledge, Shelve, Unshelve, Mute, Unmute]
AnyFrame = Union[ServerFrame, ClientFrame]


def _model_pattern(annotated: Any) -> str:
    """The regex of an ``Annotated[str, Meta(pattern=...)]`` type, as msgspec prints it."""
    meta = annotated.__metadata__[0]
    return repr(meta.pattern)[1:-1]


_server_decoder = msgspec.json.Decoder(ServerFrame)
_client_decoder = msgspec.json.Decoder(ClientFrame)
_event_decoder = msgspec.json.Decoder(Event)
_encoder = msgspec.json.Encoder()
#: The text patterns (no control or bidi control characters) one scan of a frame
#: stands for on the fast path; tests/test_protocol_fast.py holds them to that.
TEXT_PATTERNS = {t.__metadata__[0].pattern for t in (ShortText, LongText, DetailValue)}  # type: ignore[attr-defined]


def _fast(type_: Any) -> FastDecoder | None:
    """A decoder that accepts exactly what the strict one accepts, quicker, or leaves
    the frame to it (see commandcenter.core.fastdecode); None for a model it cannot
    mirror (then every frame takes the strict decoder, as before)."""
    try:
        return FastDecoder(type_, TEXT_PATTERNS)
    except Unsupported:
        return None


#: Server frames only: the wall's hot path (client frames are few).
_server_fast = _fast(ServerFrame)
_event_fast = _fast(Event)


#: Regexes of the text types, as a reader should see them in an error.
_PATTERN_WORDS = {
    "`str` matching regex '" + pattern + "'": words
    for pattern, words in (
        (_model_pattern(ShortText), "text without control or bidi control characters"),
        (_model_pattern(LongText), "text without control or bidi control characters"),
        (_model_pattern(Id), "an id of 1..64 letters, digits or _ . : -"),
    )
}


def _readable(message: str) -> str:
    for pattern, words in _PATTERN_WORDS.items():
        if pattern in message:
            return message.replace(pattern, words)
    return message


def _decode(
    decoder: msgspec.json.Decoder[Any], data: bytes | str, max_bytes: int, fast: FastDecoder | None = None
) -> Any:
    raw = data.encode() if isinstance(data, str) else data
    size = len(raw)
    if size > max_bytes:
        raise ProtocolError(f"frame of {size} bytes exceeds the limit of {max_bytes}")
    if fast is not None and type(raw) is bytes:
        result = fast.decode(raw)
        if result is not None:
            return result
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ProtocolError(f"invalid frame: {_readable(str(exc))}") from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    except (ValueError, TypeError) as exc:  # domain rules in __post_init__
        raise ProtocolError(f"invalid frame: {exc}") from None


def decode_server_frame(data: bytes | str, max_bytes: int = MAX_FRAME_BYTES) -> ServerFrame:
    """Decode a frame sent by the server; raise :class:`ProtocolError` if bad."""
    result: ServerFrame = _decode(_server_decoder, data, max_bytes, _server_fast)
    return result


def decode_client_frame(data: bytes | str, max_bytes: int = MAX_FRAME_BYTES) -> ClientFrame:
    """Decode a frame sent by a client; raise :class:`ProtocolError` if bad."""
    result: ClientFrame = _decode(_client_decoder, data, max_bytes)
    return result


def decode_event(data: bytes | str, max_bytes: int = MAX_FRAME_BYTES) -> Event:
    """Decode one event frame (journal rows are stored in this form)."""
    result: Event = _decode(_event_decoder, data, max_bytes, _event_fast)
    return result


class _Position(Struct, frozen=True):
    """Only the envelope of an event frame, read leniently (see peek_position)."""

    type: str = ""
    epoch: str = ""
    seq: int = 0


_position_decoder = msgspec.json.Decoder(_Position)


def peek_position(data: bytes | str) -> tuple[str, int] | None:
    """The ``(epoch, seq)`` of an event frame whose body was refused, or None.

    A frame from another server may carry a value the wall cannot hold (a
    year-9999 time). Refusing it must not turn into a gap that makes the feed
    reconnect, get the same event replayed and refuse it again forever: with
    its position the feed can record the event as refused and go on."""
    try:
        pos = _position_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if pos.type != "event" or not pos.epoch or not 1 <= pos.seq <= MAX_INT:
        return None
    return pos.epoch, pos.seq


class _Batch(Struct, frozen=True):
    """An ``events`` frame with its elements left as raw JSON (see split_events)."""

    type: str = ""
    events: list[msgspec.Raw] = []


_batch_decoder = msgspec.json.Decoder(_Batch)


def split_events(data: bytes | str) -> list[bytes] | None:
    """The elements of an ``events`` frame, each the raw bytes of one event
    frame, or None when ``data`` is not an events frame.

    A receiver decodes (and journals) each element on its own, so one refused
    event is stepped over like a lone refused frame instead of losing the
    whole batch."""
    raw = data.encode() if isinstance(data, str) else data
    if b'"events"' not in raw:  # cheap: no other frame has this key
        return None
    try:
        batch = _batch_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if batch.type != "events" or not 1 <= len(batch.events) <= MAX_BATCH_EVENTS:
        return None
    return [bytes(item) for item in batch.events]


class _CommandPeek(Struct, frozen=True):
    command_id: Any = None


_command_peek_decoder = msgspec.json.Decoder(_CommandPeek)
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-")


def peek_command_id(data: bytes | str) -> str | None:
    """The ``command_id`` of a client frame that was refused, when it reads as
    a valid id, so the error can name it and the console stop resending it."""
    try:
        cid = _command_peek_decoder.decode(data).command_id
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if isinstance(cid, str) and 1 <= len(cid) <= 64 and set(cid) <= _ID_CHARS:
        return cid
    return None


def encode(frame: AnyFrame | Struct) -> bytes:
    """Encode any frame or model value to compact JSON bytes."""
    return _encoder.encode(frame)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of every frame, generated from these classes."""
    schema: dict[str, Any] = msgspec.json.schema(AnyFrame)
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:oki-siaga-112:protocol:v{PROTOCOL_VERSION}",
        "title": f"OKI Siaga 112 wall protocol v{PROTOCOL_VERSION}",
        "description": (
            "Every websocket text frame is one of these objects, told apart by 'type'. "
            "Server events are 'event' frames whose 'body' is told apart by 'kind'."
        ),
    }
    out.update(schema)
    return out


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False, sort_keys=False)


__all__ = [
    "MAX_BATCH_EVENTS",
    "MAX_FRAME_BYTES",
    "PROTOCOL_1_0",
    "PROTOCOL_1_1",
    "PROTOCOL_VERSION",
    "REVISIONS",
    "Acknowledge",
    "AgencyUpserted",
    "AlertAcknowledged",
    "AlertRaised",
    "AlertShelved",
    "AlertUnshelved",
    "AnyFrame",
    "ClientFrame",
    "Code",
    "Command",
    "CommandResult",
    "ConsoleMuted",
    "ConsoleUnmuted",
    "Count",
    "Error",
    "Event",
    "EventBody",
    "Events",
    "FunnelUpdated",
    "HazardReported",
    "Heartbeat",
    "Hello",
    "IncidentUpserted",
    "Inject",
    "Mute",
    "Ping",
    "Pong",
    "ProtocolError",
    "ServerFrame",
    "Shelve",
    "SituationUpserted",
    "Snapshot",
    "SourceStatusChanged",
    "UnitUpserted",
    "Unmute",
    "Unshelve",
    "Welcome",
    "decode_client_frame",
    "decode_event",
    "decode_server_frame",
    "encode",
    "json_schema",
    "peek_command_id",
    "peek_position",
    "split_events",
]
