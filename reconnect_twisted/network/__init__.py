"""
Network awareness: monitors that tell whether the network is usable.

"Up" means a usable default route: a unicast default route (IPv4 or IPv6,
main table) whose output interface is not loopback, is up and running with
carrier, and has a global address of the route's family. Monitors debounce:
down is reported at once, up only after a settle time (0.15 s by default,
doubling while the network flaps, up to 10 s).

* :class:`NetlinkNetworkMonitor`: Linux, rtnetlink events, no polling, no
  threads.
* :class:`PollingNetworkMonitor`: portable fallback, sends no packets.
* :class:`ManualNetworkMonitor`: set by hand, for tests and platform bridges.
* :func:`defaultNetworkMonitor`: the best of these for this platform.
"""

from ._interface import INetworkMonitor
from ._manual import ManualNetworkMonitor
from ._monitor import NetlinkNetworkMonitor, defaultNetworkMonitor
from ._polling import PollingNetworkMonitor

__all__ = [
    "INetworkMonitor",
    "ManualNetworkMonitor",
    "NetlinkNetworkMonitor",
    "PollingNetworkMonitor",
    "defaultNetworkMonitor",
]
