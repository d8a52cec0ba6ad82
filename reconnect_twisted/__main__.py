"""
``python -m reconnect_twisted`` (also installed as ``reconnect-twisted``).

Subcommands:

* ``demo``: play the reconnection scenarios against an embedded loopback
  server and print a live timeline and a summary (exit 0 when every scenario
  ended as described).
* ``simulate``: plan a fleet: drop N simulated clients at once against a
  server that accepts R connections per second and report how long until
  they are back and what load the server sees (optionally as a plot).
* ``netwatch``: watch the network monitor's view of the network.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number: {value!r}")
    return number


def _port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0..65535: {value!r}")
    return number


def _parser() -> argparse.ArgumentParser:
    from ._demo.run import describeScenarios

    parser = argparse.ArgumentParser(
        prog="python -m reconnect_twisted",
        description="reconnect_twisted: connections that come back by themselves.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="play the reconnection scenarios against a loopback server",
        description=(
            "Play the reconnection scenarios on the real reactor against an "
            "embedded loopback server, with a live timeline and a summary. "
            "Exits 0 when every scenario ended as described."
        ),
        epilog="scenarios:\n" + describeScenarios(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--speed",
        type=_positive,
        default=1.0,
        metavar="X",
        help="time scale (2 plays twice as fast; default 1: about 30 seconds)",
    )
    demo.add_argument(
        "--scenario",
        action="append",
        metavar="A",
        help="play only these scenarios (repeatable, or a comma list: A,C,F)",
    )
    demo.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per event instead of the timeline",
    )
    demo.add_argument(
        "--timeout",
        type=_positive,
        metavar="SECONDS",
        help="watchdog: give up (exit 3) after this long (default: from --speed)",
    )
    demo.add_argument(
        "--status-port",
        type=_port,
        metavar="PORT",
        help="also serve the live status page (with its Reconnect now / Give "
        "up / Resume buttons) on 127.0.0.1:PORT (0: any free port); the "
        "address and control token are printed once",
    )
    demo.add_argument(
        "--network-monitor",
        choices=("auto", "manual"),
        default="auto",
        help="scenario H's monitor: auto (netlink in a private network "
        "namespace when root, else manual; default) or manual",
    )
    demo.add_argument(
        "--verbose",
        action="store_true",
        help="also print the library's log events on stderr",
    )
    simulate = commands.add_parser(
        "simulate",
        help="plan a fleet: how a herd of clients reconnects after an outage",
        description=(
            "Drop --clients simulated clients at t=0 against a server that "
            "accepts --accept-rate connections per second, and report when "
            "50 %, 99 % and 100 % are connected again, the attempts and the "
            "peak attempts per second the server sees. The clients are the "
            "library's real classes on a simulated clock: 10,000 clients take "
            "about 15 s per configuration. Several --backoff/--preset "
            "configurations are simulated side by side."
        ),
    )
    from ._simulate import addArguments

    addArguments(simulate)
    simulate.set_defaults(subparser=simulate)  # its errors name the subcommand
    commands.add_parser(
        "netwatch",
        help="watch the network monitor (see: netwatch --help)",
        add_help=False,
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """
    Run the command line ``argv`` (``sys.argv[1:]`` by default) and return
    the process exit status.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] == "netwatch":
        from .network._cli import netwatch

        return netwatch(args[1:])
    parser = _parser()
    options = parser.parse_args(args)
    if options.command == "simulate":
        from ._simulate import runCommand

        return runCommand(options, options.subparser, quiet=argv is None)
    if options.command != "demo":
        parser.print_help()
        return 2
    from ._demo.run import parseScenarios, runDemo

    try:
        keys = parseScenarios(options.scenario)
    except ValueError as e:
        parser.error(str(e))
    return runDemo(
        keys,
        speed=options.speed,
        asJSON=options.json,
        timeout=options.timeout,
        verbose=options.verbose,
        statusPort=options.status_port,
        manualNetwork=options.network_monitor == "manual",
    )


if __name__ == "__main__":
    sys.exit(main())
