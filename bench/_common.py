"""
Helpers shared by the benchmarks: the server process, child processes,
logging, statistics.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: The contestants of the socket benchmarks, in table order.
KINDS = ("raw", "rcf", "cs", "ours")
LABELS = {
    "raw": "raw ClientFactory",
    "rcf": "ReconnectingClientFactory",
    "cs": "ClientService",
    "ours": "reconnect_twisted",
}


def childEnv() -> dict[str, str]:
    """The environment for child processes: the repository on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    env.pop("PYTHONTRACEMALLOC", None)
    return env


@contextmanager
def serverProcess(mode: str, lifetime: float = 1800.0) -> Iterator[int]:
    """
    Run ``python -m bench.server MODE`` and yield its port; the server is
    stopped (stdin closed, then killed if needed) on exit.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.server", mode, "--lifetime", str(lifetime)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=childEnv(),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.strip():
            raise RuntimeError(f"bench.server {mode} did not start")
        yield int(line)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def startChild(module: str, args: Sequence[str]) -> subprocess.Popen[str]:
    """Start ``python -m MODULE ARGS`` whose last stdout line is JSON."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=childEnv(),
    )


def finishChild(process: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    """Wait (bounded) for a child of :func:`startChild`; parse its result."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as timeoutError:
        process.kill()
        out, err = process.communicate(timeout=10)
        raise RuntimeError(
            f"child {process.args!r} timed out; stderr: {err[-2000:]}"
        ) from timeoutError
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(
            f"child {process.args!r} failed ({process.returncode}): {err[-2000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def runChild(module: str, args: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run a child to completion (see :func:`startChild`)."""
    return finishChild(startChild(module, args), timeout)


def silenceLogs() -> None:
    """
    Send ``twisted.logger`` events (and legacy ``log.msg``) to an observer
    that drops them: every contestant pays for *emitting* its events, none
    for formatting or writing them.
    """
    from twisted.logger import ILogObserver, globalLogBeginner
    from zope.interface import provider

    @provider(ILogObserver)
    def drop(event: dict[str, Any]) -> None:
        pass

    globalLogBeginner.beginLoggingTo(
        [drop], discardBuffer=True, redirectStandardIO=False
    )


def median(values: Sequence[float]) -> float:
    """The median (of a non-empty sequence)."""
    return float(statistics.median(values))


def rotated(items: Sequence[str], index: int) -> list[str]:
    """``items`` rotated left by ``index``: round ``index``'s running order."""
    shift = index % len(items)
    return [*items[shift:], *items[:shift]]


def medianRatio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """The median of the same-round ratios ``numerators[i] / denominators[i]``."""
    return median([a / b for a, b in zip(numerators, denominators, strict=True)])


def emit(result: dict[str, Any]) -> None:
    """A child's result: one JSON line on stdout."""
    print(json.dumps(result), flush=True)
