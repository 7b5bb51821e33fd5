"""``pantau probe icmp --workers``: forked sweep workers give the same output as one process.

Real sweeps of loopback addresses (127.1.x.y), each bounded in count and time.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from icmp_support import loopback_targets, needs_icmp

from pantau.agent.icmp import cli as icmp_cli
from pantau.agent.icmp import pinger as pinger_module
from pantau.agent.icmp import workers as sweep_workers
from pantau.agent.icmp.pinger import Pinger
from pantau.cli import main
from pantau.errors import PermissionDenied

pytestmark = pytest.mark.timeout(120)

RTT_FIELDS = ("rtt_min_ms", "rtt_avg_ms", "rtt_max_ms", "rtt_stddev_ms")


def pantau(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pantau.cli", "probe", "icmp", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def targets_file(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "targets.txt"
    path.write_text("".join(f"{t}\n" for t in loopback_targets(n)))
    return path


def without_rtts(stdout: str) -> list[dict]:
    rows = [json.loads(line) for line in stdout.splitlines()]
    for row in rows:
        assert all(row[k] is not None for k in RTT_FIELDS), row
        for k in RTT_FIELDS:
            del row[k]
    return rows


@pytest.fixture
def fork_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the in-process tests fork although the pytest process has threads of other tests
    (the CLI refuses to fork a threaded program; the child here only sweeps and exits)."""
    monkeypatch.setattr(icmp_cli.threading, "active_count", lambda: 1)


def workers_logged(stderr: str) -> int:
    [line] = [line for line in stderr.splitlines() if "icmp sweep addresses=" in line]
    return int(line.rsplit("workers=", 1)[1])


@needs_icmp
def test_one_two_and_auto_workers_print_the_same_lines(tmp_path: Path) -> None:
    n = 1500
    path = targets_file(tmp_path, n)
    outputs = {}
    for workers in ("1", "2", "3", "auto"):
        res = pantau("-c", "2", "-t", "1", "--rate", "0", "--workers", workers, "-f", str(path))
        assert res.returncode == 0, res.stderr
        outputs[workers] = without_rtts(res.stdout)
        expected = 1 if workers == "auto" else int(workers)  # auto: one per 2,000 targets
        assert workers_logged(res.stderr) == expected
    assert [r["target"] for r in outputs["1"]] == loopback_targets(n)
    assert all((r["sent"], r["received"], r["reason"]) == (2, 2, "ok") for r in outputs["1"])
    assert outputs["2"] == outputs["1"] == outputs["3"] == outputs["auto"]


@needs_icmp
def test_auto_forks_one_worker_per_cpu_for_a_large_sweep(tmp_path: Path) -> None:
    path = targets_file(tmp_path, 4000)
    res = pantau("-c", "1", "--rate", "0", "-f", str(path))
    assert res.returncode == 0, res.stderr
    assert workers_logged(res.stderr) == min(len(os.sched_getaffinity(0)), 2)
    assert len(without_rtts(res.stdout)) == 4000


@needs_icmp
def test_duplicates_names_and_order_with_workers(
    fork_allowed: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def resolve(names, timeout):  # no DNS in tests: names map by hand
        table = {"gw.example": "127.1.0.6", "nowhere.example": None}
        return {name: table.get(name, name) for name in names}

    monkeypatch.setattr(pinger_module, "resolve", resolve)
    caplog.set_level(logging.INFO, logger="pantau.agent.icmp.cli")
    listed = [*loopback_targets(6), "127.1.0.3", "nowhere.example", "gw.example", "127.1.0.1"]
    code = main(["probe", "icmp", "-c", "1", "--workers", "3", *listed])
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1, err  # the unresolved name
    assert "icmp sweep addresses=6 workers=3" in caplog.text
    assert [(r["target"], r["address"], r["reason"]) for r in rows] == [
        *((t, t, "ok") for t in loopback_targets(6)),
        ("nowhere.example", None, "dns"),
        ("gw.example", "127.1.0.6", "ok"),
    ]


@needs_icmp
def test_a_name_before_the_literal_of_its_address(
    fork_allowed: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def resolve(names, timeout):  # no DNS in tests: names map by hand
        return {name: {"gw.example": "127.1.0.5"}.get(name) for name in names}

    monkeypatch.setattr(pinger_module, "resolve", resolve)
    listed = ["gw.example", *loopback_targets(6)]
    code = main(["probe", "icmp", "-c", "1", "--workers", "2", *listed])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert [(r["target"], r["address"], r["received"]) for r in rows] == [
        ("gw.example", "127.1.0.5", 1),
        *((t, t, 1) for t in loopback_targets(6)),
    ]


@needs_icmp
def test_rate_is_shared_between_workers(tmp_path: Path) -> None:
    # 400 targets x 2 echoes at 800 packets/s overall: at least ~1 s, whatever the workers.
    # Each worker at the full rate would take half that.
    path = targets_file(tmp_path, 400)
    start = time.monotonic()
    res = pantau("-c", "2", "--rate", "800", "--workers", "2", "-f", str(path))
    elapsed = time.monotonic() - start
    assert res.returncode == 0, res.stderr
    assert workers_logged(res.stderr) == 2
    assert 0.95 <= elapsed < 15


@needs_icmp
def test_killed_worker_fails_the_sweep_with_a_clear_message(tmp_path: Path) -> None:
    path = targets_file(tmp_path, 400)
    cmd = [sys.executable, "-m", "pantau.cli", "probe", "icmp", "-c", "2", "--rate", "200"]
    proc = subprocess.Popen(
        [*cmd, "--workers", "2", "-f", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        deadline = time.monotonic() + 20
        while not (pids := children.read_text().split()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pids, "no worker was forked"
        os.kill(int(pids[0]), signal.SIGKILL)  # the worker our own child forked
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    assert out == ""
    assert f"sweep worker 2 of 2 (pid {pids[0]}, targets 127.1.0.201 .. 127.1.1.150)" in err
    assert "failed: killed by signal SIGKILL" in err


@needs_icmp
def test_worker_exception_is_reported(
    fork_allowed: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parent, sweep = os.getpid(), Pinger.sweep_blocking

    def failing_in_child(self, addresses, **kwargs):
        if os.getpid() != parent:
            raise RuntimeError("injected\nfailure")
        return sweep(self, addresses, **kwargs)

    monkeypatch.setattr(Pinger, "sweep_blocking", failing_in_child)
    code = main(["probe", "icmp", "-c", "1", "--workers", "2", *loopback_targets(4)])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert "sweep worker 2 of 2" in err
    assert "failed: RuntimeError: injected failure" in err


@needs_icmp
def test_worker_past_its_time_bound_is_killed_and_reported(
    fork_allowed: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parent, sweep = os.getpid(), Pinger.sweep_blocking

    def stuck_in_child(self, addresses, **kwargs):
        if os.getpid() != parent:
            time.sleep(60)  # killed long before
        return sweep(self, addresses, **kwargs)

    monkeypatch.setattr(Pinger, "sweep_blocking", stuck_in_child)
    monkeypatch.setattr(sweep_workers, "worker_bound", lambda packets, n, args: 0.5)
    start = time.monotonic()
    code = main(["probe", "icmp", "-c", "1", "--workers", "2", *loopback_targets(4)])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert "sweep worker 2 of 2" in err and "failed: did not finish within 0.5 s (killed)" in err
    assert time.monotonic() - start < 10


@needs_icmp
def test_a_threaded_caller_gets_one_process(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    import threading

    caplog.set_level(logging.INFO, logger="pantau.agent.icmp.cli")
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, args=(30,), daemon=True)
    thread.start()
    try:
        code = main(["probe", "icmp", "-c", "1", "--workers", "2", *loopback_targets(4)])
    finally:
        stop.set()
        thread.join(5)
    out, _ = capsys.readouterr()
    assert code == 0 and len(out.splitlines()) == 4
    assert "other threads are running, fork is unsafe" in caplog.text
    assert "icmp sweep addresses=4 workers=1" in caplog.text


def test_missing_privilege_is_said_once_before_any_fork(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def denied(self, families=()):
        raise PermissionDenied("cannot open an ICMP socket: do this")

    def no_fork() -> int:
        raise AssertionError("forked before the privilege check")

    monkeypatch.setattr(Pinger, "open", denied)
    monkeypatch.setattr(os, "fork", no_fork)
    assert main(["probe", "icmp", "--workers", "2", *loopback_targets(4)]) == 1
    assert capsys.readouterr().err == "pantau: cannot open an ICMP socket: do this\n"


@pytest.mark.parametrize(
    ("asked", "targets", "rate", "cpus", "expected"),
    [
        ("auto", 10_000, 0, 2, 2),
        ("auto", 10_000, 0, 8, 5),  # at most one per 2,000 targets
        ("auto", 3_999, 0, 8, 1),
        ("auto", 10_000, 10_000, 8, 1),  # the default rate: one process keeps up
        ("auto", 10_000, 60_000, 8, 3),
        ("auto", 0, 0, 8, 1),
        (4, 3, 0, 2, 3),  # never more workers than targets
        (4, 10, 0, 2, 4),
    ],
)
def test_worker_count(monkeypatch, asked, targets, rate, cpus, expected) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)))
    assert sweep_workers.worker_count(asked, targets, rate) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "'0' must be auto or 1..64"), ("x", "'x' is not auto or a number")],
)
def test_bad_workers_exit_2(value: str, message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["probe", "icmp", "--workers", value, "127.0.0.1"])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.root
def test_datagram_sockets_with_workers_in_a_namespace(lab_factory, tmp_path: Path) -> None:
    """Datagram sockets need no identifiers of ours: the kernel gives each worker its port."""
    lab = lab_factory(tree={"solo": None})  # its own lo: 127/8 answers there too
    lab.exec("solo", ["sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 0"], check=True)
    path = targets_file(tmp_path, 600)
    argv = ["-m", "pantau.cli", "probe", "icmp", "-c", "2", "--rate", "0", "--socket", "dgram"]
    res = lab.exec_python("solo", [*argv, "--workers", "2", "-f", str(path)], timeout=60)
    assert res.returncode == 0, res.stderr
    assert workers_logged(res.stderr) == 2 and "kind=dgram" in res.stderr
    rows = without_rtts(res.stdout)
    assert [r["target"] for r in rows] == loopback_targets(600)
    assert all(r["received"] == 2 for r in rows)
