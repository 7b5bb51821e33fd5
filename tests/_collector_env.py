"""Helpers for collector tests: a real agent event API (the agent's own server and event log)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from pantau.agent.runtime.eventlog import EventLog, Retention
from pantau.agent.runtime.server import bound_port, make_app, start_server
from pantau.events import Event
from pantau.inventory import Site

#: "Now" of the collector tests (their collectors' clock, T0 + 1 h): the agents' clock too.
NOW = 1_900_003_600.0

SITES = (
    Site(id="core", name="Router inti", kind="router", lat=-1.2, lon=116.8, district="d1"),
    Site(
        id="office", name="Kantor", kind="office", lat=-1.3, lon=116.8, parent="core", district="d1"
    ),
    Site(id="bts", name="BTS Manggar", kind="bts", lat=-1.2, lon=116.9, district="d2"),
)


@dataclasses.dataclass
class Agent:
    """A running agent event API on loopback."""

    name: str
    log: EventLog
    url: str

    def emit(
        self,
        site: str | None,
        old: str,
        new: str,
        t: float,
        *,
        isolated: bool = False,
        hop: str | None = None,
    ) -> Event:
        type_ = "site" if site else "agent"
        reason = "isolated" if type_ == "agent" else ("recovered" if new == "up" else "timeout")
        (stored,) = self.log.append(
            [Event(self.name, type_, site, None, old, new, t, reason, isolated, hop)]
        )
        return stored


@contextlib.asynccontextmanager
async def agent_api(
    path: Path,
    name: str,
    retention: Retention | None = None,
    port: int = 0,
    clock: Callable[[], float] = lambda: NOW,
) -> AsyncIterator[Agent]:
    """Serve the agent's real ``/api/v1/events`` over an event log at ``path``; ``clock`` is
    the agent's (retention, and the ``now`` of its answers)."""
    log = EventLog(path, retention or Retention(86400 * 365 * 10, 1_000_000), clock)
    app = make_app(CollectorRegistry(), log, name, clock=clock)
    runner = await start_server(app, f"127.0.0.1:{port}")
    try:
        yield Agent(name, log, f"http://127.0.0.1:{bound_port(runner)}")
    finally:
        await runner.cleanup()
        log.close()
