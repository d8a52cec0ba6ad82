"""
The ``reconnect-demo`` twistd plugin: a reconnecting line-protocol client
(the demo's ``LOGIN``/``JOIN`` client) run as a service against an endpoint.

``twistd -n reconnect-demo --connect tcp:host=127.0.0.1:port=8765``
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any, cast

from twisted.application.service import IService, MultiService
from twisted.internet.endpoints import clientFromString
from twisted.logger import Logger
from twisted.python import usage

from ._service import ReconnectingService
from ._status import ConnectionStatus
from ._validate import peerText
from .twistd import ReconnectOptions, checkClientEndpoint

__all__ = ["Options", "makeService"]

_log = Logger(namespace="reconnect_twisted.twistd")


class Options(ReconnectOptions):
    """
    Command-line options of ``twistd reconnect-demo``: the standard
    :class:`~reconnect_twisted.twistd.ReconnectOptions` plus the demo's own.
    """

    synopsis = "--connect ENDPOINT [options]"
    longdesc = (
        "Keep a logged-in connection to a reconnect_twisted demo/chat server "
        "(LOGIN user password, then JOIN room) over any client endpoint "
        "description (tcp:, tls:, unix:), reconnecting by itself. Every state "
        "change is logged. The password is read from --credentials FILE "
        "(one line 'user:password') and never logged. --status-port serves "
        "the live status page (127.0.0.1 only unless a full endpoint "
        "description is given)."
    )
    optParameters = [
        ["connect", "c", None, "Client endpoint description, e.g. tcp:127.0.0.1:8765."],
        ["user", "u", "demo", "Account to log in as (when no --credentials)."],
        ["credentials", None, None, "File with one line 'user:password'."],
        ["room", "r", None, "Room to join after logging in (a 2-step handshake)."],
    ]

    def postOptions(self) -> None:
        """Check the options together; read the credentials file."""
        self["connect"] = checkClientEndpoint(self["connect"])
        super().postOptions()
        self["password"] = ""
        if self["credentials"]:
            try:
                line = Path(self["credentials"]).read_text("utf-8").strip()
            except OSError as e:
                raise usage.UsageError(f"--credentials: {e.strerror}") from e
            except UnicodeDecodeError:
                raise usage.UsageError("--credentials: the file is not UTF-8") from None
            user, sep, password = line.partition(":")
            if any(c in line for c in "\r\n\x00"):
                # (A second line would be sent inside the LOGIN line.)
                raise usage.UsageError("--credentials: expected one line user:password")
            if not sep or not user:
                raise usage.UsageError("--credentials: expected one line user:password")
            self["user"], self["password"] = user, password


def _logStatus(status: ConnectionStatus) -> None:
    reason = status.stopReason or (
        status.lastFailure.getErrorMessage() if status.lastFailure else None
    )
    _log.info(
        "state={state} attempt={attempt} nextAttemptAt={next} reason={reason}",
        state=status.state.value,
        attempt=status.attempt,
        next=status.nextAttemptAt,
        # It may quote the server: one line, at most 200 characters.
        reason=None if reason is None else peerText(reason),
    )


class _GracefulService(MultiService):
    """
    Treats SIGTERM as an ordinary shutdown request: the services stop (the
    connection is closed cleanly) and twistd exits with status 0, where plain
    twistd would re-raise the signal once stopped.
    """

    def __init__(self) -> None:
        cast(Any, MultiService).__init__(self)

    def startService(self) -> None:
        """Start the children; take over SIGTERM once the reactor runs."""
        from twisted.internet import reactor

        MultiService.startService(self)
        cast(Any, reactor).callWhenRunning(self._takeSigterm)

    def _takeSigterm(self) -> None:
        from twisted.internet import reactor

        def onSigterm(signum: int, frame: object) -> None:
            _log.info("SIGTERM: stopping")
            cast(Any, reactor).callFromThread(cast(Any, reactor).stop)

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, onSigterm)


def makeService(options: Options) -> IService:
    """
    Build the service: a :class:`ReconnectingService` running the demo
    client factory over the ``--connect`` endpoint.
    """
    from twisted.internet import reactor

    from ._demo.client import DemoClientFactory

    factory = DemoClientFactory(
        options["user"],
        options["password"],
        options["room"],
        **options.factoryConfiguration(),
    )
    factory.addStatusObserver(_logStatus)
    endpoint = clientFromString(reactor, options["connect"])
    top = _GracefulService()
    cast(Any, top).addService(ReconnectingService(endpoint, factory))
    status = options.statusService({options["connect"]: factory})
    if status is not None:
        cast(Any, top).addService(status)
    return top
