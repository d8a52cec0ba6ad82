"""
The one state machine behind every reconnecting factory.

All state changes happen here. The two adapters (the connector path in
``_factory.py`` and the endpoint path in ``_service.py``) only translate their
callbacks into events and perform attempts through a :class:`Driver`.

Run to completion
-----------------
Every entry point (an adapter callback, a control, a timer, the network
monitor, a handshake finishing) is an *event* handed to :meth:`Hub.run`.
Events are handled one at a time: an event that arrives while another is
being handled (a control called from an observer, a policy, a backoff, a
handshake, a ``whenConnected`` callback, the protocol's ``connectionMade``,
the monitor...) is queued and handled right after the current one, against
the state that one left. Observers and waiters are called only between
events, with the state committed, so whatever they call lands in the queue.

One link per connector
----------------------
A factory's configuration, policy, observers, waiters and network monitor
belong to its :class:`Hub`; state, attempt counter, schedule, timers,
transport and handshake belong to a :class:`Machine` (a "link"), one per
connector or service the factory is used with. One link is the common case.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.error import ConnectError, ConnectionClosed, ConnectionLost
from twisted.internet.error import TimeoutError as _PathTimeout
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from . import _status
from ._errors import (
    ConnectTimeout,
    GaveUp,
    HandshakeRejected,
    HandshakeTimeout,
    Kicked,
    RetryLater,
)
from ._status import TRANSITIONS, ConnectionState, ConnectionStatus
from ._validate import _show, errorText, peerText, safeName
from .failover import FailoverConnector, ServerRotation, rotationOf
from .policy import GiveUp, Reconnect, ReconnectAfter, isDecision

if TYPE_CHECKING:
    from ._factory import ReconnectingFactory

#: The states as ``S.CONNECTING``...: ``_status``'s module constants, not
#: ``ConnectionState.CONNECTING`` (on Python 3.11 an Enum class's attribute
#: takes ``EnumType.__getattr__``'s slow path; see ``_status``).
S = _status
_log = Logger(namespace="reconnect_twisted")


def _emit(level: LogLevel, format: str, /, **fields: object) -> None:
    """
    ``_log.emit(level, format, **fields)`` without ``Logger.emit``'s check of
    the level against every ``LogLevel`` (a sorted walk of the constants, on
    every attempt): the same event, for the same observers.
    """
    fields.update(_LEVEL_FIELDS[level])
    fields["log_format"] = format
    fields["log_time"] = time.time()
    _log.observer(fields)


#: The fields _emit() adds to an event at each level (built once).
_LEVEL_FIELDS = {
    level: {
        "log_logger": _log,
        "log_level": level,
        "log_namespace": _log.namespace,
        "log_source": None,
    }
    for level in (LogLevel.warn, LogLevel.info)
}
#: ``_log.warn``, for the lines of every failed attempt (a partial: no frame).
_warn = functools.partial(_emit, LogLevel.warn)
#: ``_log.info``, for the lines of every connection.
_info = functools.partial(_emit, LogLevel.info)

#: "Not given": Machine._target() looks the rotation up itself.
_ASK = object()
#: Seconds ``giveUp()`` waits for ``loseConnection`` before ``abortConnection``.
CLOSE_TIMEOUT = 5.0
#: Seconds after an abort without ``connectionLost`` before the machine warns
#: (a transport that never reports its close, e.g. a bare ``StringTransport``)
#: and stops waiting for it.
ABORT_TIMEOUT = 5.0
#: Delay used when a backoff schedule itself fails (raises or ends).
FALLBACK_DELAY = 5.0
#: The longest delay a custom schedule may ask for without a ``maxDelay``.
MAX_DELAY_CEILING = 24 * 3600.0
#: A network-up within this many seconds of the last one that reset the
#: schedule does not reset it again (a flapping link must not cause a storm).
NETWORK_UP_COOLDOWN = 10.0
#: Network-up keeps a wait of at most this many seconds at a schedule's first
#: step in a fresh outage (see Machine._lostWithTheNetwork); longer ones are
#: cut by a probe.
NETWORK_UP_KEEP = 5.0

#: Which state a pool's aggregate status shows: the first of these any link is in.
_AGGREGATE_ORDER = (
    S.CONNECTED,
    S.HANDSHAKING,
    S.CONNECTING,
    S.WAITING,
    S.OFFLINE,
    S.IDLE,
    S.STOPPED,
)


def _sideClass(name: str, fields: dict[str, object]) -> Any:
    """
    A slotted class holding ``fields`` (name -> default): the rarely set
    state of a hub or link, created on the first write of a value other
    than the default (an idle connection holds none; see bench/memory.py).
    The class that sets it as ``_sideType`` gets its fields as properties
    from :func:`_withSide`.
    """
    defaults = tuple(fields.items())

    def init(self: Any) -> None:
        for key, value in defaults:
            setattr(self, key, value)

    def isDefault(self: Any) -> bool:
        return all(getattr(self, key) is value for key, value in defaults)

    return type(
        name,
        (),
        {
            "__slots__": tuple(fields),
            "__init__": init,
            "isDefault": isDefault,
            "defaults": defaults,
        },
    )


_T = TypeVar("_T")


def _withSide(cls: type[_T]) -> type[_T]:
    """
    Class decorator: each field of ``cls._sideType`` becomes a property of
    ``cls`` (see :func:`_side`). Their types are declared for mypy in the
    class body, under ``TYPE_CHECKING``.
    """
    for name, default in cls._sideType.defaults:  # type: ignore[attr-defined]
        setattr(cls, name, _side(name, default))
    return cls


def _side(name: str, default: object) -> Any:
    """
    A field of the object's side object ``_x`` (see :func:`_sideClass`),
    read as ``default`` while there is none. Hot paths read ``_x`` directly.
    """

    def get(self: Any) -> Any:
        x = self._x
        return default if x is None else getattr(x, name)

    def put(self: Any, value: Any) -> None:
        x = self._x
        if x is None:
            if value is default:
                return
            x = self._x = self._sideType()
        setattr(x, name, value)

    return property(get, put)


class UptimeMarks:
    """
    The ``minUptime`` marks (or the outage alerts) of the links on one
    clock, gathered on a grid of ``1/GRID`` s: one timer per grid point
    that has links due, instead of one per connection (a timer per
    connection cost ~470 bytes until its mark: bench/memory.py; and a fleet
    of failing links doubled the reactor's timer heap with their alerts).
    (Not the connect and handshake timeouts: armed and cancelled on every
    connection, they cost more instructions on the grid than as a
    DelayedCall, even with 8 connections cycling.) At the grid point at or
    before its mark a link takes a timer of its own for the rest (under
    ``1/GRID`` s; none for a mark on the grid, e.g. at whole seconds), so
    every mark is exact. A link that leaves CONNECTED before its mark is
    counted out, and a grid point's timer is cancelled when no live link is
    left on it.
    """

    GRID = 8

    __slots__ = ("_clock", "_due", "_method", "clockRef")

    def __init__(
        self, clock: IReactorTime, clockRef: weakref.ref[IReactorTime], method: str
    ) -> None:
        self._clock = clock
        self.clockRef = clockRef
        self._method = method
        # grid point -> [its timer, the links added to it, how many are live].
        # A list, not a set: a link that leaves early is only counted out
        # (``discard``) and skipped when the point is reached (its mark is
        # another, or none); a dict per grid point, grown and freed with
        # thousands of connections, cost ~40 bytes of RSS per connection.
        self._due: dict[float, list[Any]] = {}

    @classmethod
    def keyOf(cls, due: float) -> float:
        """The grid point at or before ``due``."""
        return math.floor(due * cls.GRID) / cls.GRID

    def add(self, link: Machine, delay: float) -> float:
        """
        Call ``link.<method>(key)`` (as an event) at the grid point at or
        before ``delay`` s from now; return the mark's time. Each mark
        returned is discarded at most once (``discard``), or reached.
        """
        now = self._clock.seconds()
        due = now + delay
        key = self.keyOf(due)
        entry = self._due.get(key)
        if entry is None:
            call = self._clock.callLater(max(0.0, key - now), self._reached, key)
            self._due[key] = [call, [link], 1]
        else:
            entry[1].append(link)
            entry[2] += 1
        return due

    def discard(self, link: Machine, due: float) -> None:
        """Forget ``link``'s mark at ``due`` (returned by ``add``)."""
        key = self.keyOf(due)
        entry = self._due.get(key)
        if entry is None:
            return
        entry[2] -= 1
        if entry[2] <= 0:  # nobody left on this grid point
            del self._due[key]
            if entry[0].active():
                entry[0].cancel()

    def _reached(self, key: float) -> None:
        entry = self._due.pop(key, None)
        if entry is None:
            return
        method = self._method
        for link in entry[1]:  # (the handler skips a link whose mark is not here)
            link.hub.run(getattr(link, method), key)


#: The marks of each clock, by ``(id(clock), method)``: the ``minUptime``
#: marks (``_markReached``) and the outage alerts (``_alertMarkReached``). A
#: plain dict (two lookups per connection; a WeakKeyDictionary makes a weak
#: reference per lookup); an entry goes with its clock (a test's Clock comes
#: and goes).
_MARKS: dict[tuple[int, str], UptimeMarks] = {}


def _marksOf(clock: IReactorTime, method: str = "_markReached") -> UptimeMarks | None:
    """The clock's marks; ``None`` for a clock that takes no weak reference."""
    key = (id(clock), method)
    marks = _MARKS.get(key)
    if marks is not None and marks.clockRef() is clock:
        return marks

    def gone(_: object, marks: dict[tuple[int, str], UptimeMarks] = _MARKS) -> None:
        marks.pop(key, None)  # (a default: module globals may be gone at exit)

    try:
        ref = weakref.ref(clock, gone)
    except TypeError:  # no weak reference
        return None
    marks = _MARKS[key] = UptimeMarks(clock, ref, method)
    return marks


#: What a hub and a link keep in slots (the rest: their side objects).
_HUB_SLOTS = ("_clock", "_queue", "_x", "busy", "owner", "primary")
_LINK_SLOTS = (
    "_timer",
    "_x",
    "attempt",
    "driver",
    "driverKey",
    "hub",
    "outageSince",
    "protocol",
    "since",
    "state",
)


class MadeHook:
    """
    Set as a new protocol's ``makeConnection`` instance attribute: removes
    itself, runs the application's own ``makeConnection`` (and so
    ``connectionMade``), then reports it, ahead of whatever
    ``connectionMade`` called.
    """

    # No __init__: the factory's _track() sets the slots (no Python frame
    # per connection).
    __slots__ = ("hub", "link", "protocol")
    hub: Hub
    link: Machine | None
    protocol: Any

    def __call__(self, transport: Any) -> None:
        # (Hub's work done here: no frame more per connection.)
        hub, link, protocol = self.hub, self.link, self.protocol
        del protocol.makeConnection  # the class's own again
        if link is None:
            x = hub._x
            if x is None or x._extra is None:  # (linkOfProtocol's one-link case)
                link = hub.primary
            else:
                link = hub.linkOfProtocol(protocol, transport)
        hub.calloutThen(
            protocol.makeConnection,
            (transport,),
            link.protocolMade,
            (protocol,),
            protocol,
        )


class LostHook:
    """
    Set as a tracked protocol's ``connectionLost`` instance attribute:
    removes itself, runs the application's own ``connectionLost``, then
    reports the loss, ahead of whatever ``connectionLost`` called. Slotted:
    every idle connection holds one.
    """

    __slots__ = ("hub", "protocol")  # (set by _track(), as MadeHook's)
    hub: Hub
    protocol: Any

    def __call__(self, reason: Failure = connectionDone) -> None:
        hub, protocol = self.hub, self.protocol
        del protocol.connectionLost  # the class's own again
        hub.calloutThen(
            protocol.connectionLost, (reason,), hub._lost, (protocol, reason)
        )


class Driver(Protocol):
    """
    How one path makes and cancels transport attempts.
    """

    def startAttempt(self) -> None:
        """Begin a transport connection attempt (may report back at once)."""

    def cancelAttempt(self) -> None:
        """Cancel the attempt in flight, if any."""

    def describe(self) -> str:
        """A short description of the target, for logs."""

    def timesOut(self, timeout: float) -> bool:
        """
        Whether the path itself fails an attempt after ``timeout`` seconds
        (with ``twisted.internet.error.TimeoutError``), so that the machine
        need not arm a connect timeout of its own.
        """


def abortTransport(protocol: Any) -> None:
    """
    Close ``protocol``'s transport at once (``abortConnection`` when the
    transport has it, ``loseConnection`` otherwise).
    """
    transport = getattr(protocol, "transport", None)
    if transport is None:
        return
    abort = getattr(transport, "abortConnection", None)
    if abort is not None:
        abort()
    else:
        transport.loseConnection()


@_withSide
class Hub:
    """
    The factory-level half of the machine: the event queue, the observers,
    the ``whenConnected()`` and ``giveUp()`` waiters, the network monitor
    subscription and the links.
    """

    # One per factory: what a plain idle factory uses is slotted, the rest
    # lives in the side object ``_x`` (see _sideClass).
    __slots__ = _HUB_SLOTS  # (a name, not a literal: mypy sees the side fields)

    _sideType = _sideClass(
        "_HubSide",
        {
            "_closedWaiters": None,
            "_delivering": False,
            "_extra": None,
            "_held": None,
            "_lastNotified": None,
            "_observers": None,
            "_pending": None,
            "_unwatchNetwork": None,
            "_waiters": None,
            "monitorBroken": False,
            "networkResetAt": None,
            "networkUp": None,
            "once": None,
        },
    )
    if TYPE_CHECKING:  # (for mypy: the side fields, properties by @_withSide)
        _closedWaiters: list[Deferred[None]] | None
        _delivering: bool
        _extra: list[Machine] | None  # a pool's further links
        _held: dict[int, tuple[IDelayedCall, list[Any]]] | None
        _lastNotified: ConnectionStatus | None
        _observers: list[Callable[[ConnectionStatus], object]] | None
        _pending: list[ConnectionStatus] | None
        _unwatchNetwork: Callable[[], None] | None
        _waiters: list[Deferred[Any]] | None
        monitorBroken: bool
        networkResetAt: float | None
        networkUp: bool | None
        once: set[str] | None  # "logged once per factory" keys

    def __init__(
        self, owner: ReconnectingFactory, linkType: type[Machine] | None = None
    ) -> None:
        if linkType is None:
            linkType = Machine
        self.owner = owner
        self.busy = False
        self._x: Any = None
        self._clock: IReactorTime | None = None  # the links' clock, at first use
        self._queue: list[tuple[Callable[..., object], tuple[Any, ...]]] | None = None
        self.primary = linkType(owner, self)

    @property
    def clock(self) -> IReactorTime:
        """
        The owner's clock (the global reactor only if none was given), fixed
        at first use.
        """
        clock = self._clock
        if clock is None:
            clock = self._clock = self.owner._machineClock()
        return clock

    # -- run to completion -----------------------------------------------------

    def run(self, handler: Callable[..., object], *args: Any) -> None:
        """
        Handle one event (``handler(*args)``) to completion, then every event
        queued meanwhile; if an event is being handled already, queue it.
        Then, with the machine at rest, tell the observers and settle the
        waiters (what they call is handled at once, as a new event).
        """
        if self.busy:
            queue = self._queue
            if queue is None:
                queue = self._queue = []
            queue.append((handler, args))
            return
        self.busy = True
        broken = False
        try:
            while True:
                try:
                    handler(*args)
                except Exception:
                    _log.failure("reconnect_twisted internal error; please report")
                    broken = True
                queue = self._queue
                if not queue:
                    break
                handler, args = queue.pop(0)
        finally:
            self.busy = False
            self._queue = None  # (an idle factory holds no queue)
        if broken:
            self.run(self._recover)
        x = self._x
        if x is not None and (x._pending or x._waiters or x._closedWaiters):
            self._flush()

    def _recover(self) -> None:
        """
        After an internal error: a link the failed step left between states
        with nothing due (no timer of its state) is put back on the
        schedule, ``FALLBACK_DELAY`` later, its attempt or connection
        abandoned, so that the factory never stays wedged.
        """
        try:
            self._recoverLinks()
        except Exception:  # (never raises: run() would recover again)
            _log.failure("reconnect_twisted could not recover; please report")

    def _recoverLinks(self) -> None:
        owner = self.owner
        for link in self.links():
            if link._timer is not None:
                continue
            state = link.state
            if state is S.CONNECTING:
                timeout = owner._setting_connectTimeout
                if not timeout or link._pathTimesOut(timeout):
                    continue  # (no timeout of ours: waiting is its normal state)
            elif state is S.HANDSHAKING:
                if not owner._setting_handshakeTimeout:
                    continue
            elif state is not S.WAITING:
                continue
            try:
                link._abandonAttempt()
                link._wait(FALLBACK_DELAY)
            except Exception:
                _log.failure("reconnect_twisted could not recover; please report")

    def calloutThen(
        self,
        function: Callable[..., object],
        args: tuple[Any, ...],
        handler: Callable[..., object],
        handlerArgs: tuple[Any, ...],
        protocolOf: object = None,
    ) -> Failure | None:
        """
        Call user code that reports something (the protocol's
        ``makeConnection``/``connectionLost``, an overridden
        ``clientConnectionFailed``): whatever it calls is queued, and
        ``handler(*handlerArgs)`` (what happened, which came first) is
        handled before it. Returns the failure if the user code raised.
        """
        queue = self._queue  # (made by run() if the user code calls a control)
        mark = 0 if queue is None else len(queue)
        wasBusy, self.busy = self.busy, True
        failure: Failure | None = None
        try:
            function(*args)
        except Exception:
            failure = Failure()
        finally:
            self.busy = wasBusy
        if failure is not None:
            handlerArgs = (*handlerArgs, failure)
        x = self._x
        held = None
        if x is not None and x._held:
            held = x._held.pop(id(protocolOf), None)
            if not x._held:
                x._held = None
        if not (wasBusy or mark or held is not None):
            # First in line, nothing held (the common case): handled now,
            # with what the user code called queued after it.
            self.run(handler, *handlerArgs)
            return failure
        queue = self._queue
        if queue is None:
            queue = self._queue = []
        queue.insert(mark, (handler, handlerArgs))
        if held is not None:
            call, events = held
            if call.active():
                call.cancel()
            for offset, event in enumerate(events, 1):
                queue.insert(mark + offset, event)
        if not wasBusy:
            handler, handlerArgs = queue.pop(0)
            self.run(handler, *handlerArgs)
        return failure

    def hold(self, protocol: object) -> None:
        """
        Keep the events queued while ``buildProtocol`` ran until
        ``protocol``'s connection is made (they follow that report), or, if
        it never is, until the next reactor turn.
        """
        events, self._queue = self._queue, None
        if not events:
            return
        if protocol is None:
            self._queue = events[1:]
            handler, args = events[0]
            self.run(handler, *args)
            return
        if self._held is None:
            self._held = {}
        call = self.owner._machineClock().callLater(0, self._release, id(protocol))
        self._held[id(protocol)] = (call, events)

    def _release(self, key: int) -> None:
        held = self._held.pop(key, None) if self._held else None
        if not self._held:
            self._held = None
        if held is None:
            return
        events = held[1]
        queue = self._queue
        if queue is None:
            queue = self._queue = []
        queue.extend(events[1:])
        handler, args = events[0]
        self.run(handler, *args)

    def _flush(self) -> None:
        """At rest: tell the observers, settle the waiters, in order."""
        if self._delivering:
            return  # an observer or waiter called a control: the loop goes on
        self._delivering = True
        try:
            while True:
                pending = self._pending
                while pending:
                    status = pending.pop(0)
                    for observer in list(self._observers or ()):
                        try:
                            observer(status)
                        except Exception:
                            _log.failure(
                                "Status observer {observer} raised; ignored",
                                observer=safeName(observer),
                            )
                if self._waiters:
                    self._settleWaiters()
                waiting = len(self._waiters or ())
                if self._closedWaiters and not any(
                    link.closing for link in self.links()
                ):
                    waiters, self._closedWaiters = self._closedWaiters, None
                    for waiter in waiters:
                        if not waiter.called:
                            waiter.callback(None)
                if self._pending:
                    continue
                # A callback that asked for another Deferred (a giveUp()
                # from a giveUp() callback, a whenConnected()): settle it
                # too, or it would wait for a status change that never comes.
                if self._closedWaiters and not any(
                    link.closing for link in self.links()
                ):
                    continue
                if len(self._waiters or ()) == waiting:
                    return
        finally:
            self._delivering = False
            x = self._x
            if x is not None and x.isDefault():
                self._x = None  # (nothing left that an idle factory needs)

    # -- links -----------------------------------------------------------------

    def links(self) -> list[Machine]:
        """Every link, the primary first."""
        x = self._x
        extra = None if x is None else x._extra
        return [self.primary] if extra is None else [self.primary, *extra]

    def linkFor(self, driverKey: object) -> Machine:
        """
        The link that attempts through ``driverKey`` (a connector, a
        service): its own, else a free one (never used, or stopped with
        nothing open), else a new one (a pool).
        """
        primary = self.primary
        if primary.driverKey is driverKey:
            return primary  # the common case: one connector
        for link in self.links():
            if link.driverKey is driverKey:
                return link
        for link in self.links():
            if link.isFree():
                return link
        link = type(self.primary)(self.owner, self)
        stop = self._stopForNewLink()
        if stop is not None:
            link.stopRequested = stop  # (connect once, as the others)
        if self._extra is None:
            self._extra = []
        self._extra.append(link)
        _log.info(
            "{factory} is used with several connectors: each keeps its own "
            "connection ({count} now)",
            factory=type(self.owner).__name__,
            count=len(self._extra) + 1,
        )
        return link

    def _stopForNewLink(self) -> str | None:
        """
        The stop request a link made now inherits: when every link was told
        to stop (``stopTrying()`` before the connectors, RCF's connect-once
        idiom, or a stopped factory), a connector added later connects once
        too; ``None`` while any link is still trying.
        """
        reason = None
        for other in self.links():
            if other.isTrying():
                return None
            reason = reason or other.stopRequested or other.stopReason or "stopped"
        return reason

    def linkOfProtocol(self, protocol: Any, transport: Any = None) -> Machine:
        """The link a new connection's protocol belongs to."""
        x = self._x
        if x is None or x._extra is None:
            return self.primary
        # tcp.Client has .connector; a TLS connection's transport is a
        # TLSMemoryBIOProtocol whose .transport forwards to the tcp.Client.
        for candidate in (transport, getattr(transport, "transport", None)):
            connector = getattr(candidate, "connector", None)
            if connector is not None:
                for link in self.links():
                    if link.driverKey is connector:
                        return link
        for link in self.links():
            if link.state is S.CONNECTING and link.protocol is None:
                return link
        return self.primary

    def linkOwning(self, protocol: Any) -> Machine | None:
        """The link whose current or closing connection is ``protocol``."""
        for link in self.links():
            if link.protocol is protocol or link.closing is protocol:
                return link
        return None

    # -- status ----------------------------------------------------------------

    def status(self, changed: Machine | None = None) -> ConnectionStatus:
        """
        The factory's status: the one link's, or a pool's aggregate (the
        best state of any link; the other fields from ``changed``, else from
        the link in that state).
        """
        x = self._x
        if x is None or x._extra is None:
            return self.primary.status
        links = self.links()
        best = min(links, key=lambda link: _AGGREGATE_ORDER.index(link.state))
        source = changed if changed is not None else best
        status = source.status
        if status.state is not best.state:
            status = dataclasses.replace(status, state=best.state, since=best.since)
        return status

    def notify(self, changed: Machine) -> None:
        """Queue the current status for the observers (delivered between events)."""
        x = self._x
        if x is None or not x._observers:
            return  # nobody listens: build no snapshot (the hot path)
        status = self.status(changed)
        if status == self._lastNotified:
            return
        self._lastNotified = status
        pending = self._pending
        if pending is None:
            pending = self._pending = []
        pending.append(status)
        if not self.busy:
            self._flush()

    def addObserver(
        self, observer: Callable[[ConnectionStatus], object]
    ) -> Callable[[], None]:
        """See ``ReconnectingFactory.addStatusObserver``."""
        if not callable(observer):
            raise TypeError(f"callback must be callable, not {observer!r}")
        if self._observers is None:
            self._observers = []
        self._observers.append(observer)
        self._lastNotified = None

        def remove() -> None:
            if self._observers and observer in self._observers:
                self._observers.remove(observer)

        return remove

    # -- waiters ----------------------------------------------------------------

    def whenConnected(self) -> Deferred[Any]:
        """See ``ReconnectingFactory.whenConnected``."""
        if not self.busy:
            connected = self._connectedLink()
            if connected is not None:
                return succeed(connected.protocol)
            if self._allStopped():
                return fail(GaveUp(self._stopReason()))
        waiter = self._newWaiter()
        self._addWaiter(waiter)
        return waiter

    def _newWaiter(self) -> Deferred[Any]:
        def cancel(d: Deferred[Any]) -> None:
            if self._waiters and d in self._waiters:
                self._waiters.remove(d)

        return Deferred(cancel)

    def _addWaiter(self, waiter: Deferred[Any]) -> None:
        if waiter.called:
            return  # cancelled before its control was handled
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        if not self.busy:
            self._settleWaiters()

    def control(self, handler: Callable[[Machine], object]) -> None:
        """A control for every link, as one event."""
        self.run(self._everyLink, handler)

    def _everyLink(self, handler: Callable[[Machine], object]) -> None:
        for link in self.links():
            handler(link)

    def reconnectNow(self) -> Deferred[Any]:
        """See ``ReconnectingFactory.reconnectNow``."""
        waiter = self._newWaiter()
        self.run(self._reconnectNow, waiter)
        return waiter

    def _reconnectNow(self, waiter: Deferred[Any]) -> None:
        for link in self.links():
            link.reconnectNow()
        self._addWaiter(waiter)

    def giveUp(self, reason: str, link: Machine | None = None) -> Deferred[None]:
        """
        See ``ReconnectingFactory.giveUp``; with ``link``, that link only (a
        service's ``stopService()`` in a factory that several drive).
        """
        waiter: Deferred[None] = Deferred()
        self.run(self._giveUp, reason, waiter, link)
        return waiter

    def _giveUp(
        self, reason: str, waiter: Deferred[None], only: Machine | None = None
    ) -> None:
        for link in self.links() if only is None else [only]:
            link.giveUp(reason)
        if self._closedWaiters is None:
            self._closedWaiters = []
        self._closedWaiters.append(waiter)

    def _connectedLink(self) -> Machine | None:
        for link in self.links():
            if link.state is S.CONNECTED:
                return link
        return None

    def _allStopped(self) -> bool:
        return all(
            link.state is S.STOPPED and not link.attemptAfterClose
            for link in self.links()
        )

    def _stopReason(self) -> str:
        for link in self.links():
            if link.stopReason:
                return link.stopReason
        return "stopped"

    def _settleWaiters(self) -> None:
        # One at a time: a waiter's callback may change the state (its
        # control is handled at once), and the next waiter sees that.
        while self._waiters:
            connected = self._connectedLink()
            waiter = self._waiters[0]
            if connected is not None:
                del self._waiters[0]
                if not waiter.called:
                    waiter.callback(connected.protocol)
            elif self._allStopped():
                del self._waiters[0]
                if not waiter.called:
                    waiter.errback(GaveUp(self._stopReason()))
            else:
                return
        self._waiters = None

    # -- the application protocol's hooks ---------------------------------------

    def _lost(
        self, protocol: Any, reason: Failure, raised: Failure | None = None
    ) -> None:
        if raised is not None:
            _log.failure(
                "{protocol}.connectionLost() raised; ignored",
                failure=raised,
                protocol=type(protocol).__name__,
            )
        primary = self.primary
        if primary.protocol is protocol:  # (connectionLost's current case, direct)
            primary._currentLost(reason)
            return
        link = self.linkOwning(protocol)
        if link is not None:
            link.connectionLost(reason, protocol)

    def noProtocol(self) -> None:
        """
        ``buildProtocol`` returned ``None`` on the connector path. With
        several connectors the link is not known here: the connector's own
        report (``clientConnectionLost`` with no connection made) fails the
        attempt of the link it drives (``_Link.connectorLost``).
        """
        from twisted.internet.error import NoProtocol

        x = self._x
        if x is not None and x._extra is not None:
            return
        for link in self.links():
            if (
                link.state is S.CONNECTING
                and link.protocol is None
                and not getattr(link.driver, "reportsNoProtocol", False)
            ):
                link._attemptFailed(Failure(NoProtocol()))
                return

    # -- network -------------------------------------------------------------

    def ensureMonitor(self) -> None:
        """Start observing the network monitor, if there is one."""
        monitor = self.owner.networkMonitor
        if monitor is None or self._unwatchNetwork is not None or self.monitorBroken:
            return
        try:
            self._unwatchNetwork = monitor.addObserver(self._networkEvent)
            monitor.start()
            up = monitor.isUp
            if up is not None and not isinstance(up, bool):
                raise TypeError(f"isUp must be a bool or None, not {up!r}")
        except Exception:
            _log.failure(
                "Network monitor {monitor} failed; carrying on without it",
                monitor=safeName(monitor),
            )
            self.monitorBroken = True
            unwatch, self._unwatchNetwork = self._unwatchNetwork, None
            if unwatch is not None:
                try:
                    unwatch()
                except Exception:
                    _log.failure("Network monitor failed to remove its observer")
            self.networkUp = None
            return
        self.networkUp = up

    def stopMonitor(self) -> None:
        """Stop observing the monitor once no link needs it."""
        if any(link.state is not S.STOPPED for link in self.links()):
            return
        monitor = self.owner.networkMonitor
        unwatch, self._unwatchNetwork = self._unwatchNetwork, None
        if monitor is None or unwatch is None:
            return
        try:
            unwatch()
            monitor.stop()
        except Exception:
            _log.failure("Network monitor failed to stop")

    def _networkEvent(self, up: bool | None) -> None:
        self.run(self.networkChanged, up)

    def networkChanged(self, up: bool | None) -> None:
        """The network monitor reports ``up`` (``None``: it cannot tell)."""
        if up is not None and not isinstance(up, bool):
            up = None
        previous, self.networkUp = self.networkUp, up
        if up is previous:
            return
        now = self.owner._machineClock().seconds()
        if up is True and previous is False:
            _log.info("Network is up")
            last = self.networkResetAt
            reset = last is None or now - last >= NETWORK_UP_COOLDOWN
            if reset:
                self.networkResetAt = now
        else:
            reset = False
            if up is False:
                _log.info("Network is down")
        for link in self.links():
            link.networkChanged(up, previous, reset)

    # -- logging ----------------------------------------------------------------

    def firstTime(self, key: str) -> bool:
        """Whether ``key`` is being logged for the first time by this factory."""
        x = self._x  # (the side field read directly: once per failed attempt)
        once = None if x is None else x.once
        if once is None:
            once = self.once = set()
        if key in once:
            return False
        once.add(key)
        return True


@_withSide
class Machine:
    """
    The connection state machine of one link (one connector or service).

    The factory whose hooks (``handshake``, ``decide``, ``outageAlert``,
    ``backoffSchedule``) are called is its hub's ``owner``.
    """

    # One per managed connection: slots and lazily created containers keep an
    # idle connection cheap (see bench/memory.py).
    __slots__ = _LINK_SLOTS  # (a name, not a literal: mypy sees the side fields)

    #: The rarely set fields (see _sideClass): what a connection that is up,
    #: or an attempt that is simply refused, needs is slotted.
    _sideType = _sideClass(
        "_LinkSide",
        {
            "_alertAt": None,
            "_calls": None,
            "_handshake": None,
            "_description": None,
            "_postponed": None,
            "_schedule": None,
            "lastFailure": None,
            "alertedSince": None,
            "attemptAfterClose": False,
            "cancelReason": None,
            "closing": None,
            "dropping": False,
            "probe": None,
            "reportedReason": None,
            "resumeOnConnect": False,
            "retriesFrom": 0,
            "stopReason": None,
            "stopRequested": None,
        },
    )
    if TYPE_CHECKING:  # (for mypy: the side fields, properties by @_withSide)
        # The alert and abort timers by name (the state's own is _timer).
        _calls: dict[str, IDelayedCall] | None
        #: The outage alert's time, in the clock's alert marks.
        _alertAt: float | None
        _handshake: Deferred[Any] | None
        #: A postponed attempt's call and how many turns it has waited.
        _postponed: tuple[IDelayedCall, int] | None
        #: The backoff schedule in use and its ceiling.
        _schedule: tuple[Iterator[float], float] | None
        lastFailure: Failure | None
        #: The connector path's destination text, kept while failing.
        _description: str | None
        alertedSince: float | None
        attemptAfterClose: bool
        cancelReason: Failure | None
        closing: Any  # a released transport we wait to see closed
        dropping: bool  # cancelling an attempt: its report is ours
        probe: tuple[tuple[Iterator[float], float] | None, int] | None
        reportedReason: Failure | None  # seen before retry() is called
        #: The attempt count at the last resetDelay() deferred to the minUptime
        #: mark: maxRetries counts from there, as RCF's retries would.
        retriesFrom: int
        #: ``continueTrying = 1`` while STOPPED: the next connector.connect()
        #: resumes trying (RCF's resume), not a connect-once.
        resumeOnConnect: bool
        stopReason: str | None
        stopRequested: str | None  # stop once this connection ends

    def __init__(self, owner: ReconnectingFactory, hub: Hub) -> None:
        # (``owner`` is the hub's: not kept twice.)
        self.hub = hub
        self._x: Any = None
        self.state = S.IDLE
        self.since = 0.0
        self.attempt = 0

        self.driver: Driver | None = None
        self.driverKey: object = None  # the connector or service driving us
        self.protocol: Any = None  # the current connection's protocol
        self.outageSince: float | None = None
        # The state's own timer (connect timeout, handshake timeout, retry:
        # one per state, so one slot; in CONNECTED the time of its uptime
        # mark in the clock's UptimeMarks); the rare others (alert, abort) by
        # name in _calls.
        self._timer: Any = None

    # -- helpers ------------------------------------------------------------

    @property
    def clock(self) -> IReactorTime:
        """The hub's clock (the owner's, fixed at first use)."""
        return self.hub.clock

    @property
    def owner(self) -> ReconnectingFactory:
        """The factory (the hub's owner)."""
        return self.hub.owner

    def _compact(self) -> None:
        """Drop the side object once it holds nothing but defaults."""
        x = self._x
        if x is not None and x.isDefault():
            self._x = None

    def _now(self) -> float:
        clock = self.hub._clock
        if clock is None:
            clock = self.hub.clock
        return float(clock.seconds())

    def _arm(self, delay: float) -> None:
        """
        Arm the current state's timer (see ``_STATE_TIMERS``), replacing
        any; it is cancelled when the state changes (``_enter``).
        """
        if self._timer is not None:
            self._disarm()
        clock = self.hub._clock
        if clock is None:
            clock = self.hub.clock
        self._timer = clock.callLater(delay, self._timerDue)

    def _disarm(self) -> None:
        """Cancel the current state's timer, if armed."""
        timer = self._timer
        if timer is not None:
            self._timer = None
            if type(timer) is float:  # CONNECTED: a mark of the clock's marks
                marks = _marksOf(self.clock)
                if marks is not None:
                    marks.discard(self, timer)
            elif timer.active():
                timer.cancel()

    def _markReached(self, key: float) -> None:
        """The clock's marks reached ``key``, the grid point of this link's mark."""
        due = self._timer
        if type(due) is not float or UptimeMarks.keyOf(due) != key:
            return  # (it left CONNECTED, or came back with another mark)
        self._timer = None
        if self.state is not S.CONNECTED:
            return
        rest = due - self._now()
        if rest > 0:
            self._arm(rest)  # the last fraction of a grid step: its own timer
        else:
            self._stayedUp()

    def _timerDue(self) -> None:
        self.hub.run(self._onTimer, self._timer)

    def _onTimer(self, timer: IDelayedCall | None) -> None:
        if timer is None or timer is not self._timer:
            return  # replaced or cancelled while this event waited its turn
        self._timer = None
        state = self.state
        if state is S.WAITING:  # (_STATE_TIMERS' retry, inline: every attempt)
            self._connectNow()
            return
        handler = _STATE_TIMERS.get(state._value_)
        if handler is not None:
            getattr(self, handler[1])()

    def _call(self, name: str, delay: float, function: Callable[[], None]) -> None:
        calls = self._calls
        if calls is not None and name in calls:
            self._cancel(name)
        calls = self._calls
        if calls is None:  # (_cancel drops an emptied dict: fetch it after)
            calls = self._calls = {}
        calls[name] = self.clock.callLater(delay, self._fire, name, function)

    def _fire(self, name: str, function: Callable[[], None]) -> None:
        calls = self._calls
        if calls is not None:
            calls.pop(name, None)
            if not calls:
                self._calls = None  # an idle connection holds no dict
        self.hub.run(function)

    def _cancel(self, *names: str) -> None:
        calls = self._calls
        if not calls:
            return
        for name in names:
            call = calls.pop(name, None)
            if call is not None and call.active():
                call.cancel()
        if not calls:
            self._calls = None

    def pendingCalls(self) -> list[str]:
        """Names of the timers the machine holds (for tests and debugging)."""
        names = list(self._calls or ())
        if self._alertAt is not None:
            names.append("alert")
        if self._timer is not None:
            names.append(_STATE_TIMERS[self.state._value_][0])
        return sorted(names)

    @property
    def nextAttemptAt(self) -> float | None:
        """``clock.seconds()`` of the scheduled retry, if one is scheduled."""
        if self.state is not S.WAITING:
            return None
        call = self._timer
        return None if call is None else float(call.getTime())

    @property
    def status(self) -> ConnectionStatus:
        """A snapshot of this link's status."""
        return ConnectionStatus(
            state=self.state,
            attempt=self.attempt,
            nextAttemptAt=self.nextAttemptAt,
            since=self.since,
            lastFailure=self.lastFailure,
            stopReason=self.stopReason,
            networkUp=self.hub.networkUp,
            server=None if self.driver is None else self._target(),
        )

    def isTrying(self) -> bool:
        """
        Whether this link will (re)connect: not stopped and not told to
        stop, or stopped with an attempt due once its close completes, or
        stopped after ``continueTrying = 1`` (the next ``connect()``
        resumes). RCF's ``continueTrying`` reads 1 while any link is; a
        connector added to a pool inherits a stop only when none is.
        """
        return (
            (self.state is not S.STOPPED and self.stopRequested is None)
            or self.attemptAfterClose
            or self.resumeOnConnect
        )

    def isFree(self) -> bool:
        """Never used, or stopped with nothing in flight or open."""
        return (
            self.state in (S.IDLE, S.STOPPED)
            and self.protocol is None
            and self.closing is None
            and not self.attemptAfterClose
        )

    def _enter(self, state: ConnectionState) -> None:
        old = self.state
        if state is not old:
            if state._value_ not in _NEXT[old._value_]:
                _log.error(
                    "reconnect_twisted internal error; please report: "
                    "transition {old} -> {new} is not in TRANSITIONS",
                    old=old.name,
                    new=state.name,
                )
            timer = self._timer
            if timer is not None:  # (_disarm(), inline: a state's timer is its own)
                self._disarm()
            clock = self.hub._clock  # (_now(), inline: twice per attempt)
            if clock is None:
                clock = self.hub.clock
            self.since = float(clock.seconds())
        self.state = state
        if state is not S.STOPPED:
            x = self._x
            if x is not None:
                x.stopReason = None

    def notify(self) -> None:
        """Tell the hub this link's status may have changed."""
        hub = self.hub
        x = hub._x
        if x is not None and x._observers:  # (nobody listens: not even a call)
            hub.notify(self)

    def _target(self, rotation: object = _ASK) -> str:
        """
        What the link connects to, for logs and status: the failover
        server in use or being tried, else the driver's target.
        ``rotation``: ``rotationOf(self.driver)`` when the caller has it.
        """
        if self.driver is None:
            return "(not started)"
        try:
            if rotation is _ASK:
                rotation = self._rotation()
            if isinstance(rotation, ServerRotation):
                return rotation.describe()  # the server in use or being tried
            return self.driver.describe()
        except Exception:
            return type(self.driver).__name__

    def _rotation(self) -> ServerRotation | None:
        """``rotationOf(self.driver)``, the connector path's link's without calls."""
        driver: object = self.driver
        if driver is self:  # (a connector-path link: its connector is the key)
            key = self.driverKey
            return key.failoverRotation if isinstance(key, FailoverConnector) else None
        return rotationOf(driver)

    # -- schedule -----------------------------------------------------------

    def resetSchedule(self) -> None:
        """Start the backoff schedule afresh and zero the attempt counter."""
        self.attempt = 0
        x = self._x
        if x is not None:
            x._schedule = x.probe = None
            x.retriesFrom = 0

    def _nextDelay(self) -> float:
        owner = self.hub.owner
        x = self._x
        schedule = None if x is None else x._schedule
        try:
            if schedule is None:
                schedule = (
                    iter(owner.backoffSchedule().delays()),
                    owner._delayCeiling(),
                )
                if x is None:
                    self._schedule = schedule  # (makes the side object)
                else:
                    x._schedule = schedule  # (the side field, directly)
            delay = float(next(schedule[0]))
            if not delay >= 0.0:  # negative or NaN: garbage (inf is clamped)
                raise ValueError(f"backoff produced an invalid delay: {delay!r}")
        except Exception:
            if self.hub.firstTime("backoff failed"):
                _log.failure(
                    "Backoff schedule failed; retrying in {delay}s",
                    delay=FALLBACK_DELAY,
                )
            else:
                _log.warn(
                    "Backoff schedule failed again; retrying in {delay}s",
                    delay=FALLBACK_DELAY,
                )
            self._schedule = None
            delay = FALLBACK_DELAY
        ceiling = MAX_DELAY_CEILING if schedule is None else schedule[1]
        if delay > ceiling:
            if self.hub.firstTime("ceiling"):
                _log.warn(
                    "Backoff delay {delay!r}s is above {ceiling:g}s; clamped",
                    delay=delay,
                    ceiling=ceiling,
                )
            delay = ceiling
        if delay < self.hub.owner._setting_minDelay:
            return self._floor(delay)
        return delay

    def _floor(self, delay: float) -> float:
        floor = float(self.hub.owner._setting_minDelay)
        if delay < floor:
            if self.hub.firstTime("floor"):
                _log.info(
                    "Retry delay {delay:g}s is below minDelay; using {floor:g}s",
                    delay=delay,
                    floor=floor,
                )
            return floor
        return delay

    # -- inputs from the adapters -------------------------------------------

    def start(self, driver: Driver, key: object) -> None:
        """
        Begin trying with ``driver`` (the endpoint path's start). A link
        that is still trying (``reconnectNow()`` resumed it after the
        service stopped) keeps the driver of its attempt in flight.
        """
        if self.driver is None or self.state in (S.IDLE, S.STOPPED):
            self.driver = driver
            self.driverKey = key
        if self.state in (S.IDLE, S.STOPPED):
            self.stopRequested = None
            self._resume()
            if self._startedOffline(cancel=False):
                return
            self._connectNow()

    def _startedOffline(self, cancel: bool) -> bool:
        """
        If the network monitor knows, as this link starts trying, that the
        network is down, spend no attempt (``cancel``: drop the one the path
        began): the link waits OFFLINE and the network coming back starts it
        (within ``networkUpJitter``). Whether it did.
        """
        hub = self.hub
        if hub.owner.networkMonitor is None:
            return False
        hub.ensureMonitor()
        if hub.networkUp is not False:
            return False
        _log.info(
            "Network is down: connecting to {target} once it is back",
            target=self._target(),
        )
        self._armAlert()  # (no failure will arm it: none is spent)
        if self.state is S.STOPPED:
            self._enter(S.CONNECTING)  # (STOPPED leads to CONNECTING only)
        if cancel:
            self._cancelAttempt(None)
        self._enter(S.OFFLINE)
        self.notify()
        return True

    def attemptStarted(self, driver: Driver, key: object) -> None:
        """
        The path reports an attempt that has begun (on the connector path,
        ``startedConnecting``); one we did not start ourselves, e.g. the first
        ``reactor.connectTCP``, moves us to ``CONNECTING``.
        """
        inFlight = getattr(driver, "inFlight", None)
        if inFlight is not None and not inFlight():
            return  # a report that outlived its attempt (cancelled meanwhile)
        self.driver = driver
        self.driverKey = key
        if self.state is S.CONNECTING:
            return
        if self.state in (S.HANDSHAKING, S.CONNECTED):
            _log.warn(
                "A second connection attempt was started while {state}; ignored",
                state=self.state.value,
            )
            return
        if self.state is S.STOPPED and self.stopRequested is None:
            if self.resumeOnConnect:
                self.resumeOnConnect = False  # continueTrying = 1: trying again
            else:
                # connector.connect() after a stop: one connection, as RCF
                # makes.
                self.stopRequested = self.stopReason or "stopped"
        if self.state in (S.IDLE, S.STOPPED):
            self._resume()
            # (cancel: the application's connectTCP() began it: uncounted)
            if self._startedOffline(cancel=True):
                return
        self._enterConnecting()  # (leaving WAITING cancels the retry)

    def _resume(self) -> None:
        """Start trying from IDLE or STOPPED: a fresh schedule, an outage."""
        self.resetSchedule()
        owner = self.hub.owner
        # Its alert is armed at the first failure, which the timeouts
        # guarantee (without them, an attempt could hang: armed now).
        timeouts = owner._setting_connectTimeout and owner._setting_handshakeTimeout
        self._beginOutage(alert=not timeouts)

    def _connectNow(self) -> None:
        if self._timer is not None:  # (usually gone: it fired)
            self._disarm()
        x = self._x  # (the side fields read directly on the hot path)
        if x is not None and x.closing is not None:
            # One transport at a time: attempt once the old one has closed.
            self.attemptAfterClose = True
            self.notify()
            return
        if self.driver is None:
            self._stop("gave up: no connector to retry with")
            return
        self._enterConnecting(arm=False)
        try:
            self.driver.startAttempt()
        except Exception:
            if self.state is S.CONNECTING:
                self._attemptFailed(Failure())
            return
        hub = self.hub
        if self.state is S.CONNECTING and hub.owner._setting_connectTimeout:
            queue = hub._queue
            if not queue:  # nothing reported: the attempt is in flight
                self._armConnectTimeout()
            else:
                # Armed once what the attempt reported at once (a refusal,
                # say) has been handled: an attempt that failed needs none.
                # (Queued behind it directly: the hub is busy with us.)
                queue.append((self._armConnectTimeout, ()))

    def _armConnectTimeout(self) -> None:
        if self.state is not S.CONNECTING:
            return
        if self._timer is not None:
            return  # armed for this attempt already
        timeout = self.hub.owner._setting_connectTimeout
        if timeout and not self._pathTimesOut(timeout):
            self._arm(timeout)

    def _pathTimesOut(self, timeout: float) -> bool:
        driver = self.driver
        try:
            return driver is not None and driver.timesOut(timeout)
        except Exception:
            return False

    def _enterConnecting(self, arm: bool = True) -> None:
        hub = self.hub
        hubX = hub._x
        if self.hub.owner.networkMonitor is not None and (
            hubX is None or hubX._unwatchNetwork is None
        ):
            hub.ensureMonitor()
            hubX = hub._x
        x = self._x
        if x is not None:
            x.cancelReason = x.reportedReason = None
        self._enter(S.CONNECTING)
        if arm:
            timeout = self.hub.owner._setting_connectTimeout
            if timeout and not self._pathTimesOut(timeout):
                self._arm(timeout)
        if hubX is not None and hubX._observers:  # (notify(), inline)
            hub.notify(self)

    def _connectTimedOut(self) -> None:
        if self.state is not S.CONNECTING:
            return
        timeout = self.hub.owner._setting_connectTimeout
        self._cancelAttempt(
            Failure(ConnectTimeout(f"no connection within {timeout:g}s"))
        )

    def _cancelAttempt(self, reason: Failure | None) -> None:
        """
        Cancel the attempt in flight: ``reason`` is what it failed with, or
        ``None`` to drop it without counting it. Whatever the path reports
        while we cancel is ours, not news.
        """
        if self.state is S.CONNECTING:
            self._disarm()
        self.dropping = True
        try:
            if self.driver is not None:
                self.driver.cancelAttempt()
        except Exception:
            _log.failure("Cancelling the connection attempt failed")
        finally:
            self.dropping = False
        if reason is not None and self.state is S.CONNECTING:
            self._attemptFailed(reason)

    def attemptFailed(self, reason: Failure | None) -> None:
        """The transport attempt failed (an event)."""
        if self.state is S.IDLE:
            # A report with no startedConnecting() before it (RCF's own tests,
            # hand-written fakes): retry, as RCF does.
            self._beginOutage()
            self.reportedReason = None
            self._failed(_orUnknown(reason))
            return
        if self.state is not S.CONNECTING:
            return  # a cancelled attempt reporting back late
        if (
            reason is not None
            and type(reason.value) is _PathTimeout
            and self._timer is None
        ):
            timeout = self.hub.owner._setting_connectTimeout
            if timeout and self._pathTimesOut(timeout):
                # The connector's own timeout, which stood in for ours.
                reason = Failure(ConnectTimeout(f"no connection within {timeout:g}s"))
        self._attemptFailed(reason if type(reason) is Failure else _orUnknown(reason))

    def _attemptFailed(self, reason: Failure) -> None:
        # The connect timeout, if armed, is cancelled by _wait() or by
        # whichever other way out of _failed() is taken.
        x = self._x
        if x is not None:
            if x.cancelReason is not None:
                reason, x.cancelReason = x.cancelReason, None
            x.reportedReason = None
        self._failed(reason)

    def protocolMade(self, protocol: Any, raised: Failure | None = None) -> None:
        """
        The transport is connected and the application's ``connectionMade``
        has returned (or raised: ``raised``).
        """
        if raised is not None:
            _log.failure(
                "{protocol}.connectionMade() raised; closing the connection",
                failure=raised,
                protocol=type(protocol).__name__,
            )
            self._release(protocol, abort=True)
            if self.state is S.CONNECTING:
                self._attemptFailed(raised)
            return
        if self.state is not S.CONNECTING or self.protocol is not None:
            _log.info("Closing a connection made while {state}", state=self.state.value)
            self._release(protocol, abort=True)
            return
        if self._timer is not None:  # (usually none: the path times out)
            self._disarm()
        if self.outageSince is None:  # (usually under way: since the loss)
            self._beginOutage()
        hub = self.hub
        hub.owner._configureTransport(protocol.transport)
        self.protocol = protocol
        self._enter(S.HANDSHAKING)
        hubX = hub._x
        if hubX is not None and hubX._observers:  # (notify(), inline)
            hub.notify(self)
        # After whatever connectionMade asked for (it is queued before us).
        hub.run(self._beginHandshake, protocol)

    def connectionLost(self, reason: Failure, protocol: Any = None) -> None:
        """A transport was closed (``protocol`` when the path knows it)."""
        current = self.protocol is not None and protocol in (None, self.protocol)
        if current:
            self._currentLost(reason)
        elif self.closing is not None and protocol in (None, self.closing):
            self._closed()
        elif self.state is S.CONNECTING and protocol is None:
            # The transport died before we heard it was made.
            self._attemptFailed(reason)

    def _currentLost(self, reason: Failure) -> None:
        self.protocol = None
        if self._timer is not None:  # (the uptime mark, or the handshake's timeout)
            self._disarm()
        if self.state is S.HANDSHAKING:
            self._cancelHandshake()
            self._failed(reason)
            return
        # CONNECTED
        self._beginOutage()
        self._failed(reason, connectionLost=True)

    def _closed(self) -> None:
        self.closing = None
        self._cancel("abort", "abortCheck")
        if self.attemptAfterClose:
            self.attemptAfterClose = False
            if self.state in (S.WAITING, S.OFFLINE, S.STOPPED):
                if self.state is S.STOPPED:
                    self._resume()
                self._connectNow()

    def _release(self, protocol: Any, abort: bool) -> None:
        """Close ``protocol``'s transport and remember it until it is gone."""
        if protocol is self.protocol:
            self.protocol = None
        self.closing = protocol
        try:
            if abort:
                abortTransport(protocol)
                self._call("abortCheck", ABORT_TIMEOUT, self._abortUnheard)
            else:
                protocol.transport.loseConnection()
                self._call("abort", CLOSE_TIMEOUT, self._abortStuck)
        except Exception:
            _log.failure("Closing the transport failed")

    def _abortStuck(self) -> None:
        """``loseConnection`` did not close it in time: abort."""
        protocol = self.closing
        if protocol is None:
            return
        try:
            abortTransport(protocol)
        except Exception:
            _log.failure("Aborting the transport failed")
        self._call("abortCheck", ABORT_TIMEOUT, self._abortUnheard)

    def _abortUnheard(self) -> None:
        """An aborted transport never reported ``connectionLost``."""
        protocol = self.closing
        if protocol is None:
            return
        if self.hub.firstTime("abort unheard"):
            _log.warn(
                "The transport {transport} of {target} was aborted {seconds:g}s "
                "ago but never called connectionLost(); if it is a test's "
                "StringTransport, use reconnect_twisted.testing.FakeTransport, "
                "which reports the close. Carrying on as if it had closed.",
                transport=type(getattr(protocol, "transport", None)).__name__,
                target=self._target(),
                seconds=ABORT_TIMEOUT,
            )
        self._closed()

    # -- handshake ----------------------------------------------------------

    def _beginHandshake(self, protocol: Any) -> None:
        if self.state is not S.HANDSHAKING or self.protocol is not protocol:
            return  # the connection ended or was replaced meanwhile
        try:
            d = self.hub.owner._startHandshake(protocol)
        except Exception:
            d = fail(Failure())
        if d is None:  # no business handshake at all
            self._connected()
            return
        self._handshake = d
        d.addBoth(self._handshakeDone, d)
        timeout = self.hub.owner._setting_handshakeTimeout
        if self._handshake is d and timeout and not d.called:
            self._arm(timeout)

    def _handshakeDone(self, result: object, d: Deferred[Any]) -> None:
        self.hub.run(self._handshakeFinished, result, d)
        return None

    def _handshakeFinished(self, result: object, d: Deferred[Any]) -> None:
        if d is not self._handshake:
            return  # cancelled: outcome no longer matters
        self._handshake = None
        self._disarm()
        if isinstance(result, Failure):
            self._handshakeFailed(result)
        else:
            self._connected()

    def _handshakeTimedOut(self) -> None:
        if self.state is not S.HANDSHAKING:
            return
        timeout = self.hub.owner._setting("handshakeTimeout")
        self._cancelHandshake()
        self._handshakeFailed(
            Failure(HandshakeTimeout(f"handshake did not finish within {timeout:g}s"))
        )

    def _cancelHandshake(self) -> None:
        if self.state is S.HANDSHAKING:
            self._disarm()
        d, self._handshake = self._handshake, None
        if d is not None:
            d.cancel()

    def _handshakeFailed(self, reason: Failure) -> None:
        if self.state is not S.HANDSHAKING:
            return
        if not reason.check(
            HandshakeRejected,
            HandshakeTimeout,
            ConnectError,
            ConnectionLost,
            CancelledError,
            Kicked,
            RetryLater,
            GaveUp,
            ConnectTimeout,
        ) and not _isConnectionError(reason):
            key = f"handshake bug {type(reason.value).__name__}"
            if self.hub.firstTime(key):
                _log.failure(
                    level=LogLevel.error,
                    format="The handshake with {target} raised an unexpected error "
                    "(a bug in the handshake?); counted as a failed attempt",
                    failure=_loggable(reason),
                    target=self._target(),
                )
        self._release(self.protocol, abort=True)
        self._failed(reason)

    def rejected(self, reason: str, permanent: bool) -> None:
        """``factory.rejected()``: fail the running handshake."""
        if self.state is not S.HANDSHAKING:
            _log.warn(
                "Ignoring rejected({reason}) received while {state} "
                "(no handshake running)",
                reason=peerText(reason),
                state=self.state.value,
            )
            return
        self._cancelHandshake()
        self._handshakeFailed(Failure(HandshakeRejected(reason, permanent)))

    def _connected(self) -> None:
        if self.state is not S.HANDSHAKING or self.protocol is None:
            return
        self._enter(S.CONNECTED)
        now = self.since  # (the clock's time, just read by _enter)
        x = self._x
        if x is not None:
            x.lastFailure = None  # (the side field, directly: None is its default)
        since = self.outageSince
        if since is not None and self.attempt > 0:
            _info(
                "Connected to {target} after an outage of {duration:.3f}s "
                "({attempt} failed attempts)",
                target=self._target(),
                duration=max(0.0, now - since),
                attempt=self.attempt,
            )
        else:
            _info("Connected to {target}", target=self._target())
        self.outageSince = None
        minUptime = self.hub.owner._setting_minUptime
        if minUptime:
            marks = _marksOf(self.clock)
            if marks is None:
                self._arm(minUptime)
            else:
                self._timer = marks.add(self, minUptime)
        else:
            self.attempt = 0  # (resetSchedule(), inline: every connection)
            x = self._x
            if x is not None:
                x._schedule = x.probe = None
                x.retriesFrom = 0
        hub = self.hub
        hubX = hub._x
        if hubX is not None and hubX._observers:  # (notify(), inline)
            hub.notify(self)

    def _stayedUp(self) -> None:
        if self.state is not S.CONNECTED:
            return
        self._clearAlert()  # not needed until the next outage
        self.resetSchedule()
        self._compact()
        self.notify()

    # -- decisions ----------------------------------------------------------

    def _failed(self, reason: Failure, connectionLost: bool = False) -> None:
        """An attempt failed or a connection ended: decide what follows."""
        x = self._x
        if x is None:
            x = self._x = self._sideType()  # (a failing link keeps its side)
        x.lastFailure = reason
        self.attempt += 1
        if x._alertAt is None and (x._calls is None or "alert" not in x._calls):
            self._armAlert()  # (deferred by _resume to the first failure)
        if x.stopRequested is not None:
            # stopTrying() before or during this connection: no retry.
            self._stop(x.stopRequested, intentional=True)
            return
        probe = x.probe
        if probe is not None:
            x.probe = None
        if probe is not None and not _isNetworkError(reason):
            # The free attempt made on network-up failed for a reason that is
            # not the network: resume the schedule where it was.
            self._schedule, self.attempt = probe[0], probe[1] + 1
            self._nextDelay()  # the probe took the place of the attempt due next
        hub = self.hub
        owner = hub.owner
        plain = owner._plainDefaultPolicy()
        decision = (
            self._decide(reason)
            if plain is None
            else plain.decide(reason, None)  # type: ignore[arg-type]
        )
        rotation = self._rotation()
        target = self._target(rotation)
        if rotation is not None:
            # Failover: a pass over the servers is one step of the schedule.
            passDecision = rotation.attemptEnded(
                reason, decision, self.state is S.CONNECTED
            )
            if passDecision is None:
                self._nextServer(target, reason)
                return
            decision = passDecision
        plainReconnect = type(decision) is Reconnect  # (the common case first)
        if not plainReconnect and isinstance(decision, GiveUp):
            self._stop(decision.reason)
            return
        maxRetries = owner._setting_maxRetries
        if maxRetries is not None and self.attempt - x.retriesFrom > maxRetries:
            self._stop(f"gave up: maxRetries ({maxRetries}) exceeded")
            return
        delay: float | None
        hubX = hub._x
        if hubX is not None and hubX.networkUp is False:
            delay = None  # OFFLINE: the network coming back will restart us
        elif not plainReconnect and isinstance(decision, ReconnectAfter):
            delay = self._nextDelay()
            limit = owner._setting_maxRetryLater
            delay = self._floor(min(max(decision.delay, delay), limit))
        else:
            delay = self._nextDelay()
        _warn(
            _FAILED_FORMATS[connectionLost, delay is None],
            attempt=self.attempt,
            target=target,
            reason=describeFailure(reason),
            delay=delay,
        )
        if delay is None:
            self._disarm()
            self._enter(S.OFFLINE)
            self.notify()
        else:
            self._wait(delay)

    def _nextServer(self, target: str, reason: Failure) -> None:
        """
        Failover: the attempt at ``target`` failed and the pass goes on with
        the next server, ``minDelay`` later, with no backoff step.
        """
        self.attempt -= 1  # a pass counts once (see failover.ServerRotation)
        offline = self.hub.networkUp is False
        delay = float(self.hub.owner.minDelay)
        _log.warn(
            "Attempt to {target} failed: {reason}; {next}",
            target=target,
            server=self._target(),
            reason=describeFailure(reason),
            delay=None if offline else delay,
            next="network is down, waiting for it"
            if offline
            else f"trying {self._target()} in {delay:.3f}s (same pass)",
        )
        if offline:
            self._disarm()
            self._enter(S.OFFLINE)
            self.notify()
        else:
            self._wait(delay)

    def _decide(self, reason: Failure) -> Reconnect | ReconnectAfter | GiveUp:
        """Ask the factory's ``decide()`` (not the plain default policy)."""
        try:
            decision = self.hub.owner.decide(reason, self.hub.status(self))
        except Exception:
            _log.failure("Reconnect policy raised; reconnecting as scheduled")
            return Reconnect()
        if not isDecision(decision):
            _log.error(
                "Reconnect policy returned {decision}, not a Reconnect, "
                "ReconnectAfter or GiveUp; reconnecting as scheduled",
                decision=peerText(_show(decision), 80),
            )
            return Reconnect()
        return decision

    def _wait(self, delay: float) -> None:
        self._enter(S.WAITING)
        self.hub.owner.delay = delay
        # The connect timeout is cancelled, not reset into the retry timer: a
        # reactor moves a call reset to an earlier time with a linear search
        # of its heap (ReactorBase._moveCallLaterSooner), which a process
        # holding thousands of timers would pay on every failed attempt; a
        # cancel is O(1) and the new call O(log n).
        self._arm(delay)
        hub = self.hub
        hubX = hub._x
        if hubX is not None and hubX._observers:  # (notify(), inline)
            hub.notify(self)

    def _stop(self, reason: str, intentional: bool = False) -> None:
        self._disarm()
        self._clearAlert()
        self.stopRequested = None
        self.attemptAfterClose = False
        self.probe = None
        outage = self.outageSince
        self.outageSince = None
        self._enter(S.STOPPED)
        self.stopReason = reason
        self.hub.stopMonitor()
        # The application's own giveUp()/stopTrying() at info; a policy's
        # stop, a kick, maxRetries at warn.
        emit = _log.info if intentional else _log.warn
        emit(
            "Stopped trying to connect to {target}: {reason}",
            target=self._target(),
            reason=peerText(reason),
            outage=None if outage is None else max(0.0, self._now() - outage),
        )
        self.notify()

    # -- outage alerts --------------------------------------------------------

    def _beginOutage(self, alert: bool = True) -> None:
        """
        An outage begins now (if none is under way). ``alert=False``: arm
        its alert timer only at its first failure (``_failed``): a start
        whose first attempt succeeds never needs one.
        """
        if self.outageSince is not None:
            return
        clock = self.hub._clock  # (_now(), inline: every lost connection)
        if clock is None:
            clock = self.hub.clock
        self.outageSince = float(clock.seconds())
        if alert:
            self._armAlert()

    def _armAlert(self) -> None:
        """
        Arm the outage alert for ``alertAfter`` after the outage began. The
        timer outlives short outages (no timer churn per drop); it is moved
        earlier if a new outage needs it sooner.
        """
        since = self.outageSince
        alertAfter = self.hub.owner._setting_alertAfter
        if since is None or alertAfter is None:
            return
        due = since + alertAfter
        at = self._alertTime()
        if at is None or at > due:
            self._setAlert(max(0.0, due - self._now()))

    def _alertTime(self) -> float | None:
        x = self._x
        if x is None:
            return None
        if x._alertAt is not None:
            return float(x._alertAt)
        call = x._calls.get("alert") if x._calls else None
        return None if call is None else float(call.getTime())

    def _setAlert(self, delay: float) -> None:
        """
        The outage alert in ``delay`` s: in the clock's alert marks (one
        timer per grid point for every link), else a timer of its own.
        """
        self._clearAlert()
        marks = _marksOf(self.clock, "_alertMarkReached")
        if marks is None:
            self._call("alert", delay, self._alert)
        else:
            self._alertAt = marks.add(self, delay)

    def _clearAlert(self) -> None:
        x = self._x
        if x is None:
            return
        at = x._alertAt
        if at is not None:
            x._alertAt = None
            marks = _marksOf(self.clock, "_alertMarkReached")
            if marks is not None:
                marks.discard(self, at)
        if x._calls and "alert" in x._calls:
            self._cancel("alert")

    def _alertMarkReached(self, key: float) -> None:
        """The clock's alert marks reached ``key``, the grid point of ours."""
        x = self._x
        at = None if x is None else x._alertAt
        if at is None or UptimeMarks.keyOf(at) != key:
            return
        x._alertAt = None
        rest = at - self._now()
        if rest > 0:
            self._call("alert", rest, self._alert)  # the last fraction
        else:
            self._alert()

    def _alert(self) -> None:
        since, alertAfter = self.outageSince, self.hub.owner._setting("alertAfter")
        if since is None or alertAfter is None or self.state is S.STOPPED:
            return  # the outage is over
        now = self._now()
        if self.alertedSince != since and now < since + alertAfter:
            # A newer outage than the timer was set for: not due yet.
            self._setAlert(since + alertAfter - now)
            return
        self.alertedSince = since
        status = self.hub.status(self)
        _log.critical(
            "outage: no connection to {target} for {duration:.1f}s "
            "({attempt} failed attempts, state {state}, last failure: {reason})",
            log_event="outage",
            target=self._target(),
            duration=max(0.0, now - since),
            attempt=status.attempt,
            state=status.state.value,
            reason=describeFailure(status.lastFailure),
        )
        every = self.hub.owner._setting("alertEvery")
        if every:
            self._setAlert(every)
        try:
            self.hub.owner.outageAlert(status)
        except Exception:
            _log.failure("outageAlert() raised; ignored")

    # -- controls (events) ------------------------------------------------------

    def reconnectNow(self) -> None:
        """See ``ReconnectingFactory.reconnectNow``."""
        self.stopRequested = None
        if self.state is S.STOPPED:
            if self.closing is not None:
                self.attemptAfterClose = True
                self.notify()
                return
            self._resume()
            self._connectNow()
        elif self.state in (S.WAITING, S.OFFLINE) or (
            self.state is S.IDLE and self.driver is not None
        ):
            self._connectNow()

    def scheduleRetry(self) -> None:
        """RCF's ``retry()``: see ``ReconnectingFactory.retry``."""
        if self.state is S.CONNECTING:
            reason = self.reportedReason or Failure(
                ConnectError(string="reported through retry()")
            )
            self._attemptFailed(reason)
        elif self.state is S.IDLE and self.driver is not None:
            reported, self.reportedReason = self.reportedReason, None
            self._beginOutage()
            if reported is not None:
                self._failed(reported)
            else:
                self._wait(self._nextDelay())

    def stopTrying(self, reason: str) -> None:
        """See ``ReconnectingFactory.stopTrying``."""
        self.resumeOnConnect = False
        if self.state in (S.CONNECTED, S.IDLE):
            # Connected: keep the connection, do not re-establish it. Not yet
            # started: the one connection the application asks for is made
            # (RCF's connect-once idiom: stopTrying() before connectTCP()).
            self.stopRequested = reason
            return
        if self.state is S.STOPPED and not self.attemptAfterClose:
            return
        self._abandonAttempt()
        self._stop(reason, intentional=True)

    def continueTrying(self) -> None:
        """
        ``continueTrying = 1``: forget a pending stop request; once stopped,
        the next ``connector.connect()`` resumes trying, as in RCF (no
        attempt is started here).
        """
        self.stopRequested = None
        if self.state is S.STOPPED and self.driver is cast(object, self):
            self.resumeOnConnect = True

    def _abandonAttempt(self) -> None:
        if self.state is S.CONNECTING:
            self._cancelAttempt(None)
        elif self.state is S.HANDSHAKING:
            self._cancelHandshake()
            if self.protocol is not None:  # (None: released by a failed step)
                self._release(self.protocol, abort=True)

    def giveUp(self, reason: str) -> None:
        """See ``ReconnectingFactory.giveUp``."""
        self.resumeOnConnect = False
        if self.state is S.CONNECTED:
            self._disarm()
            self._release(self.protocol, abort=False)
        elif self.state is not S.STOPPED:
            self._abandonAttempt()
        if self.state is not S.STOPPED or self.attemptAfterClose:
            self._stop(reason, intentional=True)  # (an earlier stop keeps its reason)

    def resetDelay(self) -> None:
        """See ``ReconnectingFactory.resetDelay``."""
        young = self.state in (S.CONNECTING, S.HANDSHAKING) or (
            self.state is S.CONNECTED and self._timer is not None
        )
        if young and self.hub.owner._setting("minUptime"):
            # RCF code resets in buildProtocol/connectionMade: take it as
            # "reset once this connection has proved itself", which the
            # minUptime mark does anyway (_stayedUp), so a server that
            # accepts and drops is still backed off. Its retry counter is
            # reset at once, as RCF's: a client whose every attempt connects
            # never exceeds maxRetries, however short its sessions.
            self.retriesFrom = self.attempt
            return
        self.resetSchedule()
        self.notify()

    def serverEnded(self, error: Kicked | RetryLater) -> None:
        """``kicked()`` / ``retryLater()``: close and decide on ``error``."""
        if self.state not in (S.HANDSHAKING, S.CONNECTED):
            _log.warn(
                "Ignoring {error} received while {state} (not connected)",
                error=peerText(str(error)),
                state=self.state.value,
            )
            return
        _log.warn(
            "Server ended the connection to {target}: {error}",
            target=self._target(),
            error=peerText(str(error)),
        )
        if self.state is S.HANDSHAKING:
            self._cancelHandshake()
        self._disarm()
        self._release(self.protocol, abort=False)
        self._beginOutage()
        self._failed(Failure(error))

    # -- network -------------------------------------------------------------

    def _lostWithTheNetwork(self) -> bool:
        """
        Whether network-up finds this link in a fresh outage at its
        schedule's first step whose failure was not the network's: its
        connection was lost (or its first attempt failed) as the network
        went, less than ``NETWORK_UP_COOLDOWN`` ago. Such a link gains
        nothing from a reset, and a probe now would synchronise a fleet.
        """
        since, failure = self.outageSince, self.lastFailure
        return (
            self.attempt == 1  # (0: started while the network was down)
            and self.state is not S.CONNECTING
            and since is not None
            and self._now() - since < NETWORK_UP_COOLDOWN
            and not (failure is not None and _isNetworkError(failure))
        )

    def networkChanged(
        self, up: bool | None, previous: bool | None, reset: bool
    ) -> None:
        """The hub's view of the network changed from ``previous`` to ``up``."""
        if self.protocol is not None and up is not None:
            gone = self.hub.owner._vanishedLocalAddress(self.protocol)
            if gone is not None:
                # The connection cannot survive: its address is no more.
                _log.warn(
                    "Local address {address} of the connection to {target} "
                    "disappeared; reconnecting",
                    address=gone,
                    target=self._target(),
                )
                if self.state is S.HANDSHAKING:
                    self._cancelHandshake()
                self._disarm()
                self._release(self.protocol, abort=True)
                self._beginOutage()
                self._failed(Failure(ConnectionLost(f"local address {gone} is gone")))
                return
        if up is False:
            if self.state is S.WAITING:
                self._disarm()
                self._enter(S.OFFLINE)
            elif self.state is S.CONNECTING:
                self._cancelAttempt(None)
                self._enter(S.OFFLINE)
            self.notify()
            return
        if up is None:
            if self.state is S.OFFLINE:
                self._wait(self._nextDelay())
            else:
                self.notify()
            return
        if previous is not False or self.state not in (
            S.WAITING,
            S.OFFLINE,
            S.CONNECTING,
        ):
            self.notify()  # first news from the monitor, or nothing to recover
            return
        if self.state is S.OFFLINE and self.attempt == 0 and self.lastFailure is None:
            # Started while the network was down: its first attempt, within
            # the jitter; the schedule stays fresh (no probe to resume: the
            # first retry waits the first step).
            self._waitNetworkUpJitter()
            return
        if not reset:
            # Flapping: no schedule reset, no extra attempt; just resume.
            if self.state is S.OFFLINE:
                self._wait(self._nextDelay())
            else:
                self.notify()
            return
        if self._lostWithTheNetwork():
            # Nothing to undo and nothing the network stopped: a short first
            # step is kept, as after any drop, spread by the schedule's
            # jitter (a fleet that dropped with its network must not all
            # probe within networkUpJitter: bench/herd.py's "+ network up").
            # A long one is cut by the probe, which takes its place.
            if self.state is S.OFFLINE:
                delay = self._nextDelay()
                if delay <= NETWORK_UP_KEEP:
                    self._wait(delay)
                    return
            else:
                due = self.nextAttemptAt
                if due is None or due - self._now() <= NETWORK_UP_KEEP:
                    self.notify()
                    return
        if self.state is S.CONNECTING:
            self._cancelAttempt(None)  # it began before the network came back
        # A free probe: if it fails for a reason that is not the network, the
        # schedule resumes where it was (a fleet must not restart from the
        # smallest delay all at once).
        probe = (self._schedule, self.attempt)
        self.resetSchedule()
        self.probe = probe
        self._waitNetworkUpJitter()

    def _waitNetworkUpJitter(self) -> None:
        """WAITING for an attempt drawn uniformly within ``networkUpJitter``."""
        jitter = self.hub.owner._setting("networkUpJitter")
        self._wait(max(self.hub.owner.rng.uniform(0.0, jitter), 0.0))


#: The states each state may move to (TRANSITIONS, by value: an Enum's
#: ``__hash__`` is Python code, a str's is cached).
_NEXT = {
    old._value_: frozenset(new._value_ for new in news)
    for old, news in TRANSITIONS.items()
}

#: Each state's own timer (by state value): its name (``pendingCalls()``)
#: and what runs when it fires.
#: (The method by name: a subclass may extend it.)
_STATE_TIMERS: dict[str, tuple[str, str]] = {
    S.CONNECTING._value_: ("connectTimeout", "_connectTimedOut"),
    S.HANDSHAKING._value_: ("handshakeTimeout", "_handshakeTimedOut"),
    S.CONNECTED._value_: ("uptime", "_stayedUp"),
    S.WAITING._value_: ("retry", "_connectNow"),
}

#: The failed-attempt log line: (connection lost?, offline?) -> format.
_FAILED_FORMATS = {
    (False, False): "Attempt {attempt} to {target} failed: {reason}; "
    "next attempt in {delay:.3f}s",
    (False, True): "Attempt {attempt} to {target} failed: {reason}; "
    "network is down, waiting for it",
    (True, False): "Connection to {target} lost: {reason}; "
    "next attempt in {delay:.3f}s",
    (True, True): "Connection to {target} lost: {reason}; "
    "network is down, waiting for it",
}


def _orUnknown(reason: Failure | None) -> Failure:
    if isinstance(reason, Failure):
        return reason
    if isinstance(reason, BaseException):
        return Failure(reason)
    return Failure(ConnectError(string="no reason given"))


def _isConnectionError(reason: Failure) -> bool:
    from twisted.internet.error import ConnectionClosed

    return reason.check(ConnectionClosed, OSError) is not None


def _isNetworkError(reason: Failure) -> bool | None:
    """Whether ``reason`` says the network itself is unusable."""
    from twisted.internet.error import NoRouteError

    if reason.check(NoRouteError):
        return True
    error = reason.value
    errno = getattr(error, "osError", None) or getattr(error, "errno", None)
    return errno in (101, 113)  # ENETUNREACH, EHOSTUNREACH


def _loggable(reason: Failure) -> Failure:
    """
    ``reason`` for a logged traceback: the same type and frames, its message
    escaped and truncated as peer text (a handshake's error may quote the
    server's reply); ``reason`` itself when there is nothing to escape.
    """
    text = errorText(reason.value)
    safe = peerText(text)
    if safe == text:
        return reason
    copy: Failure = Failure.__new__(Failure)
    copy.__dict__.update(reason.__dict__)
    copy.value = Exception(safe)
    return copy


def describeFailure(reason: Failure | None) -> str:
    """
    A one-line reason for logs: the error's type and message, no traceback,
    the message escaped and truncated (it may come from the peer).
    """
    if reason is None:
        return "none"
    error = reason.value
    key = None
    if isinstance(error, _MEMO_ERRORS):
        # Every failed attempt or lost connection logs one: memoised for
        # Twisted's connect and connection-closed errors, whose text is a
        # function of their type, args and osError.
        try:
            osError = error.osError if isinstance(error, ConnectError) else None
            key = (type(error), error.args, osError)
            described = _DESCRIBED.get(key)
        except TypeError:  # unhashable args
            key = described = None
        if described is not None:
            return described
    text = errorText(error)
    if isinstance(error, CancelledError) and not text:
        return "cancelled"
    name = type(error).__name__
    described = f"{name}: {peerText(text)}" if text else name
    if key is not None:
        if len(_DESCRIBED) >= _DESCRIBED_MAX:
            _DESCRIBED.clear()
        _DESCRIBED[key] = described
    return described


#: The errors describeFailure() memoises.
_MEMO_ERRORS = (ConnectError, ConnectionClosed)
#: describeFailure()'s memo of connect errors (bounded: cleared when full).
_DESCRIBED: dict[tuple[type, tuple[Any, ...], object], str] = {}
_DESCRIBED_MAX = 256
