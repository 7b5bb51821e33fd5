"""``pantau probe icmp``'s output: a short result line per address, and a JSON line per target.

A sweep worker sends the short lines up its pipe (:mod:`.workers`) and the parent keeps them
until it prints: a fifth of the JSON line's memory. JSON lines are formatted by hand (json.dumps of
10,000 dicts cost as much CPU as the sweep's reading of 30,000 replies); strings go through
json's own C escaper.
"""

from __future__ import annotations

import sys

try:  # json's own C string escaper, without the json package's decoder and scanner imports
    from _json import encode_basestring
except ImportError:  # pragma: no cover - a Python built without the _json accelerator
    from json.encoder import encode_basestring

TYPE_CHECKING = False  # typing is not imported at run time (see pantau.agent.icmp.rounds)
if TYPE_CHECKING:
    from collections.abc import Iterator

    from pantau.agent.icmp.rounds import TargetStats

#: Output lines per write.
WRITE_BATCH = 500
#: The result of a name that did not resolve.
NO_ADDRESS = "0 0 null null null null null dns"
_RTT_STATS = ("min", "avg", "max", "stddev")


def result_line(stats: TargetStats) -> str:
    """One target's result as a short line: sent, received, loss, RTT min/avg/max/stddev (ms)
    and reason, space-separated, ``null`` for none."""
    loss = "null" if stats.loss is None else repr(stats.loss)
    rtt = stats.rtt_stats()
    ms = " ".join(f"{rtt[k] * 1000.0:.4f}" for k in _RTT_STATS) if rtt else "null null null null"
    return f"{stats.sent} {stats.received} {loss} {ms} {stats.reason}"


def json_line(target: str, ip: str | None, result: str) -> str:
    """The JSON line of ``target`` (resolved to ``ip``) from its :func:`result_line`."""
    sent, received, loss, low, avg, high, dev, reason = result.split(" ")
    quoted_ip = "null" if ip is None else encode_basestring(ip)
    return (
        f'{{"target": {encode_basestring(target)}, "address": {quoted_ip}, "sent": {sent}, '
        f'"received": {received}, "loss": {loss}, "rtt_min_ms": {low}, "rtt_avg_ms": {avg}, '
        f'"rtt_max_ms": {high}, "rtt_stddev_ms": {dev}, "reason": "{reason}"}}'
    )


def target_line(target: str, ip: str | None, stats: TargetStats | None) -> str:
    """One JSON line for ``target`` (``stats`` None: the name did not resolve)."""
    return json_line(target, ip, NO_ADDRESS if stats is None else result_line(stats))


def print_results(
    targets: list[str], names: dict[str, str | None], results: Iterator[tuple[str, str]]
) -> int:
    """Print a JSON line per target, in order, as the workers' results are read (``results``:
    each address and its result, in the order of the targets' first use of them; ``names``:
    each name's address, None when it did not resolve). Returns how many got no reply."""
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
            result = NO_ADDRESS
        elif ip in kept:
            result = kept[ip]
        else:
            got, result = next(results)
            if got != ip:  # pragma: no cover - the slices follow the targets' order
                raise AssertionError(f"result for {got}, expected {ip}")
            if uses.get(ip, 0) > 1:
                kept[ip] = result
        failed += result.split(" ", 2)[1] == "0"
        batch.append(json_line(target, ip, result))
        if len(batch) == WRITE_BATCH:
            sys.stdout.write("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        sys.stdout.write("\n".join(batch) + "\n")
    return failed
