"""
The portable, polling network monitor and its probes. No probe sends a packet.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import sys
from collections.abc import Callable
from pathlib import Path

from twisted.internet.task import LoopingCall

from .._validate import checkDelay
from ._base import DebouncedMonitor
from ._interface import INetworkMonitor
from ._netlink import IF_OPER_UNKNOWN, IF_OPER_UP, IFF_LOOPBACK, IFF_UP
from ._typing import TimeReactor, implementer

__all__ = [
    "LinuxProcProbe",
    "PollingNetworkMonitor",
    "Probe",
    "defaultProbe",
    "parseIPv6Route",
    "parseIfInet6",
    "parseProcNetRoute",
    "udpProbe",
]

#: A probe returns what carries a usable default route right now: interface
#: names, or local addresses where names are not known; empty when down.
Probe = Callable[[], tuple[str, ...]]

RTF_UP = 0x0001
RTF_REJECT = 0x0200
_IFA_UNUSABLE = 0x40 | 0x08  # IFA_F_TENTATIVE | IFA_F_DADFAILED
_IPV6_SCOPE_GLOBAL = 0x00
_SIOCGIFADDR = 0x8915
_USABLE_OPERSTATES = {
    "up": IF_OPER_UP,
    "unknown": IF_OPER_UNKNOWN,
}

#: Destinations whose route ``udpProbe`` asks the kernel about. Connecting a
#: UDP socket only selects a route and a source address: nothing is sent.
PROBE_TARGETS = (
    (socket.AF_INET, ("8.8.8.8", 53)),
    (socket.AF_INET6, ("2001:4860:4860::8888", 53)),
)


def _rows(text: str, skipHeader: bool) -> list[list[str]]:
    lines = text.splitlines()[1:] if skipHeader else text.splitlines()
    return [line.split() for line in lines if line.strip()]


def parseProcNetRoute(text: str) -> list[str]:
    """
    The interfaces of the IPv4 default routes (main table) in the text of
    ``/proc/net/route``, skipping routes that are not up or that reject.
    """
    devices = []
    for row in _rows(text, skipHeader=True):
        if len(row) < 8:
            continue
        device, destination, flags, mask = row[0], row[1], int(row[3], 16), row[7]
        if (
            int(destination, 16) == 0
            and int(mask, 16) == 0
            and flags & RTF_UP
            and not flags & RTF_REJECT
            and device != "*"
        ):
            devices.append(device)
    return devices


def parseIPv6Route(text: str) -> list[str]:
    """
    The interfaces of the IPv6 ``::/0`` routes in the text of
    ``/proc/net/ipv6_route``, skipping routes that are not up, that reject,
    or that go through ``lo``.
    """
    devices = []
    for row in _rows(text, skipHeader=False):
        if len(row) < 10:
            continue
        destination, prefixLen, flags, device = row[0], row[1], int(row[8], 16), row[9]
        if (
            int(destination, 16) == 0
            and int(prefixLen, 16) == 0
            and flags & RTF_UP
            and not flags & RTF_REJECT
            and device != "lo"
        ):
            devices.append(device)
    return devices


def parseIfInet6(text: str) -> set[str]:
    """
    The interfaces with a usable global IPv6 address (not tentative, DAD not
    failed) in the text of ``/proc/net/if_inet6``.
    """
    devices = set()
    for row in _rows(text, skipHeader=False):
        if len(row) < 6:
            continue
        scope, flags, device = int(row[3], 16), int(row[4], 16), row[5]
        if scope == _IPV6_SCOPE_GLOBAL and not flags & _IFA_UNUSABLE:
            devices.add(device)
    return devices


def _isGlobalAddress(address: str) -> bool:
    parsed = ipaddress.ip_address(address.split("%", 1)[0])
    return not (
        parsed.is_loopback
        or parsed.is_link_local
        or parsed.is_unspecified
        or parsed.is_multicast
    )


def ioctlIPv4Address(device: str) -> str | None:
    """
    The primary IPv4 address of ``device`` (``SIOCGIFADDR``), or ``None``.
    """
    request = struct.pack("256s", device.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        import fcntl

        try:
            answer = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, request)
        except OSError as e:
            if e.errno in (errno.EADDRNOTAVAIL, errno.ENODEV):
                return None
            raise
    return socket.inet_ntoa(answer[20:24])


class LinuxProcProbe:
    """
    A probe reading ``/proc/net/route``, ``/proc/net/ipv6_route``,
    ``/proc/net/if_inet6`` and ``/sys/class/net/<dev>/{flags,operstate,
    carrier}``: the interfaces that carry a default route, are up with
    carrier, are not loopback and have a global address of the route's
    family.

    :param root: the file system root to read ``proc`` and ``sys`` under
        (tests point it at a fake tree).
    :param ipv4Address: looks up an interface's IPv4 address (the kernel
        exposes no per-interface IPv4 address file).
    """

    def __init__(
        self,
        root: str = "/",
        ipv4Address: Callable[[str], str | None] = ioctlIPv4Address,
    ) -> None:
        self._root = Path(root)
        self._ipv4Address = ipv4Address

    def _read(self, *parts: str) -> str | None:
        try:
            return self._root.joinpath(*parts).read_text()
        except FileNotFoundError:
            return None
        except OSError as e:
            # /sys/class/net/<dev>/carrier is EINVAL while the device is down.
            if e.errno == errno.EINVAL:
                return None
            raise

    def _linkRunning(self, device: str) -> bool:
        flags = self._read("sys", "class", "net", device, "flags")
        operstate = self._read("sys", "class", "net", device, "operstate")
        carrier = self._read("sys", "class", "net", device, "carrier")
        if flags is None or operstate is None or carrier is None:
            return False
        flagBits = int(flags.strip(), 16)
        return (
            bool(flagBits & IFF_UP)
            and not flagBits & IFF_LOOPBACK
            and operstate.strip() in _USABLE_OPERSTATES
            and carrier.strip() == "1"
        )

    def _hasGlobalIPv4(self, device: str) -> bool:
        address = self._ipv4Address(device)
        return address is not None and _isGlobalAddress(address)

    def __call__(self) -> tuple[str, ...]:
        """
        Probe once.

        :raises OSError: if ``/proc/net/route`` cannot be read.
        """
        ipv4Routes = self._read("proc", "net", "route")
        if ipv4Routes is None:
            raise OSError(errno.ENOENT, "no /proc/net/route")
        found = {
            device
            for device in parseProcNetRoute(ipv4Routes)
            if self._linkRunning(device) and self._hasGlobalIPv4(device)
        }
        ipv6Routes = self._read("proc", "net", "ipv6_route")
        if ipv6Routes is not None:
            withGlobal = parseIfInet6(self._read("proc", "net", "if_inet6") or "")
            found.update(
                device
                for device in parseIPv6Route(ipv6Routes)
                if device in withGlobal and self._linkRunning(device)
            )
        return tuple(sorted(found))


def udpProbe() -> tuple[str, ...]:
    """
    A portable probe: ask the kernel which local address it would use to
    reach a public address (``connect()`` on an unconnected UDP socket sends
    nothing), for IPv4 and IPv6.

    :return: the global local addresses found; empty when no default route.
    """
    found = []
    for family, target in PROBE_TARGETS:
        try:
            s = socket.socket(family, socket.SOCK_DGRAM)
        except OSError:
            continue
        with s:
            try:
                s.connect(target)
                address = str(s.getsockname()[0])
            except OSError:
                continue
        if _isGlobalAddress(address):
            found.append(address)
    return tuple(found)


def defaultProbe() -> Probe:
    """
    :class:`LinuxProcProbe` where ``/proc/net/route`` is readable, else
    :func:`udpProbe`.
    """
    if sys.platform.startswith("linux") and os.access("/proc/net/route", os.R_OK):
        return LinuxProcProbe()
    return udpProbe


#: The shortest ``interval`` of :class:`PollingNetworkMonitor`, in seconds:
#: probing faster would spend a CPU on reading the routing table.
MIN_INTERVAL = 0.05


@implementer(INetworkMonitor)
class PollingNetworkMonitor(DebouncedMonitor):
    """
    A portable :class:`INetworkMonitor` that probes every ``interval``
    seconds. It sends no packets: on Linux it reads the routing table and
    interface state from ``/proc`` and ``/sys``; elsewhere it asks the kernel
    which source address a UDP socket connected to a public address would
    use.

    A probe that raises makes the monitor log once and report
    ``isUp = None``; it keeps polling and recovers when probing works again.

    :param interval: seconds between two probes.
    :param reactor: provider of ``IReactorTime``; ``None`` for the global
        reactor.
    :param probe: the probe to run; :func:`defaultProbe` if ``None``.
    :param settle: base settle time before reporting up, in seconds.
    :param maxSettle: cap on the settle time while the network flaps.
    :raises TypeError: naming the argument, if ``interval``, ``settle`` or
        ``maxSettle`` is not a number.
    :raises ValueError: naming the argument, if ``interval`` is below
        :data:`MIN_INTERVAL`, NaN or infinite, or ``settle``/``maxSettle``
        is not a finite number ``>= 0`` with ``settle <= maxSettle``.
    """

    def __init__(
        self,
        interval: float = 2.0,
        reactor: TimeReactor | None = None,
        *,
        probe: Probe | None = None,
        settle: float = 0.15,
        maxSettle: float = 10.0,
    ) -> None:
        interval = checkDelay("interval", interval)
        if interval < MIN_INTERVAL:
            raise ValueError(
                f"interval must be at least {MIN_INTERVAL:g} s (a probe reads "
                f"the routing table), not {interval:g}"
            )
        super().__init__(reactor, settle=settle, maxSettle=maxSettle)
        self.interval = interval
        self._probe = probe if probe is not None else defaultProbe()
        self._loop: LoopingCall | None = None
        self._probeFailing = False
        self._recoveryLogged = False

    def start(self) -> None:
        """
        Probe now (which may report the initial state before this returns),
        then every :attr:`interval` seconds. Idempotent.
        """
        if self.running:
            return
        self.running = True
        loop = LoopingCall(self._poll)
        loop.clock = self._reactor()  # type: ignore[assignment]
        self._loop = loop
        loop.start(self.interval, now=True)

    def stop(self) -> None:
        """
        Stop probing and cancel every delayed call; ``isUp`` becomes ``None``
        (observers are not called). Idempotent.
        """
        if not self.running:
            return
        self.running = False
        if self._loop is not None:
            loop, self._loop = self._loop, None
            if loop.running:
                loop.stop()
        self._forget()

    def _poll(self) -> None:
        try:
            via = self._probe()
        except Exception:
            self._probeFailing = True
            self._fail("network probe failed", inExceptHandler=True)
            return
        if self._probeFailing:
            self._probeFailing = False
            if not self._recoveryLogged:
                self._recoveryLogged = True
                self.log.info("Network probe works again")
        self._observe(via)
