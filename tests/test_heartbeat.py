"""
HeartbeatMixin: pings after the handshake, aborts a hung connection with
HeartbeatTimeout within interval + timeout, leaves no timer behind.
"""

from __future__ import annotations

import math
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import (
    ConnectionState,
    FixedBackoff,
    HandshakeRejected,
    HeartbeatTimeout,
    ReconnectingFactory,
    ReconnectingService,
)
from reconnect_twisted.heartbeat import HeartbeatMixin
from reconnect_twisted.testing import FakeConnector, FakeEndpoint

S = ConnectionState


class PingProtocol(HeartbeatMixin, Protocol):
    heartbeatInterval = 5.0
    heartbeatTimeout = 2.0

    def __init__(self) -> None:
        self.pings: list[float] = []
        self.lost: list[Failure] = []

    def sendPing(self) -> None:
        self.pings.append(self.factory.clock.seconds())  # type: ignore[union-attr]
        self.transport.write(b"PING")  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        if data == b"PONG":
            self.pongReceived()

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        super().connectionLost(reason)
        self.lost.append(reason)


class PongOnlyProtocol(PingProtocol):
    heartbeatAnyData = False


class AppFactory(ReconnectingFactory):
    protocol = PingProtocol


class HeartbeatTestsMixin:
    path: str

    def setUp(self) -> None:
        self.clock = Clock()
        self.handshake: Deferred[None] | None = None
        self.factory = AppFactory(
            clock=self.clock,
            backoff=FixedBackoff(3.0),
            minUptime=0.0,
            alertAfter=None,
            handshake=self._handshake,
        )

    def _handshake(self, protocol: Any) -> Deferred[None]:
        self.handshake = Deferred()
        return self.handshake

    def connect(self, login: bool = True) -> Any:
        if self.path == "connector":
            self.driver: Any = FakeConnector(self.factory, self.clock)
            self.driver.connect()
        else:
            self.driver = FakeEndpoint(self.clock)
            ReconnectingService(self.driver, self.factory).startService()
        protocol = self.driver.succeed()
        if login:
            assert self.handshake is not None
            self.handshake.callback(None)
        return protocol

    def finish(self: Any) -> None:
        self.factory.giveUp("test over")
        self.clock.advance(10)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_startsAfterHandshake(self: Any) -> None:
        """When the handshake is running, no ping; once CONNECTED, it starts."""
        protocol = self.connect(login=False)
        self.assertFalse(protocol.heartbeatRunning)
        self.clock.advance(20)
        self.assertEqual(protocol.pings, [])
        assert self.handshake is not None
        self.handshake.callback(None)
        self.assertTrue(protocol.heartbeatRunning)
        self.clock.advance(5)
        self.assertEqual(protocol.pings, [25.0])
        self.finish()

    def test_hungPeerDetected(self: Any) -> None:
        """
        When the peer never answers, the connection is aborted interval +
        timeout after the last sign of life, and the factory sees a
        HeartbeatTimeout and schedules a retry.
        """
        protocol = self.connect()
        self.clock.advance(5)
        self.assertEqual(protocol.pings, [5.0])
        self.assertEqual(protocol.transport.value(), b"PING")
        self.clock.advance(1.999)
        self.assertEqual(self.factory.status.state, S.CONNECTED)
        self.clock.advance(0.001)
        self.clock.advance(0)  # the FakeTransport reports the abort
        status = self.factory.status
        self.assertEqual(status.state, S.WAITING)
        self.assertTrue(status.lastFailure.check(HeartbeatTimeout))
        self.assertEqual(
            str(status.lastFailure.value),
            "no answer to a heartbeat ping within 2s",
        )
        self.assertEqual(status.nextAttemptAt, 10.0)
        self.assertEqual(len(protocol.lost), 1)
        self.assertTrue(protocol.lost[0].check(HeartbeatTimeout))
        self.assertFalse(protocol.heartbeatRunning)
        self.finish()

    def test_pongKeepsItAlive(self: Any) -> None:
        """When pongs come in time, the next ping is interval after the pong."""
        protocol = self.connect()
        self.clock.advance(5)
        self.clock.advance(1)
        protocol.dataReceived(b"PONG")
        self.clock.advance(5)
        self.assertEqual(protocol.pings, [5.0, 11.0])
        for _ in range(3):
            protocol.dataReceived(b"PONG")
            self.clock.advance(5)
        self.assertEqual(self.factory.status.state, S.CONNECTED)
        self.assertEqual(protocol.pings, [5.0, 11.0, 16.0, 21.0, 26.0])
        self.finish()

    def test_anyDataIsLife(self: Any) -> None:
        """When other data arrives, the quiet interval starts again from it."""
        protocol = self.connect()
        self.clock.advance(3)
        protocol.dataReceived(b"hello")
        self.clock.advance(4.9)
        self.assertEqual(protocol.pings, [])
        self.clock.advance(0.1)
        self.assertEqual(protocol.pings, [8.0])
        self.finish()

    def test_lossStopsTimer(self: Any) -> None:
        """When the connection is lost, the heartbeat's timer is gone."""
        protocol = self.connect()
        self.clock.advance(2)
        self.driver.drop()
        self.assertFalse(protocol.heartbeatRunning)
        calls = self.clock.getDelayedCalls()
        # The factory's retry only: a link's state timer, in WAITING.
        self.assertEqual([call.func.__name__ for call in calls], ["_timerDue"])
        self.assertEqual(calls[0].func.__self__.pendingCalls(), ["retry"])
        self.finish()

    def test_failedHandshakeNoHeartbeat(self: Any) -> None:
        """When the handshake fails, the heartbeat never starts."""
        protocol = self.connect(login=False)
        assert self.handshake is not None
        self.handshake.errback(HandshakeRejected("no"))
        self.clock.advance(0)
        self.assertFalse(protocol.heartbeatRunning)
        self.assertIsNone(protocol._heartbeatWait)
        self.clock.advance(100)
        self.assertEqual(protocol.pings, [])
        self.finish()


    def test_overridesWithoutSuperStillStop(self: Any) -> None:
        """
        When the protocol overrides connectionLost and dataReceived without
        calling the mixin's (a plain Protocol subclass habit), the heartbeat
        still stops at the loss (no timer left, no ping on the dead
        connection) and inbound data still counts as a sign of life.
        """

        class Bare(HeartbeatMixin, Protocol):
            heartbeatInterval = 5.0
            heartbeatTimeout = 2.0
            pings: list[float]

            def sendPing(self) -> None:
                self.pings.append(self.factory.clock.seconds())  # type: ignore[union-attr]

            def dataReceived(self, data: bytes) -> None:
                pass

            def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
                pass

        Bare.pings = []
        self.factory.protocol = Bare
        protocol = self.connect()
        self.clock.advance(4)
        protocol.dataReceived(b"hello")  # t = 4: quiet until 9
        self.clock.advance(4.9)
        self.assertEqual(Bare.pings, [])
        self.clock.advance(0.1)
        self.assertEqual(Bare.pings, [9.0])
        self.driver.drop()
        self.assertFalse(protocol.heartbeatRunning)
        self.clock.advance(2)  # (the retry: a new attempt, never connected)
        self.assertEqual(Bare.pings, [9.0])
        self.finish()

    def test_badInstanceSettingLoggedNoHeartbeat(self: Any) -> None:
        """
        When an instance sets a bad heartbeatInterval before connecting, the
        connection runs without a heartbeat and one error names the setting
        (no unhandled error in a Deferred).
        """
        from twisted.logger import LogLevel, globalLogPublisher

        events: list[Any] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)

        class BadInterval(PingProtocol):
            def __init__(self) -> None:
                super().__init__()
                self.heartbeatInterval = 0

        self.factory.protocol = BadInterval
        protocol = self.connect()
        self.assertEqual(self.factory.status.state, S.CONNECTED)
        self.assertFalse(protocol.heartbeatRunning)
        errors = [e for e in events if e.get("log_level") is LogLevel.error]
        self.assertEqual(
            [e["error"] for e in errors],
            ["heartbeatInterval must be a finite number > 0, not 0"],
        )
        self.clock.advance(100)
        self.assertEqual(protocol.pings, [])
        self.finish()


class ConnectorPathTests(HeartbeatTestsMixin, SynchronousTestCase):
    path = "connector"

    def test_pongOnly(self) -> None:
        """When heartbeatAnyData is False, other data does not answer a ping."""
        self.factory.protocol = PongOnlyProtocol
        protocol = self.connect()
        self.clock.advance(5)
        protocol.dataReceived(b"chatter")
        self.clock.advance(2)
        self.clock.advance(0)
        self.assertEqual(self.factory.status.state, S.WAITING)
        self.finish()


class EndpointPathTests(HeartbeatTestsMixin, SynchronousTestCase):
    path = "endpoint"


class PlainFactoryTests(SynchronousTestCase):
    def test_plainFactory(self) -> None:
        """
        When the factory is not a ReconnectingFactory, the heartbeat starts
        at connectionMade on heartbeatClock and aborts the transport.
        """
        clock = Clock()

        class Pinger(PingProtocol):
            heartbeatClock = clock

            def sendPing(self) -> None:
                self.pings.append(clock.seconds())

        factory = ClientFactory()
        factory.protocol = Pinger
        protocol: Any = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        clock.advance(5)
        clock.advance(2)
        self.assertEqual(protocol.pings, [5.0])
        self.assertTrue(transport.disconnecting)
        protocol.connectionLost(Failure(Exception("aborted")))
        self.assertTrue(protocol.lost[0].check(HeartbeatTimeout))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_badClassSettingsRefusedAtClassCreation(self) -> None:
        """
        When a protocol class sets a bad heartbeatInterval or
        heartbeatTimeout, making the class raises, naming class and setting.
        """
        for name, value, kind, message in [
            ("heartbeatInterval", 0, ValueError,
             "P.heartbeatInterval must be a finite number > 0, not 0"),
            ("heartbeatInterval", "15", TypeError,
             "P.heartbeatInterval must be a number of seconds, not '15'"),
            ("heartbeatTimeout", math.inf, ValueError,
             "P.heartbeatTimeout must be a finite number > 0, not inf"),
        ]:
            with self.assertRaises(kind) as raised:
                type("P", (HeartbeatMixin, Protocol), {name: value})
            self.assertEqual(str(raised.exception), message)
        off = type("P", (HeartbeatMixin, Protocol), {"heartbeatInterval": None})
        self.assertIsNone(off.heartbeatInterval)

    def test_invalidSettings(self) -> None:
        """
        When interval or timeout is not a finite number > 0, an error naming
        it; nothing is armed and the settings are unchanged.
        """
        protocol = PingProtocol()
        clock = Clock()
        protocol.heartbeatClock = clock
        self.assertRaises(ValueError, protocol.startHeartbeat, 0, 1)
        finite = "must be a finite number > 0, not"
        cases = [
            ((1.0, math.inf), ValueError, f"heartbeatTimeout {finite} inf"),
            ((math.nan, 1.0), ValueError, f"heartbeatInterval {finite} nan"),
            ((1.0, "2"), TypeError, "heartbeatTimeout must be a number of seconds, "
             "not '2'"),
        ]
        for args, kind, message in cases:
            e = self.assertRaises(kind, protocol.startHeartbeat, *args)
            self.assertEqual(str(e), message)
        self.assertEqual(
            (protocol.heartbeatInterval, protocol.heartbeatTimeout),
            (type(protocol).heartbeatInterval, type(protocol).heartbeatTimeout),
        )
        self.assertEqual(clock.getDelayedCalls(), [])
