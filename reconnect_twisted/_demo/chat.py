"""
A tiny chat: a server, and a terminal client that shows its connection state
in a status line and re-joins its room after every reconnection.

Run each in its own terminal::

    python -m reconnect_twisted._demo.chat server --port 8765
    python -m reconnect_twisted._demo.chat client --port 8765 --user alice --room lobby

In the client, type a message and press Enter to send it. With an empty
input line, ``r`` reconnects now and ``q`` gives up and quits (so do Ctrl-D
and Ctrl-C). Kill the server and start it again: the status line goes from
``connected`` to ``reconnecting (attempt N, next in Xs)`` and back, and the
client is in its room again. Log in as the same user from a third terminal:
the first client is kicked (``stopped: kicked: same account logged in
elsewhere``) and stays stopped until you press ``r``.

The handshake has two steps, ``HandshakeSteps(("login", ...), ("join",
...))``: a connection counts as connected only once both have succeeded.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError, ConnectionDone
from twisted.internet.interfaces import IReadDescriptor
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure
from zope.interface import implementer

from .. import (
    ConnectionState,
    ConnectionStatus,
    ExponentialBackoff,
    defaultNetworkMonitor,
)
from .client import DemoClientFactory
from .server import LoginServer, LoginServerFactory

__all__ = ["ChatClient", "ChatClientFactory", "main", "statusText"]

S = ConnectionState
DEFAULT_PORT = 8765
_ERASE_LINE = "\r\x1b[K"


def statusText(status: ConnectionStatus, now: float) -> str:
    """
    The status line's text for ``status`` at time ``now``: ``connected``,
    ``reconnecting (attempt N, next in Xs)``, ``stopped: <reason>``, ...
    """
    state = status.state
    if state is S.CONNECTED:
        return "connected"
    if state is S.WAITING:
        remaining = 0.0 if status.nextAttemptAt is None else status.nextAttemptAt - now
        seconds = max(0, math.ceil(remaining))
        return f"reconnecting (attempt {status.attempt}, next in {seconds}s)"
    if state is S.CONNECTING:
        return f"connecting (attempt {status.attempt + 1})"
    if state is S.HANDSHAKING:
        return "logging in"
    if state is S.OFFLINE:
        return "offline: waiting for the network"
    if state is S.STOPPED:
        return f"stopped: {status.stopReason or 'stopped'}"
    return "starting"


def formatMessage(line: str) -> str:
    """A server ``MSG``/``INFO`` line as the chat shows it."""
    kind, _, rest = line.partition(" ")
    if kind == "MSG":
        _room, _, rest = rest.partition(" ")
        user, _, text = rest.partition(" ")
        return f"<{user}> {text}"
    return f"* {rest}"


@implementer(IReadDescriptor)
class _KeyReader:
    """Reads key presses from a file descriptor for the reactor."""

    def __init__(self, fd: int, onData: Callable[[bytes], None]) -> None:
        self.fd = fd
        self.onData = onData

    def fileno(self) -> int:
        """The descriptor."""
        return self.fd

    def doRead(self) -> Failure | None:
        """Read what is there; end of file ends the reader."""
        try:
            data = os.read(self.fd, 1024)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data:
            self.onData(b"\x04")
            return Failure(ConnectionDone())
        self.onData(data)
        return None

    def connectionLost(self, reason: Failure) -> None:
        """Nothing to clean up."""

    def logPrefix(self) -> str:
        """For the reactor's logs."""
        return "keyboard"


class ChatClientFactory(DemoClientFactory):
    """
    A :class:`DemoClientFactory` that remembers its current protocol and the
    room it should be in.
    """

    def __init__(self, user: str, room: str, **kwargs: Any) -> None:
        super().__init__(user, "", room=room, **kwargs)
        self.wantedRoom = room

    def connectedProtocol(self) -> Any:
        """The live protocol when connected, else ``None``."""
        if self.status.state is not S.CONNECTED:
            return None
        d = self.whenConnected()
        result: list[Any] = []
        d.addCallback(result.append)
        return result[0] if result else None


class ChatClient:
    """
    The terminal side of the chat client: renders the status line and
    messages to ``out``, turns key presses into chat messages and controls.

    :param factory: the chat connection.
    :param reactor: the reactor (time, and stopping when done).
    :param out: the terminal.
    :param tty: redraw one status line in place (a terminal), or print one
        line per change.
    :param onQuit: called once the client has given up after ``q``.
    """

    def __init__(
        self,
        factory: ChatClientFactory,
        reactor: Any,
        out: TextIO,
        tty: bool,
        onQuit: Callable[[], object],
    ) -> None:
        self.factory = factory
        self.reactor = reactor
        self.out = out
        self.tty = tty
        self.onQuit = onQuit
        self.buffer = ""
        self.quitting = False
        self._lastLine: str | None = None
        factory.addStatusObserver(lambda status: self.render())
        factory.messages.append(self.message)
        self._ticker = LoopingCall(self.tick)
        self._ticker.clock = reactor

    def start(self) -> None:
        """Start redrawing the countdown."""
        self._ticker.start(0.25, now=True)

    def statusLine(self) -> str:
        """The whole status line."""
        room = self.factory.room or self.factory.wantedRoom
        text = statusText(self.factory.status, self.reactor.seconds())
        keys = "[r] reconnect now  [q] give up"
        return f"[{self.factory.user} @ #{room}] {text} | {keys}"

    def tick(self) -> None:
        """Redraw the countdown (on a terminal only: elsewhere it is noise)."""
        if self.tty:
            self.render()

    def render(self, force: bool = False) -> None:
        """Draw the status line (and the input being typed) if it changed."""
        line = self.statusLine()
        if self.tty:
            full = f"{line}  > {self.buffer}"
            if full != self._lastLine or force:
                self._lastLine = full
                self.out.write(_ERASE_LINE + full)
                self.out.flush()
        elif line != self._lastLine:
            self._lastLine = line
            self.out.write(f"-- {line}\n")
            self.out.flush()

    def say(self, text: str) -> None:
        """Print a line above the status line."""
        if self.tty:
            self.out.write(_ERASE_LINE + text + "\n")
            self._lastLine = None
            self.render()
        else:
            self.out.write(text + "\n")
            self.out.flush()

    def message(self, line: str) -> None:
        """A chat message or announcement arrived."""
        self.say(formatMessage(line))

    def keys(self, data: bytes) -> None:
        """Handle key presses."""
        for char in data.decode("utf-8", "replace"):
            self.key(char)
        self.render()

    def key(self, char: str) -> None:
        """Handle one key."""
        if char in "\r\n":
            text, self.buffer = self.buffer.strip(), ""
            if text:
                self.send(text)
        elif char in "\x7f\x08":
            self.buffer = self.buffer[:-1]
        elif char == "\x04" or (char == "q" and not self.buffer):
            self.quit()
        elif char == "r" and not self.buffer:
            self.reconnectNow()
        elif char == "\x15":  # Ctrl-U
            self.buffer = ""
        elif char.isprintable():
            self.buffer += char

    def send(self, text: str) -> None:
        """Send a chat message, if connected."""
        protocol = self.factory.connectedProtocol()
        if protocol is None:
            self.say(f"(not connected, not sent: {text})")
            return
        protocol.send(f"SAY {text}")

    def reconnectNow(self) -> None:
        """The ``r`` key."""
        d = self.factory.reconnectNow()
        d.addErrback(lambda failure: None)  # the status line shows why

    def quit(self) -> None:
        """The ``q`` key: give up, then quit."""
        if self.quitting:
            return
        self.quitting = True
        d = self.factory.giveUp("user gave up")
        d.addTimeout(10.0, self.reactor)
        d.addBoth(self._quitted)

    def _quitted(self, result: object) -> None:
        if self._ticker.running:
            self._ticker.stop()
        self.render(force=True)
        if self.tty:
            self.out.write("\n")
        self.out.flush()
        self.onQuit()


def _isLoopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def runServer(options: argparse.Namespace) -> int:
    """The ``server`` subcommand: serve until interrupted."""
    reactor = _reactor()
    server = LoginServer(
        reactor,
        LoginServerFactory(accounts=None),
        options.port,
        interface=options.host,
    )
    try:
        port = server.start()
    except CannotListenError as e:
        print(f"chat server: cannot listen: {e}", file=sys.stderr)
        return 1
    print(f"chat server listening on {options.host}:{port}", flush=True)
    reactor.run()
    return 0


def runClient(options: argparse.Namespace) -> int:
    """The ``client`` subcommand: chat until the user quits."""
    reactor = _reactor()
    monitor = None
    if options.network_monitor == "on" or (
        options.network_monitor == "auto" and not _isLoopback(options.host)
    ):
        monitor = defaultNetworkMonitor()
    factory = ChatClientFactory(
        options.user,
        options.room,
        backoff=ExponentialBackoff(
            initialDelay=options.initial_delay, maxDelay=options.max_delay
        ),
        networkMonitor=monitor,
        connectTimeout=10.0,
        handshakeTimeout=10.0,
        alertAfter=None,
    )
    out = sys.stdout
    tty = out.isatty()

    def done() -> None:
        if reactor.running:
            reactor.stop()

    def exiting() -> Deferred[None] | None:
        if factory.status.state is S.STOPPED:
            return None
        return factory.giveUp("client exiting")

    client = ChatClient(factory, reactor, out, tty, done)
    restore = _cbreak(sys.stdin)
    try:
        reactor.addReader(_KeyReader(sys.stdin.fileno(), client.keys))
        reactor.addSystemEventTrigger("before", "shutdown", exiting)
        reactor.connectTCP(options.host, options.port, factory)
        client.start()
        reactor.run()
    finally:
        restore()
    return 0


def _reactor() -> Any:
    """The global reactor."""
    from twisted.internet import reactor

    return reactor


def _cbreak(stream: TextIO) -> Callable[[], None]:
    """Put a terminal ``stream`` in cbreak mode; return what restores it."""
    if not stream.isatty():
        return lambda: None
    import termios
    import tty

    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def restore() -> None:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    return restore


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reconnect_twisted._demo.chat",
        description="A tiny chat showing reconnect_twisted's connection status.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    server = commands.add_parser("server", help="run the chat server")
    server.add_argument("--host", default="127.0.0.1", help="address to listen on")
    server.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port")
    client = commands.add_parser("client", help="run the terminal client")
    client.add_argument("--host", default="127.0.0.1", help="the server's address")
    client.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port")
    client.add_argument("--user", required=True, help="your nickname")
    client.add_argument("--room", default="lobby", help="the room to join")
    client.add_argument(
        "--initial-delay",
        type=float,
        default=2.0,
        help="first reconnection delay, seconds (default 2)",
    )
    client.add_argument(
        "--max-delay",
        type=float,
        default=60.0,
        help="longest reconnection delay, seconds (default 60)",
    )
    client.add_argument(
        "--network-monitor",
        choices=["auto", "on", "off"],
        default="auto",
        help="watch the network (auto: unless the server is on loopback)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the chat ``server`` or ``client`` command line."""
    options = _parser().parse_args(argv)
    if options.command == "server":
        return runServer(options)
    if not 0 < options.initial_delay <= options.max_delay < math.inf:
        print("chat client: need 0 < --initial-delay <= --max-delay", file=sys.stderr)
        return 2
    return runClient(options)


if __name__ == "__main__":
    sys.exit(main())
