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

import contextlib
import fcntl
import ipaddress
import itertools
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pantau.errors import ProbeSetupError

log = logging.getLogger(__name__)

LAB_NET = ipaddress.ip_network("198.18.0.0/15")
LOCK_DIR = Path("/run/pantau-lab")
NS_PREFIX = "pl"
BLACKHOLE_METRIC = 4242
_COUNTER = itertools.count(1)


class LabError(ProbeSetupError):
    """The lab could not be built or changed (not root, no namespaces, ``ip`` failed)."""


def run_ip(
    args: Sequence[str], *, ns: str | None = None, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``ip`` (or ``ip -n NS``) and raise :class:`LabError` with its stderr on failure."""
    cmd = ["ip", *(["-n", ns] if ns else []), *args]
    res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=30)
    if check and res.returncode != 0:
        raise LabError(f"{shlex.join(cmd)} failed: {res.stderr.strip() or res.stdout.strip()}")
    return res


def _batch(ns: str | None, lines: Sequence[str]) -> None:
    if lines:
        run_ip(["-batch", "-"], ns=ns, stdin="\n".join(lines) + "\n")


def available() -> str | None:
    """None when labs can be built here, else the reason why not (for ``pytest.skip``)."""
    if os.geteuid() != 0:
        return "network lab needs root (network namespaces)"
    name = f"{NS_PREFIX}{os.getpid()}probe{next(_COUNTER)}"
    try:
        res = run_ip(["netns", "add", name], check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
        return f"network lab needs iproute2: {exc}"
    if res.returncode != 0:
        return f"'ip netns add' failed: {res.stderr.strip()}"
    run_ip(["netns", "del", name], check=False)
    return None


def netem_in_kernel() -> bool:
    """True when ``tc qdisc ... netem`` works (the kernel has sch_netem)."""
    name = f"{NS_PREFIX}{os.getpid()}nq{next(_COUNTER)}"
    run_ip(["netns", "add", name])
    try:
        res = subprocess.run(
            ["tc", "-n", name, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return res.returncode == 0
    finally:
        run_ip(["netns", "del", name], check=False)


def _slot_net(slot: int) -> ipaddress.IPv4Network:
    return ipaddress.ip_network(f"{LAB_NET.network_address + slot * 256}/24")


def _claim_slot() -> tuple[int, int]:
    """Lock one free /24 slot; the lock dies with the process, so a crash frees it."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    start = os.getpid() % 512
    for i in range(512):
        slot = (start + i) % 512
        fd = os.open(LOCK_DIR / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _remove_slot_leftovers(slot)
        return slot, fd
    raise LabError("all 512 lab address slots are in use; close other labs")


def _root_ifname(slot: int) -> str:
    return f"plab{slot}"


def _remove_slot_leftovers(slot: int) -> None:
    """Delete what a crashed lab that held this slot left in the root namespace."""
    net = str(_slot_net(slot))
    run_ip(["link", "del", _root_ifname(slot)], check=False)
    run_ip(["route", "del", "blackhole", net, "metric", str(BLACKHOLE_METRIC)], check=False)


def sweep_stale() -> list[str]:
    """Delete lab namespaces whose owning process is gone; return their names."""
    gone = []
    for line in run_ip(["netns", "list"], check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if not name.startswith(NS_PREFIX):
            continue
        digits = "".join(itertools.takewhile(str.isdigit, name[len(NS_PREFIX) :]))
        if digits and not Path(f"/proc/{digits}").exists():
            run_ip(["netns", "del", name], check=False)
            gone.append(name)
    return gone


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


class Lab:
    """A lab of namespaces; use as a context manager, or call :meth:`close` yourself.

    Parameters
    ----------
    tag
        A short word put into namespace names to tell labs apart in ``ip netns list``.
    """

    ROOT = "root"

    def __init__(self, tag: str = "") -> None:
        why = available()
        if why:
            raise LabError(why)
        sweep_stale()
        self.id = f"{NS_PREFIX}{os.getpid()}c{next(_COUNTER)}{tag}"
        self.slot, self._slot_fd = _claim_slot()
        self.net = _slot_net(self.slot)
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
        _batch(node.ns, ["link set lo up"])
        self.exec(
            name,
            [
                "sysctl",
                "-q",
                "-w",
                "net.ipv4.ip_forward=1",
                "net.ipv4.icmp_ratelimit=0",
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
            return _root_ifname(self.slot)
        name = f"{peer[:10]}{index}"
        return name if name.replace("-", "").replace("_", "").isalnum() else f"veth{index}"

    def _make_veth(self, lk: Link, a_end: tuple[str, str] | None = None) -> None:
        a_ns = self.nodes[lk.a].ns
        b_ns = None if lk.b == self.ROOT else self.nodes[lk.b].ns
        peer = f"netns {b_ns}" if b_ns else "netns 1"
        _batch(
            a_ns,
            [
                f"link add {lk.if_a} type veth peer name {lk.if_b} {peer}",
                f"link set {lk.if_a} alias {lk.b}",
                f"addr add {lk.addr_a}/30 dev {lk.if_a}",
                f"link set {lk.if_a} up",
            ],
        )
        _batch(
            b_ns,
            [
                f"link set {lk.if_b} alias {lk.a}",
                f"addr add {lk.addr_b}/30 dev {lk.if_b}",
                f"link set {lk.if_b} up",
            ],
        )

    def routes(self) -> None:
        """(Re)install shortest-path static routes in every namespace (idempotent)."""
        for name, node in self.nodes.items():
            lines = []
            for dest, via, dev in self._routes_from(name):
                lines.append(f"route replace {dest} via {via} dev {dev}")
            if node.alive:
                _batch_tolerant(node.ns, lines)

    def _routes_from(self, start: str) -> list[tuple[str, str, str]]:
        """Next hop to every link subnet not attached to ``start`` (BFS over live links)."""
        hops: dict[str, tuple[int, str, str]] = {start: (0, "", "")}  # node -> (dist, via, dev)
        queue = deque([start])
        while queue:
            cur = queue.popleft()
            if cur == self.ROOT:
                continue
            dist, via, dev = hops[cur]
            for lk in self.nodes[cur].links:
                nxt = lk.other(cur)
                if nxt in hops or not lk.up:
                    continue
                if cur == start:
                    via, dev = lk.side(nxt)[1], lk.side(start)[0]
                hops[nxt] = (dist + 1, via, dev)
                queue.append(nxt)
        attached = {lk.net for lk in self.nodes[start].links}
        out = []
        for lk in self.links:
            ends = [hops[n] for n in (lk.a, lk.b) if n in hops]
            if lk.net not in attached and ends:
                _, via, dev = min(ends)
                out.append((str(lk.net), via, dev))
        return out

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
        **kwargs: object,
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

    def popen(self, name: str, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
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
                _tc(["qdisc", "replace", "dev", dev, "root", "netem", *args], ns)
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
                _tc(["qdisc", "del", "dev", dev, "root"], ns, check=False)

    # -- cleanup ----------------------------------------------------------------------------
    def close(self) -> None:
        """Kill processes, delete namespaces, the root veth and root routes. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with _sigint_blocked():
            for proc in self._procs + [lk.wire for lk in self.links if lk.wire]:
                _stop(proc)
            for node in self.nodes.values():
                run_ip(["netns", "del", node.ns], check=False)
            for lk in self.links:
                if lk.wire_ns:
                    run_ip(["netns", "del", lk.wire_ns], check=False)
            _remove_slot_leftovers(self.slot)
            os.close(self._slot_fd)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # last resort if a caller forgot close()
        if not getattr(self, "_closed", True):
            self.close()


def _batch_tolerant(ns: str, lines: Sequence[str]) -> None:
    """Like ``_batch`` but keeps going past routes whose device is down (``-force``)."""
    if lines:
        run_ip(["-force", "-batch", "-"], ns=ns, stdin="\n".join(lines) + "\n", check=False)


def _tc(args: Sequence[str], ns: str | None, check: bool = True) -> None:
    cmd = ["tc", *(["-n", ns] if ns else []), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and res.returncode != 0:
        raise LabError(f"{shlex.join(cmd)} failed: {res.stderr.strip()}")


def _stop(proc: subprocess.Popen[bytes], grace: float = 2.0) -> None:
    """SIGTERM the process group, then SIGKILL after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return
            time.sleep(0.02)


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Cleanup must not be cut short by a second Ctrl-C."""
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
