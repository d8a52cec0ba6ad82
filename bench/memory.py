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

Where the bytes go (``--top N``, implies ``--tracemalloc``; stand-alone,
against a ``hold`` server started by hand with ``python -m bench.server
hold``)::

    python -m bench.memory ours --n 1000 --port PORT --top 10

prints the traced allocations still alive per connection, by the line that
allocated them and by the innermost ``reconnect_twisted`` line on the
allocation's stack (what of ours made Twisted, or Python, allocate it).
Deep tracebacks slow tracemalloc down: ``--top`` is for breakdowns, never
for the table.
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


#: Traceback depth for ``--top``.
TOP_FRAMES = 30


def breakdown(snapshot: tracemalloc.Snapshot, n: int, top: int) -> dict[str, Any]:
    """
    The ``top`` biggest allocation sites of ``snapshot``, in bytes per
    connection: ``byLine`` (the allocating line) and ``byOurLine`` (the
    innermost ``reconnect_twisted`` frame on the stack; ``<not ours>`` when
    none is).
    """
    snapshot = snapshot.filter_traces([
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap*"),
    ])
    byLine: dict[str, list[int]] = {}
    byOurs: dict[str, list[int]] = {}

    def where(frame: tracemalloc.Frame) -> str:
        name = frame.filename
        for marker in ("reconnect_twisted/", "twisted/", "bench/"):
            if marker in name:
                name = name[name.rindex(marker):]
                break
        return f"{name}:{frame.lineno}"

    for trace in snapshot.traces:
        frames = list(reversed(trace.traceback))  # most recent call first
        line = byLine.setdefault(where(frames[0]), [0, 0])
        line[0] += trace.size
        line[1] += 1
        ours = next((f for f in frames if "reconnect_twisted" in f.filename), None)
        key = "<not ours>" if ours is None else where(ours)
        entry = byOurs.setdefault(key, [0, 0])
        entry[0] += trace.size
        entry[1] += 1

    def ranked(table: dict[str, list[int]]) -> list[dict[str, Any]]:
        rows = sorted(table.items(), key=lambda kv: -kv[1][0])[:top]
        return [{"where": k, "bytesPerConn": size / n, "blocksPerConn": count / n}
                for k, (size, count) in rows]

    return {"byLine": ranked(byLine), "byOurLine": ranked(byOurs)}


def run(kind: str, n: int, port: int, useTracemalloc: bool, idle: float,
        timeout: float, top: int = 0) -> dict[str, Any]:
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
            tracemalloc.start(TOP_FRAMES if top else 1)
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
            current, peak = tracemalloc.get_traced_memory()
            result["tracedPerConn"] = (current - traced0) / n
            # The high-water mark while connecting: transient garbage that
            # RSS may keep (freed memory is not always given back).
            result["tracedPeakPerConn"] = (peak - traced0) / n
            if top:
                result["top"] = breakdown(tracemalloc.take_snapshot(), n, top)
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
    parser.add_argument("--top", type=int, default=0,
                        help="print the N biggest allocation sites (tracemalloc)")
    args = parser.parse_args(argv)
    result = run(args.kind, args.n, args.port, args.tracemalloc or bool(args.top),
                 args.idle, args.timeout, args.top)
    if args.top:
        for key, title in (("byLine", "allocating line"),
                           ("byOurLine", "innermost reconnect_twisted line")):
            print(f"-- {args.kind} at {args.n:,}: traced bytes per connection "
                  f"by {title} (total {result['tracedPerConn']:.0f} B, "
                  f"peak while connecting {result['tracedPeakPerConn']:.0f} B)")
            for row in result["top"][key]:
                print(f"{row['bytesPerConn']:8.1f} B {row['blocksPerConn']:6.2f} "
                      f"blocks  {row['where']}")
    emit(result)
    import os

    os._exit(0)  # skip tearing down thousands of sockets


if __name__ == "__main__":
    main()
