"""
The chat example's server: ``python examples/chat/server.py --port 8765``.

A thin wrapper around ``python -m reconnect_twisted._demo.chat server``.
"""

from __future__ import annotations

import sys

from reconnect_twisted._demo.chat import main

if __name__ == "__main__":
    sys.exit(main(["server", *sys.argv[1:]]))
