"""
A durable outbox: :class:`~reconnect_twisted.Outbox` with its items kept in
an SQLite file (stdlib ``sqlite3``, WAL), so that a process that exits or
crashes delivers them after it starts again.

The reactor thread never waits for the disk: every write (a ``put()``'s
INSERT, an acknowledgement's DELETE) is appended to the next *batch*; one
batch at a time is committed, in one transaction, in a worker thread
(:func:`twisted.internet.threads.deferToThreadPool`). What arrives while a
batch commits goes into the next one, so a burst of puts costs one commit,
not one per item (group commit). Only opening the file (reading what a
previous process left) happens in the calling thread.

Crash guarantees (see ``docs/outbox.rst``):

* an item is sent only once the transaction holding its INSERT has
  committed: the peer never sees an item a restart could forget, nor an id
  a restart could hand out again; :meth:`SQLiteOutbox.flush` tells when
  everything put so far is in the file;
* an acknowledged item is deleted in a later batch: a crash before that
  commit sends it again after the restart, with the same id (at least once);
* items in flight at a crash are still in the file: they are sent first
  after the restart, in order, with the same ids;
* when the factory stops (``giveUp()``, a kick, ``maxRetries``, a service
  stopped at shutdown) or the outbox is closed, pending ``put()``\\ s fail
  with :class:`~reconnect_twisted.GaveUp` but the items *stay in the file*.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from ._describe import describeFailure
from ._errors import GaveUp
from ._validate import _show, peerText
from .outbox import Outbox, _Entry

if TYPE_CHECKING:
    # Imported by _open(): a Python built without sqlite3 imports the package.
    import sqlite3

__all__ = ["SQLiteOutbox"]

_log = Logger(namespace="reconnect_twisted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    itemId NOT NULL,
    item NOT NULL
)
"""
_INSERT = "INSERT INTO outbox (seq, itemId, item) VALUES (?, ?, ?)"
_DELETE = "DELETE FROM outbox WHERE seq = ?"
#: What SQLite stores as it is given: ids and encoded items must be one.
_STORABLE = (int, float, str, bytes)


class _Batch:
    """
    Writes committed together, and who waits for that commit: the rows to
    insert (by ``seq``, with their entries) and the ``seq`` of each row to
    delete.
    """

    __slots__ = ("deletes", "inserted", "inserts", "waiters")

    def __init__(self) -> None:
        self.inserts: dict[int, tuple[Any, ...]] = {}
        self.inserted: dict[int, _Entry] = {}
        self.deletes: list[int] = []
        self.waiters: list[Deferred[None]] = []

    def __bool__(self) -> bool:
        return bool(self.inserts or self.deletes)


class _Writer:
    """
    Commits batches of statements on ``connection``, one batch at a time,
    each in one transaction, through ``runInThread``.
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        runInThread: Callable[..., Deferred[Any]],
        committed: Callable[[_Batch, Failure | None], None],
    ) -> None:
        self.connection = connection
        self.runInThread = runInThread
        self.committed = committed
        self.next = _Batch()
        self.current: _Batch | None = None

    def insert(self, entry: _Entry, stored: Any) -> None:
        """Add ``entry``'s row to the next batch."""
        batch = self.next
        batch.inserts[entry.seq] = (entry.seq, entry.itemId, stored)
        batch.inserted[entry.seq] = entry
        self._start()

    def delete(self, entry: _Entry) -> None:
        """
        Delete ``entry``'s row in the next batch; if its INSERT is still
        waiting there (a commit is slow and items are dropped or acknowledged
        meanwhile), drop the INSERT instead: the batch holds at most one
        statement per item held (bounded by ``maxItems``), not two per put.
        """
        batch = self.next
        if batch.inserts.pop(entry.seq, None) is not None:
            del batch.inserted[entry.seq]
            if not batch and self.current is None:
                self._start()  # (settles the waiters of what is now nothing)
            return
        batch.deletes.append(entry.seq)
        self._start()

    def flush(self) -> Deferred[None]:
        """Fires once everything written so far is committed."""
        if self.next:
            batch = self.next
        elif self.current is not None:
            batch = self.current
        else:
            return succeed(None)
        d: Deferred[None] = Deferred()
        batch.waiters.append(d)
        return d

    def _start(self) -> None:
        if self.current is not None:
            return
        batch = self.next
        if not batch:
            waiters, batch.waiters = batch.waiters, []
            for waiter in waiters:  # nothing left to commit: written already
                waiter.callback(None)
            return
        self.next = _Batch()
        self.current = batch
        try:
            d = self.runInThread(self._commit, list(batch.inserts.values()),
                                 list(batch.deletes))
        except Exception:
            d = fail()  # (a thread pool that refuses: the batch failed)
        d.addBoth(self._done, batch)

    def _commit(
        self, inserts: list[tuple[Any, ...]], deletes: list[int]
    ) -> None:
        # In the worker thread: the only user of the connection meanwhile.
        connection = self.connection
        try:
            connection.execute("BEGIN IMMEDIATE")
            for args in inserts:
                connection.execute(_INSERT, args)
            for seq in deletes:
                connection.execute(_DELETE, (seq,))
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def _done(self, result: object, batch: _Batch) -> None:
        self.current = None
        failure = result if isinstance(result, Failure) else None
        self.committed(batch, failure)
        for d in batch.waiters:
            if failure is None:
                d.callback(None)
            else:
                d.errback(failure)
        self._start()


class SQLiteOutbox(Outbox):
    """
    An :class:`~reconnect_twisted.Outbox` whose items survive a process
    restart: they are kept in the SQLite file ``path`` (created if needed,
    WAL journal, ``synchronous=FULL``). Opening it loads what a previous
    process left: those items are delivered first, in order, with their ids.

    Everything :class:`~reconnect_twisted.Outbox` says holds, with these
    differences:

    * an item is sent only once it is in the file (see :meth:`flush`);
    * when the factory stops, pending ``put()``\\ s fail with
      :class:`~reconnect_twisted.GaveUp` and their items stay in the file
      (and in ``pending()``): they are sent when the factory connects again
      (``reconnectNow()``) or by the next outbox opened on the file;
    * items must be storable: ``bytes`` or ``str`` (or what ``encode`` turns
      them into); ids ``int``, ``str``, ``bytes`` or ``float``. A ``put()``
      of anything else fails with ``TypeError``.

    One outbox per file at a time: two would both deliver its items.

    :param path: the database file.
    :param encode: ``encode(item) -> bytes | str`` before it is stored (e.g.
        ``json.dumps``); default: the item as it is.
    :param decode: the inverse, applied to what a previous process stored.
    :param threadpool: where commits run (anything with
        ``callInThreadWithCallback``, e.g. ``reactor.getThreadPool()``;
        one batch is committed at a time, so one thread is all it uses);
        default: a dedicated one-thread pool, stopped by :meth:`close`.
    :param reactor: provides ``callFromThread`` (and, without
        ``threadpool``, ``addSystemEventTrigger``, so that the reactor's
        shutdown closes the outbox); default: the global reactor.

    The other parameters are :class:`~reconnect_twisted.Outbox`'s.
    """

    def __init__(
        self,
        factory: Any,
        deliver: Callable[..., Any],
        path: str | Path,
        *,
        maxItems: int = 10_000,
        maxBytes: int | None = None,
        sizeOf: Callable[[Any], int] | None = None,
        window: int = 1,
        overflow: str = "fail",
        withIds: bool = False,
        encode: Callable[[Any], Any] | None = None,
        decode: Callable[[Any], Any] | None = None,
        threadpool: Any = None,
        reactor: Any = None,
    ) -> None:
        if not isinstance(path, str | os.PathLike) or isinstance(path, bytes):
            raise TypeError(f"path must be a str or os.PathLike, not {type(path)!r}")
        for name, function in (("encode", encode), ("decode", decode)):
            if function is not None and not callable(function):
                raise TypeError(f"{name} must be callable or None, not {function!r}")
        if threadpool is not None and not callable(
            getattr(threadpool, "callInThreadWithCallback", None)
        ):
            raise TypeError(
                "threadpool must have callInThreadWithCallback (e.g. "
                f"reactor.getThreadPool()), not {type(threadpool)!r}"
            )
        self.path = Path(path)
        self.encode = encode
        self.decode = decode
        self._closing: Deferred[None] | None = None
        super().__init__(
            factory,
            deliver,
            maxItems=maxItems,
            maxBytes=maxBytes,
            sizeOf=sizeOf,
            window=window,
            overflow=overflow,
            withIds=withIds,
        )
        if reactor is None:
            from twisted.internet import reactor as installed

            reactor = installed
        self._reactor = reactor
        try:
            connection, rows, lastSeq = _open(self.path)
        except BaseException:
            self.detach()
            raise
        try:
            loaded = [
                (seq, itemId, decode(stored) if decode is not None else stored)
                for seq, itemId, stored in rows
            ]
        except BaseException:
            connection.close()
            self.detach()
            raise
        self._ownPool: ThreadPool | None = None
        self._shutdownTrigger: Any = None
        if threadpool is None:
            threadpool = self._ownPool = ThreadPool(1, 1, name=f"SQLiteOutbox {path}")
            threadpool.start()
            self._shutdownTrigger = reactor.addSystemEventTrigger(
                "during", "shutdown", self._shutdown
            )
        pool = threadpool

        def runInThread(f: Callable[..., Any], *args: Any) -> Deferred[Any]:
            return deferToThreadPool(reactor, pool, f, *args)

        self._writer = _Writer(connection, runInThread, self._committed)
        self._nextId = lastSeq + 1
        for seq, itemId, item in loaded:
            size = int(self.sizeOf(item)) if self.maxBytes is not None else 0
            entry = _Entry(seq, itemId, item, size)
            self._orphan(entry)
            self._queue.append(entry)
            self._bytes += size
        self._pump()

    # -- storage ----------------------------------------------------------

    def put(self, item: Any, itemId: Any = None) -> Deferred[Any]:
        """
        As :meth:`Outbox.put <reconnect_twisted.Outbox.put>`; the item is
        written to the file in the next batch and sent once that committed.
        After :meth:`close`, fails with :class:`~reconnect_twisted.GaveUp`.
        """
        if self._closing is not None:
            self.failed += 1
            return fail(GaveUp("outbox closed"))
        return super().put(item, itemId)

    def _prepare(self, item: Any, itemId: Any) -> Any:
        stored = self.encode(item) if self.encode is not None else item
        if not isinstance(stored, str | bytes):
            raise TypeError(
                f"SQLiteOutbox stores bytes or str (give encode=), not {type(stored)!r}"
            )
        if itemId is not None and (
            isinstance(itemId, bool) or not isinstance(itemId, _STORABLE)
        ):
            raise TypeError(
                f"itemId must be an int, str, bytes or float, not {type(itemId)!r}"
            )
        return stored

    def _added(self, entry: _Entry, prepared: Any) -> None:
        entry.stored = False
        self._writer.insert(entry, prepared)

    def _removed(self, entry: _Entry) -> None:
        if self._closing is not None:
            return  # a late acknowledgement: the item stays in the file
        self._writer.delete(entry)

    def _committed(self, batch: _Batch, failure: Failure | None) -> None:
        if failure is None:
            for entry in batch.inserted.values():
                entry.stored = True
            self._pump()
            return
        _log.failure(
            "SQLiteOutbox {path}: a commit failed; its new items' put() fail, "
            "items it acknowledged may be delivered again after a restart",
            failure,
            path=str(self.path),
        )
        for entry in batch.inserted.values():
            if not entry.stored and not entry.deferred.called:
                self._dropUnstored(entry)
                self.failed += 1
                entry.deferred.errback(failure)
        self._pump()

    def _dropUnstored(self, entry: _Entry) -> None:
        try:
            self._queue.remove(entry)
        except ValueError:
            return
        self._bytes -= entry.size

    def _stopped(self, error: Exception) -> None:
        # Keep the items (in memory and in the file); tell the callers.
        for entry in [*self._inFlight.values(), *self._queue]:
            if entry.orphan or entry.deferred.called:
                continue
            self.failed += 1
            d = entry.deferred
            self._orphan(entry)
            d.errback(error)

    def _orphan(self, entry: _Entry) -> None:
        """Nobody waits on ``entry``'s Deferred any more: log its failure."""
        entry.orphan = True
        entry.deferred = Deferred()
        entry.deferred.addErrback(self._orphanFailed, entry.itemId)

    def _orphanFailed(self, failure: Failure, itemId: Any) -> None:
        _log.warn(
            "SQLiteOutbox {path}: item {itemId} failed: {error}",
            path=str(self.path),
            itemId=peerText(_show(itemId), 80),
            error=describeFailure(failure),
        )

    # -- ending -----------------------------------------------------------

    def flush(self) -> Deferred[None]:
        """
        A Deferred that fires once every write asked for so far (the items
        put, the deletions of those acknowledged) is committed to the file;
        it fails if that commit failed.
        """
        return self._writer.flush()

    def _shutdown(self) -> Deferred[None]:
        self._shutdownTrigger = None  # firing: it is removed already
        return self.close()

    def close(self) -> Deferred[None]:
        """
        Stop following the factory, commit what is pending, close the file
        (and stop the thread pool it made). Pending ``put()``\\ s fail with
        :class:`~reconnect_twisted.GaveUp` (``"outbox closed"``); their items
        stay in the file. Called by the reactor's shutdown when the outbox
        made its own thread pool. Idempotent.
        """
        if self._closing is not None:
            return _chained(self._closing)
        closing: Deferred[None] = Deferred()
        self._closing = closing
        self.detach()
        self._stopped(GaveUp("outbox closed"))
        trigger, self._shutdownTrigger = self._shutdownTrigger, None
        if trigger is not None:
            self._reactor.removeSystemEventTrigger(trigger)
        writer = self._writer

        def committed(result: object) -> Deferred[Any]:
            return writer.runInThread(writer.connection.close)

        def finished(result: object) -> object:
            pool, self._ownPool = self._ownPool, None
            if pool is not None:
                pool.stop()
            return result

        d = writer.flush()
        d.addBoth(committed)
        d.addBoth(finished)
        d.chainDeferred(closing)
        return _chained(closing)

    def __repr__(self) -> str:
        return (
            f"<SQLiteOutbox {str(self.path)!r} {self.queued} queued "
            f"({self.inFlight} in flight, {self._bytes} bytes)>"
        )


def _chained(d: Deferred[None]) -> Deferred[None]:
    """A new Deferred with ``d``'s result, ``d`` keeping it too."""
    copy: Deferred[None] = Deferred()

    def both(result: Any) -> Any:
        if isinstance(result, Failure):
            copy.errback(result)
        else:
            copy.callback(result)
        return result

    d.addBoth(both)
    return copy


def _open(path: Path) -> tuple[sqlite3.Connection, list[tuple[int, Any, Any]], int]:
    """
    Open (create) the database; return it, the rows held in ``seq`` order
    and the highest ``seq`` ever handed out.
    """
    import sqlite3

    connection = sqlite3.connect(
        str(path), check_same_thread=False, isolation_level=None
    )
    try:
        mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"{path}: WAL journal refused ({mode})")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(_SCHEMA)
        rows = connection.execute(
            "SELECT seq, itemId, item FROM outbox ORDER BY seq"
        ).fetchall()
        last = connection.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"
        ).fetchone()
    except BaseException:
        connection.close()
        raise
    return connection, rows, int(last[0]) if last else 0
