"""scripts/compile-mibs keeps only the objects pantau reads: those the health tables name, plus
any ``--object``; a name the MIB does not define fails, naming it. Real pysmi runs on small MIBs
written here (the real MIB texts are not in the repository); SNMPv2-SMI, -TC and -CONF, which
pysmi loads for every MIB, are empty modules, as these MIBs import nothing from them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from pantau.agent.snmp.health.registry import declared, object_names

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compile-mibs"


def _mib(folder: Path, name: str, objects: list[str]) -> None:
    """A MIB defining ``objects`` under enterprises.99999.N (OBJECT IDENTIFIER assignments)."""
    folder.mkdir(exist_ok=True)
    for base in ("SNMPv2-SMI", "SNMPv2-TC", "SNMPv2-CONF"):
        (folder / base).write_text(f"{base} DEFINITIONS ::= BEGIN\nEND\n")
    lines = [
        f"{name} DEFINITIONS ::= BEGIN",
        "testRoot OBJECT IDENTIFIER ::= { 1 3 6 1 4 1 99999 }",
    ]
    lines += [f"{o} OBJECT IDENTIFIER ::= {{ testRoot {i} }}" for i, o in enumerate(objects, 1)]
    (folder / f"{name}.txt").write_text("\n".join([*lines, "END", ""]))


def _run(folder: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    out.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(folder), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _oids(module: Path) -> dict[str, str]:
    """The ``OIDS`` literal of a written module (read, not imported)."""
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "OIDS":
            return ast.literal_eval(node.value) if node.value else {}
    raise AssertionError(f"{module}: no OIDS")


def test_only_the_objects_asked_for_are_kept(tmp_path: Path) -> None:
    _mib(tmp_path / "mibs", "PANTAU-TEST-MIB", ["testName", "testValue", "testOther"])
    proc = _run(
        tmp_path / "mibs",
        tmp_path / "out",
        "PANTAU-TEST-MIB",
        "--object",
        "PANTAU-TEST-MIB::testValue",
        "--object",
        "PANTAU-TEST-MIB::testName",
    )
    assert proc.returncode == 0, proc.stderr
    assert _oids(tmp_path / "out" / "pantau_test_mib.py") == {
        "testName": "1.3.6.1.4.1.99999.1",
        "testValue": "1.3.6.1.4.1.99999.2",
    }


def test_health_table_names_are_kept_and_a_missing_one_fails(tmp_path: Path) -> None:
    named = sorted(
        {
            n.partition("::")[2]
            for t in declared()
            for n in object_names(t)
            if n.startswith("UPS-MIB::")
        }
    )
    assert named, "no health table names a UPS-MIB object any more: pick another MIB"
    # a stand-in UPS-MIB (made-up numbers) with every object the tables name, and one more
    _mib(tmp_path / "mibs", "UPS-MIB", [*named, "upsNotRead"])
    proc = _run(tmp_path / "mibs", tmp_path / "out", "UPS-MIB")
    assert proc.returncode == 0, proc.stderr
    assert sorted(_oids(tmp_path / "out" / "ups_mib.py")) == named
    # the same without the last object a table names: refused, naming it; nothing written
    _mib(tmp_path / "short", "UPS-MIB", named[:-1])
    proc = _run(tmp_path / "short", tmp_path / "out-short", "UPS-MIB")
    assert proc.returncode != 0
    assert f"UPS-MIB defines no {named[-1]}" in proc.stderr
    assert not (tmp_path / "out-short" / "ups_mib.py").exists()


def test_a_misspelt_object_fails_and_a_mib_nothing_names_is_not_written(tmp_path: Path) -> None:
    _mib(tmp_path / "mibs", "PANTAU-TEST-MIB", ["testValue"])
    proc = _run(
        tmp_path / "mibs",
        tmp_path / "out",
        "PANTAU-TEST-MIB",
        "--object",
        "PANTAU-TEST-MIB::testValu",
    )
    assert proc.returncode != 0
    assert "PANTAU-TEST-MIB defines no testValu" in proc.stderr
    proc = _run(tmp_path / "mibs", tmp_path / "out", "PANTAU-TEST-MIB")
    assert proc.returncode == 0, proc.stderr
    assert "PANTAU-TEST-MIB: no object of it is named" in proc.stdout
    assert list((tmp_path / "out").iterdir()) == []
