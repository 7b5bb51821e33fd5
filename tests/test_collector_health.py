"""The collector's health: which writes fail, the fix hint, stale agents, and ``/healthz``.

The logic is tested pure (:mod:`pantau.collector.health`), then through a real collector whose
SQLite store says "database or disk is full" (``PRAGMA max_page_count``), over its HTTP API and
metrics. The real full disk (a small tmpfs) is scenario 5 of tests/test_lab_scenarios.py.
"""

from __future__ import annotations

import aiohttp
import pytest
import sqlalchemy as sa
from _collector_env import SITES, agent_api
from prometheus_client import CollectorRegistry

from pantau.agent.runtime.server import bound_port, start_server
from pantau.collector.agenthealth import AgentHealth
from pantau.collector.api import make_app
from pantau.collector.health import (
    CRITICAL,
    WARNING,
    StoreHealth,
    agent_problems,
    fix_hint,
    health,
)
from pantau.collector.metrics import CollectorMetrics
from pantau.collector.service import Collector
from pantau.collector.store import open_store
from pantau.config import CollectorConfig

T0 = 1_900_000_000.0
FULL = "database or disk is full"


def test_a_failing_write_is_a_problem_until_that_kind_of_write_works() -> None:
    h = StoreHealth("sqlite:////var/lib/pantau/collector.db", "/var/lib/pantau/collector.db")
    assert h.up and h.problems() == []
    h.failed("ingest http://a:9469", "storing 3 events from http://a:9469", FULL, T0)
    h.failed("ingest http://a:9469", "storing 5 events from http://a:9469", FULL, T0 + 10)
    h.failed("derive", "storing outages of 2 sites", FULL, T0 + 11)
    assert not h.up and h.failures_total == 3
    first, _ = h.problems()
    assert first.severity == CRITICAL and first.since == T0  # since the first failure
    body = first.to_json()
    assert body["failures"] == 2 and body["operation"] == "storing 5 events from http://a:9469"
    assert body["database"] == "sqlite:////var/lib/pantau/collector.db"
    assert FULL in body["message"] and "since 2030-03-17T17:46:40" in body["message"]
    assert body["hint"].startswith("free space on the filesystem holding /var/lib/pantau")
    # Another agent's page fitting does not mean this one's does: per kind of write.
    h.succeeded("ingest http://b:9469")
    assert [p.to_json()["write"] for p in h.problems()] == ["ingest http://a:9469", "derive"]
    h.succeeded("ingest http://a:9469")
    h.succeeded("derive")
    assert h.up and h.problems() == []


def test_one_shot_writes_are_cleared_by_any_later_success_and_forget_drops_a_kind() -> None:
    h = StoreHealth("postgresql+psycopg://pantau:***@db/pantau")
    h.failed("maintenance", "adding a maintenance window", "server closed the connection", T0)
    h.failed("agent-status a1", "recording agent a1 status", "server closed the connection", T0)
    h.failed("ingest http://a:9469", "storing", "server closed the connection", T0)
    (p, *_) = h.problems()
    assert "check that the database server of postgresql+psycopg://pantau:***@db" in p.hint
    h.succeeded("derive")
    assert [p.to_json()["write"] for p in h.problems()] == ["ingest http://a:9469"]
    h.forget("ingest http://a:9469")
    assert h.up


@pytest.mark.parametrize(
    ("error", "path", "expected"),
    [
        (FULL, "/srv/p/c.db", "free space on the filesystem holding /srv/p"),
        (
            'could not extend file "base/16384/2619": No space left on device',
            None,
            "free space on the database server's data filesystem",
        ),
        ("attempt to write a readonly database", "/srv/p/c.db", "make /srv/p/c.db and its folder"),
        ("database is locked", "/srv/p/c.db", "another process holds a write lock on /srv/p/c.db"),
        ("something new", None, "see the collector log"),
    ],
)
def test_fix_hint_names_what_to_do(error: str, path: str | None, expected: str) -> None:
    assert expected in fix_hint(error, "db-url", path)


def test_agents_not_pulled_for_long_are_warnings_not_failures() -> None:
    ok = AgentHealth("http://a:9469", "a1", up=True)
    brief = AgentHealth("http://b:9469", "b1", up=False, down_since=T0 - 10, error="refused")
    long = AgentHealth("http://c:9469", None, up=False, down_since=T0 - 600, error="timeout")
    (p,) = agent_problems([ok, brief, long], T0, after=300)
    assert p.severity == WARNING and p.since == T0 - 600 and p.error == "timeout"
    assert p.message == "agent http://c:9469 not pulled for 600 s"
    assert "http://c:9469 is reachable" in p.hint
    # A warning alone keeps /healthz at 200: a remote agent down is no reason to restart us.
    assert health([p], ready=True) == (200, {"status": "ok", "problems": [p.to_json()]})
    assert health([], ready=False)[0] == 503
    store = StoreHealth("x")
    store.failed("derive", "storing outages of 1 sites", FULL, T0)
    code, body = health([*store.problems(), p], ready=True)
    assert code == 503 and body["status"] == "degraded" and len(body["problems"]) == 2


async def test_healthz_and_metrics_follow_a_full_store_and_recover(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/c.db")
    clock = [T0 + 3600]
    async with agent_api(tmp_path / "a1.db", "a1") as a1:
        a1.emit("bts", "unknown", "up", T0)
        c = Collector(CollectorConfig(agents=(a1.url,)), SITES, store, clock=lambda: clock[0])
        await c.start()
        registry = CollectorRegistry(auto_describe=True)
        registry.register(CollectorMetrics(c))
        runner = await start_server(make_app(c, registry), "127.0.0.1:0")
        base = f"http://127.0.0.1:{bound_port(runner)}"

        def full(dbapi_conn, _record):  # SQLite's own "database or disk is full"
            dbapi_conn.execute("PRAGMA max_page_count=1")

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s:

            async def healthz():
                async with s.get(f"{base}/healthz") as r:
                    return r.status, await r.json()

            await c.round(s)
            assert await healthz() == (200, {"status": "ok", "problems": []})
            assert registry.get_sample_value("pantau_collector_store_up") == 1
            sa.event.listen(store.engine, "connect", full)
            store.engine.dispose()
            for i in range(300):  # more than the free pages hold
                a1.emit(
                    "bts", ("up", "down")[i % 2], ("down", "up")[i % 2], T0 + 10 + i, hop="x" * 200
                )
            await c.round(s)
            status, body = await healthz()
            assert status == 503 and body["status"] == "degraded", body
            (p,) = body["problems"]
            assert p["component"] == "store" and p["error"] == FULL
            assert p["operation"] == f"storing 300 events from {a1.url}"
            assert p["hint"].startswith(f"free space on the filesystem holding {tmp_path}")
            assert registry.get_sample_value("pantau_collector_store_up") == 0
            assert registry.get_sample_value("pantau_collector_store_write_failures_total") >= 1
            sa.event.remove(store.engine, "connect", full)
            store.engine.dispose()  # space returns
            await c.round(s)
            assert await healthz() == (200, {"status": "ok", "problems": []})
            assert registry.get_sample_value("pantau_collector_store_up") == 1
            assert store.count_events() == 301  # nothing lost, nothing twice
        await runner.cleanup()
    # The agent is gone now; reported once it has not been pulled for long, as a warning.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as s:
        await c.round(s)
    assert c.problems() == []
    clock[0] += 301
    (p,) = c.problems()
    assert p.component == "agent" and p.severity == WARNING and "a1" in p.message
    store.close()
