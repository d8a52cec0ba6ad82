"""
A live status page with controls, as a ``twisted.web`` resource that the
application mounts in its own site::

    from reconnect_twisted.web import StatusResource

    status = StatusResource(token=None)         # a token is generated, logged once
    status.register(factory, name="quotes")     # name: defaults to the target
    root.putChild(b"status", status)            # serve it on 127.0.0.1 only

or, to listen on its own port: ``statusService("tcp:8080:interface=127.0.0.1",
{"quotes": factory})``.

Below the resource:

``/``
    HTML: one row per factory (name, target, state, attempt, next attempt
    in N s, last failure, since), kept current by server-sent events; the
    buttons *Reconnect now*, *Give up* and *Resume* appear once the token is
    entered (or given in the address's fragment: ``#token=...``).
``/events``
    ``text/event-stream``: a ``status`` event with the JSON of a factory on
    every change of its status.
``/status.json``
    The same JSON for every factory.
``/metrics``
    Prometheus text format, when ``prometheus_client`` is installed.
``/control``
    POST only: ``id`` and ``action`` (``reconnect``, ``giveup``, ``resume``)
    with the token (header ``X-Status-Token`` or field ``token``) and the
    CSRF value (header ``X-CSRF-Token`` or field ``csrf``, equal to the
    page's ``rt_csrf`` cookie); a request whose ``Origin`` is not this site
    is refused. Every control used, or refused, is logged with the client's
    address and user agent.
"""

from __future__ import annotations

import hmac
import html
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast
from urllib.parse import urlsplit

from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site
from zope.interface import implementer

from ._describe import describeFailure, targetOf
from ._status import ConnectionState, ConnectionStatus
from ._validate import checkClock, checkWatched, peerText

__all__ = ["StatusResource", "statusService"]

_log = Logger(namespace="reconnect_twisted.web")

_ACTIONS = ("reconnect", "giveup", "resume")
_CSRF_COOKIE = b"rt_csrf"
_KEEPALIVE = 15.0


class _Entry:
    """One registered factory."""

    __slots__ = ("factory", "givenName", "key", "unobserve")

    def __init__(self, key: str, factory: Any, name: str | None) -> None:
        self.key = key
        self.factory = factory
        self.givenName = name
        self.unobserve: Callable[[], None] = lambda: None

    @property
    def name(self) -> str:
        if self.givenName is not None:
            return self.givenName
        return targetOf(self.factory) or f"{type(self.factory).__name__} {self.key}"


class StatusResource(Resource):
    """
    The status page of the registered factories, with token-protected
    controls.

    :param factories: factories to show at once: a ``{name: factory}``
        mapping or factories (named by their target); more with
        :meth:`register`.
    :param token: the control token; ``None`` generates one and logs it
        once (at info level, namespace ``reconnect_twisted.web``). Without
        it the page is read-only.
    :param clock: ``IReactorTime`` for "now" and the event stream's
        keep-alive (default: the global reactor).
    :param metrics: ``None``: serve ``/metrics`` from a private registry
        watching the registered factories when ``prometheus_client`` is
        installed; ``False``: no ``/metrics``; a ``CollectorRegistry``: serve
        that one (the application watches its factories itself).
    """

    isLeaf = True

    def __init__(
        self,
        factories: Mapping[str, Any] | Iterable[Any] = (),
        *,
        token: str | None = None,
        clock: IReactorTime | None = None,
        metrics: Any = None,
    ) -> None:
        Resource.__init__(self)
        if token is None:
            token = secrets.token_urlsafe(24)
            _log.info("Status page control token (shown once): {token}", token=token)
        elif not isinstance(token, str) or len(token) < 16:
            raise ValueError("token must be a str of at least 16 characters")
        self._token = token.encode("utf-8")
        self._clock = checkClock("clock", clock, "seconds", "callLater")
        if metrics is not None and metrics is not False and not callable(
            getattr(metrics, "register", None)
        ):
            raise TypeError(
                "metrics must be None, False or a prometheus_client "
                f"CollectorRegistry, not {type(metrics)!r}"
            )
        if isinstance(factories, Mapping) and not all(
            isinstance(key, str) for key in factories
        ):
            raise TypeError("factories: the names of a mapping must be str")
        self._entries: dict[str, _Entry] = {}
        self._count = 0
        self._streams: list[Request] = []
        self._keepAlive: Any = None
        self._registry: Any = None
        self._metrics: Any = None
        if metrics is None:
            try:
                from prometheus_client import CollectorRegistry

                from .metrics import ReconnectMetrics
            except ImportError:
                pass
            else:
                self._registry = CollectorRegistry()
                self._metrics = ReconnectMetrics(self._registry, clock=clock)
        elif metrics is not False:
            self._registry = metrics
        if isinstance(factories, Mapping):
            for name, factory in factories.items():
                self.register(factory, name)
        else:
            for factory in factories:
                self.register(factory)

    # -- registration ------------------------------------------------------

    def register(self, factory: Any, name: str | None = None) -> Callable[[], None]:
        """
        Show ``factory`` (a :class:`~reconnect_twisted.ReconnectingFactory`)
        under ``name`` (default: its target). Returns a callable that removes
        it.
        """
        checkWatched(factory, name)
        self._count += 1
        entry = _Entry(str(self._count), factory, name)
        self._entries[entry.key] = entry
        unobserve = factory.addStatusObserver(
            lambda status: self._changed(entry, status)
        )
        unwatch = (
            self._metrics.watch(factory, name) if self._metrics is not None else None
        )

        def unregister() -> None:
            unobserve()
            if unwatch is not None:
                unwatch()
            self._entries.pop(entry.key, None)

        entry.unobserve = unregister
        return unregister

    def _now(self) -> float:
        clock = self._clock
        if clock is None:
            from twisted.internet import reactor

            clock = cast(IReactorTime, reactor)
        return float(clock.seconds())

    def describe(
        self, entry: _Entry, status: ConnectionStatus | None = None
    ) -> dict[str, Any]:
        """The JSON of one factory (``status``: the one just delivered)."""
        if status is None:
            status = entry.factory.status
        return {
            "id": entry.key,
            "name": entry.name,
            "target": targetOf(entry.factory),
            "state": status.state.value,
            "attempt": status.attempt,
            "nextAttemptAt": status.nextAttemptAt,
            "since": status.since,
            "lastFailure": describeFailure(status.lastFailure),
            "stopReason": None
            if status.stopReason is None
            else peerText(status.stopReason),
            "networkUp": status.networkUp,
        }

    def snapshot(self) -> dict[str, Any]:
        """``{"now": ..., "factories": [...]}``: what ``/status.json`` serves."""
        return {
            "now": self._now(),
            "factories": [self.describe(entry) for entry in self._entries.values()],
        }

    # -- live updates ------------------------------------------------------

    def _changed(self, entry: _Entry, status: ConnectionStatus) -> None:
        if not self._streams:
            return
        data = json.dumps({"now": self._now(), "factory": self.describe(entry, status)})
        message = f"event: status\ndata: {data}\n\n".encode()
        for request in list(self._streams):
            request.write(message)

    def _openStream(self, request: Request) -> int:
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"cache-control", b"no-cache")
        request.setHeader(b"x-accel-buffering", b"no")
        data = json.dumps(self.snapshot())
        request.write(f"retry: 2000\nevent: snapshot\ndata: {data}\n\n".encode())
        self._streams.append(request)
        # Back-pressure: a reader that does not keep up (the transport's
        # buffer is full) loses its stream rather than the process buffering
        # every event for it; its EventSource reconnects for a fresh snapshot.
        if isinstance(request, http.Request):  # (a test's DummyRequest has none)
            request.registerProducer(_SlowReader(self, request), True)

        def closed(_: object) -> None:
            _unregister(request)
            if request in self._streams:
                self._streams.remove(request)
            if not self._streams and self._keepAlive is not None:
                if self._keepAlive.active():
                    self._keepAlive.cancel()
                self._keepAlive = None

        request.notifyFinish().addBoth(closed)
        self._scheduleKeepAlive()
        return NOT_DONE_YET

    def _dropStream(self, request: Request) -> None:
        """End ``request``'s stream at once: its reader does not read."""
        if request not in self._streams:
            return
        self._streams.remove(request)
        _unregister(request)
        _log.warn("Status page: an /events reader does not keep up; dropping it")
        transport = getattr(getattr(request, "channel", None), "transport", None)
        abort = getattr(transport, "abortConnection", None)
        if abort is not None:
            abort()
        else:
            request.loseConnection()

    def _scheduleKeepAlive(self) -> None:
        if self._keepAlive is not None and self._keepAlive.active():
            return
        clock = self._clock
        if clock is None:
            from twisted.internet import reactor

            clock = cast(IReactorTime, reactor)
        self._keepAlive = clock.callLater(_KEEPALIVE, self._sendKeepAlive)

    def _sendKeepAlive(self) -> None:
        self._keepAlive = None
        for request in list(self._streams):
            request.write(b": keep-alive\n\n")
        if self._streams:
            self._scheduleKeepAlive()

    def closeStreams(self) -> None:
        """End every open event stream (e.g. before the site stops)."""
        for request in list(self._streams):
            request.finish()

    # -- rendering ---------------------------------------------------------

    def render(self, request: Request) -> bytes | int:
        """Dispatch on the path below the resource and the method."""
        path = [segment for segment in request.postpath or () if segment]
        child = path[0] if len(path) == 1 else (b"" if not path else None)
        method = request.method
        request.setHeader(b"x-content-type-options", b"nosniff")
        request.setHeader(b"referrer-policy", b"no-referrer")
        if child == b"control":
            if method != b"POST":
                request.setHeader(b"allow", b"POST")
                return self._error(request, 405, "controls are POST only")
            return self._control(request)
        if method not in (b"GET", b"HEAD"):
            request.setHeader(b"allow", b"GET, HEAD")
            return self._error(request, 405, "method not allowed")
        if child == b"":
            if not request.path.endswith(b"/"):
                request.redirect(request.path + b"/")
                return b""
            return self._page(request)
        if child == b"events":
            return self._openStream(request)
        if child == b"status.json":
            request.setHeader(b"content-type", b"application/json")
            request.setHeader(b"cache-control", b"no-store")
            return json.dumps(self.snapshot()).encode()
        if child == b"metrics" and self._registry is not None:
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode())
            return bytes(generate_latest(self._registry))
        return self._error(request, 404, "no such page")

    def _error(self, request: Request, code: int, message: str) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"application/json")
        return json.dumps({"ok": False, "error": message}).encode()

    def _csrfValue(self, request: Request) -> str:
        value = request.getCookie(_CSRF_COOKIE)
        if value and len(value) >= 16:
            return str(value.decode("ascii", "replace"))
        fresh = secrets.token_urlsafe(18)
        request.addCookie(
            _CSRF_COOKIE, fresh.encode(), path=b"/", httpOnly=True, sameSite="strict"
        )
        return fresh

    def _page(self, request: Request) -> bytes:
        csrf = self._csrfValue(request)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(
            b"content-security-policy",
            b"default-src 'none'; script-src 'self' 'unsafe-inline'; "
            b"style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; "
            b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )
        request.setHeader(b"x-frame-options", b"DENY")
        snapshot = self.snapshot()
        rows = "\n".join(_row(item, snapshot["now"]) for item in snapshot["factories"])
        return (
            _PAGE.replace("{{rows}}", rows)
            .replace("{{csrf}}", html.escape(csrf, quote=True))
            .replace("{{metrics}}", "" if self._registry is None else _METRICS_LINK)
            .encode("utf-8")
        )

    # -- controls ----------------------------------------------------------

    def _who(self, request: Request) -> dict[str, str]:
        address = request.getClientAddress()
        host, port = getattr(address, "host", None), getattr(address, "port", None)
        where = f"{host}:{port}" if host is not None else str(address)
        agent = request.getHeader(b"user-agent") or ""
        return {"where": where, "who": peerText(agent, 120) or "unknown agent"}

    def _field(self, request: Request, header: bytes, field: bytes) -> bytes:
        value = request.getHeader(header)
        if value is not None:
            return value.encode("utf-8", "replace") if isinstance(value, str) else value
        values = (request.args or {}).get(field) or [b""]
        return bytes(values[0])

    def _control(self, request: Request) -> bytes:
        who = self._who(request)
        token = self._field(request, b"x-status-token", b"token")
        csrf = self._field(request, b"x-csrf-token", b"csrf")
        cookie = request.getCookie(_CSRF_COOKIE) or b""
        origin = request.getHeader(b"origin")
        action = self._field(request, b"x-status-action", b"action").decode(
            "ascii", "replace"
        )
        key = self._field(request, b"x-status-id", b"id").decode("ascii", "replace")
        refusal: str | None = None
        if not hmac.compare_digest(token, self._token):
            refusal, code = "a valid token is required", 403
        elif not cookie or not hmac.compare_digest(csrf, cookie):
            refusal, code = "CSRF check failed (reload the page)", 403
        elif origin is not None and not _sameOrigin(request, origin):
            refusal, code = "cross-origin request refused", 403
        elif action not in _ACTIONS:
            refusal, code = f"unknown action {peerText(action, 40)!r}", 400
        elif key not in self._entries:
            refusal, code = "no such connection", 404
        elif (
            action == "resume"
            and self._entries[key].factory.status.state is not ConnectionState.STOPPED
        ):
            refusal, code = "not stopped: nothing to resume", 409
        if refusal is not None:
            _log.warn(
                "Status page control refused ({refusal}): {action} on {id} by "
                "{who} from {where}",
                refusal=refusal,
                action=peerText(action, 40),
                id=peerText(key, 40),
                **who,
            )
            return self._error(request, code, refusal)
        entry = self._entries[key]
        _log.warn(
            "Status page control: {action} on {name} by {who} from {where}",
            action=action,
            name=entry.name,
            **who,
        )
        factory = entry.factory
        if action == "giveup":
            factory.giveUp("gave up: from the status page").addErrback(_ignore)
        else:
            factory.reconnectNow().addErrback(_ignore)
        request.setHeader(b"content-type", b"application/json")
        return json.dumps({"ok": True, "factory": self.describe(entry)}).encode()


def _ignore(failure: Failure) -> None:
    """A button does not wait for the connection: its failure is not an error."""


def _sameOrigin(request: Request, origin: bytes | str) -> bool:
    if isinstance(origin, bytes):
        origin = origin.decode("ascii", "replace")
    host: Any = request.getHeader(b"host")
    if host is None:
        return False
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == host


def _seconds(value: float | None, now: float) -> str:
    if value is None:
        return ""
    return f"in {max(0.0, value - now):.1f} s"


def _row(item: dict[str, Any], now: float) -> str:
    """One table row, every value escaped (names and failures may come from peers)."""

    def cell(field: str, text: Any) -> str:
        value = "" if text is None else str(text)
        return f'<td data-field="{field}">{html.escape(value)}</td>'

    ago = f"{max(0.0, now - item['since']):.1f} s ago"
    failure = item["stopReason"] or item["lastFailure"]
    return (
        f'<tr data-id="{html.escape(item["id"], quote=True)}" '
        f'data-state="{html.escape(item["state"], quote=True)}">'
        + cell("name", item["name"])
        + cell("target", item["target"])
        + cell("state", item["state"])
        + cell("attempt", item["attempt"])
        + cell("next", _seconds(item["nextAttemptAt"], now))
        + cell("failure", failure)
        + cell("since", ago)
        + '<td class="controls">'
        '<button data-action="reconnect">Reconnect now</button> '
        '<button data-action="giveup">Give up</button> '
        '<button data-action="resume">Resume</button></td></tr>'
    )


def statusService(
    description: str,
    factories: Mapping[str, Any] | Iterable[Any] = (),
    *,
    token: str | None = None,
    reactor: Any = None,
) -> Any:
    """
    A service listening on ``description`` (a server endpoint description:
    use ``interface=127.0.0.1``) that serves a :class:`StatusResource` of
    ``factories`` at ``/``. Its ``.resource`` attribute is the resource.
    """
    from twisted.application.strports import service

    resource = StatusResource(factories, token=token, clock=reactor)
    listening = service(description, Site(resource), reactor=reactor)
    cast(Any, listening).resource = resource
    return listening


def _unregister(request: Request) -> None:
    if isinstance(request, http.Request) and request.producer is not None:
        try:
            request.unregisterProducer()
        except Exception:  # (the channel is gone already)
            request.producer = None


@implementer(IPushProducer)
class _SlowReader:
    """
    Registered on each event stream: when the transport's buffer is full
    (the reader stopped reading), the stream is dropped.
    """

    def __init__(self, resource: StatusResource, request: Request) -> None:
        self.resource = resource
        self.request = request

    def pauseProducing(self) -> None:
        """The reader does not keep up: drop its stream."""
        self.resource._dropStream(self.request)

    def resumeProducing(self) -> None:
        """Nothing to resume: events are written as they happen."""

    def stopProducing(self) -> None:
        """The connection is going away (``notifyFinish`` cleans up)."""


_METRICS_LINK = ' · <a href="metrics">metrics</a>'

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Connections — reconnect_twisted</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #ddd; }
th { background: #f4f4f4; }
td[data-field=state] { font-weight: 600; }
tr[data-state=connected] td[data-field=state] { color: #137333; }
tr[data-state=waiting] td[data-field=state],
tr[data-state=connecting] td[data-field=state],
tr[data-state=handshaking] td[data-field=state] { color: #b06000; }
tr[data-state=stopped] td[data-field=state],
tr[data-state=offline] td[data-field=state] { color: #c5221f; }
td[data-field=failure] { font-family: monospace; max-width: 30em;
  overflow-wrap: anywhere; }
.controls, td[data-field=since], td[data-field=next] { white-space: nowrap; }
.controls button { display: none; }
body.controls-on tr:not([data-state=stopped]) button[data-action=reconnect],
body.controls-on tr:not([data-state=stopped]) button[data-action=giveup],
body.controls-on tr[data-state=stopped] button[data-action=resume] {
  display: inline; }
#bar { margin: .8em 0; } #live { color: #888; } #message { margin-left: 1em; }
</style></head>
<body>
<h1>Connections</h1>
<div id="bar"><span id="live">connecting to the live feed…</span>
· <a href="status.json">JSON</a>{{metrics}}
· <label>Control token <input id="token" type="password" size="28"
autocomplete="off"></label> <span id="message"></span></div>
<table><thead><tr><th>Name</th><th>Target</th><th>State</th><th>Attempt</th>
<th>Next attempt</th><th>Last failure</th><th>Since</th><th></th></tr></thead>
<tbody id="rows">
{{rows}}
</tbody></table>
<input type="hidden" id="csrf" value="{{csrf}}">
<script>
"use strict";
const rows = document.getElementById("rows");
const tokenInput = document.getElementById("token");
const message = document.getElementById("message");
let offset = 0;  // server clock - browser clock, seconds
const data = new Map();
function now() { return Date.now() / 1000 + offset; }
function setText(tr, field, value) {
  tr.querySelector('[data-field="' + field + '"]').textContent =
    value === null || value === undefined ? "" : String(value);
}
function row(item) {
  let tr = rows.querySelector('tr[data-id="' + CSS.escape(item.id) + '"]');
  if (!tr) {
    tr = document.createElement("tr");
    tr.dataset.id = item.id;
    for (const f of ["name", "target", "state", "attempt", "next", "failure",
                     "since"]) {
      const td = document.createElement("td"); td.dataset.field = f;
      tr.appendChild(td);
    }
    const td = document.createElement("td"); td.className = "controls";
    for (const [action, label] of [["reconnect", "Reconnect now"],
        ["giveup", "Give up"], ["resume", "Resume"]]) {
      const b = document.createElement("button");
      b.dataset.action = action; b.textContent = label;
      td.appendChild(b); td.appendChild(document.createTextNode(" "));
    }
    tr.appendChild(td); rows.appendChild(tr);
  }
  return tr;
}
function paint(item) {
  const tr = row(item);
  tr.dataset.state = item.state;
  setText(tr, "name", item.name);
  setText(tr, "target", item.target);
  setText(tr, "state", item.state);
  setText(tr, "attempt", item.attempt);
  setText(tr, "failure", item.stopReason || item.lastFailure);
  tick();
}
function tick() {
  const t = now();
  for (const item of data.values()) {
    const tr = row(item);
    setText(tr, "next", item.nextAttemptAt === null ? "" :
      "in " + Math.max(0, item.nextAttemptAt - t).toFixed(1) + " s");
    setText(tr, "since", Math.max(0, t - item.since).toFixed(1) + " s ago");
  }
}
function update(payload) {
  offset = payload.now - Date.now() / 1000;
  const items = payload.factories || [payload.factory];
  for (const item of items) { data.set(item.id, item); paint(item); }
}
function connect() {
  const source = new EventSource("events");
  const live = document.getElementById("live");
  source.addEventListener("snapshot", e => {
    live.textContent = "live"; update(JSON.parse(e.data)); });
  source.addEventListener("status", e => update(JSON.parse(e.data)));
  source.onerror = () => { live.textContent = "reconnecting to the live feed…"; };
}
function controlsOn() {
  document.body.classList.toggle("controls-on", tokenInput.value.length > 0);
}
tokenInput.addEventListener("input", () => {
  sessionStorage.setItem("rt-token", tokenInput.value); controlsOn(); });
const fromFragment = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromFragment) {
  tokenInput.value = fromFragment;
  sessionStorage.setItem("rt-token", fromFragment);
  history.replaceState(null, "", location.pathname + location.search);
} else {
  tokenInput.value = sessionStorage.getItem("rt-token") || "";
}
controlsOn();
rows.addEventListener("click", async e => {
  const button = e.target.closest("button[data-action]");
  if (!button) return;
  const tr = button.closest("tr");
  const body = new URLSearchParams({action: button.dataset.action,
    id: tr.dataset.id, csrf: document.getElementById("csrf").value});
  const response = await fetch("control", {method: "POST", body,
    headers: {"X-Status-Token": tokenInput.value}, credentials: "same-origin"});
  const answer = await response.json().catch(() => ({error: response.status}));
  message.textContent = answer.ok ? button.textContent + ": done"
    : "refused: " + answer.error;
});
setInterval(tick, 500);
connect();
</script>
</body></html>
"""
