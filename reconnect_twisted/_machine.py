"""
The one state machine behind every reconnecting factory.

All state changes happen here. The two adapters (the connector path in
``_factory.py`` and the endpoint path in ``_service.py``) only translate their
callbacks into the inputs below (``attemptStarted``, ``attemptFailed``,
``transportUp``, ``connectionLost``) and perform attempts through a
:class:`Driver`.

Every call out to user code (observers, ``whenConnected`` callbacks, policy,
handshake, ``outageAlert``) happens after the machine's own fields are
consistent, so that user code may call any control re-entrantly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.error import ConnectError, ConnectionLost
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from ._errors import ConnectTimeout, GaveUp, HandshakeTimeout, Kicked, RetryLater
from ._status import TRANSITIONS, ConnectionState, ConnectionStatus
from .policy import GiveUp, Reconnect, ReconnectAfter, isDecision

if TYPE_CHECKING:
    from ._factory import ReconnectingFactory

S = ConnectionState
_log = Logger(namespace="reconnect_twisted")

#: Seconds ``giveUp()`` waits for ``loseConnection`` before ``abortConnection``.
CLOSE_TIMEOUT = 5.0
#: Delay used when a backoff schedule itself fails (raises or ends).
FALLBACK_DELAY = 5.0
#: A network-up within this many seconds of the last one that reset the
#: schedule does not reset it again (a flapping link must not cause a storm).
NETWORK_UP_COOLDOWN = 10.0


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


class Machine:
    """
    The connection state machine of one factory.

    :ivar owner: the factory whose hooks (``handshake``, ``decide``,
        ``outageAlert``, ``backoffSchedule``) are called.
    """

    # One per managed connection: slots and lazily created containers keep an
    # idle connection cheap (see bench/memory.py).
    __slots__ = (
        "_calls",
        "_clock",
        "_closedWaiters",
        "_handshake",
        "_lastNotified",
        "_notifying",
        "_observers",
        "_pending",
        "_schedule",
        "_unwatchNetwork",
        "_waiters",
        "alertedSince",
        "attempt",
        "attemptAfterClose",
        "cancelReason",
        "closing",
        "driver",
        "dropping",
        "lastFailure",
        "networkResetAt",
        "networkUp",
        "nextAttemptAt",
        "outageSince",
        "owner",
        "protocol",
        "since",
        "state",
        "stopReason",
        "stopRequested",
    )

    def __init__(self, owner: ReconnectingFactory) -> None:
        self.owner = owner
        self._clock: IReactorTime | None = None
        self.state = S.IDLE
        self.since = 0.0
        self.attempt = 0
        self.nextAttemptAt: float | None = None
        self.lastFailure: Failure | None = None
        self.stopReason: str | None = None
        self.networkUp: bool | None = None

        self.driver: Driver | None = None
        self.protocol: Any = None  # the current connection's protocol
        self.closing: Any = None  # a released transport we wait to see closed
        self.stopRequested: str | None = None  # stopTrying() while CONNECTED
        self.cancelReason: Failure | None = None
        self.dropping = False  # cancelling an attempt that must not count
        self.attemptAfterClose = False
        self.networkResetAt: float | None = None
        self.outageSince: float | None = None
        self.alertedSince: float | None = None

        self._schedule: Iterator[float] | None = None
        self._handshake: Deferred[Any] | None = None
        self._calls: dict[str, IDelayedCall] | None = None
        self._observers: list[Callable[[ConnectionStatus], object]] | None = None
        self._waiters: list[Deferred[Any]] | None = None
        self._closedWaiters: list[Deferred[None]] | None = None
        self._pending: list[ConnectionStatus] | None = None
        self._notifying = False
        self._lastNotified: ConnectionStatus | None = None
        self._unwatchNetwork: Callable[[], None] | None = None

    # -- helpers ------------------------------------------------------------

    @property
    def clock(self) -> IReactorTime:
        """
        The owner's clock (the global reactor only if none was given), fixed
        at first use.
        """
        clock = self._clock
        if clock is None:
            clock = self._clock = self.owner._getClock()
        return clock

    def _call(self, name: str, delay: float, function: Callable[[], None]) -> None:
        calls = self._calls
        if calls is None:
            calls = self._calls = {}
        else:
            self._cancel(name)
        calls[name] = self.clock.callLater(delay, self._fire, name, function)

    def _fire(self, name: str, function: Callable[[], None]) -> None:
        calls = self._calls
        if calls is not None:
            calls.pop(name, None)
            if not calls:
                self._calls = None  # an idle connection holds no dict
        function()

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
        return sorted(self._calls or ())

    @property
    def status(self) -> ConnectionStatus:
        """A snapshot of the current status."""
        return ConnectionStatus(
            state=self.state,
            attempt=self.attempt,
            nextAttemptAt=self.nextAttemptAt,
            since=self.since,
            lastFailure=self.lastFailure,
            stopReason=self.stopReason,
            networkUp=self.networkUp,
        )

    def _enter(self, state: ConnectionState) -> None:
        if state is not self.state:
            if state not in TRANSITIONS[self.state]:
                try:
                    raise AssertionError(
                        f"transition {self.state.name} -> {state.name} "
                        f"is not in TRANSITIONS"
                    )
                except AssertionError:
                    _log.failure("reconnect_twisted internal error; please report")
            self.since = self.clock.seconds()
        self.state = state
        if state is not S.WAITING:
            self.nextAttemptAt = None
        if state is not S.STOPPED:
            self.stopReason = None

    def notify(self) -> None:
        """
        Queue the current status for the observers, and deliver the queue
        unless a delivery is already under way (re-entrant calls keep order).
        """
        if not self._observers:
            return  # nobody listens: build no snapshot (the hot path)
        status = self.status
        if status == self._lastNotified:
            return
        self._lastNotified = status
        pending = self._pending
        if pending is None:
            pending = self._pending = []
        pending.append(status)
        if self._notifying:
            return
        self._notifying = True
        try:
            while pending:
                current = pending.pop(0)
                for observer in list(self._observers or ()):
                    try:
                        observer(current)
                    except Exception:
                        _log.failure(
                            "Status observer {observer!r} raised; ignored",
                            observer=observer,
                        )
        finally:
            self._notifying = False

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

    def whenConnected(self) -> Deferred[Any]:
        """See ``ReconnectingFactory.whenConnected``."""
        if self.state is S.CONNECTED:
            return succeed(self.protocol)
        if self.state is S.STOPPED and not self.attemptAfterClose:
            return fail(GaveUp(self.stopReason or "stopped"))

        def cancel(d: Deferred[Any]) -> None:
            if self._waiters and d in self._waiters:
                self._waiters.remove(d)

        waiter: Deferred[Any] = Deferred(cancel)
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        return waiter

    def _fireWaiters(self) -> None:
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if self.state is S.CONNECTED:
                waiter.callback(self.protocol)
            elif self.state is S.STOPPED and not self.attemptAfterClose:
                waiter.errback(GaveUp(self.stopReason or "stopped"))
            else:  # a callback changed the state again: keep waiting
                if self._waiters is None:
                    self._waiters = []
                self._waiters.append(waiter)

    # -- schedule -----------------------------------------------------------

    def resetSchedule(self) -> None:
        """Start the backoff schedule afresh and zero the attempt counter."""
        self.attempt = 0
        self._schedule = None

    def _nextDelay(self) -> float:
        try:
            if self._schedule is None:
                self._schedule = iter(self.owner.backoffSchedule().delays())
            delay = float(next(self._schedule))
            if not 0.0 <= delay < float("inf"):
                raise ValueError(f"backoff produced an invalid delay: {delay!r}")
        except Exception:
            _log.failure(
                "Backoff schedule failed; retrying in {delay}s", delay=FALLBACK_DELAY
            )
            self._schedule = None
            delay = FALLBACK_DELAY
        return delay

    # -- inputs from the adapters -------------------------------------------

    def start(self, driver: Driver) -> None:
        """Begin trying with ``driver`` (the endpoint path's start)."""
        self.driver = driver
        if self.state in (S.IDLE, S.STOPPED):
            self._resume()
            self._connectNow()

    def attemptStarted(self, driver: Driver) -> None:
        """
        The path reports an attempt that has begun (on the connector path,
        ``startedConnecting``); one we did not start ourselves, e.g. the first
        ``reactor.connectTCP``, moves us to ``CONNECTING``.
        """
        self.driver = driver
        if self.state is S.CONNECTING:
            return
        if self.state in (S.HANDSHAKING, S.CONNECTED):
            _log.warn(
                "A second connection attempt was started while {state}; ignored",
                state=self.state.value,
            )
            return
        if self.state in (S.IDLE, S.STOPPED):
            self._resume()
        self._cancel("retry")
        self._enterConnecting()

    def _resume(self) -> None:
        """Start trying from IDLE or STOPPED: a fresh schedule, an outage."""
        self.resetSchedule()
        self._beginOutage()

    def _connectNow(self) -> None:
        self._cancel("retry")
        if self.closing is not None:
            # One transport at a time: attempt once the old one has closed.
            self.attemptAfterClose = True
            if self.nextAttemptAt is not None:
                self.nextAttemptAt = None  # no longer a time: after the close
                self.notify()
            return
        if self.driver is None:
            self._stop("gave up: no connector to retry with")
            return
        self._enterConnecting()
        try:
            self.driver.startAttempt()
        except Exception:
            if self.state is S.CONNECTING:
                self.attemptFailed(Failure())

    def _enterConnecting(self) -> None:
        self._ensureMonitor()
        self.cancelReason = None
        self._enter(S.CONNECTING)
        timeout = self.owner.connectTimeout
        if timeout:
            self._call("connectTimeout", timeout, self._connectTimedOut)
        self.notify()

    def _connectTimedOut(self) -> None:
        timeout = self.owner.connectTimeout
        self._cancelAttempt(
            Failure(ConnectTimeout(f"no connection within {timeout:g}s"))
        )

    def _cancelAttempt(self, reason: Failure | None) -> None:
        """
        Cancel the attempt in flight: ``reason`` is what it failed with, or
        ``None`` to drop it without counting it (its report is ignored).
        """
        self._cancel("connectTimeout")
        self.cancelReason = reason
        self.dropping = reason is None
        try:
            if self.driver is not None:
                self.driver.cancelAttempt()
        except Exception:
            _log.failure("Cancelling the connection attempt failed")
        finally:
            self.dropping = False
        if reason is not None and self.state is S.CONNECTING:
            # The path did not report the cancellation synchronously.
            self.attemptFailed(reason)

    def attemptFailed(self, reason: Failure) -> None:
        """The transport attempt failed."""
        if self.state is not S.CONNECTING or self.dropping:
            return  # a dropped attempt, or a cancelled one reporting back late
        self._cancel("connectTimeout")
        if self.cancelReason is not None:
            reason, self.cancelReason = self.cancelReason, None
        self._failed(reason)

    def protocolLost(self, protocol: Any, reason: Failure) -> None:
        """
        Installed as ``protocol.connectionLost`` (see ``_factory._track``):
        run the application's own ``connectionLost``, then report the loss.
        """
        del vars(protocol)["connectionLost"]
        try:
            protocol.connectionLost(reason)
        finally:
            self.connectionLost(reason, protocol)

    def protocolMade(self, protocol: Any, transport: Any) -> None:
        """
        Installed as ``protocol.makeConnection``: run the application's own
        ``makeConnection`` (and so ``connectionMade``), then report it.
        """
        del vars(protocol)["makeConnection"]
        protocol.makeConnection(transport)
        self.transportUp(protocol)

    def transportUp(self, protocol: Any) -> None:
        """The transport is connected and ``connectionMade`` has returned."""
        if self.state not in (S.CONNECTING, S.IDLE) or self.protocol is not None:
            _log.info("Closing a connection made while {state}", state=self.state.value)
            self._release(protocol, abort=True)
            return
        self._cancel("connectTimeout", "retry")
        self._beginOutage()
        self.owner._configureTransport(protocol.transport)
        self.protocol = protocol
        self._enter(S.HANDSHAKING)
        self.notify()
        self._runHandshake(protocol)

    def connectionLost(self, reason: Failure, protocol: Any = None) -> None:
        """A transport was closed (``protocol`` when the path knows it)."""
        current = self.protocol is not None and protocol in (None, self.protocol)
        if current:
            self._currentLost(reason)
        elif self.closing is not None and protocol in (None, self.closing):
            self._closed()
        elif self.state is S.CONNECTING:
            # connectionMade raised, or the transport died before we saw it.
            self.attemptFailed(reason)

    def _currentLost(self, reason: Failure) -> None:
        self.protocol = None
        self._cancel("uptime")
        if self.state is S.HANDSHAKING:
            self._cancelHandshake()
            self._failed(reason)
            return
        # CONNECTED
        self._beginOutage()
        if self.stopRequested is not None:
            self.lastFailure = reason
            self._stop(self.stopRequested)
            return
        self._failed(reason, connectionLost=True)

    def _closed(self) -> None:
        self.closing = None
        self._cancel("abort")
        waiters, self._closedWaiters = self._closedWaiters, None
        for waiter in waiters or ():
            waiter.callback(None)
        if self.attemptAfterClose:
            self.attemptAfterClose = False
            if self.state in (S.WAITING, S.OFFLINE, S.STOPPED):
                self._connectNow()

    def _release(self, protocol: Any, abort: bool) -> None:
        """Close ``protocol``'s transport and remember it until it is gone."""
        if protocol is self.protocol:
            self.protocol = None
        self.closing = protocol
        try:
            if abort:
                abortTransport(protocol)
            else:
                protocol.transport.loseConnection()
                self._call("abort", CLOSE_TIMEOUT, lambda: abortTransport(protocol))
        except Exception:
            _log.failure("Closing the transport failed")

    # -- handshake ----------------------------------------------------------

    def _runHandshake(self, protocol: Any) -> None:
        d = self.owner._startHandshake(protocol)
        if d is None:  # no business handshake at all
            self._connected()
            return
        self._handshake = d
        d.addBoth(self._handshakeFinished, d)
        timeout = self.owner.handshakeTimeout
        if self._handshake is d and timeout:  # still running
            self._call("handshakeTimeout", timeout, self._handshakeTimedOut)

    def _handshakeFinished(self, result: object, d: Deferred[Any]) -> None:
        if d is not self._handshake:
            return None  # cancelled: outcome no longer matters
        self._handshake = None
        self._cancel("handshakeTimeout")
        if isinstance(result, Failure):
            self._handshakeFailed(result)
        else:
            self._connected()
        return None

    def _handshakeTimedOut(self) -> None:
        timeout = self.owner.handshakeTimeout
        self._cancelHandshake()
        self._handshakeFailed(
            Failure(HandshakeTimeout(f"handshake did not finish within {timeout:g}s"))
        )

    def _cancelHandshake(self) -> None:
        self._cancel("handshakeTimeout")
        d, self._handshake = self._handshake, None
        if d is not None:
            d.cancel()

    def _handshakeFailed(self, reason: Failure) -> None:
        if self.state is not S.HANDSHAKING:
            return
        self._release(self.protocol, abort=True)
        self._failed(reason)

    def _connected(self) -> None:
        if self.state is not S.HANDSHAKING or self.protocol is None:
            return
        now = self.clock.seconds()
        self._enter(S.CONNECTED)
        self.lastFailure = None
        if self.outageSince is not None:
            _log.info(
                "Connected to {target} after an outage of {duration:.3f}s "
                "({attempt} failed attempts)",
                target=self._target(),
                duration=now - self.outageSince,
                attempt=self.attempt,
            )
            self.outageSince = None
        else:
            _log.info("Connected to {target}", target=self._target())
        if self.owner.minUptime:
            self._call("uptime", self.owner.minUptime, self._stayedUp)
        else:
            self.resetSchedule()
        self.notify()
        self._fireWaiters()

    def _stayedUp(self) -> None:
        self._cancel("alert")  # not needed until the next outage
        self.resetSchedule()
        self.notify()

    # -- decisions ----------------------------------------------------------

    def _failed(self, reason: Failure, connectionLost: bool = False) -> None:
        """An attempt failed or a connection ended: decide what follows."""
        self.lastFailure = reason
        self.attempt += 1
        decision = self._decide(reason)
        if isinstance(decision, GiveUp):
            self._stop(decision.reason)
            return
        maxRetries = self.owner.maxRetries
        if maxRetries is not None and self.attempt > maxRetries:
            self._stop(f"gave up: maxRetries ({maxRetries}) exceeded")
            return
        delay: float | None
        if self.networkUp is False:
            delay = None  # OFFLINE: the network coming back will restart us
        elif isinstance(decision, ReconnectAfter):
            delay = decision.delay
        else:
            delay = self._nextDelay()
        _log.warn(
            "Connection to {target} lost: {reason}; {next}"
            if connectionLost
            else "Attempt {attempt} to {target} failed: {reason}; {next}",
            attempt=self.attempt,
            target=self._target(),
            reason=_describe(reason),
            delay=delay,
            next="network is down, waiting for it"
            if delay is None
            else f"next attempt in {delay:.3f}s",
        )
        if delay is None:
            self._enter(S.OFFLINE)
            self.notify()
        else:
            self._wait(delay)

    def _decide(self, reason: Failure) -> Reconnect | ReconnectAfter | GiveUp:
        try:
            decision = self.owner.decide(reason, self.status)
        except Exception:
            _log.failure("Reconnect policy raised; reconnecting as scheduled")
            return Reconnect()
        if not isDecision(decision):
            _log.error(
                "Reconnect policy returned {decision!r}, not a Reconnect, "
                "ReconnectAfter or GiveUp; reconnecting as scheduled",
                decision=decision,
            )
            return Reconnect()
        return decision

    def _wait(self, delay: float) -> None:
        self._enter(S.WAITING)
        self.owner.delay = delay
        self.nextAttemptAt = self.clock.seconds() + delay
        self._call("retry", delay, self._connectNow)
        self.notify()

    def _stop(self, reason: str) -> None:
        self._cancel("retry", "connectTimeout", "uptime", "alert")
        self.stopRequested = None
        self.attemptAfterClose = False
        self.outageSince = None
        self._enter(S.STOPPED)
        self.stopReason = reason
        self._stopMonitor()
        _log.warn(
            "Stopped trying to connect to {target}: {reason}",
            target=self._target(),
            reason=reason,
        )
        self.notify()
        self._fireWaiters()

    # -- outage alerts --------------------------------------------------------

    def _beginOutage(self) -> None:
        if self.outageSince is not None:
            return
        now = self.outageSince = self.clock.seconds()
        alertAfter = self.owner.alertAfter
        if alertAfter is None:
            return
        # The alert timer outlives short outages (no timer churn per drop);
        # it is moved earlier if a new outage needs it sooner.
        call = self._calls.get("alert") if self._calls else None
        if call is None or call.getTime() > now + alertAfter:
            self._call("alert", alertAfter, self._alert)

    def _alert(self) -> None:
        since, alertAfter = self.outageSince, self.owner.alertAfter
        if since is None or alertAfter is None:
            return  # the outage is over
        now = self.clock.seconds()
        if self.alertedSince != since and now < since + alertAfter:
            # A newer outage than the timer was set for: not due yet.
            self._call("alert", since + alertAfter - now, self._alert)
            return
        self.alertedSince = since
        status = self.status
        _log.critical(
            "outage: no connection to {target} for {duration:.1f}s "
            "({attempt} failed attempts, state {state}, last failure: {reason})",
            log_event="outage",
            target=self._target(),
            duration=self.clock.seconds() - since,
            attempt=status.attempt,
            state=status.state.value,
            reason=_describe(status.lastFailure),
        )
        every = self.owner.alertEvery
        if every:
            self._call("alert", every, self._alert)
        try:
            self.owner.outageAlert(status)
        except Exception:
            _log.failure("outageAlert() raised; ignored")

    # -- controls ------------------------------------------------------------

    def reconnectNow(self) -> Deferred[Any]:
        """See ``ReconnectingFactory.reconnectNow``."""
        self.stopRequested = None
        if self.state is S.STOPPED:
            self._resume()
            self._connectNow()
        elif self.state in (S.WAITING, S.OFFLINE) or (
            self.state is S.IDLE and self.driver is not None
        ):
            self._connectNow()
        return self.whenConnected()

    def connectorIdle(self) -> None:
        """
        The connector path's connector has just become idle: a retry that is
        already due (a zero delay) starts now rather than a reactor turn later.
        """
        due = self.nextAttemptAt
        if self.state is S.WAITING and due is not None and due <= self.clock.seconds():
            self._connectNow()

    def scheduleRetry(self) -> None:
        """RCF's ``retry()``: see ``ReconnectingFactory.retry``."""
        if self.dropping:
            return
        if self.state is S.CONNECTING:
            self.attemptFailed(Failure(ConnectError(string="reported through retry()")))
        elif self.state is S.IDLE and self.driver is not None:
            self._beginOutage()
            self._wait(self._nextDelay())

    def stopTrying(self, reason: str) -> None:
        """See ``ReconnectingFactory.stopTrying``."""
        if self.state is S.CONNECTED:
            self.stopRequested = reason
            return
        if self.state is S.STOPPED and not self.attemptAfterClose:
            return
        self._abandonAttempt()
        self._stop(reason)

    def _dropAttempt(self) -> None:
        """Cancel the attempt in flight without counting it as a failure."""
        self._cancelAttempt(None)

    def _abandonAttempt(self) -> None:
        if self.state is S.CONNECTING:
            self._dropAttempt()
        elif self.state is S.HANDSHAKING:
            self._cancelHandshake()
            self._release(self.protocol, abort=True)

    def giveUp(self, reason: str) -> Deferred[None]:
        """See ``ReconnectingFactory.giveUp``."""
        if self.state is S.CONNECTED:
            self._cancel("uptime")
            self._release(self.protocol, abort=False)
        elif self.state is not S.STOPPED:
            self._abandonAttempt()
        if self.state is not S.STOPPED or self.attemptAfterClose:
            self._stop(reason)  # (an earlier stop keeps its reason)
        if self.closing is None:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        if self._closedWaiters is None:
            self._closedWaiters = []
        self._closedWaiters.append(waiter)
        return waiter

    def serverEnded(self, error: Kicked | RetryLater) -> None:
        """``kicked()`` / ``retryLater()``: close and decide on ``error``."""
        if self.state not in (S.HANDSHAKING, S.CONNECTED):
            _log.warn(
                "Ignoring {error} received while {state} (not connected)",
                error=str(error),
                state=self.state.value,
            )
            return
        _log.warn(
            "Server ended the connection to {target}: {error}",
            target=self._target(),
            error=str(error),
        )
        if self.state is S.HANDSHAKING:
            self._cancelHandshake()
        self._cancel("uptime")
        self._release(self.protocol, abort=False)
        self._beginOutage()
        self._failed(Failure(error))

    # -- network -------------------------------------------------------------

    def _ensureMonitor(self) -> None:
        monitor = self.owner.networkMonitor
        if monitor is None or self._unwatchNetwork is not None:
            return
        self._unwatchNetwork = monitor.addObserver(self.networkChanged)
        try:
            monitor.start()
        except Exception:
            _log.failure("Network monitor failed to start; ignoring it")
        self.networkUp = monitor.isUp

    def _stopMonitor(self) -> None:
        monitor = self.owner.networkMonitor
        unwatch, self._unwatchNetwork = self._unwatchNetwork, None
        if monitor is None or unwatch is None:
            return
        unwatch()
        try:
            monitor.stop()
        except Exception:
            _log.failure("Network monitor failed to stop")

    def networkChanged(self, up: bool | None) -> None:
        """The network monitor reports ``up`` (``None``: it cannot tell)."""
        previous, self.networkUp = self.networkUp, up
        if up is previous:
            return
        now = self.clock.seconds()
        if self.protocol is not None and up is not None:
            gone = self.owner._vanishedLocalAddress(self.protocol)
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
                self._cancel("uptime")
                self._release(self.protocol, abort=True)
                self._beginOutage()
                self._failed(Failure(ConnectionLost(f"local address {gone} is gone")))
                return
        if up is False:
            _log.info("Network is down")
            if self.state is S.WAITING:
                self._cancel("retry")
                self._enter(S.OFFLINE)
            elif self.state is S.CONNECTING:
                self._dropAttempt()
                self._enter(S.OFFLINE)
            self.notify()
            return
        if up is None:
            if self.state is S.OFFLINE:
                self._wait(self._nextDelay())
            else:
                self.notify()
            return
        if previous is not False:
            self.notify()  # first news from the monitor: nothing to recover
            return
        _log.info("Network is up")
        if self.state not in (S.WAITING, S.OFFLINE, S.CONNECTING):
            self.notify()
            return
        last = self.networkResetAt
        if last is not None and now - last < NETWORK_UP_COOLDOWN:
            # Flapping: no schedule reset, no extra attempt; just resume.
            if self.state is S.OFFLINE:
                self._wait(self._nextDelay())
            else:
                self.notify()
            return
        self.networkResetAt = now
        if self.state is S.CONNECTING:
            self._dropAttempt()  # it began before the network came back
        self.resetSchedule()
        self._wait(self.owner.rng.uniform(0.0, self.owner.networkUpJitter))

    # -- misc ----------------------------------------------------------------

    def _target(self) -> str:
        if self.driver is None:
            return "(not started)"
        try:
            return self.driver.describe()
        except Exception:
            return repr(self.driver)


def _describe(reason: Failure | None) -> str:
    """A one-line reason for logs: the error's type and message, no traceback."""
    if reason is None:
        return "none"
    error = reason.value
    text = str(error)
    if isinstance(error, CancelledError) and not text:
        return "cancelled"
    name = type(error).__name__
    return f"{name}: {text}" if text else name
