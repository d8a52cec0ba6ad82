"""
The network of the demo's "network change" scenario: a real one that the
demo may take down and bring back, or a manual stand-in.

When the process may create a network namespace (root on Linux, with
``ip``), :class:`NamespaceNetwork` makes a private one holding a veth
interface with an address and a default route, and a
:class:`~reconnect_twisted.NetlinkNetworkMonitor` whose rtnetlink sockets
are opened inside it (``setns`` on the calling thread for the time it takes
to open them: a socket stays in the namespace it was created in). Taking
the network down is ``ip link set ... down`` there, bringing it back is
``ip link set ... up`` and the default route again: the monitor sees what
the kernel says, as on a laptop. The demo's own traffic stays on loopback in
the process's namespace; nothing is sent in the private one.

Otherwise :class:`ManualNetwork` drives a
:class:`~reconnect_twisted.ManualNetworkMonitor` by hand. Either way the
factory sees the same thing: down, then up.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred, succeed
from twisted.internet.task import deferLater
from twisted.internet.utils import getProcessOutputAndValue

from ..network import ManualNetworkMonitor, NetlinkNetworkMonitor
from ..network._channel import RtnetlinkChannel

__all__ = ["DemoNetwork", "ManualNetwork", "NamespaceNetwork", "openNetwork"]

#: ``CLONE_NEWNET`` from ``<sched.h>``.
CLONE_NEWNET = 0x40000000
#: The interface (one end of a veth pair whose other end, :data:`PEER`, is
#: in the same namespace) and its addresses inside the private namespace
#: (never a target: nothing is sent there).
INTERFACE = "rtdemo0"
PEER = "rtdemo1"
ADDRESS = "10.213.9.2/24"
GATEWAY = "10.213.9.1"


class DemoNetwork:
    """
    A network that the demo can take down and bring back.

    :ivar monitor: the ``INetworkMonitor`` to give the client.
    :ivar description: what it is, for the timeline.
    """

    monitor: Any
    description: str

    def down(self) -> Deferred[None]:
        """Take the network down."""
        raise NotImplementedError

    def up(self) -> Deferred[None]:
        """Bring the network back."""
        raise NotImplementedError

    def close(self) -> Deferred[None]:
        """Stop the monitor and remove whatever was created."""
        raise NotImplementedError


class ManualNetwork(DemoNetwork):
    """
    The stand-in: a :class:`~reconnect_twisted.ManualNetworkMonitor` set by
    hand.

    :param why: why no real network could be used (said in the description).
    """

    def __init__(self, why: str) -> None:
        self.monitor = ManualNetworkMonitor(isUp=True)
        self.description = f"manual monitor ({why})"

    def down(self) -> Deferred[None]:
        """The monitor says: down."""
        self.monitor.setUp(False)
        return succeed(None)

    def up(self) -> Deferred[None]:
        """The monitor says: up."""
        self.monitor.setUp(True)
        return succeed(None)

    def close(self) -> Deferred[None]:
        """Nothing to remove."""
        return succeed(None)


@contextmanager
def insideNamespace(path: str) -> Iterator[None]:
    """
    Run the body with the calling thread in the network namespace at
    ``path`` (``/run/netns/NAME``), and back in its own afterwards.

    :raises OSError: if ``setns`` fails.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(path, os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                errno = ctypes.get_errno()
                raise OSError(errno, f"setns({path}): {os.strerror(errno)}")
        finally:
            os.close(target)
        try:
            yield
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:  # pragma: no cover
                errno = ctypes.get_errno()
                raise OSError(errno, f"setns back: {os.strerror(errno)}")
    finally:
        os.close(own)


class NamespaceNetwork(DemoNetwork):
    """
    A private network namespace ``name`` holding :data:`INTERFACE` (a veth
    interface, up, :data:`ADDRESS`, default route via :data:`GATEWAY`), and
    a netlink monitor watching it. Create it with :meth:`create`.
    """

    def __init__(self, reactor: Any, name: str) -> None:
        self.reactor = reactor
        self.name = name
        self.path = f"/run/netns/{name}"
        self.monitor = NetlinkNetworkMonitor(reactor, channelFactory=self._channel)
        self.description = f"netlink monitor in private network namespace {name}"
        self.created = False
        self._trigger: Any = None

    def _channel(self) -> RtnetlinkChannel:
        with insideNamespace(self.path):
            return RtnetlinkChannel()

    def ip(self, *args: str) -> Deferred[None]:
        """Run ``ip -n NAME ARGS``; fails with the error ``ip`` printed."""
        return self._run("-n", self.name, *args)

    def _run(self, *args: str) -> Deferred[None]:
        async def run() -> None:
            _, err, code = await getProcessOutputAndValue(
                "ip", args, env=dict(os.environ), reactor=self.reactor
            )
            if code != 0:
                text = err.decode("utf-8", "replace").strip() or f"exit {code}"
                raise OSError(f"ip {' '.join(args)}: {text}")

        return ensureDeferred(run())

    async def create(self) -> None:
        """Create the namespace and its interface (up, with a default route)."""
        await self._run("netns", "add", self.name)
        self.created = True
        # Stopped mid-scenario (the watchdog, Ctrl-C): remove it anyway.
        self._trigger = self.reactor.addSystemEventTrigger(
            "before", "shutdown", self._removeNow
        )
        # A veth pair with both ends inside: its carrier is real (the dummy
        # driver is not in every kernel).
        await self.ip("link", "add", INTERFACE, "type", "veth", "peer", "name", PEER)
        await self.ip("link", "set", PEER, "up")
        await self.ip("addr", "add", ADDRESS, "dev", INTERFACE)
        await self._bringUp()

    async def _bringUp(self) -> None:
        await self.ip("link", "set", INTERFACE, "up")
        await self.ip("route", "replace", "default", "via", GATEWAY)

    def down(self) -> Deferred[None]:
        """``ip link set rtdemo0 down`` (the kernel drops its routes)."""
        return self.ip("link", "set", INTERFACE, "down")

    def up(self) -> Deferred[None]:
        """The interface up again, and its default route."""
        return ensureDeferred(self._bringUp())

    def close(self) -> Deferred[None]:
        """Stop the monitor, delete the namespace."""
        self.monitor.stop()

        async def remove() -> None:
            if self._trigger is not None:
                trigger, self._trigger = self._trigger, None
                self.reactor.removeSystemEventTrigger(trigger)
            if self.created:
                self.created = False
                await self._run("netns", "del", self.name)

        return ensureDeferred(remove())

    def _removeNow(self) -> None:
        """At shutdown: delete the namespace, synchronously."""
        self._trigger = None
        self.monitor.stop()
        if self.created:
            self.created = False
            subprocess.run(
                ["ip", "netns", "del", self.name], capture_output=True, timeout=10
            )


def whyNoNamespace() -> str | None:
    """Why this process cannot make a private network namespace, or ``None``."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    if os.geteuid() != 0:
        return "not root: no private network namespace"
    if shutil.which("ip") is None:
        return "no `ip` command"
    return None


async def openNetwork(
    reactor: Any,
    log: Callable[[str], object],
    name: str | None = None,
    settleLimit: float = 2.0,
    manual: bool = False,
) -> DemoNetwork:
    """
    The best network for the demo: a :class:`NamespaceNetwork` when one can
    be created and its monitor (started here) sees the network up within
    ``settleLimit`` seconds, else a :class:`ManualNetwork` saying why
    (``log`` is told what failed); a :class:`ManualNetwork` anyway if
    ``manual``.
    """
    why = "--network-monitor manual" if manual else whyNoNamespace()
    if why is not None:
        return ManualNetwork(why)
    network = NamespaceNetwork(reactor, name or f"rtdemo{os.getpid()}")
    try:
        await network.create()
    except OSError as e:
        log(f"no private network namespace: {e}")
        await network.close()
        return ManualNetwork("could not create a network namespace")
    network.monitor.start()
    deadline = reactor.seconds() + settleLimit
    while network.monitor.isUp is not True and reactor.seconds() < deadline:
        await deferLater(reactor, 0.02)
    if network.monitor.isUp is not True:
        log(f"the netlink monitor says {network.monitor.isUp} in the namespace")
        await network.close()
        return ManualNetwork("the netlink monitor did not see the namespace's network")
    return network
