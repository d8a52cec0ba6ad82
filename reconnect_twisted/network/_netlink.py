"""
Pure rtnetlink helpers: dump requests, message parsing and the "is the network
up?" decision.

Nothing here touches a socket, the reactor or the clock, so all of it is tested
on captured message bytes (``tests/network/fixtures/``) without root.

The wire formats are the kernel's (``linux/netlink.h``, ``linux/rtnetlink.h``,
``linux/if_link.h``, ``linux/if_addr.h``), in native byte order.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

# --- netlink (linux/netlink.h) ---------------------------------------------

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4

NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_DUMP_INTR = 0x10
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH

_NLA_TYPE_MASK = 0x3FFF  # strips NLA_F_NESTED and NLA_F_NET_BYTEORDER

# --- rtnetlink (linux/rtnetlink.h) -----------------------------------------

RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26

RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV4_ROUTE = 0x40
RTMGRP_IPV6_IFADDR = 0x100
RTMGRP_IPV6_ROUTE = 0x400

#: The multicast groups the monitor listens to: every change that can affect
#: :func:`networkIsUp`.
MONITOR_GROUPS = (
    RTMGRP_LINK
    | RTMGRP_IPV4_IFADDR
    | RTMGRP_IPV6_IFADDR
    | RTMGRP_IPV4_ROUTE
    | RTMGRP_IPV6_ROUTE
)

RT_TABLE_MAIN = 254
RTN_UNICAST = 1
RTN_BLACKHOLE = 6
RTN_UNREACHABLE = 7
RTN_PROHIBIT = 8

RT_SCOPE_UNIVERSE = 0
RT_SCOPE_SITE = 200
RT_SCOPE_LINK = 253
RT_SCOPE_HOST = 254

RTNH_F_DEAD = 0x1
RTNH_F_LINKDOWN = 0x10

RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_MULTIPATH = 9
RTA_TABLE = 15

# --- links (linux/if.h, linux/if_link.h, linux/if_arp.h) -------------------

IFF_UP = 0x1
IFF_LOOPBACK = 0x8
IFF_RUNNING = 0x40
IFF_LOWER_UP = 0x10000

ARPHRD_LOOPBACK = 772

IFLA_IFNAME = 3
IFLA_OPERSTATE = 16

IF_OPER_UNKNOWN = 0
IF_OPER_NOTPRESENT = 1
IF_OPER_DOWN = 2
IF_OPER_LOWERLAYERDOWN = 3
IF_OPER_TESTING = 4
IF_OPER_DORMANT = 5
IF_OPER_UP = 6

# --- addresses (linux/if_addr.h) -------------------------------------------

IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_FLAGS = 8

IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40

# --- struct layouts ----------------------------------------------------------

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_NLMSGERR = struct.Struct("=i")  # errno (negative), followed by the request
_RTATTR = struct.Struct("=HH")  # len, type
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst/src len, tos, table,
#                                       protocol, scope, type, flags
_RTNEXTHOP = struct.Struct("=HBBi")  # len, flags, hops, ifindex
_U32 = struct.Struct("=I")
_U8 = struct.Struct("=B")

_USABLE_OPERSTATES = frozenset({IF_OPER_UP, IF_OPER_UNKNOWN})
_UNUSABLE_ADDRESS_FLAGS = IFA_F_TENTATIVE | IFA_F_DADFAILED
_DEAD_NEXTHOP_FLAGS = RTNH_F_DEAD | RTNH_F_LINKDOWN
_LINK_RUNNING_FLAGS = IFF_UP | IFF_RUNNING | IFF_LOWER_UP


class NetlinkParseError(ValueError):
    """
    Raised when bytes from a netlink socket are not well-formed messages.
    """


class NetlinkError(OSError):
    """
    The kernel answered a request with ``NLMSG_ERROR`` and a non-zero errno.
    """


def _align(length: int) -> int:
    return (length + 3) & ~3


@dataclass(frozen=True, slots=True)
class NetlinkMessage:
    """
    One netlink message: the ``nlmsghdr`` fields and the payload after it.

    :ivar type: ``nlmsg_type`` (e.g. :data:`RTM_NEWLINK`, :data:`NLMSG_DONE`).
    :ivar flags: ``nlmsg_flags``.
    :ivar seq: ``nlmsg_seq``: the request's sequence number for dump replies,
        ``0`` for multicast events.
    :ivar pid: ``nlmsg_pid`` (port id).
    :ivar payload: the bytes after the header, up to ``nlmsg_len``.
    """

    type: int
    flags: int
    seq: int
    pid: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """
    A network interface, from an ``RTM_NEWLINK`` message.

    :ivar index: the interface index.
    :ivar name: the interface name (``IFLA_IFNAME``), ``""`` if absent.
    :ivar flags: ``ifi_flags`` (``IFF_UP``, ``IFF_RUNNING``, ``IFF_LOWER_UP``…).
    :ivar operstate: RFC 2863 operational state (``IFLA_OPERSTATE``,
        :data:`IF_OPER_UP` …), ``None`` if absent.
    :ivar isLoopback: whether this is a loopback device.
    """

    index: int
    name: str
    flags: int
    operstate: int | None
    isLoopback: bool


@dataclass(frozen=True, slots=True)
class AddressInfo:
    """
    An interface address, from an ``RTM_NEWADDR`` message.

    :ivar index: the interface index the address is on.
    :ivar family: ``socket.AF_INET`` or ``socket.AF_INET6``.
    :ivar scope: ``ifa_scope`` (:data:`RT_SCOPE_UNIVERSE` is global).
    :ivar flags: address flags (``IFA_FLAGS`` if present, else ``ifa_flags``).
    :ivar address: the address in text form, ``None`` if absent.
    """

    index: int
    family: int
    scope: int
    flags: int = 0
    address: str | None = None


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """
    A route (or one next hop of a multipath route), from ``RTM_NEWROUTE``.

    :ivar family: ``socket.AF_INET`` or ``socket.AF_INET6``.
    :ivar dstLen: destination prefix length; ``0`` for a default route.
    :ivar table: routing table id (``RTA_TABLE`` if present).
    :ivar type: route type (:data:`RTN_UNICAST`, :data:`RTN_UNREACHABLE` …).
    :ivar oif: output interface index, ``0`` if none.
    :ivar flags: ``rtm_flags`` or'ed with the next hop's ``rtnh_flags``.
    :ivar gateway: the gateway address in text form, ``None`` if absent.
    """

    family: int
    dstLen: int
    table: int
    type: int
    oif: int
    flags: int = 0
    gateway: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """
    The parsed result of a full link, address and route dump.
    """

    links: tuple[LinkInfo, ...] = ()
    addrs: tuple[AddressInfo, ...] = ()
    routes: tuple[RouteInfo, ...] = ()


def buildDumpRequest(msgType: int, seq: int, family: int = socket.AF_UNSPEC) -> bytes:
    """
    Build an ``NLM_F_REQUEST | NLM_F_DUMP`` request.

    :param msgType: :data:`RTM_GETLINK`, :data:`RTM_GETADDR` or
        :data:`RTM_GETROUTE`.
    :param seq: sequence number the replies will carry.
    :param family: address family filter; ``AF_UNSPEC`` for all.
    :raises ValueError: for another message type.
    """
    if msgType == RTM_GETLINK:
        body = _IFINFOMSG.pack(family, 0, 0, 0, 0)
    elif msgType == RTM_GETADDR:
        body = _IFADDRMSG.pack(family, 0, 0, 0, 0)
    elif msgType == RTM_GETROUTE:
        body = _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
    else:
        raise ValueError(f"not a dump request type: {msgType}")
    header = _NLMSGHDR.pack(
        _NLMSGHDR.size + len(body), msgType, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
    )
    return header + body


def parseMessages(data: bytes) -> list[NetlinkMessage]:
    """
    Split the bytes of one netlink datagram into messages.

    :raises NetlinkParseError: on a truncated header or a length that points
        outside ``data``.
    """
    messages = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < _NLMSGHDR.size:
            raise NetlinkParseError(f"truncated nlmsghdr at offset {offset}")
        length, msgType, flags, seq, pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            raise NetlinkParseError(f"bad nlmsg_len {length} at offset {offset}")
        payload = data[offset + _NLMSGHDR.size : offset + length]
        messages.append(NetlinkMessage(msgType, flags, seq, pid, payload))
        offset += _align(length)
    return messages


def errorCode(message: NetlinkMessage) -> int:
    """
    The positive errno carried by an :data:`NLMSG_ERROR` message (``0`` is an
    acknowledgement).

    :raises NetlinkParseError: if the payload is too short.
    """
    if len(message.payload) < _NLMSGERR.size:
        raise NetlinkParseError("truncated nlmsgerr")
    (error,) = _NLMSGERR.unpack_from(message.payload)
    return int(-error)


def _attributes(data: bytes, offset: int) -> Iterator[tuple[int, bytes]]:
    while offset + _RTATTR.size <= len(data):
        length, attrType = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size or offset + length > len(data):
            raise NetlinkParseError(f"bad rtattr length {length} at {offset}")
        yield attrType & _NLA_TYPE_MASK, data[offset + _RTATTR.size : offset + length]
        offset += _align(length)


def _cString(value: bytes) -> str:
    return value.split(b"\0", 1)[0].decode("utf-8", "replace")


def _u32(value: bytes) -> int:
    if len(value) < _U32.size:
        raise NetlinkParseError("truncated u32 attribute")
    return int(_U32.unpack_from(value)[0])


def _addressText(family: int, value: bytes) -> str | None:
    if (family, len(value)) not in ((socket.AF_INET, 4), (socket.AF_INET6, 16)):
        return None
    return socket.inet_ntop(family, value)


def _need(payload: bytes, layout: struct.Struct, what: str) -> None:
    if len(payload) < layout.size:
        raise NetlinkParseError(f"truncated {what}")


def parseLink(payload: bytes) -> LinkInfo:
    """
    Parse the payload of an ``RTM_NEWLINK`` / ``RTM_DELLINK`` message.

    :raises NetlinkParseError: if malformed.
    """
    _need(payload, _IFINFOMSG, "ifinfomsg")
    _family, linkType, index, flags, _change = _IFINFOMSG.unpack_from(payload)
    name = ""
    operstate = None
    for attrType, value in _attributes(payload, _IFINFOMSG.size):
        if attrType == IFLA_IFNAME:
            name = _cString(value)
        elif attrType == IFLA_OPERSTATE and value:
            operstate = _U8.unpack_from(value)[0]
    isLoopback = linkType == ARPHRD_LOOPBACK or bool(flags & IFF_LOOPBACK)
    return LinkInfo(index, name, flags, operstate, isLoopback)


def parseAddress(payload: bytes) -> AddressInfo:
    """
    Parse the payload of an ``RTM_NEWADDR`` / ``RTM_DELADDR`` message.

    :raises NetlinkParseError: if malformed.
    """
    _need(payload, _IFADDRMSG, "ifaddrmsg")
    family, _prefixLen, flags, scope, index = _IFADDRMSG.unpack_from(payload)
    local = address = None
    for attrType, value in _attributes(payload, _IFADDRMSG.size):
        if attrType == IFA_FLAGS:
            flags = _u32(value)
        elif attrType == IFA_LOCAL:
            local = _addressText(family, value)
        elif attrType == IFA_ADDRESS:
            address = _addressText(family, value)
    # On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is ours.
    return AddressInfo(index, family, scope, flags, local or address)


def parseRoute(payload: bytes) -> list[RouteInfo]:
    """
    Parse the payload of an ``RTM_NEWROUTE`` / ``RTM_DELROUTE`` message.

    A multipath route (``RTA_MULTIPATH``) yields one :class:`RouteInfo` per
    next hop; any other route yields exactly one.

    :raises NetlinkParseError: if malformed.
    """
    _need(payload, _RTMSG, "rtmsg")
    (family, dstLen, _srcLen, _tos, table, _proto, _scope, routeType, flags) = (
        _RTMSG.unpack_from(payload)
    )
    oif = 0
    gateway = None
    multipath: bytes | None = None
    for attrType, value in _attributes(payload, _RTMSG.size):
        if attrType == RTA_TABLE:
            table = _u32(value)
        elif attrType == RTA_OIF:
            oif = _u32(value)
        elif attrType == RTA_GATEWAY:
            gateway = _addressText(family, value)
        elif attrType == RTA_MULTIPATH:
            multipath = value
    if multipath is None:
        return [RouteInfo(family, dstLen, table, routeType, oif, flags, gateway)]
    routes = []
    offset = 0
    while offset + _RTNEXTHOP.size <= len(multipath):
        length, hopFlags, _hops, hopOif = _RTNEXTHOP.unpack_from(multipath, offset)
        if length < _RTNEXTHOP.size or offset + length > len(multipath):
            raise NetlinkParseError(f"bad rtnexthop length {length}")
        hopGateway = None
        hop = multipath[: offset + length]
        for attrType, value in _attributes(hop, offset + _RTNEXTHOP.size):
            if attrType == RTA_GATEWAY:
                hopGateway = _addressText(family, value)
        routes.append(
            RouteInfo(
                family, dstLen, table, routeType, hopOif, flags | hopFlags, hopGateway
            )
        )
        offset += _align(length)
    return routes


def collectSnapshot(messages: Iterable[NetlinkMessage]) -> Snapshot:
    """
    Turn the messages of link, address and route dumps into a
    :class:`Snapshot`, ignoring control and unrelated messages.

    :raises NetlinkError: if a message is an :data:`NLMSG_ERROR` with a
        non-zero errno.
    :raises NetlinkParseError: if a message is malformed.
    """
    links: dict[int, LinkInfo] = {}
    addrs: list[AddressInfo] = []
    routes: list[RouteInfo] = []
    for message in messages:
        if message.type == RTM_NEWLINK:
            link = parseLink(message.payload)
            links[link.index] = link
        elif message.type == RTM_NEWADDR:
            addrs.append(parseAddress(message.payload))
        elif message.type == RTM_NEWROUTE:
            routes.extend(parseRoute(message.payload))
        elif message.type == NLMSG_ERROR:
            code = errorCode(message)
            if code:
                raise NetlinkError(code, f"netlink request failed: errno {code}")
    return Snapshot(tuple(links.values()), tuple(addrs), tuple(routes))


def linkIsRunning(link: LinkInfo) -> bool:
    """
    Whether ``link`` can carry traffic: not loopback, administratively up,
    running with carrier, operational state ``UP`` or ``UNKNOWN``.
    """
    return (
        not link.isLoopback
        and link.flags & _LINK_RUNNING_FLAGS == _LINK_RUNNING_FLAGS
        and (link.operstate is None or link.operstate in _USABLE_OPERSTATES)
    )


def usableDefaultRoutes(
    links: Sequence[LinkInfo],
    addrs: Sequence[AddressInfo],
    routes: Sequence[RouteInfo],
) -> list[RouteInfo]:
    """
    The default routes that make the network "up".

    A route counts when it is an IPv4 ``0.0.0.0/0`` or IPv6 ``::/0`` unicast
    route in the main table whose next hop is not dead, and whose output
    interface satisfies :func:`linkIsRunning` and has a usable (not tentative,
    not DAD-failed) global-scope address of the route's family.
    """
    running = {link.index for link in links if linkIsRunning(link)}
    withGlobal = {
        (addr.index, addr.family)
        for addr in addrs
        if addr.scope == RT_SCOPE_UNIVERSE and not addr.flags & _UNUSABLE_ADDRESS_FLAGS
    }
    return [
        route
        for route in routes
        if route.dstLen == 0
        and route.family in (socket.AF_INET, socket.AF_INET6)
        and route.table == RT_TABLE_MAIN
        and route.type == RTN_UNICAST
        and not route.flags & _DEAD_NEXTHOP_FLAGS
        and route.oif in running
        and (route.oif, route.family) in withGlobal
    ]


def networkIsUp(
    links: Sequence[LinkInfo],
    addrs: Sequence[AddressInfo],
    routes: Sequence[RouteInfo],
) -> bool:
    """
    Whether the network is "up": there is at least one of
    :func:`usableDefaultRoutes`.
    """
    return bool(usableDefaultRoutes(links, addrs, routes))


def interfaceNames(
    links: Sequence[LinkInfo], routes: Sequence[RouteInfo]
) -> tuple[str, ...]:
    """
    The sorted, distinct names of the output interfaces of ``routes``.
    """
    names = {link.index: link.name for link in links}
    return tuple(sorted({names.get(route.oif, str(route.oif)) for route in routes}))
