"""
Benchmark 4: CPU cost of the reconnect machinery, in microseconds per
failed attempt (refused at once, next retry scheduled), with no sockets: a
clock drives each contestant against a connector (or endpoint) that fails
every attempt at once; every ``clock.advance`` fires one retry per factory.

It runs with 1 and with 100 concurrently failing factories on one clock (so
the table shows how the cost scales when many clients share a reactor). The
clock is :class:`bench.herd.HeapClock` for both: the stock ``Clock``
re-sorts its whole call list on every ``callLater``, which with 100 pending
calls would cost more than the factories being measured.

Steadiness: the contestants are interleaved in rounds (the order rotates
from round to round, so none always runs first), and every round yields a
same-round ratio; the targets use the median of those ratios.

Profiling one contestant (``--profile`` prints the cProfile entries, those
in ``reconnect_twisted`` first)::

    python -m bench.cpu ours --factories 1 --retries 20000 --profile
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

from twisted.internet import error
from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import (
    IConnector,
    IProtocol,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory, Protocol, ReconnectingClientFactory
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from zope.interface import implementer

from bench._common import median, medianRatio, rotated

DELAY = 1.0
KINDS = ("rcf", "cs", "ours")
#: The concurrency levels: failing factories sharing one clock.
FACTORIES = (1, 100)
WARMUP_ADVANCES = 50


@implementer(IConnector)
class FailingConnector:
    """An ``IConnector`` whose every attempt is refused at once."""

    #: As ``twisted.internet.base.BaseConnector`` has it between attempts
    #: (what reconnect_twisted reads before it connects).
    state = "disconnected"

    def __init__(self, factory: Any) -> None:
        self.factory = factory
        self.attempts = 0

    def connect(self) -> None:
        """Count the attempt and refuse it at once."""
        self.attempts += 1
        self.factory.startedConnecting(self)
        self.factory.clientConnectionFailed(
            self, Failure(error.ConnectionRefusedError())
        )

    def stopConnecting(self) -> None:
        """Never connecting between attempts."""
        raise error.NotConnectingError()

    def disconnect(self) -> None:
        """Nothing to disconnect."""

    def getDestination(self) -> Any:
        """A fixed loopback address."""
        from twisted.internet.address import IPv4Address

        return IPv4Address("TCP", "127.0.0.1", 4321)


@implementer(IStreamClientEndpoint)
class FailingEndpoint:
    """An ``IStreamClientEndpoint`` whose every attempt is refused at once."""

    def __init__(self) -> None:
        self.attempts = 0

    def connect(self, factory: IProtocolFactory) -> Deferred[IProtocol]:
        """Count the attempt and refuse it at once."""
        self.attempts += 1
        return fail(error.ConnectionRefusedError())


def setUp(kind: str, clock: Clock) -> tuple[Any, Any]:
    """A contestant retrying every ``DELAY`` s; returns (counter, stop)."""
    from twisted.application.internet import ClientService

    from reconnect_twisted import FixedBackoff, ReconnectingFactory

    if kind == "rcf":
        rcf = ReconnectingClientFactory()
        rcf.protocol = Protocol
        rcf.clock = clock  # type: ignore[assignment]
        rcf.initialDelay = DELAY
        rcf.maxDelay = DELAY  # type: ignore[assignment]
        rcf.factor = 1.0
        rcf.jitter = 0.0
        rcf.resetDelay()
        connector = FailingConnector(rcf)
        connector.connect()
        return connector, rcf.stopTrying
    if kind == "cs":
        endpoint = FailingEndpoint()
        service = ClientService(
            endpoint, Factory.forProtocol(Protocol),
            retryPolicy=lambda attempt: DELAY, clock=clock,
        )
        service.startService()
        return endpoint, service.stopService
    if kind == "ours":
        ours = ReconnectingFactory(backoff=FixedBackoff(DELAY), clock=clock)
        ours.protocol = Protocol
        connector = FailingConnector(ours)
        connector.connect()
        return connector, ours.stopTrying
    raise ValueError(kind)


def measureOnce(kind: str, retries: int, factories: int = 1,
                profile: Any = None) -> float:
    """
    Microseconds per failed attempt over about ``retries`` attempts, made by
    ``factories`` factories failing concurrently on one clock (each
    ``advance`` fires one retry of each). ``profile``: a ``cProfile.Profile``
    enabled around the measured loop only.
    """
    from bench.herd import HeapClock

    clock = HeapClock()
    contestants = [setUp(kind, clock) for _ in range(factories)]
    for _ in range(WARMUP_ADVANCES):
        clock.advance(DELAY)
    advances = max(1, retries // factories)
    before = sum(counter.attempts for counter, _ in contestants)
    gc.collect()
    if profile is not None:
        profile.enable()
    started = time.perf_counter()
    for _ in range(advances):
        clock.advance(DELAY)
    elapsed = time.perf_counter() - started
    if profile is not None:
        profile.disable()
    done = sum(counter.attempts for counter, _ in contestants) - before
    for _, stop in contestants:
        stop()
    if done != advances * factories:
        raise RuntimeError(
            f"{kind}: {done} attempts for {advances} advances x {factories}"
        )
    return elapsed / done * 1e6


def run(retries: int, rounds: int = 5,
        factoryCounts: tuple[int, ...] = FACTORIES) -> dict[str, Any]:
    """
    µs per failed attempt of each contestant at each concurrency: the
    median of ``rounds`` interleaved rounds, and the median of the
    same-round ratios ours/RCF and ours/ClientService.
    """
    results: dict[str, Any] = {"retries": retries, "rounds": rounds,
                               "byFactories": {}}
    for factories in factoryCounts:
        samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for index in range(rounds):
            for kind in rotated(KINDS, index):
                samples[kind].append(measureOnce(kind, retries, factories))
        entry: dict[str, Any] = {
            kind: {"usPerRetry": median(values), "samples": values}
            for kind, values in samples.items()
        }
        entry["ratios"] = {
            other: medianRatio(samples["ours"], samples[other])
            for other in ("rcf", "cs")
        }
        results["byFactories"][str(factories)] = entry
    return results


def main(argv: list[str] | None = None) -> None:
    """Stand-alone entry point: measure (or profile) one contestant."""
    import cProfile
    import pstats

    from bench._common import silenceLogs

    parser = argparse.ArgumentParser(prog="python -m bench.cpu")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--factories", type=int, default=1)
    parser.add_argument("--retries", type=int, default=20000)
    parser.add_argument("--profile", action="store_true",
                        help="print cProfile's top entries (tottime, cumulative)")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    silenceLogs()
    profile = cProfile.Profile() if args.profile else None
    us = measureOnce(args.kind, args.retries, args.factories, profile)
    print(f"{args.kind}: {us:.2f} us per failed attempt "
          f"({args.factories} factories, {args.retries} attempts"
          + (", profiled: slower than unprofiled)" if profile else ")"))
    if profile is not None:
        stats = pstats.Stats(profile)
        for order in ("tottime", "cumulative"):
            print(f"\n-- in reconnect_twisted, by {order}")
            stats.sort_stats(order).print_stats("reconnect_twisted", args.top)
            print(f"\n-- everything, by {order}")
            stats.sort_stats(order).print_stats(args.top)


if __name__ == "__main__":
    main()
