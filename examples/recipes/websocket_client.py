"""
Recipe: an Autobahn WebSocket client that reconnects
(docs/recipes/websocket.rst).

Autobahn's ``WebSocketClientFactory`` with ``ReconnectingFactory`` mixed in
(in this order: Autobahn's class first, it owns ``__init__``), configured
with class attributes and ``self.configure(...)``:

* the connection counts as established at ``onOpen`` (the HTTP upgrade
  succeeded), not when TCP connects;
* the server closing with the application's code 4001 ("logged in
  elsewhere") is a kick: no reconnection;
* HTTP 401/403 on the upgrade (bad token) gives up at once; 429/503 with a
  ``Retry-After`` header waits at least that long;
* anything else (1001 going away, 1006 dropped TCP) reconnects with backoff.

    factory = FeedFactory("ws://feed.example:9000/", token="...")
    reactor.connectTCP("feed.example", 9000, factory)

Tested by tests/test_recipes.py against an in-process Autobahn server.
"""

from __future__ import annotations

from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet.defer import Deferred

from reconnect_twisted import ExponentialBackoff, ReconnectingFactory

__all__ = ["KICKED", "FeedFactory", "FeedProtocol"]

#: the application's close code for "this account logged in elsewhere"
KICKED = 4001
#: HTTP statuses on the upgrade that retrying cannot fix
PERMANENT_HTTP = frozenset({401, 403, 404})


class FeedProtocol(WebSocketClientProtocol):
    """Receives the feed: every text message lands in ``factory.messages``."""

    factory: FeedFactory

    def connectionMade(self) -> None:
        self.opened: Deferred[None] = Deferred()  # the handshake, see below
        super().connectionMade()  # sends the HTTP upgrade request

    def onOpen(self) -> None:
        self.opened.callback(None)  # the connection is established now

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if not isBinary:
            self.factory.messages.append(payload.decode("utf-8"))

    def onCloseFrame(self, code: int | None, reasonRaw: bytes | None) -> Any:
        # The server's close frame arrives before the TCP close: decide now,
        # while the connection is still up (onClose comes too late for it).
        result = super().onCloseFrame(code, reasonRaw)  # answers the close
        if code == KICKED:
            reason = (reasonRaw or b"").decode("utf-8", "replace")
            self.factory.kicked(f"close code {code}: {reason}", protocol=self)
        return result

    def failHandshake(self, reason: str) -> None:
        # Autobahn calls this when the upgrade fails, e.g. "WebSocket
        # connection upgrade failed [403]: Forbidden".
        status = _httpStatus(getattr(self, "http_status_line", None))
        headers = getattr(self, "http_headers", None) or {}
        retryAfter = _seconds(headers.get("retry-after"))
        why = f"HTTP {status} on upgrade"
        if status in PERMANENT_HTTP:
            self.factory.rejected(why, permanent=True, protocol=self)
        elif status in (429, 503) and retryAfter is not None:
            self.factory.retryLater(why, retryAfter, protocol=self)
        super().failHandshake(reason)


def _httpStatus(line: str | None) -> int | None:
    parts = (line or "").split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def _seconds(value: str | None) -> float | None:
    return float(value) if value is not None and value.strip().isdigit() else None


class FeedFactory(WebSocketClientFactory, ReconnectingFactory):
    """
    Autobahn's factory first: its ``__init__`` runs, ReconnectingFactory's
    does not. Configure the reconnecting half with class attributes (any
    constructor argument of ReconnectingFactory) or ``self.configure()``.
    """

    protocol = FeedProtocol
    backoff = ExponentialBackoff(initialDelay=1.0, maxDelay=30.0)
    handshakeTimeout = 15.0

    def __init__(
        self,
        url: str,
        token: str | None = None,
        reactor: Any = None,
        **settings: Any,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        super().__init__(url, headers=headers, reactor=reactor)
        self.configure(**settings)  # e.g. clock=, minUptime=, policy=
        self.messages: list[str] = []

    def handshake(self, protocol: FeedProtocol) -> Deferred[None]:
        # The WebSocket opening handshake (HTTP upgrade) is the business
        # handshake here; add a login message in onOpen if the service has one.
        return protocol.opened
