"""The systemd units in examples/systemd/: systemd parses them, and they grant what they should.

``systemd-analyze verify`` checks every directive and that each ExecStart binary exists, so the
test points the units at this checkout's ``pantau`` before verifying. The backup unit's commands
are run for real against a SQLite database that is being written to.
"""

from __future__ import annotations

import configparser
import importlib.util
import shlex
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[1] / "examples" / "systemd"
INSTALLED_PANTAU = "/opt/pantau/venv/bin/pantau"
PANTAU = Path(sys.executable).with_name("pantau")


def _unit(name: str) -> configparser.RawConfigParser:
    # systemd allows repeated keys (ExecStart= of a oneshot); keep the last for these checks.
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(UNITS / name)
    return parser


def _all_values(name: str, key: str) -> list[str]:
    prefix = f"{key}="
    lines = (UNITS / name).read_text().splitlines()
    return [line[len(prefix) :] for line in lines if line.startswith(prefix)]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not found")
def test_systemd_analyze_verify_accepts_every_unit(tmp_path: Path) -> None:
    if not PANTAU.exists():
        pytest.skip(f"{PANTAU} not installed (pip install -e .)")
    for unit in UNITS.iterdir():
        text = unit.read_text().replace(INSTALLED_PANTAU, str(PANTAU))
        (tmp_path / unit.name).write_text(text)
    names = sorted(str(p) for p in tmp_path.iterdir())
    proc = subprocess.run(
        ["systemd-analyze", "verify", *names], capture_output=True, text=True, timeout=60
    )
    # verify exits 0 on unknown keys and bad values too, and only warns: no output is the bar.
    assert proc.returncode == 0 and not proc.stderr.strip() and not proc.stdout.strip(), (
        proc.stdout + proc.stderr
    )


def test_agent_runs_unprivileged_with_only_cap_net_raw() -> None:
    service = _unit("pantau-agent.service")["Service"]
    assert service["User"] == "pantau" and service["Group"] == "pantau"
    assert service["AmbientCapabilities"] == "CAP_NET_RAW"
    assert service["CapabilityBoundingSet"] == "CAP_NET_RAW"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"


def test_collector_runs_with_no_capability() -> None:
    service = _unit("pantau-collector.service")["Service"]
    assert service["User"] == "pantau"
    assert service["AmbientCapabilities"] == "" and service["CapabilityBoundingSet"] == ""
    # SIGHUP re-reads the config (collector/cli.py reload), like the agent's.
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    # Above the collector's own API connection bound (collector/api.py) plus pulls and store.
    from pantau.collector.api import MAX_CONNECTIONS

    assert int(service["LimitNOFILE"]) >= 4 * MAX_CONNECTIONS


@pytest.mark.parametrize(
    ("unit", "command"),
    [("pantau-agent.service", "agent"), ("pantau-collector.service", "collector")],
)
def test_exec_start_names_a_real_subcommand(unit: str, command: str) -> None:
    argv = shlex.split(_unit(unit)["Service"]["ExecStart"])
    assert argv[0] == INSTALLED_PANTAU and argv[1] == command and argv[2] == "--config"
    if importlib.util.find_spec(f"pantau.{command}.cli") is None:
        pytest.skip(f"`pantau {command}` is not on this branch yet")
    from pantau.cli import build_parser

    args = build_parser().parse_args(argv[1:])
    assert str(args.config) == "/etc/pantau/pantau.toml"


def test_timers_start_existing_services() -> None:
    for timer in UNITS.glob("*.timer"):
        assert (UNITS / timer.name.replace(".timer", ".service")).exists(), timer.name


@pytest.mark.skipif(
    shutil.which("sqlite3") is None,
    reason="sqlite3 CLI not installed (Debian package sqlite3; .ci/install-deps installs it)",
)
def test_backup_unit_copies_a_live_database(tmp_path: Path) -> None:
    """Run the backup unit's commands while another connection keeps writing."""
    state = tmp_path / "state"
    (state / "backup").mkdir(parents=True)
    db = state / "collector.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE outages (id INTEGER PRIMARY KEY, site TEXT)")
    con.executemany("INSERT INTO outages (site) VALUES (?)", [(f"s{i}",) for i in range(5000)])
    con.commit()
    stop = threading.Event()

    def writer() -> None:
        w = sqlite3.connect(db)
        while not stop.is_set():
            w.execute("INSERT INTO outages (site) VALUES ('late')")
            w.commit()
        w.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for line in _all_values("pantau-backup.service", "ExecStart"):
            line = line.replace("/var/lib/pantau", str(state)).replace("%%", "%")
            proc = subprocess.run(shlex.split(line), capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, (line, proc.stdout, proc.stderr)
            if "integrity_check" in line:
                assert proc.stdout.strip() == "ok"
    finally:
        stop.set()
        thread.join()
    [backup] = list((state / "backup").glob("collector-2*.db"))
    copied = (
        sqlite3.connect(backup)
        .execute("SELECT count(*) FROM outages WHERE site != 'late'")
        .fetchone()[0]
    )
    assert copied == 5000
