"""
The observable state of a reconnecting factory.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from twisted.python.failure import Failure

__all__ = ["TRANSITIONS", "ConnectionState", "ConnectionStatus"]


class ConnectionState(enum.Enum):
    """
    Where a :class:`~reconnect_twisted.ReconnectingFactory` is in its life.
    """

    IDLE = "idle"
    """Created, never started."""
    CONNECTING = "connecting"
    """A transport connection attempt is in flight."""
    HANDSHAKING = "handshaking"
    """The transport is up; the business handshake is running."""
    CONNECTED = "connected"
    """The business handshake succeeded: the only "connected" state."""
    WAITING = "waiting"
    """An attempt failed or the connection was lost; the next one is scheduled."""
    OFFLINE = "offline"
    """The network monitor says the network is down; waiting for it."""
    STOPPED = "stopped"
    """No further attempts until ``reconnectNow()``."""


# The members as module constants, which the machine reads (``S = _status``;
# ``S.CONNECTING``): on Python 3.11 ``ConnectionState.CONNECTING`` takes
# ``EnumType.__getattr__``'s slow path (a method-wrapper made and called,
# about 900 instructions; ten such lookups per failed attempt), a module's
# attribute is a dict hit.
IDLE: Final = ConnectionState.IDLE
CONNECTING: Final = ConnectionState.CONNECTING
HANDSHAKING: Final = ConnectionState.HANDSHAKING
CONNECTED: Final = ConnectionState.CONNECTED
WAITING: Final = ConnectionState.WAITING
OFFLINE: Final = ConnectionState.OFFLINE
STOPPED: Final = ConnectionState.STOPPED


_S = ConnectionState

TRANSITIONS: dict[ConnectionState, frozenset[ConnectionState]] = {
    _S.IDLE: frozenset(
        {_S.CONNECTING, _S.HANDSHAKING, _S.WAITING, _S.OFFLINE, _S.STOPPED}
    ),
    _S.CONNECTING: frozenset({_S.HANDSHAKING, _S.WAITING, _S.OFFLINE, _S.STOPPED}),
    _S.HANDSHAKING: frozenset({_S.CONNECTED, _S.WAITING, _S.OFFLINE, _S.STOPPED}),
    _S.CONNECTED: frozenset({_S.WAITING, _S.OFFLINE, _S.STOPPED}),
    _S.WAITING: frozenset({_S.CONNECTING, _S.OFFLINE, _S.STOPPED}),
    _S.OFFLINE: frozenset({_S.CONNECTING, _S.WAITING, _S.STOPPED}),
    _S.STOPPED: frozenset({_S.CONNECTING}),
}
"""
Every change of state the machine can make, ``{from: {to, ...}}``: the source
of the state diagram in the docs, and checked by the tests. Updates within a
state (a new ``attempt``, ``nextAttemptAt`` or ``stopReason``) are not
transitions.
"""


@dataclass(frozen=True)
class ConnectionStatus:
    """
    A snapshot of a factory's connection, as a UI or a health check needs it.
    """

    state: ConnectionState
    """The current state."""
    attempt: int
    """Consecutive failed attempts since the last reset of the schedule."""
    nextAttemptAt: float | None
    """``clock.seconds()`` of the scheduled attempt, if one is scheduled."""
    since: float
    """``clock.seconds()`` when ``state`` was entered."""
    lastFailure: Failure | None
    """Why the last attempt or connection ended."""
    stopReason: str | None
    """Why the factory stopped, in ``STOPPED``: ``"kicked: ..."``, ``"gave up"``..."""
    networkUp: bool | None
    """The network monitor's view; ``None`` without a monitor or when unknown."""
    server: str | None = None
    """
    The server in use or being tried (``host:port``; with failover, the
    current one of the list); ``None`` before the first attempt.
    """
