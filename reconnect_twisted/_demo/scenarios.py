"""
The demo's scenarios, played in sequence on the real reactor against an
embedded loopback server.

All durations are written in "demo seconds" and divided by ``speed``; every
wait is bounded (a scenario that does not reach its expected state within
its limit FAILs, and the demo goes on with the next one).
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from .. import (
    ConnectionState,
    ConnectionStatus,
    FixedBackoff,
    HeartbeatTimeout,
)
from .client import DemoClientFactory, HeartbeatLineClientProtocol
from .server import SAME_ACCOUNT, LoginServer, LoginServerFactory
from .timeline import Outcome, Timeline

__all__ = ["SCENARIOS", "Demo", "Scenario", "expectedDuration"]

S = ConnectionState
USER = "alice"
#: The demo account's password. It is sent to the server and never shown:
#: the tests check that it appears nowhere in the demo's output.
PASSWORD = "correct-horse-battery-staple"
WRONG_PASSWORD = "hunter2-wrong"


@dataclass(frozen=True)
class Scenario:
    """
    One scenario of the demo.

    :ivar key: its letter (``--scenario A``).
    :ivar title: what it shows.
    :ivar expected: the outcome it must have.
    :ivar duration: about how long it takes, in demo seconds.
    :ivar method: the :class:`Demo` method that plays it.
    """

    key: str
    title: str
    expected: str
    duration: float
    method: str


SCENARIOS: dict[str, Scenario] = {
    s.key: s
    for s in [
        Scenario(
            "A",
            "client started before the server",
            "keeps trying, connects when the server comes up",
            4.5,
            "scenarioA",
        ),
        Scenario(
            "B",
            "server drops the connection",
            "reconnects and logs in again",
            3.5,
            "scenarioB",
        ),
        Scenario(
            "C",
            "server upgraded (restarted on the same port)",
            "keeps trying while it is down, reconnects when it is back",
            5.0,
            "scenarioC",
        ),
        Scenario(
            "D",
            "wrong password",
            "STOPPED at once with a clear reason, no retry",
            2.5,
            "scenarioD",
        ),
        Scenario(
            "E",
            "kicked: same account logged in elsewhere",
            "STOPPED, no further attempt",
            3.0,
            "scenarioE",
        ),
        Scenario(
            "F",
            "user presses 'reconnect now', then 'give up'",
            "attempts at once from WAITING; STOPPED with the connection closed",
            2.5,
            "scenarioF",
        ),
        Scenario(
            "G",
            "server hangs (stops answering, socket stays open)",
            "heartbeat detects it within interval + timeout, reconnects",
            5.5,
            "scenarioG",
        ),
    ]
}


def expectedDuration(keys: Sequence[str], speed: float) -> float:
    """About how long the scenarios ``keys`` take at ``speed``, in seconds."""
    return sum(SCENARIOS[key].duration for key in keys) / speed


def reservePort(interface: str = "127.0.0.1") -> int:
    """An ephemeral port nobody listens on (yet): for "server not up yet"."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((interface, 0))
        port: int = s.getsockname()[1]
        return port


class Demo:
    """
    Plays the scenarios on ``reactor``, writing to ``timeline``.

    :param reactor: the real reactor (``IReactorTCP`` and ``IReactorTime``).
    :param timeline: where events go.
    :param speed: time scale: 2.0 plays everything twice as fast.
    :param margin: real seconds added to every wait limit (slow machines).
    """

    def __init__(
        self, reactor: Any, timeline: Timeline, speed: float = 1.0, margin: float = 2.0
    ) -> None:
        self.reactor = reactor
        self.timeline = timeline
        self.speed = speed
        self.margin = margin
        self.scenario = ""
        self._clients: list[DemoClientFactory] = []
        self._servers: list[LoginServer] = []

    # -- time --------------------------------------------------------------

    def t(self, demoSeconds: float) -> float:
        """``demoSeconds`` scaled by the speed."""
        return demoSeconds / self.speed

    def limit(self, demoSeconds: float) -> float:
        """A wait limit: ``demoSeconds`` scaled, plus the margin."""
        return self.t(demoSeconds) + self.margin

    def sleep(self, demoSeconds: float) -> Deferred[None]:
        """Wait ``demoSeconds`` (scaled)."""
        return deferLater(self.reactor, self.t(demoSeconds))

    def within(self, d: Deferred[Any], seconds: float) -> Deferred[bool]:
        """``True`` when ``d`` succeeds within ``seconds``, ``False`` otherwise."""
        result: Deferred[bool] = Deferred()
        timer = self.reactor.callLater(seconds, lambda: result.callback(False))

        def done(outcome: object) -> None:
            if not result.called:
                timer.cancel()
                result.callback(not isinstance(outcome, Failure))

        d.addBoth(done)
        return result

    def waitFor(
        self,
        factory: DemoClientFactory,
        predicate: Callable[[ConnectionStatus], bool],
        demoSeconds: float,
    ) -> Deferred[bool]:
        """
        ``True`` once ``factory.status`` satisfies ``predicate`` (at once if
        it does now), ``False`` after ``limit(demoSeconds)``.
        """
        result: Deferred[bool] = Deferred()
        if predicate(factory.status):
            result.callback(True)
            return result

        def finish(ok: bool) -> None:
            if not result.called:
                unsubscribe()
                if timer.active():
                    timer.cancel()
                result.callback(ok)

        def observe(status: ConnectionStatus) -> None:
            if predicate(status):
                finish(True)

        unsubscribe = factory.addStatusObserver(observe)
        timer = self.reactor.callLater(self.limit(demoSeconds), finish, False)
        return result

    def waitState(
        self, factory: DemoClientFactory, state: ConnectionState, demoSeconds: float
    ) -> Deferred[bool]:
        """``waitFor`` the factory to be in ``state``."""
        return self.waitFor(factory, lambda s: s.state is state, demoSeconds)

    # -- actors --------------------------------------------------------------

    def server(
        self, port: int = 0, accounts: dict[str, str] | None = None
    ) -> LoginServer:
        """A login server (not started) that the scenario's cleanup stops."""
        server = LoginServer(
            self.reactor,
            LoginServerFactory({USER: PASSWORD} if accounts is None else accounts),
            port,
        )
        self._servers.append(server)
        return server

    def startServer(self, server: LoginServer, what: str = "server starts") -> None:
        """Start ``server`` and say so."""
        port = server.start()
        self.timeline.action(self.scenario, f"{what} on 127.0.0.1:{port}")

    def client(
        self,
        port: int,
        name: str = "client",
        password: str = PASSWORD,
        interval: float = 2.0,
        protocol: type[Any] | None = None,
    ) -> DemoClientFactory:
        """
        A client of ``127.0.0.1:port`` logging in as ``alice``, retrying every
        ``interval`` demo seconds; connected now, given up by the cleanup.
        """
        factory = DemoClientFactory(
            USER,
            password,
            backoff=FixedBackoff(self.t(interval)),
            clock=self.reactor,
            connectTimeout=self.limit(3.0),
            handshakeTimeout=self.limit(3.0),
            minUptime=self.t(0.5),
            alertAfter=None,
        )
        if protocol is not None:
            factory.protocol = protocol
        scenario = self.scenario
        factory.addStatusObserver(
            lambda status: self.timeline.status(scenario, name, status)
        )
        self._clients.append(factory)
        self.timeline.action(scenario, f"{name} starts (connectTCP 127.0.0.1:{port})")
        self.reactor.connectTCP("127.0.0.1", port, factory, timeout=self.limit(3.0))
        return factory

    async def cleanup(self) -> None:
        """Give up every client, stop every server (each wait bounded)."""
        clients, self._clients = self._clients, []
        servers, self._servers = self._servers, []
        for factory in clients:
            # An already stopped client keeps its reason (giveUp() with the
            # same reason only waits for its transport to close).
            reason = factory.status.stopReason or "demo: scenario over"
            await self.within(factory.giveUp(reason), self.limit(1.0))
        for server in servers:
            await self.within(server.stop(), self.limit(1.0))

    # -- running -------------------------------------------------------------

    async def run(self, keys: Sequence[str]) -> list[Outcome]:
        """Play the scenarios ``keys`` in order; return their outcomes."""
        outcomes = []
        for key in keys:
            scenario = SCENARIOS[key]
            self.scenario = key
            self.timeline.scenarioStart(key, scenario.title, scenario.expected)
            play: Callable[[], Awaitable[tuple[bool, str]]] = getattr(
                self, scenario.method
            )
            try:
                ok, observed = await play()
            except Exception as e:
                ok, observed = False, f"crashed: {type(e).__name__}: {e}"
            finally:
                await self.cleanup()
            outcome = Outcome(key, scenario.title, scenario.expected, observed, ok)
            self.timeline.scenarioEnd(outcome)
            outcomes.append(outcome)
        self.timeline.summary(outcomes)
        return outcomes

    # -- the scenarios ---------------------------------------------------------

    async def scenarioA(self) -> tuple[bool, str]:
        """The client starts first, the server 3 demo seconds later."""
        port = reservePort()
        server = self.server(port)
        client = self.client(port)
        refused = await self.waitFor(client, lambda s: s.attempt >= 1, 3.0)
        await self.sleep(3.0)
        failed = client.status.attempt
        self.startServer(server)
        connected = await self.waitState(client, S.CONNECTED, 3.0)
        if not connected:
            return False, f"not connected ({client.status.state.name})"
        ok = refused and failed >= 1 and server.factory.logins == 1
        return ok, f"CONNECTED after {failed} failed attempts, logged in"

    async def scenarioB(self) -> tuple[bool, str]:
        """The server drops a logged-in client."""
        server = self.server()
        self.startServer(server)
        client = self.client(server.port)
        if not await self.waitState(client, S.CONNECTED, 1.0):
            return False, f"never connected ({client.status.state.name})"
        await self.sleep(1.0)
        self.timeline.action(self.scenario, "server drops the connection")
        server.dropAll(abort=True)
        lost = await self.waitState(client, S.WAITING, 1.0)
        back = await self.waitState(client, S.CONNECTED, 3.0)
        logins = server.factory.logins
        if not (lost and back):
            return False, f"lost={lost}, back={back} ({client.status.state.name})"
        return logins == 2, f"WAITING, then CONNECTED again ({logins} logins)"

    async def scenarioC(self) -> tuple[bool, str]:
        """The server stops listening and comes back on the same port."""
        server = self.server()
        self.startServer(server)
        client = self.client(server.port)
        if not await self.waitState(client, S.CONNECTED, 1.0):
            return False, f"never connected ({client.status.state.name})"
        self.timeline.action(self.scenario, "server stops for an upgrade")
        await self.within(server.stop(), self.limit(1.0))
        await self.waitState(client, S.WAITING, 1.0)
        await self.sleep(3.0)
        failedWhileDown = client.status.attempt
        self.startServer(server, "upgraded server starts")
        back = await self.waitState(client, S.CONNECTED, 3.0)
        if not back:
            return False, f"not reconnected ({client.status.state.name})"
        ok = failedWhileDown >= 2 and server.factory.logins == 2
        return ok, (
            f"{failedWhileDown} failed attempts while down, CONNECTED again "
            f"({server.factory.logins} logins)"
        )

    async def scenarioD(self) -> tuple[bool, str]:
        """A wrong password is a permanent rejection."""
        server = self.server()
        self.startServer(server)
        client = self.client(server.port, password=WRONG_PASSWORD)
        stopped = await self.waitState(client, S.STOPPED, 2.0)
        reason = client.status.stopReason or ""
        await self.sleep(2.5)  # longer than the retry interval: no new attempt
        attempts = server.factory.accepted
        ok = (
            stopped
            and client.status.state is S.STOPPED
            and "bad password" in reason
            and attempts == 1
        )
        state = reason or client.status.state.name
        return ok, f"STOPPED: {state}; {attempts} attempt(s)"

    async def scenarioE(self) -> tuple[bool, str]:
        """A second login of the same account kicks the first session."""
        server = self.server()
        self.startServer(server)
        laptop = self.client(server.port, name="laptop")
        if not await self.waitState(laptop, S.CONNECTED, 1.0):
            return False, f"laptop never connected ({laptop.status.state.name})"
        await self.sleep(0.5)
        phone = self.client(server.port, name="phone")
        phoneUp = await self.waitState(phone, S.CONNECTED, 1.0)
        stopped = await self.waitState(laptop, S.STOPPED, 1.0)
        reason = laptop.status.stopReason or ""
        accepted = server.factory.accepted
        await self.sleep(2.5)  # longer than the retry interval: no new attempt
        again = server.factory.accepted - accepted
        ok = (
            phoneUp
            and stopped
            and laptop.status.state is S.STOPPED
            and SAME_ACCOUNT in reason
            and again == 0
        )
        return ok, f"laptop STOPPED: {reason or '-'}; {again} further attempts"

    async def scenarioF(self) -> tuple[bool, str]:
        """'Reconnect now' from WAITING, then 'give up' while connected."""
        port = reservePort()
        server = self.server(port)
        client = self.client(port, interval=30.0)
        if not await self.waitState(client, S.WAITING, 1.0):
            return False, f"not WAITING ({client.status.state.name})"
        self.startServer(server)
        await self.sleep(1.0)
        scheduled = client.status.nextAttemptAt
        self.timeline.action(self.scenario, "user presses 'reconnect now'")
        client.reconnectNow()
        atOnce = client.status.state in (S.CONNECTING, S.HANDSHAKING, S.CONNECTED)
        connected = await self.waitState(client, S.CONNECTED, 1.0)
        early = scheduled is not None and self.reactor.seconds() < scheduled
        if not (atOnce and connected):
            return False, f"reconnect now: {client.status.state.name}"
        await self.sleep(1.0)
        self.timeline.action(self.scenario, "user presses 'give up'")
        closed = await self.within(client.giveUp("user gave up"), self.limit(1.0))
        drained = await self._serverDrained(server, 1.0)
        ok = (
            early
            and client.status.state is S.STOPPED
            and client.status.stopReason == "user gave up"
            and closed
            and drained
        )
        return ok, (
            "attempted at once, CONNECTED before the scheduled retry; "
            f"STOPPED ({client.status.stopReason}), "
            f"connection {'closed' if closed and drained else 'still open'}"
        )

    async def scenarioG(self) -> tuple[bool, str]:
        """The server hangs; the client's heartbeat notices and reconnects."""
        interval, timeout = self.t(1.0), self.t(1.0)

        class Heartbeat(HeartbeatLineClientProtocol):
            heartbeatInterval = interval
            heartbeatTimeout = timeout

        server = self.server()
        self.startServer(server)
        client = self.client(server.port, protocol=Heartbeat)
        if not await self.waitState(client, S.CONNECTED, 1.0):
            return False, f"never connected ({client.status.state.name})"
        await self.sleep(0.5)
        self.timeline.action(
            self.scenario, "server hangs (stops reading and answering)"
        )
        hungAt = self.reactor.seconds()
        server.hangAll()
        lost = await self.waitState(client, S.WAITING, 3.0)
        detectedAfter = self.reactor.seconds() - hungAt
        failure = client.status.lastFailure
        byHeartbeat = failure is not None and failure.check(HeartbeatTimeout)
        back = await self.waitState(client, S.CONNECTED, 3.0)
        if not (lost and byHeartbeat and back):
            return False, (
                f"lost={lost}, heartbeat={bool(byHeartbeat)}, back={back} "
                f"({client.status.state.name})"
            )
        # Slack for the reactor's timer granularity on a busy machine.
        ok = detectedAfter <= interval + timeout + 0.25 and server.factory.logins == 2
        return ok, (
            f"hang detected after {detectedAfter * self.speed:.2f} demo s "
            f"(interval + timeout = 2), CONNECTED again"
        )

    async def _serverDrained(self, server: LoginServer, demoSeconds: float) -> bool:
        """``True`` once the server has no connection left."""
        deadline = self.reactor.seconds() + self.limit(demoSeconds)
        while server.factory.sessions:
            if self.reactor.seconds() > deadline:
                return False
            await deferLater(self.reactor, 0.01)
        return True


def playDemo(demo: Demo, keys: Sequence[str]) -> Deferred[list[Outcome]]:
    """Run ``demo.run(keys)`` as a Deferred."""
    return ensureDeferred(demo.run(keys))
