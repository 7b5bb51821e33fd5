"""Which ICMP socket an unprivileged agent gets, and the message when it gets none.

Each test runs a Python process as user ``nobody`` (``setpriv``) inside a namespace made by the
test, where it sets ``net.ipv4.ping_group_range`` itself (the sysctl is per namespace).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pantau.agent.icmp.sockets import permission_message
from pantau.lab.netns import Lab

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]

AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
WITH_NET_RAW = ["--inh-caps=+net_raw", "--ambient-caps=+net_raw"]
NOBODY_GID = 65534

PROBE = """
import asyncio, json, os, socket, sys
from pantau.agent.icmp.pinger import Pinger
from pantau.errors import PermissionDenied

async def main():
    pinger = Pinger()
    try:
        pinger.open([socket.AF_INET, socket.AF_INET6])
    except PermissionDenied as exc:
        return {"denied": str(exc), "python": os.path.realpath(sys.executable),
                "gid": os.getgid()}
    try:
        result = await pinger.sweep(["127.0.0.1", "::1"], count=2, timeout=1.0)
        return {"kind": [pinger.kind(socket.AF_INET), pinger.kind(socket.AF_INET6)],
                "received": [s.received for s in result.values()], "uid": os.getuid()}
    finally:
        pinger.close()

print(json.dumps(asyncio.run(main())))
"""


ROOT = Path(__file__).resolve().parents[1]


def _pantau_copy_for_nobody(tmp: Path) -> Path:
    """The stdlib-only ICMP engine modules, copied where user nobody can read them.

    The interpreter pip installed pantau into may live under a directory nobody cannot enter
    (pyenv under /root, as on CI); the engine needs only the standard library, so Debian's
    /usr/bin/python3 can run this copy instead.
    """
    top = tmp / "pantau"
    (top / "agent" / "icmp").mkdir(parents=True)
    for name in ("__init__.py", "errors.py"):
        shutil.copy(ROOT / "src" / "pantau" / name, top / name)
    shutil.copy(ROOT / "agent" / "__init__.py", top / "agent" / "__init__.py")
    for module in ("__init__", "pinger", "wire", "sockets", "rounds"):
        icmp = ROOT / "agent" / "icmp"
        shutil.copy(icmp / f"{module}.py", top / "agent" / "icmp" / f"{module}.py")
    for path in (tmp, top, top / "agent", top / "agent" / "icmp"):
        path.chmod(0o755)
    return tmp


def _nobody_python(tmp: Path) -> list[str] | None:
    """A command running Python as nobody with the ICMP engine importable, if there is one."""
    if shutil.which("setpriv") is None:
        return None
    candidates = [[sys.executable]]
    if Path("/usr/bin/python3").exists():
        path = _pantau_copy_for_nobody(tmp)
        # -P: the repository checkout in the working directory must not shadow the copy.
        candidates.append(["env", f"PYTHONPATH={path}", "/usr/bin/python3", "-P"])
    for python in candidates:
        check = subprocess.run(
            [*AS_NOBODY, *python, "-c", "import pantau.agent.icmp.pinger"],
            capture_output=True,
            timeout=60,
        )
        if check.returncode == 0:
            return python
    return None


@pytest.fixture(scope="module")
def nobody_python() -> Iterator[list[str]]:
    tmp = Path(tempfile.mkdtemp(prefix="pantau-nobody-"))
    try:
        python = _nobody_python(tmp)
        if python is None:
            pytest.skip("no setpriv, or user nobody can run no Python 3.11+ (unreadable path)")
        yield python
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_as_nobody(
    lab_factory: Callable[..., Lab], python: list[str], group_range: str, caps: list[str]
) -> dict:
    lab = lab_factory(tree={"solo": None})
    lab.exec("solo", ["sysctl", "-q", "-w", f"net.ipv4.ping_group_range={group_range}"], check=True)
    res = lab.exec("solo", [*AS_NOBODY, *caps, *python, "-c", textwrap.dedent(PROBE)], timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_datagram_socket_when_the_group_may_ping(lab_factory, nobody_python: list[str]) -> None:
    out = run_as_nobody(lab_factory, nobody_python, f"{NOBODY_GID} {NOBODY_GID}", [])
    assert out == {"kind": ["dgram", "dgram"], "received": [2, 2], "uid": 65534}


def test_raw_socket_with_cap_net_raw(lab_factory, nobody_python: list[str]) -> None:
    out = run_as_nobody(lab_factory, nobody_python, "1 0", WITH_NET_RAW)
    assert out == {"kind": ["raw", "raw"], "received": [2, 2], "uid": 65534}


def test_neither_says_exactly_what_to_run(lab_factory, nobody_python: list[str]) -> None:
    out = run_as_nobody(lab_factory, nobody_python, "1 0", [])
    assert out["gid"] == NOBODY_GID
    assert out["denied"] == permission_message(out["python"], NOBODY_GID, "1 0")
    assert f"sudo setcap cap_net_raw+ep {out['python']}\n" in out["denied"]
    assert 'sudo sysctl -w net.ipv4.ping_group_range="65534 65534"' in out["denied"]
