"""ICMP and ICMPv6 echo on the wire: building requests and reading what comes back.

Pure functions on bytes, so every odd packet can be tested without a socket. A parser returns a
:class:`Match` naming the echo request a packet answers (target address, identifier, sequence) and
the outcome, or ``None`` for anything that is not an answer to an echo request: other ICMP types,
truncated or malformed packets. Whether the identifier is ours is the caller's business.

Four shapes arrive, depending on the socket (see :mod:`pantau.agent.icmp.pinger`):

* raw IPv4 socket: IPv4 header + ICMP (:func:`parse_ipv4`);
* ICMP datagram IPv4 socket: ICMP only, errors via the error queue (:func:`parse_icmp4`,
  :func:`parse_errqueue`);
* IPv6 raw or datagram socket: ICMPv6 only (:func:`parse_icmp6`, :func:`parse_errqueue`).
"""

from __future__ import annotations

import _socket  # see pantau.agent.icmp.sockets
import struct
from collections import namedtuple

OK, UNREACHABLE, TTL_EXCEEDED = "ok", "unreachable", "ttl_exceeded"

ECHO_REPLY4, DEST_UNREACH4, ECHO_REQUEST4, TIME_EXCEEDED4 = 0, 3, 8, 11
DEST_UNREACH6, TIME_EXCEEDED6, ECHO_REQUEST6, ECHO_REPLY6 = 1, 3, 128, 129
_ERRORS4 = {DEST_UNREACH4: UNREACHABLE, TIME_EXCEEDED4: TTL_EXCEEDED}
_ERRORS6 = {DEST_UNREACH6: UNREACHABLE, TIME_EXCEEDED6: TTL_EXCEEDED}

# Linux <linux/in.h>, <linux/in6.h>, <linux/errqueue.h>; the socket module lacks some of them.
IP_RECVERR, IPV6_RECVERR = 11, 25
SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6 = 2, 3
_EXTENDED_ERR = struct.Struct("=IBBBBII")  # struct sock_extended_err
_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence
_ID_SEQ = struct.Struct("!HH")


TYPE_CHECKING = False  # typing is not imported at run time (see pantau.agent.icmp.rounds)
if TYPE_CHECKING:
    from typing import NamedTuple

    class Match(NamedTuple):
        """What a received packet says about one echo request we sent."""

        target: str  # the address the echo request went to
        ident: int
        seq: int
        reason: str  # OK for an echo reply, else UNREACHABLE or TTL_EXCEEDED

else:
    Match = namedtuple("Match", ("target", "ident", "seq", "reason"))
    Match.__doc__ = """What a received packet says about one echo request we sent: the address
    the echo request went to, its identifier and sequence, and OK for an echo reply, else
    UNREACHABLE or TTL_EXCEEDED."""


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``: 0 when ``data`` holds a valid checksum."""
    # The ones' complement sum of 16-bit words is the number's value modulo 0xFFFF
    # (2**16 == 1 mod 0xFFFF), with 0xFFFF ("negative zero") for a non-zero multiple.
    number = int.from_bytes(data + b"\0" if len(data) % 2 else data, "big")
    total = number % 0xFFFF
    if not total and number:
        total = 0xFFFF
    return 0xFFFF - total


def canonical(address: str) -> tuple[str, int]:
    """The address family of an IP literal and libc's text form of it (what ``recvfrom`` gives).

    Raises
    ------
    ValueError
        ``address`` is not an IPv4 or IPv6 literal.
    """
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            return _socket.inet_ntop(family, _socket.inet_pton(family, address)), family
        except OSError:
            continue
    raise ValueError(f"{address!r} is not an IPv4 or IPv6 address")


def echo_request(ident: int, seq: int, payload: bytes, *, v6: bool = False) -> bytes:
    """An ICMP (or ICMPv6) echo request.

    Parameters
    ----------
    ident, seq
        Identifier and sequence number, 0..65535. On a datagram socket the kernel replaces the
        identifier with the socket's port.
    payload
        Echo data.
    v6
        Build ICMPv6. Its checksum is left 0: the kernel computes ICMPv6 checksums (RFC 3542).
    """
    if v6:
        return _HEADER.pack(ECHO_REQUEST6, 0, 0, ident, seq) + payload
    body = _HEADER.pack(ECHO_REQUEST4, 0, 0, ident, seq) + payload
    return _HEADER.pack(ECHO_REQUEST4, 0, checksum(body), ident, seq) + payload


def parse_ipv4(packet: bytes, sender: str) -> Match | None:
    """Read a packet from a raw IPv4 ICMP socket (IPv4 header included).

    The kernel delivers ICMP to raw sockets before checking its checksum, so it is checked here.
    """
    if len(packet) < 28 or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0x0F) * 4
    if ihl < 20 or len(packet) < ihl + 8:
        return None
    icmp = packet[ihl:]
    if checksum(icmp):
        return None
    if icmp[0] == ECHO_REPLY4 and not icmp[1]:  # the common case, kept short: one per reply
        ident, seq = _ID_SEQ.unpack_from(icmp, 4)
        return Match(sender, ident, seq, OK)
    return _icmp4(icmp, 0, sender)


def parse_icmp4(data: bytes, sender: str) -> Match | None:
    """Read a packet from an ICMP datagram socket (no IPv4 header; the kernel checked it)."""
    if len(data) < 8:
        return None
    return _icmp4(data, 0, sender)


def _icmp4(data: bytes, off: int, sender: str) -> Match | None:
    kind, code = data[off], data[off + 1]
    if kind == ECHO_REPLY4:
        if code:
            return None
        ident, seq = _ID_SEQ.unpack_from(data, off + 4)
        return Match(sender, ident, seq, OK)
    reason = _ERRORS4.get(kind)
    if reason is None:
        return None
    # The error quotes the original IPv4 header and the first 8 bytes of our echo request.
    inner = off + 8
    if len(data) < inner + 28 or data[inner] >> 4 != 4 or data[inner + 9] != _socket.IPPROTO_ICMP:
        return None
    ihl = (data[inner] & 0x0F) * 4
    quoted = inner + ihl
    if ihl < 20 or len(data) < quoted + 8 or data[quoted] != ECHO_REQUEST4 or data[quoted + 1]:
        return None
    ident, seq = _ID_SEQ.unpack_from(data, quoted + 4)
    return Match(_socket.inet_ntoa(data[inner + 16 : inner + 20]), ident, seq, reason)


def parse_icmp6(data: bytes, sender: str) -> Match | None:
    """Read a packet from an ICMPv6 raw or datagram socket (no IPv6 header)."""
    if len(data) < 8:
        return None
    kind, code = data[0], data[1]
    if kind == ECHO_REPLY6:
        if code:
            return None
        ident, seq = _ID_SEQ.unpack_from(data, 4)
        return Match(sender, ident, seq, OK)
    reason = _ERRORS6.get(kind)
    # The error quotes our IPv6 header (40 bytes, no extension headers) and echo request.
    if reason is None or len(data) < 56 or data[8] >> 4 != 6 or data[14] != _socket.IPPROTO_ICMPV6:
        return None
    if data[48] != ECHO_REQUEST6 or data[49]:
        return None
    ident, seq = _ID_SEQ.unpack_from(data, 52)
    return Match(_socket.inet_ntop(_socket.AF_INET6, data[32:48]), ident, seq, reason)


def parse_errqueue(
    payload: bytes, ancdata: list[tuple[int, int, bytes]], target: str
) -> Match | None:
    """Read one entry of a datagram socket's error queue (``recvmsg(..., MSG_ERRQUEUE)``).

    Parameters
    ----------
    payload
        The echo request the error is about, as it left (identifier rewritten by the kernel).
    ancdata
        Ancillary data; its ``IP_RECVERR``/``IPV6_RECVERR`` message holds the ICMP type and code.
    target
        The address ``recvmsg`` returned: the original destination, read by the kernel from the
        quoted header.
    """
    for level, kind, data in ancdata:
        recverr = (level, kind) in (
            (_socket.IPPROTO_IP, IP_RECVERR),
            (_socket.IPPROTO_IPV6, IPV6_RECVERR),
        )
        if not recverr or len(data) < _EXTENDED_ERR.size:
            continue
        _errno, origin, icmp_type, _code, _pad, _info, _data = _EXTENDED_ERR.unpack_from(data)
        if origin == SO_EE_ORIGIN_ICMP:
            reason, request = _ERRORS4.get(icmp_type), ECHO_REQUEST4
        elif origin == SO_EE_ORIGIN_ICMP6:
            reason, request = _ERRORS6.get(icmp_type), ECHO_REQUEST6
        else:
            return None
        if reason is None or len(payload) < 8 or payload[0] != request:
            return None
        ident, seq = _ID_SEQ.unpack_from(payload, 4)
        return Match(target, ident, seq, reason)
    return None
