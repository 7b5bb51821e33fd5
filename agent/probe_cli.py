"""``pantau probe KIND ...``: run one probe by hand and print one JSON line per target.

The troubleshooting tool and the benchmark's driver. Each probe kind adds its subcommand with a
function ``add_KIND(kinds)`` listed in :data:`PROBE_COMMANDS`; heavy imports stay inside the
command so that ``pantau --help`` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import Callable
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

from pantau.agent.snmp_cli import add_snmp

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

ICMP_EPILOG = """\
Output: one JSON object per line and target, in the order given:
  {"target": "127.0.0.1", "address": "127.0.0.1", "sent": 3, "received": 3, "loss": 0.0,
   "rtt_min_ms": 0.03, "rtt_avg_ms": 0.04, "rtt_max_ms": 0.05, "rtt_stddev_ms": 0.01,
   "reason": "ok"}
RTTs are milliseconds (stddev: population), null without replies; loss is 0..1, null when nothing
was sent; reason is ok, timeout, unreachable, ttl_exceeded, dns (name not resolved) or error.
Exit status: 0 every target answered, 1 some did not, 2 bad arguments.
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


def add_icmp(kinds: Any) -> None:
    """``pantau probe icmp``: one sweep over the targets."""
    p = kinds.add_parser(
        "icmp",
        help="sweep targets with ICMP echo (like fping -C)",
        epilog=ICMP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("targets", nargs="*", metavar="TARGET", help="IPv4/IPv6 address or host name")
    p.add_argument(
        "--targets-file", "-f", type=Path, help="file with one target per line (# comments)"
    )
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
    p.set_defaults(func=_icmp)


#: The ``probe`` subcommands, one function per probe kind (others add theirs here).
PROBE_COMMANDS: tuple[Callable[[Any], None], ...] = (add_icmp, add_snmp)


def register(subparsers: Any) -> None:
    """Add ``pantau probe`` and its per-kind subcommands to the ``pantau`` command."""
    probe = subparsers.add_parser("probe", help="run one probe by hand; prints JSON lines")
    kinds = probe.add_subparsers(dest="kind", required=True, metavar="KIND")
    for add in PROBE_COMMANDS:
        add(kinds)


def _read_targets(args: argparse.Namespace) -> list[str]:
    targets = list(args.targets)
    if args.targets_file is not None:
        text = args.targets_file.read_text(encoding="utf-8")
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                targets.append(line)
    return targets


_RTT_STATS = ("min", "avg", "max", "stddev")


def _icmp_line(target: str, ip: str | None, stats: Any) -> str:
    """One JSON line, formatted by hand: json.dumps of 10,000 dicts cost as much CPU as the
    sweep's reading of 30,000 replies. Strings go through json's own C escaper."""
    quoted_ip = "null" if ip is None else encode_basestring(ip)
    if stats is None:
        sent, received, loss, rtt, reason = 0, 0, "null", None, "dns"
    else:
        sent, received, reason = stats.sent, stats.received, stats.reason
        loss = "null" if stats.loss is None else repr(stats.loss)
        rtt = stats.rtt_stats()
    ms = [f"{rtt[k] * 1000.0:.4f}" for k in _RTT_STATS] if rtt else ["null"] * 4
    return (
        f'{{"target": {encode_basestring(target)}, "address": {quoted_ip}, "sent": {sent}, '
        f'"received": {received}, "loss": {loss}, "rtt_min_ms": {ms[0]}, "rtt_avg_ms": {ms[1]}, '
        f'"rtt_max_ms": {ms[2]}, "rtt_stddev_ms": {ms[3]}, "reason": "{reason}"}}'
    )


def _icmp(args: argparse.Namespace) -> int:
    from pantau.agent.pinger import Pinger, resolve

    # A one-shot command: cyclic garbage collection passes over the targets' records would
    # cost CPU and free nothing before the process exits.
    gc.disable()

    try:
        targets = _read_targets(args)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"pantau probe icmp: --targets-file {args.targets_file}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not targets:
        print("pantau probe icmp: no targets; give TARGET... or --targets-file", file=sys.stderr)
        return EXIT_USAGE

    async def run() -> tuple[dict[str, str | None], dict[str, Any]]:
        pinger = Pinger(mode=args.socket, payload_size=args.payload_size)
        try:
            names = await resolve(targets, args.timeout)
            stats = await pinger.sweep(
                [ip for ip in names.values() if ip],
                count=args.count,
                timeout=args.timeout,
                rate=args.rate or None,
                period=args.period,
            )
        finally:
            pinger.close()
        return names, stats

    names, stats = asyncio.run(run())
    lines, failed = [], 0
    for target in dict.fromkeys(targets):
        ip = names[target]
        st = stats[ip] if ip else None
        failed += st is None or not st.received
        lines.append(_icmp_line(target, ip, st))
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_FAILURE if failed else EXIT_OK
