"""
Failover, outbox and heartbeat end to end: the real reactor, loopback
sockets, the demo's login server.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest_twisted
from twisted.internet import defer, endpoints, reactor
from twisted.internet.task import deferLater

from reconnect_twisted import (
    ConnectionState,
    FailoverEndpoint,
    FixedBackoff,
    HeartbeatTimeout,
    Outbox,
    ReconnectingService,
    connectFailover,
)
from reconnect_twisted._demo.client import (
    DemoClientFactory,
    HeartbeatLineClientProtocol,
)
from reconnect_twisted._demo.server import LoginServer, LoginServerFactory

S = ConnectionState
TIMEOUT = 10.0


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(factory: Any, predicate: Any) -> None:
    """Wait (bounded) until ``predicate(factory.status)``."""
    if predicate(factory.status):
        return
    d: defer.Deferred[None] = defer.Deferred()

    def observe(status: Any) -> None:
        if predicate(status) and not d.called:
            d.callback(None)

    remove = factory.addStatusObserver(observe)
    d.addTimeout(TIMEOUT, reactor)
    try:
        await d
    finally:
        remove()


def connected(status: Any) -> bool:
    return status.state is S.CONNECTED


def makeFactory(room: str | None = None, user: str = "alice") -> DemoClientFactory:
    return DemoClientFactory(
        user,
        "pw",
        room=room,
        clock=reactor,
        backoff=FixedBackoff(0.05),
        minDelay=0.01,
        minUptime=0.2,
        alertAfter=None,
    )


def startServer(port: int = 0) -> LoginServer:
    server = LoginServer(
        reactor, LoginServerFactory({"alice": "pw", "bob": "pw"}), port
    )
    server.start()
    return server


@pytest_twisted.ensureDeferred
async def test_failoverBothPaths() -> None:
    """
    When the first server is down, the client fails over to the second, on
    the connector path and the endpoint path; when the second goes away and
    the first comes up, it fails back.
    """
    deadPort = freePort()
    live = startServer()
    servers = [("127.0.0.1", deadPort), ("127.0.0.1", live.port)]

    viaConnector = makeFactory()
    connectFailover(reactor, servers, viaConnector)
    viaEndpoint = makeFactory(user="bob")  # (a second alice would be kicked)
    service = ReconnectingService(
        FailoverEndpoint(
            [endpoints.TCP4ClientEndpoint(reactor, h, p) for h, p in servers]
        ),
        viaEndpoint,
    )
    service.startService()
    for factory in (viaConnector, viaEndpoint):
        await until(factory, connected)
        assert factory.status.server == f"127.0.0.1:{live.port}"
    await live.stop()
    first = startServer(deadPort)
    for factory in (viaConnector, viaEndpoint):
        await until(
            factory, lambda s: connected(s) and s.server == f"127.0.0.1:{deadPort}"
        )
    assert first.factory.logins == 2
    await viaConnector.giveUp()
    await service.stopService()
    await first.stop()


@pytest_twisted.ensureDeferred
async def test_outboxDeliversAcrossDrops() -> None:
    """
    When items are put before the server is up and connections are dropped
    mid-flight, every item is acknowledged, in order, at least once.
    """
    port = freePort()
    factory = makeFactory(room="lobby")
    waiting: dict[str, defer.Deferred[None]] = {}
    echoes: list[str] = []

    def messageReceived(text: str) -> None:
        body = text.split(" ", 3)[3]
        echoes.append(body)
        d = waiting.pop(body, None)
        if d is not None:
            d.callback(None)

    factory.messages.append(messageReceived)

    def deliver(protocol: Any, item: str) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        waiting[item] = d
        protocol.send(f"SAY {item}")
        return d

    outbox = Outbox(factory, deliver, window=3)
    items = [f"m{i}" for i in range(30)]
    results = [outbox.put(item) for item in items]
    connectFailover(reactor, [("127.0.0.1", port)], factory)
    await deferLater(reactor, 0.1)
    server = startServer(port)
    for _ in range(2):
        await until(factory, connected)
        await deferLater(reactor, 0.005)
        await server.dropAll(abort=True)
    done = await defer.DeferredList(results, consumeErrors=True)
    assert all(ok for ok, _ in done)
    assert outbox.delivered == 30 and outbox.failed == 0 and outbox.queued == 0
    firstSeen = list(dict.fromkeys(echoes))
    assert firstSeen == items  # in order; duplicates only from resends
    assert len(echoes) - len(items) <= outbox.resent
    await factory.giveUp()
    await server.stop()


@pytest_twisted.ensureDeferred
async def test_heartbeatDetectsHungServer() -> None:
    """
    When the server hangs with its socket open, the heartbeat aborts the
    connection within interval + timeout and the client reconnects.
    """

    class Heartbeat(HeartbeatLineClientProtocol):
        heartbeatInterval = 0.2
        heartbeatTimeout = 0.2

    server = startServer()
    factory = makeFactory()
    factory.protocol = Heartbeat
    reactor.connectTCP("127.0.0.1", server.port, factory)
    await until(factory, connected)
    await deferLater(reactor, 0.3)  # a ping or two answered
    assert factory.status.state is S.CONNECTED
    hungAt = reactor.seconds()
    server.hangAll()
    await until(factory, lambda s: s.state is S.WAITING)
    detected = reactor.seconds() - hungAt
    assert factory.status.lastFailure is not None
    assert factory.status.lastFailure.check(HeartbeatTimeout)
    assert detected <= 0.4 + 0.2
    await until(factory, connected)
    assert server.factory.logins == 2
    await factory.giveUp()
    await server.stop()
