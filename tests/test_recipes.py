"""
The recipes of docs/recipes/ (code in examples/recipes/), run against
in-process fake servers over tests/recipe_net.py: no third-party server, no
network, no sleeping. Each test ends with no timer pending and no transport
open.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.basic import LineReceiver
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import ConnectionState, FixedBackoff, GaveUp

from .recipe_net import FakeNet, loadRecipe

S = ConnectionState


class _RecipeTest(SynchronousTestCase):
    def makeNet(self, serverFactory: Factory) -> FakeNet:
        net = FakeNet(serverFactory)
        self.addCleanup(self.assertClean, net)
        return net

    def assertClean(self, net: FakeNet) -> None:
        net.settle()
        self.assertEqual(net.openTransports(), [])
        self.assertEqual(net.clock.getDelayedCalls(), [])


# -- Redis ---------------------------------------------------------------------

redis = loadRecipe("redis_client")


class FakeRedis(Protocol):
    """A Redis server, as far as the recipe needs: AUTH, SELECT, GET, SET."""

    factory: FakeRedisServer

    def connectionMade(self) -> None:
        self.buffer = b""
        self.authenticated = self.factory.password is None
        self.db = 0
        self.commands: list[list[bytes]] = []
        self.factory.connections.append(self)

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while True:
            try:
                command, end = redis._parse(self.buffer, 0)
            except redis._Incomplete:
                return
            self.buffer = self.buffer[end:]
            self.commands.append(command)
            reply = self.handle(command[0].upper(), command[1:])
            if reply is not None:
                self.transport.write(reply)

    def handle(self, name: bytes, args: list[bytes]) -> bytes | None:
        server = self.factory
        if server.loading:
            return b"-LOADING Redis is loading the dataset in memory\r\n"
        if name == b"AUTH":
            if args[-1].decode() != server.password:
                return b"-WRONGPASS invalid username-password pair\r\n"
            self.authenticated = True
            return b"+OK\r\n"
        if not self.authenticated:
            return b"-NOAUTH Authentication required.\r\n"
        if name == b"SELECT":
            if int(args[0]) >= 16:
                return b"-ERR DB index is out of range\r\n"
            self.db = int(args[0])
            return b"+OK\r\n"
        data = server.data.setdefault(self.db, {})
        if name == b"SET":
            data[args[0]] = args[1]
            return b"+OK\r\n"
        if name == b"GET":
            value = data.get(args[0])
            if value is None:
                return b"$-1\r\n"
            return b"$%d\r\n%s\r\n" % (len(value), value)
        if name == b"BLPOP":
            return None  # blocks until a push that never comes
        return b"-ERR unknown command\r\n"


class FakeRedisServer(Factory):
    protocol = FakeRedis

    def __init__(self, password: str | None = None) -> None:
        self.password = password
        self.loading = False
        self.data: dict[int, dict[bytes, bytes]] = {}
        self.connections: list[FakeRedis] = []


class RedisRecipeTests(_RecipeTest):
    def setUp(self) -> None:
        self.server = FakeRedisServer(password="s3cret")
        self.net = self.makeNet(self.server)

    def factory(self, **kwargs: Any) -> Any:
        kwargs.setdefault("password", "s3cret")
        return redis.RedisFactory(
            clock=self.net.clock, backoff=FixedBackoff(1.0), alertAfter=None, **kwargs
        )

    def test_authAndSelectAreTheHandshake(self) -> None:
        """
        When the factory connects, it is CONNECTED only after AUTH and SELECT
        succeeded, and commands then run on the selected database.
        """
        factory = self.factory(db=2)
        connected = factory.whenConnected()
        self.net.connectTCP("redis.example", 6379, factory)
        self.net.settle()
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertEqual(factory.status.attempt, 0)
        (connection,) = self.server.connections
        self.assertEqual(connection.commands, [[b"AUTH", b"s3cret"], [b"SELECT", b"2"]])
        self.assertIsInstance(self.successResultOf(connected), redis.RedisProtocol)

        d = factory.execute("SET", "greeting", "hello")
        self.net.settle()
        self.assertEqual(self.successResultOf(d), "OK")
        d = factory.execute("GET", "greeting")
        self.net.settle()
        self.assertEqual(self.successResultOf(d), b"hello")
        self.assertEqual(self.server.data, {2: {b"greeting": b"hello"}})

        self.settledResult(factory.giveUp())
        self.assertEqual(factory.status.state, S.STOPPED)

    def settledResult(self, d: Any) -> Any:
        """``d``'s result once the network has settled."""
        self.net.settle()
        return self.successResultOf(d)

    def test_wrongPasswordIsPermanent(self) -> None:
        """
        When the server answers AUTH with -WRONGPASS, the factory gives up
        after that one attempt (RCF would retry for ever), and waiting
        commands fail with GaveUp.
        """
        factory = self.factory(password="wrong")
        waiting = factory.execute("GET", "greeting")
        connector = self.net.connectTCP("redis.example", 6379, factory)
        self.net.run(3600)
        self.assertEqual(connector.attempts, 1)
        status = factory.status
        self.assertEqual(status.state, S.STOPPED)
        self.assertEqual(status.attempt, 1)
        assert status.stopReason is not None
        self.assertTrue(status.stopReason.startswith("gave up: "))
        self.assertIn(
            "step 'AUTH': WRONGPASS invalid username-password pair", status.stopReason
        )
        self.assertEqual(
            str(self.failureResultOf(waiting, GaveUp).value), status.stopReason
        )
        self.failureResultOf(factory.execute("PING"), GaveUp)

    def test_loadingIsRetried(self) -> None:
        """
        When the server is still loading its dataset, the rejection is not
        permanent: the factory backs off and logs in once it has loaded.
        """
        self.server.loading = True
        factory = self.factory()
        connector = self.net.connectTCP("redis.example", 6379, factory)
        self.net.settle()
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertEqual(factory.status.attempt, 1)
        self.net.run(1.0)
        self.assertEqual(factory.status.attempt, 2)
        self.server.loading = False
        self.net.run(1.0)
        self.assertEqual(connector.attempts, 3)
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.settledResult(factory.giveUp())

    def test_pendingCommandsFailWithGaveUpOnGiveUp(self) -> None:
        """
        When the factory gives up, a command waiting for its reply fails with
        GaveUp, and so does any command issued afterwards.
        """
        factory = self.factory()
        self.net.connectTCP("redis.example", 6379, factory)
        self.net.settle()
        blocked = factory.execute("BLPOP", "jobs", 0)
        self.net.settle()
        self.assertNoResult(blocked)
        done = factory.giveUp("shutting down")
        self.net.settle()
        self.successResultOf(done)
        self.assertEqual(
            str(self.failureResultOf(blocked, GaveUp).value), "shutting down"
        )
        self.failureResultOf(factory.execute("GET", "x"), GaveUp)

    def test_pendingCommandsFailWithGaveUpOnKick(self) -> None:
        """
        When the application decides the connection must not come back (an
        operator killed it: ``factory.kicked()``), the blocked command fails
        with GaveUp and no attempt follows.
        """
        factory = self.factory()
        connector = self.net.connectTCP("redis.example", 6379, factory)
        self.net.settle()
        blocked = factory.execute("BLPOP", "jobs", 0)
        self.net.settle()
        factory.kicked("killed by an operator", protocol=connector.protocol)
        self.net.run(60)
        self.assertEqual(connector.attempts, 1)
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(factory.status.stopReason, "kicked: killed by an operator")
        failure = self.failureResultOf(blocked, GaveUp)
        self.assertEqual(str(failure.value), "kicked: killed by an operator")

    def test_lostConnectionFailsInFlightCommandAndComesBack(self) -> None:
        """
        When the server drops the connection, the command in flight fails
        with the connection's loss (not GaveUp: the factory goes on), and
        the next attempt logs in again.
        """
        from twisted.internet.error import ConnectionDone

        factory = self.factory()
        connector = self.net.connectTCP("redis.example", 6379, factory)
        self.net.settle()
        blocked = factory.execute("BLPOP", "jobs", 0)
        self.net.settle()
        connector.serverTransport.loseConnection()
        self.net.settle()
        self.failureResultOf(blocked, ConnectionDone)
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertEqual(factory.status.attempt, 1)
        self.net.run(1.0)
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertEqual(len(self.server.connections), 2)
        self.settledResult(factory.giveUp())

    def test_poolOfOneFactory(self) -> None:
        """
        When one factory is connected N times, each connection is a member
        with its own state: one member's loss leaves the pool CONNECTED and
        only that member reconnects; giveUp() closes all of them.
        """
        factory = self.factory(db=1)
        connectors = redis.connectPool(self.net, "redis.example", 6379, factory, 3)
        self.net.settle()
        self.assertEqual(
            [m.state for m in factory.members], [S.CONNECTED, S.CONNECTED, S.CONNECTED]
        )
        self.assertEqual(len(factory.ready), 3)
        for connection in self.server.connections:
            self.assertEqual(
                connection.commands, [[b"AUTH", b"s3cret"], [b"SELECT", b"1"]]
            )

        replies = [factory.execute("SET", f"k{i}", i) for i in range(6)]
        self.net.settle()
        self.assertEqual([self.successResultOf(d) for d in replies], ["OK"] * 6)
        self.assertEqual(
            [len(c.commands) for c in self.server.connections], [4, 4, 4]
        )  # round robin: two commands each after AUTH and SELECT

        connectors[1].serverTransport.loseConnection()
        self.net.settle()
        self.assertEqual(
            [m.state for m in factory.members], [S.CONNECTED, S.WAITING, S.CONNECTED]
        )
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertEqual(len(factory.ready), 2)
        self.net.run(1.0)
        self.assertEqual([c.attempts for c in connectors], [1, 2, 1])
        self.assertEqual(
            [m.state for m in factory.members], [S.CONNECTED, S.CONNECTED, S.CONNECTED]
        )

        blocked = factory.execute("BLPOP", "jobs", 0)
        self.net.settle()
        self.settledResult(factory.giveUp())
        self.failureResultOf(blocked, GaveUp)
        self.assertEqual(
            [m.state for m in factory.members], [S.STOPPED, S.STOPPED, S.STOPPED]
        )
        self.assertEqual(factory.ready, [])

    def test_poolWithWrongPassword(self) -> None:
        """
        When the pool's password is wrong, every member gives up after its
        one attempt.
        """
        factory = self.factory(password="wrong")
        connectors = redis.connectPool(self.net, "redis.example", 6379, factory, 3)
        self.net.run(3600)
        self.assertEqual([c.attempts for c in connectors], [1, 1, 1])
        self.assertEqual(
            [m.state for m in factory.members], [S.STOPPED, S.STOPPED, S.STOPPED]
        )


# -- IRC -----------------------------------------------------------------------

ircBot = loadRecipe("irc_bot")


class FakeIRC(LineReceiver):
    """An IRC server, as far as the recipe needs: registration, JOIN, KILL."""

    factory: FakeIRCServer
    delimiter = b"\r\n"

    def connectionMade(self) -> None:
        self.nick: str | None = None
        self.given: str | None = None
        self.user = False
        self.registered = False
        self.lines: list[str] = []
        self.factory.connections.append(self)

    def connectionLost(self, reason: Any = None) -> None:
        if self in self.factory.connections:
            self.factory.connections.remove(self)

    def send(self, line: str) -> None:
        self.sendLine(line.encode())

    def closeLink(self, why: str) -> None:
        self.send(f"ERROR :Closing Link: 10.0.0.1 ({why})")
        self.transport.loseConnection()

    def lineReceived(self, line: bytes) -> None:
        text = line.decode()
        self.lines.append(text)
        command, _, rest = text.partition(" ")
        server = self.factory
        if command == "PASS":
            self.given = rest.lstrip(":")
        elif command == "NICK":
            nick = rest.lstrip(":")
            if server.nickInUse(nick, self):
                self.send(f":irc.test 433 * {nick} :Nickname is already in use")
                return
            self.nick = nick
        elif command == "USER":
            self.user = True
        elif command == "JOIN":
            self.send(f":{self.nick}!bot@10.0.0.1 JOIN {rest}")
        elif command == "PING":
            self.send(f":irc.test PONG irc.test :{rest.lstrip(':')}")
        if not self.registered and self.nick and self.user:
            if server.banned:
                self.send(f":irc.test 465 {self.nick} :You are banned (spam)")
                self.closeLink("K-lined")
            elif server.password is not None and self.given != server.password:
                self.send(":irc.test 464 * :Password incorrect")
                self.closeLink("Bad password")
            elif server.welcome:
                self.registered = True
                self.send(f":irc.test 001 {self.nick} :Welcome to the test network")

    def kill(self, why: str) -> None:
        """An operator (or the server, on a nick collision) kills this user."""
        self.send(f":irc.test KILL {self.nick} :irc.test ({why})")
        self.closeLink(f"KILLed by irc.test ({why})")


class FakeIRCServer(Factory):
    protocol = FakeIRC

    def __init__(self, password: str | None = None) -> None:
        self.password = password
        self.banned = False
        self.welcome = True
        self.connections: list[FakeIRC] = []

    def nickInUse(self, nick: str, asker: FakeIRC) -> bool:
        return any(c.nick == nick and c is not asker for c in self.connections)

    def registered(self) -> list[FakeIRC]:
        return [c for c in self.connections if c.registered]


class IRCRecipeTests(_RecipeTest):
    def setUp(self) -> None:
        self.server = FakeIRCServer(password="letmein")
        self.net = self.makeNet(self.server)

    def factory(self, **kwargs: Any) -> Any:
        kwargs.setdefault("password", "letmein")
        return ircBot.BotFactory(
            "recipebot",
            channels=["#twisted"],
            clock=self.net.clock,
            backoff=FixedBackoff(2.0),
            alertAfter=None,
            **kwargs,
        )

    def connect(self, factory: Any) -> Any:
        connector = self.net.connectTCP("irc.test", 6667, factory)
        self.net.settle()
        return connector

    def stop(self, factory: Any) -> None:
        done = factory.giveUp()
        self.net.settle()
        self.successResultOf(done)

    def test_handshakeEndsAtWelcome(self) -> None:
        """
        When the server welcomes the bot (001), the factory is CONNECTED, the
        bot has joined its channel and answers in it; not before: a server
        that never welcomes keeps the factory HANDSHAKING.
        """
        factory = self.factory()
        connected = factory.whenConnected()
        self.connect(factory)
        self.assertEqual(factory.status.state, S.CONNECTED)
        bot = self.successResultOf(connected)
        self.assertEqual(bot.nickname, "recipebot")
        (connection,) = self.server.connections
        self.assertEqual(
            connection.lines,
            [
                "PASS letmein",
                "NICK recipebot",
                "USER recipebot foo bar :None",
                "JOIN #twisted",
            ],
        )
        connection.send(":alice!a@host PRIVMSG #twisted :!ping")
        self.net.settle()
        self.assertEqual(connection.lines[-1], "PRIVMSG #twisted :alice: pong")
        self.stop(factory)

    def test_noWelcomeNoConnection(self) -> None:
        """
        When the server accepts the registration but never sends 001, the
        handshake times out and the attempt counts as failed.
        """
        self.server.welcome = False
        factory = self.factory(handshakeTimeout=10.0)
        self.connect(factory)
        self.assertEqual(factory.status.state, S.HANDSHAKING)
        self.net.run(10.0)
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertEqual(factory.status.attempt, 1)
        self.assertEqual(self.server.connections, [])  # the bot closed the link
        self.stop(factory)

    def test_badPasswordIsPermanent(self) -> None:
        """
        When the server answers 464 ERR_PASSWDMISMATCH, the factory gives up
        after that one attempt.
        """
        factory = self.factory(password="wrong")
        connector = self.connect(factory)
        self.net.run(3600)
        self.assertEqual(connector.attempts, 1)
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(factory.status.attempt, 1)
        self.assertIn("464 bad server password", factory.status.stopReason)

    def test_banIsPermanent(self) -> None:
        """When the server answers 465 (banned), the factory gives up."""
        self.server.banned = True
        factory = self.factory()
        connector = self.connect(factory)
        self.net.run(3600)
        self.assertEqual(connector.attempts, 1)
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertIn("465 banned: You are banned (spam)", factory.status.stopReason)

    def test_killIsAKick(self) -> None:
        """
        When an operator KILLs the bot (KILL, then ERROR :Closing Link ...
        (KILLed ...)), the factory stops: no reconnection.
        """
        factory = self.factory()
        connector = self.connect(factory)
        (connection,) = self.server.connections
        connection.kill("Spamming")
        self.net.run(3600)
        self.assertEqual(connector.attempts, 1)
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(
            factory.status.stopReason, "kicked: killed by irc.test: irc.test (Spamming)"
        )

    def test_errorKilledIsAKick(self) -> None:
        """
        When the server only says ERROR :Closing Link: ... (KILLed ...), that
        is a kick too.
        """
        factory = self.factory()
        connector = self.connect(factory)
        (connection,) = self.server.connections
        connection.closeLink("KILLed by oper (go away)")
        self.net.run(3600)
        self.assertEqual(connector.attempts, 1)
        self.assertEqual(
            factory.status.stopReason,
            "kicked: Closing Link: 10.0.0.1 (KILLed by oper (go away))",
        )

    def test_nickCollisionKillIsAKick(self) -> None:
        """
        When two bots share a nick and the server kills one on a collision,
        the killed one stops: it does not come back to kill the other in
        turn, as an RCF bot would.
        """
        first, second = self.factory(), self.factory()
        self.connect(first)
        self.connect(second)  # 433: IRCClient registers as recipebot_
        self.assertEqual(
            sorted(c.nick for c in self.server.registered()),
            ["recipebot", "recipebot_"],
        )
        victim = next(c for c in self.server.connections if c.nick == "recipebot")
        victim.kill("Nick collision")
        self.net.run(3600)
        self.assertEqual(first.status.state, S.STOPPED)
        self.assertEqual(
            first.status.stopReason,
            "kicked: killed by irc.test: irc.test (Nick collision)",
        )
        self.assertEqual(second.status.state, S.CONNECTED)
        self.assertEqual([c.attempts for c in self.net.connectors], [1, 1])
        self.stop(second)

    def test_pingTimeoutReconnectsAndRejoins(self) -> None:
        """
        When the server closes the link for another reason (ping timeout),
        the bot reconnects after the backoff delay and joins again.
        """
        factory = self.factory()
        connector = self.connect(factory)
        (connection,) = self.server.connections
        connection.closeLink("Ping timeout: 240 seconds")
        self.net.settle()
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertEqual(factory.status.attempt, 1)
        self.assertEqual(factory.status.nextAttemptAt, 2.0)
        self.net.run(2.0)
        self.assertEqual(connector.attempts, 2)
        self.assertEqual(factory.status.state, S.CONNECTED)
        (again,) = self.server.connections
        self.assertEqual(again.lines[-1], "JOIN #twisted")
        self.stop(factory)

    def test_heartbeatOnTheFactoryClock(self) -> None:
        """
        When the bot is signed on, IRCClient's keepalive PING runs on the
        factory's clock, and stops with the connection.
        """
        factory = self.factory()
        self.connect(factory)
        (connection,) = self.server.connections
        self.net.run(120)
        self.assertEqual(connection.lines[-1], "PING irc.test")
        self.stop(factory)


# -- WebSocket (Autobahn) --------------------------------------------------------

try:
    import txaio
    from autobahn.twisted.websocket import (
        WebSocketServerFactory,
        WebSocketServerProtocol,
    )
    from autobahn.websocket.types import ConnectionDeny
except ImportError:  # pragma: no cover - autobahn is in the [test] extra
    websocket = None
else:
    txaio.use_twisted()
    websocket = loadRecipe("websocket_client")

    class FeedServerProtocol(WebSocketServerProtocol):
        """Checks the token, then sends the feed."""

        def onConnect(self, request: Any) -> None:
            if request.headers.get("authorization") != "Bearer good-token":
                raise ConnectionDeny(403, "Forbidden")

        def onOpen(self) -> None:
            self.factory.opened.append(self)
            self.sendMessage(b"hello")

        def onClose(self, wasClean: bool, code: Any, reason: Any) -> None:
            if self in self.factory.opened:
                self.factory.opened.remove(self)

    class FeedServerFactory(WebSocketServerFactory):
        protocol = FeedServerProtocol

        def __init__(self, clock: Any) -> None:
            super().__init__("ws://feed.test:9000", reactor=clock)
            self.opened: list[FeedServerProtocol] = []


class BusyServer(Protocol):
    """Answers the upgrade with 503 and a Retry-After header."""

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\n"
            b"Content-Length: 0\r\n\r\n"
        )
        self.transport.loseConnection()


class WebSocketRecipeTests(_RecipeTest):
    if websocket is None:  # pragma: no cover
        skip = "autobahn is not installed (pip install -e .[test])"

    def setUp(self) -> None:
        self.net = FakeNet(Factory())
        self.addCleanup(self.assertClean, self.net)
        # Autobahn's timers go through txaio's loop: the test's clock.
        previous = txaio.config.loop
        txaio.config.loop = self.net.clock
        self.addCleanup(setattr, txaio.config, "loop", previous)
        self.server = FeedServerFactory(self.net.clock)
        self.net.serverFactory = self.server

    def factory(self, token: str = "good-token", **kwargs: Any) -> Any:
        return websocket.FeedFactory(
            "ws://feed.test:9000/",
            token=token,
            reactor=self.net.clock,
            clock=self.net.clock,
            alertAfter=None,
            **kwargs,
        )

    def connect(self, factory: Any) -> Any:
        connector = self.net.connectTCP("feed.test", 9000, factory)
        self.net.settle()
        return connector

    def stop(self, factory: Any) -> None:
        done = factory.giveUp()
        self.net.run(5)  # Autobahn's close handshake, then the TCP close
        self.successResultOf(done)

    def test_mixinConfiguredByClassAttributesAndConfigure(self) -> None:
        """
        When Autobahn's factory comes first, its __init__ runs and the
        reconnecting half takes its settings from class attributes and
        configure().
        """
        factory = self.factory(minUptime=2.0)
        self.assertEqual(factory.url, "ws://feed.test:9000/")
        self.assertEqual(factory.handshakeTimeout, 15.0)
        self.assertEqual(factory.minUptime, 2.0)
        self.assertIs(factory.clock, self.net.clock)
        schedule = factory.backoffSchedule()
        self.assertIs(schedule, websocket.FeedFactory.backoff)
        self.assertEqual((schedule.initialDelay, schedule.maxDelay), (1.0, 30.0))

    def test_handshakeEndsAtOnOpen(self) -> None:
        """
        When the upgrade succeeds, the factory is CONNECTED (from onOpen) and
        the feed's messages arrive.
        """
        factory = self.factory()
        connected = factory.whenConnected()
        self.connect(factory)
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertIsInstance(self.successResultOf(connected), websocket.FeedProtocol)
        self.assertEqual(factory.messages, ["hello"])
        self.assertEqual(len(self.server.opened), 1)
        self.stop(factory)
        self.assertEqual(self.server.opened, [])

    def test_forbiddenIsPermanent(self) -> None:
        """
        When the server answers the upgrade with HTTP 403, the factory gives
        up after that one attempt.
        """
        factory = self.factory(token="stolen")
        connector = self.connect(factory)
        self.net.run(3600)
        self.assertEqual(connector.attempts, 1)
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertIn("HTTP 403 on upgrade", factory.status.stopReason)

    def test_retryAfterIsHonoured(self) -> None:
        """
        When the server answers 503 with Retry-After: 30, the next attempt
        waits 30 s (more than the 1 s backoff).
        """
        self.net.serverFactory = Factory.forProtocol(BusyServer)
        factory = self.factory()
        connector = self.connect(factory)
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertEqual(factory.status.attempt, 1)
        self.assertEqual(factory.status.nextAttemptAt, 30.0)
        self.net.serverFactory = self.server
        self.net.run(30.0)
        self.assertEqual(connector.attempts, 2)
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.stop(factory)

    def test_closeCode4001IsAKick(self) -> None:
        """
        When the server closes with 4001 (logged in elsewhere), the factory
        stops: no reconnection.
        """
        factory = self.factory()
        connector = self.connect(factory)
        (server,) = self.server.opened
        server.sendClose(code=4001, reason="logged in elsewhere")
        self.net.run(3600)
        self.assertEqual(connector.attempts, 1)
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(
            factory.status.stopReason, "kicked: close code 4001: logged in elsewhere"
        )

    def test_normalCloseReconnects(self) -> None:
        """
        When the server closes with 1000 (normal, e.g. a restart), the
        client reconnects after the backoff delay.
        """
        factory = self.factory()
        connector = self.connect(factory)
        (server,) = self.server.opened
        server.sendClose(code=1000, reason="restarting")
        self.net.settle()
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertEqual(factory.status.attempt, 1)
        self.net.run(1.0)
        self.assertEqual(connector.attempts, 2)
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertEqual(factory.messages, ["hello", "hello"])
        self.stop(factory)

    def test_autobahnExampleOverridesStillWork(self) -> None:
        """
        When the RCF-era overrides stay (clientConnection* calling
        self.retry(connector), resetDelay() in onConnect), a refused attempt
        is retried with its real reason and the client then connects.
        """
        from twisted.internet.error import ConnectionRefusedError

        class OldStyleProtocol(websocket.FeedProtocol):
            def onConnect(self, response: Any) -> None:
                self.factory.resetDelay()

        class OldStyle(websocket.FeedFactory):
            protocol = OldStyleProtocol

            def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
                self.retry(connector)

            def clientConnectionLost(self, connector: Any, reason: Any) -> None:
                self.retry(connector)

        factory = OldStyle(
            "ws://feed.test:9000/",
            token="good-token",
            reactor=self.net.clock,
            clock=self.net.clock,
            alertAfter=None,
        )
        self.net.up = False
        connector = self.connect(factory)
        self.assertEqual(factory.status.state, S.WAITING)
        self.assertIsInstance(factory.status.lastFailure.value, ConnectionRefusedError)
        self.net.up = True
        self.net.run(1.0)
        self.assertEqual(connector.attempts, 2)
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.stop(factory)
