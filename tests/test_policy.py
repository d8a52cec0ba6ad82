"""
Tests for reconnect_twisted.policy: DefaultPolicy decisions and adapters.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.error import ConnectionLost, ConnectionRefusedError
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import (
    ConnectionState,
    ConnectionStatus,
    ConnectTimeout,
    DefaultPolicy,
    GaveUp,
    GiveUp,
    HandshakeRejected,
    HandshakeTimeout,
    Kicked,
    Reconnect,
    ReconnectAfter,
    RetryLater,
)
from reconnect_twisted.policy import asPolicy, isDecision

STATUS = ConnectionStatus(ConnectionState.WAITING, 1, None, 0.0, None, None, None)


def decide(error: BaseException, **kw: float) -> object:
    return DefaultPolicy(**kw).decide(Failure(error), STATUS)


class DefaultPolicyTests(SynchronousTestCase):
    def test_kicked(self) -> None:
        """When kicked, the default policy gives up naming the kick reason."""
        self.assertEqual(
            decide(Kicked("logged in elsewhere")), GiveUp("kicked: logged in elsewhere")
        )

    def test_permanentRejection(self) -> None:
        """When the handshake is rejected permanently, the policy gives up."""
        decision = decide(HandshakeRejected("bad password", permanent=True))
        self.assertIsInstance(decision, GiveUp)
        assert isinstance(decision, GiveUp)
        self.assertIn("bad password", decision.reason)

    def test_temporaryRejection(self) -> None:
        """When the handshake is rejected temporarily, the policy reconnects."""
        self.assertEqual(decide(HandshakeRejected("busy")), Reconnect())

    def test_retryLater(self) -> None:
        """When the server says retry later, the policy waits exactly that long."""
        self.assertEqual(decide(RetryLater("busy", 42.5)), ReconnectAfter(42.5))

    def test_retryLaterClamped(self) -> None:
        """When the server asks too much or a negative wait, it is clamped."""
        self.assertEqual(decide(RetryLater("x", 99999)), ReconnectAfter(3600.0))
        self.assertEqual(
            decide(RetryLater("x", 99999), maxRetryLater=10), ReconnectAfter(10.0)
        )
        self.assertEqual(decide(RetryLater("x", -5)), ReconnectAfter(0.0))
        self.assertEqual(decide(RetryLater("x", float("nan"))), ReconnectAfter(0.0))

    def test_others(self) -> None:
        """When anything else ends the connection, the policy reconnects."""
        for error in [
            ConnectionRefusedError(),
            ConnectionLost(),
            ConnectTimeout("t"),
            HandshakeTimeout("t"),
            ValueError("x"),
        ]:
            self.assertEqual(decide(error), Reconnect())

    @given(st.floats(allow_nan=True), st.floats(min_value=0, max_value=1e6))
    def test_retryLaterAlwaysInRange(self, after: float, cap: float) -> None:
        """When any retry-later wait is asked, the decision lies in [0, cap]."""
        decision = decide(RetryLater("x", after), maxRetryLater=cap)
        assert isinstance(decision, ReconnectAfter)
        self.assertTrue(0 <= decision.delay <= cap)


class AdapterTests(SynchronousTestCase):
    def test_callable(self) -> None:
        """When a plain callable is given, it decides."""
        policy = asPolicy(lambda failure, status: GiveUp("no"))
        self.assertEqual(policy.decide(Failure(ValueError()), STATUS), GiveUp("no"))

    def test_rejects(self) -> None:
        """When policy is not a policy, TypeError names the argument."""
        with self.assertRaises(TypeError) as e:
            asPolicy("always")
        self.assertIn("policy", str(e.exception))

    def test_decisionValidation(self) -> None:
        """When a decision is built with bad values, the error names them."""
        with self.assertRaises(ValueError) as e:
            ReconnectAfter(-1)
        self.assertIn("delay", str(e.exception))
        with self.assertRaises(TypeError):
            GiveUp(3)  # type: ignore[arg-type]
        self.assertTrue(isDecision(Reconnect()))
        self.assertFalse(isDecision(None))

    def test_maxRetryLaterValidated(self) -> None:
        """When maxRetryLater is negative, ValueError names it."""
        with self.assertRaises(ValueError) as e:
            DefaultPolicy(-1)
        self.assertIn("maxRetryLater", str(e.exception))


class ErrorTests(SynchronousTestCase):
    def test_strings(self) -> None:
        """When printed, every error carries a readable reason."""
        self.assertEqual(str(Kicked("elsewhere")), "kicked: elsewhere")
        self.assertEqual(str(GaveUp("gave up")), "gave up")
        self.assertEqual(str(RetryLater("busy", 5)), "retry later (5s): busy")
        self.assertEqual(
            str(HandshakeRejected("bad", True)), "handshake permanently rejected: bad"
        )
        self.assertEqual(str(HandshakeRejected("busy")), "handshake rejected: busy")
        self.assertEqual(str(HandshakeTimeout("slow")), "slow")
        self.assertEqual(str(ConnectTimeout("slow")), "slow")
