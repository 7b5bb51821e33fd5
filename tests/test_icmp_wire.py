"""ICMP packet parsing on bytes: packets crafted with scapy, and arbitrary bytes (hypothesis)."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pantau.agent.icmp import wire

scapy_all = pytest.importorskip("scapy.all", reason="scapy crafts the test packets")
IP, ICMP, IPv6 = scapy_all.IP, scapy_all.ICMP, scapy_all.IPv6
Raw = scapy_all.Raw
ICMPv6EchoReply, ICMPv6EchoRequest = scapy_all.ICMPv6EchoReply, scapy_all.ICMPv6EchoRequest
ICMPv6DestUnreach, ICMPv6TimeExceeded = scapy_all.ICMPv6DestUnreach, scapy_all.ICMPv6TimeExceeded

ME, TARGET, ROUTER, OTHER = "10.20.0.1", "10.20.1.9", "10.20.0.254", "10.20.1.10"
ME6, TARGET6, ROUTER6 = "fd00:20::1", "fd00:20:1::9", "fd00:20::fe"
PAYLOAD = bytes(56)


def request4(dst: str = TARGET, ident: int = 0x1234, seq: int = 7) -> scapy_all.Packet:
    return IP(src=ME, dst=dst, ttl=3) / ICMP(type=8, id=ident, seq=seq) / Raw(PAYLOAD)


def request6(dst: str = TARGET6, ident: int = 0x1234, seq: int = 7) -> scapy_all.Packet:
    return IPv6(src=ME6, dst=dst) / ICMPv6EchoRequest(id=ident, seq=seq, data=PAYLOAD)


def icmp6_bytes(pkt: scapy_all.Packet) -> bytes:
    """What an ICMPv6 socket reads: the ICMPv6 message without the IPv6 header."""
    return bytes(pkt)[40:]


# --- building ---------------------------------------------------------------------------------


def test_echo_request_matches_scapy() -> None:
    ours = wire.echo_request(0x1234, 7, PAYLOAD)
    assert ours == bytes(ICMP(type=8, id=0x1234, seq=7) / Raw(PAYLOAD))
    assert wire.checksum(ours) == 0


def test_echo_request_v6_leaves_checksum_to_kernel() -> None:
    ours = wire.echo_request(0xABCD, 65535, b"xy", v6=True)
    assert ours == bytes([128, 0, 0, 0, 0xAB, 0xCD, 0xFF, 0xFF]) + b"xy"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0xFFFF),
        (b"\x00\x00", 0xFFFF),
        (b"\xff\xff", 0),
        (b"\x45\x00\x00\x1c", 0xBAE3),
        (b"\x01", 0xFEFF),
    ],
    ids=["empty", "zero", "negative-zero", "words", "odd-length"],
)
def test_checksum_known_values(data: bytes, expected: int) -> None:
    assert wire.checksum(data) == expected


@settings(deadline=None)  # the machine is shared: no per-example time limit
@given(st.binary(max_size=200))
def test_checksum_agrees_with_rfc1071_loop(data: bytes) -> None:
    padded = data + b"\0" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(padded) // 2}H", padded))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    assert wire.checksum(data) == ~total & 0xFFFF


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", socket.AF_INET)),
        ("::1", ("::1", socket.AF_INET6)),
        ("2001:DB8:0:0:1:0:0:1", ("2001:db8::1:0:0:1", socket.AF_INET6)),
    ],
    ids=["v4", "v6-loopback", "v6-uppercase-long"],
)
def test_canonical(text: str, expected: tuple[str, int]) -> None:
    assert wire.canonical(text) == expected


@pytest.mark.parametrize("text", ["localhost", "1.2.3", "300.1.1.1", "", "::1%lo x"])
def test_canonical_rejects_non_literals(text: str) -> None:
    with pytest.raises(ValueError, match="not an IPv4 or IPv6 address"):
        wire.canonical(text)


# --- IPv4, raw socket (IP header included) -------------------------------------------------------


def test_echo_reply_from_target() -> None:
    pkt = IP(src=TARGET, dst=ME) / ICMP(type=0, id=0x1234, seq=7) / Raw(PAYLOAD)
    assert wire.parse_ipv4(bytes(pkt), TARGET) == wire.Match(TARGET, 0x1234, 7, "ok")


def test_echo_reply_with_ip_options() -> None:
    pkt = IP(src=TARGET, dst=ME, options=[scapy_all.IPOption_NOP()] * 4) / ICMP(
        type=0, id=9, seq=65535
    )
    data = bytes(pkt)
    assert data[0] & 0x0F == 6
    assert wire.parse_ipv4(data, TARGET) == wire.Match(TARGET, 9, 65535, "ok")


@pytest.mark.parametrize(
    ("outer", "reason"),
    [
        (ICMP(type=3, code=1), "unreachable"),
        (ICMP(type=3, code=13), "unreachable"),
        (ICMP(type=11, code=0), "ttl_exceeded"),
    ],
    ids=["host-unreachable", "admin-prohibited", "ttl-exceeded"],
)
def test_error_quoting_our_request_names_original_target(outer, reason: str) -> None:
    pkt = IP(src=ROUTER, dst=ME) / outer / bytes(request4())[:28]
    assert wire.parse_ipv4(bytes(pkt), ROUTER) == wire.Match(TARGET, 0x1234, 7, reason)


def test_error_quoting_whole_request_and_ip_options() -> None:
    quoted = IP(src=ME, dst=TARGET, options=[scapy_all.IPOption_NOP()] * 8) / ICMP(
        type=8, id=5, seq=6
    )
    pkt = IP(src=ROUTER, dst=ME) / ICMP(type=11) / bytes(quoted)
    assert wire.parse_ipv4(bytes(pkt), ROUTER) == wire.Match(TARGET, 5, 6, "ttl_exceeded")


@pytest.mark.parametrize(
    "pkt",
    [
        IP(src=ME, dst=TARGET) / ICMP(type=8, id=0x1234, seq=7),  # our own request looped back
        IP(src=TARGET, dst=ME) / ICMP(type=0, code=1, id=0x1234, seq=7),  # odd code
        IP(src=TARGET, dst=ME) / ICMP(type=13, id=0x1234, seq=7),  # timestamp request
        IP(src=TARGET, dst=ME) / ICMP(type=5, gw="1.2.3.4") / bytes(request4())[:28],  # redirect
        # errors quoting something that is not our echo request
        IP(src=ROUTER, dst=ME)
        / ICMP(type=3, code=3)
        / bytes(IP(src=ME, dst=TARGET) / scapy_all.UDP(sport=5, dport=33434))[:28],
        IP(src=ROUTER, dst=ME) / ICMP(type=3) / bytes(IP(src=ME, dst=TARGET) / ICMP(type=0))[:28],
        IP(src=ROUTER, dst=ME) / ICMP(type=3) / bytes(IPv6(dst=TARGET6) / ICMPv6EchoRequest()),
    ],
    ids=[
        "own-request",
        "reply-code-1",
        "timestamp",
        "redirect",
        "quotes-udp",
        "quotes-reply",
        "quotes-ipv6",
    ],
)
def test_ignored_packets(pkt) -> None:
    assert wire.parse_ipv4(bytes(pkt), TARGET) is None


def test_reply_for_another_pinger_keeps_its_identifier() -> None:
    """The parser reports the identifier; the pinger drops identifiers that are not its own."""
    pkt = IP(src=TARGET, dst=ME) / ICMP(type=0, id=0x4321, seq=7) / Raw(PAYLOAD)
    match = wire.parse_ipv4(bytes(pkt), TARGET)
    assert match is not None and match.ident == 0x4321 != 0x1234


def test_bad_checksum_is_ignored() -> None:
    data = bytearray(bytes(IP(src=TARGET, dst=ME) / ICMP(type=0, id=1, seq=2) / Raw(PAYLOAD)))
    data[-1] ^= 0xFF
    assert wire.parse_ipv4(bytes(data), TARGET) is None


@pytest.mark.parametrize(
    "pkt",
    [
        IP(src=TARGET, dst=ME) / ICMP(type=0, id=1, seq=2) / Raw(PAYLOAD),
        IP(src=ROUTER, dst=ME) / ICMP(type=3, code=1) / bytes(request4())[:28],
    ],
    ids=["reply", "error"],
)
def test_every_truncation_is_ignored_or_exact(pkt) -> None:
    whole = bytes(pkt)
    full = wire.parse_ipv4(whole, TARGET)
    assert full is not None
    for cut in range(len(whole)):
        # The checksum covers the ICMP part: a cut packet fails it unless the cut removed only
        # zero padding, and then it still names the same echo request.
        assert wire.parse_ipv4(whole[:cut], TARGET) in (None, full)


@pytest.mark.parametrize(
    "mangle",
    [lambda b: b"\x65" + b[1:], lambda b: b"\x44" + b[1:], lambda b: b"\x4f" + b[1:]],
    ids=["ip-version-6", "ihl-too-small", "ihl-beyond-packet"],
)
def test_malformed_ip_header_is_ignored(mangle) -> None:
    data = bytes(IP(src=TARGET, dst=ME) / ICMP(type=0, id=1, seq=2))
    assert wire.parse_ipv4(mangle(data), TARGET) is None


# --- IPv4, datagram socket (no IP header; errors via the error queue) --------------------------


def test_datagram_reply() -> None:
    data = bytes(ICMP(type=0, id=40000, seq=3) / Raw(PAYLOAD))
    assert wire.parse_icmp4(data, TARGET) == wire.Match(TARGET, 40000, 3, "ok")


def _recverr(origin: int, icmp_type: int, code: int, level: int = socket.IPPROTO_IP) -> tuple:
    ee = struct.pack("=IBBBBII", 113, origin, icmp_type, code, 0, 0, 0)
    offender = struct.pack("=HH4s8x", socket.AF_INET, 0, socket.inet_aton(ROUTER))
    return (
        level,
        wire.IP_RECVERR if level == socket.IPPROTO_IP else wire.IPV6_RECVERR,
        ee + offender,
    )


@pytest.mark.parametrize(
    ("icmp_type", "reason"), [(3, "unreachable"), (11, "ttl_exceeded")], ids=["unreach", "ttl"]
)
def test_error_queue_entry(icmp_type: int, reason: str) -> None:
    sent = bytes(ICMP(type=8, id=40000, seq=3) / Raw(PAYLOAD))
    anc = [_recverr(wire.SO_EE_ORIGIN_ICMP, icmp_type, 1)]
    assert wire.parse_errqueue(sent, anc, TARGET) == wire.Match(TARGET, 40000, 3, reason)


@pytest.mark.parametrize(
    ("payload", "anc"),
    [
        (bytes(ICMP(type=8, id=1, seq=1)), [_recverr(1, 0, 0)]),  # SO_EE_ORIGIN_LOCAL (EMSGSIZE)
        (bytes(ICMP(type=8, id=1, seq=1)), [_recverr(2, 5, 0)]),  # redirect
        (bytes(ICMP(type=8, id=1, seq=1)), []),
        (bytes(ICMP(type=8, id=1, seq=1)), [(socket.IPPROTO_IP, wire.IP_RECVERR, b"\x00" * 7)]),
        (bytes(ICMP(type=8, id=1, seq=1))[:7], [_recverr(2, 3, 1)]),
        (bytes(ICMP(type=0, id=1, seq=1)), [_recverr(2, 3, 1)]),
    ],
    ids=["local-origin", "redirect", "no-cmsg", "short-cmsg", "short-payload", "not-a-request"],
)
def test_error_queue_ignored(payload: bytes, anc: list) -> None:
    assert wire.parse_errqueue(payload, anc, TARGET) is None


def test_error_queue_ipv6() -> None:
    sent = icmp6_bytes(request6(ident=77, seq=8))
    anc = [_recverr(wire.SO_EE_ORIGIN_ICMP6, 1, 4, level=socket.IPPROTO_IPV6)]
    assert wire.parse_errqueue(sent, anc, TARGET6) == wire.Match(TARGET6, 77, 8, "unreachable")


# --- IPv6 --------------------------------------------------------------------------------------


def test_echo_reply_v6() -> None:
    data = icmp6_bytes(IPv6(src=TARGET6, dst=ME6) / ICMPv6EchoReply(id=3, seq=4, data=PAYLOAD))
    assert wire.parse_icmp6(data, TARGET6) == wire.Match(TARGET6, 3, 4, "ok")


@pytest.mark.parametrize(
    ("outer", "reason"),
    [(ICMPv6DestUnreach(code=3), "unreachable"), (ICMPv6TimeExceeded(), "ttl_exceeded")],
    ids=["unreach", "hop-limit"],
)
def test_error_v6_names_original_target(outer, reason: str) -> None:
    pkt = IPv6(src=ROUTER6, dst=ME6) / outer / bytes(request6())
    assert wire.parse_icmp6(icmp6_bytes(pkt), ROUTER6) == wire.Match(TARGET6, 0x1234, 7, reason)


@pytest.mark.parametrize(
    "data",
    [
        icmp6_bytes(request6()),
        icmp6_bytes(IPv6(src=TARGET6, dst=ME6) / ICMPv6EchoReply(id=3, seq=4))[:7],
        icmp6_bytes(IPv6(src=ROUTER6, dst=ME6) / ICMPv6DestUnreach() / bytes(request6())[:47]),
        icmp6_bytes(
            IPv6(src=ROUTER6, dst=ME6)
            / ICMPv6DestUnreach()
            / bytes(IPv6(src=ME6, dst=TARGET6) / scapy_all.UDP())
        ),
        icmp6_bytes(IPv6(src=TARGET6, dst=ME6) / scapy_all.ICMPv6ND_NS(tgt=ME6)),
    ],
    ids=["own-request", "truncated-reply", "truncated-error", "quotes-udp", "neighbour-solicit"],
)
def test_ignored_v6(data: bytes) -> None:
    assert wire.parse_icmp6(data, TARGET6) is None


# --- properties on arbitrary bytes ---------------------------------------------------------------

ADDRESS4 = st.ip_addresses(v=4).map(str)
ADDRESS6 = st.ip_addresses(v=6).map(lambda a: socket.inet_ntop(socket.AF_INET6, a.packed))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600), ADDRESS4, ADDRESS6)
def test_arbitrary_bytes_never_raise(data: bytes, sender4: str, sender6: str) -> None:
    for match in (wire.parse_ipv4(data, sender4), wire.parse_icmp4(data, sender4)):
        assert match is None or isinstance(match, wire.Match)
    assert wire.parse_icmp6(data, sender6) is None or wire.parse_icmp6(data, sender6).seq >= 0
    anc = [_recverr(wire.SO_EE_ORIGIN_ICMP, 3, 1), (0, 0, data)]
    assert wire.parse_errqueue(data, anc, sender4) in (
        None,
        wire.parse_errqueue(data, anc, sender4),
    )


HEADERS = st.sampled_from(
    [
        bytes(IP(src=TARGET, dst=ME) / ICMP(type=0))[:24],
        bytes(IP(src=ROUTER, dst=ME) / ICMP(type=3, code=1))[:28],
        bytes(IP(src=ROUTER, dst=ME) / ICMP(type=11))[:28] + bytes(IP(src=ME, dst=OTHER))[:20],
    ]
)


@settings(max_examples=500, deadline=None)
@given(HEADERS, st.binary(max_size=120), ADDRESS4)
def test_plausible_prefixes_never_match_a_wrong_target(head: bytes, tail: bytes, sender: str):
    """A reply names its sender; an error names the destination it quotes, nothing else."""
    data = head + tail
    for ip_header in (True, False):
        packet = data if ip_header else data[20:]
        match = (wire.parse_ipv4 if ip_header else wire.parse_icmp4)(packet, sender)
        if match is None:
            continue
        icmp = packet[(packet[0] & 0x0F) * 4 :] if ip_header else packet
        if match.reason == "ok":
            assert match.target == sender
            assert icmp[0] == 0
        else:
            quoted_ihl = (icmp[8] & 0x0F) * 4
            assert match.target == socket.inet_ntoa(icmp[24:28])
            assert icmp[8 + quoted_ihl] == 8
            assert (match.ident, match.seq) == struct.unpack_from("!HH", icmp, 12 + quoted_ihl)


@settings(deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=64), ADDRESS4)
def test_any_echo_reply_roundtrips(ident: int, seq: int, payload: bytes, sender: str) -> None:
    reply = bytearray(wire.echo_request(ident, seq, payload))
    reply[0], reply[2:4] = 0, b"\0\0"
    reply[2:4] = struct.pack("!H", wire.checksum(bytes(reply)))
    packet = bytes(IP(src=sender, dst=ME, proto=1) / Raw(bytes(reply)))
    assert wire.parse_ipv4(packet, sender) == wire.Match(sender, ident, seq, "ok")
    assert wire.parse_icmp4(bytes(reply), sender) == wire.Match(sender, ident, seq, "ok")
