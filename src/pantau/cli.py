"""The ``pantau`` command. Each package registers its own subcommands in its ``cli.py``.

A subcommand module exposes ``register(subparsers)``, which adds parsers whose ``func`` default
takes the parsed arguments and returns an exit code. Modules keep heavy imports inside ``func`` so
that ``pantau --help`` stays fast and an agent host never imports geopandas.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence

from pantau import __version__
from pantau.errors import ConfigError, MissingExtra, PantauError

#: Packages that add subcommands, in help order. A package not installed yet is skipped.
SUBCOMMAND_MODULES = (
    "pantau.agent.cli",
    "pantau.agent.probe_cli",
    "pantau.collector.cli",
    "pantau.geo.cli",
    "pantau.lab.cli",
    "pantau.alertmanager",
)

#: Which of those modules registers each command: ``main`` imports only that one (a one-shot
#: ``pantau probe icmp`` should not pay for the collector's or the lab's imports). A test checks
#: this table against what the modules register.
COMMAND_MODULES = {
    "agent": "pantau.agent.cli",
    "run": "pantau.agent.cli",
    "probe": "pantau.agent.probe_cli",
    "collector": "pantau.collector.cli",
    "map": "pantau.geo.cli",
    "report": "pantau.geo.cli",
    "lab": "pantau.lab.cli",
    "alertmanager-config": "pantau.alertmanager",
}

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
#: Libraries whose INFO lines are hidden unless ``--log-level DEBUG``.
QUIET_LIBRARIES = ("alembic",)


def _check_config(args: argparse.Namespace) -> int:
    from pantau.config import check_config

    config, problems = check_config(args.config)
    for line in problems:
        print(line, file=sys.stderr)
    if config is None or problems:
        print(f"{args.config}: {len(problems)} problem(s)", file=sys.stderr)
        return EXIT_CONFIG
    n = len(config.load_sites().sites)
    print(f"{args.config}: ok ({n} sites, {len(config.snmp.profiles)} SNMP profiles)")
    return EXIT_OK


def _help_width() -> int:
    """The help's width as argparse computes it (the terminal's columns less 2)."""
    # shutil.get_terminal_size's rule, written out: argparse imports shutil for it, and shutil
    # imports the bz2, lzma and zlib modules (~0.5 MiB and ~3 ms of every one-shot command).
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns if columns > 0 else 80) - 2


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose help formatters get their width without importing shutil
    (the subcommands' parsers are of this class too: ``add_subparsers`` makes them so)."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse builds a formatter for every add_argument (to check the metavar), and
        # HelpFormatter imports shutil when it is not given a width.
        return self.formatter_class(prog=self.prog, width=_help_width())  # type: ignore[call-arg]


def build_parser(modules: Sequence[str] = SUBCOMMAND_MODULES) -> argparse.ArgumentParser:
    """The ``pantau`` parser with the subcommands of ``modules`` (default: all of them)."""
    parser = Parser(
        prog="pantau", description="pantau: network and blankspot monitoring for local governments"
    )
    parser.add_argument("--version", action="version", version=f"pantau {__version__}")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("check-config", help="validate a config file and its inventory")
    p.add_argument("config", help="path to the TOML config file")
    p.set_defaults(func=_check_config)
    for name in modules:
        if importlib.util.find_spec(name) is None:
            continue
        importlib.import_module(name).register(sub)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (after the global options), or None if there is none."""
    words = iter(argv)
    for word in words:
        if word == "--log-level":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    owner = COMMAND_MODULES.get(_command(argv) or "")
    parser = build_parser((owner,) if owner else SUBCOMMAND_MODULES)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.log_level != "DEBUG":
        # libraries' INFO lines (alembic: plugins and migration context at every collector start)
        # say nothing an operator needs; pantau's own INFO lines do
        for name in QUIET_LIBRARIES:
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    except MissingExtra as exc:
        print(f"pantau {args.command}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ModuleNotFoundError as exc:
        missing = MissingExtra.of(exc, sys.executable)
        if missing is None:
            raise
        print(f"pantau {args.command}: {missing}", file=sys.stderr)
        return EXIT_CONFIG
    except PantauError as exc:
        print(f"pantau: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
