"""Writes and their audit records in one transaction, on SQLite and on a real PostgreSQL 15."""

from __future__ import annotations

import pytest
from _postgres import new_database, postgres_server  # noqa: F401  (fixture)

from pantau.collector.audit import AuditRecord
from pantau.collector.availability import Maintenance
from pantau.collector.store import open_store

T = 1_900_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/collector.db"
    else:
        url = new_database(request.getfixturevalue("postgres_server"))
    s = open_store(url)
    yield s
    s.close()


def test_add_and_delete_are_audited_in_the_same_transaction(store):
    add = AuditRecord(T, "ops", "127.0.0.1", "maintenance.add", "maintenance", '{"reason": "x"}')
    wid = store.add_maintenance(Maintenance(T, T + 60, "s1", None, "x"), "api", add)
    assert [w.id for w in store.maintenance()] == [wid]
    gone = AuditRecord(T + 1, "ops", "127.0.0.2", "maintenance.delete", f"maintenance/{wid}")
    assert store.delete_maintenance(wid, gone) is True
    assert store.maintenance() == []
    # Nothing to delete: nothing written, no audit record either.
    assert store.delete_maintenance(wid, gone) is False
    records = store.audit(10)
    assert [(r.action, r.user, r.remote, r.target) for r in records] == [
        ("maintenance.delete", "ops", "127.0.0.2", f"maintenance/{wid}"),
        ("maintenance.add", "ops", "127.0.0.1", f"maintenance/{wid}"),
    ]
    assert records[1].detail == '{"reason": "x"}' and records[1].time == T
    assert [r.action for r in store.audit(1)] == ["maintenance.delete"]


def test_a_window_stored_before_writes_were_bounded_is_skipped_and_deletable(store, caplog):
    year_one = -62135596800.0 - 8 * 3600  # 0001-01-01T00:00:00+08:00: no RFC 3339 year
    bad = store.add_maintenance(Maintenance(year_one, T, None, None, "old"), "api")
    good = store.add_maintenance(Maintenance(T, T + 60, None, None, "new"), "api")
    assert [w.id for w in store.maintenance()] == [good]
    assert f"DELETE /api/v1/maintenance/{bad}" in caplog.text
    record = AuditRecord(T, "ops", "127.0.0.1", "maintenance.delete", f"maintenance/{bad}")
    assert store.delete_maintenance(bad, record)
