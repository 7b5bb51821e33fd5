"""The raw sockets' kernel filter by echo identifier: the program itself, and real sockets.

The program is run here by a small classic-BPF interpreter (only the opcodes it uses) against
generated packets, and attached to real raw sockets on loopback, where another raw socket's echo
replies must not reach it while its own replies and ICMP errors do.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import struct
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from icmp_support import has_ipv6_loopback

from pantau.agent.icmp import sockets as icmp_socket
from pantau.agent.icmp import wire
from pantau.agent.icmp.sockets import echo_filter, open_channel
from pantau.errors import PantauError

IDS = st.integers(0, 0xFFFF)


def run_bpf(program: bytes, packet: bytes) -> int:
    """Run a classic BPF program the way the kernel does; its return value (0: drop)."""
    insns = [struct.unpack_from("=HBBI", program, off) for off in range(0, len(program), 8)]
    a = x = pc = 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x06:  # ret #k
            return k
        if code == 0xB1:  # ldxb 4*([k]&0xf)
            if k >= len(packet):
                return 0
            x = (packet[k] & 0x0F) * 4
        elif code in (0x30, 0x50, 0x28, 0x48):  # ldb/ldh [k] / [x+k]
            off = k + (x if code & 0x40 else 0)
            size = 1 if code & 0x10 else 2
            if off + size > len(packet):
                return 0  # a load past the end drops the packet
            a = int.from_bytes(packet[off : off + size], "big")
        elif code == 0x15:  # jeq #k, jt, jf
            pc += jt if a == k else jf
        else:
            raise AssertionError(f"opcode {code:#x} not expected in the program")


def ipv4(icmp: bytes, options: bytes = b"") -> bytes:
    ihl = 5 + len(options) // 4
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(options) + len(icmp), 0, 0, 64, 1, 0,
        bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]),
    )  # fmt: skip
    return header + options + icmp


def icmp(kind: int, ident: int, seq: int = 1, code: int = 0) -> bytes:
    return struct.pack("!BBHHH", kind, code, 0, ident, seq) + bytes(56)


def test_program_sizes_and_ident_range() -> None:
    assert len(echo_filter(1)) == 7 * 8
    assert len(echo_filter(1, v6=True)) == 6 * 8
    with pytest.raises(ValueError, match=r"ident must be 0\.\.65535"):
        echo_filter(0x10000)


@given(
    ours=IDS,
    theirs=IDS,
    kind=st.sampled_from([0, 3, 11, 8, 5]),
    options=st.integers(0, 10).map(lambda n: bytes(4 * n)),
)
def test_ipv4_program_drops_only_foreign_echo_replies(ours, theirs, kind, options) -> None:
    verdict = run_bpf(echo_filter(ours), ipv4(icmp(kind, theirs), options))
    assert bool(verdict) == (kind != wire.ECHO_REPLY4 or theirs == ours)
    if verdict:
        assert verdict == 0xFFFFFFFF  # the whole packet


@given(ours=IDS, theirs=IDS, kind=st.sampled_from([129, 1, 3, 128, 2]))
def test_ipv6_program_drops_only_foreign_echo_replies(ours, theirs, kind) -> None:
    verdict = run_bpf(echo_filter(ours, v6=True), icmp(kind, theirs))
    assert bool(verdict) == (kind != wire.ECHO_REPLY6 or theirs == ours)


@given(ours=IDS, cut=st.integers(0, 25))
def test_truncated_echo_reply_is_dropped(ours, cut) -> None:
    packet = ipv4(icmp(0, ours))[:cut]  # too short for the identifier (or even the type)
    assert run_bpf(echo_filter(ours), packet) == 0


# Real sockets on loopback -------------------------------------------------------------------


def raw_channel(family: int, ident: int) -> icmp_socket.Channel:
    try:
        return open_channel(family, "raw", ident=ident)
    except PantauError as exc:
        pytest.skip(f"needs CAP_NET_RAW: {exc}")


def unfiltered_raw(family: int) -> socket.socket:
    proto = socket.IPPROTO_ICMPV6 if family == socket.AF_INET6 else socket.IPPROTO_ICMP
    sock = socket.socket(family, socket.SOCK_RAW, proto)
    sock.setblocking(False)
    return sock


def received(
    sock: socket.socket,
    family: int,
    until: tuple[int, int] | None = None,
    wait: float = 1.0,
    reason: str = wire.OK,
) -> list[tuple[int, int]]:
    """(ident, seq) of what ``sock`` reads with ``reason``, until ``until`` or ``wait`` s.

    Only one reason is kept: the host's other pingers (another engineer's sweep) may cause ICMP
    errors at any time, and errors pass every socket's filter.
    """
    parse = wire.parse_icmp6 if family == socket.AF_INET6 else wire.parse_ipv4
    out: list[tuple[int, int]] = []
    deadline = time.monotonic() + wait
    while until not in out and (left := deadline - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        data, sender = sock.recvfrom(2048)
        match = parse(data, sender[0])
        if match is not None and match.reason == reason:
            out.append((match.ident, match.seq))
    return out


FAMILIES = [
    pytest.param(socket.AF_INET, "127.0.0.1", id="ipv4"),
    pytest.param(
        socket.AF_INET6,
        "::1",
        id="ipv6",
        marks=pytest.mark.skipif(not has_ipv6_loopback(), reason="no ::1 on lo"),
    ),
]


@pytest.mark.parametrize(("family", "target"), FAMILIES)
def test_foreign_echo_reply_is_dropped_by_the_kernel_own_arrives(family: int, target: str) -> None:
    v6 = family == socket.AF_INET6
    mine, other = raw_channel(family, 0x1111), raw_channel(family, 0x2222)
    bare = unfiltered_raw(family)
    try:
        other.sock.sendto(wire.echo_request(0x2222, 7, bytes(56), v6=v6), (target, 0))
        # The unfiltered socket and the sender's own see the reply: it was on the wire.
        assert (0x2222, 7) in received(bare, family, (0x2222, 7))
        assert received(other.sock, family, (0x2222, 7)) == [(0x2222, 7)]
        mine.sock.sendto(wire.echo_request(0x1111, 8, bytes(56), v6=v6), (target, 0))
        # Ours arrives, and it is the only reply queued: 0x2222's was dropped before it.
        assert received(mine.sock, family, wait=0.3) == [(0x1111, 8)]
    finally:
        for sock in (mine.sock, other.sock, bare):
            sock.close()


def test_no_foreign_reply_is_read_even_when_queued_before_the_filter() -> None:
    """A raw socket receives from socket() on, before its filters are attached: what it queued
    then (here: replies to a flood of echo requests with another identifier) is dropped."""
    flood = raw_channel(socket.AF_INET, 0x5555)
    stop = threading.Event()

    def send() -> None:
        packet = wire.echo_request(0x5555, 1, bytes(56))
        for _ in range(200_000):  # bounded: a few seconds at most
            if stop.is_set():
                return
            with contextlib.suppress(BlockingIOError):
                flood.sock.sendto(packet, ("127.0.0.1", 0))

    sender = threading.Thread(target=send)
    sender.start()
    try:
        opened = [raw_channel(socket.AF_INET, 0x6666) for _ in range(30)]
    finally:
        stop.set()
        sender.join(10)
        flood.sock.close()
    try:
        for channel in opened:
            assert received(channel.sock, socket.AF_INET, wait=0.02) == []
    finally:
        for channel in opened:
            channel.sock.close()


def _unreachable4(quoted_ident: int) -> bytes:
    """An IPv4 packet 127.0.0.2 -> 127.0.0.1: port unreachable quoting an echo request."""
    quoted = ipv4(icmp(wire.ECHO_REQUEST4, quoted_ident, 5))[:28]
    body = struct.pack("!BBHI", wire.DEST_UNREACH4, 1, 0, 0) + quoted
    body = body[:2] + struct.pack("!H", wire.checksum(body)) + body[4:]
    header = bytearray(ipv4(body)[:20])
    header[12:16] = bytes([127, 0, 0, 2])
    return bytes(header) + body


@pytest.mark.parametrize("quoted_ident", [0x1111, 0x3333], ids=["ours", "foreign"])
def test_icmp_error_still_arrives_ipv4(quoted_ident: int) -> None:
    """Errors pass the filter whatever they quote: userspace matches the quoted request."""
    mine = raw_channel(socket.AF_INET, 0x1111)
    out = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # we write headers
    try:
        out.sendto(_unreachable4(quoted_ident), ("127.0.0.1", 0))
        got = received(mine.sock, socket.AF_INET, (quoted_ident, 5), reason=wire.UNREACHABLE)
        assert (quoted_ident, 5) in got
    finally:
        mine.sock.close()
        out.close()


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no ::1 on lo")
def test_icmp_error_still_arrives_ipv6() -> None:
    mine = raw_channel(socket.AF_INET6, 0x1111)
    out = unfiltered_raw(socket.AF_INET6)  # the kernel adds the IPv6 header and checksum
    try:
        loop6 = socket.inet_pton(socket.AF_INET6, "::1")
        quoted = struct.pack("!IHBB", 6 << 28, 64, socket.IPPROTO_ICMPV6, 64) + loop6 + loop6
        quoted += icmp(wire.ECHO_REQUEST6, 0x3333, 5)[:8]
        out.sendto(struct.pack("!BBHI", wire.DEST_UNREACH6, 3, 0, 0) + quoted, ("::1", 0))
        got = received(mine.sock, socket.AF_INET6, (0x3333, 5), reason=wire.UNREACHABLE)
        assert (0x3333, 5) in got
    finally:
        mine.sock.close()
        out.close()


def test_attach_failure_is_logged_and_the_socket_still_works(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(sock: socket.socket, program: bytes) -> None:
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(icmp_socket, "attach_filter", refuse)
    with caplog.at_level(logging.WARNING, logger="pantau.agent.icmp.sockets"):
        channels = [raw_channel(socket.AF_INET, 0x4444) for _ in range(2)]
    try:
        warned = [r for r in caplog.records if "identifier filter not attached" in r.message]
        assert len(warned) == 2  # one per socket opened, with the kernel's reason
        assert "Invalid argument" in warned[0].message
        channels[0].sock.sendto(wire.echo_request(0x4444, 9, bytes(56)), ("127.0.0.1", 0))
        assert (0x4444, 9) in received(channels[0].sock, socket.AF_INET, (0x4444, 9))
    finally:
        for channel in channels:
            channel.sock.close()
