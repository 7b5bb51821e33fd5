"""``pantau agent`` (the agent alone) and ``pantau run`` (agent and collector on this machine)."""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import threading
import time
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


def _agent(args: argparse.Namespace) -> int:
    from pantau.agent.runtime.agent import run_agent

    return run_agent(args.config)


def _has_collector() -> bool:
    import importlib.util

    return importlib.util.find_spec("pantau.collector.cli") is not None


class CollectorChild:
    """The collector as a child process of ``pantau run``, restarted with back-off if it dies.

    Back-off doubles from ``backoff[0]`` to ``backoff[1]`` seconds and starts again from the
    low end once the child has run for ``backoff[1]`` seconds.
    """

    def __init__(self, config: Path, backoff: tuple[float, float] = (1.0, 60.0)) -> None:
        # -P: started from the repository root (the quick start), the folder ./pantau would
        # shadow the installed package, whose pantau.agent lives elsewhere (a non-editable
        # install).
        self._argv = [
            sys.executable,
            "-P",
            "-m",
            "pantau.cli",
            "collector",
            "--config",
            str(config),
        ]
        self._backoff = backoff
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.child = self._spawn()
        self.restarts = 0
        threading.Thread(target=self._watch, name="collector-watch", daemon=True).start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(self._argv)
        log.info("collector started pid=%d", child.pid)
        return child

    def _watch(self) -> None:
        wait = self._backoff[0]
        while True:
            started = time.monotonic()
            code = self.child.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= self._backoff[1]:
                wait = self._backoff[0]
            log.error(
                "collector exited, restarting code=%d restart_in_s=%.0f; the agent keeps running",
                code,
                wait,
            )
            if self._stopping.wait(wait):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.child = self._spawn()
                self.restarts += 1
            wait = min(self._backoff[1], wait * 2)

    def signal(self, sig: int) -> None:
        with self._lock:
            if self.child.poll() is None:
                self.child.send_signal(sig)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            child = self.child
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log.error("collector did not stop in 15 s, killing it pid=%d", child.pid)
                child.kill()
                child.wait()


def _start_collector(config: Path) -> CollectorChild | None:
    if not _has_collector():
        log.warning("collector not in this build, running the agent alone command=pantau collector")
        return None
    return CollectorChild(config)


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from pantau.agent.runtime.agent import Agent
    from pantau.config import load_config

    load_config(args.config)  # a bad config fails here, before any process starts
    child = _start_collector(args.config)

    class AgentAndCollector(Agent):
        """SIGHUP reloads both: the collector child gets it first, then the agent reloads."""

        async def reload(self) -> None:
            if child is not None:
                child.signal(signal.SIGHUP)
            await super().reload()

    try:
        return asyncio.run(AgentAndCollector(args.config).run())
    finally:
        if child is not None:
            child.stop()
