"""promtool unit tests of pantau's rule files, for the tests that run them: run promtool, read a
test file's cases, count the cases that expect an alert to fire or stay quiet, and run the cases
against a weakened copy of the rules (a test that still passes then is not load-bearing).

The rule files themselves are listed in dashboard_exprs.RULE_FILES and read by its ``rules()``.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

import yaml
from dashboard_exprs import RULE_FILES


def promtool(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=timeout)


def unit_cases(unit_tests: Path) -> list[dict]:
    """The cases (``tests:``) of a promtool unit-test file."""
    return yaml.safe_load(unit_tests.read_text(encoding="utf-8"))["tests"]


def firing_and_quiet(unit_tests: Path, alert: str) -> tuple[int, int]:
    """How many checks of ``alert`` expect it to fire, and how many expect it quiet."""
    firing = quiet = 0
    for case in unit_cases(unit_tests):
        for check in case.get("alert_rule_test", []):
            if check["alertname"] == alert:
                firing += bool(check["exp_alerts"])
                quiet += not check["exp_alerts"]
    return firing, quiet


def run_weakened(
    tmp_path: Path,
    unit_tests: Path,
    old: str,
    new: str,
    *,
    in_files: Iterable[Path] = RULE_FILES,
    cases_named: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run ``unit_tests`` against a copy of every rule file in which ``old`` is replaced by
    ``new`` in ``in_files``; with ``cases_named``, only the cases whose name holds it (the whole
    file takes a while on a loaded machine). Fails when ``old`` is in none of ``in_files`` or no
    case is named so: the mutation no longer matches and must be updated."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    weakened = set(in_files)
    replaced = 0
    for path in RULE_FILES:
        text = path.read_text(encoding="utf-8")
        if path in weakened:
            replaced += text.count(old)
            text = text.replace(old, new)
        (tmp_path / "rules" / path.name).write_text(text, encoding="utf-8")
    assert replaced, f"{old!r} is no longer in the rules; update the mutation"
    copy = tmp_path / "tests" / unit_tests.name
    text = unit_tests.read_text(encoding="utf-8")
    if cases_named:
        cases = yaml.safe_load(text)
        cases["tests"] = [c for c in cases["tests"] if cases_named in c["name"]]
        assert cases["tests"], f"no case of {unit_tests.name} is named {cases_named!r}"
        text = yaml.safe_dump(cases, allow_unicode=True)
    copy.write_text(text, encoding="utf-8")
    return promtool("test", "rules", str(copy))


def failed_cases(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The names of the cases promtool reports failed."""
    return re.findall(r"name: (.*),\n", proc.stdout + proc.stderr)
