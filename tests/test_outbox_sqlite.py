"""
The durable outbox: items are sent only once they are in the file, survive
a restart (and a crash) with their ids and order, and stay in the file when
the factory stops. Commits run through a thread pool the tests run by hand;
one test (pytest-twisted) uses real threads and the real reactor.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import (
    ConnectionState,
    GaveUp,
    SQLiteOutbox,
)
from reconnect_twisted.testing import FakeConnector

from .test_outbox import AppFactory, outboxFactory

S = ConnectionState


class ManualThreadPool:
    """``callInThreadWithCallback``, run by the test in its own thread."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.calls: list[tuple[Any, Any, tuple[Any, ...]]] = []
        self.error = error

    def callInThreadWithCallback(self, onResult: Any, f: Any, *args: Any) -> None:
        self.calls.append((onResult, f, args))

    def runOne(self) -> None:
        onResult, f, args = self.calls.pop(0)
        if self.error is not None:
            onResult(False, Failure(self.error))
            return
        try:
            result = f(*args)
        except BaseException:
            onResult(False, Failure())
        else:
            onResult(True, result)

    def run(self) -> int:
        """Run every call, and the calls those make; return how many."""
        count = 0
        while self.calls:
            self.runOne()
            count += 1
        return count


class ImmediateReactor:
    """``callFromThread`` for a pool that runs in the reactor's thread."""

    def callFromThread(self, f: Any, *args: Any) -> None:
        f(*args)


class Process:
    """One run of the application: a factory, its connector and an outbox."""

    def __init__(self, test: SQLiteOutboxTests, **kwargs: Any) -> None:
        self.clock = Clock()
        self.handshakes: list[Deferred[None]] = []
        self.factory = outboxFactory(self.clock, self._handshake)
        self.pool = test.pool
        self.sent: list[tuple[int, Any, Any]] = []  # (connection, itemId, item)
        self.unacked: dict[Any, Deferred[Any]] = {}
        self.connection = 0
        kwargs.setdefault("withIds", True)
        self.outbox = SQLiteOutbox(
            self.factory,
            self.deliver,
            test.path,
            threadpool=self.pool,
            reactor=ImmediateReactor(),
            **kwargs,
        )
        self.results: list[tuple[Any, str]] = []
        self.connector = FakeConnector(self.factory, self.clock)

    def _handshake(self, protocol: Any) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self.handshakes.append(d)
        return d

    def deliver(self, protocol: Any, item: Any, itemId: Any) -> Deferred[Any]:
        self.sent.append((self.connection, itemId, item))
        d: Deferred[Any] = Deferred()
        self.unacked[itemId] = d
        return d

    def ack(self, itemId: Any) -> None:
        self.unacked.pop(itemId).callback(f"ack {itemId}")

    def put(self, *items: Any, **kwargs: Any) -> None:
        for item in items:

            def ok(result: Any, item: Any = item) -> None:
                self.results.append((item, str(result)))

            def failed(f: Failure, item: Any = item) -> None:
                self.results.append((item, f"{type(f.value).__name__}: {f.value}"))

            self.outbox.put(item, **kwargs).addCallbacks(ok, failed)

    def connect(self) -> None:
        if self.connector.state == "disconnected":
            if self.factory.status.state is S.IDLE:
                self.connector.connect()
            else:
                self.clock.advance(1.0)  # the retry
        self.connection += 1
        self.connector.succeed()
        self.handshakes.pop().callback(None)
        assert self.factory.status.state is S.CONNECTED

    def drop(self) -> None:
        self.unacked.clear()
        self.connector.drop()

    def crash(self) -> None:
        """The process dies: nothing pending is committed, the file is left."""
        self.outbox.detach()
        self.pool.calls.clear()
        self.outbox._writer.connection.close()
        self.finish()

    def close(self) -> None:
        d = self.outbox.close()
        self.pool.run()
        self.finish()
        self.results.append(("close", "done" if d.called else "pending"))

    def finish(self) -> None:
        self.factory.giveUp("process over")
        self.clock.advance(10)
        assert self.clock.getDelayedCalls() == []


class SQLiteOutboxTests(SynchronousTestCase):
    def setUp(self) -> None:
        directory = tempfile.mkdtemp(prefix="outbox-")
        self.addCleanup(shutil.rmtree, directory)
        self.path = Path(directory) / "outbox.db"
        self.pool = ManualThreadPool()

    def rows(self) -> list[tuple[Any, ...]]:
        """What a reader of the file (the next process) sees."""
        connection = sqlite3.connect(str(self.path))
        try:
            return connection.execute(
                "SELECT seq, itemId, item FROM outbox ORDER BY seq"
            ).fetchall()
        finally:
            connection.close()

    def test_walAndSentOnlyOnceStored(self) -> None:
        """
        When items are put while connected, nothing is sent until their
        batch has committed in the pool; puts that arrive meanwhile form
        one next batch; flush() fires once all are in the file.
        """
        app = Process(self, window=4)
        app.connect()
        app.put(b"a")
        app.put(b"b", b"c")  # while the first batch is committing
        flushed = app.outbox.flush()
        self.assertEqual(app.sent, [])
        self.assertEqual(len(app.pool.calls), 1)
        app.pool.runOne()
        self.assertEqual(app.sent, [(1, 1, b"a")])
        self.assertFalse(flushed.called)
        self.assertEqual(app.pool.run(), 1)  # b and c: one transaction
        self.assertEqual(app.sent, [(1, 1, b"a"), (1, 2, b"b"), (1, 3, b"c")])
        self.assertIsNone(self.successResultOf(flushed))
        self.assertEqual(self.rows(), [(1, 1, b"a"), (2, 2, b"b"), (3, 3, b"c")])
        with sqlite3.connect(str(self.path)) as connection:
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        connection.close()
        self.assertEqual(mode, "wal")
        app.ack(1)
        self.assertEqual(app.results, [(b"a", "ack 1")])
        app.pool.run()
        self.assertEqual(self.rows(), [(2, 2, b"b"), (3, 3, b"c")])
        app.close()
        self.assertEqual(
            app.results[1:],
            [
                (b"b", "GaveUp: outbox closed"),
                (b"c", "GaveUp: outbox closed"),
                ("close", "done"),
            ],
        )
        self.assertEqual(self.pool.calls, [])

    def test_crashRedeliversInOrderWithIds(self) -> None:
        """
        When the process crashes with items in flight and an acknowledged
        item's deletion not yet committed, the next process sends them all
        again first, in order, with the same ids; new ids follow on.
        """
        app = Process(self, window=2)
        app.put("one", "two", "three", "four")
        app.pool.run()
        app.connect()
        self.assertEqual(app.sent, [(1, 1, "one"), (1, 2, "two")])
        app.ack(1)  # its DELETE is queued, not committed
        self.assertEqual(app.sent[-1], (1, 3, "three"))
        app.crash()

        again = Process(self, window=2)
        self.assertEqual(
            again.outbox.pending(),
            [(1, "one"), (2, "two"), (3, "three"), (4, "four")],
        )
        again.put("five")
        again.pool.run()
        again.connect()
        for itemId in (1, 2, 3, 4, 5):
            again.ack(itemId)
        self.assertEqual(
            again.sent,
            [
                (1, 1, "one"),
                (1, 2, "two"),
                (1, 3, "three"),
                (1, 4, "four"),
                (1, 5, "five"),
            ],
        )
        self.assertEqual(again.results, [("five", "ack 5")])
        self.assertEqual(again.outbox.delivered, 5)
        again.close()
        self.assertEqual(self.rows(), [])

    def test_idsNeverReused(self) -> None:
        """When every item was delivered, the next process's ids still go on."""
        app = Process(self, withIds=True)
        app.connect()
        app.put("a")
        app.pool.run()
        app.ack(1)
        app.close()
        self.assertEqual(self.rows(), [])
        again = Process(self)
        again.connect()
        again.put("b")
        again.pool.run()
        self.assertEqual(again.sent, [(1, 2, "b")])
        again.close()

    def test_requeueOnLossInOrder(self) -> None:
        """When the connection drops, unacknowledged items are resent first."""
        app = Process(self, window=2)
        app.put("a", "b", "c")
        app.pool.run()
        app.connect()
        app.drop()
        app.connect()
        app.ack(1)
        app.ack(2)
        app.ack(3)
        self.assertEqual(
            app.sent,
            [(1, 1, "a"), (1, 2, "b"), (2, 1, "a"), (2, 2, "b"), (2, 3, "c")],
        )
        self.assertEqual(app.outbox.resent, 2)
        app.close()

    def test_giveUpKeepsItems(self) -> None:
        """
        When the factory gives up, pending put()s fail with GaveUp and their
        items stay: in the file, and sent after reconnectNow().
        """
        app = Process(self)
        app.connect()
        app.put("a", "b")  # not committed yet: not sent
        app.factory.giveUp("user quit")
        self.assertEqual(
            app.results, [("a", "GaveUp: user quit"), ("b", "GaveUp: user quit")]
        )
        app.pool.run()
        app.put("c")  # STOPPED: refused, not stored
        self.assertEqual(app.results[-1], ("c", "GaveUp: user quit"))
        self.assertEqual(app.outbox.pending(), [(1, "a"), (2, "b")])
        self.assertEqual(self.rows(), [(1, 1, "a"), (2, 2, "b")])
        app.clock.advance(10)  # the live connection closes
        app.factory.reconnectNow()
        app.connection += 1
        app.connector.succeed()
        app.handshakes.pop().callback(None)
        self.assertEqual(app.sent, [(2, 1, "a")])
        app.ack(1)  # nobody waits on it any more: it is just done
        self.assertEqual(app.outbox.delivered, 1)
        app.close()
        self.assertEqual(self.rows(), [(2, 2, "b")])

    def test_bounds(self) -> None:
        """
        When maxItems are held (loaded ones included), put() fails with
        OutboxFull; a file holding more than maxItems keeps them all.
        """
        app = Process(self, maxItems=3)
        app.put("a", "b", "c", "d")
        self.assertEqual(
            app.results,
            [
                (
                    "d",
                    "OutboxFull: outbox full (3 items, 0 bytes; "
                    "maxItems=3, maxBytes=None)",
                )
            ],
        )
        app.pool.run()
        app.close()
        again = Process(self, maxItems=2, maxBytes=10)
        self.assertEqual((again.outbox.queued, again.outbox.queuedBytes), (3, 3))
        again.put("e")
        self.assertEqual(again.results[0][0], "e")
        self.assertIsInstance(again.results[0], tuple)
        self.assertIn("OutboxFull", again.results[0][1])
        again.close()
        self.assertEqual([row[2] for row in self.rows()], ["a", "b", "c"])

    def test_storableItemsOnly(self) -> None:
        """
        When an item is not bytes or str (without encode) or its id is not
        storable, put() fails with TypeError; encode/decode round-trip
        across a restart, with the application's own ids.
        """
        app = Process(self)
        app.put({"no": "encode"})
        app.put("x", itemId=("a", "tuple"))
        self.assertEqual([name for name, _ in app.results], [{"no": "encode"}, "x"])
        self.assertTrue(all("TypeError" in text for _, text in app.results))
        self.assertEqual((app.outbox.queued, app.outbox.failed), (0, 2))
        app.close()
        self.assertEqual(self.pool.calls, [])

        coded = Process(self, encode=json.dumps, decode=json.loads)
        coded.put({"t": 21.5}, itemId="uuid-1")
        coded.pool.run()
        coded.close()
        again = Process(self, encode=json.dumps, decode=json.loads)
        self.assertEqual(again.outbox.pending(), [("uuid-1", {"t": 21.5})])
        again.connect()
        self.assertEqual(again.sent, [(1, "uuid-1", {"t": 21.5})])
        again.close()

    def test_commitFailure(self) -> None:
        """
        When a commit fails, the put()s of its new items fail with the
        error, which is logged; nothing of them is sent.
        """
        app = Process(self)
        app.connect()
        self.pool.error = sqlite3.OperationalError("disk I/O error")
        app.put("a")
        self.pool.run()
        self.assertEqual(app.results, [("a", "OperationalError: disk I/O error")])
        self.assertEqual(len(self.flushLoggedErrors(sqlite3.OperationalError)), 1)
        self.assertEqual((app.sent, app.outbox.queued), ([], 0))
        self.pool.error = None
        app.close()

    def test_dropOldestWhileCommitStuckStaysBounded(self) -> None:
        """
        When a commit hangs and drop-oldest overflows thousands of times,
        the next batch holds one row per item held (10) plus the deletion of
        the item in the stuck batch, not an INSERT and a DELETE per put();
        once the commit ends, the file holds the 10 newest items.
        """
        app = Process(self, maxItems=10, overflow="drop-oldest", withIds=False)
        for number in range(5000):
            app.outbox.put(b"x%d" % number).addErrback(lambda f: None)
        batch = app.outbox._writer.next
        self.assertEqual(
            (app.outbox.queued, len(batch.inserts), len(batch.deletes)), (10, 10, 1)
        )
        self.assertEqual(len(batch.inserted), 10)
        self.assertEqual(self.pool.run(), 2)  # the stuck batch, then the next
        self.assertEqual(
            [row[2] for row in self.rows()], [b"x%d" % n for n in range(4990, 5000)]
        )
        app.close()

    def test_flushWaitsForNothingLeft(self) -> None:
        """
        When every row of the batch a flush() waits for was cancelled (its
        items dropped before the batch started), the flush fires once the
        commit in progress ends, with nothing more written.
        """
        app = Process(self, maxItems=1, overflow="drop-oldest", withIds=False)
        app.outbox.put(b"a").addErrback(lambda f: None)  # committing now
        app.outbox.put(b"b").addErrback(lambda f: None)  # drops a: delete queued
        app.outbox.put(b"c").addErrback(lambda f: None)  # drops b: insert cancelled
        flushed = app.outbox.flush()
        self.assertEqual(self.pool.run(), 2)
        self.assertIsNone(self.successResultOf(flushed))
        self.assertEqual([row[2] for row in self.rows()], [b"c"])
        app.close()

    def test_badArgumentsAtConstruction(self) -> None:
        """
        When path, encode, decode or threadpool is of the wrong kind, the
        constructor raises TypeError naming it, and opens nothing.
        """
        factory = AppFactory(clock=Clock())
        for kwargs, message in [
            ({"path": 123}, "path must be a str or os.PathLike, not <class 'int'>"),
            ({"encode": "json"}, "encode must be callable or None, not 'json'"),
            ({"decode": 5}, "decode must be callable or None, not 5"),
            ({"threadpool": object()}, "threadpool must have "
             "callInThreadWithCallback (e.g. reactor.getThreadPool()), "
             "not <class 'object'>"),
        ]:
            arguments: dict[str, Any] = {"path": self.path, "threadpool": self.pool}
            arguments.update(kwargs)
            with self.assertRaises(TypeError) as raised:
                SQLiteOutbox(factory, print, reactor=ImmediateReactor(), **arguments)
            self.assertEqual(str(raised.exception), message)
        self.assertFalse(self.path.exists())

    def test_refusingThreadPoolFailsTheBatch(self) -> None:
        """
        When the thread pool raises as a commit is handed to it, that
        batch's put() fails (logged) and the next put() is written: the
        writer is not left waiting for a commit that never ran.
        """
        app = Process(self, withIds=False)
        calls = self.pool.callInThreadWithCallback

        def refuse(*args: Any) -> None:
            raise RuntimeError("pool stopped")

        self.pool.callInThreadWithCallback = refuse  # type: ignore[method-assign]
        app.put(b"a")
        self.assertEqual(app.results, [(b"a", "RuntimeError: pool stopped")])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.pool.callInThreadWithCallback = calls  # type: ignore[method-assign]
        app.put(b"b")
        self.assertEqual(self.pool.run(), 1)
        self.assertEqual([row[2] for row in self.rows()], [b"b"])
        app.close()

    def test_invalidFile(self) -> None:
        """When the file is not a database, the constructor raises and detaches."""
        self.path.write_bytes(b"not a database" * 100)
        factory = AppFactory(clock=Clock())
        self.assertRaises(
            sqlite3.DatabaseError,
            SQLiteOutbox,
            factory,
            print,
            self.path,
            threadpool=self.pool,
            reactor=ImmediateReactor(),
        )

    def test_undecodableFile(self) -> None:
        """
        When decode fails on what a previous process stored, the
        constructor raises and leaves nothing open; the file is kept.
        """
        app = Process(self)
        app.put("not json")
        app.pool.run()
        app.close()
        self.assertRaises(json.JSONDecodeError, Process, self, decode=json.loads)
        self.assertEqual(self.pool.calls, [])
        self.assertEqual(self.rows(), [(1, 1, "not json")])


@pytest_twisted.ensureDeferred
async def test_restartWithRealThreads() -> None:
    """
    When items are put, flushed and the outbox closed (the real reactor, a
    real worker thread, a file), a new outbox on the same file delivers them
    in order with the same ids.
    """
    directory = tempfile.mkdtemp(prefix="outbox-")
    try:
        path = Path(directory) / "outbox.db"
        clock = Clock()
        factory = AppFactory(clock=clock, alertAfter=None)
        first = SQLiteOutbox(factory, print, path)
        puts = [first.put(b"one"), first.put(b"two", itemId="id-2")]
        await first.flush()
        await first.close()
        failures: list[Failure] = []
        for d in puts:  # never delivered by this process: still in the file
            d.addErrback(failures.append)
        assert [type(f.value) for f in failures] == [GaveUp, GaveUp]
        sent: list[tuple[Any, Any]] = []
        again = SQLiteOutbox(
            factory,
            lambda protocol, item, itemId: sent.append((itemId, item)),
            path,
            withIds=True,
        )
        assert again.pending() == [(1, b"one"), ("id-2", b"two")]
        connector = FakeConnector(factory, clock)
        connector.connect()
        connector.succeed()
        assert sent == [(1, b"one"), ("id-2", b"two")]
        await again.flush()  # the deletions
        await again.close()
        factory.giveUp("test over")
        clock.advance(10)
        assert clock.getDelayedCalls() == []
        again = SQLiteOutbox(factory, print, path)
        assert again.pending() == []
        await again.close()
    finally:
        shutil.rmtree(directory)
