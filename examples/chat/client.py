"""
The chat example's terminal client:
``python examples/chat/client.py --port 8765 --user alice --room lobby``.

A thin wrapper around ``python -m reconnect_twisted._demo.chat client``.
"""

from __future__ import annotations

import sys

from reconnect_twisted._demo.chat import main

if __name__ == "__main__":
    sys.exit(main(["client", *sys.argv[1:]]))
