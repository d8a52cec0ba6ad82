"""
Reconnect policies: after each failed attempt or lost connection, a policy
decides whether and when to try again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from twisted.python.failure import Failure
from zope.interface import Interface, implementer

from ._errors import (
    ConnectTimeout,
    GaveUp,
    HandshakeRejected,
    HandshakeTimeout,
    Kicked,
    RetryLater,
)
from ._validate import adapt, checkDelay, safeName

if TYPE_CHECKING:
    from ._status import ConnectionStatus

__all__ = [
    "ConnectTimeout",
    "Decision",
    "DefaultPolicy",
    "GaveUp",
    "GiveUp",
    "HandshakeRejected",
    "HandshakeTimeout",
    "IReconnectPolicy",
    "Kicked",
    "Reconnect",
    "ReconnectAfter",
    "RetryLater",
    "asPolicy",
]


@dataclass(frozen=True)
class Reconnect:
    """
    Decision: try again after the backoff schedule's next delay.
    """


#: The default decision (immutable: one instance serves every call).
_RECONNECT = Reconnect()


@dataclass(frozen=True)
class ReconnectAfter:
    """
    Decision: try again after exactly ``delay`` seconds (the backoff schedule
    does not advance).
    """

    delay: float

    def __post_init__(self) -> None:
        checkDelay("delay", self.delay)


@dataclass(frozen=True)
class GiveUp:
    """
    Decision: stop trying; the factory enters ``STOPPED`` with ``reason`` as
    its ``stopReason``.
    """

    reason: str

    def __post_init__(self) -> None:
        if not isinstance(self.reason, str):
            raise TypeError(f"reason must be a str, not {self.reason!r}")


Decision = Union[Reconnect, ReconnectAfter, GiveUp]  # noqa: UP007
"""What a policy returns."""


class IReconnectPolicy(Interface):
    """
    Decides, per disconnect or failed attempt, what happens next.
    """

    def decide(failure: Failure, status: ConnectionStatus) -> Decision:
        """
        Return a :data:`Decision` for ``failure`` (why the attempt or connection
        ended), given the factory's current ``status``.
        """


@implementer(IReconnectPolicy)
class DefaultPolicy:
    """
    Gives up when kicked (:class:`Kicked`) or permanently rejected
    (``HandshakeRejected(permanent=True)``); honours the server's
    :class:`RetryLater`, clamped to ``[0, maxRetryLater]``; reconnects on
    everything else.

    :param maxRetryLater: the longest wait a server may impose, in seconds.
    """

    def __init__(self, maxRetryLater: float = 3600.0) -> None:
        self.maxRetryLater = checkDelay("maxRetryLater", maxRetryLater)

    def decide(self, failure: Failure, status: ConnectionStatus) -> Decision:
        """
        See the class docstring.
        """
        error = failure.value
        if isinstance(error, Kicked):
            return GiveUp(str(error))
        if isinstance(error, HandshakeRejected) and error.permanent:
            return GiveUp(f"gave up: {error}")
        if isinstance(error, RetryLater):
            after = error.after
            if not after >= 0:  # negative or NaN
                after = 0.0
            return ReconnectAfter(min(after, self.maxRetryLater))
        return _RECONNECT

    def __repr__(self) -> str:
        return f"DefaultPolicy(maxRetryLater={self.maxRetryLater!r})"


@implementer(IReconnectPolicy)
class _CallablePolicy:
    """
    Adapt a plain callable ``(failure, status) -> Decision``.
    """

    def __init__(self, function: Callable[[Failure, ConnectionStatus], Decision]):
        self.function = function

    def decide(self, failure: Failure, status: ConnectionStatus) -> Decision:
        """
        Call the wrapped function.
        """
        return self.function(failure, status)

    def __repr__(self) -> str:
        return f"policy={safeName(self.function)}"


def asPolicy(value: Any) -> IReconnectPolicy:
    """
    Return an :class:`IReconnectPolicy` for ``value``: a provider as it is, a
    plain callable ``(failure, status) -> Decision`` adapted.

    :raises TypeError: naming ``policy`` for anything else.
    """
    policy: IReconnectPolicy = adapt(
        value,
        IReconnectPolicy,
        _CallablePolicy,
        "policy",
        "(failure, status) -> Decision",
    )
    return policy


def isDecision(value: object) -> bool:
    """
    Whether ``value`` is one of the decision types.
    """
    return isinstance(value, Reconnect | ReconnectAfter | GiveUp)
