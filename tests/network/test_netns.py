"""
Real-network tests: the monitors run in a private network namespace with a
veth pair whose peer is in a second namespace, while the test toggles links
and routes with ``ip``.

The monitor runs in a child process started with ``ip netns exec``
(``netwatch --json``, on the real reactor), which prints transitions as JSON
lines; the test process never changes namespace. No traffic is sent: the
monitors only read kernel state.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

ROOT = Path(__file__).resolve().parents[2]
NETWATCH = (
    "import sys; from reconnect_twisted.network._cli import netwatch; "
    "sys.exit(netwatch(sys.argv[1:]))"
)
SKIP_REASON = "needs root and `ip netns` to create a network namespace"


def canCreateNamespaces() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("ip") is None:
        return False
    if os.geteuid() != 0:
        return False
    probe = f"rtnprobe{os.getpid()}"
    try:
        created = subprocess.run(
            ["ip", "netns", "add", probe], capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10)
    return created.returncode == 0


NAMESPACES_OK = canCreateNamespaces()


def childEnvironment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), environment.get("PYTHONPATH")])
    )
    return environment


class Child:
    """
    A child process printing JSON lines, read with bounded waits.
    """

    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env=childEnvironment(),
        )
        assert self.process.stdout is not None
        self._fd = self.process.stdout.fileno()
        self._buffer = b""
        self.records: list[dict[str, Any]] = []

    def next(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no output within {timeout} s; so far {self.records}"
                )
            readable, _, _ = select.select([self._fd], [], [], remaining)
            if readable:
                chunk = os.read(self._fd, 65536)
                if not chunk:
                    raise AssertionError(
                        f"child exited ({self.process.wait(5)}): "
                        f"{self.stderr()}; so far {self.records}"
                    )
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        record: dict[str, Any] = json.loads(line)
        self.records.append(record)
        return record

    def stderr(self) -> str:
        assert self.process.stderr is not None
        if self.process.poll() is None:
            return ""
        return self.process.stderr.read().decode(errors="replace")

    def terminate(self, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


class NamespaceTestCase(SynchronousTestCase):
    """
    Sets up namespace ``self.ns`` holding lo and ``rtnt0`` (ifindex 31,
    10.213.5.2/24, default route via 10.213.5.1) and namespace ``self.peer``
    holding ``rtnt1`` (ifindex 32, 10.213.5.1/24).
    """

    skip = None if NAMESPACES_OK else SKIP_REASON
    counter = 0

    def setUp(self) -> None:
        NamespaceTestCase.counter += 1
        suffix = f"{os.getpid()}x{NamespaceTestCase.counter}"
        self.ns = f"rtnt{suffix}"
        self.peer = f"rtntpeer{suffix}"
        for name in (self.ns, self.peer):
            self.ip("netns", "add", name)
            self.addCleanup(
                subprocess.run,
                ["ip", "netns", "del", name],
                capture_output=True,
                timeout=10,
            )
        self.ip("link", "add", "rtnt0", "index", "31", "netns", self.ns,
                "type", "veth", "peer", "name", "rtnt1", "index", "32",
                "netns", self.peer)  # fmt: skip
        self.inNs("link", "set", "lo", "up")
        self.inNs("addr", "add", "10.213.5.2/24", "dev", "rtnt0")
        self.inPeer("addr", "add", "10.213.5.1/24", "dev", "rtnt1")
        self.inPeer("link", "set", "rtnt1", "up")
        self.inNs("link", "set", "rtnt0", "up")
        self.waitFor("state UP ")
        self.inNs("route", "add", "default", "via", "10.213.5.1")

    def ip(self, *args: str) -> str:
        return subprocess.run(
            ["ip", *args], check=True, capture_output=True, text=True, timeout=10
        ).stdout

    def inNs(self, *args: str) -> str:
        return self.ip("-n", self.ns, *args)

    def inPeer(self, *args: str) -> str:
        return self.ip("-n", self.peer, *args)

    def waitFor(self, text: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.inNs("link", "show", "rtnt0"):
            if time.monotonic() > deadline:
                raise AssertionError(f"rtnt0 never showed {text!r}")
            time.sleep(0.02)

    def watch(self, *options: str) -> Child:
        command = ["ip", "netns", "exec", self.ns, sys.executable, "-c", NETWATCH]
        child = Child([*command, "--json", *options])
        self.addCleanup(child.close)
        return child

    def transition(self, child: Child, timeout: float) -> tuple[bool, float]:
        """Wait for the next transition; return it and its monotonic time."""
        record = child.next(timeout)
        self.assertEqual(record["event"], "transition")
        return record["isUp"], record["monotonic"]

    def report(self, what: str, seconds: float) -> None:
        sys.stderr.write(f"\n[netns] {self.id()}: {what} in {seconds * 1000:.1f} ms")


class LinkToggleMixin:
    """
    The same scenario for each monitor kind: down at once, up after the
    link and the default route are back.
    """

    options: tuple[str, ...] = ()
    downBound = 1.5
    upBound = 3.0

    def test_linkDownUp(self: Any) -> None:
        """
        When rtnt0 is set down, the monitor reports down within 1.5 s; when
        it is set up and the default route re-added, it reports up (within
        3 s); SIGTERM stops it cleanly.
        """
        child = self.watch(*self.options)
        started = child.next(10)
        self.assertEqual(
            (started["event"], started["isUp"], started["via"]),
            ("started", True, ["rtnt0"]),
        )
        before = time.monotonic()
        self.inNs("link", "set", "rtnt0", "down")
        isUp, at = self.transition(child, self.downBound + 1)
        self.assertIs(isUp, False)
        self.report("link down -> reported down", at - before)
        self.assertLess(at - before, self.downBound)

        before = time.monotonic()
        self.inNs("link", "set", "rtnt0", "up")
        self.waitFor("state UP ")
        self.inNs("route", "add", "default", "via", "10.213.5.1")
        isUp, at = self.transition(child, self.upBound + 1)
        self.assertIs(isUp, True)
        self.report("link up + route -> reported up", at - before)
        self.assertLess(at - before, self.upBound)

        self.assertEqual(child.terminate(), 0)
        stopped = child.next(5)
        self.assertEqual((stopped["event"], stopped["isUp"]), ("stopped", None))

    def test_carrierLoss(self: Any) -> None:
        """
        When the peer end goes down (our end loses carrier, its routes stay),
        the monitor reports down within 1.5 s, and up again after carrier
        returns.
        """
        child = self.watch(*self.options)
        self.assertIs(child.next(10)["isUp"], True)
        before = time.monotonic()
        self.inPeer("link", "set", "rtnt1", "down")
        isUp, at = self.transition(child, self.downBound + 1)
        self.assertIs(isUp, False)
        self.report("carrier loss -> reported down", at - before)
        self.assertLess(at - before, self.downBound)
        self.assertIn("default via 10.213.5.1", self.inNs("route"))

        before = time.monotonic()
        self.inPeer("link", "set", "rtnt1", "up")
        isUp, at = self.transition(child, self.upBound + 1)
        self.assertIs(isUp, True)
        self.report("carrier back -> reported up", at - before)
        self.assertLess(at - before, self.upBound)

    def test_routeRemoved(self: Any) -> None:
        """
        When only the default route is deleted (link stays up), the monitor
        reports down; when re-added, up.
        """
        child = self.watch(*self.options)
        self.assertIs(child.next(10)["isUp"], True)
        before = time.monotonic()
        self.inNs("route", "del", "default")
        isUp, at = self.transition(child, self.downBound + 1)
        self.assertIs(isUp, False)
        self.report("route deleted -> reported down", at - before)
        self.assertLess(at - before, self.downBound)
        self.inNs("route", "add", "default", "via", "10.213.5.1")
        isUp, _ = self.transition(child, self.upBound + 1)
        self.assertIs(isUp, True)


class NetlinkNamespaceTests(LinkToggleMixin, NamespaceTestCase):
    """
    The default monitor (rtnetlink) in a namespace.
    """

    def test_isNetlink(self) -> None:
        """
        When run as root on Linux, netwatch uses the netlink monitor.
        """
        child = self.watch()
        self.assertEqual(child.next(10)["monitor"], "NetlinkNetworkMonitor")

    def test_noDefaultRouteAtStart(self) -> None:
        """
        When the namespace has no default route at start, the monitor says
        down at once, then up 0.15 s (settle) after a route appears.
        """
        self.inNs("route", "del", "default")
        child = self.watch()
        self.assertIs(child.next(10)["isUp"], False)
        before = time.monotonic()
        self.inNs("route", "add", "default", "via", "10.213.5.1")
        isUp, at = self.transition(child, 3)
        self.assertIs(isUp, True)
        self.report("route added -> reported up", at - before)
        self.assertGreaterEqual(at - before, 0.15)
        self.assertLess(at - before, 1.0)


class PollingNamespaceTests(LinkToggleMixin, NamespaceTestCase):
    """
    The polling monitor (reading /proc and /sys) in a namespace, polling every
    0.2 s.
    """

    options = ("--polling", "--interval", "0.2")


class ResourceTests(SynchronousTestCase):
    """
    Run on the real reactor in a child process (no root needed).
    """

    skip = None if sys.platform.startswith("linux") else "rtnetlink needs Linux"

    def test_noLeaksNoThreads(self) -> None:
        """
        When a netlink monitor is started and stopped on the real reactor, it
        opens two descriptors while running, none remain after stop, no
        delayed call remains, and no thread was started.
        """
        script = """if True:
            import json, os, threading
            from twisted.internet import reactor
            from reconnect_twisted.network import NetlinkNetworkMonitor
            fds = lambda: len(os.listdir("/proc/self/fd"))
            def go():
                before = fds()
                monitor = NetlinkNetworkMonitor(reactor)
                monitor.start()
                running = fds()
                monitor.stop()
                print(json.dumps({
                    "before": before, "running": running, "after": fds(),
                    "delayed": len(reactor.getDelayedCalls()),
                    "threads": threading.active_count(),
                    "isUp": monitor.isUp,
                }))
                reactor.stop()
            reactor.callWhenRunning(go)
            reactor.run()
        """
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env=childEnvironment(),
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        record = json.loads(result.stdout)
        self.assertEqual(
            (
                record["running"] - record["before"],
                record["after"] - record["before"],
                record["delayed"],
                record["threads"],
                record["isUp"],
            ),
            (2, 0, 0, 1, None),
        )
