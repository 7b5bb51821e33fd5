"""Helpers shared by the ICMP tests: privilege checks and loopback target lists."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pantau.agent.icmp.sockets import open_channel
from pantau.errors import PantauError


def icmp_allowed(family: int = socket.AF_INET) -> bool:
    """Whether this process may open an ICMP socket of ``family`` (raw or datagram)."""
    try:
        open_channel(family).sock.close()
    except PantauError:
        return False
    return True


def has_ipv6_loopback() -> bool:
    try:
        text = Path("/proc/net/if_inet6").read_text()
    except OSError:
        return False
    return any(line.startswith("0" * 31 + "1") for line in text.splitlines())


needs_icmp = pytest.mark.skipif(
    not icmp_allowed(), reason="needs CAP_NET_RAW or a group in net.ipv4.ping_group_range"
)
needs_icmp6 = pytest.mark.skipif(
    not (has_ipv6_loopback() and icmp_allowed(socket.AF_INET6)),
    reason="needs IPv6 on lo (::1) and an ICMPv6 socket",
)


def loopback_targets(n: int) -> list[str]:
    """``n`` distinct loopback addresses 127.1.x.y: all of 127/8 answers echo on Linux."""
    return [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(n)]
