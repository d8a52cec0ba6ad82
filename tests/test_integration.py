"""
Real-reactor integration tests on loopback: the same scenarios with real TCP
(and TLS) sockets, a server that is stopped and restarted.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, endpoints, reactor
from twisted.internet.protocol import Factory
from twisted.internet.task import deferLater
from twisted.protocols.basic import LineReceiver

from reconnect_twisted import (
    ConnectionState,
    FixedBackoff,
    HandshakeRejected,
    ReconnectingFactory,
    ReconnectingService,
)

S = ConnectionState
TIMEOUT = 10.0


class LoginServerProtocol(LineReceiver):
    """Answers ``LOGIN user password`` with OK or ERR."""

    delimiter = b"\n"
    factory: LoginServerFactory

    def connectionMade(self) -> None:
        self.factory.connections.append(self)

    def connectionLost(self, reason: Any = None) -> None:
        if self in self.factory.connections:
            self.factory.connections.remove(self)

    def lineReceived(self, line: bytes) -> None:
        parts = line.split()
        if parts[:1] == [b"LOGIN"] and parts[2:] == [b"s3cret"]:
            self.factory.logins += 1
            self.sendLine(b"OK")
        else:
            self.sendLine(b"ERR bad password")


class LoginServerFactory(Factory):
    protocol = LoginServerProtocol

    def __init__(self) -> None:
        self.connections: list[LoginServerProtocol] = []
        self.logins = 0


class LoginClient(LineReceiver):
    delimiter = b"\n"

    def connectionMade(self) -> None:
        self.answer: defer.Deferred[bytes] = defer.Deferred()

    def lineReceived(self, line: bytes) -> None:
        answer, self.answer = self.answer, defer.Deferred()
        answer.callback(line)


class LoginFactory(ReconnectingFactory):
    protocol = LoginClient
    password = "s3cret"

    async def handshake(self, protocol: Any) -> None:
        protocol.sendLine(b"LOGIN alice " + self.password.encode())
        line = await protocol.answer
        if line != b"OK":
            raise HandshakeRejected(line.decode(), permanent=True)


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(factory: ReconnectingFactory, state: ConnectionState) -> None:
    """Wait (bounded) for ``factory`` to reach ``state``."""
    if factory.status.state is state:
        return
    d: defer.Deferred[None] = defer.Deferred()

    def observe(status: Any) -> None:
        if status.state is state and not d.called:
            d.callback(None)

    remove = factory.addStatusObserver(observe)
    d.addTimeout(TIMEOUT, reactor)
    try:
        await d
    finally:
        remove()


async def stopServer(port: Any, server: LoginServerFactory) -> None:
    for connection in list(server.connections):
        connection.transport.abortConnection()
    await port.stopListening()


def makeFactory() -> LoginFactory:
    return LoginFactory(
        clock=reactor, backoff=FixedBackoff(0.05), minUptime=0.2, alertAfter=None
    )


@pytest_twisted.ensureDeferred
async def test_serverStartedLaterAndRestarted() -> None:
    """When B starts after A and is restarted, A connects and reconnects."""
    port = freePort()
    factory = makeFactory()
    connector = reactor.connectTCP("127.0.0.1", port, factory)
    await until(factory, S.WAITING)  # A keeps trying: connection refused
    await until(factory, S.CONNECTING)
    await until(factory, S.WAITING)
    assert factory.status.attempt >= 2
    server = LoginServerFactory()
    listening = reactor.listenTCP(port, server, interface="127.0.0.1")
    await until(factory, S.CONNECTED)
    first = await factory.whenConnected()
    assert isinstance(first, LoginClient)
    assert server.logins == 1
    for restart in range(2):  # B upgraded and restarted, twice
        await stopServer(listening, server)
        await until(factory, S.WAITING)
        listening = reactor.listenTCP(port, server, interface="127.0.0.1")
        await until(factory, S.CONNECTED)
        assert server.logins == 2 + restart
    again = await factory.whenConnected()
    assert again is not first
    await factory.giveUp()
    assert factory.status.state is S.STOPPED
    assert again.transport.disconnected  # the socket is closed
    await deferLater(reactor, 0)
    assert connector.state == "disconnected"
    await stopServer(listening, server)


@pytest_twisted.ensureDeferred
async def test_wrongPasswordGivesUp() -> None:
    """When the server rejects the password, the client stops for good."""
    server = LoginServerFactory()
    listening = reactor.listenTCP(0, server, interface="127.0.0.1")
    factory = makeFactory()
    factory.password = "wrong"
    waiter = factory.whenConnected()
    reactor.connectTCP("127.0.0.1", listening.getHost().port, factory)
    await until(factory, S.STOPPED)
    assert "bad password" in (factory.status.stopReason or "")
    with pytest.raises(Exception, match="bad password"):
        await waiter
    await factory.giveUp()
    await stopServer(listening, server)


@pytest_twisted.ensureDeferred
async def test_endpointPathKicked() -> None:
    """When the server kicks the session over an endpoint, no reconnect."""
    server = LoginServerFactory()
    listening = reactor.listenTCP(0, server, interface="127.0.0.1")
    factory = makeFactory()
    endpoint = endpoints.TCP4ClientEndpoint(
        reactor, "127.0.0.1", listening.getHost().port
    )
    service = ReconnectingService(endpoint, factory)
    service.startService()
    protocol = await service.whenConnected()
    factory.kicked("same account logged in elsewhere")
    assert factory.status.state is S.STOPPED
    await until(factory, S.STOPPED)
    d: defer.Deferred[None] = defer.Deferred()
    reactor.callLater(0.3, d.callback, None)
    await d
    assert server.logins == 1  # no further attempt
    assert protocol.transport.disconnected
    await service.stopService()
    await stopServer(listening, server)


@pytest_twisted.ensureDeferred
async def test_endpointServiceRestart() -> None:
    """When the server restarts, the service's factory reconnects."""
    server = LoginServerFactory()
    listening = reactor.listenTCP(0, server, interface="127.0.0.1")
    port = listening.getHost().port
    factory = makeFactory()
    endpoint = endpoints.clientFromString(reactor, f"tcp:127.0.0.1:{port}")
    service = ReconnectingService(endpoint, factory)
    service.startService()
    await until(factory, S.CONNECTED)
    await stopServer(listening, server)
    await until(factory, S.WAITING)
    listening = reactor.listenTCP(port, server, interface="127.0.0.1")
    await until(factory, S.CONNECTED)
    assert server.logins == 2
    protocol = await factory.whenConnected()
    await service.stopService()
    assert protocol.transport.disconnected  # closed before stopService fired
    assert factory.status.state is S.STOPPED
    await stopServer(listening, server)


@pytest_twisted.ensureDeferred
async def test_connectTCPWhileNetworkDown() -> None:
    """
    When reactor.connectTCP() starts a factory whose monitor already says
    the network is down, the real connector's attempt is cancelled with
    nothing logged as a failure and no attempt counted (OFFLINE); when the
    network comes back, it connects and logs in.
    """
    from twisted.logger import globalLogPublisher

    from reconnect_twisted import ManualNetworkMonitor

    errors: list[dict[str, Any]] = []

    def observe(event: dict[str, Any]) -> None:
        if event.get("log_failure") is not None or event.get("isError"):
            errors.append(event)

    globalLogPublisher.addObserver(observe)
    server = LoginServerFactory()
    listening = reactor.listenTCP(0, server, interface="127.0.0.1")
    monitor = ManualNetworkMonitor(isUp=False)
    factory = LoginFactory(
        clock=reactor,
        backoff=FixedBackoff(0.05),
        minUptime=0.2,
        alertAfter=None,
        networkMonitor=monitor,
        networkUpJitter=0.05,
    )
    try:
        connector = reactor.connectTCP("127.0.0.1", listening.getHost().port, factory)
        assert (factory.status.state, factory.status.attempt) == (S.OFFLINE, 0)
        await deferLater(reactor, 0.1)  # whatever the cancelled attempt left runs
        assert (factory.status.state, factory.status.attempt) == (S.OFFLINE, 0)
        assert (connector.state, server.logins) == ("disconnected", 0)
        monitor.setUp(True)
        await until(factory, S.CONNECTED)
        assert (server.logins, factory.status.attempt) == (1, 0)
        await factory.giveUp()
        await deferLater(reactor, 0)
        assert connector.state == "disconnected"
    finally:
        globalLogPublisher.removeObserver(observe)
        await stopServer(listening, server)
    assert errors == []
