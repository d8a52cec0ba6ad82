"""
``ReconnectingFactory``: the connector-path adapter onto the state machine.
"""

from __future__ import annotations

import _socket
import contextlib
import errno
import functools
import math
import random
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from twisted.internet import error
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IConnector, IReactorTime
from twisted.internet.protocol import Protocol, ReconnectingClientFactory
from twisted.logger import Logger
from twisted.python.failure import Failure

from . import _status
from ._errors import Kicked, RetryLater
from ._machine import MAX_DELAY_CEILING, Hub, LostHook, Machine, MadeHook
from ._status import ConnectionStatus
from ._text import peerText
from ._validate import (
    SHARED_RNG,
    _show,
    checkAlertEvery,
    checkDelay,
    checkKeepAlive,
    checkMaxRetries,
    checkMinDelay,
    checkRng,
    checkUserTimeout,
    refuseClass,
)
from .backoff import ExponentialBackoff, IBackoff, asBackoff
from .handshake import HandshakeSteps, callHandshake
from .policy import Decision, DefaultPolicy, IReconnectPolicy, asPolicy

__all__ = ["ReconnectingFactory"]

_log = Logger(namespace="reconnect_twisted")
#: The states as ``S.CONNECTING``...: ``_status``'s module constants, not
#: ``ConnectionState.CONNECTING`` (on Python 3.11 an Enum class's attribute
#: takes ``EnumType.__getattr__``'s slow path; see ``_status``).
S = _status
_TUNING = ("initialDelay", "maxDelay", "factor", "jitter")
_RCF_DEFAULTS = (1.0, 3600.0, 2.7182818284590451, 0.11962656472)
_OBJECT_ARGUMENTS = frozenset(
    {"backoff", "handshake", "policy", "networkMonitor", "clock", "rng"}
)
_DEFAULT_BACKOFF = ExponentialBackoff()
_DEFAULT_POLICY = DefaultPolicy()
#: Reactor turns an attempt waits for a connector that is not yet idle.
_POSTPONE_TURNS = 3


def _optionalDelay(name: str) -> Callable[[Any], float | None]:
    def check(value: Any) -> float | None:
        return None if value is None else checkDelay(name, value)

    return check


def _delay(name: str) -> Callable[[Any], float]:
    return lambda value: checkDelay(name, value)


def _checkJitter(value: Any) -> float:
    """``networkUpJitter``: a delay of at most 24 h (like every delay)."""
    jitter = checkDelay("networkUpJitter", value)
    if jitter > MAX_DELAY_CEILING:
        raise ValueError(
            f"networkUpJitter must be at most {MAX_DELAY_CEILING:g} s, "
            f"not {_show(value)}"
        )
    return jitter


#: The factory's settings: name -> (default, check). Each is a property that
#: checks what is assigned (``factory.maxRetries = "3"`` raises at once, with
#: the constructor's message); a subclass's class attribute is checked when
#: the class is created.
_SETTINGS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "connectTimeout": (30.0, _delay("connectTimeout")),
    "handshakeTimeout": (30.0, _delay("handshakeTimeout")),
    "minUptime": (5.0, _delay("minUptime")),
    "networkUpJitter": (0.25, _checkJitter),
    "maxRetryLater": (3600.0, _delay("maxRetryLater")),
    "alertAfter": (60.0, _optionalDelay("alertAfter")),
    "alertEvery": (600.0, checkAlertEvery),
    "minDelay": (0.1, lambda value: checkMinDelay("minDelay", value)),
    "maxRetries": (None, checkMaxRetries),
    "keepAlive": ((5.0, 2.0, 3), checkKeepAlive),
    "userTimeout": (15.0, checkUserTimeout),
}


_SETTING_KEYS = {name: "_setting_" + name for name in _SETTINGS}


def _setting(name: str, doc: str) -> property:
    key = "_setting_" + name
    check = _SETTINGS[name][1]

    def get(self: ReconnectingFactory) -> Any:
        return getattr(self, key)  # the instance's, else the class's default

    def put(self: ReconnectingFactory, value: Any) -> None:
        value = check(value)
        if value == type(self)._settingDefaults[name]:
            # An idle factory stays small. (Only an attribute it has: CPython
            # adds the name of any attribute deleted to the class's shared
            # instance keys, and every later instance pays 8 bytes for it.)
            if getattr(self, key) is not getattr(type(self), key):
                delattr(self, key)
        else:
            setattr(self, key, value)

    return property(get, put, doc=doc)


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


#: A socket's type and family as plain ints (``_socket.socket``'s own
#: descriptors, under ``socket.socket``'s enum-making properties).
_socketType: Callable[[socket.socket], int] = _socket.socket.type.__get__
_socketFamily: Callable[[socket.socket], int] = _socket.socket.family.__get__
_INET_FAMILIES = (int(socket.AF_INET), int(socket.AF_INET6))
#: ``int | float``, built once (``_delayCeiling`` runs on every new schedule).
_NUMBER = int | float


def _describeAddress(address: object) -> str:
    host, port = getattr(address, "host", None), getattr(address, "port", None)
    if host is not None and port is not None:
        return f"{host}:{port}"
    name = getattr(address, "name", None)
    return str(name) if name is not None else str(address)


class _Link(Machine):
    """
    A link that is its own driver on the connector path (``reactor.connectTCP``
    & co.): the connector is its ``driverKey``. No driver object per
    connection (see bench/memory.py); on the endpoint path its driver is the
    service's.
    """

    __slots__ = ()

    def drive(self, connector: IConnector) -> None:
        """Make attempts through ``connector`` from now on."""
        if self.driverKey is not connector:
            self._description = None
        self.driver = self
        self.driverKey = connector

    @property
    def connector(self) -> IConnector:
        """The connector (for ``failover.rotationOf``)."""
        return self.driverKey  # type: ignore[return-value]

    def startAttempt(self) -> None:
        """
        ``connector.connect()``; if the connector is still winding down the
        previous connection (we are inside its ``connectionLost``), on the
        next reactor turn. A connector that is still not idle after
        ``_POSTPONE_TURNS`` turns (its transport never reported the close,
        e.g. a test's plain ``StringTransport``) is asked to connect anyway:
        if it refuses, the attempt fails and the schedule goes on (never a
        busy loop of zero-delay calls).
        """
        connector: IConnector = self.driverKey  # type: ignore[assignment]
        x = self._x
        postponed = None
        if x is not None and x._postponed is not None:
            postponed, x._postponed = x._postponed, None
        if getattr(connector, "state", "disconnected") != "disconnected":
            turns = 0 if postponed is None else postponed[1]
            if turns < _POSTPONE_TURNS:
                call = self.clock.callLater(0, self._postponedAttempt)
                self._postponed = (call, turns + 1)
                return
            if self.hub.firstTime("connector not idle"):
                _log.warn(
                    "Connector to {target} is still {state!r} after its "
                    "connection was closed; connecting anyway",
                    target=self._target(),
                    state=getattr(connector, "state", None),
                )
        connector.connect()

    def _postponedAttempt(self) -> None:
        try:
            self.startAttempt()
        except Exception:
            self.hub.run(self.attemptFailed, Failure())

    def startPostponed(self) -> None:
        """The connector is disconnected now: start a postponed attempt."""
        x = self._x
        if x is None or x._postponed is None:
            return
        postponed, x._postponed = x._postponed, None
        if postponed[0].active():
            postponed[0].cancel()
            self.startAttempt()

    def connectorLost(self, connector: IConnector, reason: Failure) -> None:
        """
        The connector's ``clientConnectionLost`` (an event). Now that it is
        idle, a postponed attempt starts, and a retry that is already due (a
        zero delay) starts now rather than a reactor turn later. Reported
        with no connection made (RCF's own tests do this), the attempt failed.
        """
        if self.state is S.IDLE and self.protocol is None:
            self.attemptFailed(reason)
            return
        if self.driver is not self or self.driverKey is not connector:
            return
        x = self._x
        if x is not None and x._postponed is not None:
            self.startPostponed()
        elif self.state is S.CONNECTING and self.protocol is None:
            # Lost with no connection made, and not the previous connection
            # winding down (no attempt postponed behind it): this attempt's
            # buildProtocol() returned None (Twisted closed a bare Protocol).
            self.attemptFailed(reason)
            return
        timer = self._timer  # (nextAttemptAt, inline)
        if self.state is S.WAITING and timer is not None:
            clock = self.hub._clock  # (_now(), inline: every lost connection)
            if clock is None:
                clock = self.hub.clock
            if timer.getTime() <= clock.seconds():
                self._connectNow()

    def inFlight(self) -> bool:
        """Whether the connector is still making the attempt it reported."""
        return getattr(self.driverKey, "state", "connecting") == "connecting"

    def cancelAttempt(self) -> None:
        """``connector.stopConnecting()``, if it is connecting."""
        postponed, self._postponed = self._postponed, None
        if postponed is not None and postponed[0].active():
            postponed[0].cancel()
        with contextlib.suppress(error.NotConnectingError):
            self.connector.stopConnecting()

    def timesOut(self, timeout: float) -> bool:
        """
        Whether the connector's own timeout (``reactor.connectTCP``'s
        ``timeout``, 30 s by default) is ``timeout``: then it fails the
        attempt when the machine's connect timeout would, and the machine
        arms none (one timer less per attempt).
        """
        # (Not isinstance(connector, BaseConnector): an ABC's check is a
        # Python call per attempt, for the same answer.)
        return bool(getattr(self.driverKey, "timeout", None) == timeout)

    def describe(self) -> str:
        """The connector's destination."""
        x = self._x
        connector: IConnector = self.driverKey  # type: ignore[assignment]
        if x is None:  # not failing: not kept (an idle connection keeps no text)
            return _describeAddress(connector.getDestination())
        description: str | None = x._description
        if description is None:
            description = x._description = _describeAddress(connector.getDestination())
        return description

    def _stayedUp(self) -> None:
        self._description = None  # (a long-lived connection keeps no text)
        super()._stayedUp()


def _untracked(cls: type, name: str) -> Any:
    """
    The function ``cls.name`` resolves to if the machine must wrap it: one
    defined by ``cls`` itself, or inherited from a base that is not a
    ``ReconnectingFactory`` (a framework factory listed first, as in
    ``class F(pb.PBClientFactory, ReconnectingFactory)``); ``None`` when it
    is wrapped already or is ``ReconnectingFactory``'s own.
    """
    for base in cls.__mro__:
        method = base.__dict__.get(name)
        if method is None:
            continue
        if getattr(method, "_reconnectTracked", False):
            return None
        if base is not cls and issubclass(base, ReconnectingFactory):
            return None  # (its own, or wrapped when that class was made)
        return method if callable(method) else None
    return None  # pragma: no cover (ReconnectingFactory defines them all)


def _frameworkInitOf(cls: type) -> tuple[Callable[..., None], bool] | None:
    """
    The ``__init__`` that RCF would leave to run in ``cls`` (a framework
    factory's, after ``ReconnectingFactory`` in the MRO), and whether it
    can be called with no arguments; ``None`` if there is none.
    """
    import inspect

    mro = cls.__mro__
    for base in mro[mro.index(ReconnectingFactory) + 1 :]:
        init = base.__dict__.get("__init__")
        if base is object:
            return None
        if init is not None:
            try:
                parameters = list(inspect.signature(init).parameters.values())[1:]
            except (TypeError, ValueError):
                return cast(Callable[..., None], init), False
            bare = all(
                p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                for p in parameters
            )
            return cast(Callable[..., None], init), bare
    return None  # pragma: no cover (object ends every MRO)


def _rcfRetries(self: Any, connector: IConnector, reason: Failure) -> None:
    """
    RCF's ``clientConnectionFailed``/``clientConnectionLost``, for a class
    that overrides ``retry()`` alone (wrapped by ``_trackReport``, which
    reports first).
    """
    if self.continueTrying:
        self.connector = connector
        self.retry()


def _trackBuild(
    build: Callable[[Any, IAddress | None], Protocol | None],
) -> Callable[[Any, IAddress | None], Protocol | None]:
    @functools.wraps(build)
    def buildProtocol(
        self: ReconnectingFactory, addr: IAddress | None
    ) -> Protocol | None:
        hub = self._hubInstance or self._hub
        if hub.busy:  # inside an event already: its queue holds the controls
            protocol = build(self, addr)
            self._track(protocol)
            return protocol
        hub.busy = True
        try:
            protocol = build(self, addr)
        finally:
            hub.busy = False
        # Controls called from buildProtocol wait for the connection to be
        # made (it is made right after this returns).
        if hub._queue is not None:  # (none called: nothing to hold, no call)
            hub.hold(protocol)
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
        starts within this many seconds (uniformly drawn; at most 24 h).
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
    :param args: with a framework factory listed after this class in the
        bases (``class F(ReconnectingFactory, WebSocketClientFactory)``),
        the positional and unknown keyword arguments are the framework's:
        its ``__init__`` runs first with them, as ``super().__init__(...)``
        reaches it under RCF (which has no ``__init__``); given none, it
        runs if it needs no argument. Refused (``TypeError``, naming them)
        without a framework base.
    :param kwargs: see ``args``.
    """

    #: The ``__init__`` of a framework factory after ``ReconnectingFactory``
    #: in the class's bases, and whether it takes no required argument (set
    #: by ``__init_subclass__``).
    _frameworkInit: tuple[Callable[..., None], bool] | None = None

    _settingDefaults: dict[str, Any] = {name: d for name, (d, _) in _SETTINGS.items()}

    connectTimeout = _setting(
        "connectTimeout", "Seconds each transport attempt may take (0: none)."
    )
    handshakeTimeout = _setting(
        "handshakeTimeout", "Seconds the business handshake may take (0: none)."
    )
    minUptime = _setting(
        "minUptime", "Seconds a connection must stay up before the schedule resets."
    )
    networkUpJitter = _setting(
        "networkUpJitter", "Spread of the attempt made when the network comes back."
    )
    maxRetryLater = _setting(
        "maxRetryLater", "The longest wait a server's retryLater() may impose."
    )
    alertAfter = _setting(
        "alertAfter", "Seconds of outage before the first alert (None: never)."
    )
    alertEvery = _setting("alertEvery", "Seconds between repeated alerts (0: once).")
    minDelay = _setting("minDelay", "The floor under every retry delay, in seconds.")
    maxRetries = _setting(
        "maxRetries", "Failed attempts in a row before giving up (None: never)."
    )
    keepAlive = _setting(
        "keepAlive", "TCP keepalive ``(idle, interval, count)``, or None."
    )
    userTimeout = _setting("userTimeout", "TCP_USER_TIMEOUT in seconds, or None.")

    networkMonitor: Any = None
    backoff: IBackoff | None = None
    policy: IReconnectPolicy | None = None
    rng: random.Random = SHARED_RNG
    noisy = False

    # Per-factory state, read as attributes with these class defaults and
    # never through ``self.__dict__`` (which would give every factory a dict
    # object of its own: see bench/memory.py).
    _hubInstance: Hub | None = None
    _lastConnector: IConnector | None = None
    _handshakeHook: Callable[[Any], Any] | None = None
    _policy: IReconnectPolicy | None = None
    _defaultBackoff: ExponentialBackoff | None = None
    _rcfBackoffCache: tuple[tuple[Any, ...], IBackoff] | None = None
    if TYPE_CHECKING:  # (set below, from _SETTINGS: what the machine reads)
        _setting_connectTimeout: float | None
        _setting_maxRetries: int | None
        _setting_minDelay: float
        _setting_minUptime: float
        _setting_maxRetryLater: float
        _setting_handshakeTimeout: float | None
        _setting_alertAfter: float | None
        _setting_keepAlive: tuple[float, float, int] | None
        _setting_userTimeout: float | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if _untracked(cls, "retry") is not None:
            # RCF's clientConnectionFailed/Lost call self.retry(): where they
            # are still ours, an overridden retry() is called as RCF would.
            for name in ("clientConnectionFailed", "clientConnectionLost"):
                if getattr(cls, name) is getattr(ReconnectingFactory, name):
                    setattr(cls, name, _rcfRetries)
        build = _untracked(cls, "buildProtocol")
        if build is not None:
            cls.buildProtocol = _trackBuild(build)  # type: ignore[method-assign]
        for name in ("clientConnectionFailed", "clientConnectionLost"):
            method = _untracked(cls, name)
            if method is not None:
                setattr(cls, name, _trackReport(method, name))
        cls._frameworkInit = _frameworkInitOf(cls)
        started = _untracked(cls, "startedConnecting")
        if started is not None:
            cls.startedConnecting = _trackStarted(started)  # type: ignore[assignment,method-assign]
        defaults = None
        for name, (_, check) in _SETTINGS.items():
            if name in cls.__dict__ and not isinstance(cls.__dict__[name], property):
                if defaults is None:
                    defaults = dict(cls._settingDefaults)
                try:
                    defaults[name] = check(cls.__dict__[name])
                except (TypeError, ValueError, OverflowError) as e:
                    raise type(e)(f"{cls.__name__}.{e}") from None
                delattr(cls, name)
        if defaults is not None:
            cls._settingDefaults = defaults
            for name, value in defaults.items():
                setattr(cls, _SETTING_KEYS[name], value)
        if "policy" in cls.__dict__ and cls.__dict__["policy"] is not None:
            cls.policy = asPolicy(cls.__dict__["policy"])
        if "backoff" in cls.__dict__ and cls.__dict__["backoff"] is not None:
            cls.backoff = asBackoff(cls.__dict__["backoff"])

    def __init__(
        self,
        *args: Any,
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
        minDelay: float = 0.1,
        rng: random.Random | None = None,
        keepAlive: tuple[float, float, int] | None = (5.0, 2.0, 3),
        userTimeout: float | None = 15.0,
        **kwargs: Any,
    ) -> None:
        frameworkInit = type(self)._frameworkInit
        if frameworkInit is not None:
            # Cooperative, as super().__init__(...) reaches it under RCF: with
            # the arguments that are not ours; with none, only if it needs
            # none (else the subclass calls it itself, with its arguments).
            init, bare = frameworkInit
            if args or kwargs or bare:
                init(self, *args, **kwargs)
        elif args:
            raise TypeError(
                f"{type(self).__name__}() takes keyword arguments only "
                f"({len(args)} positional given)"
            )
        elif kwargs:
            raise TypeError(
                f"{type(self).__name__}() got an unexpected keyword argument "
                f"{peerText(next(iter(kwargs)), 60)!r}"
            )
        self.configure(
            backoff=backoff,
            handshake=handshake,
            policy=policy,
            networkMonitor=networkMonitor,
            clock=clock,
            connectTimeout=connectTimeout,
            handshakeTimeout=handshakeTimeout,
            minUptime=minUptime,
            networkUpJitter=networkUpJitter,
            maxRetryLater=maxRetryLater,
            alertAfter=alertAfter,
            alertEvery=alertEvery,
            minDelay=minDelay,
            rng=rng,
            keepAlive=keepAlive,
            userTimeout=userTimeout,
        )

    def configure(self, **settings: Any) -> None:
        """
        Set any of the constructor's arguments, checked as the constructor
        checks them: for mixins whose first base owns ``__init__`` (e.g.
        ``class F(WebSocketClientFactory, ReconnectingFactory)``), call
        ``self.configure(backoff=..., handshake=...)`` from your ``__init__``.
        Class attributes of the same names work too.

        :raises TypeError: for an unknown argument, or a bad value (naming it).
        :raises ValueError: for a bad value, naming the argument.
        """
        # Only what differs from the class defaults is stored on the instance:
        # a subclass's class attributes stay in force, and an idle factory
        # stays small (see bench/memory.py).
        for name, value in settings.items():
            if name in _SETTINGS:
                setattr(self, name, value)
                continue
            if value is None:
                if name not in _OBJECT_ARGUMENTS:
                    raise TypeError(f"configure() got an unexpected argument {name!r}")
                continue
            if name == "rng":
                self.rng = checkRng(value)
            elif name == "backoff":
                self.backoff = asBackoff(value)
            elif name == "handshake":
                if not callable(value):
                    raise TypeError(f"handshake must be callable, not {value!r}")
                self._handshakeHook = value
            elif name == "policy":
                self._policy = asPolicy(value)
            elif name == "networkMonitor":
                if isinstance(value, type):
                    refuseClass(name, value)
                for method in ("start", "stop", "addObserver"):
                    if not callable(getattr(value, method, None)):
                        raise TypeError(
                            f"networkMonitor must provide INetworkMonitor "
                            f"(no {method}()), not {value!r}"
                        )
                self.networkMonitor = value
            elif name == "clock":
                if isinstance(value, type):
                    refuseClass(name, value)
                if not callable(getattr(value, "callLater", None)):
                    raise TypeError(f"clock must provide IReactorTime, not {value!r}")
                self.clock = cast(Any, value)
            else:
                raise TypeError(f"configure() got an unexpected argument {name!r}")

    def _setting(self, name: str) -> Any:
        """A checked setting, for the machine (the property's value)."""
        return getattr(self, _SETTING_KEYS[name])

    # -- the machine ----------------------------------------------------------

    @property
    def _hub(self) -> Hub:
        # Created lazily: subclasses written for RCF may not call __init__.
        hub = self._hubInstance
        if hub is None:
            hub = self._hubInstance = Hub(self, _Link)
        return hub

    @property
    def _machine(self) -> Machine:
        """The first (usually the only) link's machine."""
        return self._hub.primary

    def _machineClock(self) -> IReactorTime:
        return self._getClock()

    def _getClock(self) -> IReactorTime:
        clock = self.clock
        if clock is None:
            # (Not stored: an idle factory stays small; the hub keeps it.)
            from twisted.internet import reactor as clock
        return cast(IReactorTime, clock)

    def backoffSchedule(self) -> IBackoff:
        """
        The schedule in force: ``backoff``, else one built from RCF's tuning
        attributes if they were overridden, else ``ExponentialBackoff()``.
        """
        if self.backoff is not None:
            return self.backoff
        if any(self._overrides(name) for name in _TUNING):
            return self._rcfBackoff()
        if self.rng is SHARED_RNG:
            return _DEFAULT_BACKOFF
        default = self._defaultBackoff
        if default is None:  # the caller's rng, for reproducible schedules
            default = self._defaultBackoff = ExponentialBackoff(
                rng=self.rng
            )
        return default

    def _rcfBackoff(self) -> IBackoff:
        """
        A capped exponential schedule from RCF's ``initialDelay``,
        ``maxDelay``, ``factor`` and ``jitter``, as RCF code sets them. A value
        that cannot be used is reported once, naming it, and replaced by the
        nearest usable one (``jitter = None`` means no jitter; an
        ``initialDelay <= 0`` uses ``minDelay``).
        """
        values = tuple(getattr(self, name) for name in _TUNING)
        cached = self._rcfBackoffCache
        if cached is not None and cached[0] == values:
            return cached[1]
        used: dict[str, float] = {}
        for name, value, default in zip(_TUNING, values, _RCF_DEFAULTS, strict=True):
            if value is None and name == "jitter":
                used[name] = 0.0
                continue
            try:
                number = float(value)
                if math.isnan(number) or math.isinf(number):
                    raise ValueError(value)
            except (TypeError, ValueError, OverflowError):
                self._reportOnce(
                    f"rcf {name}",
                    f"RCF attribute {name} = {value!r} cannot be used; using "
                    f"{default!r}",
                )
                number = default
            used[name] = number
        initial = used["initialDelay"]
        if initial <= 0:
            initial = self.minDelay
        factor = max(1.0, used["factor"])
        maxDelay = max(used["maxDelay"], initial)
        jitter = used["jitter"]
        if not 0.0 <= jitter <= 1.0:
            self._reportOnce(
                "rcf jitter range",
                f"RCF attribute jitter = {jitter!r} is outside [0, 1]; clamped",
            )
            jitter = min(1.0, max(0.0, jitter))
        backoff = ExponentialBackoff(
            initialDelay=initial,
            factor=factor,
            maxDelay=maxDelay,
            jitter=jitter,
            rng=self.rng,
        )
        self._rcfBackoffCache = (values, backoff)
        return backoff

    def _reportOnce(self, key: str, message: str) -> None:
        if self._hub.firstTime(key):
            # Not "message": the legacy log bridge overwrites that key with ().
            _log.warn("{text}", text=message)

    def _delayCeiling(self) -> float:
        """The longest delay a schedule may give (its ``maxDelay`` or 24 h)."""
        schedule = self.backoff if self.backoff is not None else None
        maxDelay = getattr(schedule, "maxDelay", None)
        if isinstance(maxDelay, _NUMBER) and 0 < maxDelay < MAX_DELAY_CEILING:
            return float(maxDelay)
        return MAX_DELAY_CEILING

    def _overrides(self, name: str) -> bool:
        if name in self.__dict__:
            return True
        for cls in type(self).__mro__:
            if cls is ReconnectingFactory:
                return False
            if name in cls.__dict__:
                return True
        return False  # pragma: no cover

    def _track(self, protocol: Protocol | None, link: Machine | None = None) -> None:
        """
        Arrange for the machine to hear when ``protocol``'s ``connectionMade``
        has returned and when its ``connectionLost`` has run.
        """
        hub = self._hubInstance or self._hub
        if protocol is None:
            hub.run(hub.noProtocol)
            return
        # Instance attributes that shadow the class's methods once: the object
        # stays the application's own, and the machine hears of the loss
        # however clientConnectionLost is overridden. Set with setattr, never
        # through vars() (which would give the instance a dict of its own),
        # as two small slotted callables: an idle connection pays ~50 bytes
        # for its connectionLost hook (see bench/memory.py).
        made = getattr(protocol, "makeConnection", None)
        if not (
            type(made) is MadeHook
            or getattr(made, "__self__", None) is protocol
        ):
            return  # the application's own instance attribute
        made, lost = MadeHook(), LostHook()  # (their slots set here: no frames)
        made.hub, made.link, made.protocol = hub, link, protocol
        lost.hub, lost.protocol = hub, protocol
        try:
            protocol.makeConnection = made  # type: ignore[method-assign]
            protocol.connectionLost = lost  # type: ignore[method-assign]
        except AttributeError:  # __slots__ protocols have no __dict__
            _log.error(
                "Cannot track {protocol}: it has no __dict__",
                protocol=type(protocol).__name__,
            )

    @_trackBuild
    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:
        """
        Build the application's protocol (``self.protocol``), as any factory.
        """
        protocol: Any = super().buildProtocol(addr)  # (Any: no cast() call)
        return protocol  # type: ignore[no-any-return]

    def _configureTransport(self, transport: Any) -> None:
        """
        Turn on TCP keepalive and ``TCP_USER_TIMEOUT`` on ``transport``'s
        socket, where it has one and the platform has the options. A failure
        is logged once per factory; the connection is kept.
        """
        try:
            options = _socketOptions(
                self._setting_keepAlive, self._setting_userTimeout
            )
            if not options:
                return
            getHandle = getattr(transport, "getHandle", None)
            handle = getHandle() if getHandle is not None else None
            if not isinstance(handle, socket.socket):
                return
            # (The plain ints: socket.socket's own .type and .family build
            # enum members, 0.7 us a connection.)
            if _socketType(handle) != socket.SOCK_STREAM or _socketFamily(
                handle
            ) not in _INET_FAMILIES:
                return
            for level, option, value in options:
                handle.setsockopt(level, option, value)
        except Exception:
            if self._hub.firstTime("socket options"):
                _log.failure("Could not set socket options; keeping the connection")

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
        hook = self._handshakeHook
        if type(self).handshake is ReconnectingFactory.handshake:
            if hook is None:
                return None
            if isinstance(hook, HandshakeSteps):
                return hook.run(protocol, self._getClock())
            if "handshake" not in self.__dict__:  # (no instance attribute)
                return callHandshake(hook, protocol)  # what handshake() calls
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
        hook = self._handshakeHook
        if hook is None:
            return None
        return hook(protocol)  # type: ignore[no-any-return]

    def decide(self, failure: Failure, status: ConnectionStatus) -> Decision:
        """
        Decide what follows a failed attempt or a lost connection. The
        default asks the ``policy=`` argument or ``policy`` attribute
        (``DefaultPolicy`` when neither is set).
        """
        policy = self._policy
        if policy is None:
            policy = self.policy
            if policy is not None and not IReconnectPolicy.providedBy(policy):
                policy = self._policy = asPolicy(policy)
        if policy is None:
            if self.maxRetryLater == _DEFAULT_POLICY.maxRetryLater:
                policy = _DEFAULT_POLICY
            else:
                policy = self._policy = DefaultPolicy(self.maxRetryLater)
        decision: Decision = policy.decide(failure, status)
        return decision

    def _plainDefaultPolicy(self) -> DefaultPolicy | None:
        """
        The ``DefaultPolicy`` that decides, when nothing else does (no
        ``decide()`` override, no other policy): it reads only the failure,
        so the machine need not build a status for it.
        """
        if type(self).decide is not ReconnectingFactory.decide:
            return None
        policy = self._policy
        if policy is None and self.policy is None:
            if self._setting_maxRetryLater == _DEFAULT_POLICY.maxRetryLater:
                return _DEFAULT_POLICY
            return None
        return policy if type(policy) is DefaultPolicy else None

    def outageAlert(self, status: ConnectionStatus) -> None:
        """
        Called when an outage has lasted ``alertAfter`` seconds, then every
        ``alertEvery`` seconds: override to page someone. The default does
        nothing (a critical ``outage`` event is logged either way).
        """

    # -- status and controls --------------------------------------------------
    #
    # Controls may be called from anywhere, user callbacks included: each is
    # an event that takes effect after the current step (see docs/states.rst).

    @property
    def status(self) -> ConnectionStatus:
        """
        The current :class:`~reconnect_twisted.ConnectionStatus` (with several
        connectors, the aggregate: see :attr:`members`).
        """
        return self._hub.status()

    @property
    def members(self) -> list[ConnectionStatus]:
        """
        The status of each connector (or service) the factory is used with,
        in the order they were first used: one item unless the factory serves
        a pool.
        """
        return [link.status for link in self._hub.links()]

    def addStatusObserver(
        self, callback: Callable[[ConnectionStatus], object]
    ) -> Callable[[], None]:
        """
        Call ``callback(status)`` on every change of state, attempt or
        ``nextAttemptAt``; returns a callable that unsubscribes. Observers
        are called between steps: whatever control they call takes effect
        right after they return.
        """
        return self._hub.addObserver(callback)

    def whenConnected(self) -> Deferred[Any]:
        """
        A Deferred that fires with the protocol once connected (handshake
        done; at once if connected now) or fails with
        :class:`~reconnect_twisted.GaveUp` if the factory stops first.
        """
        return self._hub.whenConnected()

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
        return self._hub.reconnectNow()

    def giveUp(self, reason: str = "gave up") -> Deferred[None]:
        """
        Stop trying, abort any attempt or handshake and close the live
        connection. The Deferred fires once no transport is left open.
        """
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, not {_show(reason)}")
        return self._hub.giveUp(reason)

    def stopTrying(self) -> None:
        """
        Make no further attempts: cancel a scheduled retry and any attempt or
        handshake in flight. An established connection stays open, but is not
        re-established once lost. Before the first connection (RCF's
        connect-once idiom) the connection the application then asks for is
        made, once.
        """
        self._hub.control(_stopTrying)

    def resetDelay(self) -> None:
        """
        Restart the backoff schedule and the attempt counter. It never
        re-enables trying after ``stopTrying()``/``giveUp()``. Called while a
        connection is younger than ``minUptime`` (RCF code calls it from
        ``buildProtocol``), it takes effect once the connection has stayed up
        that long.
        """
        self._hub.control(Machine.resetDelay)

    def retry(self, connector: IConnector | None = None) -> None:
        """
        RCF compatibility (``ReconnectingClientFactory.clientConnectionFailed``
        and ``clientConnectionLost`` call it, and so do their overrides): an
        attempt still in flight has failed, for the reason the connector
        reported; before the first attempt, wait the schedule's next delay.
        Otherwise the machine already knows, and nothing happens. Without a
        ``connector``, RCF's ``self.connector`` (the connector that last
        reported) is meant.

        A subclass that overrides ``retry`` (to log, or to point the
        connector at the next server) and leaves ``clientConnectionFailed``
        and ``clientConnectionLost`` alone has it called as RCF calls it:
        after each failed attempt or lost connection while
        ``continueTrying``, with ``self.connector`` set and no argument.
        """
        hub = self._hub
        if connector is None:
            # RCF's retry() means self.connector: the connector that last
            # reported (a pool's other links are not concerned).
            connector = self.connector
        if connector is not None:
            link = hub.linkFor(connector)
            if link.driver is None:
                cast(_Link, link).drive(connector)
            hub.run(Machine.scheduleRetry, link)
        else:
            hub.control(Machine.scheduleRetry)

    def kicked(self, reason: str, protocol: Any = None) -> None:
        """
        The server kicked us (e.g. "same account logged in elsewhere"): close
        the connection and let the policy decide on a ``Kicked(reason)``
        failure (the default policy stops). With several connectors, pass the
        ``protocol`` that was kicked (``None``: every connected one). A kick
        is about the account, not one connection: when the policy's answer
        stops the kicked connector's link (the default policy's answer),
        every other link of the factory stops too, with the same reason,
        closing its connection. A policy that returns ``Reconnect()`` or
        ``ReconnectAfter(...)`` for a kick retries the kicked link alone and
        leaves the others alone.
        """
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, not {_show(reason)}")
        self._forLinks(protocol, _kickLink, Kicked(reason), [])

    def retryLater(self, reason: str, after: float, protocol: Any = None) -> None:
        """
        The server asked us to come back in ``after`` seconds: close the
        connection and decide on a ``RetryLater(reason, after)`` failure. The
        hint is a lower bound on the next delay, never a shortcut past the
        backoff; a negative, NaN or infinite hint is logged and ignored.
        """
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, not {_show(reason)}")
        if isinstance(after, bool) or not isinstance(after, int | float):
            raise TypeError(f"after must be a number of seconds, not {_show(after)}")
        try:
            hint = float(after)
        except OverflowError:
            hint = math.inf
        if not 0.0 <= hint < math.inf:
            _log.warn(
                "Ignoring the retry hint {after} from the server (not a "
                "finite number >= 0)",
                after=peerText(_show(after), 40),
            )
            hint = 0.0
        self._serverEnded(RetryLater(reason, hint), protocol)

    def rejected(
        self, reason: str, permanent: bool = False, protocol: Any = None
    ) -> None:
        """
        Fail the running business handshake, from the protocol (e.g. on a
        server's "bad password" reply), as if the handshake had failed with
        ``HandshakeRejected(reason, permanent)``: ``permanent=True`` makes the
        default policy give up.
        """
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, not {_show(reason)}")
        self._forLinks(protocol, Machine.rejected, reason, bool(permanent))

    def _serverEnded(self, error: Kicked | RetryLater, protocol: Any) -> None:
        self._forLinks(protocol, Machine.serverEnded, error)

    def _forLinks(
        self, protocol: Any, handler: Callable[..., object], *args: Any
    ) -> None:
        hub = self._hub

        def event() -> None:
            links = hub.links()
            if protocol is not None:
                owner = hub.linkOwning(protocol)
                links = [owner] if owner is not None else []
            elif len(links) > 1:
                live = [
                    link for link in links if link.state in (S.HANDSHAKING, S.CONNECTED)
                ]
                links = live or links[:1]
            for link in links:
                handler(link, *args)

        hub.run(event)

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
        return 1 if any(link.isTrying() for link in self._hub.links()) else 0

    @continueTrying.setter
    def continueTrying(self, value: object) -> None:
        if not value:
            self.stopTrying()
        else:
            self._hub.control(Machine.continueTrying)

    # -- connector callbacks ---------------------------------------------------

    @property
    def connector(self) -> IConnector | None:
        """
        RCF's ``connector``: the connector that last reported (its attempt
        started, or its connection was lost), as RCF's ``retry()`` uses it.
        """
        last = self._lastConnector
        if last is not None:
            return last
        link = self._hub.primary
        if link.driver is cast(object, link):  # the connector path's own link
            return cast(IConnector, link.driverKey)
        return None

    @connector.setter
    def connector(self, connector: IConnector | None) -> None:
        hub = self._hubInstance
        link = None if hub is None else hub.primary
        self._noteConnector(
            connector,
            link is not None
            and link.driver is cast(object, link)
            and link.driverKey is connector,
        )

    def _noteConnector(self, connector: IConnector | None, ofFirstLink: bool) -> None:
        # Stored only when it is not what the first link drives (a pool's
        # other connector, or set by hand): nothing for the common case.
        if ofFirstLink:
            if self._lastConnector is not None:
                del self._lastConnector
        else:
            self._lastConnector = connector

    def startedConnecting(self, connector: IConnector) -> None:
        """A connector began an attempt (ours, or the first connectTCP)."""
        hub = self._hubInstance or self._hub
        link = hub.primary
        if link.driverKey is not connector:  # (the one-connector fast path)
            link = hub.linkFor(connector)
        ofFirstLink = link is hub.primary
        if not ofFirstLink or self._lastConnector is not None:  # (rare: no call)
            self._noteConnector(connector, ofFirstLink)
        if link.state is S.CONNECTING and link.driverKey is connector:
            return  # the attempt we just started reporting itself: not news
        hub.run(self._startedConnecting, link, connector)

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        """The connector's attempt failed."""
        hub = self._hubInstance or self._hub
        link = hub.primary
        if link.driverKey is not connector:  # (the one-connector fast path)
            link = self._linkOfConnector(connector)
        x = link._x
        if x is not None and x.dropping:
            return  # our own cancel reporting back
        hub.run(link.attemptFailed, reason)

    def clientConnectionLost(self, connector: IConnector, reason: Failure) -> None:
        """
        The connector's connection was closed. The machine heard it from the
        protocol already (so overrides need not call this). Now that the
        connector is idle, an attempt due at once starts at once, as a plain
        ``connector.connect()`` here would. Called with no connection made
        (RCF's own tests do this), it schedules a retry, as RCF does.
        """
        hub = self._hubInstance or self._hub
        link: Machine = hub.primary
        if link.driverKey is connector:  # (the one-connector fast path)
            if self._lastConnector is not None:
                self._noteConnector(connector, True)
        else:
            self.connector = connector
            link = self._linkOfConnector(connector)
        hub.run(_Link.connectorLost, link, connector, reason)

    def _startedConnecting(self, link: Machine, connector: IConnector) -> None:
        if getattr(connector, "state", "connecting") != "connecting":
            return  # a report that outlived its attempt (cancelled meanwhile)
        own = cast(_Link, link)
        own.drive(connector)
        own.attemptStarted(own, connector)

    def _linkOfConnector(self, connector: IConnector) -> Machine:
        hub = self._hub
        link = hub.linkFor(connector)
        if link.driver is None and connector is not None:
            cast(_Link, link).drive(connector)
        return link

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the configuration, not the connection state (as RCF)."""
        state = dict(cast(Any, ReconnectingClientFactory).__getstate__(self))
        for key in ("_hubInstance", "_defaultBackoff", "_rcfBackoffCache"):
            state.pop(key, None)
        return state


# A setting the instance does not hold reads as the class's default, stored
# as ``_setting_<name>`` (a subclass's own by __init_subclass__): one
# attribute lookup for the machine's hot path.
for _name, (_default, _) in _SETTINGS.items():
    setattr(ReconnectingFactory, _SETTING_KEYS[_name], _default)
del _name, _default


def _stopTrying(link: Machine) -> None:
    link.stopTrying("stopped: stopTrying() called")


def _kickLink(link: Machine, error: Kicked, stoppedAll: list[Machine]) -> None:
    """
    ``kicked()`` for one link; if that stops it, stop every other link of
    the factory with the same reason (see ``ReconnectingFactory.kicked``).
    ``stoppedAll``: the links this kick has stopped already (one kick for
    every connected link, ``kicked(reason)`` in a pool).
    """
    if link in stoppedAll:
        return
    wasStopped = link.state is S.STOPPED
    link.serverEnded(error)
    failure = link.lastFailure
    if (
        wasStopped
        or link.state is not S.STOPPED
        or failure is None
        or failure.value is not error
    ):
        return
    reason = link.stopReason or str(error)
    for other in link.hub.links():
        if other is not link and other.state is not S.STOPPED:
            other.giveUp(reason)
            stoppedAll.append(other)


def _trackStarted(
    method: Callable[[Any, IConnector], None],
) -> Callable[[Any, IConnector], None]:
    """
    Wrap a subclass's ``startedConnecting`` (Twisted's client howto
    overrides it without calling the base method, a no-op in RCF): the
    machine hears of the attempt first, then the override runs, the machine
    at rest (a control it calls takes effect at once). An override that
    raises is logged; the attempt goes on, as the connector's does.
    """

    @functools.wraps(method)
    def wrapper(self: ReconnectingFactory, connector: IConnector) -> None:
        ReconnectingFactory.startedConnecting(self, connector)
        try:
            method(self, connector)
        except Exception:
            _log.failure("startedConnecting() raised; carrying on")

    wrapper._reconnectTracked = True  # type: ignore[attr-defined]
    return wrapper


def _trackReport(
    method: Callable[[Any, IConnector, Failure], None], name: str
) -> Callable[[Any, IConnector, Failure], None]:
    """
    Wrap a subclass's ``clientConnectionFailed``/``clientConnectionLost``:
    remember the connector's reason before the override runs (so that its
    ``self.retry(connector)`` reports the real reason), and report the
    failure afterwards if the override did not pass it on at all.
    """

    @functools.wraps(method)
    def wrapper(
        self: ReconnectingFactory, connector: IConnector, reason: Failure
    ) -> None:
        hub = self._hub
        link = self._linkOfConnector(connector)
        if link.dropping:
            return  # our own cancel reporting back: not news for the override
        link.reportedReason = reason if isinstance(reason, Failure) else None

        def override() -> None:
            try:
                method(self, connector, reason)
            except Exception:
                _log.failure("{name}() raised; carrying on", name=name)

        # What the connector reported came first: it is handled before
        # whatever the override called (retry(), stopTrying()...).
        if name == "clientConnectionFailed":
            hub.calloutThen(override, (), link.attemptFailed, (reason,))
        else:
            hub.calloutThen(
                override, (), _Link.connectorLost, (link, connector, reason)
            )

    wrapper._reconnectTracked = True  # type: ignore[attr-defined]
    return wrapper
