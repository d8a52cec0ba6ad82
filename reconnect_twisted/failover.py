"""
Failover across several servers, on both paths.

* Endpoint path: :class:`FailoverEndpoint`, an ``IStreamClientEndpoint``
  over a list of endpoints, for :class:`~reconnect_twisted.ReconnectingService`.
* Connector path: :func:`connectFailover`, the failover ``reactor.connectTCP``:
  it returns one :class:`FailoverConnector` (an ``IConnector``) that the
  factory drives like any connector, each attempt made through a real
  connector to the server whose turn it is.

Both share one :class:`ServerRotation`, which the state machine consults
after every failed attempt: the attempts of one *pass* over the list go
``minDelay`` apart and count as one step of the backoff schedule (one
``attempt`` in the status, one ``maxRetries`` unit), so N servers do not
multiply the load on a recovering fleet.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IConnector, IStreamClientEndpoint
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from ._errors import HandshakeRejected
from ._validate import _show, checkMinDelay
from .policy import Decision, GiveUp, Reconnect, ReconnectAfter

__all__ = [
    "STRATEGIES",
    "FailoverConnector",
    "FailoverEndpoint",
    "ServerRotation",
    "connectFailover",
]

#: The strategies :class:`ServerRotation` knows.
STRATEGIES = ("sticky", "round-robin", "random")


class ServerRotation:
    """
    Which server of a list is tried next, pass after pass.

    A *pass* tries every server once (those that rejected the handshake
    permanently excepted), in the order the strategy gives:

    ``sticky``
        start at the server that last worked (the first one until one has),
        then the others in list order. After a connection is lost, the next
        pass starts at that same server again.
    ``round-robin``
        every attempt goes to the next server in list order, across passes
        and connections: after a connection to ``b`` is lost the next pass
        starts at ``c``.
    ``random``
        every pass is a fresh shuffle of the list, drawn from ``rng``.

    :param names: a description of each server, for logs and the status.
    :param strategy: one of :data:`STRATEGIES`.
    :param rng: a ``random.Random`` for ``"random"`` (a fresh one if ``None``).
    :ivar passes: how many passes have ended.
    """

    def __init__(
        self,
        names: Sequence[str],
        strategy: str = "sticky",
        rng: random.Random | None = None,
    ) -> None:
        if not names:
            raise ValueError("servers: at least one server is needed")
        if strategy not in STRATEGIES:
            raise ValueError(
                f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}"
            )
        self.names = list(names)
        self.strategy = strategy
        self.rng = rng if rng is not None else random.Random()
        self.passes = 0
        self._sticky = 0  # the server that last worked
        self._rejected: set[int] = set()  # rejected permanently since then
        self._hint: float | None = None  # the largest retry hint of this pass
        self._order: list[int] = []
        self._position = 0
        self._newPass(0)

    # -- what to try -------------------------------------------------------

    @property
    def current(self) -> int:
        """The index of the server in use or being tried."""
        return self._order[self._position]

    def describe(self) -> str:
        """The server in use or being tried, as the machine logs it."""
        return self.names[self.current]

    def passOrder(self) -> list[str]:
        """This pass's servers, in the order they are tried."""
        return [self.names[index] for index in self._order]

    def _newPass(self, start: int) -> None:
        count = len(self.names)
        if self.strategy == "random":
            order = list(range(count))
            self.rng.shuffle(order)
        else:
            order = [(start + offset) % count for offset in range(count)]
        remaining = [index for index in order if index not in self._rejected]
        self._order = remaining or order
        self._position = 0
        self._hint = None

    def _nextStart(self, lastTried: int) -> int:
        if self.strategy == "sticky":
            return self._sticky
        return (lastTried + 1) % len(self.names)

    # -- the machine's hook ------------------------------------------------

    def attemptEnded(
        self, reason: Failure, decision: Decision, wasConnected: bool
    ) -> Decision | None:
        """
        An attempt at (or the connection to) :meth:`describe` ended with
        ``reason``; the policy said ``decision``. Returns ``None`` when the
        pass goes on (the machine tries the next server after ``minDelay``,
        with no backoff step), else the decision that ends the pass:

        * a lost connection (``wasConnected``) ends the pass that led to it;
          the next one starts per the strategy, except after a retry hint
          from the server in use (``retryLater()`` while connected): then
          the other servers are tried at once, in a pass that leaves that
          one out and ends no sooner than the hint;
        * a ``GiveUp`` for a permanent handshake rejection skips that server
          (for this pass and the following ones, until a connection
          succeeds); it stands only once every server has rejected;
        * any other ``GiveUp`` (a kick, the application's own policy)
          stands at once;
        * the largest retry hint of the pass is the lower bound of the delay
          that ends it.
        """
        tried = self.current
        if wasConnected:
            self._sticky = tried
            self._rejected.clear()
            self.passes += 1
            if isinstance(decision, ReconnectAfter) and len(self.names) > 1:
                # The server in use asked us to come back later: the others
                # are tried now, in a pass that leaves it out and ends no
                # sooner than its hint (then the strategy decides again).
                self._newPass((tried + 1) % len(self.names))
                self._order = [i for i in self._order if i != tried]
                self._hint = decision.delay
                return None
            self._newPass(self._nextStart(tried))
            return decision
        permanent = _isPermanentRejection(reason)
        if permanent:
            self._rejected.add(tried)
        if isinstance(decision, ReconnectAfter):
            self._hint = max(self._hint or 0.0, decision.delay)
        if isinstance(decision, GiveUp) and not permanent:
            self._endPass(tried)
            return decision
        allRejected = len(self._rejected) >= len(self.names)
        if not allRejected:
            for position in range(self._position + 1, len(self._order)):
                if self._order[position] not in self._rejected:
                    self._position = position
                    return None
        hint = self._hint
        self._endPass(tried)
        if isinstance(decision, GiveUp):
            if allRejected:
                self._rejected.clear()  # a resumed factory starts afresh
                return decision
            decision = Reconnect()
        if hint is not None:
            if isinstance(decision, ReconnectAfter):
                hint = max(hint, decision.delay)
            decision = ReconnectAfter(hint)
        return decision

    def _endPass(self, lastTried: int) -> None:
        self.passes += 1
        self._newPass(self._nextStart(lastTried))


def _isPermanentRejection(reason: Failure) -> bool:
    error = reason.value
    return isinstance(error, HandshakeRejected) and error.permanent


def describeEndpoint(endpoint: object) -> str:
    """A ``host:port`` (or path) for ``endpoint``, for logs and the status."""
    for attributes in (("_host", "_port"), ("_hostStr", "_port")):
        values = [getattr(endpoint, name, None) for name in attributes]
        if None not in values:
            return f"{values[0]}:{values[1]}"
    path = getattr(endpoint, "_path", None)
    if path is not None:
        return str(path)
    wrapped = getattr(endpoint, "_wrappedEndpoint", None)
    if wrapped is not None:
        return describeEndpoint(wrapped)
    address = getattr(endpoint, "address", None)
    host, port = getattr(address, "host", None), getattr(address, "port", None)
    if host is not None and port is not None:
        return f"{host}:{port}"
    return type(endpoint).__name__


@implementer(IStreamClientEndpoint)
class FailoverEndpoint:
    """
    An ``IStreamClientEndpoint`` over several endpoints, for
    :class:`~reconnect_twisted.ReconnectingService`: each ``connect()``
    goes to the endpoint whose turn it is; the service's state machine
    moves the turn on after every failed attempt (see
    :class:`ServerRotation` for the strategies and the passes).

    With anything else than a ``ReconnectingService`` (e.g. Twisted's
    ``ClientService``) nobody moves the turn on: every ``connect()`` goes
    to the same endpoint.

    :param endpoints: the endpoints, in order of preference.
    :param strategy: ``"sticky"`` (default), ``"round-robin"`` or ``"random"``.
    :param rng: a ``random.Random`` for ``"random"``.
    :param names: how to call each endpoint in logs and the status (default:
        its ``host:port``).
    :ivar failoverRotation: the :class:`ServerRotation` the machine consults.
    """

    def __init__(
        self,
        endpoints: Iterable[IStreamClientEndpoint],
        strategy: str = "sticky",
        rng: random.Random | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        self.endpoints = list(endpoints)
        if not self.endpoints:
            raise ValueError("endpoints: at least one endpoint is needed")
        for endpoint in self.endpoints:
            if not callable(getattr(endpoint, "connect", None)):
                raise TypeError(
                    f"endpoints must provide IStreamClientEndpoint, not {endpoint!r}"
                )
        if names is None:
            names = [describeEndpoint(endpoint) for endpoint in self.endpoints]
        elif len(names) != len(self.endpoints):
            raise ValueError("names: one name per endpoint is needed")
        self.failoverRotation = ServerRotation(names, strategy, rng)

    @property
    def server(self) -> str:
        """The server in use or being tried."""
        return self.failoverRotation.describe()

    def connect(self, protocolFactory: Any) -> Deferred[Any]:
        """Connect to the endpoint whose turn it is."""
        endpoint = self.endpoints[self.failoverRotation.current]
        return endpoint.connect(protocolFactory)

    def __repr__(self) -> str:
        return (
            f"<FailoverEndpoint {self.failoverRotation.strategy} "
            f"{', '.join(self.failoverRotation.names)}>"
        )


class _ForwardingFactory(ClientFactory):
    """
    The factory each real connector sees: reports what the current real
    connector says to the application's factory as coming from the
    :class:`FailoverConnector`, and builds through it.
    """

    def __init__(self, failover: FailoverConnector, factory: Any) -> None:
        self.failover = failover
        self.factory = factory

    def doStart(self) -> None:
        """Forward to the application's factory."""
        self.factory.doStart()

    def doStop(self) -> None:
        """Forward to the application's factory."""
        self.factory.doStop()

    def startedConnecting(self, connector: IConnector) -> None:
        """A real connector began its attempt: it is the current one now."""
        self.failover._current = connector
        self.factory.startedConnecting(self.failover)

    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:
        """
        Build through the application's factory; the connection belongs to
        the :class:`FailoverConnector`'s link (the transport's connector is
        the real one, which a factory with several connectors would not
        know).
        """
        factory = self.factory
        protocol: Protocol | None = factory.buildProtocol(addr)
        hub = getattr(factory, "_hubInstance", None)
        if protocol is not None and hub is not None and len(hub.links()) > 1:
            factory._track(protocol, hub.linkFor(self.failover))
        return protocol

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        """Forward (a stale connector's report is dropped)."""
        if connector is self.failover._current:
            self.factory.clientConnectionFailed(self.failover, reason)

    def clientConnectionLost(self, connector: IConnector, reason: Failure) -> None:
        """Forward (a stale connector's report is dropped)."""
        if connector is self.failover._current:
            self.factory.clientConnectionLost(self.failover, reason)


@implementer(IConnector)
class FailoverConnector:
    """
    One ``IConnector`` over several ``(host, port)`` servers: ``connect()``
    makes a fresh real connector (``reactor.connectTCP``, or ``connectSSL``
    with a ``contextFactory``) to the server whose turn it is. Made by
    :func:`connectFailover`.

    :ivar failoverRotation: the :class:`ServerRotation` the machine consults.
    :raises TypeError: naming ``timeout`` if it is not a number or ``None``,
        naming ``servers`` if a server is not a ``(host, port)`` pair of a
        ``str`` and an ``int`` (bools refused).
    :raises ValueError: naming ``timeout`` if it is 0, negative, NaN or
        infinite; naming ``servers`` if the list is empty, a host is empty
        or a port is outside ``[1, 65535]``.
    """

    def __init__(
        self,
        reactor: Any,
        servers: Sequence[tuple[str, int]],
        factory: Any,
        strategy: str = "sticky",
        rng: random.Random | None = None,
        timeout: float | None = 30.0,
        bindAddress: tuple[str, int] | None = None,
        contextFactory: Any = None,
    ) -> None:
        # Checked before anything is made: a bad timeout would otherwise
        # surface in the real connector's callLater, after its socket exists.
        self.timeout: float | None = (
            None if timeout is None else checkMinDelay("timeout", timeout)
        )
        self.servers = _checkServers(servers)
        self.failoverRotation = ServerRotation(
            [f"{host}:{port}" for host, port in self.servers], strategy, rng
        )
        self.reactor = reactor
        self.factory = factory
        self.bindAddress = bindAddress
        self.contextFactory = contextFactory
        self._forwarding = _ForwardingFactory(self, factory)
        self._current: IConnector | None = None

    @property
    def server(self) -> str:
        """The server in use or being tried."""
        return self.failoverRotation.describe()

    @property
    def state(self) -> str:
        """The current real connector's state (``"disconnected"`` before any)."""
        current = self._current
        return "disconnected" if current is None else str(current.state)  # type: ignore[attr-defined]

    def connect(self) -> None:
        """Connect to the server whose turn it is."""
        if self.state != "disconnected":
            raise RuntimeError(f"can't connect in this state: {self.state}")
        host, port = self.servers[self.failoverRotation.current]
        if self.contextFactory is None:
            self._current = self.reactor.connectTCP(
                host, port, self._forwarding, self.timeout, self.bindAddress
            )
        else:
            self._current = self.reactor.connectSSL(
                host,
                port,
                self._forwarding,
                self.contextFactory,
                self.timeout,
                self.bindAddress,
            )

    def stopConnecting(self) -> None:
        """Cancel the attempt in flight."""
        current = self._current
        if current is None or self.state != "connecting":
            raise error.NotConnectingError("we're not trying to connect")
        current.stopConnecting()

    def disconnect(self) -> None:
        """Cancel the attempt, or close the connection."""
        if self._current is not None:
            self._current.disconnect()

    def getDestination(self) -> IAddress:
        """The server in use or being tried."""
        host, port = self.servers[self.failoverRotation.current]
        return IPv4Address("TCP", host, port)

    def __repr__(self) -> str:
        return (
            f"<FailoverConnector {self.failoverRotation.strategy} "
            f"{', '.join(self.failoverRotation.names)}>"
        )


def connectFailover(
    reactor: Any,
    servers: Sequence[tuple[str, int]],
    factory: Any,
    strategy: str = "sticky",
    rng: random.Random | None = None,
    timeout: float | None = 30.0,
    bindAddress: tuple[str, int] | None = None,
    contextFactory: Any = None,
) -> FailoverConnector:
    """
    The failover ``reactor.connectTCP(host, port, factory)``: connect
    ``factory`` (a :class:`~reconnect_twisted.ReconnectingFactory`) to the
    first server of ``servers`` (``[(host, port), ...]``) and return the
    :class:`FailoverConnector` that its retries go through. With
    ``contextFactory`` every server is reached with ``connectSSL``.

    :param strategy: ``"sticky"`` (default), ``"round-robin"`` or ``"random"``
        (see :class:`ServerRotation`).
    :param rng: a ``random.Random`` for ``"random"``.
    :param timeout: each real connector's own connect timeout, in seconds
        (``None``: none).
    :raises TypeError: if ``timeout`` or ``servers`` has a wrong type, as
        :class:`FailoverConnector` says; nothing is connected then.
    :raises ValueError: if ``timeout`` or ``servers`` has a bad value.
    """
    connector = FailoverConnector(
        reactor, servers, factory, strategy, rng, timeout, bindAddress, contextFactory
    )
    connector.connect()
    return connector


def _checkServers(servers: Any) -> list[tuple[str, int]]:
    """
    ``servers`` as a list of ``(host, port)``, each host a non-empty ``str``
    and each port an ``int`` in ``[1, 65535]``; errors name ``servers`` and
    describe a bad entry by :func:`~reconnect_twisted._validate._show`.
    """
    if isinstance(servers, str | bytes) or not isinstance(servers, Iterable):
        raise TypeError(
            f"servers must be a list of (host, port) pairs, not {_show(servers)}"
        )
    checked: list[tuple[str, int]] = []
    for number, server in enumerate(servers, 1):
        if not isinstance(server, tuple | list) or len(server) != 2:
            raise TypeError(
                f"servers: server {number} must be a (host, port) pair, "
                f"not {_show(server)}"
            )
        host, port = server
        if not isinstance(host, str):
            raise TypeError(
                f"servers: the host of server {number} must be a str, not {_show(host)}"
            )
        if not host:
            raise ValueError(f"servers: the host of server {number} is empty")
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError(
                f"servers: the port of server {number} must be an int, "
                f"not {_show(port)}"
            )
        if not 1 <= port <= 65535:
            raise ValueError(
                f"servers: the port of server {number} must be in [1, 65535], "
                f"not {_show(port)}"
            )
        checked.append((host, port))
    if not checked:
        raise ValueError("servers: at least one server is needed")
    return checked


def rotationOf(driver: object) -> ServerRotation | None:
    """The :class:`ServerRotation` behind a machine's driver, if any."""
    # (The target checked by class, not with getattr(target,
    # "failoverRotation", None): a plain connector has no such attribute,
    # and every failed attempt would raise and catch an AttributeError.)
    target = getattr(driver, "connector", None)
    if target is None:
        target = getattr(driver, "endpoint", None)
    if isinstance(target, (FailoverConnector, FailoverEndpoint)):
        return target.failoverRotation
    return None
