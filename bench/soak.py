"""
Soak test: N reconnecting clients against a login server behind a chaos
proxy, for a bounded time; then calm, and check that everything came back.

    python bench/soak.py --clients 200 --duration 60
    python bench/soak.py --clients 200 --duration 60 --outbox sqlite
    python -m bench.soak --clients 20 --duration 5

A child process (``--serve``) runs the login server
(:class:`reconnect_twisted._demo.server.LoginServer`) and, in front of it on
loopback, a TCP proxy that at random resets connections, stalls them,
half-closes them, delays them, truncates them and injects garbage towards
the client; the server itself is restarted at random on the same port. The
parent process runs only the clients, so its file descriptors, memory and log
are the clients' alone.

Throughout the chaos every client sends application messages through an
:class:`~reconnect_twisted.Outbox` (``--outbox sqlite``: an
:class:`~reconnect_twisted.SQLiteOutbox`, one file per client in a
temporary directory; ``--rate`` per second each, a window of ``--window``
in flight): ``MSG <id> <text>``, which the server acknowledges
with ``ACK <id>`` or refuses with ``NACK <id> <reason>`` (every
``POISON_EVERY``-th message is refused). The soak counts messages put,
delivered (acknowledged), failed (each with its reason) and lost; a message
is lost if its ``put()`` had neither succeeded nor failed once the outboxes
were given ``DRAIN_BOUND`` seconds after recovery, or if the client was told
it was delivered but the server never accepted it. The server counts the
at-least-once duplicates (an id received again after its acknowledgement
was lost) and first receipts out of ``put()`` order.

Once the chaos stops, every client must be ``CONNECTED`` again within the
schedule's bound; no message may be lost or out of order, and every failed
one must carry a reason (with SQLite, no settled item may be left in the
files); file descriptors, RSS (not checked with SQLite, whose caches grow)
and the Python objects alive must be back to the baseline taken once the
clients had connected and messages had flowed for ``WARMUP`` seconds
(within 5 %); the log must hold no unhandled error, a reason for every
disconnect, and never the password. A summary table is printed; the exit
status is non-zero if any check failed.
"""

from __future__ import annotations

import argparse
import array
import gc
import json
import os
import random
import secrets
import shutil
import sqlite3
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

if __package__ in (None, ""):  # python bench/soak.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twisted.internet import defer, protocol, task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import (
    LogEvent,
    LogLevel,
    formatEvent,
    globalLogBeginner,
)
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from reconnect_twisted import (
    ConnectionState,
    ConnectionStatus,
    ExponentialBackoff,
    HandshakeRejected,
    Outbox,
    ReconnectingFactory,
    SQLiteOutbox,
)
from reconnect_twisted._demo.server import (
    LoginServer,
    LoginServerFactory,
    LoginServerProtocol,
)

S = ConnectionState

#: The clients' schedule: short, so that recovery is quick.
INITIAL_DELAY, FACTOR, MAX_DELAY, JITTER = 0.05, 2.0, 2.0, 0.5
CONNECT_TIMEOUT = 2.0
HANDSHAKE_TIMEOUT = 2.0
#: After the chaos stops, every client must be connected within this bound:
#: one full delay, one attempt that times out, and a second attempt.
RECOVERY_BOUND = MAX_DELAY + CONNECT_TIMEOUT + HANDSHAKE_TIMEOUT + 1.0
TOLERANCE = 0.05
#: Every this many messages a client sends, one is refused by the server.
POISON_EVERY = 20
POISON = "poison"
#: After recovery, every outbox must be empty within this many seconds.
DRAIN_BOUND = 10.0
#: Messages flow for this long before the baseline is taken (file
#: descriptors, RSS, and Python objects: ``sys.getallocatedblocks()``).
WARMUP = 1.0


# -- the server side (child process) -------------------------------------------


class _Pipe:
    """
    One direction of a proxied connection: forwards bytes in order, maybe
    late (``delay``) or not until ``stallUntil``.
    """

    def __init__(self, clock: IReactorTime, send: Callable[[bytes], None]) -> None:
        self.clock = clock
        self.send = send
        self.queue: list[bytes] = []
        self.delay = 0.0
        self.stallUntil = 0.0
        self.call: Any = None
        self.closed = False

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        if (
            not self.queue
            and self.delay == 0
            and self.clock.seconds() >= self.stallUntil
        ):
            self.send(data)
            return
        self.queue.append(data)
        self._schedule()

    def _schedule(self) -> None:
        if self.call is not None and self.call.active():
            return
        wait = max(self.delay, self.stallUntil - self.clock.seconds(), 0.0)
        self.call = self.clock.callLater(wait, self._flush)

    def _flush(self) -> None:
        self.call = None
        if self.closed:
            return
        if self.clock.seconds() < self.stallUntil:
            self._schedule()
            return
        queue, self.queue = self.queue, []
        for data in queue:
            self.send(data)

    def calm(self) -> None:
        self.delay = 0.0
        self.stallUntil = 0.0
        if self.call is not None and self.call.active():
            self.call.cancel()
        self._flush()

    def close(self) -> None:
        self.closed = True
        if self.call is not None and self.call.active():
            self.call.cancel()
        self.call = None


class _Upstream(protocol.Protocol):
    """The proxy's connection to the server."""

    def __init__(self, down: _Downstream) -> None:
        self.down = down

    def connectionMade(self) -> None:
        self.down.upConnected(self)

    def dataReceived(self, data: bytes) -> None:
        self.down.toClient.write(data)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.down.upLost()


class _UpstreamFactory(protocol.ClientFactory):
    noisy = False

    def __init__(self, down: _Downstream) -> None:
        self.down = down

    def buildProtocol(self, addr: Any) -> _Upstream:
        return _Upstream(self.down)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.down.upFailed()


class _Downstream(protocol.Protocol):
    """A client's connection to the proxy."""

    factory: ChaosProxy

    def connectionMade(self) -> None:
        proxy = self.factory
        proxy.live.add(self)
        proxy.stats["accepted"] += 1
        self.up: _Upstream | None = None
        self.pending: list[bytes] = []
        self.closing = False
        clock = proxy.reactor
        self.toClient = _Pipe(clock, self.transport.write)  # type: ignore[union-attr]
        self.toServer = _Pipe(clock, self._sendUp)
        proxy.reactor.connectTCP(
            "127.0.0.1", proxy.serverPort, _UpstreamFactory(self), timeout=5
        )
        if proxy.chaos and proxy.rng.random() < 0.05:
            proxy.disrupt(self)

    def _sendUp(self, data: bytes) -> None:
        if self.up is not None:
            self.up.transport.write(data)  # type: ignore[union-attr]
        else:
            self.pending.append(data)

    def upConnected(self, up: _Upstream) -> None:
        if self.closing:
            up.transport.abortConnection()  # type: ignore[union-attr]
            return
        self.up = up
        pending, self.pending = self.pending, []
        for data in pending:
            up.transport.write(data)  # type: ignore[union-attr]

    def upFailed(self) -> None:
        self.reset()

    def upLost(self) -> None:
        self.up = None
        if not self.closing:
            self.closing = True
            self.toClient.calm()
            self.transport.loseConnection()  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.toServer.write(data)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.factory.live.discard(self)
        self.closing = True
        self.toClient.close()
        self.toServer.close()
        if self.up is not None:
            self.up.transport.loseConnection()  # type: ignore[union-attr]

    def reset(self) -> None:
        """Abort both sides (an RST towards the client)."""
        self.closing = True
        self.toClient.close()
        self.toServer.close()
        self.transport.abortConnection()  # type: ignore[union-attr]
        if self.up is not None:
            self.up.transport.abortConnection()  # type: ignore[union-attr]


class ChaosProxy(protocol.ServerFactory):
    """
    Forwards loopback connections to ``serverPort``, disrupting them at
    random while ``chaos`` is on.
    """

    protocol = _Downstream
    noisy = False

    ACTIONS = ("reset", "stall", "halfclose", "delay", "truncate", "garbage")

    def __init__(self, reactor: Any, serverPort: int, rng: random.Random) -> None:
        self.reactor = reactor
        self.serverPort = serverPort
        self.rng = rng
        self.live: set[_Downstream] = set()
        self.chaos = False
        self.stats: dict[str, int] = {name: 0 for name in self.ACTIONS}
        self.stats["accepted"] = 0

    def tick(self, meanInterval: float, period: float) -> None:
        """Disrupt each live connection with probability ``period / meanInterval``."""
        if not self.chaos:
            return
        p = period / meanInterval
        for down in list(self.live):
            if self.rng.random() < p:
                self.disrupt(down)

    def disrupt(self, down: _Downstream) -> None:
        """Do one random bad thing to ``down``."""
        if down.closing:
            return
        action = self.rng.choice(self.ACTIONS)
        self.stats[action] += 1
        rng = self.rng
        transport: Any = down.transport
        if action == "reset":
            down.reset()
        elif action == "stall":
            until = self.reactor.seconds() + rng.uniform(0.2, 3.0)
            pipe = rng.choice([down.toClient, down.toServer])
            pipe.stallUntil = until
        elif action == "halfclose":
            if rng.random() < 0.5:
                transport.loseWriteConnection()  # EOF towards the client
            elif down.up is not None:
                down.up.transport.loseWriteConnection()  # type: ignore[union-attr]
            else:
                down.reset()
        elif action == "delay":
            pipe = rng.choice([down.toClient, down.toServer])
            pipe.delay = rng.uniform(0.05, 1.0)
        elif action == "truncate":
            # Send part of a line towards the client, then cut the connection.
            transport.write(b"OK-partial-"[: rng.randint(1, 10)])
            down.closing = True
            down.toClient.close()
            down.toServer.close()
            transport.loseConnection()
            if down.up is not None:
                down.up.transport.abortConnection()  # type: ignore[union-attr]
        elif action == "garbage":
            junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 40)))
            down.toClient.write(b"\x00" + junk.replace(b"\r\n", b"") + b"\r\n")

    def calm(self) -> None:
        """No more chaos; release every stall and delay."""
        self.chaos = False
        for down in list(self.live):
            down.toClient.calm()
            down.toServer.calm()


class SoakServerProtocol(LoginServerProtocol):
    """The login server, plus ``MSG <id> <text>`` answered ``ACK``/``NACK``."""

    def do_MSG(self, rest: str) -> None:
        """``MSG <id> <text>``: ``ACK <id>``, or ``NACK <id> poison``."""
        key, _, text = rest.partition(" ")
        if self.user is None or not key.isdigit():
            self.send("ERR bad-request")
            return
        server = cast(SoakServerFactory, self.factory)
        if text == POISON:
            server.refused += 1
            self.send(f"NACK {key} {POISON}")
            return
        server.receive(self.user, int(key))
        self.send(f"ACK {key}")


class SoakServerFactory(LoginServerFactory):
    """
    The server's state, kept across restarts: which message ids each user's
    messages arrived with, how often, and in what order.
    """

    protocol = SoakServerProtocol

    def __init__(self, accounts: dict[str, str]) -> None:
        super().__init__(accounts)
        self.messageIds: dict[str, set[int]] = {}
        self.latest: dict[str, int] = {}
        self.receipts = 0
        self.refused = 0
        self.outOfOrder = 0

    def receive(self, user: str, itemId: int) -> None:
        """Count one receipt of message ``itemId`` from ``user``."""
        self.receipts += 1
        seen = self.messageIds.setdefault(user, set())
        if itemId in seen:
            return  # a duplicate: at least once
        seen.add(itemId)
        if itemId < self.latest.get(user, 0):
            self.outOfOrder += 1
        self.latest[user] = max(itemId, self.latest.get(user, 0))

    def messageStats(self) -> dict[str, Any]:
        """What arrived, for the ``messages`` command."""
        distinct = sum(len(ids) for ids in self.messageIds.values())
        return {
            "receipts": self.receipts,
            "distinct": distinct,
            "duplicates": self.receipts - distinct,
            "refused": self.refused,
            "outOfOrder": self.outOfOrder,
            "ids": {user: sorted(ids) for user, ids in self.messageIds.items()},
        }


def serve(seed: int, secret: str, clients: int) -> None:
    """
    The child process: login server + chaos proxy; commands on stdin
    (``chaos``, ``calm``, ``stats``, ``messages``, ``quit``), answers as
    JSON lines on stdout.
    """
    from twisted.internet import reactor, stdio

    rng = random.Random(seed)
    errors: list[str] = []
    leaks = [0]

    def observe(event: LogEvent) -> None:
        text = formatEvent(event)
        failure = event.get("log_failure")
        if failure is not None:
            text += failure.getTraceback()
            errors.append(text[-2000:])
        if secret in text or secret in repr(event):
            leaks[0] += 1

    globalLogBeginner.beginLoggingTo([observe], redirectStandardIO=False)
    accounts = {f"user{i}": secret for i in range(clients)}
    serverFactory = SoakServerFactory(accounts)
    serverFactory.noisy = False
    server = LoginServer(reactor, serverFactory)
    server.start()
    proxy = ChaosProxy(reactor, server.port, rng)
    proxyPort = reactor.listenTCP(0, proxy, interface="127.0.0.1")
    restarts = [0]
    period = 0.1
    ticker = task.LoopingCall(proxy.tick, 3.0, period)
    ticker.clock = reactor
    ticker.start(period, now=False)

    def restartLater() -> None:
        reactor.callLater(rng.uniform(3.0, 10.0), restart)

    @defer.inlineCallbacks
    def restart() -> Any:
        if not proxy.chaos:
            return
        restarts[0] += 1
        yield server.stop()
        yield task.deferLater(reactor, rng.uniform(0.1, 1.5))
        server.start()
        restartLater()

    class Commands(LineReceiver):
        delimiter = b"\n"

        def lineReceived(self, line: bytes) -> None:
            command = line.decode().strip()
            if command == "chaos":
                proxy.chaos = True
                restartLater()
                self.answer({"ok": "chaos"})
            elif command == "calm":
                proxy.calm()
                server.start()
                self.answer({"ok": "calm"})
            elif command == "stats":
                self.answer(
                    {
                        "proxy": proxy.stats,
                        "restarts": restarts[0],
                        "sessions": len(serverFactory.sessions),
                        "loggedIn": sum(
                            1 for s in serverFactory.sessions if s.user is not None
                        ),
                        "listening": server.listening,
                        "errors": errors[:5],
                        "errorCount": len(errors),
                        "leaks": leaks[0],
                    }
                )
            elif command == "messages":
                # Apart from "stats": the parent parses this list of every
                # id only after it measured its memory.
                self.answer(serverFactory.messageStats())
            elif command == "quit":
                reactor.stop()

        def answer(self, value: dict[str, Any]) -> None:
            self.sendLine(json.dumps(value).encode())

        def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
            if reactor.running:
                reactor.stop()

    commands = Commands()
    stdio.StandardIO(commands)
    commands.answer({"proxyPort": proxyPort.getHost().port, "serverPort": server.port})
    reactor.run()


# -- the client side (this process) -----------------------------------------


class Refused(Exception):
    """The server refused a message (``NACK <id> <reason>``)."""


class LoginClient(LineReceiver):
    """
    Logs in; then sends messages (``MSG <id> <text>``) and matches their
    ``ACK``/``NACK``. Anything else from the server is a protocol error.
    """

    delimiter = b"\r\n"
    factory: SoakFactory

    def connectionMade(self) -> None:
        self.answer: defer.Deferred[bytes] | None = None
        self.acks: dict[int, defer.Deferred[None]] = {}

    def send(self, itemId: int, text: str) -> defer.Deferred[None]:
        """Send one message; the Deferred fires when the server acknowledged it."""
        d: defer.Deferred[None] = defer.Deferred()
        self.acks[itemId] = d
        self.sendLine(f"MSG {itemId} {text}".encode())
        return d

    def lineReceived(self, line: bytes) -> None:
        if line.startswith(b"KICK "):
            self.factory.kicked(line[5:].decode("utf-8", "replace"))
            return
        answer, self.answer = self.answer, None
        if answer is not None:
            answer.callback(line)
        elif self.factory.status.state is S.CONNECTED and not self._answered(line):
            self.factory.garbage += 1
            self.transport.loseConnection()  # type: ignore[union-attr]

    def _answered(self, line: bytes) -> bool:
        """``ACK <id>`` / ``NACK <id> <reason>`` for a message in flight."""
        verb, _, rest = line.partition(b" ")
        if verb == b"ACK":
            key, reason = rest, b""
        elif verb == b"NACK":
            key, _, reason = rest.partition(b" ")
        else:
            return False
        d = self.acks.pop(int(key), None) if key.isdigit() else None
        if d is None:
            return False
        if verb == b"ACK":
            d.callback(None)
        else:
            d.errback(Refused(reason.decode("utf-8", "replace")))
        return True

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        # The outbox puts these back for the next connection.
        acks, self.acks = self.acks, {}
        for d in acks.values():
            d.errback(reason)

    def lineLengthExceeded(self, line: bytes) -> None:
        self.transport.loseConnection()  # type: ignore[union-attr]


class SoakFactory(ReconnectingFactory):
    """One soak client: ``LOGIN userN <secret>``."""

    protocol = LoginClient

    def __init__(self, user: str, secret: str, rng: random.Random) -> None:
        super().__init__(
            backoff=ExponentialBackoff(
                INITIAL_DELAY, FACTOR, MAX_DELAY, JITTER, rng=rng
            ),
            connectTimeout=CONNECT_TIMEOUT,
            handshakeTimeout=HANDSHAKE_TIMEOUT,
            minUptime=1.0,
            alertAfter=None,
            rng=rng,
        )
        self.user = user
        self.secret = secret
        self.garbage = 0

    async def handshake(self, protocol: LoginClient) -> None:  # type: ignore[override]
        answer: defer.Deferred[bytes] = defer.Deferred()
        protocol.answer = answer
        protocol.sendLine(f"LOGIN {self.user} {self.secret}".encode())
        line = await answer
        if line == b"OK":
            return
        if line == b"ERR bad-password":
            raise HandshakeRejected("bad password", permanent=True)
        raise HandshakeRejected(f"unexpected answer ({len(line)} bytes)")


def deliver(protocol: LoginClient, item: str, itemId: int) -> defer.Deferred[None]:
    """The outbox's ``deliver``: one ``MSG`` on the current connection."""
    return protocol.send(itemId, item)


@dataclass
class Traffic:
    """One client's messages: what it put and what became of each."""

    outbox: Outbox
    put: int = 0
    delivered: array.array[int] = field(default_factory=lambda: array.array("I"))
    failed: Counter[str] = field(default_factory=Counter)
    failedWithoutReason: int = 0

    def send(self) -> None:
        """Put the next message (every ``POISON_EVERY``-th one is refused)."""
        self.put += 1
        text = POISON if self.put % POISON_EVERY == 0 else f"hello-{self.put}"
        d = self.outbox.put(text, itemId=self.put)
        d.addCallbacks(self._delivered, self._failed, callbackArgs=(self.put,))

    def _delivered(self, result: object, itemId: int) -> None:
        self.delivered.append(itemId)

    def _failed(self, failure: Failure) -> None:
        if not str(failure.value):
            self.failedWithoutReason += 1
        self.failed[f"{type(failure.value).__name__}: {failure.value}"] += 1

    @property
    def settled(self) -> int:
        """Messages whose ``put()`` succeeded or failed."""
        return len(self.delivered) + sum(self.failed.values())


@dataclass
class ClientRecord:
    """What one client went through."""

    factory: SoakFactory
    traffic: Traffic
    state: ConnectionState = S.IDLE
    connects: int = 0
    drops: int = 0
    downSince: float | None = None
    maxDown: float = 0.0
    connectedAt: float | None = None


@dataclass
class LogCheck:
    """Streams the log: counts errors, disconnect reasons and secret leaks."""

    secret: str
    errors: list[str] = field(default_factory=list)
    leaks: int = 0
    lost: int = 0
    lostWithoutReason: int = 0
    failedAttempts: int = 0
    events: int = 0
    file: Any = None

    def __call__(self, event: LogEvent) -> None:
        self.events += 1
        text = formatEvent(event)
        failure = event.get("log_failure")
        if failure is not None:
            text += "\n" + failure.getTraceback()
            self.errors.append(text[-3000:])
        elif event.get("log_level") in (LogLevel.error, LogLevel.critical):
            self.errors.append(text)
        if self.secret in text or self.secret in repr(event):
            self.leaks += 1
        fmt = event.get("log_format") or ""
        if fmt.startswith("Connection to {target} lost") or fmt.startswith(
            "Server ended the connection"
        ):
            self.lost += 1
            reason = event.get("reason") or event.get("error")
            if not reason:
                self.lostWithoutReason += 1
        elif fmt.startswith("Attempt {attempt} to {target} failed"):
            self.failedAttempts += 1
            if not event.get("reason"):
                self.lostWithoutReason += 1
        if self.file is not None:
            self.file.write(text.replace("\n", "\n    ") + "\n")


class Child(protocol.ProcessProtocol):
    """The server+proxy child: send a command, get its JSON answer."""

    def __init__(self) -> None:
        self.buffer = b""
        self.waiting: list[defer.Deferred[dict[str, Any]]] = []
        self.ended: defer.Deferred[None] = defer.Deferred()
        self.stderr = b""

    def expect(self) -> defer.Deferred[dict[str, Any]]:
        d: defer.Deferred[dict[str, Any]] = defer.Deferred()
        self.waiting.append(d)
        return d

    def command(self, text: str) -> defer.Deferred[dict[str, Any]]:
        d = self.expect()
        self.transport.write(text.encode() + b"\n")  # type: ignore[union-attr]
        return d

    def outReceived(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if self.waiting:
                self.waiting.pop(0).callback(json.loads(line))

    def errReceived(self, data: bytes) -> None:
        self.stderr = (self.stderr + data)[-5000:]

    def processEnded(self, reason: Failure) -> None:
        for d in self.waiting:
            d.errback(RuntimeError(f"server process ended: {self.stderr.decode()}"))
        self.waiting = []
        self.ended.callback(None)


def _messages(records: list[ClientRecord], server: dict[str, Any]) -> dict[str, Any]:
    """
    Every client's messages against what the server accepted: a message is
    lost if its ``put()`` never settled, or if it was reported delivered and
    the server never accepted it.
    """
    put = delivered = resent = unsettled = notReceived = withoutReason = 0
    reasons: Counter[str] = Counter()
    for r in records:
        traffic = r.traffic
        put += traffic.put
        delivered += len(traffic.delivered)
        reasons.update(traffic.failed)
        withoutReason += traffic.failedWithoutReason
        unsettled += traffic.put - traffic.settled
        resent += traffic.outbox.resent
        accepted = set(server["ids"].get(r.factory.user, ()))
        notReceived += sum(1 for itemId in traffic.delivered if itemId not in accepted)
    return {
        "put": put,
        "delivered": delivered,
        "failed": sum(reasons.values()),
        "failedReasons": dict(reasons),
        "failedWithoutReason": withoutReason,
        "lost": unsettled + notReceived,
        "unsettled": unsettled,
        "notReceived": notReceived,
        "resent": resent,
        "duplicates": server["duplicates"],
        "refusals": server["refused"],
        "outOfOrder": server["outOfOrder"],
    }


def _storedRows(path: Path) -> int:
    """How many items an outbox file holds (what a restart would send)."""
    connection = sqlite3.connect(str(path))
    try:
        return int(connection.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        connection.close()


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _fds() -> int:
    import psutil

    return int(psutil.Process().num_fds())


async def waitFor(
    reactor: Any, condition: Callable[[], bool], timeout: float, step: float = 0.05
) -> bool:
    """Poll ``condition`` until true or ``timeout`` seconds passed."""
    deadline = reactor.seconds() + timeout
    while not condition():
        if reactor.seconds() >= deadline:
            return False
        await task.deferLater(reactor, step)
    return True


def _settle(reactor: Any) -> defer.Deferred[None]:
    return task.deferLater(reactor, 0.2)


async def soak(reactor: Any, options: argparse.Namespace) -> int:
    """Run the soak; print the table; return the exit status."""
    secret = "pw-" + secrets.token_hex(12)
    check = LogCheck(secret)
    if options.log:
        check.file = open(options.log, "w")  # noqa: SIM115
    globalLogBeginner.beginLoggingTo([check], redirectStandardIO=False)
    rng = random.Random(options.seed)

    child = Child()
    ready = child.expect()
    script = str(Path(__file__).resolve())
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    reactor.spawnProcess(
        child,
        sys.executable,
        [
            sys.executable,
            script,
            "--serve",
            "--seed",
            str(options.seed),
            "--clients",
            str(options.clients),
        ],
        env={**env, "SOAK_SECRET": secret},
        childFDs={0: "w", 1: "r", 2: "r"},
    )
    ports = await ready
    proxyPort = ports["proxyPort"]

    records: list[ClientRecord] = []
    connectors = []
    directory = (
        Path(tempfile.mkdtemp(prefix="soak-outbox-"))
        if options.outbox == "sqlite"
        else None
    )

    def makeOutbox(factory: SoakFactory, name: str) -> Outbox:
        if directory is None:
            return Outbox(factory, deliver, window=options.window, withIds=True)
        return SQLiteOutbox(
            factory,
            deliver,
            directory / f"{name}.db",
            window=options.window,
            withIds=True,
            threadpool=reactor.getThreadPool(),
            reactor=reactor,
        )

    def observer(record: ClientRecord) -> Callable[[ConnectionStatus], None]:
        def observe(status: ConnectionStatus) -> None:
            now = reactor.seconds()
            state = status.state
            if state is record.state:
                return
            if state is S.CONNECTED:
                record.connects += 1
                record.connectedAt = now
                if record.downSince is not None:
                    record.maxDown = max(record.maxDown, now - record.downSince)
                    record.downSince = None
            elif record.state is S.CONNECTED:
                record.drops += 1
                record.downSince = now
            record.state = state

        return observe

    started = reactor.seconds()
    for i in range(options.clients):
        factory = SoakFactory(f"user{i}", secret, random.Random(rng.random()))
        outbox = makeOutbox(factory, f"user{i}")
        record = ClientRecord(factory, Traffic(outbox))
        factory.addStatusObserver(observer(record))
        records.append(record)
        connectors.append(reactor.connectTCP("127.0.0.1", proxyPort, factory))

    def allConnected() -> bool:
        return all(r.state is S.CONNECTED for r in records)

    failures: list[str] = []
    if not await waitFor(reactor, allConnected, 30.0):
        failures.append("not every client connected at the start")
    firstConnect = reactor.seconds() - started

    def sendAll() -> None:
        for r in records:
            r.traffic.send()

    sender = task.LoopingCall(sendAll)
    sender.clock = reactor
    if options.rate > 0:
        # The baseline is taken with the traffic flowing: what it allocates
        # in its steady state is not a leak.
        sender.start(1.0 / options.rate, now=True)
        await task.deferLater(reactor, WARMUP)
    await _settle(reactor)
    gc.collect()
    fdsBefore, rssBefore, blocksBefore = _fds(), _rss(), sys.getallocatedblocks()
    await child.command("chaos")
    chaosStart = reactor.seconds()
    for r in records:
        r.connects = 0
        r.drops = 0
        r.maxDown = 0.0
    await task.deferLater(reactor, options.duration)
    if sender.running:
        sender.stop()
    await child.command("calm")
    calmAt = reactor.seconds()
    for r in records:
        if r.state is S.CONNECTED:
            r.downSince = None  # only measure recovery from calm for the rest
        elif r.downSince is None:
            r.downSince = calmAt
    recovered = await waitFor(reactor, allConnected, RECOVERY_BOUND)
    recovery = reactor.seconds() - calmAt
    if not recovered:
        stuck = [
            f"{r.factory.user}:{r.state.name}"
            for r in records
            if r.state is not S.CONNECTED
        ]
        failures.append(
            f"{len(stuck)} clients not CONNECTED {RECOVERY_BOUND:g}s after the chaos: "
            f"{', '.join(stuck[:10])}"
        )
    stopped = [r for r in records if r.factory.status.state is S.STOPPED]
    if stopped:
        failures.append(
            f"{len(stopped)} clients STOPPED, e.g. "
            f"{stopped[0].factory.status.stopReason}"
        )

    def drained() -> bool:
        return all(r.traffic.settled == r.traffic.put for r in records)

    drainStart = reactor.seconds()
    await waitFor(reactor, drained, DRAIN_BOUND)
    drain = reactor.seconds() - drainStart

    async def serverStats() -> dict[str, Any]:
        return await child.command("stats")

    stats = await serverStats()
    deadline = reactor.seconds() + 10.0
    while stats["loggedIn"] != options.clients and reactor.seconds() < deadline:
        await task.deferLater(reactor, 0.2)
        stats = await serverStats()
    if stats["sessions"] != options.clients or stats["loggedIn"] != options.clients:
        failures.append(
            f"server sees {stats['sessions']} sessions, {stats['loggedIn']} logged in, "
            f"for {options.clients} clients"
        )
    await _settle(reactor)
    gc.collect()
    fdsAfter, rssAfter, blocksAfter = _fds(), _rss(), sys.getallocatedblocks()
    drops = sum(r.drops for r in records)
    reconnects = sum(r.connects for r in records)
    maxDown = max((r.maxDown for r in records), default=0.0)
    messages = _messages(records, await child.command("messages"))
    if messages["lost"]:
        failures.append(
            f"{messages['lost']} messages lost: {messages['unsettled']} never "
            f"settled, {messages['notReceived']} acknowledged but never received"
        )
    if messages["failedWithoutReason"]:
        failures.append(
            f"{messages['failedWithoutReason']} messages failed without a reason"
        )
    if messages["outOfOrder"]:
        failures.append(
            f"{messages['outOfOrder']} messages first received out of order"
        )

    if fdsAfter > fdsBefore * (1 + TOLERANCE):
        failures.append(f"file descriptors grew: {fdsBefore} -> {fdsAfter}")
    # SQLite's page caches and WAL index grow towards their bounds as the
    # files are used: not a leak. The Python objects alive are checked in
    # both modes.
    if options.outbox == "memory" and rssAfter > rssBefore * (1 + TOLERANCE):
        failures.append(f"RSS grew more than 5 %: {rssBefore} -> {rssAfter}")
    if blocksAfter > blocksBefore * (1 + TOLERANCE):
        failures.append(
            f"Python objects grew more than 5 %: {blocksBefore} -> {blocksAfter} "
            "allocated blocks"
        )
    if check.errors:
        failures.append(f"{len(check.errors)} errors logged, first: {check.errors[0]}")
    if stats["errorCount"]:
        failures.append(
            f"server logged {stats['errorCount']} errors: {stats['errors']}"
        )
    if check.leaks or stats["leaks"]:
        failures.append(f"password in the log: {check.leaks} + {stats['leaks']} events")
    if check.lostWithoutReason:
        failures.append(
            f"{check.lostWithoutReason} disconnects logged without a reason"
        )
    if check.lost < drops:
        failures.append(f"{drops} drops but only {check.lost} logged")
    if options.duration >= 5 and drops == 0:
        failures.append("the chaos dropped no connection")
    stored = None
    outboxes: list[SQLiteOutbox] = []
    if directory is not None:
        outboxes = [cast(SQLiteOutbox, r.traffic.outbox) for r in records]
        await defer.gatherResults([outbox.flush() for outbox in outboxes])
        stored = sum(_storedRows(outbox.path) for outbox in outboxes)
        if stored:
            failures.append(f"{stored} settled messages still in the outboxes' files")

    # Tear down: give up every client, stop the child.
    await defer.gatherResults([r.factory.giveUp("soak over") for r in records])
    if directory is not None:
        await defer.gatherResults([outbox.close() for outbox in outboxes])
        shutil.rmtree(directory)
    child.transport.write(b"quit\n")  # type: ignore[union-attr]
    await child.ended
    if check.file is not None:
        check.file.close()

    proxy = stats["proxy"]
    rows = [
        ("clients", options.clients),
        ("duration (s)", f"{options.duration:g}"),
        ("first connect of all (s)", f"{firstConnect:.2f}"),
        (
            "chaos: resets/stalls/half-closes",
            f"{proxy['reset']}/{proxy['stall']}/{proxy['halfclose']}",
        ),
        (
            "chaos: delays/truncations/garbage",
            f"{proxy['delay']}/{proxy['truncate']}/{proxy['garbage']}",
        ),
        ("server restarts", stats["restarts"]),
        ("connections accepted by proxy", proxy["accepted"]),
        ("drops survived", drops),
        ("reconnects", reconnects),
        ("failed attempts logged", check.failedAttempts),
        (
            "messages put/delivered/failed",
            f"{messages['put']}/{messages['delivered']}/{messages['failed']}",
        ),
        (
            "messages failed, by reason",
            "; ".join(f"{n} {why}" for why, n in messages["failedReasons"].items())
            or "-",
        ),
        ("messages lost", messages["lost"]),
        ("messages resent after a drop", messages["resent"]),
        ("duplicates received (at least once)", messages["duplicates"]),
        ("first receipts out of order", messages["outOfOrder"]),
        ("outboxes drained after recovery (s)", f"{drain:.2f}"),
        ("outbox", options.outbox if stored is None else f"sqlite, {stored} rows left"),
        ("max time to recover, chaos (s)", f"{maxDown:.2f}"),
        ("all connected after calm (s)", f"{recovery:.2f} (bound {RECOVERY_BOUND:g})"),
        ("fds before/after", f"{fdsBefore}/{fdsAfter}"),
        ("RSS before/after (MiB)", f"{rssBefore / 2**20:.1f}/{rssAfter / 2**20:.1f}"),
        ("allocated blocks before/after", f"{blocksBefore}/{blocksAfter}"),
        ("unhandled errors", len(check.errors) + stats["errorCount"]),
        ("secret leaks", check.leaks + stats["leaks"]),
        ("log events", check.events),
        ("result", "PASS" if not failures else "FAIL"),
    ]
    width = max(len(name) for name, _ in rows)
    vwidth = max(len(str(value)) for _, value in rows)
    line = f"+-{'-' * width}-+-{'-' * vwidth}-+"
    out = [line]
    for name, value in rows:
        out.append(f"| {name:<{width}} | {value!s:>{vwidth}} |")
    out.append(line)
    print("\n".join(out))
    if options.json:
        print(
            "SOAK "
            + json.dumps(
                {
                    "clients": options.clients,
                    "drops": drops,
                    "reconnects": reconnects,
                    "maxRecover": maxDown,
                    "recovery": recovery,
                    "fdsBefore": fdsBefore,
                    "fdsAfter": fdsAfter,
                    "rssBefore": rssBefore,
                    "rssAfter": rssAfter,
                    "blocksBefore": blocksBefore,
                    "blocksAfter": blocksAfter,
                    "errors": len(check.errors) + stats["errorCount"],
                    "leaks": check.leaks + stats["leaks"],
                    "restarts": stats["restarts"],
                    "chaosStart": chaosStart,
                    "messages": messages,
                    "outbox": options.outbox,
                    "storedAfter": stored,
                    "drain": drain,
                    "failures": failures,
                }
            )
        )
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python bench/soak.py [--clients N] [--duration S]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--rate",
        type=float,
        default=5.0,
        help="messages each client puts per second during the chaos (0: none)",
    )
    parser.add_argument(
        "--window", type=int, default=4, help="messages in flight per client"
    )
    parser.add_argument(
        "--outbox",
        choices=("memory", "sqlite"),
        default="memory",
        help="Outbox, or SQLiteOutbox (files in a temporary directory)",
    )
    parser.add_argument("--log", help="also write the clients' log to this file")
    parser.add_argument("--json", action="store_true", help="print a SOAK {json} line")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.clients < 1 or options.duration < 0:
        parser.error("--clients must be >= 1 and --duration >= 0")
    if options.rate < 0 or options.window < 1:
        parser.error("--rate must be >= 0 and --window >= 1")
    if options.seed is None:
        options.seed = random.randrange(2**32)
    if options.serve:
        serve(options.seed, os.environ["SOAK_SECRET"], options.clients)
        return 0
    status: list[int] = []

    async def run(reactor: Any) -> None:
        try:
            status.append(await soak(reactor, options))
        except BaseException:
            import traceback

            traceback.print_exc()
            status.append(2)

    try:
        task.react(lambda reactor: defer.ensureDeferred(run(reactor)))
    except SystemExit as e:
        if e.code:
            return int(e.code)
    return status[0] if status else 1


if __name__ == "__main__":
    raise SystemExit(main())
