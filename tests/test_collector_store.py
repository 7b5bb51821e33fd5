"""The collector store, the same tests on SQLite and on a PostgreSQL 15 the test starts."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa
from _postgres import new_database, postgres_server  # noqa: F401  (fixture)
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from pantau.collector.availability import Maintenance
from pantau.collector.outages import Outage
from pantau.collector.schema import metadata
from pantau.collector.store import open_store
from pantau.errors import StoreError
from pantau.events import Event


def _migrations():
    """The alembic config of the collector's migrations."""
    from importlib import resources

    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("pantau.collector.migrations")))
    return config


def _head() -> str:
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(_migrations()).get_current_head())


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/collector.db"
    return new_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def store(db_url):
    s = open_store(db_url)
    yield s
    s.close()


def ev(cursor, site="s1", new="down", old="up", t=None, agent="a1", type_="site", hop=None):
    return Event(
        agent,
        type_,
        site,
        None,
        old,
        new,
        t if t is not None else 1000.0 + cursor,
        "timeout",
        False,
        hop,
        cursor,
    )


def test_migrated_schema_equals_the_tables_and_reopening_is_a_noop(db_url):
    s = open_store(db_url)
    s.close()
    s = open_store(db_url)  # second open: already at head
    with s.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        version = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    s.close()
    assert diff == [] and version == _head()


def test_ingest_is_idempotent_and_keeps_the_cursor(store):
    page = [ev(1, new="up", old="unknown"), ev(2), ev(3, site="s2", hop="10.0.0.1")]
    assert store.ingest("http://a1", "a1", "L1", page, 3, now=5.0) == 3
    assert store.ingest("http://a1", "a1", "L1", page, 3, now=6.0) == 0
    assert store.count_events() == 3
    cur = store.cursors()["http://a1"]
    assert (cur.agent, cur.log_id, cur.next, cur.updated) == ("a1", "L1", 3, 6.0)
    got = store.events_for(["s1", "s2"])
    assert got == sorted(page, key=lambda e: (e.time, e.agent, e.cursor))
    assert store.dirty() == {"s1", "s2"}
    # a replaced agent log (new log_id) restarts at cursor 1 without clashing
    assert store.ingest("http://a1", "a1", "L2", [ev(1, t=2000)], 1, now=7.0) == 1
    assert store.count_events() == 4


def test_an_agent_event_marks_every_site_of_that_agent(store):
    store.ingest("u", "a1", "L", [ev(1, site="s1"), ev(2, site="s2")], 2, now=1)
    store.replace_outages({}, {"s1", "s2"}, now=2)
    assert store.dirty() == set()
    iso = Event("a1", "agent", None, None, "connected", "isolated", 1100, "isolated", True, None, 3)
    store.ingest("u", "a1", "L", [iso], 3, now=3)
    assert store.dirty() == {"s1", "s2"}


def test_missed_events_add_up(store):
    store.ingest("u", "a1", "L", [ev(50)], 50, now=1, missed=48)
    store.ingest("u", "a1", "L", [ev(90)], 90, now=2, missed=10)
    assert store.cursors()["u"].missed == 58


def test_failed_write_rolls_back_events_with_their_cursor(store):
    store.ingest("u", "a1", "L", [ev(1)], 1, now=1)
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE cursors"))
    with pytest.raises(StoreError, match=r"storing 2 events from u failed: .*nothing of it"):
        store.ingest("u", "a1", "L", [ev(2), ev(3)], 3, now=2)
    assert store.count_events() == 1


def test_outages_replace_and_filters(store):
    o1 = Outage("s1", "d1", 100.0, 200.0, "down", ("a1", "a2"), "10.0.0.1", unobserved=30.0)
    o2 = Outage("s1", "d1", 300.0, None, "unreachable", ("a1",), None, True, 3, 10.0)
    o3 = Outage("s2", "d2", 150.0, 160.0, "unknown", ("a2",), None)
    store.mark_dirty(["s1", "s2"])
    store.replace_outages({"s1": [o1, o2], "s2": [o3]}, ["s1", "s2"], now=400)
    assert store.dirty() == set()
    assert store.outages() == [o2, o3, o1]
    assert store.outages(site="s1", open_only=True) == [o2]
    assert store.outages(open_only=False, district="d1") == [o1]
    assert store.outages(start=170, end=250) == [o1]
    assert store.outages(start=250) == [o2]
    # replacing s1 leaves s2 alone
    store.replace_outages({"s1": [o1]}, [], now=500)
    assert store.outages() == [o3, o1]


def test_removed_sites_open_outages_end(store):
    closed = Outage("s1", "d1", 100.0, 200.0, "down", ("a1",), None)
    open_ = Outage("s1", "d1", 300.0, None, "unreachable", ("a1",), None, unobserved=20.0)
    other = Outage("s2", "d2", 150.0, None, "down", ("a2",), None)
    store.replace_outages({"s1": [closed, open_], "s2": [other]}, [], now=400)
    assert store.end_open_outages(["s1", "gone"], at=450.0) == 1
    assert store.outages(site="s1") == [dataclasses.replace(open_, end=450.0), closed]
    assert store.outages(site="s1")[0].duration(now=999.0) == 450.0 - 300.0 - 20.0
    assert store.outages(site="s2") == [other]  # a site still watched keeps its open outage
    assert store.end_open_outages(["s1"], at=500.0) == 0  # nothing open any more


def test_agent_down_periods(store):
    for t, up in [(10, False), (20, False), (30, True), (50, False)]:
        store.agent_status("a1", t, up)
    store.agent_status("a2", 5, True)
    assert store.agent_down() == {"a1": [(10, 30), (50, None)], "a2": []}


def test_maintenance_windows_are_stored(store):
    first = store.add_maintenance(Maintenance(5, 15, district="d1", reason="kabel"))
    second = store.add_maintenance(Maintenance(0, 30, site="s1"))
    got = store.maintenance()
    assert [(w.start, w.end, w.site, w.district, w.reason, w.id) for w in got] == [
        (0, 30, "s1", None, "", second),
        (5, 15, None, "d1", "kabel", first),
    ]


def test_unreachable_database_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="cannot open or migrate"):
        open_store(f"postgresql://postgres@/nodb?host={tmp_path}")


def test_disk_full_is_a_store_error_and_a_retry_stores_everything(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/c.db")
    store.ingest("u", "a1", "L", [ev(1)], 1, now=1)

    def tiny(dbapi_conn, _record):  # SQLite's own "database or disk is full" path
        dbapi_conn.execute("PRAGMA max_page_count=8")

    sa.event.listen(store.engine, "connect", tiny)
    store.engine.dispose()
    page = [ev(c, site=f"site-{c}" * 4) for c in range(2, 3000)]
    with pytest.raises(StoreError, match="full"):
        store.ingest("u", "a1", "L", page, 2999, now=2)
    assert store.count_events() == 1 and store.cursors()["u"].next == 1
    sa.event.remove(store.engine, "connect", tiny)
    store.engine.dispose()
    assert store.ingest("u", "a1", "L", page, 2999, now=3) == len(page)
    store.close()


def test_migration_0003_goes_down_and_up_again(db_url):
    """The lead chains migrations at merge: this one must downgrade and upgrade cleanly."""
    import alembic.command

    s = open_store(db_url, "c1")
    s.ingest("u", "a1", "L", [ev(1)], 1, now=1)
    config = _migrations()
    with s.engine.begin() as conn:
        config.attributes["connection"] = conn
        alembic.command.downgrade(config, "0001")
    s.close()
    s = open_store(db_url, "c2")  # upgraded again: the old cursor is every collector's start
    try:
        assert s.cursors()["u"].next == 1 and s.count_events() == 1
    finally:
        s.close()


def test_cursors_are_per_collector_and_old_cursors_are_adopted(db_url):
    """Two regional collectors over one database never share a cursor; a cursor of the schema
    before (0001, no collector) is where each starts."""
    import alembic.command

    from pantau.collector.store.engine import engine_url

    engine = sa.create_engine(engine_url(db_url))
    config = _migrations()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        alembic.command.upgrade(config, "0001")
        conn.execute(
            sa.text(
                "INSERT INTO cursors (source, agent, log_id, next, updated, missed) "
                "VALUES ('u', 'a1', 'L', 7, 1.0, 2)"
            )
        )
    engine.dispose()
    east, west = open_store(db_url, "east"), open_store(db_url, "west")
    try:
        assert east.cursors()["u"].next == 7 and west.cursors()["u"].next == 7
        east.ingest("u", "a1", "L", [ev(8), ev(9)], 9, now=2)
        assert east.cursors()["u"].next == 9 and west.cursors()["u"].next == 7
        west.ingest("u", "a1", "L", [ev(8)], 8, now=3)
        assert (east.cursors()["u"].next, west.cursors()["u"].next) == (9, 8)
        assert east.count_events() == 2  # the second reader stored nothing twice
        # Dirty marks are per collector: one deriving does not hide the change from the other.
        assert east.dirty() == {"s1"} and west.dirty() == {"s1"}
        east.replace_outages({}, {"s1"}, 4)
        assert east.dirty() == set() and west.dirty() == {"s1"}
    finally:
        east.close()
        west.close()


def test_long_probe_and_hop_are_stored_shortened_not_refused(store):
    """An HTTP probe's URL may be longer than the column (512): PostgreSQL would refuse the
    row and stall the agent's ingest."""
    url = "http:https://example.invalid/" + "x" * 900
    long = [
        dataclasses.replace(ev(1), type="probe", probe=url),
        dataclasses.replace(ev(2), type="probe", probe=url + "y", hop="h" * 400),
    ]
    assert store.ingest("u", "a1", "L", long, 2, now=1) == 2
    first, second = (store.event_at("a1", "L", c) for c in (1, 2))
    assert first is not None and second is not None
    assert len(first.probe) == 512 and first.probe != second.probe
    assert first.probe.startswith("http:https://example.invalid/xxx")
    assert len(second.hop) == 256


def test_migration_0006_keeps_the_lost_counts_by_reason_and_goes_down_and_up(db_url):
    """The lost counts by reason are kept with the cursor; a store of before (0005) upgrades
    with its total as retention losses, and 0006 goes down and up cleanly."""
    import dataclasses as dc

    import alembic.command

    s = open_store(db_url, "c1")
    s.ingest("u", "a1", "L", [ev(1)], 1, now=1, missed=2)  # 2 lost to retention
    s.put_cursor(dc.replace(s.cursors()["u"], missed=5, went_back=5))  # 5 to a log gone back
    cur = s.cursors()["u"]
    assert (cur.missed, cur.went_back) == (7, 5)
    config = _migrations()
    with s.engine.begin() as conn:
        config.attributes["connection"] = conn
        alembic.command.downgrade(config, "0005_outage_unobserved")
    s.close()
    s = open_store(db_url, "c1")  # upgraded again: the total kept, its reasons not
    try:
        cur = s.cursors()["u"]
        assert (cur.missed, cur.went_back, cur.next) == (7, 0, 1)
    finally:
        s.close()
