"""
Stateful property tests: hypothesis drives one ReconnectingFactory, on the
connector path or the endpoint path, with every input in any order, and
checks the factory's promises after every step.

Run longer with ``HYPOTHESIS_PROFILE=dev`` (see tests/conftest.py).
"""

from __future__ import annotations

import gc
import os
import random
from typing import Any

from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from twisted.internet import error
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.logger import LogEvent, formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import (
    ConnectionState,
    ConnectionStatus,
    DefaultPolicy,
    ExponentialBackoff,
    GaveUp,
    HandshakeRejected,
    ManualNetworkMonitor,
    ReconnectingFactory,
    ReconnectingService,
)
from reconnect_twisted._status import TRANSITIONS
from reconnect_twisted.testing import FakeConnector, FakeEndpoint, FakeTransport

S = ConnectionState
MAX_RETRY_LATER = 50.0
CONNECT_TIMEOUT = 10.0
HANDSHAKE_TIMEOUT = 8.0


class ObserverBoom(Exception):
    """Raised on purpose by a status observer."""


class PolicyBoom(Exception):
    """Raised on purpose by a reconnect policy."""


class HandshakeBoom(Exception):
    """A handshake failing with an unexpected (non-reconnect) error."""


#: Errors the factory is expected to log with a traceback (raised on purpose).
EXPECTED_LOGGED = (ObserverBoom, PolicyBoom, HandshakeBoom)


class RecordingProtocol(Protocol):
    """Records connectionMade / connectionLost."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.handshakeOk = False

    def connectionMade(self) -> None:
        self.events.append("made")
        model: FactoryMachine = self.factory.model  # type: ignore[attr-defined]
        model.protocols.append(self)
        model.transports.append(self.transport)  # type: ignore[arg-type]
        model.fireArmed("connectionMade")
        if model.stuckClose:
            # A peer that never answers our FIN: only an abort closes it.
            transport: Any = self.transport
            transport.loseConnection = lambda: setattr(transport, "disconnecting", True)

    def connectionLost(self, reason: Failure = error.ConnectionDone) -> None:  # type: ignore[assignment]
        self.events.append("lost")


class Factory(ReconnectingFactory):
    protocol = RecordingProtocol
    model: FactoryMachine


class CheckingConnector(FakeConnector):
    """A FakeConnector that checks each attempt may start."""

    def __init__(self, model: FactoryMachine, *args: Any) -> None:
        super().__init__(*args)
        self.model = model

    def connect(self) -> None:
        self.model.attemptStarting()
        super().connect()


class CheckingEndpoint(FakeEndpoint):
    """A FakeEndpoint that checks each attempt may start."""

    def __init__(self, model: FactoryMachine, *args: Any) -> None:
        super().__init__(*args)
        self.model = model

    def connect(self, protocolFactory: Any) -> Deferred[Any]:
        self.model.attemptStarting()
        return super().connect(protocolFactory)


class FactoryMachine(RuleBasedStateMachine):
    """
    One factory, one clock, one network monitor; the rules are everything
    the network, the server, the application and time can do to it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.events: list[LogEvent] = []
        globalLogPublisher.addObserver(self.events.append)
        self.observing = True
        self.factory: Factory | None = None

    # -- setup ---------------------------------------------------------------

    @initialize(
        path=st.sampled_from(["connector", "endpoint"]),
        seed=st.integers(0, 2**32 - 1),
        initialDelay=st.sampled_from([0.5, 1.0, 2.0]),
        maxDelay=st.sampled_from([2.0, 10.0, 30.0]),
        jitter=st.sampled_from([0.0, 0.5, 0.8, 1.0]),
        networkUp=st.sampled_from([True, True, False, None]),
        minUptime=st.sampled_from([0.0, 5.0]),
        maxRetries=st.sampled_from([None, None, 3]),
        waitFirst=st.booleans(),
    )
    def setup(
        self,
        path: str,
        seed: int,
        initialDelay: float,
        maxDelay: float,
        jitter: float,
        networkUp: bool | None,
        minUptime: float,
        maxRetries: int | None,
        waitFirst: bool,
    ) -> None:
        self.pathName = path
        self.backoff = ExponentialBackoff(
            initialDelay, 2.0, maxDelay, jitter, rng=random.Random(seed)
        )
        self.monitor = ManualNetworkMonitor(isUp=networkUp)
        self.observerRaises = False
        self.policyMode = "default"
        self.handshakeMode = "deferred"
        self.stuckClose = False
        self.defaultPolicy = DefaultPolicy(MAX_RETRY_LATER)
        self.retryLaterDelays: set[float] = set()
        self.protocols: list[RecordingProtocol] = []
        self.transports: list[FakeTransport] = []
        self.handshakes: list[tuple[RecordingProtocol, Deferred[None]]] = []
        self.waiters: list[tuple[Deferred[Any], list[Any]]] = []
        self.closeWaits: list[tuple[Deferred[None], list[Any]]] = []
        self.statuses: list[ConnectionStatus] = []
        self.userControl: str | None = None
        self.reconnectPending = False
        self.problems: list[str] = []
        self.started = False
        self.armed: tuple[str, str] | None = None
        self.firing = False

        factory = self.factory = Factory(
            clock=self.clock,
            backoff=self.backoff,
            handshake=self.handshake,
            policy=self.policy,
            networkMonitor=self.monitor,
            connectTimeout=CONNECT_TIMEOUT,
            handshakeTimeout=HANDSHAKE_TIMEOUT,
            minUptime=minUptime,
            networkUpJitter=0.25,
            maxRetryLater=MAX_RETRY_LATER,
            alertAfter=60.0,
            alertEvery=120.0,
            rng=random.Random(seed + 1),
        )
        factory.maxRetries = maxRetries
        factory.model = self
        factory.addStatusObserver(self.raisingObserver)
        factory.addStatusObserver(self.observe)
        if path == "connector":
            self.connector = CheckingConnector(self, factory, self.clock)
        else:
            self.endpoint = CheckingEndpoint(self, self.clock)
            self.service = ReconnectingService(self.endpoint, factory)
        if waitFirst:
            self.whenConnected()
        self.userControl = "start"
        try:
            if path == "connector":
                self.connector.connect()  # like reactor.connectTCP()
            else:
                self.service.startService()
        finally:
            self.userControl = None
        self.started = True

    # -- hooks given to the factory -----------------------------------------

    def handshake(self, protocol: RecordingProtocol) -> Deferred[None] | None:
        assert protocol.events == ["made"], protocol.events
        mode = self.handshakeMode
        if mode == "instant":
            protocol.handshakeOk = True
            return None
        if mode == "raise":
            raise HandshakeBoom("handshake raised synchronously")
        d: Deferred[None] = Deferred()
        self.handshakes.append((protocol, d))
        self.fireArmed("handshake")
        return d

    def policy(self, failure: Failure, status: ConnectionStatus) -> Any:
        self.fireArmed("policy")
        if self.policyMode == "raise":
            raise PolicyBoom("policy bug")
        if self.policyMode == "garbage":
            return "not a decision"
        return self.defaultPolicy.decide(failure, status)

    def raisingObserver(self, status: ConnectionStatus) -> None:
        if self.observerRaises:
            raise ObserverBoom("observer bug")

    def observe(self, status: ConnectionStatus) -> None:
        # Runs inside the factory, which logs (and survives) what an observer
        # raises: record the problems for the invariant to raise instead.
        try:
            self.checkStatus(status)
        except AssertionError as e:
            self.problems.append(f"{e!r} (status {status})")
        self.fireArmed("observer")  # after the check: it judged this status

    def checkStatus(self, status: ConnectionStatus) -> None:
        previous = self.statuses[-1] if self.statuses else None
        self.statuses.append(status)
        now = self.clock.seconds()
        before = previous.state if previous is not None else S.IDLE
        asked = self.userControl == "reconnectNow" or self.reconnectPending
        if status.state is not before:
            assert status.state in TRANSITIONS[before], (
                f"observed transition {before.name} -> {status.state.name}"
            )
            if status.state is S.CONNECTING and before in (S.STOPPED, S.OFFLINE):
                assert asked, f"{before.name} -> CONNECTING without reconnectNow()"
            if status.state is S.CONNECTING and before is S.IDLE:
                assert asked or self.userControl == "start"
        if status.state is S.CONNECTED:
            protocol = self.liveProtocol()
            assert protocol is not None and protocol.handshakeOk, (
                "CONNECTED before the handshake finished"
            )
        if status.state is S.STOPPED:
            assert status.stopReason, "STOPPED without a stop reason"
        if status.nextAttemptAt is not None:
            assert status.state is S.WAITING, status
            changed = previous is None or previous.nextAttemptAt != status.nextAttemptAt
            if changed:
                self.checkDelay(status.nextAttemptAt - now)

    def checkDelay(self, delay: float) -> None:
        backoff = self.backoff
        low = backoff.initialDelay * (1.0 - backoff.jitter)
        fromSchedule = low - 1e-9 <= delay <= backoff.maxDelay + 1e-9
        fromNetwork = 0.0 <= delay <= 0.25 + 1e-9
        fromServer = any(abs(delay - d) < 1e-9 for d in self.retryLaterDelays)
        assert fromSchedule or fromNetwork or fromServer, (
            f"delay {delay!r} outside the schedule "
            f"[{low}, {backoff.maxDelay}], the network-up jitter and the "
            f"retryLater delays {sorted(self.retryLaterDelays)}"
        )

    def attemptStarting(self) -> None:
        """Called by the fakes on every connect(): may an attempt start now?"""
        try:
            self.checkAttemptStart()
        except AssertionError as e:
            self.problems.append(f"attempt start: {e!r}")

    def checkAttemptStart(self) -> None:
        factory = self.factory
        assert factory is not None
        state = factory.status.state
        if not self.started:
            assert state in (S.IDLE, S.CONNECTING), f"first connect() while {state}"
            return
        assert state is S.CONNECTING, f"connect() while {state.name}"
        assert not self.pathConnecting(), "connect() with an attempt in flight"
        assert not self.openTransports(), "connect() with a transport still open"
        if self.monitor.isUp is False:
            assert self.userControl == "reconnectNow" or self.reconnectPending, (
                f"an attempt started while the network is down ({self.userControl})"
            )

    # -- helpers --------------------------------------------------------------

    def pathConnecting(self) -> bool:
        if self.pathName == "connector":
            return self.connector.state == "connecting"
        return self.endpoint.state == "connecting"

    def succeedAttempt(self) -> Any:
        if self.pathName == "connector":
            return self.connector.succeed()
        return self.endpoint.succeed()

    def currentTransport(self) -> FakeTransport | None:
        if self.pathName == "connector":
            return self.connector.transport
        return self.endpoint.transport

    def openTransports(self) -> list[FakeTransport]:
        return [t for t in self.transports if not t.closed]

    def liveProtocol(self) -> RecordingProtocol | None:
        """The protocol whose handshake succeeded and whose transport is open."""
        live = [
            p
            for p in self.protocols
            if p.handshakeOk
            and not p.transport.closed  # type: ignore[union-attr]
            and not p.transport.disconnecting  # type: ignore[union-attr]
        ]
        assert len(live) <= 1, live
        return live[0] if live else None

    def control(self, name: str) -> Any:
        """The factory's control ``name``, called as the user (for the checks)."""
        self.userControl = name
        return getattr(self.factory, name)

    def track(self, d: Deferred[Any], into: list[tuple[Deferred[Any], list[Any]]]):
        outcome: list[Any] = []

        def fire(result: Any) -> Any:
            self.fireArmed("waiter")
            return result

        if into is self.waiters:
            d.addCallback(fire)

        def done(result: Any) -> None:
            outcome.append(result)
            if into is self.closeWaits:
                assert not self.openTransports(), (
                    "giveUp() fired with a transport still open"
                )

        d.addBoth(done)
        into.append((d, outcome))

    # -- rules: the network and the server ------------------------------------

    @precondition(lambda self: self.started and self.pathConnecting())
    @rule()
    def attemptSucceeds(self) -> None:
        protocol = self.succeedAttempt()
        assert protocol is not None and protocol in self.protocols

    @precondition(lambda self: self.started and self.pathConnecting())
    @rule(
        reason=st.sampled_from(
            [
                error.ConnectionRefusedError(),
                error.TimeoutError(),
                error.DNSLookupError("nope"),
                OSError("boom"),
            ]
        )
    )
    def attemptFails(self, reason: BaseException) -> None:
        if self.pathName == "connector":
            self.connector.fail(reason)
        else:
            self.endpoint.fail(reason)

    def pendingHandshake(self) -> Deferred[None] | None:
        pending = [d for _, d in self.handshakes if not d.called]
        assert len(pending) <= 1, "two handshakes running at once"
        return pending[0] if pending else None

    @precondition(lambda self: self.started and self.pendingHandshake() is not None)
    @rule()
    def handshakeSucceeds(self) -> None:
        protocol, d = next((p, d) for p, d in self.handshakes if not d.called)
        protocol.handshakeOk = True
        d.callback(None)

    @precondition(lambda self: self.started and self.pendingHandshake() is not None)
    @rule(
        reason=st.sampled_from(
            [
                HandshakeRejected("bad password", permanent=True),
                HandshakeRejected("try again", permanent=False),
                HandshakeBoom("unexpected answer"),
            ]
        )
    )
    def handshakeFails(self, reason: BaseException) -> None:
        d = self.pendingHandshake()
        assert d is not None
        d.errback(reason)

    @precondition(lambda self: self.started and self.currentTransport() is not None)
    @rule(
        reason=st.sampled_from(
            [error.ConnectionLost("reset"), error.ConnectionDone("closed")]
        )
    )
    def connectionDrops(self, reason: BaseException) -> None:
        if self.pathName == "connector":
            self.connector.drop(reason)
        else:
            self.endpoint.drop(reason)

    @rule(reason=st.sampled_from(["same account logged in elsewhere", "banned"]))
    def kicked(self, reason: str) -> None:
        self.control("kicked")(reason)

    @rule(after=st.sampled_from([0, 0.1, 3, 40, 49.5, 500, -2]))
    def retryLater(self, after: float) -> None:
        self.retryLaterDelays.add(min(max(float(after), 0.0), MAX_RETRY_LATER))
        self.control("retryLater")("busy", after)

    @rule(up=st.sampled_from([True, False]))
    def network(self, up: bool) -> None:
        self.monitor.setUp(up)

    @rule()
    def networkUnknown(self) -> None:
        # What a monitor that failed reports.
        self.monitor._setState(None)

    @rule(
        seconds=st.sampled_from(
            [0, 0, 0.01, 0.1, 0.25, 1.0, 2.5, 5.0, 8.0, 10.0, 30.0, 100.0]
        )
    )
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # -- rules: the application -----------------------------------------------

    @rule()
    def reconnectNow(self) -> None:
        assert self.factory is not None
        if self.factory.status.state in (S.WAITING, S.OFFLINE, S.STOPPED):
            self.reconnectPending = True
        self.track(self.control("reconnectNow")(), self.waiters)

    @rule(reason=st.sampled_from(["gave up", "user quit"]))
    def giveUp(self, reason: str) -> None:
        self.reconnectPending = False
        self.track(self.control("giveUp")(reason), self.closeWaits)

    @precondition(lambda self: self.pathName == "endpoint")
    @rule()
    def stopService(self) -> None:
        self.userControl = "stopService"
        self.reconnectPending = False
        self.track(self.service.stopService(), self.closeWaits)

    @rule()
    def stopTrying(self) -> None:
        self.reconnectPending = False
        self.control("stopTrying")()

    @rule()
    def resetDelay(self) -> None:
        self.control("resetDelay")()

    @rule()
    def whenConnected(self) -> None:
        assert self.factory is not None
        self.track(self.factory.whenConnected(), self.waiters)

    @precondition(lambda self: any(not d.called for d, _ in self.waiters))
    @rule()
    def cancelWaiter(self) -> None:
        d = next(d for d, _ in self.waiters if not d.called)
        d.cancel()

    @rule(
        site=st.sampled_from(
            ["observer", "policy", "handshake", "waiter", "connectionMade"]
        ),
        control=st.sampled_from(
            [
                "giveUp",
                "stopTrying",
                "reconnectNow",
                "resetDelay",
                "kicked",
                "retryLater",
                "whenConnected",
                "cancelWaiter",
            ]
        ),
    )
    def armControl(self, site: str, control: str) -> None:
        """The next time ``site`` calls back, it calls ``control``."""
        self.armed = (site, control)

    def fireArmed(self, site: str) -> None:
        """Call the armed control, from inside a callback site."""
        armed = self.armed
        if armed is None or armed[0] != site or self.firing or not self.started:
            return
        self.armed = None
        self.firing = True
        control = armed[1]
        try:
            if control == "giveUp":
                self.giveUp("from a callback")
            elif control == "stopTrying":
                self.stopTrying()
            elif control == "reconnectNow":
                # Judged after the callback: whatever state it then meets.
                self.reconnectPending = True
                self.track(self.control("reconnectNow")(), self.waiters)
            elif control == "resetDelay":
                self.resetDelay()
            elif control == "kicked":
                self.kicked("same account logged in elsewhere")
            elif control == "retryLater":
                self.retryLater(3)
            elif control == "whenConnected":
                self.whenConnected()
            elif any(not d.called for d, _ in self.waiters):
                self.cancelWaiter()
        finally:
            self.firing = False

    @rule()
    def toggleObserverRaises(self) -> None:
        self.observerRaises = not self.observerRaises

    @rule(mode=st.sampled_from(["default", "raise", "garbage"]))
    def setPolicy(self, mode: str) -> None:
        self.policyMode = mode

    @rule(mode=st.sampled_from(["deferred", "instant", "raise"]))
    def setHandshake(self, mode: str) -> None:
        self.handshakeMode = mode

    @rule()
    def toggleStuckClose(self) -> None:
        self.stuckClose = not self.stuckClose

    # -- invariants -------------------------------------------------------------

    @invariant()
    def checkEverything(self) -> None:
        self.userControl = None
        problems, self.problems = self.problems, []
        assert not problems, "\n".join(problems)
        factory = self.factory
        if factory is None:
            return
        status = factory.status
        state = status.state
        machine = factory._machine
        if not machine.attemptAfterClose:
            self.reconnectPending = False
        calls = machine.pendingCalls()
        # One transport or attempt at a time.
        inFlight = len(self.openTransports()) + (1 if self.pathConnecting() else 0)
        assert inFlight <= 1, f"{inFlight} transports/attempts at once ({state})"
        # The protocol's callbacks run once each, in order.
        for protocol in self.protocols:
            assert protocol.events in (["made"], ["made", "lost"]), protocol.events
        # The status agrees with the transports.
        live = self.liveProtocol()
        if state is S.CONNECTED:
            assert live is not None, "CONNECTED without a live connection"
            assert self.pendingHandshake() is None
        else:
            assert live is None, f"{state.name} with a live connection"
        if state is S.HANDSHAKING:
            assert self.pendingHandshake() is not None
            current = self.currentTransport()
            assert current is not None and not current.closed
        else:
            assert self.pendingHandshake() is None, (
                f"a handshake is still running while {state.name}"
            )
        if state is S.WAITING and machine.attemptAfterClose:
            # reconnectNow() while the old transport is still closing: the
            # attempt follows the close, not a timer.
            # (A network-up meanwhile may also schedule one: harmless, as
            # attempts wait for the close either way.)
            assert machine.closing is not None
            assert ("retry" in calls) == (status.nextAttemptAt is not None), status
        elif state is S.WAITING:
            assert "retry" in calls and status.nextAttemptAt is not None
        else:
            assert "retry" not in calls, f"a retry timer while {state.name}"
            assert status.nextAttemptAt is None, status
        if state in (S.STOPPED, S.OFFLINE, S.WAITING):
            assert not self.pathConnecting(), f"an attempt in flight while {state}"
        if state is S.STOPPED and not machine.attemptAfterClose:
            assert set(calls) <= {"abort", "abortCheck"}, calls
            assert factory.continueTrying == 0
        if state is S.STOPPED and machine.attemptAfterClose:
            # reconnectNow() while the old transport is still closing.
            assert machine.closing is not None and self.reconnectPending
            assert set(calls) <= {"abort", "abortCheck", "alert"}, calls
        # Waiters only ever see a connected protocol, GaveUp or their own cancel.
        for _, outcome in self.waiters:
            for result in outcome:
                if isinstance(result, Failure):
                    assert result.check(GaveUp, CancelledError), result
                else:
                    assert isinstance(result, RecordingProtocol) and result.handshakeOk
        self.checkLog()

    def checkLog(self) -> None:
        for event in self.events:
            failure = event.get("log_failure")
            if failure is not None and not failure.check(*EXPECTED_LOGGED):
                raise AssertionError(
                    f"unexpected error logged: {formatEvent(event)}\n"
                    f"{failure.getTraceback()}"
                )
            text = event.get("log_format") or ""
            if "internal error" in text or "Unhandled error" in text:
                raise AssertionError(f"logged: {formatEvent(event)}")
        del self.events[:]

    def teardown(self) -> None:
        try:
            factory = self.factory
            if factory is None:
                return
            self.observerRaises = False
            d = factory.giveUp("teardown")
            self.track(d, self.closeWaits)
            self.clock.advance(0)
            if self.openTransports():  # a stuck close: aborted after 5 s
                self.clock.advance(10.0)  # the abort after CLOSE_TIMEOUT
            assert self.clock.getDelayedCalls() == [], self.clock.getDelayedCalls()
            assert not self.openTransports(), "a transport is still open"
            assert not self.pathConnecting(), "an attempt is still in flight"
            assert factory.status.state is S.STOPPED
            for d, outcome in self.waiters + self.closeWaits:
                assert outcome, f"{d!r} never fired"
            for _, outcome in self.closeWaits:
                assert outcome == [None], outcome
            for protocol in self.protocols:
                assert protocol.events == ["made", "lost"], protocol.events
            del self.waiters[:], self.closeWaits[:], self.handshakes[:]
            gc.collect()
            self.checkLog()
        finally:
            if self.observing:
                globalLogPublisher.removeObserver(self.events.append)
                self.observing = False


_DEV = os.environ.get("HYPOTHESIS_PROFILE") == "dev"
# CI: 200 examples of 60 steps, no shrinking (a failure prints its full,
# replayable sequence at once instead of shrinking for minutes); dev: longer
# sequences, shrunk.
FactoryMachine.TestCase.settings = settings(
    stateful_step_count=200 if _DEV else 60,
    phases=list(Phase) if _DEV else [Phase.explicit, Phase.reuse, Phase.generate],
)
TestFactoryMachine = FactoryMachine.TestCase


class RegressionTests(SynchronousTestCase):
    """
    Sequences hypothesis found (or that once broke), replayed step by step.
    """

    def run_machine(self, **setup: Any) -> FactoryMachine:
        machine = FactoryMachine()
        defaults: dict[str, Any] = {
            "path": "connector",
            "seed": 0,
            "initialDelay": 1.0,
            "maxDelay": 10.0,
            "jitter": 0.0,
            "networkUp": True,
            "minUptime": 5.0,
            "maxRetries": None,
            "waitFirst": True,
        }
        defaults.update(setup)
        machine.setup(**defaults)
        machine.checkEverything()
        return machine

    def test_smoke(self) -> None:
        """When a connection is made and lost, both paths satisfy every check."""
        for path in ("connector", "endpoint"):
            m = self.run_machine(path=path)
            try:
                m.attemptSucceeds()
                m.checkEverything()
                m.handshakeSucceeds()
                m.checkEverything()
                m.connectionDrops(error.ConnectionLost("reset"))
                m.checkEverything()
                m.advance(1.0)
                m.checkEverything()
            finally:
                m.teardown()

    def test_noAttemptAfterGiveUpDuringDeferredStart(self) -> None:
        """
        When giveUp() comes while the connector path still defers the next
        connect() (a connection lost outside the clock, with reconnectNow()
        pending), no attempt starts afterwards (bug reliability-1).
        """
        m = self.run_machine(path="connector", waitFirst=False)
        try:
            m.setHandshake(mode="instant")
            m.attemptSucceeds()
            m.giveUp(reason="gave up")
            m.reconnectNow()
            m.checkEverything()
            m.connectionDrops(reason=error.ConnectionLost("reset"))
            m.checkEverything()
            m.giveUp(reason="user quit")
            m.checkEverything()
            m.advance(0)
            m.checkEverything()
            assert m.factory is not None
            self.assertEqual(m.factory.status.state, S.STOPPED)
            self.assertEqual(m.connector.attempts, 2)
        finally:
            m.teardown()

    def test_noAttemptWhileOfflineDuringDeferredStart(self) -> None:
        """
        When the network goes down while the connector path still defers the
        next connect(), no attempt is spent while OFFLINE (bug reliability-1).
        """
        m = self.run_machine(path="connector", waitFirst=False)
        try:
            m.setHandshake(mode="instant")
            m.attemptSucceeds()
            m.giveUp(reason="gave up")
            m.reconnectNow()
            m.connectionDrops(reason=error.ConnectionLost("reset"))
            m.network(up=False)
            m.checkEverything()
            m.advance(0)
            m.checkEverything()
            assert m.factory is not None
            self.assertEqual(m.factory.status.state, S.OFFLINE)
        finally:
            m.teardown()

    def test_stopTryingCancelsReconnectAfterClose(self) -> None:
        """
        When stopTrying() follows reconnectNow() from STOPPED while the old
        transport is still closing, no attempt starts once it has closed
        (bug reliability-2).
        """
        m = self.run_machine(path="endpoint", waitFirst=False)
        try:
            m.setHandshake(mode="instant")
            m.attemptSucceeds()
            m.giveUp(reason="gave up")
            m.reconnectNow()
            m.stopTrying()
            m.checkEverything()
            m.advance(0)
            m.checkEverything()
            assert m.factory is not None
            self.assertEqual(m.factory.status.state, S.STOPPED)
            self.assertEqual(m.endpoint.attempts, 1)
        finally:
            m.teardown()
