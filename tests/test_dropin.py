"""
Drop-in compatibility (issue 14): code written for Twisted's
ReconnectingClientFactory (RCF) and ClientService keeps its meaning with
ReconnectingFactory / ReconnectingService. Several tests are ports of
Twisted's own (twisted/test/test_factories.py and
twisted/application/test/test_internet.py's ClientServiceTests).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import error
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ClientFactory, Protocol, ReconnectingClientFactory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogEvent, LogLevel, formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from reconnect_twisted import (
    ConnectionState,
    ConnectionStatus,
    ExponentialBackoff,
    FixedBackoff,
    GaveUp,
    GiveUp,
    HandshakeRejected,
    IReconnectPolicy,
    Kicked,
    Reconnect,
    ReconnectingFactory,
    ReconnectingService,
)
from reconnect_twisted._machine import ABORT_TIMEOUT
from reconnect_twisted.testing import FakeConnector, FakeEndpoint, FakeTransport

S = ConnectionState


class AppProtocol(Protocol):
    """Counts its connectionMade / connectionLost calls."""

    made = 0
    lost = 0

    def connectionMade(self) -> None:
        self.made += 1

    def connectionLost(self, reason: Failure = error.ConnectionDone) -> None:  # type: ignore[assignment]
        self.lost += 1


class AppFactory(ReconnectingFactory):
    protocol = AppProtocol


@implementer(IReconnectPolicy)
class RecordingPolicy:
    """A policy that records what it was asked and reconnects."""

    def __init__(self) -> None:
        self.failures: list[Failure] = []

    def decide(self, failure: Failure, status: ConnectionStatus) -> Reconnect:
        self.failures.append(failure)
        return Reconnect()


class _Base(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.events: list[LogEvent] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)  # type: ignore[attr-defined]

    def messages(self, level: LogLevel | None = None) -> list[str]:
        return [
            str(formatEvent(event))
            for event in self.events
            if event.get("log_namespace") == "reconnect_twisted"
            and (level is None or event.get("log_level") is level)
        ]

    def make(
        self, factoryClass: type[ReconnectingFactory] = AppFactory, **kw: Any
    ) -> Any:
        kw.setdefault("clock", self.clock)
        kw.setdefault("backoff", FixedBackoff(3.0))
        kw.setdefault("alertAfter", None)
        return factoryClass(**kw)

    def assertClean(self, factory: ReconnectingFactory, *fakes: Any) -> None:
        """Give up, let transports close, check nothing is left behind."""
        d = factory.giveUp("test over")
        self.clock.advance(0)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        for fake in fakes:
            if fake.transport is not None:
                self.assertTrue(fake.transport.closed)
            self.assertNotEqual(fake.state, "connecting")


# -- 1. one factory, several connectors ---------------------------------------


class PoolTests(_Base):
    """One factory passed to several connectTCP() calls (connection pools)."""

    def pool(self, n: int = 2, **kw: Any) -> tuple[Any, list[FakeConnector]]:
        factory = self.make(**kw)
        connectors = [FakeConnector(factory, self.clock) for _ in range(n)]
        for connector in connectors:
            connector.connect()
        return factory, connectors

    def test_eachConnectorKeepsItsConnection(self) -> None:
        """
        When one factory is used with two connectors and both connect, both
        connections are kept (none is closed as "made while connected"),
        each connectionMade runs once, and the factory reports two CONNECTED
        members and an aggregate CONNECTED status.
        """
        factory, (c1, c2) = self.pool()
        p2 = c2.succeed()
        p1 = c1.succeed()
        self.assertEqual([m.state for m in factory.members], [S.CONNECTED] * 2)
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertEqual((p1.made, p2.made, p1.lost, p2.lost), (1, 1, 0, 0))
        self.assertFalse(c1.transport.disconnecting)
        self.assertFalse(c2.transport.disconnecting)
        self.assertFalse(
            [m for m in self.messages() if "made while" in m], self.messages()
        )
        self.assertEqual((c1.attempts, c2.attempts), (1, 1))
        self.assertClean(factory, c1, c2)
        self.assertEqual((p1.lost, p2.lost), (1, 1))
        self.assertEqual([m.state for m in factory.members], [S.STOPPED] * 2)

    def test_independentSchedules(self) -> None:
        """
        When one member's attempts fail while the other is connected, only
        the failing member waits and counts attempts, on its own schedule;
        the aggregate stays CONNECTED.
        """
        factory, (c1, c2) = self.pool(backoff=ExponentialBackoff(2.0, jitter=0))
        c2.succeed()
        c1.fail()
        m1, m2 = factory.members
        self.assertEqual((m1.state, m1.attempt, m1.nextAttemptAt), (S.WAITING, 1, 2.0))
        self.assertEqual(
            (m2.state, m2.attempt, m2.nextAttemptAt), (S.CONNECTED, 0, None)
        )
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.clock.advance(2.0)
        c1.fail()
        self.assertEqual(factory.members[0].nextAttemptAt, 2.0 + 4.0)
        self.assertEqual(factory.members[0].attempt, 2)
        # The other member's connection drops: it starts its own schedule.
        c2.drop()
        self.assertEqual(factory.members[1].attempt, 1)
        self.assertEqual(factory.members[1].nextAttemptAt, 2.0 + 2.0)
        self.assertEqual(factory.status.state, S.WAITING)
        self.clock.advance(2.0)
        self.assertEqual((c1.attempts, c2.attempts), (2, 2))
        self.assertEqual(c2.state, "connecting")
        self.assertEqual(c1.state, "disconnected")
        self.assertClean(factory, c1, c2)

    def test_whenConnectedFirstHandshake(self) -> None:
        """
        When both members are handshaking, whenConnected() fires with the
        protocol of the member whose handshake finishes first.
        """
        handshakes: dict[Any, Deferred[None]] = {}

        def handshake(protocol: Any) -> Deferred[None]:
            handshakes[protocol] = Deferred()
            return handshakes[protocol]

        factory, (c1, c2) = self.pool(handshake=handshake)
        waiting = factory.whenConnected()
        p1, p2 = c1.succeed(), c2.succeed()
        self.assertEqual([m.state for m in factory.members], [S.HANDSHAKING] * 2)
        self.assertNoResult(waiting)
        handshakes[p2].callback(None)
        self.assertIs(self.successResultOf(waiting), p2)
        self.assertEqual(
            [m.state for m in factory.members], [S.HANDSHAKING, S.CONNECTED]
        )
        handshakes[p1].callback(None)
        self.assertClean(factory, c1, c2)

    def test_controlsApplyToEveryMember(self) -> None:
        """
        When both members are waiting, resetDelay() resets both schedules,
        reconnectNow() starts an attempt on both, and stopTrying() stops both
        with no timer left.
        """
        factory, (c1, c2) = self.pool(backoff=ExponentialBackoff(2.0, jitter=0))
        c1.fail()
        c2.fail()
        self.clock.advance(2.0)
        c1.fail()
        c2.fail()
        self.assertEqual([m.attempt for m in factory.members], [2, 2])
        self.assertEqual([m.nextAttemptAt for m in factory.members], [6.0, 6.0])
        factory.resetDelay()
        self.assertEqual([m.attempt for m in factory.members], [0, 0])
        d = factory.reconnectNow()
        self.assertEqual((c1.attempts, c2.attempts), (3, 3))
        self.assertEqual([m.state for m in factory.members], [S.CONNECTING] * 2)
        c1.fail()
        c2.fail()
        # A fresh schedule: the first delay again.
        self.assertEqual([m.nextAttemptAt for m in factory.members], [4.0, 4.0])
        factory.stopTrying()
        self.assertEqual([m.state for m in factory.members], [S.STOPPED] * 2)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.failureResultOf(d, GaveUp)
        self.assertClean(factory, c1, c2)

    def test_giveUpClosesEveryMember(self) -> None:
        """
        When the factory gives up, every member's connection is closed and
        the Deferred fires once both transports have closed.
        """
        factory, (c1, c2) = self.pool()
        p1, p2 = c1.succeed(), c2.succeed()
        d = factory.giveUp()
        self.assertNoResult(d)
        self.assertTrue(c1.transport.disconnecting)
        self.assertTrue(c2.transport.disconnecting)
        self.clock.advance(0)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual((p1.lost, p2.lost), (1, 1))
        self.assertEqual([m.state for m in factory.members], [S.STOPPED] * 2)
        self.assertEqual([m.stopReason for m in factory.members], ["gave up"] * 2)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_kickStopsEveryMember(self) -> None:
        """
        When one member's protocol is kicked under the default policy, the
        kick (about the account) stops every member with the same reason,
        closing the other member's connection too.
        """
        factory, (c1, c2) = self.pool()
        p1, p2 = c1.succeed(), c2.succeed()
        factory.kicked("logged in elsewhere", protocol=p1)
        self.assertTrue(c1.transport.disconnecting)
        self.assertTrue(c2.transport.disconnecting)
        self.assertEqual([m.state for m in factory.members], [S.STOPPED] * 2)
        reasons = [m.stopReason for m in factory.members]
        self.assertEqual(reasons, [str(Kicked("logged in elsewhere"))] * 2)
        self.clock.advance(0)
        self.assertEqual((p1.lost, p2.lost), (1, 1))
        self.failureResultOf(factory.whenConnected(), GaveUp)
        self.assertClean(factory, c1, c2)

    def test_kickWithoutProtocolStopsEveryMember(self) -> None:
        """
        When kicked(reason) names no protocol in a pool (one member connected,
        one waiting), every member stops with the kick's reason and nothing
        is logged as ignored.
        """
        factory, (c1, c2) = self.pool()
        p1 = c1.succeed()
        c2.fail()
        factory.kicked("banned")
        self.assertEqual([m.state for m in factory.members], [S.STOPPED] * 2)
        self.assertEqual(
            [m.stopReason for m in factory.members], ["kicked: banned"] * 2
        )
        self.assertEqual([m for m in self.messages() if "Ignoring" in m], [])
        self.assertTrue(c1.transport.disconnecting)
        self.clock.advance(0)
        self.assertEqual(p1.lost, 1)
        self.assertEqual((c1.attempts, c2.attempts), (1, 1))
        self.assertClean(factory, c1, c2)

    def test_kickUnderReconnectingPolicy(self) -> None:
        """
        When the policy reconnects after a kick, only the kicked member's
        connection is closed and retried; the other stays CONNECTED.
        """
        policy = RecordingPolicy()
        factory, (c1, c2) = self.pool(policy=policy)
        p1, p2 = c1.succeed(), c2.succeed()
        factory.kicked("slow down", protocol=p2)
        self.assertEqual(len(policy.failures), 1)
        self.assertTrue(policy.failures[0].check(Kicked))
        self.assertEqual([m.state for m in factory.members], [S.CONNECTED, S.WAITING])
        self.assertEqual(factory.members[1].nextAttemptAt, 3.0)
        self.assertFalse(c1.transport.disconnecting)
        self.clock.advance(0)
        self.assertEqual((p1.lost, p2.lost), (0, 1))
        self.clock.advance(3.0)
        self.assertEqual((c1.attempts, c2.attempts), (1, 2))
        self.assertClean(factory, c1, c2)


# -- 2. connect once --------------------------------------------------------


class ConnectOnceTests(_Base):
    """stopTrying() / continueTrying = 0 before the first connectTCP()."""

    def test_continueTryingOneResumesAfterStop(self) -> None:
        """
        RCF's resume: continueTrying = 1 after stopTrying() reads back 1, and
        the next connector.connect() tries again for good: its refusal is
        retried after the backoff delay. stopTrying() again takes it back.
        """
        factory = self.make()
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        connector.succeed()
        factory.stopTrying()
        connector.drop()
        self.assertEqual((factory.status.state, factory.continueTrying), (S.STOPPED, 0))
        factory.continueTrying = 1
        self.assertEqual((factory.status.state, factory.continueTrying), (S.STOPPED, 1))
        self.assertEqual(self.clock.getDelayedCalls(), [])  # no attempt by itself
        connector.connect()
        connector.fail()
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertEqual(factory.status.nextAttemptAt, 3.0)
        self.clock.advance(3.0)
        self.assertEqual(connector.attempts, 3)
        connector.fail()
        factory.stopTrying()
        self.assertEqual((factory.status.state, factory.continueTrying), (S.STOPPED, 0))
        factory.continueTrying = 1
        factory.stopTrying()
        self.assertEqual(factory.continueTrying, 0)
        connector.connect()
        connector.fail()  # connect once again: no retry
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopTryingBeforeConnect(self) -> None:
        """
        When stopTrying() is called before the first connect, exactly one
        connection is made, its handshake runs, a whenConnected() taken
        before fires with it, and it is not re-established once lost.
        """
        shaken: list[Any] = []
        factory = self.make(handshake=shaken.append)
        factory.stopTrying()
        waiting = factory.whenConnected()
        self.assertNoResult(waiting)
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        protocol = connector.succeed()
        self.assertEqual(shaken, [protocol])
        self.assertIs(self.successResultOf(waiting), protocol)
        self.assertEqual(factory.status.state, S.CONNECTED)
        connector.drop()
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(factory.continueTrying, 0)
        self.clock.advance(100)
        self.assertEqual(connector.attempts, 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(protocol.lost, 1)

    def test_continueTryingZeroFailedAttempt(self) -> None:
        """
        When continueTrying = 0 is set before the first connect and that
        attempt fails, whenConnected() fails with GaveUp, the factory is
        STOPPED after one attempt and nothing is scheduled.
        """
        factory = self.make()
        factory.continueTrying = 0
        waiting = factory.whenConnected()
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        self.assertNoResult(waiting)
        connector.fail()
        self.failureResultOf(waiting, GaveUp)
        status = factory.status
        self.assertEqual((status.state, status.attempt), (S.STOPPED, 1))
        self.assertTrue(status.lastFailure.check(error.ConnectionRefusedError))
        self.clock.advance(100)
        self.assertEqual(connector.attempts, 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_continueTryingZeroFailedHandshake(self) -> None:
        """
        When continueTrying = 0 before connecting and the handshake fails,
        the one connection is aborted, whenConnected() fails with GaveUp and
        no further attempt is made.
        """
        factory = self.make(handshake=lambda p: _fail(HandshakeRejected("no")))
        factory.continueTrying = 0
        waiting = factory.whenConnected()
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        protocol = connector.succeed()
        self.failureResultOf(waiting, GaveUp)
        self.clock.advance(0)
        self.assertEqual(protocol.lost, 1)
        self.assertTrue(connector.transport.closed)
        self.assertEqual(factory.status.state, S.STOPPED)
        self.clock.advance(100)
        self.assertEqual(connector.attempts, 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])


def _fail(exception: BaseException) -> Deferred[None]:
    d: Deferred[None] = Deferred()
    d.errback(exception)
    return d


# -- 3. RCF idioms ----------------------------------------------------------


class RetryOverrideFactory(AppFactory):
    """Autobahn's example: retry(connector) from the overrides."""

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.retry(connector)

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        self.retry(connector)


class RCFBaseOverrideFactory(AppFactory):
    """Overrides that call ReconnectingClientFactory's own methods."""

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        ReconnectingClientFactory.clientConnectionFailed(self, connector, reason)

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        ReconnectingClientFactory.clientConnectionLost(self, connector, reason)


class _TwistedFakeConnector:
    """twisted/test/test_factories.py's FakeConnector."""

    connects = 0

    def stopConnecting(self) -> None:
        pass

    def connect(self) -> None:
        self.connects += 1


class RCFIdiomTests(_Base):
    def _realReasonReachesEverything(self, factoryClass: type[AppFactory]) -> None:
        policy = RecordingPolicy()
        factory = self.make(factoryClass, policy=policy)
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        connector.fail()
        self.assertEqual(len(policy.failures), 1)
        self.assertTrue(policy.failures[0].check(error.ConnectionRefusedError))
        status = factory.status
        self.assertEqual((status.state, status.attempt), (S.WAITING, 1))
        self.assertTrue(status.lastFailure.check(error.ConnectionRefusedError))
        self.assertEqual(status.nextAttemptAt, 3.0)
        warned = self.messages(LogLevel.warn)
        self.assertEqual(len(warned), 1, warned)
        self.assertIn(
            "Attempt 1 to 127.0.0.1:4321 failed: ConnectionRefusedError", warned[0]
        )
        self.assertNotIn("retry()", warned[0])
        self.clock.advance(3.0)
        self.assertEqual(connector.attempts, 2)
        protocol = connector.succeed()
        connector.drop(error.ConnectionLost("peer went away"))
        self.assertEqual(len(policy.failures), 2)
        self.assertTrue(policy.failures[1].check(error.ConnectionLost))
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertEqual(factory.status.nextAttemptAt, 6.0)
        self.assertEqual(protocol.lost, 1)
        self.clock.advance(3.0)
        self.assertEqual(connector.attempts, 3)
        self.assertClean(factory, connector)

    def test_retryOverrideKeepsRealReason(self) -> None:
        """
        When clientConnectionFailed/Lost are overridden to call
        self.retry(connector), the connector's real reason reaches decide(),
        status.lastFailure and the log, and one retry is scheduled.
        """
        self._realReasonReachesEverything(RetryOverrideFactory)

    def test_rcfBaseOverrideKeepsRealReason(self) -> None:
        """
        When the overrides call ReconnectingClientFactory's own
        clientConnectionFailed/Lost, the real reason reaches decide(),
        status.lastFailure and the log, and one retry is scheduled.
        """
        self._realReasonReachesEverything(RCFBaseOverrideFactory)

    def test_lostWithoutStartedConnecting(self) -> None:
        """
        When clientConnectionLost(connector, None) is called with no
        startedConnecting() before (Twisted's test_parametrizedClock and
        test_initialDelay), one retry is scheduled after initialDelay
        (jitter = None: none), and it calls connector.connect(). (The outage
        alert timer, not in RCF, is turned off to count the calls as they do.)
        """
        factory = AppFactory(alertAfter=None)
        factory.clock = self.clock
        factory.jitter = None
        connector = _TwistedFakeConnector()
        factory.clientConnectionLost(connector, None)  # type: ignore[arg-type]
        self.assertEqual(len(self.clock.calls), 1)
        self.assertEqual(self.clock.calls[0].getTime(), factory.initialDelay)
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertEqual(factory.status.attempt, 1)
        self.clock.advance(factory.initialDelay)
        self.assertEqual(connector.connects, 1)
        factory.stopTrying()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_failedWithoutStartedConnecting(self) -> None:
        """
        When clientConnectionFailed(connector, None) is called with no
        startedConnecting() before (Twisted's
        test_deserializationResetsParameters), one retry is scheduled.
        """
        factory = AppFactory(alertAfter=None)
        factory.clock = self.clock
        connector = _TwistedFakeConnector()
        factory.clientConnectionFailed(connector, None)  # type: ignore[arg-type]
        self.assertEqual(len(self.clock.calls), 1)
        self.assertEqual(factory.status.state, S.WAITING)
        factory.stopTrying()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(connector.connects, 0)

    def test_stopTryingWhenConnected(self) -> None:
        """
        When stopTrying() is called while connected (Twisted's
        test_stopTryingWhenConnected), the lost connection is not
        re-established and continueTrying is false.
        """
        factory = self.make()
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        protocol = connector.succeed()
        factory.stopTrying()
        self.assertFalse(connector.transport.disconnecting)
        connector.drop()
        self.assertFalse(factory.continueTrying)
        self.assertEqual(protocol.lost, 1)
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(connector.attempts, 1)

    def test_retryBeforeAnyAttemptTwice(self) -> None:
        """
        When retry(connector) is called twice before any attempt, one attempt
        is scheduled (after the first delay), with no error logged.
        """
        factory = self.make()
        connector = FakeConnector(factory, self.clock)
        factory.retry(connector)
        factory.retry(connector)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.assertEqual(factory.status.nextAttemptAt, 3.0)
        self.assertEqual(self.messages(LogLevel.error), [])
        self.assertEqual(self.messages(LogLevel.critical), [])
        self.clock.advance(3.0)
        self.assertEqual(connector.attempts, 1)
        self.assertEqual(factory.status.state, S.CONNECTING)
        self.flushLoggedErrors()
        self.assertClean(factory, connector)

    def _acceptThenDrop(
        self, factoryClass: type[AppFactory], handshake: Any = None
    ) -> list[float]:
        """Connections dropped (or rejected) at once: the retry delays."""
        kw: dict[str, Any] = {"backoff": ExponentialBackoff(2.0, jitter=0)}
        if handshake is not None:
            kw["handshake"] = handshake
        factory = self.make(factoryClass, minUptime=5.0, **kw)
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        delays = []
        for _ in range(5):
            connector.succeed()
            if handshake is None:
                connector.drop()
            else:
                self.clock.advance(0)  # the aborted transport closes
            status = factory.status
            self.assertEqual(status.state, S.WAITING)
            delay = status.nextAttemptAt - self.clock.seconds()
            delays.append(delay)
            self.clock.advance(delay)
        self.assertEqual(connector.attempts, 6)
        self.assertClean(factory, connector)
        return delays

    def test_resetDelayInBuildProtocolKeepsBackoff(self) -> None:
        """
        When resetDelay() is called from buildProtocol (as RCF code does)
        against a server that accepts and drops at once, the delays grow
        exactly as without the call.
        """

        class Resetting(AppFactory):
            def buildProtocol(self, addr: Any) -> Any:
                self.resetDelay()
                return ReconnectingFactory.buildProtocol(self, addr)

        self.assertEqual(self._acceptThenDrop(Resetting), [2.0, 4.0, 8.0, 16.0, 32.0])
        self.assertEqual(self._acceptThenDrop(AppFactory), [2.0, 4.0, 8.0, 16.0, 32.0])

    def test_resetDelayInConnectionMadeRejectedLogin(self) -> None:
        """
        When resetDelay() is called from connectionMade and the server
        rejects the login (the handshake fails), the delays grow exactly as
        without the call.
        """

        class ResettingProtocol(AppProtocol):
            def connectionMade(self) -> None:
                AppProtocol.connectionMade(self)
                self.factory.resetDelay()

        class Resetting(AppFactory):
            protocol = ResettingProtocol

        def reject(protocol: Any) -> Deferred[None]:
            return _fail(HandshakeRejected("bad password"))

        self.assertEqual(
            self._acceptThenDrop(Resetting, reject), [2.0, 4.0, 8.0, 16.0, 32.0]
        )

    def test_resetDelayTakesEffectAfterMinUptime(self) -> None:
        """
        When resetDelay() is called from connectionMade and the connection
        stays up minUptime (5 s), the schedule is reset then: the next loss
        waits the first delay again.
        """

        class ResettingProtocol(AppProtocol):
            def connectionMade(self) -> None:
                AppProtocol.connectionMade(self)
                self.factory.resetDelay()

        class Resetting(AppFactory):
            protocol = ResettingProtocol

        factory = self.make(
            Resetting, minUptime=5.0, backoff=ExponentialBackoff(2.0, jitter=0)
        )
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        connector.fail()
        self.clock.advance(2.0)
        connector.fail()
        self.clock.advance(4.0)
        self.assertEqual(factory.status.attempt, 2)
        connector.succeed()
        self.clock.advance(4.9)
        self.assertEqual(factory.status.attempt, 2)
        self.clock.advance(0.1)
        self.assertEqual(factory.status.attempt, 0)
        connector.drop()
        self.assertEqual(factory.status.nextAttemptAt - self.clock.seconds(), 2.0)
        self.assertClean(factory, connector)

    def test_jitterNone(self) -> None:
        """
        When jitter = None is set as a class or an instance attribute (RCF
        tests "if self.jitter:"), the schedule has no jitter and nothing is
        logged as unusable: 1, e, e**2 seconds.
        """

        class ClassNone(AppFactory):
            jitter = None  # type: ignore[assignment]

        for make in (
            lambda: ClassNone(clock=self.clock, alertAfter=None),
            lambda: _withAttribute(
                AppFactory(clock=self.clock, alertAfter=None), "jitter", None
            ),
        ):
            factory = make()
            connector = FakeConnector(factory, self.clock)
            connector.connect()
            delays = []
            for _ in range(3):
                connector.fail()
                delay = factory.status.nextAttemptAt - self.clock.seconds()
                delays.append(delay)
                self.clock.advance(delay)
            e = ReconnectingClientFactory.factor
            self.assertEqual(
                [round(d, 9) for d in delays], [1.0, round(e, 9), round(e * e, 9)]
            )
            self.assertClean(factory, connector)
        self.assertFalse([m for m in self.messages() if "cannot be used" in m])
        self.assertFalse([m for m in self.messages() if "TypeError" in m])

    def test_unusableAttributeLoggedOnce(self) -> None:
        """
        When an RCF tuning attribute cannot be used (factor = "x"), one
        warning names it, and the schedule uses RCF's default factor.
        """
        factory = AppFactory(clock=self.clock, alertAfter=None)
        factory.factor = "x"  # type: ignore[assignment]
        factory.jitter = 0
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        delays = []
        for _ in range(3):
            connector.fail()
            delay = factory.status.nextAttemptAt - self.clock.seconds()
            delays.append(delay)
            self.clock.advance(delay)
        e = ReconnectingClientFactory.factor
        self.assertEqual(
            [round(d, 9) for d in delays], [1.0, round(e, 9), round(e * e, 9)]
        )
        named = [m for m in self.messages(LogLevel.warn) if "factor" in m]
        self.assertEqual(len(named), 1, self.messages())
        self.assertIn("factor = 'x'", named[0])
        self.assertClean(factory, connector)

    def test_policyClassAttribute(self) -> None:
        """
        When policy = MyPolicy() is a class attribute, it decides.
        """
        policy = RecordingPolicy()

        class Policed(AppFactory):
            pass

        Policed.policy = policy  # type: ignore[assignment]

        class Declared(AppFactory):
            policy = RecordingPolicy()  # type: ignore[assignment]

        for factoryClass, used in ((Policed, policy), (Declared, Declared.policy)):
            factory = self.make(factoryClass)
            connector = FakeConnector(factory, self.clock)
            connector.connect()
            connector.fail()
            self.assertEqual(len(used.failures), 1)  # type: ignore[union-attr]
            self.assertClean(factory, connector)

    def test_givingUpClassPolicy(self) -> None:
        """
        When a class-attribute policy gives up, the factory stops with its
        reason after the one failed attempt.
        """

        class Stopper(AppFactory):
            policy = lambda failure, status: GiveUp("no luck")  # type: ignore[assignment]  # noqa: E731

        factory = self.make(Stopper)
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        connector.fail()
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(factory.status.stopReason, "no luck")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_badClassAttributeRaisesAtClassCreation(self) -> None:
        """
        When a subclass sets maxRetries = "3", defining the class raises a
        TypeError naming the class and the attribute.
        """
        with self.assertRaises(TypeError) as caught:

            class Bad(AppFactory):
                maxRetries = "3"  # type: ignore[assignment]

        self.assertIn("Bad.maxRetries", str(caught.exception))

    def test_badAssignmentsRaise(self) -> None:
        """
        When a bad value is assigned to a setting, the assignment raises with
        a message naming the attribute, and the setting keeps its value.
        """
        factory = self.make()
        for name, value, exception in (
            ("maxRetries", "3", TypeError),
            ("maxRetries", float("nan"), ValueError),
            ("maxRetries", -1, ValueError),
            ("connectTimeout", -1, ValueError),
            ("minUptime", "5", TypeError),
            ("connectTimeout", 10**400, ValueError),
            ("handshakeTimeout", float("inf"), ValueError),
        ):
            before = getattr(factory, name)
            with self.assertRaises(exception) as caught:
                setattr(factory, name, value)
            self.assertIn(name, str(caught.exception))
            self.assertEqual(getattr(factory, name), before)

    def test_hugeIntegerArgumentRaises(self) -> None:
        """
        When 10**400 is passed for a numeric argument, the constructor raises
        a ValueError naming it.
        """
        for name in ("connectTimeout", "minUptime", "alertAfter", "maxRetryLater"):
            with self.assertRaises(ValueError) as caught:
                AppFactory(**{name: 10**400})
            self.assertIn(name, str(caught.exception))


def _withAttribute(obj: Any, name: str, value: Any) -> Any:
    setattr(obj, name, value)
    return obj


# -- 4. ClientService idioms ------------------------------------------------


class ServiceIdiomTests(_Base):
    def service(self, **kw: Any) -> tuple[Any, FakeEndpoint, ReconnectingService]:
        factory = self.make(**kw)
        endpoint = FakeEndpoint(self.clock)
        service = ReconnectingService(endpoint, factory)
        return factory, endpoint, service

    def test_startServiceTwice(self) -> None:
        """
        When startService() is called again while running (Twisted's
        test_startTwice), "already running" is logged and no second attempt
        is started.
        """
        factory, endpoint, service = self.service()
        service.startService()
        self.assertEqual(endpoint.attempts, 1)
        service.startService()
        self.assertEqual(endpoint.attempts, 1)
        self.assertEqual(endpoint.cancelled, 0)
        self.assertEqual(len([m for m in self.messages() if "already running" in m]), 1)
        endpoint.succeed()
        self.assertEqual(factory.status.state, S.CONNECTED)
        service.startService()
        self.assertEqual(endpoint.attempts, 1)
        d = service.stopService()
        self.clock.advance(0)
        self.successResultOf(d)
        self.assertTrue(endpoint.transport.closed)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_handshakePlainValue(self) -> None:
        """
        When the handshake (ClientService's prepareConnection) returns a
        plain value, not a Deferred, the connection is established and
        whenConnected() fires with the protocol, not the value (Twisted's
        test_prepareConnectionReturnValueIgnored).
        """
        sentinel = object()
        factory, endpoint, service = self.service(handshake=lambda p: sentinel)
        service.startService()
        protocol = endpoint.succeed()
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertIs(self.successResultOf(service.whenConnected()), protocol)
        self.assertEqual(endpoint.attempts, 1)
        d = service.stopService()
        self.clock.advance(0)
        self.successResultOf(d)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_wrapperFactoryRepr(self) -> None:
        """
        When the service connects, the factory handed to the endpoint has a
        repr naming the application's factory.
        """
        factory, endpoint, service = self.service()
        service.startService()
        wrapper = endpoint._factory
        self.assertIsNot(wrapper, factory)
        self.assertIn(repr(factory), repr(wrapper))
        self.assertIn("AppFactory", repr(wrapper))
        d = service.stopService()
        self.successResultOf(d)
        self.assertEqual(self.clock.getDelayedCalls(), [])


# -- 5. mixins and plain StringTransport --------------------------------------


class ThirdPartyClientFactory(ClientFactory):
    """A library's factory that owns __init__ (like Autobahn's)."""

    protocol = AppProtocol

    def __init__(self, url: str) -> None:
        self.url = url


class MixinTests(_Base):
    def test_classAttributesAndConfigure(self) -> None:
        """
        When a mixin's first base owns __init__ and ReconnectingFactory's is
        never called, class attributes (connectTimeout, backoff, policy) and
        self.configure(handshake=..., minUptime=...) all take effect.
        """
        shaken: list[Any] = []
        policy = RecordingPolicy()

        class Mixed(ThirdPartyClientFactory, ReconnectingFactory):
            connectTimeout = 5  # type: ignore[assignment]
            backoff = FixedBackoff(2.0)
            alertAfter = None  # type: ignore[assignment]

            def __init__(self, url: str) -> None:
                ThirdPartyClientFactory.__init__(self, url)
                self.configure(handshake=shaken.append, minUptime=7.0)

        Mixed.policy = policy  # type: ignore[assignment]
        factory = Mixed("ws://example")
        factory.clock = self.clock
        self.assertEqual((factory.connectTimeout, factory.minUptime), (5.0, 7.0))
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        self.clock.advance(5.0)  # connectTimeout
        self.assertEqual(connector.stoppedConnecting, 1)
        self.assertEqual(len(policy.failures), 1)
        self.assertEqual(factory.status.nextAttemptAt, 7.0)
        self.clock.advance(2.0)
        protocol = connector.succeed()
        self.assertEqual(shaken, [protocol])
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertEqual(factory.status.attempt, 1)
        self.clock.advance(7.0)  # minUptime
        self.assertEqual(factory.status.attempt, 0)
        self.assertClean(factory, connector)

    def test_configureBadValues(self) -> None:
        """
        When configure() gets a bad value or an unknown argument, it raises
        naming the argument.
        """

        class Mixed(ThirdPartyClientFactory, ReconnectingFactory):
            pass

        factory = Mixed("ws://example")
        for kw, exception, name in (
            ({"minUptime": -1}, ValueError, "minUptime"),
            ({"connectTimeout": "5"}, TypeError, "connectTimeout"),
            ({"handshake": 5}, TypeError, "handshake"),
            ({"backoff": "fast"}, TypeError, "backoff"),
            ({"maxRetries": 2.5}, ValueError, "maxRetries"),
            ({"bogus": 1}, TypeError, "bogus"),
        ):
            with self.assertRaises(exception) as caught:
                factory.configure(**kw)
            self.assertIn(name, str(caught.exception))


class _BareConnector:
    """A hand-written fake connector, as RCF tests have."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory
        self.connects = 0
        self.stopped = 0

    def connect(self) -> None:
        self.connects += 1
        self.factory.startedConnecting(self)

    def stopConnecting(self) -> None:
        self.stopped += 1

    def getDestination(self) -> Any:
        return "bare"


class StringTransportTests(_Base):
    def test_abortedStringTransportWarnsAndCarriesOn(self) -> None:
        """
        When a failed handshake aborts a plain StringTransport (which never
        calls connectionLost), ABORT_TIMEOUT (5 s) later one warning names
        StringTransport and FakeTransport, and the factory retries normally.
        """
        factory = self.make(
            handshake=lambda p: _fail(HandshakeRejected("bad password")),
            backoff=FixedBackoff(1.0),
        )
        connector = _BareConnector(factory)
        connector.connect()
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertEqual(ABORT_TIMEOUT, 5.0)
        self.clock.advance(1.0)
        # One transport at a time: the retry waits for the aborted one.
        self.assertEqual(connector.connects, 1)
        self.assertEqual([m for m in self.messages() if "never called" in m], [])
        self.clock.advance(4.0)
        warned = [m for m in self.messages(LogLevel.warn) if "never called" in m]
        self.assertEqual(len(warned), 1, warned)
        self.assertIn("StringTransport", warned[0])
        self.assertIn("FakeTransport", warned[0])
        self.assertEqual(connector.connects, 2)
        self.assertEqual(factory.status.state, S.CONNECTING)
        # A second one: no second warning.
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.clock.advance(5.0)
        warned = [m for m in self.messages(LogLevel.warn) if "never called" in m]
        self.assertEqual(len(warned), 1, warned)
        self.assertEqual(connector.connects, 3)
        factory.stopTrying()
        self.assertEqual(self.clock.getDelayedCalls(), [])


# -- 6. logs ---------------------------------------------------------------


class LogTests(_Base):
    def test_firstConnection(self) -> None:
        """
        When the first attempt connects, "Connected to X" is logged, with no
        outage; after two failed attempts, the outage names 2 attempts.
        """
        factory = self.make()
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        self.clock.advance(0.001)
        connector.succeed()
        connected = [m for m in self.messages() if m.startswith("Connected")]
        self.assertEqual(connected, ["Connected to 127.0.0.1:4321"])
        self.clock.advance(10)
        connector.drop()
        self.clock.advance(3.0)
        connector.fail()
        self.clock.advance(3.0)
        connector.succeed()
        connected = [m for m in self.messages() if m.startswith("Connected")]
        self.assertEqual(
            connected[1],
            "Connected to 127.0.0.1:4321 after an outage of 6.000s (2 failed attempts)",
        )
        self.assertClean(factory, connector)

    def _stopLevel(self, stop: Any, **kw: Any) -> tuple[LogLevel, str]:
        self.events.clear()
        maxRetries = kw.pop("maxRetries", None)
        factory = self.make(**kw)
        factory.maxRetries = maxRetries
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        protocol = connector.succeed()
        stop(factory, connector, protocol)
        self.clock.advance(0)
        stops = [
            e
            for e in self.events
            if str(e.get("log_format", "")).startswith("Stopped trying")
        ]
        self.assertEqual(len(stops), 1, [formatEvent(e) for e in stops])
        level, text = stops[0]["log_level"], str(formatEvent(stops[0]))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        return level, text

    def test_stopLevels(self) -> None:
        """
        When the factory stops on giveUp() or stopTrying(), it logs at info;
        on a kick, a policy's GiveUp or maxRetries, at warn.
        """

        def giveUp(f: Any, c: Any, p: Any) -> None:
            f.giveUp()

        def stopTrying(f: Any, c: Any, p: Any) -> None:
            f.stopTrying()
            c.drop()

        def kick(f: Any, c: Any, p: Any) -> None:
            f.kicked("elsewhere")

        def refuse(f: Any, c: Any, p: Any) -> None:
            c.drop()

        def retriesOut(f: Any, c: Any, p: Any) -> None:
            c.drop()
            self.clock.advance(3.0)
            c.fail()

        level, text = self._stopLevel(giveUp)
        self.assertEqual(
            (level, text),
            (LogLevel.info, "Stopped trying to connect to 127.0.0.1:4321: gave up"),
        )
        level, text = self._stopLevel(stopTrying)
        self.assertEqual(level, LogLevel.info)
        self.assertIn("stopTrying()", text)
        level, text = self._stopLevel(kick)
        self.assertEqual(level, LogLevel.warn)
        self.assertIn("elsewhere", text)
        level, text = self._stopLevel(
            refuse, policy=lambda failure, status: GiveUp("policy says no")
        )
        self.assertEqual(level, LogLevel.warn)
        self.assertIn("policy says no", text)
        level, text = self._stopLevel(retriesOut, minUptime=100.0, maxRetries=1)
        self.assertEqual(level, LogLevel.warn)
        self.assertIn("maxRetries (1) exceeded", text)


class StuckConnectorTests(_Base):
    def test_connectorNeverIdleNoBusyLoop(self) -> None:
        """
        When a connector stays "connected" after its StringTransport was
        aborted (the transport never reports the close), the retry waits a
        few reactor turns, then asks the connector anyway: its refusal counts
        as a failed attempt and the schedule goes on (no endless zero-delay
        calls), with one warning naming the connector's state.
        """
        factory = self.make(
            handshake=lambda p: _fail(HandshakeRejected("bad password")),
            backoff=FixedBackoff(1.0),
        )
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        protocol = factory.buildProtocol(None)
        connector.state = "connected"
        protocol.makeConnection(StringTransport())
        self.assertEqual(factory.status.state, S.WAITING)
        self.clock.advance(ABORT_TIMEOUT)
        status = factory.status
        self.assertEqual((status.state, status.attempt), (S.WAITING, 2))
        self.assertTrue(status.lastFailure.check(RuntimeError))
        self.assertEqual(status.nextAttemptAt, ABORT_TIMEOUT + 1.0)
        self.clock.advance(1.0)
        self.assertEqual(factory.status.attempt, 3)
        stuck = [m for m in self.messages(LogLevel.warn) if "still 'connected'" in m]
        self.assertEqual(len(stuck), 1, stuck)
        self.assertEqual(connector.attempts, 1)
        factory.stopTrying()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class MorePoolTests(_Base):
    def test_twoServicesShareOneFactory(self) -> None:
        """
        When two ReconnectingServices drive one factory, each has its own
        link: both connect and one's failure leaves the other CONNECTED.
        stopService() gives up its own service's link only: the other stays
        CONNECTED (and running) until its own stopService().
        """
        factory = self.make()
        e1, e2 = FakeEndpoint(self.clock), FakeEndpoint(self.clock)
        s1, s2 = ReconnectingService(e1, factory), ReconnectingService(e2, factory)
        s1.startService()
        s2.startService()
        self.assertEqual((e1.attempts, e2.attempts), (1, 1))
        p2 = e2.succeed()
        e1.fail()
        self.assertEqual(
            [(m.state, m.attempt) for m in factory.members],
            [(S.WAITING, 1), (S.CONNECTED, 0)],
        )
        self.assertIs(self.successResultOf(factory.whenConnected()), p2)
        self.clock.advance(3.0)
        p1 = e1.succeed()
        self.assertEqual([m.state for m in factory.members], [S.CONNECTED] * 2)
        self.assertEqual((p1.made, p2.made), (1, 1))
        d = s1.stopService()
        self.clock.advance(0)
        self.successResultOf(d)
        self.assertTrue(e1.transport.closed)
        self.assertFalse(e2.transport.closed)
        self.assertEqual(
            [m.state for m in factory.members], [S.STOPPED, S.CONNECTED]
        )
        self.assertEqual(factory.continueTrying, 1)
        s1.startService()  # the stopped one comes back alone
        self.assertEqual((e1.attempts, e2.attempts), (3, 1))
        e1.succeed()
        self.assertEqual([m.state for m in factory.members], [S.CONNECTED] * 2)
        d = s2.stopService()
        self.clock.advance(0)
        self.successResultOf(d)
        self.assertTrue(e2.transport.closed)
        self.assertFalse(e1.transport.closed)
        d = s1.stopService()
        self.clock.advance(0)
        self.successResultOf(d)
        self.assertEqual([m.state for m in factory.members], [S.STOPPED] * 2)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_observerSeesChangedMember(self) -> None:
        """
        When a pool member fails while another is connected, the observer's
        status shows the aggregate state (CONNECTED) with the failing
        member's attempt and nextAttemptAt.
        """
        factory = self.make()
        seen: list[ConnectionStatus] = []
        factory.addStatusObserver(seen.append)
        c1, c2 = FakeConnector(factory, self.clock), FakeConnector(factory, self.clock)
        c1.connect()
        c2.connect()
        c1.succeed()
        self.clock.advance(1.0)
        c2.fail()
        last = seen[-1]
        self.assertEqual(
            (last.state, last.attempt, last.nextAttemptAt), (S.CONNECTED, 1, 4.0)
        )
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertClean(factory, c1, c2)

    def test_retryLaterAppliesToItsMember(self) -> None:
        """
        When retryLater(reason, 10, protocol=p) is called in a pool, only p's
        member closes and waits max(10, next delay) = 10 s.
        """
        factory = self.make()
        c1, c2 = FakeConnector(factory, self.clock), FakeConnector(factory, self.clock)
        c1.connect()
        c2.connect()
        p1, p2 = c1.succeed(), c2.succeed()
        factory.retryLater("busy", 10, protocol=p1)
        self.assertEqual(
            [(m.state, m.nextAttemptAt) for m in factory.members],
            [(S.WAITING, 10.0), (S.CONNECTED, None)],
        )
        self.clock.advance(0)
        self.assertEqual((p1.lost, p2.lost), (1, 0))
        self.clock.advance(10.0)
        self.assertEqual((c1.attempts, c2.attempts), (2, 1))
        self.assertClean(factory, c1, c2)


class MoreRCFTests(_Base):
    def test_retryOverrideWithoutStartedConnecting(self) -> None:
        """
        When an overridden clientConnectionLost that calls
        self.retry(connector) is called with reason None and no
        startedConnecting() before, one retry is scheduled.
        """
        factory = RetryOverrideFactory(clock=self.clock, alertAfter=None)
        factory.jitter = None
        connector = _TwistedFakeConnector()
        factory.clientConnectionLost(connector, None)  # type: ignore[arg-type]
        self.assertEqual(len(self.clock.calls), 1)
        self.assertEqual(self.clock.calls[0].getTime(), 1.0)
        self.assertEqual(factory.status.attempt, 1)
        self.clock.advance(1.0)
        self.assertEqual(connector.connects, 1)
        factory.stopTrying()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopTryingDoesNotReconnect(self) -> None:
        """
        When stopTrying() is called with a connector set but no attempt made
        (Twisted's test_stopTryingDoesNotReconnect), no connect() and no
        timer follow.
        """
        factory = AppFactory()
        factory.clock = self.clock
        connector = _TwistedFakeConnector()
        factory.connector = connector
        factory.stopTrying()
        self.assertEqual(connector.connects, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(factory.continueTrying)

    def test_deserializationResetsParameters(self) -> None:
        """
        When a factory that has failed once is pickled and unpickled
        (Twisted's test_deserializationResetsParameters), the copy has no
        connector, a fresh state and keeps trying.
        """
        import pickle

        factory = AppFactory(alertAfter=None)
        factory.clock = self.clock
        factory.clientConnectionFailed(_TwistedFakeConnector(), None)  # type: ignore[arg-type]
        copy = pickle.loads(pickle.dumps(factory))
        factory.stopTrying()
        self.assertIsNone(copy.connector)
        self.assertIsNone(copy.clock)
        self.assertEqual(copy.retries, 0)
        self.assertEqual(copy.status.state, S.IDLE)
        self.assertTrue(copy.continueTrying)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class _WrappedConnector(FakeConnector):
    """Connections whose transport wraps the one with .connector (TLS)."""

    def succeed(self) -> Any:
        protocol = self.factory.buildProtocol(self.address)
        self.state = "connected"
        self.protocol = protocol
        self.transport = FakeTransport(self.clock, self.drop, self.address)
        self.transport.transport = FakeTransport(  # type: ignore[attr-defined]
            self.clock, self.drop, self.address, connector=self
        )
        protocol.makeConnection(self.transport)
        return protocol


class PoolMatchingTests(_Base):
    def test_connectionsMatchedToTheirConnector(self) -> None:
        """
        When the second of two pool connectors connects first, its
        connection belongs to its own member (matched by transport.connector,
        or by transport.transport.connector for a TLS-style wrapper), not to
        the first member still connecting.
        """
        for connectorClass in (FakeConnector, _WrappedConnector):
            factory = self.make()
            c1, c2 = (
                connectorClass(factory, self.clock),
                connectorClass(factory, self.clock),
            )
            c1.connect()
            c2.connect()
            c2.succeed()
            self.assertEqual(
                [m.state for m in factory.members], [S.CONNECTING, S.CONNECTED]
            )
            c1.fail()
            self.assertEqual(
                [m.state for m in factory.members], [S.WAITING, S.CONNECTED]
            )
            self.assertClean(factory, c1, c2)
