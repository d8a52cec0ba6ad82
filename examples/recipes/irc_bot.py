"""
Recipe: an IRC bot that reconnects (docs/recipes/irc.rst).

Twisted's own ``IRCClient``, with the changes a reconnecting bot needs:

* the connection counts as established at RPL_WELCOME (001,
  ``IRCClient.signedOn``), not when TCP connects;
* a KILL aimed at the bot (an operator, or a nick collision) and a server's
  ``ERROR :Closing Link: ... (KILLed ...)`` are a kick: the bot does not come
  straight back (two bots on one nick would kill each other for ever);
* a wrong server password (464 ERR_PASSWDMISMATCH) or a ban (465
  ERR_YOUREBANNEDCREEP) gives up instead of retrying for ever;
* any other loss (``ERROR :Closing Link: ... (Ping timeout)``, a dropped
  TCP connection) reconnects with backoff, and the bot joins its channels
  again.

    factory = BotFactory("recipebot", channels=["#twisted"], password="pw")
    reactor.connectTCP("irc.example.net", 6667, factory)

Tested by tests/test_recipes.py against an in-process fake IRC server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.words.protocols import irc

from reconnect_twisted import ReconnectingFactory

__all__ = ["Bot", "BotFactory"]


class Bot(irc.IRCClient):
    """The bot: answers ``!ping`` in its channels."""

    factory: BotFactory

    def connectionMade(self) -> None:
        self.nickname = self.factory.nickname
        self.password = self.factory.password
        self.welcomed: Deferred[None] = Deferred()  # the handshake, see below
        self._ended = False
        super().connectionMade()  # sends PASS, NICK and USER

    # -- the handshake ends at RPL_WELCOME -----------------------------------

    def signedOn(self) -> None:
        self.welcomed.callback(None)
        for channel in self.factory.channels:
            self.join(channel)

    def irc_ERR_PASSWDMISMATCH(self, prefix: str, params: list[str]) -> None:
        # (IRCClient's own handler raises IRCPasswordMismatch: only logged.)
        if self._firstEnd():
            reason = "464 bad server password"
            self.factory.rejected(reason, permanent=True, protocol=self)

    def irc_ERR_YOUREBANNEDCREEP(self, prefix: str, params: list[str]) -> None:
        if self._firstEnd():
            reason = f"465 banned: {params[-1]}"
            self.factory.rejected(reason, permanent=True, protocol=self)

    # -- kicks ----------------------------------------------------------------

    def irc_KILL(self, prefix: str, params: list[str]) -> None:
        if params and params[0] == self.nickname and self._firstEnd():
            # e.g. "KILL recipebot :irc.example.net (Nick collision)"
            self.factory.kicked(f"killed by {prefix}: {params[-1]}", protocol=self)

    def irc_ERROR(self, prefix: str, params: list[str]) -> None:
        # The server closes the link right after ERROR. Only a kill means
        # "do not come back"; a ping timeout or a server restart does not.
        message = params[-1] if params else ""
        if ("KILLed" in message or "Killed" in message) and self._firstEnd():
            self.factory.kicked(message, protocol=self)

    def _firstEnd(self) -> bool:
        """True the first time: of KILL, ERROR and 464, the first decides."""
        first, self._ended = not self._ended, True
        return first

    # -- the bot's business ---------------------------------------------------

    def privmsg(self, user: str, channel: str, message: str) -> None:
        if message.strip() == "!ping" and channel.startswith("#"):
            self.msg(channel, f"{user.split('!', 1)[0]}: pong")

    def _createHeartbeat(self) -> task.LoopingCall:
        # IRCClient's keepalive PING uses the global reactor; use the
        # factory's clock (a task.Clock in tests), as Twisted's tests do.
        heartbeat = super()._createHeartbeat()
        if self.factory.clock is not None:
            heartbeat.clock = self.factory.clock
        return heartbeat


class BotFactory(ReconnectingFactory):
    """Keeps one bot signed on (``reactor.connectTCP(host, port, factory)``)."""

    protocol = Bot

    def __init__(
        self,
        nickname: str,
        channels: Sequence[str] = (),
        password: str | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(**settings)
        self.nickname = nickname
        self.channels = list(channels)
        self.password = password

    def handshake(self, protocol: Bot) -> Deferred[None]:
        # Registration (PASS/NICK/USER) went out in connectionMade; the
        # connection is established once the server welcomes us.
        return protocol.welcomed
