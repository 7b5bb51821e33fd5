"""The evidence chain under faults (issue 12), in process: every event an agent recorded is
stored once, or its loss is detected and counted. Agents are the agent's real event API over its
real event log; a small aiohttp server stands in for a broken agent where the real one cannot
misbehave that way (a page of deeply nested JSON, a 2 MB answer)."""

from __future__ import annotations

import shutil

import aiohttp
import pytest
from _collector_env import NOW, SITES, agent_api
from _postgres import new_database, postgres_server  # noqa: F401  (fixture)
from aiohttp import web
from prometheus_client import CollectorRegistry

from pantau.agent.runtime.server import bound_port, start_server
from pantau.collector.api import make_app
from pantau.collector.metrics import CollectorMetrics
from pantau.collector.outages import OutageParams, SiteRef, decide
from pantau.collector.service import Collector
from pantau.collector.store import open_store
from pantau.config import CollectorConfig
from pantau.errors import ConfigError
from pantau.inventory import Site

T0 = 1_900_000_000.0


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path}/c.db", "c1")
    yield s
    s.close()


async def started(store, *urls, clock=lambda: NOW, sites=SITES, **settings):
    c = Collector(CollectorConfig(agents=urls, **settings), sites, store, clock=clock)
    await c.start()
    return c


async def pull(c):
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s:
        await c.round(s)


def metrics(c):
    registry = CollectorRegistry(auto_describe=True)
    registry.register(CollectorMetrics(c))
    return registry


def stored(store):
    """Every stored event's content (without the log key), sorted."""
    import sqlalchemy as sa

    from pantau.collector.schema import events

    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(events.c.agent, events.c.site, events.c.old, events.c.new, events.c.time)
        ).all()
    return sorted(tuple(r) for r in rows)


def recorded(*logs):
    """What the agents recorded, in the form of :func:`stored`."""
    return sorted((e.agent, e.site, e.old, e.new, e.time) for events in logs for e in events)


def flip(agent, site, n, t0, out):
    """``n`` alternating up/down events of ``site``; appended to ``out``."""
    for i in range(n):
        old, new = ("unknown", "up") if not i else (("up", "down"), ("down", "up"))[i % 2 == 0]
        out.append(agent.emit(site, old, new, t0 + 10 * i))


async def test_events_of_a_site_the_collector_does_not_know_wait_for_it(tmp_path, store):
    async with agent_api(tmp_path / "a1.db", "a1") as a1:
        a1.emit("baru", "unknown", "up", T0)
        a1.emit("baru", "up", "down", T0 + 10)
        c = await started(store, a1.url)
        await pull(c)
        assert store.count_events() == 2  # kept, not refused
        reg = metrics(c)
        held = {"agent": "a1", "reason": "unknown_site"}
        assert reg.get_sample_value("pantau_collector_events_held", held) == 2
        assert "2 events held (unknown_site)" in " ".join(p.message for p in c.problems())
        new = Site(id="baru", name="Kantor baru", kind="office", lat=-1.2, lon=116.8)
        await c.reconfigure(c.config, [*SITES, new])
        assert c.decision.label_at("baru", NOW) == "down"
        (o,) = store.outages(site="baru")
        assert (o.start, o.end) == (T0 + 10, None)
        assert reg.get_sample_value("pantau_collector_events_held", held) == 0


async def test_events_ahead_of_the_collector_are_held_then_stored_in_order(tmp_path, store):
    now = [T0 + 100]
    async with agent_api(tmp_path / "a1.db", "a1", clock=lambda: now[0] + 120) as a1:
        a1.emit("bts", "unknown", "up", T0 + 50)
        a1.emit("bts", "up", "down", T0 + 200)  # 100 s ahead: the agent's clock is fast
        a1.emit("bts", "down", "up", T0 + 210)
        c = await started(store, a1.url, clock=lambda: now[0], clock_skew=60)
        await pull(c)
        assert store.count_events() == 1 and store.cursors()[a1.url].next == 1
        reg = metrics(c)
        assert (
            reg.get_sample_value(
                "pantau_collector_events_held", {"agent": "a1", "reason": "future"}
            )
            == 2
        )
        offset = reg.get_sample_value(
            "pantau_collector_agent_clock_offset_seconds", {"agent": "a1"}
        )
        assert offset == pytest.approx(120, abs=0.01)
        assert any("clock is 120.0 s ahead" in p.message for p in c.problems())
        await pull(c)  # still ahead: still held, never skipped
        assert store.count_events() == 1
        now[0] = T0 + 160  # the collector's clock reaches the events (within clock_skew)
        await pull(c)
        assert store.count_events() == 3 and c.agents[0].held["future"] == 0
        (o,) = store.outages(site="bts")
        assert (o.start, o.end) == (T0 + 200, T0 + 210)


async def test_an_event_ahead_from_a_clock_now_right_never_stalls_the_log(tmp_path, store):
    """A clock that was 6 h ahead for a moment (then corrected) left one event dated 6 h ahead:
    holding it would hold everything after it for 6 h. The agent's clock is right now: refused."""
    async with agent_api(tmp_path / "a1.db", "a1") as a1:
        a1.emit("bts", "unknown", "up", T0)
        a1.emit("bts", "up", "down", NOW + 6 * 3600)
        a1.emit("bts", "down", "up", T0 + 3000)
        c = await started(store, a1.url)
        await pull(c)  # the offset is measured before the page is checked
        await pull(c)
        assert store.count_events() == 2 and store.cursors()[a1.url].next == 3
        assert c.agents[0].rejected == {"implausible_time": 1}
        assert c.agents[0].held["future"] == 0


async def test_a_clock_a_day_slow_writes_no_phantom_outage(tmp_path, store):
    day = 86400.0
    async with agent_api(tmp_path / "a1.db", "a1", clock=lambda: NOW - day) as a1:
        a1.emit("bts", "unknown", "up", NOW - 3600)  # before the clock went wrong
        c = await started(store, a1.url)
        await pull(c)
        assert store.count_events() == 1
        for i in range(60):  # what a day-slow clock records: day-long outages, yesterday
            a1.emit("bts", "up", "down", NOW - day + 10 * i)
            a1.emit("bts", "down", "up", NOW - day + 10 * i + 5)
        await pull(c)
        assert store.count_events() == 1 and store.outages() == []
        reg = metrics(c)
        assert (
            reg.get_sample_value(
                "pantau_collector_events_rejected_total", {"agent": "a1", "reason": "clock_behind"}
            )
            == 120
        )
        assert reg.get_sample_value(
            "pantau_collector_agent_clock_offset_seconds", {"agent": "a1"}
        ) == pytest.approx(-day, abs=0.01)


async def backed_up(tmp_path, name, before, after, t0=T0):
    """An agent log of ``before`` events, a backup copy of it, then ``after`` more events."""
    path, backup, events = tmp_path / f"{name}.db", tmp_path / f"{name}.backup", []
    async with agent_api(path, name) as a:
        flip(a, "bts", before, t0, events)
    shutil.copy(path, backup)
    async with agent_api(path, name) as a:
        for i in range(after):
            events.append(
                a.emit("bts", ("down", "up")[i % 2], ("up", "down")[i % 2], t0 + 1000 + i)
            )
    return path, backup, events


@pytest.mark.parametrize("new_events", [3, 12], ids=["below-cursor", "grown-past-cursor"])
async def test_a_log_restored_from_a_backup_is_detected_and_reread(tmp_path, store, new_events):
    """The state dir restored from a backup: the agent hands out cursors the collector already
    has again. Below the cursor, the high-water mark tells; grown past it while the collector
    was away, the event at the cursor differs from the stored one. Either way, what the agent
    recorded after the restore is stored, under a new segment, and nothing twice."""
    path, backup, first = await backed_up(tmp_path, "a1", 5, 5)
    async with agent_api(path, "a1") as a1:
        c = await started(store, a1.url)
        await pull(c)
        port = int(a1.url.rsplit(":", 1)[1])
    assert store.count_events() == 10
    shutil.copy(backup, path)  # the restore; the collector is away (a new one starts below)
    again = []
    async with agent_api(path, "a1", port=port) as a1:
        for i in range(new_events):
            again.append(
                a1.emit("bts", ("up", "down")[i % 2], ("down", "up")[i % 2], T0 + 2000 + i)
            )
        assert again[0].cursor == 6
        c = await started(store, a1.url)
        await pull(c)
        assert stored(store) == recorded(first, again)  # all of both, none twice
        cur = store.cursors()[a1.url]
        assert cur.segment == f"{a1.log.log_id}.1" and cur.next == 5 + new_events
        await pull(c)  # and nothing more next time
        assert stored(store) == recorded(first, again)
    refs = [SiteRef(s.id, s.parent, s.district) for s in SITES]
    expected = decide([*first, *again], refs, OutageParams())
    assert c.decision.outages["bts"] == expected.outages["bts"]


async def test_a_log_that_lost_its_last_writes_is_detected_while_pulled(tmp_path, store):
    """The last WAL frames lost in a power cut: the agent's high-water mark falls below the
    collector's cursor between two pulls; the new events with reused cursors are stored."""
    path, backup, first = await backed_up(tmp_path, "a1", 4, 3)
    async with agent_api(path, "a1") as a1:
        port = int(a1.url.rsplit(":", 1)[1])
        c = await started(store, a1.url)
        await pull(c)
    shutil.copy(backup, path)
    async with agent_api(path, "a1", port=port) as a1:
        again = [a1.emit("bts", "up", "down", T0 + 3000)]
        await pull(c)  # the same collector, still running
        assert stored(store) == recorded(first, again)
        assert c.agents[0].lost["log_went_back"] == 0


async def test_another_agent_at_the_same_url_is_refused_and_erases_nothing(tmp_path, store):
    """The case: the URL answered under another agent name with a back-dated event, and a
    recorded outage disappeared. Now the identity is pinned: refused, shown, alertable."""
    async with agent_api(tmp_path / "a1.db", "a1") as a1:
        a1.emit("bts", "unknown", "up", T0)
        a1.emit("bts", "up", "down", T0 + 600)
        a1.emit("bts", "down", "up", T0 + 2400)
        port = int(a1.url.rsplit(":", 1)[1])
        c = await started(store, a1.url)
        await pull(c)
    before = store.outages()
    assert [(o.start, o.end) for o in before] == [(T0 + 600, T0 + 2400)]
    async with agent_api(tmp_path / "b.db", "b", port=port) as other:
        other.emit("bts", "unknown", "up", T0 + 500)  # back-dated "up"
        await pull(c)
        await pull(c)
        assert store.outages() == before and store.count_events() == 3
        reg = metrics(c)
        assert (
            reg.get_sample_value("pantau_collector_agent_identity_conflict", {"agent": "a1"}) == 1
        )
        assert (
            reg.get_sample_value(
                "pantau_collector_events_rejected_total", {"agent": "a1", "reason": "identity"}
            )
            == 2
        )
        (p,) = [p for p in c.problems() if p.severity == "critical"]
        assert p.message == (
            f"agent a1: {other.url} answers as agent 'b' log {other.log.log_id!r}; "
            "its pages are refused"
        )


async def serve(handler):
    """A misbehaving agent on loopback: ``handler`` answers ``/api/v1/events``."""
    app = web.Application()
    app.router.add_get("/api/v1/events", handler)
    runner = await start_server(app, "127.0.0.1:0")
    return runner, f"http://127.0.0.1:{bound_port(runner)}"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_huge_answer_is_refused_and_the_good_agent_goes_on(tmp_path, store, chunked):
    async def huge(request):
        if not chunked:
            return web.Response(body=b" " * (2 << 20), content_type="application/json")
        resp = web.StreamResponse()
        await resp.prepare(request)
        for _ in range(64):  # 64 MB if it were all read
            await resp.write(b" " * (1 << 20))
        return resp

    runner, bad = await serve(huge)
    try:
        async with agent_api(tmp_path / "a1.db", "a1") as a1:
            a1.emit("bts", "unknown", "up", T0)
            c = await started(store, bad, a1.url, max_page_bytes=1 << 20)
            await pull(c)
            assert store.count_events() == 1
            assert c.agents[0].rejected == {"too_large": 1} and c.agents[0].up is True
    finally:
        await runner.cleanup()


async def test_a_stored_time_no_calendar_shows_never_breaks_the_api(tmp_path, store):
    """A store written before times were checked may hold year-0 times: still answered."""
    import sqlalchemy as sa

    from pantau.collector.schema import events, outages

    bad = -62135683140.0  # 0001-01-01T00:00:00+23:59
    c = await started(store)
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(events).values(
                agent="a1",
                log_id="L",
                cursor=1,
                type="site",
                site="bts",
                probe=None,
                old="up",
                new="down",
                time=bad,
                reason="timeout",
                isolated=False,
                hop=None,
            )
        )
        conn.execute(
            sa.insert(outages).values(
                site="bts",
                district="d2",
                start=bad,
                end=None,
                duration=None,
                cause="down",
                agents="a1",
                hop=None,
                flapping=False,
                transitions=1,
            )
        )
    runner = await start_server(make_app(c, metrics(c)), "127.0.0.1:0")
    base = f"http://127.0.0.1:{bound_port(runner)}"
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/api/v1/sites", "/api/v1/outages", "/api/v1/availability"):
                async with http.get(base + path) as r:
                    assert r.status == 200, (path, await r.text())
            async with http.get(base + "/api/v1/outages") as r:
                (o,) = (await r.json())["outages"]
                assert o["start"] is None and o["site"] == "bts"
        await c.start()  # a restart re-derives from events: the bad one is not read back
        assert store.outages() == []
    finally:
        await runner.cleanup()


async def test_a_reload_removing_most_sites_is_refused_unless_forced(store):
    c = await started(store)
    with pytest.raises(ConfigError) as err:
        await c.reconfigure(c.config, [])  # the inventory file caught with its header only
    assert "reload refused: it would remove 3 of 3 sites (100%" in str(err.value)
    assert "set [collector] max_site_removal = 1" in str(err.value)
    assert set(c.sites) == {"core", "office", "bts"}
    forced = c.config.model_copy(update={"max_site_removal": 1.0})
    await c.reconfigure(forced, [])
    assert c.sites == {}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_two_collectors_over_one_database_each_see_every_change(tmp_path, request, backend):
    """Regional collectors sharing a database, both pulling one agent (docs/scaling.md)."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/shared.db"
    else:
        url = new_database(request.getfixturevalue("postgres_server"))
    east, west = open_store(url, "east"), open_store(url, "west")
    try:
        async with agent_api(tmp_path / "a1.db", "a1") as a1:
            a1.emit("bts", "unknown", "up", T0)
            ce, cw = await started(east, a1.url), await started(west, a1.url)
            await pull(ce)
            await pull(cw)
            a1.emit("bts", "up", "down", T0 + 100)
            await pull(ce)  # east stores it and derives
            await pull(cw)  # west reads from its own cursor: it learns the change too
            assert ce.decision.label_at("bts", NOW) == cw.decision.label_at("bts", NOW) == "down"
            assert east.count_events() == 2
            assert east.cursors()[a1.url].next == west.cursors()[a1.url].next == 2
    finally:
        east.close()
        west.close()


async def test_slow_clients_are_cut_and_bounded_and_the_api_still_answers(store, caplog):
    """300 clients that open a connection and trickle half a request line never get the
    answer they wait for, nor stop the API accepting: beyond the bound they are closed as they
    come, and all of them after the idle time-out."""
    import asyncio

    from pantau.collector.api import start_api

    c = await started(store)
    runner = await start_api(make_app(c, metrics(c)), "127.0.0.1:0", 100, 2.0)
    port = bound_port(runner)
    slow = []
    try:
        for _ in range(300):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /api/v1/sites HTTP/1.1\r\nHost: x\r\n")  # never finished
            slow.append((reader, writer))
        closed = 0
        for reader, _ in slow:  # 200 closed at once (over the bound), 100 at the time-out
            try:
                closed += await asyncio.wait_for(reader.read(), 10) == b""
            except ConnectionResetError:  # closed with our unread half request: a reset
                closed += 1
        assert closed == 300
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz") as r,
        ):
            assert r.status == 200
        # Logged once per cause (not per connection): the bound, and the header deadline.
        assert caplog.text.count("collector API connections closed by a client bound") == 2
    finally:
        for _, writer in slow:
            writer.close()
        await runner.cleanup()
