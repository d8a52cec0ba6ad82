"""
The rtnetlink sockets behind :class:`NetlinkNetworkMonitor`.
"""

from __future__ import annotations

import errno
import socket
import sys

from ._netlink import (
    MONITOR_GROUPS,
    NLM_F_DUMP_INTR,
    NLMSG_DONE,
    NLMSG_ERROR,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETROUTE,
    NetlinkError,
    Snapshot,
    buildDumpRequest,
    collectSnapshot,
    errorCode,
    parseMessages,
)

__all__ = ["RtnetlinkChannel"]

#: ``SO_RCVBUFFORCE`` from ``asm-generic/socket.h``; not in :mod:`socket`.
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)

_RECEIVE_SIZE = 1 << 16
_DUMP_TYPES = (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE)


def _rtnetlinkSocket() -> socket.socket:
    family = getattr(socket, "AF_NETLINK", None)
    if family is None or not sys.platform.startswith("linux"):
        raise OSError(errno.EAFNOSUPPORT, "rtnetlink needs Linux")
    return socket.socket(family, socket.SOCK_RAW, socket.NETLINK_ROUTE)


class RtnetlinkChannel:
    """
    Two ``NETLINK_ROUTE`` sockets: a non-blocking one subscribed to link,
    address and route change groups (its only use is to say "something
    changed"), and one for the link/address/route dumps, answered by the
    kernel synchronously.

    Dumps use their own socket so that they never interleave with events, and
    events arriving during a dump stay queued and trigger the next dump.

    :param groups: the ``RTMGRP_*`` multicast groups to join.
    :param receiveBuffer: the event socket's receive buffer size in bytes;
        forced past ``net.core.rmem_max`` with ``SO_RCVBUFFORCE`` when
        permitted (``CAP_NET_ADMIN``).
    :param dumpTimeout: bound on a single receive during a dump, in seconds.
    :raises OSError: if the sockets cannot be opened or bound.
    """

    def __init__(
        self,
        *,
        groups: int = MONITOR_GROUPS,
        receiveBuffer: int = 1 << 20,
        dumpTimeout: float = 1.0,
    ) -> None:
        self._seq = 0
        self._events = _rtnetlinkSocket()
        try:
            self._events.setblocking(False)
            try:
                self._events.setsockopt(
                    socket.SOL_SOCKET, SO_RCVBUFFORCE, receiveBuffer
                )
                #: Whether ``SO_RCVBUFFORCE`` was permitted.
                self.receiveBufferForced = True
            except OSError:
                self._events.setsockopt(
                    socket.SOL_SOCKET, socket.SO_RCVBUF, receiveBuffer
                )
                self.receiveBufferForced = False
            self._events.bind((0, groups))
            self._dumps = _rtnetlinkSocket()
        except BaseException:
            self._events.close()
            raise
        try:
            self._dumps.settimeout(dumpTimeout)
            self._dumps.bind((0, 0))
        except BaseException:
            self.close()
            raise

    def fileno(self) -> int:
        """
        The event socket's file descriptor (``-1`` once closed).
        """
        return self._events.fileno()

    def drainEvents(self, maxReads: int = 256) -> tuple[int, bool]:
        """
        Read and discard pending events without blocking.

        :param maxReads: stop after this many datagrams, so that an event
            storm cannot starve the reactor; the reactor calls again.
        :return: how many datagrams were read, and whether the kernel
            reported an overflow (``ENOBUFS``: events were lost).
        :raises OSError: on any other socket error.
        """
        reads = 0
        overflowed = False
        while reads < maxReads:
            try:
                data = self._events.recv(_RECEIVE_SIZE)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                overflowed = True
                continue
            if not data:
                break
            reads += 1
        return reads, overflowed

    def dump(self, msgType: int) -> tuple[bytes, bool]:
        """
        Run one dump request.

        :param msgType: ``RTM_GETLINK``, ``RTM_GETADDR`` or ``RTM_GETROUTE``.
        :return: the bytes of every reply datagram, concatenated (parse them
            with :func:`parseMessages`), and whether the kernel marked the dump
            as interrupted by a concurrent change (``NLM_F_DUMP_INTR``).
        :raises OSError: on a socket error, a timeout or an ``NLMSG_ERROR``.
        """
        self._seq = self._seq % 0x7FFFFFFF + 1
        seq = self._seq
        self._dumps.sendall(buildDumpRequest(msgType, seq))
        chunks = []
        interrupted = False
        while True:
            data = self._dumps.recv(_RECEIVE_SIZE)
            if not data:
                raise OSError(errno.EIO, "rtnetlink dump ended without NLMSG_DONE")
            done = False
            for message in parseMessages(data):
                if message.seq != seq:
                    continue
                interrupted |= bool(message.flags & NLM_F_DUMP_INTR)
                if message.type in (NLMSG_DONE, NLMSG_ERROR):
                    code = errorCode(message) if len(message.payload) >= 4 else 0
                    if code:
                        raise NetlinkError(code, f"rtnetlink dump failed: errno {code}")
                    done = True
            chunks.append(data)
            if done:
                return b"".join(chunks), interrupted

    def snapshot(self, attempts: int = 3) -> Snapshot:
        """
        Dump links, addresses and routes and parse them.

        A dump the kernel marks as interrupted is redone, up to ``attempts``
        times in all; the last one is used regardless (the change that
        interrupted it also queued an event, which triggers another dump).
        """
        for attempt in range(1, attempts + 1):
            interrupted = False
            raw = []
            for msgType in _DUMP_TYPES:
                data, dumpInterrupted = self.dump(msgType)
                raw.append(data)
                interrupted |= dumpInterrupted
            if not interrupted or attempt == attempts:
                break
        return collectSnapshot(
            message for data in raw for message in parseMessages(data)
        )

    def close(self) -> None:
        """
        Close both sockets. Idempotent.
        """
        self._events.close()
        dumps = getattr(self, "_dumps", None)
        if dumps is not None:
            dumps.close()
