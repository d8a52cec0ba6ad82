"""
The loopback server the socket benchmarks talk to, run in its own process
(``python -m bench.server MODE``) so that only the client's reactor is
measured. It prints its port on stdout, and exits when its stdin closes
(the parent went away) or after ``--lifetime`` seconds.

Modes:

``close``
    accept and close at once.
``handshake``
    read one line, answer ``OK``, close.
``hold``
    accept and keep the connection open until the client closes it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import selectors
import socket
import sys
import time

BACKLOG = 4096


def raiseFileLimit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE to ``wanted`` (hard limit too, if permitted)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(hard, wanted)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def serve(mode: str, lifetime: float) -> None:
    """Serve until stdin closes or ``lifetime`` seconds have passed."""
    raiseFileLimit(65536)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(BACKLOG)
    listener.setblocking(False)
    print(listener.getsockname()[1], flush=True)

    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "listen")
    selector.register(sys.stdin, selectors.EVENT_READ, "parent")
    buffers: dict[socket.socket, bytes] = {}
    deadline = time.monotonic() + lifetime

    def close(conn: socket.socket) -> None:
        selector.unregister(conn)
        buffers.pop(conn, None)
        conn.close()

    while time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1.0):
            if key.data == "parent":
                if not os.read(sys.stdin.fileno(), 4096):
                    return
            elif key.data == "listen":
                for _ in range(BACKLOG):  # bounded: at most one backlog a turn
                    try:
                        conn, _ = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:  # EMFILE and friends: try again later
                        break
                    if mode == "close":
                        conn.close()
                        continue
                    conn.setblocking(False)
                    buffers[conn] = b""
                    selector.register(conn, selectors.EVENT_READ, "conn")
            else:
                conn = key.fileobj  # type: ignore[assignment]
                assert isinstance(conn, socket.socket)
                try:
                    data = conn.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    close(conn)
                    continue
                if mode == "handshake":
                    received = buffers[conn] + data
                    if b"\n" in received:
                        with contextlib.suppress(OSError):
                            conn.send(b"OK\n")
                        close(conn)
                    else:
                        buffers[conn] = received[-4096:]


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m bench.server MODE [--lifetime SECONDS]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["close", "handshake", "hold"])
    parser.add_argument("--lifetime", type=float, default=1800.0)
    args = parser.parse_args(argv)
    serve(args.mode, args.lifetime)


if __name__ == "__main__":
    main()
