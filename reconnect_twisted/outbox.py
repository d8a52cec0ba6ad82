"""
An outbox: application messages put while disconnected are delivered, in
order, once the business handshake of the next connection has succeeded.

Guarantees (see ``docs/outbox.rst``):

* delivery only in ``CONNECTED`` (never before the login), in ``put()``
  order, at most ``window`` items unacknowledged at a time;
* at least once: an item sent but not acknowledged when its connection
  ends goes back to the front of the queue, in order, and is sent again on
  the next connection; every item has an id the peer can de-duplicate on;
* bounded: ``maxItems`` and ``maxBytes`` (queued and in flight together);
  a ``put()`` that does not fit fails at once with :class:`OutboxFull` (or,
  with ``overflow="drop-oldest"``, the oldest queued items are dropped and
  *their* Deferreds fail with :class:`OutboxFull`);
* nothing silently dropped: when the factory stops (``giveUp()``, a kick,
  ``maxRetries``, a policy's ``GiveUp``), every pending ``put()`` fails with
  :class:`~reconnect_twisted.GaveUp` carrying the stop reason.

The queue lives in memory: a process that exits loses what it holds.
:class:`~reconnect_twisted.SQLiteOutbox` keeps it in a file instead; it is
this class with the storage hooks (``_prepare``, ``_added``, ``_removed``,
``_stopped``) filled in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, fail, maybeDeferred
from twisted.internet.error import ConnectionClosed, ConnectionLost
from twisted.logger import Logger
from twisted.python.failure import Failure

from ._errors import GaveUp, OutboxFull
from ._status import ConnectionState, ConnectionStatus
from ._validate import _show

__all__ = ["Outbox"]

S = ConnectionState
_log = Logger(namespace="reconnect_twisted")

OVERFLOWS = ("fail", "drop-oldest")


class _Entry:
    __slots__ = (
        "deferred",
        "item",
        "itemId",
        "orphan",
        "sends",
        "seq",
        "size",
        "stored",
    )

    def __init__(self, seq: int, itemId: Any, item: Any, size: int) -> None:
        self.seq = seq  # put() order
        self.itemId = itemId
        self.item = item
        self.size = size
        self.sends = 0
        self.deferred: Deferred[Any] = Deferred()
        self.stored = True  # may be sent (a durable outbox: once committed)
        self.orphan = False  # no put() caller waits on self.deferred


def _checkCount(name: str, value: Any, orNone: str = "") -> None:
    """
    Refuse ``value`` unless it is an ``int >= 1``: a ``TypeError`` naming
    ``name`` for anything but an ``int`` (a bool too: ``True`` would silently
    mean 1), a ``ValueError`` for one below 1.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= 1{orNone}, not {_show(value)}")
    if value < 1:
        raise ValueError(f"{name} must be an int >= 1{orNone}, not {_show(value)}")


class Outbox:
    """
    Queues application messages for ``factory`` and delivers them with
    ``deliver`` whenever it is ``CONNECTED``.

    :param factory: the :class:`~reconnect_twisted.ReconnectingFactory`
        (either path: the outbox only watches its status).
    :param deliver: ``deliver(protocol, item) -> Deferred`` (or, with
        ``withIds=True``, ``deliver(protocol, item, itemId)``): send ``item``
        on ``protocol``; the Deferred fires when the peer acknowledged it
        (a plain value: at once, for fire-and-forget protocols). A failure
        that is a lost connection (``ConnectionClosed``, ``ConnectionLost``,
        ``CancelledError``) puts the item back for the next connection and
        stops sending on this one; any other failure fails that item's
        ``put()`` (the peer refused it).
    :param maxItems: the most items held (queued plus in flight).
    :param maxBytes: the most bytes held, measured with ``sizeOf``
        (``None``: no byte limit).
    :param sizeOf: an item's size in bytes (default: ``len``).
    :param window: how many items may be in flight (sent, unacknowledged).
    :param overflow: ``"fail"`` (the new ``put()`` fails) or
        ``"drop-oldest"`` (the oldest queued items are dropped to make room).
    :param withIds: pass each item's id to ``deliver`` as a third argument.
    :raises TypeError: naming the argument if ``deliver`` (or a given
        ``sizeOf``) is not callable or ``maxItems``, ``maxBytes`` or
        ``window`` is not an ``int`` (bools are refused).
    :raises ValueError: naming the argument if one of those is below 1, or
        ``overflow`` is unknown.

    :ivar delivered: items acknowledged so far.
    :ivar failed: items whose ``put()`` failed so far (for any reason).
    :ivar resent: sends of an item that had been sent before.
    """

    def __init__(
        self,
        factory: Any,
        deliver: Callable[..., Any],
        maxItems: int = 10_000,
        maxBytes: int | None = None,
        sizeOf: Callable[[Any], int] | None = None,
        window: int = 1,
        overflow: str = "fail",
        withIds: bool = False,
    ) -> None:
        if not callable(deliver):
            raise TypeError(f"deliver must be callable, not {deliver!r}")
        if sizeOf is not None and not callable(sizeOf):
            raise TypeError(f"sizeOf must be callable or None, not {sizeOf!r}")
        _checkCount("maxItems", maxItems)
        if maxBytes is not None:
            _checkCount("maxBytes", maxBytes, " or None")
        _checkCount("window", window)
        if overflow not in OVERFLOWS:
            raise ValueError(
                f"overflow must be one of {', '.join(OVERFLOWS)}, not {overflow!r}"
            )
        self.factory = factory
        self.deliver = deliver
        self.maxItems = maxItems
        self.maxBytes = maxBytes
        self.sizeOf = sizeOf if sizeOf is not None else len
        self.window = window
        self.overflow = overflow
        self.withIds = withIds
        self.delivered = 0
        self.failed = 0
        self.resent = 0
        self._nextId = 1
        self._queue: deque[_Entry] = deque()
        self._inFlight: dict[int, _Entry] = {}  # by id(entry), in send order
        self._bytes = 0
        self._protocol: Any = None
        self._sending = False  # sends allowed on self._protocol
        self._pumping = False  # _pump() is running (an answer came at once)
        self._generation = 0
        self._unsubscribe: Callable[[], None] | None = factory.addStatusObserver(
            self._statusChanged
        )
        self._statusChanged(factory.status)

    # -- what it holds -----------------------------------------------------

    @property
    def queued(self) -> int:
        """Items held: waiting to be sent plus in flight."""
        return len(self._queue) + len(self._inFlight)

    @property
    def inFlight(self) -> int:
        """Items sent on the current connection and not yet acknowledged."""
        return len(self._inFlight)

    @property
    def queuedBytes(self) -> int:
        """The size of the items held (``sizeOf`` summed; 0 without ``maxBytes``)."""
        return self._bytes

    def pending(self) -> list[tuple[Any, Any]]:
        """``(itemId, item)`` of every item held, in delivery order."""
        entries = sorted(self._inFlight.values(), key=_order) + list(self._queue)
        return [(entry.itemId, entry.item) for entry in entries]

    # -- putting -----------------------------------------------------------

    def put(self, item: Any, itemId: Any = None) -> Deferred[Any]:
        """
        Queue ``item``; the Deferred fires with ``deliver``'s result once the
        peer acknowledged it, or fails with :class:`OutboxFull` (no room) or
        :class:`~reconnect_twisted.GaveUp` (the factory stopped).

        :param itemId: the id the peer can de-duplicate on (default: a
            sequence number, 1, 2, ...).
        """
        status: ConnectionStatus = self.factory.status
        if status.state is S.STOPPED:
            self.failed += 1
            return fail(GaveUp(status.stopReason or "stopped"))
        try:
            prepared = self._prepare(item, itemId)
        except Exception:
            self.failed += 1
            return fail()
        size = int(self.sizeOf(item)) if self.maxBytes is not None else 0
        if not self._makeRoom(size):
            self.failed += 1
            return fail(
                OutboxFull(
                    f"outbox full ({self.queued} items, {self._bytes} bytes; "
                    f"maxItems={self.maxItems}, maxBytes={self.maxBytes})"
                )
            )
        seq = self._nextId
        self._nextId += 1
        entry = _Entry(seq, seq if itemId is None else itemId, item, size)
        self._queue.append(entry)
        self._bytes += size
        d = entry.deferred
        self._added(entry, prepared)
        self._pump()
        return d

    def _makeRoom(self, size: int) -> bool:
        maxBytes = self.maxBytes
        if maxBytes is not None and size > maxBytes:
            return False

        def fits() -> bool:
            if self.queued + 1 > self.maxItems:
                return False
            return maxBytes is None or self._bytes + size <= maxBytes

        if fits():
            return True
        if self.overflow != "drop-oldest":
            return False
        while self._queue and not fits():
            dropped = self._queue.popleft()
            self._bytes -= dropped.size
            self._removed(dropped)
            self.failed += 1
            dropped.deferred.errback(
                OutboxFull(
                    f"dropped item {dropped.itemId!r}: the outbox was full "
                    "(overflow='drop-oldest')"
                )
            )
        return fits()

    # -- following the factory ---------------------------------------------

    def _statusChanged(self, status: ConnectionStatus) -> None:
        current = self.factory.status
        if current.state is S.CONNECTED:
            d = self.factory.whenConnected()
            d.addCallbacks(self._connected, lambda f: None)
            return
        if self._protocol is not None:
            self._connectionEnded()
        if current.state is S.STOPPED:
            self._stopped(GaveUp(current.stopReason or "stopped"))

    def _connected(self, protocol: Any) -> None:
        if protocol is self._protocol:
            return
        if self._protocol is not None:
            self._connectionEnded()
        self._protocol = protocol
        self._sending = True
        self._pump()

    def _connectionEnded(self) -> None:
        """The connection went away: what was in flight goes back in front."""
        self._protocol = None
        self._sending = False
        self._generation += 1
        self._requeueInFlight()

    def _requeueInFlight(self) -> None:
        entries = sorted(self._inFlight.values(), key=_order)
        self._inFlight.clear()
        self._queue.extendleft(reversed(entries))

    def _failAll(self, error: Exception) -> None:
        entries = sorted(self._inFlight.values(), key=_order) + list(self._queue)
        self._inFlight.clear()
        self._queue.clear()
        self._bytes = 0
        for entry in entries:
            self._removed(entry)
            if not entry.deferred.called:
                self.failed += 1
                entry.deferred.errback(error)

    # -- sending -----------------------------------------------------------

    def _pump(self) -> None:
        if self._pumping:
            # A deliver() answered at once (a plain value, a fired Deferred):
            # the running loop sends what follows, without a frame per item.
            return
        self._pumping = True
        try:
            self._sendWhatFits()
        finally:
            self._pumping = False

    def _sendWhatFits(self) -> None:
        factory = self.factory
        while (
            self._sending
            and self._queue
            and self._queue[0].stored
            and len(self._inFlight) < self.window
        ):
            if factory.status.state is not S.CONNECTED:
                # A deliver() (or what it called) gave up, kicked, stopped:
                # nothing more goes out on the connection being closed.
                break
            entry = self._queue.popleft()
            if entry.sends:
                self.resent += 1
            entry.sends += 1
            self._inFlight[id(entry)] = entry
            protocol, generation = self._protocol, self._generation
            if self.withIds:
                d = maybeDeferred(self.deliver, protocol, entry.item, entry.itemId)
            else:
                d = maybeDeferred(self.deliver, protocol, entry.item)
            d.addBoth(self._sent, entry, generation)

    def _sent(self, result: object, entry: _Entry, generation: int) -> None:
        if entry.deferred.called:
            return  # failed already (the factory stopped): a late answer
        current = generation == self._generation
        if not isinstance(result, Failure):
            # Acknowledged: done, whichever connection it was sent on (a late
            # answer from the old one frees the slot of its resend: pump).
            self._forget(entry)
            self.delivered += 1
            entry.deferred.callback(result)
            self._pump()
            return
        if not current:
            return  # its connection ended: it was put back already
        if result.check(ConnectionClosed, ConnectionLost, CancelledError):
            # The connection is going away: stop sending on it; what is in
            # flight goes back in front now, in order.
            self._sending = False
            self._generation += 1
            self._requeueInFlight()
            return
        self._forget(entry)
        self.failed += 1
        entry.deferred.errback(result)
        self._pump()

    def _forget(self, entry: _Entry) -> None:
        if self._inFlight.pop(id(entry), None) is None:
            try:
                self._queue.remove(entry)
            except ValueError:
                return
        self._bytes -= entry.size
        self._removed(entry)

    # -- storage (the in-memory outbox keeps nothing elsewhere) --------------

    def _prepare(self, item: Any, itemId: Any) -> Any:
        """
        Check ``item`` can be kept, before room is made for it; what this
        returns is handed to :meth:`_added`. Raising fails the ``put()``.
        """
        return None

    def _added(self, entry: _Entry, prepared: Any) -> None:
        """``entry`` was queued; a store that is not ready clears ``stored``."""

    def _removed(self, entry: _Entry) -> None:
        """``entry`` left for good: acknowledged, refused, dropped or failed."""

    def _stopped(self, error: Exception) -> None:
        """The factory stopped: every pending ``put()`` fails with ``error``."""
        self._failAll(error)

    # -- ending ------------------------------------------------------------

    def detach(self) -> None:
        """Stop following the factory (pending items stay held)."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
        self._sending = False

    def __repr__(self) -> str:
        return (
            f"<Outbox {self.queued} queued ({self.inFlight} in flight, "
            f"{self._bytes} bytes)>"
        )


def _order(entry: _Entry) -> int:
    return entry.seq
