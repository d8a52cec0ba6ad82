"""
The fakes of :mod:`reconnect_twisted.testing` behave like the Twisted
objects an application's tests stand them in for: an abort is reported as
``ConnectionAborted``, and the factory is started and stopped around each
attempt (``doStart``/``doStop``, so ``startFactory``/``stopFactory``), as
Twisted's connectors and TCP endpoints do.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import error
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import (
    ConnectionState,
    FixedBackoff,
    ReconnectingFactory,
    ReconnectingService,
)
from reconnect_twisted.testing import FakeConnector, FakeEndpoint, FakeTransport

S = ConnectionState


class LosingProtocol(Protocol):
    def __init__(self) -> None:
        self.reasons: list[Failure] = []

    def connectionLost(self, reason: Failure = error.ConnectionDone) -> None:  # type: ignore[assignment]
        self.reasons.append(reason)


class LifetimeFactory(ReconnectingFactory):
    """Records its startFactory/stopFactory calls."""

    protocol = LosingProtocol

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.calls: list[str] = []

    def startFactory(self) -> None:
        self.calls.append("start")

    def stopFactory(self) -> None:
        self.calls.append("stop")


class FakeTransportTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.closes: list[Failure] = []
        self.transport = FakeTransport(self.clock, self.closes.append)

    def test_abortReportsConnectionAborted(self) -> None:
        """
        When the protocol aborts, the close comes on the next turn as
        ConnectionAborted, and the transport reads disconnected (as
        StringTransport's abort sets it).
        """
        self.transport.abortConnection()
        self.assertEqual(
            (self.transport.disconnecting, self.transport.disconnected), (True, True)
        )
        self.assertEqual(self.closes, [])
        self.clock.advance(0)
        self.assertEqual([f.type for f in self.closes], [error.ConnectionAborted])

    def test_loseReportsConnectionDone(self) -> None:
        """When the protocol closes cleanly, the close is ConnectionDone."""
        self.transport.loseConnection()
        self.clock.advance(0)
        self.assertEqual([f.type for f in self.closes], [error.ConnectionDone])
        self.assertFalse(self.transport.disconnected)

    def test_abortOvertakesPendingCleanClose(self) -> None:
        """
        When an abort follows a loseConnection whose close is still pending,
        one close is reported, as ConnectionAborted (a TCP transport's abort
        overtakes its clean close).
        """
        self.transport.loseConnection()
        self.transport.abortConnection()
        self.transport.loseConnection()
        self.clock.advance(0)
        self.assertEqual([f.type for f in self.closes], [error.ConnectionAborted])
        self.assertEqual(self.clock.getDelayedCalls(), [])


class FactoryLifetimeTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()

    def make(self) -> LifetimeFactory:
        return LifetimeFactory(
            clock=self.clock, backoff=FixedBackoff(3.0), alertAfter=None, minUptime=0.0
        )

    def test_connectorStartsAndStopsTheFactoryPerAttempt(self) -> None:
        """
        When a FakeConnector's attempt fails, or its connection is lost and
        the factory retries later, the factory was started for it and is
        stopped after it, as a Twisted connector does: start, stop per
        attempt; a failed attempt that the factory retries at once would
        keep it started.
        """
        factory = self.make()
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        self.assertEqual((factory.calls, factory.numPorts), (["start"], 1))
        connector.fail()
        self.assertEqual((factory.calls, factory.numPorts), (["start", "stop"], 0))
        self.clock.advance(3.0)
        connector.succeed()
        self.assertEqual(factory.calls, ["start", "stop", "start"])
        connector.drop()
        self.assertEqual((factory.calls, factory.numPorts), (["start", "stop"] * 2, 0))
        factory.giveUp()
        self.clock.advance(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_abortedConnectionReportsAborted(self) -> None:
        """
        When the factory aborts a connection (giveUp() after a stuck close,
        here abortConnection() by hand), the protocol's connectionLost and
        the status's lastFailure get ConnectionAborted, as on a real
        transport.
        """
        factory = self.make()
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        protocol = connector.succeed()
        protocol.transport.abortConnection()
        self.clock.advance(0)
        self.assertEqual([f.type for f in protocol.reasons], [error.ConnectionAborted])
        lastFailure = factory.status.lastFailure
        assert lastFailure is not None
        self.assertIs(lastFailure.type, error.ConnectionAborted)
        self.assertEqual(factory.status.state, S.WAITING)
        factory.giveUp()
        self.clock.advance(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_endpointStartsAndStopsTheFactoryPerAttempt(self) -> None:
        """
        When a ReconnectingService's FakeEndpoint attempt fails, is
        cancelled, or its connection is lost, the application's factory is
        started before and stopped after each, as through a TCP endpoint.
        """
        factory = self.make()
        endpoint = FakeEndpoint(self.clock)
        service = ReconnectingService(endpoint, factory)
        service.startService()
        self.assertEqual(factory.calls, ["start"])
        endpoint.fail()
        self.assertEqual(factory.calls, ["start", "stop"])
        self.clock.advance(3.0)
        endpoint.succeed()
        endpoint.drop()
        self.assertEqual(factory.calls, ["start", "stop"] * 2)
        self.clock.advance(3.0)
        self.assertEqual(endpoint.state, "connecting")
        service.stopService()  # cancels the attempt in flight
        self.clock.advance(0)
        self.assertEqual(factory.calls, ["start", "stop"] * 3)
        self.assertEqual(endpoint.cancelled, 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_plainFactoryOnEndpoint(self) -> None:
        """A plain Factory on a FakeEndpoint is started and stopped too."""
        endpoint = FakeEndpoint(self.clock)
        factory = Factory.forProtocol(Protocol)
        d = endpoint.connect(factory)
        self.assertEqual(factory.numPorts, 1)
        endpoint.fail()
        self.assertEqual(factory.numPorts, 0)
        self.failureResultOf(d, error.ConnectionRefusedError)
