"""
A client of :mod:`reconnect_twisted._demo.server`, built on
:class:`~reconnect_twisted.ReconnectingFactory`: the business handshake logs
in (and, for the chat, joins a room), a ``KICK`` from the server becomes
``factory.kicked(reason)``.

The password lives only in the closure of the ``login`` step: it is sent to
the server and never logged, printed or kept on the factory. Nothing the
server says during the login goes into an error as it is, since a hostile or
buggy server may echo the ``LOGIN`` line: a rejection's reason is built only
from a known error code (``ERR bad-password`` -> "bad password"), anything
else becomes "unexpected reply (N bytes)", and a ``KICK`` before the login
succeeded keeps only its length.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import ITransport
from twisted.internet.protocol import connectionDone
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from .. import HandshakeRejected, HandshakeSteps, HeartbeatMixin, ReconnectingFactory

__all__ = [
    "DemoClientFactory",
    "HeartbeatLineClientProtocol",
    "LineClientProtocol",
    "joinStep",
    "loginStep",
]

#: Server error codes that retrying cannot fix.
PERMANENT_ERRORS = frozenset({"bad-password", "unknown-user"})

#: Every error code the demo server sends: the only server text that goes
#: into a rejection's reason.
KNOWN_ERRORS = PERMANENT_ERRORS | frozenset(
    {"bad-request", "unknown-command", "not-logged-in", "not-in-a-room"}
)


class LineClientProtocol(LineReceiver):
    """
    The client side of the line protocol: :meth:`request` sends a command and
    returns a Deferred of the server's next reply line; ``KICK`` lines call
    ``factory.kicked()``, ``MSG``/``INFO`` lines go to
    ``factory.messageReceived()``.
    """

    delimiter = b"\r\n"

    @property
    def client(self) -> DemoClientFactory:
        """The factory."""
        return cast(DemoClientFactory, self.factory)

    #: ``True`` once the server accepted ``LOGIN``: until then, what the
    #: server says may echo the credentials and is kept out of errors.
    loggedIn = False

    def connectionMade(self) -> None:
        """Start with no outstanding request."""
        self._replies: deque[Deferred[str]] = deque()

    def send(self, text: str) -> None:
        """Send one line of text."""
        cast(ITransport, self.transport).write(text.encode("utf-8") + self.delimiter)

    def request(self, text: str) -> Deferred[str]:
        """
        Send ``text``; the Deferred fires with the server's reply line.
        Cancelling it forgets the request.
        """

        def cancel(d: Deferred[str]) -> None:
            if d in self._replies:
                self._replies.remove(d)

        d: Deferred[str] = Deferred(cancel)
        self._replies.append(d)
        self.send(text)
        return d

    def lineReceived(self, line: bytes) -> None:
        """Route one line from the server."""
        text = line.decode("utf-8", "replace")
        if text.startswith("KICK "):
            if self.loggedIn:
                self.client.kicked(text[5:])
            else:
                self.client.kicked(
                    f"kicked during login (reason withheld: {len(line)} bytes)"
                )
        elif text.startswith(("MSG ", "INFO ")):
            self.client.messageReceived(text)
        elif text == "PONG":
            self.pongReceived()
        elif self._replies:
            self._replies.popleft().callback(text)

    def pongReceived(self) -> None:
        """A ``PONG`` arrived (used by :class:`HeartbeatLineClientProtocol`)."""

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Fail the requests still waiting for a reply."""
        replies, self._replies = self._replies, deque()
        for d in replies:
            d.errback(reason)


class HeartbeatLineClientProtocol(HeartbeatMixin, LineClientProtocol):
    """
    The line protocol with a heartbeat: ``PING`` after ``heartbeatInterval``
    of quiet, the connection aborted if no ``PONG`` (or other line) arrives
    within ``heartbeatTimeout``.
    """

    heartbeatInterval = 1.0
    heartbeatTimeout = 1.0

    def sendPing(self) -> None:
        """Send ``PING``."""
        self.send("PING")

    def pongReceived(self) -> None:
        """A ``PONG``: the server is alive."""
        HeartbeatMixin.pongReceived(self)


def _rejection(reply: str) -> HandshakeRejected:
    """
    The rejection for an unexpected ``reply``, its reason built only from a
    known error code (``ERR bad-password ...`` -> "bad password"), never
    from the rest of the line, which may echo what we sent (the password).
    """
    words = reply.split(" ", 2)
    if len(words) >= 2 and words[0] == "ERR" and words[1] in KNOWN_ERRORS:
        code = words[1]
        return HandshakeRejected(
            code.replace("-", " "), permanent=code in PERMANENT_ERRORS
        )
    size = len(reply.encode("utf-8", "replace"))
    return HandshakeRejected(f"unexpected reply ({size} bytes)")


def loginStep(
    user: str, password: str
) -> Callable[[LineClientProtocol], Deferred[None]]:
    """
    The ``login`` handshake step: ``LOGIN <user> <password>``, expecting
    ``OK``; ``ERR bad-password`` and ``ERR unknown-user`` are permanent
    rejections (the default policy gives up), other errors are not. The
    reason of a rejection never quotes the reply beyond its error code.
    """

    def login(protocol: LineClientProtocol) -> Deferred[None]:
        def check(reply: str) -> None:
            if reply != "OK":
                raise _rejection(reply)
            protocol.loggedIn = True

        return protocol.request(f"LOGIN {user} {password}").addCallback(check)

    return login


def joinStep(room: str) -> Callable[[LineClientProtocol], Deferred[None]]:
    """The ``join`` handshake step: ``JOIN <room>``, expecting ``JOINED <room>``."""

    def join(protocol: LineClientProtocol) -> Deferred[None]:
        def check(reply: str) -> None:
            if reply != f"JOINED {room}":
                raise _rejection(reply)
            protocol.client.room = room

        return protocol.request(f"JOIN {room}").addCallback(check)

    return join


class DemoClientFactory(ReconnectingFactory):
    """
    Logs in as ``user`` (and joins ``room`` if given) after every
    (re)connection, with ``HandshakeSteps(("login", ...), ("join", ...))``.

    :param user: the account.
    :param password: its password (sent, never logged).
    :param room: the room to join, or ``None``.
    :param kwargs: passed to :class:`~reconnect_twisted.ReconnectingFactory`.
    :ivar messages: callbacks called with each ``MSG``/``INFO`` line.
    """

    protocol = LineClientProtocol

    def __init__(
        self, user: str, password: str, room: str | None = None, **kwargs: Any
    ) -> None:
        steps: list[tuple[str, Callable[[Any], Any]]] = [
            ("login", loginStep(user, password))
        ]
        if room is not None:
            steps.append(("join", joinStep(room)))
        super().__init__(handshake=HandshakeSteps(*steps), **kwargs)
        self.user = user
        self.room: str | None = None
        self.messages: list[Callable[[str], object]] = []

    def messageReceived(self, text: str) -> None:
        """A ``MSG`` or ``INFO`` line arrived: pass it to :attr:`messages`."""
        for callback in list(self.messages):
            callback(text)

    def __repr__(self) -> str:
        return f"<DemoClientFactory user={self.user!r}>"
