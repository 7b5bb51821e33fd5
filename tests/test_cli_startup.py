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


LEAN_MODULES = """
import sys
from pantau.cli import main
code = main(["probe", "icmp", "-c", "1", "127.0.0.1", "::1"])
# typing: ~5 ms; shutil: bz2, lzma and zlib (argparse's help width); json: its decoder and
# scanner (only the C string escaper is used); random: os.urandom does; socket: its enums
# (the C module _socket has everything a sweep uses).
lean = ("typing", "shutil", "bz2", "lzma", "json", "random", "socket", "pantau.config")
print(" ".join(m for m in lean if m in sys.modules), file=sys.stderr)
sys.exit(code)
"""


@needs_icmp
def test_a_one_shot_sweep_imports_only_what_it_uses() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", LEAN_MODULES], capture_output=True, text=True, timeout=60
    )
    assert '"target": "127.0.0.1"' in proc.stdout, proc.stderr
    assert proc.stderr.splitlines()[-1] == ""


@pytest.mark.parametrize(("columns", "width"), [("60", 58), ("0", 78), ("x", 78)])
def test_help_width_follows_columns_like_shutil(
    columns: str, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from pantau.cli import _help_width

    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setattr(sys, "__stdout__", None)  # no terminal: the fallback, 80 columns
    assert _help_width() == width == shutil.get_terminal_size().columns - 2


def test_help_is_what_argparse_itself_gives(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from pantau.cli import Parser, main

    def help_text() -> str:
        with pytest.raises(SystemExit):
            main(["probe", "icmp", "--help"])
        return capsys.readouterr().out

    monkeypatch.setenv("COLUMNS", "50")
    ours = help_text()
    monkeypatch.setattr(Parser, "_get_formatter", argparse.ArgumentParser._get_formatter)
    assert ours == help_text()
    assert "--targets-file" in ours
