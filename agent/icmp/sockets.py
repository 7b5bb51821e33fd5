"""ICMP sockets: a raw socket when the process has CAP_NET_RAW, else the ICMP datagram socket.

On a raw socket we choose the echo identifier, and two kernel filters keep what Linux copies to
every raw socket (every ICMP packet the host receives) out of our queue: ``ICMP_FILTER`` drops the
ICMP types we never read, and a classic BPF program drops echo replies carrying another
identifier (another pinger's: fping, a second sweep worker). On a datagram socket
(``net.ipv4.ping_group_range``) the kernel rewrites the identifier to the socket's port and reports
ICMP errors through the socket's error queue (``IP_RECVERR``). When neither may be opened,
:class:`~pantau.errors.PermissionDenied` says exactly what to run.
"""

from __future__ import annotations

# _socket, the C module under socket: socket.py also builds enums of every constant (~6 ms and
# ~0.3 MiB of a one-shot sweep). Its socket type is socket.socket's base class, with every
# method used here (setsockopt, sendto, recvfrom, recvmsg, fileno, close...).
import _socket
import array
import logging
import os
import struct
import sys

from pantau.agent.icmp import wire
from pantau.errors import PermissionDenied, ProbeSetupError

TYPE_CHECKING = False  # typing is not imported at run time (see pantau.agent.icmp.rounds)
if TYPE_CHECKING:
    from typing import Literal

    Mode = Literal["auto", "raw", "dgram"]

log = logging.getLogger(__name__)

RCVBUF = 8 << 20  # the replies of a 10,000-target pass fit while the sender runs
_SO_RCVBUFFORCE = 33  # <asm-generic/socket.h>; needs CAP_NET_ADMIN, lifts net.core.rmem_max
_SOL_RAW, _ICMP_FILTER = 255, 1  # <linux/icmp.h>: bit set = ICMP type dropped by the kernel
_ICMP6_FILTER = 1  # <linux/icmpv6.h>, level IPPROTO_ICMPV6; same bit sense over 256 types
_SO_ATTACH_FILTER = 26  # <asm-generic/socket.h>; the socket module does not export it

# Classic BPF opcodes (<linux/filter.h>), only those echo_filter uses.
_LD_B_ABS, _LD_H_ABS, _LD_B_IND, _LD_H_IND = 0x30, 0x28, 0x50, 0x48
_LDX_B_MSH = 0xB1  # X = 4 * (packet[k] & 0xF): the IPv4 header length
_JEQ_K, _RET_K = 0x15, 0x06
_INSN = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k (host byte order)
_ACCEPT = 0xFFFFFFFF  # return value: keep this many bytes at most, i.e. the whole packet
_STALE_MAX, _STALE_BUF = 65536, 2048  # bounds of the read of packets queued before the filters


def permission_message(python: str, gid: int, ping_group_range: str) -> str:
    """What to tell someone whose process can open neither ICMP socket kind."""
    return (
        "cannot open an ICMP socket: this process lacks CAP_NET_RAW and its group id "
        f"{gid} is outside net.ipv4.ping_group_range ({ping_group_range}). Do one of:\n"
        f"  sudo setcap cap_net_raw+ep {python}\n"
        "      (the real python binary, not a venv symlink)\n"
        "  AmbientCapabilities=CAP_NET_RAW\n"
        "      (in the [Service] section of pantau's systemd unit)\n"
        f'  sudo sysctl -w net.ipv4.ping_group_range="{gid} {gid}"\n'
        "      (persist it in /etc/sysctl.d/; lets that group use unprivileged ICMP sockets)"
    )


def _ping_group_range() -> str:
    try:
        with open("/proc/sys/net/ipv4/ping_group_range", encoding="ascii") as fh:
            return " ".join(fh.read().split())
    except OSError:
        return "unknown"


class Channel:
    """An open ICMP socket and the echo identifier its replies carry.

    A plain class, not a dataclass: ``dataclasses`` imports ``inspect``, ~1 MiB of a one-shot
    sweep's memory.
    """

    __slots__ = ("family", "ident", "raw", "sock")

    def __init__(self, sock: _socket.socket, family: int, raw: bool, ident: int) -> None:
        self.sock, self.family, self.raw, self.ident = sock, family, raw, ident

    @property
    def kind(self) -> str:
        return "raw" if self.raw else "dgram"


def echo_filter(ident: int, v6: bool = False) -> bytes:
    """The classic BPF program (``struct sock_filter[]``) a raw socket with ``ident`` attaches.

    It drops echo replies whose identifier is not ``ident`` and accepts every other packet:
    ``ICMP_FILTER`` already lets through only echo replies and the ICMP errors, and an error
    carries the identifier in its quote of our request, which userspace matches. A packet too
    short to hold the fields read is dropped by the kernel (cBPF returns 0 on loads past the end).

    Hand-written because no maintained library compiles classic BPF for Python without running a
    tcpdump binary (``tcpdump -ddd``) at build or run time; six or seven instructions are easier to
    review than a dependency. IPv4 raw sockets see the IPv4 header first (its length is read with
    ``ldxb 4*([0]&0xf)`` and the ICMP fields with indirect loads); ICMPv6 raw sockets see the
    ICMPv6 header at offset 0.
    """
    if not 0 <= ident <= 0xFFFF:
        raise ValueError(f"ident must be 0..65535, got {ident}")
    if v6:
        program = [
            (_LD_B_ABS, 0, 0, 0),  # A = ICMPv6 type
            (_JEQ_K, 0, 2, wire.ECHO_REPLY6),  # not an echo reply: accept
            (_LD_H_ABS, 0, 0, 4),  # A = identifier
            (_JEQ_K, 0, 1, ident),  # ours: accept, else drop
            (_RET_K, 0, 0, _ACCEPT),
            (_RET_K, 0, 0, 0),
        ]
    else:
        program = [
            (_LDX_B_MSH, 0, 0, 0),  # X = IPv4 header length
            (_LD_B_IND, 0, 0, 0),  # A = ICMP type
            (_JEQ_K, 0, 2, wire.ECHO_REPLY4),  # not an echo reply: accept
            (_LD_H_IND, 0, 0, 4),  # A = identifier
            (_JEQ_K, 0, 1, ident),  # ours: accept, else drop
            (_RET_K, 0, 0, _ACCEPT),
            (_RET_K, 0, 0, 0),
        ]
    return b"".join(_INSN.pack(*insn) for insn in program)


_SOCK_FPROG = struct.Struct("@HP")  # struct sock_fprog: count, pointer (native alignment)


def attach_filter(sock: _socket.socket, program: bytes) -> None:
    """Attach a classic BPF ``program`` (from :func:`echo_filter`) to ``sock``.

    Raises
    ------
    OSError
        The kernel refused it.
    """
    # The instructions' address comes from an array (ctypes would cost a one-shot sweep ~0.5 MiB
    # of imports); the array stays alive until setsockopt returns, and the kernel copies it.
    buf = array.array("B", program)
    fprog = _SOCK_FPROG.pack(len(program) // _INSN.size, buf.buffer_info()[0])
    sock.setsockopt(_socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    del buf


def open_channel(
    family: int, mode: Mode = "auto", rcvbuf: int = RCVBUF, ident: int | None = None
) -> Channel:
    """Open the ICMP socket for ``family``: raw if allowed (or asked), else datagram.

    ``ident`` is the echo identifier of a raw socket (random if None); a datagram socket gets its
    port from the kernel instead.

    Raises
    ------
    PermissionDenied
        Neither kind may be opened; the message says what to run.
    ProbeSetupError
        The address family is not supported (IPv6 disabled).
    """
    proto = _socket.IPPROTO_ICMPV6 if family == _socket.AF_INET6 else _socket.IPPROTO_ICMP
    kinds = {"auto": (True, False), "raw": (True,), "dgram": (False,)}[mode]
    for raw in kinds:
        try:
            sock = _socket.socket(family, _socket.SOCK_RAW if raw else _socket.SOCK_DGRAM, proto)
        except PermissionError:
            continue
        except OSError as exc:
            raise ProbeSetupError(f"cannot open an ICMP socket for {family!r}: {exc}") from exc
        return _setup(sock, family, raw, rcvbuf, ident)
    python = os.path.realpath(sys.executable)
    raise PermissionDenied(permission_message(python, os.getgid(), _ping_group_range()))


def _setup(
    sock: _socket.socket, family: int, raw: bool, rcvbuf: int, ident: int | None = None
) -> Channel:
    sock.setblocking(False)
    try:
        sock.setsockopt(_socket.SOL_SOCKET, _SO_RCVBUFFORCE, rcvbuf)
    except PermissionError:
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVBUF, rcvbuf)  # capped by rmem_max
    v6 = family == _socket.AF_INET6
    if raw:
        # Linux copies every ICMP packet to every raw socket: the kernel drops what we never read.
        if v6:
            level, option, words = _socket.IPPROTO_ICMPV6, _ICMP6_FILTER, [0xFFFFFFFF] * 8
            keep = (wire.ECHO_REPLY6, wire.DEST_UNREACH6, wire.TIME_EXCEEDED6)
        else:
            level, option, words = _SOL_RAW, _ICMP_FILTER, [0xFFFFFFFF]
            keep = (wire.ECHO_REPLY4, wire.DEST_UNREACH4, wire.TIME_EXCEEDED4)
        for kind in keep:
            words[kind >> 5] &= ~(1 << (kind & 31))
        sock.setsockopt(level, option, struct.pack(f"={len(words)}I", *words))
        if ident is None:
            ident = int.from_bytes(os.urandom(2), "big") or 1
        try:
            attach_filter(sock, echo_filter(ident, v6))
        except OSError as exc:
            # Not fatal: userspace ignores foreign identifiers anyway, at a parse per packet.
            # Sockets open once per prober (or sweep worker), so this is said rarely.
            log.warning("icmp identifier filter not attached error=%s", exc)
        # A raw socket receives from socket() on: drop what it queued before the filters were
        # attached (another pinger's traffic), so that only what passes them is ever read.
        for _ in range(_STALE_MAX):
            try:
                sock.recv(_STALE_BUF)
            except OSError:  # BlockingIOError: nothing (more) queued
                break
    else:
        # ICMP errors reach a datagram socket only through its error queue.
        if v6:
            sock.setsockopt(_socket.IPPROTO_IPV6, wire.IPV6_RECVERR, 1)
        else:
            sock.setsockopt(_socket.IPPROTO_IP, wire.IP_RECVERR, 1)
        sock.bind(("::" if v6 else "0.0.0.0", 0))
        ident = sock.getsockname()[1]  # the kernel writes the port into the identifier
    channel = Channel(sock, family, raw, ident)
    log.info("icmp socket opened family=%s kind=%s", "ipv6" if v6 else "ipv4", channel.kind)
    return channel
