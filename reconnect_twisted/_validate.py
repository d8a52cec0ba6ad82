"""
Argument checks shared by every public constructor: each error names the
argument it is about.
"""

from __future__ import annotations

import functools
import inspect
import math
import random
from collections.abc import Callable
from typing import Any, NoReturn

#: The largest value of a C ``int``: ``TCP_USER_TIMEOUT`` (in milliseconds)
#: must fit one.
C_INT_MAX = 2**31 - 1

#: Linux's ``MAX_TCP_KEEPIDLE`` and ``MAX_TCP_KEEPINTVL`` (seconds).
MAX_TCP_KEEPIDLE = 32767

#: Linux's ``MAX_TCP_KEEPCNT``.
MAX_TCP_KEEPCNT = 127


def _show(value: Any) -> str:
    """
    ``repr(value)`` for an error message, short and never failing: an
    integer too large for a float is described by its size (its repr may be
    thousands of digits long, or refused by Python's digit limit).
    """
    if isinstance(value, int) and value.bit_length() > 64:
        sign = "a negative" if value < 0 else "an"
        digits = int(value.bit_length() * math.log10(2)) + 1
        return f"{sign} integer of about {digits} digits"
    try:
        text = repr(value)
    except Exception:
        return f"a {type(value).__name__}"
    return text if len(text) <= 80 else text[:77] + "..."


def _toFloat(name: str, value: Any, expected: str) -> float:
    """
    ``float(value)`` for a real number (bools refused); an integer too large
    for a float becomes a :class:`ValueError` naming ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be {expected}, not {_show(value)}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(
            f"{name} must be a finite number, not {_show(value)} "
            f"(too large for a float)"
        ) from None


def checkDelay(name: str, value: Any, *, allowNone: bool = False) -> float:
    """
    Return ``value`` as a float if it is a finite number ``>= 0``.

    :raises TypeError: if ``value`` is not a real number (bools are refused).
    :raises ValueError: if ``value`` is negative, NaN or infinite, or an
        integer too large for a float (``10**400``).
    """
    if value is None and allowNone:
        return math.nan
    result = _toFloat(name, value, "a number of seconds")
    if math.isnan(result) or math.isinf(result) or result < 0:
        raise ValueError(f"{name} must be a finite number >= 0, not {_show(value)}")
    return result


def checkFraction(name: str, value: Any) -> float:
    """
    Return ``value`` as a float if it lies in ``[0, 1]``.

    :raises TypeError: if ``value`` is not a real number.
    :raises ValueError: if ``value`` is outside ``[0, 1]`` or NaN.
    """
    result = _toFloat(name, value, "a number in [0, 1]")
    if not 0.0 <= result <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], not {_show(value)}")
    return result


def checkMinDelay(name: str, value: Any) -> float:
    """
    Return ``value`` as a float if it is a finite number ``> 0``: a floor
    under delays (``minDelay``), or a first delay that a factor multiplies
    (``initialDelay``), where 0 would allow a hot loop.

    :raises TypeError: if ``value`` is not a real number (bools are refused).
    :raises ValueError: if ``value`` is 0, negative, NaN or infinite.
    """
    result = _toFloat(name, value, "a number of seconds")
    if not 0.0 < result < math.inf:
        raise ValueError(f"{name} must be a finite number > 0, not {_show(value)}")
    return result


def checkUserTimeout(value: Any) -> float | None:
    """
    Return ``userTimeout`` (seconds, for ``TCP_USER_TIMEOUT``) as a float, or
    ``None`` (leave the option alone). Linux takes it in milliseconds as a C
    ``int``: ``int(value * 1000)`` must lie in ``[1, 2**31 - 1]``, so the
    value lies in ``[0.001, 2147483.647]`` seconds (0 would mean "the system
    default", not "no time").

    :raises TypeError: if ``value`` is not ``None`` or a real number.
    :raises ValueError: naming ``userTimeout`` if it is out of that range.
    """
    if value is None:
        return None
    result = _toFloat("userTimeout", value, "a number of seconds or None")
    if not 0.0 < result < math.inf:
        raise ValueError(
            f"userTimeout must be a finite number of seconds > 0, or None, "
            f"not {_show(value)}"
        )
    milliseconds = int(result * 1000)
    if milliseconds < 1:
        raise ValueError(
            f"userTimeout must be at least 0.001 s (TCP_USER_TIMEOUT counts "
            f"milliseconds), not {_show(value)}"
        )
    if milliseconds > C_INT_MAX:
        raise ValueError(
            f"userTimeout must be at most {C_INT_MAX / 1000} s "
            f"(TCP_USER_TIMEOUT is a C int of milliseconds), not {_show(value)}"
        )
    return result


def _checkKeepAliveSeconds(name: str, value: Any) -> float:
    result = _toFloat(name, value, "a number of seconds")
    if not 1.0 <= result <= MAX_TCP_KEEPIDLE:
        raise ValueError(
            f"{name} must be a number of seconds in [1, {MAX_TCP_KEEPIDLE}], "
            f"not {_show(value)}"
        )
    return result


def checkKeepAlive(value: Any) -> tuple[float, float, int] | None:
    """
    Return ``keepAlive`` as ``(idle, interval, count)`` or ``None`` (no TCP
    keepalive), checked against what Linux accepts: ``idle``
    (``TCP_KEEPIDLE``) and ``interval`` (``TCP_KEEPINTVL``) are seconds in
    ``[1, 32767]`` (so they stay in range whether truncated or rounded to
    whole seconds), ``count`` (``TCP_KEEPCNT``) is an ``int`` in ``[1, 127]``.

    :raises TypeError: if ``value`` is not ``None`` or a 3-tuple, or an item
        has the wrong type (``count`` must be an ``int``, not a bool or
        float); the message names ``keepAlive``, ``keepAlive idle``,
        ``keepAlive interval`` or ``keepAlive count``.
    :raises ValueError: if an item is out of range, naming it the same way.
    """
    if value is None:
        return None
    if not isinstance(value, tuple) or len(value) != 3:
        raise TypeError(
            f"keepAlive must be (idle, interval, count) or None, not {_show(value)}"
        )
    idle, interval, count = value
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"keepAlive count must be an int, not {_show(count)}")
    if not 1 <= count <= MAX_TCP_KEEPCNT:
        raise ValueError(
            f"keepAlive count must be in [1, {MAX_TCP_KEEPCNT}], not {_show(count)}"
        )
    return (
        _checkKeepAliveSeconds("keepAlive idle", idle),
        _checkKeepAliveSeconds("keepAlive interval", interval),
        count,
    )


def checkAlertEvery(value: Any) -> float:
    """
    Return ``alertEvery`` as a float: ``0`` (alert only once per outage) or a
    finite number of seconds ``>= 1`` (a repeat faster than once a second
    would flood whoever is paged).

    :raises TypeError: if ``value`` is not a real number.
    :raises ValueError: naming ``alertEvery`` if it is negative, NaN,
        infinite or in ``(0, 1)``.
    """
    result = checkDelay("alertEvery", value)
    if 0.0 < result < 1.0:
        raise ValueError(
            f"alertEvery must be 0 (only once) or >= 1 second, not {_show(value)}"
        )
    return result


def checkMaxRetries(value: Any) -> int | None:
    """
    Return ``maxRetries`` as an ``int``, or ``None`` (no limit). A float with
    an integral value (``3.0``, as RCF's arithmetic allows) is accepted and
    returned as an ``int``.

    :raises TypeError: naming ``maxRetries`` if ``value`` is not ``None``, an
        ``int`` or a float (bools and strings are refused).
    :raises ValueError: naming ``maxRetries`` if it is negative, NaN,
        infinite or not integral (``2.5``).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"maxRetries must be an int >= 0 or None, not {_show(value)}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ValueError(f"maxRetries must be an int >= 0 or None, not {_show(value)}")
    result = int(value)
    if result < 0:
        raise ValueError(f"maxRetries must be an int >= 0 or None, not {_show(value)}")
    return result


def _unwrap(thing: Any) -> Any:
    """
    The callable under any number of :func:`functools.partial` (or
    ``partialmethod``) wrappers, or ``None`` for a cycle of partials.
    """
    for _ in range(100):
        if not isinstance(thing, functools.partial | functools.partialmethod):
            return thing
        thing = thing.func
    return None


def _ownName(thing: Any) -> str | None:
    """
    The name an (unwrapped) callable carries, or ``None``: ``__qualname__``
    for a bound method (``Class.method``), ``__name__`` for anything else
    that has one (a function, a class). Never ``repr()``.
    """
    try:
        if inspect.ismethod(thing):
            name = getattr(thing, "__qualname__", None)
        else:
            name = getattr(thing, "__name__", None)
    except Exception:
        return None
    return name if isinstance(name, str) and name else None


def ownName(thing: Any) -> str | None:
    """
    The name a callable carries itself, partials unwrapped, or ``None`` if it
    has none (an object without ``__name__``): what :func:`safeName` returns
    before falling back to the type's name. Never ``repr()``.
    """
    unwrapped = _unwrap(thing)
    return None if unwrapped is None else _ownName(unwrapped)


def safeName(thing: Any) -> str:
    """
    A name for a callable that is safe to log: never its ``repr()``, which for
    a :func:`functools.partial` shows the bound arguments (a password, say).

    Partials are unwrapped (repeatedly) to the callable they wrap; a bound
    method gives its ``__qualname__`` (``Client.login``); a function or class
    its ``__name__``; any other object its type's ``__name__``.
    """
    unwrapped = _unwrap(thing)
    if unwrapped is None:
        return type(thing).__name__
    name = _ownName(unwrapped)
    return name if name is not None else type(unwrapped).__name__


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    escaped = _ESCAPES.get(char)
    if escaped is not None:
        return escaped
    if char.isprintable():
        return char
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def errorText(error: object) -> str:
    """
    ``str(error)``, never failing: an exception whose ``__str__`` raises
    (one that decodes a peer's bytes, say) is described by its type.
    """
    try:
        return str(error)
    except Exception:
        return f"<unprintable {type(error).__name__}>"


def peerText(text: Any, limit: int = 200) -> str:
    """
    Text that came from a peer (a server's reply, a kick or close reason),
    made safe for a log line: newline, carriage return and tab become
    ``\\n``, ``\\r``, ``\\t``; every other character that is not printable
    (control characters such as ESC, bidi overrides, line separators)
    becomes ``\\xNN``/``\\uNNNN``/``\\UNNNNNNNN``, as :func:`repr` writes
    them; printable Unicode is kept, so is a backslash. The result holds at
    most ``limit`` characters of escaped text, followed by ``"…"`` if
    anything was cut (an escape is never cut in half).

    Escaping twice changes nothing (``peerText(peerText(t)) == peerText(t)``
    for the same ``limit``), so text escaped where an error is built can be
    escaped again where it is logged.

    :param text: a ``str``; ``bytes`` are decoded as UTF-8, a byte that is not
        UTF-8 shown as ``\\xNN``; anything else goes through ``str()``.
    :param limit: the most characters kept, an ``int >= 0``.
    :raises TypeError: naming ``limit`` if it is not an ``int``.
    :raises ValueError: naming ``limit`` if it is negative.
    """
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"limit must be an int, not {_show(limit)}")
    if limit < 0:
        raise ValueError(f"limit must be >= 0, not {limit!r}")
    if isinstance(text, bytes | bytearray | memoryview):
        # A character takes at most 4 bytes: decode no more than can be
        # shown, plus one character to know whether anything was cut.
        text = bytes(text[: 4 * (limit + 1)]).decode("utf-8", "surrogateescape")
    elif not isinstance(text, str):
        try:
            text = str(text)
        except Exception:
            text = f"<unprintable {type(text).__name__}>"
    if len(text) <= limit and text.isprintable():
        return str(text)  # the common case: nothing to escape or cut
    pieces: list[str] = []
    used = 0
    for char in text:
        piece = _escape(char)
        if used + len(piece) > limit:
            return "".join(pieces) + "…"
        pieces.append(piece)
        used += len(piece)
    return "".join(pieces)


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
        refuseClass(name, value)
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


def refuseClass(name: str, value: type) -> NoReturn:
    """Raise the ``TypeError`` for argument ``name`` given a class, not an instance."""
    raise TypeError(
        f"{name} must be an instance, not the class {value.__name__}; "
        f"did you mean {value.__name__}()?"
    )


def checkClock(name: str, value: Any, *methods: str) -> Any:
    """
    ``value`` if it is ``None`` or an instance with the callable ``methods``
    (``seconds``, ``callLater``...); else a ``TypeError`` naming ``name``.
    """
    if value is None:
        return None
    if isinstance(value, type):
        refuseClass(name, value)
    for method in methods:
        if not callable(getattr(value, method, None)):
            raise TypeError(
                f"{name} must provide IReactorTime (no {method}()), not "
                f"{type(value)!r}"
            )
    return value


def checkWatched(factory: Any, name: Any) -> None:
    """A factory to observe (status observers) and its label (str or None)."""
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str or None, not {type(name)!r}")
    if not callable(getattr(factory, "addStatusObserver", None)):
        raise TypeError(
            f"factory must be a ReconnectingFactory, not {type(factory)!r}"
        )
