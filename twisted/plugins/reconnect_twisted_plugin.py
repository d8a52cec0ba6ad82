"""
twistd plugin: ``twistd -n reconnect-demo --connect tcp:host=...:port=...``.

Imports nothing of reconnect_twisted until the plugin is used, so that
plugin discovery stays cheap.
"""

from twisted.application.service import ServiceMaker

reconnectDemo = ServiceMaker(
    "reconnect-demo",
    "reconnect_twisted._twistd",
    "A reconnecting line-protocol client (reconnect_twisted demo) to an endpoint.",
    "reconnect-demo",
)
