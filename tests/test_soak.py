"""
A short run of bench/soak.py: clients behind a chaos proxy come back, leak
nothing and log no secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

ROOT = Path(__file__).resolve().parent.parent


class SoakTests(SynchronousTestCase):
    def test_shortSoak(self) -> None:
        """When 20 clients soak for 5 s of chaos, every check passes."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        result = subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "soak.py"),
                "--clients",
                "20",
                "--duration",
                "5",
                "--seed",
                "1",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=90,
            cwd=ROOT,
            env=env,
        )
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0, output)
        self.assertIn("| result", result.stdout)
        line = next(x for x in result.stdout.splitlines() if x.startswith("SOAK "))
        summary = json.loads(line[5:])
        self.assertEqual(summary["clients"], 20)
        self.assertEqual(summary["failures"], [])
        self.assertGreater(summary["drops"], 0)
        self.assertEqual(summary["reconnects"], summary["drops"])
        self.assertEqual(summary["errors"], 0)
        self.assertEqual(summary["leaks"], 0)
        self.assertLessEqual(summary["fdsAfter"], summary["fdsBefore"] * 1.05)
        self.assertLessEqual(summary["rssAfter"], summary["rssBefore"] * 1.05)
        self.assertLess(summary["recovery"], 7.0)
