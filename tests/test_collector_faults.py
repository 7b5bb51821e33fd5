"""The evidence chain under faults, with real processes (issue 12): ``pantau agent`` probing a
loopback TCP service that the test takes down and brings back, ``pantau collector`` pulling it.

Each test counts: events the agent recorded = events stored, none twice, outages as decided
from everything the agent recorded, and what the operator sees (``/healthz``, metrics, log).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from agentproc import AgentProcess, free_port, site_toml, write_config
from collectorproc import (
    Broken,
    CollectorProcess,
    Service,
    basic,
    content,
    get,
    post,
    wait_for,
)
from tlspki import web_config

from pantau.collector.outages import OutageParams, SiteRef, decide
from pantau.events import Event, parse_time


def agent_in(folder: Path, name: str, service: Service, port: int | None = None) -> AgentProcess:
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = write_config(
        folder / "agent.toml", port, [SITE(service)], name=name, up_after=1, down_after=1
    )
    agent = AgentProcess(config, port)
    agent.wait_ready()
    return agent


def SITE(service: Service, site: str = "layanan") -> str:
    return site_toml(site, "127.0.0.1", [f"tcp:{service.port}"])


def flap(agent: AgentProcess, service: Service, times: int = 1) -> None:
    """Take the service down until the agent logs it, and back up until it logs that."""
    for _ in range(times):
        n = len(agent.events())
        service.down()
        agent.wait_for(
            lambda ev, n=n: ev[n:] and ev[-1]["type"] == "site" and ev[-1]["new"] == "down"
        )
        n = len(agent.events())
        service.up()
        agent.wait_for(
            lambda ev, n=n: ev[n:] and ev[-1]["type"] == "site" and ev[-1]["new"] == "up"
        )


def decided(events: list[dict], site: str = "layanan") -> list[tuple]:
    """(start, end) of the outages decided from ``events``: the run without the fault."""
    evs = [Event.from_json(e) for e in events]
    d = decide(evs, [SiteRef(site)], OutageParams())
    return [(o.start, o.end) for o in d.outages[site]]


def outages(c: CollectorProcess, site: str = "layanan") -> list[tuple]:
    found = get(f"{c.api}/api/v1/outages?site={site}", c.auth)[1]["outages"]
    return sorted(
        (parse_time(o["start"]), parse_time(o["end"]) if o["end"] else None) for o in found
    )


@pytest.mark.slow
def test_agent_state_dir_restored_from_a_backup_loses_nothing(tmp_path, service):
    """The agent's state_dir is restored from a backup: it hands out cursors again that the
    collector already has. Every event it recorded, before and after, is stored once."""
    folder = tmp_path / "a1"
    agent = agent_in(folder, "a1", service)
    c = CollectorProcess(tmp_path / "c", [agent.base], [SITE(service)])
    try:
        c.start()
        agent.wait_for(lambda ev: ev and ev[-1]["new"] == "up")
        agent.stop()
        shutil.copytree(folder / "state", tmp_path / "backup")  # the nightly backup
        agent = AgentProcess(agent.config, agent.port)
        agent.wait_ready()
        flap(agent, service, 2)
        before = agent.events()
        wait_for(lambda: c.stored() == content(before), "everything stored")
        agent.stop()
        shutil.rmtree(folder / "state")
        shutil.copytree(tmp_path / "backup", folder / "state")  # the restore
        agent = AgentProcess(agent.config, agent.port)
        agent.wait_ready()
        flap(agent, service, 1)
        after = agent.events()
        assert after[-1]["cursor"] <= before[-1]["cursor"] + 2, "cursors are handed out again"
        everything = {json.dumps(e, sort_keys=True): e for e in before + after}
        reused = [e for e in after if e["cursor"] > content_cursor(before, after)]
        expected = content(list({**everything}.values()))
        wait_for(lambda: c.stored() == expected, "the events after the restore stored")
        assert len(c.stored()) == len(set(c.stored())), "no event twice"
        assert reused, "the restore made the agent reuse cursors"
        assert "agent log went back in time agent=a1" in c.text()
        assert outages(c) == decided(before + [e for e in after if e not in before])
        assert get(f"{c.api}/healthz")[0] == 200
    finally:
        c.reap()
        agent.__exit__()
    assert "Traceback" not in c.text()


def content_cursor(before: list[dict], after: list[dict]) -> int:
    """The last cursor both logs share with the same event (the backup's end)."""
    theirs = {e["cursor"]: e for e in after}
    shared = [e["cursor"] for e in before if theirs.get(e["cursor"]) == e]
    return max(shared, default=0)


@pytest.mark.slow
def test_events_of_a_site_added_later_are_applied_when_it_is_added(tmp_path, service):
    """The agent knows a site before the collector's inventory does."""
    agent = agent_in(tmp_path / "a1", "a1", service)
    other = site_toml("lain", "127.0.0.1", ["tcp:1"])  # a site the agent does not probe
    c = CollectorProcess(tmp_path / "c", [agent.base], [other])
    try:
        c.start()
        service.down()
        events = agent.wait_for(lambda ev: ev and ev[-1]["new"] == "down")
        wait_for(lambda: c.stored() == content(events), "kept though unknown")
        held = wait_for(
            lambda: c.metric("pantau_collector_events_held", agent="a1", reason="unknown_site"),
            "held shown",
        )
        assert held == len([e for e in events if e["type"] == "site"])
        assert "events kept for a site not in the inventory agent=a1 site=layanan" in c.text()
        c.write([agent.base], [other, SITE(service)])
        c.proc.send_signal(signal.SIGHUP)
        sites = wait_for(
            lambda: {s["id"]: s for s in get(f"{c.api}/api/v1/sites")[1]["sites"]}.get("layanan"),
            "the site added",
        )
        wait_for(
            lambda: get(f"{c.api}/api/v1/sites")[1]["sites"][1]["state"] == "down", "its state"
        )
        assert sites["id"] == "layanan"
        assert outages(c) == decided(agent.events())
        assert c.metric("pantau_collector_events_held", agent="a1", reason="unknown_site") == 0
    finally:
        c.reap()
        agent.__exit__()


def page(events: list[dict], agent: str = "x") -> bytes:
    nxt = max([e["cursor"] for e in events] + [0])
    return json.dumps(
        {"agent": agent, "log_id": "L", "events": events, "next": nxt, "oldest": 1, "more": False}
    ).encode()


@pytest.mark.slow
def test_a_broken_agent_never_stops_or_corrupts_the_collector(tmp_path, service):
    year_one = {
        "cursor": 1, "agent": "x", "type": "site", "site": "layanan", "probe": None,
        "old": "up", "new": "down", "time": "0001-01-01T00:00:00+23:59", "reason": "timeout",
        "isolated": False, "hop": None,
    }  # fmt: skip
    broken = Broken(
        [
            b"[" * 400_000 + b"]" * 400_000,  # RecursionError in json.loads
            page([year_one]),
            b" " * (3 << 20),  # larger than max_page_bytes
        ]
    )
    agent = agent_in(tmp_path / "a1", "a1", service)
    c = CollectorProcess(
        tmp_path / "c", [broken.url, agent.base], [SITE(service)], "max_page_bytes = 1048576\n"
    )
    try:
        c.start()
        flap(agent, service, 1)
        wait_for(lambda: c.stored() == content(agent.events()), "the good agent's events stored")
        rejected = {
            reason: wait_for(
                lambda r=reason: c.metric(
                    "pantau_collector_events_rejected_total", agent="x", reason=r
                ),
                reason,
            )
            for reason in ("bad_json", "too_large")
        }
        assert rejected["bad_json"] == 1 and rejected["too_large"] >= 1
        assert "event rejected agent=x reason=implausible_time" in c.text()
        assert (
            c.text().count("page rejected, counted until a good page agent=x reason=too_large") == 1
        )
        for _ in range(2):  # and after a restart
            for path in ("/api/v1/sites", "/api/v1/outages", "/api/v1/availability"):
                assert get(c.api + path)[0] == 200, path
            # The agent's log as it is now: a probe timing out under load adds an outage.
            wait_for(lambda: outages(c) == decided(agent.events()), "outages = decided")
            c.proc.send_signal(signal.SIGTERM)
            assert c.proc.wait(timeout=20) == 0
            c.start()
    finally:
        c.reap()
        agent.__exit__()
        broken.shutdown()
    assert "Traceback" not in c.text()


@pytest.mark.slow
def test_another_agent_at_a_known_url_is_refused_until_accepted(tmp_path, service):
    agent = agent_in(tmp_path / "a1", "a1", service)
    # Accepting is a write: a web config with a reader and a writer (see collector/writes.py).
    web = web_config(tmp_path / "web.yml", None, {"viewer": "view-pw", "ops": "ops-pw"})
    reader, writer = basic("viewer", "view-pw"), basic("ops", "ops-pw")
    extra = f'web_config = "{web}"\nwriters = ["ops"]'
    c = CollectorProcess(tmp_path / "c", [agent.base], [SITE(service)], extra=extra, auth=reader)
    try:
        c.start()
        flap(agent, service, 1)
        mine = agent.events()
        wait_for(lambda: c.stored() == content(mine), "a1's events stored")
        recorded = outages(c)
        assert recorded == decided(mine) and len(recorded) == 1
        agent.stop()
        other = agent_in(tmp_path / "b", "b", service, port=agent.port)
        agent = other
        status, body = wait_for(
            lambda: (s := get(f"{c.api}/healthz", reader))[0] == 503 and s, "the conflict shown"
        )
        (problem,) = [p for p in body["problems"] if p["severity"] == "critical"]
        assert problem["message"].startswith(f"agent a1: {other.base} answers as agent 'b' log ")
        assert c.metric("pantau_collector_agent_identity_conflict", agent="a1") == 1
        time.sleep(1)  # pulls go on: still nothing of b stored, a1's outage intact
        assert c.stored() == content(mine) and outages(c) == recorded
        accept = f"{c.api}/api/v1/agents/accept"
        assert post(accept, {"source": other.base})[0] == 401  # no credentials
        status, body = post(accept, {"source": other.base}, reader)
        assert status == 403 and "may read but not write" in body["error"], body
        assert c.metric("pantau_collector_agent_identity_conflict", agent="a1") == 1
        status, body = post(accept, {"source": other.base}, writer)
        assert status == 200 and body["accepted"].startswith("b "), body
        wait_for(lambda: c.stored() == content(mine + other.events()), "b's events stored")
        assert wait_for(lambda: get(f"{c.api}/healthz", reader)[0] == 200, "healthy again")
        (record, *_) = get(f"{c.api}/api/v1/audit", reader)[1]["audit"]
        assert (record["action"], record["user"], record["target"]) == (
            "agent.accept",
            "ops",
            other.base,
        )
        assert c.metric("pantau_collector_writes_total", action="agent.accept", result="ok") == 1
    finally:
        c.reap()
        agent.__exit__()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 4 MiB tmpfs to fill: a real full disk. Needs root (mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to fill needs root")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount tmpfs: {done.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path: Path) -> None:
    """Write zeros until the file system refuses (ENOSPC, also when the file closes)."""
    with contextlib.suppress(OSError), open(path, "wb") as f:
        while True:
            f.write(b"\0" * 4096)
            f.flush()


@pytest.mark.slow
def test_collector_starts_degraded_on_a_full_disk_and_recovers(tmp_path, tiny_disk, service):
    agent = agent_in(tmp_path / "a1", "a1", service)
    c = CollectorProcess(tmp_path / "c", [agent.base], [SITE(service)])
    c.db = tiny_disk / "collector.db"
    c.write([agent.base], [SITE(service)])
    try:
        c.start()  # creates the database
        c.proc.send_signal(signal.SIGTERM)
        assert c.proc.wait(timeout=20) == 0
        fill(tiny_disk / "filler")
        flap(agent, service, 1)  # the agent records while the collector cannot store
        c.start(healthy=False)
        status, body = get(f"{c.api}/healthz")
        assert status == 503 and body["status"] == "degraded", body
        messages = " ".join(p["message"] + p["hint"] for p in body["problems"])
        assert "cannot open or migrate" in messages or "failed" in messages, messages
        assert f"check the filesystem holding {tiny_disk}" in messages, messages
        assert get(f"{c.api}/api/v1/sites")[0] == 200
        assert c.metric("pantau_collector_store_up") == 0
        assert "collector starting degraded, retrying" in c.text()
        (tiny_disk / "filler").unlink()
        wait_for(lambda: get(f"{c.api}/healthz")[0] == 200, "recovered", 90)
        wait_for(lambda: c.stored() == content(agent.events()), "everything stored")
        assert outages(c) == decided(agent.events())
        assert c.proc.poll() is None
    finally:
        c.reap()
        agent.__exit__()


def faked_agent(folder: Path, name: str, service: Service, offset: str) -> AgentProcess:
    """An agent whose wall clock is off by ``offset`` (libfaketime; its monotonic clock, which
    schedules rounds, stays true)."""
    if shutil.which("faketime") is None:
        pytest.skip("faketime not installed (Debian package faketime, in .ci/install-deps)")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = write_config(
        folder / "agent.toml", port, [SITE(service)], name=name, up_after=1, down_after=1
    )
    os.environ["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
    try:
        agent = AgentProcess(config, port, wrapper=("faketime", "-f", offset))
    finally:
        del os.environ["FAKETIME_DONT_FAKE_MONOTONIC"]
    agent.wait_ready()
    return agent


@pytest.mark.slow
def test_an_agent_clock_ahead_is_held_then_stored_never_skipped(tmp_path, service):
    agent = faked_agent(tmp_path / "a1", "a1", service, "+20s")
    c = CollectorProcess(tmp_path / "c", [agent.base], [SITE(service)], "clock_skew = 5\n")
    try:
        c.start()
        held = wait_for(
            lambda: c.metric("pantau_collector_events_held", agent="a1", reason="future"),
            "events held",
        )
        assert held >= 1
        offset = c.metric("pantau_collector_agent_clock_offset_seconds", agent="a1")
        assert 18 < offset < 22, offset
        (warning,) = [p for p in get(f"{c.api}/healthz")[1]["problems"] if "clock" in p["message"]]
        assert (
            warning["message"].startswith("agent a1 clock is ")
            and "s ahead of" in warning["message"]
        )
        flap(agent, service, 1)

        def caught_up() -> bool:  # each new event is held ~15 s: wait until none is
            held = c.metric("pantau_collector_events_held", agent="a1", reason="future")
            return held == 0 and c.stored() == content(agent.events())

        wait_for(caught_up, "everything stored once the collector's clock got there")
        assert outages(c) == decided(agent.events())
    finally:
        c.reap()
        agent.__exit__()


@pytest.mark.slow
def test_an_agent_clock_a_day_slow_writes_no_phantom_outage(tmp_path, service):
    agent = faked_agent(tmp_path / "a1", "a1", service, "-1d")
    c = CollectorProcess(tmp_path / "c", [agent.base], [SITE(service)])
    try:
        c.start()
        first = agent.wait_for(lambda ev: ev and ev[-1]["new"] == "up")
        wait_for(lambda: c.stored() == content(first), "the first pull")
        flap(agent, service, 2)
        # Compared with the log as it is at each check: on a loaded machine a probe may time out
        # and the agent record more changes than the two flaps.
        wait_for(
            lambda: (
                c.metric(
                    "pantau_collector_events_rejected_total", agent="a1", reason="clock_behind"
                )
                == len(agent.events()[len(first) :])
            ),
            "every event of the wrong clock refused",
        )
        assert c.stored() == content(first) and outages(c) == []
        offset = c.metric("pantau_collector_agent_clock_offset_seconds", agent="a1")
        assert -86402 < offset < -86398, offset
        # The first pull's events could not be judged (no earlier pull): stored, and said once.
        said = "first pull from an agent whose clock is off: its earlier events cannot be judged"
        assert c.text().count(said) == 1
    finally:
        c.reap()
        agent.__exit__()
