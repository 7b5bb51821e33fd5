"""The durable event log and its writer: cursors, restarts, retention, errors that lose nothing."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pantau.agent.runtime.eventlog import EventLog, Retention
from pantau.agent.runtime.metrics import AgentStats
from pantau.agent.runtime.recorder import APPEND_BATCH, Recorder
from pantau.errors import StoreError
from pantau.events import Event

KEEP_ALL = Retention(max_age=10 * 365 * 86400, max_count=1_000_000)


def ev(i, t=1000.0, **kw):
    fields = dict(
        agent="a1",
        type="site",
        site=f"s{i}",
        probe=None,
        old="up",
        new="down",
        time=t,
        reason="timeout",
    )
    fields.update(kw)
    return Event(**fields)


def open_log(path, retention=KEEP_ALL, now=2000.0):
    return EventLog(path, retention, clock=lambda: now)


def test_append_and_read_pages(tmp_path):
    log = open_log(tmp_path / "events.db")
    stored = log.append([ev(i) for i in range(5)])
    assert [e.cursor for e in stored] == [1, 2, 3, 4, 5]
    page = log.read(after=0, limit=2)
    assert [e.site for e in page.events] == ["s0", "s1"]
    assert (page.next, page.oldest, page.more) == (2, 1, True)
    page = log.read(after=page.next, limit=10)
    assert [e.cursor for e in page.events] == [3, 4, 5]
    assert (page.next, page.more) == (5, False)
    empty = log.read(after=5)
    assert (empty.events, empty.next, empty.more) == ((), 5, False)
    assert log.read(after=99).next == 99
    log.close()


def test_fields_round_trip(tmp_path):
    log = open_log(tmp_path / "events.db")
    events = [
        ev(1, t=1234.567, hop="10.1.0.1", isolated=True),
        ev(2, type="probe", probe="tcp:443", old="unknown", new="up", reason="ok"),
        ev(
            3,
            type="agent",
            site=None,
            old="connected",
            new="isolated",
            reason="isolated",
            isolated=True,
        ),
    ]
    stored = log.append(events)
    assert list(log.read().events) == stored
    assert stored[0].to_json()["time"] == "1970-01-01T00:20:34.567Z"
    log.close()


def test_cursors_and_log_id_survive_reopen(tmp_path):
    path = tmp_path / "events.db"
    log = open_log(path)
    log.append([ev(i) for i in range(3)])
    log_id = log.log_id
    log.close()
    log = open_log(path)
    assert log.log_id == log_id and len(log_id) == 32
    assert [e.cursor for e in log.append([ev(9)])] == [4]
    log.close()
    other = open_log(tmp_path / "other.db")
    assert other.log_id != log_id
    other.close()


def test_retention_by_count_never_reuses_cursors(tmp_path):
    path = tmp_path / "events.db"
    log = open_log(path, Retention(max_age=1e9, max_count=1000))
    for start in range(0, 1500, 100):
        log.append([ev(i) for i in range(start, start + 100)])
    page = log.read(after=0, limit=10000)
    assert len(page.events) == 1000
    assert page.oldest == 501 and page.events[0].cursor == 501 and page.next == 1500
    log.close()
    log = open_log(path, Retention(max_age=1e9, max_count=1000))
    assert log.append([ev(0)])[0].cursor == 1501
    log.close()


def test_retention_by_age_and_oldest_when_everything_expired(tmp_path):
    path = tmp_path / "events.db"
    log = open_log(path, Retention(max_age=100.0, max_count=1000), now=1000.0)
    log.append([ev(0, t=850.0), ev(1, t=950.0)])  # the first is past the 100 s retention
    page = log.read()
    assert [e.cursor for e in page.events] == [2] and page.oldest == 2
    log.close()
    later = open_log(path, Retention(max_age=100.0, max_count=1000), now=5000.0)
    later.append([ev(2, t=10.0)])  # already expired: appended, then pruned with the rest
    page = later.read()
    assert page.events == () and page.oldest == 4 and page.next == 0
    later.close()


def test_corrupt_file_is_a_clear_store_error(tmp_path):
    path = tmp_path / "events.db"
    path.write_bytes(b"this is not a sqlite database" * 200)
    with pytest.raises(StoreError, match=r"events\.db: not a usable event log .*move the file"):
        open_log(path)
    assert path.read_bytes().startswith(b"this is not")  # nothing overwritten


def test_unwritable_folder_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open the event log"):
        open_log(blocker / "sub" / "events.db")


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs: a real full disk. Needs root (mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to fill needs root")
    mnt = tmp_path / f"tiny-{os.getpid()}"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount tmpfs: {done.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_raises_and_keeps_what_was_recorded(tiny_disk):
    path = tiny_disk / "events.db"
    log = open_log(path)
    acknowledged = []
    with pytest.raises(StoreError, match=r"events\.db: cannot append .*full"):
        for batch in range(10_000):
            acknowledged += log.append([ev(batch * 50 + i, hop="x" * 200) for i in range(50)])
    assert acknowledged, "the disk filled before the first batch"
    assert list(log.read(after=0, limit=10000).events) == acknowledged[:10000]
    log.close()
    reopened = sqlite3.connect(path)
    count = reopened.execute("SELECT COUNT(*), MAX(cursor) FROM events").fetchone()
    reopened.close()
    assert count == (len(acknowledged), acknowledged[-1].cursor)


def big(i):
    return ev(i, t=1000.0 + i, hop="h" * 500)


def fill(path):
    """Write zeros until the file system refuses (ENOSPC)."""
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


async def test_events_wait_out_a_full_disk_in_order(tiny_disk, caplog):
    log = EventLog(tiny_disk / "events.db", Retention(1e9, 10**6), clock=lambda: 2000.0)
    stats = AgentStats()
    recorder = Recorder(log, stats, retry=0.1)
    recorder.start()
    recorder.record([big(0)])
    await asyncio.sleep(0.3)
    fill(tiny_disk / "junk")
    recorder.record([big(i) for i in range(1, 400)])
    await asyncio.sleep(0.5)
    assert "event append failed" in caplog.text
    assert [e.cursor for e in log.read().events] == [1]  # the first one is safe and alone
    (tiny_disk / "junk").unlink()
    recorder.record([big(400)])
    await recorder.close(timeout=10)
    events = log.read(limit=10000).events
    assert [e.site for e in events] == [f"s{i}" for i in range(401)]
    assert [e.cursor for e in events] == list(range(1, 402))
    assert stats.events["site"] == 401
    log.close()


async def test_a_burst_of_several_appends_is_recorded_whole_and_in_order(tmp_path):
    """The first round of a large agent decides more events than one append takes (issue 18:
    appends are batched): all of them reach the log, in order, counted once each."""
    log = open_log(tmp_path / "events.db")
    stats = AgentStats()
    recorder = Recorder(log, stats)
    recorder.start()
    n = 2 * APPEND_BATCH + 7
    recorder.record([ev(i) for i in range(n)])
    recorder.record([ev(n)])  # recorded while the burst is still being written
    await recorder.close(timeout=60)
    sites, after = [], 0
    while page := log.read(after=after, limit=5000).events:
        sites += [e.site for e in page]
        after = page[-1].cursor
    assert sites == [f"s{i}" for i in range(n + 1)]
    assert after == n + 1 and stats.events["site"] == n + 1 and stats.events_pending == 0
    log.close()


ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(min_value=1, max_value=700)),
        st.tuples(st.just("reopen"), st.just(0)),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=25, deadline=None)
@given(ops, st.integers(min_value=1, max_value=3000))
def test_pages_are_exact_whatever_was_appended_reopened_or_pruned(sequence, limit):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.db"
        retention = Retention(max_age=1e9, max_count=1000)
        log = open_log(path, retention)
        total = 0
        for op, n in sequence:
            if op == "reopen":
                log.close()
                log = open_log(path, retention)
                continue
            stored = log.append([ev(total + i) for i in range(n)])
            assert [e.cursor for e in stored] == list(range(total + 1, total + n + 1))
            total += n
        # Walk the whole log page by page: exactly the last min(total, 1000) events, in order.
        seen, after = [], 0
        while True:
            page = log.read(after=after, limit=limit)
            seen += [e.cursor for e in page.events]
            assert page.next == (seen[-1] if seen else 0)
            after = page.next
            if not page.more:
                break
        kept = min(total, 1000)
        assert seen == list(range(total - kept + 1, total + 1))
        assert log.read().oldest == total - kept + 1
        log.close()


def test_a_page_announces_no_event_it_does_not_deliver(tmp_path):
    """The page's high-water mark is read with its events: with a writer appending all along,
    every cursor up to it (after ``after``) is on the page. Read apart, an event recorded in
    between was announced and not delivered, and the collector's clock check (events recorded
    after its previous pull) then let it through unjudged on the next pull."""
    import threading

    log = open_log(tmp_path / "events.db")
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set() and i < 20_000:  # bounded
            log.append([ev(i)])
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        after, checked = 0, 0
        for _ in range(2_000):
            page = log.read(after, limit=1_000_000)
            cursors = [e.cursor for e in page.events]
            assert cursors == list(range(after + 1, page.high_water + 1)), (after, page.high_water)
            checked += len(cursors)
            after = page.next
    finally:
        stop.set()
        thread.join()
    assert checked > 0
    log.close()
