"""
The browser test's application (run as ``python -m tests.statuspage_app``):
two reconnecting factories and their StatusResource on the real reactor,
all on 127.0.0.1. Prints ``READY <page url> <token>`` once listening, then
obeys one command per line on stdin:

``listen``  start the server the ``orders`` factory connects to
``drop``    close the server's side of every connection it accepted
"""

from __future__ import annotations

import socket
import sys
from typing import Any

from twisted.internet import reactor, stdio
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.basic import LineReceiver
from twisted.web.server import Site

from reconnect_twisted import FixedBackoff, ReconnectingFactory
from reconnect_twisted.web import StatusResource

TOKEN = "browser-test-token-0123456789"


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Client(ReconnectingFactory):
    protocol = Protocol


class _Accepted(Protocol):
    def connectionMade(self) -> None:
        self.factory.accepted.append(self)  # type: ignore[attr-defined]


class Commands(LineReceiver):
    delimiter = b"\n"

    def __init__(self, app: dict[str, Any]) -> None:
        self.app = app

    def lineReceived(self, line: bytes) -> None:
        command = line.decode().strip()
        if command == "listen":
            server = Factory.forProtocol(_Accepted)
            server.accepted = []  # type: ignore[attr-defined]
            self.app["server"] = server
            reactor.listenTCP(self.app["port"], server, interface="127.0.0.1")
        elif command == "drop":
            for protocol in self.app["server"].accepted:
                protocol.transport.loseConnection()
        self.sendLine(b"OK " + command.encode())

    def connectionLost(self, reason: object = None) -> None:
        if reactor.running:
            reactor.stop()


def main() -> None:
    port = freePort()
    orders = _Client(backoff=FixedBackoff(30.0), alertAfter=None, minUptime=1.0)
    archive = _Client(backoff=FixedBackoff(30.0), alertAfter=None)
    resource = StatusResource({"orders": orders, "archive": archive}, token=TOKEN)
    site = reactor.listenTCP(0, Site(resource), interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port, orders, timeout=5)
    reactor.connectTCP("127.0.0.1", freePort(), archive, timeout=5)
    reactor.callLater(0.3, archive.giveUp, "gave up: archive <maintenance>")
    stdio.StandardIO(Commands({"port": port}))
    url = f"http://127.0.0.1:{site.getHost().port}/"
    reactor.callLater(0.5, print, "READY", url, TOKEN, flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
    sys.exit(0)
