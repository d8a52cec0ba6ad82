"""
``python -m bench``: run every benchmark, print a table with PASS/FAIL per
target, write the results as JSON and a plot.

Sizes: the default is the full run (a few minutes); ``--quick`` is the
CI-sized run (under 3 minutes); ``--tiny`` is for the smoke test only
(seconds; its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._common import (
    KINDS,
    LABELS,
    ROOT,
    finishChild,
    median,
    runChild,
    serverProcess,
    silenceLogs,
    startChild,
)

DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark runs."""

    name: str
    cycleSeconds: float
    cycleWarmup: float
    repeats: int
    memorySizes: tuple[int, ...]
    memoryIdle: float
    cpuRetries: int
    herdClients: int
    herdRate: int
    herdHorizon: float


FULL = Sizes("full", 2.0, 0.5, 3, (1000, 5000, 10000), 5.5, 20000, 10000, 500, 3600.0)
QUICK = Sizes("quick", 1.0, 0.3, 3, (1000,), 5.5, 5000, 2000, 100, 3600.0)
TINY = Sizes("tiny", 0.2, 0.1, 1, (50,), 0.2, 300, 200, 10, 600.0)


# -- running ------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def runCycles(sizes: Sizes, handshake: bool) -> dict[str, Any]:
    """Benchmarks 1 (``handshake=False``) and 2: cycles/s, median of N."""
    samples: dict[str, dict[str, list[float]]] = {
        str(conc): {kind: [] for kind in KINDS} for conc in (1, 8)
    }
    failed: dict[str, int] = {kind: 0 for kind in KINDS}
    with serverProcess("handshake" if handshake else "close") as port:
        for _ in range(sizes.repeats):  # repetitions outermost: drift hits all
            for concurrency in (1, 8):
                for kind in KINDS:
                    args = [kind, "--conc", str(concurrency), "--port", str(port),
                            "--duration", str(sizes.cycleSeconds),
                            "--warmup", str(sizes.cycleWarmup)]
                    if handshake:
                        args.append("--handshake")
                    result = runChild("bench.cycles", args, 60 + sizes.cycleSeconds)
                    samples[str(concurrency)][kind].append(result["rate"])
                    failed[kind] += result["failed"]
    out: dict[str, Any] = {"failedAttempts": failed}
    for conc, byKind in samples.items():
        out[conc] = {kind: {"rate": median(values), "samples": values}
                     for kind, values in byKind.items()}
    return out


def runMemory(sizes: Sizes) -> dict[str, Any]:
    """Benchmark 3: bytes per idle managed connection."""
    out: dict[str, Any] = {}
    for n in sizes.memorySizes:
        row: dict[str, Any] = {}
        with ExitStack() as stack:  # every child has its own server
            children = []
            for kind in KINDS:
                for traced in (False, True):
                    port = stack.enter_context(serverProcess("hold"))
                    args = [kind, "--n", str(n), "--port", str(port),
                            "--idle", str(sizes.memoryIdle)]
                    if traced:
                        args.append("--tracemalloc")
                    children.append((kind, startChild("bench.memory", args)))
            for kind, child in children:
                result = finishChild(child, 300)
                entry = row.setdefault(kind, {})
                if result["tracemalloc"]:
                    entry["tracedPerConn"] = result["tracedPerConn"]
                else:
                    entry["rssPerConn"] = result["rssPerConn"]
                    entry["connectSeconds"] = result["connectSeconds"]
        out[str(n)] = row
    return out


def runAll(sizes: Sizes) -> dict[str, Any]:
    """Every benchmark; the results as one JSON-able dict."""
    from bench import cpu, herd, netup

    results: dict[str, Any] = {
        "meta": {
            "size": sizes.name,
            "python": sys.version.split()[0],
            "twisted": __import__("twisted").__version__,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
    }
    timings: dict[str, float] = {}

    def timed(name: str, function: Any, *args: Any) -> Any:
        log(f"bench: {name}...")
        started = time.perf_counter()
        value = function(*args)
        timings[name] = round(time.perf_counter() - started, 1)
        return value

    results["cycles"] = timed("cycles", runCycles, sizes, False)
    results["handshake"] = timed("handshake", runCycles, sizes, True)
    results["memory"] = timed("memory", runMemory, sizes)
    silenceLogs()
    results["cpu"] = timed("cpu", cpu.run, sizes.cpuRetries)
    results["herd"] = timed(
        "herd", herd.run, sizes.herdClients, sizes.herdRate, 1, sizes.herdHorizon
    )
    results["netup"] = timed("netup", netup.run, sizes.name == "tiny")
    results["meta"]["seconds"] = timings
    results["targets"] = evaluate(results)
    return results


# -- targets ------------------------------------------------------------------


def target(name: str, value: float | None, limit: float, higherIsBetter: bool,
           detail: str) -> dict[str, Any]:
    """One PASS/FAIL row: ``value`` (a ratio) against ``limit``."""
    if value is None:
        return {"name": name, "value": None, "limit": limit, "status": "SKIP",
                "detail": detail, "miss": None, "higherIsBetter": higherIsBetter}
    ok = value >= limit if higherIsBetter else value <= limit
    # How far from the limit, as a fraction of it (short by / over by).
    miss = None if ok else abs(value / limit - 1)
    return {"name": name, "value": value, "limit": limit,
            "status": "PASS" if ok else "FAIL", "detail": detail, "miss": miss,
            "higherIsBetter": higherIsBetter}


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets of issue 9, from the measurements."""
    targets = []
    for section, label in (("cycles", "cycle rate"),
                           ("handshake", "cycle rate with handshake")):
        for conc in ("1", "8"):
            rates = {kind: results[section][conc][kind]["rate"] for kind in KINDS}
            ours = rates["ours"]
            if section == "cycles":
                targets.append(target(
                    f"{label}, {conc} conn: ours >= 0.8 x raw",
                    ours / rates["raw"], 0.8, True,
                    f"ours {ours:.0f}/s, raw {rates['raw']:.0f}/s"))
                best = max(rates["rcf"], rates["cs"])
                targets.append(target(
                    f"{label}, {conc} conn: ours >= 1.0 x best(RCF, CS)",
                    ours / best, 1.0, True,
                    f"ours {ours:.0f}/s, RCF {rates['rcf']:.0f}/s, "
                    f"CS {rates['cs']:.0f}/s"))
            else:
                targets.append(target(
                    f"{label}, {conc} conn: ours >= 1.0 x ClientService",
                    ours / rates["cs"], 1.0, True,
                    f"ours {ours:.0f}/s, CS {rates['cs']:.0f}/s"))
    memory = results["memory"]
    n = max(memory, key=int)
    for metric, label in (("rssPerConn", "RSS"), ("tracedPerConn", "tracemalloc")):
        ours, rcf = memory[n]["ours"][metric], memory[n]["rcf"][metric]
        targets.append(target(
            f"memory/conn at {int(n):,} ({label}): ours <= 1.25 x RCF",
            ours / rcf if rcf > 0 else None, 1.25, False,
            f"ours {ours:.0f} B, RCF {rcf:.0f} B"))
    herd = results["herd"]
    byName = {s["name"]: s for s in herd["scenarios"]}
    rcf = byName["RCF defaults"]
    preset = next(s for s in herd["scenarios"] if s["preset"])

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or b == 0 else a / b

    name = preset["name"]
    targets.append(target(
        f"herd {name}: t99 <= 1.6 x ideal", ratio(preset["t99"], herd["ideal"]),
        1.6, False, f"t99 {fmtSeconds(preset['t99'])}, ideal {herd['ideal']:g} s"))
    targets.append(target(
        f"herd {name}: t99 <= 0.8 x RCF", ratio(preset["t99"], rcf["t99"]), 0.8,
        False, f"t99 {fmtSeconds(preset['t99'])}, RCF {fmtSeconds(rcf['t99'])}"))
    targets.append(target(
        f"herd {name}: attempts <= 1.0 x RCF",
        ratio(preset["attempts"], rcf["attempts"]), 1.0, False,
        f"{preset['attempts']} vs RCF {rcf['attempts']}"))
    targets.append(target(
        f"herd {name}: peak attempts/s <= 1.25 x RCF",
        ratio(preset["peakPerSecond"], rcf["peakPerSecond"]), 1.25, False,
        f"{preset['peakPerSecond']}/s vs RCF {rcf['peakPerSecond']}/s"))
    netup = results["netup"]
    limit = 0.3 + netup["networkUpJitter"]
    targets.append(target(
        f"network up -> connected <= {limit:g} s (0.3 s + networkUpJitter)",
        netup["latency"], limit, False,
        netup["reason"] if netup["skipped"] else f"{netup['latency']:.3f} s"))
    return targets


# -- reporting ----------------------------------------------------------------


def fmtSeconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def table(rows: list[list[str]], header: list[str],
          left: tuple[int, ...] = (0,)) -> list[str]:
    """Aligned text columns; the ``left`` ones left-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(header), line(["-" * w for w in widths]), *map(line, rows)]


def render(results: dict[str, Any]) -> str:
    """The human-readable report."""
    meta = results["meta"]
    out = [
        f"reconnect_twisted benchmarks ({meta['size']} run, {meta['started']})",
        f"Python {meta['python']}, Twisted {meta['twisted']}, "
        f"{meta['platform']}, {meta['cpus']} CPUs",
        "",
    ]
    for section, title in (
        ("cycles", "1. Reconnect cycles/s (server accepts and closes at once)"),
        ("handshake", "2. Cycles/s with a one-round-trip business handshake"),
    ):
        out.append(title + ", median of samples")
        rows = []
        for conc in ("1", "8"):
            r = {kind: results[section][conc][kind]["rate"] for kind in KINDS}
            best = max(r["rcf"], r["cs"])
            rows.append([f"{conc} conn", *(f"{r[k]:.0f}" for k in KINDS),
                         f"{r['ours'] / r['raw']:.2f}", f"{r['ours'] / best:.2f}",
                         f"{r['ours'] / r['cs']:.2f}"])
        out += table(rows, ["", "raw", "RCF", "CS", "ours", "ours/raw",
                            "ours/best(RCF,CS)", "ours/CS"])
        out.append("")
    out.append("3. Memory per idle managed connection, bytes "
               "(RSS delta / tracemalloc)")
    rows = []
    for n, row in sorted(results["memory"].items(), key=lambda kv: int(kv[0])):
        cells = [f"{int(n):,}"]
        for kind in KINDS:
            cells.append(f"{row[kind]['rssPerConn']:.0f} / "
                         f"{row[kind]['tracedPerConn']:.0f}")
        rss = row["ours"]["rssPerConn"] / row["rcf"]["rssPerConn"]
        traced = row["ours"]["tracedPerConn"] / row["rcf"]["tracedPerConn"]
        cells.append(f"{rss:.2f} / {traced:.2f}")
        rows.append(cells)
    out += table(rows, ["conns", *(LABELS[k].split()[0] if k != "raw" else "raw"
                                   for k in KINDS), "ours/RCF"])
    out.append("")
    cpu = results["cpu"]
    out.append(f"4. CPU per scheduled retry (Clock, no sockets, "
               f"{cpu['retries']} retries, median of 3)")
    rows = [[LABELS[k], f"{cpu[k]['usPerRetry']:.1f} us",
             f"{cpu['ours']['usPerRetry'] / cpu[k]['usPerRetry']:.2f}"]
            for k in ("rcf", "cs", "ours")]
    out += table(rows, ["", "per retry", "ours/this"])
    out.append("")
    herd = results["herd"]
    out.append(f"5. Herd: {herd['clients']:,} clients dropped at t=0, server "
               f"accepts {herd['rate']}/s (ideal {herd['ideal']:g} s); simulated")
    rcf = next(s for s in herd["scenarios"] if s["name"] == "RCF defaults")
    rows = []
    for s in herd["scenarios"]:
        t99 = s["t99"]
        rows.append([
            s["name"] + (" *" if s["preset"] else ""),
            fmtSeconds(t99), fmtSeconds(s["t100"]), str(s["attempts"]),
            str(s["peakPerSecond"]),
            "-" if t99 is None else f"{t99 / herd['ideal']:.2f}",
            "-" if t99 is None or not rcf["t99"] else f"{t99 / rcf['t99']:.2f}",
        ])
    out += table(rows, ["scenario", "99 %", "100 %", "attempts", "peak/s",
                        "t99/ideal", "t99/RCF"])
    out.append("  * the default client preset (carries the targets)")
    out.append("")
    netup = results["netup"]
    rcfLatency = netup.get("rcfLatency")
    out.append("6. Network up -> business connected (netns, rtnetlink): "
               + (netup["reason"] if netup["skipped"]
                  else f"ours {netup['latency']:.3f} s, RCF (same backoff) "
                  + ("-" if rcfLatency is None else f"{rcfLatency:.2f} s")))
    out.append("")
    out.append("Targets")
    rows = []
    for t in results["targets"]:
        value = "-" if t["value"] is None else f"{t['value']:.2f}"
        miss = ""
        if t["miss"] is not None:
            word = "short by" if t["higherIsBetter"] else "over by"
            miss = f"{word} {t['miss'] * 100:.0f} %"
        rows.append([t["status"], t["name"], value, miss, t["detail"]])
    out += table(rows, ["", "target", "ratio", "", "measured"], left=(0, 1, 3, 4))
    out.append("")
    out.append("Seconds per benchmark: " + ", ".join(
        f"{k} {v}" for k, v in meta["seconds"].items()))
    return "\n".join(out)


def plot(results: dict[str, Any], path: Path) -> bool:
    """The herd curves and the cycle rates, as a PNG (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("bench: matplotlib not installed (pip install .[bench]); no plot")
        return False
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    herd = results["herd"]
    for s in herd["scenarios"]:
        xs = [point[0] for point in s["curve"]]
        ys = [100 * point[1] for point in s["curve"]]
        style = "-" if s["kind"] != "ours" else ("--" if s["networkUp"] else "-")
        left.plot(xs, ys, style, label=s["name"], linewidth=2 if s["preset"] else 1)
    left.axvline(herd["ideal"], color="grey", linestyle=":", label="ideal")
    left.set_xlim(0, min(150.0, max(herd["ideal"] * 7, 10)))
    left.set_xlabel("simulated seconds after the drop")
    left.set_ylabel("% of clients reconnected")
    left.set_title(f"Herd: {herd['clients']:,} clients, server accepts "
                   f"{herd['rate']}/s")
    left.legend(fontsize=7, loc="lower right")
    width = 0.2
    for i, kind in enumerate(KINDS):
        values = [results[section][conc][kind]["rate"]
                  for section in ("cycles", "handshake") for conc in ("1", "8")]
        positions = [x + (i - 1.5) * width for x in range(4)]
        right.bar(positions, values, width, label=LABELS[kind])
    right.set_xticks(range(4), ["close, 1", "close, 8", "handshake, 1",
                                "handshake, 8"])
    right.set_ylabel("completed cycles per second")
    right.set_title("Reconnect cycles on loopback (higher is better)")
    right.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="CI-sized run (under 3 minutes)")
    size.add_argument("--tiny", action="store_true",
                      help="smoke-test size (seconds; the numbers mean nothing)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON,
                        help=f"where to write the results (default {DEFAULT_JSON})")
    parser.add_argument("--plot", type=Path, default=None,
                        help="PNG to write (default: next to the JSON; "
                             "docs use docs/_static/performance.png)")
    parser.add_argument("--no-plot", action="store_true", help="write no plot")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 if a target fails")
    args = parser.parse_args(argv)
    sizes = TINY if args.tiny else QUICK if args.quick else FULL
    started = time.perf_counter()
    results = runAll(sizes)
    results["meta"]["totalSeconds"] = round(time.perf_counter() - started, 1)
    report = render(results)
    print(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    args.json.with_suffix(".txt").write_text(report + "\n")
    log(f"bench: results in {args.json} ({results['meta']['totalSeconds']} s)")
    if not args.no_plot:
        path = args.plot or args.json.with_suffix(".png")
        if plot(results, path):
            log(f"bench: plot in {path}")
    failed = [t for t in results["targets"] if t["status"] == "FAIL"]
    return 1 if args.strict and failed else 0
