"""A real agent process: the event log stays exact across restarts, SIGHUP reloads in place."""

from __future__ import annotations

import signal
import socketserver
import threading

import pytest
from agentproc import AgentProcess, free_port, site_states, site_toml, write_config


@pytest.fixture
def listener():
    """A TCP service on a free loopback port (accepts and closes), stoppable by the test."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def sites_for(port_open: int, port_closed: int) -> list[str]:
    return [
        site_toml("open", "127.0.0.1", [f"tcp:{port_open}"]),
        site_toml("closed", "127.0.0.1", [f"tcp:{port_closed}"]),
    ]


def both_decided(events):
    return site_states(events) == {"open": "up", "closed": "down"}


@pytest.fixture
def running(tmp_path, listener):
    """An agent process with sites ``open`` (up) and ``closed`` (down), both decided."""
    port = free_port()
    config = write_config(
        tmp_path / "agent.toml", port, sites_for(listener.server_address[1], free_port())
    )
    with AgentProcess(config, port) as agent:
        agent.wait_ready()
        agent.wait_for(both_decided)
        yield agent


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])
def test_restart_neither_loses_nor_repeats_events(tmp_path, listener, sig):
    port = free_port()
    closed = free_port()
    config = write_config(
        tmp_path / "agent.toml", port, sites_for(listener.server_address[1], closed)
    )
    with AgentProcess(config, port) as agent:
        agent.wait_ready()
        first = agent.wait_for(both_decided)
        _, body = agent.get("/api/v1/events")
        log_id = body["log_id"]
        code = agent.stop(sig)
    assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
    with AgentProcess(config, port) as agent:
        agent.wait_ready()
        # State starts unknown again: the same sites are decided again, as new events.
        again = agent.wait_for(lambda ev: both_decided(ev[len(first) :]))
        _, body = agent.get("/api/v1/events")
        assert body["log_id"] == log_id
        agent.stop(signal.SIGTERM)
    assert again[: len(first)] == first  # nothing already served changed or vanished
    cursors = [e["cursor"] for e in again]
    assert cursors == sorted(set(cursors))  # strictly increasing, never reused
    assert cursors[len(first)] == cursors[len(first) - 1] + 1  # continues where it was
    assert {
        (e["site"], e["old"], e["new"]) for e in again[len(first) :] if e["type"] == "site"
    } == {("open", "unknown", "up"), ("closed", "unknown", "down")}


def test_term_is_clean_and_logged(tmp_path, running):
    assert running.stop(signal.SIGTERM) == 0
    text = running.log_text()
    assert "agent stopped name=test-agent" in text
    assert "Traceback" not in text
    # The WAL was checkpointed on close: the database file holds everything on its own.
    assert (
        not (tmp_path / "state" / "events.db-wal").exists()
        or (tmp_path / "state" / "events.db-wal").stat().st_size == 0
    )


def test_sighup_reload_adds_removes_and_keeps_state(tmp_path, listener):
    port, open_port, closed = free_port(), listener.server_address[1], free_port()
    config = write_config(tmp_path / "agent.toml", port, sites_for(open_port, closed))
    with AgentProcess(config, port) as agent:
        agent.wait_ready()
        before = agent.wait_for(both_decided)
        mark = before[-1]["cursor"]
        write_config(
            config,
            port,
            [
                site_toml("open", "127.0.0.1", [f"tcp:{open_port}"]),  # unchanged
                site_toml("added", "127.0.0.1", [f"tcp:{open_port}"]),
                "[[sites]]\nid = 'bad row'\nname = 'x'\nkind = 'office'\nlat = 0\nlon = 0\n",
            ],
            kinds={"tcp": {"interval": 0.7}},
        )
        agent.send(signal.SIGHUP)
        after = agent.wait_for(
            lambda ev: (
                site_states(ev).get("added") == "up" and any(e["reason"] == "removed" for e in ev)
            ),
            after=mark,
        )
        # Rounds keep running after the reload; the unchanged site never re-announces itself.
        agent.wait_for(lambda ev: True, timeout=1)
        _, metrics = agent.get("/metrics")
        assert agent.proc.poll() is None
        agent.stop()
    site_events = [
        (e["site"], e["old"], e["new"], e["reason"]) for e in after if e["type"] == "site"
    ]
    assert ("closed", "down", "unknown", "removed") in site_events
    assert ("added", "unknown", "up", "ok") in site_events
    assert not [e for e in after if e["site"] == "open"]
    assert 'pantau_site_up{site="open"} 1.0' in metrics
    assert 'site="closed"' not in metrics
    assert "pantau_agent_sites 2.0" in metrics
    assert "inventory row skipped" in agent.log_text()
    assert "round job scheduled kind=tcp interval=0.7" in agent.log_text()
    assert "agent.toml: sites[2]: id: String should match pattern" in agent.log_text()


def test_invalid_config_on_reload_keeps_running(running):
    agent = running
    text = agent.config.read_text()
    agent.config.write_text(text.replace("[agent.tcp]\n", "[agent.tcp]\nbogus = 1\n"))
    agent.send(signal.SIGHUP)
    agent.wait_for(lambda ev: "reload refused" in agent.log_text(), timeout=10)
    assert "agent.tcp.bogus: unknown key" in agent.log_text()
    assert agent.get("/healthz")[0] == 200
    _, metrics = agent.get("/metrics")
    assert 'pantau_site_up{site="open"} 1.0' in metrics
    assert agent.stop() == 0


def test_corrupt_event_log_stops_the_agent_with_a_clear_message(tmp_path):
    port = free_port()
    config = write_config(tmp_path / "agent.toml", port, [])
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "events.db").write_bytes(b"garbage" * 1000)
    with AgentProcess(config, port) as agent:
        assert agent.proc.wait(timeout=20) == 1
    assert "events.db: not a usable event log" in agent.log_text()
    assert (tmp_path / "state" / "events.db").read_bytes().startswith(b"garbage")


def test_listen_port_in_use_is_a_clear_error(tmp_path, listener):
    port = listener.server_address[1]
    config = write_config(tmp_path / "agent.toml", port, [])
    with AgentProcess(config, port) as agent:
        assert agent.proc.wait(timeout=20) == 1
    assert f"pantau: cannot listen on 127.0.0.1:{port}" in agent.log_text()


def test_a_probe_kind_that_cannot_start_is_counted_and_the_rest_runs(tmp_path, listener):
    port = free_port()
    sites = [
        *sites_for(listener.server_address[1], free_port()),
        site_toml("router", "127.0.0.1", ["snmp:lab"], kind="router"),
    ]
    config = write_config(tmp_path / "agent.toml", port, sites)
    config.write_text(
        config.read_text()
        + '\n[snmp.profiles.lab]\ncommunity_env = "PANTAU_TEST_UNSET_COMMUNITY"\n'
    )
    with AgentProcess(config, port) as agent:
        agent.wait_ready()
        agent.wait_for(both_decided)
        _, metrics = agent.get("/metrics")
        assert agent.stop() == 0
    assert 'pantau_agent_probe_errors_total{kind="snmp"} 1.0' in metrics
    # The alert PantauAgentProbeKindDisabled reads why: the SNMP credentials are missing.
    assert 'pantau_agent_probe_kind_enabled{kind="snmp",reason="credentials"} 0.0' in metrics
    assert 'pantau_agent_probe_kind_enabled{kind="tcp",reason="ok"} 1.0' in metrics
    assert "probe kind disabled kind=snmp" in agent.log_text()
    assert "PANTAU_TEST_UNSET_COMMUNITY" in agent.log_text()
