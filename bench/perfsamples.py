"""
Benchmark 8 (optional, a diagnosis): where the time of a real loopback
cycle goes, by Python function, for raw, RCF and ours.

``python -m bench.perfsamples [--python PYTHON] [--seconds S]`` runs
``bench.cycles``' 8-connection cycle against the ``close`` server under
``perf record -e cpu-clock --call-graph dwarf`` with CPython's perf
trampoline (``python -X perf``, Python 3.12 or newer: give one with
``--python`` whose environment has Twisted and this package, e.g. a venv
made with ``python3.12 -m venv`` and ``pip install -e .``). Every sample is
charged to its innermost Python frame (the C code and the system calls a
function makes count as its own), and the table gives microseconds per
cycle by area (our package, Twisted's logging, the rest of Twisted by
module) and, for our package, by function.

``cpu-clock`` is a software clock: it works on virtual machines without
hardware counters. Skipped (with the reason) when perf or a Python with
``-X perf`` is missing. Not part of ``python -m bench``.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench._common import ROOT, childEnv, serverProcess

KINDS = ("raw", "rcf", "ours")
#: Where Twisted's logging lives (its area of the table).
_LOGGING = ("twisted/logger", "twisted/python/log", "constantly")


def _area(frame: str) -> tuple[str, str]:
    """(area, function) of a ``py::qualname:path`` frame symbol."""
    name, _, path = frame[4:].partition(":")
    if "reconnect_twisted" in path:
        return "ours", name
    if any(part in path for part in _LOGGING):
        return "logging", name
    if "twisted/" in path:
        return "twisted " + path.split("twisted/")[-1], name
    if "/bench/" in path:
        return "bench", name
    return Path(path).name or "?", name


@dataclass
class Profile:
    """Microseconds per cycle: in all, by area, by function of ours."""

    cycles: int
    total: float
    areas: dict[str, float]
    ours: dict[str, float]


def aggregate(script: str, cycles: int) -> Profile:
    """The :class:`Profile` of ``perf script`` output (1 kHz samples)."""
    areas: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    samples = 0
    for block in script.split("\n\n"):
        lines = [line.split(None, 1) for line in block.strip().splitlines()]
        if not lines:
            continue
        samples += 1
        frames = [parts[1] for parts in lines if len(parts) > 1]
        python = [f for f in frames if f.startswith("py::")]
        if not python:
            areas["(no Python frame)"] += 1
            continue
        area, name = _area(python[0])
        areas[area] += 1
        if area == "ours":
            ours[name] += 1
    scale = 1000.0 / cycles  # 1 sample = 1 ms at 1 kHz
    return Profile(
        cycles,
        samples * scale,
        {k: v * scale for k, v in areas.most_common()},
        {k: v * scale for k, v in ours.most_common()},
    )


def sample(python: str, kind: str, port: int, seconds: float) -> Profile:
    """One perf-sampled ``bench.cycles`` run of ``kind``."""
    with tempfile.TemporaryDirectory() as tmp:
        data = str(Path(tmp) / "perf.data")
        done = subprocess.run(
            ["perf", "record", "-q", "-F", "1000", "-e", "cpu-clock",
             "--call-graph", "dwarf,16384", "-o", data, python, "-X", "perf",
             "-m", "bench.cycles", kind, "--conc", "8", "--port", str(port),
             "--duration", str(seconds), "--warmup", "0.3"],
            cwd=ROOT, env=childEnv(), capture_output=True, text=True, timeout=300,
            check=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        script = subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym"],
                                capture_output=True, text=True, check=True).stdout
    # (The warm-up's cycles are not counted but sampled: a few % high.)
    return aggregate(script, int(result["cycles"]))


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.perfsamples``: print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=shutil.which("python3.12") or "python3")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    if shutil.which("perf") is None:
        print("skipped: perf is not installed (apt-get install linux-perf)")
        return
    probe = subprocess.run([args.python, "-X", "perf", "-c",
                            "import sys, twisted; assert sys.version_info >= (3, 12)"],
                           cwd=ROOT, env=childEnv(), capture_output=True)
    if probe.returncode != 0:
        print(f"skipped: {args.python} is not Python >= 3.12 with Twisted (-X perf)")
        return
    with serverProcess("close") as port:
        results = {k: sample(args.python, k, port, args.seconds) for k in KINDS}
    print("Microseconds per 8-connection loopback cycle, by innermost Python frame")
    print("  ".join(f"{kind} {r.total:.1f}" for kind, r in results.items()))
    areas = sorted({a for r in results.values() for a in r.areas},
                   key=lambda a: -max(r.areas.get(a, 0.0) for r in results.values()))
    print(f"{'area':44}" + "".join(f"{kind:>9}" for kind in KINDS))
    for area in areas[: args.top]:
        print(f"{area[:44]:44}" + "".join(
            f"{results[kind].areas.get(area, 0.0):9.2f}" for kind in KINDS))
    print("ours, by function:")
    for name, value in list(results["ours"].ours.items())[: args.top]:
        print(f"  {value:6.2f}  {name}")

if __name__ == "__main__":
    main()
