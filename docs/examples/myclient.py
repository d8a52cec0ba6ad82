"""
A twistd plugin module for your own ReconnectingFactory subclass.

Put the ServiceMaker line in ``twisted/plugins/myclient_plugin.py`` (a
directory without ``__init__.py``), and this module in your package:

    from twisted.application.service import ServiceMaker
    myclient = ServiceMaker("myclient", "myapp.myclient", "My client.", "myclient")

Then: ``twistd -n myclient --connect tcp:host=example.net:port=7000``.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService
from twisted.internet.endpoints import clientFromString
from twisted.protocols.basic import LineReceiver
from twisted.python import usage

from reconnect_twisted import FixedBackoff, ReconnectingFactory, ReconnectingService


class Feed(LineReceiver):
    """The application protocol: your own class, handed to you as it is."""

    delimiter = b"\r\n"

    def lineReceived(self, line: bytes) -> None:
        self.factory.lines.append(line)


class FeedFactory(ReconnectingFactory):
    """A server-to-server link: fixed 3 s retries forever, alert after 60 s."""

    protocol = Feed

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("backoff", FixedBackoff(3.0))
        super().__init__(**kwargs)
        self.lines: list[bytes] = []

    def handshake(self, protocol: Any) -> None:
        protocol.sendLine(b"LOGIN feed")  # no reply awaited in this example

    def outageAlert(self, status: Any) -> None:
        print(f"ALERT: feed down, {status.attempt} failed attempts")


class Options(usage.Options):
    """``twistd myclient`` options."""

    optParameters = [["connect", "c", None, "Client endpoint description."]]

    def postOptions(self) -> None:
        if not self["connect"]:
            raise usage.UsageError("--connect is required")


def makeService(options: Options) -> IService:
    """twistd calls this with the parsed options."""
    from twisted.internet import reactor

    endpoint = clientFromString(reactor, options["connect"])
    return ReconnectingService(endpoint, FeedFactory())
