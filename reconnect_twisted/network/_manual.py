"""
A monitor whose state is set by hand.
"""

from __future__ import annotations

from ._base import ObservableMonitor
from ._interface import INetworkMonitor
from ._typing import implementer

__all__ = ["ManualNetworkMonitor"]


@implementer(INetworkMonitor)
class ManualNetworkMonitor(ObservableMonitor):
    """
    An :class:`INetworkMonitor` driven by :meth:`setUp`: for tests, and for
    bridges to platform APIs that already know the network state (Android's
    ``ConnectivityManager``, Apple's ``NWPathMonitor``, NetworkManager over
    D-Bus…). No debouncing: every change is reported at once.

    :param isUp: the initial state (``None`` for unknown).
    """

    def __init__(self, isUp: bool | None = True) -> None:
        if isUp is not None and not isinstance(isUp, bool):
            raise TypeError(f"isUp must be True, False or None, not {isUp!r}")
        super().__init__(isUp)

    def start(self) -> None:
        """
        Does nothing: the state is whatever :meth:`setUp` said.
        """

    def stop(self) -> None:
        """
        Does nothing: the state is kept, and :meth:`setUp` keeps working.
        """

    def setUp(self, isUp: bool) -> None:
        """
        Set :attr:`isUp`; observers are called only if it changed.

        :raises TypeError: naming ``isUp`` if it is not a bool.
        """
        if not isinstance(isUp, bool):
            raise TypeError(f"isUp must be True or False, not {isUp!r}")
        self._setState(isUp)
