"""``pantau lab``: try pantau on a network of namespaces, without a real network (needs root)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``lab`` subcommand."""
    p = subparsers.add_parser(
        "lab",
        help="build a lab network of namespaces and run agents and collector in it (root)",
        description="Builds a core router, offices, a BTS and a hotspot as network namespaces "
        "(addresses in 198.18.0.0/15 only), snmpd on the router and two agent vantage points, "
        "then runs two agents and the collector in it. On a terminal a lab> prompt cuts and "
        "restores links, kills and starts agents, adds loss or delay, by node name (type help); "
        "--scenario runs such commands from a file. Everything it changed is undone and the "
        "lab removed on exit (quit, Ctrl-D, Ctrl-C, the end of the scenario or --duration). "
        "With a venv install run it as: sudo /path/to/venv/bin/pantau lab",
    )
    p.add_argument("--inventory", type=Path, help="CSV inventory to build (default: a demo)")
    p.add_argument(
        "--workdir", type=Path, help="configs, state and logs, kept (default: a temp dir, removed)"
    )
    p.add_argument(
        "--keep-logs", action="store_true", help="keep the temp dir with the logs and say where"
    )
    p.add_argument(
        "--scenario", type=Path, help="run these lab commands, then stop (exit 1: a step failed)"
    )
    p.add_argument(
        "--prompt",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the lab> prompt on standard input (default: when it is a terminal)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    p.add_argument("--interval", type=float, default=5.0, help="ICMP interval, seconds")
    p.add_argument("--no-snmp", action="store_true", help="no snmpd on routers")
    p.set_defaults(func=_lab)


def _lab(args: argparse.Namespace) -> int:
    from pantau.lab.netns import available
    from pantau.lab.plan import DEMO_SITES, LabSettings, sites_from_inventory
    from pantau.lab.runner import LabRun, have

    why = available()
    if why:
        hint = f"; run it as root: sudo {_self_command()} lab" if os.geteuid() != 0 else ""
        print(f"pantau lab: {why}{hint}")
        return 1
    sites = sites_from_inventory(args.inventory) if args.inventory else list(DEMO_SITES)
    snmp = not args.no_snmp and have("agent.probes.snmp")
    settings = LabSettings(
        icmp_interval=args.interval,
        icmp_timeout=min(1.0, args.interval),
        down_after=3,
        up_after=2,
        pull_interval=min(5.0, args.interval),
        snmp=snmp,
        traceroute=True,
        districts=not args.inventory,
    )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pantau-lab-"))
    code = 0
    try:
        with LabRun.build(sites, settings, workdir) as run:
            _describe(run)
            if have("agent.runtime") and have("collector.cli"):
                run.start_all()
                print(f"collector: {run.files.collector_url}/")
                if settings.districts:
                    print(f"district map: {run.files.collector_url}/api/v1/districts.geojson")
            else:
                print("agent runtime or collector not in this build: the network alone runs")
            code = _drive(run, args)
    finally:
        if args.workdir or args.keep_logs:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print("lab removed")
    return code


def _drive(run: Any, args: argparse.Namespace) -> int:
    """Scenario, prompt or plain waiting; then undo what is still changed. Returns the exit code."""
    from pantau.lab.control import LabControl, LabShell, ScenarioFailed

    control = LabControl(run.lab, run, out=lambda text: print(text, flush=True))
    prompt = sys.stdin.isatty() if args.prompt is None else args.prompt
    code = 0
    signal.signal(signal.SIGTERM, _interrupt)  # a stop request undoes the changes too
    try:
        if args.scenario:
            try:
                control.run_file(args.scenario)
                print(f"scenario {args.scenario}: passed", flush=True)
            except ScenarioFailed as exc:
                print(f"scenario failed: {exc}", flush=True)
                code = 1
        elif prompt:
            LabShell(control).cmdloop()
        else:
            print("Ctrl-C stops and removes the lab.", flush=True)
            stop = _stop_on_signals()
            deadline = time.monotonic() + args.duration if args.duration else None
            while not stop["now"] and (deadline is None or time.monotonic() < deadline):
                time.sleep(0.2)
    except KeyboardInterrupt:
        print()
    finally:
        if control.describe_changes():
            print("undoing: " + "; ".join(control.describe_changes()), flush=True)
            control.reset()
    return code


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _self_command() -> str:
    """How this pantau was started, for a sudo hint that works with a venv install."""
    if Path(sys.argv[0]).name == "pantau":
        return str(Path(sys.argv[0]).resolve())
    return f"{sys.executable} -m pantau.cli"


def _stop_on_signals() -> dict[str, bool]:
    flag = {"now": False}

    def handler(signum: int, _frame: object) -> None:
        flag["now"] = True

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return flag


def _describe(run: Any) -> None:
    print(f"lab {run.lab.id}: {len(run.lab.nodes)} namespaces, addresses in {run.lab.net}")
    for name, addr in sorted(run.addresses.items(), key=lambda kv: ipaddress.ip_address(kv[1])):
        print(f"  {addr:<16} {name:<24} ip netns exec {run.lab.ns(name)} ...")
    print(f"configs and logs: {run.workdir}")
    for name, url in run.files.agent_urls.items():
        print(f"agent {name}: {url}/metrics")
