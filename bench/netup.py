"""
Benchmark 6: network-up → business-connected latency, in network
namespaces (needs root and ``ip``).

It runs the network-namespace race of ``tests/network/test_netns_factory.py``
(the client's only default route goes through a veth pair that is taken down
and brought back): our factory with ``NetlinkNetworkMonitor`` and Twisted's
``ReconnectingClientFactory`` with the same backoff (8 s doubling), both
failing while the link is down. Reported: the time from the default route
being back to ours being business-connected (login done), and to RCF being
connected at its next scheduled retry.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/network/test_netns_factory.py"
OURS = re.compile(r"network-up -> connected: (\d+) ms")
RCF = re.compile(r"RCF: network-up -> connected: ([\d.]+) s")


def _skipped(reason: str) -> dict[str, Any]:
    return {
        "skipped": True,
        "reason": reason,
        "latency": None,
        "rcfLatency": None,
        "networkUpJitter": 0.25,
    }


def run(tiny: bool = False) -> dict[str, Any]:
    """Run the namespace race once; the latencies, or why it was skipped."""
    if tiny:
        return _skipped("skipped: --tiny (the test suite runs the race itself)")
    if os.geteuid() != 0:
        return _skipped("skipped: needs root (network namespaces)")
    if shutil.which("ip") is None:
        return _skipped("skipped: needs iproute2's ip")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", TEST, "-q", "-s",
             "-p", "no:cacheprovider", "-k", "networkUpConnectsBeforeRCF"],
            cwd=ROOT, capture_output=True, text=True, timeout=90,
        )
    except subprocess.TimeoutExpired:
        return _skipped("skipped: the namespace race timed out (90 s)")
    output = done.stdout + done.stderr
    ours, rcf = OURS.search(output), RCF.search(output)
    if done.returncode != 0 or ours is None:
        tail = " ".join(output.strip().splitlines()[-3:])[:200]
        return _skipped(f"skipped: the namespace race failed: {tail}")
    return {
        "skipped": False,
        "reason": None,
        "latency": int(ours.group(1)) / 1000.0,
        "rcfLatency": float(rcf.group(1)) if rcf else None,
        "networkUpJitter": 0.25,
    }
