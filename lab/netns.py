"""Test networks of Linux network namespaces, veth links, static routes and impairments.

A :class:`Lab` owns a set of namespaces ("nodes") joined by veth pairs ("links"). Every node can
forward; static routes along the shortest path of the link graph are installed so every node
reaches every other. Links can be impaired (loss, delay, jitter), cut and restored; a node can be
killed (all its links down). Commands and Python run inside a node with ``ip netns exec``.
:meth:`Lab.close` (also on ``with`` exit, on failure and on KeyboardInterrupt) kills the lab's
processes, deletes its namespaces, its root-namespace veth and its routes.

Addresses
    Only 198.18.0.0/15 (RFC 2544 benchmarking). Each lab claims one /24 "slot" of it with a lock
    file in ``/run/pantau-lab`` (so concurrent labs never share addresses); each link is a /30.

Safety rule (the lab must never send a packet out of the machine)
    The probing processes run inside lab namespaces, which have routes for the lab /24 only and no
    default route. When a veth end must live in the root namespace (:meth:`Lab.attach_root`), a
    ``blackhole`` route for the lab's /24 is added to the root namespace FIRST, with a worse metric
    than the route through the veth. When a test cuts that link the kernel drops the veth route and
    packets to lab addresses hit the blackhole instead of following the default route out of the
    machine. The blackhole is per lab slot and removed on cleanup (or by :func:`sweep_stale` after
    a crash). ``tests/test_lab_netns.py`` checks it with ``ip route get``.

Impairment
    :meth:`Lab.netem` uses ``tc qdisc netem`` when the kernel has it. Kernels without
    ``sch_netem`` (CONFIG_NET_SCH_NETEM unset, as on this project's CI VMs) get the same
    effect from :mod:`pantau.lab.wire`, a user-space relay spliced into the link.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from pantau.lab.iproute import (
    BLACKHOLE_METRIC,
    COUNTER,
    LAB_NET,
    NS_PREFIX,
    LabError,
    available,
    batch,
    batch_tolerant,
    claim_slot,
    netem_in_kernel,
    remove_slot_leftovers,
    root_ifname,
    run_ip,
    sigint_blocked,
    slot_net,
    stop_process,
    sweep_stale,
    tc,
)
from pantau.lab.routing import ROOT, Link, Node, routes_from

__all__ = [
    "LAB_NET",
    "NS_PREFIX",
    "Lab",
    "LabError",
    "Link",
    "Node",
    "available",
    "run_ip",
    "slot_net",
    "sweep_stale",
]

log = logging.getLogger(__name__)


class Lab:
    """A lab of namespaces; use as a context manager, or call :meth:`close` yourself.

    Parameters
    ----------
    tag
        A short word put into namespace names to tell labs apart in ``ip netns list``.
    """

    ROOT = ROOT

    def __init__(self, tag: str = "") -> None:
        why = available()
        if why:
            raise LabError(why)
        sweep_stale()
        self.id = f"{NS_PREFIX}{os.getpid()}c{next(COUNTER)}{tag}"
        self.slot, self._slot_fd = claim_slot()
        self.net = slot_net(self.slot)
        self._subnets = self.net.subnets(new_prefix=30)
        self.nodes: dict[str, Node] = {}
        self.links: list[Link] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        self._root_routes: list[list[str]] = []
        self._closed = False
        self._netem_kernel: bool | None = None

    # -- building ---------------------------------------------------------------------------
    def add_node(self, name: str) -> Node:
        """Create a namespace for ``name`` with loopback up and forwarding on."""
        if name in self.nodes or name == self.ROOT:
            raise LabError(f"node {name!r} exists already (or is reserved)")
        node = Node(name, f"{self.id}-{name}")
        run_ip(["netns", "add", node.ns])
        self.nodes[name] = node
        batch(node.ns, ["link set lo up"])
        self.exec(
            name,
            [
                "sysctl",
                "-q",
                "-w",
                "net.ipv4.ip_forward=1",
                # No ICMP type rate-limited per peer. (Not icmp_ratelimit=0: that zeroes the
                # peer's token bucket which "no route" errors share, silencing them.)
                "net.ipv4.icmp_ratemask=0",
                "net.ipv4.ping_group_range=0 2147483647",
            ],
            check=True,
        )
        return node

    def link(self, a: str, b: str) -> Link:
        """Join ``a`` and ``b`` with a veth pair and a /30; routes are refreshed."""
        try:
            net = next(self._subnets)
        except StopIteration:
            raise LabError(f"lab {self.id} has no /30 left in {self.net}") from None
        index = len(self.links)
        lk = Link(a, b, net, self._ifname(a, b, index), self._ifname(b, a, index))
        self._make_veth(lk)
        self.links.append(lk)
        self.nodes[a].links.append(lk)
        if b != self.ROOT:
            self.nodes[b].links.append(lk)
        self.routes()
        return lk

    def _ifname(self, node: str, peer: str, index: int) -> str:
        if node == self.ROOT:
            return root_ifname(self.slot)
        name = f"{peer[:10]}{index}"
        return name if name.replace("-", "").replace("_", "").isalnum() else f"veth{index}"

    def _make_veth(self, lk: Link) -> None:
        a_ns = self.nodes[lk.a].ns
        b_ns = None if lk.b == self.ROOT else self.nodes[lk.b].ns
        peer = f"netns {b_ns}" if b_ns else "netns 1"
        batch(
            a_ns,
            [f"link add {lk.if_a} type veth peer name {lk.if_b} {peer}", *lk.end_commands(lk.a)],
        )
        batch(b_ns, lk.end_commands(lk.b))

    def routes(self) -> None:
        """(Re)install shortest-path static routes in every namespace (idempotent)."""
        for name, node in self.nodes.items():
            lines = []
            for dest, via, dev in routes_from(self.nodes, self.links, name):
                lines.append(f"route replace {dest} via {via} dev {dev}")
            if node.alive:
                batch_tolerant(node.ns, lines)

    def attach_root(self, node: str) -> str:
        """Give the root namespace a veth to ``node``; return ``node``'s address on it.

        The blackhole route for the lab /24 goes in first (see the module's safety rule).
        """
        blackhole = ["route", "add", "blackhole", str(self.net), "metric", str(BLACKHOLE_METRIC)]
        run_ip(blackhole)
        self._root_routes.append(blackhole)
        lk = self.link(node, self.ROOT)
        via = ["route", "replace", str(self.net), "via", lk.addr_a, "dev", lk.if_b, "metric", "10"]
        run_ip(via)
        self._root_routes.append(via)
        return lk.addr_a

    @classmethod
    def tree(cls, parents: Mapping[str, str | None], tag: str = "") -> Lab:
        """Build a lab from ``{node: parent}`` (parent None for the top); nodes in given order."""
        lab = cls(tag)
        try:
            for name in parents:
                lab.add_node(name)
            for name, parent in parents.items():
                if parent is not None:
                    lab.link(name, parent)
        except BaseException:
            lab.close()
            raise
        return lab

    @classmethod
    def star(
        cls, router: str, hosts: Sequence[str], agents: Sequence[str] = (), tag: str = ""
    ) -> Lab:
        """One router with every host and agent linked to it."""
        return cls.tree({router: None, **{h: router for h in [*hosts, *agents]}}, tag)

    # -- addresses --------------------------------------------------------------------------
    def address(self, name: str) -> str:
        """The node's address on its first link (its uplink for :meth:`tree` labs)."""
        links = self.nodes[name].links
        if not links:
            raise LabError(f"node {name!r} has no link, hence no address")
        return links[0].side(name)[1]

    def ns(self, name: str) -> str:
        """The namespace name of a node (for ``ip netns exec``)."""
        return self.nodes[name].ns

    def link_between(self, a: str, b: str | None = None) -> Link:
        """The link between ``a`` and ``b``, or ``a``'s uplink (first link) when ``b`` is None."""
        for lk in self.nodes[a].links:
            if b is None or lk.other(a) == b:
                return lk
        raise LabError(f"no link between {a!r} and {b!r}")

    # -- running things ---------------------------------------------------------------------
    def _argv(self, name: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.nodes[name].ns, *argv]

    def exec(
        self,
        name: str,
        argv: Sequence[str],
        *,
        timeout: float = 60,
        check: bool = False,
        **kwargs: Any,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside node ``name`` and wait (text output captured)."""
        kwargs.setdefault("capture_output", True)
        res = subprocess.run(self._argv(name, argv), text=True, timeout=timeout, **kwargs)
        if check and res.returncode != 0:
            raise LabError(
                f"in {name}: {shlex.join(argv)} exited {res.returncode}: "
                f"{(res.stderr or '').strip()}"
            )
        return res

    def popen(self, name: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside node ``name``; it is killed on :meth:`close`."""
        proc = subprocess.Popen(self._argv(name, argv), start_new_session=True, **kwargs)
        self._procs.append(proc)
        return proc

    @staticmethod
    def _python(code_or_args: str | Sequence[str]) -> list[str]:
        if isinstance(code_or_args, str):
            return [sys.executable, "-c", code_or_args]
        return [sys.executable, *code_or_args]

    def exec_python(
        self, name: str, code_or_args: str | Sequence[str], **kwargs: object
    ) -> subprocess.CompletedProcess[str]:
        """Run Python code (a string) or ``python ARGS`` (a list) inside ``name`` and wait."""
        return self.exec(name, self._python(code_or_args), **kwargs)  # type: ignore[arg-type]

    def popen_python(
        self, name: str, code_or_args: str | Sequence[str], **kwargs: object
    ) -> subprocess.Popen[bytes]:
        """Start Python code or ``python ARGS`` inside ``name`` in the background."""
        return self.popen(name, self._python(code_or_args), **kwargs)

    def ping(self, src: str, dst: str, count: int = 1, timeout: float = 1.0) -> bool:
        """True when ``src`` gets an echo reply from ``dst`` (a node name or an address)."""
        addr = self.address(dst) if dst in self.nodes else dst
        res = self.exec(
            src,
            ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", str(timeout), addr],
            timeout=count * 0.2 + timeout + 5,
        )
        return res.returncode == 0

    # -- failures ---------------------------------------------------------------------------
    def _set_link(self, lk: Link, up: bool) -> None:
        state = "up" if up else "down"
        for node, dev in ((lk.a, lk.if_a), (lk.b, lk.if_b)):
            ns = None if node == self.ROOT else self.nodes[node].ns
            run_ip(["link", "set", dev, state], ns=ns, check=False)
            if up and lk.wire_ns:  # link down dropped the static neighbour of an impaired link
                run_ip(lk.neigh_command(node).split(), ns=ns, check=False)
        lk.up = up

    def cut(self, a: str, b: str | None = None) -> None:
        """Take the link between ``a`` and ``b`` (default: ``a``'s uplink) down at both ends."""
        self._set_link(self.link_between(a, b), False)

    def restore(self, a: str, b: str | None = None) -> None:
        """Bring a cut link back up and reinstall the routes the kernel dropped."""
        lk = self.link_between(a, b)
        if self.nodes[a].alive and (lk.other(a) == self.ROOT or self.nodes[lk.other(a)].alive):
            self._set_link(lk, True)
        self._refresh_root()
        self.routes()

    def kill(self, name: str) -> None:
        """The node dies: every one of its links goes down."""
        for lk in self.nodes[name].links:
            self._set_link(lk, False)
        self.nodes[name].alive = False

    def revive(self, name: str) -> None:
        """Undo :meth:`kill`: links whose other end is alive come back up."""
        self.nodes[name].alive = True
        for lk in self.nodes[name].links:
            other = lk.other(name)
            if other == self.ROOT or self.nodes[other].alive:
                self._set_link(lk, True)
        self._refresh_root()
        self.routes()

    def _refresh_root(self) -> None:
        for args in self._root_routes:
            if "blackhole" not in args:
                run_ip(args, check=False)

    def netem(
        self,
        a: str,
        b: str | None = None,
        *,
        loss: float = 0.0,
        delay: float = 0.0,
        jitter: float = 0.0,
    ) -> None:
        """Impair the link ``a``-``b`` (default ``a``'s uplink) in both directions.

        Parameters
        ----------
        loss
            Probability 0..1 that a packet is dropped, per direction.
        delay, jitter
            Seconds added to each packet, per direction, and the spread of that delay.
        """
        from pantau.lab import wire

        if not 0 <= loss <= 1 or delay < 0 or jitter < 0:
            raise LabError("netem: loss must be 0..1, delay and jitter >= 0 seconds")
        lk = self.link_between(a, b)
        self.clear_netem(a, b)
        if self._netem_kernel is None:
            self._netem_kernel = netem_in_kernel()
        if self._netem_kernel:
            args = wire.netem_args(loss, delay, jitter)
            for node, dev in ((lk.a, lk.if_a), (lk.b, lk.if_b)):
                ns = None if node == self.ROOT else self.nodes[node].ns
                tc(["qdisc", "replace", "dev", dev, "root", "netem", *args], ns)
        else:
            wire.splice(self, lk, loss=loss, delay=delay, jitter=jitter)

    def clear_netem(self, a: str, b: str | None = None) -> None:
        """Remove any impairment from the link ``a``-``b``."""
        from pantau.lab import wire

        lk = self.link_between(a, b)
        if lk.wire_ns:
            wire.unsplice(self, lk)
        elif self._netem_kernel:
            for node, dev in ((lk.a, lk.if_a), (lk.b, lk.if_b)):
                ns = None if node == self.ROOT else self.nodes[node].ns
                tc(["qdisc", "del", "dev", dev, "root"], ns, check=False)

    # -- cleanup ----------------------------------------------------------------------------
    def close(self) -> None:
        """Kill processes, delete namespaces, the root veth and root routes. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with sigint_blocked():
            for proc in self._procs + [lk.wire for lk in self.links if lk.wire]:
                stop_process(proc)
            for node in self.nodes.values():
                run_ip(["netns", "del", node.ns], check=False)
            for lk in self.links:
                if lk.wire_ns:
                    run_ip(["netns", "del", lk.wire_ns], check=False)
            remove_slot_leftovers(self.slot)
            os.close(self._slot_fd)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # last resort if a caller forgot close()
        if not getattr(self, "_closed", True):
            self.close()
