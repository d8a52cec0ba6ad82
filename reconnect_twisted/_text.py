"""
Text helpers for log lines, re-exported from :mod:`reconnect_twisted._validate`
(where they live): :func:`peerText` escapes and truncates text that came from
a peer, :func:`safeName` names a callable without ``repr()``.
"""

from __future__ import annotations

from ._validate import peerText, safeName

__all__ = ["peerText", "safeName"]
