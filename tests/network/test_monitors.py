"""
Tests for the monitors: manual, polling (with fake probes and a fake /proc),
netlink (with a fake channel, and the real one), and the default choice.
"""

from __future__ import annotations

import errno
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import LogLevel, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from reconnect_twisted.network import (
    INetworkMonitor,
    ManualNetworkMonitor,
    NetlinkNetworkMonitor,
    PollingNetworkMonitor,
    _monitor,
    _polling,
    defaultNetworkMonitor,
)
from reconnect_twisted.network._channel import RtnetlinkChannel
from reconnect_twisted.network._netlink import (
    AddressInfo,
    LinkInfo,
    RouteInfo,
    Snapshot,
)
from reconnect_twisted.network._polling import (
    LinuxProcProbe,
    parseIfInet6,
    parseIPv6Route,
    parseProcNetRoute,
    udpProbe,
)

INET = socket.AF_INET
UP = Snapshot(
    links=(LinkInfo(2, "eth0", 0x11043, 6, False),),
    addrs=(AddressInfo(2, INET, 0, 0, "10.213.0.2"),),
    routes=(RouteInfo(INET, 0, 254, 1, 2),),
)
DOWN = Snapshot(links=UP.links, addrs=UP.addrs)

# Captured from this machine (see fixtures/host.txt).
PROC_NET_ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""
IPV6_ROUTE = """\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 \
00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
"""
IF_INET6 = """\
fd000000000000000000000000000002 04 40 00 82     eth0
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
"""


def recorder() -> tuple[list[bool], Callable[[bool], None]]:
    seen: list[bool] = []
    return seen, seen.append


class InterfaceTests(SynchronousTestCase):
    def test_provided(self) -> None:
        """
        When each monitor is checked against INetworkMonitor, it provides it.
        """
        clock = MemoryReactorClock()
        for monitor in (
            ManualNetworkMonitor(),
            PollingNetworkMonitor(reactor=clock, probe=lambda: ()),
            NetlinkNetworkMonitor(clock),
        ):
            self.assertTrue(verifyObject(INetworkMonitor, monitor))
        self.assertEqual(clock.getDelayedCalls(), [])


class ManualTests(SynchronousTestCase):
    def test_initial(self) -> None:
        """
        When built without arguments, isUp is True; with isUp=None, unknown.
        """
        self.assertIs(ManualNetworkMonitor().isUp, True)
        self.assertIsNone(ManualNetworkMonitor(isUp=None).isUp)

    def test_onlyChanges(self) -> None:
        """
        When setUp is called with False, True, True, observers see exactly
        False then True.
        """
        monitor = ManualNetworkMonitor()
        seen, observer = recorder()
        monitor.addObserver(observer)
        for value in (True, False, False, True, True):
            monitor.setUp(value)
        self.assertEqual(seen, [False, True])

    def test_unsubscribe(self) -> None:
        """
        When the callable returned by addObserver is called (twice), the
        observer is no longer called and nothing fails.
        """
        monitor = ManualNetworkMonitor()
        seen, observer = recorder()
        remove = monitor.addObserver(observer)
        remove()
        remove()
        monitor.setUp(False)
        self.assertEqual(seen, [])

    def test_sameObserverTwice(self) -> None:
        """
        When one callable is added twice, it is called twice; removing one
        registration leaves the other.
        """
        monitor = ManualNetworkMonitor()
        seen, observer = recorder()
        remove = monitor.addObserver(observer)
        monitor.addObserver(observer)
        monitor.setUp(False)
        remove()
        monitor.setUp(True)
        self.assertEqual(seen, [False, False, True])

    def test_raisingObserver(self) -> None:
        """
        When an observer raises, the error is logged with a traceback and
        later observers are still called.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        monitor = ManualNetworkMonitor()
        monitor.addObserver(lambda up: 1 // 0)  # type: ignore[func-returns-value]
        seen, observer = recorder()
        monitor.addObserver(observer)
        monitor.setUp(False)
        self.assertEqual(seen, [False])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(len(events), 1)
        self.assertIs(events[0]["isUp"], False)

    def test_startStop(self) -> None:
        """
        When started and stopped (twice each), the state is kept.
        """
        monitor = ManualNetworkMonitor(isUp=False)
        monitor.start()
        monitor.start()
        monitor.stop()
        monitor.stop()
        self.assertIs(monitor.isUp, False)


class ScriptedProbe:
    def __init__(self, *results: tuple[str, ...] | Exception) -> None:
        self.results = list(results)
        self.calls = 0

    def __call__(self) -> tuple[str, ...]:
        self.calls += 1
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        if isinstance(result, Exception):
            raise result
        return result


class PollingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()

    def tearDown(self) -> None:
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def monitor(self, probe: ScriptedProbe) -> PollingNetworkMonitor:
        return PollingNetworkMonitor(2.0, self.clock, probe=probe)

    def test_unknownUntilStarted(self) -> None:
        """
        When not started, isUp is None and nothing is probed or scheduled.
        """
        probe = ScriptedProbe(("eth0",))
        monitor = self.monitor(probe)
        self.assertIsNone(monitor.isUp)
        self.assertEqual((probe.calls, self.clock.getDelayedCalls()), (0, []))

    def test_initialProbe(self) -> None:
        """
        When started, it probes at once and reports the result at once;
        the next probe is 2 s later.
        """
        probe = ScriptedProbe(("eth0",))
        monitor = self.monitor(probe)
        seen, observer = recorder()
        monitor.addObserver(observer)
        monitor.start()
        self.assertEqual((monitor.isUp, monitor.via, seen), (True, ("eth0",), [True]))
        self.assertEqual([c.getTime() for c in self.clock.getDelayedCalls()], [2.0])
        self.clock.advance(2.0)
        self.assertEqual(probe.calls, 2)
        monitor.stop()

    def test_transitions(self) -> None:
        """
        When the probe goes up, down, up, observers see down at the probe
        that saw it and up one settle time after the probe: 0.3 s, since an
        up that lasted 2 s was a flap and doubled the base 0.15 s.
        """
        probe = ScriptedProbe(("eth0",), (), ("wlan0",))
        monitor = self.monitor(probe)
        times: list[tuple[float, bool]] = []
        monitor.addObserver(lambda up: times.append((self.clock.seconds(), up)))
        monitor.start()
        self.clock.advance(2.0)
        self.clock.advance(2.0)
        self.assertEqual(times, [(0.0, True), (2.0, False)])
        self.clock.advance(0.29)
        self.assertEqual(times, [(0.0, True), (2.0, False)])
        self.clock.advance(0.01)
        self.assertEqual(times, [(0.0, True), (2.0, False), (4.0 + 0.29 + 0.01, True)])
        self.assertEqual(monitor.via, ("wlan0",))
        monitor.stop()

    def test_stopCancels(self) -> None:
        """
        When stopped while an up is settling, every delayed call is cancelled,
        isUp is None and observers are not called; stop is idempotent.
        """
        probe = ScriptedProbe((), ("eth0",))
        monitor = self.monitor(probe)
        seen, observer = recorder()
        monitor.addObserver(observer)
        monitor.start()
        self.clock.advance(2.0)
        self.assertEqual(len(self.clock.getDelayedCalls()), 2)
        monitor.stop()
        monitor.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual((monitor.isUp, monitor.via, seen), (None, (), [False]))

    def test_startTwice(self) -> None:
        """
        When started twice, it probes once and schedules one call.
        """
        probe = ScriptedProbe(("eth0",))
        monitor = self.monitor(probe)
        monitor.start()
        monitor.start()
        self.assertEqual((probe.calls, len(self.clock.getDelayedCalls())), (1, 1))
        monitor.stop()

    def test_restart(self) -> None:
        """
        When stopped and started again, the first probe is reported at once.
        """
        probe = ScriptedProbe(("eth0",))
        monitor = self.monitor(probe)
        monitor.start()
        monitor.stop()
        monitor.start()
        self.assertIs(monitor.isUp, True)
        monitor.stop()

    def test_probeFailsOnce(self) -> None:
        """
        When the probe raises on every poll, the failure is logged once,
        isUp is None, observers hear None once, and polling goes on.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        probe = ScriptedProbe(("eth0",), OSError(errno.EIO, "boom"))
        monitor = self.monitor(probe)
        seen, observer = recorder()
        monitor.addObserver(observer)
        monitor.start()
        for _ in range(5):
            self.clock.advance(2.0)
        self.assertEqual((monitor.isUp, seen, probe.calls), (None, [True, None], 6))
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["why"], "network probe failed")
        monitor.stop()

    def test_probeRecovers(self) -> None:
        """
        When the probe works again after failing, the state is reported at
        once (the debouncer was reset) and recovery is logged once.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        probe = ScriptedProbe(OSError(), ("eth0",))
        monitor = self.monitor(probe)
        monitor.start()
        self.assertIsNone(monitor.isUp)
        self.clock.advance(2.0)
        self.assertIs(monitor.isUp, True)
        self.flushLoggedErrors(OSError)
        self.assertEqual(
            [e["log_level"] for e in events], [LogLevel.critical, LogLevel.info]
        )
        monitor.stop()

    def test_badInterval(self) -> None:
        """
        When the interval is not positive, construction fails.
        """
        self.assertRaises(ValueError, PollingNetworkMonitor, 0, self.clock)


class ProcParsingTests(SynchronousTestCase):
    def test_procNetRoute(self) -> None:
        """
        When /proc/net/route has a default route via eth0, it is found.
        """
        self.assertEqual(parseProcNetRoute(PROC_NET_ROUTE), ["eth0"])

    def test_procNetRouteReject(self) -> None:
        """
        When the IPv4 default route rejects (unreachable), it is skipped.
        """
        text = PROC_NET_ROUTE.splitlines()[0] + (
            "\n*\t00000000\t00000000\t0201\t0\t0\t0\t00000000\t0\t0\t0\n"
        )
        self.assertEqual(parseProcNetRoute(text), [])

    def test_ipv6Route(self) -> None:
        """
        When /proc/net/ipv6_route has a default via eth0 and the kernel's
        reject route via lo, only eth0 is found.
        """
        self.assertEqual(parseIPv6Route(IPV6_ROUTE), ["eth0"])

    def test_ifInet6(self) -> None:
        """
        When /proc/net/if_inet6 lists global, link and host addresses, only
        the interface with the global one is found; a tentative one is not.
        """
        self.assertEqual(parseIfInet6(IF_INET6), {"eth0"})
        tentative = IF_INET6.replace("04 40 00 82", "04 40 00 c0")
        self.assertEqual(parseIfInet6(tentative), set())


class LinuxProcProbeTests(SynchronousTestCase):
    def tree(
        self, operstate: str = "up", carrier: str | None = "1", flags: str = "0x1003"
    ) -> str:
        root = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, root)
        (root / "proc" / "net").mkdir(parents=True)
        (root / "proc" / "net" / "route").write_text(PROC_NET_ROUTE)
        (root / "proc" / "net" / "ipv6_route").write_text(IPV6_ROUTE)
        (root / "proc" / "net" / "if_inet6").write_text(IF_INET6)
        device = root / "sys" / "class" / "net" / "eth0"
        device.mkdir(parents=True)
        (device / "flags").write_text(flags + "\n")
        (device / "operstate").write_text(operstate + "\n")
        if carrier is not None:
            (device / "carrier").write_text(carrier + "\n")
        return str(root)

    def test_up(self) -> None:
        """
        When eth0 has both default routes, is up with carrier and has global
        addresses, the probe returns ('eth0',).
        """
        probe = LinuxProcProbe(self.tree(), lambda device: "192.0.2.2")
        self.assertEqual(probe(), ("eth0",))

    def test_noCarrier(self) -> None:
        """
        When eth0 has no carrier file (device down), the probe returns ().
        """
        probe = LinuxProcProbe(self.tree(carrier=None), lambda device: "192.0.2.2")
        self.assertEqual(probe(), ())

    def test_dormant(self) -> None:
        """
        When eth0's operstate is dormant, the probe returns ().
        """
        probe = LinuxProcProbe(self.tree("dormant"), lambda device: "192.0.2.2")
        self.assertEqual(probe(), ())

    def test_ipv6Only(self) -> None:
        """
        When eth0 has no IPv4 address, the IPv6 default route still counts.
        """
        probe = LinuxProcProbe(self.tree(), lambda device: None)
        self.assertEqual(probe(), ("eth0",))

    def test_noGlobalAnywhere(self) -> None:
        """
        When eth0's IPv4 address is link-local and it has no global IPv6,
        the probe returns ().
        """
        root = self.tree()
        Path(root, "proc", "net", "if_inet6").write_text("")
        probe = LinuxProcProbe(root, lambda device: "169.254.3.4")
        self.assertEqual(probe(), ())

    def test_noProc(self) -> None:
        """
        When there is no /proc/net/route, the probe raises OSError.
        """
        probe = LinuxProcProbe("/nonexistent-root", lambda device: None)
        self.assertRaises(OSError, probe)

    def test_realSystem(self) -> None:
        """
        When run on this Linux machine, the probe returns a tuple of names.
        """
        if not Path("/proc/net/route").exists():
            raise self.skipTest("needs Linux /proc")
        result = LinuxProcProbe()()
        self.assertIsInstance(result, tuple)


class UDPProbeTests(SynchronousTestCase):
    def test_loopbackIsNotUp(self) -> None:
        """
        When the only route found leads to a loopback source address, the
        UDP probe returns ().
        """
        targets = ((socket.AF_INET, ("127.0.0.1", 9)),)
        with mock.patch.object(_polling, "PROBE_TARGETS", targets):
            self.assertEqual(udpProbe(), ())

    def test_unreachableIsNotUp(self) -> None:
        """
        When connect() fails for every family, the UDP probe returns ().
        """

        class Unroutable(socket.socket):
            def connect(self, address: object) -> None:
                raise OSError(errno.ENETUNREACH, "unreachable")

        with mock.patch.object(_polling.socket, "socket", Unroutable):
            self.assertEqual(udpProbe(), ())


class FakeChannel:
    def __init__(self, *snapshots: Snapshot | Exception) -> None:
        self.snapshots = list(snapshots)
        self.dumps = 0
        self.drains = 0
        self.closed = False
        self.overflow = False
        self.drainError: OSError | None = None

    def fileno(self) -> int:
        return -1 if self.closed else 42

    def drainEvents(self) -> tuple[int, bool]:
        self.drains += 1
        if self.drainError is not None:
            raise self.drainError
        overflowed, self.overflow = self.overflow, False
        return 1, overflowed

    def snapshot(self) -> Snapshot:
        self.dumps += 1
        result = self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]
        if isinstance(result, Exception):
            raise result
        return result

    def close(self) -> None:
        self.closed = True


class NetlinkMonitorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()

    def tearDown(self) -> None:
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.assertEqual(self.reactor.getReaders(), [])

    def monitor(self, channel: FakeChannel) -> NetlinkNetworkMonitor:
        return NetlinkNetworkMonitor(self.reactor, channelFactory=lambda: channel)

    def reader(self) -> _monitor._EventReader:
        [reader] = self.reactor.getReaders()
        assert isinstance(reader, _monitor._EventReader)
        return reader

    def test_start(self) -> None:
        """
        When started, it registers a reader for the channel's descriptor and
        dumps once, reporting the initial state at once.
        """
        channel = FakeChannel(UP)
        monitor = self.monitor(channel)
        seen, observer = recorder()
        monitor.addObserver(observer)
        monitor.start()
        self.assertEqual(self.reader().fileno(), 42)
        self.assertEqual(self.reader().logPrefix(), "NetlinkNetworkMonitor")
        self.assertEqual((channel.dumps, monitor.isUp, seen), (1, True, [True]))
        self.assertEqual(monitor.via, ("eth0",))
        monitor.stop()

    def test_eventTriggersDump(self) -> None:
        """
        When the socket becomes readable, events are drained and a full dump
        decides: down is reported at once.
        """
        channel = FakeChannel(UP, DOWN)
        monitor = self.monitor(channel)
        monitor.start()
        self.reactor.advance(1)
        self.reader().doRead()
        self.assertEqual((channel.drains, channel.dumps), (1, 2))
        self.assertIs(monitor.isUp, False)
        monitor.stop()

    def test_upSettles(self) -> None:
        """
        When a dump turns up after down, up is reported 0.15 s later.
        """
        channel = FakeChannel(DOWN, UP)
        monitor = self.monitor(channel)
        monitor.start()
        self.reactor.advance(1)
        self.reader().doRead()
        self.assertIs(monitor.isUp, False)
        self.reactor.advance(0.15)
        self.assertIs(monitor.isUp, True)
        monitor.stop()

    def test_storm(self) -> None:
        """
        When events arrive faster than one per 50 ms, dumps are limited to
        one per 50 ms and the last state still wins.
        """
        channel = FakeChannel(UP, UP, DOWN)
        monitor = self.monitor(channel)
        monitor.start()
        for _ in range(10):
            self.reader().doRead()
        self.assertEqual((channel.drains, channel.dumps), (10, 1))
        self.assertEqual([c.getTime() for c in self.reactor.getDelayedCalls()], [0.05])
        self.reactor.advance(0.05)
        self.assertEqual(channel.dumps, 2)
        self.reactor.advance(0.01)
        self.reader().doRead()
        self.reactor.advance(0.04)
        self.assertEqual((channel.dumps, monitor.isUp), (3, False))
        monitor.stop()

    def test_overflowResyncs(self) -> None:
        """
        When the kernel reports lost events (ENOBUFS), the monitor counts it
        and resyncs with a full dump.
        """
        channel = FakeChannel(UP, DOWN)
        monitor = self.monitor(channel)
        monitor.start()
        self.reactor.advance(1)
        channel.overflow = True
        self.reader().doRead()
        self.assertEqual(
            (monitor.overflows, channel.dumps, monitor.isUp), (1, 2, False)
        )
        monitor.stop()

    def test_stop(self) -> None:
        """
        When stopped with a dump scheduled and an up settling, the reader is
        removed, the channel closed, every delayed call cancelled, isUp is
        None and observers are not called; stop is idempotent.
        """
        channel = FakeChannel(DOWN, UP)
        monitor = self.monitor(channel)
        seen, observer = recorder()
        monitor.addObserver(observer)
        monitor.start()
        self.reactor.advance(1)
        self.reader().doRead()
        self.reader().doRead()
        self.assertEqual(len(self.reactor.getDelayedCalls()), 2)
        monitor.stop()
        monitor.stop()
        self.assertEqual((channel.closed, monitor.isUp, seen), (True, None, [False]))

    def test_startTwice(self) -> None:
        """
        When started twice, one channel is opened and one reader registered.
        """
        opened: list[FakeChannel] = []

        def factory() -> FakeChannel:
            opened.append(FakeChannel(UP))
            return opened[-1]

        monitor = NetlinkNetworkMonitor(self.reactor, channelFactory=factory)
        monitor.start()
        monitor.start()
        self.assertEqual((len(opened), len(self.reactor.getReaders())), (1, 1))
        monitor.stop()

    def test_cannotOpen(self) -> None:
        """
        When the socket cannot be opened (no permission), the failure is
        logged once, isUp stays None, nothing is registered, and stop works.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

        def factory() -> FakeChannel:
            raise PermissionError(errno.EPERM, "no")

        monitor = NetlinkNetworkMonitor(self.reactor, channelFactory=factory)
        seen, observer = recorder()
        monitor.addObserver(observer)
        monitor.start()
        monitor.stop()
        monitor.start()
        self.assertEqual((monitor.isUp, seen), (None, []))
        self.assertEqual(len(self.flushLoggedErrors(PermissionError)), 1)
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["why"], "cannot open an rtnetlink socket")
        monitor.stop()

    def test_dumpFails(self) -> None:
        """
        When a dump fails after a good start, the monitor logs once, releases
        the reader and the channel, and reports None (observers hear it, so
        that a factory waiting OFFLINE falls back to its schedule).
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        channel = FakeChannel(UP, OSError(errno.EIO, "dump"))
        monitor = self.monitor(channel)
        seen, observer = recorder()
        monitor.addObserver(observer)
        monitor.start()
        self.reactor.advance(1)
        self.reader().doRead()
        self.assertEqual(
            (monitor.isUp, seen, channel.closed), (None, [True, None], True)
        )
        self.assertEqual(self.reactor.getReaders(), [])
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.assertEqual(len(events), 1)
        monitor.stop()

    def test_readFails(self) -> None:
        """
        When reading events fails, the monitor logs once and reports None.
        """
        channel = FakeChannel(UP)
        monitor = self.monitor(channel)
        monitor.start()
        channel.drainError = OSError(errno.EBADF, "bad")
        self.reader().doRead()
        self.assertEqual((monitor.isUp, channel.closed), (None, True))
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        monitor.stop()

    def test_reactorShutdown(self) -> None:
        """
        When the reactor drops the reader at shutdown (connectionLost), the
        channel is closed and isUp is None.
        """
        channel = FakeChannel(UP)
        monitor = self.monitor(channel)
        monitor.start()
        reader = self.reader()
        self.reactor.removeReader(reader)
        reader.connectionLost(Failure(Exception("shutdown")))
        self.assertEqual((monitor.isUp, channel.closed), (None, True))
        monitor.stop()


class RealChannelTests(SynchronousTestCase):
    def setUp(self) -> None:
        if not sys.platform.startswith("linux"):
            raise self.skipTest("rtnetlink needs Linux")

    def test_snapshot(self) -> None:
        """
        When this machine is dumped for real, the loopback link is found and
        closing the channel releases its descriptor.
        """
        channel = RtnetlinkChannel()
        try:
            self.assertGreaterEqual(channel.fileno(), 0)
            self.assertEqual(channel.drainEvents(), (0, False))
            snapshot = channel.snapshot()
        finally:
            channel.close()
            channel.close()
        self.assertEqual(channel.fileno(), -1)
        self.assertIn(
            ("lo", True), [(link.name, link.isLoopback) for link in snapshot.links]
        )

    def test_monitorMatchesDecision(self) -> None:
        """
        When a real netlink monitor starts, its state is the decision on a
        dump taken just before, and stop leaves no reader or delayed call.
        """
        from reconnect_twisted.network._netlink import networkIsUp

        channel = RtnetlinkChannel()
        snapshot = channel.snapshot()
        channel.close()
        reactor = MemoryReactorClock()
        monitor = NetlinkNetworkMonitor(reactor)
        monitor.start()
        self.assertIs(
            monitor.isUp, networkIsUp(snapshot.links, snapshot.addrs, snapshot.routes)
        )
        monitor.stop()
        self.assertEqual((reactor.getReaders(), reactor.getDelayedCalls()), ([], []))


class DefaultMonitorTests(SynchronousTestCase):
    def test_netlinkWhenAvailable(self) -> None:
        """
        When an rtnetlink socket opens, the default is a netlink monitor.
        """
        with mock.patch.object(_monitor, "RtnetlinkChannel", FakeChannel):
            self.assertIsInstance(defaultNetworkMonitor(), NetlinkNetworkMonitor)

    def test_pollingOtherwise(self) -> None:
        """
        When no rtnetlink socket can be opened, the default is polling.
        """

        def refuse() -> None:
            raise OSError(errno.EAFNOSUPPORT, "no netlink")

        with mock.patch.object(_monitor, "RtnetlinkChannel", refuse):
            self.assertIsInstance(defaultNetworkMonitor(), PollingNetworkMonitor)
