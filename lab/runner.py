"""Run pantau inside a lab: snmpd on routers, agents on vantage points, the collector on the noc.

Every process is started through :meth:`Lab.popen`, so :meth:`Lab.close` stops it whatever happens.
Each writes its log to ``WORKDIR/NAME.log``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pantau.lab.iproute import LabError
from pantau.lab.netns import Lab
from pantau.lab.plan import (
    GW,
    SNMP_COMMUNITY,
    LabFiles,
    LabSettings,
    LabSite,
    topology,
    write_configs,
    write_inventory,
)

log = logging.getLogger(__name__)

SNMPD = shutil.which("snmpd") or "/usr/sbin/snmpd"


def have(module: str) -> bool:
    """True when ``pantau.<module>`` is part of this build (e.g. ``agent.runtime``)."""
    try:
        return importlib.util.find_spec(f"pantau.{module}") is not None
    except ModuleNotFoundError:
        return False


class LabRun:
    """A lab built from sites, with handles to start and stop pantau's processes in it.

    Parameters
    ----------
    lab
        A lab built from :func:`pantau.lab.plan.topology` of ``sites``.
    sites, settings
        What the lab holds and how fast its agents and collector run.
    workdir
        Where configs, state, the collector database and process logs go.
    """

    def __init__(
        self, lab: Lab, sites: Sequence[LabSite], settings: LabSettings, workdir: Path
    ) -> None:
        self.lab, self.sites, self.settings, self.workdir = lab, list(sites), settings, workdir
        self.addresses = {name: lab.address(name) for name in lab.nodes}
        self.files: LabFiles = write_configs(workdir, sites, self.addresses, settings)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @classmethod
    def build(
        cls,
        sites: Sequence[LabSite],
        settings: LabSettings,
        workdir: Path,
        root_access: bool = True,
    ) -> LabRun:
        """Build the lab network for ``sites``; with ``root_access`` the root namespace
        reaches it (through ``gw``, behind the blackhole of the safety rule)."""
        lab = Lab.tree(topology(sites, settings), tag="run")
        try:
            if root_access:
                lab.attach_root(GW)
            return cls(lab, sites, settings, workdir)
        except BaseException:
            lab.close()
            raise

    # -- processes --------------------------------------------------------------------------
    def _start(
        self, key: str, node: str, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        old = self.procs.get(key)
        if old is not None and old.poll() is None:
            raise LabError(f"{key} is already running (pid {old.pid})")
        logfile = (self.workdir / f"{key}.log").open("ab")
        proc = self.lab.popen(
            node, argv, stdout=logfile, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        logfile.close()
        self.procs[key] = proc
        log.info("lab process started key=%s node=%s pid=%d", key, node, proc.pid)
        return proc

    def start_agent(self, name: str) -> subprocess.Popen[bytes]:
        """Start ``pantau agent`` on vantage point ``name``."""
        argv = [
            sys.executable,
            "-m",
            "pantau.cli",
            "--log-level",
            "DEBUG",
            "agent",
            "--config",
            str(self.files.agents[name]),
        ]
        return self._start(name, name, argv)

    def start_collector(self) -> subprocess.Popen[bytes]:
        """Start ``pantau collector`` on the noc."""
        argv = [
            sys.executable,
            "-m",
            "pantau.cli",
            "--log-level",
            "DEBUG",
            "collector",
            "--config",
            str(self.files.collector),
        ]
        return self._start("collector", self.settings.collector_node, argv)

    def start_snmpd(self, node: str) -> subprocess.Popen[bytes]:
        """net-snmp ``snmpd`` on ``node``, read-only community for the lab range."""
        conf = self.workdir / f"snmpd-{node}.conf"
        conf.write_text(
            f"agentAddress udp:{self.addresses[node]}:161\n"
            f"rocommunity {SNMP_COMMUNITY} 198.18.0.0/15\n"
            f"sysName {node}\nsysLocation pantau lab\nsysContact lab@localhost\n",
            encoding="utf-8",
        )
        persist = self.workdir / f"snmpd-{node}"
        persist.mkdir(exist_ok=True)
        argv = [SNMPD, "-f", "-Lo", "-C", "-c", str(conf), "-p", str(persist / "pid")]
        return self._start(
            f"snmpd-{node}", node, argv, env={"SNMP_PERSISTENT_DIR": str(persist), "MIBS": ""}
        )

    def start_prometheus(self, rules: Sequence[Path], factor: float = 60.0) -> str:
        """Prometheus on the noc scraping agents and collector every second, with ``rules``
        time-scaled by ``factor`` (:mod:`pantau.lab.prom`); returns its URL."""
        from pantau.lab import prom

        node = self.settings.collector_node
        listen = f"{self.addresses[node]}:9090"
        config = prom.write_config(
            self.workdir,
            [u.removeprefix("http://") for u in self.files.agent_urls.values()],
            self.files.collector_url.removeprefix("http://"),
            rules,
            factor,
        )
        argv = [
            prom.PROMETHEUS,
            f"--config.file={config}",
            f"--web.listen-address={listen}",
            f"--storage.tsdb.path={self.workdir / 'prometheus'}",
            "--log.level=warn",
        ]
        self._start("prometheus", node, argv)
        url = f"http://{listen}"
        self.wait_http(f"{url}/-/ready")
        return url

    def start_all(self) -> None:
        """snmpd on every router (when SNMP is on), every agent, then the collector."""
        if self.settings.snmp:
            for s in self.sites:
                if s.kind == "router":
                    self.start_snmpd(s.id)
        for name in self.settings.agents:
            self.start_agent(name)
        for name in self.settings.agents:
            self.wait_http(self.files.agent_urls[name] + "/api/v1/events?after=0&limit=1")
        self.start_collector()
        self.wait_http(self.files.collector_url + "/healthz")

    def signal(self, key: str, sig: int = signal.SIGTERM, wait: float = 15.0) -> int | None:
        """Send ``sig`` to a lab process (``ip netns exec`` execs it, so the pid is its own)."""
        proc = self.procs[key]
        if proc.poll() is None:
            os.kill(proc.pid, sig)
        if sig in (signal.SIGHUP, signal.SIGUSR1):
            return None
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=5)

    def edit_inventory(self, add: Sequence[LabSite] = (), remove: Sequence[str] = ()) -> None:
        """Change the inventory file the way an operator would: new sites get a namespace
        linked to their parent (or ``gw``); removed sites leave the file, not the network."""
        for site in add:
            self.lab.add_node(site.id)
            self.lab.link(site.id, site.parent or GW)
            self.addresses[site.id] = self.lab.address(site.id)
        self.sites = [s for s in self.sites if s.id not in set(remove)] + list(add)
        write_inventory(self.files.inventory, self.sites, self.addresses, self.settings)

    # -- observing --------------------------------------------------------------------------
    def wait_http(self, url: str, timeout: float = 20.0) -> None:
        """Wait until ``url`` answers, other than 5xx (the process behind it is ready)."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=1.0):
                    return
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    return  # it answered
                last = exc  # up, but not ready yet
            except OSError as exc:
                last = exc
                time.sleep(0.1)
        raise LabError(
            f"{url} did not answer within {timeout:.0f} s ({last}); see the logs in {self.workdir}"
        )

    def get_json(self, url: str, timeout: float = 3.0) -> Any:
        """GET ``url`` and decode JSON (the root namespace reaches the lab via ``gw``)."""
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read())

    def get_text(self, url: str, timeout: float = 3.0) -> str:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return str(resp.read().decode())

    def close(self) -> None:
        """Stop the processes (SIGTERM to all, SIGKILL after 10 s) and remove the network."""
        live = [(k, p) for k, p in reversed(self.procs.items()) if p.poll() is None]
        for _, proc in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for key, proc in live:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("lab process ignored SIGTERM, killing it key=%s", key)
        self.lab.close()

    def __enter__(self) -> LabRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_until(check: Any, timeout: float, interval: float = 0.25, what: str = "condition") -> Any:
    """Poll ``check()`` until it returns something truthy, else raise ``TimeoutError``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout} s")
        time.sleep(interval)
