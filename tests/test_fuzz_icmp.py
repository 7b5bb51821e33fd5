"""Fuzz target: ICMP replies. Mutated real packets never crash the parser or fool it, and a real
sweep in the lab stays exact while another host floods the agent with generated ICMP garbage.

Run counts: ``PANTAU_FUZZ_EXAMPLES`` per target (docs/testing.md); the lab target runs 1/20 of it.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
from collections.abc import Callable

import pytest
from fuzzing import FUZZ
from hypothesis import given, settings
from hypothesis import strategies as st

from pantau.agent.icmp import wire
from pantau.lab.netns import Lab

IDS = st.integers(0, 0xFFFF)
ADDR4 = st.ip_addresses(v=4).map(str)


def _ipv4(payload: bytes, src: str, dst: str, proto: int = socket.IPPROTO_ICMP) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        1,
        0,
        64,
        proto,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    csum = wire.checksum(header)
    return header[:10] + struct.pack("!H", csum) + header[12:] + payload


def _icmp(kind: int, code: int, rest: bytes, body: bytes) -> bytes:
    raw = struct.pack("!BBH", kind, code, 0) + rest + body
    return raw[:2] + struct.pack("!H", wire.checksum(raw)) + raw[4:]


@st.composite
def answers(draw: st.DrawFn) -> tuple[bytes, wire.Match]:
    """A valid ICMP answer (no IP header) to an echo request, and what it must parse to."""
    ident, seq, sender, target = draw(IDS), draw(IDS), draw(ADDR4), draw(ADDR4)
    kind = draw(st.sampled_from(["reply", "unreach", "ttl"]))
    if kind == "reply":
        data = draw(st.binary(max_size=64))
        return _icmp(0, 0, struct.pack("!HH", ident, seq), data), wire.Match(
            sender, ident, seq, "ok"
        )
    request = wire.echo_request(ident, seq, draw(st.binary(min_size=0, max_size=8)))[:8]
    request = request.ljust(8, b"\0")
    quoted = _ipv4(request, sender, target)[:28]
    icmp_type, reason = (3, "unreachable") if kind == "unreach" else (11, "ttl_exceeded")
    return _icmp(icmp_type, draw(st.integers(0, 15)), b"\0\0\0\0", quoted), wire.Match(
        target, ident, seq, reason
    )


def _check(match: wire.Match | None) -> None:
    if match is not None:
        assert 0 <= match.ident <= 0xFFFF and 0 <= match.seq <= 0xFFFF
        assert match.reason in {"ok", "unreachable", "ttl_exceeded"}
        socket.inet_pton(socket.AF_INET6 if ":" in match.target else socket.AF_INET, match.target)


@FUZZ
@given(answers(), st.data())
def test_valid_answers_parse_and_truncations_never_lie(
    answer: tuple[bytes, wire.Match], data: st.DataObject
) -> None:
    icmp, expected = answer
    sender = expected.target if expected.reason == "ok" else "198.18.0.1"
    assert wire.parse_icmp4(icmp, expected.target) == expected
    packet = _ipv4(icmp, sender, "198.18.0.2")
    assert wire.parse_ipv4(packet, expected.target) == expected
    cut = data.draw(st.integers(0, len(packet) - 1))
    # A truncated packet is either refused or still says the same thing; never a different echo.
    assert wire.parse_ipv4(packet[:cut], expected.target) in (None, expected)
    assert wire.parse_icmp4(icmp[: max(0, cut - 20)], expected.target) in (None, expected)


@FUZZ
@given(
    answers(),
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=6),
    st.binary(max_size=16),
)
def test_mutated_answers_never_crash_and_bad_checksums_are_refused(
    answer: tuple[bytes, wire.Match], flips: list[tuple[int, int]], tail: bytes
) -> None:
    icmp, expected = answer
    packet = bytearray(_ipv4(icmp, "198.18.0.9", "198.18.0.2"))
    for pos, value in flips:
        if pos < len(packet):
            packet[pos] = value
    for parse in (wire.parse_ipv4, wire.parse_icmp4, wire.parse_icmp6):
        _check(parse(bytes(packet) + tail, expected.target))
    raw = bytes(packet)
    ihl = (raw[0] & 0x0F) * 4
    if raw[0] >> 4 == 4 and 20 <= ihl <= len(raw) and wire.checksum(raw[ihl:]) != 0:
        assert wire.parse_ipv4(raw, expected.target) is None, "bad ICMP checksum accepted"


GARBAGE = st.lists(
    st.one_of(
        st.binary(min_size=1, max_size=120),
        answers().map(lambda a: a[0]),  # answers for echo requests the agent never sent
        st.tuples(answers(), st.integers(1, 40)).map(lambda t: t[0][0][: t[1]]),
    ),
    min_size=1,
    max_size=60,
)

# IP_HDRINCL: the kernel sends any ICMP body, even a truncated one, as it is.
SENDER = """
import socket, struct, sys, time
src, dst = socket.inet_aton(sys.argv[3]), socket.inet_aton(sys.argv[1])
packets = [struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0, 64, 1, 0, src, dst) + bytes.fromhex(h)
           for h in sys.stdin.read().split()]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
end = time.monotonic() + float(sys.argv[2])
n = 0
while time.monotonic() < end:
    for p in packets:
        try:
            s.sendto(p, (sys.argv[1], 0))
            n += 1
        except OSError:
            pass
    time.sleep(0.002)
print(n)
"""


@pytest.fixture(scope="module")
def fuzz_lab(lab_unavailable: str | None) -> Callable[[], Lab]:
    if lab_unavailable:
        pytest.skip(lab_unavailable)
    lab = Lab.star(router="core", hosts=["office1", "attacker"], agents=["agent1"], tag="fz")
    yield lambda: lab
    lab.close()


@pytest.mark.root
@pytest.mark.timeout(300)
@settings(FUZZ, max_examples=max(3, FUZZ.max_examples // 20))
@given(garbage=GARBAGE)
def test_sweep_stays_exact_under_an_icmp_garbage_flood(
    fuzz_lab: Callable[[], Lab], garbage: list[bytes]
) -> None:
    lab = fuzz_lab()
    flood = lab.popen_python(
        "attacker",
        ["-c", SENDER, lab.address("agent1"), "2.2", lab.address("attacker")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert flood.stdin is not None and flood.stdout is not None
    flood.stdin.write(" ".join(p.hex() for p in garbage).encode())
    flood.stdin.close()
    dead = str(lab.net.network_address + 250)  # in the lab, but nothing has it
    res = lab.exec(
        "agent1",
        [
            sys.executable,
            "-m",
            "pantau.cli",
            "probe",
            "icmp",
            "--count",
            "20",
            "--period",
            "0.05",
            "--timeout",
            "1",
            "--socket",
            "raw",
            lab.address("office1"),
            dead,
        ],
        timeout=30,
    )
    sent = int(flood.stdout.read() or 0)
    flood.wait(timeout=10)
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(lines) == 2, res.stderr[-2000:]
    alive, gone = lines
    assert (alive["sent"], alive["received"], alive["reason"]) == (20, 20, "ok"), alive
    assert gone["received"] == 0 and gone["reason"] != "ok", gone
    assert sent > 0, "the flood sent nothing: the test would prove nothing"
