"""
A complete twistd plugin module with the standard reconnect options.

``twisted/plugins/myclient_plugin.py`` holds the one line:
``myclient = ServiceMaker("myclient", "myapp.myclient", "My client.", "myclient")``

``twistd -n myclient --connect tcp:host=example.net:port=7000 --backoff fixed
--interval 3 --status-port 8080``
"""

from __future__ import annotations

from twisted.application.service import IService, MultiService
from twisted.internet.endpoints import clientFromString
from twisted.protocols.basic import LineReceiver

from reconnect_twisted import ReconnectingFactory, ReconnectingService
from reconnect_twisted.twistd import ReconnectOptions, checkClientEndpoint


class Feed(LineReceiver):
    def lineReceived(self, line: bytes) -> None:
        print("got", line)


class FeedFactory(ReconnectingFactory):
    protocol = Feed


class Options(ReconnectOptions):
    optParameters = [["connect", "c", None, "Client endpoint description."]]

    def postOptions(self) -> None:
        super().postOptions()  # checks --backoff, --jitter, --status-port...
        self["connect"] = checkClientEndpoint(self["connect"])


def makeService(options: Options) -> IService:
    from twisted.internet import reactor

    factory = FeedFactory(**options.factoryConfiguration())
    top = MultiService()
    endpoint = clientFromString(reactor, options["connect"])
    ReconnectingService(endpoint, factory).setServiceParent(top)
    status = options.statusService({"feed": factory})  # None without --status-port
    if status is not None:
        status.setServiceParent(top)
    return top
