"""
Bad input: wrong types and values for every public constructor and control
fail at once with a TypeError/ValueError that names the argument; bad values
coming back from user hooks (handshake, policy, observers, backoff) are
logged clearly and the factory keeps working.

tests/test_factory.py (ValidationTests), tests/test_backoff.py and
tests/test_policy.py already cover the plain numeric checks; this file covers
the rest.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from typing import Any

from twisted.internet import error
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.internet.task import Clock
from twisted.logger import LogEvent, LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from reconnect_twisted import (
    ConnectionState,
    ConnectionStatus,
    DecorrelatedBackoff,
    DefaultPolicy,
    ExponentialBackoff,
    FixedBackoff,
    GiveUp,
    HandshakeSteps,
    IBackoff,
    ManualNetworkMonitor,
    Reconnect,
    ReconnectAfter,
    ReconnectingFactory,
    ReconnectingService,
)
from reconnect_twisted.testing import FakeConnector, FakeEndpoint

S = ConnectionState
NAN = math.nan
INF = math.inf


class AppProtocol(Protocol):
    pass


class AppFactory(ReconnectingFactory):
    protocol = AppProtocol


def handshakeStep(protocol: Any) -> None:
    return None


class _Checks(SynchronousTestCase):
    def assertRejects(
        self,
        kind: type[Exception],
        name: str,
        make: Callable[[], object],
    ) -> None:
        """``make()`` raises ``kind`` whose message names ``name``."""
        with self.assertRaises(kind, msg=f"no {kind.__name__} for {name}") as e:
            make()
        self.assertIn(name, str(e.exception))


class ConstructorTests(_Checks):
    """Constructors refuse bad arguments at once, naming them."""

    def test_factoryTypes(self) -> None:
        """When a factory argument has a wrong type, TypeError names it."""
        for name, value in [
            ("backoff", "fast"),
            ("backoff", ExponentialBackoff),  # the class, not an instance
            ("handshake", 3),
            ("policy", "always"),
            ("networkMonitor", True),
            ("clock", 3),
            ("rng", random),  # the module, not a Random
            ("handshakeTimeout", "30"),
            ("minUptime", True),
            ("networkUpJitter", None),
            ("maxRetryLater", "1"),
            ("alertAfter", True),
            ("alertEvery", None),
            ("keepAlive", [5, 2, 3]),
            ("keepAlive", "5,2,3"),
            ("keepAlive", (5, "2", 3)),
            ("userTimeout", "15"),
        ]:
            self.assertRejects(
                TypeError,
                name,
                lambda name=name, value=value: AppFactory(**{name: value}),
            )

    def test_factoryValues(self) -> None:
        """When a factory argument has a bad value, ValueError names it."""
        for name, value in [
            ("userTimeout", -1),
            ("userTimeout", NAN),
            ("keepAlive", (NAN, 2, 3)),
            ("keepAlive", (5, INF, 3)),
            ("keepAlive", (5, 2, -3)),
        ]:
            self.assertRejects(
                ValueError,
                name,
                lambda name=name, value=value: AppFactory(**{name: value}),
            )

    def test_factoryUnknownArgument(self) -> None:
        """When an argument is misspelt, TypeError names it."""
        self.assertRejects(
            TypeError, "conectTimeout", lambda: AppFactory(conectTimeout=1)
        )

    def test_backoffs(self) -> None:
        """When a backoff argument is bad, the error names it."""
        for kind, name, make in [
            (TypeError, "interval", lambda: FixedBackoff(None)),
            (TypeError, "jitter", lambda: FixedBackoff(1, jitter="0.5")),
            (TypeError, "factor", lambda: ExponentialBackoff(factor="2")),
            (TypeError, "maxDelay", lambda: ExponentialBackoff(maxDelay=None)),
            (ValueError, "afterCap", lambda: ExponentialBackoff(afterCap="never")),
            (ValueError, "afterCap", lambda: ExponentialBackoff(afterCap=3)),
            (ValueError, "jitter", lambda: ExponentialBackoff(jitter=-0.01)),
            (ValueError, "factor", lambda: ExponentialBackoff(factor=NAN)),
            (TypeError, "initialDelay", lambda: DecorrelatedBackoff("1")),
            (TypeError, "maxDelay", lambda: DecorrelatedBackoff(1, [60])),
            (ValueError, "initialDelay", lambda: DecorrelatedBackoff(INF)),
            (ValueError, "initialDelay", lambda: ExponentialBackoff(initialDelay=0)),
            (ValueError, "initialDelay", lambda: DecorrelatedBackoff(0, 60)),
            (ValueError, "initialDelay", lambda: DecorrelatedBackoff(10**400)),
            (ValueError, "interval", lambda: FixedBackoff(10**400)),
        ]:
            self.assertRejects(kind, name, make)

    def test_backoffRng(self) -> None:
        """When a backoff's rng is not a random.Random, TypeError names it."""
        for make in (FixedBackoff, ExponentialBackoff, DecorrelatedBackoff):
            for rng in (3, "seed", random):
                self.assertRejects(
                    TypeError, "rng", lambda make=make, rng=rng: make(rng=rng)
                )

    def test_policyAndDecisions(self) -> None:
        """When a policy or decision argument is bad, the error names it."""
        for kind, name, make in [
            (TypeError, "maxRetryLater", lambda: DefaultPolicy("3600")),
            (TypeError, "maxRetryLater", lambda: DefaultPolicy(None)),
            (ValueError, "maxRetryLater", lambda: DefaultPolicy(NAN)),
            (ValueError, "maxRetryLater", lambda: DefaultPolicy(INF)),
            (TypeError, "delay", lambda: ReconnectAfter("5")),
            (TypeError, "delay", lambda: ReconnectAfter(None)),
            (TypeError, "delay", lambda: ReconnectAfter(True)),
            (ValueError, "delay", lambda: ReconnectAfter(NAN)),
            (ValueError, "delay", lambda: ReconnectAfter(INF)),
            (TypeError, "reason", lambda: GiveUp(None)),
        ]:
            self.assertRejects(kind, name, make)

    def test_policyClass(self) -> None:
        """When policy= is given the DefaultPolicy class itself, TypeError names it."""
        self.assertRejects(
            TypeError, "policy", lambda: AppFactory(policy=DefaultPolicy)
        )

    def test_clockAndMonitorClasses(self) -> None:
        """
        When clock= or networkMonitor= is given a class instead of an
        instance (a missing ``()``), TypeError names the argument and the
        fix at construction (not an "internal error" at the first attempt).
        """
        from twisted.internet.task import Clock

        from reconnect_twisted import ManualNetworkMonitor

        for name, cls in (("clock", Clock), ("networkMonitor", ManualNetworkMonitor)):
            with self.assertRaises(TypeError) as raised:
                AppFactory(**{name: cls})
            self.assertEqual(
                str(raised.exception),
                f"{name} must be an instance, not the class {cls.__name__}; "
                f"did you mean {cls.__name__}()?",
            )

    def test_handshakeSteps(self) -> None:
        """When HandshakeSteps gets bad steps or timeouts, the error names them."""
        for kind, name, make in [
            (ValueError, "steps", lambda: HandshakeSteps()),
            (TypeError, "steps", lambda: HandshakeSteps(None)),
            (TypeError, "step", lambda: HandshakeSteps(("login", "send"))),
            (TypeError, "step", lambda: HandshakeSteps((None, handshakeStep))),
            (TypeError, "step", lambda: HandshakeSteps(("a", handshakeStep, 1))),
            (TypeError, "step", lambda: HandshakeSteps(("login",))),
            (
                TypeError,
                "stepTimeout",
                lambda: HandshakeSteps(handshakeStep, stepTimeout="5"),
            ),
            (
                ValueError,
                "stepTimeout",
                lambda: HandshakeSteps(handshakeStep, stepTimeout=-5),
            ),
            (
                ValueError,
                "stepTimeout",
                lambda: HandshakeSteps(handshakeStep, stepTimeout=NAN),
            ),
        ]:
            self.assertRejects(kind, name, make)

    def test_manualNetworkMonitor(self) -> None:
        """When ManualNetworkMonitor gets a non-bool state, TypeError names it."""
        self.assertRejects(TypeError, "isUp", lambda: ManualNetworkMonitor("yes"))
        self.assertRejects(TypeError, "isUp", lambda: ManualNetworkMonitor(1))
        monitor = ManualNetworkMonitor(True)
        self.assertRejects(TypeError, "isUp", lambda: monitor.setUp("no"))
        self.assertRejects(TypeError, "isUp", lambda: monitor.setUp(None))
        self.assertTrue(monitor.isUp)
        self.assertRejects(TypeError, "callback", lambda: monitor.addObserver(3))

    def test_service(self) -> None:
        """When ReconnectingService gets a non-endpoint or non-factory, TypeError."""
        endpoint = FakeEndpoint(Clock())
        self.assertRejects(
            TypeError, "endpoint", lambda: ReconnectingService(None, AppFactory())
        )
        self.assertRejects(
            TypeError, "endpoint", lambda: ReconnectingService("tcp:1", AppFactory())
        )
        self.assertRejects(
            TypeError, "factory", lambda: ReconnectingService(endpoint, None)
        )
        self.assertRejects(
            TypeError, "factory", lambda: ReconnectingService(endpoint, ClientFactory())
        )
        self.assertRejects(
            TypeError, "factory", lambda: ReconnectingService(endpoint, AppFactory)
        )


class ControlTests(_Checks):
    """Controls refuse wrong types at once, naming the argument."""

    def test_controls(self) -> None:
        """When a control gets a wrong type, TypeError names the argument."""
        factory = AppFactory(clock=Clock())
        for name, call in [
            ("reason", lambda: factory.giveUp(None)),
            ("reason", lambda: factory.giveUp(b"bytes")),
            ("reason", lambda: factory.kicked(3)),
            ("reason", lambda: factory.kicked(None)),
            ("reason", lambda: factory.retryLater(None, 5)),
            ("after", lambda: factory.retryLater("busy", None)),
            ("after", lambda: factory.retryLater("busy", True)),
            ("after", lambda: factory.retryLater("busy", "5")),
            ("callback", lambda: factory.addStatusObserver("print")),
            ("callback", lambda: factory.addStatusObserver(3)),
        ]:
            self.assertRejects(TypeError, name, call)
        self.assertEqual(factory.status.state, S.IDLE)


class LoggingMixin(SynchronousTestCase):
    """Captures log events; helpers to connect a factory on the connector path."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.events: list[LogEvent] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def make(self, **kw: Any) -> AppFactory:
        kw.setdefault("clock", self.clock)
        kw.setdefault("backoff", FixedBackoff(3.0))
        kw.setdefault("alertAfter", None)
        self.factory = AppFactory(**kw)
        self.connector = FakeConnector(self.factory, self.clock)
        return self.factory

    def logged(self, text: str) -> list[LogEvent]:
        return [e for e in self.events if text in formatEvent(e)]

    def completeConnection(self) -> Any:
        """
        Prove the factory still works: reach CONNECTED (attempting at once if
        it is waiting) and give up cleanly.
        """
        factory = self.factory
        d = factory.reconnectNow()
        if self.connector.state == "disconnected" and factory.status.state in (S.IDLE,):
            self.connector.connect()
        self.assertEqual(self.connector.state, "connecting")
        protocol = self.connector.succeed()
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertIs(self.successResultOf(d), protocol)
        closed = factory.giveUp("test over")
        self.clock.advance(0)
        self.assertIsNone(self.successResultOf(closed))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        return protocol


class BadHookTests(LoggingMixin):
    """What user hooks return or raise is logged, and the factory survives."""

    def test_handshakeReturnsPlainValue(self) -> None:
        """
        When the handshake returns a plain value (a string, an int), that is
        success, as with ClientService's prepareConnection.
        """
        answers: list[Any] = ["yes", 42]
        self.make(handshake=lambda p: answers.pop(0) if answers else None)
        self.connector.connect()
        self.connector.succeed()
        self.assertEqual(self.factory.status.state, S.CONNECTED)
        self.factory.giveUp()
        self.clock.advance(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_handshakeRaises(self) -> None:
        """When the handshake raises, the attempt fails; later ones work."""
        calls: list[int] = []

        def handshake(protocol: Any) -> None:
            calls.append(1)
            if len(calls) == 1:
                raise KeyError("missing token")

        self.make(handshake=handshake)
        self.connector.connect()
        self.connector.succeed()
        self.assertEqual(self.factory.status.state, S.WAITING)
        self.assertTrue(self.logged("KeyError"))
        # A programming error: logged with its traceback (once per factory).
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        self.clock.advance(3.0)
        self.completeConnection()

    def test_policyReturnsGarbage(self) -> None:
        """When the policy returns non-decisions, each is logged; we still connect."""
        answers: list[Any] = [None, "GiveUp", GiveUp, Reconnect]
        self.make(policy=lambda f, s: answers.pop(0))
        self.connector.connect()
        for expected in ("None", "GiveUp", "class", "Reconnect"):
            self.connector.fail()
            self.assertEqual(self.factory.status.state, S.WAITING)
            self.assertTrue(
                any(expected in str(e.get("decision")) for e in self.events), expected
            )
            self.clock.advance(3.0)
        self.completeConnection()

    def test_policyRaises(self) -> None:
        """When the policy always raises, each is logged; we still connect."""
        self.make(policy=lambda f, s: 1 / 0)
        self.connector.connect()
        for _ in range(3):
            self.connector.fail()
            self.assertEqual(self.factory.status.state, S.WAITING)
            self.clock.advance(3.0)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 3)
        self.completeConnection()

    def test_observersRaise(self) -> None:
        """When every observer raises, each error is logged; the factory connects."""
        self.make()
        seen: list[ConnectionState] = []

        def bad(status: ConnectionStatus) -> None:
            seen.append(status.state)
            raise RuntimeError("observer bug")

        self.factory.addStatusObserver(bad)
        self.factory.addStatusObserver(lambda s: {}["missing"])
        self.connector.connect()
        self.connector.fail()
        self.clock.advance(3.0)
        self.completeConnection()
        self.assertEqual(
            seen,
            [
                S.CONNECTING,
                S.WAITING,
                S.CONNECTING,
                S.HANDSHAKING,
                S.CONNECTED,
                S.STOPPED,
            ],
        )
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), len(seen))
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), len(seen))

    def test_backoffCallableReturnsGarbage(self) -> None:
        """When a backoff callable returns garbage, it is logged; 5 s are used."""
        answers: list[Any] = ["soon", -1, NAN]
        self.make(backoff=lambda attempt: answers.pop(0) if answers else 1.0)
        self.connector.connect()
        for _ in range(3):
            self.connector.fail()
            status = self.factory.status
            self.assertEqual(status.state, S.WAITING)
            self.assertEqual(status.nextAttemptAt, self.clock.seconds() + 5.0)
            self.clock.advance(5.0)
        # One traceback per factory, then warnings: no traceback storm.
        self.assertEqual(len(self.flushLoggedErrors(TypeError, ValueError)), 1)
        self.assertEqual(
            sum("failed again" in str(e.get("log_format")) for e in self.events), 2
        )
        self.connector.fail()
        self.assertEqual(self.factory.status.nextAttemptAt, self.clock.seconds() + 1.0)
        self.clock.advance(1.0)
        self.completeConnection()

    def test_backoffEnds(self) -> None:
        """When an IBackoff's schedule runs out, it is logged; trying goes on."""

        @implementer(IBackoff)
        class Short:
            def delays(self) -> Iterator[float]:
                yield 1.0

        self.make(backoff=Short())
        self.connector.connect()
        self.connector.fail()
        self.assertEqual(self.factory.status.nextAttemptAt, 1.0)
        self.clock.advance(1.0)
        self.connector.fail()
        self.assertEqual(self.factory.status.state, S.WAITING)
        self.assertEqual(len(self.flushLoggedErrors(StopIteration)), 1)
        self.clock.advance(5.0)
        self.completeConnection()

    def test_outageAlertRaises(self) -> None:
        """When outageAlert() raises, it is logged; the factory still connects."""

        class Alerting(AppFactory):
            def outageAlert(self, status: ConnectionStatus) -> None:
                raise RuntimeError("mail server down")

        self.factory = Alerting(
            clock=self.clock, backoff=FixedBackoff(3.0), alertAfter=5.0
        )
        self.connector = FakeConnector(self.factory, self.clock)
        self.connector.connect()
        self.connector.fail()
        self.clock.advance(3.0)
        self.connector.fail()
        self.clock.advance(3.0)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.completeConnection()


class OutsideConnectionTests(LoggingMixin):
    """kicked() and retryLater() outside a connection are ignored and logged."""

    def assertIgnored(self, state: ConnectionState) -> None:
        factory = self.factory
        self.assertEqual(factory.status.state, state)
        before = factory.status
        attempts = self.connector.attempts
        factory.kicked("stale kick")
        factory.retryLater("stale", 10)
        self.assertEqual(factory.status, before)
        self.assertEqual(self.connector.attempts, attempts)
        warnings = [
            e
            for e in self.events
            if e.get("log_level") is LogLevel.warn
            and "not connected" in formatEvent(e)
            and state.value in formatEvent(e)
        ]
        self.assertEqual(len(warnings), 2, [formatEvent(e) for e in warnings])
        del self.events[:]

    def test_everyState(self) -> None:
        """When kicked()/retryLater() come while not connected, nothing changes."""
        self.make(networkMonitor=ManualNetworkMonitor(True))
        self.assertIgnored(S.IDLE)
        self.connector.connect()
        self.assertIgnored(S.CONNECTING)
        self.connector.fail()
        self.assertIgnored(S.WAITING)
        self.factory.networkMonitor.setUp(False)
        self.assertIgnored(S.OFFLINE)
        self.factory.networkMonitor.setUp(True)
        self.clock.advance(1.0)
        self.factory.stopTrying()
        self.assertIgnored(S.STOPPED)
        self.completeConnection()

    def test_staleProtocolKicks(self) -> None:
        """When an old connection's protocol calls kicked() late, it is ignored."""
        self.make()
        self.connector.connect()
        self.connector.succeed()
        self.connector.drop()
        self.assertEqual(self.factory.status.state, S.WAITING)
        self.assertIgnored(S.WAITING)
        self.clock.advance(3.0)
        self.completeConnection()


class EndpointFailureTests(LoggingMixin):
    """An endpoint that misbehaves is logged; the service keeps trying."""

    def test_connectRaises(self) -> None:
        """When endpoint.connect() raises, the attempt fails; the next one works."""
        endpoint = FakeEndpoint(self.clock)
        real = endpoint.connect
        calls: list[int] = []

        def connect(factory: Any) -> Deferred[Any]:
            calls.append(1)
            if len(calls) == 1:
                raise OSError("no file descriptors")
            return real(factory)

        endpoint.connect = connect  # type: ignore[method-assign]
        factory = self.make()
        service = ReconnectingService(endpoint, factory)
        service.startService()
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertIn("no file descriptors", str(factory.status.lastFailure.value))
        self.assertTrue(self.logged("no file descriptors"))
        self.clock.advance(3.0)
        protocol = endpoint.succeed()
        self.assertIs(self.successResultOf(factory.whenConnected()), protocol)
        d = service.stopService()
        self.clock.advance(0)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_connectReturnsFiredProtocolNone(self) -> None:
        """When the endpoint fires with no connection (NoProtocol), we retry."""
        endpoint = FakeEndpoint(self.clock)
        factory = self.make()
        service = ReconnectingService(endpoint, factory)
        service.startService()
        endpoint.fail(error.NoProtocol())
        self.assertEqual(factory.status.state, S.WAITING)
        self.clock.advance(3.0)
        endpoint.succeed()
        self.assertEqual(factory.status.state, S.CONNECTED)
        d = service.stopService()
        self.clock.advance(0)
        self.successResultOf(d)
