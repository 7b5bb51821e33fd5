"""``pantau probe KIND ...``: run one probe by hand and print one JSON line per target.

The troubleshooting tool and the benchmark's driver. Each probe kind adds its subcommand with a
function ``add_KIND(kinds)`` listed in :data:`PROBE_COMMANDS`; heavy imports stay inside the
command so that ``pantau --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator

from pantau.agent.snmp.cli import add_snmp

try:  # json's own C string escaper, without the json package's decoder and scanner imports
    from _json import encode_basestring
except ImportError:  # pragma: no cover - a Python built without the _json accelerator
    from json.encoder import encode_basestring

TYPE_CHECKING = False  # typing is not imported at run time (see pantau.agent.icmp.rounds)
if TYPE_CHECKING:
    from typing import Any

    from pantau.agent.icmp.pinger import Pinger
    from pantau.agent.icmp.rounds import TargetStats

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

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


MAX_WORKERS = 64
_TARGETS_PER_WORKER = 2000  # below ~2 x this, a fork costs more than the half sweep it saves
_PPS_PER_WORKER = 25_000.0  # a paced sweep slower than this keeps one process busy enough
_WRITE_BATCH = 500  # output lines per write


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


#: The ``probe`` subcommands, one function per probe kind (others add theirs here).
PROBE_COMMANDS: tuple[Callable[[Any], None], ...] = (add_icmp, add_snmp)


def register(subparsers: Any) -> None:
    """Add ``pantau probe`` and its per-kind subcommands to the ``pantau`` command."""
    probe = subparsers.add_parser("probe", help="run one probe by hand; prints JSON lines")
    kinds = probe.add_subparsers(dest="kind", required=True, metavar="KIND")
    for add in PROBE_COMMANDS:
        add(kinds)


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


_RTT_STATS = ("min", "avg", "max", "stddev")


_NO_ADDRESS = "0 0 null null null null null dns"  # a name that did not resolve


def _icmp_result(stats: TargetStats) -> str:
    """One target's result as a short line: sent, received, loss, RTT min/avg/max/stddev (ms)
    and reason, space-separated, ``null`` for none. A sweep worker sends these up its pipe and
    the parent keeps them until it prints: a fifth of the JSON line's memory."""
    loss = "null" if stats.loss is None else repr(stats.loss)
    rtt = stats.rtt_stats()
    ms = " ".join(f"{rtt[k] * 1000.0:.4f}" for k in _RTT_STATS) if rtt else "null null null null"
    return f"{stats.sent} {stats.received} {loss} {ms} {stats.reason}"


def _icmp_json(target: str, ip: str | None, result: str) -> str:
    """The JSON line of ``target`` from its :func:`_icmp_result`. Formatted by hand: json.dumps
    of 10,000 dicts cost as much CPU as the sweep's reading of 30,000 replies. Strings go through
    json's own C escaper."""
    sent, received, loss, low, avg, high, dev, reason = result.split(" ")
    quoted_ip = "null" if ip is None else encode_basestring(ip)
    return (
        f'{{"target": {encode_basestring(target)}, "address": {quoted_ip}, "sent": {sent}, '
        f'"received": {received}, "loss": {loss}, "rtt_min_ms": {low}, "rtt_avg_ms": {avg}, '
        f'"rtt_max_ms": {high}, "rtt_stddev_ms": {dev}, "reason": "{reason}"}}'
    )


def _icmp_line(target: str, ip: str | None, stats: TargetStats | None) -> str:
    """One JSON line for ``target`` (``stats`` None: the name did not resolve)."""
    return _icmp_json(target, ip, _NO_ADDRESS if stats is None else _icmp_result(stats))


def _worker_count(asked: int | str, targets: int, rate: float) -> int:
    """How many processes sweep ``targets`` unique addresses: ``asked``, or what auto gives."""
    if asked == "auto":
        limits = [len(os.sched_getaffinity(0)), targets // _TARGETS_PER_WORKER]
        if rate:
            limits.append(math.ceil(rate / _PPS_PER_WORKER))
        asked = min(limits)
    return max(1, min(int(asked), targets))


def _icmp(args: argparse.Namespace) -> int:
    from pantau.agent.icmp import wire
    from pantau.agent.icmp.pinger import Pinger

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
    n = _worker_count(args.workers, len(ips), args.rate)
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
    results = _run_workers(pingers, slices, args)
    if isinstance(results, str):
        print(results, file=sys.stderr, end="")
        return EXIT_FAILURE
    return _print_results(targets, names, results)


def _family(ip: str) -> int:
    """The address family of an IP literal (its socket's)."""
    import _socket  # see pantau.agent.icmp.sockets

    return _socket.AF_INET6 if ":" in ip else _socket.AF_INET


def _print_results(
    targets: list[str], names: dict[str, str | None], results: Iterator[tuple[str, str]]
) -> int:
    """Print a JSON line per target, in order, as the workers' results are read (``results``:
    each address and its result, in the order of the targets' first use of them)."""
    # An address two targets share (two names, or a name and the literal) is kept for the
    # second; any other result is printed and dropped at once.
    uses: dict[str, int] = {}
    if names:
        for target in targets:
            if ip := names.get(target, target):
                uses[ip] = uses.get(ip, 0) + 1
    kept: dict[str, str] = {}
    failed, batch = 0, []
    # Written in batches: the whole output joined at once (and encoded) was the largest single
    # allocation of a sweep, 2.5 MB per copy at 10,000 targets.
    for target in targets:
        ip = names.get(target, target)
        if ip is None:
            result = _NO_ADDRESS
        elif ip in kept:
            result = kept[ip]
        else:
            got, result = next(results)
            if got != ip:  # pragma: no cover - the slices follow the targets' order
                raise AssertionError(f"result for {got}, expected {ip}")
            if uses.get(ip, 0) > 1:
                kept[ip] = result
        failed += result.split(" ", 2)[1] == "0"
        batch.append(_icmp_json(target, ip, result))
        if len(batch) == _WRITE_BATCH:
            sys.stdout.write("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        sys.stdout.write("\n".join(batch) + "\n")
    return EXIT_FAILURE if failed else EXIT_OK


def _sweep(pinger: Pinger, ips: list[str], args: argparse.Namespace, n: int) -> Iterator[str]:
    """Sweep ``ips`` (one worker's slice, at 1/``n`` of the rate); their results in order,
    formatted as they are read."""
    try:
        stats = pinger.sweep_blocking(
            ips,
            count=args.count,
            timeout=args.timeout,
            rate=args.rate / n if args.rate else None,
            period=args.period,
        )
    finally:
        pinger.close()
    return (_icmp_result(stats[ip]) for ip in ips)


def _worker_bound(packets: int, n: int, args: argparse.Namespace) -> float:
    """Seconds the parent waits for its workers of ``packets`` echoes each: generous against a
    loaded machine (twice the paced sending, 1 ms a packet, the timeout), never forever."""
    sending = packets * n / args.rate if args.rate else 0.0
    return 30.0 + 2 * (sending + packets * 1e-3 + (args.count - 1) * args.period + args.timeout)


class _Worker:
    """A forked sweep worker, as the parent sees it (a plain class: see ``Channel``)."""

    __slots__ = ("data", "fd", "ips", "late", "number", "pid", "status")

    def __init__(self, number: int, pid: int, fd: int, ips: list[str]) -> None:
        self.number = number  # 1-based, the parent is worker 1
        self.pid = pid
        self.fd = fd  # read end of its pipe
        self.ips = ips
        self.data = bytearray()
        self.status: int | None = None  # waitpid status once reaped
        self.late = False


def _run_workers(
    pingers: list[Pinger], slices: list[list[str]], args: argparse.Namespace
) -> Iterator[tuple[str, str]] | str:
    """Sweep every slice, the first in this process and each other one in a forked child.

    Returns every address and its result, in the order of the slices (formatted as they are
    read), or the error message (a line per failed worker).
    """
    n = len(slices)
    workers: list[_Worker] = []
    bound = _worker_bound(max(map(len, slices)) * args.count, n, args)
    deadline = time.monotonic() + bound
    try:
        for number in range(2, n + 1):
            workers.append(_fork(number, pingers, slices, args, workers))
        own = _sweep(pingers[0], slices[0], args, n)
        if workers:
            _collect(workers, deadline)
    finally:
        pingers[0].close()
        for w in workers:
            os.close(w.fd)
            if w.status is None:  # interrupted, or past the deadline: do not leave it running
                import signal

                with contextlib.suppress(ProcessLookupError):
                    os.kill(w.pid, signal.SIGKILL)
                w.status = os.waitpid(w.pid, 0)[1]
    results, problems = [own], []
    for w in workers:
        lines, problem = _decode(w, bound)
        results.append(lines)
        if problem:
            first, last = w.ips[0], w.ips[-1]
            problems.append(
                f"pantau probe icmp: sweep worker {w.number} of {n} (pid {w.pid}, targets "
                f"{first} .. {last}) failed: {problem}\n"
            )
    if problems:
        return "".join(problems)
    pairs = zip(slices, results, strict=True)
    return (pair for ips, lines in pairs for pair in zip(ips, lines, strict=True))


def _fork(
    number: int,
    pingers: list[Pinger],
    slices: list[list[str]],
    args: argparse.Namespace,
    earlier: list[_Worker],
) -> _Worker:
    n = len(slices)
    r, w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(w)
        return _Worker(number, pid, r, slices[number - 1])
    # The child: sweep, send its results up the pipe ("ok N" and a line per result, written in
    # batches as they are formatted), and leave without running the parent's cleanup (atexit
    # handlers, buffered stdout, a test runner's state).
    code = 1
    try:
        os.close(r)
        for worker in earlier:
            os.close(worker.fd)
        pingers[0].close()  # our copies of the parent's sockets
        logging.disable(logging.INFO)  # the parent logged sockets and workers already
        mine = slices[number - 1]
        results = _sweep(pingers[number - 1], mine, args, n)
        _write_all(w, f"ok {len(mine)}\n".encode())
        batch: list[str] = []
        for line in results:
            batch.append(line)
            if len(batch) == _WRITE_BATCH:
                _write_all(w, ("\n".join(batch) + "\n").encode())
                batch.clear()
        if batch:
            _write_all(w, ("\n".join(batch) + "\n").encode())
        code = 0
    except BaseException as exc:  # everything goes to the parent, then _exit
        text = " ".join(f"{type(exc).__name__}: {exc}".split())
        with contextlib.suppress(BaseException):
            _write_all(w, f"error {text}".encode())  # after any lines: not newline-ended
    finally:
        os._exit(code)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _collect(workers: list[_Worker], deadline: float) -> None:
    """Read every worker's pipe to its end and reap it, until ``deadline`` (monotonic)."""
    import selectors

    with selectors.DefaultSelector() as sel:
        for w in workers:
            sel.register(w.fd, selectors.EVENT_READ, w)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                for key in list(sel.get_map().values()):
                    key.data.late = True
                return
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 1 << 16)  # a pipe's buffer
                if chunk:
                    key.data.data += chunk
                else:
                    sel.unregister(key.fd)
    for w in workers:
        w.status = os.waitpid(w.pid, 0)[1]  # its pipe closed: it has exited or is exiting


def _decode(w: _Worker, bound: float) -> tuple[Iterator[str], str | None]:
    """A worker's results (decoded as they are read), and what went wrong if anything did."""
    if w.late:
        return iter(()), f"did not finish within {bound:g} s (killed)"
    code = os.waitstatus_to_exitcode(w.status or 0)
    data = w.data
    end = data.find(b"\n")
    header = bytes(data if end < 0 else data[:end]).decode("utf-8", "replace")
    tail = bytes(data[data.rfind(b"\n") + 1 :]).decode("utf-8", "replace")
    for said in (header, tail):
        if said.startswith("error "):
            return iter(()), said[len("error ") :]
    if code < 0:
        import signal

        return iter(()), f"killed by signal {signal.Signals(-code).name}"
    lines = data.count(b"\n", end + 1) if end >= 0 else 0
    if code or tail or header != f"ok {len(w.ips)}" or lines != len(w.ips):
        return iter(()), f"exit status {code}, {lines} of {len(w.ips)} results"
    return _lines(w, end + 1), None


def _lines(w: _Worker, start: int) -> Iterator[str]:
    """The newline-ended lines of a worker's output from ``start``; its buffer is dropped once
    they are all read."""
    data = w.data
    while (end := data.find(b"\n", start)) >= 0:
        yield data[start:end].decode()
        start = end + 1
    w.data = bytearray()
