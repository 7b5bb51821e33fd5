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
