"""Hostile values (issue 15, part A): the protocol and the server refuse what the
wall cannot hold, naming the field; what is accepted goes through the real
server, a real `follow`, its journal and the store without a single error.

Hypothesis draws frames from values at every boundary (int64 and 2**53, the
calendar's first and last day with extreme offsets, ids that are JavaScript
property names, bidi and zero-width text). The expected verdict is computed
here independently from the rules in docs/protocol.md, so a decoder that lets
one slip (or refuses a good one) fails.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commandcenter.config import load_defaults
from commandcenter.core import protocol as p
from commandcenter.core.i18n import strings_for
from commandcenter.core.model import MAX_INT, TIME_MAX, TIME_MIN, Alert, Location
from commandcenter.core.plausibility import PROBLEMS, Plausibility, incident_problems, problem_text
from commandcenter.core.store import Store
from commandcenter.core.text import FSI, PDI, isolate, local_time, match_key, safe_time, when_text
from commandcenter.core.timeutil import FakeClock
from commandcenter.wall.feed import FeedSettings, FeedState
from commandcenter.wall.session import WallSession
from tests.conftest import ROOT
from tests.factories import make_incident
from tests.serverproc import ADMIN, CONSOLE, WALL, ServerProcess, admin_inject, export, wait_client

NOW = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)

# --- the boundary values -------------------------------------------------------------

INTS = [-(2**63), -1, 0, 1, 2, 2**31 - 1, 2**32, MAX_INT, MAX_INT + 1, 2**63 - 1, 2**63, 2**64, 10**30]
TIMES = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59+14:00",
    "1970-01-01T00:00:00Z",
    "1999-12-31T23:59:59Z",
    "2000-01-01T00:00:00Z",
    "2000-01-01T06:59:59+07:00",  # 1999 in UTC
    "2026-11-27T10:00:00+07:00",
    "2099-12-31T23:59:59Z",
    "2100-01-01T06:59:59+07:00",  # still 2099 in UTC
    "2100-01-01T00:00:00Z",
    "2026-11-27T10:00:00",  # no offset
]
JS_NAMES = [
    "__proto__",
    "constructor",
    "toString",
    "hasOwnProperty",
    "valueOf",
    "__defineGetter__",
    "isPrototypeOf",
    "prototype",
    "length",
]
IDS = [*JS_NAMES, "inc-1", "a" * 64, "a" * 65, "", "inc\u200b1", "inc\u202e1", "in c", "<b>"]
TEXTS = [
    "Deling",
    "Kayu\u200bagung",  # zero-width space: allowed, removed for matching
    "e\u0301",  # decomposed: NFC for matching
    "שלום",
    "<img src=x onerror=alert(1)>",
    "a\u202eb",  # right-to-left override
    "\u2066x\u2069",  # isolates
    "bell\u0007",
    "line\nbreak",
    "x" * 200,
    "x" * 201,
]

_ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_BAD_TEXT_RE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _time_ok(text: str) -> bool:
    value = dt.datetime.fromisoformat(text)
    return value.tzinfo is not None and TIME_MIN <= value < TIME_MAX


def _expected_problems(fields: dict[str, Any]) -> list[str]:
    """The fields a correct decoder must refuse (by the rules of docs/protocol.md)."""
    bad = []
    if not _ID_RE.match(fields["id"]):
        bad.append("id")
    if not 1 <= fields["version"] <= MAX_INT:
        bad.append("version")
    if not 1 <= fields["seq"] <= MAX_INT:
        bad.append("seq")
    if not _time_ok(fields["received"]):
        bad.append("received")
    if not _time_ok(fields["ts"]):
        bad.append("ts")
    if len(fields["desa"]) > 200 or _BAD_TEXT_RE.search(fields["desa"]):
        bad.append("desa")
    return bad


def _incident(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": fields["id"],
        "ticket": "OKI-1",
        "version": fields["version"],
        "category": "kebakaran",
        "priority": "high",
        "status": "received",
        "location": {"lat": -3.3, "lon": 105.4, "kecamatan": "Kayuagung", "desa": fields["desa"]},
        "times": {"received": fields["received"]},
    }


def _event_frame(fields: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "type": "event",
            "epoch": "ep-1",
            "seq": fields["seq"],
            "id": "ev-1",
            "ts": fields["ts"],
            "body": {"kind": "incident", "incident": _incident(fields)},
        }
    ).encode()


frames = st.fixed_dictionaries(
    {
        "id": st.sampled_from(IDS),
        "version": st.sampled_from(INTS),
        "seq": st.sampled_from(INTS),
        "received": st.sampled_from(TIMES),
        "ts": st.sampled_from(TIMES),
        "desa": st.sampled_from(TEXTS),
    }
)


# --- the decoder, the store and the screens' helpers -------------------------------------------


@settings(max_examples=300, deadline=None)
@given(fields=frames)
def test_decoder_refuses_exactly_what_the_wall_cannot_hold(fields: dict[str, Any]) -> None:
    data = _event_frame(fields)
    bad = _expected_problems(fields)
    try:
        event = p.decode_event(data)
    except p.ProtocolError as exc:
        assert bad, f"a valid frame was refused: {exc.reason}"
        assert any(name in exc.reason for name in bad), f"{exc.reason!r} names none of {bad}"
        return
    assert not bad, f"accepted although {bad} are out of bounds"
    # What is accepted round-trips and goes through the store and every helper
    # that turns a time or a name into text, without an exception.
    assert p.decode_event(p.encode(event)) == event
    store = Store(clock=FakeClock(NOW))
    store.apply(event)
    store.kpis()
    store.prune(3600)
    for part in store.to_snapshot_parts():
        assert p.decode_server_frame(p.encode(part)) == part
    inc = event.body.incident  # type: ignore[union-attr]
    assert store.incidents[inc.id] == inc
    when_text(inc.times.received, NOW)
    desa = inc.location.desa
    assert isolate(desa) in (desa, f"{FSI}{desa}{PDI}")
    assert "\u200b" not in match_key(desa)


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"type": "hello", "token": "t", "client_id": "c", "last_seq": 2**64}, "last_seq"),
        ({"type": "hello", "token": "t", "client_id": "c", "console": "meja\u202e1"}, "console"),
        ({"type": "ping", "nonce": "x" * 65}, "nonce"),
        (
            {"type": "mute", "command_id": "c1", "operator": "a", "console": "k",
             "at": "2026-11-27T03:00:00Z", "until": "9999-12-31T23:59:59-05:00"},
            "until",
        ),
        (
            {"type": "shelve", "command_id": "c1", "operator": "a", "console": "k", "alert_id": "al",
             "at": "0001-01-01T00:00:00+05:00", "until": "2026-11-27T04:00:00Z"},
            "at",
        ),
    ],
)  # fmt: skip
def test_client_frames_out_of_bounds_are_refused_naming_the_field(frame: dict[str, Any], field: str) -> None:
    with pytest.raises(p.ProtocolError, match=re.escape(field)):
        p.decode_client_frame(json.dumps(frame))


def test_schema_and_docs_state_the_bounds() -> None:
    schema = p.json_schema_text()
    assert str(MAX_INT) in schema
    assert "2100-01-01T00:00:00Z" in schema and "bidi" in schema
    doc = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    for needle in ("2000-01-01", "2100-01-01", "9007199254740991", "__proto__", "FSI", "conflict:"):
        assert needle in doc, needle


def test_times_outside_the_window_never_overflow_on_screen() -> None:
    far = [
        dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-14))),
        dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14))),
    ]
    for ts in far:
        with pytest.raises(OverflowError):
            ts.astimezone(dt.UTC)  # what the views used to do
        assert TIME_MIN <= safe_time(ts) <= TIME_MAX
        local_time(ts) + dt.timedelta(days=1)
    # A mute until 2099 says its date; one within the next hours only its time.
    assert when_text(dt.datetime(2099, 12, 31, 16, 0, tzinfo=dt.UTC), NOW) == "31-12-2099 23:00"
    assert when_text(NOW + dt.timedelta(minutes=5), NOW) == "10:05"
    assert when_text(far[0], NOW).startswith("01-01-2100")


def test_text_isolated_and_matched() -> None:
    assert isolate("Deling") == "Deling"  # left-to-right text stays as it is
    assert isolate("שלום") == f"{FSI}שלום{PDI}"
    assert isolate("a\u202eb\u0007") == "ab"  # controls from an old journal are dropped
    assert isolate("") == ""
    assert match_key(" Kayu\u200bagung\u00a0 ") == match_key("Kayuagung") == "Kayuagung"
    assert match_key("Pe\u0301") == match_key("P\u00e9")


def test_zero_width_and_normal_forms_do_not_split_a_districts_count() -> None:
    store = Store(clock=FakeClock(NOW))
    names = ["Kayuagung", "Kayu\u200bagung", "Kayuagung\ufeff", " Kayuagung "]
    for i, name in enumerate(names):
        inc = make_incident(id=f"k-{i}", location=Location(lat=-3.39, lon=104.83, kecamatan=name))
        store.apply(
            p.Event(epoch="e", seq=i + 1, id=f"ev-{i}", ts=NOW, body=p.IncidentUpserted(incident=inc))
        )
    assert store.kpis().active_by_kecamatan == {"Kayuagung": 4}


def test_values_the_wall_cannot_place_are_kept_flagged_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = load_defaults()
    b = config.map.bounds
    clock = FakeClock(NOW)
    store = Store(clock=clock)
    store.plausibility = Plausibility.of(
        categories=[c.code for c in config.categories],
        agencies=[a.code for a in config.agencies],
        districts=[d.name for d in config.districts],
        area=(b.south, b.west, b.north, b.east),
    )
    good = make_incident(id="good", times=msgspec.structs.replace(make_incident().times, received=NOW))
    cases = {
        "far": dict(location=Location(lat=52.0, lon=4.9, kecamatan="Kayuagung")),
        "cat": dict(category="meteor"),
        "agency": dict(tasks=[msgspec.structs.replace(good.tasks[0], agency="NASA")]),
        "district": dict(location=Location(lat=-3.39, lon=104.83, kecamatan="Atlantis")),
        "future": dict(times=msgspec.structs.replace(good.times, received=NOW + dt.timedelta(hours=3))),
        "old": dict(
            times=msgspec.structs.replace(good.times, received=dt.datetime(2001, 1, 1, tzinfo=dt.UTC))
        ),
        "task": dict(
            tasks=[msgspec.structs.replace(good.tasks[0], forwarded_at=NOW - dt.timedelta(hours=1))]
        ),
        # Countdowns and service-level colours run on these: an on-scene time in 2099 lies.
        "onscene": dict(
            times=msgspec.structs.replace(good.times, on_scene=dt.datetime(2099, 1, 1, tzinfo=dt.UTC))
        ),
        "taskfuture": dict(
            tasks=[msgspec.structs.replace(good.tasks[0], accepted_at=NOW + dt.timedelta(hours=2))]
        ),
    }
    expected = {
        "far": "outside_area", "cat": "unknown_category", "agency": "unknown_agency",
        "district": "unknown_district", "future": "received_in_future", "old": "received_long_ago",
        "task": "task_before_received", "onscene": "step_in_future", "taskfuture": "step_in_future",
    }  # fmt: skip
    caplog.set_level(logging.DEBUG, logger="commandcenter.core.plausibility")
    seq = 0
    for round_ in range(2):  # the second round: new versions of the same problems
        for key, changes in [("good", {}), *cases.items()]:
            seq += 1
            inc = msgspec.structs.replace(good, id=key, version=round_ + 1, **changes)
            store.apply(
                p.Event(epoch="e", seq=seq, id=f"ev-{seq}", ts=NOW, body=p.IncidentUpserted(incident=inc))
            )
    assert "good" not in store.problems
    for key, problem in expected.items():
        assert key in store.incidents, "an unplaceable incident is kept"
        assert problem in store.problems[key], (key, store.problems.get(key))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert sorted(r.getMessage().split(": ", 1)[1].split(" (")[0] for r in warnings) == sorted(
        {PROBLEMS[code] for code in expected.values()}
    ), "each kind of problem is a warning once"
    # Fixed in a later version: the flag goes.
    seq += 1
    fixed = msgspec.structs.replace(good, id="cat", version=9)
    store.apply(p.Event(epoch="e", seq=seq, id=f"ev-{seq}", ts=NOW, body=p.IncidentUpserted(incident=fixed)))
    assert "cat" not in store.problems
    assert incident_problems(fixed, NOW, store.plausibility) == ()
    assert "kategori tidak dikenal" in problem_text(["unknown_category"], strings_for("id"))


# --- through the real server, `follow`, the journal and the store ---------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "server.sqlite3", heartbeat=0.5).start()
    try:
        yield proc
    finally:
        proc.stop()


async def _connect(url: str, token: str, client_id: str, console: str = "") -> Any:
    ws = await websockets.connect(url, proxy=None, compression=None, max_size=None)
    await ws.send(p.encode(p.Hello(token=token, client_id=client_id, console=console)).decode())
    return ws


async def _answer(ws: Any, command_id: str) -> p.CommandResult | p.Error:
    async with asyncio.timeout(30):
        while True:
            frame = p.decode_server_frame(await ws.recv())
            if isinstance(frame, p.CommandResult) and frame.command_id == command_id:
                return frame
            if isinstance(frame, p.Error):
                return frame


async def _send_raw(ws: Any, frame: dict[str, Any]) -> p.CommandResult | p.Error:
    await ws.send(json.dumps(frame))
    return await _answer(ws, frame["command_id"])


def _follow(url: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COMMANDCENTER_CONFIG="", COMMANDCENTER_TOKEN=WALL)
    return subprocess.run(
        [sys.executable, "-m", "commandcenter.cli", "follow", "--server", url, "--token", WALL,
         "--db", str(db), "--exit-when-live", "--run-for", "60"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip


@pytest.mark.slow
def test_hostile_injects_refused_by_the_server_and_the_rest_followed(
    server: ServerProcess, tmp_path: Path
) -> None:
    accepted: dict[str, int] = {}

    async def inject(fields: dict[str, Any]) -> p.CommandResult | p.Error:
        ws = await _connect(server.url, ADMIN, f"adm-{uuid.uuid4().hex[:6]}")
        try:
            body = {"kind": "incident", "incident": _incident(fields)}
            return await _send_raw(ws, {"type": "inject", "command_id": uuid.uuid4().hex, "bodies": [body]})
        finally:
            await ws.close()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(fields=frames)
    def check(fields: dict[str, Any]) -> None:
        fields = dict(fields, seq=1, ts="2026-11-27T03:00:00Z")  # the server numbers events itself
        bad = _expected_problems(fields)
        answer = asyncio.run(inject(fields))
        if bad:
            assert isinstance(answer, p.Error) and answer.code == "bad_frame", answer
            assert any(name in answer.reason for name in bad), (answer.reason, bad)
        else:
            assert isinstance(answer, p.CommandResult) and answer.status == "applied", answer
            accepted[fields["id"]] = max(accepted.get(fields["id"], 0), fields["version"])

    check()
    # Make sure the interesting ids are in, whatever hypothesis drew.
    for name in JS_NAMES:
        fields = {"id": name, "version": 1, "seq": 1, "ts": "2026-11-27T03:00:00Z",
                  "received": "2026-11-27T10:00:00+07:00", "desa": "Kayu\u200bagung"}  # fmt: skip
        answer = asyncio.run(inject(fields))
        assert isinstance(answer, p.CommandResult) and answer.status == "applied", answer
        accepted.setdefault(name, 1)

    # A fresh `follow` syncs everything (a snapshot) and exits 0; a second one
    # resumes from its journal (a replay).
    db = tmp_path / "follow.sqlite3"
    done = _follow(server.url, db)
    assert done.returncode == 0, done.stderr[-2000:]
    head = export(server.db)[-1]["seq"]
    # One more event, so the second `follow` has something to resume with.
    extra = {"id": "after", "version": 1, "seq": 1, "ts": "2026-11-27T03:00:00Z",
             "received": "2026-11-27T10:00:00+07:00", "desa": "שלום"}  # fmt: skip
    answer = asyncio.run(inject(extra))
    assert isinstance(answer, p.CommandResult) and answer.seq == head + 1, answer
    accepted["after"] = 1
    done = _follow(server.url, db)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [e["seq"] for e in export(db)][-1:] == [head + 1]

    async def restored() -> dict[str, Any]:
        feed = (
            await WallSession.open(
                load_defaults(), db, FeedSettings(url=server.url, token=WALL), alerts=False
            )
        ).feed
        try:
            assert feed.store.seq == head + 1
            return dict(feed.store.incidents)
        finally:
            await feed.journal.close()

    incidents = asyncio.run(restored())
    assert set(accepted) <= set(incidents)
    assert all(incidents[i].version == v for i, v in accepted.items())


@pytest.mark.slow
async def test_commands_are_checked_against_what_the_server_has(server: ServerProcess) -> None:
    raised = dt.datetime.now(dt.UTC)
    inc = make_incident(id="inc-ref", times=msgspec.structs.replace(make_incident().times, received=raised))
    await admin_inject(
        server.url,
        [
            p.IncidentUpserted(incident=inc),
            p.AlertRaised(alert=Alert(id="al-1", kind="unit_emergency", priority="high", raised_at=raised)),
        ],
    )
    console = await _connect(server.url, CONSOLE, "console-1", console="meja-1")
    admin = await _connect(server.url, ADMIN, "admin-1", console="supervisor")
    try:

        def cmd(kind: str, **fields: Any) -> dict[str, Any]:
            base = {"type": kind, "command_id": uuid.uuid4().hex, "operator": "Sari", "console": "meja-1",
                    "at": dt.datetime.now(dt.UTC).isoformat()}  # fmt: skip
            return {**base, **fields}

        def until(minutes: float) -> str:
            return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).isoformat()

        async def verdict(ws: Any, frame: dict[str, Any]) -> tuple[str, str]:
            answer = await _send_raw(ws, frame)
            assert isinstance(answer, p.CommandResult), answer
            return answer.status, answer.reason

        # References.
        status, reason = await verdict(console, cmd("ack", alert_id="al-nope"))
        assert status == "rejected" and "alert_id" in reason
        status, reason = await verdict(console, cmd("ack", alert_id="al-1", incident_id="inc-nope"))
        assert status == "rejected" and "incident_id" in reason
        status, reason = await verdict(console, cmd("shelve", alert_id="al-nope", until=until(10)))
        assert status == "rejected" and "alert_id" in reason
        # An alert of the wall's own rules names an incident the server has.
        status, _ = await verdict(console, cmd("ack", alert_id="incident:inc-ref", incident_id="inc-ref"))
        assert status == "applied"
        status, reason = await verdict(console, cmd("ack", alert_id="incident:inc-nope"))
        assert status == "rejected" and "alert_id" in reason
        dangling = make_incident(id="inc-2", units=["unit-nope"])
        body = json.loads(p.encode(p.IncidentUpserted(incident=dangling)))
        answer = await _send_raw(admin, {"type": "inject", "command_id": "inj-1", "bodies": [body]})
        assert isinstance(answer, p.CommandResult) and answer.status == "rejected"
        assert "bodies[0].incident.units" in answer.reason and "unit-nope" in answer.reason

        # A command id reused for another command is a conflict, the same one a duplicate.
        first = cmd("ack", alert_id="al-1")
        assert (await verdict(console, first))[0] == "applied"
        assert (await verdict(console, first))[0] == "duplicate"
        status, reason = await verdict(console, {**first, "alert_id": "incident:inc-ref"})
        assert status == "rejected" and reason.startswith("conflict:")
        shelve = cmd("shelve", alert_id="al-1", until=until(30))
        assert (await verdict(console, shelve))[0] == "applied"
        status, reason = await verdict(console, {**shelve, "until": until(40)})
        assert status == "rejected" and reason.startswith("conflict:")

        # Mute and shelve bounded in time, and a console mutes only itself.
        status, reason = await verdict(console, cmd("mute", until=until(61)))
        assert status == "rejected" and "until" in reason
        status, reason = await verdict(console, cmd("shelve", alert_id="al-1", until=until(8 * 60 + 1)))
        assert status == "rejected" and "until" in reason
        status, reason = await verdict(console, cmd("mute", console="meja-2", until=until(5)))
        assert status == "rejected" and "console" in reason
        assert (await verdict(console, cmd("mute", until=until(5))))[0] == "applied"
        assert (await verdict(admin, cmd("mute", console="meja-2", until=until(5))))[0] == "applied"
        status, reason = await verdict(console, cmd("unmute", console="meja-2"))
        assert status == "rejected" and "console" in reason
    finally:
        await console.close()
        await admin.close()
    muted = {
        e["event"]["body"]["console"] for e in export(server.db) if e["event"]["body"]["kind"] == "muted"
    }
    assert muted == {"meja-1", "meja-2"}


@pytest.mark.slow
async def test_a_command_id_is_never_answered_duplicate_for_a_command_it_did_not_apply(
    server: ServerProcess,
) -> None:
    """An id whose command appended nothing (an ack of an alert already
    acknowledged) was never applied, so another command under it is new; an
    inject reusing an id for other bodies is a conflict even when only an
    earlier body differs."""
    raised = dt.datetime.now(dt.UTC)
    await admin_inject(
        server.url,
        [p.AlertRaised(alert=Alert(id=f"al-{i}", kind="unit_emergency", priority="high", raised_at=raised))
         for i in (1, 2)],
    )  # fmt: skip
    console = await _connect(server.url, CONSOLE, "console-1", console="meja-1")
    admin = await _connect(server.url, ADMIN, "admin-1", console="supervisor")
    try:
        at = dt.datetime.now(dt.UTC).isoformat()
        base = {"command_id": "", "operator": "Sari", "console": "meja-1", "at": at}
        first = await _send_raw(console, {**base, "type": "ack", "command_id": "c-1", "alert_id": "al-1"})
        assert isinstance(first, p.CommandResult) and first.status == "applied", first
        noop = await _send_raw(console, {**base, "type": "ack", "command_id": "c-2", "alert_id": "al-1"})
        assert isinstance(noop, p.CommandResult) and noop.status == "duplicate" and noop.seq is None, noop
        until = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).isoformat()
        reused = await _send_raw(
            console, {**base, "type": "shelve", "command_id": "c-2", "alert_id": "al-2", "until": until}
        )
        assert isinstance(reused, p.CommandResult), reused
        assert reused.status == "applied" and reused.seq, "the shelve was silently dropped as a duplicate"

        bodies = [
            json.loads(p.encode(p.IncidentUpserted(incident=make_incident(id=f"i-{i}", ticket=f"T-{i}"))))
            for i in range(3)
        ]
        inject = {"type": "inject", "command_id": "inj-1", "bodies": bodies}
        applied = await _send_raw(admin, inject)
        assert isinstance(applied, p.CommandResult) and applied.status == "applied", applied
        again = await _send_raw(admin, inject)
        assert isinstance(again, p.CommandResult) and again.status == "duplicate", again
        assert again.seq == applied.seq
        other = json.loads(p.encode(p.IncidentUpserted(incident=make_incident(id="i-x", ticket="T-x"))))
        changed = await _send_raw(admin, {**inject, "bodies": [other, *bodies[1:]]})
        assert isinstance(changed, p.CommandResult), changed
        assert changed.status == "rejected" and changed.reason.startswith("conflict:"), changed
    finally:
        await console.close()
        await admin.close()


@pytest.mark.slow
async def test_a_burst_inject_reaches_a_wall_that_keeps_up_without_cutting_it_off(tmp_path: Path) -> None:
    """A send queue smaller than two inject batches: without the server waiting
    for the wall to drain, the burst would overflow it (4503)."""
    server = ServerProcess(tmp_path / "server.sqlite3", queue_limit=1500, heartbeat=0.5).start()
    settings_ = FeedSettings(
        url=server.url, token=WALL, client_id="burst-wall", heartbeat_timeout_s=10.0, reconnect_min_s=0.05,
        reconnect_max_s=0.5,
    )  # fmt: skip
    session = await WallSession.open(load_defaults(), tmp_path / "wall.sqlite3", settings_, alerts=False)
    feed = session.feed
    feed.start()
    try:
        await wait_client(feed, lambda: feed.status.state is FeedState.LIVE)
        states: list[FeedState] = []
        feed.status_listeners.append(lambda st: states.append(st.state))
        bodies = [
            p.IncidentUpserted(incident=make_incident(id=f"burst-{i}", ticket=f"B-{i}"))
            for i in range(20_000)
        ]
        head = await admin_inject(server.url, bodies)
        await wait_client(feed, lambda: feed.store.seq == head, timeout=120, what="the burst applied")
        assert feed.last_close is None, feed.last_close
        assert states == [], f"the wall left LIVE: {states}"
        assert "too slow" not in server.log_path.read_text()
        assert len(feed.store.incidents) >= 20_000
    finally:
        await feed.stop()
        await feed.journal.close()
        server.stop()


@pytest.mark.slow
async def test_a_journal_from_an_older_server_with_a_year_9999_time_is_healed_and_resynced(
    server: ServerProcess, tmp_path: Path
) -> None:
    """Such a journal fits SQLite but not the protocol any more: the wall must
    not crash or hang on it; it sets the file aside and syncs afresh."""
    head = await admin_inject(
        server.url, [p.IncidentUpserted(incident=make_incident(id=f"ok-{i}")) for i in range(3)]
    )
    db = tmp_path / "wall.sqlite3"
    settings_ = FeedSettings(url=server.url, token=WALL, client_id="old-wall", heartbeat_timeout_s=5.0)
    session = await WallSession.open(load_defaults(), db, settings_, alerts=False)
    feed = session.feed
    feed.start()
    await wait_client(feed, lambda: feed.store.seq == head)
    await feed.stop()
    # An older server's event: valid then, out of bounds now (written as raw bytes).
    good = p.Event(epoch=feed.store.epoch, seq=head + 1, id="ev-old", ts=NOW,
                   body=p.IncidentUpserted(incident=make_incident(id="old-1")))  # fmt: skip
    raw = p.encode(good).replace(b'"ts":"2026-11-27T03:00:00Z"', b'"ts":"9999-12-31T23:59:59-05:00"')
    assert b"9999" in raw
    await feed.journal.append([(good, raw)])
    await feed.journal.close()

    reopened = await WallSession.open(load_defaults(), db, settings_, alerts=False)
    feed = reopened.feed
    try:
        assert "old-1" not in feed.store.incidents  # never applied
        feed.start()
        await wait_client(feed, lambda: feed.store.seq == head and feed.status.state is FeedState.LIVE)
        assert {f"ok-{i}" for i in range(3)} <= set(feed.store.incidents)
    finally:
        await feed.stop()
        await feed.journal.close()


def test_the_position_of_a_refused_event_can_still_be_read() -> None:
    """So that a feed can step over an event it refuses instead of seeing a gap
    and getting the same event replayed forever."""
    fields = {"id": "x", "version": 1, "seq": 7, "ts": "9999-12-31T23:59:59-05:00",
              "received": "2026-11-27T10:00:00+07:00", "desa": ""}  # fmt: skip
    data = _event_frame(fields)
    with pytest.raises(p.ProtocolError, match="ts"):
        p.decode_event(data)
    assert p.peek_position(data) == ("ep-1", 7)
    assert p.peek_position(_event_frame({**fields, "seq": 2**64})) is None
    assert p.peek_position(b"not json") is None
    assert p.peek_position(p.encode(p.Heartbeat(epoch="ep-1", head_seq=3, server_time=NOW))) is None
