"""
The factory's reaction to a network monitor, and its socket options.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import (
    ConnectionState,
    ExponentialBackoff,
    FixedBackoff,
    GaveUp,
    ManualNetworkMonitor,
)
from reconnect_twisted.testing import FakeConnector

from .test_factory import AppFactory

S = ConnectionState


class NetworkAwarenessTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.monitor = ManualNetworkMonitor(isUp=True)

    def make(self, **kw: Any) -> FakeConnector:
        kw.setdefault("backoff", ExponentialBackoff(2, 2, 60, jitter=0))
        kw.setdefault("alertAfter", None)
        self.factory = AppFactory(clock=self.clock, networkMonitor=self.monitor, **kw)
        self.connector = FakeConnector(self.factory, self.clock)
        self.connector.connect()
        return self.connector

    def failUntilDelay(self, delay: float) -> None:
        while True:
            self.connector.fail()
            status = self.factory.status
            assert status.nextAttemptAt is not None
            if status.nextAttemptAt - self.clock.seconds() >= delay:
                return
            self.clock.advance(status.nextAttemptAt - self.clock.seconds())

    def dropWithTheNetwork(self, downFor: float, **kw: Any) -> FakeConnector:
        """
        Connect (``make(**kw)``), stay up past ``minUptime`` (t = 6: the
        schedule is fresh), lose the connection as the network goes down,
        and bring the network back ``downFor`` seconds later.
        """
        connector = self.make(**kw)
        connector.succeed()
        self.clock.advance(6)
        self.monitor.setUp(False)
        connector.drop()
        self.assertEqual(self.factory.status.state, S.OFFLINE)
        self.clock.advance(downFor)
        self.monitor.setUp(True)
        return connector

    def finish(self) -> None:
        self.factory.giveUp()
        self.clock.advance(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_networkUpCutsLongBackoff(self) -> None:
        """When the network returns during a 32 s wait, we try within the jitter."""
        connector = self.make(networkUpJitter=0.25)
        self.failUntilDelay(32)
        self.assertEqual(self.factory.status.attempt, 5)
        self.monitor.setUp(False)
        self.assertEqual(self.factory.status.state, S.OFFLINE)
        self.assertIs(self.factory.status.networkUp, False)
        self.assertIsNone(self.factory.status.nextAttemptAt)
        self.clock.advance(5)
        self.monitor.setUp(True)
        status = self.factory.status
        self.assertEqual(status.state, S.WAITING)
        self.assertEqual(status.attempt, 0)
        assert status.nextAttemptAt is not None
        delay = status.nextAttemptAt - self.clock.seconds()
        self.assertTrue(0 <= delay <= 0.25, delay)
        attempts = connector.attempts
        self.clock.advance(0.25)
        self.assertEqual(connector.attempts, attempts + 1)
        # The attempt on network-up was a free probe: refused (not the
        # network), the schedule resumes where it was (a fleet does not
        # restart from the smallest delay all at once).
        connector.fail()
        self.assertEqual(self.factory.status.nextAttemptAt, self.clock.seconds() + 60)
        self.assertEqual(self.factory.status.attempt, 6)
        self.finish()

    def test_networkUpProbeFailingOnTheNetworkRestartsSchedule(self) -> None:
        """
        When the attempt made on network-up fails because of the network
        (no route), the schedule starts afresh from its smallest delay.
        """
        from twisted.internet.error import NoRouteError

        connector = self.make(networkUpJitter=0.25)
        self.failUntilDelay(32)
        self.monitor.setUp(False)
        self.monitor.setUp(True)
        self.clock.advance(0.25)
        connector.fail(NoRouteError())
        self.assertEqual(self.factory.status.nextAttemptAt, self.clock.seconds() + 2)
        self.assertEqual(self.factory.status.attempt, 1)
        self.finish()

    def test_offlineSpendsNoAttempts(self) -> None:
        """When the network is down, no attempt is made, however long."""
        connector = self.make()
        connector.fail()
        self.monitor.setUp(False)
        self.clock.advance(10_000)
        self.assertEqual(connector.attempts, 1)
        self.assertEqual(self.factory.status.state, S.OFFLINE)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.finish()

    def test_failureWhileDownGoesOffline(self) -> None:
        """When a connection is lost while the network is down, we go OFFLINE."""
        connector = self.make()
        connector.succeed()
        self.monitor.setUp(False)
        self.assertEqual(self.factory.status.state, S.CONNECTED)
        connector.drop()
        self.assertEqual(self.factory.status.state, S.OFFLINE)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.finish()

    def test_downCancelsAttemptInFlight(self) -> None:
        """When the network goes down mid-attempt, the attempt is not counted."""
        connector = self.make()
        self.monitor.setUp(False)
        self.assertEqual(connector.stoppedConnecting, 1)
        self.assertEqual(self.factory.status.state, S.OFFLINE)
        self.assertEqual(self.factory.status.attempt, 0)
        self.finish()

    def test_upReplacesStaleAttempt(self) -> None:
        """When the network returns while an old attempt hangs, it is replaced."""
        connector = self.make(networkUpJitter=0)
        self.monitor.setUp(False)
        waiter = self.factory.reconnectNow()  # the user insists while offline
        self.assertEqual(connector.state, "connecting")
        self.monitor.setUp(True)
        self.assertEqual(connector.stoppedConnecting, 2)
        self.assertEqual(self.factory.status.state, S.WAITING)
        self.clock.advance(0)
        self.assertEqual(connector.attempts, 3)
        self.finish()
        self.failureResultOf(waiter, GaveUp)

    def test_flappingNoStorm(self) -> None:
        """When the link flaps every 0.5 s for a minute, there is no storm."""
        connector = self.make(networkUpJitter=0)
        for _ in range(120):
            if connector.state == "connecting":
                connector.fail()
            self.monitor.setUp(False)
            self.clock.advance(0.25)
            self.monitor.setUp(True)
            self.clock.advance(0.25)
        # The first attempt (t=0); the flap at t=0.25 finds a fresh outage at
        # the schedule's first step (refused, not a network error): no probe.
        # Then one probe per 10 s cooldown (t=10.25, ..., 50.25): each flap
        # inside the cooldown only resumes the schedule, whose growing delay
        # the next "down" cancels.
        self.assertEqual(connector.attempts, 6)
        self.finish()

    def test_lostWithTheNetworkResumesFirstStep(self) -> None:
        """
        When the connection was lost as the network went down and the
        network is back within the cooldown, the link takes its schedule's
        first step (no probe within networkUpJitter): a fleet that dropped
        with its network does not come back all at once.
        """
        connector = self.dropWithTheNetwork(3, networkUpJitter=0.25)
        status = self.factory.status
        self.assertEqual(status.state, S.WAITING)
        self.assertEqual(status.attempt, 1)
        self.assertEqual(status.nextAttemptAt, 9.0 + 2.0)  # the first step: 2 s
        self.clock.advance(1.999)
        self.assertEqual(connector.attempts, 1)
        self.clock.advance(0.001)
        self.assertEqual(connector.attempts, 2)
        self.finish()

    def test_lostWithTheNetworkLongFirstStepProbes(self) -> None:
        """
        When a fresh outage's first step is longer than 5 s, network-up cuts
        it with a probe within networkUpJitter.
        """
        connector = self.dropWithTheNetwork(
            3, networkUpJitter=0, backoff=FixedBackoff(30)
        )
        self.clock.advance(0)
        self.assertEqual(connector.attempts, 2)
        self.finish()

    def test_lostLongAgoProbes(self) -> None:
        """
        When the outage is older than the cooldown, network-up probes within
        networkUpJitter even at the schedule's first step.
        """
        connector = self.dropWithTheNetwork(10, networkUpJitter=0)
        self.clock.advance(0)
        self.assertEqual(connector.attempts, 2)
        self.finish()

    def test_networkErrorAtFirstStepProbes(self) -> None:
        """
        When the first attempt failed because the network was unreachable,
        network-up probes at once: that is the news it waits for.
        """
        connector = self.make(networkUpJitter=0)
        connector.fail(error.ConnectError(osError=101, string="unreachable"))
        self.monitor.setUp(False)
        self.clock.advance(1)
        self.monitor.setUp(True)
        self.clock.advance(0)
        self.assertEqual(connector.attempts, 2)
        self.finish()

    def test_vanishedLocalAddressAborts(self) -> None:
        """When the connection's local address is gone, it is aborted at once."""
        connector = self.make(backoff=FixedBackoff(3))
        protocol = connector.succeed()
        # 192.0.2.0/24 (TEST-NET-1) is assigned to no interface here; the check
        # only binds a UDP socket, it sends nothing.
        assert connector.transport is not None
        connector.transport.hostAddr = IPv4Address("TCP", "192.0.2.123", 40000)
        self.monitor.setUp(False)
        self.assertTrue(connector.transport.disconnected)  # abortConnection()
        status = self.factory.status
        self.assertEqual(status.state, S.OFFLINE)
        assert status.lastFailure is not None
        self.assertIn("192.0.2.123 is gone", str(status.lastFailure.value))
        self.clock.advance(0)
        self.assertEqual(connector.protocol, None)
        self.assertIsNotNone(protocol)
        self.finish()

    def test_presentLocalAddressKept(self) -> None:
        """When the local address is still there, a network blip keeps the link."""
        connector = self.make()
        connector.succeed()
        self.monitor.setUp(False)
        self.monitor.setUp(True)
        self.assertEqual(self.factory.status.state, S.CONNECTED)
        self.assertFalse(connector.transport.disconnecting)  # type: ignore[union-attr]
        self.finish()

    def test_monitorStartedAndStopped(self) -> None:
        """When the factory starts and stops, so does the monitor."""
        started: list[str] = []

        class Monitor(ManualNetworkMonitor):
            def start(self) -> None:
                started.append("start")
                super().start()

            def stop(self) -> None:
                started.append("stop")
                super().stop()

        self.monitor = Monitor()
        self.make()
        self.assertEqual(started, ["start"])
        self.finish()
        self.assertEqual(started, ["start", "stop"])
        waiter = self.factory.reconnectNow()
        self.assertEqual(started, ["start", "stop", "start"])
        self.finish()
        self.failureResultOf(waiter, GaveUp)

    def test_unknownNetworkActsWithoutMonitor(self) -> None:
        """When the monitor cannot tell (None), OFFLINE resumes the schedule."""
        connector = self.make(backoff=FixedBackoff(3))
        self.monitor.setUp(False)
        connector_attempts = connector.attempts
        self.factory._hub.networkChanged(None)
        self.assertEqual(self.factory.status.state, S.WAITING)
        self.assertEqual(self.factory.status.nextAttemptAt, 3.0)
        self.clock.advance(3)
        self.assertEqual(connector.attempts, connector_attempts + 1)
        self.finish()


class StartWhileDownTests(SynchronousTestCase):
    """
    A factory started while its monitor already knows the network is down
    spends no attempt: it waits OFFLINE (API.md section 5), and the network
    coming back starts it within ``networkUpJitter``.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.monitor = ManualNetworkMonitor(isUp=False)
        self.states: list[S] = []

    def factory(self, **kw: Any) -> AppFactory:
        kw.setdefault("backoff", FixedBackoff(3))
        kw.setdefault("alertAfter", None)
        factory = AppFactory(
            clock=self.clock, networkMonitor=self.monitor, networkUpJitter=0.25, **kw
        )
        factory.addStatusObserver(lambda status: self.states.append(status.state))
        return factory

    def assertAttemptWithinJitter(self) -> None:
        due = self.factoryUnderTest.status.nextAttemptAt
        assert due is not None
        self.assertTrue(0 <= due - self.clock.seconds() <= 0.25, due)
        self.clock.advance(0.25)

    def test_connectorStartedWhileDown(self) -> None:
        """
        When the application's connectTCP() starts the connector while the
        network is down, that attempt is dropped uncounted (stopConnecting)
        and the factory waits OFFLINE with attempt 0 and nothing scheduled;
        network up: one attempt within the jitter, which connects.
        """
        factory = self.factoryUnderTest = self.factory()
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        status = factory.status
        self.assertEqual((status.state, status.attempt), (S.OFFLINE, 0))
        self.assertIsNone(status.nextAttemptAt)
        self.assertEqual(connector.state, "disconnected")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(100)
        self.assertEqual(connector.attempts, 1)
        self.monitor.setUp(True)
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertAttemptWithinJitter()
        self.assertEqual((connector.attempts, factory.status.state), (2, S.CONNECTING))
        connector.succeed()
        status = factory.status
        self.assertEqual((status.state, status.attempt), (S.CONNECTED, 0))
        self.assertEqual(self.states[0], S.OFFLINE)
        factory.giveUp()
        self.clock.advance(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_serviceStartedWhileDown(self) -> None:
        """
        When startService() runs while the network is down, the endpoint is
        not asked to connect: OFFLINE, attempt 0 (the first status observers
        hear); network up: one endpoint attempt within the jitter. Restarted
        after a stop while the network is down again, it goes OFFLINE from
        STOPPED, with no attempt either.
        """
        from reconnect_twisted import ReconnectingService
        from reconnect_twisted.testing import FakeEndpoint

        factory = self.factoryUnderTest = self.factory()
        endpoint = FakeEndpoint(self.clock)
        service = ReconnectingService(endpoint, factory)
        service.startService()
        self.assertEqual((factory.status.state, factory.status.attempt), (S.OFFLINE, 0))
        self.assertEqual((endpoint.attempts, self.states), (0, [S.OFFLINE]))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.monitor.setUp(True)
        self.assertAttemptWithinJitter()
        self.assertEqual(endpoint.attempts, 1)
        endpoint.succeed()
        self.assertEqual(factory.status.state, S.CONNECTED)
        service.stopService()
        self.clock.advance(0)
        self.assertEqual(factory.status.state, S.STOPPED)
        self.monitor.setUp(False)
        service.startService()
        self.assertEqual((factory.status.state, factory.status.attempt), (S.OFFLINE, 0))
        self.assertEqual((endpoint.attempts, self.states[-1]), (1, S.OFFLINE))
        service.stopService()
        self.clock.advance(0)
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_firstRetryAfterStartWhileDownWaitsFirstStep(self) -> None:
        """
        When a factory started while the network was down makes its first
        attempt on network-up and that attempt is refused, the retry waits
        the schedule's first step (2 s), as after a start with the network
        up; so does it after a second network-up within the cooldown.
        """
        for flaps in (0, 1):
            self.clock = Clock()
            self.monitor = ManualNetworkMonitor(isUp=False)
            factory = self.factoryUnderTest = self.factory(
                backoff=ExponentialBackoff(2, 2, 60, jitter=0)
            )
            connector = FakeConnector(factory, self.clock)
            connector.connect()
            for _ in range(flaps):  # up and down again before any attempt
                self.monitor.setUp(True)
                self.monitor.setUp(False)
            self.monitor.setUp(True)
            self.assertAttemptWithinJitter()
            connector.fail()
            status = factory.status
            self.assertEqual((status.state, status.attempt), (S.WAITING, 1))
            self.assertEqual(status.nextAttemptAt, self.clock.seconds() + 2.0)
            factory.giveUp()
            self.clock.advance(0)
            self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_outageAlertWhileDownFromTheStart(self) -> None:
        """
        When the factory starts while the network is down and it stays
        down, the outage alert still fires alertAfter later (no failure
        arms it: none is spent), then every alertEvery.
        """
        alerts: list[int] = []
        factory = self.factory(alertAfter=60.0, alertEvery=600.0)
        self.factoryUnderTest = factory
        factory.outageAlert = lambda status: alerts.append(status.attempt)  # type: ignore[method-assign]
        FakeConnector(factory, self.clock).connect()
        self.clock.advance(59.9)
        self.assertEqual(alerts, [])
        self.clock.advance(0.2)
        self.assertEqual(alerts, [0])
        self.clock.advance(599.8)
        self.assertEqual(alerts, [0])
        self.clock.advance(0.2)
        self.assertEqual(alerts, [0, 0])  # (alertEvery: repeated while it lasts)
        factory.giveUp()
        self.clock.advance(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class SocketOptionTests(SynchronousTestCase):
    def test_keepAliveAndUserTimeout(self) -> None:
        """When a TCP transport comes up, keepalive and user timeout are set."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(sock.close)

        class Transport:
            def getHandle(self) -> socket.socket:
                return sock

        factory = AppFactory(keepAlive=(3, 1, 4), userTimeout=7.5)
        factory._configureTransport(Transport())
        self.assertEqual(sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE), 1)
        if hasattr(socket, "TCP_KEEPIDLE"):
            tcp = socket.IPPROTO_TCP
            self.assertEqual(sock.getsockopt(tcp, socket.TCP_KEEPIDLE), 3)
            self.assertEqual(sock.getsockopt(tcp, socket.TCP_KEEPINTVL), 1)
            self.assertEqual(sock.getsockopt(tcp, socket.TCP_KEEPCNT), 4)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            self.assertEqual(
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT), 7500
            )

    def test_disabled(self) -> None:
        """When keepAlive is None, the socket is left alone."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(sock.close)

        class Transport:
            def getHandle(self) -> socket.socket:
                return sock

        AppFactory(keepAlive=None, userTimeout=None)._configureTransport(Transport())
        self.assertEqual(sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE), 0)

    def test_badKeepAlive(self) -> None:
        """When keepAlive is malformed, the error names it."""
        for value, kind in [
            ((1, 2), TypeError),
            ((1, 2, 0), ValueError),
            ((-1, 2, 3), ValueError),
        ]:
            with self.assertRaises(kind) as e:
                AppFactory(keepAlive=value)  # type: ignore[arg-type]
            self.assertIn("keepAlive", str(e.exception))
