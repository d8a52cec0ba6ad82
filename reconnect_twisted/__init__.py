"""
reconnect_twisted: Twisted client connections that come back by themselves,
and come back correctly.

Everything public is importable from here and listed in ``__all__``.
"""

from ._errors import (
    ConnectTimeout,
    GaveUp,
    HandshakeRejected,
    HandshakeTimeout,
    HeartbeatTimeout,
    Kicked,
    OutboxFull,
    ReconnectError,
    RetryLater,
)
from ._factory import ReconnectingFactory
from ._service import ReconnectingService
from ._status import ConnectionState, ConnectionStatus
from .backoff import DecorrelatedBackoff, ExponentialBackoff, FixedBackoff, IBackoff
from .failover import FailoverConnector, FailoverEndpoint, connectFailover
from .handshake import HandshakeStepError, HandshakeSteps
from .heartbeat import HeartbeatMixin
from .network import (
    INetworkMonitor,
    ManualNetworkMonitor,
    NetlinkNetworkMonitor,
    PollingNetworkMonitor,
    defaultNetworkMonitor,
)
from .outbox import Outbox
from .outbox_sqlite import SQLiteOutbox
from .policy import (
    Decision,
    DefaultPolicy,
    GiveUp,
    IReconnectPolicy,
    Reconnect,
    ReconnectAfter,
)

__version__ = "0.1.0"

__all__ = [
    "ConnectTimeout",
    "ConnectionState",
    "ConnectionStatus",
    "Decision",
    "DecorrelatedBackoff",
    "DefaultPolicy",
    "ExponentialBackoff",
    "FailoverConnector",
    "FailoverEndpoint",
    "FixedBackoff",
    "GaveUp",
    "GiveUp",
    "HandshakeRejected",
    "HandshakeStepError",
    "HandshakeSteps",
    "HandshakeTimeout",
    "HeartbeatMixin",
    "HeartbeatTimeout",
    "IBackoff",
    "INetworkMonitor",
    "IReconnectPolicy",
    "Kicked",
    "ManualNetworkMonitor",
    "NetlinkNetworkMonitor",
    "Outbox",
    "OutboxFull",
    "PollingNetworkMonitor",
    "Reconnect",
    "ReconnectAfter",
    "ReconnectError",
    "ReconnectingFactory",
    "ReconnectingService",
    "RetryLater",
    "SQLiteOutbox",
    "connectFailover",
    "defaultNetworkMonitor",
]
