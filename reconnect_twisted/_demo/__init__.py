"""
The demo behind ``python -m reconnect_twisted demo`` and the chat example
(``python -m reconnect_twisted._demo.chat``).

Everything here is an example of *using* the library, not part of its API:
:mod:`~reconnect_twisted._demo.server` is a tiny line-based login (and chat)
server, :mod:`~reconnect_twisted._demo.client` a client built on
:class:`~reconnect_twisted.ReconnectingFactory`,
:mod:`~reconnect_twisted._demo.scenarios` plays the scenarios on the real
reactor and :mod:`~reconnect_twisted._demo.chat` is the terminal chat.
Scenario H's network (a private network namespace, or the manual monitor)
is :mod:`~reconnect_twisted._demo.network`, scenario I's dependency chain
of relays :mod:`~reconnect_twisted._demo.chain`.
"""
