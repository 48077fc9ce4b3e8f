"""NENA EIDO conveyed per NENA-STA-024: a notifier written in the tests (tests/sta024_server.py)
feeds `ingest run`'s subscriber, which publishes into the real reference server; a wall follows.

Each EIDO is answered (200 once it is in the server's log, 400 when invalid and then nothing of it
applied), a reconnect subscribes again without doubling anything, a terminate is answered, a
notifier without the emergency-ent1.0 subprotocol or refusing the subscription is a failing source
with the reason, and a quiet subscription is a stale source with its age."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from commandcenter.config import load_defaults
from commandcenter.ingest.eido_ws import MAX_MESSAGE_BYTES, EidoSubscriber
from commandcenter.ingest.hub import Hub, Source
from commandcenter.ingest.items import Item
from commandcenter.ingest.regions import load_regions
from commandcenter.ingest.run import Ingest, ServerLink
from commandcenter.wall.feed import FeedSettings
from commandcenter.wall.session import WallSession
from tests.conftest import ROOT
from tests.serverproc import ADMIN, WALL, ServerProcess, export, wait_client
from tests.sta024_server import Notifier

pytestmark = pytest.mark.slow

SAMPLE = json.loads((ROOT / "tests" / "fixtures" / "ingest" / "eido-karhutla-deling.json").read_text())
EIDO_ID = SAMPLE["$id"]


def _source(url: str, **kw: Any) -> Source:
    return Source(name="cad-bpbd", kind="eido-ws", url=url, **{"interval_s": 5.0, "timeout_s": 5.0, **kw})


def _updated(doc: dict[str, Any], stamp: str, status: str) -> dict[str, Any]:
    new = copy.deepcopy(doc)
    new["lastUpdateTimeStamp"] = new["incidentComponent"]["lastUpdateTimeStamp"] = stamp
    new["incidentComponent"]["incidentStatusCommonRegistryText"] = [status]
    return new


def _other_incident(suffix: str) -> dict[str, Any]:
    doc = copy.deepcopy(SAMPLE)
    doc["$id"] = doc["incidentComponent"]["$id"] = (
        f"urn:emergency:uid:incidentid:{suffix}:cad.bpbd-sumsel.example"
    )
    return doc


@contextlib.asynccontextmanager
async def _wall(db: Path, url: str) -> AsyncIterator[WallSession]:
    settings = FeedSettings(
        url=url,
        token=WALL,
        client_id="wall-eido",
        heartbeat_timeout_s=2.0,
        reconnect_min_s=0.05,
        reconnect_max_s=0.5,
    )
    session = await WallSession.open(load_defaults(), db, settings, alerts=False)
    session.feed.start()
    try:
        yield session
    finally:
        await session.feed.stop()
        await session.journal.close()


@contextlib.asynccontextmanager
async def _ingest(source: Source, server_url: str) -> AsyncIterator[tuple[Ingest, asyncio.Event]]:
    """`ingest run`'s engine on this one source, running until the block ends."""
    ingest = Ingest(
        load_defaults(),
        ServerLink(server_url, ADMIN, timeout_s=5.0),
        sources=[source],
        regions=load_regions("", ""),
    )
    for sub in ingest.subscribers:
        sub.reconnect_min_s, sub.reconnect_max_s = 0.05, 0.5
    stop = asyncio.Event()
    task = asyncio.create_task(ingest.run(stop))
    try:
        yield ingest, stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await ingest.link.close()


def _eido_incidents(store: Any) -> dict[str, Any]:
    return {i.id: i for i in store.incidents.values() if i.ticket.startswith("EIDO-")}


def _incident_events(db: Path) -> list[dict[str, Any]]:
    out = []
    for e in export(db):
        body = e["event"]["body"]
        if body["kind"] == "incident" and body["incident"]["ticket"].startswith("EIDO-"):
            out.append(body["incident"])
    return out


async def test_eidos_reach_the_wall_once_answered_and_resubscribed(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server.sqlite3").start()
    notifier = await Notifier().start()
    notifier.active[EIDO_ID] = SAMPLE  # an incident the CAD already holds when we subscribe
    try:
        async with (
            _wall(tmp_path / "wall.sqlite3", server.url) as wall,
            _ingest(_source(notifier.url), server.url) as (ingest, stop),
        ):
            store = wall.store
            # Subscribed as the standard asks; the active incident arrives at once and is taken.
            await notifier.wait_for(lambda: len(notifier.event_responses) == 1, "the first notification")
            first = notifier.subscribes[0]
            assert (first["requestType"], first["requestSubType"]) == ("EIDO", "new")
            assert first["requestAccepts"] == 'application/emergency.eido+json; version="1"'
            assert (first["minRate"], first["expires"]) == (5, 3600)
            assert notifier.event_responses[0]["statusCode"] == 200
            await wait_client(
                wall.feed,
                lambda: (
                    len(_eido_incidents(store)) == 1
                    and "cad-bpbd" in store.sources
                    and store.source_state("cad-bpbd")[0] == "live"
                ),
                what="the EIDO incident on the wall and its source live",
            )
            (incident,) = _eido_incidents(store).values()
            assert incident.category == "karhutla" and incident.priority == "high"
            assert sorted(t.agency for t in incident.tasks) == ["BPBD", "DAMKAR"] and len(incident.units) == 2
            assert incident.location.kecamatan  # placed in an OKI district from the PIDF-LO pos

            # An update of the incident: answered 200, the wall shows it closed.
            closed = _updated(SAMPLE, "2026-09-14T08:10:00+07:00", "Closed")
            assert (await notifier.notify([closed]))["statusCode"] == 200
            await wait_client(
                wall.feed,
                lambda: _eido_incidents(store)[incident.id].status == "closed",
                what="the closed incident",
            )

            # An invalid EIDO next to a valid one: 400 naming the fault, neither applied.
            bad = _other_incident("bad01")
            bad["dispatchComponent"][0]["agencyReference"] = {"$ref": "no-such-agency"}
            answer = await notifier.notify([_other_incident("good01"), bad], remember=False)
            assert answer["statusCode"] == 400 and "no-such-agency" in answer["statusText"]
            assert "no-such-agency" in ingest.hub.states["cad-bpbd"].last_error

            # The link drops: the subscriber connects and subscribes again; the notifier sends the
            # active incident again, which is answered 200 and doubles nothing.
            taken = len(notifier.event_responses)
            await notifier.drop()
            await notifier.wait_for(
                lambda: len(notifier.subscribes) == 2 and len(notifier.event_responses) == taken + 1,
                "a new subscription and its notification",
            )
            assert "subscriptionId" not in notifier.subscribes[1]  # a new subscription, not a renewal
            assert notifier.event_responses[-1]["statusCode"] == 200

            # The notifier ends the subscription: answered, and a new one follows.
            sid = notifier.subscription_id
            answer = await notifier.terminate("maintenance")
            assert (answer["subscriptionId"], answer["statusCode"]) == (sid, 200)
            await notifier.wait_for(
                lambda: len(notifier.subscribes) == 3 and notifier.subscription_id is not None,
                "the subscription after terminate",
            )
            await notifier.wait_for(lambda: len(notifier.event_responses) == taken + 2, "its notification")

            # A new incident after all that reaches the wall.
            fresh = _other_incident("new02")
            assert (await notifier.notify([fresh]))["statusCode"] == 200
            await wait_client(wall.feed, lambda: len(_eido_incidents(store)) == 2, what="the second incident")
            last_sid = notifier.subscription_id
            stop.set()
        # On shutdown the subscription is ended by unsubscribe.
        await notifier.wait_for(lambda: len(notifier.unsubscribes) == 1, "the unsubscribe")
        assert notifier.unsubscribes[0]["subscriptionId"] == last_sid
        assert notifier.problems == []
    finally:
        await notifier.stop()
        server.stop()
    events = _incident_events(tmp_path / "server.sqlite3")
    # The sample, its update and the new incident: once each, whatever was sent again.
    assert [(i["status"], i["ticket"] == incident.ticket) for i in events] == [
        ("forwarded", True),
        ("closed", True),
        ("forwarded", False),
    ]


async def test_hostile_messages_are_answered_or_ignored_and_an_oversized_frame_costs_a_reconnect(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "server.sqlite3").start()
    notifier = await Notifier().start()
    try:
        async with _ingest(_source(notifier.url), server.url) as (ingest, _stop):
            await notifier.wait_for(
                lambda: len(notifier.event_responses) == 1, "the empty first notification"
            )
            sub = ingest.subscribers[0]
            sid = notifier.subscription_id
            junks: list[str | bytes] = [
                "not json {",
                b"\x00\xff binary",
                "[" * 200_000 + "]" * 200_000,
                "[1, 2]",
                "{}",
                '{"a": {}, "b": {}}',
                '{"event": "text"}',
                '{"event": {"notification": []}}',
                '{"hello": {"requestId": "x"}}',
                '{"subscribeResponse": {"requestId": "nobody"}}',
            ]
            for junk in junks:
                await notifier.send_raw(junk)
            # Every answerable one is answered, with the status the standard gives.
            answers = {}
            hostile: dict[str, dict[str, Any]] = {
                "t-other": {"subscriptionId": "someone-else", "notification": []},
                "t-string": {"subscriptionId": sid, "notification": "not an array"},
                "t-not-eido": {"subscriptionId": sid, "notification": [{"$id": "x"}]},
                "t-nan": {"subscriptionId": sid, "notification": [{**SAMPLE, "eidoVersion": float("nan")}]},
            }
            for tid, body in hostile.items():
                raw = json.dumps({"event": {"transactionId": tid, **body}})
                answers[tid] = (await notifier.send_raw(raw, answer_to=tid) or {})["statusCode"]
            assert answers == {"t-other": 481, "t-string": 400, "t-not-eido": 400, "t-nan": 400}
            assert sub.counters.garbage == 10
            # The link still works: a valid EIDO is taken.
            assert (await notifier.notify([SAMPLE]))["statusCode"] == 200
            # A frame over the limit closes the link (1009) unread; the subscriber comes back.
            await notifier.send_raw("x" * (MAX_MESSAGE_BYTES + 1))
            await notifier.wait_for(
                lambda: len(notifier.subscribes) == 2 and len(notifier.event_responses) == 7,
                "the new subscription after the oversized frame",
            )
            assert sub.last_failure == f"link closed: a message larger than {MAX_MESSAGE_BYTES} bytes (1009)"
            assert notifier.event_responses[-1]["statusCode"] == 200  # the sample again: already taken
            assert ingest.hub.states["cad-bpbd"].published == 1
        assert notifier.problems == []
    finally:
        await notifier.stop()
        server.stop()
    assert len(_incident_events(tmp_path / "server.sqlite3")) == 1


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def _never(source: Source, items: Sequence[Item]) -> None:
    raise AssertionError(f"nothing may be published here: {items}")


async def _until(
    sub: EidoSubscriber, changed: asyncio.Event, predicate: Callable[[], bool], what: str
) -> None:
    try:
        async with asyncio.timeout(20):
            while not predicate():
                changed.clear()
                if predicate():
                    break
                await changed.wait()
    except TimeoutError:
        raise AssertionError(
            f"timed out waiting for {what}; last error {sub.hub.status()[0].last_error!r}"
        ) from None


@contextlib.asynccontextmanager
async def _subscriber(
    url: str, clock: _Clock, **kw: Any
) -> AsyncIterator[tuple[EidoSubscriber, asyncio.Event]]:
    source = _source(url, **kw)
    hub = Hub([source], _never, monotonic=clock)
    changed = asyncio.Event()
    sub = EidoSubscriber(source, hub, on_change=changed.set, reconnect_min_s=0.05, reconnect_max_s=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(sub.run(stop))
    try:
        yield sub, changed
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_server_without_the_emergency_subprotocol_is_refused_with_a_clear_error() -> None:
    plain = await Notifier(subprotocol=None).start()
    clock = _Clock()
    try:
        async with _subscriber(plain.url, clock) as (sub, changed):
            await _until(sub, changed, lambda: sub.counters.connects >= 2, "two refused connections")
            (status,) = sub.hub.status()
            assert status.state == "failing"
            assert "did not agree to the emergency-ent1.0 websocket subprotocol" in status.last_error
        assert plain.subscribes == []  # nothing was asked of it
    finally:
        await plain.stop()


async def test_a_refused_subscription_is_a_failing_source_and_is_asked_again() -> None:
    notifier = await Notifier(reject=(403, "Forbidden")).start()
    clock = _Clock()
    try:
        async with _subscriber(notifier.url, clock) as (sub, changed):
            await _until(sub, changed, lambda: len(notifier.subscribes) >= 2, "a second subscribe")
            (status,) = sub.hub.status()
            assert status.state == "failing" and status.last_error == "subscription refused: 403 Forbidden"
        assert notifier.problems == []
    finally:
        await notifier.stop()


async def test_a_quiet_subscription_goes_stale_with_its_age_and_a_lost_notifier_fails() -> None:
    notifier = await Notifier().start()
    clock = _Clock()
    try:
        async with _subscriber(notifier.url, clock, stale_after_s=60.0) as (sub, changed):
            await notifier.wait_for(
                lambda: len(notifier.event_responses) == 1, "the empty first notification"
            )
            assert sub.hub.status()[0].state == "live"
            clock.t += 61.0  # no event, not even the keepalive minRate asks for
            (status,) = sub.hub.status()
            assert (status.state, status.age_s) == ("stale", 61.0)
            # A keepalive (an empty notification) makes it live again.
            assert (await notifier.notify([], remember=False))["statusCode"] == 200
            assert sub.hub.status()[0].state == "live"
            # The notifier goes away: reconnects fail, and once quiet too long the source is failing.
            await notifier.stop()
            await _until(sub, changed, lambda: sub.hub.states["cad-bpbd"].failures >= 2, "failed reconnects")
            clock.t += 61.0
            (status,) = sub.hub.status()
            assert status.state == "failing" and status.age_s == 61.0 and status.last_error
    finally:
        await notifier.stop()


def test_an_eido_ws_source_needs_a_websocket_url_and_a_polled_one_does_not(tmp_path: Path) -> None:
    from commandcenter.config import ConfigError, load_config

    for kind, url, why in [
        ("eido-ws", "https://cad.example/eido", "needs a ws:// or wss:// URL"),
        ("eido", "wss://cad.example/eido", "not a websocket"),
    ]:
        path = tmp_path / f"{kind}.toml"
        path.write_text(f'[[sources]]\nname = "cad"\nkind = "{kind}"\nurl = "{url}"\n')
        with pytest.raises(ConfigError, match=why):
            load_config(path)
    good = tmp_path / "good.toml"
    good.write_text(
        '[[sources]]\nname = "cad"\nkind = "eido-ws"\nurl = "wss://cad.example/IncidentData/ent"\n'
        'enabled = true\ninterval_s = 30.0\nexpires_s = 600.0\nqual_filter = "type=fire"\n'
    )
    (source,) = load_config(good).sources
    assert (source.kind, source.expires_s, source.qual_filter) == ("eido-ws", 600.0, "type=fire")


async def test_the_subscription_is_renewed_before_the_time_the_notifier_granted_ends() -> None:
    notifier = await Notifier(max_expires=1).start()  # grants 1 s whatever is asked
    try:
        async with _subscriber(notifier.url, _Clock(), expires_s=600.0) as (sub, changed):
            await _until(sub, changed, lambda: sub.counters.renewals >= 2, "two renewals")
            sid = notifier.subscription_id
            assert notifier.subscribes[0]["expires"] == 600 and "subscriptionId" not in notifier.subscribes[0]
            # A renewal names the subscription and the length only (the notifier checks the rest).
            assert all(set(s) == {"requestId", "subscriptionId", "expires"} for s in notifier.subscribes[1:])
            assert {s["subscriptionId"] for s in notifier.subscribes[1:]} == {sid}
            assert sub.counters.subscriptions == 1
        assert notifier.problems == []
    finally:
        await notifier.stop()


async def test_ingest_run_subscribes_to_a_configured_eido_ws_source_and_unsubscribes_on_sigterm(
    tmp_path: Path,
) -> None:
    import os
    import signal
    import subprocess
    import sys

    config = tmp_path / "ingest.toml"
    token = tmp_path / "token"
    token.write_text(ADMIN + "\n")
    token.chmod(0o600)
    server = ServerProcess(tmp_path / "server.sqlite3").start()
    notifier = await Notifier().start()
    notifier.active[EIDO_ID] = SAMPLE
    config.write_text(
        f'[[sources]]\nname = "cad-bpbd"\nkind = "eido-ws"\nurl = "{notifier.url}"\nenabled = true\n'
        "interval_s = 30.0\n"
    )
    env = dict(os.environ, COMMANDCENTER_CONFIG="", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    proc = None
    try:
        async with _wall(tmp_path / "wall.sqlite3", server.url) as wall:
            argv = [sys.executable, "-m", "commandcenter.cli", "ingest", "run", "--server", server.url,
                    "--token-file", str(token), "--config", str(config)]  # fmt: skip
            proc = await asyncio.to_thread(
                subprocess.Popen,
                argv,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            store = wall.store
            await wait_client(
                wall.feed,
                lambda: len(_eido_incidents(store)) == 1 and store.source_state("cad-bpbd")[0] == "live",
                what="the CAD's incident and its live source",
            )
            assert notifier.subscribes[0]["minRate"] == 30
            proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.to_thread(proc.communicate, timeout=20)
            assert proc.returncode == 0, err
            assert "DONE published=1 duplicates=0 rejected=0" in out
        assert len(notifier.unsubscribes) == 1 and notifier.problems == []
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        await notifier.stop()
        server.stop()
