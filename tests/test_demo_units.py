"""
Unit tests for the demo's pieces: the login server, the demo client's
handshake, the timeline and the command line parsing (no sockets, no reactor).
"""

from __future__ import annotations

import io
import json
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from reconnect_twisted import ConnectionState, ConnectionStatus, FixedBackoff
from reconnect_twisted.__main__ import main
from reconnect_twisted._demo import network as network_module
from reconnect_twisted._demo.chain import (
    ChainClientFactory,
    ChainService,
    Front,
    _ChainServerFactory,
)
from reconnect_twisted._demo.chat import ChatClientFactory, formatMessage, statusText
from reconnect_twisted._demo.client import DemoClientFactory
from reconnect_twisted._demo.network import ManualNetwork, openNetwork
from reconnect_twisted._demo.run import StatusPage, defaultTimeout, parseScenarios
from reconnect_twisted._demo.scenarios import PASSWORD, SCENARIOS, expectedDuration
from reconnect_twisted._demo.server import (
    SAME_ACCOUNT,
    LoginServerFactory,
    LoginServerProtocol,
)
from reconnect_twisted._demo.timeline import Outcome, Timeline
from reconnect_twisted.testing import FakeConnector, connectFake

S = ConnectionState
ADDRESS = IPv4Address("TCP", "127.0.0.1", 1)


def serverSession(
    factory: LoginServerFactory,
) -> tuple[LoginServerProtocol, StringTransport]:
    protocol = factory.buildProtocol(ADDRESS)
    assert isinstance(protocol, LoginServerProtocol)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def lines(transport: StringTransport) -> list[str]:
    data = transport.value().decode()
    transport.clear()
    return [line for line in data.split("\r\n") if line]


class LoginServerTests(SynchronousTestCase):
    """The demo's line-based login server."""

    def test_goodPassword(self) -> None:
        """When a client logs in with the right password, the server says OK."""
        factory = LoginServerFactory({"alice": "pw"})
        protocol, transport = serverSession(factory)
        protocol.dataReceived(b"LOGIN alice pw\r\n")
        self.assertEqual(lines(transport), ["OK"])
        self.assertEqual((factory.logins, factory.rejected), (1, 0))
        self.assertIs(factory.session("alice"), protocol)

    def test_badPassword(self) -> None:
        """When the password is wrong, the server answers ERR bad-password."""
        factory = LoginServerFactory({"alice": "pw"})
        protocol, transport = serverSession(factory)
        protocol.dataReceived(b"LOGIN alice nope\r\n")
        self.assertEqual(lines(transport), ["ERR bad-password"])
        self.assertEqual((factory.logins, factory.rejected), (0, 1))

    def test_unknownUser(self) -> None:
        """When the account does not exist, the server answers ERR unknown-user."""
        protocol, transport = serverSession(LoginServerFactory({"alice": "pw"}))
        protocol.dataReceived(b"LOGIN bob pw\r\n")
        self.assertEqual(lines(transport), ["ERR unknown-user"])

    def test_sameAccountKicksOlderSession(self) -> None:
        """
        When the same account logs in a second time, the older session gets
        KICK same account logged in elsewhere and is closed.
        """
        factory = LoginServerFactory({"alice": "pw"})
        first, firstTransport = serverSession(factory)
        first.dataReceived(b"LOGIN alice pw\r\n")
        lines(firstTransport)
        second, secondTransport = serverSession(factory)
        second.dataReceived(b"LOGIN alice pw\r\n")
        self.assertEqual(lines(firstTransport), [f"KICK {SAME_ACCOUNT}"])
        self.assertTrue(firstTransport.disconnecting)
        self.assertEqual(lines(secondTransport), ["OK"])

    def test_roomBroadcast(self) -> None:
        """When a member of a room says something, everyone in the room gets it."""
        factory = LoginServerFactory(accounts=None)
        alice, aliceT = serverSession(factory)
        bob, bobT = serverSession(factory)
        alice.dataReceived(b"LOGIN alice x\r\nJOIN lobby\r\n")
        bob.dataReceived(b"LOGIN bob\r\nJOIN lobby\r\n")
        self.assertEqual(lines(aliceT), ["OK", "JOINED lobby", "INFO bob joined lobby"])
        self.assertEqual(lines(bobT), ["OK", "JOINED lobby"])
        bob.dataReceived(b"SAY hi all\r\n")
        self.assertEqual(lines(aliceT), ["MSG lobby bob hi all"])
        self.assertEqual(lines(bobT), ["MSG lobby bob hi all"])

    def test_joinBeforeLogin(self) -> None:
        """When a client joins before logging in, the server refuses."""
        protocol, transport = serverSession(LoginServerFactory(accounts=None))
        protocol.dataReceived(b"JOIN lobby\r\nFOO\r\n")
        self.assertEqual(lines(transport), ["ERR not-logged-in", "ERR unknown-command"])


def demoClient(
    clock: Clock, password: str = PASSWORD, room: str | None = None
) -> DemoClientFactory:
    return DemoClientFactory(
        "alice",
        password,
        room=room,
        clock=clock,
        backoff=FixedBackoff(3.0),
        alertAfter=None,
    )


class DemoClientTests(SynchronousTestCase):
    """The demo client's handshake and kick handling, on a fake connector."""

    def test_loginSucceeds(self) -> None:
        """When the server answers OK to LOGIN, the client is CONNECTED."""
        clock = Clock()
        factory = demoClient(clock)
        connector = connectFake(factory, clock)
        protocol = connector.succeed()
        self.assertEqual(factory.status.state, S.HANDSHAKING)
        self.assertEqual(
            protocol.transport.value(), f"LOGIN alice {PASSWORD}\r\n".encode()
        )
        protocol.dataReceived(b"OK\r\n")
        self.assertEqual(factory.status.state, S.CONNECTED)

    def test_badPasswordStops(self) -> None:
        """
        When the server answers ERR bad-password, the client stops with a
        reason that says so (and never retries).
        """
        clock = Clock()
        factory = demoClient(clock, password="wrong")
        connector = connectFake(factory, clock)
        connector.succeed().dataReceived(b"ERR bad-password\r\n")
        clock.advance(0)
        status = factory.status
        self.assertEqual(status.state, S.STOPPED)
        self.assertIn("bad password", status.stopReason or "")
        self.assertNotIn("wrong", status.stopReason or "")
        clock.advance(60)
        self.assertEqual(connector.attempts, 1)

    def test_temporaryErrorRetries(self) -> None:
        """When the server answers another ERR, the client retries later."""
        clock = Clock()
        factory = demoClient(clock)
        connector = connectFake(factory, clock)
        connector.succeed().dataReceived(b"ERR busy\r\n")
        clock.advance(0)
        self.assertEqual(factory.status.state, S.WAITING)
        clock.advance(3.0)
        self.assertEqual(connector.attempts, 2)

    def test_kickStops(self) -> None:
        """When the server sends KICK, the client stops with the kick's reason."""
        clock = Clock()
        factory = demoClient(clock)
        connector = connectFake(factory, clock)
        protocol = connector.succeed()
        protocol.dataReceived(b"OK\r\n")
        protocol.dataReceived(f"KICK {SAME_ACCOUNT}\r\n".encode())
        clock.advance(0)
        self.assertEqual(factory.status.state, S.STOPPED)
        self.assertEqual(factory.status.stopReason, f"kicked: {SAME_ACCOUNT}")
        clock.advance(60)
        self.assertEqual(connector.attempts, 1)

    def test_loginThenJoin(self) -> None:
        """
        When a room is given, the handshake logs in, then joins; the client is
        CONNECTED only after JOINED.
        """
        clock = Clock()
        factory = demoClient(clock, room="lobby")
        protocol = connectFake(factory, clock).succeed()
        protocol.dataReceived(b"OK\r\n")
        self.assertEqual(factory.status.state, S.HANDSHAKING)
        self.assertTrue(protocol.transport.value().endswith(b"JOIN lobby\r\n"))
        protocol.dataReceived(b"JOINED lobby\r\n")
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertEqual(factory.room, "lobby")

    def test_messagesAreForwarded(self) -> None:
        """When MSG or INFO lines arrive, the factory's message callbacks get them."""
        clock = Clock()
        factory = demoClient(clock)
        seen: list[str] = []
        factory.messages.append(seen.append)
        protocol = connectFake(factory, clock).succeed()
        protocol.dataReceived(b"OK\r\nMSG lobby bob hi\r\nINFO bob left\r\n")
        self.assertEqual(seen, ["MSG lobby bob hi", "INFO bob left"])

    def test_reprHidesPassword(self) -> None:
        """When the factory is printed, the password does not show."""
        self.assertNotIn(PASSWORD, repr(demoClient(Clock())))


def status(state: ConnectionState, **kwargs: object) -> ConnectionStatus:
    values: dict[str, object] = dict(
        state=state,
        attempt=0,
        nextAttemptAt=None,
        since=0.0,
        lastFailure=None,
        stopReason=None,
        networkUp=None,
    )
    values.update(kwargs)
    return ConnectionStatus(**values)  # type: ignore[arg-type]


class ChatTextTests(SynchronousTestCase):
    """What the chat client's status line and message lines say."""

    def test_statusTexts(self) -> None:
        """When the state changes, the status line says what the brief promises."""
        self.assertEqual(statusText(status(S.CONNECTED), 0), "connected")
        self.assertEqual(
            statusText(status(S.WAITING, attempt=2, nextAttemptAt=13.2), 10.0),
            "reconnecting (attempt 2, next in 4s)",
        )
        self.assertEqual(
            statusText(status(S.STOPPED, stopReason="user gave up"), 0),
            "stopped: user gave up",
        )
        self.assertEqual(
            statusText(status(S.CONNECTING, attempt=1), 0), "connecting (attempt 2)"
        )

    def test_formatMessage(self) -> None:
        """When a MSG arrives, it is shown as <user> text; INFO as * text."""
        self.assertEqual(formatMessage("MSG lobby bob hi there"), "<bob> hi there")
        self.assertEqual(formatMessage("INFO bob joined lobby"), "* bob joined lobby")

    def test_chatFactoryHasTwoSteps(self) -> None:
        """When a chat client is created, its handshake is login then join."""
        factory = ChatClientFactory("alice", "lobby", clock=Clock())
        hook = factory.__dict__["_handshakeHook"]
        self.assertEqual([name for name, _ in hook.steps], ["login", "join"])


class TimelineTests(SynchronousTestCase):
    """The demo's output formats."""

    def test_jsonEvents(self) -> None:
        """When --json is used, every event is one JSON object with the same keys."""
        out = io.StringIO()
        clock = Clock()
        timeline = Timeline(out, clock.seconds, asJSON=True, colour=True)
        clock.advance(1.5)
        timeline.status("A", "client", status(S.WAITING, attempt=1, nextAttemptAt=3.5))
        timeline.scenarioEnd(Outcome("A", "t", "e", "o", True))
        events = [json.loads(line) for line in out.getvalue().splitlines()]
        for event in events:
            self.assertTrue(
                {
                    "t",
                    "scenario",
                    "event",
                    "state",
                    "attempt",
                    "nextDelay",
                    "reason",
                    "ok",
                }
                <= set(event)
            )
        self.assertEqual(events[0]["t"], 1.5)
        self.assertEqual(events[0]["nextDelay"], 2.0)
        self.assertEqual(events[0]["state"], "WAITING")
        self.assertEqual(events[1]["event"], "scenario-end")
        self.assertIs(events[1]["ok"], True)
        self.assertNotIn("\x1b", out.getvalue())

    def test_colourOnlyWhenAsked(self) -> None:
        """When colour is off, the text output has no ANSI escapes; on, it has."""
        for colour in (False, True):
            out = io.StringIO()
            timeline = Timeline(out, Clock().seconds, colour=colour)
            timeline.status("A", "client", status(S.CONNECTED))
            timeline.summary([Outcome("A", "t", "e", "o", False)])
            self.assertEqual("\x1b[" in out.getvalue(), colour)
            self.assertIn("FAIL", out.getvalue())


class ChainTests(SynchronousTestCase):
    """Scenario I's services and links, on fake transports."""

    def link(
        self, clock: Clock, received: list[str]
    ) -> tuple[ChainClientFactory, FakeConnector]:
        factory = ChainClientFactory(
            "A", received.append, interval=1.0, clock=clock, alertAfter=None
        )
        return factory, connectFake(factory, clock)

    def test_helloWelcome(self) -> None:
        """
        When the upstream service answers WELCOME, the link is CONNECTED and
        its connection is the one messages go through; ACK lines from
        upstream go to the owner.
        """
        clock = Clock()
        received: list[str] = []
        factory, connector = self.link(clock, received)
        protocol = connector.succeed()
        self.assertEqual(protocol.transport.value(), b"HELLO A\r\n")
        self.assertIsNone(factory.connection())
        protocol.dataReceived(b"WELCOME B\r\nACK 1 A>B\r\nNACK 2 B\r\n")
        self.assertEqual(factory.status.state, S.CONNECTED)
        self.assertIs(factory.connection(), protocol)
        self.assertEqual(received, ["ACK 1 A>B", "NACK 2 B"])
        protocol.transport.loseConnection()
        clock.advance(0)
        self.assertIsNone(factory.connection())
        self.assertEqual(factory.status.state, S.WAITING)
        factory.stopTrying()

    def test_upstreamNotReady(self) -> None:
        """
        When the upstream service is not ready (ERR upstream-down), the
        handshake fails with a retryable rejection and the link retries.
        """
        clock = Clock()
        factory, connector = self.link(clock, [])
        connector.succeed().dataReceived(b"ERR upstream-down\r\n")
        clock.advance(0)
        status = factory.status
        self.assertEqual((status.state, status.attempt), (S.WAITING, 1))
        assert status.lastFailure is not None
        self.assertIn("upstream not ready", str(status.lastFailure.value))
        clock.advance(1.0)
        self.assertEqual(connector.attempts, 2)
        factory.stopTrying()
        self.assertEqual(clock.getDelayedCalls(), [])

    def session(self, service: ChainService) -> tuple[Any, StringTransport]:
        protocol = _ChainServerFactory(service).buildProtocol(ADDRESS)
        assert protocol is not None
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def test_endOfChain(self) -> None:
        """
        When the last service gets HELLO it welcomes at once; a MSG is
        delivered and acknowledged with the path it took.
        """
        service = ChainService(Clock(), "D")
        protocol, transport = self.session(service)
        protocol.dataReceived(b"HELLO C\r\nMSG 7 A>B>C\r\nPING\r\n")
        self.assertEqual(
            lines(transport), ["WELCOME D", "ACK 7 A>B>C>D", "ERR unknown-command"]
        )
        self.assertEqual(service.delivered, [("7", "A>B>C>D")])

    def test_relayWithoutUpstream(self) -> None:
        """
        When a relay's upstream link is not CONNECTED, it refuses HELLO
        (upstream-down) and answers a MSG with NACK naming itself.
        """
        upstream = ChainClientFactory("B", print, 1.0, clock=Clock())
        service = ChainService(Clock(), "B", lambda service: upstream)
        service.upstream = upstream
        protocol, transport = self.session(service)
        protocol.dataReceived(b"HELLO A\r\nMSG 3 A\r\n")
        self.assertEqual(lines(transport), ["ERR upstream-down", "NACK 3 B"])
        self.assertFalse(service.ready())

    def test_relayForwardsBothWays(self) -> None:
        """
        When a relay's upstream is CONNECTED, a MSG goes upstream with the
        relay's name added, and a reply from upstream goes to every session.
        """
        clock = Clock()
        service = ChainService(clock, "B", lambda service: upstream)
        upstream = ChainClientFactory("B", service.relayDown, 1.0, clock=clock)
        service.upstream = upstream
        link = connectFake(upstream, clock).succeed()
        link.dataReceived(b"WELCOME C\r\n")
        link.transport.clear()
        self.assertTrue(service.ready())
        protocol, transport = self.session(service)
        protocol.dataReceived(b"HELLO A\r\nMSG 4 A\r\n")
        self.assertEqual(link.transport.value(), b"MSG 4 A>B\r\n")
        link.dataReceived(b"ACK 4 A>B>C>D\r\n")
        self.assertEqual(lines(transport), ["WELCOME B", "ACK 4 A>B>C>D"])
        self.assertEqual((service.accepted, service.welcomed), (1, 1))
        upstream.stopTrying()

    def test_frontNeedsConnection(self) -> None:
        """
        When A is not connected, it sends nothing; connected, each message
        gets the next id and its reply fires the Deferred.
        """
        clock = Clock()
        front = Front()
        self.assertIsNone(front.send())
        front.client = ChainClientFactory("A", front.received, 1.0, clock=clock)
        link = connectFake(front.client, clock).succeed()
        link.dataReceived(b"WELCOME B\r\n")
        link.transport.clear()
        sent = front.send()
        assert sent is not None
        ident, reply = sent
        self.assertEqual((ident, link.transport.value()), ("1", b"MSG 1 A\r\n"))
        seen: list[str] = []
        reply.addCallback(seen.append)
        link.dataReceived(b"ACK 1 A>B>C>D\r\n")
        self.assertEqual(seen, ["ACK 1 A>B>C>D"])
        self.assertEqual(front.replies, {"1": "ACK 1 A>B>C>D"})
        front.client.stopTrying()


class DemoNetworkTests(SynchronousTestCase):
    """Scenario H's network: the manual stand-in and the choice."""

    def test_manualDownUp(self) -> None:
        """When the manual network goes down and up, its monitor says so."""
        network = ManualNetwork("test")
        seen: list[bool | None] = []
        network.monitor.addObserver(seen.append)
        self.assertTrue(network.down().called)
        self.assertTrue(network.up().called)
        self.assertEqual(seen, [False, True])
        self.assertEqual(network.description, "manual monitor (test)")
        self.assertTrue(network.close().called)

    def openNetwork(self, **kwargs: Any) -> Any:
        d = ensureDeferred(openNetwork(Clock(), self.fail, **kwargs))
        return self.successResultOf(d)

    def test_manualWhenAsked(self) -> None:
        """When the manual monitor is asked for, no namespace is tried."""
        self.patch(network_module, "whyNoNamespace", self.fail)
        network = self.openNetwork(manual=True)
        self.assertEqual(
            network.description, "manual monitor (--network-monitor manual)"
        )

    def test_manualWithoutPermission(self) -> None:
        """When the process may not make a namespace, the manual monitor says why."""
        self.patch(network_module, "whyNoNamespace", lambda: "not root")
        network = self.openNetwork()
        self.assertIsInstance(network, ManualNetwork)
        self.assertEqual(network.description, "manual monitor (not root)")

    def test_whyNoNamespace(self) -> None:
        """When not root on Linux, the reason says so."""
        self.patch(network_module.os, "geteuid", lambda: 1000)
        self.patch(network_module.sys, "platform", "linux")
        self.assertEqual(
            network_module.whyNoNamespace(), "not root: no private network namespace"
        )
        self.patch(network_module.sys, "platform", "darwin")
        self.assertEqual(network_module.whyNoNamespace(), "not Linux")


class StatusPageTests(SynchronousTestCase):
    """The demo's --status-port page, on a memory reactor."""

    def test_listensOnLoopbackAndSaysWhereOnce(self) -> None:
        """
        When the page starts, it listens on 127.0.0.1 only and the timeline
        gets its address and token once; stopping it stops listening.
        """
        reactor = MemoryReactorClock()
        page = StatusPage(reactor, 8123)
        out = io.StringIO()
        page.start(Timeline(out, reactor.seconds, asJSON=True))
        [(port, site, _, interface)] = reactor.tcpServers
        self.assertEqual((port, interface), (8123, "127.0.0.1"))
        self.assertIs(site.resource, page.resource)
        [event] = [json.loads(line) for line in out.getvalue().splitlines()]
        self.assertEqual(event["event"], "status-page")
        self.assertEqual(event["token"], page.token)
        self.assertEqual(out.getvalue().count(page.token), 2)  # message + field
        self.assertGreaterEqual(len(page.token), 24)
        page.stop()
        self.assertEqual(page.stop(), None)


class CommandLineTests(SynchronousTestCase):
    """Parsing the demo's command line."""

    def test_scenarioLists(self) -> None:
        """When --scenario is repeated or a comma list, the letters are collected."""
        self.assertEqual(parseScenarios(None), list(SCENARIOS))
        self.assertEqual(parseScenarios(["a,C", "F", "c"]), ["A", "C", "F"])
        self.assertRaises(ValueError, parseScenarios, ["Z"])

    def test_defaultSpeedFitsBudget(self) -> None:
        """When the demo runs at the default speed, it is planned to take < 40 s."""
        self.assertEqual("".join(SCENARIOS), "ABCDEFGHI")
        self.assertLess(expectedDuration(list(SCENARIOS), 1.0), 40.0)
        self.assertGreater(
            defaultTimeout(list(SCENARIOS), 1.0), expectedDuration(list(SCENARIOS), 1.0)
        )

    def test_usageErrors(self) -> None:
        """When the arguments are wrong, main() exits with status 2."""
        for argv in (
            ["demo", "--scenario", "Z"],
            ["demo", "--speed", "0"],
            ["demo", "--speed", "nan"],
            ["demo", "--status-port", "65536"],
            ["demo", "--status-port", "http"],
            ["demo", "--network-monitor", "polling"],
            ["bogus"],
        ):
            with self.assertRaises(SystemExit) as raised:
                main(argv)
            self.assertEqual(raised.exception.code, 2)

    def test_noCommand(self) -> None:
        """When no command is given, main() prints the help and returns 2."""
        self.patch(__import__("sys"), "stdout", io.StringIO())
        self.assertEqual(main([]), 2)

    def test_netwatchDelegates(self) -> None:
        """When the command is netwatch, main() hands the rest of argv to it."""
        from reconnect_twisted.network import _cli

        calls: list[list[str]] = []

        def netwatch(argv: list[str]) -> int:
            calls.append(argv)
            return 7

        self.patch(_cli, "netwatch", netwatch)
        self.assertEqual(main(["netwatch", "--json", "--polling"]), 7)
        self.assertEqual(calls, [["--json", "--polling"]])
