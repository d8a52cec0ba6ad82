"""
A short run of bench/soak.py: clients behind a chaos proxy come back, leak
nothing, log no secret and lose no message sent through their outboxes.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from bench.soak import (
    POISON,
    ClientRecord,
    SoakFactory,
    Traffic,
    _messages,
    deliver,
)
from reconnect_twisted import Outbox
from reconnect_twisted.testing import connectFake

ROOT = Path(__file__).resolve().parent.parent


def runSoak(test: SynchronousTestCase, *args: str) -> dict[str, Any]:
    """Run bench/soak.py; check its exit status; return its SOAK summary."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
        env=env,
    )
    output = result.stdout + result.stderr
    test.assertEqual(result.returncode, 0, output)
    test.assertIn("| result", result.stdout)
    line = next(x for x in result.stdout.splitlines() if x.startswith("SOAK "))
    summary: dict[str, Any] = json.loads(line[5:])
    return summary


class SoakTests(SynchronousTestCase):
    def test_shortSoak(self) -> None:
        """When 20 clients soak for 5 s of chaos, every check passes."""
        summary = runSoak(self, "--clients", "20", "--duration", "5", "--seed", "1")
        self.assertEqual(summary["clients"], 20)
        self.assertEqual(summary["failures"], [])
        self.assertGreater(summary["drops"], 0)
        self.assertEqual(summary["reconnects"], summary["drops"])
        self.assertEqual(summary["errors"], 0)
        self.assertEqual(summary["leaks"], 0)
        self.assertLessEqual(summary["fdsAfter"], summary["fdsBefore"] * 1.05)
        self.assertLessEqual(summary["rssAfter"], summary["rssBefore"] * 1.05)
        self.assertLess(summary["recovery"], 7.0)
        self.assertLessEqual(summary["blocksAfter"], summary["blocksBefore"] * 1.05)
        self.assertNothingLost(summary["messages"], clients=20)

    def test_durableSoak(self) -> None:
        """
        When 10 clients send through SQLiteOutboxes for 3 s of chaos, no
        message is lost and the files are empty once everything settled.
        """
        summary = runSoak(
            self,
            *("--clients", "10", "--duration", "3", "--seed", "2"),
            *("--rate", "10", "--outbox", "sqlite"),
        )
        self.assertEqual(summary["failures"], [])
        self.assertEqual(summary["outbox"], "sqlite")
        self.assertEqual(summary["storedAfter"], 0)
        self.assertNothingLost(summary["messages"], clients=10)

    def assertNothingLost(self, messages: dict[str, Any], clients: int) -> None:
        """
        Every message put was delivered or refused; only the poison ones
        (every 20th of each client's) were, each with the server's reason.
        """
        self.assertGreater(messages["put"], 0)
        self.assertEqual(messages["lost"], 0)
        self.assertEqual(messages["outOfOrder"], 0)
        self.assertEqual(messages["delivered"] + messages["failed"], messages["put"])
        perClient = messages["put"] // clients  # every client put as many
        self.assertEqual(messages["put"], perClient * clients)
        self.assertEqual(messages["failed"], perClient // 20 * clients)
        self.assertEqual(
            messages["failedReasons"], {f"Refused: {POISON}": messages["failed"]}
        )


class MessageAccountingTests(SynchronousTestCase):
    """The soak's client and its message bookkeeping, on a fake connection."""

    def test_lostCounted(self) -> None:
        """
        When one message is acknowledged, one refused and one never answered,
        the refusal is a failure with the server's reason and the unanswered
        one is lost; so is an acknowledged one the server never accepted.
        """
        clock = Clock()
        factory = SoakFactory("user0", "pw", random.Random(1))
        factory.clock = clock
        record = ClientRecord(
            factory, Traffic(Outbox(factory, deliver, window=4, withIds=True))
        )
        for _ in range(3):
            record.traffic.send()
        connector = connectFake(factory, clock)
        client = connector.succeed()
        self.assertEqual(connector.transport.value(), b"LOGIN user0 pw\r\n")
        connector.transport.clear()
        client.lineReceived(b"OK")
        self.assertEqual(
            connector.transport.value(),
            b"MSG 1 hello-1\r\nMSG 2 hello-2\r\nMSG 3 hello-3\r\n",
        )
        client.lineReceived(b"ACK 1")
        client.lineReceived(b"NACK 2 " + POISON.encode())
        server: dict[str, Any] = {
            "ids": {"user0": [1]},
            "duplicates": 0,
            "refused": 1,
            "outOfOrder": 0,
        }
        messages = _messages([record], server)
        self.assertEqual(
            (messages["put"], messages["delivered"], messages["failed"]), (3, 1, 1)
        )
        self.assertEqual(messages["failedReasons"], {f"Refused: {POISON}": 1})
        self.assertEqual((messages["unsettled"], messages["notReceived"]), (1, 0))
        self.assertEqual(messages["lost"], 1)
        server["ids"] = {"user0": []}
        self.assertEqual(_messages([record], server)["lost"], 2)
        self.assertEqual(factory.garbage, 0)
        client.lineReceived(b"ACK 7")  # not in flight: a protocol error
        self.assertEqual(factory.garbage, 1)
        factory.giveUp("test over")
        clock.advance(10)
        self.assertEqual(record.traffic.failed["GaveUp: test over"], 1)
        self.assertEqual(clock.getDelayedCalls(), [])
