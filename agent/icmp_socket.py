"""ICMP sockets: a raw socket when the process has CAP_NET_RAW, else the ICMP datagram socket.

On a raw socket we choose the echo identifier and a kernel filter drops the ICMP types we never
read (Linux copies every ICMP packet to every raw socket). On a datagram socket
(``net.ipv4.ping_group_range``) the kernel rewrites the identifier to the socket's port and reports
ICMP errors through the socket's error queue (``IP_RECVERR``). When neither may be opened,
:class:`~pantau.errors.PermissionDenied` says exactly what to run.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import socket
import struct
import sys
from pathlib import Path
from typing import Literal

from pantau.agent import icmp_wire as wire

from pantau.errors import PermissionDenied, ProbeSetupError

log = logging.getLogger(__name__)

Mode = Literal["auto", "raw", "dgram"]

RCVBUF = 8 << 20  # the replies of a 10,000-target pass fit while the sender runs
_SO_RCVBUFFORCE = 33  # <asm-generic/socket.h>; needs CAP_NET_ADMIN, lifts net.core.rmem_max
_SOL_RAW, _ICMP_FILTER = 255, 1  # <linux/icmp.h>: bit set = ICMP type dropped by the kernel
_ICMP6_FILTER = 1  # <linux/icmpv6.h>, level IPPROTO_ICMPV6; same bit sense over 256 types


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
        return " ".join(Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
    except OSError:
        return "unknown"


@dataclasses.dataclass(slots=True)
class Channel:
    """An open ICMP socket and the echo identifier its replies carry."""

    sock: socket.socket
    family: int
    raw: bool
    ident: int

    @property
    def kind(self) -> str:
        return "raw" if self.raw else "dgram"


def open_channel(family: int, mode: Mode = "auto", rcvbuf: int = RCVBUF) -> Channel:
    """Open the ICMP socket for ``family``: raw if allowed (or asked), else datagram.

    Raises
    ------
    PermissionDenied
        Neither kind may be opened; the message says what to run.
    ProbeSetupError
        The address family is not supported (IPv6 disabled).
    """
    proto = socket.IPPROTO_ICMPV6 if family == socket.AF_INET6 else socket.IPPROTO_ICMP
    kinds = {"auto": (True, False), "raw": (True,), "dgram": (False,)}[mode]
    for raw in kinds:
        try:
            sock = socket.socket(family, socket.SOCK_RAW if raw else socket.SOCK_DGRAM, proto)
        except PermissionError:
            continue
        except OSError as exc:
            raise ProbeSetupError(f"cannot open an ICMP socket for {family!r}: {exc}") from exc
        return _setup(sock, family, raw, rcvbuf)
    python = os.path.realpath(sys.executable)
    raise PermissionDenied(permission_message(python, os.getgid(), _ping_group_range()))


def _setup(sock: socket.socket, family: int, raw: bool, rcvbuf: int) -> Channel:
    sock.setblocking(False)
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, rcvbuf)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # capped by rmem_max
    v6 = family == socket.AF_INET6
    if raw:
        # Linux copies every ICMP packet to every raw socket: the kernel drops what we never read.
        if v6:
            level, option, words = socket.IPPROTO_ICMPV6, _ICMP6_FILTER, [0xFFFFFFFF] * 8
            keep = (wire.ECHO_REPLY6, wire.DEST_UNREACH6, wire.TIME_EXCEEDED6)
        else:
            level, option, words = _SOL_RAW, _ICMP_FILTER, [0xFFFFFFFF]
            keep = (wire.ECHO_REPLY4, wire.DEST_UNREACH4, wire.TIME_EXCEEDED4)
        for kind in keep:
            words[kind >> 5] &= ~(1 << (kind & 31))
        sock.setsockopt(level, option, struct.pack(f"={len(words)}I", *words))
        ident = random.randrange(1, 0x10000)
    else:
        # ICMP errors reach a datagram socket only through its error queue.
        if v6:
            sock.setsockopt(socket.IPPROTO_IPV6, wire.IPV6_RECVERR, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, wire.IP_RECVERR, 1)
        sock.bind(("::" if v6 else "0.0.0.0", 0))
        ident = sock.getsockname()[1]  # the kernel writes the port into the identifier
    channel = Channel(sock, family, raw, ident)
    log.info("icmp socket opened family=%s kind=%s", "ipv6" if v6 else "ipv4", channel.kind)
    return channel
