"""The ``pantau`` command imports only what the command given needs (one-shot start-up)."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest
from icmp_support import needs_icmp

from pantau.cli import COMMAND_MODULES, SUBCOMMAND_MODULES, _command


@pytest.mark.parametrize("module", SUBCOMMAND_MODULES)
def test_command_table_names_what_each_module_registers(module: str) -> None:
    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(module).register(sub)
    assert set(sub.choices) == {c for c, m in COMMAND_MODULES.items() if m == module}


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["probe", "icmp", "127.0.0.1"], "probe"),
        (["--log-level", "DEBUG", "probe", "icmp"], "probe"),
        (["--log-level=DEBUG", "agent", "--config", "x"], "agent"),
        (["--help"], None),
        ([], None),
    ],
    ids=["plain", "log-level", "log-level=", "help", "empty"],
)
def test_command_word(argv: list[str], command: str | None) -> None:
    assert _command(argv) == command


SHOW_MODULES = """
import sys
from pantau.cli import main
code = main(["probe", "icmp", "-c", "1", "127.0.0.1"])
heavy = ("asyncio", "ssl", "pydantic", "aiohttp", "prometheus_client", "apscheduler",
         "dataclasses", "ctypes", "pantau.collector.cli", "pantau.geo.cli", "pantau.lab.cli")
print(" ".join(m for m in heavy if m in sys.modules), file=sys.stderr)
sys.exit(code)
"""


@needs_icmp
def test_a_one_shot_sweep_of_ip_literals_loads_no_event_loop_or_other_commands() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SHOW_MODULES], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert '"received": 1' in proc.stdout
    assert proc.stderr.splitlines()[-1] == ""


def test_help_still_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    from pantau.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(command in out for command in COMMAND_MODULES)
