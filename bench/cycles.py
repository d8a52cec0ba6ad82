"""
Benchmarks 1 and 2: reconnect-cycle rate against a loopback server that
closes every connection at once (``close`` mode) or after a one-round-trip
business handshake (``handshake`` mode).

The parent runs one child process per measurement
(``python -m bench.cycles KIND --conc N --port P ...``) with the default
reactor; the child prints one JSON line.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConnector
from twisted.internet.protocol import ClientFactory, Protocol, ReconnectingClientFactory
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from bench._common import emit, silenceLogs

COUNTS = {"made": 0, "cycles": 0, "handshakes": 0, "failed": 0}


class CycleProtocol(Protocol):
    """Counts connections made and closed."""

    def connectionMade(self) -> None:
        COUNTS["made"] += 1

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        COUNTS["cycles"] += 1


class HandshakeProtocol(LineReceiver):
    """
    A client whose business handshake is one round trip: send ``HELLO``,
    wait for ``OK``. A cycle counts once the handshake succeeded and the
    connection closed.
    """

    delimiter = b"\n"
    selfHandshake = False  # raw and RCF: run the handshake from connectionMade

    def __init__(self) -> None:
        self.waiting: Deferred[None] | None = None
        self.greeted = False

    def connectionMade(self) -> None:
        COUNTS["made"] += 1
        if self.selfHandshake:
            self.hello()

    def hello(self) -> Deferred[None]:
        """Send the greeting; the Deferred fires on ``OK``."""
        d: Deferred[None] = Deferred()
        self.waiting = d
        self.sendLine(b"HELLO")  # type: ignore[no-untyped-call]
        return d

    def lineReceived(self, line: bytes) -> None:
        d, self.waiting = self.waiting, None
        if d is not None and line == b"OK":
            self.greeted = True
            COUNTS["handshakes"] += 1
            d.callback(None)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        d, self.waiting = self.waiting, None
        if self.greeted:
            COUNTS["cycles"] += 1
        if d is not None:
            d.errback(reason)


class SelfHandshakeProtocol(HandshakeProtocol):
    selfHandshake = True


def hello(protocol: Any) -> Deferred[None]:
    """The business handshake for ``handshake=`` / ``prepareConnection=``."""
    result: Deferred[None] = protocol.hello()
    return result


class RawFactory(ClientFactory):
    """The baseline: reconnect at once, from the connector callbacks."""

    stopped = False

    def clientConnectionLost(self, connector: IConnector, reason: Failure) -> None:
        if not self.stopped:
            connector.connect()

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        COUNTS["failed"] += 1
        if not self.stopped:
            connector.connect()


class CountingRCF(ReconnectingClientFactory):
    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        COUNTS["failed"] += 1
        super().clientConnectionFailed(  # type: ignore[no-untyped-call]
            connector, reason
        )


def start(kind: str, port: int, handshake: bool) -> Any:
    """Start one managed connection of ``kind``; return a stop callable."""
    from twisted.application.internet import ClientService
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ClientEndpoint

    from reconnect_twisted import FixedBackoff, ReconnectingFactory

    host = "127.0.0.1"
    plain: type[Protocol] = HandshakeProtocol if handshake else CycleProtocol
    selfShaking: type[Protocol] = SelfHandshakeProtocol if handshake else CycleProtocol
    if kind == "raw":
        raw = RawFactory()
        raw.protocol = selfShaking
        reactor.connectTCP(host, port, raw)

        def stopRaw() -> None:
            raw.stopped = True

        return stopRaw
    if kind == "rcf":
        rcf = CountingRCF()
        rcf.protocol = selfShaking
        rcf.initialDelay = 0.0
        rcf.jitter = 0.0
        rcf.resetDelay()  # type: ignore[no-untyped-call]
        reactor.connectTCP(host, port, rcf)
        return rcf.stopTrying
    if kind == "cs":
        factory = ClientFactory.forProtocol(plain)
        service = ClientService(
            TCP4ClientEndpoint(reactor, host, port),
            factory,
            retryPolicy=lambda attempt: 0.0,
            prepareConnection=hello if handshake else None,
        )
        service.startService()
        return service.stopService
    if kind == "ours":

        class Ours(ReconnectingFactory):
            protocol = plain

            def clientConnectionFailed(
                self, connector: IConnector, reason: Failure
            ) -> None:
                COUNTS["failed"] += 1
                super().clientConnectionFailed(connector, reason)

        ours = Ours(
            backoff=FixedBackoff(0.0),
            # The others retry after 0 s too: the floor that keeps a real
            # client out of a hot loop (0.1 s) would measure the floor.
            minDelay=1e-6,
            minUptime=0.0,
            handshake=hello if handshake else None,
        )
        reactor.connectTCP(host, port, ours)
        return ours.stopTrying
    raise ValueError(kind)


def run(kind: str, conc: int, port: int, duration: float, warmup: float,
        handshake: bool) -> dict[str, Any]:
    """Measure completed cycles per second over ``duration`` seconds."""
    from twisted.internet import reactor

    silenceLogs()
    stops = [start(kind, port, handshake) for _ in range(conc)]
    marks: dict[str, Any] = {}

    def begin() -> None:
        marks["t0"] = time.perf_counter()
        marks["c0"] = dict(COUNTS)

    def end() -> None:
        marks["t1"] = time.perf_counter()
        marks["c1"] = dict(COUNTS)
        for stop in stops:
            stop()
        reactor.callLater(0.1, reactor.stop)

    reactor.callLater(warmup, begin)
    reactor.callLater(warmup + duration, end)
    # A hard bound, whatever happens.
    reactor.callLater(warmup + duration + 30, reactor.stop)
    reactor.run()
    if "c1" not in marks:
        raise RuntimeError("the measurement did not finish")
    elapsed = marks["t1"] - marks["t0"]
    delta = {key: marks["c1"][key] - marks["c0"][key] for key in COUNTS}
    return {
        "kind": kind,
        "conc": conc,
        "handshake": handshake,
        "elapsed": elapsed,
        "cycles": delta["cycles"],
        "failed": delta["failed"],
        "rate": delta["cycles"] / elapsed,
    }


def main(argv: list[str] | None = None) -> None:
    """Child entry point."""
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["raw", "rcf", "cs", "ours"])
    parser.add_argument("--conc", type=int, default=1)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--handshake", action="store_true")
    args = parser.parse_args(argv)
    emit(run(args.kind, args.conc, args.port, args.duration, args.warmup,
             args.handshake))


if __name__ == "__main__":
    main()
