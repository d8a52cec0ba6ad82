"""
Prometheus metrics for reconnecting factories (the ``[prometheus]`` extra:
``pip install 'reconnect_twisted[prometheus]'``).

::

    from reconnect_twisted.metrics import ReconnectMetrics

    metrics = ReconnectMetrics()  # registers in prometheus_client.REGISTRY
    metrics.watch(factory, name="quotes")  # name: defaults to the target

Everything is built on :meth:`ReconnectingFactory.addStatusObserver
<reconnect_twisted.ReconnectingFactory.addStatusObserver>`: a factory that
is not watched pays nothing, and this module (with ``prometheus_client``) is
only imported by applications that import it.

Metrics, each labelled ``name``:

``reconnect_state{state}``
    1 for the current state, 0 for the others (read at scrape time).
``reconnect_state_seconds``
    Seconds in the current state (read at scrape time).
``reconnect_attempts_total{result}``
    Attempts by outcome: ``connected``, ``refused``, ``timeout`` (connect
    timeout), ``handshake_failed`` (handshake error, timeout or connection
    lost during it), ``rejected`` (:class:`~reconnect_twisted.HandshakeRejected`),
    ``kicked`` (a kick, during the handshake or after it), ``failed`` (any
    other transport error: DNS, unreachable...), ``cancelled`` (stopped in
    flight by ``giveUp()``/``stopTrying()`` or the network going down).
``reconnect_connections_lost_total``
    Established (handshake done) connections that ended, for any reason.
``reconnect_outage_seconds``
    Histogram: from the first failure or loss to the next ``CONNECTED``
    (an outage that ends in ``STOPPED`` is not observed).
``reconnect_handshake_seconds``
    Histogram: duration of every handshake that ended, successful or not.
``reconnect_outbox_depth``
    Items queued or in flight, when ``watch(..., outbox=...)`` was given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from twisted.python.failure import Failure

from ._describe import targetOf
from ._errors import ConnectTimeout, HandshakeRejected, Kicked
from ._status import ConnectionState, ConnectionStatus
from ._validate import checkClock, checkWatched

__all__ = ["ATTEMPT_RESULTS", "ReconnectMetrics"]

S = ConnectionState

ATTEMPT_RESULTS = (
    "connected",
    "refused",
    "timeout",
    "handshake_failed",
    "rejected",
    "kicked",
    "failed",
    "cancelled",
)
"""Every value of the ``result`` label of ``reconnect_attempts_total``."""

OUTAGE_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
"""Seconds."""
HANDSHAKE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
"""Seconds."""

_NOT_CONNECTED = frozenset({S.WAITING, S.OFFLINE, S.STOPPED})


def _transportResult(failure: Failure) -> str:
    from twisted.internet import error

    if failure.check(error.ConnectionRefusedError):
        return "refused"
    if failure.check(ConnectTimeout, error.TimeoutError, TimeoutError):
        return "timeout"
    if failure.check(Kicked):
        return "kicked"
    return "failed"


def _handshakeResult(failure: Failure) -> str:
    if failure.check(Kicked):
        return "kicked"
    if failure.check(HandshakeRejected):
        return "rejected"
    return "handshake_failed"


class _Histogram:
    """Bucket counts of one labelled histogram, exposed by the collector."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last: +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        value = max(0.0, value)
        self.sum += value
        for index, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[index] += 1
                return
        self.counts[-1] += 1

    def buckets(self) -> list[tuple[str, float]]:
        total = 0
        result: list[tuple[str, float]] = []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            result.append(("+Inf" if bound == float("inf") else repr(bound), total))
        return result


class _Watched:
    """What the metrics remember of one watched factory."""

    def __init__(self, factory: Any, name: str | None, outbox: Any) -> None:
        self.factory = factory
        self.givenName = name
        self.outbox = outbox
        self.attempts = dict.fromkeys(ATTEMPT_RESULTS, 0)
        self.lost = 0
        self.outages = _Histogram(OUTAGE_BUCKETS)
        self.handshakes = _Histogram(HANDSHAKE_BUCKETS)
        self.previous: ConnectionStatus = factory.status
        self.outageStart: float | None = None
        self.handshakeStart: float | None = (
            self.previous.since if self.previous.state is S.HANDSHAKING else None
        )
        self.unsubscribe: Callable[[], None] = lambda: None

    @property
    def name(self) -> str:
        if self.givenName is not None:
            return self.givenName
        target = targetOf(self.factory)
        if target is not None:
            self.givenName = target  # fixed once known: series must not move
            return target
        return f"{type(self.factory).__name__}-{id(self.factory):x}"

    def observe(self, status: ConnectionStatus) -> None:
        before, self.previous = self.previous, status
        old, new = before.state, status.state
        if old is new:
            return
        fresh = status.lastFailure is not None and (
            status.lastFailure is not before.lastFailure
        )
        if new is S.HANDSHAKING:
            self.handshakeStart = status.since
        if old is S.HANDSHAKING and self.handshakeStart is not None:
            self.handshakes.observe(status.since - self.handshakeStart)
            self.handshakeStart = None
        if old is S.CONNECTING and new in _NOT_CONNECTED:
            failure = status.lastFailure
            self.attempts[
                _transportResult(failure) if fresh and failure else "cancelled"
            ] += 1
        elif old is S.HANDSHAKING and new in _NOT_CONNECTED:
            failure = status.lastFailure
            self.attempts[
                _handshakeResult(failure) if fresh and failure else "cancelled"
            ] += 1
        elif new is S.CONNECTED:
            self.attempts["connected"] += 1
            if self.outageStart is not None:
                self.outages.observe(status.since - self.outageStart)
                self.outageStart = None
        elif old is S.CONNECTED:
            self.lost += 1
            if fresh and status.lastFailure and status.lastFailure.check(Kicked):
                self.attempts["kicked"] += 1
        if new is S.STOPPED:
            self.outageStart = None
        elif new in _NOT_CONNECTED and self.outageStart is None:
            self.outageStart = status.since


class ReconnectMetrics(Collector):
    """
    A Prometheus collector for any number of factories.

    :param registry: where to register (default ``prometheus_client.REGISTRY``;
        tests pass a fresh ``CollectorRegistry()``); ``None`` registers
        nowhere.
    :param clock: ``IReactorTime`` for ``reconnect_state_seconds``
        (default: each factory's ``clock``, else the global reactor).
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = REGISTRY,
        clock: Any = None,
    ) -> None:
        self._watched: list[_Watched] = []
        self._clock = checkClock("clock", clock, "seconds")
        if registry is not None:
            if not callable(getattr(registry, "register", None)):
                raise TypeError(
                    f"registry must be a prometheus_client CollectorRegistry or "
                    f"None, not {type(registry)!r}"
                )
            registry.register(self)

    def watch(
        self, factory: Any, name: str | None = None, outbox: Any = None
    ) -> Callable[[], None]:
        """
        Observe ``factory`` under the label ``name`` (default: its target,
        e.g. ``host:port``, once it is known); with ``outbox`` (an
        :class:`~reconnect_twisted.Outbox`) also export its depth. Returns a
        callable that stops watching and drops the factory's series. A
        factory watched already keeps its series (the same callable is
        returned); a second factory with the same name is exported as
        ``name#2`` (``#3``...), so that no sample is duplicated.

        :raises TypeError: if ``name`` is not a str, or ``factory`` has no
            status observers.
        """
        checkWatched(factory, name)
        if outbox is not None and not isinstance(getattr(outbox, "queued", None), int):
            raise TypeError(
                f"outbox must be an Outbox (with .queued), not {type(outbox)!r}"
            )
        for known in self._watched:
            if known.factory is factory:
                return known.unsubscribe  # (watched already: one set of series)
        watched = _Watched(factory, name, outbox)
        unobserve = factory.addStatusObserver(watched.observe)
        self._watched.append(watched)

        def unwatch() -> None:
            unobserve()
            if watched in self._watched:
                self._watched.remove(watched)

        watched.unsubscribe = unwatch
        return unwatch

    def _now(self, factory: Any) -> float:
        clock = self._clock or getattr(factory, "clock", None)
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        return float(clock.seconds())

    def describe(self) -> Iterator[Any]:
        """The metric families, without samples (for registry checks)."""
        return iter(self._families())

    def _families(self) -> list[Any]:
        return [
            GaugeMetricFamily(
                "reconnect_state",
                "1 for the factory's current connection state, 0 for the others.",
                labels=["name", "state"],
            ),
            GaugeMetricFamily(
                "reconnect_state_seconds",
                "Seconds since the factory entered its current state.",
                labels=["name"],
            ),
            CounterMetricFamily(
                "reconnect_attempts",
                "Connection attempts by result.",
                labels=["name", "result"],
            ),
            CounterMetricFamily(
                "reconnect_connections_lost",
                "Established connections that ended.",
                labels=["name"],
            ),
            HistogramMetricFamily(
                "reconnect_outage_seconds",
                "Outages: from the first failure or loss to the next connection.",
                labels=["name"],
            ),
            HistogramMetricFamily(
                "reconnect_handshake_seconds",
                "Duration of the business handshakes that ended.",
                labels=["name"],
            ),
            GaugeMetricFamily(
                "reconnect_outbox_depth",
                "Outbox items queued or in flight.",
                labels=["name"],
            ),
        ]

    def collect(self) -> Iterator[Any]:
        """The current samples of every watched factory."""
        state, seconds, attempts, lost, outages, handshakes, depth = self._families()
        seen: dict[str, int] = {}
        for watched in list(self._watched):
            name = watched.name
            count = seen[name] = seen.get(name, 0) + 1
            if count > 1:
                # Two factories with one name (the same host:port): distinct
                # series, not duplicate samples that invalidate the scrape.
                name = f"{name}#{count}"
            status = watched.factory.status
            for each in S:
                state.add_metric(
                    [name, each.value], 1.0 if each is status.state else 0.0
                )
            seconds.add_metric(
                [name], max(0.0, self._now(watched.factory) - status.since)
            )
            for result, count in watched.attempts.items():
                attempts.add_metric([name, result], count)
            lost.add_metric([name], watched.lost)
            for histogram, family in (
                (watched.outages, outages),
                (watched.handshakes, handshakes),
            ):
                family.add_metric([name], histogram.buckets(), histogram.sum)
            if watched.outbox is not None:
                depth.add_metric([name], watched.outbox.queued)
        yield from (state, seconds, attempts, lost, outages, handshakes, depth)
