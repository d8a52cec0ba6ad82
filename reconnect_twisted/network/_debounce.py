"""
Debouncing raw up/down observations: down at once, up after a settle time that
grows while the network flaps.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ._typing import DelayedCall, TimeReactor

__all__ = ["Debouncer"]


class Debouncer:
    """
    Turns raw network observations into debounced transitions.

    * The first observation is reported at once (there is nothing to be
      unstable against).
    * Down is reported at once.
    * Up is reported only after it has held, uninterrupted, for the current
      settle time.
    * A *flap* is a reported up followed by down within ``flapWindow``
      seconds; each flap doubles the settle time, up to ``maxSettle``.
    * Each ``decayAfter`` seconds without a flap halve it again, down to
      ``settle``.

    :param clock: the time source; tests pass a
        :class:`twisted.internet.task.Clock`.
    :param report: called with the new value on each debounced change.
    :param settle: the base settle time, in seconds.
    :param maxSettle: the cap on the settle time.
    :param flapWindow: an up that lasts less than this is a flap.
    :param decayAfter: the stable period that halves the settle time.
    """

    def __init__(
        self,
        clock: TimeReactor,
        report: Callable[[bool], None],
        *,
        settle: float = 0.15,
        maxSettle: float = 10.0,
        flapWindow: float = 30.0,
        decayAfter: float = 60.0,
    ) -> None:
        if not 0 <= settle <= maxSettle:
            raise ValueError("need 0 <= settle <= maxSettle")
        if flapWindow < 0 or decayAfter <= 0:
            raise ValueError("need flapWindow >= 0 and decayAfter > 0")
        self._clock = clock
        self._report = report
        self._baseSettle = settle
        self._maxSettle = maxSettle
        self._flapWindow = flapWindow
        self._decayAfter = decayAfter
        self._pending: DelayedCall | None = None
        self._upReportedAt = 0.0
        self._lastFlapAt: float | None = None
        self._settleAtFlap = settle
        #: The last reported value; ``None`` before the first observation.
        self.reported: bool | None = None

    @property
    def settle(self) -> float:
        """
        The settle time an up observation would have to hold for now.
        """
        if self._lastFlapAt is None:
            return self._baseSettle
        halvings = int((self._clock.seconds() - self._lastFlapAt) // self._decayAfter)
        return max(self._baseSettle, math.ldexp(self._settleAtFlap, -halvings))

    @property
    def pending(self) -> bool:
        """
        Whether an up is waiting for its settle time to pass.
        """
        return self._pending is not None

    def feed(self, up: bool) -> None:
        """
        Take one raw observation; report a change now or schedule one.
        """
        if up:
            if self.reported is None:
                self._emit(True)
            elif not self.reported and self._pending is None:
                self._pending = self._clock.callLater(self.settle, self._settled)
            return
        self.cancel()
        if self.reported is not False:
            now = self._clock.seconds()
            if self.reported and now - self._upReportedAt < self._flapWindow:
                self._settleAtFlap = min(self._maxSettle, self.settle * 2)
                self._lastFlapAt = now
            self._emit(False)

    def cancel(self) -> None:
        """
        Forget a pending up, if any.
        """
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.cancel()

    def reset(self) -> None:
        """
        Cancel any pending up and forget the last reported value (the next
        observation is reported at once). The flap history is kept.
        """
        self.cancel()
        self.reported = None

    def _settled(self) -> None:
        self._pending = None
        self._emit(True)

    def _emit(self, up: bool) -> None:
        self.reported = up
        if up:
            self._upReportedAt = self._clock.seconds()
        self._report(up)
