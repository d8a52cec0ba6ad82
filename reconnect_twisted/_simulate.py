"""
The fleet simulator behind ``python -m reconnect_twisted simulate`` and the
herd benchmark (``bench/herd.py``): one simulator, not two.

``clients`` connected clients lose their connections at ``t = 0``; the
server accepts at most ``rate`` connections per simulated second (a token
bucket refilled at every whole second; attempts beyond it are refused at
once). Connection attempts complete instantly. With ``networkUpAt``, the
network is down from the drop until then: attempts fail at once without
reaching the server, and clients with a network monitor wait OFFLINE and
are told when it comes back.

The clients are the real classes (:class:`~reconnect_twisted.ReconnectingFactory`,
or Twisted's ``ReconnectingClientFactory`` and ``ClientService`` for
comparison) driven by a :class:`HeapClock`: whatever they do, the simulator
measures; it has no model of its own of how they back off.

The clock is a ``Clock`` subclass with a heap of calls: the stock ``Clock``
re-sorts its whole list on every ``callLater`` and every fired call (with
10,000 clients that is hours). Run order, ties included, is the same as
``Clock``'s. Time advances in :data:`STEP` (0.05 s) steps, skipping straight
over idle stretches, so times are quantised to 0.05 s.

A run is deterministic for a seed: every RNG is seeded (Twisted's
``ReconnectingClientFactory`` draws from the :mod:`random` module, whose
state is seeded for the run and restored after it).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import textwrap
import time
from collections.abc import Callable, Iterable, Sequence
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

from ._status import ConnectionStatus
from .backoff import IBackoff

__all__ = [
    "BACKOFFS",
    "PRESETS",
    "SETTLE",
    "STEP",
    "Configuration",
    "HeapClock",
    "PlotUnavailable",
    "Result",
    "SimConnector",
    "SimEndpoint",
    "SimServer",
    "SimTransport",
    "addArguments",
    "configurations",
    "formatResults",
    "plotResults",
    "resultsJSON",
    "runCommand",
    "simulate",
    "simulateAll",
]

#: Simulated seconds per step of the run loop.
STEP = 0.05
ADDRESS = IPv4Address("TCP", "127.0.0.1", 4321)
#: Clients are connected at ``t = -SETTLE``, so that reconnect_twisted's
#: ``minUptime`` (5 s) has passed and every schedule is fresh at the drop.
SETTLE = 10.0


class HeapClock(Clock):
    """A :class:`~twisted.internet.task.Clock` whose pending calls live in a heap."""

    def __init__(self) -> None:
        super().__init__()
        self._heap: list[tuple[float, int, DelayedCall]] = []
        self._sequence = itertools.count()

    def _push(self, call: DelayedCall) -> None:
        heapq.heappush(self._heap, (call.getTime(), next(self._sequence), call))

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> IDelayedCall:
        """Schedule ``callable(*args, **kw)`` in ``delay`` simulated seconds."""
        call = DelayedCall(
            self.seconds() + delay,
            callable,
            args,
            kw,
            lambda c: None,  # cancelled entries are skipped when popped
            self._push,  # reset()/delay(): push again; the stale entry is skipped
            seconds=self.seconds,
        )
        self._push(call)
        return call

    def getDelayedCalls(self) -> list[IDelayedCall]:
        """The calls still pending."""
        return [c for _, _, c in self._heap if c.active()]

    def nextTime(self) -> float | None:
        """When the earliest live call is due (``None``: nothing pending)."""
        heap = self._heap
        while heap:
            when, _, call = heap[0]
            if call.cancelled or call.called or call.getTime() != when:
                heapq.heappop(heap)
                self._postponed(call, when)
                continue
            return when
        return None

    def _postponed(self, call: DelayedCall, when: float) -> None:
        """
        A popped entry that is not due: if ``call`` was reset to a later
        time (``DelayedCall.reset()`` only records a delay then, for the
        reactor to apply when the old time comes), push it at its new time.
        """
        if not (call.cancelled or call.called) and call.getTime() > when:
            call.activate_delay()
            self._push(call)

    def advance(self, amount: float) -> None:
        """Move time on by ``amount``, running every call that falls due."""
        self.rightNow += amount
        heap = self._heap
        while heap and heap[0][0] <= self.rightNow:
            when, _, call = heapq.heappop(heap)
            if call.cancelled or call.called or call.getTime() != when:
                self._postponed(call, when)
                continue
            call.called = 1
            call.func(*call.args, **call.kw)


class SimServer:
    """
    The rate-limited server, the simulated network, and the bookkeeping of
    the run.

    :param clock: the simulation's clock.
    :param rate: connections accepted per simulated second.
    :param networkUpAt: seconds after the drop until which attempts cannot
        reach the server (``None``: the network never goes down).
    """

    def __init__(
        self, clock: Clock, rate: int, networkUpAt: float | None = None
    ) -> None:
        self.clock = clock
        self.rate = rate
        self.networkUpAt = networkUpAt
        #: Set at the drop: from then on attempts are counted and limited.
        self.limited = False
        self.window = -1
        self.accepted = 0
        self.t0 = 0.0
        #: Attempts after the drop (those that reached the server or not).
        self.attempts = 0
        #: Attempts after the drop that failed because the network was down.
        self.unreachable = 0
        #: Attempts that reached the server, per whole second after the drop.
        self.perSecond: dict[int, int] = {}
        #: When each reconnection (business-connected) happened.
        self.connectedAt: list[float] = []

    def admit(self) -> Exception | None:
        """One attempt now: ``None`` if accepted, else why it failed."""
        if not self.limited:
            return None
        now = self.clock.seconds() - self.t0
        self.attempts += 1
        if self.networkUpAt is not None and now < self.networkUpAt:
            self.unreachable += 1
            return error.NoRouteError()
        second = math.floor(now + 1e-9)
        self.perSecond[second] = self.perSecond.get(second, 0) + 1
        if second != self.window:
            self.window, self.accepted = second, 0
        if self.accepted >= self.rate:
            return error.ConnectionRefusedError()
        self.accepted += 1
        return None

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
        """Discard ``data``."""

    def writeSequence(self, data: Iterable[bytes]) -> None:
        """Discard ``data``."""

    def loseConnection(self) -> None:
        """Close at once."""
        self._onClose()

    abortConnection = loseConnection

    def getPeer(self) -> Any:
        """No address."""
        return None

    def getHost(self) -> Any:
        """No address."""
        return None


@implementer(IConnector)
class SimConnector:
    """An ``IConnector`` onto the simulated server; attempts finish at once."""

    def __init__(self, factory: Any, server: SimServer) -> None:
        self.factory = factory
        self.server = server
        self.protocol: Any = None
        self.state = "disconnected"

    def connect(self) -> None:
        """Attempt: refused, unreachable or connected, at once."""
        self.state = "connecting"
        self.factory.startedConnecting(self)
        if self.state != "connecting":
            return
        refused = self.server.admit()
        if refused is not None:
            self.state = "disconnected"
            self.factory.clientConnectionFailed(self, Failure(refused))
            return
        self.state = "connected"
        protocol = self.factory.buildProtocol(ADDRESS)
        self.protocol = protocol
        protocol.makeConnection(SimTransport(self.drop))

    def drop(self) -> None:
        """The connection is lost (the server dropped it)."""
        if self.state != "connected":
            return
        self.state = "disconnected"
        protocol, self.protocol = self.protocol, None
        reason = Failure(error.ConnectionLost("dropped by the server"))
        protocol.connectionLost(reason)
        self.factory.clientConnectionLost(self, reason)

    def stopConnecting(self) -> None:
        """Cancel the attempt in flight."""
        if self.state != "connecting":
            raise error.NotConnectingError()
        self.state = "disconnected"
        self.factory.clientConnectionFailed(self, Failure(error.UserError()))

    def disconnect(self) -> None:
        """Close the connection."""
        self.drop()

    def getDestination(self) -> Any:
        """No address."""
        return None


@implementer(IStreamClientEndpoint)
class SimEndpoint:
    """An ``IStreamClientEndpoint`` onto the simulated server."""

    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.protocol: Any = None

    def connect(self, factory: IProtocolFactory) -> Deferred[Any]:
        """Attempt: fails or connects at once."""
        refused = self.server.admit()
        if refused is not None:
            return fail(refused)
        protocol = factory.buildProtocol(ADDRESS)
        assert protocol is not None
        self.protocol = protocol
        protocol.makeConnection(SimTransport(self.drop))
        return succeed(protocol)

    def drop(self) -> None:
        """The connection is lost (the server dropped it)."""
        protocol, self.protocol = self.protocol, None
        if protocol is not None:
            protocol.connectionLost(Failure(error.ConnectionLost("dropped")))


class _ResettingProtocol(Protocol):
    """RCF's documented pattern: ``resetDelay()`` once connected."""

    def connectionMade(self) -> None:
        self.factory.resetDelay()
        self.factory.server.connected()


class _PlainProtocol(Protocol):
    def connectionMade(self) -> None:
        self.factory.server.connected()


def _connectedObserver(server: SimServer) -> Callable[[ConnectionStatus], None]:
    """A status observer reporting each *entry* into CONNECTED."""
    last = ["idle"]

    def observe(status: ConnectionStatus) -> None:
        state = status.state.value
        if state == "connected" and last[0] != "connected":
            server.connected()
        last[0] = state

    return observe


@dataclass(frozen=True)
class Configuration:
    """
    One kind of client in a simulation.

    :ivar name: how the output names it.
    :ivar kind: ``"ours"`` (:class:`~reconnect_twisted.ReconnectingFactory`),
        ``"rcf"`` (Twisted's ``ReconnectingClientFactory``, its defaults) or
        ``"cs"`` (Twisted's ``ClientService``, its defaults).
    :ivar backoff: ours: builds each client's schedule from the run's
        ``random.Random``.
    :ivar networkMonitor: ours: the clients have a network monitor (told
        when the network comes back).
    """

    name: str
    kind: str = "ours"
    backoff: Callable[[random.Random], IBackoff] | None = None
    networkMonitor: bool = False


@dataclass
class Result:
    """
    What one simulation measured; times are seconds after the drop,
    ``None`` when that fraction never reconnected within the horizon.
    """

    name: str
    clients: int
    rate: int
    networkUpAt: float | None
    t50: float | None
    t99: float | None
    t100: float | None
    #: Attempts after the drop.
    attempts: int
    #: Of which failed because the network was down.
    unreachable: int
    #: The most attempts that reached the server in one second.
    peakPerSecond: int
    reconnected: int
    wallSeconds: float
    #: ``(t, fraction reconnected)`` every 0.5 s.
    curve: list[tuple[float, float]] = field(default_factory=list)
    #: Attempts that reached the server in second 0, 1, 2, ...
    perSecond: list[int] = field(default_factory=list)

    @property
    def ideal(self) -> float:
        """The best possible time to reconnect everyone: clients / rate."""
        return self.clients / self.rate + (self.networkUpAt or 0.0)


def _client(
    configuration: Configuration,
    clock: HeapClock,
    server: SimServer,
    rng: random.Random,
    monitor: Any,
) -> Callable[[], None]:
    """Connect one client (not yet limited); return how to drop it."""
    if configuration.kind == "rcf":
        rcf = ReconnectingClientFactory()
        rcf.protocol = _ResettingProtocol
        rcf.clock = clock  # type: ignore[assignment]
        rcf.server = server  # type: ignore[attr-defined]
        rcf.noisy = False
        connector = SimConnector(rcf, server)
        connector.connect()
        return connector.drop
    if configuration.kind == "cs":
        from twisted.application.internet import ClientService, backoffPolicy

        endpoint = SimEndpoint(server)
        factory = Factory.forProtocol(_PlainProtocol)
        factory.server = server  # type: ignore[attr-defined]
        service = ClientService(
            endpoint,
            factory,
            clock=clock,
            retryPolicy=backoffPolicy(jitter=rng.random),  # the defaults, seeded
        )
        service.startService()
        return endpoint.drop
    if configuration.kind != "ours":
        raise ValueError(f"unknown client kind {configuration.kind!r}")
    from ._factory import ReconnectingFactory

    backoff = None if configuration.backoff is None else configuration.backoff(rng)
    ours = ReconnectingFactory(
        backoff=backoff, clock=clock, rng=rng, networkMonitor=monitor
    )
    ours.protocol = Protocol
    ours.addStatusObserver(_connectedObserver(server))
    connector = SimConnector(ours, server)
    connector.connect()
    return connector.drop


def simulate(
    configuration: Configuration,
    clients: int,
    rate: int,
    seed: int = 1,
    horizon: float = 3600.0,
    networkUpAt: float | None = None,
) -> Result:
    """
    Drop ``clients`` clients of ``configuration`` at once and run until all
    have reconnected or ``horizon`` simulated seconds have passed.

    :param networkUpAt: the network is down from the drop until this many
        seconds after it (``0``: down and up again at the drop, a network-up
        event for every client at once); ``None``: it stays up.
    """
    from .network import ManualNetworkMonitor

    wallStart = time.perf_counter()
    clock = HeapClock()
    server = SimServer(clock, rate, networkUpAt)
    savedRandom = random.getstate()
    random.seed(seed)  # RCF draws its jitter from the random module
    try:
        rng = random.Random(seed)
        monitor = (
            ManualNetworkMonitor(isUp=True)
            if configuration.networkMonitor and networkUpAt is not None
            else None
        )
        drops = [
            _client(configuration, clock, server, rng, monitor) for _ in range(clients)
        ]
        clock.advance(SETTLE)  # minUptime passes; schedules are fresh
        server.limited = True
        server.t0 = clock.seconds()
        if monitor is not None:
            monitor.setUp(False)
        for drop in drops:
            drop()
        if monitor is not None:
            assert networkUpAt is not None
            if networkUpAt <= 0:
                monitor.setUp(True)
            else:
                clock.callLater(networkUpAt, monitor.setUp, True)
        curve = _run(clock, server, clients, horizon)
    finally:
        random.setstate(savedRandom)

    times = sorted(server.connectedAt)

    def quantile(q: float) -> float | None:
        index = max(0, math.ceil(q * clients) - 1)
        return round(times[index], 6) if index < len(times) else None

    last = max(server.perSecond, default=-1)
    return Result(
        name=configuration.name,
        clients=clients,
        rate=rate,
        networkUpAt=networkUpAt,
        t50=quantile(0.5),
        t99=quantile(0.99),
        t100=quantile(1.0),
        attempts=server.attempts,
        unreachable=server.unreachable,
        peakPerSecond=max(server.perSecond.values(), default=0),
        reconnected=len(times),
        wallSeconds=time.perf_counter() - wallStart,
        curve=curve,
        perSecond=[server.perSecond.get(s, 0) for s in range(last + 1)],
    )


def _run(
    clock: HeapClock, server: SimServer, clients: int, horizon: float
) -> list[tuple[float, float]]:
    """Advance until everyone is back, nothing is pending, or the horizon."""
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
    return curve


def simulateAll(
    configurations: Sequence[Configuration],
    clients: int,
    rate: int,
    seed: int = 1,
    horizon: float = 3600.0,
    networkUpAt: float | None = None,
) -> list[Result]:
    """:func:`simulate` each configuration in turn, with the same seed."""
    return [
        simulate(c, clients, rate, seed, horizon, networkUpAt) for c in configurations
    ]


# -- the command line: python -m reconnect_twisted simulate --------------------

#: ``--backoff`` choices: ours, and Twisted's own classes for comparison.
BACKOFFS = ("exponential", "fixed", "decorrelated", "rcf", "clientservice")
#: ``--preset`` choices (the presets the docs recommend).
PRESETS = ("server", "client")
#: The most clients one run may simulate (memory: about 5 KB each).
MAX_CLIENTS = 1_000_000
#: The longest horizon one run may simulate, in seconds.
MAX_HORIZON = 7 * 86400.0

_FLAGS = {
    "initialDelay": "--initial-delay",
    "maxDelay": "--max-delay",
    "factor": "--factor",
    "jitter": "--jitter",
}


def _number(
    low: float | None = None,
    high: float | None = None,
    lowInclusive: bool = True,
    integer: bool = False,
) -> Callable[[str], Any]:
    """An argparse ``type``: a finite number in a range."""

    def parse(text: str) -> Any:
        try:
            value: float = int(text) if integer else float(text)
        except ValueError:
            kind = "an integer" if integer else "a number"
            raise _argumentError(f"not {kind}: {text!r}") from None
        if not math.isfinite(value):
            raise _argumentError(f"must be finite: {text!r}")
        if low is not None and (value < low or (value == low and not lowInclusive)):
            bound = f">= {low:g}" if lowInclusive else f"> {low:g}"
            raise _argumentError(f"must be {bound}: {text!r}")
        if high is not None and value > high:
            raise _argumentError(f"must be <= {high:g}: {text!r}")
        return value

    return parse


def _argumentError(message: str) -> Exception:
    import argparse

    return argparse.ArgumentTypeError(message)


def addArguments(parser: Any) -> None:
    """Add ``simulate``'s options to the argparse ``parser``."""
    parser.add_argument(
        "--clients",
        type=_number(1, MAX_CLIENTS, integer=True),
        default=10_000,
        metavar="N",
        help="clients that lose their connection at t=0 (default 10000)",
    )
    parser.add_argument(
        "--accept-rate",
        type=_number(1, integer=True),
        default=500,
        metavar="N",
        help="connections the server accepts per second (default 500)",
    )
    parser.add_argument(
        "--backoff",
        action="append",
        choices=BACKOFFS,
        metavar="KIND",
        help="a configuration to simulate (repeatable, side by side): "
        + ", ".join(BACKOFFS)
        + " (the last two: Twisted's ReconnectingClientFactory and "
        "ClientService with their defaults). Default: exponential",
    )
    parser.add_argument(
        "--preset",
        action="append",
        choices=PRESETS,
        metavar="NAME",
        help="a recommended preset to simulate (repeatable): server = "
        "FixedBackoff(3), client = ExponentialBackoff() + network monitor",
    )
    parser.add_argument(
        "--initial-delay",
        type=_number(0, lowInclusive=False),
        metavar="S",
        help="first delay (fixed: the interval); default: the schedule's own "
        "(exponential 2, fixed 3, decorrelated 1)",
    )
    parser.add_argument(
        "--max-delay",
        type=_number(0, lowInclusive=False),
        metavar="S",
        help="cap on every delay (default 60)",
    )
    parser.add_argument(
        "--factor",
        type=_number(1),
        metavar="F",
        help="exponential growth factor (default 2)",
    )
    parser.add_argument(
        "--jitter",
        type=_number(0, 1),
        metavar="J",
        help="fraction of each delay drawn at random, 0..1 (default: "
        "exponential 0.8, fixed 0)",
    )
    parser.add_argument(
        "--network-up-at",
        type=_number(0),
        metavar="S",
        help="the network is down from the drop until S seconds after it: "
        "attempts fail without reaching the server, clients with a network "
        "monitor wait offline and reconnect when it is back",
    )
    parser.add_argument(
        "--no-network-monitor",
        action="store_true",
        help="--backoff configurations have no network monitor (they keep "
        "trying while the network is down)",
    )
    parser.add_argument(
        "--seed",
        type=_number(0, integer=True),
        default=1,
        metavar="N",
        help="random seed: a run is deterministic for a seed (default 1)",
    )
    parser.add_argument(
        "--horizon",
        type=_number(0, MAX_HORIZON, lowInclusive=False),
        default=3600.0,
        metavar="S",
        help="stop after S simulated seconds (default 3600)",
    )
    parser.add_argument(
        "--plot",
        metavar="PNG",
        help="also draw the reconnected fraction and the attempts per second "
        "of every configuration (needs the [plot] extra: matplotlib)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the results as one JSON object instead of a table",
    )


#: Each schedule's own defaults for the tuning options it uses.
_DEFAULTS: dict[str, dict[str, float]] = {
    "exponential": {
        "initialDelay": 2.0,
        "factor": 2.0,
        "maxDelay": 60.0,
        "jitter": 0.8,
    },
    "fixed": {"initialDelay": 3.0, "jitter": 0.0},
    "decorrelated": {"initialDelay": 1.0, "maxDelay": 60.0},
}


def _schedule(
    kind: str, tuning: dict[str, float | None]
) -> tuple[str, Callable[[random.Random], IBackoff]]:
    """
    The name and the builder of the schedule ``kind`` with ``tuning`` (the
    options given; ``None``: the schedule's default), built once now so
    that a value it refuses raises ``ValueError`` naming the argument.
    """
    from .backoff import DecorrelatedBackoff, ExponentialBackoff, FixedBackoff

    v = dict(_DEFAULTS[kind])
    v.update({k: x for k, x in tuning.items() if x is not None and k in v})
    if kind == "exponential":
        name = (
            f"ExponentialBackoff({v['initialDelay']:g}, factor={v['factor']:g}, "
            f"maxDelay={v['maxDelay']:g}, jitter={v['jitter']:g})"
        )
    elif kind == "fixed":
        name = f"FixedBackoff({v['initialDelay']:g}, jitter={v['jitter']:g})"
    else:
        name = f"DecorrelatedBackoff({v['initialDelay']:g}, {v['maxDelay']:g})"

    def make(rng: random.Random) -> IBackoff:
        if kind == "exponential":
            return ExponentialBackoff(
                v["initialDelay"], v["factor"], v["maxDelay"], v["jitter"], rng=rng
            )
        if kind == "fixed":
            return FixedBackoff(v["initialDelay"], v["jitter"], rng=rng)
        return DecorrelatedBackoff(v["initialDelay"], v["maxDelay"], rng=rng)

    make(random.Random(0))
    return name, make


def configurations(options: Any) -> list[Configuration]:
    """
    The configurations the parsed ``options`` ask for, in the order given
    (``--backoff`` ones first, then ``--preset`` ones).

    :raises ValueError: for options that apply to none of them, or values a
        schedule refuses.
    """
    from .backoff import ExponentialBackoff, FixedBackoff

    backoffs: list[str] = list(dict.fromkeys(options.backoff or []))
    presets: list[str] = list(dict.fromkeys(options.preset or []))
    if not backoffs and not presets:
        backoffs = ["exponential"]
    tuning: dict[str, float | None] = {
        "initialDelay": options.initial_delay,
        "maxDelay": options.max_delay,
        "factor": options.factor,
        "jitter": options.jitter,
    }
    for name, value in tuning.items():
        if value is not None and not any(
            name in _DEFAULTS.get(b, ()) for b in backoffs
        ):
            users = [b for b in BACKOFFS if name in _DEFAULTS.get(b, ())]
            raise ValueError(
                f"{_FLAGS[name]} applies to --backoff {' or '.join(users)} only"
            )
    monitor = not options.no_network_monitor and options.network_up_at is not None
    result = []
    for kind in backoffs:
        if kind == "rcf":
            result.append(Configuration("ReconnectingClientFactory defaults", "rcf"))
            continue
        if kind == "clientservice":
            result.append(Configuration("ClientService defaults", "cs"))
            continue
        try:
            name, make = _schedule(kind, tuning)
        except ValueError as e:
            raise ValueError(f"--backoff {kind}: {e}") from None
        name += " + network monitor" if monitor else ""
        result.append(Configuration(name, "ours", make, networkMonitor=monitor))
    for preset in presets:
        if preset == "server":
            result.append(
                Configuration(
                    "server preset: FixedBackoff(3)",
                    "ours",
                    lambda rng: FixedBackoff(3.0, rng=rng),
                )
            )
        else:
            result.append(
                Configuration(
                    "client preset: ExponentialBackoff() + network monitor",
                    "ours",
                    lambda rng: ExponentialBackoff(rng=rng),
                    networkMonitor=True,
                )
            )
    return result


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def formatResults(results: Sequence[Result], seed: int, horizon: float) -> str:
    """The results as the text ``simulate`` prints."""
    first = results[0]
    lines = [
        f"{first.clients:,} clients lose their connection at t=0; the server "
        f"accepts {first.rate:,}/s (ideal: {first.ideal:g} s)",
    ]
    if first.networkUpAt is not None:
        lines.append(
            f"The network is down from t=0 until t={first.networkUpAt:g} s "
            "(attempts fail without reaching the server)"
        )
    lines.append(f"Simulated, seed {seed}, {STEP:g} s steps, horizon {horizon:g} s.")
    lines.append("")
    header = ("configuration", "t50", "t99", "t100", "attempts", "peak/s")
    rows = [
        (
            r.name,
            _seconds(r.t50),
            _seconds(r.t99),
            _seconds(r.t100),
            f"{r.attempts:,}",
            f"{r.peakPerSecond:,}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(6)]
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])]
        cells += [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    lines.append("")
    lines += textwrap.wrap(
        "t50/t99/t100: seconds until 50 %, 99 %, 100 % are connected again; "
        "attempts: connection attempts after the drop; peak/s: the most "
        "attempts that reached the server in one second.",
        79,
    )
    for r in results:
        if r.reconnected < r.clients:
            lines.append(
                f"{r.name}: {r.reconnected:,} of {r.clients:,} reconnected "
                f"within the horizon"
            )
        if r.unreachable:
            lines.append(
                f"{r.name}: {r.unreachable:,} attempts while the network was down"
            )
    return "\n".join(lines)


def resultsJSON(results: Sequence[Result], seed: int, horizon: float) -> dict[str, Any]:
    """The results as a JSON-able dict (``simulate --json``)."""
    first = results[0]
    return {
        "clients": first.clients,
        "rate": first.rate,
        "networkUpAt": first.networkUpAt,
        "seed": seed,
        "horizon": horizon,
        "step": STEP,
        "configurations": [
            {
                key: value
                for key, value in r.__dict__.items()
                if key not in ("wallSeconds", "clients", "rate", "networkUpAt")
            }
            for r in results
        ],
    }


class PlotUnavailable(Exception):
    """``--plot`` was asked for and matplotlib is not installed."""

    def __str__(self) -> str:
        return (
            "--plot needs matplotlib: pip install 'reconnect_twisted[plot]' "
            f"({self.args[0] if self.args else 'not installed'})"
        )


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, or :class:`PlotUnavailable`."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise PlotUnavailable(str(e)) from None
    return plt


def plotResults(results: Sequence[Result], path: str) -> None:
    """
    Draw the reconnected fraction (left) and the attempts per second that
    reached the server (right) of every result, side by side, as a PNG.

    :raises PlotUnavailable: without matplotlib.
    """
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    first = results[0]
    ideal = first.ideal
    end = 0.0
    for r in results:
        left.step(
            [t for t, _ in r.curve],
            [100 * f for _, f in r.curve],
            where="post",
            label=r.name,
        )
        right.step(range(len(r.perSecond)), r.perSecond, where="post", label=r.name)
        end = max(end, r.t100 if r.t100 is not None else r.curve[-1][0])
    end = max(end * 1.05, ideal * 1.5, 10.0)
    left.axvline(ideal, color="grey", linestyle=":", label=f"ideal ({ideal:g} s)")
    right.axhline(first.rate, color="grey", linestyle=":", label="accept rate")
    if first.networkUpAt:
        for axis in (left, right):
            axis.axvspan(0, first.networkUpAt, color="grey", alpha=0.12)
    left.set_xlim(0, end)
    right.set_xlim(0, end)
    left.set_ylim(0, 101)
    left.set_xlabel("seconds after the drop")
    left.set_ylabel("% of clients connected again")
    left.set_title(
        f"{first.clients:,} clients, server accepts {first.rate:,}/s"
        + (f", network back at {first.networkUpAt:g} s" if first.networkUpAt else "")
    )
    right.set_xlabel("seconds after the drop")
    right.set_ylabel("attempts reaching the server per second")
    right.set_title("Load on the server")
    left.legend(fontsize=8, loc="lower right")
    right.legend(fontsize=8, loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def runCommand(options: Any, parser: Any, out: Any = None, quiet: bool = False) -> int:
    """
    Run ``simulate`` with the parsed ``options``; usage problems go to
    ``parser.error()`` (exit status 2). Returns the exit status.

    :param quiet: send the library's log events (every failed attempt of
        every client) nowhere: a command line's own process only, since it
        begins ``twisted.logger``'s global logging.
    """
    import json
    import os
    import sys

    out = sys.stdout if out is None else out
    try:
        chosen = configurations(options)
    except ValueError as e:
        parser.error(str(e))
    if options.network_up_at is not None and options.network_up_at >= options.horizon:
        parser.error("--network-up-at must be before the --horizon")
    if options.plot is not None:
        directory = os.path.dirname(os.path.abspath(options.plot))
        if not os.path.isdir(directory):
            parser.error(f"--plot: no such directory: {directory}")
        try:
            _pyplot()
        except PlotUnavailable as e:
            parser.error(str(e))
    if quiet:
        from twisted.logger import ILogObserver, globalLogBeginner
        from zope.interface import provider

        @provider(ILogObserver)
        def discard(event: dict[str, Any]) -> None:
            """10,000 clients log every failed attempt: nobody reads them here."""

        globalLogBeginner.beginLoggingTo([discard], redirectStandardIO=False)
    results = simulateAll(
        chosen,
        options.clients,
        options.accept_rate,
        seed=options.seed,
        horizon=options.horizon,
        networkUpAt=options.network_up_at,
    )
    if options.json:
        print(json.dumps(resultsJSON(results, options.seed, options.horizon)), file=out)
    else:
        print(formatResults(results, options.seed, options.horizon), file=out)
    if options.plot is not None:
        plotResults(results, options.plot)
        if not options.json:
            print(f"plot: {options.plot}", file=out)
    return 0
