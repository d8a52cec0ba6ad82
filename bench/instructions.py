"""
Benchmark 7 (optional): instructions per failed attempt and per reconnect
cycle, counted by valgrind's callgrind: deterministic, so it shows what a
change buys even on a busy shared machine, where the timed benchmarks move
by up to 25 % between runs.

``python -m bench.instructions [--n N]`` runs, for RCF and ours, each
scenario twice under ``valgrind --tool=callgrind`` (``N`` iterations and
none) in a child process and reports the difference divided by ``N``:

* ``attempt``: ``bench.cpu``'s loop (a connector that refuses every attempt
  at once, a retry per ``advance``, logs silenced);
* ``cycle``: connect, connection made, connection lost, retry, through
  :class:`reconnect_twisted.testing.FakeConnector` and its
  ``FakeTransport`` (no sockets), both factories with a 1 s fixed delay.

``--sockets`` adds the real thing: ``bench.cycles``' 8-connection cycle
against the loopback ``close`` server, raw, RCF and ours, each under
callgrind for two durations; instructions per cycle is the difference of
the counts over the difference of the cycles (the client's user-space
instructions only: the kernel's share of the syscalls is not counted).
About two minutes more.

Skipped (with the reason) when valgrind is not installed. Not part of
``python -m bench``: one run takes about a minute.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from typing import Any

from bench._common import ROOT, childEnv

KINDS = ("rcf", "ours")
SCENARIOS = ("attempt", "cycle")
WARMUP = 50
_COLLECTED = re.compile(r"Collected : (\d+)")


def _attempt(kind: str) -> Any:
    from bench.cpu import DELAY, setUp
    from bench.herd import HeapClock

    clock = HeapClock()
    _, stop = setUp(kind, clock)

    def step() -> None:
        clock.advance(DELAY)

    return step, stop


def _cycle(kind: str) -> Any:
    from twisted.internet.protocol import Protocol, ReconnectingClientFactory

    from bench.herd import HeapClock
    from reconnect_twisted import FixedBackoff, ReconnectingFactory
    from reconnect_twisted.testing import FakeConnector

    clock = HeapClock()
    factory: Any
    if kind == "rcf":
        factory = ReconnectingClientFactory()
        factory.clock = clock
        factory.initialDelay = factory.maxDelay = 1.0
        factory.factor, factory.jitter = 1.0, 0.0
    else:
        factory = ReconnectingFactory(backoff=FixedBackoff(1.0), clock=clock)
    factory.protocol = Protocol
    connector = FakeConnector(factory, clock)
    connector.connect()

    def step() -> None:
        if connector.state == "connecting":
            connector.succeed()
        connector.drop()
        clock.advance(1.0)

    return step, factory.stopTrying


#: The contestants and the two sample durations (s) of ``--sockets``.
SOCKET_KINDS = ("raw", "rcf", "ours")
SOCKET_DURATIONS = (1.0, 4.0)


def socketChild(kind: str, port: int, duration: float) -> None:
    """One ``bench.cycles`` run (8 connections) that prints its result."""
    from bench import cycles

    print(json.dumps(cycles.run(kind, 8, port, duration, 0.3, False)))


def _socketCount(kind: str, port: int, duration: float) -> tuple[int, int]:
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", "bench.instructions", "--socket-child", kind,
        str(port), str(duration),
    ]
    done = subprocess.run(command, cwd=ROOT, env=childEnv(), capture_output=True,
                          text=True, timeout=600, check=True)
    match = _COLLECTED.search(done.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output: {done.stderr}")
    cycles = json.loads(done.stdout.strip().splitlines()[-1])["cycles"]
    return int(match.group(1)), int(cycles)


def runSockets() -> dict[str, int]:
    """Instructions per real loopback cycle (8 connections), by contestant."""
    from bench._common import serverProcess

    out: dict[str, int] = {}
    with serverProcess("close") as port:
        for kind in SOCKET_KINDS:
            (n1, c1), (n2, c2) = (_socketCount(kind, port, d) for d in SOCKET_DURATIONS)
            if c2 <= c1:
                raise RuntimeError(f"{kind}: no more cycles in the longer sample")
            out[kind] = (n2 - n1) // (c2 - c1)
    return out


def child(kind: str, scenario: str, n: int) -> None:
    """Run ``n`` iterations (after a warm-up) of ``scenario`` for ``kind``."""
    from bench._common import silenceLogs

    silenceLogs()
    step, stop = (_attempt if scenario == "attempt" else _cycle)(kind)
    for _ in range(WARMUP + n):
        step()
    stop()


def _count(kind: str, scenario: str, n: int) -> int:
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", "bench.instructions", "--child", kind, scenario,
        "--n", str(n),
    ]
    done = subprocess.run(command, cwd=ROOT, env=childEnv(), capture_output=True,
                          text=True, timeout=600, check=True)
    match = _COLLECTED.search(done.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output: {done.stderr}")
    return int(match.group(1))


def run(n: int = 2000) -> dict[str, Any]:
    """Instructions per iteration of each scenario, ours and RCF."""
    if shutil.which("valgrind") is None:
        return {"skipped": "valgrind is not installed (apt-get install valgrind)"}
    out: dict[str, Any] = {"n": n}
    for scenario in SCENARIOS:
        row = {kind: (_count(kind, scenario, n) - _count(kind, scenario, 0)) // n
               for kind in KINDS}
        row["ratio"] = round(row["ours"] / row["rcf"], 2)
        out[scenario] = row
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.instructions``: print the table (and the JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "SCENARIO"))
    parser.add_argument("--sockets", action="store_true",
                        help="also count a real loopback cycle (raw, RCF, ours)")
    parser.add_argument("--socket-child", nargs=3, metavar=("KIND", "PORT", "SECONDS"))
    args = parser.parse_args(argv)
    if args.socket_child:
        kind, port, seconds = args.socket_child
        socketChild(kind, int(port), float(seconds))
        return
    if args.child:
        kind, scenario = args.child
        if kind not in KINDS or scenario not in SCENARIOS:
            parser.error(f"--child: KIND in {KINDS}, SCENARIO in {SCENARIOS}")
        child(kind, scenario, args.n)
        return
    result = run(args.n)
    if "skipped" in result:
        print(f"skipped: {result['skipped']}")
        return
    print(f"Instructions per iteration (callgrind, {args.n} iterations)")
    print(f"{'scenario':10} {'RCF':>9} {'ours':>9} {'ours/RCF':>9}")
    for scenario in SCENARIOS:
        row = result[scenario]
        print(f"{scenario:10} {row['rcf']:>9} {row['ours']:>9} {row['ratio']:>9}")
    if args.sockets:
        sockets = runSockets()
        result["socketCycle"] = sockets
        print("Real loopback cycle, 8 connections (user-space instructions per cycle)")
        print("  ".join(f"{kind} {count}" for kind, count in sockets.items())
              + f"  ours/RCF {sockets['ours'] / sockets['rcf']:.2f}"
              + f"  ours/raw {sockets['ours'] / sockets['raw']:.2f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
