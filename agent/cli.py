"""``pantau agent`` (the agent alone) and ``pantau run`` (agent and collector on this machine)."""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``agent`` and ``run`` subcommands."""
    p = subparsers.add_parser("agent", help="run the agent: probes, event log, /metrics")
    p.add_argument("--config", required=True, type=Path, help="the TOML config file")
    p.set_defaults(func=_agent)
    p = subparsers.add_parser(
        "run", help="run the agent and the collector on this machine (the quick start)"
    )
    p.add_argument("--config", required=True, type=Path, help="the TOML config file")
    p.set_defaults(func=_run)


def _quiet_scheduler_logs() -> None:
    # APScheduler logs every job start at INFO: one line per round per kind is noise.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, log.getEffectiveLevel()))


def _agent(args: argparse.Namespace) -> int:
    from pantau.agent.runtime.agent import run_agent

    _quiet_scheduler_logs()
    return run_agent(args.config)


def _has_collector() -> bool:
    import importlib.util

    return importlib.util.find_spec("pantau.collector.cli") is not None


def _start_collector(config: Path) -> subprocess.Popen[bytes] | None:
    if not _has_collector():
        log.warning("collector not in this build, running the agent alone command=pantau collector")
        return None
    # -P: started from the repository root (the quick start), the folder ./pantau would shadow
    # the installed package, whose pantau.agent lives elsewhere (a non-editable install).
    argv = [sys.executable, "-P", "-m", "pantau.cli", "collector", "--config", str(config)]
    child = subprocess.Popen(argv)
    log.info("collector started pid=%d", child.pid)

    def watch() -> None:
        code = child.wait()
        if code not in (0, -signal.SIGTERM):
            log.error("collector exited code=%d; the agent keeps running", code)

    threading.Thread(target=watch, name="collector-watch", daemon=True).start()
    return child


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log.error("collector did not stop in 15 s, killing it pid=%d", child.pid)
            child.kill()
            child.wait()


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from pantau.agent.runtime.agent import Agent
    from pantau.config import load_config

    _quiet_scheduler_logs()
    load_config(args.config)  # a bad config fails here, before any process starts
    child = _start_collector(args.config)

    class AgentAndCollector(Agent):
        """SIGHUP reloads both: the collector child gets it first, then the agent reloads."""

        async def reload(self) -> None:
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGHUP)
            await super().reload()

    try:
        return asyncio.run(AgentAndCollector(args.config).run())
    finally:
        if child is not None:
            _stop_child(child)
