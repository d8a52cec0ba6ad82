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
from twisted.internet.task import LoopingCall, deferLater
from twisted.python.failure import Failure

from .. import (
    ConnectionState,
    ConnectionStatus,
    FixedBackoff,
    HeartbeatTimeout,
    ReconnectingFactory,
)
from .chain import ChainClientFactory, ChainService, Front
from .client import DemoClientFactory, HeartbeatLineClientProtocol
from .network import openNetwork
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
        Scenario(
            "H",
            "network change while WAITING, the next attempt 30 s away",
            "reconnects within a second of the network coming back",
            3.0,
            "scenarioH",
        ),
        Scenario(
            "I",
            "dependency chain A->B->C->D started in the wrong order, C restarted",
            "every link recovers by itself; messages end to end before and after",
            5.5,
            "scenarioI",
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
    :param statusPage: a :class:`~reconnect_twisted.web.StatusResource`
        that shows every client of the scenario being played, or ``None``.
    :param manualNetwork: scenario H uses the manual monitor even where a
        private network namespace could be made.
    """

    def __init__(
        self,
        reactor: Any,
        timeline: Timeline,
        speed: float = 1.0,
        margin: float = 2.0,
        statusPage: Any = None,
        manualNetwork: bool = False,
    ) -> None:
        self.reactor = reactor
        self.timeline = timeline
        self.speed = speed
        self.margin = margin
        self.statusPage = statusPage
        self.manualNetwork = manualNetwork
        self.scenario = ""
        self._clients: list[ReconnectingFactory] = []
        self._servers: list[LoginServer | ChainService] = []
        self._cleanups: list[Callable[[], Deferred[Any]]] = []
        self._unregister: list[Callable[[], None]] = []
        #: Scenario I: the chain's links by name, and the states each went to.
        self.links: dict[str, ChainClientFactory] = {}
        self.linkStates: dict[str, list[ConnectionState]] = {}

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
        factory: ReconnectingFactory,
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
        self, factory: ReconnectingFactory, state: ConnectionState, demoSeconds: float
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
        **kwargs: Any,
    ) -> DemoClientFactory:
        """
        A client of ``127.0.0.1:port`` logging in as ``alice``, retrying every
        ``interval`` demo seconds (``kwargs`` go to the factory: another
        ``backoff``, a ``networkMonitor``...); connected now, given up by the
        cleanup.
        """
        settings: dict[str, Any] = dict(
            backoff=FixedBackoff(self.t(interval)),
            clock=self.reactor,
            connectTimeout=self.limit(3.0),
            handshakeTimeout=self.limit(3.0),
            minUptime=self.t(0.5),
            alertAfter=None,
        )
        settings.update(kwargs)
        factory = DemoClientFactory(USER, password, **settings)
        if protocol is not None:
            factory.protocol = protocol
        self.connect(factory, name, port)
        return factory

    def connect(self, factory: ReconnectingFactory, name: str, port: int) -> None:
        """
        Show ``factory``'s states on the timeline (as ``name``) and on the
        status page, and ``connectTCP`` it to ``127.0.0.1:port``; the
        cleanup gives it up.
        """
        scenario = self.scenario
        factory.addStatusObserver(
            lambda status: self.timeline.status(scenario, name, status)
        )
        if self.statusPage is not None:
            self._unregister.append(
                self.statusPage.register(factory, f"{scenario}: {name}")
            )
        self._clients.append(factory)
        self.timeline.action(scenario, f"{name} starts (connectTCP 127.0.0.1:{port})")
        self.reactor.connectTCP("127.0.0.1", port, factory, timeout=self.limit(3.0))

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
        cleanups, self._cleanups = self._cleanups, []
        for cleanup in cleanups:
            await self.within(cleanup(), self.limit(1.0))
        unregister, self._unregister = self._unregister, []
        for remove in unregister:
            remove()

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

    async def scenarioH(self) -> tuple[bool, str]:
        """
        WAITING with the next attempt 30 s away (real seconds, whatever the
        speed), the network goes down and comes back: the client reconnects
        at once instead of waiting out the delay.
        """
        network = await openNetwork(
            self.reactor,
            lambda text: self.timeline.action(self.scenario, text),
            manual=self.manualNetwork,
        )
        self._cleanups.append(network.close)
        self.timeline.action(self.scenario, f"network: {network.description}")
        port = reservePort()
        server = self.server(port)
        client = self.client(
            port,
            backoff=FixedBackoff(30.0),
            networkMonitor=network.monitor,
            networkUpJitter=min(0.25, self.t(0.25)),
        )
        waiting = await self.waitFor(
            client, lambda s: s.state is S.WAITING and s.nextAttemptAt is not None, 1.0
        )
        scheduled = client.status.nextAttemptAt
        if not waiting or scheduled is None:
            return False, f"not WAITING ({client.status.state.name})"
        await self.sleep(0.5)
        self.timeline.action(self.scenario, "network goes down (Wi-Fi lost)")
        await network.down()
        offline = await self.waitState(client, S.OFFLINE, 1.0)
        self.startServer(server, "server starts (reachable once the network is back)")
        await self.sleep(1.0)
        self.timeline.action(self.scenario, "network comes back")
        upAt = self.reactor.seconds()
        await network.up()
        connected = await self.waitState(client, S.CONNECTED, 1.0)
        took = self.reactor.seconds() - upAt
        early = scheduled - upAt
        if not (offline and connected):
            return False, (
                f"{network.description}: offline={offline}, connected={connected} "
                f"({client.status.state.name})"
            )
        ok = took <= 1.0 and self.reactor.seconds() < scheduled
        ok = ok and server.factory.accepted == 1
        return ok, (
            f"{network.description}: OFFLINE, then CONNECTED {took:.2f} s after "
            f"the network came back, {early:.0f} s before the scheduled attempt"
        )

    def chainLink(
        self, owner: str, target: str, port: int, onUpstream: Callable[[str], object]
    ) -> ChainClientFactory:
        """Service ``owner``'s reconnecting client of ``target`` (on ``port``)."""
        factory = ChainClientFactory(
            owner,
            onUpstream,
            interval=self.t(0.5),
            clock=self.reactor,
            connectTimeout=self.limit(3.0),
            handshakeTimeout=self.limit(3.0),
            minUptime=self.t(0.5),
            alertAfter=None,
        )
        link = f"{owner}->{target}"
        states = self.linkStates.setdefault(link, [])

        def changed(status: ConnectionStatus) -> None:
            if not states or states[-1] is not status.state:
                states.append(status.state)

        factory.addStatusObserver(changed)
        self.links[link] = factory
        self.connect(factory, link, port)
        return factory

    def chainLine(self) -> None:
        """Say every link's state on the timeline."""
        parts = [f"{link} {f.status.state.name}" for link, f in self.links.items()]
        self.timeline.action(self.scenario, "chain: " + " | ".join(parts))

    async def scenarioI(self) -> tuple[bool, str]:
        """
        A -> B -> C -> D, each a server to the one before and a reconnecting
        client of the next; started A first, D last; then C restarted while
        A sends messages. Nobody else is restarted and no link is told to
        reconnect: each recovers by itself.
        """
        self.links.clear()
        self.linkStates.clear()
        ports = {name: reservePort() for name in "BCD"}
        front = Front()
        d = ChainService(self.reactor, "D", port=ports["D"])

        def upstreamOf(target: str) -> Callable[[ChainService], ChainClientFactory]:
            return lambda service: self.chainLink(
                service.name, target, ports[target], service.relayDown
            )

        c = ChainService(self.reactor, "C", upstreamOf("D"), ports["C"])
        b = ChainService(self.reactor, "B", upstreamOf("C"), ports["B"])
        self._servers += [b, c, d]
        front.client = self.chainLink("A", "B", ports["B"], front.received)
        for service in (b, c, d):
            await self.sleep(0.5)
            self.timeline.action(
                self.scenario,
                f"service {service.name} starts on 127.0.0.1:{service.port}",
            )
            service.start()
        up = await self._chainUp(b, c, front)
        self.chainLine()
        if not up:
            return False, "the chain never came up after the wrong-order start"
        before = await self._roundTrip(front)

        traffic = LoopingCall(front.send)
        traffic.clock = self.reactor
        sentBefore = front.sent
        traffic.start(self.t(0.25), now=False)
        try:
            await self.sleep(0.75)
            self.timeline.action(self.scenario, "service C stops for an upgrade")
            mark = len(self.linkStates["B->C"])
            await self.within(c.stop(), self.limit(1.0))
            self.chainLine()
            await self.sleep(1.0)
            self.timeline.action(self.scenario, "upgraded service C starts, same port")
            c.start()
            back = await self._chainUp(b, c, front)
            await self.sleep(0.25)
        finally:
            traffic.stop()
        self.chainLine()
        during = [str(n) for n in range(sentBefore + 1, front.sent + 1)]
        after = await self._roundTrip(front)
        acked = sum(front.replies.get(n, "").startswith("ACK ") for n in during)
        refused = sum(front.replies.get(n, "").startswith("NACK ") for n in during)
        lost = len(during) - acked - refused
        ab = self.linkStates["A->B"]
        bc = self.linkStates["B->C"][mark:]
        ok = (
            back
            and before
            and after
            and ab.count(S.CONNECTED) == 1
            and S.WAITING in bc
            and bc[-1] is S.CONNECTED
            and (b.starts, c.starts, d.starts) == (1, 2, 1)
        )
        return ok, (
            "chain up after the wrong-order start; C restarted: B->C and the new "
            "C->D came back by themselves, A->B stayed CONNECTED; messages "
            f"delivered before and after (of {len(during)} sent during the "
            f"upgrade: {acked} answered, {refused} refused by B, {lost} lost with C)"
            if ok
            else (
                f"message before: {before}, after: {after}, chain back: {back}; "
                f"A->B went {_names(ab)}; B->C after the restart {_names(bc)}"
            )
        )

    async def _chainUp(self, b: ChainService, c: ChainService, front: Front) -> bool:
        """``True`` once every link is CONNECTED (D's side first)."""
        for service in (c, b):
            upstream = service.upstream
            if upstream is None or not await self.waitState(upstream, S.CONNECTED, 3.0):
                return False
        assert front.client is not None
        return await self.waitState(front.client, S.CONNECTED, 3.0)

    async def _roundTrip(self, front: Front) -> bool:
        """Send one message from A; ``True`` if D's ACK comes back through B, C."""
        sent = front.send()
        if sent is None:
            return False
        ident, reply = sent
        self.timeline.action(self.scenario, f"A sends message {ident}")
        if not await self.within(reply, self.limit(1.0)):
            return False
        line = front.replies[ident]
        self.timeline.action(self.scenario, f"A receives: {line}")
        return line == f"ACK {ident} A>B>C>D"

    async def _serverDrained(self, server: LoginServer, demoSeconds: float) -> bool:
        """``True`` once the server has no connection left."""
        deadline = self.reactor.seconds() + self.limit(demoSeconds)
        while server.factory.sessions:
            if self.reactor.seconds() > deadline:
                return False
            await deferLater(self.reactor, 0.01)
        return True


def _names(states: Sequence[ConnectionState]) -> str:
    return " ".join(state.name for state in states) or "nowhere"


def playDemo(demo: Demo, keys: Sequence[str]) -> Deferred[list[Outcome]]:
    """Run ``demo.run(keys)`` as a Deferred."""
    return ensureDeferred(demo.run(keys))
