"""``pantau probe icmp``: sweep targets once with ICMP echo and print one JSON line per target.

The targets are read and resolved here, shared between forked workers (:mod:`.workers`) and
printed in the order given (:mod:`.output`); those modules, the sockets and asyncio are imported
by the command itself, so that ``pantau --help`` stays fast and a sweep of IP literals starts
without an event loop.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import threading

TYPE_CHECKING = False  # typing is not imported at run time (see pantau.agent.icmp.rounds)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
#: The most processes ``--workers`` may ask for.
MAX_WORKERS = 64

log = logging.getLogger(__name__)

ICMP_EPILOG = """\
Output: one JSON object per line and target, in the order given:
  {"target": "127.0.0.1", "address": "127.0.0.1", "sent": 3, "received": 3, "loss": 0.0,
   "rtt_min_ms": 0.03, "rtt_avg_ms": 0.04, "rtt_max_ms": 0.05, "rtt_stddev_ms": 0.01,
   "reason": "ok"}
RTTs are milliseconds (stddev: population), null without replies; loss is 0..1, null when nothing
was sent; reason is ok, timeout, unreachable, ttl_exceeded, dns (name not resolved) or error.
Exit status: 0 every target answered, 1 some did not (or an error, said on stderr), 2 bad
arguments.

Workers: a large sweep is split between forked processes, each with its own sockets and a
contiguous slice of the targets (--rate is shared out between them); the output is the same.
--workers auto uses one per usable CPU, at most one per 2,000 targets and, with --rate, one per
25,000 packets per second.
"""


def _positive(kind: type[int] | type[float], allow_zero: bool = False) -> Callable[[str], Any]:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"{text!r} must be {'>= 0' if allow_zero else '> 0'}")
        return value

    return parse


def _workers(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not auto or a number") from None
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{text!r} must be auto or 1..{MAX_WORKERS}")
    return value


def add_icmp(kinds: Any) -> None:
    """``pantau probe icmp``: one sweep over the targets."""
    p = kinds.add_parser(
        "icmp",
        help="sweep targets with ICMP echo (like fping -C)",
        epilog=ICMP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("targets", nargs="*", metavar="TARGET", help="IPv4/IPv6 address or host name")
    p.add_argument("--targets-file", "-f", help="file with one target per line (# comments)")
    p.add_argument("--count", "-c", type=_positive(int), default=3, help="echo requests per target")
    p.add_argument(
        "--timeout",
        "-t",
        type=_positive(float),
        default=1.0,
        help="seconds to wait for each reply (default 1)",
    )
    p.add_argument(
        "--rate",
        "-r",
        type=_positive(float, True),
        default=10000.0,
        help="packets per second over all targets; 0 = as fast as possible",
    )
    p.add_argument(
        "--period",
        "-p",
        type=_positive(float, True),
        default=0.0,
        help="seconds at least between two echoes to one target",
    )
    p.add_argument(
        "--socket",
        choices=["auto", "raw", "dgram"],
        default="auto",
        help="raw (needs CAP_NET_RAW), dgram (net.ipv4.ping_group_range) or auto",
    )
    p.add_argument(
        "--payload-size",
        type=int,
        default=56,
        choices=range(8, 1473),
        metavar="BYTES",
        help="echo data bytes (8..1472, default 56)",
    )
    p.add_argument(
        "--workers",
        type=_workers,
        default="auto",
        metavar="N",
        help=f"processes sharing the sweep: auto (default) or 1..{MAX_WORKERS}",
    )
    p.set_defaults(func=_icmp)


def _read_targets(args: argparse.Namespace) -> list[str]:
    """The targets given, each once, in order (a file is read line by line, not whole)."""
    targets = dict.fromkeys(args.targets)
    if args.targets_file is not None:
        with open(args.targets_file, encoding="utf-8") as fh:
            for line in fh:
                line = line.split("#", 1)[0].strip()
                if line:
                    targets[line] = None
    return list(targets)


def _icmp(args: argparse.Namespace) -> int:
    from pantau.agent.icmp import wire
    from pantau.agent.icmp.output import print_results
    from pantau.agent.icmp.pinger import Pinger
    from pantau.agent.icmp.workers import run_workers, worker_count

    # A one-shot command: cyclic garbage collection passes over the targets' strings would
    # cost CPU and free nothing before the process exits (forked workers inherit this).
    gc.disable()

    try:
        targets = _read_targets(args)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"pantau probe icmp: --targets-file {args.targets_file}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not targets:
        print("pantau probe icmp: no targets; give TARGET... or --targets-file", file=sys.stderr)
        return EXIT_USAGE

    # An IP literal is its own address; only names are looked up, and kept in a dict.
    names: dict[str, str | None] = {}
    for target in targets:
        try:
            wire.canonical(target)
        except ValueError:
            names[target] = None
    if names:  # only then asyncio: a sweep of IP literals starts faster and smaller without it
        import asyncio

        from pantau.agent.icmp.pinger import resolve

        # asyncio.run shuts its default executor (the name lookups' threads) down: none is left
        # running when the workers are forked.
        names = asyncio.run(resolve(list(names), args.timeout))
        # The addresses in the order of the targets' first use of them.
        ips = list(dict.fromkeys(ip for t in targets if (ip := names.get(t, t))))
    else:
        ips = targets  # the common case: every target an IP literal, each given once
    n = worker_count(args.workers, len(ips), args.rate)
    if n > 1 and threading.active_count() > 1:  # only when called from a threaded program
        log.warning("icmp sweep in one process: other threads are running, fork is unsafe")
        n = 1
    # Distinct identifiers, so that no worker's kernel filter lets another's replies in.
    idents: dict[int, None] = {}
    while len(idents) < n:
        idents[int.from_bytes(os.urandom(2), "big") or 1] = None
    pingers = [
        Pinger(mode=args.socket, payload_size=args.payload_size, ident=ident) for ident in idents
    ]
    # The parent's sockets open before any fork: a missing privilege is said once, here.
    families = {_family(ip) for ip in ips}
    try:
        pingers[0].open(families)
    except BaseException:
        pingers[0].close()
        raise
    slices = [ips[k * len(ips) // n : (k + 1) * len(ips) // n] for k in range(n)]
    log.info("icmp sweep addresses=%d workers=%d", len(ips), n)
    results = run_workers(pingers, slices, args)
    if isinstance(results, str):
        print(results, file=sys.stderr, end="")
        return EXIT_FAILURE
    return EXIT_FAILURE if print_results(targets, names, results) else EXIT_OK


def _family(ip: str) -> int:
    """The address family of an IP literal (its socket's)."""
    import _socket  # see pantau.agent.icmp.sockets

    return _socket.AF_INET6 if ":" in ip else _socket.AF_INET
