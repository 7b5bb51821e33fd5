"""A user-space impairment relay (loss, delay, jitter) for kernels without ``sch_netem``.

Why hand-written: ``tc netem`` is the tool for this, but kernels built without
CONFIG_NET_SCH_NETEM (the CI VMs of this project) have no qdisc that delays or randomly drops.
:func:`splice` puts a small "wire" namespace into a link: ``a ⟷ [wa  relay  wb] ⟷ b``; the relay
copies Ethernet frames between ``wa`` and ``wb`` through AF_PACKET sockets, dropping each with
probability ``loss`` and holding it ``delay ± jitter`` seconds. ``python -m pantau.lab.wire``
is that relay; it runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import itertools
import random
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pantau.lab.netns import Lab, Link

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
#: Keep frames at MTU size so the relay never has to split a GSO super-packet.
GSO_MAX = "1514"


def netem_args(loss: float, delay: float, jitter: float) -> list[str]:
    """Arguments after ``netem`` for ``tc qdisc`` (delay/jitter in seconds, loss 0..1)."""
    args = []
    if delay or jitter:
        args += ["delay", f"{delay * 1000:.3f}ms"]
        if jitter:
            args += [f"{jitter * 1000:.3f}ms"]
    if loss:
        args += ["loss", f"{loss * 100:.4f}%"]
    return args or ["delay", "0ms"]


def splice(lab: Lab, lk: Link, *, loss: float, delay: float, jitter: float) -> None:
    """Rebuild ``lk`` through a wire namespace whose relay applies the impairment."""
    from pantau.lab.iproute import LabError, batch, run_ip

    ns_a = lab.ns(lk.a)
    ns_b = None if lk.b == lab.ROOT else lab.ns(lk.b)
    run_ip(["link", "del", lk.if_a], ns=ns_a, check=False)
    wns = f"{lab.id}-w{lab.links.index(lk)}"
    run_ip(["netns", "add", wns])
    lk.wire_ns = wns
    run_ip(["link", "add", "wa", "type", "veth", "peer", "name", lk.if_a, "netns", ns_a], ns=wns)
    run_ip(
        ["link", "add", "wb", "type", "veth", "peer", "name", lk.if_b, "netns", ns_b or "1"], ns=wns
    )
    for dev in ("wa", "wb"):
        run_ip(["link", "set", dev, "gso_max_size", GSO_MAX, "promisc", "on", "up"], ns=wns)
    for ns, node in ((ns_a, lk.a), (ns_b, lk.b)):
        dev = lk.side(node)[0]
        batch(
            ns,
            [
                f"link set {dev} gso_max_size {GSO_MAX}",
                *lk.end_commands(node),
                lk.neigh_command(node),
            ],
        )
    lk.wire = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            wns,
            sys.executable,
            "-m",
            "pantau.lab.wire",
            "wa",
            "wb",
            "--loss",
            str(loss),
            "--delay",
            str(delay),
            "--jitter",
            str(jitter),
        ],
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    assert lk.wire.stdout is not None
    if lk.wire.stdout.readline() != b"ready\n":  # frames sent before this would be lost
        raise LabError(f"wire relay for {lk.a}-{lk.b} did not start (exit {lk.wire.poll()})")
    lk.up = True
    lab._refresh_root()
    lab.routes()


def unsplice(lab: Lab, lk: Link) -> None:
    """Stop the relay and put the plain veth pair back."""
    from pantau.lab.iproute import run_ip, stop_process

    if lk.wire is not None:
        stop_process(lk.wire)
        lk.wire = None
    # Delete the ends in a and b first: that is synchronous (the veth peers in the wire namespace
    # go with them), whereas a namespace is destroyed asynchronously after ``ip netns del``.
    run_ip(["link", "del", lk.if_a], ns=lab.ns(lk.a), check=False)
    run_ip(["link", "del", lk.if_b], ns=None if lk.b == lab.ROOT else lab.ns(lk.b), check=False)
    if lk.wire_ns:
        run_ip(["netns", "del", lk.wire_ns], check=False)
        lk.wire_ns = None
    lab._make_veth(lk)
    lk.up = True
    lab._refresh_root()
    lab.routes()


def relay(
    ifaces: Sequence[str], loss: float, delay: float, jitter: float, rng: random.Random
) -> None:
    """Copy frames between two interfaces with the impairment, until SIGTERM."""
    socks = []
    for name in ifaces:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind((name, 0))
        s.setblocking(False)
        socks.append(s)
    peer = {socks[0]: socks[1], socks[1]: socks[0]}
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    queue: list[tuple[float, int, socket.socket, bytes]] = []
    seq = itertools.count()
    stop = False

    def _term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
    print("ready", flush=True)
    while not stop:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, out, frame = heapq.heappop(queue)
            # A frame larger than the MTU or a link that went down: counts as a loss.
            with contextlib.suppress(OSError):
                out.send(frame)
        timeout = max(0.0, queue[0][0] - now) if queue else 0.5
        for key, _ in sel.select(timeout):
            src = key.fileobj
            assert isinstance(src, socket.socket)
            while True:
                try:
                    frame, addr = src.recvfrom(65535)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING or rng.random() < loss:
                    continue
                hold = max(0.0, rng.uniform(delay - jitter, delay + jitter))
                heapq.heappush(queue, (time.monotonic() + hold, next(seq), peer[src], frame))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pantau.lab.wire", description=__doc__)
    p.add_argument("ifaces", nargs=2)
    p.add_argument("--loss", type=float, default=0.0)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--jitter", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args(argv)
    relay(args.ifaces, args.loss, args.delay, args.jitter, random.Random(args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
