"""
What every monitor shares: the observed value, observers, failing once, and
(for monitors that observe a real network) debouncing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from twisted.logger import Logger

from .._validate import checkDelay, safeName
from ._debounce import Debouncer
from ._typing import TimeReactor

__all__ = ["DebouncedMonitor", "ObservableMonitor"]


class ObservableMonitor:
    """
    Holds :attr:`isUp` and calls observers when it changes to a bool.
    """

    log = Logger()

    def __init__(self, isUp: bool | None = None) -> None:
        #: ``True``/``False`` for up/down, ``None`` while unknown.
        self.isUp: bool | None = isUp
        self._observers: dict[object, Callable[[bool | None], None]] = {}

    def addObserver(
        self, callback: Callable[[bool | None], None]
    ) -> Callable[[], None]:
        """
        Call ``callback(isUp)`` on every change of :attr:`isUp` (``None`` when
        the monitor fails and can no longer tell).

        :return: a callable that removes this observer; calling it again does
            nothing.
        :raises TypeError: naming ``callback`` if it is not callable.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {callback!r}")
        token = object()
        self._observers[token] = callback

        def removeObserver() -> None:
            self._observers.pop(token, None)

        return removeObserver

    def _setState(self, isUp: bool | None, notify: bool = True) -> None:
        """
        Record ``isUp``; notify observers if it changed. Observers hear
        ``None`` too, when the monitor can no longer tell (it failed or was
        stopped), so that a factory waiting OFFLINE falls back to behaving as
        without a monitor.
        """
        if isUp is self.isUp:
            return
        self.isUp = isUp
        if not notify:
            return
        for observer in list(self._observers.values()):
            try:
                observer(isUp)
            except Exception:
                self.log.failure(
                    "Network observer {observer} raised on isUp={isUp}",
                    observer=safeName(observer),
                    isUp=isUp,
                )


class DebouncedMonitor(ObservableMonitor):
    """
    Base for monitors that feed raw observations through a :class:`Debouncer`
    and that may fail.

    :param reactor: provider of ``IReactorTime`` (and whatever else the
        subclass needs); ``None`` for the global reactor, looked up only when
        first needed.
    :param settle: base settle time for up transitions, in seconds.
    :param maxSettle: the cap on the settle time while flapping.
    :raises TypeError: if ``settle`` or ``maxSettle`` is not a number.
    :raises ValueError: if either is negative, NaN or infinite, or
        ``settle > maxSettle``.
    """

    def __init__(
        self,
        reactor: TimeReactor | None,
        *,
        settle: float = 0.15,
        maxSettle: float = 10.0,
    ) -> None:
        settle = checkDelay("settle", settle)
        maxSettle = checkDelay("maxSettle", maxSettle)
        if settle > maxSettle:
            raise ValueError(
                f"settle ({settle:g}) must be <= maxSettle ({maxSettle:g})"
            )
        super().__init__(None)
        self._reactorArgument = reactor
        self._settle = settle
        self._maxSettle = maxSettle
        self._debouncer: Debouncer | None = None
        self._failureLogged = False
        #: Whether :meth:`start` was called without a :meth:`stop` since.
        self.running = False
        #: What carried the last raw "up" observation: interface names (or
        #: local addresses, where names are not known); empty when down or
        #: unknown. Not debounced.
        self.via: tuple[str, ...] = ()

    def _reactor(self) -> TimeReactor:
        if self._reactorArgument is None:
            from twisted.internet import reactor

            self._reactorArgument = cast(TimeReactor, reactor)
        return self._reactorArgument

    @property
    def debouncer(self) -> Debouncer:
        """
        The :class:`Debouncer` in use (created on first use).
        """
        if self._debouncer is None:
            self._debouncer = Debouncer(
                self._reactor(),
                self._setState,
                settle=self._settle,
                maxSettle=self._maxSettle,
            )
        return self._debouncer

    def _observe(self, via: tuple[str, ...]) -> None:
        """
        Take one raw observation: up when ``via`` is not empty.
        """
        self.via = via
        self.debouncer.feed(bool(via))

    def _forget(self, notify: bool = False) -> None:
        """
        Drop the debounced state and go back to unknown, silently.
        """
        self.via = ()
        if self._debouncer is not None:
            self._debouncer.reset()
        self._setState(None, notify)

    def _fail(self, why: str, inExceptHandler: bool = False) -> None:
        """
        Go to unknown; log ``why`` the first time this monitor fails (with the
        traceback of the exception being handled, if ``inExceptHandler``).
        """
        self._forget(notify=True)
        if self._failureLogged:
            return
        self._failureLogged = True
        message = "{monitor} failed ({why}); network state is unknown"
        if inExceptHandler:
            self.log.failure(message, monitor=type(self).__name__, why=why)
        else:
            self.log.warn(message, monitor=type(self).__name__, why=why)
