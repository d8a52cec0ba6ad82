"""
Tests for the pure rtnetlink helpers, on dumps captured from real kernels
(``fixtures/capture.py``).
"""

from __future__ import annotations

import dataclasses
import socket
import struct
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted.network._netlink import (
    IF_OPER_DOWN,
    IF_OPER_UP,
    NLM_F_DUMP,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    RT_TABLE_MAIN,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETROUTE,
    RTM_NEWLINK,
    RTN_UNICAST,
    RTN_UNREACHABLE,
    RTNH_F_LINKDOWN,
    AddressInfo,
    LinkInfo,
    NetlinkError,
    NetlinkParseError,
    RouteInfo,
    Snapshot,
    buildDumpRequest,
    collectSnapshot,
    errorCode,
    interfaceNames,
    linkIsRunning,
    networkIsUp,
    parseLink,
    parseMessages,
    usableDefaultRoutes,
)

FIXTURES = Path(__file__).parent / "fixtures"
INET, INET6 = socket.AF_INET, socket.AF_INET6
RUNNING = 0x11043  # IFF_UP|IFF_BROADCAST|IFF_RUNNING|IFF_MULTICAST|IFF_LOWER_UP


def load(scenario: str) -> Snapshot:
    messages = []
    for kind in ("link", "addr", "route"):
        messages.extend(
            parseMessages((FIXTURES / f"{scenario}.{kind}.bin").read_bytes())
        )
    return collectSnapshot(messages)


def isUp(snapshot: Snapshot) -> bool:
    return networkIsUp(snapshot.links, snapshot.addrs, snapshot.routes)


def defaultRoutes(snapshot: Snapshot) -> list[RouteInfo]:
    return [r for r in snapshot.routes if r.dstLen == 0 and r.table == RT_TABLE_MAIN]


class DumpRequestTests(SynchronousTestCase):
    def test_linkRequest(self) -> None:
        """
        When a link dump request is built, it is an nlmsghdr with
        NLM_F_REQUEST|NLM_F_DUMP and the sequence number, then an ifinfomsg.
        """
        data = buildDumpRequest(RTM_GETLINK, 7)
        self.assertEqual(
            data,
            struct.pack("=IHHII", 32, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 7, 0)
            + bytes(16),
        )

    def test_addressAndRouteRequests(self) -> None:
        """
        When address and route dump requests are built, their bodies are an
        8-byte ifaddrmsg and a 12-byte rtmsg, with the family given.
        """
        self.assertEqual(len(buildDumpRequest(RTM_GETADDR, 1)), 24)
        route = buildDumpRequest(RTM_GETROUTE, 2, INET6)
        self.assertEqual(len(route), 28)
        self.assertEqual(route[16], INET6)

    def test_otherType(self) -> None:
        """
        When asked for a request type that is not a dump, it raises ValueError.
        """
        self.assertRaises(ValueError, buildDumpRequest, RTM_NEWLINK, 1)

    def test_requestParses(self) -> None:
        """
        When a built request is parsed back, the header fields round-trip.
        """
        [message] = parseMessages(buildDumpRequest(RTM_GETROUTE, 99))
        self.assertEqual(
            (message.type, message.flags, message.seq, len(message.payload)),
            (RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, 99, 12),
        )


class MalformedTests(SynchronousTestCase):
    def test_truncatedHeader(self) -> None:
        """
        When fewer than 16 bytes remain, parsing raises NetlinkParseError.
        """
        self.assertRaises(NetlinkParseError, parseMessages, bytes(8))

    def test_lengthPastEnd(self) -> None:
        """
        When nlmsg_len points past the data, parsing raises NetlinkParseError.
        """
        data = struct.pack("=IHHII", 64, RTM_NEWLINK, 0, 0, 0)
        self.assertRaises(NetlinkParseError, parseMessages, data)

    def test_lengthTooSmall(self) -> None:
        """
        When nlmsg_len is below the header size, parsing raises rather than
        looping forever.
        """
        data = struct.pack("=IHHII", 0, RTM_NEWLINK, 0, 0, 0)
        self.assertRaises(NetlinkParseError, parseMessages, data)

    def test_truncatedLink(self) -> None:
        """
        When a link payload is shorter than an ifinfomsg, parseLink raises.
        """
        self.assertRaises(NetlinkParseError, parseLink, bytes(10))

    def test_badAttribute(self) -> None:
        """
        When an attribute's length points past the payload, parseLink raises.
        """
        payload = bytes(16) + struct.pack("=HH", 40, 3) + b"eth0"
        self.assertRaises(NetlinkParseError, parseLink, payload)

    def test_emptyIsNothing(self) -> None:
        """
        When there are no bytes, there are no messages.
        """
        self.assertEqual(parseMessages(b""), [])


class ErrorTests(SynchronousTestCase):
    def test_errorMessageRaises(self) -> None:
        """
        When a dump contains NLMSG_ERROR with errno EPERM, collectSnapshot
        raises NetlinkError carrying that errno.
        """
        data = struct.pack("=IHHII", 20, NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", -1)
        [message] = parseMessages(data)
        self.assertEqual(errorCode(message), 1)
        error = self.assertRaises(NetlinkError, collectSnapshot, [message])
        self.assertEqual(error.errno, 1)

    def test_ackIsNotAnError(self) -> None:
        """
        When NLMSG_ERROR carries errno 0 (an ack), collectSnapshot ignores it.
        """
        data = struct.pack("=IHHII", 20, NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", 0)
        self.assertEqual(collectSnapshot(parseMessages(data)), Snapshot())


class HostFixtureTests(SynchronousTestCase):
    """
    This machine at capture time: lo, ifb0, ifb1 (down), eth0 with
    192.0.2.2/24 and fd00::2/64, default via 192.0.2.1 and fd00::1.
    """

    def test_messages(self) -> None:
        """
        When the link dump is parsed, it holds one RTM_NEWLINK per interface
        and ends with NLMSG_DONE.
        """
        messages = parseMessages((FIXTURES / "host.link.bin").read_bytes())
        self.assertEqual([m.type for m in messages], [RTM_NEWLINK] * 4 + [NLMSG_DONE])

    def test_links(self) -> None:
        """
        When the host links are parsed, names, flags, operstates and the
        loopback marker are exact.
        """
        self.assertEqual(
            load("host").links,
            (
                LinkInfo(1, "lo", 0x10049, 0, True),
                LinkInfo(2, "ifb0", 0x82, IF_OPER_DOWN, False),
                LinkInfo(3, "ifb1", 0x82, IF_OPER_DOWN, False),
                LinkInfo(4, "eth0", 0x11043, IF_OPER_UP, False),
            ),
        )

    def test_addresses(self) -> None:
        """
        When the host addresses are parsed, index, family, scope, flags and
        address are exact (IFA_FLAGS wins over the 8-bit ifa_flags).
        """
        self.assertEqual(
            load("host").addrs,
            (
                AddressInfo(1, INET, 254, 0x80, "127.0.0.1"),
                AddressInfo(4, INET, 0, 0x80, "192.0.2.2"),
                AddressInfo(1, INET6, 254, 0x80, "::1"),
                AddressInfo(4, INET6, 0, 0x82, "fd00::2"),
                AddressInfo(4, INET6, 253, 0x80, "fe80::fc:ff:fe00:1"),
            ),
        )

    def test_defaultRoutes(self) -> None:
        """
        When the host routes are parsed, the main table has exactly the IPv4
        and IPv6 unicast default routes through eth0.
        """
        self.assertEqual(
            defaultRoutes(load("host")),
            [
                RouteInfo(INET, 0, RT_TABLE_MAIN, RTN_UNICAST, 4, 0, "192.0.2.1"),
                RouteInfo(INET6, 0, RT_TABLE_MAIN, RTN_UNICAST, 4, 0, "fd00::1"),
            ],
        )

    def test_up(self) -> None:
        """
        When the host dump is judged, the network is up via eth0.
        """
        snapshot = load("host")
        routes = usableDefaultRoutes(snapshot.links, snapshot.addrs, snapshot.routes)
        self.assertEqual(interfaceNames(snapshot.links, routes), ("eth0",))
        self.assertTrue(isUp(snapshot))


class NamespaceFixtureTests(SynchronousTestCase):
    """
    A namespace with lo and veth rtfx0 (ifindex 21, 10.213.0.2/24,
    fd13::2/64) whose peer is in another namespace.
    """

    def test_up(self) -> None:
        """
        When rtfx0 is up with both default routes, the network is up via it.
        """
        snapshot = load("ns-up")
        self.assertEqual(
            defaultRoutes(snapshot),
            [
                RouteInfo(INET, 0, RT_TABLE_MAIN, RTN_UNICAST, 21, 0, "10.213.0.1"),
                RouteInfo(INET6, 0, RT_TABLE_MAIN, RTN_UNICAST, 21, 0, "fd13::1"),
            ],
        )
        routes = usableDefaultRoutes(snapshot.links, snapshot.addrs, snapshot.routes)
        self.assertEqual(interfaceNames(snapshot.links, routes), ("rtfx0",))

    def test_noCarrier(self) -> None:
        """
        When the peer is down, rtfx0 has no carrier (no RUNNING/LOWER_UP,
        operstate DOWN): the default routes remain, flagged linkdown, and the
        network is down.
        """
        snapshot = load("ns-nocarrier")
        [link] = [link for link in snapshot.links if link.index == 21]
        self.assertEqual((link.flags, link.operstate), (0x1003, IF_OPER_DOWN))
        self.assertEqual(
            [r.flags for r in defaultRoutes(snapshot)],
            [RTNH_F_LINKDOWN, RTNH_F_LINKDOWN],
        )
        self.assertFalse(isUp(snapshot))

    def test_linkdownRouteAlone(self) -> None:
        """
        When a default route is flagged linkdown, it does not count even if
        the link looked running.
        """
        snapshot = load("ns-nocarrier")
        links = [dataclasses.replace(link, flags=RUNNING, operstate=IF_OPER_UP)
                 for link in snapshot.links]  # fmt: skip
        self.assertFalse(networkIsUp(links, snapshot.addrs, snapshot.routes))

    def test_adminDown(self) -> None:
        """
        When rtfx0 is set down, the kernel drops every route and the IPv6
        addresses: the network is down.
        """
        snapshot = load("ns-admindown")
        self.assertEqual(defaultRoutes(snapshot), [])
        self.assertEqual(
            [(a.index, a.family) for a in snapshot.addrs],
            [(1, INET), (21, INET), (1, INET6)],
        )
        self.assertFalse(isUp(snapshot))

    def test_upWithoutRoute(self) -> None:
        """
        When rtfx0 comes back up, its default route does not: the network is
        down although the link is running.
        """
        snapshot = load("ns-noroute")
        [link] = [link for link in snapshot.links if link.index == 21]
        self.assertTrue(linkIsRunning(link))
        self.assertEqual(defaultRoutes(snapshot), [])
        self.assertFalse(isUp(snapshot))

    def test_unreachableDefault(self) -> None:
        """
        When the only default route is 'unreachable', the network is down.
        """
        snapshot = load("ns-unreachable")
        self.assertEqual(
            defaultRoutes(snapshot),
            [RouteInfo(INET, 0, RT_TABLE_MAIN, RTN_UNREACHABLE, 0, 0, None)],
        )
        self.assertFalse(isUp(snapshot))

    def test_ipv6Only(self) -> None:
        """
        When only an IPv6 default route exists, the network is up.
        """
        snapshot = load("ns-ipv6only")
        self.assertEqual(
            defaultRoutes(snapshot),
            [RouteInfo(INET6, 0, RT_TABLE_MAIN, RTN_UNICAST, 21, 0, "fd13::1")],
        )
        self.assertTrue(isUp(snapshot))

    def test_ipv6OnlyWithoutGlobalIPv6(self) -> None:
        """
        When the IPv6 default route's interface has a global IPv4 address but
        no global IPv6 one, that route does not count.
        """
        snapshot = load("ns-ipv6only")
        addrs = [a for a in snapshot.addrs if a.address != "fd13::2"]
        self.assertFalse(networkIsUp(snapshot.links, addrs, snapshot.routes))

    def test_tentativeAddressDoesNotCount(self) -> None:
        """
        When the only global IPv6 address is tentative (DAD running), the
        IPv6 default route does not count.
        """
        snapshot = load("ns-ipv6only")
        addrs = [
            dataclasses.replace(a, flags=a.flags | 0x40) if a.family == INET6 else a
            for a in snapshot.addrs
        ]
        self.assertFalse(networkIsUp(snapshot.links, addrs, snapshot.routes))

    def test_multipath(self) -> None:
        """
        When the IPv4 default route is multipath over rtfx0 (21) and rtfx2
        (23), it yields one route per next hop, with its own gateway.
        """
        snapshot = load("ns-multipath")
        self.assertEqual(
            defaultRoutes(snapshot),
            [
                RouteInfo(INET, 0, RT_TABLE_MAIN, RTN_UNICAST, 21, 0, "10.213.0.1"),
                RouteInfo(INET, 0, RT_TABLE_MAIN, RTN_UNICAST, 23, 0, "10.213.1.1"),
            ],
        )
        routes = usableDefaultRoutes(snapshot.links, snapshot.addrs, snapshot.routes)
        self.assertEqual(interfaceNames(snapshot.links, routes), ("rtfx0", "rtfx2"))

    def test_multipathOneHopDown(self) -> None:
        """
        When one next hop's interface is not running, the other keeps the
        network up.
        """
        snapshot = load("ns-multipath")
        links = [dataclasses.replace(link, flags=0x1003) if link.index == 21 else link
                 for link in snapshot.links]  # fmt: skip
        routes = usableDefaultRoutes(links, snapshot.addrs, snapshot.routes)
        self.assertEqual([r.oif for r in routes], [23])


class DecisionTests(SynchronousTestCase):
    """
    networkIsUp on hand-made inputs, one condition at a time.
    """

    link = LinkInfo(5, "wlan0", RUNNING, IF_OPER_UP, False)
    addr = AddressInfo(5, INET, 0, 0, "10.213.9.2")
    route = RouteInfo(INET, 0, RT_TABLE_MAIN, RTN_UNICAST, 5)

    def check(
        self,
        expected: bool,
        link: dict[str, Any] | None = None,
        addr: dict[str, Any] | None = None,
        route: dict[str, Any] | None = None,
    ) -> None:
        self.assertEqual(
            networkIsUp(
                [dataclasses.replace(self.link, **(link or {}))],
                [dataclasses.replace(self.addr, **(addr or {}))],
                [dataclasses.replace(self.route, **(route or {}))],
            ),
            expected,
        )

    def test_baseline(self) -> None:
        """
        When everything holds, the network is up.
        """
        self.check(True)

    def test_operstateUnknown(self) -> None:
        """
        When operstate is UNKNOWN (tun, wireguard), the network is up.
        """
        self.check(True, link={"operstate": 0})

    def test_dormant(self) -> None:
        """
        When operstate is DORMANT (Wi-Fi not yet authenticated), it is down.
        """
        self.check(False, link={"operstate": 5})

    def test_loopback(self) -> None:
        """
        When the route's interface is loopback, it is down.
        """
        self.check(False, link={"isLoopback": True})

    def test_notUp(self) -> None:
        """
        When the interface lacks IFF_UP, it is down.
        """
        self.check(False, link={"flags": RUNNING & ~0x1})

    def test_notRunning(self) -> None:
        """
        When the interface lacks IFF_RUNNING, it is down.
        """
        self.check(False, link={"flags": RUNNING & ~0x40})

    def test_noLowerUp(self) -> None:
        """
        When the interface lacks IFF_LOWER_UP, it is down.
        """
        self.check(False, link={"flags": RUNNING & ~0x10000})

    def test_linkScopeAddress(self) -> None:
        """
        When the only address is link-scope, it is down.
        """
        self.check(False, addr={"scope": 253})

    def test_addressElsewhere(self) -> None:
        """
        When the global address is on another interface, it is down.
        """
        self.check(False, addr={"index": 6})

    def test_notDefault(self) -> None:
        """
        When the route is not a default route, it is down.
        """
        self.check(False, route={"dstLen": 8})

    def test_otherTable(self) -> None:
        """
        When the default route is in another table, it is down.
        """
        self.check(False, route={"table": 100})

    def test_blackhole(self) -> None:
        """
        When the default route is a blackhole, it is down.
        """
        self.check(False, route={"type": 6})

    def test_deadNexthop(self) -> None:
        """
        When the default route's next hop is dead, it is down.
        """
        self.check(False, route={"flags": 1})

    def test_unknownInterface(self) -> None:
        """
        When the route's interface is not among the links, it is down.
        """
        self.check(False, route={"oif": 9})

    def test_nothing(self) -> None:
        """
        When there is nothing at all, it is down.
        """
        self.assertFalse(networkIsUp([], [], []))
