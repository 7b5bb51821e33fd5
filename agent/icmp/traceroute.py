"""The last responding hop toward a target: where a path stops answering when a site goes down.

One burst of ICMP echo requests with TTL (hop limit) 1..``max_hops`` built and matched by scapy,
in a worker thread so the event loop never waits on it. The answer with the highest TTL names the
last hop: the target itself when it answered, the router that said "unreachable", or the last
router that said "TTL exceeded" before the silence.

Sent through ``IPPROTO_RAW`` sockets (``L3RawSocket``), so the kernel's routing table picks the
way, not scapy's copy of it taken at import time. Needs CAP_NET_RAW; without it the result is None.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket

log = logging.getLogger(__name__)


async def last_hop(
    address: str, *, max_hops: int = 16, timeout: float = 1.5, tries: int = 2
) -> str | None:
    """The address of the last hop that answered toward ``address``, or None.

    Parameters
    ----------
    address
        IPv4 or IPv6 literal of the target.
    max_hops
        Highest TTL (hop limit) probed, 1..255.
    timeout
        Seconds to wait for answers after each pass of probes.
    tries
        Passes: unanswered TTLs are sent again. Routers rate-limit their ICMP errors (Linux sends
        "unreachable" at most once a second per source after a burst, and an ICMP error it just
        sent to us counts too), so a second pass often finds the router a first one missed.
        The call returns within about ``tries * timeout``, plus scapy's import once per process.

    Returns
    -------
    str or None
        None when nothing answered, or when tracing is impossible here (no privilege, no route).
    """
    if not 1 <= max_hops <= 255 or tries < 1:
        raise ValueError(f"max_hops must be 1..255 and tries >= 1, got {max_hops}, {tries}")
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(_trace, address, max_hops, timeout, tries), tries * timeout + 30
        )
    except TimeoutError:
        log.warning("traceroute did not finish address=%s", address)
        return None


def _source(address: str, family: int) -> str | None:
    """The source address the kernel would use toward ``address`` (a UDP connect sends nothing)."""
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((address, 9))
        except OSError:
            return None
        return str(probe.getsockname()[0])


def _trace(address: str, max_hops: int, timeout: float, tries: int) -> str | None:
    v6 = ":" in address
    family = socket.AF_INET6 if v6 else socket.AF_INET
    source = _source(address, family)
    if source is None:
        log.info("traceroute found no route address=%s", address)
        return None
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
    from scapy.packet import Packet
    from scapy.sendrecv import sndrcv
    from scapy.supersocket import L3RawSocket, L3RawSocket6, SuperSocket

    ident = random.randrange(1, 0x10000)
    sock: SuperSocket
    probes: Packet
    try:
        if v6:
            sock = L3RawSocket6()
            probes = IPv6(src=source, dst=address, hlim=(1, max_hops)) / ICMPv6EchoRequest(id=ident)
        else:
            sock = L3RawSocket()
            probes = IP(src=source, dst=address, ttl=(1, max_hops)) / ICMP(id=ident)
    except PermissionError:
        log.warning("traceroute needs CAP_NET_RAW address=%s", address)
        return None
    try:
        answered, _ = sndrcv(sock, probes, timeout=timeout, retry=tries - 1, verbose=0)
    except OSError as exc:
        log.warning("traceroute failed address=%s error=%s", address, exc)
        return None
    finally:
        sock.close()
    hops = {(sent.hlim if v6 else sent.ttl): str(reply.src) for sent, reply in answered}
    if not hops:
        return None
    return hops[max(hops)]
