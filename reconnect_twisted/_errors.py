"""
Exception types raised or carried by reconnect_twisted.

Each one carries a human-readable reason, returned by ``str()``.
"""

from __future__ import annotations

__all__ = [
    "ConnectTimeout",
    "GaveUp",
    "HandshakeRejected",
    "HandshakeTimeout",
    "HeartbeatTimeout",
    "Kicked",
    "OutboxFull",
    "ReconnectError",
    "RetryLater",
]


class ReconnectError(Exception):
    """
    Base class of every reconnect_twisted error.

    :ivar reason: the human-readable reason, also returned by ``str()``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class GaveUp(ReconnectError):
    """
    The factory stopped trying before a connection was established.

    ``whenConnected()`` Deferreds errback with this; ``reason`` is the factory's
    ``stopReason`` (``"kicked: ..."``, ``"gave up"``, ...).
    """


class Kicked(ReconnectError):
    """
    The server ended the session on purpose (e.g. the same account logged in
    elsewhere). Created by ``ReconnectingFactory.kicked(reason)``; the default
    policy does not reconnect after it.
    """

    def __str__(self) -> str:
        return f"kicked: {self.reason}"


class RetryLater(ReconnectError):
    """
    The server asked us to come back later (back-pressure). Created by
    ``ReconnectingFactory.retryLater(reason, after)``.

    :ivar after: seconds the server asked us to wait.
    """

    def __init__(self, reason: str, after: float) -> None:
        super().__init__(reason)
        self.after = after

    def __str__(self) -> str:
        return f"retry later ({self.after:g}s): {self.reason}"


class HandshakeRejected(ReconnectError):
    """
    Raise (or errback with) this from a business handshake to reject the
    connection.

    :ivar permanent: ``True`` when retrying cannot help (bad credentials, account
        banned): the default policy then gives up.
    """

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent

    def __str__(self) -> str:
        kind = "permanently rejected" if self.permanent else "rejected"
        return f"handshake {kind}: {self.reason}"


class HandshakeTimeout(ReconnectError):
    """
    The business handshake (or one of its steps) did not finish in time.
    """


class ConnectTimeout(ReconnectError):
    """
    The transport connection attempt did not finish within ``connectTimeout``.
    """


class OutboxFull(ReconnectError):
    """
    An :class:`~reconnect_twisted.Outbox` had no room: the ``put()`` that did
    not fit fails with it (or, with ``overflow="drop-oldest"``, the dropped
    item's ``put()`` does).
    """


class HeartbeatTimeout(ReconnectError):
    """
    The peer did not answer a heartbeat ping within its timeout: the
    connection was aborted (a hung server whose socket stays open).
    """
