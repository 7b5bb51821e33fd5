"""A sweep shared between forked processes: the first slice in this one, each other in a child.

Each worker has its own sockets (opened by the caller) and a contiguous slice of the targets, and
sends its results up a pipe as :func:`~pantau.agent.icmp.output.result_line` lines; the parent
reads every pipe until a deadline, then kills and reports what did not finish.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time

from pantau.agent.icmp.output import WRITE_BATCH, result_line

TYPE_CHECKING = False  # typing is not imported at run time (see pantau.agent.icmp.rounds)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from pantau.agent.icmp.pinger import Pinger

_TARGETS_PER_WORKER = 2000  # below ~2 x this, a fork costs more than the half sweep it saves
_PPS_PER_WORKER = 25_000.0  # a paced sweep slower than this keeps one process busy enough


def worker_count(asked: int | str, targets: int, rate: float) -> int:
    """How many processes sweep ``targets`` unique addresses: ``asked``, or what auto gives
    (one per usable CPU, at most one per 2,000 targets and, with a ``rate``, one per 25,000
    packets per second)."""
    if asked == "auto":
        limits = [len(os.sched_getaffinity(0)), targets // _TARGETS_PER_WORKER]
        if rate:
            limits.append(math.ceil(rate / _PPS_PER_WORKER))
        asked = min(limits)
    return max(1, min(int(asked), targets))


def sweep(pinger: Pinger, ips: list[str], args: argparse.Namespace, n: int) -> Iterator[str]:
    """Sweep ``ips`` (one worker's slice, at 1/``n`` of ``args.rate``); their results in order,
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
    return (result_line(stats[ip]) for ip in ips)


def worker_bound(packets: int, n: int, args: argparse.Namespace) -> float:
    """Seconds the parent waits for its workers of ``packets`` echoes each: generous against a
    loaded machine (twice the paced sending, 1 ms a packet, the timeout), never forever."""
    sending = packets * n / args.rate if args.rate else 0.0
    return 30.0 + 2 * (sending + packets * 1e-3 + (args.count - 1) * args.period + args.timeout)


class _Worker:
    """A forked sweep worker, as the parent sees it (a plain class, like sockets.Channel)."""

    __slots__ = ("data", "fd", "ips", "late", "number", "pid", "status")

    def __init__(self, number: int, pid: int, fd: int, ips: list[str]) -> None:
        self.number = number  # 1-based, the parent is worker 1
        self.pid = pid
        self.fd = fd  # read end of its pipe
        self.ips = ips
        self.data = bytearray()
        self.status: int | None = None  # waitpid status once reaped
        self.late = False


def run_workers(
    pingers: list[Pinger], slices: list[list[str]], args: argparse.Namespace
) -> Iterator[tuple[str, str]] | str:
    """Sweep every slice, the first in this process and each other one in a forked child
    (``pingers``: one per slice, the first one's sockets open).

    Returns every address and its result, in the order of the slices (formatted as they are
    read), or the error message (a line per failed worker).
    """
    n = len(slices)
    workers: list[_Worker] = []
    bound = worker_bound(max(map(len, slices)) * args.count, n, args)
    deadline = time.monotonic() + bound
    try:
        for number in range(2, n + 1):
            workers.append(_fork(number, pingers, slices, args, workers))
        own = sweep(pingers[0], slices[0], args, n)
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
        results = sweep(pingers[number - 1], mine, args, n)
        _write_all(w, f"ok {len(mine)}\n".encode())
        batch: list[str] = []
        for line in results:
            batch.append(line)
            if len(batch) == WRITE_BATCH:
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
