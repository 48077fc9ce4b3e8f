"""A wall client written the way a third party would: from docs/protocol.md and
the JSON Schema (`commandcenter schema`) alone.

It deliberately shares nothing with the product's client (commandcenter.wall.feed):
plain `json`, `jsonschema` with a format checker (as the doc's validation recipe
says) and `websockets`. It keeps its "journal" in memory: every event it applied,
with its epoch, seq and id, so a test can compare it with the server's export.

What it follows from the docs:
- hello with (last_epoch, last_seq) and the protocol revisions it speaks; the
  welcome says which one the connection uses and whether a replay or a snapshot
  follows;
- a snapshot is applied only when all its parts (same epoch and seq, numbered
  0..parts-1) are in; it replaces the state, then events after its seq follow;
- an event of the same epoch with seq = last + 1 is applied, seq <= last is a
  duplicate (dropped), anything else is a gap or another epoch: reconnect with
  the last position and never skip;
- an ``events`` frame (protocol 1.1) is its elements, each handled like a lone
  ``event`` frame; an event kind it does not know is stepped over;
- heartbeat silence past the timeout: reconnect; close 4401: stop for good;
  any other close: reconnect with exponential backoff and full jitter;
- incidents, units and situations keep the highest version; the funnel of the
  latest day; an acknowledgement per alert (the first one stands).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import websockets
from websockets.exceptions import ConnectionClosed

#: Kinds whose objects carry a ``version``: the highest one wins.
VERSIONED = {"incident": "incidents", "unit": "units", "situation": "situations"}


def load_schema(cwd: str) -> dict[str, Any]:
    """The protocol's JSON Schema as a third party gets it: `commandcenter schema`."""
    out = subprocess.run(
        [sys.executable, "-m", "commandcenter.cli", "schema"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    schema: dict[str, Any] = json.loads(out.stdout)
    return schema


class Validator:
    """One validator per frame type (the schema's discriminator says which
    definition a ``type`` uses), with date-time formats checked."""

    def __init__(self, schema: dict[str, Any]) -> None:
        checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
        self.by_type: dict[str, jsonschema.Draft202012Validator] = {}
        for type_, ref in schema["discriminator"]["mapping"].items():
            sub = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": ref}
            self.by_type[type_] = jsonschema.Draft202012Validator(sub, format_checker=checker)

    def check(self, frame: Any) -> str:
        """Why ``frame`` is not a valid frame ('' when it is)."""
        if not isinstance(frame, dict) or frame.get("type") not in self.by_type:
            return "not an object with a known type"
        error = jsonschema.exceptions.best_match(self.by_type[frame["type"]].iter_errors(frame))
        return "" if error is None else f"{error.message} at {error.json_path}"


class _Reconnect(Exception):
    """Leave this connection and resume from the last applied event."""


class Refused(Exception):
    """The server refused us for good (close 4401)."""


@dataclass
class State:
    epoch: str = ""
    seq: int = 0
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    units: dict[str, dict[str, Any]] = field(default_factory=dict)
    situations: dict[str, dict[str, Any]] = field(default_factory=dict)
    agencies: dict[str, dict[str, Any]] = field(default_factory=dict)
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    shelved: dict[str, dict[str, Any]] = field(default_factory=dict)
    muted: dict[str, dict[str, Any]] = field(default_factory=dict)
    funnel: dict[str, Any] | None = None


class ThirdPartyClient:
    def __init__(
        self,
        url: str,
        token: str,
        client_id: str,
        validator: Validator,
        *,
        protocols: tuple[str, ...] = ("1.0", "1.1"),
        heartbeat_timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self.token = token
        self.client_id = client_id
        self.validator = validator
        self.protocols = protocols
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.state = State()
        #: The "journal": every applied event as {"epoch", "seq", "id", "event"}.
        self.journal: list[dict[str, Any]] = []
        #: Each welcome received (its resume and protocol), in order.
        self.welcomes: list[dict[str, Any]] = []
        self.close_codes: list[int | None] = []
        self.counts = {"duplicates": 0, "gaps": 0, "invalid": 0, "unknown_kinds": 0, "events_frames": 0}
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._rng = random.Random(7)

    # --- running --------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
        """Wait until ``predicate()`` holds, re-checked at every change."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    self.changed.clear()
                    if predicate():
                        break
                    if self._task is not None and self._task.done():
                        self._task.result()  # a Refused or a bug: say it
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"third-party client: timed out waiting for {what}") from None

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                async with websockets.connect(
                    self.url, proxy=None, compression=None, ping_interval=None, max_size=1_048_576
                ) as ws:
                    try:
                        await self._session(ws)
                    finally:
                        self.close_codes.append(ws.close_code)
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == 4401:
                    raise Refused(exc.rcvd.reason) from None
            except (_Reconnect, OSError, TimeoutError, websockets.InvalidHandshake):
                pass
            self.changed.set()
            attempt += 1
            # Exponential backoff with full jitter (0.5 s doubling up to 30 s
            # in the docs; shorter here so that a test does not wait long).
            await asyncio.sleep(self._rng.uniform(0, min(2.0, 0.05 * 2**attempt)))

    async def _recv(self, ws: Any) -> dict[str, Any]:
        """The next valid frame (invalid ones are counted and dropped)."""
        while True:
            try:
                async with asyncio.timeout(self.heartbeat_timeout_s):
                    raw = await ws.recv()
            except TimeoutError:
                raise _Reconnect("no frame within the heartbeat timeout") from None
            try:
                frame = json.loads(raw)
            except ValueError:
                self.counts["invalid"] += 1
                continue
            if isinstance(frame, dict) and frame.get("type") in ("event", "events"):
                return frame  # checked in _event, element by element
            if self.validator.check(frame):
                self.counts["invalid"] += 1
                continue
            return frame

    async def _session(self, ws: Any) -> None:
        hello = {
            "type": "hello",
            "token": self.token,
            "client_id": self.client_id,
            "last_epoch": self.state.epoch,
            "last_seq": self.state.seq,
            "software": "thirdparty-test-client 1",
            "protocols": list(self.protocols),
        }
        await ws.send(json.dumps(hello))
        welcome = await self._recv(ws)
        if welcome["type"] != "welcome":
            raise _Reconnect(f"expected welcome, got {welcome['type']}")
        self.welcomes.append(welcome)
        if welcome.get("protocol", "1.0") not in self.protocols:
            raise AssertionError(f"server chose protocol {welcome.get('protocol')} not offered")
        if welcome["resume"] == "snapshot":
            await self._snapshot(ws)
        elif welcome["epoch"] != self.state.epoch:
            raise _Reconnect("a replay of another epoch")
        self.changed.set()
        while True:
            frame = await self._recv(ws)
            kind = frame["type"]
            if kind == "event":
                self._event(frame)
            elif kind == "events":
                self.counts["events_frames"] += 1
                if welcome.get("protocol", "1.0") != "1.1":
                    raise AssertionError("an events frame on a protocol 1.0 connection")
                for element in frame.get("events", []):
                    self._event(element)
            elif kind == "error" and frame.get("fatal"):
                raise _Reconnect(f"fatal error {frame['code']}")
            elif kind in ("welcome", "snapshot"):
                raise _Reconnect(f"unexpected {kind}")
            # heartbeat, pong, command_result, non-fatal error: liveness only
            self.changed.set()

    async def _snapshot(self, ws: Any) -> None:
        parts: list[dict[str, Any]] = []
        while True:
            frame = await self._recv(ws)
            if frame["type"] != "snapshot":
                raise _Reconnect(f"expected a snapshot part, got {frame['type']}")
            if frame["part"] != len(parts) or (
                parts and (frame["epoch"], frame["seq"], frame["parts"]) != (
                    parts[0]["epoch"], parts[0]["seq"], parts[0]["parts"])
            ):  # fmt: skip
                raise _Reconnect("snapshot parts out of order")
            parts.append(frame)
            if len(parts) == frame["parts"]:
                break
        fresh = State(epoch=parts[0]["epoch"], seq=parts[0]["seq"])
        for part in parts:
            for name in ("incidents", "units", "situations", "alerts"):
                for item in part.get(name, []):
                    getattr(fresh, name)[item["id"]] = item
            for agency in part.get("agencies", []):
                fresh.agencies[agency["code"]] = agency
            for ack in part.get("acks", []):
                fresh.acks[ack["alert_id"]] = ack
            for shelf in part.get("shelved", []):
                fresh.shelved[shelf["alert_id"]] = shelf
            for mute in part.get("muted", []):
                fresh.muted[mute["console"]] = mute
            funnel = part.get("funnel")
            if funnel is not None and (fresh.funnel is None or funnel["day"] >= fresh.funnel["day"]):
                fresh.funnel = funnel
        self.state = fresh

    def _event(self, ev: Any) -> None:
        s = self.state
        why = self.validator.check(ev)
        if why and not (
            isinstance(ev, dict) and isinstance(ev.get("epoch"), str) and isinstance(ev.get("seq"), int)
        ):
            self.counts["invalid"] += 1  # not even a position: dropped
            return
        if ev["epoch"] != s.epoch:
            self.counts["gaps"] += 1
            raise _Reconnect(f"event of epoch {ev['epoch']} while at {s.epoch}")
        if ev["seq"] <= s.seq:
            self.counts["duplicates"] += 1
            return
        if ev["seq"] != s.seq + 1:
            self.counts["gaps"] += 1
            raise _Reconnect(f"gap: expected {s.seq + 1}, got {ev['seq']}")
        s.seq = ev["seq"]
        if why:
            # A body this client cannot take (an unknown kind, a value out of
            # bounds): stepped over in its place, never applied, no gap.
            self.counts["unknown_kinds"] += 1
            self.journal.append({"epoch": ev["epoch"], "seq": ev["seq"], "id": ev.get("id"), "refused": why})
            return
        self.journal.append({"epoch": ev["epoch"], "seq": ev["seq"], "id": ev["id"], "event": ev})
        self._apply(ev["body"])

    def _apply(self, body: dict[str, Any]) -> None:
        s = self.state
        kind = body["kind"]
        if kind in VERSIONED:
            obj = body[kind]
            table = getattr(s, VERSIONED[kind])
            old = table.get(obj["id"])
            if old is None or obj["version"] > old["version"]:
                table[obj["id"]] = obj
        elif kind == "agency":
            s.agencies[body["agency"]["code"]] = body["agency"]
        elif kind == "funnel":
            if s.funnel is None or body["funnel"]["day"] >= s.funnel["day"]:
                s.funnel = body["funnel"]
        elif kind == "alert":
            s.alerts[body["alert"]["id"]] = body["alert"]
        elif kind == "acknowledged":
            s.acks.setdefault(body["ack"]["alert_id"], body["ack"])
        elif kind == "shelved":
            s.shelved[body["alert_id"]] = body
        elif kind == "unshelved":
            s.shelved.pop(body["alert_id"], None)
        elif kind == "muted":
            s.muted[body["console"]] = body
        elif kind == "unmuted":
            s.muted.pop(body["console"], None)
        else:
            self.counts["unknown_kinds"] += 1  # a newer kind: stepped over
