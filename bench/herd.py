"""
Benchmark 5: a thundering herd, simulated with a
:class:`~twisted.internet.task.Clock` driving the real client classes.

``clients`` connected clients lose their connections at ``t = 0``; the
server accepts at most ``rate`` connections per simulated second (a token
bucket refilled at every whole second; attempts beyond it are refused at
once). Connection attempts complete instantly. We report the time until
99 % and 100 % have reconnected (business-connected), the total attempts
after the drop, and the peak attempts in one simulated second.

The clock is :class:`HeapClock`, a ``Clock`` subclass with a heap of
calls: the stock ``Clock`` re-sorts its whole list on every ``callLater``
and every fired call (O(n log n) each; with 10,000 clients that is hours).
Run order, ties included, is the same as ``Clock``'s. Time advances in
``STEP`` (0.05 s) steps, skipping straight over idle stretches.

A run is deterministic for a seed (every RNG is seeded), so :func:`run`
repeats it over several seeds and reports medians: one seed can be
unlucky (the network-up scenario's t99 moved from 27.5 s to 33.6 s between
seeds at 2,000 clients).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.base import DelayedCall
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import (
    IConnector,
    IDelayedCall,
    IProtocolFactory,
    IStreamClientEndpoint,
    ITransport,
)
from twisted.internet.protocol import Factory, Protocol, ReconnectingClientFactory
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from zope.interface import implementer

STEP = 0.05
ADDRESS = IPv4Address("TCP", "127.0.0.1", 4321)
#: Clients are connected at t=-SETTLE, so that reconnect_twisted's
#: ``minUptime`` (5 s) has passed and every schedule is fresh at the drop.
SETTLE = 10.0


class HeapClock(Clock):
    """A :class:`Clock` whose pending calls live in a heap."""

    def __init__(self) -> None:
        super().__init__()
        self._heap: list[tuple[float, int, DelayedCall]] = []
        self._sequence = itertools.count()

    def _push(self, call: DelayedCall) -> None:
        heapq.heappush(self._heap, (call.getTime(), next(self._sequence), call))

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> IDelayedCall:
        call = DelayedCall(
            self.seconds() + delay, callable, args, kw,
            lambda c: None,  # cancelled entries are skipped when popped
            self._push,  # reset()/delay(): push again; the stale entry is skipped
            seconds=self.seconds,
        )
        self._push(call)
        return call

    def getDelayedCalls(self) -> list[IDelayedCall]:
        return [c for _, _, c in self._heap if c.active()]

    def nextTime(self) -> float | None:
        """When the earliest live call is due (``None``: nothing pending)."""
        heap = self._heap
        while heap:
            when, _, call = heap[0]
            if call.cancelled or call.called or call.getTime() != when:
                heapq.heappop(heap)
                continue
            return when
        return None

    def advance(self, amount: float) -> None:
        self.rightNow += amount
        heap = self._heap
        while heap and heap[0][0] <= self.rightNow:
            when, _, call = heapq.heappop(heap)
            if call.cancelled or call.called or call.getTime() != when:
                continue
            call.called = 1
            call.func(*call.args, **call.kw)


class Server:
    """The rate-limited server, and the bookkeeping of the run."""

    def __init__(self, clock: Clock, rate: int) -> None:
        self.clock = clock
        self.rate = rate
        self.limited = False
        self.window = -1
        self.accepted = 0
        self.t0 = 0.0
        self.attempts = 0
        self.perSecond: dict[int, int] = {}
        self.connectedAt: list[float] = []

    def admit(self) -> bool:
        """One attempt now: accepted?"""
        if not self.limited:
            return True
        now = self.clock.seconds() - self.t0
        self.attempts += 1
        second = math.floor(now + 1e-9)
        self.perSecond[second] = self.perSecond.get(second, 0) + 1
        if second != self.window:
            self.window, self.accepted = second, 0
        if self.accepted >= self.rate:
            return False
        self.accepted += 1
        return True

    def connected(self) -> None:
        """A client is business-connected again."""
        if self.limited:
            self.connectedAt.append(self.clock.seconds() - self.t0)


@implementer(ITransport)
class SimTransport:
    """The least a protocol needs from a transport."""

    disconnecting = False

    def __init__(self, onClose: Callable[[], None]) -> None:
        self._onClose = onClose

    def write(self, data: bytes) -> None:
        pass

    def writeSequence(self, data: Iterable[bytes]) -> None:
        pass

    def loseConnection(self) -> None:
        self._onClose()

    abortConnection = loseConnection

    def getPeer(self) -> Any:
        return None

    def getHost(self) -> Any:
        return None


@implementer(IConnector)
class SimConnector:
    """An ``IConnector`` onto the simulated server; attempts finish at once."""

    def __init__(self, factory: Any, server: Server) -> None:
        self.factory = factory
        self.server = server
        self.protocol: Any = None
        self.state = "disconnected"

    def connect(self) -> None:
        self.state = "connecting"
        self.factory.startedConnecting(self)
        if self.state != "connecting":
            return
        if not self.server.admit():
            self.state = "disconnected"
            self.factory.clientConnectionFailed(
                self, Failure(error.ConnectionRefusedError())
            )
            return
        self.state = "connected"
        protocol = self.factory.buildProtocol(ADDRESS)
        self.protocol = protocol
        protocol.makeConnection(SimTransport(self.drop))

    def drop(self) -> None:
        if self.state != "connected":
            return
        self.state = "disconnected"
        protocol, self.protocol = self.protocol, None
        reason = Failure(error.ConnectionLost("dropped by the server"))
        protocol.connectionLost(reason)
        self.factory.clientConnectionLost(self, reason)

    def stopConnecting(self) -> None:
        if self.state != "connecting":
            raise error.NotConnectingError()
        self.state = "disconnected"
        self.factory.clientConnectionFailed(self, Failure(error.UserError()))

    def disconnect(self) -> None:
        self.drop()

    def getDestination(self) -> Any:
        return None


@implementer(IStreamClientEndpoint)
class SimEndpoint:
    """An ``IStreamClientEndpoint`` onto the simulated server."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.protocol: Any = None

    def connect(self, factory: IProtocolFactory) -> Deferred[Any]:
        if not self.server.admit():
            return fail(error.ConnectionRefusedError())
        protocol = factory.buildProtocol(ADDRESS)
        assert protocol is not None
        self.protocol = protocol
        protocol.makeConnection(SimTransport(self.drop))
        return succeed(protocol)

    def drop(self) -> None:
        protocol, self.protocol = self.protocol, None
        if protocol is not None:
            protocol.connectionLost(Failure(error.ConnectionLost("dropped")))


class ResettingProtocol(Protocol):
    """RCF's documented pattern: ``resetDelay()`` once connected."""

    def connectionMade(self) -> None:
        self.factory.resetDelay()
        self.factory.server.connected()


class PlainProtocol(Protocol):
    def connectionMade(self) -> None:
        self.factory.server.connected()


def _connectedObserver(server: Server) -> Callable[[Any], None]:
    """A status observer reporting each *entry* into CONNECTED."""
    last = ["idle"]

    def observe(status: Any) -> None:
        state = status.state.value
        if state == "connected" and last[0] != "connected":
            server.connected()
        last[0] = state

    return observe


@dataclass
class Scenario:
    """One herd contestant."""

    name: str
    kind: str  # rcf, cs, ours
    backoff: str = ""  # ours: fixed3, exp, decorr
    networkUp: bool = False
    preset: bool = False  # the default client preset: carries the targets


SCENARIOS = [
    Scenario("RCF defaults", "rcf"),
    Scenario("ClientService defaults", "cs"),
    Scenario("ours FixedBackoff(3)", "ours", "fixed3"),
    Scenario("ours ExponentialBackoff()", "ours", "exp", preset=True),
    Scenario("ours DecorrelatedBackoff(1,60)", "ours", "decorr"),
    Scenario("ours FixedBackoff(3) + network up", "ours", "fixed3", networkUp=True),
    Scenario("ours ExponentialBackoff() + network up", "ours", "exp", networkUp=True),
    Scenario("ours DecorrelatedBackoff(1,60) + network up", "ours", "decorr",
             networkUp=True),
]


@dataclass
class Result:
    name: str
    t99: float | None
    t100: float | None
    attempts: int
    peakPerSecond: int
    reconnected: int
    clients: int
    wallSeconds: float
    curve: list[tuple[float, float]] = field(default_factory=list)


def simulate(scenario: Scenario, clients: int, rate: int, seed: int,
             horizon: float) -> Result:
    """Run one scenario; see the module docstring."""
    from twisted.application.internet import ClientService, backoffPolicy

    from reconnect_twisted import (
        DecorrelatedBackoff,
        ExponentialBackoff,
        FixedBackoff,
        ManualNetworkMonitor,
        ReconnectingFactory,
    )

    wallStart = time.perf_counter()
    clock = HeapClock()
    server = Server(clock, rate)
    random.seed(seed)  # RCF draws its jitter from the random module
    rng = random.Random(seed)
    monitor = ManualNetworkMonitor(isUp=True) if scenario.networkUp else None
    drops: list[Callable[[], None]] = []

    for _ in range(clients):
        if scenario.kind == "rcf":
            rcf = ReconnectingClientFactory()
            rcf.protocol = ResettingProtocol
            rcf.clock = clock  # type: ignore[assignment]
            rcf.server = server  # type: ignore[attr-defined]
            rcf.noisy = False
            connector = SimConnector(rcf, server)
            connector.connect()
            drops.append(connector.drop)
        elif scenario.kind == "cs":
            endpoint = SimEndpoint(server)
            factory = Factory.forProtocol(PlainProtocol)
            factory.server = server  # type: ignore[attr-defined]
            service = ClientService(
                endpoint, factory, clock=clock,
                retryPolicy=backoffPolicy(jitter=rng.random),  # the defaults, seeded
            )
            service.startService()
            drops.append(endpoint.drop)
        else:
            backoff: Any
            if scenario.backoff == "fixed3":
                backoff = FixedBackoff(3.0, rng=rng)
            elif scenario.backoff == "exp":
                backoff = ExponentialBackoff(rng=rng)
            else:
                backoff = DecorrelatedBackoff(1.0, 60.0, rng=rng)
            ours = ReconnectingFactory(
                backoff=backoff, clock=clock, rng=rng, networkMonitor=monitor
            )
            ours.protocol = Protocol
            ours.addStatusObserver(_connectedObserver(server))
            connector = SimConnector(ours, server)
            connector.connect()
            drops.append(connector.drop)

    clock.advance(SETTLE)  # minUptime passes; schedules are fresh
    server.limited = True
    server.t0 = clock.seconds()
    if monitor is not None:
        monitor.setUp(False)
    for drop in drops:
        drop()
    if monitor is not None:
        monitor.setUp(True)

    curve: list[tuple[float, float]] = [(0.0, 0.0)]
    lastSample = 0.0
    while len(server.connectedAt) < clients:
        now = clock.seconds() - server.t0
        if now >= horizon:
            break
        due = clock.nextTime()
        if due is None:
            break
        target = now + STEP
        if due - server.t0 > target:  # skip idle stretches, on the step grid
            steps = math.floor((due - server.t0 - now) / STEP)
            target = now + max(1, steps) * STEP
        clock.advance(target - now)
        if target - lastSample >= 0.5:
            curve.append((target, len(server.connectedAt) / clients))
            lastSample = target
    curve.append((clock.seconds() - server.t0, len(server.connectedAt) / clients))

    times = sorted(server.connectedAt)

    def quantile(q: float) -> float | None:
        index = math.ceil(q * clients) - 1
        return times[index] if index < len(times) else None

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 6)

    return Result(
        name=scenario.name,
        t99=rounded(quantile(0.99)),
        t100=rounded(quantile(1.0)),
        attempts=server.attempts,
        peakPerSecond=max(server.perSecond.values(), default=0),
        reconnected=len(times),
        clients=clients,
        wallSeconds=time.perf_counter() - wallStart,
        curve=curve,
    )


def runOne(args: tuple[int, int, int, int, float]) -> dict[str, Any]:
    """Pool worker: ``(scenario index, clients, rate, seed, horizon)``."""
    from bench._common import silenceLogs

    silenceLogs()
    index, clients, rate, seed, horizon = args
    scenario = SCENARIOS[index]
    result = simulate(scenario, clients, rate, seed, horizon)
    out = dict(result.__dict__)
    out.update(kind=scenario.kind, preset=scenario.preset,
               networkUp=scenario.networkUp, backoff=scenario.backoff, seed=seed)
    return out


#: The per-scenario metrics aggregated over seeds (and compared with RCF's).
METRICS = ("t99", "t100", "attempts", "peakPerSecond")


def _median(values: list[float | None]) -> float | None:
    """The median, ``None`` ("never") counting as infinitely late."""
    import statistics

    value = statistics.median(math.inf if v is None else v for v in values)
    return None if math.isinf(value) else value


def run(clients: int, rate: int, seeds: int = 1, horizon: float = 3600.0,
        processes: int = 2) -> dict[str, Any]:
    """
    Every scenario with each of the seeds ``1 .. seeds`` (in ``processes``
    worker processes). Per scenario: the median over the seeds of each
    metric, ``perSeed`` (the raw values), ``vsRCF`` (the median of the
    same-seed ratios to RCF's metric) and the curve of seed 1.
    """
    import multiprocessing

    jobs = [(i, clients, rate, seed, horizon)
            for seed in range(1, seeds + 1) for i in range(len(SCENARIOS))]
    if processes > 1:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            flat = pool.map(runOne, jobs, chunksize=1)
    else:
        flat = [runOne(job) for job in jobs]
    bySeed: dict[int, dict[str, dict[str, Any]]] = {}
    for result in flat:
        bySeed.setdefault(result["seed"], {})[result["name"]] = result
    rcfName = SCENARIOS[0].name
    scenarios = []
    for scenario in SCENARIOS:
        runs = [bySeed[seed][scenario.name] for seed in sorted(bySeed)]
        out = dict(runs[0])
        out.pop("seed")
        out["wallSeconds"] = sum(r["wallSeconds"] for r in runs)
        out["reconnected"] = min(r["reconnected"] for r in runs)
        out["perSeed"] = {key: [r[key] for r in runs] for key in METRICS}
        vsRCF: dict[str, float | None] = {}
        for key in METRICS:
            value = _median([r[key] for r in runs])
            out[key] = value if key.startswith("t") or value is None else round(value)
            ratios = []
            for seed, r in zip(sorted(bySeed), runs, strict=True):
                ours, theirs = r[key], bySeed[seed][rcfName][key]
                ratios.append(None if ours is None or not theirs else ours / theirs)
            vsRCF[key] = _median(ratios)
        out["vsRCF"] = vsRCF
        scenarios.append(out)
    return {
        "clients": clients,
        "rate": rate,
        "ideal": clients / rate,
        "seeds": sorted(bySeed),
        "horizon": horizon,
        "step": STEP,
        "scenarios": scenarios,
    }
