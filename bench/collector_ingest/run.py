"""Events per second the collector ingests into SQLite and PostgreSQL, 100 agents x 1,000 sites.

The path measured is the collector's own, minus HTTP: each agent's log is served as JSON pages
of ``--page`` events (prepared before the clock starts, as an agent's server would send them);
per page the collector runs ``check_page`` (JSON parse, per-event checks) and ``Store.ingest``
(insert with the unique key, cursor upsert, sites marked for derivation, one transaction).
Reference in the same run: the driver's bare bulk insert of the same rows (sqlite3
``executemany`` in one transaction; psycopg ``COPY``), the floor any store could reach.
Then the outage derivation of every site (``refresh``) is timed once.

    python bench/collector_ingest/run.py                 # 100 x 1000 x 2 events, both stores
    python bench/collector_ingest/run.py --no-postgres   # SQLite only
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the throwaway PostgreSQL of the tests

from _postgres import Unavailable, new_database, temp_postgres  # noqa: E402

from pantau.collector.outages import OutageParams, SiteRef  # noqa: E402
from pantau.collector.pagecheck import Checks, check_page, parse_page  # noqa: E402
from pantau.collector.service import refresh  # noqa: E402
from pantau.collector.store import open_store  # noqa: E402
from pantau.events import Event  # noqa: E402

T0 = 1_900_000_000.0


def generate(agents: int, sites: int, per_site: int, page: int, seed: int) -> list[list[bytes]]:
    """Per agent, its log as JSON pages: every site up, then down/up changes at random times."""
    rng = random.Random(seed)
    logs = []
    for a in range(agents):
        name, events = f"agent-{a:03d}", []
        for s in range(sites):
            state, t = "unknown", T0 + rng.random() * 60
            for _ in range(per_site):
                new = "down" if state == "up" else "up"
                events.append((t, f"site-{s:04d}", state, new))
                state, t = new, t + rng.expovariate(1 / 600)
        events.sort()
        wire = [
            Event(
                name,
                "site",
                site,
                None,
                old,
                new,
                t,
                "timeout" if new == "down" else "ok",
                False,
                "10.0.0.1" if new == "down" else None,
                i + 1,
            ).to_json()
            for i, (t, site, old, new) in enumerate(events)
        ]
        pages = []
        for i in range(0, len(wire), page):
            chunk = wire[i : i + page]
            pages.append(
                json.dumps(
                    {
                        "agent": name,
                        "log_id": f"log-{a}",
                        "events": chunk,
                        "next": chunk[-1]["cursor"],
                        "oldest": 1,
                        "more": i + page < len(wire),
                    }
                ).encode()
            )
        logs.append(pages)
    return logs


def ingest(url: str, logs: list[list[bytes]], sites: set[str]) -> dict:
    store = open_store(url)
    now = T0 + 10 * 86400
    n = 0
    start, cpu = time.perf_counter(), time.process_time()
    for a, pages in enumerate(logs):
        after = 0
        for body in pages:
            p = check_page(parse_page(body), after, Checks(now, 60))
            n += store.ingest(f"http://agent-{a}", p.agent, p.log_id, p.events, p.next, now=now)
            after = p.next
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    refs = {s: SiteRef(s, None, f"d{int(s[-4:]) % 50}") for s in sites}
    start = time.perf_counter()
    refresh(store, refs, OutageParams(), now)
    derive = time.perf_counter() - start
    outages = len(store.outages(limit=10_000_000))
    assert store.count_events() == n
    store.close()
    return {
        "events": n,
        "seconds": seconds,
        "rate": n / seconds,
        "cpu": cpu,
        "derive_seconds": derive,
        "outages": outages,
    }


def _rows(logs: list[list[bytes]]) -> list[tuple]:
    rows = []
    for pages in logs:
        for body in pages:
            obj = json.loads(body)
            for e in obj["events"]:
                ev = Event.from_json(e)
                rows.append(
                    (
                        ev.agent,
                        obj["log_id"],
                        ev.cursor,
                        ev.type,
                        ev.site,
                        ev.probe,
                        ev.old,
                        ev.new,
                        ev.time,
                        ev.reason,
                        ev.isolated,
                        ev.hop,
                    )
                )
    return rows


_COLS = "agent, log_id, cursor, type, site, probe, old, new, time, reason, isolated, hop"


def reference_sqlite(path: Path, rows: list[tuple]) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        f"CREATE TABLE events (id INTEGER PRIMARY KEY, {_COLS}, UNIQUE (agent, log_id, cursor))"
    )
    start = time.perf_counter()
    db.execute("BEGIN")
    db.executemany(f"INSERT INTO events ({_COLS}) VALUES ({', '.join('?' * 12)})", rows)
    db.execute("COMMIT")
    seconds = time.perf_counter() - start
    db.close()
    return len(rows) / seconds


def reference_postgres(url: str, rows: list[tuple]) -> float:
    import psycopg

    dsn = url.replace("postgresql://postgres@/", "dbname=").replace("?host=", " host=")
    with psycopg.connect(dsn + " user=postgres") as conn:
        conn.execute(
            "CREATE TABLE events (id BIGSERIAL PRIMARY KEY, agent text, log_id text, "
            "cursor bigint, type text, site text, probe text, old text, new text, "
            "time double precision, reason text, isolated boolean, hop text, "
            "UNIQUE (agent, log_id, cursor))"
        )
        conn.commit()
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY events ({_COLS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return len(rows) / (time.perf_counter() - start)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--sites", type=int, default=1000)
    ap.add_argument("--per-site", type=int, default=2, help="events per site per agent")
    ap.add_argument("--page", type=int, default=1000, help="events per page (the limit)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    print(f"load before: {os.getloadavg()}")
    t = time.perf_counter()
    logs = generate(args.agents, args.sites, args.per_site, args.page, args.seed)
    rows = _rows(logs)
    sites = {f"site-{s:04d}" for s in range(args.sites)}
    print(
        f"generated {len(rows)} events in {time.perf_counter() - t:.1f} s "
        f"({args.agents} agents x {args.sites} sites x {args.per_site})"
    )
    with tempfile.TemporaryDirectory(prefix=f"pantau-bench-{os.getpid()}-") as tmp:
        ref = reference_sqlite(Path(tmp) / "ref.db", rows)
        got = ingest(f"sqlite:///{tmp}/collector.db", logs, sites)
        _report("SQLite", got, ref, "sqlite3 executemany")
    if not args.no_postgres:
        try:
            with temp_postgres() as sock:
                ref = reference_postgres(new_database(sock), rows)
                got = ingest(new_database(sock), logs, sites)
                _report("PostgreSQL", got, ref, "psycopg COPY")
        except Unavailable as exc:
            print(f"PostgreSQL skipped: {exc}")
    print(f"load after: {os.getloadavg()}")
    return 0


def _report(name: str, got: dict, ref: float, ref_name: str) -> None:
    print(
        f"{name}: {got['events']} events in {got['seconds']:.2f} s = {got['rate']:,.0f} events/s "
        f"(collector CPU {got['cpu']:.2f} s = {got['events'] / got['cpu']:,.0f} events per CPU-s); "
        f"reference {ref_name} {ref:,.0f} rows/s; ratio pantau/reference {got['rate'] / ref:.2f}; "
        f"deriving outages of every site {got['derive_seconds']:.2f} s ({got['outages']} outages)"
    )


if __name__ == "__main__":
    sys.exit(main())
