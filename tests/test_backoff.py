"""
Tests for reconnect_twisted.backoff: exact schedules, validation, properties.
"""

from __future__ import annotations

import math
import random
from itertools import islice

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted.backoff import (
    DecorrelatedBackoff,
    ExponentialBackoff,
    FixedBackoff,
    IBackoff,
    asBackoff,
)


def take(backoff: IBackoff, n: int) -> list[float]:
    return list(islice(backoff.delays(), n))


class ExactScheduleTests(SynchronousTestCase):
    def test_exponentialNoJitter(self) -> None:
        """When jitter is 0, the default schedule is 2, 4, 8, 16, 32, 60, 60."""
        self.assertEqual(
            take(ExponentialBackoff(jitter=0), 8),
            [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0],
        )

    def test_exponentialRestart(self) -> None:
        """When afterCap is "restart", the schedule starts again after the cap."""
        self.assertEqual(
            take(ExponentialBackoff(jitter=0, afterCap="restart"), 9),
            [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 2.0, 4.0, 8.0],
        )

    def test_fixed(self) -> None:
        """When FixedBackoff(3.0) is used, every delay is 3.0."""
        self.assertEqual(take(FixedBackoff(3.0), 50), [3.0] * 50)

    def test_factorOne(self) -> None:
        """When factor is 1, the delay stays at initialDelay."""
        self.assertEqual(take(ExponentialBackoff(5, 1, 60, 0), 4), [5.0] * 4)

    def test_tinyInitialDelay(self) -> None:
        """When initialDelay is tiny but > 0, the schedule still grows."""
        self.assertEqual(
            take(ExponentialBackoff(0.25, 2, 60, 0), 5), [0.25, 0.5, 1.0, 2.0, 4.0]
        )

    def test_decorrelatedSeeded(self) -> None:
        """When seeded alike, DecorrelatedBackoff follows the formula exactly."""
        rng = random.Random(7)
        expected = []
        previous = 1.0
        for _ in range(20):
            previous = min(60.0, rng.uniform(1.0, previous * 3))
            expected.append(previous)
        self.assertEqual(
            take(DecorrelatedBackoff(1.0, 60.0, random.Random(7)), 20), expected
        )

    def test_callable(self) -> None:
        """When a callable is given, it is called with attempt 1, 2, 3..."""
        backoff = asBackoff(lambda attempt: attempt * 1.5)
        self.assertEqual(take(backoff, 3), [1.5, 3.0, 4.5])
        self.assertEqual(take(backoff, 2), [1.5, 3.0])

    def test_callableBadValue(self) -> None:
        """When the callable returns a negative delay, ValueError names it."""
        with self.assertRaises(ValueError) as e:
            take(asBackoff(lambda attempt: -1.0), 1)
        self.assertIn("backoff(1)", str(e.exception))

    def test_asBackoffRejects(self) -> None:
        """When backoff is neither IBackoff nor callable, TypeError names it."""
        with self.assertRaises(TypeError) as e:
            asBackoff(3)
        self.assertIn("backoff", str(e.exception))

    def test_asBackoffKeepsProvider(self) -> None:
        """When an IBackoff provider is given, it is used as it is."""
        backoff = FixedBackoff(1.0)
        self.assertIs(asBackoff(backoff), backoff)

    def test_reprs(self) -> None:
        """When printed, schedules show their parameters."""
        self.assertEqual(
            repr(FixedBackoff(3.0)), "FixedBackoff(interval=3.0, jitter=0.0)"
        )
        self.assertIn("afterCap='hold'", repr(ExponentialBackoff()))
        self.assertIn("maxDelay=60.0", repr(DecorrelatedBackoff()))


class ValidationTests(SynchronousTestCase):
    BAD = [
        (lambda: FixedBackoff(-1), "interval"),
        (lambda: FixedBackoff(math.nan), "interval"),
        (lambda: FixedBackoff(math.inf), "interval"),
        (lambda: FixedBackoff(1, jitter=1.5), "jitter"),
        (lambda: FixedBackoff(1, jitter=-0.1), "jitter"),
        (lambda: FixedBackoff(1, jitter=math.nan), "jitter"),
        (lambda: ExponentialBackoff(initialDelay=-2), "initialDelay"),
        (lambda: ExponentialBackoff(initialDelay=0), "initialDelay"),
        (lambda: ExponentialBackoff(initialDelay=0.0), "initialDelay"),
        (lambda: ExponentialBackoff(initialDelay=-0.0), "initialDelay"),
        (lambda: ExponentialBackoff(0, 2, 60, 0), "initialDelay"),
        (lambda: ExponentialBackoff(initialDelay=10**400), "initialDelay"),
        (lambda: ExponentialBackoff(maxDelay=10**400), "maxDelay"),
        (lambda: ExponentialBackoff(factor=10**400), "factor"),
        (lambda: ExponentialBackoff(jitter=10**400), "jitter"),
        (lambda: FixedBackoff(10**400), "interval"),
        (lambda: FixedBackoff(1, jitter=10**400), "jitter"),
        (lambda: ExponentialBackoff(initialDelay=math.nan), "initialDelay"),
        (lambda: ExponentialBackoff(factor=0.5), "factor"),
        (lambda: ExponentialBackoff(factor=math.inf), "factor"),
        (lambda: ExponentialBackoff(maxDelay=1), "maxDelay"),
        (lambda: ExponentialBackoff(maxDelay=math.inf), "maxDelay"),
        (lambda: ExponentialBackoff(jitter=2), "jitter"),
        (lambda: ExponentialBackoff(afterCap="loop"), "afterCap"),
        (lambda: DecorrelatedBackoff(initialDelay=-1), "initialDelay"),
        (lambda: DecorrelatedBackoff(0), "initialDelay"),
        (lambda: DecorrelatedBackoff(0, 60), "initialDelay"),
        (lambda: DecorrelatedBackoff(0.0, 0.0), "initialDelay"),
        (lambda: DecorrelatedBackoff(10**400, 60), "initialDelay"),
        (lambda: DecorrelatedBackoff(initialDelay=5, maxDelay=1), "maxDelay"),
        (lambda: DecorrelatedBackoff(maxDelay=math.nan), "maxDelay"),
    ]

    def test_invalidValues(self) -> None:
        """When an argument is invalid, ValueError names the argument."""
        for make, name in self.BAD:
            with self.assertRaises(ValueError) as e:
                make()
            self.assertIn(name, str(e.exception))

    def test_zeroInitialDelayMessage(self) -> None:
        """When initialDelay is 0, the ValueError says why 0 is refused."""
        for make in (ExponentialBackoff, DecorrelatedBackoff):
            with self.assertRaises(ValueError) as e:
                make(0)
            self.assertEqual(
                str(e.exception),
                "initialDelay must be > 0, not 0: every delay of the schedule "
                "derives from it, so 0 would retry with no wait for ever",
            )

    def test_hugeIntegerMessage(self) -> None:
        """When initialDelay is 10**400, the ValueError names it and its size."""
        with self.assertRaises(ValueError) as e:
            ExponentialBackoff(10**400)
        self.assertEqual(
            str(e.exception),
            "initialDelay must be a finite number, not an integer of about "
            "401 digits (too large for a float)",
        )

    def test_fixedZeroAllowed(self) -> None:
        """When FixedBackoff(0) is used, it stays allowed (minDelay floors it)."""
        self.assertEqual(take(FixedBackoff(0), 3), [0.0, 0.0, 0.0])

    def test_invalidTypes(self) -> None:
        """When an argument has the wrong type, TypeError names the argument."""
        for make, name in [
            (lambda: FixedBackoff("3"), "interval"),  # type: ignore[arg-type]
            (lambda: ExponentialBackoff(jitter=None), "jitter"),  # type: ignore[arg-type]
            (lambda: ExponentialBackoff(initialDelay=True), "initialDelay"),
        ]:
            with self.assertRaises(TypeError) as e:
                make()
            self.assertIn(name, str(e.exception))


delays = st.floats(min_value=0, max_value=1e6, allow_nan=False)
#: initialDelay: 0 is refused (every delay would be 0).
initialDelays = st.floats(min_value=0, max_value=1e6, exclude_min=True)
fractions = st.floats(min_value=0, max_value=1)
seeds = st.integers(min_value=0, max_value=2**32)


class PropertyTests(SynchronousTestCase):
    @given(
        initialDelays,
        st.floats(min_value=1, max_value=10),
        delays,
        fractions,
        st.sampled_from(["hold", "restart"]),
        seeds,
    )
    def test_exponentialBounds(
        self,
        initial: float,
        factor: float,
        extra: float,
        jitter: float,
        afterCap: str,
        seed: int,
    ) -> None:
        """When any valid arguments are given, each delay lies in [d(1-j), d]."""
        maxDelay = initial + extra
        backoff = ExponentialBackoff(
            initial, factor, maxDelay, jitter, afterCap, random.Random(seed)
        )
        unjittered = take(
            ExponentialBackoff(initial, factor, maxDelay, 0, afterCap), 40
        )
        got = take(backoff, 40)
        for d, value in zip(unjittered, got, strict=True):
            self.assertTrue(math.isfinite(value))
            self.assertLessEqual(value, maxDelay)
            self.assertLessEqual(value, d)
            self.assertGreaterEqual(value, d * (1 - jitter) - 1e-9 * d)
            self.assertGreaterEqual(value, 0.0)
        again = ExponentialBackoff(
            initial, factor, maxDelay, jitter, afterCap, random.Random(seed)
        )
        self.assertEqual(take(again, 40), got)

    @given(delays, fractions, seeds)
    def test_fixedBounds(self, interval: float, jitter: float, seed: int) -> None:
        """When jittered, fixed delays lie in [i(1-j), i] and repeat per seed."""
        got = take(FixedBackoff(interval, jitter, random.Random(seed)), 20)
        for value in got:
            self.assertLessEqual(value, interval)
            self.assertGreaterEqual(value, interval * (1 - jitter) - 1e-9 * interval)
        self.assertEqual(
            take(FixedBackoff(interval, jitter, random.Random(seed)), 20), got
        )

    @given(initialDelays, delays, seeds)
    def test_decorrelatedBounds(self, initial: float, extra: float, seed: int) -> None:
        """When decorrelated, delays stay within [initialDelay, maxDelay]."""
        backoff = DecorrelatedBackoff(initial, initial + extra, random.Random(seed))
        for value in take(backoff, 40):
            self.assertTrue(math.isfinite(value))
            self.assertGreaterEqual(value, initial)
            self.assertLessEqual(value, initial + extra)

    @given(initialDelays, st.floats(min_value=1, max_value=10), delays)
    def test_freshEachCall(self, initial: float, factor: float, extra: float) -> None:
        """When delays() is called again, the schedule starts from the beginning."""
        backoff = ExponentialBackoff(initial, factor, initial + extra, 0)
        first = take(backoff, 10)
        self.assertEqual(take(backoff, 10), first)
        self.assertEqual(first[0], initial)
