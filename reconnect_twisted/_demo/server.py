"""
A tiny line-based login and chat server, for the demo and the chat example.

The protocol (UTF-8 lines, ``\\r\\n``-terminated):

==========================  =====================================================
client sends                server answers
==========================  =====================================================
``LOGIN <user> <password>``  ``OK`` or ``ERR bad-password`` / ``ERR unknown-user``
                             (an account server) / ``ERR bad-request``
``JOIN <room>``              ``JOINED <room>`` (after ``OK``), ``ERR not-logged-in``
``SAY <text>``               ``MSG <room> <user> <text>`` to everyone in the room
``PING``                     ``PONG`` (the client's heartbeat)
==========================  =====================================================

The server may send at any time ``KICK <reason>`` and close the connection:
a second login of the same account kicks the older session with
``KICK same account logged in elsewhere``. ``INFO <text>`` lines are
announcements (who joined or left a room).

Passwords are compared and forgotten: the server never logs or stores what a
client sent.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IListeningPort, IReactorTCP, ITransport
from twisted.internet.protocol import ServerFactory, connectionDone
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

__all__ = ["LoginServer", "LoginServerFactory", "LoginServerProtocol"]

SAME_ACCOUNT = "same account logged in elsewhere"


class LoginServerProtocol(LineReceiver):
    """
    One client's session on a :class:`LoginServerFactory`.

    :ivar user: the logged-in user, or ``None``.
    :ivar room: the joined room, or ``None``.
    """

    delimiter = b"\r\n"
    user: str | None = None
    room: str | None = None

    @property
    def server(self) -> LoginServerFactory:
        """The factory: the server's state."""
        return cast(LoginServerFactory, self.factory)

    def connectionMade(self) -> None:
        """Register the session with the factory."""
        self._closed: Deferred[None] = Deferred()
        self.server.sessions.append(self)
        self.server.accepted += 1

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Forget the session; tell its room."""
        if self in self.server.sessions:
            self.server.sessions.remove(self)
        if self.room is not None and self.user is not None:
            self.server.broadcast(self.room, f"INFO {self.user} left {self.room}")
        self._closed.callback(None)

    def whenClosed(self) -> Deferred[None]:
        """A Deferred that fires once this connection is closed."""
        if self._closed.called:
            return succeed(None)
        d: Deferred[None] = Deferred()

        def closed(result: None) -> None:
            d.callback(None)

        self._closed.addCallback(closed)
        return d

    def send(self, text: str) -> None:
        """Send one line of text."""
        cast(ITransport, self.transport).write(text.encode("utf-8") + self.delimiter)

    def kick(self, reason: str) -> None:
        """Send ``KICK <reason>`` and close the connection."""
        self.send(f"KICK {reason}")
        cast(ITransport, self.transport).loseConnection()

    def lineReceived(self, line: bytes) -> None:
        """Dispatch one command."""
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            self.send("ERR bad-request")
            return
        command, _, rest = text.partition(" ")
        handler = getattr(self, f"do_{command.upper()}", None)
        if handler is None:
            self.send("ERR unknown-command")
            return
        handler(rest)

    def do_LOGIN(self, rest: str) -> None:
        """``LOGIN <user> [<password>]``."""
        user, _, password = rest.partition(" ")
        if not user or self.user is not None:
            self.send("ERR bad-request")
            return
        verdict = self.server.checkLogin(user, password)
        del password  # never kept, never logged
        if verdict is not None:
            self.server.rejected += 1
            self.send(f"ERR {verdict}")
            return
        for other in list(self.server.sessions):
            if other is not self and other.user == user:
                other.kick(SAME_ACCOUNT)
        self.user = user
        self.server.logins += 1
        self.send("OK")

    def do_JOIN(self, rest: str) -> None:
        """``JOIN <room>``."""
        room = rest.strip()
        if self.user is None:
            self.send("ERR not-logged-in")
            return
        if not room:
            self.send("ERR bad-request")
            return
        self.room = room
        self.send(f"JOINED {room}")
        self.server.broadcast(room, f"INFO {self.user} joined {room}", skip=self)

    def do_PING(self, rest: str) -> None:
        """``PING``: ``PONG`` (for the client's heartbeat)."""
        self.send("PONG")

    def hang(self) -> None:
        """
        Stop reading and answering, keeping the socket open: a hung server
        process, which TCP alone does not notice.
        """
        cast(Any, self.transport).pauseProducing()

    def do_SAY(self, rest: str) -> None:
        """``SAY <text>``: to everyone in the sender's room."""
        if self.user is None or self.room is None:
            self.send("ERR not-in-a-room")
            return
        self.server.broadcast(self.room, f"MSG {self.room} {self.user} {rest}")


class LoginServerFactory(ServerFactory):
    """
    The server's state: accounts and live sessions.

    :param accounts: ``{user: password}``; ``None`` accepts any user and
        password (the chat example).
    :ivar sessions: the live connections.
    :ivar accepted: connections accepted so far.
    :ivar logins: successful logins so far.
    :ivar rejected: rejected logins so far.
    """

    protocol = LoginServerProtocol

    def __init__(self, accounts: dict[str, str] | None = None) -> None:
        self.accounts = accounts
        self.sessions: list[LoginServerProtocol] = []
        self.accepted = 0
        self.logins = 0
        self.rejected = 0

    def checkLogin(self, user: str, password: str) -> str | None:
        """``None`` if ``user`` may log in with ``password``, else the error."""
        if self.accounts is None:
            return None
        if user not in self.accounts:
            return "unknown-user"
        if self.accounts[user] != password:
            return "bad-password"
        return None

    def broadcast(
        self, room: str, text: str, skip: LoginServerProtocol | None = None
    ) -> None:
        """Send ``text`` to every session in ``room`` (except ``skip``)."""
        for session in list(self.sessions):
            if session.room == room and session is not skip:
                session.send(text)

    def session(self, user: str) -> LoginServerProtocol | None:
        """The logged-in session of ``user``, if any."""
        for session in self.sessions:
            if session.user == user:
                return session
        return None


class LoginServer:
    """
    A :class:`LoginServerFactory` listening on ``interface:port``, that can be
    stopped and restarted on the same port (a server "upgrade").

    :param reactor: provides ``listenTCP``.
    :param factory: the server's state (kept across restarts).
    :param port: the port (0: an ephemeral one, fixed at the first start).
    :param interface: the address to listen on.
    """

    def __init__(
        self,
        reactor: IReactorTCP,
        factory: LoginServerFactory,
        port: int = 0,
        interface: str = "127.0.0.1",
    ) -> None:
        self.reactor = reactor
        self.factory = factory
        self.port = port
        self.interface = interface
        self._listening: IListeningPort | None = None

    @property
    def listening(self) -> bool:
        """Whether the server is accepting connections."""
        return self._listening is not None

    def start(self) -> int:
        """Listen (again); return the port number."""
        if self._listening is None:
            self._listening = self.reactor.listenTCP(
                self.port, self.factory, interface=self.interface
            )
            self.port = self._listening.getHost().port  # type: ignore[attr-defined]
        return self.port

    def dropAll(self, abort: bool = False) -> Deferred[Any]:
        """
        Close every live connection (``abortConnection`` if ``abort``); the
        Deferred fires once they are all closed.
        """
        waits = []
        for session in list(self.factory.sessions):
            waits.append(session.whenClosed())
            transport: Any = session.transport
            if abort:
                transport.abortConnection()
            else:
                transport.loseConnection()
        return DeferredList(waits)

    def hangAll(self) -> None:
        """
        Hang every live connection (see :meth:`LoginServerProtocol.hang`);
        new connections are served as usual.
        """
        for session in list(self.factory.sessions):
            session.hang()

    def stop(self) -> Deferred[Any]:
        """
        Stop listening and close every connection; the Deferred fires once
        the port and the connections are closed.
        """
        waits: list[Deferred[Any]] = [self.dropAll(abort=True)]
        listening, self._listening = self._listening, None
        if listening is not None:
            stopped = listening.stopListening()
            if isinstance(stopped, Deferred):
                waits.append(stopped)
        return DeferredList(waits)
