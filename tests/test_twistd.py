"""
The twistd plugin: discovery, --help, and a real run against a local server
that is restarted, stopped with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.protocol import ProcessProtocol
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted._demo.server import LoginServer, LoginServerFactory
from reconnect_twisted._twistd import Options

ROOT = Path(__file__).resolve().parent.parent
TWISTD = Path(sys.executable).parent / "twistd"
SECRET = "pw-never-logged-42"


def subprocessEnv() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    return env


class DiscoveryTests(SynchronousTestCase):
    def test_pluginListed(self) -> None:
        """When plugins are listed from the installed package, reconnect-demo is."""
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)  # found through the install (.pth), not us
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "from twisted.plugin import getPlugins;"
                "from twisted.application.service import IServiceMaker;"
                "print([p.tapname for p in getPlugins(IServiceMaker)])",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
            env=env,
            check=True,
        )
        self.assertIn("'reconnect-demo'", out.stdout)

    def test_wheelShipsPlugin(self) -> None:
        """When a wheel is built (pip install .), it ships the plugin, not tests."""
        import tempfile
        import zipfile

        with tempfile.TemporaryDirectory() as out:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "wheel",
                    "--no-deps",
                    "-q",
                    "-w",
                    out,
                    str(ROOT),
                ],
                check=True,
                capture_output=True,
                timeout=300,
            )
            (wheel,) = Path(out).glob("*.whl")
            names = zipfile.ZipFile(wheel).namelist()
        self.assertIn("twisted/plugins/reconnect_twisted_plugin.py", names)
        self.assertIn("reconnect_twisted/py.typed", names)
        self.assertNotIn("twisted/__init__.py", names)
        self.assertNotIn("twisted/plugins/__init__.py", names)
        self.assertFalse([n for n in names if n.startswith(("tests/", "bench/"))])

    def test_help(self) -> None:
        """When run with --help, every option is documented."""
        out = subprocess.run(
            [str(TWISTD), "-n", "reconnect-demo", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
            env=subprocessEnv(),
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        for option in [
            "--connect",
            "--credentials",
            "--backoff",
            "--interval",
            "--initial-delay",
            "--max-delay",
            "--jitter",
            "--no-network-monitor",
            "--room",
            "--handshake-timeout",
        ]:
            self.assertIn(option, out.stdout)

    def test_optionsValidated(self) -> None:
        """When options are wrong, a UsageError names them."""
        from twisted.python.usage import UsageError

        for argv, word in [
            ([], "--connect"),
            (["--connect", "tcp:1:2", "--backoff", "x"], "--backoff"),
            (["--connect", "tcp:1:2", "--jitter", "2"], "--jitter"),
            (["--connect", "tcp:1:2", "--credentials", "/nope"], "--credentials"),
            (["--connect", "tcp:1:2", "--initial-delay", "0"], "--initial-delay"),
            (
                ["--connect=tcp:1:2", "--backoff=decorrelated", "--initial-delay=0"],
                "--initial-delay",
            ),
            (["--connect", "tcp:1:2", "--max-delay", "1"], "--max-delay"),
        ]:
            with self.assertRaises(UsageError) as e:
                Options().parseOptions(argv)
            self.assertIn(word, str(e.exception))

    def test_badCredentialsFiles(self) -> None:
        """
        When the --credentials file is not UTF-8, or holds more than one
        line (the rest would be sent inside the LOGIN line), a UsageError
        names the option; the password is in no message.
        """
        import tempfile

        from twisted.python.usage import UsageError

        for content, message in [
            ("alice:p\xe4ss".encode("latin-1"), "--credentials: the file is not UTF-8"),
            (b"alice:pw\nQUIT\n", "--credentials: expected one line user:password"),
            (b"alice:pw\r\nQUIT", "--credentials: expected one line user:password"),
        ]:
            with tempfile.NamedTemporaryFile(suffix=".cred") as f:
                f.write(content)
                f.flush()
                with self.assertRaises(UsageError) as e:
                    Options().parseOptions(
                        ["--connect", "tcp:1:2", "--credentials", f.name]
                    )
                self.assertEqual(str(e.exception), message)

    def test_fixedZeroInterval(self) -> None:
        """When the backoff is fixed, --initial-delay 0 is not an error."""
        options = Options()
        options.parseOptions(
            ["--connect", "tcp:1:2", "--backoff", "fixed", "--initial-delay", "0"]
        )
        self.assertEqual(options["initial-delay"], 0.0)


class Collector(ProcessProtocol):
    def __init__(self) -> None:
        self.output = ""
        self.ended: defer.Deferred[int] = defer.Deferred()
        self.waiters: list[tuple[str, int, defer.Deferred[None]]] = []

    def outReceived(self, data: bytes) -> None:
        self.output += data.decode("utf-8", "replace")
        self._check()

    errReceived = outReceived

    def _check(self) -> None:
        for waiter in list(self.waiters):
            text, count, d = waiter
            if self.output.count(text) >= count:
                self.waiters.remove(waiter)
                d.callback(None)

    def waitFor(self, text: str, count: int = 1) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        self.waiters.append((text, count, d))
        self._check()
        return d.addTimeout(20, reactor)

    def processEnded(self, reason: Any) -> None:
        self.ended.callback(reason.value.exitCode)


@pytest_twisted.ensureDeferred
async def test_twistdRunRestartSigterm(tmp_path: Path) -> None:
    """When run under twistd, it connects, survives a restart, exits 0 on SIGTERM."""
    server = LoginServer(reactor, LoginServerFactory({"alice": SECRET}))
    port = server.start()
    credentials = tmp_path / "credentials"
    credentials.write_text(f"alice:{SECRET}\n")
    collector = Collector()
    process = reactor.spawnProcess(
        collector,
        str(TWISTD),
        [
            str(TWISTD),
            "-n",
            "--pidfile=",
            "--logfile=-",
            "reconnect-demo",
            "--connect",
            f"tcp:127.0.0.1:{port}",
            "--credentials",
            str(credentials),
            "--backoff",
            "fixed",
            "--interval",
            "0.2",
            "--no-network-monitor",
        ],
        env=subprocessEnv(),
        path=str(tmp_path),
    )
    try:
        await collector.waitFor("state=connected")
        await server.stop()
        await collector.waitFor("state=waiting")
        server.start()
        await collector.waitFor("state=connected", 2)
        assert server.factory.logins == 2
        process.signalProcess(signal.SIGTERM)
        code = await collector.ended.addTimeout(20, reactor)
    finally:
        if collector.ended.called is False:
            process.signalProcess(signal.SIGKILL)
        await server.stop()
    assert code == 0, collector.output
    assert "Traceback" not in collector.output
    assert SECRET not in collector.output
    assert "state=stopped" in collector.output
