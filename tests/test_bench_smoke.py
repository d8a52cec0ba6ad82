"""
Smoke test of the benchmarks (issue 9): ``python -m bench --tiny`` runs in a
subprocess in seconds and its JSON has every metric. The numbers of a tiny
run mean nothing; only their presence and shape are checked.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("raw", "rcf", "cs", "ours")


def isNumber(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    pytest.importorskip("psutil")
    path = tmp_path_factory.mktemp("bench") / "tiny.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny", "--no-plot", "--json", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Targets" in completed.stdout
    assert path.with_suffix(".txt").exists()
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@pytest.mark.parametrize("section", ["cycles", "handshake"])
def test_cycleRates(results: dict[str, Any], section: str) -> None:
    for conc in ("1", "8"):
        for kind in KINDS:
            entry = results[section][conc][kind]
            assert isNumber(entry["rate"]) and entry["rate"] > 0, (section, conc, kind)
            assert len(entry["samples"]) == results[section]["rounds"]
        for key in ("raw", "best", "cs"):
            assert isNumber(results[section][conc]["ratios"][key])


def test_memory(results: dict[str, Any]) -> None:
    assert results["memory"]
    for row in results["memory"].values():
        for kind in KINDS:
            assert isNumber(row[kind]["rssPerConn"])
            assert isNumber(row[kind]["tracedPerConn"])
            assert row[kind]["tracedPerConn"] > 0
            assert row[kind]["rssSamples"] and row[kind]["tracedSamples"]
            assert isNumber(row[kind]["tracedPeakPerConn"])
        assert isNumber(row["ratios"]["traced"])


def test_cpu(results: dict[str, Any]) -> None:
    byFactories = results["cpu"]["byFactories"]
    assert set(byFactories) == {"1", "100"}  # how the cost scales
    for entry in byFactories.values():
        for kind in ("rcf", "cs", "ours"):
            assert isNumber(entry[kind]["usPerRetry"])
            assert entry[kind]["usPerRetry"] > 0
        assert isNumber(entry["ratios"]["rcf"])


def test_herd(results: dict[str, Any]) -> None:
    herd = results["herd"]
    names = {s["name"] for s in herd["scenarios"]}
    assert {"RCF defaults", "ClientService defaults"} <= names
    assert sum(s["preset"] for s in herd["scenarios"]) == 1
    assert any(s["networkUp"] for s in herd["scenarios"])
    for scenario in herd["scenarios"]:
        assert scenario["reconnected"] == herd["clients"], scenario["name"]
        for key in ("t99", "t100"):
            assert isNumber(scenario[key]), (scenario["name"], key)
        assert scenario["t99"] <= scenario["t100"]
        assert scenario["attempts"] >= herd["clients"] - herd["rate"]
        assert scenario["peakPerSecond"] > 0
        assert scenario["curve"]
        assert len(scenario["perSeed"]["attempts"]) == len(herd["seeds"])
    rcf = next(s for s in herd["scenarios"] if s["name"] == "RCF defaults")
    assert rcf["vsRCF"]["attempts"] == 1.0


def test_netup(results: dict[str, Any]) -> None:
    netup = results["netup"]
    if netup["skipped"]:
        assert netup["reason"].startswith("skipped:")
    else:
        assert isNumber(netup["latency"])


def test_targets(results: dict[str, Any]) -> None:
    names = [t["name"] for t in results["targets"]]
    assert len(names) == len(set(names))
    for prefix in (
        "cycle rate, 1 conn",
        "cycle rate, 8 conn",
        "cycle rate with handshake, 1 conn",
        "cycle rate with handshake, 8 conn",
        "memory/conn",
        "CPU per failed attempt, 1 factory",
        "CPU per failed attempt, 100 factories",
        "herd ours ExponentialBackoff():",
        "herd ours ExponentialBackoff() + network up: attempts",
        "herd ours ExponentialBackoff() + network up: peak",
        "herd ours ExponentialBackoff() + network up: t99",
        "network up",
    ):
        assert any(name.startswith(prefix) for name in names), prefix
    for size in results["memory"]:
        for label in ("RSS", "tracemalloc"):
            name = f"memory/conn at {int(size):,} ({label}): ours <= 1.25 x RCF"
            assert name in names
    for t in results["targets"]:
        assert t["status"] in ("PASS", "FAIL", "SKIP")
        if t["status"] == "FAIL":
            assert isNumber(t["miss"]) and t["miss"] > 0


@pytest.mark.parametrize("scenario", ["attempt", "cycle"])
@pytest.mark.parametrize("kind", ["rcf", "ours"])
def test_instructionsChild(kind: str, scenario: str) -> None:
    """
    Each ``bench.instructions`` loop runs without valgrind, one simulated
    second per step, and its stop leaves no timer behind (the counts
    themselves need valgrind: not in the suite).
    """
    from bench import instructions

    make = instructions._attempt if scenario == "attempt" else instructions._cycle
    step, stop = make(kind)
    clock = _clockOf(step)
    for _ in range(5):
        step()
    assert clock.seconds() == 5.0
    stop()
    assert clock.getDelayedCalls() == []


def _clockOf(step: Any) -> Any:
    """The clock a step closure advances."""
    cells = {
        name: cell.cell_contents
        for name, cell in zip(step.__code__.co_freevars, step.__closure__, strict=True)
    }
    return cells["clock"]


def test_instructionsSkipsWithoutValgrind(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without valgrind the benchmark says so instead of failing."""
    from bench import instructions

    monkeypatch.setattr(instructions.shutil, "which", lambda name: None)
    assert instructions.run(10) == {
        "skipped": "valgrind is not installed (apt-get install valgrind)"
    }


def test_instructionsSocketChild() -> None:
    """
    ``--sockets``' child (run by valgrind in the benchmark, directly here)
    makes real loopback cycles against a ``close`` server and reports them.
    """
    from bench._common import ROOT, childEnv, serverProcess

    with serverProcess("close", lifetime=60) as port:
        completed = subprocess.run(
            [sys.executable, "-m", "bench.instructions", "--socket-child", "ours",
             str(port), "0.3"],
            cwd=ROOT, env=childEnv(), capture_output=True, text=True, timeout=60,
            check=True,
        )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert (result["kind"], result["conc"], result["handshake"]) == ("ours", 8, False)
    assert result["cycles"] > 0  # (how many depends on the machine)
