"""
Real-network tests of the factory (issue 6, "Must show"): a client namespace
joined to a server namespace by a veth pair (the harness of
:mod:`tests.network.test_netns`), the demo login server in the server
namespace and the clients in the client namespace, each a child process on
the real reactor (:mod:`tests.network.netns_client`) printing JSON lines
stamped with ``time.monotonic()``.

The only traffic targets are 10.213.5.1 and 10.213.5.2, inside the two
namespaces created for each test. Needs root; skipped otherwise.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

from .test_netns import Child, NamespaceTestCase

HELPER = str(Path(__file__).resolve().with_name("netns_client.py"))
SERVER = "10.213.5.1"
CLIENT = "10.213.5.2"
PORT = 17071

#: network up (link + default route back) -> ours CONNECTED, handshake done.
UP_BOUND = 1.0
#: blackholed peer -> ours leaves CONNECTED (keepAlive=(1, 1, 3),
#: userTimeout=5: about 5-6 s).
KEEPALIVE_BOUND = 8.0


class FactoryNamespaceTests(NamespaceTestCase):
    """
    ``self.ns`` holds the clients (rtnt0, 10.213.5.2, default route via
    10.213.5.1); ``self.peer`` holds the login server on 10.213.5.1:17071.
    """

    def setUp(self) -> None:
        super().setUp()
        self.server = self.spawn(self.peer, "server", SERVER)
        record = self.server.next(15)
        self.assertEqual(record["event"], "listening", record)

    def spawn(self, namespace: str, mode: str, host: str) -> Child:
        child = Child(
            [
                "ip",
                "netns",
                "exec",
                namespace,
                sys.executable,
                HELPER,
                mode,
                host,
                str(PORT),
            ]
        )
        self.addCleanup(child.close)
        return child

    def collect(self, child: Child, seconds: float) -> list[dict[str, Any]]:
        """Every record ``child`` prints in the next ``seconds``."""
        deadline = time.monotonic() + seconds
        records = []
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                records.append(child.next(remaining))
            except AssertionError:
                if child.process.poll() is not None:
                    raise
                break
        return records

    def waitUntil(
        self, child: Child, timeout: float, matches: Any, what: str
    ) -> dict[str, Any]:
        """The first record (within ``timeout``) for which ``matches`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {what} within {timeout} s: {child.records}")
            try:
                record = child.next(remaining)
            except AssertionError as e:
                raise AssertionError(f"no {what} within {timeout} s: {e}") from None
            if matches(record):
                return record

    def status(self, child: Child) -> dict[str, Any]:
        """Ask ``child`` for its clients' current state."""
        child.process.send_signal(signal.SIGUSR1)
        record = self.waitUntil(
            child, 5, lambda r: r["event"] == "status", "status report"
        )
        clients: dict[str, Any] = record["clients"]
        return clients

    def say(self, text: str) -> None:
        sys.stderr.write(f"\n[netns] {self.id().rsplit('.', 1)[-1]}: {text}")
        sys.stderr.flush()

    def test_networkUpConnectsBeforeRCF(self) -> None:
        """
        With the client's link down, our factory (rtnetlink monitor, backoff
        8 s doubling, networkUpJitter 0.25) and Twisted's RCF (same schedule)
        both fail; once the link is up and the default route is back, ours
        is CONNECTED (login done) within 1 s while RCF is still waiting for
        its next retry (8 s after its first failure), which then connects.
        """
        self.inNs("link", "set", "rtnt0", "down")
        self.assertNotIn("default", self.inNs("route"))
        child = self.spawn(self.ns, "race", SERVER)
        self.assertEqual(child.next(15)["event"], "started")

        # Both fail for a while: RCF is mid-backoff, ours waits offline.
        outage = self.collect(child, 3.5)
        rcfFailures = [
            r for r in outage if r.get("who") == "rcf" and r.get("what") == "failed"
        ]
        self.assertTrue(rcfFailures, outage)
        self.assertNotIn(
            "CONNECTED", [r.get("state") for r in outage if r.get("who") == "ours"]
        )
        before = self.status(child)
        self.assertEqual(before["ours"]["state"], "OFFLINE", outage)
        self.assertFalse(before["rcf"]["connected"], outage)

        linkUp = time.monotonic()
        self.inNs("link", "set", "rtnt0", "up")
        self.waitFor("state UP ")
        self.inNs("route", "add", "default", "via", SERVER)
        networkBack = time.monotonic()

        connected = self.waitUntil(
            child,
            UP_BOUND + 5,
            lambda r: r.get("who") == "ours" and r.get("state") == "CONNECTED",
            "CONNECTED",
        )
        after = self.status(child)
        latency = connected["t"] - networkBack
        rcfRetry = after["rcf"]["nextRetryIn"]
        rcfConnected = [
            r
            for r in child.records
            if r.get("who") == "rcf" and r["what"] == "connected"
        ]
        summary = (
            f"network-up -> connected: {latency * 1000:.0f} ms "
            f"({(connected['t'] - linkUp) * 1000:.0f} ms from `ip link set up`; "
            f"RCF still waiting, next retry in "
            f"{'?' if rcfRetry is None else f'{rcfRetry:.1f}'} s)"
        )
        self.say(summary)
        self.assertLess(latency, UP_BOUND, summary)
        self.assertEqual(rcfConnected, [], summary)
        self.assertFalse(after["rcf"]["connected"], summary)
        self.assertIsNotNone(rcfRetry, summary)
        self.assertEqual(after["ours"]["state"], "CONNECTED", summary)

        # RCF does get there, at its scheduled retry (the server was
        # reachable all along).
        rcf = self.waitUntil(
            child,
            rcfRetry + 5,
            lambda r: r.get("who") == "rcf" and r.get("what") == "connected",
            "RCF connection",
        )
        self.say(
            f"RCF: network-up -> connected: {rcf['t'] - networkBack:.2f} s "
            f"(ours {rcf['t'] - connected['t']:.2f} s earlier)"
        )

    def test_keepAliveNoticesDeadPeer(self) -> None:
        """
        With every client CONNECTED over an idle connection, blackholing the
        peer (a blackhole route to the client in the server's namespace; the
        client's link stays up) makes ours with keepAlive=(1, 1, 3),
        userTimeout=5 leave CONNECTED within 8 s, while ours without
        keepalive and a plain RCF still believe they are connected 8 s later.
        """
        child = self.spawn(self.ns, "keepalive", SERVER)
        self.assertEqual(child.next(15)["event"], "started")
        pending = {"ka", "noka", "rcf"}

        def connected(record: dict[str, Any]) -> bool:
            if record.get("state") == "CONNECTED" or record.get("what") == "connected":
                pending.discard(record["who"])
            return not pending

        self.waitUntil(child, 10, connected, "three connections")
        blackholed = time.monotonic()
        self.inPeer("route", "add", "blackhole", f"{CLIENT}/32")

        noticed = self.waitUntil(
            child,
            KEEPALIVE_BOUND + 2,
            lambda r: r["event"] == "state" and r["state"] != "CONNECTED",
            "state change",
        )
        detection = noticed["t"] - blackholed
        self.collect(child, blackholed + KEEPALIVE_BOUND - time.monotonic())
        after = self.status(child)
        window = time.monotonic() - blackholed
        summary = (
            f"dead peer noticed with keepAlive=(1, 1, 3), userTimeout=5 in "
            f"{detection:.2f} s (-> {noticed['state']}: {noticed['failure']}); "
            f"after {window:.1f} s without keepalive: {after['noka']['state']}, "
            f"RCF connected: {after['rcf']['connected']}"
        )
        self.say(summary)
        self.assertEqual(noticed["who"], "ka", summary)
        self.assertLess(detection, KEEPALIVE_BOUND, summary)
        self.assertEqual(after["noka"]["state"], "CONNECTED", summary)
        self.assertTrue(after["rcf"]["connected"], summary)
        self.assertNotIn(
            "lost", [r.get("what") for r in child.records if r.get("who") == "rcf"]
        )
