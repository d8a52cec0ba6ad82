"""
The core scenarios of ReconnectingFactory, run on both paths (connector and
endpoint) with task.Clock and fake transports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from twisted.internet import error
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.protocol import Protocol, ReconnectingClientFactory
from twisted.internet.task import Clock
from twisted.logger import LogEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import (
    ConnectionState,
    ConnectionStatus,
    ConnectTimeout,
    ExponentialBackoff,
    FixedBackoff,
    GaveUp,
    GiveUp,
    HandshakeRejected,
    HandshakeSteps,
    HandshakeTimeout,
    Kicked,
    Reconnect,
    ReconnectAfter,
    ReconnectingFactory,
    ReconnectingService,
)
from reconnect_twisted.testing import FakeConnector, FakeEndpoint

S = ConnectionState


class RecordingProtocol(Protocol):
    """Records its connectionMade / connectionLost calls."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def connectionMade(self) -> None:
        self.events.append("made")

    def connectionLost(self, reason: Failure = error.ConnectionDone) -> None:  # type: ignore[assignment]
        self.events.append("lost")


class AppFactory(ReconnectingFactory):
    protocol = RecordingProtocol


class Path:
    """
    Drives a factory through one of the two paths: ``fake`` is a
    FakeConnector (as reactor.connectTCP) or a FakeEndpoint (under
    ReconnectingService); both fakes have the same test controls.
    """

    def __init__(self, fake: Any, start: Any) -> None:
        self.fake = fake
        self.start = start

    def succeed(self) -> Any:
        return self.fake.succeed()

    def fail(self, reason: BaseException | None = None) -> None:
        self.fake.fail(reason)

    def drop(self, reason: BaseException | None = None) -> None:
        self.fake.drop(reason)

    @property
    def attempts(self) -> int:
        return int(self.fake.attempts)

    @property
    def connecting(self) -> bool:
        return bool(self.fake.state == "connecting")

    @property
    def transport(self) -> Any:
        return self.fake.transport


def connectorPath(factory: ReconnectingFactory, clock: Clock) -> Path:
    """The connector path: reactor.connectTCP(host, port, factory)."""
    connector = FakeConnector(factory, clock)
    return Path(connector, connector.connect)


def endpointPath(factory: ReconnectingFactory, clock: Clock) -> Path:
    """The endpoint path: ReconnectingService(endpoint, factory)."""
    endpoint = FakeEndpoint(clock)
    return Path(endpoint, ReconnectingService(endpoint, factory).startService)


class _CoreTests:
    """
    Tests run on each path; subclasses set ``pathClass``.
    """

    pathClass: ClassVar[Callable[[ReconnectingFactory, Clock], Path]]

    # helpers

    def setUp(self) -> None:
        self.clock = Clock()
        self.statuses: list[ConnectionStatus] = []
        self.events: list[LogEvent] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)  # type: ignore[attr-defined]

    def make(
        self, factoryClass: type[ReconnectingFactory] = AppFactory, **kw: Any
    ) -> Any:
        kw.setdefault("clock", self.clock)
        kw.setdefault("backoff", FixedBackoff(3.0))
        kw.setdefault("alertAfter", None)
        self.factory = factoryClass(**kw)
        self.factory.addStatusObserver(self.statuses.append)
        self.path = self.pathClass(self.factory, self.clock)
        return self.path

    def states(self) -> list[str]:
        return [s.state.name for s in self.statuses]

    def attemptTimes(self) -> list[float]:
        return [s.since for s in self.statuses if s.state is S.CONNECTING]

    def assertClean(self) -> None:
        """Give up, let transports close, and check nothing is left behind."""
        t: Any = self
        d = self.factory.giveUp("test over")
        self.clock.advance(0)
        t.assertIsNone(t.successResultOf(d))
        t.assertEqual(self.clock.getDelayedCalls(), [])
        transport = self.path.transport
        if transport is not None:
            t.assertTrue(transport.closed)
        t.assertFalse(self.path.connecting)

    # scenario A: fixed schedule forever

    def test_fixedScheduleForever(self) -> None:
        """When every attempt fails, FixedBackoff(3) tries at t=3, 6, 9, ..."""
        t: Any = self
        path = self.make()
        path.start()
        for _ in range(6):
            path.fail()
            t.assertEqual(self.factory.status.nextAttemptAt, self.clock.seconds() + 3.0)
            self.clock.advance(3.0)
        t.assertEqual(self.attemptTimes(), [0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0])
        t.assertEqual(path.attempts, 7)
        t.assertEqual(self.factory.status.attempt, 6)
        self.assertClean()

    def test_exponentialSchedule(self) -> None:
        """When the client preset fails, delays are 2, 4, 8, 10, 10 (cap 10)."""
        t: Any = self
        path = self.make(backoff=ExponentialBackoff(2, 2, 10, jitter=0))
        path.start()
        delays = []
        for expectedAttempt in range(1, 6):
            path.fail()
            status = self.factory.status
            t.assertEqual(status.attempt, expectedAttempt)
            assert status.nextAttemptAt is not None
            delays.append(status.nextAttemptAt - self.clock.seconds())
            self.clock.advance(delays[-1])
        t.assertEqual(delays, [2.0, 4.0, 8.0, 10.0, 10.0])
        self.assertClean()

    def test_afterCapRestart(self) -> None:
        """When afterCap is "restart", the delay falls back to 2 after the cap."""
        t: Any = self
        path = self.make(backoff=ExponentialBackoff(2, 2, 8, 0, "restart"))
        path.start()
        delays = []
        for _ in range(5):
            path.fail()
            delays.append(self.factory.status.nextAttemptAt - self.clock.seconds())
            self.clock.advance(delays[-1])
        t.assertEqual(delays, [2.0, 4.0, 8.0, 2.0, 4.0])
        self.assertClean()

    # handshake

    def test_connectedOnlyAfterHandshake(self) -> None:
        """When the handshake is pending, the factory is HANDSHAKING, not CONNECTED."""
        t: Any = self
        pending: list[Deferred[None]] = []

        def handshake(protocol: Any) -> Deferred[None]:
            t.assertEqual(protocol.events, ["made"])
            pending.append(Deferred())
            return pending[-1]

        path = self.make(handshake=handshake)
        waiter = self.factory.whenConnected()
        path.start()
        protocol = path.succeed()
        t.assertEqual(self.factory.status.state, S.HANDSHAKING)
        t.assertNoResult(waiter)
        pending[0].callback(None)
        t.assertEqual(self.factory.status.state, S.CONNECTED)
        t.assertIs(t.successResultOf(waiter), protocol)
        t.assertIs(t.successResultOf(self.factory.whenConnected()), protocol)
        t.assertIsInstance(protocol, RecordingProtocol)
        t.assertEqual(self.states(), ["CONNECTING", "HANDSHAKING", "CONNECTED"])
        self.assertClean()
        t.assertEqual(protocol.events, ["made", "lost"])

    def test_handshakeFails(self) -> None:
        """When the handshake fails, the transport is aborted and we wait."""
        t: Any = self
        path = self.make(handshake=lambda p: _fail())
        path.start()
        protocol = path.succeed()
        t.assertTrue(path.transport.disconnected)  # abortConnection()
        status = self.factory.status
        t.assertEqual(status.state, S.WAITING)
        t.assertEqual(status.nextAttemptAt, 3.0)
        t.assertIsInstance(status.lastFailure.value, HandshakeRejected)
        self.clock.advance(0)  # the aborted transport closes
        t.assertEqual(protocol.events, ["made", "lost"])
        t.assertEqual(self.factory.status.state, S.WAITING)
        t.assertEqual([c.getTime() for c in self.clock.getDelayedCalls()], [3.0])
        self.clock.advance(3.0)
        t.assertEqual(path.attempts, 2)
        self.assertClean()

    def test_handshakeTimeout(self) -> None:
        """When the handshake hangs, it is cancelled after handshakeTimeout."""
        t: Any = self
        cancelled = []
        path = self.make(
            handshake=lambda p: Deferred(lambda d: cancelled.append(d)),
            handshakeTimeout=10.0,
        )
        path.start()
        path.succeed()
        self.clock.advance(9.9)
        t.assertEqual(self.factory.status.state, S.HANDSHAKING)
        self.clock.advance(0.1)
        t.assertEqual(len(cancelled), 1)
        status = self.factory.status
        t.assertEqual(status.state, S.WAITING)
        t.assertIsInstance(status.lastFailure.value, HandshakeTimeout)
        t.assertEqual(status.nextAttemptAt, 13.0)
        self.assertClean()

    def test_multiStepHandshakeStep2Fails(self) -> None:
        """When step 2 of HandshakeSteps fails, the failure names the step."""
        t: Any = self
        calls = []

        def login(protocol: Any) -> None:
            calls.append("login")

        def join(protocol: Any) -> Deferred[None]:
            calls.append("join")
            return Deferred()

        path = self.make(
            handshake=HandshakeSteps(("login", login), ("join", join), stepTimeout=5.0)
        )
        path.start()
        path.succeed()
        t.assertEqual(calls, ["login", "join"])
        self.clock.advance(5.0)
        status = self.factory.status
        t.assertEqual(status.state, S.WAITING)
        t.assertIsInstance(status.lastFailure.value, HandshakeTimeout)
        t.assertIn("'join'", str(status.lastFailure.value))
        t.assertEqual(status.nextAttemptAt, 8.0)
        self.assertClean()

    def test_dropDuringHandshake(self) -> None:
        """When the transport drops mid-handshake, the handshake is cancelled."""
        t: Any = self
        cancelled = []
        path = self.make(handshake=lambda p: Deferred(lambda d: cancelled.append(1)))
        path.start()
        path.succeed()
        path.drop()
        t.assertEqual(cancelled, [1])
        t.assertEqual(self.factory.status.state, S.WAITING)
        t.assertEqual(self.factory.status.attempt, 1)
        t.assertEqual([c.getTime() for c in self.clock.getDelayedCalls()], [3.0])
        self.assertClean()

    def test_acceptAndDropNoTightLoop(self) -> None:
        """When a server logs us in and drops at once, delays keep growing."""
        t: Any = self
        path = self.make(backoff=ExponentialBackoff(1, 2, 64, 0), minUptime=5.0)
        path.start()
        delays = []
        for _ in range(5):
            path.succeed()
            t.assertEqual(self.factory.status.state, S.CONNECTED)
            path.drop()
            delays.append(self.factory.status.nextAttemptAt - self.clock.seconds())
            self.clock.advance(delays[-1])
        t.assertEqual(delays, [1.0, 2.0, 4.0, 8.0, 16.0])
        # Staying up for minUptime resets the schedule.
        path.succeed()
        self.clock.advance(5.0)
        t.assertEqual(self.factory.status.attempt, 0)
        path.drop()
        t.assertEqual(self.factory.status.nextAttemptAt, self.clock.seconds() + 1.0)
        self.assertClean()

    # policy

    def test_kicked(self) -> None:
        """When kicked, the factory stops for good and whenConnected fails."""
        t: Any = self
        path = self.make()
        path.start()
        protocol = path.succeed()
        self.factory.kicked("logged in elsewhere")
        status = self.factory.status
        t.assertEqual(status.state, S.STOPPED)
        t.assertEqual(status.stopReason, "kicked: logged in elsewhere")
        t.assertIsInstance(status.lastFailure.value, Kicked)
        t.assertTrue(path.transport.disconnecting)
        waiter = self.factory.whenConnected()
        t.failureResultOf(waiter, GaveUp)
        self.clock.advance(1000)
        t.assertEqual(path.attempts, 1)
        t.assertEqual(protocol.events, ["made", "lost"])
        self.assertClean()

    def test_kickedFailsPendingWaiter(self) -> None:
        """When kicked during the handshake, pending waiters fail with GaveUp."""
        t: Any = self
        path = self.make(handshake=lambda p: Deferred())
        waiter = self.factory.whenConnected()
        path.start()
        path.succeed()
        self.factory.kicked("banned")
        failure = t.failureResultOf(waiter, GaveUp)
        t.assertEqual(str(failure.value), "kicked: banned")
        self.assertClean()

    def test_customPolicyPerReason(self) -> None:
        """When a custom policy allows one kick reason, it reconnects on that one."""
        t: Any = self

        def policy(failure: Failure, status: ConnectionStatus) -> Any:
            if failure.check(Kicked) and "maintenance" in str(failure.value):
                return ReconnectAfter(30.0)
            if failure.check(Kicked):
                return GiveUp(f"vetoed: {failure.value}")
            return Reconnect()

        path = self.make(policy=policy)
        path.start()
        path.succeed()
        self.factory.kicked("maintenance restart")
        t.assertEqual(self.factory.status.state, S.WAITING)
        t.assertEqual(self.factory.status.nextAttemptAt, 30.0)
        self.clock.advance(30.0)
        path.succeed()
        self.factory.kicked("duplicate login")
        t.assertEqual(self.factory.status.stopReason, "vetoed: kicked: duplicate login")
        self.assertClean()

    def test_retryLater(self) -> None:
        """When the server says retry later, the next attempt waits that long."""
        t: Any = self
        path = self.make()
        path.start()
        path.succeed()
        self.factory.retryLater("overloaded", 120)
        t.assertEqual(self.factory.status.nextAttemptAt, 120.0)
        self.clock.advance(120)
        t.assertEqual(path.attempts, 2)
        self.assertClean()

    def test_raisingPolicy(self) -> None:
        """When the policy raises, it is logged and treated as Reconnect()."""
        t: Any = self

        def policy(failure: Failure, status: ConnectionStatus) -> Any:
            raise RuntimeError("policy bug")

        path = self.make(policy=policy)
        path.start()
        path.fail()
        t.assertEqual(self.factory.status.state, S.WAITING)
        t.assertEqual(self.factory.status.nextAttemptAt, 3.0)
        t.assertEqual(len(t.flushLoggedErrors(RuntimeError)), 1)
        self.assertClean()

    def test_policyReturnsGarbage(self) -> None:
        """When the policy returns a non-decision, it is logged and we reconnect."""
        t: Any = self
        path = self.make(policy=lambda f, s: "yes please")
        path.start()
        path.fail()
        t.assertEqual(self.factory.status.nextAttemptAt, 3.0)
        t.assertTrue(any("yes please" in str(e.get("decision")) for e in self.events))
        self.assertClean()

    # controls

    def test_reconnectNowFromWaiting(self) -> None:
        """When reconnectNow() is called while WAITING, an attempt starts at once."""
        t: Any = self
        path = self.make(backoff=FixedBackoff(60.0))
        path.start()
        path.fail()
        d = self.factory.reconnectNow()
        t.assertEqual(path.attempts, 2)
        t.assertEqual(self.factory.status.state, S.CONNECTING)
        t.assertEqual(self.factory.status.attempt, 1)  # schedule not reset
        protocol = path.succeed()
        t.assertIs(t.successResultOf(d), protocol)
        self.assertClean()

    def test_reconnectNowWhileConnected(self) -> None:
        """When reconnectNow() is called while CONNECTED, nothing happens."""
        t: Any = self
        path = self.make()
        path.start()
        protocol = path.succeed()
        d = self.factory.reconnectNow()
        t.assertIs(t.successResultOf(d), protocol)
        t.assertEqual(path.attempts, 1)
        self.assertClean()

    def test_reconnectNowFromStopped(self) -> None:
        """When reconnectNow() is called while STOPPED, trying resumes afresh."""
        t: Any = self
        path = self.make()
        path.start()
        path.fail()
        path.fail() if path.connecting else None
        self.factory.stopTrying()
        t.assertEqual(self.factory.status.state, S.STOPPED)
        d = self.factory.reconnectNow()
        t.assertEqual(self.factory.status.state, S.CONNECTING)
        t.assertEqual(self.factory.status.attempt, 0)
        t.assertEqual(path.attempts, 2)
        path.succeed()
        t.assertEqual(t.successResultOf(d).events, ["made"])
        self.assertClean()

    def test_giveUpClosesConnection(self) -> None:
        """When giveUp() is called while connected, it fires once closed."""
        t: Any = self
        path = self.make()
        path.start()
        protocol = path.succeed()
        d = self.factory.giveUp("user quit")
        t.assertEqual(self.factory.status.state, S.STOPPED)
        t.assertEqual(self.factory.status.stopReason, "user quit")
        t.assertTrue(path.transport.disconnecting)
        t.assertNoResult(d)
        self.clock.advance(0)
        t.assertIsNone(t.successResultOf(d))
        t.assertEqual(protocol.events, ["made", "lost"])
        t.assertEqual(self.clock.getDelayedCalls(), [])

    def test_reconnectNowRightAfterGiveUp(self) -> None:
        """When reconnectNow() follows giveUp() at once, it connects once closed."""
        t: Any = self
        path = self.make()
        path.start()
        path.succeed()
        closed = self.factory.giveUp()
        d = self.factory.reconnectNow()
        t.assertEqual(path.attempts, 1)  # one transport at a time
        self.clock.advance(0)
        t.assertIsNone(t.successResultOf(closed))
        t.assertEqual(path.attempts, 2)
        t.assertEqual(self.factory.status.state, S.CONNECTING)
        protocol = path.succeed()
        t.assertIs(t.successResultOf(d), protocol)
        self.assertClean()

    def test_giveUpKeepsFirstReason(self) -> None:
        """When giveUp() follows a kick, the kick stays the stop reason."""
        t: Any = self
        path = self.make()
        path.start()
        path.succeed()
        self.factory.kicked("logged in elsewhere")
        seen = len(self.statuses)
        d = self.factory.giveUp("app exiting")
        self.clock.advance(0)
        t.assertIsNone(t.successResultOf(d))
        t.assertEqual(self.factory.status.stopReason, "kicked: logged in elsewhere")
        t.assertEqual(len(self.statuses), seen)
        self.assertClean()

    def test_giveUpAbortsStuckClose(self) -> None:
        """When the connection does not close, giveUp() aborts it after 5 s."""
        t: Any = self
        path = self.make()
        path.start()
        path.succeed()
        path.transport._closeScheduled = True  # a peer that never closes
        d = self.factory.giveUp()
        self.clock.advance(4.9)
        t.assertFalse(getattr(path.transport, "disconnected", False))
        self.clock.advance(0.1)
        t.assertTrue(path.transport.disconnected)  # abortConnection()
        path.drop()
        t.assertIsNone(t.successResultOf(d))
        t.assertEqual(self.clock.getDelayedCalls(), [])

    def test_giveUpWhileConnecting(self) -> None:
        """When giveUp() is called mid-attempt, the attempt is cancelled."""
        t: Any = self
        path = self.make()
        path.start()
        d = self.factory.giveUp()
        t.assertIsNone(t.successResultOf(d))
        t.assertFalse(path.connecting)
        t.assertEqual(self.factory.status.state, S.STOPPED)
        t.assertEqual(self.clock.getDelayedCalls(), [])

    def test_giveUpMidHandshake(self) -> None:
        """When giveUp() is called mid-handshake, it is cancelled, nothing leaks."""
        t: Any = self
        cancelled = []
        path = self.make(handshake=lambda p: Deferred(lambda d: cancelled.append(1)))
        path.start()
        protocol = path.succeed()
        d = self.factory.giveUp("user quit")
        t.assertEqual(cancelled, [1])
        t.assertTrue(path.transport.disconnected)  # aborted, not closed politely
        t.assertNoResult(d)
        self.clock.advance(0)
        t.assertIsNone(t.successResultOf(d))
        t.assertEqual(protocol.events, ["made", "lost"])
        t.assertEqual(self.factory.status.stopReason, "user quit")
        t.assertEqual(self.clock.getDelayedCalls(), [])

    def test_whenConnectedCancel(self) -> None:
        """When a whenConnected() wait is cancelled, only that wait ends."""
        t: Any = self
        path = self.make()
        first = self.factory.whenConnected()
        second = self.factory.whenConnected()
        first.cancel()
        t.failureResultOf(first, CancelledError)
        path.start()
        protocol = path.succeed()
        t.assertIs(t.successResultOf(second), protocol)
        self.assertClean()

    def test_stopTryingThenResetDelay(self) -> None:
        """When stopTrying() is followed by resetDelay(), it stays stopped."""
        t: Any = self
        path = self.make()
        path.start()
        path.fail()
        self.factory.stopTrying()
        self.factory.resetDelay()
        t.assertEqual(self.factory.status.state, S.STOPPED)
        t.assertEqual(self.factory.continueTrying, 0)
        self.clock.advance(100)
        t.assertEqual(path.attempts, 1)
        t.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertClean()

    def test_stopTryingKeepsConnection(self) -> None:
        """When stopTrying() is called while connected, the link stays up."""
        t: Any = self
        path = self.make()
        path.start()
        path.succeed()
        self.factory.stopTrying()
        t.assertEqual(self.factory.status.state, S.CONNECTED)
        t.assertFalse(path.transport.disconnecting)
        path.drop()
        t.assertEqual(self.factory.status.state, S.STOPPED)
        self.clock.advance(100)
        t.assertEqual(path.attempts, 1)
        self.assertClean()

    def test_maxRetries(self) -> None:
        """When maxRetries is exceeded, the factory stops and waiters fail."""
        t: Any = self
        path = self.make()
        self.factory.maxRetries = 2
        waiter = self.factory.whenConnected()
        path.start()
        path.fail()
        self.clock.advance(3)
        path.fail()
        self.clock.advance(3)
        t.assertNoResult(waiter)
        path.fail()
        failure = t.failureResultOf(waiter, GaveUp)
        t.assertIn("maxRetries (2)", str(failure.value))
        t.assertEqual(self.factory.status.state, S.STOPPED)
        t.assertEqual(path.attempts, 3)
        self.assertClean()

    def test_connectTimeout(self) -> None:
        """When an attempt hangs, it is cancelled after connectTimeout."""
        t: Any = self
        path = self.make(connectTimeout=10.0)
        path.start()
        self.clock.advance(10.0)
        t.assertFalse(path.connecting)
        status = self.factory.status
        t.assertEqual(status.state, S.WAITING)
        t.assertIsInstance(status.lastFailure.value, ConnectTimeout)
        t.assertEqual(status.nextAttemptAt, 13.0)
        self.assertClean()

    # re-entrancy

    def test_controlsFromObserver(self) -> None:
        """When an observer calls giveUp() on WAITING, later observers see order."""
        t: Any = self
        path = self.make()
        seen: list[str] = []

        def observer(status: ConnectionStatus) -> None:
            if status.state is S.WAITING:
                self.factory.giveUp("from observer")

        self.factory.addStatusObserver(observer)
        self.factory.addStatusObserver(lambda s: seen.append(s.state.name))
        path.start()
        path.fail()
        t.assertEqual(seen, ["CONNECTING", "WAITING", "STOPPED"])
        t.assertEqual(self.factory.status.stopReason, "from observer")
        self.assertClean()

    def test_reconnectNowFromObserver(self) -> None:
        """When an observer calls reconnectNow() on WAITING, it connects at once."""
        t: Any = self
        path = self.make()
        calls = []

        def observer(status: ConnectionStatus) -> None:
            if status.state is S.WAITING and not calls:
                calls.append(self.factory.reconnectNow())

        self.factory.addStatusObserver(observer)
        path.start()
        path.fail()
        t.assertEqual(path.attempts, 2)
        t.assertEqual(self.factory.status.state, S.CONNECTING)
        self.assertClean()
        t.failureResultOf(calls[0], GaveUp)

    def test_giveUpFromWhenConnected(self) -> None:
        """When a whenConnected callback calls giveUp(), it works."""
        t: Any = self
        path = self.make()
        d = self.factory.whenConnected()
        results = []
        d.addCallback(lambda p: self.factory.giveUp("done").addCallback(results.append))
        path.start()
        path.succeed()
        t.assertEqual(self.factory.status.state, S.STOPPED)
        self.clock.advance(0)
        t.assertEqual(results, [None])
        t.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopTryingFromWhenConnected(self) -> None:
        """When a whenConnected callback calls stopTrying(), the link stays."""
        t: Any = self
        path = self.make()
        self.factory.whenConnected().addCallback(lambda p: self.factory.stopTrying())
        path.start()
        path.succeed()
        t.assertEqual(self.factory.status.state, S.CONNECTED)
        path.drop()
        t.assertEqual(self.factory.status.state, S.STOPPED)
        self.assertClean()

    def test_raisingObserver(self) -> None:
        """When an observer raises, it is logged and others still run."""
        t: Any = self
        path = self.make()

        def bad(status: ConnectionStatus) -> None:
            raise ValueError("observer bug")

        self.factory.addStatusObserver(bad)
        seen: list[str] = []
        self.factory.addStatusObserver(lambda s: seen.append(s.state.name))
        path.start()
        path.fail()
        t.assertEqual(seen, ["CONNECTING", "WAITING"])
        t.assertEqual(self.factory.status.state, S.WAITING)
        self.assertClean()
        t.assertEqual(seen, ["CONNECTING", "WAITING", "STOPPED"])
        t.assertEqual(len(t.flushLoggedErrors(ValueError)), 3)

    def test_unsubscribe(self) -> None:
        """When the returned callable is called, the observer stops hearing."""
        t: Any = self
        path = self.make()
        seen: list[str] = []
        remove = self.factory.addStatusObserver(lambda s: seen.append(s.state.name))
        path.start()
        remove()
        path.fail()
        t.assertEqual(seen, ["CONNECTING"])
        self.assertClean()

    def test_observersSeeEveryTransition(self) -> None:
        """When a full cycle happens, observers see each state with nextAttemptAt."""
        t: Any = self
        path = self.make()
        path.start()
        path.fail()
        self.clock.advance(3)
        path.succeed()
        self.clock.advance(5)  # minUptime: attempt counter reset
        path.drop()
        self.clock.advance(3)
        t.assertEqual(
            [
                (s.state.name, s.attempt, s.nextAttemptAt, s.since)
                for s in self.statuses
            ],
            [
                ("CONNECTING", 0, None, 0.0),
                ("WAITING", 1, 3.0, 0.0),
                ("CONNECTING", 1, None, 3.0),
                ("HANDSHAKING", 1, None, 3.0),
                ("CONNECTED", 1, None, 3.0),
                ("CONNECTED", 0, None, 3.0),
                ("WAITING", 1, 11.0, 8.0),
                ("CONNECTING", 1, None, 11.0),
            ],
        )
        self.assertClean()

    def test_outageAlert(self) -> None:
        """When an outage lasts alertAfter, outageAlert runs, then every alertEvery."""
        t: Any = self
        alerts: list[float] = []

        class Alerting(AppFactory):
            def outageAlert(self, status: ConnectionStatus) -> None:
                alerts.append(self.clock.seconds())

        path = self.make(Alerting, alertAfter=60.0, alertEvery=600.0)
        path.start()
        for _ in range(230):
            if path.connecting:
                path.fail()
            self.clock.advance(3)
        t.assertEqual(alerts, [60.0, 660.0])
        t.assertTrue(any(e.get("log_event") == "outage" for e in self.events))
        if path.connecting:
            path.succeed()
        else:
            self.clock.advance(3)
            path.succeed()
        t.assertTrue(any("outage of" in e.get("log_format", "") for e in self.events))
        self.clock.advance(2000)
        t.assertEqual(len(alerts), 2)
        self.assertClean()

    def test_failedAttemptLogged(self) -> None:
        """When an attempt fails, a warning names the attempt and next delay."""
        t: Any = self
        path = self.make()
        path.start()
        path.fail()
        warnings = [e for e in self.events if e.get("attempt") == 1 and "delay" in e]
        t.assertEqual(len(warnings), 1)
        t.assertEqual(warnings[0]["delay"], 3.0)
        t.assertEqual(warnings[0]["log_level"].name, "warn")
        self.assertClean()

    def test_secretNotLogged(self) -> None:
        """When the handshake sends a password, no log event contains it."""
        t: Any = self
        secret = "hunter2-very-secret"

        def handshake(protocol: Any) -> Deferred[None]:
            protocol.transport.write(f"LOGIN alice {secret}\r\n".encode())
            return Deferred()

        path = self.make(handshake=handshake, handshakeTimeout=5)
        path.start()
        path.succeed()
        self.clock.advance(5)
        self.clock.advance(3)
        path.fail()
        from twisted.logger import formatEvent

        for event in self.events:
            t.assertNotIn(secret, formatEvent(event))
            t.assertNotIn(secret, repr(event))
        self.assertClean()

    def test_coroutineHandshake(self) -> None:
        """When the handshake is an async function, its outcome counts."""
        t: Any = self
        gate: Deferred[None] = Deferred()

        async def handshake(protocol: Any) -> None:
            await gate

        path = self.make(handshake=handshake)
        path.start()
        path.succeed()
        t.assertEqual(self.factory.status.state, S.HANDSHAKING)
        gate.callback(None)
        t.assertEqual(self.factory.status.state, S.CONNECTED)
        self.assertClean()

    def test_handshakeReturnsPlainValue(self) -> None:
        """
        When the handshake returns a plain value (not a Deferred), that means
        success, as with ClientService's prepareConnection.
        """
        t: Any = self
        path = self.make(handshake=lambda p: 42)
        path.start()
        protocol = path.succeed()
        t.assertEqual(self.factory.status.state, S.CONNECTED)
        t.assertIs(self.successResultOf(self.factory.whenConnected()), protocol)
        self.assertClean()

    def test_handshakeOverride(self) -> None:
        """When a subclass overrides handshake(), that method runs."""
        t: Any = self

        class Sub(AppFactory):
            def handshake(self, protocol: Any) -> Deferred[None]:
                return succeed(None) if protocol.events == ["made"] else _fail()

        path = self.make(Sub)
        path.start()
        path.succeed()
        t.assertEqual(self.factory.status.state, S.CONNECTED)
        self.assertClean()


def _fail() -> Deferred[None]:
    d: Deferred[None] = Deferred()
    d.errback(HandshakeRejected("bad credentials"))
    return d


class ConnectorPathTests(_CoreTests, SynchronousTestCase):
    """Core scenarios on the connector path (reactor.connectTCP)."""

    pathClass = staticmethod(connectorPath)


class EndpointPathTests(_CoreTests, SynchronousTestCase):
    """Core scenarios on the endpoint path (ReconnectingService)."""

    pathClass = staticmethod(endpointPath)


class CompatibilityTests(SynchronousTestCase):
    """Drop-in compatibility with ReconnectingClientFactory."""

    def test_isinstance(self) -> None:
        """When checked, the factory is a ReconnectingClientFactory."""
        self.assertIsInstance(AppFactory(), ReconnectingClientFactory)

    def test_tuningAttributes(self) -> None:
        """When a subclass sets RCF's tuning attributes, they are honoured."""

        class Tuned(AppFactory):
            initialDelay = 1.0
            factor = 2.0
            maxDelay = 5.0
            jitter = 0.0

        clock = Clock()
        factory = Tuned(clock=clock, alertAfter=None)
        connector = FakeConnector(factory, clock)
        connector.connect()
        delays = []
        for _ in range(5):
            connector.fail()
            delays.append(factory.status.nextAttemptAt - clock.seconds())
            clock.advance(delays[-1])
        self.assertEqual(delays, [1.0, 2.0, 4.0, 5.0, 5.0])
        factory.giveUp()
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_rcfJitterNeverPastCap(self) -> None:
        """When RCF-style jitter is set, delays stay within [0, maxDelay]."""
        clock = Clock()
        factory = AppFactory(clock=clock, alertAfter=None)
        factory.maxDelay = 10
        factory.jitter = 0.9
        connector = FakeConnector(factory, clock)
        connector.connect()
        for _ in range(50):
            connector.fail()
            delay = factory.status.nextAttemptAt - clock.seconds()
            self.assertTrue(0 <= delay <= 10, delay)
            clock.advance(delay)
        factory.giveUp()
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_defaultScheduleIsExponential(self) -> None:
        """When nothing is overridden, the default is ExponentialBackoff()."""
        factory = AppFactory()
        backoff = factory.backoffSchedule()
        self.assertIsInstance(backoff, ExponentialBackoff)
        assert isinstance(backoff, ExponentialBackoff)
        self.assertEqual(
            (backoff.initialDelay, backoff.maxDelay, backoff.jitter), (2.0, 60.0, 0.8)
        )

    def test_noInitCall(self) -> None:
        """When a subclass's __init__ does not call ours, the factory still works."""

        class Legacy(ReconnectingFactory):
            protocol = RecordingProtocol

            def __init__(self, name: str) -> None:
                self.name = name

        clock = Clock()
        factory = Legacy("x")
        factory.clock = clock
        connector = FakeConnector(factory, clock)
        connector.connect()
        connector.fail()
        self.assertEqual(factory.status.state, S.WAITING)
        clock.advance(factory.status.nextAttemptAt)
        self.assertEqual(connector.attempts, 2)
        protocol = connector.succeed()
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertEqual(protocol.events, ["made"])
        factory.giveUp()
        clock.advance(0)
        self.assertEqual(protocol.events, ["made", "lost"])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_buildProtocolOverride(self) -> None:
        """When buildProtocol is overridden without super(), tracking still works."""

        class Custom(ReconnectingFactory):
            def buildProtocol(self, addr: Any) -> Protocol:
                p = RecordingProtocol()
                p.factory = self
                return p

        clock = Clock()
        factory = Custom(clock=clock, alertAfter=None)
        connector = FakeConnector(factory, clock)
        connector.connect()
        protocol = connector.succeed()
        self.assertIsInstance(protocol, RecordingProtocol)
        self.assertIs(factory.status.state, S.CONNECTED)
        self.assertEqual(protocol.events, ["made"])
        factory.giveUp()
        clock.advance(0)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_rcfStyleOverrides(self) -> None:
        """When overrides call RCF's methods directly (Twisted's docs), it works."""
        calls: list[str] = []

        class Classic(AppFactory):
            def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
                calls.append("failed")
                ReconnectingClientFactory.clientConnectionFailed(
                    self, connector, reason
                )

            def clientConnectionLost(self, connector: Any, reason: Any) -> None:
                calls.append("lost")
                ReconnectingClientFactory.clientConnectionLost(self, connector, reason)

        clock = Clock()
        factory = Classic(clock=clock, backoff=FixedBackoff(3), alertAfter=None)
        connector = FakeConnector(factory, clock)
        connector.connect()
        connector.fail()
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertEqual(factory.status.attempt, 1)
        self.assertEqual(factory.status.nextAttemptAt, 3.0)
        clock.advance(3)
        connector.succeed()
        connector.drop()
        self.assertEqual(calls, ["failed", "lost"])
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertEqual(factory.status.nextAttemptAt, 6.0)
        self.assertEqual(len(clock.getDelayedCalls()), 1)  # no second timer
        clock.advance(3)
        self.assertEqual(connector.attempts, 3)
        factory.giveUp()
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_reconnectNowInsideConnectionLost(self) -> None:
        """When an observer reconnects inside the loss, the connector is reused."""
        clock = Clock()
        factory = AppFactory(clock=clock, backoff=FixedBackoff(60), alertAfter=None)
        connector = FakeConnector(factory, clock)

        waits: list[Deferred[Any]] = []

        def observer(status: ConnectionStatus) -> None:
            if status.state is S.WAITING:
                waits.append(factory.reconnectNow())

        factory.addStatusObserver(observer)
        connector.connect()
        connector.succeed()
        # Inside the loss the connector is still "connected": the attempt is
        # postponed, and starts as soon as clientConnectionLost says it is idle.
        connector.drop()
        self.assertEqual(factory.status.state, S.CONNECTING)
        self.assertEqual(connector.attempts, 2)
        self.assertEqual(connector.state, "connecting")
        # Only the new attempt's connect timeout is left: no postponed call.
        self.assertEqual([c.getTime() for c in clock.getDelayedCalls()], [30.0])
        factory.giveUp()
        self.assertEqual(clock.getDelayedCalls(), [])
        self.failureResultOf(waits[0], GaveUp)

    def test_zeroDelayIsRaisedToMinDelay(self) -> None:
        """
        When the schedule says 0, the retry waits minDelay (no hot loop), and
        the floor is logged once per factory.
        """
        clock = Clock()
        factory = AppFactory(
            clock=clock, backoff=FixedBackoff(0), minUptime=0, alertAfter=None
        )
        connector = FakeConnector(factory, clock)
        connector.connect()
        connector.succeed()
        connector.drop()
        self.assertEqual(connector.attempts, 1)
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertEqual(factory.status.nextAttemptAt, 0.1)
        clock.advance(0.1)
        self.assertEqual(connector.attempts, 2)
        connector.fail()
        clock.advance(0.1)
        self.assertEqual(connector.attempts, 3)
        factory.giveUp()
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_retriesView(self) -> None:
        """When attempts fail, RCF's retries attribute counts them."""
        clock = Clock()
        factory = AppFactory(clock=clock, backoff=FixedBackoff(1), alertAfter=None)
        connector = FakeConnector(factory, clock)
        connector.connect()
        connector.fail()
        self.assertEqual(factory.retries, 1)
        self.assertEqual(factory.continueTrying, 1)
        factory.stopTrying()
        self.assertEqual(factory.continueTrying, 0)
        self.assertEqual(clock.getDelayedCalls(), [])


class ValidationTests(SynchronousTestCase):
    """Bad constructor arguments fail at once, naming the argument."""

    def test_badValues(self) -> None:
        """When a number is negative or NaN, ValueError names the argument."""
        for name in [
            "connectTimeout",
            "handshakeTimeout",
            "minUptime",
            "networkUpJitter",
            "maxRetryLater",
            "alertAfter",
            "alertEvery",
        ]:
            for value in (-1, float("nan"), float("inf")):
                with self.assertRaises(ValueError) as e:
                    AppFactory(**{name: value})
                self.assertIn(name, str(e.exception))

    def test_badTypes(self) -> None:
        """When an argument has the wrong type, TypeError names it."""
        for name, value in [
            ("backoff", 3),
            ("handshake", "login"),
            ("policy", 1),
            ("networkMonitor", object()),
            ("clock", object()),
            ("connectTimeout", "30"),
            ("rng", 4),
        ]:
            with self.assertRaises(TypeError) as e:
                AppFactory(**{name: value})
            self.assertIn(name, str(e.exception))

    def test_positionalRefused(self) -> None:
        """When arguments are passed positionally, TypeError is raised."""
        with self.assertRaises(TypeError):
            AppFactory(FixedBackoff(1))  # type: ignore[misc]

    def test_badControls(self) -> None:
        """When controls get wrong types, TypeError names the argument."""
        factory = AppFactory()
        with self.assertRaises(TypeError) as e:
            factory.giveUp(3)  # type: ignore[arg-type]
        self.assertIn("reason", str(e.exception))
        with self.assertRaises(TypeError) as e:
            factory.retryLater("x", "soon")  # type: ignore[arg-type]
        self.assertIn("after", str(e.exception))
        with self.assertRaises(TypeError) as e:
            factory.addStatusObserver(None)  # type: ignore[arg-type]
        self.assertIn("callback", str(e.exception))

    def test_kickedWhenNotConnected(self) -> None:
        """When kicked() is called while not connected, it is ignored and logged."""
        events: list[LogEvent] = []
        globalLogPublisher.addObserver(events.append)
        try:
            factory = AppFactory(clock=Clock())
            factory.kicked("late")
        finally:
            globalLogPublisher.removeObserver(events.append)
        self.assertEqual(factory.status.state, S.IDLE)
        self.assertTrue(any(e.get("error") == "kicked: late" for e in events))


class HandshakeCallTests(SynchronousTestCase):
    """
    How the factory calls the handshake: ``handshake=`` directly, unless the
    instance has a ``handshake`` attribute of its own, which wins (as when
    the default ``handshake()`` method called the hook); and
    ``callHandshake``'s rules for what a handshake returns.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.calls: list[str] = []

    def connect(self, factory: ReconnectingFactory) -> FakeConnector:
        factory.protocol = Protocol
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        connector.succeed()
        return connector

    def hook(self, name: str, result: Any = None) -> Callable[[Any], Any]:
        def handshake(protocol: Any) -> Any:
            self.calls.append(name)
            return result

        return handshake

    def test_argument(self) -> None:
        factory = ReconnectingFactory(handshake=self.hook("argument"), clock=self.clock)
        self.connect(factory)
        self.assertEqual(self.calls, ["argument"])
        self.assertIs(factory.status.state, ConnectionState.CONNECTED)
        factory.giveUp()
        self.clock.advance(10)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_instanceAttributeWins(self) -> None:
        factory = ReconnectingFactory(handshake=self.hook("argument"), clock=self.clock)
        factory.handshake = self.hook("instance")  # type: ignore[method-assign]
        self.connect(factory)
        self.assertEqual(self.calls, ["instance"])
        factory.giveUp()
        self.clock.advance(10)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_results(self) -> None:
        """None, a value, a fired Deferred: success; a Failure, a raise: failure."""
        from reconnect_twisted.handshake import callHandshake

        outcomes: list[object] = []
        for result in (None, 42, succeed("ok")):
            callHandshake(lambda _, r=result: r, None).addCallback(outcomes.append)
        self.assertEqual(outcomes, [None, 42, "ok"])

        def raises(_: object) -> None:
            raise ValueError("bad")

        failures: list[Failure] = []
        callHandshake(raises, None).addErrback(failures.append)
        failed = Failure(KeyError("k"))
        callHandshake(lambda _: failed, None).addErrback(failures.append)
        self.assertEqual(
            [type(f.value) for f in failures], [ValueError, KeyError]
        )

        async def coroutine(_: object) -> str:
            return "awaited"

        callHandshake(coroutine, None).addCallback(outcomes.append)
        self.assertEqual(outcomes[-1], "awaited")
