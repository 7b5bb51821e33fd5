"""Owner-only files whatever the umask (real agent and collector processes) and inert CSV cells."""

from __future__ import annotations

import csv
import os
import stat
import subprocess
import sys
import time

from geo_layouts import districts, local_to_lonlat, sites
from shapely import box

from pantau.config import GeoConfig
from pantau.csvsafe import safe_cell
from pantau.geo.analysis import analyse
from pantau.geo.render import write_summary
from pantau.geo.report import report_tables, write_tables
from pantau.geo.sources import observations_from_records
from pantau.inventory import Site

LON, LAT = 116.85, -1.25


def _umask_022() -> None:
    os.umask(0o022)


def _start(args, cwd, log):
    return subprocess.Popen(
        [sys.executable, "-m", "pantau.cli", *args],
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_umask_022,
    )


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_event_log_database_and_wal_files_are_owner_only_under_umask_022(tmp_path):
    from promstack import free_port

    config = tmp_path / "pantau.toml"
    config.write_text(
        f'[agent]\nname = "a"\nlisten = "127.0.0.1:{free_port()}"\nstate_dir = "state"\n'
        f'[collector]\nlisten = "127.0.0.1:{free_port()}"\ndatabase = "sqlite:///c/c.db"\n'
        'agents = ["http://127.0.0.1:9"]\npull_interval = 0.2\n'
        '[[sites]]\nid = "s"\nname = "S"\nkind = "office"\nlat = -1.2\nlon = 116.8\n'
        'address = "127.0.0.1"\nprobes = ["tcp:9"]\n'
    )
    wanted = [
        tmp_path / "state" / "events.db",
        tmp_path / "state" / "events.db-wal",
        tmp_path / "state" / "events.db-shm",
        tmp_path / "c" / "c.db",
        tmp_path / "c" / "c.db-wal",
        tmp_path / "c" / "c.db-shm",
    ]
    with (tmp_path / "log").open("wb") as log:
        procs = [
            _start(["agent", "--config", str(config)], tmp_path, log),
            _start(["collector", "--config", str(config)], tmp_path, log),
        ]
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not all(p.exists() for p in wanted):
                assert all(p.poll() is None for p in procs), (tmp_path / "log").read_text()
                time.sleep(0.2)
            modes = {p.name: oct(_mode(p)) for p in wanted if p.exists()}
        finally:
            for p in procs:
                p.terminate()
                p.wait(20)
    assert len(modes) == len(wanted), (modes, (tmp_path / "log").read_text()[-2000:])
    assert set(modes.values()) == {oct(0o600)}, modes


def test_existing_world_readable_database_is_tightened(tmp_path):
    from pantau.collector.store import open_store

    db = tmp_path / "c.db"
    db.touch(mode=0o644)
    db.chmod(0o644)
    open_store(f"sqlite:///{db}").close()
    assert _mode(db) == 0o600


def test_csv_cells_that_spreadsheets_run_are_escaped(tmp_path):
    evil = '=HYPERLINK("http://127.0.0.1/x","klik")'
    d = districts([("64.1", local_to_lonlat(LON, LAT, box(-1000, -1000, 1000, 1000)))])
    d["name"] = [evil]
    s = sites(
        Site(id="h1", name="@SUM(A1)", kind="office", lat=LAT, lon=LON, address="127.0.0.1",
             probes=("icmp",)),
    )  # fmt: skip
    obs = observations_from_records([{"site": "h1", "state": "up", "last_result": 10.0}], [], "t")
    analysis = analyse(d, s, obs, GeoConfig(), at=20.0, start=0.0, end=20.0)
    with write_summary(analysis, tmp_path / "summary.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["name"] == "'" + evil
    write_tables(report_tables(analysis), tmp_path / "report")
    with (tmp_path / "report" / "offices.csv").open(newline="") as fh:
        row = next(csv.DictReader(fh))
    assert row["name"] == "'@SUM(A1)"
    with (tmp_path / "report" / "districts.csv").open(newline="") as fh:
        row = next(csv.DictReader(fh))
    assert row["name"] == "'" + evil
    # numbers are numbers: a negative latitude is left alone, text that looks negative is not
    assert safe_cell(-1.25) == -1.25 and safe_cell("-1") == "'-1"
    assert safe_cell("Balikpapan") == "Balikpapan"
