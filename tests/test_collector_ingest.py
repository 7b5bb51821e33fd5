"""Pulling agents: pages, cursors across restarts, log replacement, retention gaps, dead agents,
malformed input. Agents are the agent's real event API (its server over its event log)."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest
from _collector_env import SITES, agent_api
from aiohttp import web

from pantau.agent.runtime.eventlog import Retention
from pantau.agent.runtime.server import bound_port, start_server
from pantau.collector.pagecheck import BadPage, Checks, check_page, parse_page
from pantau.collector.service import Collector
from pantau.collector.store import open_store
from pantau.config import CollectorConfig

T0 = 1_900_000_000.0


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path}/c.db")
    yield s
    s.close()


async def started(store, *urls, limit=1000, clock=lambda: T0 + 3600):
    config = CollectorConfig(agents=urls, page_limit=limit)
    c = Collector(config, SITES, store, clock=clock)
    await c.start()
    return c


async def pull(c):
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as s:
        await c.round(s)


async def test_pages_cursor_and_restart_repeat_nothing(tmp_path, store):
    async with agent_api(tmp_path / "a1.db", "a1") as a1:
        a1.emit("bts", "unknown", "up", T0)
        a1.emit("bts", "up", "down", T0 + 10, hop="10.9.0.1")
        a1.emit("core", "unknown", "up", T0 + 11)
        a1.emit("office", "unknown", "up", T0 + 12)
        a1.emit("bts", "down", "up", T0 + 70)
        c = await started(store, a1.url, limit=2)
        await pull(c)
        assert store.count_events() == 5
        (o,) = store.outages(site="bts")
        assert (o.start, o.end, o.agents, o.hop) == (T0 + 10, T0 + 70, ("a1",), "10.9.0.1")
        # a restarted collector starts from the stored cursor: nothing twice
        c2 = await started(store, a1.url, limit=2)
        await pull(c2)
        assert store.count_events() == 5 and c2.agents[0].ingested == 0
        a1.emit("bts", "up", "down", T0 + 100)
        await pull(c2)
        assert store.count_events() == 6
        assert [o.end for o in store.outages(site="bts")] == [None, T0 + 70]
        assert c2.decision.label_at("bts", T0 + 200) == "down"


async def test_replaced_agent_log_is_refused_until_accepted_then_read_from_zero(tmp_path, store):
    async with agent_api(tmp_path / "a1.db", "a1") as a1:
        for i in range(3):
            a1.emit(
                "bts",
                "unknown" if i == 0 else "up" if i % 2 else "down",
                "up" if i % 2 == 0 else "down",
                T0 + i,
            )
        c = await started(store, a1.url)
        await pull(c)
        port = int(a1.url.rsplit(":", 1)[1])
    async with agent_api(tmp_path / "new.db", "a1", port=port) as again:
        again.emit("bts", "unknown", "up", T0 + 50)
        await pull(c)
        assert store.count_events() == 3  # refused: the identity pinned to the URL changed
        (h,) = c.agents
        assert h.conflict == f"agent 'a1' log {again.log.log_id!r}"
        assert h.rejected["identity"] == 1
        [problem] = [p for p in c.problems() if p.severity == "critical"]
        assert "POST /api/v1/agents/accept" in problem.hint
        assert await c.accept_identity(again.url) == f"a1 {again.log.log_id}"
        await pull(c)
        assert store.count_events() == 4 and h.conflict is None
        cur = store.cursors()[again.url]
        assert (cur.log_id, cur.next) == (again.log.log_id, 1)


async def test_retention_gap_is_counted(tmp_path, store):
    async with agent_api(tmp_path / "a1.db", "a1", Retention(1e9, 2)) as a1:
        for i in range(6):
            a1.emit(
                "bts",
                "unknown" if i == 0 else ("up", "down")[i % 2],
                ("up", "down")[(i + 1) % 2],
                T0 + i,
            )
        c = await started(store, a1.url)
        await pull(c)
        assert store.count_events() == 2  # the agent kept cursors 5 and 6
        assert c.agents[0].missed == 4 and store.cursors()[a1.url].missed == 4


async def test_unreachable_agent_is_reported_never_an_outage(tmp_path, store):
    async with agent_api(tmp_path / "a1.db", "a1") as a1:
        a1.emit("bts", "unknown", "up", T0)
        url = a1.url
        c = await started(store, url)
        await pull(c)
    await pull(c)  # the agent is gone now
    (h,) = c.agents
    assert h.up is False and h.name == "a1"
    assert store.outages() == [] and c.decision.label_at("bts", T0 + 100) == "up"
    assert store.agent_down() == {"a1": [(T0 + 3600, None)]}


# -- malformed input --------------------------------------------------------------------------
# The real agent never sends malformed pages, so a small aiohttp server stands in for a broken
# or hostile one; it speaks the same HTTP endpoint.

GOOD = {
    "cursor": 1,
    "agent": "x",
    "type": "site",
    "site": "bts",
    "probe": None,
    "old": "unknown",
    "new": "up",
    "time": "2030-03-17T17:46:40.000Z",
    "reason": "recovered",
    "isolated": False,
    "hop": None,
}


def page(events, nxt=None, agent="x"):
    nxt = nxt if nxt is not None else max([e.get("cursor", 0) for e in events] + [0])
    return json.dumps(
        {"agent": agent, "log_id": "L", "events": events, "next": nxt, "oldest": 1, "more": False}
    ).encode()


BAD_EVENTS = {
    "far-future": ({**GOOD, "time": "2031-01-01T00:00:00Z"}, "implausible_time"),
    "year-1": ({**GOOD, "time": "0001-01-01T00:00:00+23:59"}, "implausible_time"),
    "year-9999": ({**GOOD, "time": "9999-12-31T23:59:59-23:59"}, "implausible_time"),
    "before-2000": ({**GOOD, "time": "1999-12-31T23:59:59Z"}, "implausible_time"),
    "long-site": ({**GOOD, "site": "s" * 65}, "bad_event"),
    "wrong-type": ({**GOOD, "isolated": False, "cursor": "1"}, "bad_event"),
    "bad-state": ({**GOOD, "new": "sideways"}, "bad_event"),
    "bad-time": ({**GOOD, "time": "yesterday"}, "bad_event"),
    "other-agent": ({**GOOD, "agent": "y"}, "agent_mismatch"),
    "not-an-object": ([1, 2], "bad_event"),
}


@pytest.mark.parametrize("item,reason", BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_check_page_rejects_bad_events_and_keeps_the_good(item, reason):
    good = {**GOOD, "cursor": 2}
    p = check_page(parse_page(page([item, good], nxt=2)), 0, Checks(T0, 60))
    assert dict(p.rejected) == {reason: 1}
    assert [e.cursor for e in p.events] == [2] and p.next == 2


@pytest.mark.parametrize(
    "body,reason",
    [
        (b"{not json", "bad_json"),
        (b"[]", "bad_page"),
        (
            json.dumps(
                {"agent": "x", "log_id": "L", "events": [], "next": -1, "oldest": 1, "more": False}
            ).encode(),
            "bad_page",
        ),
        (json.dumps({"agent": "x", "events": []}).encode(), "bad_page"),
        (b"[" * 100_000 + b"]" * 100_000, "bad_json"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "bad_json"),
    ],
    ids=["not-json", "a-list", "negative-next", "no-log-id", "deep-list", "deep-object"],
)
def test_check_page_refuses_what_is_not_a_page(body, reason):
    with pytest.raises(BadPage) as err:
        check_page(parse_page(body), 0, Checks(T0, 60))
    assert err.value.reason == reason


async def test_malformed_input_changes_nothing_stored(store):
    bodies = []

    async def events(_request):
        return web.Response(body=bodies.pop(0), content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v1/events", events)
    runner = await start_server(app, "127.0.0.1:0")
    try:
        url = f"http://127.0.0.1:{bound_port(runner)}"
        c = await started(store, url, clock=lambda: 1_900_000_000.0)
        bodies.append(page([GOOD]))
        await pull(c)
        before = (store.count_events(), store.cursors(), store.outages())
        bodies.extend(
            [
                b"<html>oops",
                page(
                    [
                        {**GOOD, "cursor": 2, "time": "0001-01-01T00:00:00+23:59"},
                        {**GOOD, "cursor": 3, "new": "sideways"},
                        {**GOOD, "cursor": 4, "time": "2031-01-01T00:00Z"},
                    ]
                ),
                b"[" * 200_000 + b"]" * 200_000,  # RecursionError in json.loads
            ]
        )
        await pull(c)  # bad JSON: nothing moves
        assert (store.count_events(), store.cursors(), store.outages()) == before
        await pull(c)  # three bad events: counted, skipped, nothing stored
        assert store.count_events() == before[0] and store.outages() == before[2]
        assert store.cursors()[url].next == 4
        await pull(c)  # nested too deep to parse: that agent's error, nothing moves
        assert store.cursors()[url].next == 4
        assert dict(c.agents[0].rejected) == {
            "bad_json": 2,
            "bad_event": 1,
            "implausible_time": 2,
        }
    finally:
        await runner.cleanup()


def test_time_source_is_wall_clock_by_default(store):
    c = Collector(CollectorConfig(agents=()), SITES, store)
    assert abs(c.clock() - time.time()) < 5


async def test_store_failure_is_retried_and_nothing_is_lost(tmp_path, store, caplog):
    import sqlalchemy as sa

    async with agent_api(tmp_path / "a1.db", "a1") as a1:
        a1.emit("bts", "unknown", "up", T0)
        c = await started(store, a1.url)
        await pull(c)

        def full(dbapi_conn, _record):  # SQLite's own "database or disk is full"
            dbapi_conn.execute("PRAGMA max_page_count=1")

        sa.event.listen(store.engine, "connect", full)
        store.engine.dispose()
        for i in range(300):
            a1.emit("bts", ("up", "down")[i % 2], ("down", "up")[i % 2], T0 + 10 + i, hop="x" * 200)
        await pull(c)  # fails, logged, the collector carries on
        assert "store failed agent=a1" in caplog.text and "full" in caplog.text
        assert store.count_events() == 1 and c.agents[0].up is True
        sa.event.remove(store.engine, "connect", full)
        store.engine.dispose()
        await pull(c)  # the disk has room again: the same events, once
        assert store.count_events() == 301
        outs = store.outages(site="bts")  # 150 down periods, flapping: merged, not lost
        assert sum(o.transitions for o in outs) == 150 and outs[0].flapping


async def test_reconfigure_swaps_agents_and_inventory_and_keeps_history(tmp_path, store):
    """What SIGHUP applies (collector/cli.py reload): agents and sites, history untouched."""
    async with agent_api(tmp_path / "a1.db", "a1") as a1, agent_api(tmp_path / "a2.db", "a2") as a2:
        a1.emit("bts", "unknown", "up", T0)
        a1.emit("bts", "up", "down", T0 + 10)
        a2.emit("office", "unknown", "up", T0)
        c = await started(store, a1.url)
        await pull(c)
        [kept] = store.outages()
        assert kept.site == "bts" and kept.end is None
        sites = [s for s in SITES if s.id != "bts"]
        changed = await c.reconfigure(CollectorConfig(agents=(a2.url,), quorum=0.6), sites)
        assert {"agents", "quorum", "inventory"} <= set(changed)
        assert "bts" not in c.sites and "bts" not in c.decision.timelines
        [ended] = store.outages()  # the removed site's history stays, its open outage ends
        assert (ended.site, ended.start, ended.cause) == (kept.site, kept.start, kept.cause)
        assert ended.end == T0 + 3600 and ended.duration(0) == 3600 - 10
        assert store.agent_down()["a1"] == [(T0 + 3600, None)], "a removed agent no longer votes"
        await pull(c)
        assert [(h.name, h.up, h.ingested) for h in c.agents] == [("a2", True, 1)]
        assert c.decision.label_at("office", T0 + 100) == "up"
        assert c.params.quorum == 0.6
        # Back again: resumes from its stored cursor, nothing pulled twice.
        await c.reconfigure(CollectorConfig(agents=(a1.url, a2.url)), SITES)
        await pull(c)
        assert store.count_events() == 3 and c.agents[0].ingested == 0
        assert c.agents[0].up is True and store.agent_down()["a1"][-1][1] is not None
