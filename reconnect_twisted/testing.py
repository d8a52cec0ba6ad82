"""
Fakes for testing *your* :class:`~reconnect_twisted.ReconnectingFactory`
subclass with :class:`twisted.internet.task.Clock`, without sockets.

.. code-block:: python

    clock = Clock()
    factory = MyFactory(clock=clock, backoff=FixedBackoff(3.0))
    connector = connectFake(factory)      # like reactor.connectTCP(...)
    connector.fail()                      # the attempt is refused
    clock.advance(3.0)                    # the retry starts
    protocol = connector.succeed()        # built, connectionMade, handshake
    protocol.transport.value()            # what the protocol wrote

``succeed()`` connects with a :class:`FakeTransport`: a
:class:`~twisted.internet.testing.StringTransport` whose ``loseConnection``
and ``abortConnection`` deliver ``connectionLost`` on the next
``clock.advance(0)``, as a real transport would on the next reactor turn.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IConnector, IReactorTime
from twisted.internet.protocol import Factory
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from zope.interface import implementer

__all__ = ["FakeConnector", "FakeEndpoint", "FakeTransport", "connectFake"]

_DEFAULT_ADDRESS = IPv4Address("TCP", "127.0.0.1", 4321)
_LOCAL_ADDRESS = IPv4Address("TCP", "127.0.0.1", 50000)


class FakeTransport(StringTransport):
    """
    A ``StringTransport`` that, once closed by the protocol's side
    (``loseConnection``/``abortConnection``), delivers the connection loss
    through ``onClose`` on the clock's next turn (``clock.advance(0)``).

    :ivar connector: the :class:`FakeConnector` that made it (``None`` for an
        endpoint's), as Twisted's TCP transports have ``transport.connector``:
        a factory used with several connectors matches each connection to
        its connector by it.
    """

    def __init__(
        self,
        clock: IReactorTime,
        onClose: Any,
        peerAddress: IAddress | None = None,
        hostAddress: IAddress = _LOCAL_ADDRESS,
        connector: IConnector | None = None,
    ) -> None:
        cast(Any, super()).__init__(hostAddress=hostAddress, peerAddress=peerAddress)
        self.connector = connector
        self._clock = clock
        self._onClose = onClose
        self._closeScheduled = False
        self._closeReason: BaseException = error.ConnectionDone()
        self.closed = False

    def _scheduleClose(self, reason: BaseException) -> None:
        if self.closed:
            return
        if self._closeScheduled:
            if isinstance(reason, error.ConnectionAborted):
                self._closeReason = reason  # an abort overtakes a clean close
            return
        self._closeScheduled = True
        self._closeReason = reason
        self._clock.callLater(0, self._deliverClose)

    def _deliverClose(self) -> None:
        self._onClose(Failure(self._closeReason))

    def unregisterProducer(self) -> None:
        """
        Forget the producer, if any: a real transport accepts the call with
        none registered (Autobahn makes it when dropping a connection), so
        this one does too.
        """
        if self.producer is not None:
            cast(Any, super()).unregisterProducer()

    def loseConnection(self) -> None:
        """Close cleanly: ``ConnectionDone`` on the next turn."""
        cast(Any, super()).loseConnection()
        self._scheduleClose(error.ConnectionDone("closed by the client"))

    def abortConnection(self) -> None:
        """
        Abort: ``ConnectionAborted`` on the next turn (also after a
        ``loseConnection`` whose close is still pending, as a TCP
        transport's abort overtakes its clean close).
        """
        self.disconnected = True  # (as StringTransport's abortConnection)
        StringTransport.loseConnection(self)  # (not ours: that closes cleanly)
        self._scheduleClose(error.ConnectionAborted("aborted by the client"))


@implementer(IConnector)
class FakeConnector:
    """
    An ``IConnector`` that a test drives by hand: ``connect()`` counts and
    reports the attempt to the factory; ``succeed()``, ``fail()`` and
    ``drop()`` finish it.

    :ivar attempts: how many times ``connect()`` was called.
    :ivar stoppedConnecting: how many attempts ``stopConnecting()`` cancelled.
    :ivar state: ``"disconnected"``, ``"connecting"`` or ``"connected"``.
    :ivar protocol: the protocol of the current connection, if any.
    :ivar transport: its :class:`FakeTransport`.
    """

    def __init__(
        self,
        factory: Any,
        clock: IReactorTime | None = None,
        address: IAddress = _DEFAULT_ADDRESS,
    ) -> None:
        self.factory = factory
        self.clock: IReactorTime = clock if clock is not None else factory.clock
        self.address = address
        self.attempts = 0
        self.stoppedConnecting = 0
        self.state = "disconnected"
        self.protocol: Any = None
        self.transport: FakeTransport | None = None
        self.factoryStarted = False

    # IConnector

    def connect(self) -> None:
        """
        Start an attempt and tell the factory (``startedConnecting``); as a
        Twisted connector does, start the factory first (``doStart``, so
        its ``startFactory``) unless it is started already.
        """
        if self.state != "disconnected":
            raise RuntimeError(f"can't connect in this state: {self.state}")
        self.state = "connecting"
        if not self.factoryStarted:
            self.factory.doStart()
            self.factoryStarted = True
        self.attempts += 1
        self.factory.startedConnecting(self)

    def _stopFactory(self) -> None:
        """After a report: stop the factory unless it connected us again."""
        if self.state == "disconnected" and self.factoryStarted:
            self.factory.doStop()
            self.factoryStarted = False

    def stopConnecting(self) -> None:
        """Cancel the attempt: ``clientConnectionFailed`` with ``UserError``."""
        if self.state != "connecting":
            raise error.NotConnectingError("we're not trying to connect")
        self.stoppedConnecting += 1
        self.fail(error.UserError())

    def disconnect(self) -> None:
        """Cancel the attempt, or close the connection."""
        if self.state == "connecting":
            self.stopConnecting()
        elif self.state == "connected" and self.transport is not None:
            self.transport.loseConnection()

    def getDestination(self) -> IAddress:
        """The address given to the constructor."""
        return self.address

    # test controls

    def succeed(self) -> Any:
        """
        Complete the attempt: build the protocol, connect it to a
        :class:`FakeTransport` (``connectionMade`` runs, then the handshake)
        and return it.
        """
        if self.state != "connecting":
            raise RuntimeError(f"no attempt in flight (state: {self.state})")
        protocol = self.factory.buildProtocol(self.address)
        if protocol is None:
            self.fail(error.NoProtocol())
            return None
        self.state = "connected"
        self.protocol = protocol
        self.transport = FakeTransport(
            self.clock, self.drop, self.address, connector=self
        )
        protocol.makeConnection(self.transport)
        return protocol

    def fail(self, reason: BaseException | Failure | None = None) -> None:
        """Fail the attempt (``ConnectionRefusedError`` by default)."""
        if self.state != "connecting":
            raise RuntimeError(f"no attempt in flight (state: {self.state})")
        self.state = "disconnected"
        self.factory.clientConnectionFailed(
            self, _failure(reason, error.ConnectionRefusedError())
        )
        self._stopFactory()

    def drop(self, reason: BaseException | Failure | None = None) -> None:
        """
        Lose the connection (``ConnectionLost`` by default), in Twisted's
        order: the protocol's ``connectionLost`` (the connector still
        ``"connected"``), then the connector is ``"disconnected"`` and the
        factory's ``clientConnectionLost`` runs.
        """
        if self.state != "connected":
            return
        failure = _failure(reason, error.ConnectionLost("connection lost"))
        protocol, self.protocol = self.protocol, None
        if self.transport is not None:
            self.transport.closed = True
        try:
            protocol.connectionLost(failure)
        finally:
            self.state = "disconnected"
        self.factory.clientConnectionLost(self, failure)
        self._stopFactory()


def _failure(reason: BaseException | Failure | None, default: BaseException) -> Failure:
    if reason is None:
        return Failure(default)
    if isinstance(reason, Failure):
        return reason
    return Failure(reason)


def connectFake(factory: Any, clock: IReactorTime | None = None) -> FakeConnector:
    """
    Like ``reactor.connectTCP(host, port, factory)``: make a
    :class:`FakeConnector` for ``factory`` and start its first attempt.
    """
    connector = FakeConnector(factory, clock)
    connector.connect()
    return connector


class FakeEndpoint:
    """
    An ``IStreamClientEndpoint`` that a test drives by hand, for
    :class:`~reconnect_twisted.ReconnectingService`.

    :ivar attempts: how many times ``connect()`` was called.
    :ivar cancelled: how many attempts were cancelled.
    """

    def __init__(self, clock: IReactorTime, address: IAddress = _DEFAULT_ADDRESS):
        self.clock = clock
        self.address = address
        self.attempts = 0
        self.cancelled = 0
        self.protocol: Any = None
        self.transport: FakeTransport | None = None
        self._pending: Deferred[Any] | None = None
        self._factory: Factory | None = None

    @property
    def state(self) -> str:
        """``"disconnected"``, ``"connecting"`` or ``"connected"``."""
        if self._pending is not None:
            return "connecting"
        return "connected" if self.protocol is not None else "disconnected"

    def connect(self, protocolFactory: Factory) -> Deferred[Any]:
        """
        Start an attempt; the returned Deferred fires on ``succeed()``. As a
        TCP endpoint's connector does, the factory is started
        (``doStart``) for the attempt and stopped (``doStop``) when it
        fails, is cancelled, or its connection is lost.
        """
        self.attempts += 1

        def cancel(d: Deferred[Any]) -> None:
            self.cancelled += 1
            self._pending = None
            protocolFactory.doStop()

        protocolFactory.doStart()
        d: Deferred[Any] = Deferred(cancel)
        self._pending = d
        self._factory = protocolFactory
        return d

    def succeed(self) -> Any:
        """Complete the attempt with a :class:`FakeTransport`; return the protocol."""
        d, self._pending = self._pending, None
        if d is None or self._factory is None:
            raise RuntimeError("no attempt in flight")
        protocol: Any = self._factory.buildProtocol(self.address)
        self.protocol = protocol
        self.transport = FakeTransport(self.clock, self.drop, self.address)
        protocol.makeConnection(self.transport)
        d.callback(protocol)
        return protocol

    def fail(self, reason: BaseException | Failure | None = None) -> None:
        """Fail the attempt (``ConnectionRefusedError`` by default)."""
        d, self._pending = self._pending, None
        if d is None or self._factory is None:
            raise RuntimeError("no attempt in flight")
        factory = self._factory
        d.errback(_failure(reason, error.ConnectionRefusedError()))
        factory.doStop()

    def drop(self, reason: BaseException | Failure | None = None) -> None:
        """Lose the connection (``ConnectionLost`` by default)."""
        protocol, self.protocol = self.protocol, None
        if protocol is None:
            return
        if self.transport is not None:
            self.transport.closed = True
        protocol.connectionLost(
            _failure(reason, error.ConnectionLost("connection lost"))
        )
        if self._factory is not None:
            self._factory.doStop()
