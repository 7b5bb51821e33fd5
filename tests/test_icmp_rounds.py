"""The sweep's columnar bookkeeping (pantau.agent.icmp.rounds), without sockets: which replies
settle which echo, and the statistics and names the results give."""

from __future__ import annotations

import socket

import pytest

from pantau.agent.icmp import wire
from pantau.agent.icmp.rounds import ANSWERED, PENDING, Results, Run, Sweep


def sent(run: Run, row: int, k: int, at: float) -> None:
    """What the sender does for echo ``k`` of ``row``."""
    slot = row * run.count + k
    run.at[slot], run.state[slot] = at, PENDING
    run.sent[row] += 1
    run.sweep.outstanding += 1


def test_each_address_once_whatever_its_spelling_keys_as_given() -> None:
    given = ["0::1", "127.0.0.1", "::1", "127.0.0.1", "0:0::1"]
    run = Run(given, Sweep(1.0), seq0=10, count=2)
    assert run.addresses == ["::1", "127.0.0.1"]  # what recvfrom gives, each once
    assert run.keys == ["0::1", "127.0.0.1", "::1", "0:0::1"]
    assert {f: list(rows) for f, rows in run.groups.items()} == {
        socket.AF_INET6: [0],
        socket.AF_INET: [1],
    }
    results = Results(run)
    assert list(results) == run.keys and len(results) == 4
    assert results["0:0::1"] == results["::1"]._replace(address="0:0::1")
    with pytest.raises(KeyError):
        results["127.0.0.2"]
    only_long = Results(Run(["0:0::1"], Sweep(1.0), seq0=0, count=1))
    assert list(only_long) == ["0:0::1"] and "::1" not in only_long


def test_one_family_sends_to_a_range_of_rows() -> None:
    run = Run([f"127.1.0.{i}" for i in range(1, 201)], Sweep(1.0), seq0=0, count=3)
    assert run.groups == {socket.AF_INET: range(200)}
    assert len(run.at) == len(run.state) == 600 and len(run.sent) == 200


def test_not_an_ip_literal() -> None:
    with pytest.raises(ValueError, match="not an IPv4 or IPv6 address"):
        Run(["127.0.0.1", "example.org"], Sweep(1.0), seq0=0, count=1)


def test_a_reply_settles_its_own_echo_once() -> None:
    done: list[bool] = []
    run = Run(["127.0.0.1", "127.0.0.2"], Sweep(1.0, lambda: done.append(True)), 0xFFFF, 2)
    sent(run, 0, 0, 100.0)
    sent(run, 0, 1, 100.5)  # its sequence number wrapped to 0
    sent(run, 1, 0, 100.0)
    run.sweep.sending = False
    assert run.answer("127.0.0.1", 0, wire.OK, 100.75)
    assert not run.answer("127.0.0.1", 0, wire.OK, 100.8)  # duplicate
    assert not run.answer("127.0.0.1", 1, wire.OK, 100.8)  # not this run's sequence
    assert not run.answer("127.0.0.3", 0xFFFF, wire.OK, 100.8)  # not this run's target
    assert run.answer("127.0.0.1", 0xFFFF, wire.OK, 101.0)
    assert run.answer("127.0.0.2", 0xFFFF, wire.UNREACHABLE, 100.1)
    assert done == [True] and run.sweep.outstanding == 0
    one, two = Results(run).values()
    assert (one.sent, one.rtts, one.reason, one.errors) == (2, (1.0, 0.25), "ok", {})
    assert (two.sent, two.rtts, two.reason) == (1, (), "unreachable")
    assert two.errors == {"unreachable": 1}
    assert run.state[0] == ANSWERED


def test_a_reply_after_the_timeout_settles_as_lost() -> None:
    run = Run(["127.0.0.1"], Sweep(0.5), seq0=7, count=1)
    sent(run, 0, 0, 10.0)
    assert run.answer("127.0.0.1", 7, wire.OK, 10.6)
    stats = Results(run)["127.0.0.1"]
    assert (stats.sent, stats.received, stats.loss, stats.reason) == (1, 0, 1.0, "timeout")
    assert run.sweep.outstanding == 0


def test_nothing_sent_is_an_error_and_the_most_frequent_failure_is_the_reason() -> None:
    run = Run(["127.0.0.1", "127.0.0.2"], Sweep(1.0), seq0=0, count=3)
    for k in range(3):
        sent(run, 1, k, 1.0)
    run.answer("127.0.0.2", 0, wire.TTL_EXCEEDED, 1.1)
    run.answer("127.0.0.2", 1, wire.UNREACHABLE, 1.1)
    run.answer("127.0.0.2", 2, wire.UNREACHABLE, 1.1)
    never, failed = Results(run).values()
    assert (never.sent, never.reason, never.loss) == (0, "error", None)
    assert failed.reason == "unreachable"
    assert failed.errors == {"ttl_exceeded": 1, "unreachable": 2}
