"""
Failover across servers (FailoverEndpoint, connectFailover) on both paths,
with task.Clock and the fakes.
"""

from __future__ import annotations

import math
import random
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.logger import LogEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import (
    ConnectionState,
    ExponentialBackoff,
    FailoverConnector,
    FailoverEndpoint,
    HandshakeRejected,
    ReconnectingFactory,
    ReconnectingService,
    connectFailover,
)
from reconnect_twisted.failover import ServerRotation
from reconnect_twisted.testing import FakeConnector, FakeEndpoint

S = ConnectionState
SERVERS = [("a", 1), ("b", 2), ("c", 3)]


class AppFactory(ReconnectingFactory):
    protocol = Protocol


class FakeTCPReactor:
    """``connectTCP`` makes a FakeConnector and starts it, as a reactor does."""

    def __init__(self, clock: Clock, attempts: list[str]) -> None:
        self.clock = clock
        self.attempts = attempts
        self.connectors: list[FakeConnector] = []

    def connectTCP(
        self,
        host: str,
        port: int,
        factory: Any,
        timeout: float = 30,
        bindAddress: Any = None,
    ) -> FakeConnector:
        connector = FakeConnector(factory, self.clock, IPv4Address("TCP", host, port))
        self.connectors.append(connector)
        self.attempts.append(f"{host}:{port}")
        connector.connect()
        return connector


class RecordingEndpoint(FakeEndpoint):
    def __init__(self, clock: Clock, host: str, port: int, attempts: list[str]):
        super().__init__(clock, IPv4Address("TCP", host, port))
        self.attemptLog = attempts

    def connect(self, protocolFactory: Any) -> Deferred[Any]:
        self.attemptLog.append(f"{self.address.host}:{self.address.port}")  # type: ignore[attr-defined]
        return super().connect(protocolFactory)


class Harness:
    """One factory over SERVERS, on the connector or the endpoint path."""

    def __init__(self, path: str, factory: ReconnectingFactory, **options: Any):
        self.path = path
        self.factory = factory
        self.clock: Clock = factory.clock  # type: ignore[assignment]
        self.attempts: list[str] = []
        if path == "connector":
            self.reactor = FakeTCPReactor(self.clock, self.attempts)
            self.connector = connectFailover(self.reactor, SERVERS, factory, **options)
        else:
            self.endpoints = [
                RecordingEndpoint(self.clock, host, port, self.attempts)
                for host, port in SERVERS
            ]
            self.endpoint = FailoverEndpoint(self.endpoints, **options)
            self.service = ReconnectingService(self.endpoint, factory)
            self.service.startService()

    def _current(self) -> Any:
        if self.path == "connector":
            return self.reactor.connectors[-1]
        last = self.attempts[-1]
        return next(
            e
            for e in self.endpoints
            if f"{e.address.host}:{e.address.port}" == last  # type: ignore[attr-defined]
        )

    def fail(self) -> None:
        self._current().fail()

    def succeed(self) -> Any:
        return self._current().succeed()

    def drop(self) -> None:
        self._current().drop()

    def finish(self, case: SynchronousTestCase) -> None:
        self.factory.giveUp("test over")
        self.clock.advance(10)
        case.assertEqual(self.clock.getDelayedCalls(), [])


def makeFactory(**kwargs: Any) -> AppFactory:
    kwargs.setdefault("backoff", ExponentialBackoff(jitter=0.0))
    kwargs.setdefault("minUptime", 0.0)
    kwargs.setdefault("alertAfter", None)
    return AppFactory(clock=Clock(), **kwargs)


class FailoverTestsMixin:
    path: str

    def harness(
        self, factory: ReconnectingFactory | None = None, **options: Any
    ) -> Harness:
        return Harness(self.path, factory or makeFactory(), **options)

    def failPass(self, h: Harness, count: int = 3) -> None:
        """Fail ``count`` attempts, advancing by minDelay between them."""
        for i in range(count):
            h.fail()
            if i < count - 1:
                h.clock.advance(0.1)

    def test_stickyOneBackoffStepPerPass(self: Any) -> None:
        """
        When every server refuses, a pass tries a, b, c minDelay apart and
        counts as one backoff step: the delays between passes are 2, 4, 8.
        """
        h = self.harness()
        times: list[tuple[str, float]] = []
        for _ in range(3):
            for _ in range(3):
                times.append((h.attempts[-1], round(h.clock.seconds(), 6)))
                h.fail()
                status = h.factory.status
                h.clock.advance(status.nextAttemptAt - h.clock.seconds())  # type: ignore[operator]
        self.assertEqual(
            times,
            [
                ("a:1", 0.0),
                ("b:2", 0.1),
                ("c:3", 0.2),
                ("a:1", 2.2),
                ("b:2", 2.3),
                ("c:3", 2.4),
                ("a:1", 6.4),
                ("b:2", 6.5),
                ("c:3", 6.6),
            ],
        )
        self.assertEqual(h.factory.status.attempt, 3)
        self.assertEqual(h.attempts[-1], "a:1")  # the fourth pass began at 14.6
        self.assertEqual(h.clock.seconds(), 14.6)
        h.finish(self)

    def test_attemptCountsPasses(self: Any) -> None:
        """When a pass is under way, status.attempt counts finished passes."""
        h = self.harness()
        h.fail()
        self.assertEqual(
            (h.factory.status.attempt, h.factory.status.nextAttemptAt), (0, 0.1)
        )
        h.clock.advance(0.1)
        h.fail()
        h.clock.advance(0.1)
        h.fail()
        self.assertEqual(
            (h.factory.status.attempt, h.factory.status.nextAttemptAt), (1, 2.2)
        )
        h.finish(self)

    def test_stickyStaysOnServerThatWorked(self: Any) -> None:
        """
        When b worked and its connection is lost, sticky starts the next
        pass at b (after one backoff delay), then c, then a.
        """
        h = self.harness()
        h.fail()
        h.clock.advance(0.1)
        h.succeed()
        self.assertEqual(h.factory.status.state, S.CONNECTED)
        self.assertEqual(h.factory.status.server, "b:2")
        h.clock.advance(1)
        h.drop()
        self.assertEqual(h.factory.status.nextAttemptAt, 3.1)
        h.clock.advance(2)
        self.failPass(h)
        self.assertEqual(h.attempts, ["a:1", "b:2", "b:2", "c:3", "a:1"])
        self.assertEqual(round(h.factory.status.nextAttemptAt or 0, 6), 7.3)
        h.finish(self)

    def test_roundRobinMovesOn(self: Any) -> None:
        """
        When b worked and its connection is lost, round-robin starts the
        next pass at c.
        """
        h = self.harness(strategy="round-robin")
        h.fail()
        h.clock.advance(0.1)
        h.succeed()
        h.drop()
        h.clock.advance(2)
        self.failPass(h)
        h.clock.advance(4)
        self.assertEqual(h.attempts, ["a:1", "b:2", "c:3", "a:1", "b:2", "c:3"])
        h.finish(self)

    def test_randomSeeded(self: Any) -> None:
        """When random, each pass is a shuffle drawn from the given rng."""
        h = self.harness(strategy="random", rng=random.Random(7))
        self.failPass(h)
        h.clock.advance(2)
        self.failPass(h)
        h.clock.advance(4)
        expected = random.Random(7)
        names = ["a:1", "b:2", "c:3"]
        orders: list[str] = []
        for _ in range(3):
            order = [0, 1, 2]
            expected.shuffle(order)
            orders.extend(names[i] for i in order)
        self.assertEqual(h.attempts, orders[:7])
        h.finish(self)

    def test_statusAndLogsNameTheServer(self: Any) -> None:
        """When failing over, status.server and the logs name each server."""
        events: list[LogEvent] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        h = self.harness()
        seen: list[tuple[str, str | None]] = []
        h.factory.addStatusObserver(lambda s: seen.append((s.state.name, s.server)))
        h.fail()
        h.clock.advance(0.1)
        h.succeed()
        self.assertEqual(
            seen,
            [
                ("WAITING", "b:2"),
                ("CONNECTING", "b:2"),
                ("HANDSHAKING", "b:2"),
                ("CONNECTED", "b:2"),
            ],
        )
        failed = [e for e in events if e.get("log_format", "").startswith("Attempt to")]
        self.assertEqual([(e["target"], e["server"]) for e in failed], [("a:1", "b:2")])
        connected = [
            e for e in events if e.get("log_format") == "Connected to {target}"
        ]
        self.assertEqual([e["target"] for e in connected], ["b:2"])
        h.finish(self)

    def test_permanentRejectionSkipsServer(self: Any) -> None:
        """
        When a rejects the handshake permanently, the factory does not stop:
        b and c are tried, and the next pass skips a.
        """

        def handshake(protocol: Any) -> None:
            if protocol.transport.getPeer().host == "a":
                raise HandshakeRejected("bad password", permanent=True)

        h = self.harness(makeFactory(handshake=handshake))
        h.succeed()
        self.assertEqual(h.factory.status.state, S.WAITING)
        h.clock.advance(0.1)
        h.fail()
        h.clock.advance(0.1)
        h.fail()
        self.assertEqual(h.factory.status.state, S.WAITING)
        h.clock.advance(2)
        h.fail()
        h.clock.advance(0.1)
        h.fail()
        h.clock.advance(4)
        self.assertEqual(h.attempts, ["a:1", "b:2", "c:3", "b:2", "c:3", "b:2"])
        h.finish(self)

    def test_everyServerRejects(self: Any) -> None:
        """When every server rejects permanently, the policy's GiveUp stands."""

        def handshake(protocol: Any) -> None:
            raise HandshakeRejected("bad password", permanent=True)

        h = self.harness(makeFactory(handshake=handshake))
        h.succeed()
        h.clock.advance(0.1)
        h.succeed()
        self.assertEqual(h.factory.status.state, S.WAITING)
        h.clock.advance(0.1)
        h.succeed()
        status = h.factory.status
        self.assertEqual(status.state, S.STOPPED)
        self.assertEqual(
            status.stopReason, "gave up: handshake permanently rejected: bad password"
        )
        self.assertEqual(h.attempts, ["a:1", "b:2", "c:3"])
        h.finish(self)

    def test_kickStopsAtOnce(self: Any) -> None:
        """When a server kicks us, no other server is tried."""
        h = self.harness()
        h.succeed()
        h.factory.kicked("same account logged in elsewhere")
        h.clock.advance(10)
        self.assertEqual(h.factory.status.state, S.STOPPED)
        self.assertEqual(h.attempts, ["a:1"])
        h.finish(self)

    def test_retryHintEndsPassLater(self: Any) -> None:
        """
        When a says "retry later (30 s)" during the handshake, b is tried at
        once (minDelay), and the pass ends no sooner than the hint.
        """
        waiting: Deferred[None] = Deferred()
        h = self.harness(makeFactory(handshake=lambda p: waiting))
        h.succeed()
        h.factory.retryLater("busy", 30.0)
        h.clock.advance(0.1)
        self.assertEqual(h.attempts, ["a:1", "b:2"])
        h.fail()
        h.clock.advance(0.1)
        h.fail()
        self.assertEqual(h.factory.status.nextAttemptAt, 30.2)
        h.finish(self)

    def test_retryHintWhileConnectedMovesOn(self: Any) -> None:
        """
        When the server in use says "retry later (30 s)" while connected, b
        and c are tried at once (minDelay apart, a left out of that pass);
        if they refuse, the pass ends no sooner than the hint and the next
        one begins at a (sticky); attempt counts that one pass.
        """
        h = self.harness()
        h.succeed()
        h.factory.retryLater("maintenance", 30.0)
        h.clock.advance(0)  # (the close completes)
        self.assertEqual(h.factory.status.nextAttemptAt, 0.1)
        h.clock.advance(0.1)
        self.assertEqual(h.attempts, ["a:1", "b:2"])
        h.fail()
        self.assertEqual(h.factory.status.attempt, 0)
        h.clock.advance(0.1)
        self.assertEqual(h.attempts, ["a:1", "b:2", "c:3"])
        h.fail()
        status = h.factory.status
        self.assertEqual((status.attempt, status.nextAttemptAt), (1, 30.2))
        h.clock.advance(30.0)
        self.assertEqual(h.attempts, ["a:1", "b:2", "c:3", "a:1"])
        h.succeed()
        self.assertEqual(h.factory.status.state, S.CONNECTED)
        h.finish(self)

    def test_retryHintWhileConnectedOtherServerWorks(self: Any) -> None:
        """
        When a says "retry later" while connected and b accepts, the client
        is connected to b within minDelay, not after the hint.
        """
        h = self.harness()
        h.succeed()
        h.factory.retryLater("maintenance", 30.0)
        h.clock.advance(0)
        h.clock.advance(0.1)
        h.succeed()
        status = h.factory.status
        self.assertEqual((status.state, status.server, h.clock.seconds()),
                         (S.CONNECTED, "b:2", 0.1))
        h.finish(self)

    def test_maxRetriesCountsPasses(self: Any) -> None:
        """When maxRetries is 1, two full passes are made before stopping."""
        factory = makeFactory()
        factory.maxRetries = 1
        h = self.harness(factory)
        self.failPass(h)
        h.clock.advance(2)
        self.failPass(h)
        self.assertEqual(h.factory.status.state, S.STOPPED)
        self.assertEqual(len(h.attempts), 6)
        h.finish(self)


class ConnectorPathTests(FailoverTestsMixin, SynchronousTestCase):
    path = "connector"

    def test_connectorReportsItself(self) -> None:
        """When connectFailover is used, factory.connector is the failover one."""
        h = self.harness()
        self.assertIs(h.factory.connector, h.connector)
        self.assertEqual(h.connector.server, "a:1")
        self.assertEqual(h.connector.state, "connecting")
        h.finish(self)


class RecordingTCPReactor(FakeTCPReactor):
    """A FakeTCPReactor that records the timeout each connectTCP gets."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock, [])
        self.timeouts: list[float | None] = []

    def connectTCP(
        self,
        host: str,
        port: int,
        factory: Any,
        timeout: float | None = 30,
        bindAddress: Any = None,
    ) -> FakeConnector:
        self.timeouts.append(timeout)
        return super().connectTCP(host, port, factory, 30, bindAddress)


class ConnectorArgumentTests(SynchronousTestCase):
    """connectFailover checks timeout and servers before connecting."""

    def assertRefused(
        self, kind: type[Exception], message: str, servers: Any = SERVERS, **kw: Any
    ) -> None:
        reactor = RecordingTCPReactor(Clock())
        factory = makeFactory()
        with self.assertRaises(kind) as e:
            connectFailover(reactor, servers, factory, **kw)
        self.assertEqual(str(e.exception), message)
        self.assertEqual(reactor.attempts, [])  # no real connector was made
        self.assertEqual(reactor.connectors, [])
        self.assertEqual(factory.status.state, S.IDLE)
        self.assertEqual(factory.clock.getDelayedCalls(), [])  # type: ignore[attr-defined]

    def test_badTimeout(self) -> None:
        """
        When timeout is negative, NaN, infinite, a str or a bool, the error
        names timeout and nothing is connected.
        """
        for value, kind, message in [
            (-1, ValueError, "timeout must be a finite number > 0, not -1"),
            (0, ValueError, "timeout must be a finite number > 0, not 0"),
            (math.nan, ValueError, "timeout must be a finite number > 0, not nan"),
            (math.inf, ValueError, "timeout must be a finite number > 0, not inf"),
            ("30", TypeError, "timeout must be a number of seconds, not '30'"),
            (True, TypeError, "timeout must be a number of seconds, not True"),
        ]:
            self.assertRefused(kind, message, timeout=value)
        self.assertRaises(
            ValueError, FailoverConnector, None, SERVERS, makeFactory(), timeout=-1
        )

    def test_goodTimeout(self) -> None:
        """
        When timeout is an int or None (no connect timeout), each real
        connector gets it, as a float or None.
        """
        for value, expected in [(5, 5.0), (None, None), (0.5, 0.5)]:
            factory = makeFactory()
            reactor = RecordingTCPReactor(factory.clock)  # type: ignore[arg-type]
            connector = connectFailover(reactor, SERVERS, factory, timeout=value)
            self.assertEqual(connector.timeout, expected)
            reactor.connectors[-1].fail()
            factory.clock.advance(0.1)  # type: ignore[attr-defined]
            self.assertEqual(reactor.timeouts, [expected, expected])
            self.assertEqual(reactor.attempts, ["a:1", "b:2"])
            factory.giveUp("test over")
            factory.clock.advance(10)  # type: ignore[attr-defined]
            self.assertEqual(factory.clock.getDelayedCalls(), [])  # type: ignore[attr-defined]

    def test_noEndpoints(self) -> None:
        """When FailoverEndpoint gets no endpoint, ValueError names endpoints."""
        from reconnect_twisted.failover import FailoverEndpoint

        with self.assertRaises(ValueError) as raised:
            FailoverEndpoint([])
        self.assertEqual(
            str(raised.exception), "endpoints: at least one endpoint is needed"
        )

    def test_badServers(self) -> None:
        """
        When a server is not a (str, int) pair with a port in [1, 65535],
        the error names servers and which server; nothing is connected.
        """
        for servers, kind, message in [
            ([], ValueError, "servers: at least one server is needed"),
            (
                "a:1",
                TypeError,
                "servers must be a list of (host, port) pairs, not 'a:1'",
            ),
            (
                [("a", 1), ("b",)],
                TypeError,
                "servers: server 2 must be a (host, port) pair, not ('b',)",
            ),
            (
                [(b"a", 1)],
                TypeError,
                "servers: the host of server 1 must be a str, not b'a'",
            ),
            ([("", 1)], ValueError, "servers: the host of server 1 is empty"),
            (
                [("a", "7000")],
                TypeError,
                "servers: the port of server 1 must be an int, not '7000'",
            ),
            (
                [("a", True)],
                TypeError,
                "servers: the port of server 1 must be an int, not True",
            ),
            (
                [("a", 1), ("b", 70000)],
                ValueError,
                "servers: the port of server 2 must be in [1, 65535], not 70000",
            ),
            (
                [("a", 0)],
                ValueError,
                "servers: the port of server 1 must be in [1, 65535], not 0",
            ),
        ]:
            self.assertRefused(kind, message, servers)

    def test_serversAsLists(self) -> None:
        """When servers are [host, port] lists, they are taken as pairs."""
        connector = FailoverConnector(None, [["a", 1], ["b", 65535]], makeFactory())
        self.assertEqual(connector.servers, [("a", 1), ("b", 65535)])
        self.assertEqual(connector.failoverRotation.names, ["a:1", "b:65535"])


class EndpointPathTests(FailoverTestsMixin, SynchronousTestCase):
    path = "endpoint"

    def test_badEndpoint(self) -> None:
        """When an endpoint is not one, TypeError."""
        self.assertRaises(TypeError, FailoverEndpoint, [object()])


class RotationTests(SynchronousTestCase):
    def test_invalid(self) -> None:
        """When the list is empty or the strategy unknown, ValueError."""
        self.assertRaises(ValueError, ServerRotation, [])
        error = self.assertRaises(ValueError, ServerRotation, ["a"], "nearest")
        self.assertIn("strategy", str(error))

    def test_passOrder(self) -> None:
        """When created sticky, the pass order is the list order."""
        rotation = ServerRotation(["a", "b", "c"])
        self.assertEqual(rotation.passOrder(), ["a", "b", "c"])
        self.assertIsNone(
            rotation.attemptEnded(Failure(ValueError()), _reconnect(), False)
        )
        self.assertEqual(rotation.describe(), "b")


def _reconnect() -> Any:
    from reconnect_twisted import Reconnect

    return Reconnect()
