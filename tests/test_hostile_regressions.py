"""
Regressions for the hostile-input fixes of 5b084ab: an exception whose
``__str__`` raises, a policy decision whose ``repr()`` raises, a retry hint
too large to print, a huge peer value passed to a control, a raising
observer or monitor whose repr holds a secret, a handshake error quoting
escapes and bidi overrides, an orphaned durable item refused with such a
reply, a fire-and-forget outbox draining a large backlog, and
PollingNetworkMonitor's construction checks.

Each test captures the log events (raw dicts and formatted text) and ends
with no delayed call left on the clock and no transport open.
"""

from __future__ import annotations

import functools
import io
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.logger import (
    LogEvent,
    LogLevel,
    eventAsJSON,
    formatEvent,
    globalLogPublisher,
    textFileLogObserver,
)
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import (
    ConnectionState,
    ConnectionStatus,
    FixedBackoff,
    HandshakeRejected,
    ManualNetworkMonitor,
    Outbox,
    PollingNetworkMonitor,
    ReconnectingFactory,
    SQLiteOutbox,
)
from reconnect_twisted.testing import FakeConnector, connectFake

from .test_outbox_sqlite import ImmediateReactor, ManualThreadPool

S = ConnectionState
SECRET = "xoxb-SECRET-WEBHOOK-TOKEN"


class AppProtocol(Protocol):
    pass


class AppFactory(ReconnectingFactory):
    protocol = AppProtocol


class ServerError(Exception):
    """A protocol error that renders the peer's raw bytes (as UTF-8)."""

    def __init__(self, raw: bytes) -> None:
        super().__init__()
        self.raw = raw

    def __str__(self) -> str:
        return self.raw.decode("utf-8")


class Unprintable:
    """A policy's answer that is no decision, and whose repr() raises."""

    def __repr__(self) -> str:
        raise RuntimeError("repr broken")


class LoginFailed(Exception):
    """A handshake's own error, quoting the server's reply."""


class Refused(Exception):
    """A peer's refusal of an item, carrying its reply text."""


class SecretMonitor(ManualNetworkMonitor):
    """A monitor whose repr holds a token, and whose start() fails."""

    def __init__(self, token: str) -> None:
        super().__init__(True)
        self.token = token

    def start(self) -> None:
        """Fail, as a monitor that cannot open its socket does."""
        raise RuntimeError("netlink socket refused")

    def __repr__(self) -> str:
        return f"SecretMonitor(token={self.token!r})"


def notifyChat(status: ConnectionStatus, token: str) -> None:
    """A status observer whose chat service is down."""
    raise ConnectionError("chat service down")


def eventText(event: LogEvent) -> str:
    """
    Everything an observer could write of ``event``: its formatted text, the
    repr of every key and value, a logged failure's traceback, and its JSON
    form (what jsonFileLogObserver writes).
    """
    pieces = [formatEvent(event), eventAsJSON(event)]
    for key, value in event.items():
        pieces.append(repr(key))
        if isinstance(value, Failure):
            pieces.append(value.getTraceback())
        else:
            pieces.append(repr(value))
    return "\n".join(pieces)


class _Logged(SynchronousTestCase):
    """Captures every log event; a factory on a FakeConnector."""

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

    def logged(self, text: str) -> list[str]:
        """The formatted text of each event whose format holds ``text``."""
        return [formatEvent(e) for e in self.events if text in str(e.get("log_format"))]

    def finish(self) -> None:
        """Give up, let the transport close; nothing is left on the clock."""
        closed = self.factory.giveUp("test over")
        self.clock.advance(0)
        self.assertIsNone(self.successResultOf(closed))
        self.assertEqual(self.factory.status.state, S.STOPPED)
        self.assertEqual(self.connector.state, "disconnected")
        transport = self.connector.transport
        self.assertTrue(transport is None or transport.closed)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class UnprintableTests(_Logged):
    """Values that cannot be printed no longer wedge the factory."""

    def test_handshakeErrorStrRaises(self) -> None:
        """
        When the handshake fails with an exception whose __str__ raises, the
        failure is logged by its type, the factory waits, and it retries
        after the backoff's 3 s.
        """
        answers: list[Any] = [fail(ServerError(b"ERR \xff\xfe"))]
        self.make(handshake=lambda p: answers.pop(0) if answers else None)
        self.connector.connect()
        self.connector.succeed()
        self.clock.advance(0)  # the aborted transport's connectionLost
        status = self.factory.status
        self.assertEqual(status.state, S.WAITING)
        self.assertEqual(status.nextAttemptAt, 3.0)
        self.assertEqual(self.connector.attempts, 1)
        self.assertEqual(self.connector.state, "disconnected")
        self.assertTrue(
            any("<unprintable ServerError>" in formatEvent(e) for e in self.events),
            [formatEvent(e) for e in self.events],
        )
        self.assertEqual(len(self.flushLoggedErrors(ServerError)), 1)
        self.clock.advance(3.0)
        self.assertEqual(self.connector.attempts, 2)
        self.assertEqual(self.factory.status.state, S.CONNECTING)
        self.connector.succeed()
        self.assertEqual(self.factory.status.state, S.CONNECTED)
        self.finish()

    def test_policyDecisionReprRaises(self) -> None:
        """
        When a policy returns a non-decision whose repr() raises, it is
        logged (by its type) and taken as Reconnect(): the next attempt
        starts 3 s later.
        """
        self.make(policy=lambda failure, status: Unprintable())
        self.connector.connect()
        self.connector.fail()
        status = self.factory.status
        self.assertEqual(status.state, S.WAITING)
        self.assertEqual(status.nextAttemptAt, 3.0)
        decisions = [e["decision"] for e in self.events if "decision" in e]
        self.assertEqual(decisions, ["a Unprintable"])
        self.assertEqual(
            self.logged("Reconnect policy returned"),
            [
                "Reconnect policy returned a Unprintable, not a Reconnect, "
                "ReconnectAfter or GiveUp; reconnecting as scheduled"
            ],
        )
        self.clock.advance(3.0)
        self.assertEqual(self.connector.attempts, 2)
        self.assertEqual(self.factory.status.state, S.CONNECTING)
        self.connector.succeed()
        self.finish()

    def test_retryLaterHugeIntHint(self) -> None:
        """
        When retryLater() gets an int of over 4300 digits, it does not raise:
        the hint is logged (by its size) and ignored, the connection closed
        and the next attempt scheduled by the backoff.
        """
        self.make()
        self.connector.connect()
        self.connector.succeed()
        hint = int.from_bytes(b"\xff" * 2000, "big")  # 16000 bits, 4817 digits
        self.factory.retryLater("busy", hint)
        self.clock.advance(0)
        status = self.factory.status
        self.assertEqual(status.state, S.WAITING)
        self.assertEqual(status.nextAttemptAt, 3.0)
        self.assertEqual(self.connector.state, "disconnected")
        self.assertEqual(
            self.logged("Ignoring the retry hint"),
            [
                "Ignoring the retry hint an integer of about 4817 digits from "
                "the server (not a finite number >= 0)"
            ],
        )
        self.clock.advance(3.0)
        self.assertEqual(self.connector.attempts, 2)
        self.connector.succeed()
        self.finish()


class ControlMessageTests(_Logged):
    """A control given a huge peer value refuses it with a short message."""

    def test_hugeBytesReason(self) -> None:
        """
        When kicked/rejected/retryLater/giveUp get 1 MB of bytes (the
        server's raw line) instead of a str, the TypeError quotes at most 80
        characters of it, and the connection is left as it was.
        """
        self.make()
        self.connector.connect()
        protocol = self.connector.succeed()
        line = b"KICK " + b"\x1b[2J" * 250_000
        shown = repr(line[:100])[:77] + "..."
        reasonMessage = f"reason must be a str, not {shown}"
        factory = self.factory
        for call, expected in [
            (lambda: factory.kicked(line), reasonMessage),
            (lambda: factory.rejected(line), reasonMessage),
            (lambda: factory.retryLater(line, 5), reasonMessage),
            (
                lambda: factory.retryLater("busy", line),
                f"after must be a number of seconds, not {shown}",
            ),
            (lambda: factory.giveUp(line), reasonMessage),
        ]:
            with self.assertRaises(TypeError) as e:
                call()
            self.assertEqual(str(e.exception), expected)
            self.assertLessEqual(len(str(e.exception)), 120)
        self.assertEqual(len(reasonMessage), 106)
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertIs(self.connector.protocol, protocol)
        self.finish()


class SecretTests(_Logged):
    """A raising observer or monitor is logged by name, never by repr()."""

    def assertNoSecret(self) -> None:
        self.assertTrue(self.events)
        for event in self.events:
            self.assertNotIn(SECRET, eventText(event))

    def test_observerPartialToken(self) -> None:
        """
        When a status observer bound to a token with functools.partial
        raises, it is logged as "notifyChat"; the token is in no event
        (no key, no value, no text, no traceback, no JSON).
        """
        self.make()
        self.factory.addStatusObserver(functools.partial(notifyChat, token=SECRET))
        self.connector.connect()
        self.connector.fail()
        self.assertEqual(self.factory.status.state, S.WAITING)
        self.assertEqual(
            self.logged("Status observer"),
            ["Status observer notifyChat raised; ignored"] * 2,
        )
        self.assertEqual(
            [e["observer"] for e in self.events if "observer" in e],
            ["notifyChat", "notifyChat"],
        )
        self.assertNoSecret()
        self.assertEqual(len(self.flushLoggedErrors(ConnectionError)), 2)
        self.clock.advance(3.0)
        self.connector.succeed()
        self.finish()
        self.flushLoggedErrors(ConnectionError)  # CONNECTING, CONNECTED, ...
        self.assertNoSecret()

    def test_monitorStartRaises(self) -> None:
        """
        When a network monitor whose repr holds a token fails in start(), it
        is logged by its type's name; the token is in no event; the factory
        carries on without it.
        """
        self.make(networkMonitor=SecretMonitor(SECRET))
        self.connector.connect()
        self.assertEqual(self.factory.status.state, S.CONNECTING)
        self.assertEqual(
            self.logged("Network monitor"),
            ["Network monitor SecretMonitor failed; carrying on without it"],
        )
        self.assertEqual(
            [e["monitor"] for e in self.events if "monitor" in e], ["SecretMonitor"]
        )
        self.assertNoSecret()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.connector.succeed()
        self.assertEqual(self.factory.status.state, S.CONNECTED)
        self.finish()
        self.assertNoSecret()


class HandshakeTracebackTests(_Logged):
    """A plain handshake's unexpected error is logged with its text escaped."""

    def test_tracebackEscaped(self) -> None:
        """
        When a plain handshake fails with an unexpected error quoting ESC,
        U+202E and 5000 characters, the logged text (the traceback too) has
        no ESC, no U+202E and no line over 1000 characters, and still names
        the exception's type.
        """
        reply = "\x1b]0;pwned\x07\x1b[31mDENIED\u202e" + "A" * 5000
        out = io.StringIO()
        observer = textFileLogObserver(out)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        answers = [fail(LoginFailed(f"unexpected reply: {reply}"))]
        self.make(handshake=lambda p: answers.pop(0) if answers else None)
        self.connector.connect()
        self.connector.succeed()
        self.clock.advance(0)
        globalLogPublisher.removeObserver(observer)
        self.assertEqual(self.factory.status.state, S.WAITING)
        self.assertEqual(self.factory.status.nextAttemptAt, 3.0)
        text = out.getvalue()
        self.assertNotIn("\x1b", text)
        self.assertNotIn("\u202e", text)
        self.assertLessEqual(max(len(line) for line in text.splitlines()), 1000)
        self.assertIn("raised an unexpected error", text)
        self.assertIn("LoginFailed: unexpected reply: \\x1b]0;pwned\\x07", text)
        self.assertIn("DENIED\\u202e", text)
        [bug] = [
            e
            for e in self.events
            if e.get("log_level") is LogLevel.error and "log_failure" in e
        ]
        traceback = bug["log_failure"].getTraceback()
        self.assertNotIn("\x1b", traceback)
        self.assertNotIn("\u202e", traceback)
        self.assertIn("LoginFailed", traceback)
        self.assertEqual(len(self.flushLoggedErrors(LoginFailed)), 1)
        self.clock.advance(3.0)
        self.connector.succeed()
        self.assertEqual(self.factory.status.state, S.CONNECTED)
        self.finish()


class SQLiteRefusalTests(_Logged):
    """An orphaned durable item's refusal is logged escaped and truncated."""

    def test_orphanRefusalEscaped(self) -> None:
        """
        When the peer refuses an item nobody waits on any more (its put()
        failed when the factory gave up) with a reply holding ANSI escapes,
        a forged log line and 5000 characters, the warning holds it escaped
        and cut to 200 characters.
        """
        directory = tempfile.mkdtemp(prefix="outbox-")
        self.addCleanup(shutil.rmtree, directory)
        path = Path(directory) / "outbox.db"
        peer = (
            "\x1b[2J\x1b[31mNO\n2026-01-01T00:00:00+0000 [app#critical] FORGED LINE"
            + "Z" * 5000
        )
        pool = ManualThreadPool()
        self.make()
        refusals: list[Deferred[Any]] = []

        def deliver(protocol: Any, item: Any) -> Deferred[Any]:
            refusals.append(fail(Refused(peer)))
            return refusals[-1]

        outbox = SQLiteOutbox(
            self.factory, deliver, path, threadpool=pool, reactor=ImmediateReactor()
        )
        self.connector.connect()
        put = outbox.put(b"hello")
        pool.run()  # stored
        self.factory.giveUp("maintenance")  # put() fails, the item stays
        self.assertEqual(str(self.failureResultOf(put).value), "maintenance")
        self.clock.advance(0)
        self.factory.reconnectNow()
        self.clock.advance(0)
        self.connector.succeed()
        self.assertEqual(len(refusals), 1)
        pool.run()
        escaped = (
            "\\x1b[2J\\x1b[31mNO\\n2026-01-01T00:00:00+0000 [app#critical] FORGED LINE"
        )
        expected = escaped + "Z" * (200 - len(escaped)) + "…"
        self.assertEqual(
            self.logged("SQLiteOutbox"),
            [f"SQLiteOutbox {path}: item 1 failed: Refused: {expected}"],
        )
        closed = outbox.close()
        pool.run()
        self.assertIsNone(self.successResultOf(closed))
        self.finish()


class FireAndForgetTests(_Logged):
    """An outbox whose deliver() answers at once drains any backlog."""

    def test_backlogOf5000(self) -> None:
        """
        When 5000 items are put while offline and deliver() returns a plain
        value, all are sent in order on the first connection and every
        put() fires, with no error logged.
        """
        self.make()
        sent: list[bytes] = []

        def deliver(protocol: Any, item: bytes) -> None:
            protocol.transport.write(item)
            sent.append(item)

        outbox = Outbox(self.factory, deliver, maxItems=10_000)
        self.connector.connect()
        self.connector.fail()
        items = [b"m%d" % i for i in range(5000)]
        results: list[Any] = []
        for item in items:
            outbox.put(item).addBoth(results.append)
        self.assertEqual(outbox.queued, 5000)
        self.clock.advance(3.0)
        self.connector.succeed()
        self.assertEqual(sent, items)
        self.assertEqual(results, [None] * 5000)
        self.assertEqual(outbox.queued, 0)
        self.assertEqual(outbox.delivered, 5000)
        self.assertEqual(self.connector.transport.value(), b"".join(items))  # type: ignore[union-attr]
        self.assertEqual(
            [e for e in self.events if e.get("log_level") is LogLevel.critical], []
        )
        outbox.detach()
        self.finish()


class PollingMonitorTests(SynchronousTestCase):
    """PollingNetworkMonitor refuses a bad interval or settle at once."""

    def assertRejects(self, kind: type[Exception], name: str, **kw: Any) -> str:
        with self.assertRaises(kind) as e:
            PollingNetworkMonitor(reactor=Clock(), probe=lambda: (), **kw)
        self.assertIn(name, str(e.exception))
        return str(e.exception)

    def test_interval(self) -> None:
        """
        When interval is NaN, infinite, below 0.05 s or a str, the error
        names interval.
        """
        self.assertEqual(
            self.assertRejects(ValueError, "interval", interval=math.nan),
            "interval must be a finite number >= 0, not nan",
        )
        self.assertEqual(
            self.assertRejects(ValueError, "interval", interval=math.inf),
            "interval must be a finite number >= 0, not inf",
        )
        self.assertEqual(
            self.assertRejects(ValueError, "interval", interval=1e-9),
            "interval must be at least 0.05 s (a probe reads the routing "
            "table), not 1e-09",
        )
        self.assertEqual(
            self.assertRejects(TypeError, "interval", interval="2"),
            "interval must be a number of seconds, not '2'",
        )

    def test_settle(self) -> None:
        """When settle is negative or above maxSettle, the error names it."""
        self.assertEqual(
            self.assertRejects(ValueError, "settle", settle=-1),
            "settle must be a finite number >= 0, not -1",
        )
        self.assertEqual(
            self.assertRejects(ValueError, "settle", settle=20.0, maxSettle=10.0),
            "settle (20) must be <= maxSettle (10)",
        )

    def test_boundsAccepted(self) -> None:
        """When interval is exactly 0.05 s and settle == maxSettle, accepted."""
        monitor = PollingNetworkMonitor(
            0.05, Clock(), probe=lambda: (), settle=2.0, maxSettle=2.0
        )
        self.assertEqual(monitor.interval, 0.05)
        self.assertFalse(monitor.running)


class InternalErrorRecoveryTests(SynchronousTestCase):
    """
    A bug inside a step ("internal error") must not wedge the factory: a
    link left between states with nothing due is put back on the schedule.
    """

    def test_failedStepIsRecovered(self) -> None:
        """
        When describing a failed handshake raises (a stand-in for any bug in
        the middle of _failed), the error is logged once as an internal
        error, the link waits FALLBACK_DELAY (5 s) and then tries again.
        """
        from reconnect_twisted import _machine

        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        calls = []

        def broken(reason: Any) -> str:
            calls.append(reason)
            raise RuntimeError("bug")

        self.patch(_machine, "describeFailure", broken)
        clock = Clock()

        class F(ReconnectingFactory):
            protocol = Protocol

        factory = F(
            clock=clock,
            backoff=FixedBackoff(3.0),
            alertAfter=None,
            handshake=lambda p: fail(HandshakeRejected("no")),
        )
        connector = connectFake(factory, clock)
        connector.succeed()
        clock.advance(0)
        internal = [
            e for e in events
            if "internal error" in str(e.get("log_format", ""))
        ]
        self.assertEqual(len(internal), 1)
        self.assertEqual(len(calls), 1)
        status = factory.status
        self.assertEqual(status.state, ConnectionState.WAITING)
        self.assertEqual(status.nextAttemptAt, 5.0)
        self.assertTrue(connector.transport.closed)
        clock.advance(5.0)
        self.assertEqual(connector.attempts, 2)
        self.assertEqual(factory.status.state, ConnectionState.CONNECTING)
        self.flushLoggedErrors(RuntimeError)
        d = factory.giveUp("test over")
        clock.advance(0)
        self.successResultOf(d)
        self.assertEqual(clock.getDelayedCalls(), [])


class NetworkUpJitterBoundTests(SynchronousTestCase):
    def test_aboveADay(self) -> None:
        """
        A networkUpJitter above 24 h (the ceiling of every delay) is refused
        at construction and on assignment, naming the argument; 24 h is
        accepted.
        """
        message = "networkUpJitter must be at most 86400 s, not 1000000000.0"
        e = self.assertRaises(ValueError, ReconnectingFactory, networkUpJitter=1e9)
        self.assertEqual(str(e), message)
        factory = ReconnectingFactory(networkUpJitter=86400)
        self.assertEqual(factory.networkUpJitter, 86400.0)
        with self.assertRaises(ValueError) as raised:
            factory.networkUpJitter = 1e9
        self.assertEqual(str(raised.exception), message)
        self.assertEqual(factory.networkUpJitter, 86400.0)
