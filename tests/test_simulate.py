"""
The fleet simulator (``python -m reconnect_twisted simulate``) and its heap
clock: small fleets, seeded, in-process.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import FixedBackoff
from reconnect_twisted import _simulate as simulator
from reconnect_twisted.__main__ import main
from reconnect_twisted._simulate import (
    Configuration,
    HeapClock,
    PlotUnavailable,
    simulate,
)

try:
    import matplotlib  # noqa: F401
except ImportError:
    HAVE_MATPLOTLIB = False
else:
    HAVE_MATPLOTLIB = True

FIXED3 = Configuration("fixed", backoff=lambda rng: FixedBackoff(3.0))
FIXED3_MONITORED = Configuration(
    "fixed", backoff=lambda rng: FixedBackoff(3.0), networkMonitor=True
)


class HeapClockTests(SynchronousTestCase):
    """The simulator's clock behaves as ``task.Clock``, faster."""

    def test_order(self) -> None:
        """When calls are due at once, they run in time order, ties in call order."""
        clock = HeapClock()
        ran: list[str] = []
        clock.callLater(2, ran.append, "c")
        clock.callLater(1, ran.append, "a")
        clock.callLater(1, ran.append, "b")
        clock.callLater(3, ran.append, "never").cancel()
        self.assertEqual(clock.nextTime(), 1)
        clock.advance(5)
        self.assertEqual(ran, ["a", "b", "c"])
        self.assertEqual((clock.getDelayedCalls(), clock.nextTime()), ([], None))

    def test_resetLater(self) -> None:
        """
        When a call is reset to a later time (``DelayedCall.reset()`` only
        records a delay then), it runs at the new time, not never.
        """
        clock = HeapClock()
        ran: list[float] = []
        call = clock.callLater(1, lambda: ran.append(clock.seconds()))
        call.reset(5)
        clock.advance(1)
        self.assertEqual((ran, clock.nextTime()), ([], 5))
        clock.advance(4)
        self.assertEqual(ran, [5])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_resetEarlier(self) -> None:
        """When a call is reset to an earlier time, it runs then, once."""
        clock = HeapClock()
        ran: list[float] = []
        call = clock.callLater(10, lambda: ran.append(clock.seconds()))
        call.reset(2)
        clock.advance(2)
        self.assertEqual(ran, [2])
        clock.advance(18)
        self.assertEqual((ran, clock.getDelayedCalls()), ([2], []))


class SimulateTests(SynchronousTestCase):
    """Seeded runs of small fleets."""

    def test_fixedNoJitterExact(self) -> None:
        """
        When 100 clients with FixedBackoff(3) (no jitter) drop against a
        server accepting 40/s, they all retry in lockstep at 3 s, 6 s and
        9 s: 40, 40 and 20 get in, after 100 + 60 + 20 attempts.
        """
        result = simulate(FIXED3, clients=100, rate=40)
        self.assertEqual(
            (result.t50, result.t99, result.t100, result.attempts),
            (6.0, 9.0, 9.0, 180),
        )
        self.assertEqual(
            (result.peakPerSecond, result.reconnected, result.unreachable),
            (100, 100, 0),
        )
        self.assertEqual(result.perSecond, [0, 0, 0, 100, 0, 0, 60, 0, 0, 20])
        self.assertEqual(result.curve[0], (0.0, 0.0))
        self.assertEqual(result.curve[-1][1], 1.0)
        self.assertEqual(result.ideal, 2.5)

    def test_deterministic(self) -> None:
        """
        When the same jittered configuration runs twice with one seed, the
        results are identical; the random module's state is left as it was.
        """
        configuration = simulator.configurations(_options())[0]
        state = __import__("random").getstate()
        first = simulate(configuration, clients=100, rate=20, seed=7)
        second = simulate(configuration, clients=100, rate=20, seed=7)
        self.assertEqual(__import__("random").getstate(), state)
        first.wallSeconds = second.wallSeconds = 0.0
        self.assertEqual(first, second)
        self.assertEqual(first.reconnected, 100)

    def test_invariants(self) -> None:
        """
        When Twisted's classes and ours run the same herd, everyone gets
        back, the server never accepts more than its rate, the times are
        ordered and every client made at least one attempt.
        """
        for kind in ("rcf", "cs", "ours"):
            configuration = Configuration(kind, kind)
            result = simulate(configuration, clients=90, rate=30, seed=3)
            self.assertEqual(result.reconnected, 90, kind)
            assert result.t50 is not None and result.t99 is not None
            assert result.t100 is not None
            self.assertTrue(0 < result.t50 <= result.t99 <= result.t100, kind)
            self.assertGreaterEqual(result.t100, 90 / 30 - 1, kind)
            self.assertGreaterEqual(result.attempts, 90, kind)
            self.assertEqual(sum(result.perSecond), result.attempts, kind)
            self.assertEqual(max(result.perSecond), result.peakPerSecond, kind)

    def test_networkDownWithMonitor(self) -> None:
        """
        When the network is down until t=10 and the clients have a network
        monitor, no attempt is made while it is down and nobody is back
        before 10 s.
        """
        result = simulate(FIXED3_MONITORED, clients=100, rate=40, networkUpAt=10.0)
        self.assertEqual((result.unreachable, result.reconnected), (0, 100))
        self.assertEqual(result.perSecond[:10], [0] * 10)
        assert result.t50 is not None
        self.assertGreaterEqual(result.t50, 10.0)
        self.assertEqual(result.ideal, 12.5)

    def test_networkDownWithoutMonitor(self) -> None:
        """
        When the network is down until t=10 and the clients have no monitor,
        their attempts at 3, 6 and 9 s fail without reaching the server; at
        12 s the lockstep herd resumes.
        """
        result = simulate(FIXED3, clients=100, rate=40, networkUpAt=10.0)
        self.assertEqual(
            (result.unreachable, result.attempts, result.t50, result.t100),
            (300, 480, 15.0, 18.0),
        )
        self.assertEqual(result.perSecond[:12], [0] * 12)

    def test_horizon(self) -> None:
        """When the horizon is too short, the late quantiles are None."""
        result = simulate(FIXED3, clients=100, rate=40, horizon=7.0)
        self.assertEqual((result.t50, result.t99, result.t100), (6.0, None, None))
        self.assertEqual(result.reconnected, 80)


def _options(*argv: str) -> Any:
    """The parsed options of ``simulate ARGV``."""
    from reconnect_twisted.__main__ import _parser

    return _parser().parse_args(["simulate", *argv])


class CommandLineTests(SynchronousTestCase):
    """``python -m reconnect_twisted simulate``, in-process."""

    def simulateMain(self, *argv: str) -> tuple[int | str | None, str, str]:
        out, err = io.StringIO(), io.StringIO()
        self.patch(sys, "stdout", out)
        self.patch(sys, "stderr", err)
        try:
            code: int | str | None = main(["simulate", *argv])
        except SystemExit as e:
            code = e.code
        return code, out.getvalue(), err.getvalue()

    def test_output(self) -> None:
        """When a seeded run finishes, it prints the table of its results."""
        code, out, _ = self.simulateMain(
            "--clients", "100", "--accept-rate", "40", "--backoff", "fixed",
            "--preset", "server",
        )  # fmt: skip
        self.assertEqual(code, 0)
        self.assertEqual(
            out.splitlines()[:6],
            [
                "100 clients lose their connection at t=0; the server accepts "
                "40/s (ideal: 2.5 s)",
                "Simulated, seed 1, 0.05 s steps, horizon 3600 s.",
                "",
                "configuration                      t50     t99    t100  "
                "attempts  peak/s",
                "FixedBackoff(3, jitter=0)       6.00 s  9.00 s  9.00 s  "
                "     180     100",
                "server preset: FixedBackoff(3)  6.00 s  9.00 s  9.00 s  "
                "     180     100",
            ],
        )

    def test_json(self) -> None:
        """When --json is given, the results are one JSON object."""
        code, out, _ = self.simulateMain(
            "--clients", "100", "--accept-rate", "40", "--backoff", "fixed",
            "--network-up-at", "10", "--json",
        )  # fmt: skip
        self.assertEqual(code, 0)
        data = json.loads(out)
        self.assertEqual(
            (data["clients"], data["rate"], data["networkUpAt"], data["seed"]),
            (100, 40, 10.0, 1),
        )
        [entry] = data["configurations"]
        self.assertEqual(entry["name"], "FixedBackoff(3, jitter=0) + network monitor")
        self.assertEqual((entry["unreachable"], entry["reconnected"]), (0, 100))

    def test_configurations(self) -> None:
        """
        When --backoff and --preset are repeated, each is one configuration,
        in order, tuned by the shared options; the default is exponential.
        """
        names = [c.name for c in simulator.configurations(_options())]
        self.assertEqual(
            names, ["ExponentialBackoff(2, factor=2, maxDelay=60, jitter=0.8)"]
        )
        chosen = simulator.configurations(
            _options(
                "--backoff", "exponential", "--backoff", "decorrelated",
                "--backoff", "rcf", "--backoff", "clientservice",
                "--preset", "client", "--initial-delay", "1", "--max-delay",
                "30", "--jitter", "0.5", "--network-up-at", "5",
            )
        )  # fmt: skip
        self.assertEqual(
            [(c.name, c.kind, c.networkMonitor) for c in chosen],
            [
                (
                    "ExponentialBackoff(1, factor=2, maxDelay=30, jitter=0.5)"
                    " + network monitor",
                    "ours",
                    True,
                ),
                ("DecorrelatedBackoff(1, 30) + network monitor", "ours", True),
                ("ReconnectingClientFactory defaults", "rcf", False),
                ("ClientService defaults", "cs", False),
                (
                    "client preset: ExponentialBackoff() + network monitor",
                    "ours",
                    True,
                ),
            ],
        )

    def test_usageErrors(self) -> None:
        """
        When an argument is wrong, simulate exits with status 2 and a usage
        error naming it, never a traceback.
        """
        cases = [
            (["--clients", "0"], "--clients: must be >= 1"),
            (["--clients", "many"], "--clients: not an integer"),
            (["--clients", "2000000"], "--clients: must be <= 1e+06"),
            (["--accept-rate", "1.5"], "--accept-rate: not an integer"),
            (["--jitter", "2"], "--jitter: must be <= 1"),
            (["--initial-delay", "nan"], "--initial-delay: must be finite"),
            (["--initial-delay", "0"], "--initial-delay: must be > 0"),
            (["--factor", "0.5"], "--factor: must be >= 1"),
            (["--network-up-at", "-1"], "--network-up-at: must be >= 0"),
            (["--backoff", "linear"], "--backoff: invalid choice: 'linear'"),
            (["--preset", "phone"], "--preset: invalid choice: 'phone'"),
            (
                ["--backoff", "fixed", "--max-delay", "5"],
                "--max-delay applies to --backoff exponential or decorrelated only",
            ),
            (
                ["--preset", "client", "--jitter", "0.1"],
                "--jitter applies to --backoff exponential or fixed only",
            ),
            (
                ["--initial-delay", "10", "--max-delay", "5"],
                "--backoff exponential: maxDelay",
            ),
            (
                ["--network-up-at", "100", "--horizon", "50"],
                "--network-up-at must be before the --horizon",
            ),
            (["--plot", "/nonexistent-dir/x.png"], "--plot: no such directory"),
        ]
        for argv, message in cases:
            code, out, err = self.simulateMain(*argv)
            self.assertEqual(code, 2, argv)
            self.assertIn(message, err, argv)
            self.assertIn("usage: python -m reconnect_twisted simulate", err, argv)
            self.assertNotIn("Traceback", err, argv)
            self.assertEqual(out, "", argv)

    def test_plotWithoutMatplotlib(self) -> None:
        """
        When --plot is given and matplotlib is missing, simulate exits 2
        before simulating, naming the [plot] extra.
        """

        def missing() -> None:
            raise PlotUnavailable("No module named 'matplotlib'")

        self.patch(simulator, "_pyplot", missing)
        code, out, err = self.simulateMain("--plot", "out.png")
        self.assertEqual((code, out), (2, ""))
        self.assertIn("pip install 'reconnect_twisted[plot]'", err)

    def test_plot(self) -> None:
        """When --plot is given, a PNG of the curves is written."""
        if not HAVE_MATPLOTLIB:
            raise self.skipTest("matplotlib is not installed (the [plot] extra)")
        directory = tempfile.mkdtemp()
        self.addCleanup(__import__("shutil").rmtree, directory)
        path = os.path.join(directory, "herd.png")
        code, out, _ = self.simulateMain(
            "--clients", "20", "--accept-rate", "10", "--preset", "server",
            "--preset", "client", "--network-up-at", "2", "--plot", path,
        )  # fmt: skip
        self.assertEqual(code, 0)
        self.assertIn(f"plot: {path}", out)
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


class BenchTests(SynchronousTestCase):
    """The herd benchmark runs on this simulator."""

    def test_oneSimulator(self) -> None:
        """When the bench imports its clock and server, they are the package's."""
        from bench import herd

        self.assertIs(herd.HeapClock, HeapClock)
        self.assertIs(herd.Server, simulator.SimServer)
        result = herd.simulate(herd.SCENARIOS[2], 100, 40, 1, 3600.0)
        self.assertEqual((result.t100, result.attempts), (9.0, 180))
