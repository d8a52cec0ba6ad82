"""
An in-process network for the recipes' tests (tests/test_recipes.py): a
``reactor``-like object whose ``connectTCP`` connects the application's
factory to a fake server's protocol, bytes pumped both ways, time on a
``task.Clock``. No sockets, no threads, no sleeping.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from reconnect_twisted.testing import FakeConnector

RECIPES = Path(__file__).resolve().parent.parent / "examples" / "recipes"


def loadRecipe(name: str) -> ModuleType:
    """Import ``examples/recipes/<name>.py`` (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        f"recipes_{name}", RECIPES / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Lenient:
    """
    ``unregisterProducer()`` with no producer is a no-op, as on Twisted's
    real transports (``StringTransport`` raises; Autobahn calls it when it
    drops a connection).
    """

    producer: Any

    def unregisterProducer(self) -> None:
        if self.producer is not None:
            super().unregisterProducer()  # type: ignore[misc]


class ServerTransport(_Lenient, StringTransport):
    pass


class WiredConnector(FakeConnector):
    """
    A :class:`~reconnect_twisted.testing.FakeConnector` whose connection has
    a server protocol at the other end.
    """

    def __init__(self, net: FakeNet, factory: Any, host: str, port: int) -> None:
        super().__init__(factory, net.clock, IPv4Address("TCP", host, port))
        self.net = net
        self.server: Any = None
        self.serverTransport: StringTransport | None = None

    def succeed(self) -> Any:
        server = self.net.serverFactory.buildProtocol(self.address)
        transport = ServerTransport(peerAddress=IPv4Address("TCP", "10.0.0.1", 5000))
        self.server, self.serverTransport = server, transport
        server.makeConnection(transport)
        return super().succeed()  # (FakeTransport is lenient itself)

    def drop(self, reason: BaseException | Failure | None = None) -> None:
        """The connection ends: both protocols hear it, client first."""
        super().drop(reason)
        server, self.server = self.server, None
        if server is not None:
            server.connectionLost(Failure(error.ConnectionDone()))

    def pump(self) -> bool:
        """Move what each side wrote to the other; True if anything moved."""
        moved = False
        client, server = self.protocol, self.server
        if client is None or server is None:
            return False
        assert self.transport is not None and self.serverTransport is not None
        data = self.transport.value()
        if data:
            self.transport.clear()
            server.dataReceived(data)
            moved = True
        data = self.serverTransport.value()
        if data and self.protocol is client:
            self.serverTransport.clear()
            client.dataReceived(data)
            moved = True
        if (
            self.server is server
            and self.serverTransport.disconnecting
            and not self.serverTransport.value()
        ):
            self.drop(error.ConnectionDone("closed by the server"))
            moved = True
        return moved


class FakeNet:
    """
    Enough of a reactor for ``connectTCP`` recipes: every attempt succeeds
    while ``up`` (and is refused otherwise), then the bytes flow.

    :ivar clock: the ``task.Clock`` the factories must use.
    :ivar connectors: every connector made, in order.
    """

    def __init__(self, serverFactory: Factory, clock: Clock | None = None) -> None:
        self.serverFactory = serverFactory
        self.clock = clock if clock is not None else Clock()
        self.connectors: list[WiredConnector] = []
        self.up = True

    def connectTCP(
        self, host: str, port: int, factory: Any, timeout: float = 30, bindAddress=None
    ) -> WiredConnector:
        connector = WiredConnector(self, factory, host, port)
        self.connectors.append(connector)
        connector.connect()
        return connector

    def settle(self) -> None:
        """Run everything due now: attempts, bytes, closes, ``callLater(0)``."""
        for _ in range(10_000):
            moved = False
            for connector in list(self.connectors):
                if connector.state == "connecting":
                    if self.up:
                        connector.succeed()
                    else:
                        connector.fail()
                    moved = True
                moved = connector.pump() or moved
            now = self.clock.seconds()
            if any(c.getTime() <= now for c in self.clock.getDelayedCalls()):
                self.clock.advance(0)
                moved = True
            if not moved:
                return
        raise AssertionError("the fake network did not settle")

    def run(self, seconds: float) -> None:
        """Let ``seconds`` pass, handling each timer at its time."""
        end = self.clock.seconds() + seconds
        self.settle()
        while True:
            due = [c.getTime() for c in self.clock.getDelayedCalls()]
            if not due or min(due) > end:
                break
            self.clock.advance(max(0.0, min(due) - self.clock.seconds()))
            self.settle()
        self.clock.advance(max(0.0, end - self.clock.seconds()))
        self.settle()

    def openTransports(self) -> list[WiredConnector]:
        """The connectors whose connection is still open."""
        return [c for c in self.connectors if c.state != "disconnected"]
