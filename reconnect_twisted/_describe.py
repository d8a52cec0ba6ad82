"""
Names and one-line descriptions of factories for the operator's views
(metrics, status page): shared by the optional extras, imported by neither
the factory nor the package root.
"""

from __future__ import annotations

from typing import Any

from twisted.python.failure import Failure

from ._validate import errorText, peerText

__all__ = ["describeFailure", "targetOf"]


def targetOf(factory: Any) -> str | None:
    """
    Where ``factory`` connects to, as its log lines say it (``host:port``,
    the endpoint, the failover server in use), or ``None`` before it has
    been used with a connector or service.
    """
    try:
        links = factory._hub.links()
        targets = [link._target() for link in links if link.driver is not None]
    except Exception:  # a factory of another kind, or internals that moved
        return None
    if not targets:
        return None
    return targets[0] if len(targets) == 1 else ", ".join(targets)


def describeFailure(failure: Failure | None) -> str | None:
    """
    ``"Type: message"`` of a failure, the message escaped and truncated as
    peer text (it may quote the server), or ``None``.
    """
    if failure is None:
        return None
    error = failure.value
    text = errorText(error)
    name = type(error).__name__
    return f"{name}: {peerText(text)}" if text else name
