"""
Argument checks shared by every public constructor: each error names the
argument it is about.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any


def checkDelay(name: str, value: Any, *, allowNone: bool = False) -> float:
    """
    Return ``value`` as a float if it is a finite number ``>= 0``.

    :raises TypeError: if ``value`` is not a real number (bools are refused).
    :raises ValueError: if ``value`` is negative, NaN or infinite.
    """
    if value is None and allowNone:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {value!r}")
    result = float(value)
    if math.isnan(result) or math.isinf(result) or result < 0:
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    return result


def checkFraction(name: str, value: Any) -> float:
    """
    Return ``value`` as a float if it lies in ``[0, 1]``.

    :raises TypeError: if ``value`` is not a real number.
    :raises ValueError: if ``value`` is outside ``[0, 1]`` or NaN.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number in [0, 1], not {value!r}")
    result = float(value)
    if not 0.0 <= result <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], not {value!r}")
    return result


def adapt(
    value: Any,
    interface: Any,
    wrap: Callable[[Any], Any],
    name: str,
    expected: str,
) -> Any:
    """
    Return ``value`` if it provides ``interface``, ``wrap(value)`` if it is a
    plain callable; else raise :class:`TypeError` naming argument ``name``.
    """
    if interface.providedBy(value):
        return value
    if isinstance(value, type) and interface.implementedBy(value):
        raise TypeError(
            f"{name} must be an instance, not the class {value.__name__}; "
            f"did you mean {value.__name__}()?"
        )
    if callable(value):
        return wrap(value)
    raise TypeError(
        f"{name} must provide {interface.__name__} or be a callable "
        f"{expected}, not {value!r}"
    )


#: The randomness of every schedule or factory given no ``rng=``: a private
#: instance, so the ``random`` module's own state is never touched.
SHARED_RNG = random.Random()


def checkRng(value: Any) -> random.Random:
    """
    Return ``value`` if it is a :class:`random.Random`, :data:`SHARED_RNG` if
    it is ``None``.

    :raises TypeError: naming ``rng`` for anything else.
    """
    if value is None:
        return SHARED_RNG
    if not isinstance(value, random.Random):
        raise TypeError(f"rng must be a random.Random, not {value!r}")
    return value
