"""
Backoff schedules: how long to wait before each reconnection attempt.

A schedule is pure: it reads no clock, and its randomness comes from an
injectable :class:`random.Random`, so the same seed gives the same delays.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

from zope.interface import Interface, implementer

from ._validate import (
    adapt,
    checkDelay,
    checkFraction,
    checkMinDelay,
    checkRng,
    safeName,
)

__all__ = [
    "DecorrelatedBackoff",
    "ExponentialBackoff",
    "FixedBackoff",
    "IBackoff",
    "asBackoff",
]


class IBackoff(Interface):
    """
    A reconnection schedule.
    """

    def delays() -> Iterator[float]:
        """
        A fresh schedule: the delay before attempt 1, 2, ... Called on every
        reset, so each call must start again from the beginning.
        """


def _jittered(rng: random.Random, delay: float, jitter: float) -> float:
    """
    Draw a delay uniformly from ``[delay * (1 - jitter), delay]``.
    """
    if jitter == 0.0:
        return delay
    return rng.uniform(delay * (1.0 - jitter), delay)


def _checkRange(initialDelay: Any, maxDelay: Any) -> tuple[float, float]:
    """
    Check ``0 < initialDelay <= maxDelay``, naming the culprit. An
    ``initialDelay`` of 0 is refused: every later delay derives from it, so
    the whole schedule would be 0 (a reconnection loop with no wait).
    """
    if initialDelay == 0 and not isinstance(initialDelay, bool):
        raise ValueError(
            f"initialDelay must be > 0, not {initialDelay!r}: every delay of "
            f"the schedule derives from it, so 0 would retry with no wait "
            f"for ever"
        )
    initial = checkMinDelay("initialDelay", initialDelay)
    cap = checkDelay("maxDelay", maxDelay)
    if cap < initial:
        raise ValueError(
            f"maxDelay ({maxDelay!r}) must be >= initialDelay ({initialDelay!r})"
        )
    return initial, cap


@implementer(IBackoff)
class FixedBackoff:
    """
    The same interval forever: the server-to-server preset
    (``FixedBackoff(3.0)``).

    :param interval: seconds between attempts, ``>= 0``.
    :param jitter: fraction in ``[0, 1]``; each delay is drawn uniformly from
        ``[interval * (1 - jitter), interval]``.
    :param rng: the source of randomness (a :class:`random.Random`; ``None``:
        one shared by the library, never the ``random`` module's own).
    """

    def __init__(
        self,
        interval: float = 3.0,
        jitter: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        self.interval = checkDelay("interval", interval)
        self.jitter = checkFraction("jitter", jitter)
        self._rng = checkRng(rng)

    def delays(self) -> Iterator[float]:
        """
        Yield ``interval`` (jittered) forever.
        """
        interval, jitter, rng = self.interval, self.jitter, self._rng
        if jitter == 0.0:  # (hoisted out of the loop: no call per delay)
            while True:
                yield interval
        while True:
            yield _jittered(rng, interval, jitter)

    def __repr__(self) -> str:
        return f"FixedBackoff(interval={self.interval!r}, jitter={self.jitter!r})"


@implementer(IBackoff)
class ExponentialBackoff:
    """
    Capped exponential backoff with jitter: the client preset.

    With ``jitter=0`` the defaults give ``2, 4, 8, 16, 32, 60, 60, ...``.

    :param initialDelay: the delay before the first attempt, ``> 0`` (0
        would make every delay 0).
    :param factor: growth factor, ``>= 1``.
    :param maxDelay: the cap, ``>= initialDelay``; no delay is ever above it.
    :param jitter: fraction in ``[0, 1]``: each delay ``d`` is drawn uniformly
        from ``[d * (1 - jitter), d]``. The default 0.8 was chosen by
        measurement (see the herd benchmark).
    :param afterCap: ``"hold"`` stays at ``maxDelay``; ``"restart"`` starts
        again from ``initialDelay`` once the cap has been reached.
    :param rng: the source of randomness (a :class:`random.Random`; ``None``:
        one shared by the library, never the ``random`` module's own).
    """

    def __init__(
        self,
        initialDelay: float = 2.0,
        factor: float = 2.0,
        maxDelay: float = 60.0,
        jitter: float = 0.8,
        afterCap: str = "hold",
        rng: random.Random | None = None,
    ) -> None:
        self.initialDelay, self.maxDelay = _checkRange(initialDelay, maxDelay)
        self.factor = checkDelay("factor", factor)
        if self.factor < 1.0:
            raise ValueError(f"factor must be >= 1, not {factor!r}")
        self.jitter = checkFraction("jitter", jitter)
        if afterCap not in ("hold", "restart"):
            raise ValueError(f"afterCap must be 'hold' or 'restart', not {afterCap!r}")
        self.afterCap = afterCap
        self._rng = checkRng(rng)

    def delays(self) -> Iterator[float]:
        """
        Yield the capped exponential schedule, jittered.
        """
        while True:
            base = self.initialDelay
            while True:
                capped = base >= self.maxDelay
                yield _jittered(self._rng, min(base, self.maxDelay), self.jitter)
                if capped:
                    if self.afterCap == "restart":
                        break
                    continue
                if self.factor == 1.0:
                    continue
                base = base * self.factor

    def __repr__(self) -> str:
        return (
            f"ExponentialBackoff(initialDelay={self.initialDelay!r}, "
            f"factor={self.factor!r}, maxDelay={self.maxDelay!r}, "
            f"jitter={self.jitter!r}, afterCap={self.afterCap!r})"
        )


@implementer(IBackoff)
class DecorrelatedBackoff:
    """
    "Decorrelated jitter": ``d = min(maxDelay, uniform(initialDelay, prev * 3))``,
    starting from ``prev = initialDelay``.

    :param initialDelay: the smallest delay, ``> 0`` (0 would allow a
        schedule of zeros).
    :param maxDelay: the cap, ``>= initialDelay``.
    :param rng: the source of randomness (a :class:`random.Random`; ``None``:
        one shared by the library, never the ``random`` module's own).
    """

    def __init__(
        self,
        initialDelay: float = 1.0,
        maxDelay: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self.initialDelay, self.maxDelay = _checkRange(initialDelay, maxDelay)
        self._rng = checkRng(rng)

    def delays(self) -> Iterator[float]:
        """
        Yield the decorrelated schedule.
        """
        previous = self.initialDelay
        while True:
            upper = max(self.initialDelay, previous * 3.0)
            previous = min(self.maxDelay, self._rng.uniform(self.initialDelay, upper))
            yield previous

    def __repr__(self) -> str:
        return (
            f"DecorrelatedBackoff(initialDelay={self.initialDelay!r}, "
            f"maxDelay={self.maxDelay!r})"
        )


@implementer(IBackoff)
class _CallableBackoff:
    """
    Adapt a ``ClientService``-style ``retryPolicy`` callable, ``(attempt) ->
    delay``, where ``attempt`` counts from 1.
    """

    def __init__(self, function: Callable[[int], float]) -> None:
        self.function = function

    def delays(self) -> Iterator[float]:
        """
        Yield ``function(1), function(2), ...``, each checked to be a finite
        number ``>= 0``.
        """
        for attempt in count(1):
            yield checkDelay(f"backoff({attempt})", self.function(attempt))

    def __repr__(self) -> str:
        return f"backoff={safeName(self.function)}"


def asBackoff(value: Any) -> IBackoff:
    """
    Return an :class:`IBackoff` for ``value``: an ``IBackoff`` provider as it
    is, or a plain callable ``(attempt: int) -> float`` adapted.

    :raises TypeError: naming ``backoff`` for anything else.
    """
    backoff: IBackoff = adapt(
        value, IBackoff, _CallableBackoff, "backoff", "(attempt) -> delay"
    )
    return backoff
