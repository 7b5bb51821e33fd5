"""The lab plan (inventory → node tree → configs) and ``pantau lab`` itself."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pantau.config import load_config
from pantau.lab import plan
from pantau.lab.iproute import LabError
from pantau.lab.netns import available
from pantau.lab.plan import DEMO_SITES, LabSettings, LabSite, topology, write_configs

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_topology_puts_parents_first_and_orphans_under_gw() -> None:
    sites = [LabSite("b", "B", "office", 0, 0, "a"), LabSite("a", "A", "router", 0, 0)]
    tree = topology(sites)
    order = list(tree)
    assert tree["a"] == plan.GW and tree["b"] == "a"
    assert order.index("a") < order.index("b")
    assert tree["agent1"] == tree["agent2"] == tree["noc"] == plan.GW and tree[plan.GW] is None


def test_topology_rejects_site_ids_that_are_lab_nodes() -> None:
    with pytest.raises(LabError, match=r"\['gw'\] are lab node names"):
        topology([LabSite("gw", "G", "router", 0, 0)])


def test_topology_rejects_parents_outside_the_inventory() -> None:
    with pytest.raises(LabError, match="parents outside the inventory"):
        topology([LabSite("x", "X", "office", 0, 0, "nowhere")])


def test_written_configs_load_and_name_lab_addresses(tmp_path: Path) -> None:
    tree = topology(DEMO_SITES)
    addresses = {n: f"198.18.7.{i + 1}" for i, n in enumerate(tree)}
    files = write_configs(tmp_path, DEMO_SITES, addresses, LabSettings(snmp=True))
    for name, path in files.agents.items():
        config = load_config(path)
        assert config.agent.name == name
        assert config.agent.listen == f"{addresses[name]}:9469"
        assert config.agent.canaries == (addresses[plan.GW],)
        inv = config.load_sites()
        assert inv.problems == ()
        assert {s.id: s.address for s in inv.sites} == {s.id: addresses[s.id] for s in DEMO_SITES}
        assert [str(p) for p in inv.by_id()["core"].probes] == ["icmp", "snmp:lab"]
        assert inv.by_id()["hotspot-taman"].parent == "bts-manggar"
    collector = load_config(files.collector).collector
    assert set(collector.agents) == set(files.agent_urls.values())
    assert collector.database.startswith(f"sqlite:///{tmp_path}")


def test_sites_from_inventory_reads_the_example_csv() -> None:
    sites = plan.sites_from_inventory(EXAMPLES / "sites.csv")
    assert sites and all(s.kind for s in sites)
    assert topology(sites)  # the shipped example builds


#: Seconds before a lab that never ends is killed: a hang guard, not a speed claim (building the
#: namespaces and starting agents and collector takes what it takes on a loaded machine).
HANG_GUARD = 540


@pytest.mark.root
@pytest.mark.timeout(HANG_GUARD + 60)
def test_pantau_lab_runs_for_a_bounded_time_and_cleans_up(tmp_path: Path) -> None:
    """``--duration`` ends the lab by itself (nobody signals it; no prompt with stdin not a
    terminal) and every namespace it made is gone. Only this lab's namespaces are checked:
    other labs may come and go on the machine meanwhile."""
    why = available()
    if why:
        pytest.skip(why)
    argv = [sys.executable, "-m", "pantau.cli", "lab", "--duration", "1"]
    argv += ["--workdir", str(tmp_path), "--interval", "1"]
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = proc.communicate(timeout=HANG_GUARD)
    except subprocess.TimeoutExpired:
        proc.terminate()  # the lab undoes its changes on SIGTERM
        out, err = proc.communicate(timeout=60)
        raise AssertionError(f"the lab did not end by itself:\n{out[-3000:]}") from None
    assert proc.returncode == 0, err[-3000:]
    assert "Ctrl-C stops and removes the lab." in out  # it ran, then --duration ended it
    assert "kantor-walikota" in out and re.search(r"198\.1[89]\.\d+\.\d+", out)
    assert out.rstrip().endswith("lab removed")
    mine = set(re.findall(r"ip netns exec (\S+) \.\.\.", out))
    assert len(mine) >= 3, out[:2000]
    after = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not mine & {line.split()[0] for line in after.splitlines() if line.strip()}
    assert (tmp_path / "sites.csv").exists() and (tmp_path / "agent1.toml").exists()


@pytest.mark.root
@pytest.mark.timeout(60)
def test_snmpd_on_the_lab_router_answers_the_agents(tmp_path: Path) -> None:
    from pantau.lab.runner import LabRun

    why = available()
    if why:
        pytest.skip(why)
    sites = [LabSite("core", "Core", "router", 0, 0), LabSite("o1", "O", "office", 0, 0, "core")]
    with LabRun.build(sites, LabSettings(snmp=True), tmp_path, root_access=False) as run:
        run.start_snmpd("core")
        cmd = [
            "snmpget",
            "-v2c",
            "-c",
            plan.SNMP_COMMUNITY,
            "-On",
            "-r",
            "3",
            "-t",
            "0.5",
            run.addresses["core"],
            "1.3.6.1.2.1.1.5.0",
        ]
        out = ""
        for _ in range(20):  # snmpd needs a moment to bind
            res = run.lab.exec("agent1", cmd, timeout=10)
            out = res.stdout
            if res.returncode == 0:
                break
        assert 'STRING: "core"' in out or "STRING: core" in out, out
