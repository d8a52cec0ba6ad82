"""
HandshakeSteps and callHandshake never put a callable's repr() (which for a
functools.partial shows a password) into a step name, a repr or an error, and
escape the peer's text they quote; a cancelled HandshakeSteps runs no further
step.
"""

from __future__ import annotations

import functools
import gc
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import (
    ConnectionState,
    FixedBackoff,
    HandshakeRejected,
    HandshakeTimeout,
    ReconnectingFactory,
)
from reconnect_twisted.handshake import (
    HandshakeStepError,
    HandshakeSteps,
    callHandshake,
)
from reconnect_twisted.testing import FakeConnector

PASSWORD = "hunter2"


def login(protocol: object, user: str = "", password: str = "") -> Deferred[None]:
    """A step that succeeds."""
    return succeed(None)


def crash(protocol: object, password: str = "") -> None:
    """A step with a programming error."""
    raise ZeroDivisionError("division by zero")


def rejectWith(reason: str, permanent: bool = False) -> Any:
    def step(protocol: object, password: str = "") -> Deferred[None]:
        return fail(HandshakeRejected(reason, permanent))

    return step


class Session:
    def login(self, protocol: object, password: str = "") -> None:
        """A method step."""


class Step:
    """A callable object whose repr holds the password."""

    def __init__(self, password: str) -> None:
        self.password = password

    def __call__(self, protocol: object) -> None:
        """Succeed."""

    def __repr__(self) -> str:
        return f"Step(password={self.password!r})"


class SecretError(Exception):
    """An error whose repr (not str) holds the password."""

    def __repr__(self) -> str:
        return f"SecretError({PASSWORD!r})"


class StepNameTests(SynchronousTestCase):
    def test_partialName(self) -> None:
        """When a step is a partial with password=, it is named by its function."""
        steps = HandshakeSteps(functools.partial(login, password=PASSWORD))
        self.assertEqual([name for name, _ in steps.steps], ["login"])

    def test_reprHasNoPassword(self) -> None:
        """When HandshakeSteps of partials is printed, the password is not."""
        steps = HandshakeSteps(
            functools.partial(login, user="alice", password=PASSWORD),
            functools.partial(functools.partial(crash, password=PASSWORD)),
            Step(PASSWORD),
            stepTimeout=5.0,
        )
        self.assertEqual(
            repr(steps), "HandshakeSteps('login', 'crash', 'step 3', stepTimeout=5.0)"
        )

    def test_stepNumberWhenNoName(self) -> None:
        """When a step is a lambda (or a partial of one), it is "step N"."""
        steps = HandshakeSteps(
            login,
            lambda p: None,
            functools.partial(lambda p, password: None, password=PASSWORD),
        )
        self.assertEqual(
            [name for name, _ in steps.steps], ["login", "step 2", "step 3"]
        )

    def test_boundMethod(self) -> None:
        """When a step is a bound method (in a partial), it is Class.method."""
        session = Session()
        steps = HandshakeSteps(
            session.login, functools.partial(session.login, password=PASSWORD)
        )
        self.assertEqual(
            [name for name, _ in steps.steps], ["Session.login", "Session.login"]
        )

    def test_givenNameKept(self) -> None:
        """When a step is a (name, callable) pair, the name is used as given."""
        steps = HandshakeSteps(("auth", functools.partial(login, password=PASSWORD)))
        self.assertEqual([name for name, _ in steps.steps], ["auth"])

    def test_badStepErrorsHaveNoRepr(self) -> None:
        """When a step is malformed, the TypeError describes it without repr()."""
        secret = functools.partial(login, password=PASSWORD)
        for bad, message in [
            (
                ("login", secret, 1),
                "steps: step 1 must be a callable or a (name, callable) pair, "
                "not a tuple of 3 items",
            ),
            (
                (secret, secret),
                "steps: the name of step 1 must be a str, not partial",
            ),
            (
                ("login", Step(PASSWORD).password),
                "steps: step 1 ('login') must be callable, not str",
            ),
        ]:
            with self.assertRaises(TypeError) as e:
                HandshakeSteps(bad)  # type: ignore[arg-type]
            self.assertEqual(str(e.exception), message)
            self.assertNotIn(PASSWORD, str(e.exception))

    def test_notCallable(self) -> None:
        """When a step is not callable, the TypeError names its type only."""
        with self.assertRaises(TypeError) as e:
            HandshakeSteps(login, PASSWORD)  # type: ignore[arg-type]
        self.assertEqual(
            str(e.exception),
            "steps: step 2 must be a callable or a (name, callable) pair, not str",
        )


class FailureMessageTests(SynchronousTestCase):
    def runSteps(self, steps: HandshakeSteps, clock: Clock | None = None) -> Any:
        d = steps.run(object(), clock or Clock())
        return self.failureResultOf(d).value

    def test_stepErrorNoRepr(self) -> None:
        """When a partial step raises, the error names it and its type, no repr."""
        error = self.runSteps(
            HandshakeSteps(
                functools.partial(login, password=PASSWORD),
                functools.partial(crash, password=PASSWORD),
            )
        )
        self.assertIsInstance(error, HandshakeStepError)
        self.assertEqual(
            str(error),
            "handshake step 'crash' failed: ZeroDivisionError: division by zero",
        )
        self.assertEqual(error.step, "crash")
        self.assertIsInstance(error.original, ZeroDivisionError)

    def test_originalReprNotUsed(self) -> None:
        """When the original error's repr holds a secret, only str() is used."""
        error = HandshakeStepError("login", SecretError("server said no"))
        self.assertEqual(
            str(error), "handshake step 'login' failed: SecretError: server said no"
        )
        self.assertNotIn(PASSWORD, str(error))

    def test_originalWithoutMessage(self) -> None:
        """When the original error has an empty str(), only its type is given."""
        error = HandshakeStepError("step 2", SecretError())
        self.assertEqual(str(error), "handshake step 'step 2' failed: SecretError")

    def test_originalTextEscaped(self) -> None:
        """When the original error quotes a forged line, it is escaped, cut."""
        reply = "no\r\n2026-01-01 [-] state=connected\x1b[0m" + "x" * 500
        error = HandshakeStepError("login", ValueError(reply))
        expected = (
            "no\\r\\n2026-01-01 [-] state=connected\\x1b[0m"
            + "x" * (200 - len("no\\r\\n2026-01-01 [-] state=connected\\x1b[0m"))
            + "…"
        )
        self.assertEqual(
            str(error), f"handshake step 'login' failed: ValueError: {expected}"
        )
        self.assertNotIn("\n", str(error))

    def test_rejectedReasonEscaped(self) -> None:
        """When a step rejects with a peer's multi-line reason, it is escaped."""
        error = self.runSteps(
            HandshakeSteps(
                ("login", rejectWith("bad password\nLOGIN ok", permanent=True))
            )
        )
        self.assertIsInstance(error, HandshakeRejected)
        self.assertTrue(error.permanent)
        self.assertEqual(error.reason, "step 'login': bad password\\nLOGIN ok")
        self.assertEqual(
            str(error),
            "handshake permanently rejected: step 'login': bad password\\nLOGIN ok",
        )

    def test_rejectedReasonTruncated(self) -> None:
        """When a rejection's reason is 10,000 characters, 200 are kept."""
        error = self.runSteps(HandshakeSteps(("login", rejectWith("y" * 10_000))))
        self.assertEqual(error.reason, "step 'login': " + "y" * 200 + "…")

    def test_timeoutNamesStepNumber(self) -> None:
        """When a nameless step times out, the timeout names "step N"."""
        clock = Clock()
        steps = HandshakeSteps(login, lambda p: Deferred(), stepTimeout=5.0)
        d = steps.run(object(), clock)
        clock.advance(5.0)
        error = self.failureResultOf(d, HandshakeTimeout).value
        self.assertEqual(str(error), "handshake step 'step 2' timed out after 5s")

    def test_callHandshakePlainValue(self) -> None:
        """
        When a handshake returns a plain value, that is success (as with
        ClientService's prepareConnection), and the value is passed on.
        """

        def answer(protocol: object, password: str) -> int:
            return 42

        d = callHandshake(functools.partial(answer, password=PASSWORD), object())
        self.assertEqual(self.successResultOf(d), 42)


class AppFactory(ReconnectingFactory):
    protocol = Protocol


class CancelTests(SynchronousTestCase):
    """
    Cancelling a HandshakeSteps run stops it: the running step is cancelled,
    and no later step runs, even when the cancel comes from the running
    step's own callbacks (a control such as giveUp() called while it fires).
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.ran: list[str] = []
        self.pending: dict[str, Deferred[Any]] = {}

    def step(self, name: str, onReply: Any = None) -> Any:
        """A step that records its run and waits for a reply, then onReply."""

        def run(protocol: Any) -> Deferred[Any]:
            self.ran.append(name)
            d: Deferred[Any] = Deferred(lambda d: self.ran.append(f"{name} cancelled"))
            if onReply is not None:
                d.addCallback(onReply, protocol)
            self.pending[name] = d
            return d

        return (name, run)

    def test_cancelDuringPendingStep(self) -> None:
        """
        When the run is cancelled while a step waits, that step is cancelled,
        the run fails with CancelledError, the next step never runs and its
        timer is gone.
        """
        steps = HandshakeSteps(self.step("login"), self.step("join"), stepTimeout=20.0)
        d = steps.run(object(), self.clock)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(self.ran, ["login", "login cancelled"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_cancelWhileStepFires(self) -> None:
        """
        When the run is cancelled by a callback of the step's own Deferred
        (which a cancel can no longer stop), the run fails with
        CancelledError at once, the step's result is dropped, the next step
        never runs and no timer is left.
        """
        runs: list[Deferred[None]] = []

        def cancelRun(reply: Any, protocol: Any) -> Any:
            runs[0].cancel()
            return reply

        steps = HandshakeSteps(
            self.step("login", cancelRun), self.step("join"), stepTimeout=20.0
        )
        runs.append(steps.run(object(), self.clock))
        self.pending["login"].callback(b"OK")
        self.failureResultOf(runs[0], CancelledError)
        self.assertEqual(self.ran, ["login"])
        self.clock.advance(20.0)
        self.assertEqual(self.ran, ["login"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_cancelWhileStepFailsNoUnhandledError(self) -> None:
        """
        When the step's callbacks cancel the run and then the step fails, the
        run's result stays CancelledError and no unhandled error is logged.
        """
        runs: list[Deferred[None]] = []

        def cancelThenFail(reply: Any, protocol: Any) -> Any:
            runs[0].cancel()
            raise ValueError("bad reply")

        steps = HandshakeSteps(self.step("login", cancelThenFail), self.step("join"))
        runs.append(steps.run(object(), self.clock))
        self.pending.pop("login").callback(b"??")
        self.failureResultOf(runs.pop(), CancelledError)
        gc.collect()
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertEqual(self.ran, ["login"])

    def test_notCancelledRunsEveryStep(self) -> None:
        """When nothing cancels the run, every step runs and the run succeeds."""
        steps = HandshakeSteps(self.step("login"), self.step("join"), stepTimeout=20.0)
        d = steps.run(object(), self.clock)
        self.pending["login"].callback(None)
        self.assertNoResult(d)
        self.pending["join"].callback(None)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.ran, ["login", "join"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def runWithControl(self, control: Any) -> AppFactory:
        """
        Connect a factory whose login step's reply calls ``control(factory)``
        while the step's Deferred fires; check that step 2 did not run on the
        aborted transport, and return the factory.
        """

        def onReply(reply: Any, protocol: Any) -> Any:
            control(protocol.factory)
            return reply

        def subscribe(protocol: Any) -> Deferred[None]:
            self.ran.append("subscribe")
            protocol.transport.write(b"SUBSCRIBE secret-topic\r\n")
            return Deferred()

        factory = AppFactory(
            clock=self.clock,
            backoff=FixedBackoff(3.0),
            alertAfter=None,
            handshake=HandshakeSteps(
                self.step("login", onReply), ("subscribe", subscribe), stepTimeout=20.0
            ),
        )
        connector = FakeConnector(factory, self.clock)
        connector.connect()
        protocol = connector.succeed()
        self.assertEqual(factory.status.state, ConnectionState.HANDSHAKING)
        self.pending["login"].callback(b"BANNED")
        self.clock.advance(0)  # the aborted transport's connectionLost
        self.assertEqual(self.ran, ["login"])
        self.assertEqual(protocol.transport.value(), b"")
        self.assertTrue(protocol.transport.closed)
        self.assertEqual(connector.state, "disconnected")
        return factory

    def test_giveUpFromStepCallback(self) -> None:
        """
        When step 1's reply makes the application call giveUp("banned"), the
        factory stops, step 2 never runs (nothing is written on the aborted
        transport) and no timer is left.
        """
        factory = self.runWithControl(lambda factory: factory.giveUp("banned"))
        self.assertEqual(factory.status.state, ConnectionState.STOPPED)
        self.assertEqual(factory.status.stopReason, "banned")
        self.clock.advance(20.0)
        self.assertEqual(self.ran, ["login"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_rejectedFromStepCallback(self) -> None:
        """
        When step 1's reply makes the application call rejected(), the
        attempt fails with HandshakeRejected, step 2 never runs, and only
        the retry's timer is on the clock.
        """
        factory = self.runWithControl(lambda factory: factory.rejected("try later"))
        status = factory.status
        self.assertEqual(status.state, ConnectionState.WAITING)
        self.assertIsInstance(status.lastFailure.value, HandshakeRejected)
        self.assertEqual([c.getTime() for c in self.clock.getDelayedCalls()], [3.0])
        factory.giveUp("test over")
        self.clock.advance(20.0)
        self.assertEqual(self.ran, ["login"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_kickedFromStepCallback(self) -> None:
        """
        When step 1's reply makes the application call kicked(), the factory
        stops (the default policy gives up on a kick) and step 2 never runs.
        """
        factory = self.runWithControl(lambda factory: factory.kicked("duplicate login"))
        self.assertEqual(factory.status.state, ConnectionState.STOPPED)
        self.clock.advance(20.0)
        self.assertEqual(self.ran, ["login"])
        self.assertEqual(self.clock.getDelayedCalls(), [])
