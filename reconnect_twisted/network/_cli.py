"""
``netwatch``: watch the network as the monitors see it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Protocol, TextIO, cast

from ._base import DebouncedMonitor
from ._monitor import defaultNetworkMonitor
from ._polling import PollingNetworkMonitor
from ._typing import FDReactor

__all__ = ["netwatch"]


class _CoreReactor(Protocol):
    def callWhenRunning(self, callable: Callable[[], None]) -> Any: ...
    def addSystemEventTrigger(
        self, phase: str, eventType: str, callable: Callable[[], None]
    ) -> Any: ...
    def run(self) -> None: ...


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netwatch",
        description=(
            "Print whether the network is up (a usable default route) and "
            "every debounced transition, until Ctrl-C or SIGTERM."
        ),
    )
    parser.add_argument(
        "--polling",
        action="store_true",
        help="use the polling monitor instead of the best available one",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=2.0,
        help="polling interval in seconds (with --polling; default 2.0)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=0.15,
        help="base settle time before reporting up, in seconds (default 0.15)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per line instead of text",
    )
    return parser


class _Printer:
    def __init__(self, monitor: DebouncedMonitor, asJSON: bool, out: TextIO) -> None:
        self._monitor = monitor
        self._asJSON = asJSON
        self._out = out

    def __call__(self, event: str, isUp: bool | None = None) -> None:
        now = time.time()
        if self._asJSON:
            record = {
                "event": event,
                "isUp": isUp,
                "via": list(self._monitor.via),
                "monitor": type(self._monitor).__name__,
                "time": now,
                "monotonic": time.monotonic(),
            }
            line = json.dumps(record, sort_keys=True)
        else:
            stamp = datetime.fromtimestamp(now, timezone.utc).isoformat(
                timespec="milliseconds"
            )
            state = {True: "UP", False: "DOWN", None: "UNKNOWN"}[isUp]
            via = ", ".join(self._monitor.via)
            detail = f" via {via}" if isUp and via else ""
            line = f"{stamp} {event}: network {state}{detail}"
        print(line, file=self._out, flush=True)


def netwatch(argv: list[str]) -> int:
    """
    Run a network monitor on the global reactor and print its view and every
    transition, with timestamps, until interrupted (Ctrl-C or SIGTERM).

    :param argv: the arguments after the command name: ``[--polling]
        [--interval SECONDS] [--settle SECONDS] [--json]``.
    :return: the process exit status.
    """
    options = _parser().parse_args(argv)
    from twisted.internet import reactor

    fdReactor = cast(FDReactor, reactor)
    monitor: DebouncedMonitor
    if options.polling:
        monitor = PollingNetworkMonitor(
            options.interval, fdReactor, settle=options.settle
        )
    else:
        monitor = defaultNetworkMonitor(fdReactor, settle=options.settle)
    emit = _Printer(monitor, options.json, sys.stdout)

    def begin() -> None:
        monitor.start()
        emit("started", monitor.isUp)
        monitor.addObserver(lambda isUp: emit("transition", isUp))

    def end() -> None:
        monitor.stop()
        emit("stopped", monitor.isUp)

    core = cast(_CoreReactor, reactor)
    core.callWhenRunning(begin)
    core.addSystemEventTrigger("before", "shutdown", end)
    core.run()
    return 0


if __name__ == "__main__":
    sys.exit(netwatch(sys.argv[1:]))
