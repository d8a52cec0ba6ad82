"""
``python -m reconnect_twisted demo``: play the scenarios on the real reactor,
under a watchdog, and turn the outcomes into an exit status.
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any, TextIO

from twisted.internet.error import CannotListenError
from twisted.python.failure import Failure

from .scenarios import SCENARIOS, Demo, expectedDuration, playDemo
from .timeline import Outcome, Timeline

__all__ = [
    "EXIT_CRASHED",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_WATCHDOG",
    "defaultTimeout",
    "runDemo",
]

EXIT_OK = 0
#: Some scenario did not end as described.
EXIT_FAILED = 1
#: The watchdog fired: the demo did not finish in time.
EXIT_WATCHDOG = 3
#: The demo itself raised.
EXIT_CRASHED = 4
#: Interrupted (Ctrl-C, SIGTERM).
EXIT_INTERRUPTED = 130


def defaultTimeout(keys: Sequence[str], speed: float) -> float:
    """The watchdog's limit: twice the expected duration, plus 15 seconds."""
    return 2.0 * expectedDuration(keys, speed) + 15.0


def runDemo(
    keys: Sequence[str],
    speed: float = 1.0,
    asJSON: bool = False,
    timeout: float | None = None,
    verbose: bool = False,
    out: TextIO | None = None,
    statusPort: int | None = None,
    manualNetwork: bool = False,
) -> int:
    """
    Run the scenarios ``keys`` on the global reactor and return the exit
    status: 0 when every scenario ended as described.

    With ``statusPort``, :mod:`reconnect_twisted.web`'s status page of the
    scenario's clients is served on ``127.0.0.1:statusPort`` (0: any free
    port), its address and control token printed once. ``manualNetwork``:
    scenario H uses the manual network monitor even as root.

    The reactor is run (and stopped) here, so this can be called once per
    process. A watchdog stops everything after ``timeout`` seconds; a last
    resort thread ends the process if even stopping the reactor hangs.
    """
    from twisted.internet import reactor

    out = sys.stdout if out is None else out
    if timeout is None:
        timeout = defaultTimeout(keys, speed)
    if verbose:
        from twisted.logger import globalLogBeginner, textFileLogObserver

        globalLogBeginner.beginLoggingTo(
            [textFileLogObserver(sys.stderr)], redirectStandardIO=False
        )
    colour = (not asJSON) and out.isatty() and os.environ.get("NO_COLOR") is None
    timeline = Timeline(out, reactor.seconds, asJSON=asJSON, colour=colour)
    page = None if statusPort is None else StatusPage(reactor, statusPort)
    demo = Demo(
        reactor,
        timeline,
        speed=speed,
        statusPage=None if page is None else page.resource,
        manualNetwork=manualNetwork,
    )
    exitCode = [EXIT_INTERRUPTED]

    def finished(outcomes: list[Outcome]) -> None:
        ok = bool(outcomes) and all(outcome.ok for outcome in outcomes)
        exitCode[0] = EXIT_OK if ok else EXIT_FAILED

    def crashed(failure: Failure) -> None:
        exitCode[0] = EXIT_CRASHED
        print("demo crashed:", file=sys.stderr)
        failure.printTraceback(file=sys.stderr)

    def stop(_: object) -> None:
        if watchdog.active():
            watchdog.cancel()
        if reactor.running:
            reactor.stop()

    def onWatchdog() -> None:
        exitCode[0] = EXIT_WATCHDOG
        message = f"watchdog: the demo did not finish within {timeout:.1f}s; giving up"
        timeline.emit(
            "watchdog", demo.scenario or None, text=message, ok=False, reason=message
        )
        timeline.close()
        print(message, file=sys.stderr, flush=True)
        reactor.stop()

    def start() -> None:
        if page is not None:
            try:
                page.start(timeline)
            except CannotListenError as e:
                exitCode[0] = EXIT_CRASHED
                print(f"demo: --status-port: {e}", file=sys.stderr)
                reactor.stop()
                return
        played = playDemo(demo, keys).addCallbacks(finished, crashed)
        if page is not None:
            played.addBoth(lambda _: page.stop())
        played.addBoth(stop)

    watchdog = reactor.callLater(timeout, onWatchdog)
    reactor.callWhenRunning(start)
    lastResort = threading.Timer(timeout + 10.0, _hardExit)
    lastResort.daemon = True
    lastResort.start()
    try:
        reactor.run()
    finally:
        lastResort.cancel()
    return exitCode[0]


class StatusPage:
    """
    The demo's status page: a :class:`~reconnect_twisted.web.StatusResource`
    with a fresh control token, on ``127.0.0.1:port``.
    """

    def __init__(self, reactor: Any, port: int) -> None:
        from ..web import StatusResource

        self.reactor = reactor
        self.port = port
        self.token = secrets.token_urlsafe(24)
        self.resource = StatusResource(token=self.token, clock=reactor)
        self._listening: Any = None

    def start(self, timeline: Timeline) -> None:
        """
        Listen, and say where (with the token, once).

        :raises CannotListenError: if the port is taken.
        """
        from twisted.web.server import Site

        self._listening = self.reactor.listenTCP(
            self.port, Site(self.resource), interface="127.0.0.1"
        )
        port = self._listening.getHost().port
        url = f"http://127.0.0.1:{port}/"
        timeline.emit(
            "status-page",
            None,
            text=(
                f"status page: {url}#token={self.token} "
                "(the control token is shown only here)"
            ),
            url=url,
            token=self.token,
        )

    def stop(self) -> Any:
        """End the event streams and stop listening."""
        self.resource.closeStreams()
        listening, self._listening = self._listening, None
        return None if listening is None else listening.stopListening()


def _hardExit() -> None:  # pragma: no cover - only when the reactor is wedged
    print("watchdog: the reactor did not stop; exiting", file=sys.stderr, flush=True)
    try:
        traceback.print_stack(file=sys.stderr)
    finally:
        os._exit(EXIT_WATCHDOG)


def parseScenarios(values: Sequence[str] | None) -> list[str]:
    """
    ``--scenario`` values (repeatable, or comma-separated) as a list of
    letters in the order given; all of them when ``values`` is empty.

    :raises ValueError: naming an unknown scenario.
    """
    if not values:
        return list(SCENARIOS)
    keys: list[str] = []
    for value in values:
        for item in value.split(","):
            key = item.strip().upper()
            if not key:
                continue
            if key not in SCENARIOS:
                known = ", ".join(SCENARIOS)
                raise ValueError(f"unknown scenario {item.strip()!r} (known: {known})")
            if key not in keys:
                keys.append(key)
    if not keys:
        raise ValueError("no scenario given")
    return keys


def describeScenarios() -> str:
    """One line per scenario, for ``--help``."""
    return "\n".join(f"  {s.key}  {s.title}: {s.expected}" for s in SCENARIOS.values())
