"""
Structural types for the parts of the reactor the monitors use, and a typed
view of ``zope.interface.implementer``.

``zope.interface`` ships no type information, and without the ``mypy-zope``
plugin Twisted's ``IReactorTime`` & co. cannot be used as annotations under
``mypy --strict``; these protocols can, and any real reactor or
:class:`twisted.internet.task.Clock` satisfies them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

_T = TypeVar("_T")

if TYPE_CHECKING:

    def implementer(*interfaces: object) -> Callable[[_T], _T]:
        """Typed stand-in for :func:`zope.interface.implementer`."""
        raise NotImplementedError

else:
    from zope.interface import implementer

__all__ = ["DelayedCall", "FDReactor", "TimeReactor", "implementer"]


class DelayedCall(Protocol):
    """
    What the monitors use of :class:`twisted.internet.interfaces.IDelayedCall`.
    """

    def cancel(self) -> None:
        """Cancel the call."""

    def active(self) -> bool:
        """Whether the call has neither run nor been cancelled."""
        raise NotImplementedError


class TimeReactor(Protocol):
    """
    What the monitors use of :class:`twisted.internet.interfaces.IReactorTime`.
    """

    def seconds(self) -> float:
        """The current time in seconds."""
        raise NotImplementedError

    def callLater(
        self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any
    ) -> Any:
        """Call ``callable`` after ``delay`` seconds; returns an IDelayedCall."""


class FDReactor(TimeReactor, Protocol):
    """
    :class:`TimeReactor` plus what the netlink monitor uses of
    :class:`twisted.internet.interfaces.IReactorFDSet`.
    """

    def addReader(self, reader: Any) -> None:
        """Start watching ``reader`` (an IReadDescriptor) for readability."""

    def removeReader(self, reader: Any) -> None:
        """Stop watching ``reader``."""
