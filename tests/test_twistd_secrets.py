"""
The demo client keeps its LOGIN line out of errors and logs, even against a
server that echoes it back: unit tests of the client's reply handling, and
the twistd plugin run against such a server, its whole output searched for
the password.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.protocols.basic import LineReceiver
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import ConnectionState, FixedBackoff, HandshakeRejected
from reconnect_twisted._demo.client import (
    DemoClientFactory,
    LineClientProtocol,
    _rejection,
)
from reconnect_twisted.testing import connectFake
from tests.test_twistd import TWISTD, Collector, subprocessEnv

SECRET = "s3cretEcho77"
LOGIN = f"LOGIN alice {SECRET}"


class RejectionTests(SynchronousTestCase):
    """The reason of a rejection comes only from a known error code."""

    def test_knownCodeWithEcho(self) -> None:
        """When ERR bad-password is followed by the echoed LOGIN, only the code."""
        error = _rejection(f"ERR bad-password {LOGIN}")
        self.assertEqual(error.reason, "bad password")
        self.assertTrue(error.permanent)

    def test_knownTemporaryCode(self) -> None:
        """When the code is known and retryable, it is the reason, not permanent."""
        error = _rejection("ERR not-logged-in")
        self.assertEqual(error.reason, "not logged in")
        self.assertFalse(error.permanent)

    def test_unknownCode(self) -> None:
        """When the code is unknown (it may be the echo), only the size is kept."""
        reply = f"ERR {LOGIN}"
        error = _rejection(reply)
        self.assertEqual(error.reason, f"unexpected reply ({len(reply)} bytes)")
        self.assertFalse(error.permanent)

    def test_bareEcho(self) -> None:
        """When the reply is the LOGIN line itself, only the size is kept."""
        self.assertEqual(len(LOGIN), 24)
        self.assertEqual(_rejection(LOGIN).reason, "unexpected reply (24 bytes)")

    def test_nonAscii(self) -> None:
        """When the reply has non-ASCII text, its size is counted in UTF-8 bytes."""
        self.assertEqual(_rejection("ERR é").reason, "unexpected reply (6 bytes)")

    def test_emptyError(self) -> None:
        """When the reply is a bare ERR, the reason says unexpected reply."""
        self.assertEqual(_rejection("ERR").reason, "unexpected reply (3 bytes)")
        self.assertEqual(_rejection("ERR ").reason, "unexpected reply (4 bytes)")


class KickDuringLoginTests(SynchronousTestCase):
    """A KICK before the login succeeded keeps only its length."""

    def setUp(self) -> None:
        self.kicks: list[str] = []
        factory = DemoClientFactory("alice", SECRET, clock=Clock(), alertAfter=None)
        factory.kicked = self.kicks.append  # type: ignore[method-assign]
        self.protocol = LineClientProtocol()
        self.protocol.factory = factory
        self.protocol.makeConnection(StringTransport())

    def test_kickBeforeLogin(self) -> None:
        """When KICK quotes the LOGIN line before OK, its text is withheld."""
        line = f"KICK {LOGIN}".encode()
        self.protocol.lineReceived(line)
        self.assertEqual(
            self.kicks, [f"kicked during login (reason withheld: {len(line)} bytes)"]
        )

    def test_kickAfterLogin(self) -> None:
        """When KICK arrives after the login succeeded, its reason is passed on."""
        self.protocol.loggedIn = True
        self.protocol.lineReceived(b"KICK same account logged in elsewhere")
        self.assertEqual(self.kicks, ["same account logged in elsewhere"])


class FactoryTests(SynchronousTestCase):
    """The whole client, on a fake connector: no password in the status."""

    def test_echoedRejection(self) -> None:
        """When the server echoes LOGIN in ERR bad-password, status hides it."""
        clock = Clock()
        factory = DemoClientFactory(
            "alice", SECRET, clock=clock, backoff=FixedBackoff(3.0), alertAfter=None
        )
        connector = connectFake(factory, clock)
        protocol = connector.succeed()
        self.assertEqual(protocol.transport.value(), f"{LOGIN}\r\n".encode())
        protocol.dataReceived(f"ERR bad-password {LOGIN}\r\n".encode())
        clock.advance(0)
        status = factory.status
        self.assertEqual(status.state, ConnectionState.STOPPED)
        self.assertNotIn(SECRET, status.stopReason or "")
        assert status.lastFailure is not None
        error = status.lastFailure.value
        self.assertIsInstance(error, HandshakeRejected)
        self.assertEqual(
            str(error), "handshake permanently rejected: step 'login': bad password"
        )


class EchoServer(LineReceiver):
    """Answers LOGIN by echoing it back in the way ``mode`` says."""

    delimiter = b"\r\n"
    mode = "err"

    def lineReceived(self, line: bytes) -> None:
        factory: EchoFactory = self.factory  # type: ignore[assignment]
        factory.logins += 1
        if self.mode == "err":
            self.sendLine(b"ERR bad-password " + line)
        elif self.mode == "unknown":
            self.sendLine(b"ERR " + line + b"\r\nINFO " + line)
        elif self.mode == "kick":
            self.sendLine(b"KICK you sent: " + line)
            self.transport.loseConnection()  # type: ignore[union-attr]


class EchoFactory(Factory):
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.logins = 0

    def buildProtocol(self, addr: Any) -> EchoServer:
        protocol = EchoServer()
        protocol.mode = self.mode
        protocol.factory = self
        return protocol


@pytest.mark.parametrize(
    ("mode", "waitFor", "count"),
    [
        ("err", "state=stopped", 1),  # a permanent rejection: gives up
        ("unknown", "state=waiting", 2),  # unknown code: retries
        ("kick", "state=stopped", 1),  # kicked during login: gives up
    ],
)
@pytest_twisted.ensureDeferred
async def test_twistdEchoedLogin(
    tmp_path: Path, mode: str, waitFor: str, count: int
) -> None:
    """
    When the server echoes the LOGIN line (in ERR, an unknown reply or a
    KICK), the password appears nowhere in the plugin's output.
    """
    factory = EchoFactory(mode)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    credentials = tmp_path / "credentials"
    credentials.write_text(f"alice:{SECRET}\n")
    collector = Collector()
    process = reactor.spawnProcess(
        collector,
        str(TWISTD),
        [
            str(TWISTD),
            "-n",
            "--pidfile=",
            "--logfile=-",
            "reconnect-demo",
            "--connect",
            f"tcp:127.0.0.1:{port.getHost().port}",
            "--credentials",
            str(credentials),
            "--backoff",
            "fixed",
            "--interval",
            "0.2",
            "--alert-after",
            "0.1",
            "--no-network-monitor",
        ],
        env=subprocessEnv(),
        path=str(tmp_path),
    )
    try:
        await collector.waitFor(waitFor, count)
        process.signalProcess(signal.SIGTERM)
        code = await collector.ended.addTimeout(20, reactor)
    finally:
        if not collector.ended.called:
            process.signalProcess(signal.SIGKILL)
            await collector.ended
        await defer.maybeDeferred(port.stopListening)
    assert factory.logins >= 1
    assert code == 0, collector.output
    assert "Traceback" not in collector.output, collector.output
    assert SECRET not in collector.output, collector.output
    assert "LOGIN alice" not in collector.output, collector.output
