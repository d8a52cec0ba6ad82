"""
Prometheus metrics (the [prometheus] extra), driven by fakes and a Clock,
each test with its own CollectorRegistry.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from twisted.internet import error
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import (
    ConnectTimeout,
    FixedBackoff,
    HandshakeRejected,
    ReconnectingFactory,
)
from reconnect_twisted.testing import connectFake

prometheus_client = pytest.importorskip("prometheus_client")

from reconnect_twisted.metrics import ReconnectMetrics  # noqa: E402


class _Factory(ReconnectingFactory):
    protocol = Protocol


def _sample(registry: Any, metric: str, **labels: str) -> float | None:
    value = registry.get_sample_value(metric, labels)
    return None if value is None else float(value)


class MetricsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.registry = prometheus_client.CollectorRegistry()
        self.metrics = ReconnectMetrics(self.registry, clock=self.clock)

    def tearDown(self) -> None:
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def _factory(self, **kwargs: Any) -> _Factory:
        kwargs.setdefault("backoff", FixedBackoff(3.0))
        return _Factory(clock=self.clock, minDelay=0.1, alertAfter=None, **kwargs)

    def _finish(self, factory: _Factory) -> None:
        factory.giveUp()
        self.clock.advance(0)
        self.clock.advance(10)

    def test_attemptsByResult(self) -> None:
        """When attempts are refused, time out and connect, each result is counted."""
        factory = self._factory()
        self.metrics.watch(factory, name="feed")
        connector = connectFake(factory, self.clock)
        connector.fail(error.ConnectionRefusedError())
        self.clock.advance(3.0)
        connector.fail(ConnectTimeout("no connection within 30s"))
        self.clock.advance(3.0)
        connector.fail(error.DNSLookupError("nope"))
        self.clock.advance(3.0)
        connector.succeed()
        attempts = "reconnect_attempts_total"
        self.assertEqual(
            _sample(self.registry, attempts, name="feed", result="refused"), 1
        )
        self.assertEqual(
            _sample(self.registry, attempts, name="feed", result="timeout"), 1
        )
        self.assertEqual(
            _sample(self.registry, attempts, name="feed", result="failed"), 1
        )
        self.assertEqual(
            _sample(self.registry, attempts, name="feed", result="connected"), 1
        )
        self.assertEqual(
            _sample(self.registry, attempts, name="feed", result="kicked"), 0
        )
        self.assertEqual(
            _sample(self.registry, "reconnect_state", name="feed", state="connected"), 1
        )
        self.assertEqual(
            _sample(self.registry, "reconnect_state", name="feed", state="waiting"), 0
        )
        # outage: from the first failure (t=0) to connected (t=9)
        self.assertEqual(
            _sample(self.registry, "reconnect_outage_seconds_count", name="feed"), 1
        )
        self.assertEqual(
            _sample(self.registry, "reconnect_outage_seconds_sum", name="feed"), 9.0
        )
        self.assertEqual(
            _sample(
                self.registry, "reconnect_outage_seconds_bucket", name="feed", le="10.0"
            ),
            1,
        )
        self.assertEqual(
            _sample(
                self.registry, "reconnect_outage_seconds_bucket", name="feed", le="5.0"
            ),
            0,
        )
        self._finish(factory)

    def test_timeInState(self) -> None:
        """When the clock moves, the time in the state follows at scrape time."""
        factory = self._factory()
        self.metrics.watch(factory, name="feed")
        connector = connectFake(factory, self.clock)
        connector.fail(error.ConnectionRefusedError())
        self.clock.advance(1.5)
        self.assertEqual(
            _sample(self.registry, "reconnect_state_seconds", name="feed"), 1.5
        )
        self.assertEqual(
            _sample(self.registry, "reconnect_state", name="feed", state="waiting"), 1
        )
        self._finish(factory)

    def test_handshakeRejectedKickedLost(self) -> None:
        """When a handshake is rejected, then a connection kicked, each is counted."""
        from twisted.internet.defer import Deferred

        pending: list[Deferred[None]] = []

        def handshake(protocol: Any) -> Deferred[None]:
            d: Deferred[None] = Deferred()
            pending.append(d)
            return d

        factory = self._factory(handshake=handshake)
        self.metrics.watch(factory, name="feed")
        connector = connectFake(factory, self.clock)
        connector.succeed()
        self.clock.advance(0.25)
        pending.pop().errback(HandshakeRejected("busy"))
        self.clock.advance(0)
        self.clock.advance(3.0)
        connector.succeed()
        self.clock.advance(0.5)
        pending.pop().callback(None)
        attempts = "reconnect_attempts_total"
        self.assertEqual(
            _sample(self.registry, attempts, name="feed", result="rejected"), 1
        )
        self.assertEqual(
            _sample(self.registry, attempts, name="feed", result="connected"), 1
        )
        self.assertEqual(
            _sample(self.registry, "reconnect_handshake_seconds_count", name="feed"), 2
        )
        self.assertEqual(
            _sample(self.registry, "reconnect_handshake_seconds_sum", name="feed"), 0.75
        )
        factory.kicked("same account logged in elsewhere")
        self.clock.advance(0)
        self.assertEqual(
            _sample(self.registry, attempts, name="feed", result="kicked"), 1
        )
        self.assertEqual(
            _sample(self.registry, "reconnect_connections_lost_total", name="feed"), 1
        )
        self.assertEqual(
            _sample(self.registry, "reconnect_state", name="feed", state="stopped"), 1
        )
        # the rejection's outage (0.25 s -> 3.75 s); the kick stopped it: none
        self.assertEqual(
            _sample(self.registry, "reconnect_outage_seconds_count", name="feed"), 1
        )
        self.assertEqual(
            _sample(self.registry, "reconnect_outage_seconds_sum", name="feed"), 3.5
        )
        self._finish(factory)

    def test_cancelledAttempt(self) -> None:
        """When giveUp() stops an attempt in flight, it counts as cancelled."""
        factory = self._factory()
        self.metrics.watch(factory, name="feed")
        connectFake(factory, self.clock)
        self._finish(factory)
        self.assertEqual(
            _sample(
                self.registry,
                "reconnect_attempts_total",
                name="feed",
                result="cancelled",
            ),
            1,
        )

    def test_defaultNameIsTarget(self) -> None:
        """When no name is given, the label is the target host:port."""
        factory = self._factory()
        self.metrics.watch(factory)
        connector = connectFake(factory, self.clock)
        connector.fail(error.ConnectionRefusedError())
        self.assertEqual(
            _sample(
                self.registry,
                "reconnect_attempts_total",
                name="127.0.0.1:4321",
                result="refused",
            ),
            1,
        )
        self._finish(factory)

    def test_sameNameTwoFactoriesAndWatchedTwice(self) -> None:
        """
        When two factories have the same default name (one host:port), the
        second one's series are "name#2", each with its own state; watching
        a factory again keeps one set of series; a name that is not a str
        is refused.
        """
        first, second = self._factory(), self._factory()
        self.metrics.watch(first)
        self.metrics.watch(second)
        self.metrics.watch(first)
        connectFake(first, self.clock).succeed()
        connectFake(second, self.clock).fail(error.ConnectionRefusedError())
        name = "127.0.0.1:4321"
        for label, state, value in [
            (name, "connected", 1), (name, "waiting", 0),
            (name + "#2", "connected", 0), (name + "#2", "waiting", 1),
        ]:
            self.assertEqual(
                _sample(self.registry, "reconnect_state", name=label, state=state),
                value,
            )
        self.assertIsNone(
            _sample(self.registry, "reconnect_state", name=name + "#3", state="idle")
        )
        self.assertRaises(TypeError, self.metrics.watch, self._factory(), name=123)
        prometheus_client.generate_latest(self.registry)  # (a valid scrape)
        self._finish(first)
        self._finish(second)

    def test_badArguments(self) -> None:
        """
        When the registry, clock, factory or outbox is of the wrong kind,
        TypeError names it at once (not at the next scrape).
        """
        for make, message in [
            (lambda: ReconnectMetrics("x"), "registry must be a prometheus_client "
             "CollectorRegistry or None, not <class 'str'>"),
            (lambda: ReconnectMetrics(None, clock=Clock), "clock must be an instance, "
             "not the class Clock; did you mean Clock()?"),
            (lambda: ReconnectMetrics(None, clock=object()), "clock must provide "
             "IReactorTime (no seconds()), not <class 'object'>"),
            (lambda: self.metrics.watch(object()), "factory must be a "
             "ReconnectingFactory, not <class 'object'>"),
            (lambda: self.metrics.watch(self._factory(), outbox=object()),
             "outbox must be an Outbox (with .queued), not <class 'object'>"),
        ]:
            with self.assertRaises(TypeError) as raised:
                make()
            self.assertEqual(str(raised.exception), message)

    def test_unwatch(self) -> None:
        """When unwatched, the factory's series disappear and it is not observed."""
        factory = self._factory()
        unwatch = self.metrics.watch(factory, name="feed")
        unwatch()
        connector = connectFake(factory, self.clock)
        connector.fail(error.ConnectionRefusedError())
        self.assertIsNone(
            _sample(self.registry, "reconnect_state", name="feed", state="waiting")
        )
        self._finish(factory)

    def test_outboxDepth(self) -> None:
        """When an outbox is given, its depth is exported."""

        class Box:
            queued = 3

        factory = self._factory()
        self.metrics.watch(factory, name="feed", outbox=Box())
        self.assertEqual(
            _sample(self.registry, "reconnect_outbox_depth", name="feed"), 3
        )

    def test_exposition(self) -> None:
        """When scraped, prometheus_client writes the text format with every family."""
        factory = self._factory()
        self.metrics.watch(factory, name='a"b')
        text = prometheus_client.generate_latest(self.registry).decode()
        for family in (
            "reconnect_state",
            "reconnect_state_seconds",
            "reconnect_attempts_total",
            "reconnect_connections_lost_total",
            "reconnect_outage_seconds_bucket",
            "reconnect_handshake_seconds_bucket",
        ):
            self.assertIn(family + "{", text)
        self.assertIn('name="a\\"b"', text)


def test_notImportedByPackage() -> None:
    """When the package and a factory are used, the extras are not imported."""
    code = (
        "import sys, reconnect_twisted, reconnect_twisted.twistd;"
        "f = reconnect_twisted.ReconnectingFactory();"
        "print([m for m in ('prometheus_client', 'reconnect_twisted.metrics',"
        " 'reconnect_twisted.web', 'twisted.web') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
