"""
reconnect_twisted.web.StatusResource, rendered with twisted.web's
DummyRequest (plus cookies) and a Clock, and once over loopback.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from reconnect_twisted import ConnectionState, FixedBackoff, ReconnectingFactory
from reconnect_twisted.testing import connectFake
from reconnect_twisted.web import StatusResource

TOKEN = "test-token-0123456789abcdef"


class _Factory(ReconnectingFactory):
    protocol = Protocol


class Request(DummyRequest):
    """A DummyRequest with cookies, a path and a client address."""

    def __init__(self, path: bytes, method: bytes = b"GET") -> None:
        segments = path.lstrip(b"/").split(b"/")
        super().__init__(segments)
        self.method = method
        self.path = path
        self.client = IPv4Address("TCP", "127.0.0.1", 54321)
        self.received_cookies: dict[bytes, bytes] = {}
        self.cookies: list[bytes] = []
        self.requestHeaders.setRawHeaders(b"host", [b"127.0.0.1:8080"])
        self.requestHeaders.setRawHeaders(b"user-agent", [b"test-agent/1.0"])

    def getCookie(self, key: bytes) -> bytes | None:
        return self.received_cookies.get(key)

    def addCookie(self, k: bytes, v: bytes, **kwargs: Any) -> None:
        self.cookies.append(k + b"=" + v)
        self.cookieArgs = kwargs

    def body(self) -> bytes:
        return b"".join(self.written)


class StatusResourceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.factory = _Factory(
            clock=self.clock, backoff=FixedBackoff(3.0), alertAfter=None
        )
        self.resource = StatusResource(
            {"feed <1>": self.factory}, token=TOKEN, clock=self.clock
        )
        self.connector = connectFake(self.factory, self.clock)
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def tearDown(self) -> None:
        self.factory.giveUp()
        self.clock.advance(0)
        self.clock.advance(10)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def render(self, request: Request) -> bytes:
        result = self.resource.render(request)
        if result is not NOT_DONE_YET:
            assert isinstance(result, bytes)
            request.write(result)
        return request.body()

    def control(
        self,
        action: str,
        *,
        token: str | None = TOKEN,
        csrf: bool = True,
        origin: bytes | None = None,
        key: str = "1",
    ) -> tuple[int, dict[str, Any]]:
        request = Request(b"/control", b"POST")
        request.args = {b"action": [action.encode()], b"id": [key.encode()]}
        if token is not None:
            request.requestHeaders.setRawHeaders(b"x-status-token", [token.encode()])
        if csrf:
            request.received_cookies[b"rt_csrf"] = b"c" * 24
            request.args[b"csrf"] = [b"c" * 24]
        if origin is not None:
            request.requestHeaders.setRawHeaders(b"origin", [origin])
        body = self.render(request)
        return request.responseCode or 200, json.loads(body)

    def test_pageEscapesPeerText(self) -> None:
        """When a failure quotes the server, the page shows it escaped."""
        self.connector.fail(error.ConnectionLost("<script>alert(1)</script>"))
        request = Request(b"/")
        page = self.render(request).decode()
        self.assertIn("feed &lt;1&gt;", page)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;", page)
        self.assertNotIn("<script>alert(1)", page)
        self.assertIn('data-state="waiting"', page)
        self.assertIn("in 3.0 s", page)
        self.assertIn("Reconnect now", page)
        self.assertIn("Give up", page)
        self.assertIn("Resume", page)
        self.assertTrue(request.cookies[0].startswith(b"rt_csrf="))
        self.assertEqual(request.cookieArgs["sameSite"], "strict")
        self.assertTrue(request.cookieArgs["httpOnly"])
        csrf = request.cookies[0].split(b"=", 1)[1].decode()
        self.assertIn(f'id="csrf" value="{csrf}"', page)

    def test_redirectToSlash(self) -> None:
        """When mounted at /status and asked for /status, it redirects to /status/."""
        request = Request(b"/status")
        request.postpath = []
        self.render(request)
        self.assertEqual(request.responseCode, 302)
        self.assertEqual(
            request.responseHeaders.getRawHeaders(b"location"), [b"/status/"]
        )

    def test_json(self) -> None:
        """When /status.json is asked for, it holds each factory's status."""
        self.connector.fail(error.ConnectionRefusedError())
        self.clock.advance(1)
        data = json.loads(self.render(Request(b"/status.json")))
        self.assertEqual(data["now"], 1.0)
        [item] = data["factories"]
        self.assertEqual(
            item,
            {
                "id": "1",
                "name": "feed <1>",
                "target": "127.0.0.1:4321",
                "state": "waiting",
                "attempt": 1,
                "nextAttemptAt": 3.0,
                "since": 0.0,
                "lastFailure": "ConnectionRefusedError: Connection was refused by "
                "other side.",
                "stopReason": None,
                "networkUp": None,
            },
        )

    def test_refusedControls(self) -> None:
        """When a control lacks the token, CSRF value or origin, it is refused."""
        self.connector.fail(error.ConnectionRefusedError())
        for kwargs, code in [
            ({"token": None}, 403),
            ({"token": "x" * 26}, 403),
            ({"token": TOKEN[:-1]}, 403),
            ({"csrf": False}, 403),
            ({"origin": b"http://evil.example"}, 403),
            ({"key": "99"}, 404),
        ]:
            status, body = self.control("reconnect", **kwargs)
            self.assertEqual((status, body["ok"]), (code, False), kwargs)
        status, _ = self.control("explode")
        self.assertEqual(status, 400)
        self.assertIs(self.factory.status.state, ConnectionState.WAITING)
        self.assertEqual(self.connector.attempts, 1)
        refusals = [e for e in self.events if "refusal" in e]
        self.assertEqual(len(refusals), 7)
        self.assertEqual(refusals[0]["where"], "127.0.0.1:54321")
        self.assertEqual(refusals[0]["who"], "test-agent/1.0")

    def test_getControlRefused(self) -> None:
        """When /control is asked for with GET, it answers 405."""
        request = Request(b"/control")
        self.render(request)
        self.assertEqual(request.responseCode, 405)

    def test_controls(self) -> None:
        """When the token and CSRF value are right, the buttons act and are logged."""
        self.connector.fail(error.ConnectionRefusedError())
        status, body = self.control("reconnect", origin=b"http://127.0.0.1:8080")
        self.assertEqual((status, body["ok"]), (200, True))
        self.assertIs(self.factory.status.state, ConnectionState.CONNECTING)
        self.assertEqual(self.connector.attempts, 2)
        status, body = self.control("resume")
        self.assertEqual(status, 409)
        status, body = self.control("giveup")
        self.assertEqual(status, 200)
        self.clock.advance(0)
        self.assertIs(self.factory.status.state, ConnectionState.STOPPED)
        self.assertEqual(
            self.factory.status.stopReason, "gave up: from the status page"
        )
        status, body = self.control("resume")
        self.assertEqual(status, 200)
        self.assertIs(self.factory.status.state, ConnectionState.CONNECTING)
        used = [e for e in self.events if e.get("action") and "refusal" not in e]
        self.assertEqual(
            [(e["action"], e["name"], e["where"]) for e in used],
            [
                ("reconnect", "feed <1>", "127.0.0.1:54321"),
                ("giveup", "feed <1>", "127.0.0.1:54321"),
                ("resume", "feed <1>", "127.0.0.1:54321"),
            ],
        )

    def test_events(self) -> None:
        """When a state changes, an open event stream gets it; closing cleans up."""
        request = Request(b"/events")
        self.assertIs(self.resource.render(request), NOT_DONE_YET)
        first = request.body().decode()
        self.assertTrue(first.startswith("retry: 2000\nevent: snapshot\ndata: "))
        self.connector.fail(error.ConnectionRefusedError())
        later = request.body().decode()[len(first) :]
        self.assertIn("event: status\ndata: ", later)
        payload = json.loads(later.split("data: ", 1)[1].split("\n", 1)[0])
        self.assertEqual(payload["factory"]["state"], "waiting")
        self.clock.advance(15)
        self.assertTrue(request.body().decode().endswith(": keep-alive\n\n"))
        request.finish()
        self.assertEqual(self.resource._streams, [])

    def test_generatedTokenLoggedOnce(self) -> None:
        """When no token is given, one is generated and logged once."""
        before = len(self.events)
        resource = StatusResource(clock=self.clock)
        logged = [e for e in self.events[before:] if "token" in e]
        self.assertEqual(len(logged), 1)
        self.assertGreaterEqual(len(logged[0]["token"]), 32)
        self.assertEqual(resource._token, logged[0]["token"].encode())

    def test_badArguments(self) -> None:
        """
        When the clock, metrics, a factory or a mapping's name is of the
        wrong kind, TypeError names it at construction (not at render).
        """
        for kwargs, message in [
            ({"clock": object()}, "clock must provide IReactorTime (no seconds()), "
             "not <class 'object'>"),
            ({"metrics": True}, "metrics must be None, False or a prometheus_client "
             "CollectorRegistry, not <class 'bool'>"),
            ({"factories": [object()]}, "factory must be a ReconnectingFactory, "
             "not <class 'object'>"),
            ({"factories": {1: self.factory}}, "factories: the names of a mapping "
             "must be str"),
        ]:
            with self.assertRaises(TypeError) as raised:
                StatusResource(token=TOKEN, **kwargs)
            self.assertEqual(str(raised.exception), message)

    def test_shortTokenRefused(self) -> None:
        """When the given token is short, the constructor refuses it."""
        self.assertRaises(ValueError, StatusResource, token="short")

    def test_metrics(self) -> None:
        """When prometheus_client is installed, /metrics serves the factories."""
        self.connector.fail(error.ConnectionRefusedError())
        text = self.render(Request(b"/metrics")).decode()
        self.assertIn(
            'reconnect_attempts_total{name="feed <1>",result="refused"} 1.0', text
        )
        self.assertIn('reconnect_state{name="feed <1>",state="waiting"} 1.0', text)

    def test_unregister(self) -> None:
        """When a factory is unregistered, it leaves the page."""
        factory = _Factory(clock=self.clock)
        unregister = self.resource.register(factory, "other")
        self.assertEqual(len(self.resource.snapshot()["factories"]), 2)
        unregister()
        self.assertEqual(len(self.resource.snapshot()["factories"]), 1)


@pytest.mark.filterwarnings("ignore:Using readBody:DeprecationWarning")
@pytest_twisted.ensureDeferred
async def test_overLoopback() -> None:
    """When served on 127.0.0.1, a real client gets the page, the JSON and a 403."""
    from twisted.internet import reactor
    from twisted.web.client import Agent, readBody
    from twisted.web.http_headers import Headers
    from twisted.web.server import Site

    factory = _Factory(backoff=FixedBackoff(30.0), alertAfter=None)
    resource = StatusResource({"feed": factory}, token=TOKEN)
    port = reactor.listenTCP(0, Site(resource), interface="127.0.0.1")
    try:
        base = f"http://127.0.0.1:{port.getHost().port}/".encode()
        agent = Agent(reactor)
        response = await agent.request(b"GET", base)
        page = (await readBody(response)).decode()
        assert response.code == 200
        assert "feed" in page
        response = await agent.request(b"GET", base + b"status.json")
        assert json.loads(await readBody(response))["factories"][0]["name"] == "feed"
        response = await agent.request(
            b"POST",
            base + b"control",
            Headers({b"content-type": [b"application/x-www-form-urlencoded"]}),
        )
        await readBody(response)
        assert response.code == 403
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_eventsReaderThatDoesNotReadIsDropped() -> None:
    """
    When an /events client never reads while thousands of status changes
    happen, its stream is dropped once the transport's buffer is full (a
    warning is logged): the server does not buffer every event for it.
    """
    import socket

    from twisted.internet import reactor
    from twisted.internet.task import deferLater
    from twisted.web.server import Site

    clock = Clock()
    factory = _Factory(clock=clock, backoff=FixedBackoff(3.0), alertAfter=None)
    resource = StatusResource({"feed": factory}, token=TOKEN, clock=reactor)
    port = reactor.listenTCP(0, Site(resource), interface="127.0.0.1")
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        client.connect(("127.0.0.1", port.getHost().port))
        client.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for _ in range(200):
            if resource._streams:
                break
            await deferLater(reactor, 0.01)
        assert len(resource._streams) == 1
        transport = resource._streams[0].channel.transport
        connector = connectFake(factory, clock)
        for _ in range(20000):
            if not resource._streams:
                break
            connector.fail()
            clock.advance(3.0)
        assert resource._streams == []
        buffered = len(transport.dataBuffer) + transport._tempDataLen
        assert buffered < 1_000_000, buffered
    finally:
        client.close()
        factory.giveUp()
        clock.advance(10)
        await port.stopListening()
        await deferLater(reactor, 0.05)
    assert clock.getDelayedCalls() == []
