"""
The demo's output: a live timeline (text, coloured on a terminal, or one JSON
object per line) and the summary table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from twisted.python.failure import Failure

from .. import ConnectionState, ConnectionStatus

__all__ = ["Outcome", "Timeline", "describeFailure", "statusReason"]

_RESET = "\x1b[0m"
_COLOURS = {
    ConnectionState.IDLE: "\x1b[2m",
    ConnectionState.CONNECTING: "\x1b[36m",
    ConnectionState.HANDSHAKING: "\x1b[36m",
    ConnectionState.CONNECTED: "\x1b[32;1m",
    ConnectionState.WAITING: "\x1b[33m",
    ConnectionState.OFFLINE: "\x1b[35m",
    ConnectionState.STOPPED: "\x1b[31;1m",
}
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_PASS = "\x1b[32;1m"
_FAIL = "\x1b[31;1m"


def describeFailure(failure: Failure | None) -> str | None:
    """A one-line reason: the error's type and message, no traceback."""
    if failure is None:
        return None
    error = failure.value
    text = str(error).strip()
    name = type(error).__name__
    return f"{name}: {text}" if text else name


def statusReason(status: ConnectionStatus) -> str | None:
    """Why the factory is where it is: the stop reason, or the last failure."""
    if status.state is ConnectionState.STOPPED:
        return status.stopReason
    if status.state in (ConnectionState.WAITING, ConnectionState.OFFLINE):
        return describeFailure(status.lastFailure)
    return None


@dataclass
class Outcome:
    """
    How one scenario ended.

    :ivar key: the scenario's letter.
    :ivar title: what it shows.
    :ivar expected: the outcome it should have.
    :ivar observed: the outcome it had.
    :ivar ok: whether they match.
    """

    key: str
    title: str
    expected: str
    observed: str
    ok: bool


class Timeline:
    """
    Writes demo events to ``out``, as text lines (coloured if ``colour``) or
    as JSON lines (if ``asJSON``).

    :param out: where to write.
    :param now: returns the current time, in seconds.
    :param asJSON: one JSON object per line instead of text.
    :param colour: use ANSI colours (text mode only).
    """

    def __init__(
        self,
        out: TextIO,
        now: Callable[[], float],
        asJSON: bool = False,
        colour: bool = False,
    ) -> None:
        self.out = out
        self.now = now
        self.start = now()
        self.asJSON = asJSON
        self.colour = colour and not asJSON
        self.closed = False

    def close(self) -> None:
        """Write nothing more (after the watchdog's last word)."""
        self.closed = True

    def elapsed(self) -> float:
        """Seconds since the timeline started."""
        return self.now() - self.start

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.colour else text

    def _write(self, line: str) -> None:
        if not self.closed:
            print(line, file=self.out, flush=True)

    def emit(
        self,
        event: str,
        scenario: str | None,
        *,
        text: str | None = None,
        state: str | None = None,
        attempt: int | None = None,
        nextDelay: float | None = None,
        reason: str | None = None,
        ok: bool | None = None,
        **extra: Any,
    ) -> None:
        """Write one event (``text`` is the human-readable line's message)."""
        t = round(self.elapsed(), 3)
        if self.asJSON:
            record: dict[str, Any] = {
                "t": t,
                "scenario": scenario,
                "event": event,
                "state": state,
                "attempt": attempt,
                "nextDelay": None if nextDelay is None else round(nextDelay, 3),
                "reason": reason,
                "ok": ok,
            }
            if text is not None:
                record["message"] = text
            record.update(extra)
            self._write(json.dumps(record, sort_keys=False))
            return
        stamp = self._paint(_DIM, f"{t:8.3f}s")
        label = f"[{scenario}]" if scenario else "   "
        self._write(f"{stamp} {label} {text or event}")

    def status(self, scenario: str, client: str, status: ConnectionStatus) -> None:
        """Write a client's status change."""
        nextDelay = (
            None
            if status.nextAttemptAt is None
            else max(0.0, status.nextAttemptAt - self.now())
        )
        reason = statusReason(status)
        parts = [
            f"{client:<7}",
            self._paint(_COLOURS[status.state], f"{status.state.name:<11}"),
            f"attempt {status.attempt}",
        ]
        if nextDelay is not None:
            parts.append(f"next in {nextDelay:.2f}s")
        if reason:
            parts.append(f"- {reason}")
        self.emit(
            "status",
            scenario,
            text="  ".join(parts),
            state=status.state.name,
            attempt=status.attempt,
            nextDelay=nextDelay,
            reason=reason,
            client=client,
        )

    def action(self, scenario: str, text: str) -> None:
        """Write something the demo did (server started, key pressed...)."""
        self.emit("action", scenario, text=self._paint(_BOLD, f"* {text}"), action=text)

    def scenarioStart(self, key: str, title: str, expected: str) -> None:
        """Write a scenario's heading."""
        if not self.asJSON:
            self._write("")
        self.emit(
            "scenario-start",
            key,
            text=self._paint(_BOLD, f"{title} - expected: {expected}"),
            title=title,
            expected=expected,
        )

    def scenarioEnd(self, outcome: Outcome) -> None:
        """Write a scenario's outcome."""
        verdict = self._paint(_PASS if outcome.ok else _FAIL, _verdict(outcome.ok))
        self.emit(
            "scenario-end",
            outcome.key,
            text=f"{verdict}: {outcome.observed}",
            ok=outcome.ok,
            reason=outcome.observed,
            title=outcome.title,
            expected=outcome.expected,
            observed=outcome.observed,
        )

    def summary(self, outcomes: Sequence[Outcome]) -> None:
        """Write the summary table (text) or a ``summary`` event (JSON)."""
        ok = bool(outcomes) and all(outcome.ok for outcome in outcomes)
        if self.asJSON:
            self.emit(
                "summary",
                None,
                ok=ok,
                passed=sum(outcome.ok for outcome in outcomes),
                total=len(outcomes),
                elapsed=round(self.elapsed(), 3),
            )
            return
        header = ("Scenario", "Expected outcome", "Observed outcome", "Result")
        rows = [
            (f"{o.key}  {o.title}", o.expected, o.observed, _verdict(o.ok))
            for o in outcomes
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
        rule = "-+-".join("-" * w for w in [*widths, 6])
        self._write("")
        allWidths = [*widths, 6]
        heads = [h.ljust(w) for h, w in zip(header, allWidths, strict=True)]
        self._write(" | ".join(heads))
        self._write(rule)
        for row, outcome in zip(rows, outcomes, strict=True):
            cells = [c.ljust(w) for c, w in zip(row[:3], widths, strict=True)]
            cells.append(self._paint(_PASS if outcome.ok else _FAIL, row[3]))
            self._write(" | ".join(cells))
        passed = sum(o.ok for o in outcomes)
        self._write("")
        self._write(
            self._paint(
                _PASS if ok else _FAIL,
                f"{passed}/{len(outcomes)} scenarios as described "
                f"({self.elapsed():.1f}s)",
            )
        )


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
