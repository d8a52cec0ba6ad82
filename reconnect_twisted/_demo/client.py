"""
A client of :mod:`reconnect_twisted._demo.server`, built on
:class:`~reconnect_twisted.ReconnectingFactory`: the business handshake logs
in (and, for the chat, joins a room), a ``KICK`` from the server becomes
``factory.kicked(reason)``.

The password lives only in the closure of the ``login`` step: it is sent to
the server and never logged, printed or kept on the factory.
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

from .. import HandshakeRejected, HandshakeSteps, ReconnectingFactory

__all__ = ["DemoClientFactory", "LineClientProtocol", "joinStep", "loginStep"]

#: Server error codes that retrying cannot fix.
PERMANENT_ERRORS = frozenset({"bad-password", "unknown-user"})


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
            self.client.kicked(text[5:])
        elif text.startswith(("MSG ", "INFO ")):
            self.client.messageReceived(text)
        elif self._replies:
            self._replies.popleft().callback(text)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Fail the requests still waiting for a reply."""
        replies, self._replies = self._replies, deque()
        for d in replies:
            d.errback(reason)


def _rejection(reply: str) -> HandshakeRejected:
    code = reply.removeprefix("ERR ").strip() or "no reason given"
    return HandshakeRejected(code.replace("-", " "), permanent=code in PERMANENT_ERRORS)


def loginStep(
    user: str, password: str
) -> Callable[[LineClientProtocol], Deferred[None]]:
    """
    The ``login`` handshake step: ``LOGIN <user> <password>``, expecting
    ``OK``; ``ERR bad-password`` and ``ERR unknown-user`` are permanent
    rejections (the default policy gives up), other errors are not.
    """

    def login(protocol: LineClientProtocol) -> Deferred[None]:
        def check(reply: str) -> None:
            if reply != "OK":
                raise _rejection(reply)

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
