"""
The outbox: in order, after the handshake, at least once, bounded, and
nothing silently dropped; on both paths with task.Clock and the fakes.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import error
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import (
    ConnectionState,
    FixedBackoff,
    Outbox,
    ReconnectingFactory,
    ReconnectingService,
)
from reconnect_twisted.testing import FakeConnector, FakeEndpoint

S = ConnectionState


class AppFactory(ReconnectingFactory):
    protocol = Protocol


class Peer:
    """A ``deliver`` that records each send and lets the test acknowledge it."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, Any]] = []  # (connection number, item)
        self.unacked: list[tuple[Any, Deferred[Any]]] = []
        self.connections: list[Any] = []  # (kept alive: ids are not reused)

    def deliver(self, protocol: Any, item: Any) -> Deferred[Any]:
        if not any(known is protocol for known in self.connections):
            self.connections.append(protocol)
        number = next(
            n for n, known in enumerate(self.connections, 1) if known is protocol
        )
        self.sent.append((number, item))
        d: Deferred[Any] = Deferred()
        self.unacked.append((item, d))
        return d

    def ack(self, item: Any) -> None:
        for index, (candidate, d) in enumerate(self.unacked):
            if candidate == item:
                del self.unacked[index]
                d.callback(f"ack {item}")
                return
        raise AssertionError(f"{item!r} is not in flight")

    def loseAcks(self) -> None:
        """The connection died: these acknowledgements never come."""
        self.unacked.clear()


class Results:
    def __init__(self) -> None:
        self.events: list[tuple[Any, str]] = []

    def watch(self, item: Any, d: Deferred[Any]) -> None:
        def ok(result: Any) -> None:
            self.events.append((item, str(result)))

        def failed(f: Failure) -> None:
            self.events.append((item, f"{type(f.value).__name__}: {f.value}"))

        d.addCallbacks(ok, failed)


def outboxFactory(clock: Clock, handshake: Any) -> AppFactory:
    """The factory the outbox tests run on: a 1 s fixed retry, no uptime wait."""
    return AppFactory(
        clock=clock,
        backoff=FixedBackoff(1.0),
        minUptime=0.0,
        alertAfter=None,
        handshake=handshake,
    )


class OutboxTestsMixin:
    path: str

    def setUp(self) -> None:
        self.clock = Clock()
        self.handshakes: list[Deferred[None]] = []
        self.factory = outboxFactory(self.clock, self._handshake)
        self.peer = Peer()
        self.results = Results()

    def _handshake(self, protocol: Any) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self.handshakes.append(d)
        return d

    def start(self) -> None:
        if self.path == "connector":
            self.connector = FakeConnector(self.factory, self.clock)
            self.connector.connect()
            self.driver: Any = self.connector
        else:
            self.endpoint = FakeEndpoint(self.clock)
            ReconnectingService(self.endpoint, self.factory).startService()
            self.driver = self.endpoint

    def connect(self) -> None:
        """Complete the attempt in flight and the handshake."""
        self.driver.succeed()
        self.handshakes.pop().callback(None)
        assert self.factory.status.state is S.CONNECTED

    def drop(self) -> None:
        self.peer.loseAcks()
        self.driver.drop()
        self.clock.advance(1.0)  # the retry: CONNECTING again

    def put(self, outbox: Outbox, *items: Any) -> None:
        for item in items:
            self.results.watch(item, outbox.put(item))

    def finish(self) -> None:
        self.factory.giveUp("test over")
        self.clock.advance(10)
        self.assertEqual(self.clock.getDelayedCalls(), [])  # type: ignore[attr-defined]

    def test_orderAcrossThreeReconnects(self: Any) -> None:
        """
        When three connections die with acknowledgements lost mid-flight,
        every item is delivered, in order, the unacknowledged ones resent
        first on the next connection.
        """
        outbox = Outbox(self.factory, self.peer.deliver, window=2)
        self.put(outbox, 1, 2, 3, 4, 5, 6, 7)
        self.start()
        self.driver.succeed()  # transport up, handshake running: nothing sent
        self.assertEqual(self.peer.sent, [])
        self.handshakes.pop().callback(None)
        self.assertEqual(self.peer.sent, [(1, 1), (1, 2)])
        self.peer.ack(1)
        self.assertEqual(self.peer.sent[-1], (1, 3))
        self.drop()  # 2 and 3 in flight: their acks are lost
        self.assertEqual((outbox.queued, outbox.inFlight), (6, 0))
        self.connect()
        self.peer.ack(2)
        self.drop()  # 3 and 4 in flight
        self.connect()
        self.peer.ack(3)
        self.peer.ack(4)
        self.peer.ack(5)
        self.drop()  # 6 and 7 in flight
        self.connect()
        self.peer.ack(6)
        self.peer.ack(7)
        self.assertEqual(
            self.peer.sent,
            [
                (1, 1),
                (1, 2),
                (1, 3),
                (2, 2),
                (2, 3),
                (2, 4),
                (3, 3),
                (3, 4),
                (3, 5),
                (3, 6),
                (3, 7),
                (4, 6),
                (4, 7),
            ],
        )
        self.assertEqual(self.results.events, [(n, f"ack {n}") for n in range(1, 8)])
        self.assertEqual((outbox.delivered, outbox.failed, outbox.resent), (7, 0, 6))
        self.assertEqual(outbox.queued, 0)
        self.finish()

    def test_giveUpFailsEveryPending(self: Any) -> None:
        """
        When the factory gives up, every pending put() (in flight and
        queued) fails with GaveUp carrying the reason; a later put() too.
        """
        outbox = Outbox(self.factory, self.peer.deliver, window=2)
        self.start()
        self.connect()
        self.put(outbox, "a", "b", "c", "d")
        self.peer.ack("a")
        self.factory.giveUp("user quit")
        self.put(outbox, "e")
        self.assertEqual(
            self.results.events,
            [
                ("a", "ack a"),
                ("b", "GaveUp: user quit"),
                ("c", "GaveUp: user quit"),
                ("d", "GaveUp: user quit"),
                ("e", "GaveUp: user quit"),
            ],
        )
        self.assertEqual((outbox.queued, outbox.queuedBytes), (0, 0))
        self.peer.ack("b")  # a late acknowledgement changes nothing
        self.assertEqual(outbox.delivered, 1)
        self.clock.advance(10)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_kickFailsPending(self: Any) -> None:
        """When kicked, pending put()s fail with GaveUp('kicked: ...')."""
        outbox = Outbox(self.factory, self.peer.deliver)
        self.start()
        self.connect()
        self.put(outbox, "a", "b")
        self.factory.kicked("same account logged in elsewhere")
        self.assertEqual(
            self.results.events,
            [
                ("a", "GaveUp: kicked: same account logged in elsewhere"),
                ("b", "GaveUp: kicked: same account logged in elsewhere"),
            ],
        )
        self.finish()

    def test_maxRetriesFailsPending(self: Any) -> None:
        """When maxRetries is exceeded, pending put()s fail with its reason."""
        self.factory.maxRetries = 1
        outbox = Outbox(self.factory, self.peer.deliver)
        self.put(outbox, "a")
        self.start()
        self.driver.fail()
        self.clock.advance(1.0)
        self.driver.fail()
        self.assertEqual(
            self.results.events, [("a", "GaveUp: gave up: maxRetries (1) exceeded")]
        )
        self.finish()


    def test_lateAckFromOldConnectionKeepsSending(self: Any) -> None:
        """
        When the old connection's acknowledgement of an item arrives after
        the item was resent on the new connection (window 1), the item is
        done and the next one is sent at once; the new connection's ack of
        the resend is ignored. Nothing stalls.
        """
        outbox = Outbox(self.factory, self.peer.deliver, window=1)
        self.start()
        self.connect()
        self.put(outbox, "a", "b")
        oldAck = self.peer.unacked.pop(0)[1]  # (answered by hand below)
        self.driver.drop()
        self.clock.advance(1.0)
        self.connect()
        self.assertEqual(self.peer.sent, [(1, "a"), (2, "a")])
        oldAck.callback("ack a (old)")
        self.assertEqual(self.peer.sent, [(1, "a"), (2, "a"), (2, "b")])
        self.assertEqual(self.results.events, [("a", "ack a (old)")])
        self.peer.ack("a")  # the resend's ack: ignored
        self.peer.ack("b")
        self.assertEqual(
            self.results.events, [("a", "ack a (old)"), ("b", "ack b")]
        )
        self.assertEqual((outbox.queued, outbox.inFlight, outbox.delivered), (0, 0, 2))
        self.finish()

    def test_deliverGivingUpStopsSending(self: Any) -> None:
        """
        When deliver() gives up on the factory for the first item (window 4),
        nothing more is handed to deliver(): every other put() fails with
        GaveUp, none was sent on the connection being closed.
        """
        states: list[S] = []

        def deliver(protocol: Any, item: Any) -> Deferred[Any]:
            states.append(self.factory.status.state)
            self.factory.giveUp("app quits")
            return Deferred()

        outbox = Outbox(self.factory, deliver, window=4)
        self.put(outbox, "a", "b", "c", "d")
        self.start()
        self.driver.succeed()
        self.handshakes.pop().callback(None)
        self.assertEqual(states, [S.CONNECTED])
        self.assertEqual(
            [item for item, _ in self.results.events], ["a", "b", "c", "d"]
        )
        self.assertEqual(
            {text for _, text in self.results.events}, {"GaveUp: app quits"}
        )
        self.finish()


class ConnectorPathTests(OutboxTestsMixin, SynchronousTestCase):
    path = "connector"

    def test_overflowFails(self) -> None:
        """When maxItems are held, put() fails at once with OutboxFull."""
        outbox = Outbox(self.factory, self.peer.deliver, maxItems=2)
        self.put(outbox, "a", "b", "c")
        self.assertEqual(
            self.results.events,
            [
                (
                    "c",
                    "OutboxFull: outbox full (2 items, 0 bytes; "
                    "maxItems=2, maxBytes=None)",
                )
            ],
        )
        self.assertEqual(outbox.pending(), [(1, "a"), (2, "b")])
        self.assertEqual(outbox.failed, 1)

    def test_overflowBytes(self) -> None:
        """When maxBytes would be exceeded, put() fails; the size is reported."""
        outbox = Outbox(self.factory, self.peer.deliver, maxBytes=10)
        self.put(outbox, b"12345", b"1234")
        self.assertEqual((outbox.queued, outbox.queuedBytes), (2, 9))
        self.put(outbox, b"12", b"1")
        self.assertEqual(self.results.events[0][0], b"12")
        self.assertEqual((outbox.queued, outbox.queuedBytes), (3, 10))
        self.put(outbox, b"x" * 11)
        self.assertEqual(len(self.results.events), 2)

    def test_dropOldest(self) -> None:
        """
        When full with overflow='drop-oldest', the oldest queued item is
        dropped and its put() fails with OutboxFull.
        """
        outbox = Outbox(
            self.factory, self.peer.deliver, maxItems=2, overflow="drop-oldest"
        )
        self.put(outbox, "a", "b", "c")
        self.assertEqual(
            self.results.events,
            [
                (
                    "a",
                    "OutboxFull: dropped item 1: the outbox was full "
                    "(overflow='drop-oldest')",
                )
            ],
        )
        self.assertEqual(outbox.pending(), [(2, "b"), (3, "c")])

    def test_dropOldestNeverInFlight(self) -> None:
        """When every held item is in flight, drop-oldest fails the new put()."""
        outbox = Outbox(
            self.factory, self.peer.deliver, maxItems=1, overflow="drop-oldest"
        )
        self.start()
        self.connect()
        self.put(outbox, "a", "b")
        self.assertEqual(self.results.events[0][0], "b")
        self.assertEqual(self.peer.sent, [(1, "a")])
        self.finish()

    def test_peerRefusesItem(self) -> None:
        """When deliver fails with a non-connection error, that put() fails."""
        outbox = Outbox(self.factory, self.peer.deliver)
        self.start()
        self.connect()
        self.put(outbox, "bad", "good")
        self.peer.unacked.pop(0)[1].errback(ValueError("rejected by peer"))
        self.peer.ack("good")
        self.assertEqual(
            self.results.events,
            [("bad", "ValueError: rejected by peer"), ("good", "ack good")],
        )
        self.finish()

    def test_connectionErrorPutsBack(self) -> None:
        """
        When deliver fails with ConnectionLost, the item is resent on the
        next connection, and nothing more is sent on this one.
        """
        outbox = Outbox(self.factory, self.peer.deliver)
        self.start()
        self.connect()
        self.put(outbox, "a", "b")
        self.peer.unacked.pop(0)[1].errback(error.ConnectionLost())
        self.assertEqual(self.peer.sent, [(1, "a")])
        self.drop()
        self.connect()
        self.assertEqual(self.peer.sent, [(1, "a"), (2, "a")])
        self.finish()

    def test_fireAndForgetWithIds(self) -> None:
        """
        When deliver returns a plain value, the item is done at once; with
        withIds=True it gets the item's id (given or a sequence number).
        """
        seen: list[tuple[Any, Any]] = []
        outbox = Outbox(
            self.factory,
            lambda protocol, item, itemId: seen.append((itemId, item)),
            withIds=True,
        )
        self.start()
        self.connect()
        self.put(outbox, "a")
        self.results.watch("b", outbox.put("b", itemId="uuid-b"))
        self.assertEqual(seen, [(1, "a"), ("uuid-b", "b")])
        self.assertEqual(self.results.events, [("a", "None"), ("b", "None")])
        self.finish()

    def test_invalidArguments(self) -> None:
        """When an argument is invalid, ValueError/TypeError naming it."""
        for kwargs, name in [
            ({"maxItems": 0}, "maxItems"),
            ({"maxBytes": 0}, "maxBytes"),
            ({"window": 0}, "window"),
            ({"overflow": "block"}, "overflow"),
        ]:
            e = self.assertRaises(ValueError, Outbox, self.factory, print, **kwargs)
            self.assertIn(name, str(e))
        self.assertRaises(TypeError, Outbox, self.factory, None)
        e = self.assertRaises(
            TypeError, Outbox, self.factory, print, maxBytes=100, sizeOf=5
        )
        self.assertEqual(str(e), "sizeOf must be callable or None, not 5")

    def test_wrongTypes(self) -> None:
        """
        When maxItems, maxBytes or window is a bool (True would silently mean
        1), a float or a str, TypeError names it; an int is kept as given.
        """
        for name, value, message in [
            ("maxItems", True, "maxItems must be an int >= 1, not True"),
            ("maxItems", 10.0, "maxItems must be an int >= 1, not 10.0"),
            ("window", True, "window must be an int >= 1, not True"),
            ("window", "2", "window must be an int >= 1, not '2'"),
            ("maxBytes", True, "maxBytes must be an int >= 1 or None, not True"),
            ("maxBytes", False, "maxBytes must be an int >= 1 or None, not False"),
            ("maxBytes", 1.5, "maxBytes must be an int >= 1 or None, not 1.5"),
        ]:
            e = self.assertRaises(
                TypeError, Outbox, self.factory, print, **{name: value}
            )
            self.assertEqual(str(e), message)
        outbox = Outbox(self.factory, print, maxItems=1, maxBytes=1, window=1)
        self.assertEqual((outbox.maxItems, outbox.maxBytes, outbox.window), (1, 1, 1))
        outbox.detach()

    def test_detach(self) -> None:
        """When detached, the outbox no longer sends on connection."""
        outbox = Outbox(self.factory, self.peer.deliver)
        self.put(outbox, "a")
        outbox.detach()
        self.start()
        self.connect()
        self.assertEqual(self.peer.sent, [])
        self.finish()


class EndpointPathTests(OutboxTestsMixin, SynchronousTestCase):
    path = "endpoint"
