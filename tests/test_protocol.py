"""Wire protocol v1: round trips, strict refusal of bad frames, the published schema."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import jsonschema
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from commandcenter.core import protocol as p
from commandcenter.core.model import (
    Acknowledgement,
    Alert,
    CallFunnel,
    DisasterSituation,
    HazardItem,
    Position,
    Reporter,
    SourceStatus,
    Unit,
    mask_phone,
)
from tests.factories import T0, incident_event, make_event, make_incident

#: A BMKG nowcast warning as the hub publishes it (optional kind of protocol 1.0).
SAMPLE_WARNING = HazardItem(
    source="bmkg-cap",
    kind="warning",
    id="CSS20261204003",
    time=T0,
    expires=T0 + dt.timedelta(hours=3),
    text="Hujan Lebat disertai Petir di Sumatera Selatan",
    area=[[(-3.33, 104.84), (-3.33, 104.93), (-3.42, 104.93), (-3.42, 104.84), (-3.33, 104.84)]],
    kecamatan=["Kayu Agung"],
    severity="severe",
    detail={"urgency": "immediate", "event": "Hujan Lebat dan Petir"},
)
SAMPLE_SOURCE = SourceStatus(
    name="bmkg-nowcast", kind="bmkg-rss", state="stale", at=T0, last_ok=T0 - dt.timedelta(minutes=20),
    stale_after_s=600.0, error="HTTP 503 Service Unavailable",
)  # fmt: skip


def all_sample_frames() -> list[Any]:
    """One valid instance of every frame and every event body."""
    inc = make_incident()
    unit = Unit(
        id="u-1",
        callsign="DAMKAR-01",
        agency="DAMKAR",
        kind="fire_truck",
        status="dispatched",
        version=3,
        position=Position(lat=-3.39, lon=104.89, heading=90.0, speed_kmh=45.0, at=T0),
        incident_id=inc.id,
    )
    alert = Alert(id="al-1", kind="unit_emergency", priority="high", raised_at=T0, unit_id="u-1")
    ack = Acknowledgement(ack_id="ack-1", alert_id="al-1", operator="Sari", console="meja-1", at=T0)
    funnel = CallFunnel(
        day=dt.date(2026, 11, 27),
        calls_in=120,
        answered=110,
        abandoned=10,
        prank=30,
        ghost=15,
        valid=50,
        info=10,
    )
    sit = DisasterSituation(
        id="sit-1",
        version=1,
        hazard="banjir",
        name="Banjir Pampangan",
        status="active",
        kecamatan=["Pampangan"],
        declared_at=T0,
    )
    bodies: list[p.EventBody] = [
        p.IncidentUpserted(incident=inc),
        p.UnitUpserted(unit=unit),
        p.AgencyUpserted(agency=p.Agency(code="BPBD", name="Badan Penanggulangan Bencana Daerah")),
        p.FunnelUpdated(funnel=funnel),
        p.AlertRaised(alert=alert),
        p.AlertAcknowledged(ack=ack),
        p.AlertShelved(
            alert_id="al-1", until=T0 + dt.timedelta(minutes=30), operator="Sari", console="meja-1"
        ),
        p.AlertUnshelved(alert_id="al-1"),
        p.ConsoleMuted(console="meja-1", until=T0 + dt.timedelta(minutes=5), operator="Budi"),
        p.ConsoleUnmuted(console="meja-1"),
        p.SituationUpserted(situation=sit),
        p.HazardReported(item=SAMPLE_WARNING),
        p.SourceStatusChanged(status=SAMPLE_SOURCE),
    ]
    frames: list[Any] = [make_event(b, seq=i + 1) for i, b in enumerate(bodies)]
    frames += [
        # Protocol 1.1: several events in one frame.
        p.Events(events=[frames[8], frames[9]]),
        p.Welcome(
            server_id="srv",
            epoch="ep-1",
            head_seq=11,
            role="wall",
            resume="replay",
            heartbeat_interval_s=2.0,
            server_time=T0,
            protocol="1.1",
        ),
        p.Snapshot(
            epoch="ep-1",
            seq=11,
            part=0,
            parts=1,
            incidents=[inc],
            units=[unit],
            funnel=funnel,
            situations=[sit],
            alerts=[alert],
            acks=[ack],
            hazards=[SAMPLE_WARNING],
            sources=[SAMPLE_SOURCE],
        ),
        p.Heartbeat(epoch="ep-1", head_seq=11, server_time=T0),
        p.CommandResult(command_id="ack-1", status="applied", seq=12),
        p.Error(code="bad_token", reason="token refused", fatal=True),
        p.Pong(nonce="x", server_time=T0),
        p.Hello(
            token="demo-wall",
            client_id="wall-1",
            last_epoch="ep-1",
            last_seq=10,
            software="oki-siaga-112-wall",
            protocols=["1.0", "1.1"],
        ),
        p.Acknowledge(command_id="ack-1", operator="Sari", console="meja-1", at=T0, alert_id="al-1"),
        p.Shelve(
            command_id="sh-1",
            operator="Sari",
            console="meja-1",
            at=T0,
            alert_id="al-1",
            until=T0 + dt.timedelta(hours=1),
            reason="pemeliharaan",
        ),
        p.Unshelve(command_id="us-1", operator="Sari", console="meja-1", at=T0, alert_id="al-1"),
        p.Mute(
            command_id="mu-1", operator="Sari", console="meja-1", at=T0, until=T0 + dt.timedelta(minutes=5)
        ),
        p.Unmute(command_id="um-1", operator="Sari", console="meja-1", at=T0),
        p.Inject(command_id="inj-1", bodies=[p.IncidentUpserted(incident=inc)]),
        p.Ping(nonce="n"),
    ]
    return frames


SERVER_TYPES = (p.Event, p.Events, p.Welcome, p.Snapshot, p.Heartbeat, p.CommandResult, p.Error, p.Pong)


@pytest.mark.parametrize("frame", all_sample_frames(), ids=lambda f: type(f).__name__)
def test_every_frame_round_trips(frame: Any) -> None:
    data = p.encode(frame)
    decoder = p.decode_server_frame if isinstance(frame, SERVER_TYPES) else p.decode_client_frame
    assert decoder(data) == frame


@pytest.mark.parametrize("frame", all_sample_frames(), ids=lambda f: type(f).__name__)
def test_published_schema_accepts_what_the_code_sends(frame: Any) -> None:
    schema = p.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(p.encode(frame)), schema)


def test_published_schema_refuses_a_wrong_priority() -> None:
    doc = json.loads(p.encode(incident_event(1)))
    doc["body"]["incident"]["priority"] = "urgent"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, p.json_schema())


def _mutated(base: bytes, path: list[str | int], value: Any) -> bytes:
    doc = json.loads(base)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return json.dumps(doc).encode()


_DELETE = object()
BASE = p.encode(incident_event(1))


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        (["v"], 2, "$.v"),
        (["type"], "launch", "type"),
        (["seq"], 0, "$.seq"),
        (["seq"], "1", "$.seq"),
        (["epoch"], "bad epoch!", "$.epoch"),
        (["ts"], "2026-11-27T10:00:00", "$.ts"),  # naive time: refused
        (["body", "kind"], "nuke", "kind"),
        (["body", "incident", "priority"], "urgent", "priority"),
        (["body", "incident", "status"], "done", "status"),
        (["body", "incident", "version"], 0, "version"),
        (["body", "incident", "victims"], -1, "victims"),
        (["body", "incident", "location", "lat"], 95.0, "lat"),
        (["body", "incident", "location", "lon"], None, "lat and lon"),
        (["body", "incident", "location", "km_marker"], "near the bridge", "km_marker"),
        (["body", "incident", "reporter", "phone_masked"], "081234567890", "phone_masked"),
        (["body", "incident", "description"], "x" * 4001, "description"),
        (["body", "incident", "id"], "<script>", "$.body.incident.id"),
        (["body", "incident", "times", "verified"], "2026-11-27T02:00:00Z", "earlier"),
        (["body", "incident", "status"], "closed", "closed"),
        (["body", "incident", "ticket"], _DELETE, "ticket"),
    ],
)
def test_bad_event_is_refused_with_a_reason(path: list[Any], value: Any, needle: str) -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.decode_server_frame(_mutated(BASE, path, value))
    assert needle in info.value.reason


def test_hostile_description_is_kept_as_plain_text() -> None:
    # Escaping is the renderer's job; the protocol must carry the text unchanged.
    text = '<img src=x onerror=alert(1)> "; DROP TABLE events; --'
    frame = p.decode_server_frame(_mutated(BASE, ["body", "incident", "description"], text))
    assert isinstance(frame, p.Event)
    assert isinstance(frame.body, p.IncidentUpserted)
    assert frame.body.incident.description == text


def test_oversize_frame_is_refused_before_decoding() -> None:
    big = _mutated(BASE, ["body", "incident", "description"], "a" * 3000)
    with pytest.raises(p.ProtocolError, match="exceeds the limit"):
        p.decode_server_frame(big, max_bytes=1000)


def test_not_json_is_refused() -> None:
    with pytest.raises(p.ProtocolError, match="not JSON"):
        p.decode_server_frame(b'{"type": "event", ')


def test_client_frames_are_not_server_frames() -> None:
    hello = p.encode(p.Hello(token="t", client_id="c"))
    with pytest.raises(p.ProtocolError):
        p.decode_server_frame(hello)
    with pytest.raises(p.ProtocolError):
        p.decode_client_frame(BASE)


def test_snapshot_part_must_be_below_parts() -> None:
    snap = p.encode(p.Snapshot(epoch="e", seq=1, part=0, parts=1))
    with pytest.raises(p.ProtocolError, match="part"):
        p.decode_server_frame(_mutated(snap, ["part"], 1))


def test_funnel_must_add_up() -> None:
    funnel = CallFunnel(
        day=dt.date(2026, 11, 27), calls_in=10, answered=8, abandoned=2, prank=1, ghost=1, valid=5
    )
    frame = p.encode(make_event(p.FunnelUpdated(funnel=funnel), seq=1))
    with pytest.raises(p.ProtocolError, match="exceeds answered"):
        p.decode_server_frame(_mutated(frame, ["body", "funnel", "valid"], 9))


@pytest.mark.parametrize(
    ("number", "masked"),
    [("081234567890", "0812*****890"), ("+62 812-3456-7890", "+628*******890"), ("12345", "*****")],
)
def test_mask_phone_produces_a_number_the_protocol_accepts(number: str, masked: str) -> None:
    assert mask_phone(number) == masked
    inc = make_incident(reporter=Reporter(phone_masked=mask_phone(number)))
    assert p.decode_event(p.encode(make_event(p.IncidentUpserted(incident=inc), seq=1))).body == (
        p.IncidentUpserted(incident=inc)
    )


# --- hypothesis: nothing but ProtocolError, and nothing invalid gets through -------

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
json_value = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


SAMPLES = [p.encode(f) for f in all_sample_frames()]


def _check_decoders(data: bytes) -> None:
    for decoder in (p.decode_server_frame, p.decode_client_frame, p.decode_event):
        try:
            frame = decoder(data)
        except p.ProtocolError as exc:
            assert exc.reason
            continue
        # Whatever is accepted must survive a strict re-encode/decode unchanged.
        assert decoder(p.encode(frame)) == frame


@given(st.binary(max_size=300))
def test_random_bytes_never_crash_a_decoder(data: bytes) -> None:
    _check_decoders(data)


@given(json_value)
def test_random_json_never_crashes_a_decoder(value: Any) -> None:
    _check_decoders(json.dumps(value).encode())


@given(st.data())
def test_mutated_valid_frames_are_refused_or_still_valid(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(SAMPLES))
    doc = json.loads(base)
    path = data.draw(st.sampled_from(_paths(doc)))
    new = data.draw(json_value)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if data.draw(st.booleans()) and isinstance(node, dict):
        del node[path[-1]]
    else:
        node[path[-1]] = new
    _check_decoders(json.dumps(doc).encode())


@given(st.integers(min_value=0, max_value=len(BASE) - 1))
def test_truncated_frames_are_refused(cut: int) -> None:
    with pytest.raises(p.ProtocolError):
        p.decode_server_frame(BASE[:cut])


def test_schema_command_output_is_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    from commandcenter.cli import main

    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(p.json_schema_text())
    names = set(printed["$defs"])
    for frame in all_sample_frames():
        assert type(frame).__name__ in names


def test_every_body_kind_is_documented() -> None:
    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    for frame in all_sample_frames():
        tag = msgspec.inspect.type_info(type(frame)).tag  # type: ignore[attr-defined]
        assert f'"type": "{tag}"' in doc, f"docs/protocol.md has no example of {tag}"
        if isinstance(frame, p.Event):
            kind = msgspec.inspect.type_info(type(frame.body)).tag  # type: ignore[attr-defined]
            assert f'"kind": "{kind}"' in doc, f"docs/protocol.md has no example of event kind {kind}"
