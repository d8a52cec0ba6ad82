"""
README.md: its opening commands, and its quick start, which is run here with
a fake clock and a fake connector.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import ConnectionState
from reconnect_twisted.testing import FakeConnector, connectFake

README = Path(__file__).resolve().parent.parent / "README.md"
S = ConnectionState


def codeBlocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of ``language`` in ``text``."""
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.M | re.S)


def quickStart() -> str:
    text = README.read_text()
    start = text.index("## Quick start")
    end = text.index("\n## ", start + 1)
    return text[start:end]


class ReadmeLayoutTests(SynchronousTestCase):
    """What README.md starts with."""

    def test_opensWithTheTwoCommands(self) -> None:
        """
        When README.md is read, the first content after its one-line title is
        a bash block with the demo command, then the test command.
        """
        lines = README.read_text().splitlines()
        self.assertTrue(lines[0].startswith("# "))
        self.assertEqual(
            lines[1:6],
            [
                "",
                "```bash",
                "pip install . && python -m reconnect_twisted demo",
                "pip install -e '.[test]' && python -m pytest",
                "```",
            ],
        )

    def test_everyPythonBlockIsInTheQuickStart(self) -> None:
        """
        When README.md has Python blocks, they are all in the quick start
        (which the tests below run).
        """
        everywhere = codeBlocks(README.read_text(), "python")
        self.assertTrue(everywhere)
        self.assertEqual(everywhere, codeBlocks(quickStart(), "python"))


class QuickStartTests(SynchronousTestCase):
    """The quick start's code, driven with a Clock and a FakeConnector."""

    def setUp(self) -> None:
        self.namespace: dict[str, Any] = {"__name__": "readme_quickstart"}
        self.printed = io.StringIO()
        with contextlib.redirect_stdout(self.printed):
            for block in codeBlocks(quickStart(), "python"):
                exec(compile(block, str(README), "exec"), self.namespace)
        self.factory = self.namespace["factory"]
        self.clock = Clock()
        self.factory.clock = self.clock  # as with RCF: before the first connection

    def connect(self) -> FakeConnector:
        with contextlib.redirect_stdout(self.printed):
            return connectFake(self.factory, self.clock)

    def run_(self, function: Any, *args: Any) -> Any:
        with contextlib.redirect_stdout(self.printed):
            result = function(*args)
            self.clock.advance(0)
            return result

    def advance(self, seconds: float) -> None:
        with contextlib.redirect_stdout(self.printed):
            self.clock.advance(seconds)

    def printedLines(self) -> list[str]:
        return self.printed.getvalue().splitlines()

    def login(self, connector: FakeConnector) -> Any:
        protocol = self.run_(connector.succeed)
        self.assertEqual(protocol.transport.value(), b"LOGIN alice s3cret\r\n")
        self.run_(protocol.dataReceived, b"OK\r\n")
        return protocol

    def test_connectsAfterLogin(self) -> None:
        """
        When the server answers OK to the login, the factory is CONNECTED and
        the observer printed CONNECTING 0, HANDSHAKING 0, CONNECTED 0.
        """
        connector = self.connect()
        protocol = self.login(connector)
        self.assertIsInstance(protocol, self.namespace["ChatProtocol"])
        self.assertEqual(self.factory.status.state, S.CONNECTED)
        self.assertEqual(
            self.printedLines(), ["CONNECTING 0", "HANDSHAKING 0", "CONNECTED 0"]
        )

    def test_dropThenKick(self) -> None:
        """
        When the connection drops, the observer prints WAITING 1 and the
        factory comes back; when the server then kicks it (same account
        logged in elsewhere), it prints STOPPED 1 and never retries.
        """
        connector = self.connect()
        self.login(connector)
        self.run_(connector.drop)
        self.assertEqual(self.printedLines()[-1], "WAITING 1")
        self.advance(self.factory.status.nextAttemptAt - self.clock.seconds())
        self.assertEqual(connector.attempts, 2)
        protocol = self.login(connector)
        self.assertEqual(self.printedLines()[-1], "CONNECTED 1")
        self.advance(5.0)  # up for minUptime: the attempt counter resets
        self.assertEqual(self.printedLines()[-1], "CONNECTED 0")
        self.run_(protocol.dataReceived, b"KICK same account logged in elsewhere\r\n")
        self.assertEqual(self.printedLines()[-1], "STOPPED 1")
        self.assertEqual(
            self.factory.status.stopReason, "kicked: same account logged in elsewhere"
        )
        self.advance(3600)
        self.assertEqual(connector.attempts, 2)

    def test_maintenanceKickComesBack(self) -> None:
        """
        When the kick says maintenance, the custom policy waits 30 s and
        reconnects instead of giving up.
        """
        connector = self.connect()
        protocol = self.login(connector)
        self.run_(protocol.dataReceived, b"KICK server maintenance\r\n")
        status = self.factory.status
        self.assertEqual(status.state, S.WAITING)
        self.assertEqual(status.nextAttemptAt, self.clock.seconds() + 30.0)
        self.advance(30.0)
        self.assertEqual(connector.attempts, 2)

    def test_badCredentialsStop(self) -> None:
        """
        When the login is refused, the factory gives up with the example's
        own reason, not the server's reply (which may echo the login line).
        """
        connector = self.connect()
        protocol = self.run_(connector.succeed)
        self.run_(protocol.dataReceived, b"ERR bad-password LOGIN alice s3cret\r\n")
        status = self.factory.status
        self.assertEqual(status.state, S.STOPPED)
        self.assertEqual(
            status.stopReason, "gave up: handshake permanently rejected: login refused"
        )
        self.advance(3600)
        self.assertEqual(connector.attempts, 1)
