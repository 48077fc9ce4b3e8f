"""NENA-STA-024 EIDO conveyance: the wall subscribes to a CAD's (or a PSAP's) EIDO notifier.

The conveyance is a websocket negotiated with the ``emergency-ent1.0`` subprotocol carrying JSON
messages, each an object with one member naming it:

- we send ``subscribe`` (requestId, requestType "EIDO", requestSubType "new", requestAccepts,
  optionally qualFilter, minRate and expires); the notifier answers ``subscribeResponse``
  (requestId, statusCode, statusText, and when accepted subscriptionId and expires). Before the
  subscription expires we renew it: a ``subscribe`` naming only requestId, subscriptionId and
  expires.
- the notifier sends ``event`` (subscriptionId, transactionId, notification = a list of EIDOs,
  empty when it only keeps the subscription alive at our minRate) and we answer each with
  ``eventResponse`` (transactionId, statusCode, statusText): 200 once its EIDOs are in the
  server's event log (or already were), 400 when one of them is invalid (none of them is applied:
  the transaction is one unit), 481 for a subscription that is not ours, 503 when the server could
  not take them (they are not marked seen: a later notification, or the full set the notifier sends
  a new subscription, brings them again).
- the notifier may end the subscription with ``terminate`` (requestId, subscriptionId); we answer
  ``terminateResponse`` and subscribe again after a backoff.
- on shutdown we send ``unsubscribe`` (requestId, subscriptionId) and wait briefly for
  ``unsubscribeResponse``.

The notifier must agree to the subprotocol: a server that answers without it is not an STA-024
notifier and is refused with a clear error. The link is reconnected with exponential backoff and
jitter; a new subscription for "new" incidents makes the notifier send every active incident
again, and the hub's deduplication (EIDO $id and update time) plus the publisher's deterministic
command ids keep that from doubling anything. The source's state (live, stale with its age,
failing with the reason) is the hub's: every message from the notifier counts as life, and the
minRate we ask for (the source's interval) is what makes a quiet but healthy subscription heard.

STA-024 authenticates both ends with TLS certificates (wss://, mutual authentication); the
standard has no token or authorization header. The server's certificate is checked against the
system's trusted CAs (SSL_CERT_FILE for a private CA).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from commandcenter.ingest import eido
from commandcenter.ingest.hub import Hub, PublishError, Source
from commandcenter.ingest.items import IngestError, Item

log = logging.getLogger(__name__)

SUBPROTOCOL = "emergency-ent1.0"
#: The EIDO media type and the major versions we read (NENA-STA-021 JSON, version 1).
ACCEPTS = 'application/emergency.eido+json; version="1"'
#: A larger message closes the link (1009) before it is read: a notification carries a handful
#: of EIDOs of a few kB each; STA-024 itself asks every end to take messages up to 64 kB.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
UNSUBSCRIBE_WAIT_S = 2.0

Validate = Callable[[Item], object]


class ConveyanceError(Exception):
    """The link is not usable: not an STA-024 notifier, refused, silent or broken."""


class SubscriptionRefused(ConveyanceError):
    """The notifier answered our subscribe with a status other than 200."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"subscription refused: {code} {text}".strip())
        self.code = code
        self.text = text


class Terminated(Exception):
    """The notifier ended our subscription (terminate)."""


@dataclass
class Counters:
    connects: int = 0
    subscriptions: int = 0
    renewals: int = 0
    events: int = 0
    eidos_taken: int = 0
    #: eventResponse status codes sent, by code.
    responses: dict[int, int] = field(default_factory=dict)
    terminated: int = 0
    unsubscribed: int = 0
    #: Messages that were not STA-024 JSON (garbage, binary, unknown, too deep).
    garbage: int = 0


def decode_message(raw: str | bytes) -> tuple[str, dict[str, Any]]:
    """(message name, its body) of one STA-024 message; ValueError saying why it is not one."""
    if isinstance(raw, bytes):
        raise ValueError("a binary frame (STA-024 messages are JSON text)")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: hostile nesting
        raise ValueError(f"not JSON: {exc}"[:200]) from None
    if not isinstance(doc, dict) or len(doc) != 1:
        raise ValueError("not an object with exactly one member naming the message")
    name, body = next(iter(doc.items()))
    if not isinstance(body, dict):
        raise ValueError(f"{name[:40]!r}: the message body is not an object")
    return name, body


def _text(value: Any, limit: int = 200) -> str:
    return value[:limit] if isinstance(value, str) else ""


class EidoSubscriber:
    """One STA-024 subscription for a ``kind = "eido-ws"`` source, kept up until ``stop``.

    ``hub`` holds the source's state and deduplication and publishes what is new; ``validate``
    checks that an item can be published (raising ValueError/IngestError/KeyError) so an EIDO the
    wall could not apply is answered 400 instead of being acknowledged; ``on_change`` is called
    when the source's state may have changed (the caller publishes it)."""

    def __init__(
        self,
        source: Source,
        hub: Hub,
        *,
        validate: Validate | None = None,
        on_change: Callable[[], None] | None = None,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        if not source.url.startswith(("ws://", "wss://")):
            raise ValueError(f"source {source.name}: an eido-ws url starts with ws:// or wss://")
        self.source = source
        self.hub = hub
        self.validate = validate
        self.on_change = on_change or (lambda: None)
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.rng = rng or random.Random()
        self.counters = Counters()
        self.subscription_id: str | None = None
        #: Why the link last failed ('' never): kept after the source is live again, for logs and tests.
        self.last_failure = ""
        self._failures = 0
        self._ws: Any = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}

    # --- the reconnect loop ------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, subscribe and take notifications until ``stop``; reconnect with backoff."""
        while not stop.is_set():
            delay = self.reconnect_min_s
            try:
                await self._session(stop)
            except Terminated as exc:
                self.counters.terminated += 1
                self.hub.pushed_ok(self.source, f"subscription ended by the notifier: {exc}")
                log.info("source %s: %s; subscribing again", self.source.name, exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = self.last_failure = self._reason(exc)
                self._failures += 1
                self.hub.pushed_failed(self.source, reason)
                delay = min(self.reconnect_max_s, self.reconnect_min_s * 2 ** min(self._failures - 1, 16))
                delay = self.rng.uniform(delay / 2, delay)
                log.warning("source %s: %s (failure %d; again in %.1f s)", self.source.name, reason,
                            self._failures, delay)  # fmt: skip
            finally:
                self.subscription_id = None
                self._ws = None
                self.on_change()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    @staticmethod
    def _reason(exc: BaseException) -> str:
        from websockets.exceptions import ConnectionClosed, InvalidStatus

        if isinstance(exc, ConnectionClosed):
            rcvd = exc.rcvd or exc.sent
            if rcvd is not None and rcvd.code == 1009:
                return f"link closed: a message larger than {MAX_MESSAGE_BYTES} bytes (1009)"
            code = rcvd.code if rcvd is not None else "none"
            return f"link lost (close code {code})"
        if isinstance(exc, InvalidStatus):
            return f"the notifier refused the websocket: HTTP {exc.response.status_code}"
        if isinstance(exc, ConveyanceError):
            return str(exc)
        return f"{type(exc).__name__}: {exc}"[:300]

    # --- one connection ----------------------------------------------------------------

    async def _session(self, stop: asyncio.Event) -> None:
        import websockets
        from websockets.typing import Subprotocol

        timeout = self.source.timeout_s
        ws = await websockets.connect(
            self.source.url, subprotocols=[Subprotocol(SUBPROTOCOL)], max_size=MAX_MESSAGE_BYTES,
            open_timeout=timeout, ping_interval=max(5.0, timeout), ping_timeout=timeout,
            close_timeout=2.0, proxy=None, compression=None,
            user_agent_header="oki-siaga-112-wall (NENA-STA-024 subscriber)",
        )  # fmt: skip
        self.counters.connects += 1
        try:
            if ws.subprotocol != SUBPROTOCOL:
                await ws.close(1002, f"{SUBPROTOCOL} required")
                raise ConveyanceError(
                    f"{self.source.url} is not an STA-024 notifier: it did not agree to the "
                    f"{SUBPROTOCOL} websocket subprotocol (answered {ws.subprotocol or 'none'})"
                )
            self._ws = ws
            reader = asyncio.create_task(self._read(ws), name=f"eido-ws-{self.source.name}")
            try:
                await self._subscribed_until_stop(stop, reader)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
        finally:
            for fut in self._pending.values():
                fut.cancel()
            self._pending.clear()
            with contextlib.suppress(Exception):
                await ws.close()

    async def _request(self, name: str, body: dict[str, Any], answer: str) -> dict[str, Any]:
        """Send a subscriber request and wait for the notifier's answer of that requestId."""
        request_id = str(uuid.uuid4())
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[f"{answer}:{request_id}"] = fut
        await self._ws.send(json.dumps({name: {"requestId": request_id, **body}}))
        try:
            async with asyncio.timeout(self.source.timeout_s):
                return await fut
        except TimeoutError:
            raise ConveyanceError(f"no {answer} within {self.source.timeout_s:g} s") from None
        finally:
            self._pending.pop(f"{answer}:{request_id}", None)

    async def _subscribe(self) -> float:
        """Subscribe (or renew); the seconds the notifier granted."""
        expires = round(self.source.expires_s)
        new = self.subscription_id is None
        if new:
            body: dict[str, Any] = {
                "requestType": "EIDO", "requestSubType": "new", "requestAccepts": ACCEPTS,
                "minRate": max(1, round(self.source.interval)), "expires": expires,
            }  # fmt: skip
            if self.source.qual_filter:
                body["qualFilter"] = self.source.qual_filter
        else:
            # A renewal names the subscription and its new length only (STA-024 2.1.5.1).
            body = {"subscriptionId": self.subscription_id, "expires": expires}
        answer = await self._request("subscribe", body, "subscribeResponse")
        code = answer.get("statusCode")
        if code != 200:
            self.subscription_id = None
            raise SubscriptionRefused(code if isinstance(code, int) else 0, _text(answer.get("statusText")))
        sid = self.subscription_id  # taken by the reader (see _read_messages)
        if sid is None:
            raise ConveyanceError("subscribeResponse 200 without a subscriptionId")
        granted = answer.get("expires")
        if not isinstance(granted, int) or isinstance(granted, bool) or granted <= 0:
            granted = expires
        if new:
            self.counters.subscriptions += 1
            self._failures = 0
            log.info("source %s: subscribed (%s, %d s)", self.source.name, sid, granted)
        else:
            self.counters.renewals += 1
        self.hub.pushed_ok(self.source)
        self.on_change()
        return float(granted)

    async def _subscribed_until_stop(self, stop: asyncio.Event, reader: asyncio.Task[None]) -> None:
        loop = asyncio.get_running_loop()
        granted = await self._subscribe()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                # Renew at two thirds of the time granted (a notifier may grant less than asked).
                renew_at = loop.time() + max(0.5, granted * 2 / 3)
                done, _ = await asyncio.wait(
                    {reader, stopping}, timeout=max(0.0, renew_at - loop.time()),
                    return_when=asyncio.FIRST_COMPLETED,
                )  # fmt: skip
                if reader in done:
                    reader.result()  # the reason the link ended (Terminated, ConnectionClosed...)
                    raise ConveyanceError("the notifier closed the link")
                if stopping in done:
                    await self._unsubscribe()
                    return
                granted = await self._subscribe()
        finally:
            stopping.cancel()

    async def _unsubscribe(self) -> None:
        if self.subscription_id is None:
            return
        try:
            answer = await asyncio.wait_for(
                self._request("unsubscribe", {"subscriptionId": self.subscription_id}, "unsubscribeResponse"),
                UNSUBSCRIBE_WAIT_S,
            )
            self.counters.unsubscribed += 1
            log.info("source %s: unsubscribed (%s %s)", self.source.name, answer.get("statusCode"),
                     _text(answer.get("statusText")))  # fmt: skip
        except Exception as exc:  # the link is going anyway
            log.info("source %s: unsubscribe not answered: %s", self.source.name, exc)
        self.subscription_id = None

    # --- what the notifier sends ---------------------------------------------------------

    async def _read(self, ws: Any) -> None:
        """Every message of the link; when it ends, the requests still waiting fail with its reason."""
        ended: Exception = ConveyanceError("the notifier closed the link")
        try:
            await self._read_messages(ws)
        except Exception as exc:
            ended = exc
            raise
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ended)

    async def _read_messages(self, ws: Any) -> None:
        async for raw in ws:
            try:
                name, body = decode_message(raw)
            except ValueError as exc:
                self._garbage(str(exc))
                continue
            if name in ("subscribeResponse", "unsubscribeResponse"):
                fut = self._pending.get(f"{name}:{body.get('requestId')}")
                if fut is None and name == "unsubscribeResponse" and len(self._pending) == 1:
                    # Some notifiers leave requestId out of unsubscribeResponse.
                    fut = next(iter(self._pending.values()))
                if fut is None:
                    self._garbage(f"{name} for no request of ours")
                    continue
                sid = body.get("subscriptionId")
                accepted = name == "subscribeResponse" and body.get("statusCode") == 200
                if accepted and isinstance(sid, str) and 0 < len(sid) <= 256:
                    # Taken here, not where the request waits: the notifier sends the active
                    # incidents right behind this answer, and they must find the subscription.
                    self.subscription_id = sid
                if not fut.done():
                    fut.set_result(body)
            elif name == "event":
                await self._event(ws, body)
            elif name == "terminate":
                await self._terminate(ws, body)
            else:
                self._garbage(f"unknown message {name[:40]!r}")

    def _garbage(self, why: str) -> None:
        self.counters.garbage += 1
        log.warning("source %s: not an STA-024 message, ignored: %s", self.source.name, why)

    async def _answer(self, ws: Any, transaction: str, code: int, text: str) -> None:
        self.counters.responses[code] = self.counters.responses.get(code, 0) + 1
        reply = {"eventResponse": {"transactionId": transaction, "statusCode": code,
                                   "statusText": text[:300]}}  # fmt: skip
        await ws.send(json.dumps(reply))

    async def _event(self, ws: Any, body: dict[str, Any]) -> None:
        transaction = body.get("transactionId")
        if not isinstance(transaction, str) or not transaction or len(transaction) > 256:
            self._garbage("event without a transactionId (cannot be answered)")
            return
        self.counters.events += 1
        if self.subscription_id is None or body.get("subscriptionId") != self.subscription_id:
            await self._answer(ws, transaction, 481, "Subscription Does Not Exist")
            return
        docs = body.get("notification")
        if docs is None:
            docs = []
        if not isinstance(docs, list):
            await self._answer(ws, transaction, 400, "Bad Request: notification is not an array of EIDOs")
            return
        self.hub.pushed_ok(self.source)
        if not docs:  # the keepalive minRate asked for
            await self._answer(ws, transaction, 200, "OK")
            return
        try:
            items = eido.parse(json.dumps(docs).encode("utf-8"), self.hub.regions)
            for item in items:
                if self.validate is not None:
                    self.validate(item)
        except (IngestError, ValueError, KeyError) as exc:
            why = f"EIDO refused, none of this notification applied: {exc}"
            self.hub.pushed_ok(self.source, why)
            log.warning("source %s: transaction %s: %s", self.source.name, transaction[:80], why)
            await self._answer(ws, transaction, 400, f"Bad Request: {exc}")
            self.on_change()
            return
        try:
            taken = await self.hub.take(self.source, items)
        except PublishError as exc:
            self.hub.pushed_ok(self.source, str(exc))
            await self._answer(ws, transaction, 503, "Service Unavailable: the wall's server did not take it")
            self.on_change()
            return
        self.counters.eidos_taken += taken
        await self._answer(ws, transaction, 200, "OK")

    async def _terminate(self, ws: Any, body: dict[str, Any]) -> None:
        request_id = _text(body.get("requestId"), 256)
        sid = _text(body.get("subscriptionId"), 256)
        ours = self.subscription_id is not None and sid == self.subscription_id
        code, text = (200, "OK") if ours else (481, "Subscription Does Not Exist")
        reply = {"terminateResponse": {"requestId": request_id, "subscriptionId": sid,
                                       "statusCode": code, "statusText": text}}  # fmt: skip
        await ws.send(json.dumps(reply))
        if ours:
            self.subscription_id = None
            reason = _text(body.get("reason")) or _text(body.get("statusText")) or "terminate"
            raise Terminated(reason)
