"""
Regressions for the drop-in and pool fixes made after two reviews (c401312
and the Hub/service/failover fixes that followed it): a framework factory
listed first in the bases, a subclass overriding retry() alone, maxRetries
with resetDelay() and short sessions, retry() without a connector in a pool,
a pool with a failover connector, buildProtocol() returning None in a pool,
stopTrying() before a pool connects, giveUp() from a giveUp()/stopService()
callback, and a service restarted while its link is still trying.

Each test drives fakes with a Clock (no sockets, no real waiting), asserts
exact states, attempt numbers, call counts and delays, and ends with no
delayed call left on the clock and no transport open.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ClientFactory, Protocol, ReconnectingClientFactory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.spread import pb

from reconnect_twisted import (
    ConnectionState,
    FixedBackoff,
    ReconnectingFactory,
    ReconnectingService,
)
from reconnect_twisted.failover import connectFailover
from reconnect_twisted.testing import FakeConnector, FakeEndpoint, FakeTransport
from tests.test_dropin import AppFactory, AppProtocol
from tests.test_dropin import _Base as DropinBase
from tests.test_failover import FakeTCPReactor

S = ConnectionState

ADDRESS_A = IPv4Address("TCP", "10.0.0.1", 1001)
ADDRESS_B = IPv4Address("TCP", "10.0.0.2", 1002)


class _Base(DropinBase):
    def states(self, factory: ReconnectingFactory) -> list[tuple[S, int]]:
        return [(m.state, m.attempt) for m in factory.members]


# -- 1. a framework factory listed first in the bases --------------------------


class FrameworkFactory(ClientFactory):
    """
    A framework's client factory: its own buildProtocol and
    clientConnection* methods, none of which calls ReconnectingFactory's.
    """

    protocol = AppProtocol

    def __init__(self) -> None:
        self.built: list[Any] = []
        self.failed: list[Failure] = []
        self.lostReasons: list[Failure] = []

    def buildProtocol(self, addr: Any) -> Any:
        protocol = self.protocol()
        protocol.factory = self
        self.built.append(protocol)
        return protocol

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.failed.append(reason)

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        self.lostReasons.append(reason)


class FrameworkFirst(FrameworkFactory, ReconnectingFactory):
    backoff = FixedBackoff(3.0)
    alertAfter = None  # type: ignore[assignment]


class ReconnectingPBClientFactory(pb.PBClientFactory, ReconnectingFactory):
    """buildbot's ReconnectingPBClientFactory idiom (review-b repro 01)."""

    backoff = FixedBackoff(3.0)
    alertAfter = None  # type: ignore[assignment]

    def __init__(self) -> None:
        pb.PBClientFactory.__init__(self)
        self.brokers: list[pb.Broker] = []

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        pb.PBClientFactory.clientConnectionFailed(self, connector, reason)
        if self.continueTrying:
            self.connector = connector
            self.retry()

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        pb.PBClientFactory.clientConnectionLost(
            self, connector, reason, reconnecting=True
        )
        ReconnectingFactory.clientConnectionLost(self, connector, reason)

    def clientConnectionMade(self, broker: pb.Broker) -> None:
        self.resetDelay()
        pb.PBClientFactory.clientConnectionMade(self, broker)
        self.brokers.append(broker)


class FrameworkFirstTests(_Base):
    def test_frameworkMethodsTracked(self) -> None:
        """
        When a framework factory whose buildProtocol, clientConnectionFailed
        and clientConnectionLost never call ReconnectingFactory's is listed
        first in the bases, a failed attempt is retried after the backoff
        delay, the connection made is tracked (CONNECTED, whenConnected()
        fires with its protocol) and a lost connection reconnects after the
        delay; the framework's own methods still run once per event.
        """
        factory = FrameworkFirst()
        factory.clock = self.clock
        connected = factory.whenConnected()
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        connector.fail()
        self.assertEqual(len(factory.failed), 1)
        status = factory.status
        self.assertEqual((status.state, status.attempt), (S.WAITING, 1))
        self.assertEqual(status.nextAttemptAt, 3.0)
        self.assertTrue(status.lastFailure.check(error.ConnectionRefusedError))
        self.clock.advance(2.9)
        self.assertEqual(connector.attempts, 1)
        self.clock.advance(0.1)
        self.assertEqual(connector.attempts, 2)
        self.assertEqual(factory.status.state, S.CONNECTING)
        protocol = connector.succeed()
        self.assertEqual(factory.built, [protocol])
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertIs(self.successResultOf(connected), protocol)
        connector.drop()  # before minUptime: counts as attempt 2 failing
        self.assertEqual(len(factory.lostReasons), 1)
        self.assertEqual(protocol.lost, 1)
        status = factory.status
        self.assertEqual((status.state, status.attempt), (S.WAITING, 2))
        self.assertEqual(status.nextAttemptAt, 6.0)
        self.clock.advance(3.0)
        self.assertEqual(connector.attempts, 3)
        self.assertEqual(factory.status.state, S.CONNECTING)
        self.assertClean(factory, connector)
        self.assertEqual(factory.status.state, S.STOPPED)

    def _pbConnect(self, connector: FakeConnector) -> pb.Broker:
        """Connect the client broker and run PB's dialect negotiation."""
        broker = connector.succeed()
        server = pb.PBServerFactory(pb.Root()).buildProtocol(None)
        serverTransport = StringTransport()
        server.makeConnection(serverTransport)
        broker.dataReceived(serverTransport.value())  # the server's dialects
        server.connectionLost(Failure(error.ConnectionDone()))
        return broker

    def test_pbClientFactoryFirst(self) -> None:
        """
        When twisted.spread.pb.PBClientFactory is listed first (buildbot's
        ReconnectingPBClientFactory), the broker's connection is CONNECTED,
        whenConnected() fires with the broker, getRootObject() fires once PB
        negotiated, and after the connection drops a new one is made after
        the backoff delay and negotiates too.
        """
        factory = ReconnectingPBClientFactory()
        factory.clock = self.clock
        connected = factory.whenConnected()
        root = factory.getRootObject()
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        broker = self._pbConnect(connector)
        self.assertIsInstance(broker, pb.Broker)
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertIs(self.successResultOf(connected), broker)
        self.assertIsInstance(self.successResultOf(root), pb.RemoteReference)
        self.assertEqual(factory.brokers, [broker])
        connector.drop()
        status = factory.status
        self.assertEqual((status.state, status.attempt), (S.WAITING, 1))
        self.assertEqual(status.nextAttemptAt, 3.0)
        self.clock.advance(3.0)
        self.assertEqual(connector.attempts, 2)
        second = self._pbConnect(connector)
        self.assertEqual(factory.brokers, [broker, second])
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertClean(factory, connector)
        self.assertTrue(second.disconnected)


# -- 2. retry() overridden alone ------------------------------------------------


class RotatingFactory(AppFactory):
    """Overrides retry() alone, to point the connector at the next server."""

    def __init__(self, **kw: Any) -> None:
        AppFactory.__init__(self, **kw)
        self.retryCalls: list[tuple[Any, Any, Any]] = []

    def retry(self, connector: Any = None) -> None:
        self.retryCalls.append((connector, self.connector, self.continueTrying))
        connector = connector or self.connector
        connector.address = ADDRESS_B if connector.address is ADDRESS_A else ADDRESS_A
        return ReconnectingFactory.retry(self, connector)


class RetryOverrideTests(_Base):
    def test_retryOverrideCalledAfterEachFailureAndLoss(self) -> None:
        """
        When a subclass overrides retry() alone, it is called (with no
        argument and self.connector set, as RCF calls it) once after each
        failed attempt and each lost connection while continueTrying, and
        its rotation of the connector's address takes effect: the retry
        after the delay goes to the other server.
        """
        factory = self.make(RotatingFactory)
        connector = FakeConnector(factory, self.clock, ADDRESS_A)
        connector.connect()
        connector.fail()
        self.assertEqual(factory.retryCalls, [(None, connector, 1)])
        self.assertIs(connector.address, ADDRESS_B)
        status = factory.status
        self.assertEqual((status.state, status.attempt), (S.WAITING, 1))
        self.assertEqual(status.nextAttemptAt, 3.0)
        self.assertTrue(status.lastFailure.check(error.ConnectionRefusedError))
        self.clock.advance(3.0)
        self.assertEqual(connector.attempts, 2)
        protocol = connector.succeed()
        self.assertEqual(connector.transport.getPeer(), ADDRESS_B)
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertEqual(len(factory.retryCalls), 1)
        connector.drop()
        self.assertEqual(
            factory.retryCalls, [(None, connector, 1), (None, connector, 1)]
        )
        self.assertEqual(protocol.lost, 1)
        self.assertIs(connector.address, ADDRESS_A)
        self.assertEqual(factory.status.nextAttemptAt, 6.0)
        self.clock.advance(3.0)
        self.assertEqual(connector.attempts, 3)
        connector.fail()
        self.assertEqual(len(factory.retryCalls), 3)
        self.assertIs(connector.address, ADDRESS_B)
        self.assertEqual(factory.status.attempt, 3)  # (the drop was before minUptime)
        self.assertClean(factory, connector)
        self.assertEqual(len(factory.retryCalls), 3)

    def test_retryOverrideNotCalledAfterStopTrying(self) -> None:
        """
        When retry() is overridden alone and stopTrying() is called while
        the retry's attempt is in flight, the attempt is cancelled
        (stopConnecting) and retry() is not called for its failure: one
        call in all (the first refusal's), STOPPED, two attempts.
        """
        factory = self.make(RotatingFactory)
        connector = FakeConnector(factory, self.clock, ADDRESS_A)
        connector.connect()
        connector.fail()
        self.assertEqual(factory.retryCalls, [(None, connector, 1)])
        self.clock.advance(3.0)
        self.assertEqual((connector.attempts, connector.state), (2, "connecting"))
        factory.stopTrying()
        self.assertEqual(connector.stoppedConnecting, 1)
        self.assertEqual(connector.state, "disconnected")
        self.assertEqual(len(factory.retryCalls), 1)
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(factory.continueTrying, 0)
        self.clock.advance(100)
        self.assertEqual(connector.attempts, 2)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_retryOverrideNotCalledAfterGiveUp(self) -> None:
        """
        When retry() is overridden alone and giveUp() closes the connection
        that the retry made, retry() is not called for that loss: one call
        in all (the first refusal's), STOPPED, no further attempt.
        """
        factory = self.make(RotatingFactory)
        connector = FakeConnector(factory, self.clock, ADDRESS_A)
        connector.connect()
        connector.fail()
        self.assertEqual(factory.retryCalls, [(None, connector, 1)])
        self.clock.advance(3.0)
        protocol = connector.succeed()
        self.assertEqual(factory.status.state, S.CONNECTED)
        d = factory.giveUp("done")
        self.clock.advance(0)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(protocol.lost, 1)
        self.assertTrue(connector.transport.closed)
        self.assertEqual(len(factory.retryCalls), 1)
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(factory.continueTrying, 0)
        self.clock.advance(100)
        self.assertEqual(connector.attempts, 2)
        self.assertEqual(self.clock.getDelayedCalls(), [])


# -- 3. maxRetries, resetDelay() and short sessions ---------------------------------


class ResettingFactory(AppFactory):
    """RCF's idiom: resetDelay() once connected; maxRetries = 2."""

    maxRetries = 2  # type: ignore[assignment]

    def buildProtocol(self, addr: Any) -> Any:
        self.resetDelay()
        return ReconnectingFactory.buildProtocol(self, addr)


class MaxRetriesTests(_Base):
    def test_shortSessionsNeverExceedMaxRetries(self) -> None:
        """
        When maxRetries = 2, resetDelay() is called in buildProtocol and
        every session lasts 1 s (less than minUptime, 5 s), the factory
        keeps reconnecting: after each of 6 sessions it is WAITING (the
        backoff's attempt count growing, 1 to 6, the next attempt 3 s
        later) with continueTrying 1 and no stop reason.
        Once attempts then stop connecting, it stops after maxRetries as
        RCF does (its retries counter reset by the last resetDelay()): the
        lost session and the next refusal are retried, the second refusal
        (RCF's third retry) stops it ("maxRetries (2) exceeded").
        """
        factory = self.make(ResettingFactory)
        self.assertEqual(factory.minUptime, 5.0)
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        for session in range(1, 7):
            self.assertEqual(connector.attempts, session)
            protocol = connector.succeed()
            self.assertEqual(factory.status.state, S.CONNECTED)
            self.clock.advance(1.0)
            connector.drop()
            self.assertEqual(protocol.lost, 1)
            status = factory.status
            # The deferred resetDelay() keeps the backoff's count (each
            # session is shorter than minUptime), not maxRetries' count.
            self.assertEqual(
                (status.state, status.attempt, status.stopReason),
                (S.WAITING, session, None),
            )
            self.assertEqual(status.nextAttemptAt, self.clock.seconds() + 3.0)
            self.assertEqual(factory.continueTrying, 1)
            self.clock.advance(3.0)
        self.assertEqual(connector.attempts, 7)
        connector.fail()  # RCF's retries: 2 (the lost session was 1)
        self.assertEqual(self.states(factory), [(S.WAITING, 7)])
        self.assertEqual(factory.status.nextAttemptAt, self.clock.seconds() + 3.0)
        self.clock.advance(3.0)
        connector.fail()  # 3 > maxRetries
        status = factory.status
        self.assertEqual((status.state, status.attempt), (S.STOPPED, 8))
        self.assertEqual(status.stopReason, "gave up: maxRetries (2) exceeded")
        self.assertEqual(factory.continueTrying, 0)
        self.clock.advance(100)
        self.assertEqual(connector.attempts, 8)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def _refusedUntilStopped(self, factory: Any, connector: FakeConnector) -> None:
        """Refuse every attempt until the factory stops (at most 10)."""
        for _ in range(10):
            connector.fail()
            if factory.status.state is S.STOPPED:
                return
            self.clock.advance(3.0)

    def test_connectedAttemptResetsMaxRetriesRefusalsStillStop(self) -> None:
        """
        When maxRetries = 2 and no attempt ever connects, the third refusal
        stops the factory (STOPPED at attempt 3, "maxRetries (2)
        exceeded"). When instead two refusals are followed by an attempt
        that connects (resetDelay() in buildProtocol) for a 1 s session, its
        loss is retried (WAITING, attempt 3, still trying) and the count
        restarts there: the next refusal is retried and the one after
        stops it (STOPPED at attempt 5), with nothing scheduled.
        """
        factory = self.make(ResettingFactory)
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        self._refusedUntilStopped(factory, connector)
        status = factory.status
        self.assertEqual((status.state, status.attempt), (S.STOPPED, 3))
        self.assertEqual(status.stopReason, "gave up: maxRetries (2) exceeded")
        self.assertEqual(connector.attempts, 3)
        self.assertEqual(self.clock.getDelayedCalls(), [])

        factory = self.make(ResettingFactory)
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        connector.fail()
        self.clock.advance(3.0)
        connector.fail()
        self.assertEqual(self.states(factory), [(S.WAITING, 2)])
        self.clock.advance(3.0)
        protocol = connector.succeed()
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.clock.advance(1.0)
        connector.drop()
        self.assertEqual(protocol.lost, 1)
        status = factory.status
        self.assertEqual(
            (status.state, status.attempt, status.stopReason), (S.WAITING, 3, None)
        )
        self.assertEqual(factory.continueTrying, 1)
        self.clock.advance(3.0)
        self.assertEqual(connector.attempts, 4)
        self._refusedUntilStopped(factory, connector)
        status = factory.status
        self.assertEqual((status.state, status.attempt), (S.STOPPED, 5))
        self.assertEqual(status.stopReason, "gave up: maxRetries (2) exceeded")
        self.assertEqual(factory.continueTrying, 0)
        self.clock.advance(100)
        self.assertEqual(connector.attempts, 5)
        self.assertEqual(self.clock.getDelayedCalls(), [])


# -- 4.-7. pools: one factory, several connectors ----------------------------------


class BuildbotPoolFactory(AppFactory):
    """buildbot's overrides: self.connector = connector; self.retry()."""

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        if self.continueTrying:
            self.connector = connector
            self.retry()

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        ReconnectingClientFactory.clientConnectionLost(self, connector, reason)


class RefusingFactory(AppFactory):
    """buildProtocol() returns None while refuse is set."""

    refuse = False

    def buildProtocol(self, addr: Any) -> Any:
        if self.refuse:
            return None
        return ReconnectingFactory.buildProtocol(self, addr)


class _TwistedNoProtocolConnector(FakeConnector):
    """
    A connector that handles buildProtocol() returning None as Twisted's TCP
    client does: a bare Protocol stands in, the connection is closed at
    once, and the factory hears clientConnectionLost (not Failed).
    """

    def succeed(self) -> Any:
        protocol = self.factory.buildProtocol(self.address)
        if protocol is not None:
            self.state = "connected"
            self.protocol = protocol
            self.transport = FakeTransport(
                self.clock, self.drop, self.address, connector=self
            )
            protocol.makeConnection(self.transport)
            return protocol
        self.state = "connected"
        self.protocol = Protocol()
        self.transport = FakeTransport(
            self.clock, self.drop, self.address, connector=self
        )
        self.transport.loseConnection()
        return None


class PoolTests(_Base):
    def test_retryWithoutConnectorAffectsItsLinkOnly(self) -> None:
        """
        When one factory serves two connectors and its clientConnectionFailed
        sets self.connector and calls retry() with no argument (buildbot),
        c1's refusal makes c1's link WAITING (attempt 1) and leaves c2's
        CONNECTING (attempt 0); c2's attempt then connects (CONNECTED) and
        c1 alone retries 3 s later.
        """
        factory = self.make(BuildbotPoolFactory)
        c1, c2 = FakeConnector(factory, self.clock), FakeConnector(factory, self.clock)
        c1.connect()
        c2.connect()
        c1.fail()
        self.assertEqual(self.states(factory), [(S.WAITING, 1), (S.CONNECTING, 0)])
        self.assertEqual(c2.state, "connecting")
        c2.succeed()
        self.assertEqual(self.states(factory), [(S.WAITING, 1), (S.CONNECTED, 0)])
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.clock.advance(3.0)
        self.assertEqual((c1.attempts, c2.attempts), (2, 1))
        self.assertEqual(self.states(factory), [(S.CONNECTING, 1), (S.CONNECTED, 0)])
        self.assertClean(factory, c1, c2)

    def test_failoverConnectionBelongsToItsLink(self) -> None:
        """
        When one factory serves a plain connector and a connectFailover()
        connector, both CONNECTING, the failover's connection makes the
        failover's link CONNECTED (server "a:1") and leaves the plain one
        CONNECTING; the plain connector's refusal then makes its own link
        WAITING and it retries 3 s later, while the failover's connection
        stays up with no new real connector made.
        """
        factory = self.make()
        plain = FakeConnector(factory, self.clock)
        plain.connect()
        reactor = FakeTCPReactor(self.clock, [])
        failover = connectFailover(reactor, [("a", 1), ("b", 2)], factory)
        self.assertEqual(
            [m.state for m in factory.members], [S.CONNECTING, S.CONNECTING]
        )
        protocol = reactor.connectors[-1].succeed()
        self.assertEqual(protocol.made, 1)
        self.assertEqual(
            [m.state for m in factory.members], [S.CONNECTING, S.CONNECTED]
        )
        self.assertEqual([m.server for m in factory.members], ["127.0.0.1:4321", "a:1"])
        plain.fail()
        self.assertEqual(self.states(factory), [(S.WAITING, 1), (S.CONNECTED, 0)])
        self.clock.advance(3.0)
        self.assertEqual(plain.attempts, 2)
        self.assertEqual(len(reactor.connectors), 1)
        self.assertEqual(failover.state, "connected")
        self.assertEqual(protocol.lost, 0)
        self.assertClean(factory, plain, *reactor.connectors)
        self.assertEqual(protocol.lost, 1)

    def test_noProtocolFailsItsOwnLink(self) -> None:
        """
        When one factory serves two connectors and buildProtocol() returns
        None for c2's connection, c2's link is WAITING (attempt 1, the
        NoProtocol failure) and c1's in-flight attempt is untouched
        (CONNECTING, attempt 0); c1 then connects, and c2 alone retries 3 s
        later.
        """
        factory = self.make(RefusingFactory)
        c1, c2 = FakeConnector(factory, self.clock), FakeConnector(factory, self.clock)
        c1.connect()
        c2.connect()
        factory.refuse = True
        self.assertIsNone(c2.succeed())
        factory.refuse = False
        self.assertEqual(self.states(factory), [(S.CONNECTING, 0), (S.WAITING, 1)])
        self.assertTrue(factory.members[1].lastFailure.check(error.NoProtocol))
        self.assertEqual(c1.state, "connecting")
        c1.succeed()
        self.assertEqual(self.states(factory), [(S.CONNECTED, 0), (S.WAITING, 1)])
        self.clock.advance(3.0)
        self.assertEqual((c1.attempts, c2.attempts), (1, 2))
        self.assertEqual(self.states(factory), [(S.CONNECTED, 0), (S.CONNECTING, 1)])
        self.assertClean(factory, c1, c2)

    def test_noProtocolTwistedPathFailsItsOwnLink(self) -> None:
        """
        When buildProtocol() returns None for c2 and the connector reports
        it as Twisted's TCP client does (a bare Protocol, the connection
        closed, clientConnectionLost), c2's link alone fails (WAITING,
        attempt 1) and c1's in-flight attempt stays CONNECTING (attempt 0);
        c2 alone retries 3 s later.
        """
        factory = self.make(RefusingFactory)
        c1 = _TwistedNoProtocolConnector(factory, self.clock)
        c2 = _TwistedNoProtocolConnector(factory, self.clock)
        c1.connect()
        c2.connect()
        factory.refuse = True
        self.assertIsNone(c2.succeed())
        factory.refuse = False
        self.clock.advance(0)  # the bare protocol's connection closes
        self.assertEqual(c2.state, "disconnected")
        self.assertEqual(self.states(factory), [(S.CONNECTING, 0), (S.WAITING, 1)])
        self.assertEqual(c1.state, "connecting")
        self.clock.advance(3.0)
        self.assertEqual((c1.attempts, c2.attempts), (1, 2))
        self.assertEqual(self.states(factory), [(S.CONNECTING, 0), (S.CONNECTING, 1)])
        c1.succeed()
        c2.succeed()
        self.assertEqual(self.states(factory), [(S.CONNECTED, 0), (S.CONNECTED, 1)])
        self.assertClean(factory, c1, c2)

    def test_stopTryingBeforePoolConnects(self) -> None:
        """
        When stopTrying() is called before two connectors start (RCF's
        connect-once idiom), each connector makes exactly one attempt: c1's
        refusal stops c1's link, c2's connection is kept and not remade
        once lost; both links end STOPPED and continueTrying stays 0.
        """
        factory = self.make()
        factory.stopTrying()
        self.assertEqual(factory.continueTrying, 0)
        c1, c2 = FakeConnector(factory, self.clock), FakeConnector(factory, self.clock)
        c1.connect()
        c2.connect()
        c1.fail()
        protocol = c2.succeed()
        self.assertEqual([m.state for m in factory.members], [S.STOPPED, S.CONNECTED])
        c2.drop()
        self.assertEqual(protocol.lost, 1)
        self.clock.advance(3.0)
        self.clock.advance(3.0)
        self.assertEqual((c1.attempts, c2.attempts), (1, 1))
        self.assertEqual([m.state for m in factory.members], [S.STOPPED] * 2)
        self.assertEqual(factory.continueTrying, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopTryingBeforePoolConnectsBothRefused(self) -> None:
        """
        When stopTrying() is called before two connectors start and both
        attempts are refused, neither retries: one attempt each, both links
        STOPPED, continueTrying 0, nothing scheduled.
        """
        factory = self.make()
        factory.stopTrying()
        c1, c2 = FakeConnector(factory, self.clock), FakeConnector(factory, self.clock)
        c1.connect()
        c2.connect()
        c1.fail()
        c2.fail()
        self.clock.advance(3.0)
        self.clock.advance(3.0)
        self.assertEqual((c1.attempts, c2.attempts), (1, 1))
        self.assertEqual([m.state for m in factory.members], [S.STOPPED] * 2)
        self.assertEqual(factory.continueTrying, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_newPoolConnectorWhileLinkResumesAfterClose(self) -> None:
        """
        When a link was given up and then told to reconnect while its close
        is still pending (it attempts once the close completes), the factory
        is trying: continueTrying reads 1, and a connector added to the pool
        at that moment tries like any (refused, it waits and retries) rather
        than inheriting the earlier give-up. The getter and the pool agree
        on "trying".
        """
        factory = self.make()
        c1 = FakeConnector(factory, self.clock)
        c1.connect()
        c1.succeed()
        factory.giveUp()
        factory.reconnectNow()  # the close is pending: attempt after it
        self.assertEqual(factory.continueTrying, 1)
        c2 = FakeConnector(factory, self.clock)
        c2.connect()
        c2.fail()
        self.assertEqual(self.states(factory), [(S.STOPPED, 0), (S.WAITING, 1)])
        self.clock.advance(0)  # c1's close completes: its link attempts
        self.assertEqual(self.states(factory), [(S.CONNECTING, 0), (S.WAITING, 1)])
        self.assertEqual((c1.attempts, c2.attempts), (2, 1))
        self.clock.advance(3.0)
        self.assertEqual((c1.attempts, c2.attempts), (2, 2))
        c1.succeed()
        c2.succeed()
        self.assertEqual(self.states(factory), [(S.CONNECTED, 0), (S.CONNECTED, 1)])
        self.assertEqual(factory.continueTrying, 1)
        self.assertClean(factory, c1, c2)


# -- 8. giveUp() from a giveUp()/stopService() callback -------------------------


class NestedGiveUpTests(_Base):
    def test_giveUpFromStopServiceCallback(self) -> None:
        """
        When a callback of stopService()'s Deferred calls factory.giveUp(),
        both Deferreds fire (with None), once the connection is closed.
        """
        factory = self.make()
        endpoint = FakeEndpoint(self.clock)
        service = ReconnectingService(endpoint, factory)
        service.startService()
        protocol = endpoint.succeed()
        results: list[tuple[str, Any]] = []

        def stopped(result: Any) -> Any:
            d2 = factory.giveUp("shutdown")
            d2.addBoth(lambda r: results.append(("giveUp", r)))
            return result

        d1 = service.stopService()
        d1.addCallback(stopped)
        d1.addBoth(lambda r: results.append(("stopService", r)))
        self.assertEqual(results, [])
        self.clock.advance(0)
        self.assertEqual(results, [("stopService", None), ("giveUp", None)])
        self.assertEqual(protocol.lost, 1)
        self.assertTrue(endpoint.transport.closed)
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_giveUpFromGiveUpCallback(self) -> None:
        """
        When a service drives the factory and a callback of one giveUp()
        Deferred calls giveUp() again, the second Deferred fires too (with
        None), once the connection is closed.
        """
        factory = self.make()
        endpoint = FakeEndpoint(self.clock)
        service = ReconnectingService(endpoint, factory)
        service.startService()
        protocol = endpoint.succeed()
        results: list[tuple[str, Any]] = []

        def closed(result: Any) -> Any:
            d2 = factory.giveUp("again")
            d2.addBoth(lambda r: results.append(("second", r)))
            return result

        d1 = factory.giveUp("first")
        d1.addCallback(closed)
        d1.addBoth(lambda r: results.append(("first", r)))
        self.clock.advance(0)
        self.assertEqual(results, [("first", None), ("second", None)])
        self.assertEqual(protocol.lost, 1)
        self.assertTrue(endpoint.transport.closed)
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(self.clock.getDelayedCalls(), [])


# -- 9. a service restarted while its link is still trying -------------------------


class RecordingEndpoint(FakeEndpoint):
    """Keeps every attempt's Deferred (FakeEndpoint only keeps the last)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.all: list[Deferred[Any]] = []

    def connect(self, protocolFactory: Any) -> Deferred[Any]:
        d = super().connect(protocolFactory)
        self.all.append(d)
        return d

    def inFlight(self) -> int:
        return sum(1 for d in self.all if not d.called)


class ServiceRestartTests(_Base):
    def _restarted(self) -> tuple[Any, RecordingEndpoint, ReconnectingService]:
        """startService, stopService, reconnectNow(), startService again."""
        factory = self.make(connectTimeout=10.0)
        endpoint = RecordingEndpoint(self.clock)
        service = ReconnectingService(endpoint, factory)
        service.startService()
        self.assertEqual((endpoint.attempts, endpoint.inFlight()), (1, 1))
        d = service.stopService()
        self.assertEqual((endpoint.cancelled, endpoint.inFlight()), (1, 0))
        self.successResultOf(d)
        reconnected = factory.reconnectNow()
        reconnected.addErrback(lambda f: None)
        self.assertEqual(factory.status.state, S.CONNECTING)
        self.assertEqual((endpoint.attempts, endpoint.inFlight()), (2, 1))
        service.startService()
        self.assertEqual((endpoint.attempts, endpoint.inFlight()), (2, 1))
        self.assertEqual(factory.status.state, S.CONNECTING)
        return factory, endpoint, service

    def test_restartKeepsOneAttemptStopCancelsIt(self) -> None:
        """
        When the service is started, stopped, its factory's reconnectNow()
        resumes the link and the service is started again, one endpoint
        attempt is in flight; stopService() cancels it (none left in
        flight, STOPPED, nothing scheduled).
        """
        factory, endpoint, service = self._restarted()
        d = service.stopService()
        self.clock.advance(0)
        self.successResultOf(d)
        self.assertEqual((endpoint.cancelled, endpoint.inFlight()), (2, 0))
        self.assertEqual(endpoint.attempts, 2)
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_restartTimeoutAndRetryOneAttemptAtATime(self) -> None:
        """
        After the restart, the connect timeout (10 s) cancels the attempt in
        flight, the retry 3 s later is the only attempt in flight, and
        stopService() cancels it: 3 attempts, 3 cancelled, none in flight.
        """
        factory, endpoint, service = self._restarted()
        self.clock.advance(10.0)
        self.assertEqual((endpoint.cancelled, endpoint.inFlight()), (2, 0))
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertEqual(factory.status.nextAttemptAt, 13.0)
        self.clock.advance(3.0)
        self.assertEqual((endpoint.attempts, endpoint.inFlight()), (3, 1))
        d = service.stopService()
        self.clock.advance(0)
        self.successResultOf(d)
        self.assertEqual(
            (endpoint.attempts, endpoint.cancelled, endpoint.inFlight()), (3, 3, 0)
        )
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(self.clock.getDelayedCalls(), [])


# -- 10. startedConnecting() overridden without calling the base ----------------


class HowtoFactory(AppFactory):
    """Twisted's client howto: ``startedConnecting`` prints, never chains."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.started: list[str] = []

    def startedConnecting(self, connector: Any) -> None:
        self.started.append(self.status.state.value)


class ChainingHowtoFactory(HowtoFactory):
    def startedConnecting(self, connector: Any) -> None:
        super().startedConnecting(connector)
        ReconnectingFactory.startedConnecting(self, connector)


class RaisingStartFactory(AppFactory):
    def startedConnecting(self, connector: Any) -> None:
        raise RuntimeError("app bug")


class StopInStartFactory(AppFactory):
    def startedConnecting(self, connector: Any) -> None:
        self.stopTrying()


class StartedConnectingOverrideTests(_Base):
    def test_howtoOverrideSeesEveryAttempt(self) -> None:
        """
        When startedConnecting() is overridden without calling the base (a
        no-op in RCF), the machine still hears of each attempt first: the
        override sees CONNECTING, the first connection is kept (not closed
        as "made while idle"), and a retry calls the override again.
        """
        factory = self.make(HowtoFactory)
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        self.assertEqual(factory.started, ["connecting"])
        self.assertEqual(factory.status.state, S.CONNECTING)
        protocol = connector.succeed()
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertEqual((protocol.made, protocol.lost), (1, 0))
        connector.drop()
        self.clock.advance(3.0)
        self.assertEqual((factory.started, connector.attempts), (["connecting"] * 2, 2))
        connector.fail()  # (the loss was failure 1, this refusal is 2)
        self.assertEqual(self.states(factory), [(S.WAITING, 2)])
        self.assertClean(factory, connector)

    def test_connectOnceWithHowtoOverride(self) -> None:
        """
        When stopTrying() comes before connectTCP() (RCF's connect-once
        idiom) and startedConnecting() is overridden, the one connection is
        made and kept, and not remade once lost.
        """
        factory = self.make(HowtoFactory)
        factory.stopTrying()
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        protocol = connector.succeed()
        self.assertEqual((factory.status.state, protocol.lost), (S.CONNECTED, 0))
        connector.drop()
        self.clock.advance(10.0)
        self.assertEqual((connector.attempts, factory.status.state), (1, S.STOPPED))
        self.assertClean(factory, connector)

    def test_chainingOverrideReportsOnce(self) -> None:
        """
        When the override does call the base (twice, even), the attempt is
        still one attempt: attempt 0 CONNECTING, a refusal counts once.
        """
        factory = self.make(ChainingHowtoFactory)
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        self.assertEqual(self.states(factory), [(S.CONNECTING, 0)])
        connector.fail()
        self.assertEqual(self.states(factory), [(S.WAITING, 1)])
        self.clock.advance(3.0)
        self.assertEqual((connector.attempts, factory.started), (2, ["connecting"] * 2))
        self.assertClean(factory, connector)

    def test_raisingOverrideIsLoggedAttemptGoesOn(self) -> None:
        """
        When the override raises, that is logged once per call and the
        attempt goes on: it connects and the factory is CONNECTED.
        """
        factory = self.make(RaisingStartFactory)
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        connector.succeed()
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertClean(factory, connector)

    def test_controlFromOverride(self) -> None:
        """
        When the override calls stopTrying() during the attempt it reports,
        the control acts on the attempt the machine already knows of: it is
        cancelled (stopConnecting), the factory is STOPPED at once and
        nothing is retried.
        """
        factory = self.make(StopInStartFactory)
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(connector.state, "disconnected")
        self.clock.advance(10.0)
        self.assertEqual((connector.attempts, factory.status.state), (1, S.STOPPED))
        self.assertClean(factory, connector)


# -- 11. a framework factory after ReconnectingFactory in the bases -------------


class UrlFactory(ClientFactory):
    """A framework factory whose ``__init__`` needs an argument."""

    def __init__(self, url: str, *, debug: bool = False) -> None:
        self.url, self.debug = url, debug


class RCFFirstUrl(ReconnectingFactory, UrlFactory):
    protocol = AppProtocol


class ReconnectingFirstPB(ReconnectingFactory, pb.PBClientFactory):
    pass


class OwnInit(ReconnectingFactory, UrlFactory):
    def __init__(self) -> None:
        ReconnectingFactory.__init__(self, minUptime=0.0)
        UrlFactory.__init__(self, "ws://own")


class FrameworkAfterUsTests(_Base):
    def test_pbFrameworkInitRuns(self) -> None:
        """
        When PBClientFactory comes after ReconnectingFactory in the bases
        (RCF-first code), its __init__ runs as it would under RCF (which has
        none): its state exists, its keyword arguments reach it, and ours
        are still ours.
        """
        factory = ReconnectingFirstPB(unsafeTracebacks=True, backoff=FixedBackoff(3.0))
        self.assertEqual(
            (factory.rootObjectRequests, factory._broker, factory.unsafeTracebacks),
            ([], None, True),
        )
        self.assertEqual(factory.backoff.interval, 3.0)  # type: ignore[union-attr]

    def test_frameworkPositionalAndKeywordArguments(self) -> None:
        """
        When the framework's __init__ takes a positional argument, it gets
        it (and its keywords); our keywords configure the factory, which
        connects and reconnects.
        """
        factory = RCFFirstUrl("ws://server", debug=True, clock=self.clock,
                              backoff=FixedBackoff(3.0), alertAfter=None)
        self.assertEqual((factory.url, factory.debug), ("ws://server", True))
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        connector.succeed()
        connector.drop()
        self.assertEqual(factory.status.nextAttemptAt, 3.0)
        self.assertClean(factory, connector)

    def test_superInitReachesFramework(self) -> None:
        """
        When a subclass's own __init__ calls super().__init__(url, ...) (as
        under RCF, where that reaches the framework), the framework gets its
        argument and ours configure the factory; a subclass of a working
        mixin too; with no arguments, PBClientFactory's __init__ (which
        needs none) still runs.
        """

        class Own(ReconnectingFactory, UrlFactory):
            def __init__(self, url: str) -> None:
                super().__init__(url, minUptime=1.0)

        class Sub(RCFFirstUrl):
            def __init__(self, url: str) -> None:
                super().__init__(url, debug=True, minUptime=2.0)

        class OwnPB(ReconnectingFactory, pb.PBClientFactory):
            def __init__(self) -> None:
                super().__init__(backoff=FixedBackoff(3.0))

        own, sub, ownPB = Own("ws://a"), Sub("ws://b"), OwnPB()
        self.assertEqual((own.url, own.debug, own.minUptime), ("ws://a", False, 1.0))
        self.assertEqual((sub.url, sub.debug, sub.minUptime), ("ws://b", True, 2.0))
        self.assertEqual((ownPB.rootObjectRequests, ownPB._broker), ([], None))

    def test_ownInitUntouched(self) -> None:
        """
        When the subclass has an __init__ of its own, it alone decides: the
        framework's __init__ runs once, with its arguments.
        """
        factory = OwnInit()
        self.assertEqual((factory.url, factory.minUptime), ("ws://own", 0.0))

    def test_noFrameworkRefusesExtraArguments(self) -> None:
        """
        Without a framework base, positional and unknown keyword arguments
        are refused with a TypeError naming the class and the argument.
        """
        with self.assertRaises(TypeError) as positional:
            AppFactory(5)
        self.assertEqual(
            str(positional.exception),
            "AppFactory() takes keyword arguments only (1 positional given)",
        )
        with self.assertRaises(TypeError) as keyword:
            ReconnectingFactory(backof=FixedBackoff(3.0))
        self.assertEqual(
            str(keyword.exception),
            "ReconnectingFactory() got an unexpected keyword argument 'backof'",
        )
