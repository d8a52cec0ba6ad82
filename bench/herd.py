"""
Benchmark 5: a thundering herd, simulated with a
:class:`~twisted.internet.task.Clock` driving the real client classes.

The simulator is the package's (:mod:`reconnect_twisted._simulate`, also
behind ``python -m reconnect_twisted simulate``); this module holds the
benchmark's contestants, repeats them over seeds and compares them with
RCF. ``HeapClock`` and the simulated transports are re-exported from here.

``clients`` connected clients lose their connections at ``t = 0``; the
server accepts at most ``rate`` connections per simulated second (a token
bucket refilled at every whole second; attempts beyond it are refused at
once). Connection attempts complete instantly. We report the time until
99 % and 100 % have reconnected (business-connected), the total attempts
after the drop, and the peak attempts in one simulated second.

The clock is :class:`HeapClock`, a ``Clock`` subclass with a heap of
calls: the stock ``Clock`` re-sorts its whole list on every ``callLater``
and every fired call (O(n log n) each; with 10,000 clients that is hours).
Run order, ties included, is the same as ``Clock``'s. Time advances in
``STEP`` (0.05 s) steps, skipping straight over idle stretches.

A run is deterministic for a seed (every RNG is seeded), so :func:`run`
repeats it over several seeds and reports medians: one seed can be
unlucky (the network-up scenario's t99 moved from 27.5 s to 33.6 s between
seeds at 2,000 clients).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconnect_twisted import _simulate
from reconnect_twisted._simulate import (
    SETTLE,
    STEP,
    Configuration,
    HeapClock,
    Result,
    SimConnector,
    SimEndpoint,
    SimServer,
    SimTransport,
)

__all__ = [
    "METRICS",
    "SCENARIOS",
    "SETTLE",
    "STEP",
    "HeapClock",
    "Result",
    "Scenario",
    "Server",
    "SimConnector",
    "SimEndpoint",
    "SimTransport",
    "run",
    "runOne",
    "simulate",
]

#: The simulated server (the package's :class:`SimServer`).
Server = SimServer


@dataclass
class Scenario:
    """One herd contestant."""

    name: str
    kind: str  # rcf, cs, ours
    backoff: str = ""  # ours: fixed3, exp, decorr
    networkUp: bool = False
    preset: bool = False  # the default client preset: carries the targets


SCENARIOS = [
    Scenario("RCF defaults", "rcf"),
    Scenario("ClientService defaults", "cs"),
    Scenario("ours FixedBackoff(3)", "ours", "fixed3"),
    Scenario("ours ExponentialBackoff()", "ours", "exp", preset=True),
    Scenario("ours DecorrelatedBackoff(1,60)", "ours", "decorr"),
    Scenario("ours FixedBackoff(3) + network up", "ours", "fixed3", networkUp=True),
    Scenario("ours ExponentialBackoff() + network up", "ours", "exp", networkUp=True),
    Scenario("ours DecorrelatedBackoff(1,60) + network up", "ours", "decorr",
             networkUp=True),
]


def _backoff(name: str) -> Callable[[random.Random], Any]:
    """The schedule of an "ours" scenario, built from the run's RNG."""
    from reconnect_twisted import DecorrelatedBackoff, ExponentialBackoff, FixedBackoff

    if name == "fixed3":
        return lambda rng: FixedBackoff(3.0, rng=rng)
    if name == "exp":
        return lambda rng: ExponentialBackoff(rng=rng)
    return lambda rng: DecorrelatedBackoff(1.0, 60.0, rng=rng)


def configuration(scenario: Scenario) -> Configuration:
    """The package simulator's configuration for ``scenario``."""
    return Configuration(
        name=scenario.name,
        kind=scenario.kind,
        backoff=_backoff(scenario.backoff) if scenario.kind == "ours" else None,
        networkMonitor=scenario.networkUp,
    )


def simulate(scenario: Scenario, clients: int, rate: int, seed: int,
             horizon: float) -> Result:
    """
    Run one scenario with the package's simulator
    (:func:`reconnect_twisted._simulate.simulate`); a network-up scenario
    takes the network down and up again at the drop.
    """
    return _simulate.simulate(
        configuration(scenario), clients, rate, seed, horizon,
        networkUpAt=0.0 if scenario.networkUp else None,
    )


def runOne(args: tuple[int, int, int, int, float]) -> dict[str, Any]:
    """Pool worker: ``(scenario index, clients, rate, seed, horizon)``."""
    from bench._common import silenceLogs

    silenceLogs()
    index, clients, rate, seed, horizon = args
    scenario = SCENARIOS[index]
    result = simulate(scenario, clients, rate, seed, horizon)
    out = dict(result.__dict__)
    out.update(kind=scenario.kind, preset=scenario.preset,
               networkUp=scenario.networkUp, backoff=scenario.backoff, seed=seed)
    return out


#: The per-scenario metrics aggregated over seeds (and compared with RCF's).
METRICS = ("t99", "t100", "attempts", "peakPerSecond")


def _median(values: list[float | None]) -> float | None:
    """The median, ``None`` ("never") counting as infinitely late."""
    import statistics

    value = statistics.median(math.inf if v is None else v for v in values)
    return None if math.isinf(value) else value


def run(clients: int, rate: int, seeds: int = 1, horizon: float = 3600.0,
        processes: int = 2) -> dict[str, Any]:
    """
    Every scenario with each of the seeds ``1 .. seeds`` (in ``processes``
    worker processes). Per scenario: the median over the seeds of each
    metric, ``perSeed`` (the raw values), ``vsRCF`` (the median of the
    same-seed ratios to RCF's metric) and the curve of seed 1.
    """
    import multiprocessing

    jobs = [(i, clients, rate, seed, horizon)
            for seed in range(1, seeds + 1) for i in range(len(SCENARIOS))]
    if processes > 1:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            flat = pool.map(runOne, jobs, chunksize=1)
    else:
        flat = [runOne(job) for job in jobs]
    bySeed: dict[int, dict[str, dict[str, Any]]] = {}
    for result in flat:
        bySeed.setdefault(result["seed"], {})[result["name"]] = result
    rcfName = SCENARIOS[0].name
    scenarios = []
    for scenario in SCENARIOS:
        runs = [bySeed[seed][scenario.name] for seed in sorted(bySeed)]
        out = dict(runs[0])
        out.pop("seed")
        out["wallSeconds"] = sum(r["wallSeconds"] for r in runs)
        out["reconnected"] = min(r["reconnected"] for r in runs)
        out["perSeed"] = {key: [r[key] for r in runs] for key in METRICS}
        vsRCF: dict[str, float | None] = {}
        for key in METRICS:
            value = _median([r[key] for r in runs])
            out[key] = value if key.startswith("t") or value is None else round(value)
            ratios = []
            for seed, r in zip(sorted(bySeed), runs, strict=True):
                ours, theirs = r[key], bySeed[seed][rcfName][key]
                ratios.append(None if ours is None or not theirs else ours / theirs)
            vsRCF[key] = _median(ratios)
        out["vsRCF"] = vsRCF
        scenarios.append(out)
    return {
        "clients": clients,
        "rate": rate,
        "ideal": clients / rate,
        "seeds": sorted(bySeed),
        "horizon": horizon,
        "step": STEP,
        "scenarios": scenarios,
    }
