"""
Benchmark 4: CPU cost of the reconnect machinery, in microseconds per
scheduled retry, with no sockets: a :class:`~twisted.internet.task.Clock`
drives each contestant against a connector (or endpoint) that fails every
attempt at once; every ``clock.advance`` fires one retry.
"""

from __future__ import annotations

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

from bench._common import median

DELAY = 1.0


@implementer(IConnector)
class FailingConnector:
    """An ``IConnector`` whose every attempt is refused at once."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory
        self.attempts = 0

    def connect(self) -> None:
        self.attempts += 1
        self.factory.startedConnecting(self)
        self.factory.clientConnectionFailed(
            self, Failure(error.ConnectionRefusedError())
        )

    def stopConnecting(self) -> None:
        raise error.NotConnectingError()

    def disconnect(self) -> None:
        pass

    def getDestination(self) -> Any:
        from twisted.internet.address import IPv4Address

        return IPv4Address("TCP", "127.0.0.1", 4321)


@implementer(IStreamClientEndpoint)
class FailingEndpoint:
    """An ``IStreamClientEndpoint`` whose every attempt is refused at once."""

    def __init__(self) -> None:
        self.attempts = 0

    def connect(self, factory: IProtocolFactory) -> Deferred[IProtocol]:
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


def measureOnce(kind: str, retries: int) -> float:
    """Microseconds per retry over ``retries`` retries."""
    clock = Clock()
    counter, stop = setUp(kind, clock)
    for _ in range(50):  # warm up
        clock.advance(DELAY)
    before = counter.attempts
    started = time.perf_counter()
    for _ in range(retries):
        clock.advance(DELAY)
    elapsed = time.perf_counter() - started
    done = counter.attempts - before
    stop()
    if done != retries:
        raise RuntimeError(f"{kind}: {done} attempts for {retries} advances")
    return elapsed / retries * 1e6


def run(retries: int, repeats: int = 3) -> dict[str, Any]:
    """µs per retry for each contestant (median of ``repeats``)."""
    results: dict[str, Any] = {}
    samples: dict[str, list[float]] = {kind: [] for kind in ("rcf", "cs", "ours")}
    for _ in range(repeats):
        for kind in samples:
            samples[kind].append(measureOnce(kind, retries))
    for kind, values in samples.items():
        results[kind] = {"usPerRetry": median(values), "samples": values}
    results["retries"] = retries
    return results
