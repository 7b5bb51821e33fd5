"""``pantau lab`` as a test bench: cut, restore, down, up, loss, delay by node name, and undo.

The first tests drive :class:`LabControl` on a lab of real namespaces and compare every
namespace's routes, links, permanent neighbours and qdiscs (and the root namespace's routes to
the lab) before a change and after undoing it. The last ones run ``pantau lab`` itself: a
scenario file, and the ``lab>`` prompt fed on standard input.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pantau.lab.control import LabControl, ScenarioFailed
from pantau.lab.netns import Lab

pytestmark = [pytest.mark.root, pytest.mark.timeout(240)]


def network_state(lab: Lab) -> dict[str, list[str]]:
    """What a cut or an impairment may change, per namespace, in a comparable form."""
    state = {}
    for name in lab.nodes:
        out = []
        for argv in (
            ["ip", "-o", "route", "show"],
            ["ip", "-o", "link", "show"],
            ["ip", "neigh", "show", "nud", "permanent"],
            ["tc", "qdisc", "show"],
        ):
            text = lab.exec(name, argv, check=True).stdout
            # interface indexes are not kept: clearing an impairment (the user-space relay on
            # kernels without netem) makes a new veth pair, same names, addresses and MACs
            text = re.sub(r"^\d+: (\S+?)(@if\d+)?:", r"\1:", text, flags=re.M)
            out += sorted(line.strip() for line in text.splitlines() if line.strip())
        state[name] = out
    root = subprocess.run(
        ["ip", "-o", "route", "show", "table", "all", "root", str(lab.net)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    state["<root>"] = sorted(line.strip() for line in root.splitlines())
    return state


@pytest.fixture
def bench(lab_factory: Callable[..., Lab]) -> tuple[Lab, LabControl, list[str]]:
    """gw - core - (office1, office2), agent1 under gw, and the root namespace attached to gw."""
    lab = lab_factory(
        tree={"gw": None, "core": "gw", "office1": "core", "office2": "core", "agent1": "gw"}
    )
    lab.attach_root("gw")
    said: list[str] = []
    return lab, LabControl(lab, out=said.append), said


@pytest.mark.parametrize(
    ("change", "undo"),
    [
        (["cut office1"], ["restore office1"]),
        (["cut core gw"], ["restore gw core"]),
        (["cut gw root"], ["restore gw root"]),
        (["down core"], ["up core"]),
        (["loss office2 30", "delay office2 50 10"], ["clear office2"]),
        (["cut office1", "down core", "loss agent1 20", "delay office2 core 40"], ["reset"]),
    ],
    ids=["uplink", "router-link", "root-link", "node", "impairment", "reset-mixture"],
)
def test_undo_restores_routes_links_and_qdiscs_exactly(bench, change, undo) -> None:
    lab, control, _ = bench
    before = network_state(lab)
    assert lab.ping("agent1", "office1")
    for line in change:
        control.execute(line)
    assert network_state(lab) != before, "the change changed nothing"
    for line in undo:
        control.execute(line)
    assert network_state(lab) == before
    assert control.describe_changes() == []
    assert lab.ping("agent1", "office1") and lab.ping("agent1", "office2")


def test_a_cut_link_really_cuts_and_its_route_comes_back(bench) -> None:
    lab, control, said = bench
    route = lab.exec("agent1", ["ip", "-o", "route", "get", lab.address("office1")]).stdout
    control.execute("cut office1")
    assert not lab.ping("agent1", "office1", timeout=0.5)
    assert lab.ping("agent1", "office2")
    control.execute("restore office1")
    assert lab.ping("agent1", "office1", count=2)
    assert lab.exec("agent1", ["ip", "-o", "route", "get", lab.address("office1")]).stdout == route
    assert said == ["link office1-core cut", "link office1-core restored (routes reinstalled)"]


def test_a_link_cut_alone_stays_cut_when_its_node_comes_back(bench) -> None:
    lab, control, _ = bench
    control.execute("cut office1")
    control.execute("down core")
    control.execute("up core")
    assert not lab.ping("agent1", "office1", timeout=0.5)
    assert lab.ping("agent1", "office2")
    assert control.describe_changes() == ["link office1-core cut"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("cut office9", "no node 'office9' in this lab; nodes: agent1, core, gw, office1, office2"),
        ("loss office1", "expected NODE [PEER] NUMBER"),
        ("loss office1 150", "loss is a percentage, 0..100"),
        ("delay office1 core agent1 5", "expected NODE [PEER] NUMBER [NUMBER]"),
        ("jump office1", "unknown command 'jump'; commands: clear, cut, delay"),
        ("kill agent1", "no agent 'agent1'; agents: none"),
    ],
    ids=["unknown-node", "loss-without-value", "loss-over-100", "too-many-nodes", "verb", "agent"],
)
def test_bad_commands_say_what_is_wrong(bench, line, message) -> None:
    _, control, _ = bench
    with pytest.raises(ScenarioFailed) as caught:
        control.execute(line)
    assert message in str(caught.value)
    assert control.describe_changes() == []


# -- pantau lab itself ----------------------------------------------------------------------


def _pantau_lab(args: list[str], tmp: Path, stdin: str = "", timeout: float = 180):
    return subprocess.run(
        [sys.executable, "-m", "pantau.cli", "lab", "--no-snmp", "--interval", "1", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp,
    )


def _lab_namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.startswith("plab")}


@pytest.fixture
def lab_command(lab_unavailable: str | None) -> None:
    from labscenario import missing_parts

    if lab_unavailable:
        pytest.skip(lab_unavailable)
    why = missing_parts()
    if why:
        pytest.skip(why)


@pytest.mark.slow
def test_scenario_file_cuts_kills_and_everything_is_undone(lab_command, tmp_path) -> None:
    scenario = tmp_path / "outage.lab"
    scenario.write_text(
        "# the wali kota office loses its link, an agent dies and comes back\n"
        "expect kantor-walikota up 60\n"
        "cut kantor-walikota\n"
        "expect kantor-walikota down 60\n"
        "restore kantor-walikota\n"
        "expect kantor-walikota up 60\n"
        "kill agent2\n"
        "start agent2\n"
        "delay bts-manggar 20\n"
        "expect hotspot-taman up 30\n"
        "cut kantor-camat-utara   # left cut: undone at the end\n"
    )
    before = _lab_namespaces()
    res = _pantau_lab(["--scenario", str(scenario), "--workdir", str(tmp_path / "w")], tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "outage.lab:3: cut kantor-walikota" in out
    assert "kantor-walikota is down" in out and "kantor-walikota is up" in out
    assert "agent agent2 stopped" in out and "agent agent2 started" in out
    assert f"scenario {scenario}: passed" in out
    assert re.search(r"undoing: link kantor-camat-utara-core cut; link bts-manggar-core", out)
    assert "lab removed" in out and f"logs kept in {tmp_path / 'w'}" in out
    assert (tmp_path / "w" / "collector.log").stat().st_size > 0
    assert _lab_namespaces() <= before


@pytest.mark.slow
def test_failed_expectation_fails_the_scenario_with_where(lab_command, tmp_path) -> None:
    scenario = tmp_path / "wrong.lab"
    scenario.write_text("expect kantor-walikota up 60\nexpect kantor-walikota down 3\n")
    res = _pantau_lab(["--scenario", str(scenario)], tmp_path)
    assert res.returncode == 1
    assert f"scenario failed: {scenario}:2: kantor-walikota is up, not down, after 3 s" in (
        res.stdout
    )
    assert "lab removed" in res.stdout


@pytest.mark.slow
def test_prompt_takes_commands_on_stdin_and_keeps_logs(lab_command, tmp_path) -> None:
    res = _pantau_lab(
        ["--prompt", "--keep-logs"],
        tmp_path,
        stdin="help cut\ncut kantor-walikota\nnodes\nloss nowhere 5\nquit\n",
    )
    out = res.stdout
    assert res.returncode == 0, (out + res.stderr)[-4000:]
    assert "lab> " in out
    assert "cut NODE [PEER]" in out
    assert "link kantor-walikota-core cut" in out
    assert "changed: link kantor-walikota-core cut" in out
    assert "error: no node 'nowhere' in this lab" in out
    assert "undoing: link kantor-walikota-core cut" in out
    kept = re.search(r"logs kept in (\S+)", out)
    assert kept and Path(kept.group(1), "agent1.log").is_file()
    subprocess.run(["rm", "-rf", kept.group(1)], check=False)


def test_the_shipped_scenario_uses_only_known_commands() -> None:
    from pantau.lab.control import COMMANDS

    path = Path(__file__).resolve().parents[1] / "examples" / "lab-outage.lab"
    steps = [ln.split()[0] for ln in path.read_text().splitlines() if ln.strip()[:1] not in "#"]
    assert steps and set(steps) <= set(COMMANDS), set(steps) - set(COMMANDS)
    assert "expect" in steps and "cut" in steps and "restore" in steps
