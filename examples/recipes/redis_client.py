"""
Recipe: a Redis client that reconnects (docs/recipes/redis.rst).

A small RESP (REdis Serialization Protocol) client of our own, to show the
pattern txredisapi-style clients need: ``AUTH`` and ``SELECT`` are the
business handshake, a wrong password gives up instead of retrying for ever,
commands still waiting when the factory stops fail with ``GaveUp``, and a
pool is N connections of ONE factory.

    factory = RedisFactory(password="s3cret", db=2)
    connectPool(reactor, "localhost", 6379, factory, size=4)
    d = factory.execute("GET", "key")        # waits for a connection

Tested by tests/test_recipes.py against an in-process fake server.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.error import ConnectionLost
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from reconnect_twisted import (
    ConnectionState,
    GaveUp,
    HandshakeRejected,
    HandshakeSteps,
    ReconnectingFactory,
)

__all__ = ["RedisError", "RedisFactory", "RedisProtocol", "connectPool", "encode"]


class RedisError(Exception):
    """An error reply (``-ERR ...``) from the server."""


def encode(*args: bytes | str | int) -> bytes:
    """A command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Incomplete(Exception):
    """The buffer does not hold a whole reply yet."""


def _parse(buffer: bytes, start: int) -> tuple[Any, int]:
    """One RESP2 reply from ``buffer[start:]``: ``(value, end)``."""
    end = buffer.find(b"\r\n", start)
    if end < 0:
        raise _Incomplete()
    kind, line, after = buffer[start : start + 1], buffer[start + 1 : end], end + 2
    if kind == b"+":
        return line.decode(), after
    if kind == b"-":
        return RedisError(line.decode("utf-8", "replace")), after
    if kind == b":":
        return int(line), after
    if kind == b"$":
        length = int(line)
        if length < 0:
            return None, after
        if len(buffer) < after + length + 2:
            raise _Incomplete()
        return buffer[after : after + length], after + length + 2
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = _parse(buffer, after)
            items.append(item)
        return items, after
    raise ValueError(f"not a RESP reply: {kind!r}")


class RedisProtocol(Protocol):
    """One connection: commands in, replies matched to them in order."""

    factory: RedisFactory

    def __init__(self) -> None:
        self._buffer = b""
        self._replies: deque[Deferred[Any]] = deque()

    def execute(self, *args: bytes | str | int) -> Deferred[Any]:
        """Send a command; the Deferred fires with its reply."""
        d: Deferred[Any] = Deferred()
        self._replies.append(d)
        self.transport.write(encode(*args))
        return d

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        start = 0
        try:
            while start < len(self._buffer) and self._replies:
                reply, start = _parse(self._buffer, start)
                d = self._replies.popleft()
                if isinstance(reply, RedisError):
                    d.errback(reply)
                else:
                    d.callback(reply)
        except _Incomplete:
            pass
        self._buffer = self._buffer[start:]

    def connectionLost(self, reason: Failure | None = None) -> None:
        # The commands still waiting for a reply fail. If the factory has
        # stopped (giveUp(), a kick, a permanent rejection) it is over: say
        # so with GaveUp; otherwise with why the connection was lost.
        status = self.factory.status
        why: Exception | Failure = reason if reason is not None else ConnectionLost()
        if status.state is ConnectionState.STOPPED:
            why = GaveUp(status.stopReason or "stopped")
        if self in self.factory.ready:
            self.factory.ready.remove(self)
        replies, self._replies = self._replies, deque()
        for d in replies:
            d.errback(why)


def _refused(failure: Failure) -> None:
    """A handshake step's error reply: what should the factory do about it?"""
    failure.trap(RedisError)
    text = str(failure.value)
    if text.startswith(("WRONGPASS", "ERR invalid password", "NOPERM")):
        raise HandshakeRejected(text, permanent=True)  # retrying will not help
    if text.startswith("ERR DB index"):
        raise HandshakeRejected(text, permanent=True)  # a configuration error
    raise HandshakeRejected(text)  # e.g. LOADING: back off and try again


class RedisFactory(ReconnectingFactory):
    """
    Connections to one Redis server, each logged in (``AUTH``) and on the
    right database (``SELECT``) before it counts as connected.

    Use it with one ``connectTCP`` (one connection) or several (a pool:
    :func:`connectPool`); :meth:`execute` uses any connected member.
    """

    protocol = RedisProtocol

    def __init__(
        self,
        password: str | None = None,
        db: int = 0,
        username: str | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(**settings)
        self.password, self.db, self.username = password, db, username
        steps: list[tuple[str, Any]] = [("AUTH", self._auth)] if password else []
        if db:
            steps.append(("SELECT", self._select))
        self._steps = HandshakeSteps(*steps, stepTimeout=10.0) if steps else None
        self._roundRobin = itertools.count()
        #: the members that passed the handshake and are still connected
        self.ready: list[RedisProtocol] = []

    # -- the business handshake: AUTH, then SELECT -------------------------

    def handshake(self, protocol: RedisProtocol) -> Deferred[Any] | None:
        if self._steps is None:
            self.ready.append(protocol)
            return None
        d = self._steps(protocol)
        d.addCallback(lambda _: self.ready.append(protocol))
        return d

    def _auth(self, protocol: RedisProtocol) -> Deferred[Any]:
        credentials = [self.username] if self.username else []
        d = protocol.execute("AUTH", *credentials, self.password or "")
        return d.addErrback(_refused)

    def _select(self, protocol: RedisProtocol) -> Deferred[Any]:
        return protocol.execute("SELECT", self.db).addErrback(_refused)

    # -- commands, on any connected member ------------------------------------

    def execute(self, *args: bytes | str | int) -> Deferred[Any]:
        """
        Run a command on a connected member (round robin); while none is
        connected, wait for one. Fails with ``GaveUp`` once the factory has
        stopped (``giveUp()``, a kick, a wrong password).
        """
        if self.ready:
            member = self.ready[next(self._roundRobin) % len(self.ready)]
            return member.execute(*args)
        if self.status.state is ConnectionState.STOPPED:
            return fail(GaveUp(self.status.stopReason or "stopped"))
        return self.whenConnected().addCallback(lambda p: p.execute(*args))


def connectPool(
    reactor: Any, host: str, port: int, factory: RedisFactory, size: int
) -> list[Any]:
    """A pool: ``size`` connections of ONE factory (one ``connectTCP`` each)."""
    return [reactor.connectTCP(host, port, factory) for _ in range(size)]
