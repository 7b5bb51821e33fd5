"""National-scale geo benchmark: 83,000 villages, 100,000 to 1,000,000 sites; pantau versus PostGIS.

    python bench/geo_national/run.py [--villages 83000] [--sites 100000,300000,1000000] [--seed 7]
                                     [--no-postgis] [--postgis-blankspots] [--outages 10000]

Runs from the repository root or anywhere, with the python pantau[geo] is installed for.

1. generate (seeded): a jittered lattice over Indonesia's bounding box cut into village polygons
   (16 vertices each, neighbours share their edges exactly: a partition, like real villages), once;
   then, per size, random sites of every kind; written to a temp folder (removed at the end);
2. pantau, in a child process: read the layer (pyogrio), assign sites, supervision, coverage
   circles and blankspots per village; wall and CPU seconds per step and the child's own peak
   resident set (``VmHWM``, which starts afresh at exec; ``ru_maxrss`` would count the resident
   set of this generating parent);
3. PostGIS, in the same run: a throwaway PostgreSQL 15 cluster run as user postgres on a Unix
   socket; COPY villages and sites, GiST index, ANALYZE, then the ST_Contains count join; the
   backend's CPU seconds and peak; with ``--postgis-blankspots`` also the blankspot areas computed
   in PostGIS (``pantau.geo.postgis``) and their largest difference from pantau's, per village.
Prints every figure, the ratios, and checks both joins agree on how many sites fall in a village.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BBOX = (95.0, -11.0, 141.0, 6.0)  # Indonesia, lon/lat
KINDS = ("hotspot", "office", "bts", "vsat", "router")
KIND_SHARE = (0.6, 0.2, 0.1, 0.05, 0.05)
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def lattice_villages(n: int, seed: int, k: int = 4) -> tuple[list[str], np.ndarray]:
    """About ``n`` quadrilateral cells of a jittered lattice; edges split in ``k`` shared parts."""
    import shapely

    w, h = BBOX[2] - BBOX[0], BBOX[3] - BBOX[1]
    ny = max(1, round((n * h / w) ** 0.5))
    nx = -(-n // ny)
    rng = np.random.default_rng(seed)
    gx, gy = nx * k + 1, ny * k + 1
    xs = BBOX[0] + np.arange(gx) * (w / (gx - 1))
    ys = BBOX[1] + np.arange(gy) * (h / (gy - 1))
    px, py = np.meshgrid(xs, ys, indexing="ij")
    step = min(w / (gx - 1), h / (gy - 1))
    px[1:-1, 1:-1] += rng.uniform(-0.3, 0.3, (gx - 2, gy - 2)) * step
    py[1:-1, 1:-1] += rng.uniform(-0.3, 0.3, (gx - 2, gy - 2)) * step
    # Ring of one cell, as lattice offsets: bottom, right, top (back), left (back).
    r = np.arange(k)
    ring = np.concatenate([
        np.stack([r, np.zeros(k, int)], 1), np.stack([np.full(k, k), r], 1),
        np.stack([k - r, np.full(k, k)], 1), np.stack([np.zeros(k, int), k - r], 1),
    ])  # fmt: skip
    ci, cj = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    ci, cj = ci.ravel()[:n], cj.ravel()[:n]
    ii = ci[:, None] * k + ring[None, :, 0]
    jj = cj[:, None] * k + ring[None, :, 1]
    coords = np.stack([px[ii, jj], py[ii, jj]], axis=2)
    polys = shapely.polygons(shapely.linearrings(coords))
    codes = [f"99.{i:03d}.{j:03d}" for i, j in zip(ci, cj, strict=True)]
    return codes, polys


def generate_villages(folder: Path, villages: int, seed: int) -> None:
    import geopandas as gpd

    codes, polys = lattice_villages(villages, seed)
    frame = gpd.GeoDataFrame({"kode": codes, "nama": codes}, geometry=polys, crs=4326)
    frame.to_file(folder / "villages.gpkg", layer="desa", engine="pyogrio")


def generate_sites(folder: Path, sites: int, seed: int) -> None:
    import pandas as pd

    rng = np.random.default_rng(seed + 1)
    kind = rng.choice(KINDS, size=sites, p=KIND_SHARE)
    pd.DataFrame(
        {
            "site": [f"s{i}" for i in range(sites)],
            "kind": kind,
            "lon": rng.uniform(BBOX[0], BBOX[2], sites),
            "lat": rng.uniform(BBOX[1], BBOX[3], sites),
            "probes": (rng.random(sites) < 0.9).astype(int),
            "state": np.where(rng.random(sites) < 0.85, "up", "down"),
        }
    ).to_csv(folder / "sites.csv", index=False)


def own_peak_mib() -> float:
    """This process's own peak resident set: ``VmHWM`` of its memory map, which starts afresh at
    exec (``ru_maxrss`` would start from the resident set of the parent that spawned it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_pantau(folder: Path, outages: int = 0) -> dict:
    """The pantau computation; runs in its own process (see main)."""
    t: dict = {}
    t0, c0 = time.perf_counter(), time.process_time()
    s = (t0, c0)

    def lap(name: str) -> None:
        # Wall seconds and this process's CPU seconds of a step (CPU is what a loaded machine
        # disturbs least).
        nonlocal s
        now = (time.perf_counter(), time.process_time())
        t[f"{name}_s"], t[f"{name}_cpu_s"] = now[0] - s[0], now[1] - s[1]
        s = now

    import geopandas as gpd
    import pandas as pd

    from pantau.config import GeoConfig
    from pantau.geo.assign import assign_sites
    from pantau.geo.coverage import blankspots, site_radius, supervision
    from pantau.geo.districts import read_districts
    from pantau.geo.threads import workers

    lap("import")
    t["threads"] = workers()
    geo = GeoConfig()
    districts = read_districts(folder / "villages.gpkg", layer="desa")
    lap("read_villages")
    raw = pd.read_csv(folder / "sites.csv")
    sites = gpd.GeoDataFrame(
        raw[["site", "kind", "probes"]].assign(coverage_m=np.nan, declared=None),
        geometry=gpd.points_from_xy(raw["lon"], raw["lat"]), crs=4326,
    )  # fmt: skip
    lap("read_sites")
    assigned = assign_sites(sites, districts, snap_m=geo.snap_m)
    lap("assign")
    now = time.time()
    states = raw[["site", "state"]].assign(last_result=now)
    frame = supervision(assigned, states, now=now, window=geo.supervision_window)
    frame["radius_m"] = site_radius(frame, geo.coverage_m)
    lap("supervision")
    result = blankspots(districts, frame, threshold=geo.blankspot_threshold)
    lap("blankspots")
    t["total_s"], t["total_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    # The covered geometry is made only when a map or the GeoPackage draws it: timed on its own,
    # outside the total (every figure above is already computed without it).
    s = (time.perf_counter(), time.process_time())
    t["coverage_polygons"] = len(result.coverage)
    lap("covered_geometry")
    if outages:
        # Over a 30-day period: time-weighted blankspots from seeded outage intervals.
        from pantau.geo.history import blankspot_history

        rng = np.random.default_rng(11)
        start = now - 30 * 86400
        begin = start + rng.uniform(0, 30 * 86400, outages)
        record = pd.DataFrame(
            {
                "site": rng.choice(frame["site"].to_numpy(), outages),
                "start": begin,
                "end": begin + rng.exponential(4 * 3600, outages),
            }
        )
        s = (time.perf_counter(), time.process_time())
        history = blankspot_history(districts, frame[frame["probes"] > 0], record, start, now)
        lap("history_30d")
        t["history_km2h"] = float(history["blankspot_km2h"].sum())
    t["peak_rss_mib"] = own_peak_mib()
    t["inside"] = int(assigned["assigned_by"].isin(["inside", "shared"]).sum())
    t["snapped"] = int((assigned["assigned_by"] == "snapped").sum())
    t["covered_km2"] = float(result.districts["covered_km2"].sum())
    result.districts[["district", "target_area_km2", "covered_km2"]].to_csv(
        folder / "pantau_areas.csv", index=False
    )
    t["flagged"] = int(result.districts["blankspot_flag"].sum())
    return t


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def run_postgis(folder: Path, blankspots: bool) -> dict:
    """COPY + GiST + ANALYZE, then the ST_Contains count, on a throwaway cluster; optionally the
    blankspot areas computed in PostGIS (:mod:`pantau.geo.postgis`), compared with pantau's."""
    import geopandas as gpd
    import pandas as pd
    import psycopg

    root = Path(tempfile.mkdtemp(prefix=f"pantau-bench-pg-{os.getpid()}-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        os.chmod(root, 0o755)
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    quiet = {"check": True, "capture_output": True, "timeout": 300}
    t: dict = {}
    try:
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres",
                                     "--auth=trust", "--no-sync"]), **quiet)  # fmt: skip
        opts = f"-k {sock} -c listen_addresses='' -c fsync=off -c synchronous_commit=off"
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l",
                                     str(root / "log"), "-w", "start"]), **quiet)  # fmt: skip
        # Text the COPY reads: WKB hex, prepared before the clock starts (it is input, not work).
        villages = gpd.read_file(folder / "villages.gpkg", layer="desa", engine="pyogrio")
        raw = pd.read_csv(folder / "sites.csv")
        import shapely

        ewkb = shapely.to_wkb(
            shapely.set_srid(villages.geometry.values, 4326), hex=True, include_srid=True
        )
        v_rows = [f"{k}\t{g}\n" for k, g in zip(villages["kode"], ewkb, strict=True)]
        s_rows = [
            f"{i}\tSRID=4326;POINT({x} {y})\n"
            for i, x, y in zip(raw["site"], raw["lon"], raw["lat"], strict=True)
        ]
        with psycopg.connect(f"host={sock} user=postgres dbname=postgres", autocommit=True) as c:
            backend = c.execute("SELECT pg_backend_pid()").fetchone()[0]
            cpu0 = proc_cpu(backend)
            c.execute("CREATE EXTENSION postgis")
            c.execute("CREATE TABLE villages (kode text, geom geometry(Polygon, 4326))")
            c.execute("CREATE TABLE sites (id text, geom geometry(Point, 4326))")
            s = time.perf_counter()
            with c.cursor().copy("COPY villages (kode, geom) FROM STDIN") as cp:
                for row in v_rows:
                    cp.write(row)
            with c.cursor().copy("COPY sites (id, geom) FROM STDIN") as cp:
                for row in s_rows:
                    cp.write(row)
            t["pg_copy_s"] = time.perf_counter() - s
            s = time.perf_counter()
            c.execute("CREATE INDEX ON villages USING gist (geom)")
            c.execute("ANALYZE villages")
            c.execute("ANALYZE sites")
            t["pg_index_analyze_s"] = time.perf_counter() - s
            s = time.perf_counter()
            (count,) = c.execute(
                "SELECT count(*) FROM sites s JOIN villages v ON ST_Contains(v.geom, s.geom)"
            ).fetchone()
            t["pg_query_s"] = time.perf_counter() - s
            t["pg_inside"] = int(count)
            t["pg_backend_cpu_s"] = proc_cpu(backend) - cpu0
            if blankspots:
                t.update(postgis_blankspots(c, folder, villages, raw))
            t["pg_backend_peak_mib"] = backend_peak_mib(backend)
    finally:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)
    t["pg_load_s"] = t["pg_copy_s"] + t["pg_index_analyze_s"]
    return t


def backend_peak_mib(pid: int) -> float:
    """Peak resident set of the PostgreSQL backend that ran the work (shared buffers it touched
    included)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def postgis_blankspots(conn, folder: Path, villages, raw) -> dict:
    """The blankspot areas in PostGIS from the same sites (working = up, radius by kind)."""
    import geopandas as gpd
    import pandas as pd

    from pantau.config import GeoConfig
    from pantau.geo.postgis import blankspot_areas, load

    radius = GeoConfig().coverage_m
    sites = gpd.GeoDataFrame(
        {"working": raw["state"] == "up", "radius_m": raw["kind"].map(radius).astype(float)},
        geometry=gpd.points_from_xy(raw["lon"], raw["lat"]), crs=4326,
    )  # fmt: skip
    districts = gpd.GeoDataFrame({"district": villages["kode"]}, geometry=villages.geometry)
    cpu0 = proc_cpu(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
    s = time.perf_counter()
    load(conn, districts, sites)
    t = {"pg_blank_load_s": time.perf_counter() - s}
    s = time.perf_counter()
    theirs = blankspot_areas(conn).set_index("district")
    t["pg_blankspots_s"] = time.perf_counter() - s
    t["pg_blank_backend_cpu_s"] = (
        proc_cpu(conn.execute("SELECT pg_backend_pid()").fetchone()[0]) - cpu0
    )
    ours = pd.read_csv(folder / "pantau_areas.csv", dtype={"district": str}).set_index("district")
    diff = (theirs["covered_km2"] - ours["covered_km2"].reindex(theirs.index)).abs()
    t["pg_covered_km2"] = float(theirs["covered_km2"].sum())
    t["max_diff_share_of_village"] = float((diff / ours["target_area_km2"]).max())
    t["total_covered_rel_diff"] = float(
        abs(theirs["covered_km2"].sum() - ours["covered_km2"].sum()) / ours["covered_km2"].sum()
    )
    return t


def pantau_child(folder: Path, outages: int) -> dict:
    """The pantau computation in its own process: its times, its own peak, its CPU (wait4)."""
    with (folder / "pantau.out").open("wb") as out, (folder / "pantau.err").open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--pantau-only", str(folder), "--outages", str(outages)],
            stdout=out, stderr=err,
        )  # fmt: skip
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted or terminated: never leave the child running
            proc.kill()
            proc.wait()
            raise
    if os.waitstatus_to_exitcode(status):
        sys.exit("pantau child failed:\n" + (folder / "pantau.err").read_text()[-3000:])
    t = json.loads((folder / "pantau.out").read_text().strip().splitlines()[-1])
    t["cpu_s"] = usage.ru_utime + usage.ru_stime
    return t


def show(prefix: str, figures: dict) -> None:
    for key, value in figures.items():
        text = f"{value:.3g}" if isinstance(value, float) and abs(value) < 0.01 else (
            f"{value:.2f}" if isinstance(value, float) else str(value))  # fmt: skip
        print(f"{prefix} {key:>26}: {text}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--villages", type=int, default=83_000)
    p.add_argument("--sites", default="100000", help="comma-separated sizes, e.g. 100000,1000000")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-postgis", action="store_true")
    p.add_argument(
        "--postgis-blankspots", action="store_true", help="also compute the areas in PostGIS"
    )
    p.add_argument(
        "--postgis-blankspots-max", type=int, default=0, metavar="N",
        help="with --postgis-blankspots: only for sizes up to N sites (0: every size)",
    )  # fmt: skip
    p.add_argument("--outages", type=int, default=10_000, help="for the 30-day history step")
    p.add_argument("--pantau-only", type=Path, help=argparse.SUPPRESS)  # the child process
    args = p.parse_args()
    if args.pantau_only:
        print(json.dumps(run_pantau(args.pantau_only, args.outages)))
        return 0
    # SIGTERM (a timeout) ends the run like Ctrl-C: the finally blocks stop the child and the
    # PostgreSQL cluster and remove the temporary folders.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"load before: {os.getloadavg()}  ({os.cpu_count()} CPUs; the machine is shared)")
    folder = Path(tempfile.mkdtemp(prefix=f"pantau-bench-geo-{os.getpid()}-"))
    try:
        generate_villages(folder, args.villages, args.seed)
        for n in (int(x) for x in args.sites.split(",")):
            s = time.perf_counter()
            generate_sites(folder, n, args.seed)
            print(f"\n== {args.villages} villages, {n} sites (generated in "
                  f"{time.perf_counter() - s:.1f} s); load {os.getloadavg()[0]:.2f}")  # fmt: skip
            pantau = pantau_child(folder, args.outages)
            show("pantau", pantau)
            par = pantau["blankspots_cpu_s"] / pantau["blankspots_s"]
            print(f"pantau: blankspots CPU / wall {par:.2f} on {pantau['threads']} thread(s); "
                  f"whole child CPU {pantau['cpu_s']:.1f} s")  # fmt: skip
            ok_time, ok_mem = pantau["total_s"] < 30, pantau["peak_rss_mib"] < 4096
            print(f"target: pantau total < 30 s: {'ok' if ok_time else 'MISSED'}; "
                  f"peak RSS < 4 GiB: {'ok' if ok_mem else 'MISSED'}")  # fmt: skip
            if not args.no_postgis:
                limit = args.postgis_blankspots_max
                pg = run_postgis(folder, args.postgis_blankspots and (not limit or n <= limit))
                show("postgis", pg)
                pg_total = pg["pg_load_s"] + pg["pg_query_s"]
                print(f"join agreement: pantau {pantau['inside']} inside, "
                      f"PostGIS {pg['pg_inside']}")  # fmt: skip
                print(f"ratio PostGIS load+query / pantau assign: "
                      f"{pg_total / pantau['assign_s']:.1f}x; / pantau whole computation "
                      f"(assign + blankspots): {pg_total / pantau['total_s']:.2f}x")  # fmt: skip
                cpu = pg["pg_backend_cpu_s"]
                print(f"ratio on CPU seconds (what a loaded machine disturbs least): PostGIS "
                      f"backend (COPY + index + join) {cpu:.1f} s / pantau assign "
                      f"{pantau['assign_cpu_s']:.1f} s = {cpu / pantau['assign_cpu_s']:.1f}x; "
                      f"/ pantau whole computation {pantau['total_cpu_s']:.1f} s = "
                      f"{cpu / pantau['total_cpu_s']:.2f}x")  # fmt: skip
            print(f"load after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
