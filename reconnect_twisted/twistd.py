"""
Reusable twistd options for an application's own plugin.

Subclass :class:`ReconnectOptions` for your plugin's options::

    class Options(ReconnectOptions):
        optParameters = [["connect", "c", None, "Client endpoint."]]

        def postOptions(self) -> None:
            super().postOptions()  # checks the reconnect options
            self["connect"] = checkClientEndpoint(self["connect"])

    def makeService(options):
        factory = MyFactory(**options.factoryConfiguration())
        ...

Every bad value is a :class:`twisted.python.usage.UsageError` naming the
option (twistd prints it with the usage text, never a traceback).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twisted.python import usage

from .backoff import DecorrelatedBackoff, ExponentialBackoff, FixedBackoff, IBackoff

if TYPE_CHECKING:
    from twisted.application.service import IService

__all__ = [
    "ReconnectOptions",
    "checkClientEndpoint",
    "checkServerEndpoint",
]

_BACKOFFS = ("fixed", "exponential", "decorrelated")


def _number(option: str, *, allowNever: bool = False) -> Callable[[str], Any]:
    """A coercer for a finite number >= 0 that names ``option`` in its error."""

    def coerce(value: str) -> float | None:
        if allowNever and str(value).strip().lower() in ("never", "none", "off"):
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{option} must be a number, not {value!r}") from None
        if math.isnan(number) or number < 0 or math.isinf(number):
            raise ValueError(f"{option} must be a finite number >= 0, not {value!r}")
        return number

    coerce.coerceDoc = "A number of seconds >= 0."  # type: ignore[attr-defined]
    return coerce


def checkClientEndpoint(description: str | None, option: str = "--connect") -> str:
    """
    Check a client endpoint description (``tcp:host=...:port=...``,
    ``tls:...``, ``unix:path=...``) without connecting: return it, or raise
    :class:`~twisted.python.usage.UsageError` naming ``option``.
    """
    from twisted.internet.endpoints import clientFromString
    from twisted.internet.testing import MemoryReactor

    if not description:
        raise usage.UsageError(f"{option} ENDPOINT is required")
    try:
        clientFromString(MemoryReactor(), description)
    except Exception as e:  # the parsers raise ValueError, KeyError, TypeError...
        raise usage.UsageError(
            f"{option}: not a client endpoint description: {description!r} "
            f"({type(e).__name__}: {e}); e.g. tcp:host=127.0.0.1:port=8765"
        ) from None
    return description


def checkServerEndpoint(description: str, option: str = "--status-port") -> str:
    """
    Turn ``--status-port`` into a server endpoint description: a bare port
    number listens on 127.0.0.1 only (``tcp:8080:interface=127.0.0.1``); a
    full description (``tcp:8080:interface=0.0.0.0``, ``unix:...``) is kept
    as written. Raises :class:`~twisted.python.usage.UsageError`.
    """
    from twisted.internet.endpoints import serverFromString
    from twisted.internet.testing import MemoryReactor

    text = str(description).strip()
    if text.isdigit():
        port = int(text)
        if not 0 <= port <= 65535:
            raise usage.UsageError(f"{option}: port out of range: {text}")
        text = f"tcp:{port}:interface=127.0.0.1"
    try:
        serverFromString(MemoryReactor(), text)
    except Exception as e:
        raise usage.UsageError(
            f"{option}: not a port or server endpoint description: "
            f"{description!r} ({type(e).__name__}: {e})"
        ) from None
    return text


class ReconnectOptions(usage.Options):
    """
    ``usage.Options`` with the standard reconnect options: subclass it
    (``class Options(ReconnectOptions)``) or mix it in first among the bases
    (``class Options(ReconnectOptions, MyBaseOptions)``); your own
    ``optParameters`` and ``optFlags`` are added to these.

    ``--backoff fixed|exponential|decorrelated``, ``--interval`` (fixed),
    ``--initial-delay``, ``--max-delay``, ``--jitter`` (exponential),
    ``--connect-timeout``, ``--handshake-timeout``, ``--alert-after``
    (``never`` disables the alert), ``--no-network-monitor``,
    ``--status-port`` (a port on 127.0.0.1, or a server endpoint
    description) and ``--status-token-file`` (a file holding the status
    page's control token; without it a token is generated and logged once).

    Subclasses that define ``postOptions`` call ``super().postOptions()``.
    """

    optParameters: list[list[Any]] = [
        [
            "backoff",
            "b",
            "exponential",
            "Schedule: fixed, exponential or decorrelated.",
        ],
        [
            "interval",
            None,
            3.0,
            "fixed: seconds between attempts.",
            _number("--interval"),
        ],
        [
            "initial-delay",
            None,
            2.0,
            "exponential/decorrelated: the first delay.",
            _number("--initial-delay"),
        ],
        [
            "max-delay",
            None,
            60.0,
            "exponential/decorrelated: the longest delay.",
            _number("--max-delay"),
        ],
        [
            "jitter",
            None,
            0.8,
            "exponential: jitter fraction in [0, 1].",
            _number("--jitter"),
        ],
        [
            "connect-timeout",
            None,
            30.0,
            "Seconds per transport attempt (0: none).",
            _number("--connect-timeout"),
        ],
        [
            "handshake-timeout",
            None,
            30.0,
            "Seconds for the business handshake (0: none).",
            _number("--handshake-timeout"),
        ],
        [
            "alert-after",
            None,
            60.0,
            "Seconds of outage before a critical alert ('never': no alert).",
            _number("--alert-after", allowNever=True),
        ],
        [
            "status-port",
            None,
            None,
            "Serve the status page: a port (on 127.0.0.1) or a server "
            "endpoint description.",
        ],
        [
            "status-token-file",
            None,
            None,
            "File holding the status page's control token (default: generated, "
            "logged once).",
        ],
    ]
    optFlags: list[list[Any]] = [
        ["no-network-monitor", None, "Do not watch the OS's network state."],
    ]

    def postOptions(self) -> None:
        """Check the reconnect options together (usage errors name them)."""
        self.checkReconnectOptions()
        super().postOptions()  # type: ignore[no-untyped-call]

    def checkReconnectOptions(self) -> None:
        """
        What :meth:`postOptions` checks: the backoff's arguments, the status
        port and the token file (read here, so that a missing file is a
        usage error, not a failure at start).
        """
        kind = self["backoff"]
        if kind not in _BACKOFFS:
            raise usage.UsageError(
                f"--backoff must be fixed, exponential or decorrelated, not {kind!r}"
            )
        if self["jitter"] > 1:
            raise usage.UsageError("--jitter must be in [0, 1]")
        if kind != "fixed":
            if self["initial-delay"] <= 0:
                raise usage.UsageError(
                    "--initial-delay must be > 0 for an exponential or "
                    "decorrelated backoff (0 would retry with no wait)"
                )
            if self["max-delay"] < self["initial-delay"]:
                raise usage.UsageError("--max-delay must be >= --initial-delay")
        try:
            self.backoff()
        except (TypeError, ValueError) as e:
            raise usage.UsageError(f"--backoff {kind}: {e}") from None
        if self["status-port"] is not None:
            self["status-port"] = checkServerEndpoint(self["status-port"])
        self["status-token"] = None
        tokenFile = self["status-token-file"]
        if tokenFile is not None:
            if self["status-port"] is None:
                raise usage.UsageError("--status-token-file needs --status-port")
            try:
                token = Path(tokenFile).read_text("utf-8").strip()
            except OSError as e:
                raise usage.UsageError(
                    f"--status-token-file: {tokenFile}: {e.strerror}"
                ) from None
            except UnicodeDecodeError:
                raise usage.UsageError(
                    f"--status-token-file: {tokenFile}: not UTF-8 text"
                ) from None
            if len(token) < 16 or any(c.isspace() for c in token):
                raise usage.UsageError(
                    "--status-token-file: the token must be one word of at "
                    "least 16 characters"
                )
            self["status-token"] = token

    def backoff(self) -> IBackoff:
        """The schedule the options describe."""
        kind = self["backoff"]
        if kind == "fixed":
            return FixedBackoff(self["interval"])
        if kind == "decorrelated":
            return DecorrelatedBackoff(self["initial-delay"], self["max-delay"])
        return ExponentialBackoff(
            self["initial-delay"], 2.0, self["max-delay"], self["jitter"]
        )

    def factoryConfiguration(self, reactor: Any = None) -> dict[str, Any]:
        """
        Keyword arguments for ``ReconnectingFactory(**...)`` or
        ``factory.configure(**...)``: ``backoff``, ``connectTimeout``,
        ``handshakeTimeout``, ``alertAfter`` and ``networkMonitor`` (a new
        :func:`~reconnect_twisted.defaultNetworkMonitor` unless
        ``--no-network-monitor``: call this once per factory, or share the
        monitor yourself).
        """
        from .network import defaultNetworkMonitor

        return {
            "backoff": self.backoff(),
            "connectTimeout": self["connect-timeout"],
            "handshakeTimeout": self["handshake-timeout"],
            "alertAfter": self["alert-after"],
            "networkMonitor": (
                None if self["no-network-monitor"] else defaultNetworkMonitor(reactor)
            ),
        }

    def statusService(
        self,
        factories: Mapping[str, Any] | Iterable[Any],
        reactor: Any = None,
    ) -> IService | None:
        """
        The status page's listening service for ``--status-port`` (``None``
        without it): a :class:`reconnect_twisted.web.StatusResource` showing
        ``factories`` (a ``{name: factory}`` mapping, or factories named by
        their target), with the token from ``--status-token-file`` or a
        generated one (logged once). Add it to your ``MultiService``.
        """
        if self["status-port"] is None:
            return None
        from .web import statusService

        service: IService = statusService(
            self["status-port"],
            factories,
            token=self["status-token"],
            reactor=reactor,
        )
        return service
