"""
``ReconnectingFactory``: the connector-path adapter onto the state machine.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import random
import socket
from collections.abc import Callable
from typing import Any, cast

from twisted.internet import error
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IConnector, IDelayedCall, IReactorTime
from twisted.internet.protocol import Protocol, ReconnectingClientFactory
from twisted.logger import Logger
from twisted.python.failure import Failure

from ._errors import Kicked, RetryLater
from ._machine import Machine
from ._status import ConnectionStatus
from ._validate import SHARED_RNG, checkDelay, checkRng
from .backoff import ExponentialBackoff, IBackoff, asBackoff
from .handshake import HandshakeSteps, callHandshake
from .policy import Decision, DefaultPolicy, IReconnectPolicy, asPolicy

__all__ = ["ReconnectingFactory"]

_log = Logger(namespace="reconnect_twisted")
_TUNING = ("initialDelay", "maxDelay", "factor", "jitter")
_DEFAULT_BACKOFF = ExponentialBackoff()
_DEFAULT_POLICY = DefaultPolicy()


@functools.lru_cache(maxsize=32)
def _socketOptions(
    keepAlive: tuple[float, float, int] | None, userTimeout: float | None
) -> tuple[tuple[int, int, int], ...]:
    """The ``(level, option, value)`` triples for these settings, here."""
    options: list[tuple[int, int, int]] = []
    if keepAlive is not None:
        idle, interval, count = keepAlive
        options.append((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1))
        for name, value in (
            ("TCP_KEEPIDLE", idle),
            ("TCP_KEEPINTVL", interval),
            ("TCP_KEEPCNT", count),
        ):
            if hasattr(socket, name):
                options.append(
                    (socket.IPPROTO_TCP, getattr(socket, name), max(1, int(value)))
                )
    if userTimeout is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
        options.append(
            (socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(userTimeout * 1000))
        )
    return tuple(options)


def _describeAddress(address: object) -> str:
    host, port = getattr(address, "host", None), getattr(address, "port", None)
    if host is not None and port is not None:
        return f"{host}:{port}"
    name = getattr(address, "name", None)
    return str(name) if name is not None else str(address)


class _ConnectorDriver:
    """
    Makes attempts through an ``IConnector`` (``reactor.connectTCP`` & co.).
    """

    __slots__ = ("_description", "_postponed", "clock", "connector")

    def __init__(self, connector: IConnector, clock: IReactorTime) -> None:
        self.connector = connector
        self.clock = clock
        self._description: str | None = None
        self._postponed: IDelayedCall | None = None

    def startAttempt(self) -> None:
        """
        ``connector.connect()``; if the connector is still winding down the
        previous connection (we are inside its ``connectionLost``), on the
        next reactor turn.
        """
        self._postponed = None
        if getattr(self.connector, "state", "disconnected") != "disconnected":
            self._postponed = self.clock.callLater(0, self.startAttempt)
            return
        self.connector.connect()

    def connectorIdle(self) -> None:
        """The connector is disconnected now: start a postponed attempt."""
        postponed = self._postponed
        if postponed is not None and postponed.active():
            postponed.cancel()
            self.startAttempt()

    def cancelAttempt(self) -> None:
        """``connector.stopConnecting()``, if it is connecting."""
        postponed, self._postponed = self._postponed, None
        if postponed is not None and postponed.active():
            postponed.cancel()
        with contextlib.suppress(error.NotConnectingError):
            self.connector.stopConnecting()

    def describe(self) -> str:
        """The connector's destination."""
        if self._description is None:
            self._description = _describeAddress(self.connector.getDestination())
        return self._description


def _trackBuild(
    build: Callable[[Any, IAddress | None], Protocol | None],
) -> Callable[[Any, IAddress | None], Protocol | None]:
    @functools.wraps(build)
    def buildProtocol(
        self: ReconnectingFactory, addr: IAddress | None
    ) -> Protocol | None:
        protocol = build(self, addr)
        self._track(protocol)
        return protocol

    buildProtocol._reconnectTracked = True  # type: ignore[attr-defined]
    return buildProtocol


class ReconnectingFactory(ReconnectingClientFactory):
    """
    A client factory whose connection comes back by itself, and correctly.

    Subclass it like any ``ClientFactory`` (set ``protocol``, override
    ``buildProtocol`` if you need to) and pass it to
    ``reactor.connectTCP(host, port, factory)`` (or ``connectSSL``,
    ``connectUNIX``), or run it with
    :class:`~reconnect_twisted.ReconnectingService` over an endpoint.

    A connection counts as established only once the business
    :meth:`handshake` has succeeded. After a failed attempt or a lost
    connection, the :meth:`decide` policy chooses what follows; by default
    the ``backoff`` schedule gives the delay.

    :param backoff: an :class:`~reconnect_twisted.IBackoff` or a callable
        ``(attempt) -> delay``. ``None``: ``ExponentialBackoff()``, or, if the
        subclass or instance sets RCF's ``initialDelay``/``maxDelay``/
        ``factor``/``jitter``, a capped exponential schedule from those.
    :param handshake: ``(protocol) -> Deferred | None`` (or a coroutine
        function, or :class:`~reconnect_twisted.HandshakeSteps`); ``None``:
        the :meth:`handshake` method, which succeeds at once unless
        overridden.
    :param policy: an :class:`~reconnect_twisted.IReconnectPolicy` or a
        callable ``(failure, status) -> Decision``; ``None``:
        ``DefaultPolicy(maxRetryLater)``.
    :param networkMonitor: an :class:`~reconnect_twisted.INetworkMonitor`
        that the factory starts and stops with its own lifetime.
    :param clock: the ``IReactorTime`` for every timer (the global reactor if
        ``None`` and ``factory.clock`` is not set).
    :param connectTimeout: seconds each transport attempt may take (0: none).
    :param handshakeTimeout: seconds the handshake may take (0: none).
    :param minUptime: seconds a connection must stay up before the backoff
        schedule resets.
    :param networkUpJitter: when the network comes back, the next attempt
        starts within this many seconds (uniformly drawn).
    :param maxRetryLater: the longest ``retryLater()`` wait the default
        policy honours.
    :param alertAfter: seconds of outage before the first ``outage`` alert
        (``None``: never).
    :param alertEvery: seconds between repeated alerts (0: only once).
    :param rng: randomness for ``networkUpJitter`` and the default schedule.
    :param keepAlive: ``(idle, interval, count)`` for TCP keepalive on every
        connection, so that a peer that vanished under an idle connection is
        noticed in about ``idle + interval * count`` seconds instead of TCP's
        ~2 hours; ``None`` leaves the socket as it is.
    :param userTimeout: ``TCP_USER_TIMEOUT`` in seconds (Linux): how long sent
        data may stay unacknowledged before the connection is dropped;
        ``None`` leaves it alone.
    """

    connectTimeout: float = 30.0
    handshakeTimeout: float = 30.0
    minUptime: float = 5.0
    networkUpJitter: float = 0.25
    maxRetryLater: float = 3600.0
    alertAfter: float | None = 60.0
    alertEvery: float = 600.0
    networkMonitor: Any = None
    backoff: IBackoff | None = None
    rng: random.Random = SHARED_RNG
    keepAlive: tuple[float, float, int] | None = (5.0, 2.0, 3)
    userTimeout: float | None = 15.0
    noisy = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("buildProtocol")
        if build is not None and not getattr(build, "_reconnectTracked", False):
            cls.buildProtocol = _trackBuild(build)  # type: ignore[method-assign]

    def __init__(
        self,
        *,
        backoff: IBackoff | Callable[[int], float] | None = None,
        handshake: Callable[[Any], Any] | None = None,
        policy: IReconnectPolicy | Callable[..., Decision] | None = None,
        networkMonitor: Any = None,
        clock: IReactorTime | None = None,
        connectTimeout: float = 30.0,
        handshakeTimeout: float = 30.0,
        minUptime: float = 5.0,
        networkUpJitter: float = 0.25,
        maxRetryLater: float = 3600.0,
        alertAfter: float | None = 60.0,
        alertEvery: float = 600.0,
        rng: random.Random | None = None,
        keepAlive: tuple[float, float, int] | None = (5.0, 2.0, 3),
        userTimeout: float | None = 15.0,
    ) -> None:
        # Only what differs from the class defaults is stored on the instance:
        # a subclass's class attributes stay in force, and an idle factory
        # stays small (see bench/memory.py).
        if rng is not None:
            self.rng = checkRng(rng)
        if backoff is not None:
            self.backoff = asBackoff(backoff)
        if handshake is not None:
            if not callable(handshake):
                raise TypeError(f"handshake must be callable, not {handshake!r}")
            self._handshakeHook = handshake
        if policy is not None:
            self._policy = asPolicy(policy)
        if networkMonitor is not None:
            for name in ("start", "stop", "addObserver"):
                if not callable(getattr(networkMonitor, name, None)):
                    raise TypeError(
                        f"networkMonitor must provide INetworkMonitor "
                        f"(no {name}()), not {networkMonitor!r}"
                    )
            self.networkMonitor = networkMonitor
        if clock is not None:
            if not callable(getattr(clock, "callLater", None)):
                raise TypeError(f"clock must provide IReactorTime, not {clock!r}")
            self.clock = cast(Any, clock)
        for name, value in (
            ("connectTimeout", connectTimeout),
            ("handshakeTimeout", handshakeTimeout),
            ("minUptime", minUptime),
            ("networkUpJitter", networkUpJitter),
            ("maxRetryLater", maxRetryLater),
            ("alertAfter", alertAfter),
            ("alertEvery", alertEvery),
            ("userTimeout", userTimeout),
        ):
            if value is None and name in ("alertAfter", "userTimeout"):
                self._setIfChanged(name, None)
            else:
                self._setIfChanged(name, checkDelay(name, value))
        if keepAlive is not None:
            if not isinstance(keepAlive, tuple) or len(keepAlive) != 3:
                raise TypeError(
                    f"keepAlive must be (idle, interval, count) or None, "
                    f"not {keepAlive!r}"
                )
            idle, interval, count = keepAlive
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(f"keepAlive count must be an int >= 1, not {count!r}")
            keepAlive = (
                checkDelay("keepAlive idle", idle),
                checkDelay("keepAlive interval", interval),
                count,
            )
        self._setIfChanged("keepAlive", keepAlive)

    def _setIfChanged(self, name: str, value: object) -> None:
        if value != getattr(ReconnectingFactory, name):
            setattr(self, name, value)

    # -- the machine ----------------------------------------------------------

    @property
    def _machine(self) -> Machine:
        # Created lazily: subclasses written for RCF may not call __init__.
        machine: Machine | None = self.__dict__.get("_machineInstance")
        if machine is None:
            machine = self.__dict__["_machineInstance"] = Machine(self)
        return machine

    def _getClock(self) -> IReactorTime:
        if self.clock is None:
            from twisted.internet import reactor

            self.clock = reactor
        return cast(IReactorTime, self.clock)

    def backoffSchedule(self) -> IBackoff:
        """
        The schedule in force: ``backoff``, else one built from RCF's tuning
        attributes if they were overridden, else ``ExponentialBackoff()``.
        """
        if self.backoff is not None:
            return self.backoff
        if any(self._overrides(name) for name in _TUNING):
            return ExponentialBackoff(
                initialDelay=max(0.0, float(self.initialDelay)),
                factor=max(1.0, float(self.factor)),
                maxDelay=max(float(self.maxDelay), max(0.0, float(self.initialDelay))),
                jitter=min(1.0, max(0.0, float(self.jitter))),
                rng=self.rng,
            )
        if "rng" not in self.__dict__:
            return _DEFAULT_BACKOFF
        default: ExponentialBackoff | None = self.__dict__.get("_defaultBackoff")
        if default is None:  # the caller's rng, for reproducible schedules
            default = self.__dict__["_defaultBackoff"] = ExponentialBackoff(
                rng=self.rng
            )
        return default

    def _overrides(self, name: str) -> bool:
        if name in self.__dict__:
            return True
        for cls in type(self).__mro__:
            if cls is ReconnectingFactory:
                return False
            if name in cls.__dict__:
                return True
        return False  # pragma: no cover

    def _track(self, protocol: Protocol | None) -> None:
        """
        Arrange for the machine to hear when ``protocol``'s ``connectionMade``
        has returned and when its ``connectionLost`` has run.
        """
        if protocol is None:
            return
        try:
            if "makeConnection" in vars(protocol):
                return
        except TypeError:  # __slots__ protocols have no __dict__
            _log.error(
                "Cannot track {protocol!r}: it has no __dict__", protocol=protocol
            )
            return
        # Instance attributes that shadow the class's methods once: the object
        # stays the application's own, and the machine hears of the loss
        # however clientConnectionLost is overridden. (partial objects: an
        # idle connection pays a few dozen bytes for them.)
        machine = self._machine
        attributes = vars(protocol)
        attributes["makeConnection"] = functools.partial(machine.protocolMade, protocol)
        attributes["connectionLost"] = functools.partial(machine.protocolLost, protocol)

    @_trackBuild
    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:
        """
        Build the application's protocol (``self.protocol``), as any factory.
        """
        return cast("Protocol | None", super().buildProtocol(addr))

    def _configureTransport(self, transport: Any) -> None:
        """
        Turn on TCP keepalive and ``TCP_USER_TIMEOUT`` on ``transport``'s
        socket, where it has one and the platform has the options.
        """
        options = _socketOptions(self.keepAlive, self.userTimeout)
        if not options:
            return
        getHandle = getattr(transport, "getHandle", None)
        handle = getHandle() if getHandle is not None else None
        if not isinstance(handle, socket.socket) or handle.type != socket.SOCK_STREAM:
            return
        if handle.family not in (socket.AF_INET, socket.AF_INET6):
            return
        for level, option, value in options:
            try:
                handle.setsockopt(level, option, value)
            except OSError:
                _log.failure("Could not set socket option {option}", option=option)

    def _vanishedLocalAddress(self, protocol: Any) -> str | None:
        """
        The connection's local IP address if it is no longer assigned to this
        host (checked by binding a UDP socket to it: no packet is sent), else
        ``None``.
        """
        getHost = getattr(getattr(protocol, "transport", None), "getHost", None)
        address = getattr(getHost(), "host", None) if getHost is not None else None
        if not isinstance(address, str) or not address:
            return None
        try:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            probe = socket.socket(family, socket.SOCK_DGRAM)
        except OSError:
            return None
        try:
            probe.bind((address.split("%")[0], 0))
        except OSError as e:
            return address if e.errno == errno.EADDRNOTAVAIL else None
        finally:
            probe.close()
        return None

    def _startHandshake(self, protocol: Any) -> Deferred[Any] | None:
        """Start the handshake; ``None`` when there is none at all."""
        hook = self.__dict__.get("_handshakeHook")
        if type(self).handshake is ReconnectingFactory.handshake:
            if hook is None:
                return None
            if isinstance(hook, HandshakeSteps):
                return hook.run(protocol, self._getClock())
        return callHandshake(self.handshake, protocol)

    # -- hooks for subclasses -------------------------------------------------

    def handshake(self, protocol: Any) -> Deferred[Any] | None:
        """
        The business handshake, called after ``protocol.connectionMade`` has
        returned. Return ``None`` (success), or a Deferred (or coroutine) that
        fires on success or fails with the reason (e.g.
        :class:`~reconnect_twisted.HandshakeRejected`).

        The default runs the ``handshake=`` argument, or succeeds at once.
        """
        hook = self.__dict__.get("_handshakeHook")
        if hook is None:
            return None
        return hook(protocol)  # type: ignore[no-any-return]

    def decide(self, failure: Failure, status: ConnectionStatus) -> Decision:
        """
        Decide what follows a failed attempt or a lost connection. The
        default asks the ``policy=`` argument (``DefaultPolicy``).
        """
        policy = self.__dict__.get("_policy")
        if policy is None:
            if self.maxRetryLater == _DEFAULT_POLICY.maxRetryLater:
                policy = _DEFAULT_POLICY
            else:
                policy = self.__dict__["_policy"] = DefaultPolicy(self.maxRetryLater)
        decision: Decision = policy.decide(failure, status)
        return decision

    def outageAlert(self, status: ConnectionStatus) -> None:
        """
        Called when an outage has lasted ``alertAfter`` seconds, then every
        ``alertEvery`` seconds: override to page someone. The default does
        nothing (a critical ``outage`` event is logged either way).
        """

    # -- status and controls --------------------------------------------------

    @property
    def status(self) -> ConnectionStatus:
        """The current :class:`~reconnect_twisted.ConnectionStatus`."""
        return self._machine.status

    def addStatusObserver(
        self, callback: Callable[[ConnectionStatus], object]
    ) -> Callable[[], None]:
        """
        Call ``callback(status)`` on every change of state, attempt or
        ``nextAttemptAt``; returns a callable that unsubscribes.
        """
        return self._machine.addObserver(callback)

    def whenConnected(self) -> Deferred[Any]:
        """
        A Deferred that fires with the protocol once connected (handshake
        done; at once if connected now) or fails with
        :class:`~reconnect_twisted.GaveUp` if the factory stops first.
        """
        return self._machine.whenConnected()

    def reconnectNow(self) -> Deferred[Any]:
        """
        Attempt at once from ``WAITING``, ``OFFLINE`` or ``STOPPED`` (which
        resumes trying with a fresh schedule); no new attempt otherwise.
        Returns :meth:`whenConnected`: it fails with
        :class:`~reconnect_twisted.GaveUp` if the factory stops first, so a
        caller that ignores it (a UI button) should consume that, e.g.
        ``factory.reconnectNow().addErrback(lambda failure: None)``, or
        Twisted logs an unhandled error when the Deferred is collected.
        """
        return self._machine.reconnectNow()

    def giveUp(self, reason: str = "gave up") -> Deferred[None]:
        """
        Stop trying, abort any attempt or handshake and close the live
        connection. The Deferred fires once no transport is left open.
        """
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, not {reason!r}")
        return self._machine.giveUp(reason)

    def stopTrying(self) -> None:
        """
        Make no further attempts: cancel a scheduled retry and any attempt or
        handshake in flight. An established connection stays open, but is not
        re-established once lost.
        """
        self._machine.stopTrying("stopped: stopTrying() called")

    def resetDelay(self) -> None:
        """
        Restart the backoff schedule and the attempt counter. It never
        re-enables trying after ``stopTrying()``/``giveUp()``.
        """
        machine = self._machine
        machine.resetSchedule()
        machine.notify()

    def retry(self, connector: IConnector | None = None) -> None:
        """
        RCF compatibility (``ReconnectingClientFactory.clientConnectionFailed``
        and ``clientConnectionLost`` call it): an attempt still marked in
        flight has failed; before the first attempt, wait the schedule's next
        delay. Otherwise the machine already knows, and nothing happens.
        """
        machine = self._machine
        if connector is not None and machine.driver is None:
            machine.driver = _ConnectorDriver(connector, self._getClock())
        machine.scheduleRetry()

    def kicked(self, reason: str) -> None:
        """
        The server kicked us (e.g. "same account logged in elsewhere"): close
        the connection and let the policy decide on a ``Kicked(reason)``
        failure (the default policy stops).
        """
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, not {reason!r}")
        self._machine.serverEnded(Kicked(reason))

    def retryLater(self, reason: str, after: float) -> None:
        """
        The server asked us to come back in ``after`` seconds: close the
        connection and decide on a ``RetryLater(reason, after)`` failure.
        """
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, not {reason!r}")
        if isinstance(after, bool) or not isinstance(after, int | float):
            raise TypeError(f"after must be a number of seconds, not {after!r}")
        self._machine.serverEnded(RetryLater(reason, float(after)))

    # -- RCF attributes as views of the machine -------------------------------

    @property
    def retries(self) -> int:
        """RCF's retry counter: the status's ``attempt``."""
        return self._machine.attempt

    @retries.setter
    def retries(self, value: int) -> None:
        self._machine.attempt = value

    @property
    def continueTrying(self) -> int:
        """1 while the factory will (re)connect, 0 once stopped."""
        machine = self._machine
        stopped = machine.state.value == "stopped" or machine.stopRequested
        return 0 if stopped else 1

    @continueTrying.setter
    def continueTrying(self, value: object) -> None:
        if not value:
            self.stopTrying()
        else:
            self._machine.stopRequested = None

    # -- connector callbacks ---------------------------------------------------

    def startedConnecting(self, connector: IConnector) -> None:
        """A connector began an attempt (ours, or the first connectTCP)."""
        self.connector = connector
        machine = self._machine
        driver = machine.driver
        if not (isinstance(driver, _ConnectorDriver) and driver.connector is connector):
            driver = _ConnectorDriver(connector, self._getClock())
        machine.attemptStarted(driver)

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        """The connector's attempt failed."""
        self._machine.attemptFailed(reason)

    def clientConnectionLost(self, connector: IConnector, reason: Failure) -> None:
        """
        The connector's connection was closed. Nothing to do: the machine
        heard it from the protocol already (so overrides need not call this).
        Now that the connector is idle, an attempt due at once starts at once,
        as a plain ``connector.connect()`` here would.
        """
        self.connector = connector
        machine = self._machine
        driver = machine.driver
        if isinstance(driver, _ConnectorDriver) and driver.connector is connector:
            driver.connectorIdle()
            machine.connectorIdle()

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the configuration, not the connection state (as RCF)."""
        state = dict(cast(Any, ReconnectingClientFactory).__getstate__(self))
        for key in ("_machineInstance", "_defaultBackoff"):
            state.pop(key, None)
        return state
