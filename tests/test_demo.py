"""
The demo end to end: ``python -m reconnect_twisted demo`` in a subprocess, on
the real reactor and loopback sockets, with bounded timeouts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted._demo.scenarios import PASSWORD, WRONG_PASSWORD

ROOT = Path(__file__).resolve().parent.parent


def runDemo(
    *args: str, timeout: float = 60.0
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "reconnect_twisted", "demo", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result, time.monotonic() - started


def scenarioEvents(events: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [event for event in events if event["scenario"] == key]


def states(events: list[dict[str, Any]], client: str = "client") -> list[str]:
    return [
        event["state"]
        for event in events
        if event["event"] == "status" and event.get("client") == client
    ]


class DemoEndToEndTests(SynchronousTestCase):
    """The whole demo, fast (``--speed 20 --json``)."""

    result: subprocess.CompletedProcess[str]
    elapsed: float
    events: list[dict[str, Any]]

    @classmethod
    def setUpClass(cls) -> None:
        cls._runDemoOnce()

    @classmethod
    def _runDemoOnce(cls) -> None:
        if "result" not in cls.__dict__:
            cls.result, cls.elapsed = runDemo("--speed", "20", "--json", "--verbose")
            cls.events = [json.loads(line) for line in cls.result.stdout.splitlines()]

    def setUp(self) -> None:
        # trial does not call setUpClass: run the demo once, on first use.
        self._runDemoOnce()

    def ended(self, key: str) -> dict[str, Any]:
        ends = [
            e for e in scenarioEvents(self.events, key) if e["event"] == "scenario-end"
        ]
        self.assertEqual(len(ends), 1, f"scenario {key}: {ends}")
        self.assertTrue(ends[0]["ok"], f"scenario {key} failed: {ends[0]}")
        return ends[0]

    def test_exitsZeroQuickly(self) -> None:
        """When every scenario ends as described, the demo exits 0 within 60 s."""
        self.assertEqual(self.result.returncode, 0, self.result.stderr[-3000:])
        self.assertLess(self.elapsed, 60.0)
        summary = self.events[-1]
        self.assertEqual(summary["event"], "summary")
        self.assertIs(summary["ok"], True)
        self.assertEqual((summary["passed"], summary["total"]), (9, 9))

    def test_everyEventIsJSON(self) -> None:
        """When --json is given, every line is an event with the documented keys."""
        keys = {"t", "scenario", "event", "state", "attempt", "nextDelay", "reason"}
        keys.add("ok")
        for event in self.events:
            self.assertLessEqual(keys, set(event))
        starts = [e["scenario"] for e in self.events if e["event"] == "scenario-start"]
        self.assertEqual(starts, list("ABCDEFGHI"))

    def test_G_heartbeatDetectsHang(self) -> None:
        """
        When the server hangs with its socket open, the client's heartbeat
        aborts the connection (WAITING with a HeartbeatTimeout) and it is
        CONNECTED again.
        """
        self.ended("G")
        events = [
            e
            for e in scenarioEvents(self.events, "G")
            if e["event"] == "status" and e.get("client") == "client"
        ]
        seen = [e["state"] for e in events]
        self.assertEqual(seen[:3], ["CONNECTING", "HANDSHAKING", "CONNECTED"])
        waiting = seen.index("WAITING")
        self.assertEqual(
            seen[waiting + 1 : waiting + 4], ["CONNECTING", "HANDSHAKING", "CONNECTED"]
        )
        self.assertTrue(
            events[waiting]["reason"].startswith("HeartbeatTimeout: "),
            events[waiting],
        )

    def test_H_networkChange(self) -> None:
        """
        When the client is WAITING with its next attempt 30 s away and the
        network goes down and comes back, it is OFFLINE, then CONNECTED
        within a second of the network's return, long before the scheduled
        attempt; as root the monitor is netlink in a private namespace,
        which is gone afterwards.
        """
        end = self.ended("H")
        events = scenarioEvents(self.events, "H")
        assertNetworkChange(self, events)
        [network] = [
            e["action"] for e in events if e.get("action", "").startswith("network: ")
        ]
        if os.geteuid() == 0 and sys.platform.startswith("linux"):
            self.assertIn("netlink monitor in private network namespace", network)
            name = network.split()[-1]
            self.assertFalse(os.path.exists(f"/run/netns/{name}"))
        self.assertIn(network[len("network: ") :], end["observed"])

    def test_I_dependencyChain(self) -> None:
        """
        When A, B, C, D start in the wrong order, every link keeps trying
        until the chain is up; a message goes A to D and back; C's restart
        drops B->C (which comes back by itself) and replaces C->D, while
        A->B stays CONNECTED; a last message arrives end to end.
        """
        end = self.ended("I")
        events = scenarioEvents(self.events, "I")
        actions = [e["action"] for e in events if e["event"] == "action"]
        starts = [a.split()[1] for a in actions if " starts on 127.0.0.1:" in a]
        self.assertEqual(starts, ["B", "C", "D"])
        self.assertEqual(actions.count("upgraded service C starts, same port"), 1)
        ab = states(events, "A->B")
        self.assertIn("WAITING", ab[: ab.index("CONNECTED")])
        self.assertEqual(ab[ab.index("CONNECTED") :][-1], "STOPPED")
        self.assertNotIn("WAITING", ab[ab.index("CONNECTED") :])
        rejected = [
            e for e in events if e.get("client") == "A->B" and e["state"] == "WAITING"
        ]
        self.assertIn("upstream not ready", rejected[-1]["reason"])
        stopped = next(
            i
            for i, e in enumerate(events)
            if e.get("action") == "service C stops for an upgrade"
        )
        bcAfter = states(events[stopped:], "B->C")
        self.assertEqual(bcAfter[0], "WAITING")
        self.assertIn("CONNECTED", bcAfter)
        chains = [a for a in actions if a.startswith("chain: ")]
        self.assertEqual(
            chains[0], "chain: A->B CONNECTED | B->C CONNECTED | C->D CONNECTED"
        )
        self.assertEqual(chains[-1], chains[0])
        received = [a for a in actions if a.startswith("A receives: ")]
        self.assertEqual(len(received), 2)
        for line in received:
            self.assertTrue(line.endswith(" A>B>C>D"), line)
        self.assertIn("A->B stayed CONNECTED", end["observed"])

    def test_A_clientBeforeServer(self) -> None:
        """
        When the client starts before the server, it keeps WAITING between
        refused attempts and is CONNECTED once the server is up.
        """
        self.ended("A")
        events = scenarioEvents(self.events, "A")
        seen = states(events)
        connectedAt = seen.index("CONNECTED")
        self.assertIn("WAITING", seen[:connectedAt])
        waiting = [e for e in events if e["state"] == "WAITING"]
        self.assertTrue(all(e["nextDelay"] is not None for e in waiting))
        self.assertIn("ConnectionRefused", waiting[0]["reason"])
        serverUp = next(
            i for i, e in enumerate(events) if "server starts" in e.get("action", "")
        )
        firstConnected = next(
            i for i, e in enumerate(events) if e["state"] == "CONNECTED"
        )
        self.assertLess(serverUp, firstConnected)

    def test_B_serverDrops(self) -> None:
        """When the server drops the connection, the client reconnects and logs in."""
        self.ended("B")
        seen = states(scenarioEvents(self.events, "B"))
        first = seen.index("CONNECTED")
        self.assertIn("WAITING", seen[first:])
        self.assertIn("CONNECTED", seen[seen.index("WAITING", first) :])

    def test_C_serverUpgraded(self) -> None:
        """
        When the server restarts on the same port, the client reconnects
        after failed attempts while it was down.
        """
        end = self.ended("C")
        seen = states(scenarioEvents(self.events, "C"))
        down = seen.index("WAITING")
        self.assertIn("CONNECTED", seen[down:])
        self.assertIn("failed attempts while down", end["observed"])

    def test_D_wrongPassword(self) -> None:
        """When the password is wrong, the client is STOPPED with a clear reason."""
        self.ended("D")
        seen = states(scenarioEvents(self.events, "D"))
        self.assertNotIn("CONNECTED", seen)
        self.assertNotIn("WAITING", seen)
        stopped = [
            e for e in scenarioEvents(self.events, "D") if e["state"] == "STOPPED"
        ]
        self.assertIn("bad password", stopped[0]["reason"])

    def test_E_kicked(self) -> None:
        """
        When the same account logs in elsewhere, the kicked client is STOPPED
        and makes no further attempt.
        """
        self.ended("E")
        events = scenarioEvents(self.events, "E")
        laptop = states(events, "laptop")
        stoppedAt = laptop.index("STOPPED")
        self.assertEqual(set(laptop[stoppedAt:]), {"STOPPED"})
        self.assertNotIn("CONNECTING", laptop[stoppedAt:])
        stopped = next(
            e for e in events if e.get("client") == "laptop" and e["state"] == "STOPPED"
        )
        self.assertEqual(stopped["reason"], "kicked: same account logged in elsewhere")
        self.assertIn("CONNECTED", states(events, "phone"))

    def test_F_reconnectNowAndGiveUp(self) -> None:
        """
        When the user presses 'reconnect now' while WAITING, an attempt starts
        at once; 'give up' then stops the client and closes the connection.
        """
        self.ended("F")
        events = scenarioEvents(self.events, "F")
        pressed = next(
            i
            for i, e in enumerate(events)
            if e.get("action") == "user presses 'reconnect now'"
        )
        waiting = [e for e in events[:pressed] if e["state"] == "WAITING"]
        self.assertTrue(waiting)
        self.assertGreater(waiting[-1]["nextDelay"], 1.0)  # 30 demo-seconds / 20
        after = [e for e in events[pressed + 1 :] if e["event"] == "status"]
        self.assertEqual(after[0]["state"], "CONNECTING")
        self.assertLess(after[0]["t"] - events[pressed]["t"], 0.5)
        gaveUp = next(
            i
            for i, e in enumerate(events)
            if e.get("action") == "user presses 'give up'"
        )
        final = [e for e in events[gaveUp + 1 :] if e["event"] == "status"]
        self.assertEqual(final[0]["state"], "STOPPED")
        self.assertEqual(final[0]["reason"], "user gave up")

    def test_noSecretsInOutput(self) -> None:
        """When the demo runs, no password appears on stdout or stderr (logs)."""
        for secret in (PASSWORD, WRONG_PASSWORD):
            self.assertNotIn(secret, self.result.stdout)
            self.assertNotIn(secret, self.result.stderr)
        self.assertIn("reconnect_twisted", self.result.stderr)  # logs were on


def assertNetworkChange(
    test: SynchronousTestCase, events: list[dict[str, Any]]
) -> None:
    """Scenario H's client went WAITING (30 s), OFFLINE, then CONNECTED at once."""
    seen = states(events)
    waiting = next(e for e in events if e["state"] == "WAITING")
    test.assertGreater(waiting["nextDelay"], 29.0)
    offline = seen.index("OFFLINE")
    test.assertEqual(seen[offline - 1], "WAITING")
    test.assertEqual(seen[-2:], ["CONNECTED", "STOPPED"])
    test.assertEqual(seen[offline:].count("CONNECTING"), 1)
    back = next(e for e in events if e.get("action") == "network comes back")
    connected = next(e for e in events if e["state"] == "CONNECTED")
    test.assertLess(connected["t"] - back["t"], 1.0)


class DemoOptionsTests(SynchronousTestCase):
    """The demo's options, each in a short subprocess."""

    def test_manualNetworkMonitor(self) -> None:
        """
        When --network-monitor manual is given, scenario H says so and ends
        as it does with the netlink monitor.
        """
        result, _ = runDemo(
            "--speed", "20", "--json", "--scenario", "H",
            "--network-monitor", "manual", timeout=30,
        )  # fmt: skip
        self.assertEqual(result.returncode, 0, result.stderr)
        events = [json.loads(line) for line in result.stdout.splitlines()]
        self.assertIn(
            {"action": "network: manual monitor (--network-monitor manual)"},
            [{"action": e.get("action")} for e in events],
        )
        assertNetworkChange(self, scenarioEvents(events, "H"))

    def test_statusPage(self) -> None:
        """
        When --status-port 0 is given, the page's address and token are
        printed once, first, on 127.0.0.1; the page lists the scenario's
        client while it plays.
        """
        import urllib.request

        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "reconnect_twisted", "demo", "--json",
             "--status-port", "0", "--scenario", "C", "--timeout", "30"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            first = json.loads(process.stdout.readline())
            self.assertEqual(first["event"], "status-page")
            self.assertTrue(first["url"].startswith("http://127.0.0.1:"), first)
            self.assertIn(f"#token={first['token']}", first["message"])
            with urllib.request.urlopen(first["url"] + "status.json", timeout=10) as r:
                page = json.loads(r.read())
            self.assertEqual([f["name"] for f in page["factories"]], ["C: client"])
            rest, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=10)
        self.assertEqual(process.returncode, 0, err)
        self.assertNotIn(first["token"], rest)
        self.assertNotIn(first["token"], err)

    def test_textOutputWithoutTTY(self) -> None:
        """
        When stdout is not a terminal, the timeline and summary table are
        plain text (no ANSI colour).
        """
        result, _ = runDemo("--speed", "20", "--scenario", "D,e", timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn("\x1b[", result.stdout)
        self.assertIn("Expected outcome", result.stdout)
        self.assertIn("2/2 scenarios as described", result.stdout)
        self.assertIn("[D]", result.stdout)
        self.assertNotIn("[A]", result.stdout)

    def test_watchdog(self) -> None:
        """When the demo cannot finish in time, the watchdog exits non-zero."""
        result, elapsed = runDemo(
            "--scenario", "A", "--timeout", "0.5", "--json", timeout=30
        )
        self.assertEqual(result.returncode, 3)
        self.assertIn("watchdog", result.stderr)
        self.assertLess(elapsed, 20)
        last = json.loads(result.stdout.splitlines()[-1])
        self.assertEqual(last["event"], "watchdog")
        self.assertIs(last["ok"], False)
