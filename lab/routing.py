"""The lab's graph: links, nodes, and the shortest-path static routes (pure)."""

from __future__ import annotations

import ipaddress
import subprocess
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ROOT = "root"


@dataclass
class Link:
    """A veth pair between nodes ``a`` and ``b`` (``b`` may be ``"root"``), one /30."""

    a: str
    b: str
    net: ipaddress.IPv4Network
    if_a: str
    if_b: str
    up: bool = True
    wire: subprocess.Popen[bytes] | None = None
    wire_ns: str | None = None

    @property
    def addr_a(self) -> str:
        return str(self.net.network_address + 1)

    @property
    def addr_b(self) -> str:
        return str(self.net.network_address + 2)

    def side(self, node: str) -> tuple[str, str]:
        """(interface, address) of ``node`` on this link."""
        return (self.if_a, self.addr_a) if node == self.a else (self.if_b, self.addr_b)

    def other(self, node: str) -> str:
        return self.b if node == self.a else self.a

    def end_commands(self, node: str) -> list[str]:
        """``ip -batch`` lines that configure ``node``'s end once the veth exists."""
        dev, addr = self.side(node)
        return [
            f"link set {dev} address {mac(addr)} alias {self.other(node)}",
            f"addr add {addr}/30 dev {dev}",
            f"link set {dev} up",
        ]

    def neigh_command(self, node: str) -> str:
        """A permanent neighbour entry for the other end, so that no ARP crosses an impaired
        link (the lab's losses and delays are then exactly those asked for). The kernel drops
        it when the link goes down; :meth:`Lab.restore` puts it back."""
        dev, peer_addr = self.side(node)[0], self.side(self.other(node))[1]
        return f"neigh replace {peer_addr} lladdr {mac(peer_addr)} dev {dev} nud permanent"


def mac(address: str) -> str:
    """A locally administered MAC address made from an IPv4 address (02:00:a:b:c:d in hex)."""
    return "02:00:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(address).packed)


@dataclass
class Node:
    name: str
    ns: str
    links: list[Link] = field(default_factory=list)
    alive: bool = True


def routes_from(
    nodes: Mapping[str, Node], links: Iterable[Link], start: str
) -> list[tuple[str, str, str]]:
    """(subnet, via, device) for every link subnet not attached to ``start``.

    Breadth-first over links that are up; the next hop is toward the nearer end of the link.
    """
    hops: dict[str, tuple[int, str, str]] = {start: (0, "", "")}  # node -> (dist, via, dev)
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        if cur == ROOT:
            continue
        dist, via, dev = hops[cur]
        for lk in nodes[cur].links:
            nxt = lk.other(cur)
            if nxt in hops or not lk.up:
                continue
            if cur == start:
                via, dev = lk.side(nxt)[1], lk.side(start)[0]
            hops[nxt] = (dist + 1, via, dev)
            queue.append(nxt)
    attached = {lk.net for lk in nodes[start].links}
    out = []
    for lk in links:
        ends = [hops[n] for n in (lk.a, lk.b) if n in hops]
        if lk.net not in attached and ends:
            _, via, dev = min(ends)
            out.append((str(lk.net), via, dev))
    return out
