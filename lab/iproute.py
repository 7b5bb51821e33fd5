"""``ip``/``tc`` invocations, lab address slots and cleanup helpers for :mod:`pantau.lab.netns`."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import itertools
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from pantau.errors import ProbeSetupError

LAB_NET = ipaddress.ip_network("198.18.0.0/15")
LOCK_DIR = Path("/run/pantau-lab")
NS_PREFIX = "pl"
BLACKHOLE_METRIC = 4242
COUNTER = itertools.count(1)


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


def batch(ns: str | None, lines: Sequence[str]) -> None:
    if lines:
        run_ip(["-batch", "-"], ns=ns, stdin="\n".join(lines) + "\n")


#: Programs the lab runs, and the Debian package of each.
TOOLS = {"ip": "iproute2", "tc": "iproute2", "ping": "iputils-ping", "sysctl": "procps"}


def missing_tools() -> str | None:
    """Which programs the lab needs are not installed, with their Debian packages, or None."""
    missing = {tool: pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None}
    if not missing:
        return None
    packages = " ".join(sorted(set(missing.values())))
    return (
        f"network lab needs {', '.join(missing)}: install the Debian package(s) {packages} "
        f"(apt-get install {packages})"
    )


def available() -> str | None:
    """None when labs can be built here, else the reason why not (for ``pytest.skip``)."""
    if os.geteuid() != 0:
        return "network lab needs root (network namespaces)"
    why = missing_tools()
    if why:
        return why
    name = f"{NS_PREFIX}{os.getpid()}probe{next(COUNTER)}"
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
    name = f"{NS_PREFIX}{os.getpid()}nq{next(COUNTER)}"
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


def slot_net(slot: int) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(f"{LAB_NET.network_address + slot * 256}/24")


def claim_slot() -> tuple[int, int]:
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
        remove_slot_leftovers(slot)
        return slot, fd
    raise LabError("all 512 lab address slots are in use; close other labs")


def root_ifname(slot: int) -> str:
    return f"plab{slot}"


def remove_slot_leftovers(slot: int) -> None:
    """Delete what a crashed lab that held this slot left in the root namespace."""
    net = str(slot_net(slot))
    run_ip(["link", "del", root_ifname(slot)], check=False)
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


def batch_tolerant(ns: str, lines: Sequence[str]) -> None:
    """Like ``_batch`` but keeps going past routes whose device is down (``-force``)."""
    if lines:
        run_ip(["-force", "-batch", "-"], ns=ns, stdin="\n".join(lines) + "\n", check=False)


def tc(args: Sequence[str], ns: str | None, check: bool = True) -> None:
    cmd = ["tc", *(["-n", ns] if ns else []), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and res.returncode != 0:
        raise LabError(f"{shlex.join(cmd)} failed: {res.stderr.strip()}")


def stop_process(proc: subprocess.Popen[bytes], grace: float = 2.0) -> None:
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
def sigint_blocked() -> Iterator[None]:
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
