"""
The rtnetlink monitor, and the choice of the best monitor for this platform.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, cast

from twisted.internet.interfaces import IReadDescriptor
from twisted.python.failure import Failure

from ._base import DebouncedMonitor
from ._channel import RtnetlinkChannel
from ._interface import INetworkMonitor
from ._netlink import NetlinkParseError, Snapshot, interfaceNames, usableDefaultRoutes
from ._polling import PollingNetworkMonitor
from ._typing import DelayedCall, FDReactor, TimeReactor, implementer

__all__ = ["NetlinkNetworkMonitor", "defaultNetworkMonitor"]


class Channel(Protocol):
    """
    What :class:`NetlinkNetworkMonitor` needs from its sockets; see
    :class:`RtnetlinkChannel`.
    """

    def fileno(self) -> int:
        """The descriptor that becomes readable when something changed."""
        raise NotImplementedError

    def drainEvents(self) -> tuple[int, bool]:
        """Discard pending events: (datagrams read, whether events were lost)."""
        raise NotImplementedError

    def snapshot(self) -> Snapshot:
        """A full dump of links, addresses and routes."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the descriptors."""


@implementer(IReadDescriptor)
class _EventReader:
    """
    The ``IReadDescriptor`` registered with the reactor: forwards readability
    of the event socket to the monitor.
    """

    def __init__(self, monitor: NetlinkNetworkMonitor, channel: Channel) -> None:
        self._monitor = monitor
        self._channel = channel

    def fileno(self) -> int:
        return self._channel.fileno()

    def doRead(self) -> None:
        self._monitor._eventsReady()

    def connectionLost(self, reason: Failure) -> None:
        # Only called by the reactor at shutdown (disconnectAll).
        self._monitor._readerLost(reason)

    def logPrefix(self) -> str:
        return "NetlinkNetworkMonitor"


@implementer(INetworkMonitor)
class NetlinkNetworkMonitor(DebouncedMonitor):
    """
    An :class:`INetworkMonitor` for Linux, driven by rtnetlink: no threads,
    no polling.

    It listens on a ``NETLINK_ROUTE`` socket registered with
    ``reactor.addReader`` for link, address and route changes (IPv4 and
    IPv6). An event is only a trigger: the monitor then dumps all links,
    addresses and routes and decides from scratch (the kernel removes IPv4
    routes without always telling, and a lost event, ``ENOBUFS``, needs a full
    resync anyway). Dumps are limited to one per ``minDumpInterval`` during
    event storms.

    If the socket cannot be opened (not Linux, no permission) or fails later,
    the monitor logs once and reports ``isUp = None``.

    :param reactor: provider of ``IReactorFDSet`` and ``IReactorTime``;
        ``None`` for the global reactor.
    :param settle: base settle time before reporting up, in seconds.
    :param maxSettle: cap on the settle time while the network flaps.
    :param minDumpInterval: minimum time between two dumps, in seconds.
    :param channelFactory: opens the sockets; tests substitute a fake.
    """

    def __init__(
        self,
        reactor: FDReactor | None = None,
        *,
        settle: float = 0.15,
        maxSettle: float = 10.0,
        minDumpInterval: float = 0.05,
        channelFactory: Callable[[], Channel] = RtnetlinkChannel,
    ) -> None:
        super().__init__(reactor, settle=settle, maxSettle=maxSettle)
        self._minDumpInterval = minDumpInterval
        self._channelFactory = channelFactory
        self._channel: Channel | None = None
        self._reader: _EventReader | None = None
        self._scheduledDump: DelayedCall | None = None
        self._lastDump: float | None = None
        #: Number of full dumps done since construction.
        self.dumps = 0
        #: Number of times the kernel reported lost events (``ENOBUFS``).
        self.overflows = 0

    def _fdReactor(self) -> FDReactor:
        return cast(FDReactor, self._reactor())

    def start(self) -> None:
        """
        Open the sockets, register with the reactor and dump once (which may
        report the initial state before this returns). Idempotent.
        """
        if self.running:
            return
        self.running = True
        try:
            channel = self._channelFactory()
        except OSError:
            self._fail("cannot open an rtnetlink socket", inExceptHandler=True)
            return
        self._channel = channel
        self._reader = _EventReader(self, channel)
        self._fdReactor().addReader(self._reader)
        self._dump()

    def stop(self) -> None:
        """
        Unregister from the reactor, close the sockets, cancel every delayed
        call; ``isUp`` becomes ``None`` (observers are not called).
        Idempotent.
        """
        if not self.running:
            return
        self.running = False
        self._release()
        self._forget()

    def _release(self) -> None:
        if self._scheduledDump is not None:
            scheduled, self._scheduledDump = self._scheduledDump, None
            scheduled.cancel()
        if self._reader is not None:
            reader, self._reader = self._reader, None
            self._fdReactor().removeReader(reader)
        if self._channel is not None:
            channel, self._channel = self._channel, None
            channel.close()

    def _failAndRelease(self, why: str) -> None:
        self._release()
        self._fail(why, inExceptHandler=True)

    def _eventsReady(self) -> None:
        if self._channel is None:
            return
        try:
            _reads, overflowed = self._channel.drainEvents()
        except OSError:
            self._failAndRelease("reading rtnetlink events failed")
            return
        if overflowed:
            self.overflows += 1
            self.log.debug("rtnetlink events lost (ENOBUFS); resyncing")
        self._requestDump()

    def _requestDump(self) -> None:
        if self._scheduledDump is not None:
            return
        clock: TimeReactor = self._reactor()
        wait = 0.0
        if self._lastDump is not None:
            wait = self._lastDump + self._minDumpInterval - clock.seconds()
        if wait <= 0:
            self._dump()
        else:
            self._scheduledDump = clock.callLater(wait, self._scheduledDumpDue)

    def _scheduledDumpDue(self) -> None:
        self._scheduledDump = None
        self._dump()

    def _dump(self) -> None:
        if self._channel is None:
            return
        self._lastDump = self._reactor().seconds()
        self.dumps += 1
        try:
            snapshot = self._channel.snapshot()
        except (OSError, NetlinkParseError):
            self._failAndRelease("rtnetlink dump failed")
            return
        routes = usableDefaultRoutes(snapshot.links, snapshot.addrs, snapshot.routes)
        self._observe(interfaceNames(snapshot.links, routes))

    def _readerLost(self, reason: Failure) -> None:
        # The reactor is shutting down and dropped us: release quietly.
        self._reader = None
        self._release()
        self._forget()


def defaultNetworkMonitor(
    reactor: FDReactor | None = None, *, settle: float = 0.15
) -> NetlinkNetworkMonitor | PollingNetworkMonitor:
    """
    The best monitor available here: a :class:`NetlinkNetworkMonitor` on
    Linux when an rtnetlink socket can be opened, else a
    :class:`PollingNetworkMonitor`.

    :param reactor: passed to the monitor; ``None`` for the global reactor.
    :param settle: base settle time before reporting up, in seconds.
    """
    try:
        RtnetlinkChannel().close()
    except OSError:
        return PollingNetworkMonitor(reactor=reactor, settle=settle)
    return NetlinkNetworkMonitor(reactor, settle=settle)
