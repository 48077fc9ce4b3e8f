"""A NENA-STA-024 EIDO notifier on loopback, written for the tests from the standard's message
definitions: a real websocket server (the `websockets` library) negotiating ``emergency-ent1.0``.

It accepts ``subscribe`` (checking the fields the standard requires of a new subscription and of
a renewal), answers ``subscribeResponse``, sends every active incident to a new subscription at
once (an empty notification when there is none), sends ``event`` notifications and waits for
their ``eventResponse``, answers ``unsubscribe``, and can send ``terminate``, refuse a
subscription, drop the connection, send garbage or an oversized frame. Whatever the subscriber
sends that breaks the standard is recorded in :attr:`Notifier.problems` (a test expects it empty).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

SUBPROTOCOL = "emergency-ent1.0"
EIDO_MEDIA_TYPE = "application/emergency.eido+json"
#: Sent for "new" subscriptions; a renewal must not repeat them.
NEW_ONLY = ("requestType", "requestSubType", "requestAccepts", "qualFilter", "minRate", "maxRate")


class Notifier:
    """The notifier side of STA-024 for one subscriber at a time."""

    def __init__(
        self,
        *,
        subprotocol: str | None = SUBPROTOCOL,
        reject: tuple[int, str] | None = None,
        max_expires: int = 3600,
        max_size: int = 64 * 1024 * 1024,
    ) -> None:
        self.subprotocol = subprotocol
        self.reject = reject
        self.max_expires = max_expires
        self.max_size = max_size
        #: incident $id -> the latest EIDO: what a new subscription receives at once.
        self.active: dict[str, dict[str, Any]] = {}
        self.connections = 0
        self.subscribes: list[dict[str, Any]] = []
        self.unsubscribes: list[dict[str, Any]] = []
        self.event_responses: list[dict[str, Any]] = []
        self.terminate_responses: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.subscription_id: str | None = None
        self.granted_expires: int | None = None
        self._conn: ServerConnection | None = None
        self._server: Server | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- life ----------------------------------------------------------------------------

    async def start(self) -> Notifier:
        protocols = [Subprotocol(self.subprotocol)] if self.subprotocol else None
        self._server = await serve(
            self._handler, "127.0.0.1", 0, subprotocols=protocols, max_size=self.max_size, compression=None
        )
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/IncidentData/ent"

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        """Until ``predicate()`` holds, re-checked whenever a message arrives or a link changes."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    self._changed.clear()
                    if predicate():
                        break
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    def _poke(self) -> None:
        self._changed.set()

    # --- what the notifier sends ---------------------------------------------------------

    async def _send(self, message: dict[str, Any] | str | bytes) -> None:
        conn = self._conn
        assert conn is not None, "no subscriber connected"
        await conn.send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    async def _await_answer(self, key: str, timeout: float = 10.0) -> dict[str, Any]:
        fut = self._waiting[key]
        try:
            async with asyncio.timeout(timeout):
                return await fut
        except TimeoutError:
            raise AssertionError(f"the subscriber did not answer {key}") from None
        finally:
            self._waiting.pop(key, None)

    async def notify(self, eidos: list[dict[str, Any]], *, remember: bool = True) -> dict[str, Any]:
        """Send one event with these EIDOs; the subscriber's eventResponse. ``remember``: they
        are the incidents' current state, sent again to a new subscription."""
        if remember:
            for doc in eidos:
                self.active[doc["$id"]] = doc
        transaction = f"{uuid.uuid4()}@notifier.test"
        self._waiting[f"event:{transaction}"] = asyncio.get_running_loop().create_future()
        await self._send(
            {
                "event": {
                    "subscriptionId": self.subscription_id,
                    "transactionId": transaction,
                    "notification": eidos,
                }
            }
        )
        return await self._await_answer(f"event:{transaction}")

    async def send_raw(self, message: str | bytes, *, answer_to: str | None = None) -> dict[str, Any] | None:
        """Send anything; with ``answer_to`` (a transactionId) wait for its eventResponse."""
        if answer_to is not None:
            self._waiting[f"event:{answer_to}"] = asyncio.get_running_loop().create_future()
        await self._send(message)
        return None if answer_to is None else await self._await_answer(f"event:{answer_to}")

    async def terminate(self, reason: str = "notifier shutting down") -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        self._waiting[f"terminate:{request_id}"] = asyncio.get_running_loop().create_future()
        await self._send(
            {"terminate": {"requestId": request_id, "subscriptionId": self.subscription_id, "reason": reason}}
        )
        answer = await self._await_answer(f"terminate:{request_id}")
        self.subscription_id = None
        return answer

    async def drop(self) -> None:
        """Cut the TCP connection without a closing handshake (a crash, a cable pulled)."""
        conn = self._conn
        assert conn is not None
        conn.transport.abort()

    # --- what the subscriber sends -------------------------------------------------------

    async def _handler(self, conn: ServerConnection) -> None:
        self.connections += 1
        self._conn = conn
        self._poke()
        try:
            async for raw in conn:
                await self._on_message(conn, raw)
        except ConnectionClosed:
            pass
        finally:
            if self._conn is conn:
                self._conn = None
                self.subscription_id = None  # flushed with its websocket (STA-024 2.1.1)
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_exception(AssertionError("the link closed before the answer"))
            self._poke()

    def _problem(self, what: str) -> None:
        self.problems.append(what)

    async def _on_message(self, conn: ServerConnection, raw: str | bytes) -> None:
        try:
            doc = json.loads(raw)
            ((name, body),) = doc.items()
            assert isinstance(body, dict)
        except (ValueError, AssertionError, AttributeError):
            self._problem(f"not an STA-024 message: {raw[:200]!r}")
            return
        if name == "subscribe":
            await self._subscribe(body)
        elif name == "unsubscribe":
            self.unsubscribes.append(body)
            ours = body.get("subscriptionId") == self.subscription_id is not None
            await self._send(
                {
                    "unsubscribeResponse": {
                        "requestId": body.get("requestId"),
                        "subscriptionId": body.get("subscriptionId"),
                        "statusCode": 200 if ours else 481,
                        "statusText": "OK" if ours else "Subscription Does Not Exist",
                    }
                }
            )
            if ours:
                self.subscription_id = None
        elif name == "eventResponse":
            self.event_responses.append(body)
            if not isinstance(body.get("statusCode"), int) or not isinstance(body.get("statusText"), str):
                self._problem(f"eventResponse without statusCode/statusText: {body}")
            self._answered(f"event:{body.get('transactionId')}", body)
        elif name == "terminateResponse":
            self.terminate_responses.append(body)
            self._answered(f"terminate:{body.get('requestId')}", body)
        else:
            self._problem(f"unexpected message {name!r}")
        self._poke()

    def _answered(self, key: str, body: dict[str, Any]) -> None:
        fut = self._waiting.get(key)
        if fut is None:
            self._problem(f"an answer to nothing sent: {key}")
        elif not fut.done():
            fut.set_result(body)

    async def _subscribe(self, body: dict[str, Any]) -> None:
        self.subscribes.append(body)
        request_id = body.get("requestId")

        async def answer(code: int, text: str, **extra: Any) -> None:
            await self._send(
                {
                    "subscribeResponse": {
                        "requestId": request_id,
                        "statusCode": code,
                        "statusText": text,
                        **extra,
                    }
                }
            )

        bad = self._check_subscribe(body)
        if bad:
            self._problem(bad)
            await answer(400, f"Bad Request: {bad}")
            return
        if self.reject is not None:
            await answer(*self.reject)
            return
        expires = min(int(body.get("expires") or self.max_expires), self.max_expires)
        self.granted_expires = expires
        if "subscriptionId" in body:
            if body["subscriptionId"] != self.subscription_id:
                await answer(481, "Subscription Does Not Exist")
                return
            await answer(200, "OK", subscriptionId=self.subscription_id, expires=expires)
            return
        self.subscription_id = f"sub-{uuid.uuid4().hex[:12]}"
        extra: dict[str, Any] = {"subscriptionId": self.subscription_id, "expires": expires}
        if "minRate" in body:
            extra["minRate"] = body["minRate"]
        await answer(200, "OK", **extra)
        # A subscription for new incidents gets every active one at once (STA-024 2.1.1).
        task = asyncio.create_task(self._initial(list(self.active.values())))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _initial(self, eidos: list[dict[str, Any]]) -> None:
        with contextlib.suppress(AssertionError):
            await self.notify(eidos, remember=False)

    @staticmethod
    def _check_subscribe(body: dict[str, Any]) -> str:
        """What the subscribe breaks of STA-024 2.1.5.1, or ''."""
        if not isinstance(body.get("requestId"), str) or not body["requestId"]:
            return "subscribe without a requestId"
        if "subscriptionId" in body:
            extra = [k for k in NEW_ONLY if k in body]
            return f"a renewal repeats {', '.join(extra)}" if extra else ""
        if str(body.get("requestType", "")).upper() != "EIDO":
            return f"requestType {body.get('requestType')!r}, not EIDO"
        if body.get("requestSubType") not in ("new", "single"):
            return f"requestSubType {body.get('requestSubType')!r}"
        accepts = body.get("requestAccepts")
        if not isinstance(accepts, str) or EIDO_MEDIA_TYPE not in accepts or "version=" not in accepts:
            return f"requestAccepts {accepts!r} names no EIDO media type with its version"
        for key in ("minRate", "maxRate", "expires"):
            value = body.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                return f"{key} {value!r} is not a positive integer"
        return ""
