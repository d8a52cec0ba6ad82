"""
Tests for the debouncing of raw network observations.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted.network._debounce import Debouncer


class DebouncerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.reports: list[tuple[float, bool]] = []
        self.debouncer = Debouncer(
            self.clock, lambda up: self.reports.append((self.clock.seconds(), up))
        )

    def tearDown(self) -> None:
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def bringUp(self) -> None:
        """Go from down to a reported up, waiting exactly the settle time."""
        settle = self.debouncer.settle
        self.debouncer.feed(True)
        self.clock.advance(settle)

    def test_firstObservationAtOnce(self) -> None:
        """
        When the first observation is up, it is reported at once.
        """
        self.debouncer.feed(True)
        self.assertEqual(self.reports, [(0.0, True)])
        self.assertIs(self.debouncer.reported, True)

    def test_firstDownAtOnce(self) -> None:
        """
        When the first observation is down, it is reported at once.
        """
        self.debouncer.feed(False)
        self.assertEqual(self.reports, [(0.0, False)])

    def test_downAtOnce(self) -> None:
        """
        When up turns down, down is reported at the same instant.
        """
        self.debouncer.feed(True)
        self.clock.advance(100)
        self.debouncer.feed(False)
        self.assertEqual(self.reports, [(0.0, True), (100.0, False)])

    def test_upAfterSettle(self) -> None:
        """
        When down turns up, up is reported exactly 0.15 s later, not before.
        """
        self.debouncer.feed(False)
        self.debouncer.feed(True)
        self.clock.advance(0.149)
        self.assertEqual(self.reports, [(0.0, False)])
        self.assertTrue(self.debouncer.pending)
        self.clock.advance(0.001)
        self.assertEqual(self.reports, [(0.0, False), (0.15, True)])
        self.assertFalse(self.debouncer.pending)

    def test_repeatedUpKeepsTimer(self) -> None:
        """
        When up is observed again while settling, the settle time is not
        restarted: stability is measured from the first up.
        """
        self.debouncer.feed(False)
        self.debouncer.feed(True)
        self.clock.advance(0.1)
        self.debouncer.feed(True)
        self.clock.advance(0.05)
        self.assertEqual(self.reports, [(0.0, False), (0.1 + 0.05, True)])

    def test_bounceWhileSettling(self) -> None:
        """
        When up turns down again before the settle time, nothing is reported
        and the settle time is unchanged (no up was reported, so no flap).
        """
        self.debouncer.feed(False)
        self.debouncer.feed(True)
        self.clock.advance(0.1)
        self.debouncer.feed(False)
        self.clock.advance(1)
        self.assertEqual(self.reports, [(0.0, False)])
        self.assertEqual(self.debouncer.settle, 0.15)

    def test_noDuplicates(self) -> None:
        """
        When the same value is observed repeatedly, it is reported once.
        """
        for _ in range(3):
            self.debouncer.feed(True)
        for _ in range(3):
            self.debouncer.feed(False)
        self.assertEqual(self.reports, [(0.0, True), (0.0, False)])

    def test_flapDoubles(self) -> None:
        """
        When a reported up goes down within the flap window, the settle time
        doubles: 0.15, 0.3, 0.6, ...
        """
        self.debouncer.feed(False)
        expected = [0.15, 0.3, 0.6, 1.2, 2.4]
        seen = []
        for _ in expected:
            seen.append(self.debouncer.settle)
            self.bringUp()
            self.debouncer.feed(False)
        self.assertEqual(seen, expected)
        self.assertEqual(self.debouncer.settle, 4.8)

    def test_flapCapped(self) -> None:
        """
        When the network keeps flapping, the settle time stops at 10 s.
        """
        self.debouncer.feed(False)
        for _ in range(10):
            self.bringUp()
            self.debouncer.feed(False)
        self.assertEqual(self.debouncer.settle, 10.0)
        self.debouncer.feed(True)
        self.clock.advance(9.999)
        self.assertIs(self.debouncer.reported, False)
        self.clock.advance(0.001)
        self.assertIs(self.debouncer.reported, True)

    def test_longUpIsNoFlap(self) -> None:
        """
        When up lasted at least the flap window (30 s), going down does not
        grow the settle time.
        """
        self.debouncer.feed(False)
        self.bringUp()
        self.clock.advance(30)
        self.debouncer.feed(False)
        self.assertEqual(self.debouncer.settle, 0.15)

    def test_decay(self) -> None:
        """
        When no flap happens for 60 s, the settle time halves; after enough
        stable time it is back to the base.
        """
        self.debouncer.feed(False)
        for _ in range(4):
            self.bringUp()
            self.debouncer.feed(False)
        self.assertEqual(self.debouncer.settle, 2.4)
        self.clock.advance(60)
        self.assertEqual(self.debouncer.settle, 1.2)
        self.clock.advance(60)
        self.assertEqual(self.debouncer.settle, 0.6)
        self.clock.advance(3600)
        self.assertEqual(self.debouncer.settle, 0.15)

    def test_resetForgets(self) -> None:
        """
        When reset while an up is settling, the pending up is cancelled and
        the next observation is reported at once.
        """
        self.debouncer.feed(False)
        self.debouncer.feed(True)
        self.debouncer.reset()
        self.assertIsNone(self.debouncer.reported)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.debouncer.feed(True)
        self.assertEqual(self.reports, [(0.0, False), (0.0, True)])

    def test_customSettle(self) -> None:
        """
        When built with settle=0.25 and maxSettle=0.5, those bound the
        settle time.
        """
        debouncer = Debouncer(self.clock, lambda up: None, settle=0.25, maxSettle=0.5)
        debouncer.feed(False)
        for _ in range(3):
            debouncer.feed(True)
            self.clock.advance(debouncer.settle)
            debouncer.feed(False)
        self.assertEqual(debouncer.settle, 0.5)

    def test_invalidArguments(self) -> None:
        """
        When settle exceeds maxSettle or is negative, construction fails.
        """
        self.assertRaises(ValueError, Debouncer, self.clock, print, settle=11.0)
        self.assertRaises(ValueError, Debouncer, self.clock, print, settle=-1.0)
