"""
The business handshake: what must succeed, after the transport is up, for a
connection to count as established (login, auth, subscribe, ...).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import (
    CancelledError,
    Deferred,
    ensureDeferred,
    fail,
    succeed,
)
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from ._errors import HandshakeRejected, HandshakeTimeout, ReconnectError
from ._validate import checkDelay, ownName, peerText

__all__ = ["HandshakeStepError", "HandshakeSteps", "callHandshake"]

Step = Callable[[Any], Any]


class HandshakeStepError(ReconnectError):
    """
    A step of :class:`HandshakeSteps` failed with an unexpected error.

    The message gives the step's name, the original exception's type and its
    ``str()`` escaped and truncated by :func:`peerText` (it may quote a
    server's reply); never its ``repr()``.

    :ivar step: the name of the step that failed.
    :ivar original: the exception it failed with.
    """

    def __init__(self, step: str, original: BaseException) -> None:
        text = peerText(original)
        kind = type(original).__name__
        detail = f"{kind}: {text}" if text else kind
        super().__init__(f"handshake step {step!r} failed: {detail}")
        self.step = step
        self.original = original


def callHandshake(function: Callable[..., Any], *args: Any) -> Deferred[Any]:
    """
    Call a handshake (or step) and return a Deferred of its outcome: ``None``
    and Deferreds are taken as they are, coroutines are run with
    :func:`ensureDeferred`, a synchronous exception becomes a failed Deferred.

    Any other return value means success, as with ``ClientService``'s
    ``prepareConnection``.

    :raises: never.
    """

    # (maybeDeferred's rules, without its closure and call: once per
    # connection.)
    try:
        result = function(*args)
    except BaseException:
        return fail(Failure())
    if isinstance(result, Deferred):
        return result
    if result is None:
        return succeed(None)
    if isinstance(result, Failure):
        return fail(result)
    if inspect.isawaitable(result):
        return ensureDeferred(_await(result))
    return succeed(result)  # a plain value: success


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _stepName(step: Step | tuple[str, Step], number: int) -> tuple[str, Step]:
    """
    ``(name, callable)`` for step ``number`` (from 1): a ``(name, callable)``
    pair as given; a plain callable named by its function's name (partials
    unwrapped, never ``repr()``), or ``"step N"`` if it has no usable name (a
    lambda, an object without ``__name__``). Errors describe a bad step by
    its type only: its repr may hold a credential.
    """
    if isinstance(step, tuple):
        if len(step) != 2:
            raise TypeError(
                f"steps: step {number} must be a callable or a (name, callable) "
                f"pair, not a tuple of {len(step)} items"
            )
        if not isinstance(step[0], str):
            raise TypeError(
                f"steps: the name of step {number} must be a str, "
                f"not {type(step[0]).__name__}"
            )
        if not callable(step[1]):
            raise TypeError(
                f"steps: step {number} ({step[0]!r}) must be callable, "
                f"not {type(step[1]).__name__}"
            )
        return step[0], step[1]
    if not callable(step):
        raise TypeError(
            f"steps: step {number} must be a callable or a (name, callable) "
            f"pair, not {type(step).__name__}"
        )
    name = ownName(step)
    if name is None or name.startswith("<"):
        name = f"step {number}"
    return name, step


class _Run:
    """One run of :class:`HandshakeSteps`: whether it was cancelled."""

    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False


class HandshakeSteps:
    """
    A ready-made handshake that runs several steps in order, each
    ``(protocol) -> Deferred | None`` (or a coroutine function), each under
    its own timeout.

    >>> login = HandshakeSteps(("login", sendLogin), ("join", joinRoom),
    ...                        stepTimeout=10.0)  # doctest: +SKIP

    A failure says which step failed: :class:`HandshakeTimeout` and
    :class:`HandshakeRejected` name the step in their reason (and keep their
    type, so ``permanent=True`` still makes the default policy give up);
    anything else is wrapped in :class:`HandshakeStepError`.

    A plain callable's name is its function's ``__name__`` (partials are
    unwrapped; a bound method gives ``Class.method``), or ``"step N"``
    (counting from 1) for a lambda or an object without a name; never its
    ``repr()``, which for ``functools.partial(login, password=...)`` would
    print the password. A rejection's reason is escaped and truncated with
    :func:`~reconnect_twisted._validate.peerText`: it often quotes the
    server.

    :param steps: callables, or ``(name, callable)`` pairs.
    :param stepTimeout: seconds each step may take, or ``None`` for no
        per-step limit (the factory's ``handshakeTimeout`` still applies to
        the whole handshake).
    """

    def __init__(
        self, *steps: Step | tuple[str, Step], stepTimeout: float | None = None
    ):
        if not steps:
            raise ValueError("steps: HandshakeSteps needs at least one step")
        self.steps = [_stepName(step, number) for number, step in enumerate(steps, 1)]
        self.stepTimeout = (
            None if stepTimeout is None else checkDelay("stepTimeout", stepTimeout)
        )

    def run(self, protocol: Any, clock: IReactorTime) -> Deferred[None]:
        """
        Run the steps against ``protocol``, timing them with ``clock``.
        Cancelling the result cancels the running step, and no further step
        runs: not even when the cancel comes while the running step's
        Deferred is firing (a control such as ``giveUp()`` called from its
        own callbacks), which a cancel cannot stop.
        """
        run = _Run()
        steps = ensureDeferred(self._run(protocol, clock, run))

        def cancel(result: Deferred[None]) -> None:
            run.cancelled = True
            steps.cancel()

        result: Deferred[None] = Deferred(cancel)

        def forward(outcome: object) -> None:
            # Once cancelled, ``result`` has failed with CancelledError: what
            # the steps end with after that (the step that was firing, then
            # the CancelledError raised before the next one) is dropped.
            if result.called:
                return
            if isinstance(outcome, Failure):
                result.errback(outcome)
            else:
                result.callback(None)

        steps.addBoth(forward)
        return result

    async def _run(self, protocol: Any, clock: IReactorTime, run: _Run) -> None:
        for name, function in self.steps:
            if run.cancelled:
                raise CancelledError(f"handshake cancelled before step {name!r}")
            step = callHandshake(function, protocol)
            if self.stepTimeout is not None:
                step.addTimeout(self.stepTimeout, clock)
            try:
                await step
            except HandshakeRejected as e:
                error = HandshakeRejected(
                    f"step {name!r}: {peerText(e.reason)}", e.permanent
                )
                error.step = name  # type: ignore[attr-defined]
                raise error from e
            except (CancelledError, Exception) as e:
                raise self._stepFailure(name, e, step) from e

    def _stepFailure(
        self, name: str, error: BaseException, step: Deferred[Any]
    ) -> BaseException:
        from twisted.internet.defer import TimeoutError as DeferredTimeout

        if isinstance(error, DeferredTimeout):
            timeout = HandshakeTimeout(
                f"handshake step {name!r} timed out after {self.stepTimeout:g}s"
            )
            timeout.step = name  # type: ignore[attr-defined]
            return timeout
        if isinstance(error, ReconnectError | CancelledError):
            return error
        return HandshakeStepError(name, error)

    def __call__(self, protocol: Any) -> Deferred[None]:
        """
        Run the steps, with the protocol's factory's clock (the global reactor
        if it has none).
        """
        clock = getattr(getattr(protocol, "factory", None), "clock", None)
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        return self.run(protocol, clock)

    def __repr__(self) -> str:
        names = ", ".join(repr(name) for name, _ in self.steps)
        return f"HandshakeSteps({names}, stepTimeout={self.stepTimeout!r})"
