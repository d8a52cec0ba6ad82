"""
Tests for reconnect_twisted._validate: argument checks whose errors name the
argument, and the helpers that keep secrets and forged lines out of logs.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted._validate import (
    checkAlertEvery,
    checkDelay,
    checkFraction,
    checkKeepAlive,
    checkMaxRetries,
    checkMinDelay,
    checkUserTimeout,
    peerText,
    safeName,
)

HUGE = 10**400


class HugeIntegerTests(SynchronousTestCase):
    def test_checkDelay(self) -> None:
        """When a delay is 10**400, ValueError names it and gives its size."""
        with self.assertRaises(ValueError) as e:
            checkDelay("connectTimeout", HUGE)
        self.assertEqual(
            str(e.exception),
            "connectTimeout must be a finite number, not an integer of about "
            "401 digits (too large for a float)",
        )

    def test_checkDelayNegative(self) -> None:
        """When a delay is -10**5000 (past Python's digit limit), it is named."""
        with self.assertRaises(ValueError) as e:
            checkDelay("minUptime", -(10**5000))
        self.assertEqual(
            str(e.exception),
            "minUptime must be a finite number, not a negative integer of about "
            "5001 digits (too large for a float)",
        )

    def test_checkFraction(self) -> None:
        """When a fraction is 10**400, ValueError names it."""
        with self.assertRaises(ValueError) as e:
            checkFraction("jitter", HUGE)
        self.assertIn("jitter must be a finite number", str(e.exception))

    def test_largeButFinite(self) -> None:
        """When an integer is large but fits a float, it is accepted."""
        self.assertEqual(checkDelay("maxDelay", 10**20), 1e20)

    def test_longReprShortened(self) -> None:
        """When a bad value has a long repr, the message shows only 80 chars."""
        with self.assertRaises(TypeError) as e:
            checkDelay("connectTimeout", "x" * 1000)
        self.assertEqual(
            str(e.exception),
            "connectTimeout must be a number of seconds, not '" + "x" * 76 + "...",
        )


class CheckMinDelayTests(SynchronousTestCase):
    def test_accepted(self) -> None:
        """When the value is finite and > 0, it is returned as a float."""
        self.assertEqual(checkMinDelay("minDelay", 0.1), 0.1)
        self.assertEqual(checkMinDelay("minDelay", 2), 2.0)
        self.assertIs(type(checkMinDelay("minDelay", 2)), float)

    def test_refusedValues(self) -> None:
        """When the value is <= 0, NaN, infinite or huge, ValueError names it."""
        for value in (0, 0.0, -0.0, -1, math.nan, math.inf, -math.inf, HUGE):
            with self.assertRaises(ValueError) as e:
                checkMinDelay("minDelay", value)
            self.assertTrue(str(e.exception).startswith("minDelay must be"))

    def test_message(self) -> None:
        """When the value is 0, the message says it must be > 0."""
        with self.assertRaises(ValueError) as e:
            checkMinDelay("minDelay", 0)
        self.assertEqual(
            str(e.exception), "minDelay must be a finite number > 0, not 0"
        )

    def test_refusedTypes(self) -> None:
        """When the value is not a real number (or is a bool), TypeError names it."""
        for value in ("0.1", None, True, [0.1]):
            with self.assertRaises(TypeError) as e:
                checkMinDelay("minDelay", value)
            self.assertTrue(str(e.exception).startswith("minDelay must be"))


class CheckUserTimeoutTests(SynchronousTestCase):
    def test_none(self) -> None:
        """When userTimeout is None, None is returned (option left alone)."""
        self.assertIsNone(checkUserTimeout(None))

    def test_accepted(self) -> None:
        """When userTimeout is in [0.001, 2147483.647] s, it is a float."""
        self.assertEqual(checkUserTimeout(15), 15.0)
        self.assertEqual(checkUserTimeout(0.001), 0.001)
        self.assertEqual(checkUserTimeout(2147483.647), 2147483.647)
        self.assertEqual(checkUserTimeout(2147483), 2147483.0)

    def test_tooLarge(self) -> None:
        """When userTimeout * 1000 does not fit a C int, ValueError names it."""
        with self.assertRaises(ValueError) as e:
            checkUserTimeout(2147484)
        self.assertEqual(
            str(e.exception),
            "userTimeout must be at most 2147483.647 s (TCP_USER_TIMEOUT is a C "
            "int of milliseconds), not 2147484",
        )

    def test_belowOneMillisecond(self) -> None:
        """When userTimeout is under 1 ms (0 in ms: the default), it is refused."""
        with self.assertRaises(ValueError) as e:
            checkUserTimeout(0.0004)
        self.assertEqual(
            str(e.exception),
            "userTimeout must be at least 0.001 s (TCP_USER_TIMEOUT counts "
            "milliseconds), not 0.0004",
        )

    def test_refusedValues(self) -> None:
        """When userTimeout is <= 0, NaN, infinite or huge, ValueError names it."""
        for value in (0, -1, math.nan, math.inf, HUGE, 1e300):
            with self.assertRaises(ValueError) as e:
                checkUserTimeout(value)
            self.assertTrue(str(e.exception).startswith("userTimeout must be"))

    def test_refusedTypes(self) -> None:
        """When userTimeout is not a number, TypeError names it."""
        for value in ("15", True, (15,)):
            with self.assertRaises(TypeError) as e:
                checkUserTimeout(value)
            self.assertTrue(str(e.exception).startswith("userTimeout must be"))


class CheckKeepAliveTests(SynchronousTestCase):
    def test_none(self) -> None:
        """When keepAlive is None, None is returned (no keepalive)."""
        self.assertIsNone(checkKeepAlive(None))

    def test_accepted(self) -> None:
        """When every item is in Linux's range, a (float, float, int) comes back."""
        self.assertEqual(checkKeepAlive((5, 2, 3)), (5.0, 2.0, 3))
        self.assertEqual(checkKeepAlive((1, 1, 1)), (1.0, 1.0, 1))
        self.assertEqual(checkKeepAlive((32767, 32767.0, 127)), (32767.0, 32767.0, 127))
        result = checkKeepAlive((5, 2, 3))
        assert result is not None
        self.assertEqual([type(x) for x in result], [float, float, int])

    def assertRefused(self, kind: type[Exception], value: Any, message: str) -> None:
        with self.assertRaises(kind) as e:
            checkKeepAlive(value)
        self.assertEqual(str(e.exception), message)

    def test_idleRange(self) -> None:
        """When idle is outside [1, 32767], ValueError names 'keepAlive idle'."""
        self.assertRefused(
            ValueError,
            (32768, 2, 3),
            "keepAlive idle must be a number of seconds in [1, 32767], not 32768",
        )
        self.assertRefused(
            ValueError,
            (0.5, 2, 3),
            "keepAlive idle must be a number of seconds in [1, 32767], not 0.5",
        )
        self.assertRefused(
            ValueError,
            (32767.5, 2, 3),
            "keepAlive idle must be a number of seconds in [1, 32767], not 32767.5",
        )
        self.assertRefused(
            ValueError,
            (math.nan, 2, 3),
            "keepAlive idle must be a number of seconds in [1, 32767], not nan",
        )

    def test_intervalRange(self) -> None:
        """When interval is outside [1, 32767], ValueError names it."""
        self.assertRefused(
            ValueError,
            (5, 40000, 3),
            "keepAlive interval must be a number of seconds in [1, 32767], not 40000",
        )
        self.assertRefused(
            ValueError,
            (5, math.inf, 3),
            "keepAlive interval must be a number of seconds in [1, 32767], not inf",
        )
        self.assertRefused(
            ValueError,
            (5, 0, 3),
            "keepAlive interval must be a number of seconds in [1, 32767], not 0",
        )

    def test_countRange(self) -> None:
        """When count is outside [1, 127], ValueError names 'keepAlive count'."""
        self.assertRefused(
            ValueError, (5, 2, 128), "keepAlive count must be in [1, 127], not 128"
        )
        self.assertRefused(
            ValueError, (5, 2, 0), "keepAlive count must be in [1, 127], not 0"
        )
        self.assertRefused(
            ValueError, (5, 2, -3), "keepAlive count must be in [1, 127], not -3"
        )

    def test_types(self) -> None:
        """When keepAlive or an item has the wrong type, TypeError names it."""
        self.assertRefused(
            TypeError,
            [5, 2, 3],
            "keepAlive must be (idle, interval, count) or None, not [5, 2, 3]",
        )
        self.assertRefused(
            TypeError,
            (5, 2),
            "keepAlive must be (idle, interval, count) or None, not (5, 2)",
        )
        self.assertRefused(
            TypeError, (5, 2, 3.0), "keepAlive count must be an int, not 3.0"
        )
        self.assertRefused(
            TypeError, (5, 2, True), "keepAlive count must be an int, not True"
        )
        self.assertRefused(
            TypeError,
            ("5", 2, 3),
            "keepAlive idle must be a number of seconds, not '5'",
        )
        self.assertRefused(
            ValueError,
            (5, HUGE, 3),
            "keepAlive interval must be a finite number, not an integer of "
            "about 401 digits (too large for a float)",
        )


class CheckAlertEveryTests(SynchronousTestCase):
    def test_accepted(self) -> None:
        """When alertEvery is 0 (only once) or >= 1 s, it is a float."""
        self.assertEqual(checkAlertEvery(0), 0.0)
        self.assertEqual(checkAlertEvery(1), 1.0)
        self.assertEqual(checkAlertEvery(600.0), 600.0)

    def test_subSecond(self) -> None:
        """When alertEvery is in (0, 1), ValueError names it."""
        for value in (0.5, 0.001, 5e-324, 0.9999):
            with self.assertRaises(ValueError) as e:
                checkAlertEvery(value)
            self.assertEqual(
                str(e.exception),
                f"alertEvery must be 0 (only once) or >= 1 second, not {value!r}",
            )

    def test_invalid(self) -> None:
        """When alertEvery is negative, NaN, infinite or not a number, it is named."""
        for value in (-1, math.nan, math.inf, HUGE):
            with self.assertRaises(ValueError) as e:
                checkAlertEvery(value)
            self.assertTrue(str(e.exception).startswith("alertEvery must be"))
        with self.assertRaises(TypeError) as e2:
            checkAlertEvery("600")
        self.assertTrue(str(e2.exception).startswith("alertEvery must be"))


class CheckMaxRetriesTests(SynchronousTestCase):
    def test_accepted(self) -> None:
        """When maxRetries is None or an int >= 0 (or 3.0), it comes back as int."""
        self.assertIsNone(checkMaxRetries(None))
        self.assertEqual(checkMaxRetries(0), 0)
        self.assertEqual(checkMaxRetries(3), 3)
        self.assertEqual(checkMaxRetries(HUGE), HUGE)
        self.assertEqual(checkMaxRetries(3.0), 3)
        self.assertIs(type(checkMaxRetries(3.0)), int)

    def test_refusedValues(self) -> None:
        """When maxRetries is negative, NaN, infinite or 2.5, ValueError names it."""
        for value, shown in [
            (-1, "-1"),
            (-1.0, "-1.0"),
            (math.nan, "nan"),
            (math.inf, "inf"),
            (2.5, "2.5"),
        ]:
            with self.assertRaises(ValueError) as e:
                checkMaxRetries(value)
            self.assertEqual(
                str(e.exception), f"maxRetries must be an int >= 0 or None, not {shown}"
            )

    def test_refusedTypes(self) -> None:
        """When maxRetries is a str or a bool, TypeError names it."""
        for value, shown in [("3", "'3'"), (True, "True"), ([3], "[3]")]:
            with self.assertRaises(TypeError) as e:
                checkMaxRetries(value)
            self.assertEqual(
                str(e.exception), f"maxRetries must be an int >= 0 or None, not {shown}"
            )


def login(protocol: object, user: str, password: str) -> None:
    """A step taking a credential."""


class Client:
    def login(self, password: str) -> None:
        """A method taking a credential."""

    @staticmethod
    def helper() -> None:
        """A static method."""


class CallableStep:
    def __init__(self, password: str) -> None:
        self.password = password

    def __call__(self, protocol: object) -> None:
        """Run the step."""

    def __repr__(self) -> str:
        return f"CallableStep(password={self.password!r})"


class SafeNameTests(SynchronousTestCase):
    def test_function(self) -> None:
        """When given a function, its __name__."""
        self.assertEqual(safeName(login), "login")

    def test_partial(self) -> None:
        """When given a partial, the wrapped function's name, no arguments."""
        step = functools.partial(login, user="alice", password="hunter2")
        self.assertEqual(safeName(step), "login")

    def test_nestedPartial(self) -> None:
        """When partials wrap partials, they are all unwrapped."""
        step = functools.partial(
            functools.partial(functools.partial(login, password="hunter2"), "p"),
            user="alice",
        )
        self.assertEqual(safeName(step), "login")

    def test_boundMethod(self) -> None:
        """When given a bound method, its __qualname__ (Class.method)."""
        self.assertEqual(safeName(Client().login), "Client.login")

    def test_partialOfBoundMethod(self) -> None:
        """When a partial wraps a bound method, the method's __qualname__."""
        step = functools.partial(Client().login, password="hunter2")
        self.assertEqual(safeName(step), "Client.login")

    def test_partialmethod(self) -> None:
        """When given a partialmethod, the wrapped function's name."""
        method = functools.partialmethod(Client.login, password="hunter2")
        self.assertEqual(safeName(method), "login")

    def test_staticAndBuiltin(self) -> None:
        """When given a static method or builtin, its __name__."""
        self.assertEqual(safeName(Client.helper), "helper")
        self.assertEqual(safeName(len), "len")
        self.assertEqual(safeName("abc".upper), "upper")

    def test_class(self) -> None:
        """When given a class, its __name__."""
        self.assertEqual(safeName(Client), "Client")

    def test_instance(self) -> None:
        """When given a callable object without a name, its type's name, no repr."""
        self.assertEqual(safeName(CallableStep("hunter2")), "CallableStep")
        self.assertEqual(
            safeName(functools.partial(CallableStep("hunter2"))), "CallableStep"
        )

    def test_lambda(self) -> None:
        """When given a lambda, '<lambda>'."""
        self.assertEqual(safeName(lambda p: None), "<lambda>")

    def test_nameNotAString(self) -> None:
        """When __name__ is not a string, the type's name instead."""

        class Odd:
            __name__ = 42  # type: ignore[assignment]

            def __repr__(self) -> str:
                return "hunter2"

        self.assertEqual(safeName(Odd()), "Odd")

    def test_nameRaises(self) -> None:
        """When reading __name__ raises, the type's name instead."""

        class Broken:
            def __getattr__(self, name: str) -> Any:
                raise RuntimeError("hunter2")

        self.assertEqual(safeName(Broken()), "Broken")


class PeerTextTests(SynchronousTestCase):
    def test_plain(self) -> None:
        """When the text is printable, it is unchanged."""
        self.assertEqual(peerText("ERR bad-password"), "ERR bad-password")

    def test_controlCharacters(self) -> None:
        """When the text has newlines and control characters, they are escaped."""
        self.assertEqual(
            peerText("a\nb\r\tc\x1b[31m\x00\x7f"),
            "a\\nb\\r\\tc\\x1b[31m\\x00\\x7f",
        )

    def test_forgedLine(self) -> None:
        """When the text forges a second log line, it stays on one line."""
        text = peerText("bye\n2026-01-01T00:00:00 [reconnect] state=connected")
        self.assertEqual(text, "bye\\n2026-01-01T00:00:00 [reconnect] state=connected")
        self.assertNotIn("\n", text)

    def test_backslash(self) -> None:
        """When the text has a backslash, it is kept (escaping is idempotent)."""
        self.assertEqual(peerText("a\\nb"), "a\\nb")

    def test_idempotent(self) -> None:
        """When escaped text is escaped again (same limit), it is unchanged."""
        for text in ["a\nb\x1b", "x" * 500, "\n" * 300, "é\u202e" * 90, "\\x1b"]:
            once = peerText(text)
            self.assertEqual(peerText(once), once)
            short = peerText(text, limit=7)
            self.assertEqual(peerText(short, limit=7), short)

    def test_unicode(self) -> None:
        """When the text has printable Unicode, it is kept; format chars escaped."""
        self.assertEqual(peerText("café ✓ 😀"), "café ✓ 😀")
        self.assertEqual(
            peerText("x\u202ey\u2028z\u200b\U000e0001"),
            "x\\u202ey\\u2028z\\u200b\\U000e0001",
        )

    def test_truncated(self) -> None:
        """When the text is longer than limit, limit chars and '…' remain."""
        self.assertEqual(peerText("x" * 201), "x" * 200 + "…")
        self.assertEqual(peerText("x" * 200), "x" * 200)
        self.assertEqual(peerText("abcdef", limit=3), "abc…")
        self.assertEqual(peerText("abc", limit=0), "…")
        self.assertEqual(peerText("", limit=0), "")

    def test_escapeNotCut(self) -> None:
        """When an escape would straddle the limit, it is dropped whole."""
        self.assertEqual(peerText("ab\x1bcd", limit=4), "ab…")
        self.assertEqual(peerText("ab\x1bcd", limit=6), "ab\\x1b…")

    def test_escapedLengthCounts(self) -> None:
        """When the text is all control characters, the escapes count to limit."""
        self.assertEqual(peerText("\n" * 300), "\\n" * 100 + "…")

    def test_huge(self) -> None:
        """When the text is 10 MB, only what is shown is escaped."""
        self.assertEqual(peerText("\x1b" * 10_000_000, limit=8), "\\x1b\\x1b…")

    def test_bytes(self) -> None:
        """When given bytes, UTF-8 is decoded and other bytes shown as \\xNN."""
        self.assertEqual(peerText(b"ok \xe2\x9c\x93 \xff\n"), "ok ✓ \\xff\\n")
        self.assertEqual(peerText(bytearray(b"a\x00")), "a\\x00")
        self.assertEqual(peerText(memoryview(b"abc")), "abc")

    def test_hugeBytes(self) -> None:
        """When given 10 MB of bytes, they are cut at limit."""
        self.assertEqual(peerText(b"y" * 10_000_000, limit=3), "yyy…")
        self.assertEqual(peerText("é".encode() * 10, limit=3), "ééé…")

    def test_otherTypes(self) -> None:
        """When given a non-string, its str() is escaped."""
        self.assertEqual(peerText(ValueError("line1\nline2")), "line1\\nline2")
        self.assertEqual(peerText(42), "42")
        self.assertEqual(peerText(None), "None")

    def test_strRaises(self) -> None:
        """When str() of the value raises, a placeholder naming its type."""

        class Bad:
            def __str__(self) -> str:
                raise RuntimeError("no")

        self.assertEqual(peerText(Bad()), "<unprintable Bad>")

    def test_badLimit(self) -> None:
        """When limit is negative or not an int, the error names it."""
        with self.assertRaises(ValueError) as e:
            peerText("x", limit=-1)
        self.assertEqual(str(e.exception), "limit must be >= 0, not -1")
        with self.assertRaises(TypeError) as e2:
            peerText("x", limit=2.0)  # type: ignore[arg-type]
        self.assertEqual(str(e2.exception), "limit must be an int, not 2.0")


class PeerTextPropertyTests(SynchronousTestCase):
    @given(st.text(), st.integers(min_value=0, max_value=300))
    def test_oneLineBoundedIdempotent(self, text: str, limit: int) -> None:
        """When any text is escaped, it is printable, bounded and idempotent."""
        once = peerText(text, limit)
        self.assertTrue(once.isprintable())
        self.assertLessEqual(len(once), limit + 1)
        self.assertEqual(peerText(once, limit), once)
        if len(text) <= limit and text.isprintable():
            self.assertEqual(once, text)

    @given(st.binary(), st.integers(min_value=0, max_value=50))
    def test_bytesPrintable(self, data: bytes, limit: int) -> None:
        """When any bytes are escaped, the result is printable and bounded."""
        once = peerText(data, limit)
        self.assertTrue(once.isprintable())
        self.assertLessEqual(len(once), limit + 1)
