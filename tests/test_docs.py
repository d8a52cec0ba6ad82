"""
The docs agree with the code: the state table is the machine's TRANSITIONS.
"""

from __future__ import annotations

from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted._status import TRANSITIONS, ConnectionState

DOCS = Path(__file__).resolve().parent.parent / "docs"


class StateTableTests(SynchronousTestCase):
    def test_tableMatchesMachine(self) -> None:
        """When docs/states.rst lists transitions, they are exactly TRANSITIONS."""
        text = (DOCS / "states.rst").read_text()
        table = text.split(".. transitions-table-start")[1]
        table = table.split(".. transitions-table-end")[0]
        documented: dict[ConnectionState, frozenset[ConnectionState]] = {}
        for line in table.splitlines():
            words = line.replace(",", " ").split()
            if words and words[0] in ConnectionState.__members__:
                documented[ConnectionState[words[0]]] = frozenset(
                    ConnectionState[w] for w in words[1:]
                )
        self.assertEqual(documented, TRANSITIONS)

    def test_diagramNamesEveryState(self) -> None:
        """When the diagram is drawn, every state appears in it."""
        text = (DOCS / "states.rst").read_text()
        diagram = text.split("Diagram")[1].split("Transitions")[0]
        for state in ConnectionState:
            self.assertIn(state.name, diagram)


class TwistdExampleTests(SynchronousTestCase):
    def test_exampleBuildsService(self) -> None:
        """When the docs' plugin example runs, it connects with FixedBackoff(3)."""
        import importlib.util

        from twisted.internet.task import Clock
        from twisted.python.usage import UsageError

        from reconnect_twisted import ConnectionState, FixedBackoff, ReconnectingService
        from reconnect_twisted.testing import FakeEndpoint

        spec = importlib.util.spec_from_file_location(
            "myclient", DOCS / "examples" / "myclient.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)

        with self.assertRaises(UsageError):
            module.Options().parseOptions([])
        options = module.Options()
        options.parseOptions(["--connect", "tcp:127.0.0.1:7000"])
        service = module.makeService(options)
        self.assertIsInstance(service, ReconnectingService)
        self.assertIsInstance(service.factory.backoff, FixedBackoff)

        clock = Clock()
        factory = module.FeedFactory(clock=clock, alertAfter=None)
        endpoint = FakeEndpoint(clock)
        ReconnectingService(endpoint, factory).startService()
        endpoint.fail()
        self.assertEqual(factory.status.nextAttemptAt, 3.0)
        clock.advance(3.0)
        protocol = endpoint.succeed()
        self.assertEqual(protocol.transport.value(), b"LOGIN feed\r\n")
        self.assertEqual(factory.status.state, ConnectionState.CONNECTED)
        protocol.dataReceived(b"tick\r\n")
        self.assertEqual(factory.lines, [b"tick"])
        factory.giveUp()
        clock.advance(0)
        self.assertEqual(clock.getDelayedCalls(), [])
