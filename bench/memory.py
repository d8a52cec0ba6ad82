"""
Benchmark 3: memory per managed idle connection.

One child process per (contestant, size, method):
``python -m bench.memory KIND --n N --port P [--tracemalloc]``. The child
opens a few warm-up connections, takes a baseline, opens ``N`` more managed
connections to a ``hold`` server (its own process), waits until all are up
and have idled ``--idle`` seconds (past reconnect_twisted's default
``minUptime`` of 5 s, so its uptime timers are gone, as on a long-lived
connection), collects garbage and reports the RSS delta (psutil) or the
traced Python allocations (tracemalloc) per connection. RSS and
tracemalloc are measured in separate children: tracemalloc's own
bookkeeping would inflate the RSS.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from typing import Any

from twisted.internet.protocol import ClientFactory, Protocol

from bench._common import emit, silenceLogs
from bench.server import raiseFileLimit

STATE = {"up": 0}
WARMUP = 20
BATCH = 500


class IdleProtocol(Protocol):
    """An idle application protocol."""

    def connectionMade(self) -> None:
        STATE["up"] += 1


def makeOne(kind: str, port: int, keep: list[Any]) -> None:
    """Open one managed connection of ``kind``; keep its owner alive."""
    from twisted.application.internet import ClientService
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ClientEndpoint
    from twisted.internet.protocol import ReconnectingClientFactory

    from reconnect_twisted import ReconnectingFactory

    host = "127.0.0.1"
    if kind == "raw":
        raw = ClientFactory()
        raw.protocol = IdleProtocol
        keep.append(reactor.connectTCP(host, port, raw))
    elif kind == "rcf":
        rcf = ReconnectingClientFactory()
        rcf.protocol = IdleProtocol
        keep.append(reactor.connectTCP(host, port, rcf))
    elif kind == "cs":
        service = ClientService(
            TCP4ClientEndpoint(reactor, host, port),
            ClientFactory.forProtocol(IdleProtocol),
        )
        service.startService()
        keep.append(service)
    elif kind == "ours":
        ours = ReconnectingFactory()
        ours.protocol = IdleProtocol
        keep.append(reactor.connectTCP(host, port, ours))
    else:
        raise ValueError(kind)


def run(kind: str, n: int, port: int, useTracemalloc: bool, idle: float,
        timeout: float) -> dict[str, Any]:
    """Open ``n`` connections and measure; see the module docstring."""
    import psutil
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    raiseFileLimit(n + WARMUP + 1024)
    silenceLogs()
    process = psutil.Process()
    keep: list[Any] = []
    result: dict[str, Any] = {"kind": kind, "n": n, "tracemalloc": useTracemalloc}

    async def waitUp(count: int, deadline: float) -> None:
        while STATE["up"] < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {STATE['up']} of {count} connections up")
            await deferLater(reactor, 0.05)

    async def measure() -> None:
        deadline = time.monotonic() + timeout
        for _ in range(WARMUP):
            makeOne(kind, port, keep)
        await waitUp(WARMUP, deadline)
        gc.collect()
        rss0 = process.memory_info().rss
        if useTracemalloc:
            tracemalloc.start()
        traced0 = tracemalloc.get_traced_memory()[0] if useTracemalloc else 0
        started = time.monotonic()
        for done in range(0, n, BATCH):
            for _ in range(min(BATCH, n - done)):
                makeOne(kind, port, keep)
            await deferLater(reactor, 0.01)
        await waitUp(WARMUP + n, deadline)
        result["connectSeconds"] = time.monotonic() - started
        await deferLater(reactor, idle)
        gc.collect()
        result["rssPerConn"] = (process.memory_info().rss - rss0) / n
        if useTracemalloc:
            result["tracedPerConn"] = (tracemalloc.get_traced_memory()[0] - traced0) / n
            tracemalloc.stop()
        result["up"] = STATE["up"] - WARMUP

    def done(outcome: object) -> None:
        result["error"] = None if not hasattr(outcome, "getErrorMessage") else str(
            outcome.getErrorMessage()
        )
        reactor.stop()

    from twisted.internet.defer import Deferred

    reactor.callWhenRunning(
        lambda: Deferred.fromCoroutine(measure()).addBoth(done)
    )
    reactor.run()
    if result.get("error"):
        raise RuntimeError(result["error"])
    return result


def main(argv: list[str] | None = None) -> None:
    """Child entry point."""
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["raw", "rcf", "cs", "ours"])
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--idle", type=float, default=5.5)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    result = run(args.kind, args.n, args.port, args.tracemalloc, args.idle,
                 args.timeout)
    emit(result)
    import os

    os._exit(0)  # skip tearing down thousands of sockets


if __name__ == "__main__":
    main()
