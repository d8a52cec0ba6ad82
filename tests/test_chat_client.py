"""
The terminal chat client, driven through a pseudo-terminal against a real
chat server process that is killed and restarted on the same port.
"""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

ROOT = Path(__file__).resolve().parent.parent
CHAT = [sys.executable, "-m", "reconnect_twisted._demo.chat"]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


class _ChatOnPTY(SynchronousTestCase):
    """A chat server process, and a chat client process on a pty."""

    #: the client's --initial-delay and --max-delay
    delays = ("0.5", "1")

    def setUp(self) -> None:
        try:
            import pty
        except ImportError:  # pragma: no cover - not POSIX
            raise SkipTest("needs a POSIX pseudo-terminal") from None
        self.port = freePort()
        self.server: subprocess.Popen[bytes] | None = None
        self.startServer()
        master, slave = pty.openpty()
        self.master = master
        self.output = ""
        self.client = subprocess.Popen(
            [
                *CHAT,
                "client",
                "--port",
                str(self.port),
                "--user",
                "alice",
                "--room",
                "lobby",
                "--initial-delay",
                self.delays[0],
                "--max-delay",
                self.delays[1],
            ],
            cwd=ROOT,
            env=environment(),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.addCleanup(self.cleanUp)

    def cleanUp(self) -> None:
        for process in (self.client, self.server):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)
        if self.server is not None and self.server.stdout is not None:
            self.server.stdout.close()
        os.close(self.master)

    def startServer(self) -> None:
        self.server = subprocess.Popen(
            [*CHAT, "server", "--port", str(self.port)],
            cwd=ROOT,
            env=environment(),
            stdout=subprocess.PIPE,
        )
        assert self.server.stdout is not None
        ready, _, _ = select.select([self.server.stdout], [], [], 15.0)
        self.assertTrue(ready, "the chat server did not start within 15 s")
        line = self.server.stdout.readline().decode()
        self.assertIn(f"listening on 127.0.0.1:{self.port}", line)

    def killServer(self) -> None:
        assert self.server is not None
        self.server.kill()
        self.server.wait(10)
        assert self.server.stdout is not None
        self.server.stdout.close()
        self.server = None

    def expect(
        self, pattern: str, timeout: float = 15.0, start: int = 0
    ) -> re.Match[str]:
        """Read the pty until ``pattern`` appears after ``start`` (bounded)."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            match = regex.search(self.output, start)
            if match:
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.fail(
                    f"{pattern!r} not seen within {timeout}s; "
                    f"output:\n{self.output[-2000:]}"
                )
            ready, _, _ = select.select([self.master], [], [], min(remaining, 0.2))
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # the client exited and the pty closed
                    data = b""
                if not data and self.client.poll() is not None:
                    self.fail(f"client exited before {pattern!r}:\n{self.output}")
                self.output += ANSI.sub("", data.decode("utf-8", "replace"))


class ChatClientTerminalTests(_ChatOnPTY):
    """The chat client's status line and give-up key, on a pty."""

    def test_statusLineFollowsTheServer(self) -> None:
        """
        When the server is killed, the status line says "reconnecting
        (attempt N, next in Xs)"; when it is restarted on the same port, it
        says "connected" again and the client is back in its room; when q is
        pressed, the client stops and exits 0.
        """
        first = self.expect(r"\[alice @ #lobby\] connected\b")
        self.killServer()
        waiting = self.expect(
            r"reconnecting \(attempt (\d+), next in (\d+)s\)", start=first.end()
        )
        self.assertGreaterEqual(int(waiting.group(1)), 1)
        self.startServer()
        back = self.expect(r"\] connected\b", start=waiting.end())
        os.write(self.master, b"hello again\r")
        self.expect(r"<alice> hello again", start=back.end())  # re-joined #lobby
        os.write(self.master, b"q")
        self.expect(r"stopped: user gave up", start=back.end())
        self.assertEqual(self.client.wait(15), 0)


class ChatClientReconnectKeyTests(_ChatOnPTY):
    """The chat client's reconnect-now key, with long retry delays."""

    delays = ("30", "30")  # jittered: the first retry waits 6 to 30 s

    def test_reconnectNowKey(self) -> None:
        """
        When r is pressed while waiting for a long retry, the client attempts
        at once and is connected without waiting out the delay.
        """
        first = self.expect(r"\] connected\b")
        self.killServer()
        waiting = self.expect(
            r"reconnecting \(attempt 1, next in (\d+)s\)", start=first.end()
        )
        self.assertGreaterEqual(int(waiting.group(1)), 6)
        self.startServer()
        os.write(self.master, b"r")
        self.expect(r"\] connected\b", start=waiting.end(), timeout=5.0)
        os.write(self.master, b"q")
        self.assertEqual(self.client.wait(15), 0)
