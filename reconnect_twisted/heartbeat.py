"""
An application-level heartbeat for protocols, modelled on Twisted's
``twisted.protocols.policies.TimeoutMixin``.

TCP notices a hung peer (a server that stopped reading and answering but
keeps its socket open) only when the kernel gives up on unacknowledged data
or keepalive probes; an idle connection to a hung process is never noticed
at all. :class:`HeartbeatMixin` pings the peer when the connection has been
quiet for ``heartbeatInterval`` and aborts the transport with
:class:`~reconnect_twisted.HeartbeatTimeout` if no answer comes within
``heartbeatTimeout``: the factory sees a lost connection and reconnects
(the policy decides, the backoff applies).
"""

from __future__ import annotations

import functools
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from ._errors import HeartbeatTimeout
from ._machine import abortTransport
from ._validate import checkMinDelay

__all__ = ["HeartbeatMixin"]

_log = Logger(namespace="reconnect_twisted")


class HeartbeatMixin:
    """
    Mix into a protocol (before the protocol class: ``class
    P(HeartbeatMixin, LineReceiver)``) and implement :meth:`sendPing`;
    call :meth:`pongReceived` when the peer's answer arrives.

    * With a :class:`~reconnect_twisted.ReconnectingFactory`, the heartbeat
      starts once the business handshake of this connection has succeeded
      (``CONNECTED``); with any other factory, at ``connectionMade``. In a
      pool (one factory, several connectors), call :meth:`startHeartbeat`
      yourself.
    * It stops in ``connectionLost``: no timer is left behind, also when a
      subclass overrides ``connectionLost`` without calling the mixin's (the
      override is wrapped when the class is made, as is an overriding
      ``dataReceived``, which still counts as a sign of life).
    * ``heartbeatInterval`` and ``heartbeatTimeout`` given as class
      attributes are checked when the class is made; set on an instance,
      when the connection is made (a bad one is logged and that connection
      runs without a heartbeat).
    * Time comes from ``heartbeatClock``, else the factory's ``clock``,
      else the global reactor.
    * With ``heartbeatAnyData`` (the default), any inbound data counts as a
      sign of life (``dataReceived`` notes it) and as a pong.

    :cvar heartbeatInterval: seconds of quiet before a ping (``None``: off).
    :cvar heartbeatTimeout: seconds to wait for the answer to a ping.
    :cvar heartbeatAnyData: whether any inbound data answers a ping.
    :cvar heartbeatClock: an ``IReactorTime`` to use instead of the factory's.
    """

    heartbeatInterval: float | None = 30.0
    heartbeatTimeout: float = 10.0
    heartbeatAnyData: bool = True
    heartbeatClock: IReactorTime | None = None

    _heartbeatCall: IDelayedCall | None = None
    _heartbeatWait: Any = None
    _heartbeatLast: float = 0.0
    _heartbeatPingAt: float | None = None
    _heartbeatTimedOut = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        interval = cls.__dict__.get("heartbeatInterval")
        timeout = cls.__dict__.get("heartbeatTimeout")
        try:
            if interval is not None:
                checkMinDelay("heartbeatInterval", interval)
            if "heartbeatTimeout" in cls.__dict__:
                checkMinDelay("heartbeatTimeout", timeout)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{cls.__name__}.{e}") from None
        lost = cls.__dict__.get("connectionLost")
        if callable(lost) and not getattr(lost, "_heartbeatStops", False):
            cls.connectionLost = _first(  # type: ignore[method-assign]
                lost, "stopHeartbeat", "_heartbeatStops"
            )
        received = cls.__dict__.get("dataReceived")
        if callable(received) and not getattr(received, "_heartbeatNotes", False):
            cls.dataReceived = _first(  # type: ignore[method-assign]
                received, "_heartbeatNoteData", "_heartbeatNotes"
            )

    # -- what the application provides ---------------------------------------

    def sendPing(self) -> None:
        """Send the application's ping (override: e.g. ``self.sendLine(b"PING")``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement sendPing()")

    def pongReceived(self) -> None:
        """Call when the peer's answer to a ping (or any sign of life) arrives."""
        self._heartbeatLast = self._heartbeatNow()
        self._heartbeatPingAt = None

    def heartbeatTimedOut(self) -> None:
        """
        No answer within ``heartbeatTimeout``: log and abort the transport;
        ``connectionLost`` then sees a :class:`HeartbeatTimeout` failure (so
        does the factory's policy). Override to do something else first.
        """
        error = HeartbeatTimeout(
            f"no answer to a heartbeat ping within {self.heartbeatTimeout:g}s"
        )
        _log.warn("Heartbeat: {error}; aborting the connection", error=str(error))
        self._heartbeatTimedOut = True
        self._substituteLostReason(error)
        abortTransport(self)

    # -- control -------------------------------------------------------------

    def startHeartbeat(
        self, interval: float | None = None, timeout: float | None = None
    ) -> None:
        """
        Start (or restart) the heartbeat, optionally with new settings.

        :raises TypeError: naming ``heartbeatInterval`` or
            ``heartbeatTimeout`` if it is not a number.
        :raises ValueError: naming it if it is not a finite number ``> 0``
            (an infinite timeout would never notice a dead peer).
        """
        newInterval = self.heartbeatInterval if interval is None else interval
        newTimeout = self.heartbeatTimeout if timeout is None else timeout
        if newInterval is not None:
            newInterval = checkMinDelay("heartbeatInterval", newInterval)
            newTimeout = checkMinDelay("heartbeatTimeout", newTimeout)
        self.heartbeatInterval, self.heartbeatTimeout = newInterval, newTimeout
        self._heartbeatCancel()
        if self.heartbeatInterval is None:
            return
        self._heartbeatLast = self._heartbeatNow()
        self._heartbeatPingAt = None
        self._heartbeatArm(self.heartbeatInterval)

    def stopHeartbeat(self) -> None:
        """Stop the heartbeat (its timer and the wait for the handshake)."""
        self._heartbeatCancel()
        wait, self._heartbeatWait = self._heartbeatWait, None
        if wait is not None and not wait.called:
            wait.cancel()

    @property
    def heartbeatRunning(self) -> bool:
        """Whether the heartbeat timer is armed."""
        call = self._heartbeatCall
        return call is not None and call.active()

    # -- protocol hooks --------------------------------------------------------

    def makeConnection(self, transport: Any) -> None:
        """Connect, then arrange to start the heartbeat after the handshake."""
        super().makeConnection(transport)  # type: ignore[misc]
        if self.heartbeatInterval is None or self._heartbeatTimedOut:
            return
        factory = getattr(self, "factory", None)
        whenConnected = getattr(factory, "whenConnected", None)
        if whenConnected is None or not hasattr(factory, "addStatusObserver"):
            self.startHeartbeat()
            return
        wait = whenConnected()
        self._heartbeatWait = wait

        def connected(protocol: object) -> None:
            self._heartbeatWait = None
            if protocol is self and getattr(self, "connected", True):
                try:
                    self.startHeartbeat()
                except (TypeError, ValueError) as e:
                    _log.error(
                        "Heartbeat of {protocol} not started: {error}",
                        protocol=type(self).__name__,
                        error=str(e),
                    )

        wait.addCallbacks(connected, lambda failure: None)

    def dataReceived(self, data: bytes) -> None:
        """Note a sign of life (with ``heartbeatAnyData``), then handle ``data``."""
        self._heartbeatNoteData()
        super().dataReceived(data)  # type: ignore[misc]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Stop the heartbeat, then the protocol's own ``connectionLost``."""
        self.stopHeartbeat()
        super().connectionLost(reason)  # type: ignore[misc]

    # (The mixin's own are marked: __init_subclass__ wraps only overrides.)
    connectionLost._heartbeatStops = True  # type: ignore[attr-defined]
    dataReceived._heartbeatNotes = True  # type: ignore[attr-defined]

    # -- inside --------------------------------------------------------------

    def _heartbeatNoteData(self) -> None:
        if self.heartbeatAnyData:
            self._heartbeatLast = self._heartbeatNow()
            self._heartbeatPingAt = None

    def _heartbeatNow(self) -> float:
        return float(self._heartbeatReactor().seconds())

    def _heartbeatReactor(self) -> IReactorTime:
        clock = self.heartbeatClock
        if clock is None:
            clock = getattr(getattr(self, "factory", None), "clock", None)
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        return clock

    def _heartbeatArm(self, delay: float) -> None:
        self._heartbeatCall = self._heartbeatReactor().callLater(
            max(0.0, delay), self._heartbeatDue
        )

    def _heartbeatCancel(self) -> None:
        call, self._heartbeatCall = self._heartbeatCall, None
        if call is not None and call.active():
            call.cancel()

    def _heartbeatDue(self) -> None:
        # One timer, re-armed for whatever is due next: inbound data only
        # stores a timestamp (no timer churn per packet).
        self._heartbeatCall = None
        interval = self.heartbeatInterval
        if interval is None:
            return
        now = self._heartbeatNow()
        pingAt = self._heartbeatPingAt
        if pingAt is not None:
            if now - pingAt >= self.heartbeatTimeout:
                self.heartbeatTimedOut()
                return
            self._heartbeatArm(pingAt + self.heartbeatTimeout - now)
            return
        quiet = now - self._heartbeatLast
        if quiet < interval:
            self._heartbeatArm(interval - quiet)
            return
        self._heartbeatPingAt = now
        self._heartbeatArm(self.heartbeatTimeout)
        try:
            self.sendPing()
        except Exception:
            _log.failure("sendPing() raised; the heartbeat goes on")

    def _substituteLostReason(self, error: HeartbeatTimeout) -> None:
        """
        Make the coming ``connectionLost`` (from our abort) carry ``error``
        rather than the transport's ``ConnectionAborted``, for the protocol
        and for the factory's machine, which hears of it first.
        """
        attributes = vars(self)
        hook = attributes.get("connectionLost")  # the machine's, if any

        def lost(reason: Failure) -> None:
            if hook is not None:
                # The machine's hook removes its own instance attribute.
                attributes["connectionLost"] = hook
                hook(Failure(error))
            else:
                del attributes["connectionLost"]
                type(self).connectionLost(self, Failure(error))

        attributes["connectionLost"] = lost


def _first(method: Any, before: str, marker: str) -> Any:
    """
    A subclass's override ``method`` that calls ``self.<before>()`` first
    (``stopHeartbeat`` before ``connectionLost``, the sign of life before
    ``dataReceived``), marked with ``marker`` so that it is wrapped once.
    """

    @functools.wraps(method)
    def wrapper(self: HeartbeatMixin, *args: Any, **kwargs: Any) -> Any:
        getattr(self, before)()
        return method(self, *args, **kwargs)

    setattr(wrapper, marker, True)
    return wrapper
