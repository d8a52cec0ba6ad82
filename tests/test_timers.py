"""
The machine's timers: one per state (connect timeout, handshake timeout,
uptime mark, retry), gone with the state; the outage alert armed at the
first failure; the connector's own timeout standing in for ours.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import error
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import (
    ConnectionState,
    ConnectionStatus,
    ConnectTimeout,
    FixedBackoff,
    GaveUp,
    ReconnectingFactory,
)
from reconnect_twisted.testing import FakeConnector

S = ConnectionState


class TimedConnector(FakeConnector):
    """A FakeConnector with a ``timeout``, as ``reactor.connectTCP`` makes."""

    def __init__(self, factory: Any, clock: Clock, timeout: float) -> None:
        super().__init__(factory, clock)
        self.timeout = timeout


class AlertingFactory(ReconnectingFactory):
    protocol = Protocol

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alerts: list[tuple[float, int]] = []

    def outageAlert(self, status: ConnectionStatus) -> None:
        self.alerts.append((self._getClock().seconds(), status.attempt))


class TimerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()

    def factory(self, **kwargs: Any) -> AlertingFactory:
        kwargs.setdefault("backoff", FixedBackoff(3.0))
        return AlertingFactory(clock=self.clock, **kwargs)

    def finish(self, factory: ReconnectingFactory) -> None:
        factory.giveUp()
        self.clock.advance(10)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_connectorTimeoutStandsIn(self) -> None:
        """
        A connector whose own timeout is ``connectTimeout`` (30 s each by
        default) times the attempt out: the machine arms no timer of its
        own, and the connector's ``TimeoutError`` is reported as the
        ``ConnectTimeout`` the machine's timer would have given.
        """
        factory = self.factory()
        connector = TimedConnector(factory, self.clock, 30.0)
        connector.connect()
        link = factory._machine
        self.assertIs(factory.status.state, S.CONNECTING)
        self.assertEqual(link.pendingCalls(), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(30)
        connector.fail(error.TimeoutError())
        status = factory.status
        self.assertIs(status.state, S.WAITING)
        assert status.lastFailure is not None
        self.assertIs(type(status.lastFailure.value), ConnectTimeout)
        self.assertEqual(str(status.lastFailure.value), "no connection within 30s")
        self.assertEqual(status.nextAttemptAt, 33.0)
        self.assertEqual(link.pendingCalls(), ["alert", "retry"])
        self.finish(factory)

    def test_otherConnectorTimeout(self) -> None:
        """
        With another timeout on the connector, the machine arms its own, and
        the connector's ``TimeoutError`` (it came first) is kept as it is.
        """
        factory = self.factory()
        connector = TimedConnector(factory, self.clock, 5.0)
        connector.connect()
        self.assertEqual(factory._machine.pendingCalls(), ["connectTimeout"])
        [call] = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 30.0)
        self.clock.advance(5)
        connector.fail(error.TimeoutError())
        status = factory.status
        assert status.lastFailure is not None
        self.assertIs(type(status.lastFailure.value), error.TimeoutError)
        self.assertEqual(status.nextAttemptAt, 8.0)
        self.finish(factory)

    def test_ownConnectTimeout(self) -> None:
        """A connector with no timeout: the machine's own fires at 30 s."""
        factory = self.factory()
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        self.assertEqual(factory._machine.pendingCalls(), ["connectTimeout"])
        self.clock.advance(30)
        status = factory.status
        self.assertIs(status.state, S.WAITING)
        assert status.lastFailure is not None
        self.assertIs(type(status.lastFailure.value), ConnectTimeout)
        self.assertEqual(connector.stoppedConnecting, 1)
        self.assertEqual(status.nextAttemptAt, 33.0)
        self.finish(factory)

    def test_noAlertTimerWhenFirstAttemptSucceeds(self) -> None:
        """
        A start whose first attempt succeeds never arms the outage alert:
        connecting holds the connect timeout only, connected the uptime
        mark only, and after it nothing.
        """
        factory = self.factory()
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        link = factory._machine
        self.assertEqual(link.pendingCalls(), ["connectTimeout"])
        connector.succeed()
        self.assertIs(factory.status.state, S.CONNECTED)
        self.assertEqual(link.pendingCalls(), ["uptime"])
        self.clock.advance(5)
        self.assertEqual(link.pendingCalls(), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.finish(factory)

    def test_alertArmedAtFirstFailure(self) -> None:
        """
        The outage alert is armed at the first failure, for ``alertAfter``
        after the outage began (the start), and fires then.
        """
        factory = self.factory(alertAfter=20.0, alertEvery=600.0)
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        self.clock.advance(2)
        connector.fail()
        link = factory._machine
        self.assertEqual(link.pendingCalls(), ["alert", "retry"])
        self.assertEqual(link._alertTime(), 20.0)
        for _ in range(5):  # attempts at 5, 8, ... each refused
            self.clock.advance(3)
            connector.fail()
        self.assertEqual(factory.alerts, [])
        self.clock.advance(3)  # t = 20: the alert, and the attempt due
        self.assertEqual(factory.alerts, [(20.0, 6)])
        self.finish(factory)

    def test_stateTimerGoesWithItsState(self) -> None:
        """
        Leaving a state cancels its timer: ``reconnectNow()`` while WAITING
        leaves only the new attempt's connect timeout; ``giveUp()`` while
        CONNECTING leaves no timer at all.
        """
        factory = self.factory()
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        connector.fail()
        link = factory._machine
        self.assertEqual(link.pendingCalls(), ["alert", "retry"])
        waiter = factory.reconnectNow()
        self.assertIs(factory.status.state, S.CONNECTING)
        self.assertEqual(link.pendingCalls(), ["alert", "connectTimeout"])
        self.assertEqual(connector.attempts, 2)
        [connect] = [c for c in self.clock.getDelayedCalls() if c.getTime() == 30.0]
        self.assertTrue(connect.active())
        d: Deferred[None] = factory.giveUp()
        self.assertEqual(link.pendingCalls(), [])
        self.assertFalse(connect.active())
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.successResultOf(d)
        self.failureResultOf(waiter, GaveUp)

    def test_timerReplacedWhileQueued(self) -> None:
        """
        A retry timer that fires while the factory is handling an event is
        queued; if the event replaced it meanwhile, the stale one does
        nothing.
        """
        factory = self.factory()
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        connector.fail()
        link = factory._machine
        old = link._timer
        assert old is not None
        hub = factory._hub
        hub.busy = True  # as inside an event
        try:
            old.func()  # the reactor runs the due timer now: queued
            link._wait(7.0)  # the event re-arms the retry
        finally:
            hub.busy = False
        queue, hub._queue = hub._queue, None
        assert queue is not None
        self.assertEqual(len(queue), 1)
        handler, args = queue[0]
        hub.run(handler, *args)
        self.assertIs(factory.status.state, S.WAITING)
        self.assertEqual(connector.attempts, 1)
        self.assertEqual(factory.status.nextAttemptAt, 7.0)
        self.finish(factory)


class SideObjectTests(SynchronousTestCase):
    """
    The rarely set state of a hub and a link lives in a side object created
    on its first use and dropped when it holds only defaults again: an idle
    connection holds none (bench/memory.py).
    """

    def test_idleConnectionHoldsNoSide(self) -> None:
        clock = Clock()
        factory = AlertingFactory(clock=clock, backoff=FixedBackoff(3.0))
        connector = FakeConnector(factory, clock)
        connector.connect()
        connector.fail()  # the alert timer, a side field
        link, hub = factory._machine, factory._hub
        self.assertIsNotNone(link._x)
        self.assertEqual(link.pendingCalls(), ["alert", "retry"])
        clock.advance(3)
        connector.succeed()
        clock.advance(5)  # the minUptime mark: the alert goes, and the side
        self.assertIs(factory.status.state, S.CONNECTED)
        self.assertEqual(factory.status.attempt, 0)
        self.assertIsNone(link._x)
        self.assertIsNone(hub._x)
        self.assertEqual(clock.getDelayedCalls(), [])
        factory.giveUp()
        clock.advance(10)

    def test_observerKeepsHubSide(self) -> None:
        """An observer lives in the hub's side object."""
        clock = Clock()
        factory = AlertingFactory(clock=clock)
        seen: list[ConnectionState] = []
        remove = factory.addStatusObserver(lambda status: seen.append(status.state))
        hub = factory._hub
        self.assertIsNotNone(hub._x)
        FakeConnector(factory, clock).connect()
        self.assertEqual(seen, [S.CONNECTING])
        remove()
        self.assertEqual(hub._observers, [])
        factory.giveUp()
        clock.advance(10)
        self.assertEqual(seen, [S.CONNECTING])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_sideDefaults(self) -> None:
        """Every side field reads as its default while there is no side."""
        from reconnect_twisted._machine import Hub, Machine

        factory = AlertingFactory(clock=Clock())
        link, hub = factory._machine, factory._hub
        for obj, cls in ((link, Machine), (hub, Hub)):
            fresh = cls._sideType()
            self.assertTrue(fresh.isDefault())
            for name in cls._sideType.__slots__:
                self.assertIs(getattr(obj, name), getattr(fresh, name), name)
                self.assertNotIn(name, cls.__slots__)


class UptimeMarkTests(SynchronousTestCase):
    """
    The minUptime marks of the links on one clock share one timer per
    1/8 s grid point (reconnect_twisted._machine.UptimeMarks); each mark
    is still exact.
    """

    def setUp(self) -> None:
        self.clock = Clock()

    def connected(self, at: float) -> tuple[AlertingFactory, FakeConnector]:
        factory = AlertingFactory(clock=self.clock, backoff=FixedBackoff(3.0))
        connector = FakeConnector(factory, self.clock)
        self.clock.advance(at - self.clock.seconds())
        connector.connect()
        connector.fail()  # attempt 1 failed: the counter shows the reset
        self.clock.advance(3)
        connector.succeed()
        self.assertIs(factory.status.state, S.CONNECTED)
        self.assertEqual(factory.status.attempt, 1)
        return factory, connector

    def finish(self, *factories: ReconnectingFactory) -> None:
        for factory in factories:
            factory.giveUp()
        self.clock.advance(10)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_sharedTimer(self) -> None:
        """
        Two links connected in the same grid step share one timer, at the
        grid point (10.25 s) before their marks (10.3 s and 10.32 s); each
        then takes its own timer for the rest and resets exactly at its mark.
        """
        a, _ = self.connected(2.3)
        b, _ = self.connected(2.32)
        uptime = [c for c in self.clock.getDelayedCalls() if c.getTime() < 60]
        self.assertEqual([c.getTime() for c in uptime], [10.25])
        self.assertEqual(a._machine.pendingCalls(), ["alert", "uptime"])
        self.clock.advance(10.25 - self.clock.seconds())
        self.assertEqual((a.status.attempt, b.status.attempt), (1, 1))
        self.clock.advance(0.05 - 1e-9)
        self.assertEqual((a.status.attempt, b.status.attempt), (1, 1))
        self.clock.advance(1e-9)  # t = 10.3: a's mark
        self.assertEqual((a.status.attempt, b.status.attempt), (0, 1))
        self.clock.advance(0.02)  # t = 10.32: b's mark
        self.assertEqual((a.status.attempt, b.status.attempt), (0, 0))
        self.assertEqual(a._machine.pendingCalls(), [])
        self.finish(a, b)

    def test_onTheGrid(self) -> None:
        """A mark on the grid (whole seconds) takes no timer of its own."""
        factory, _ = self.connected(2.0)
        [uptime] = [c for c in self.clock.getDelayedCalls() if c.getTime() < 60]
        self.assertEqual(uptime.getTime(), 10.0)
        self.clock.advance(5)
        self.assertEqual(factory.status.attempt, 0)
        self.assertEqual(factory._machine.pendingCalls(), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.finish(factory)

    def test_droppedBeforeItsMark(self) -> None:
        """
        A link that drops before its mark leaves it: the grid point's timer
        goes with the last link on it, and the schedule does not reset.
        """
        factory, connector = self.connected(2.0)
        self.clock.advance(4)
        connector.drop()
        self.assertIs(factory.status.state, S.WAITING)
        self.assertEqual(factory.status.attempt, 2)
        self.assertEqual(
            sorted(c.getTime() for c in self.clock.getDelayedCalls()),
            [12.0, 62.0],  # the retry, and the first outage's alert: no mark
        )
        self.finish(factory)

    def test_backOnTheSameGridPoint(self) -> None:
        """
        A link that drops and connects again within one grid step is on
        that grid point's list twice: the stale entry is skipped, its one
        live mark (5 s after the second connection) resets the schedule
        exactly once, and a link that left takes the grid timer with it only
        when it was the last live one.
        """
        factory = AlertingFactory(
            clock=self.clock, backoff=FixedBackoff(0.01), minDelay=0.01
        )
        other, _ = self.connected(2.0)  # (its mark: 10.0 s; shares no point)
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        connector.succeed()  # t = 5.0: mark at 10.0, on other's grid point
        self.clock.advance(0.03)
        connector.drop()  # attempt 1 failed; retry at 5.04
        self.clock.advance(0.01)
        connector.succeed()  # t = 5.04: mark at 10.04, grid point 10.0 again
        self.assertEqual(factory.status.attempt, 1)
        marks = [c for c in self.clock.getDelayedCalls() if c.getTime() < 60]
        self.assertEqual([c.getTime() for c in marks], [10.0])
        seen: list[tuple[float, int]] = []
        unsubscribe = factory.addStatusObserver(
            lambda status: seen.append((self.clock.seconds(), status.attempt))
        )
        seen.clear()  # (in case the current status is reported at once)
        self.clock.advance(10.0 - self.clock.seconds())
        self.assertEqual((other.status.attempt, factory.status.attempt), (0, 1))
        self.assertEqual(factory._machine.pendingCalls(), ["alert", "uptime"])
        self.clock.advance(0.04 - 1e-9)
        self.assertEqual(factory.status.attempt, 1)
        self.clock.advance(1e-9)  # t = 10.04: its mark
        self.assertEqual(factory.status.attempt, 0)
        [(at, attempt)] = seen  # one reset, at its own mark
        self.assertAlmostEqual(at, 10.04, places=9)
        self.assertEqual(attempt, 0)
        unsubscribe()
        self.finish(factory, other)

    def test_lastLiveLinkTakesTheGridTimer(self) -> None:
        """
        Two links on one grid point; the first leaves (its timer stays for
        the second), then the second: the grid point's timer is cancelled.
        """
        a, ca = self.connected(2.3)
        b, cb = self.connected(2.32)
        grid = [c for c in self.clock.getDelayedCalls() if c.getTime() < 60]
        self.assertEqual([c.getTime() for c in grid], [10.25])
        ca.drop()
        self.assertTrue(grid[0].active())
        cb.drop()
        self.assertFalse(grid[0].active())
        self.assertEqual(
            [c.getTime() for c in self.clock.getDelayedCalls() if c.getTime() < 60],
            [8.32, 8.32],  # the two retries (3 s): no grid timer is left
        )
        self.finish(a, b)

    def test_clockWithoutWeakReferences(self) -> None:
        """
        A clock that takes no weak reference: each link's mark has a timer
        of its own, as exact.
        """

        class SlottedClock:
            __slots__ = ("clock",)

            def __init__(self, clock: Clock) -> None:
                self.clock = clock

            def seconds(self) -> float:
                return self.clock.seconds()

            def callLater(self, delay: float, f: Any, *a: Any, **kw: Any) -> Any:
                return self.clock.callLater(delay, f, *a, **kw)

            def getDelayedCalls(self) -> Any:
                return self.clock.getDelayedCalls()

        factory = AlertingFactory(
            clock=SlottedClock(self.clock), backoff=FixedBackoff(3.0)
        )
        connector = FakeConnector(factory, self.clock)
        self.clock.advance(2.3)
        connector.connect()
        connector.succeed()
        [uptime] = self.clock.getDelayedCalls()
        self.assertEqual(uptime.getTime(), 7.3)
        self.assertEqual(uptime.func.__name__, "_timerDue")
        self.assertEqual(factory._machine.pendingCalls(), ["uptime"])
        self.clock.advance(5)
        self.assertEqual(factory._machine.pendingCalls(), [])
        self.finish(factory)


class SharedAlertTests(SynchronousTestCase):
    """The outage alerts of the links on one clock share the grid's timers."""

    def test_alertsShareATimerAndStayExact(self) -> None:
        clock = Clock()
        factories = []
        for start in (0.3, 0.32):
            clock.advance(start - clock.seconds())
            factory = AlertingFactory(
                clock=clock, backoff=FixedBackoff(100.0), alertAfter=10.0
            )
            connector = FakeConnector(factory, clock)
            connector.connect()
            connector.fail()
            factories.append(factory)
        a, b = factories
        self.assertEqual(a._machine._alertTime(), 10.3)
        self.assertEqual(b._machine._alertTime(), 10.32)
        times = sorted(c.getTime() for c in clock.getDelayedCalls())
        self.assertEqual(times, [10.25, 100.3, 100.32])  # one alert timer
        clock.advance(10.3 - clock.seconds())
        self.assertEqual((a.alerts, b.alerts), ([(10.3, 1)], []))
        clock.advance(0.02)
        self.assertEqual(b.alerts, [(10.32, 1)])
        for factory in factories:
            factory.giveUp()
        clock.advance(10)
        self.assertEqual(clock.getDelayedCalls(), [])


class ControlFromAlertTests(SynchronousTestCase):
    """
    Controls called from ``outageAlert()`` (run from the clock's shared
    alert timer) take effect after the alert's step, on both paths.
    """

    def start(self, path: str, control: str) -> tuple[Any, Any, Clock]:
        clock = Clock()
        calls: list[str] = []
        self.waiters: list[Deferred[Any]] = []
        waiters = self.waiters

        class Factory(AlertingFactory):
            def outageAlert(self, status: ConnectionStatus) -> None:
                super().outageAlert(status)
                calls.append(status.state.value)
                waiters.append(getattr(self, control)())

        factory = Factory(clock=clock, backoff=FixedBackoff(100.0), alertAfter=10.0)
        fake: Any
        if path == "connector":
            fake = FakeConnector(factory, clock)
            fake.connect()
        else:
            from reconnect_twisted import ReconnectingService
            from reconnect_twisted.testing import FakeEndpoint

            fake = FakeEndpoint(clock)
            ReconnectingService(fake, factory).startService()
        fake.fail()
        self.assertEqual(factory.status.nextAttemptAt, 100.0)
        clock.advance(10)
        self.assertEqual(calls, ["waiting"])
        self.assertEqual(factory.alerts, [(10.0, 1)])
        return factory, fake, clock

    def check_giveUp(self, path: str) -> None:
        factory, fake, clock = self.start(path, "giveUp")
        self.assertIs(factory.status.state, S.STOPPED)
        self.assertEqual(factory._machine.pendingCalls(), [])
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(fake.attempts, 1)
        self.assertIsNone(self.successResultOf(self.waiters[0]))

    def check_reconnectNow(self, path: str) -> None:
        factory, fake, clock = self.start(path, "reconnectNow")
        self.assertIs(factory.status.state, S.CONNECTING)
        self.assertEqual(fake.attempts, 2)
        # The alert fired for this outage: next one alertEvery (600 s) later.
        self.assertEqual(factory._machine._alertTime(), 610.0)
        fake.fail()
        self.assertEqual(factory.status.nextAttemptAt, 110.0)
        factory.giveUp()
        clock.advance(1)
        self.assertEqual(clock.getDelayedCalls(), [])
        self.failureResultOf(self.waiters[0], GaveUp)

    def test_giveUpConnector(self) -> None:
        self.check_giveUp("connector")

    def test_giveUpEndpoint(self) -> None:
        self.check_giveUp("endpoint")

    def test_reconnectNowConnector(self) -> None:
        self.check_reconnectNow("connector")

    def test_reconnectNowEndpoint(self) -> None:
        self.check_reconnectNow("endpoint")
