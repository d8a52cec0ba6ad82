"""
What docs/reliability.rst ("Clock jumps") says about Twisted's clocks, checked
against the installed Twisted, each in a fresh interpreter (a reactor is
installed once per process):

* every stock reactor's ``seconds()``, the asyncio reactor's included, is the
  wall clock (``time.time``), not the asyncio loop's monotonic ``time()``;
* the documented remedy, a reactor subclass whose ``seconds`` is
  ``time.monotonic``, times its calls with the monotonic clock.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

DOCS = Path(__file__).resolve().parent.parent / "docs"


def runPython(*parts: str) -> list[str]:
    """
    Run the code ``parts`` (each dedented) in a fresh interpreter; return its
    output, split into words.
    """
    code = "\n".join(textwrap.dedent(part) for part in parts)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(result.stderr)
    return result.stdout.split()


class StockReactorTests(SynchronousTestCase):
    def test_asyncioReactorSecondsIsWallClock(self) -> None:
        """
        When the asyncio reactor is installed, its seconds() is time.time
        (inherited from ReactorBase), not its event loop's monotonic time().
        """
        out = runPython(
            """
            import time
            from twisted.internet import asyncioreactor
            asyncioreactor.install()
            from twisted.internet import reactor
            from twisted.internet.base import ReactorBase
            from twisted.python import runtime
            loop = reactor._asyncioEventloop
            print(type(reactor).seconds is ReactorBase.seconds)
            print(ReactorBase.seconds is runtime.seconds is time.time)
            print(abs(reactor.seconds() - time.time()) < 5)
            print(abs(reactor.seconds() - loop.time()) > 1e6)
            print(loop.time() - time.monotonic() < 5)
            """
        )
        self.assertEqual(out, ["True", "True", "True", "True", "True"])

    def test_defaultReactorSecondsIsWallClock(self) -> None:
        """When the default reactor is used, its seconds() is time.time too."""
        out = runPython(
            """
            import time
            from twisted.internet import reactor
            print(type(reactor).seconds is time.time)
            """
        )
        self.assertEqual(out, ["True"])


def recipe() -> str:
    """The monotonic reactor recipe's code, from docs/reliability.rst."""
    text = (DOCS / "reliability.rst").read_text("utf-8")
    block = text.split(".. monotonic-reactor-start")[1]
    block = block.split(".. monotonic-reactor-end")[0]
    lines = [line for line in block.splitlines() if "code-block::" not in line]
    return textwrap.dedent("\n".join(lines))


class MonotonicReactorRecipeTests(SynchronousTestCase):
    #: The recipe of docs/reliability.rst, as it is printed there.
    RECIPE = recipe()

    def test_recipeFound(self) -> None:
        """When the docs are read, the recipe installs the subclass."""
        self.assertIn("class MonotonicAsyncioReactor(", self.RECIPE)
        self.assertIn("seconds = staticmethod(time.monotonic)", self.RECIPE)
        self.assertIn("installReactor(MonotonicAsyncioReactor())", self.RECIPE)

    def test_secondsIsMonotonic(self) -> None:
        """When the recipe is installed, seconds() is the loop's monotonic time."""
        out = runPython(
            self.RECIPE,
            """
            loop = reactor._asyncioEventloop
            print(reactor.seconds is time.monotonic)
            print(abs(reactor.seconds() - loop.time()) < 1)
            """,
        )
        self.assertEqual(out, ["True", "True"])

    def test_callsTimedMonotonically(self) -> None:
        """
        When the recipe is installed, a delayed call is due at monotonic time
        + delay and fires (after about its delay) when the reactor runs.
        """
        out = runPython(
            self.RECIPE,
            """
            start = time.monotonic()
            fired = []
            call = reactor.callLater(0.2, lambda: fired.append(time.monotonic()))
            print(abs(call.getTime() - (start + 0.2)) < 0.05)
            reactor.callLater(0.5, reactor.stop)
            reactor.run()
            print(len(fired) == 1 and 0.15 < fired[0] - start < 5)
            """,
        )
        self.assertEqual(out, ["True", "True"])

    def test_factoryUsesIt(self) -> None:
        """
        When the recipe is installed, a factory given no clock times its states
        with it: status.since is monotonic, not seconds since the epoch.
        """
        out = runPython(
            self.RECIPE,
            """
            from reconnect_twisted import ReconnectingFactory
            from twisted.internet.protocol import Protocol
            factory = ReconnectingFactory(alertAfter=None)
            factory.protocol = Protocol
            reactor.connectTCP("127.0.0.1", 9, factory)  # not run: CONNECTING
            print(factory.status.state.name)
            print(abs(factory.status.since - time.monotonic()) < 5)
            print(abs(factory.status.since - time.time()) > 1e6)
            """,
        )
        self.assertEqual(out, ["CONNECTING", "True", "True"])
