"""
Child process for ``test_netns_factory``: runs inside a network namespace
(``ip netns exec``) on the real reactor and prints JSON lines, each with
``t`` = ``time.monotonic()`` (system-wide, so comparable with the parent's).

``server HOST PORT``
    The demo login server (any user, any password) on ``HOST:PORT``; prints
    ``{"event": "listening"}``.

``race HOST PORT``
    Our factory (rtnetlink monitor, ``ExponentialBackoff(8, 2, 60)``,
    ``networkUpJitter=0.25``, login handshake) and Twisted's plain
    ``ReconnectingClientFactory`` (initialDelay 8, factor 2, maxDelay 60,
    jitter 0: retries after 8, 16, 32 s...) against the same server; prints
    every state change of ours (``"who": "ours"``) and every RCF event
    (``"who": "rcf"``).

``keepalive HOST PORT``
    Three clients against the same server: ours with ``keepAlive=(1, 1, 3),
    userTimeout=5`` (``"ka"``), ours with both disabled (``"noka"``) and a
    plain RCF (``"rcf"``).

``SIGUSR1`` prints ``{"event": "status", ...}`` with each client's current
state (and RCF's pending retry); ``SIGTERM`` stops.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.protocol import (
    Protocol,
    ReconnectingClientFactory,
    connectionDone,
)
from twisted.python.failure import Failure

from reconnect_twisted import ExponentialBackoff, NetlinkNetworkMonitor
from reconnect_twisted._demo.client import DemoClientFactory
from reconnect_twisted._demo.server import LoginServer, LoginServerFactory

reactor: Any = _reactor


def emit(**record: Any) -> None:
    record.setdefault("t", time.monotonic())
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


class PlainProtocol(Protocol):
    """RCF's protocol: "connected" as soon as TCP is up."""

    def connectionMade(self) -> None:
        factory: Any = self.factory
        factory.connected = True
        emit(event="rcf", who=factory.name, what="connected")

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        factory: Any = self.factory
        factory.connected = False
        emit(event="rcf", who=factory.name, what="lost", reason=str(reason.value))


class PlainRCF(ReconnectingClientFactory):
    """Twisted's own RCF with the same schedule as ours; reports its events."""

    protocol = PlainProtocol
    initialDelay = 8.0
    factor = 2
    maxDelay = 60.0
    jitter = 0.0
    noisy = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.connected = False
        # RCF's ``delay`` is a class attribute computed from RCF's own
        # initialDelay (1 s): resetDelay() makes it use ours.
        self.resetDelay()

    def nextRetryIn(self) -> float | None:
        call = getattr(self, "_callID", None)
        if call is None or not call.active():
            return None
        return float(call.getTime() - reactor.seconds())

    def startedConnecting(self, connector: Any) -> None:
        emit(event="rcf", who=self.name, what="connecting")

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        super().clientConnectionFailed(connector, reason)
        emit(
            event="rcf",
            who=self.name,
            what="failed",
            reason=str(reason.value),
            nextRetryIn=self.nextRetryIn(),
        )

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        super().clientConnectionLost(connector, reason)
        emit(event="rcf", who=self.name, what="waiting", nextRetryIn=self.nextRetryIn())


def ours(name: str, **kwargs: Any) -> DemoClientFactory:
    factory = DemoClientFactory(name, "secret", **kwargs)

    def observe(status: Any) -> None:
        emit(
            event="state",
            who=name,
            state=status.state.name,
            attempt=status.attempt,
            networkUp=status.networkUp,
            failure=None
            if status.lastFailure is None
            else str(status.lastFailure.value),
        )

    factory.addStatusObserver(observe)
    return factory


def statusReporter(clients: dict[str, Any]) -> Any:
    def report() -> None:
        states: dict[str, Any] = {}
        for name, client in clients.items():
            if isinstance(client, PlainRCF):
                states[name] = {
                    "connected": client.connected,
                    "nextRetryIn": client.nextRetryIn(),
                }
            else:
                states[name] = {"state": client.status.state.name}
        emit(event="status", clients=states)

    def handler(signum: int, frame: Any) -> None:
        reactor.callFromThread(report)

    return handler


def main(argv: list[str]) -> int:
    mode, host, port = argv[0], argv[1], int(argv[2])
    clients: dict[str, Any] = {}
    if mode == "server":

        def listen() -> None:
            LoginServer(reactor, LoginServerFactory(), port, host).start()
            emit(event="listening", host=host, port=port)

        reactor.callWhenRunning(listen)
    elif mode == "race":
        clients["ours"] = ours(
            "ours",
            backoff=ExponentialBackoff(8.0, 2.0, 60.0, jitter=0.0),
            networkMonitor=NetlinkNetworkMonitor(reactor),
            networkUpJitter=0.25,
            connectTimeout=5.0,
        )
        clients["rcf"] = PlainRCF("rcf")
    elif mode == "keepalive":
        clients["ka"] = ours(
            "ka",
            backoff=ExponentialBackoff(8.0, 2.0, 60.0, jitter=0.0),
            keepAlive=(1.0, 1.0, 3),
            userTimeout=5.0,
        )
        clients["noka"] = ours(
            "noka",
            backoff=ExponentialBackoff(8.0, 2.0, 60.0, jitter=0.0),
            keepAlive=None,
            userTimeout=None,
        )
        clients["rcf"] = PlainRCF("rcf")
    else:
        raise SystemExit(f"unknown mode {mode!r}")

    def start() -> None:
        emit(event="started", mode=mode)
        for client in clients.values():
            reactor.connectTCP(host, port, client, timeout=5)

    signal.signal(signal.SIGUSR1, statusReporter(clients))
    reactor.callWhenRunning(start)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
