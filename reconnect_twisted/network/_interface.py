"""
The network monitor interface.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

__all__ = ["INetworkMonitor"]

if TYPE_CHECKING:
    # Type checkers see a Protocol (zope.interface ships no types); at run
    # time this is a real zope.interface Interface.

    class INetworkMonitor(Protocol):
        """Typing view of the runtime interface below."""

        isUp: bool | None

        def start(self) -> None:
            """Start watching."""

        def stop(self) -> None:
            """Stop watching."""

        def addObserver(
            self, callback: Callable[[bool | None], None]
        ) -> Callable[[], None]:
            """Observe transitions."""
            raise NotImplementedError

else:
    from zope.interface import Attribute, Interface

    class INetworkMonitor(Interface):
        """
        Tells whether the network is usable, and when that changes.

        "Up" means a usable default route: a unicast default route whose
        output interface is not loopback, is up with carrier and has a global
        address. Implementations debounce: they report "down" at once and
        "up" only after a short settle time.
        """

        isUp = Attribute(
            """
            ``True`` when the network is up, ``False`` when it is down,
            ``None`` while unknown: before :meth:`start`, after :meth:`stop`,
            or after the monitor failed (it then logs once, tells observers
            ``None`` once, and stays ``None``).
            """
        )

        def start() -> None:
            """
            Start watching the network. Idempotent.

            May set :attr:`isUp` (and call observers) before it returns.
            """

        def stop() -> None:
            """
            Stop watching: release every file descriptor and cancel every
            delayed call. :attr:`isUp` becomes ``None``, without calling
            observers. Idempotent.
            """

        def addObserver(
            callback: Callable[[bool | None], None],
        ) -> Callable[[], None]:
            """
            Call ``callback(isUp)`` synchronously on every change of
            :attr:`isUp`: ``True`` or ``False``, or ``None`` when the monitor
            fails and can no longer tell (never twice with the same value;
            not on :meth:`stop`). An observer that raises is logged and does
            not affect the other observers.

            :param callback: ``Callable[[bool | None], None]``.
            :return: a callable that removes the observer (idempotent).
            """
