"""
reconnect_twisted.twistd.ReconnectOptions: the reusable twistd options, and
the demo plugin's usage errors (never a traceback).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import (
    DecorrelatedBackoff,
    ExponentialBackoff,
    FixedBackoff,
    ReconnectingFactory,
)
from reconnect_twisted._twistd import Options as DemoOptions
from reconnect_twisted.twistd import (
    ReconnectOptions,
    checkClientEndpoint,
    checkServerEndpoint,
)

from .test_twistd import TWISTD, subprocessEnv


class MyOptions(ReconnectOptions):
    """A user's plugin options: their own option plus the standard ones."""

    optParameters = [["connect", "c", None, "Client endpoint."]]

    def postOptions(self) -> None:
        super().postOptions()
        self["connect"] = checkClientEndpoint(self["connect"])


def parse(argv: list[str], options: Any = None) -> Any:
    options = MyOptions() if options is None else options
    options.parseOptions(argv)
    return options


class ReconnectOptionsTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        """When no reconnect option is given, the library's defaults are built."""
        options = parse(["--connect", "tcp:127.0.0.1:1"])
        config = options.factoryConfiguration()
        monitor = config.pop("networkMonitor")
        self.assertIsNotNone(monitor)
        backoff = config.pop("backoff")
        self.assertIsInstance(backoff, ExponentialBackoff)
        self.assertEqual(
            config,
            {"connectTimeout": 30.0, "handshakeTimeout": 30.0, "alertAfter": 60.0},
        )
        self.assertIsNone(options["status-port"])

    def test_everyOption(self) -> None:
        """When every option is given, the factory is configured with them."""
        options = parse(
            [
                "--connect=tcp:127.0.0.1:1",
                "--backoff=exponential",
                "--initial-delay=1.5",
                "--max-delay=20",
                "--jitter=0",
                "--connect-timeout=5",
                "--handshake-timeout=7",
                "--alert-after=never",
                "--no-network-monitor",
            ]
        )
        config = options.factoryConfiguration()
        delays = config["backoff"].delays()
        self.assertEqual([next(delays) for _ in range(6)], [1.5, 3, 6, 12, 20, 20])
        factory = ReconnectingFactory(**config)
        self.assertEqual(factory.connectTimeout, 5.0)
        self.assertEqual(factory.handshakeTimeout, 7.0)
        self.assertIsNone(factory.alertAfter)
        self.assertIsNone(config["networkMonitor"])
        other = ReconnectingFactory()
        other.configure(**config)
        self.assertEqual(other.connectTimeout, 5.0)

    def test_backoffKinds(self) -> None:
        """When --backoff is fixed or decorrelated, that schedule is built."""
        fixed = parse(["-c", "tcp:h:1", "--backoff", "fixed", "--interval", "4"])
        self.assertIsInstance(fixed.backoff(), FixedBackoff)
        self.assertEqual(next(fixed.backoff().delays()), 4.0)
        decorrelated = parse(["-c", "tcp:h:1", "--backoff", "decorrelated"])
        self.assertIsInstance(decorrelated.backoff(), DecorrelatedBackoff)

    def test_usageErrors(self) -> None:
        """When a value is wrong, a UsageError names the option."""
        for argv, word in [
            (["--backoff", "x"], "--backoff"),
            (["--jitter", "2"], "--jitter"),
            (["--jitter", "nan"], "--jitter"),
            (["--jitter", "abc"], "--jitter"),
            (["--initial-delay", "-1"], "--initial-delay"),
            (["--initial-delay", "0"], "--initial-delay"),
            (["--max-delay", "1"], "--max-delay"),
            (["--connect-timeout", "inf"], "--connect-timeout"),
            (["--alert-after", "soon"], "--alert-after"),
            (["--status-port", "99999"], "--status-port"),
            (["--status-port", "bogus:1"], "--status-port"),
            (["--status-token-file", "/nope"], "--status-token-file"),
            (["--status-port", "0", "--status-token-file", "/nope"], "/nope"),
        ]:
            with self.assertRaises(usage.UsageError, msg=argv) as e:
                parse(["--connect", "tcp:127.0.0.1:1", *argv])
            self.assertIn(word, str(e.exception))

    def test_badEndpoint(self) -> None:
        """When --connect is not an endpoint description, it is a usage error."""
        for argv in (["--connect", "bogus:xx"], ["--connect", "tcp:"], []):
            with self.assertRaises(usage.UsageError) as e:
                parse(argv, DemoOptions())
            self.assertIn("--connect", str(e.exception))

    def test_statusPort(self) -> None:
        """When --status-port is a bare port, it listens on 127.0.0.1 only."""
        self.assertEqual(checkServerEndpoint("8080"), "tcp:8080:interface=127.0.0.1")
        self.assertEqual(
            checkServerEndpoint("tcp:8080:interface=0.0.0.0"),
            "tcp:8080:interface=0.0.0.0",
        )

    def test_tokenFile(self) -> None:
        """When --status-token-file holds a token, it is read; short: refused."""
        import tempfile

        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        path = Path(folder.name) / "token"
        path.write_text("s3cret-token-0123456789\n")
        options = parse(
            ["-c", "tcp:h:1", "--status-port", "0", "--status-token-file", str(path)]
        )
        self.assertEqual(options["status-token"], "s3cret-token-0123456789")
        path.write_text("short\n")
        with self.assertRaises(usage.UsageError):
            parse(
                [
                    "-c",
                    "tcp:h:1",
                    "--status-port",
                    "0",
                    "--status-token-file",
                    str(path),
                ]
            )

    def test_statusService(self) -> None:
        """When --status-port is given, statusService() builds the page's service."""
        options = parse(["-c", "tcp:h:1", "--status-port", "0"])
        factory = ReconnectingFactory()
        service = options.statusService({"feed": factory})
        self.assertIsNotNone(service)
        resource = service.resource  # type: ignore[union-attr]
        self.assertEqual(
            [item["name"] for item in resource.snapshot()["factories"]], ["feed"]
        )
        self.assertIsNone(parse(["-c", "tcp:h:1"]).statusService([factory]))

    def test_statusServiceUsesTheGivenReactor(self) -> None:
        """
        When statusService() is given a reactor, the page's clock is that
        reactor ("now" in the JSON is its time), not the global reactor.
        """
        from twisted.internet.testing import MemoryReactorClock

        from reconnect_twisted.web import statusService

        reactor = MemoryReactorClock()
        reactor.advance(42.0)
        service = statusService("tcp:0:interface=127.0.0.1", [ReconnectingFactory()],
                                reactor=reactor)
        self.assertEqual(service.resource.snapshot()["now"], 42.0)


class TwistdUsageErrorTests(SynchronousTestCase):
    def test_bogusEndpointNoTraceback(self) -> None:
        """When twistd gets --connect bogus:xx, it prints a usage error."""
        out = subprocess.run(
            [str(TWISTD), "-n", "reconnect-demo", "--connect", "bogus:xx"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
            env=subprocessEnv(),
        )
        self.assertNotEqual(out.returncode, 0)
        text = out.stdout + out.stderr
        self.assertIn("--connect", text)
        self.assertIn("bogus", text)
        self.assertNotIn("Traceback", text)

    def test_helpListsStatusOptions(self) -> None:
        """When run with --help, the status page options are listed."""
        out = subprocess.run(
            [str(TWISTD), "-n", "reconnect-demo", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
            env=subprocessEnv(),
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        for option in ("--status-port", "--status-token-file", "--alert-after"):
            self.assertIn(option, out.stdout)


class DocsExampleTests(SynchronousTestCase):
    def test_pluginExample(self) -> None:
        """When the docs' options example is parsed and built, it has both services."""
        import importlib.util

        from reconnect_twisted import ReconnectingService

        path = (
            Path(__file__).parent.parent / "docs" / "examples" / "myclient_options.py"
        )
        spec = importlib.util.spec_from_file_location("myclient_options", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with self.assertRaises(usage.UsageError):
            module.Options().parseOptions(["--connect", "bogus:xx"])
        options = module.Options()
        options.parseOptions(
            [
                "--connect=tcp:127.0.0.1:7000",
                "--backoff=fixed",
                "--interval=3",
                "--status-port=0",
                "--no-network-monitor",
            ]
        )
        top = module.makeService(options)
        services = list(top)
        self.assertIsInstance(services[0], ReconnectingService)
        self.assertIsInstance(services[0].factory.backoff, FixedBackoff)
        self.assertEqual(
            services[1].resource.snapshot()["factories"][0]["name"], "feed"
        )
        self.assertEqual(len(services), 2)
