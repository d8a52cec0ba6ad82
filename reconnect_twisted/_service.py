"""
``ReconnectingService``: the endpoint-path adapter onto the same state machine.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IAddress, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from ._factory import ReconnectingFactory
from ._machine import Machine

_log = Logger(namespace="reconnect_twisted")

__all__ = ["ReconnectingService"]


class _EndpointFactory(Factory):
    """
    What the endpoint sees: builds the application's protocol through the
    reconnecting factory (which tracks it, for this service's link), and
    forwards start/stop.
    """

    def __init__(self, factory: ReconnectingFactory, link: Machine) -> None:
        self.factory = factory
        self.link = link

    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:
        """Build through the reconnecting factory."""
        protocol = self.factory.buildProtocol(addr)
        if protocol is not None:
            self.factory._track(protocol, self.link)
        return protocol

    def doStart(self) -> None:
        """Forward to the reconnecting factory."""
        cast(Any, self.factory).doStart()

    def doStop(self) -> None:
        """Forward to the reconnecting factory."""
        cast(Any, self.factory).doStop()

    def __repr__(self) -> str:
        return f"<reconnecting {self.factory!r}>"

    def logPrefix(self) -> str:
        """The application factory's log prefix."""
        return cast(str, cast(Any, self.factory).logPrefix())


class _EndpointDriver:
    """
    Makes attempts through an ``IStreamClientEndpoint``.
    """

    #: A ``None`` from ``buildProtocol`` fails the endpoint's own Deferred.
    reportsNoProtocol = True

    def __init__(
        self,
        endpoint: IStreamClientEndpoint,
        factory: ReconnectingFactory,
        link: Machine,
    ) -> None:
        self.endpoint = endpoint
        self.factory = factory
        self.link = link
        self._attempt: Deferred[Any] | None = None

    def startAttempt(self) -> None:
        """``endpoint.connect()``; its failure is reported to the machine."""
        d = self.endpoint.connect(_EndpointFactory(self.factory, self.link))
        self._attempt = d

        def done(result: object) -> None:
            if self._attempt is d:
                self._attempt = None
                if isinstance(result, Failure) and not self.link.dropping:
                    self.factory._hub.run(self.link.attemptFailed, result)

        d.addBoth(done)

    def cancelAttempt(self) -> None:
        """Cancel the endpoint's Deferred in flight."""
        d, self._attempt = self._attempt, None
        if d is not None:
            d.cancel()

    def timesOut(self, timeout: float) -> bool:
        """An endpoint's attempt has no timeout the machine can count on."""
        return False

    def describe(self) -> str:
        """The endpoint, for logs."""
        for attributes in (("_host", "_port"), ("_hostStr", "_port")):
            values = [getattr(self.endpoint, name, None) for name in attributes]
            if None not in values:
                return f"{values[0]}:{values[1]}"
        path = getattr(self.endpoint, "_path", None)
        return str(path) if path is not None else type(self.endpoint).__name__


class ReconnectingService(Service):
    """
    An ``IService`` that keeps ``factory`` connected over ``endpoint`` (any
    ``IStreamClientEndpoint``: TCP, TLS, UNIX, ``HostnameEndpoint``,
    ``clientFromString``). The same states, decisions and events happen as
    on the connector path.

    :param endpoint: where to connect.
    :param factory: the :class:`~reconnect_twisted.ReconnectingFactory`.
    """

    def __init__(
        self, endpoint: IStreamClientEndpoint, factory: ReconnectingFactory
    ) -> None:
        if not callable(getattr(endpoint, "connect", None)):
            raise TypeError(
                f"endpoint must provide IStreamClientEndpoint, not {endpoint!r}"
            )
        if not isinstance(factory, ReconnectingFactory):
            raise TypeError(f"factory must be a ReconnectingFactory, not {factory!r}")
        self.endpoint = endpoint
        self.factory = factory

    def startService(self) -> None:
        """Start trying to connect (a second call while running does nothing)."""
        if self.running:
            _log.info("{service} is already running", service=self)
            return
        Service.startService(cast(Any, self))
        hub = self.factory._hub
        link = hub.linkFor(self)
        hub.run(link.start, _EndpointDriver(self.endpoint, self.factory, link), self)

    def stopService(self) -> Deferred[None]:
        """
        Give up; the Deferred fires once the connection is closed. When
        several services (or connectors) share the factory, only this
        service's connection is given up.
        """
        Service.stopService(cast(Any, self))
        hub = self.factory._hub
        links = hub.links()
        if len(links) == 1:
            return self.factory.giveUp("service stopped")
        for link in links:
            if link.driverKey is self:
                return hub.giveUp("service stopped", link)
        return succeed(None)  # (never started: nothing of its own to close)

    def whenConnected(self) -> Deferred[Any]:
        """The factory's :meth:`~ReconnectingFactory.whenConnected`."""
        return self.factory.whenConnected()
