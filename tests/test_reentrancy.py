"""
Controls called from inside every callback site, on both paths: the table
test of issue 13 (callback site x control x path).

Each case drives one factory through a failed attempt, a retry, a
connection, a handshake and the CONNECTED state; the callback site calls the
control once, the first time it runs. The control must take effect as if
called just after the callback returned, and whatever happens, the factory
keeps its promises: no "internal error", no unhandled traceback, one
transport at a time, no handshake on a closed transport, no timer left
behind once it has stopped.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.logger import LogEvent, LogLevel, formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from reconnect_twisted import (
    ConnectionState,
    ConnectionStatus,
    DefaultPolicy,
    GaveUp,
    IBackoff,
    ManualNetworkMonitor,
    ReconnectingFactory,
    ReconnectingService,
)
from reconnect_twisted.testing import FakeConnector, FakeEndpoint

S = ConnectionState

SITES = (
    "observer:connecting",
    "observer:handshaking",
    "observer:connected",
    "observer:waiting",
    "policy",
    "backoff",
    "handshake",
    "whenConnected",
    "connectionMade",
    "buildProtocol",
    "monitor",
)
CONTROLS = (
    "giveUp",
    "stopTrying",
    "reconnectNow",
    "resetDelay",
    "kicked",
    "retryLater",
)
PATHS = ("connector", "endpoint")

#: The state the factory is in when each site runs, and the state its control
#: meets: the one right after the callback returned (a policy's decision and
#: a backoff's delay are applied first; a connection is made before what its
#: connectionMade asked for).
SITE_STATE = {
    "observer:connecting": (S.CONNECTING, S.CONNECTING),
    "observer:handshaking": (S.HANDSHAKING, S.HANDSHAKING),
    "observer:connected": (S.CONNECTED, S.CONNECTED),
    "observer:waiting": (S.WAITING, S.WAITING),
    "policy": (S.CONNECTING, S.WAITING),
    "backoff": (S.CONNECTING, S.WAITING),
    "handshake": (S.HANDSHAKING, S.HANDSHAKING),
    "whenConnected": (S.CONNECTED, S.CONNECTED),
    "connectionMade": (S.CONNECTING, S.HANDSHAKING),
    "buildProtocol": (S.CONNECTING, S.HANDSHAKING),  # held until made
    "monitor": (S.WAITING, S.WAITING),
}


class Recording(Protocol):
    """Counts connectionMade/connectionLost; may call the control."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def connectionMade(self) -> None:
        self.events.append("made")
        self.factory.case.site("connectionMade")  # type: ignore[attr-defined]

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.events.append("lost")


class CaseFactory(ReconnectingFactory):
    protocol = Recording
    case: Case

    def buildProtocol(self, addr: Any) -> Any:
        self.case.site("buildProtocol")
        protocol = super().buildProtocol(addr)
        self.case.protocols.append(protocol)
        return protocol


@implementer(IBackoff)
class SiteBackoff:
    """One-second delays; the schedule calls the site on each delay."""

    maxDelay = 1.0

    def __init__(self, case: Case) -> None:
        self.case = case

    def delays(self) -> Iterator[float]:
        for _ in itertools.count():
            self.case.site("backoff")
            yield 1.0


class Case:
    """One (site, control, path) combination."""

    def __init__(self, test: SynchronousTestCase, site: str, control: str, path: str):
        self.test = test
        self.siteName = site
        self.controlName = control
        self.pathName = path
        self.fired = False
        self.firedIn: ConnectionState | None = None
        self.protocols: list[Recording] = []
        self.handshakes: list[Deferred[None]] = []
        self.outcomes: list[Any] = []
        self.clock = Clock()
        self.monitor = ManualNetworkMonitor(isUp=True)
        self.defaultPolicy = DefaultPolicy()
        factory = self.factory = CaseFactory(
            clock=self.clock,
            backoff=SiteBackoff(self),
            handshake=self.handshake,
            policy=self.policy,
            networkMonitor=self.monitor,
            minUptime=0.0,
            alertAfter=None,
            connectTimeout=10.0,
            handshakeTimeout=8.0,
        )
        factory.case = self
        factory.addStatusObserver(self.observe)
        self.monitor.addObserver(lambda up: self.site("monitor"))
        if path == "connector":
            self.fake: Any = FakeConnector(factory, self.clock)
        else:
            self.fake = FakeEndpoint(self.clock)
            self.service = ReconnectingService(self.fake, factory)

    # -- the callback sites ------------------------------------------------

    def site(self, name: str) -> None:
        if name != self.siteName or self.fired:
            return
        self.fired = True
        factory = self.factory
        self.firedIn = factory.status.state
        control = self.controlName
        if control == "giveUp":
            factory.giveUp("from a callback").addBoth(self.outcomes.append)
        elif control == "reconnectNow":
            factory.reconnectNow().addBoth(self.outcomes.append)
        elif control == "kicked":
            factory.kicked("same account logged in elsewhere")
        elif control == "retryLater":
            factory.retryLater("busy", 0)
        else:
            getattr(factory, control)()

    def observe(self, status: ConnectionStatus) -> None:
        self.site(f"observer:{status.state.value}")

    def policy(self, failure: Failure, status: ConnectionStatus) -> Any:
        self.site("policy")
        return self.defaultPolicy.decide(failure, status)

    def handshake(self, protocol: Recording) -> Deferred[None]:
        assert protocol.events == ["made"], protocol.events
        transport: Any = protocol.transport
        assert not transport.disconnecting, "a handshake on a closing transport"
        d: Deferred[None] = Deferred()
        self.handshakes.append(d)
        self.site("handshake")
        return d

    # -- driving -------------------------------------------------------------

    def start(self) -> None:
        self.factory.whenConnected().addCallback(
            lambda protocol: self.site("whenConnected")
        ).addErrback(lambda failure: failure.trap(GaveUp))
        if self.pathName == "connector":
            self.fake.connect()
        else:
            self.service.startService()

    def drive(self) -> None:
        """Fail once, then connect; go on until nothing is left to do."""
        failedOnce = False
        for _ in range(40):
            state = self.factory.status.state
            if state in (S.CONNECTED, S.STOPPED):
                self.clock.advance(0)
                if self.factory.status.state is state:
                    return
                continue
            if self.fake.state == "connecting" and state is S.CONNECTING:
                if not failedOnce:
                    failedOnce = True
                    self.fake.fail()
                    self.monitor.setUp(False)
                    self.monitor.setUp(True)  # network-up: a retry within 0.25 s
                else:
                    self.fake.succeed()
                continue
            pending = [d for d in self.handshakes if not d.called]
            if state is S.HANDSHAKING and pending:
                pending[0].callback(None)
                continue
            calls = self.clock.getDelayedCalls()
            if not calls:
                return
            self.clock.advance(min(c.getTime() for c in calls) - self.clock.seconds())

    def openTransports(self) -> list[Any]:
        return [
            p.transport
            for p in self.protocols
            if p.transport is not None and not p.transport.closed  # type: ignore[attr-defined]
        ]

    def finish(self) -> None:
        self.factory.giveUp("teardown").addBoth(self.outcomes.append)
        for _ in range(3):
            self.clock.advance(0)
        if self.openTransports():
            self.clock.advance(10.0)


class ReentrancyTableTests(SynchronousTestCase):
    """
    When any control is called from inside any callback site, on either
    path, it takes effect right after the callback, and the factory keeps
    every promise.
    """

    def setUp(self) -> None:
        self.events: list[LogEvent] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def expected(self, case: Case) -> tuple[ConnectionState, int]:
        """(final state, continueTrying) after the drive."""
        state = SITE_STATE[case.siteName][1]
        control = case.controlName
        if control == "giveUp":
            return S.STOPPED, 0
        if control == "stopTrying":
            if state is S.CONNECTED:
                return S.CONNECTED, 0  # the connection stays; no re-connect
            return S.STOPPED, 0
        if control == "kicked" and state in (S.HANDSHAKING, S.CONNECTED):
            return S.STOPPED, 0
        return S.CONNECTED, 1

    def runCase(self, site: str, control: str, path: str) -> None:
        case = Case(self, site, control, path)
        label = f"{control}() from {site} on the {path} path"
        case.start()
        case.drive()
        self.assertTrue(case.fired, f"{label}: the site never ran")
        self.assertEqual(SITE_STATE[site][0], case.firedIn, label)
        status = case.factory.status
        state, trying = self.expected(case)
        self.assertEqual(
            (status.state, case.factory.continueTrying), (state, trying), label
        )
        if status.state is S.STOPPED:
            self.assertEqual(case.openTransports(), [], label)
            self.assertNotEqual(case.fake.state, "connecting", label)
            self.assertEqual(
                [c for c in case.factory._machine.pendingCalls() if c != "abort"],
                [],
                label,
            )
        if status.state is S.CONNECTED:
            self.assertEqual(len(case.openTransports()), 1, label)
        if control == "kicked" and state is S.STOPPED:
            self.assertEqual(
                status.stopReason, "kicked: same account logged in elsewhere", label
            )
        if control == "retryLater" and SITE_STATE[site][1] in (
            S.HANDSHAKING,
            S.CONNECTED,
        ):
            # The hint 0 is a lower bound: the backoff's 1 s delay was used.
            self.assertEqual(case.factory.delay, 1.0, label)
        case.finish()
        self.assertEqual(case.factory.status.state, S.STOPPED, label)
        self.assertEqual(case.clock.getDelayedCalls(), [], label)
        self.assertEqual(case.openTransports(), [], label)
        for protocol in case.protocols:
            self.assertEqual(protocol.events, ["made", "lost"], label)
        for outcome in case.outcomes:
            if isinstance(outcome, Failure):
                self.assertTrue(outcome.check(GaveUp), f"{label}: {outcome}")
        for event in self.events:
            text = event.get("log_format") or ""
            self.assertNotIn("internal error", text, f"{label}: {formatEvent(event)}")
            self.assertNotIn("Unhandled", text, f"{label}: {formatEvent(event)}")
            failure = event.get("log_failure")
            if event.get("log_level") in (LogLevel.error, LogLevel.critical):
                self.fail(f"{label}: logged {formatEvent(event)} {failure}")
        del self.events[:]
        self.assertEqual(self.flushLoggedErrors(), [], label)

    def test_table(self) -> None:
        """
        When each control is called from each callback site on each path,
        the outcome is the one the control asks for, with every invariant
        kept.
        """
        count = 0
        for site, control, path in itertools.product(SITES, CONTROLS, PATHS):
            self.runCase(site, control, path)
            count += 1
        self.assertEqual(count, len(SITES) * len(CONTROLS) * len(PATHS))


class WaiterReentrancyTests(SynchronousTestCase):
    """whenConnected() callbacks that touch other waiters."""

    def make(self) -> tuple[CaseFactory, FakeConnector, Clock]:
        clock = Clock()
        factory = CaseFactory(clock=clock, minUptime=0.0, alertAfter=None)
        factory.case = Case(self, "none", "resetDelay", "connector")
        return factory, FakeConnector(factory, clock), clock

    def test_cancelOtherWaiter(self) -> None:
        """
        When a whenConnected() callback cancels another pending waiter and
        adds a new one, nothing raises and every other waiter fires once.
        """
        factory, connector, clock = self.make()
        results: list[Any] = []
        added: list[Deferred[Any]] = []

        def first(protocol: Any) -> None:
            results.append("first")
            second.cancel()
            added.append(factory.whenConnected())

        factory.whenConnected().addCallback(first)
        second = factory.whenConnected()
        third = factory.whenConnected()
        second.addErrback(lambda f: results.append(type(f.value).__name__))
        third.addCallback(lambda p: results.append("third"))
        connector.connect()
        protocol = connector.succeed()
        self.assertEqual(results, ["first", "CancelledError", "third"])
        self.assertIs(self.successResultOf(added[0]), protocol)
        factory.giveUp()
        clock.advance(0)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_controlInWaiterTakesEffectAtOnce(self) -> None:
        """
        When a whenConnected() callback calls kicked(), the factory is
        STOPPED by the time the callback's next line runs (waiters are
        called with the machine at rest).
        """
        factory, connector, clock = self.make()
        seen: list[ConnectionState] = []

        def kick(protocol: Any) -> None:
            factory.kicked("elsewhere")
            seen.append(factory.status.state)

        factory.whenConnected().addCallback(kick)
        connector.connect()
        connector.succeed()
        self.assertEqual(seen, [S.STOPPED])
        clock.advance(0)
        self.assertEqual(clock.getDelayedCalls(), [])


class BrokenMonitorTests(SynchronousTestCase):
    """A network monitor whose methods raise is logged once and ignored."""

    def check(self, monitor: Any, error: type[Exception]) -> None:
        clock = Clock()
        factory = CaseFactory(
            clock=clock, networkMonitor=monitor, minUptime=0.0, alertAfter=None
        )
        factory.case = Case(self, "none", "resetDelay", "connector")
        connector = FakeConnector(factory, clock)
        connector.connect()
        self.assertEqual(factory.status.state, S.CONNECTING)
        connector.fail()
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertIsNone(factory.status.networkUp)
        clock.advance(factory.status.nextAttemptAt - clock.seconds())  # type: ignore[operator]
        self.assertEqual(connector.attempts, 2)
        connector.succeed()
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertEqual(len(self.flushLoggedErrors(error)), 1)
        factory.giveUp()
        clock.advance(0)
        self.assertEqual(clock.getDelayedCalls(), [])

    def monitor(self, broken: str) -> Any:
        class Broken(ManualNetworkMonitor):
            def addObserver(self, callback: Callable[[bool], None]) -> Any:
                if broken == "addObserver":
                    raise RuntimeError("addObserver broke")
                return super().addObserver(callback)

            def start(self) -> None:
                if broken == "start":
                    raise RuntimeError("start broke")

            @property  # type: ignore[override]
            def isUp(self) -> Any:
                if broken == "isUp":
                    raise RuntimeError("isUp broke")
                return True

            @isUp.setter
            def isUp(self, value: Any) -> None:
                pass

        return Broken(isUp=True)

    def test_addObserverRaises(self) -> None:
        """When addObserver() raises, the factory connects and retries normally."""
        self.check(self.monitor("addObserver"), RuntimeError)

    def test_startRaises(self) -> None:
        """When start() raises, the factory connects and retries normally."""
        self.check(self.monitor("start"), RuntimeError)

    def test_isUpRaises(self) -> None:
        """When isUp raises, the factory connects and retries normally."""
        self.check(self.monitor("isUp"), RuntimeError)
