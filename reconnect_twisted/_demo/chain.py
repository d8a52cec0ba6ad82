"""
The dependency chain of the demo's scenario I: services A -> B -> C -> D on
loopback, each a server to the one before it and a reconnecting client of
the next (A is only a client, D only a server).

The line protocol, one service to the next:

=========================  ===================================================
downstream sends           upstream answers
=========================  ===================================================
``HELLO <name>``           ``WELCOME <name>`` once *its* upstream link is
                           CONNECTED (or it is the end of the chain), else
                           ``ERR upstream-down``: a service is ready only
                           when what it depends on is (the handshake fails,
                           the client retries)
``MSG <id> <path>``        relayed upstream with the relay's name added to
                           ``path``; the end answers ``ACK <id> <path>``,
                           relayed back down to every session; a relay whose
                           upstream is down answers ``NACK <id> <name>``
=========================  ===================================================

B and C are real relays: their server sessions and their client connection
are separate TCP connections, and nothing but the library reconnects them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IListeningPort, ITransport
from twisted.internet.protocol import ServerFactory, connectionDone
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from .. import (
    ConnectionState,
    FixedBackoff,
    HandshakeRejected,
    HandshakeSteps,
    ReconnectingFactory,
)

__all__ = ["ChainClientFactory", "ChainService", "Front"]


class _Lines(LineReceiver):
    delimiter = b"\r\n"

    def send(self, text: str) -> None:
        """Send one line."""
        cast(ITransport, self.transport).write(text.encode("utf-8") + self.delimiter)


class ChainServerProtocol(_Lines):
    """A downstream service's session on a :class:`ChainService`."""

    @property
    def service(self) -> ChainService:
        """The service this session belongs to."""
        return cast(_ChainServerFactory, self.factory).service

    def connectionMade(self) -> None:
        """Register the session."""
        self.service.sessions.append(self)
        self.service.accepted += 1

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Forget the session."""
        if self in self.service.sessions:
            self.service.sessions.remove(self)

    def lineReceived(self, line: bytes) -> None:
        """``HELLO`` or ``MSG`` (see the module docstring)."""
        command, _, rest = line.decode("utf-8", "replace").partition(" ")
        service = self.service
        if command == "HELLO":
            if service.ready():
                service.welcomed += 1
                self.send(f"WELCOME {service.name}")
            else:
                self.send("ERR upstream-down")
        elif command == "MSG":
            ident, _, path = rest.partition(" ")
            service.relayUp(ident, f"{path}>{service.name}", self)
        else:
            self.send("ERR unknown-command")


class _ChainServerFactory(ServerFactory):
    protocol = ChainServerProtocol

    def __init__(self, service: ChainService) -> None:
        self.service = service


class ChainClientProtocol(_Lines):
    """A service's connection to the next one; ``ACK``/``NACK`` go back down."""

    #: The handshake's request waiting for its reply line.
    reply: Deferred[str] | None = None

    def lineReceived(self, line: bytes) -> None:
        """A reply from upstream: the handshake's, or one to relay down."""
        text = line.decode("utf-8", "replace")
        factory = cast(ChainClientFactory, self.factory)
        if self.reply is not None:
            reply, self.reply = self.reply, None
            reply.callback(text)
        elif text.startswith(("ACK ", "NACK ")):
            factory.fromUpstream(text)

    def request(self, text: str) -> Deferred[str]:
        """Send ``text``; the Deferred fires with the next line."""
        self.reply = Deferred(lambda d: setattr(self, "reply", None))
        self.send(text)
        return self.reply

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Fail a handshake still waiting for its reply."""
        factory = cast(ChainClientFactory, self.factory)
        if factory.current is self:
            factory.current = None
        reply, self.reply = self.reply, None
        if reply is not None:
            reply.errback(reason)


def _hello(name: str) -> Callable[[ChainClientProtocol], Deferred[None]]:
    """The handshake: ``HELLO name``, expecting ``WELCOME``."""

    def hello(protocol: ChainClientProtocol) -> Deferred[None]:
        def check(reply: str) -> None:
            if not reply.startswith("WELCOME "):
                raise HandshakeRejected(
                    "upstream not ready" if reply == "ERR upstream-down" else reply
                )
            cast(ChainClientFactory, protocol.factory).current = protocol

        return protocol.request(f"HELLO {name}").addCallback(check)

    return hello


class ChainClientFactory(ReconnectingFactory):
    """
    A service's reconnecting client of the next service.

    :param name: the service it belongs to (said in ``HELLO``).
    :param onUpstream: called with each ``ACK``/``NACK`` line from upstream.
    :param interval: the retry interval (``FixedBackoff``), in seconds.
    :param kwargs: passed to :class:`~reconnect_twisted.ReconnectingFactory`.
    """

    protocol = ChainClientProtocol

    def __init__(
        self,
        name: str,
        onUpstream: Callable[[str], object],
        interval: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            backoff=FixedBackoff(interval),
            handshake=HandshakeSteps(("hello", _hello(name))),
            **kwargs,
        )
        self.name = name
        self.fromUpstream = onUpstream
        #: The connection whose handshake succeeded, until it is lost.
        self.current: ChainClientProtocol | None = None

    def connection(self) -> ChainClientProtocol | None:
        """The business-connected protocol, or ``None``."""
        if self.status.state is not ConnectionState.CONNECTED:
            return None
        return self.current

    def __repr__(self) -> str:
        return f"<ChainClientFactory of {self.name}>"


class ChainService:
    """
    One service of the chain: listens on ``127.0.0.1:port`` (0: pick one at
    the first start, kept across restarts) and, unless it is the end,
    relays to the next service through an :attr:`upstream` client, built by
    ``connectUpstream(service)`` at every start (a restart is a new process:
    a new client).

    :ivar sessions: the downstream sessions.
    :ivar delivered: at the end of the chain: the ``(id, path)`` received.
    """

    def __init__(
        self,
        reactor: Any,
        name: str,
        connectUpstream: Callable[[ChainService], ChainClientFactory] | None = None,
        port: int = 0,
    ) -> None:
        self.reactor = reactor
        self.name = name
        self.port = port
        self._connectUpstream = connectUpstream
        self.upstream: ChainClientFactory | None = None
        self.sessions: list[ChainServerProtocol] = []
        self.delivered: list[tuple[str, str]] = []
        self.accepted = 0
        self.welcomed = 0
        self.starts = 0
        self._listening: IListeningPort | None = None

    def ready(self) -> bool:
        """Whether downstream may log in: the end, or its upstream is up."""
        return self._connectUpstream is None or (
            self.upstream is not None
            and self.upstream.status.state is ConnectionState.CONNECTED
        )

    def start(self) -> int:
        """Listen, and connect upstream (a new client); return the port."""
        if self._listening is None:
            self._listening = self.reactor.listenTCP(
                self.port, _ChainServerFactory(self), interface="127.0.0.1"
            )
            self.port = cast(Any, self._listening.getHost()).port
            self.starts += 1
            if self._connectUpstream is not None:
                self.upstream = self._connectUpstream(self)
        return self.port

    def stop(self) -> Deferred[Any]:
        """
        Stop as a process would: stop listening, drop every session, give up
        the upstream client. Fires once all of it is closed.
        """
        waits: list[Deferred[Any]] = []
        listening, self._listening = self._listening, None
        if listening is not None:
            stopped = listening.stopListening()
            if isinstance(stopped, Deferred):
                waits.append(stopped)
        for session in list(self.sessions):
            cast(Any, session.transport).abortConnection()
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            waits.append(upstream.giveUp(f"{self.name} stopped"))
        return DeferredList(waits)

    def relayUp(self, ident: str, path: str, session: ChainServerProtocol) -> None:
        """A message from downstream: deliver it (the end) or pass it on."""
        if self._connectUpstream is None:
            self.delivered.append((ident, path))
            session.send(f"ACK {ident} {path}")
            return
        protocol = None if self.upstream is None else self.upstream.connection()
        if protocol is None:
            session.send(f"NACK {ident} {self.name}")
            return
        protocol.send(f"MSG {ident} {path}")

    def relayDown(self, line: str) -> None:
        """A reply from upstream: to every downstream session."""
        for session in list(self.sessions):
            session.send(line)


class Front:
    """
    Service A: only a client (of B); sends messages and collects replies.

    :ivar replies: ``{id: reply line}``.
    """

    def __init__(self) -> None:
        self.replies: dict[str, str] = {}
        self.waiting: dict[str, Deferred[str]] = {}
        self.sent = 0
        self.client: ChainClientFactory | None = None

    def received(self, line: str) -> None:
        """An ``ACK``/``NACK`` from B."""
        ident = line.split(" ", 2)[1]
        self.replies[ident] = line
        waiter = self.waiting.pop(ident, None)
        if waiter is not None:
            waiter.callback(line)

    def send(self) -> tuple[str, Deferred[str]] | None:
        """Send the next message now, if connected: its id and its reply."""
        protocol = None if self.client is None else self.client.connection()
        if protocol is None:
            return None
        self.sent += 1
        ident = str(self.sent)

        def forget(d: Deferred[str]) -> None:
            self.waiting.pop(ident, None)

        reply: Deferred[str] = Deferred(forget)
        self.waiting[ident] = reply
        protocol.send(f"MSG {ident} A")
        return ident, reply
