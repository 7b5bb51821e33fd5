"""A stand-in agent process: the agent's real event API (server + event log), without probes.

Until ``pantau agent`` lands on main, collector process tests run this in its place. The test
writes state changes into the same SQLite event log (WAL, multi-process safe) as probes would.
Usage: python _agent_standin.py DB NAME PORT  (prints the bound port, then serves until killed).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

from pantau.agent.eventlog import EventLog, Retention
from pantau.agent.server import bound_port, make_app, start_server
from prometheus_client import CollectorRegistry


async def main(db: str, name: str, port: int) -> None:
    log = EventLog(Path(db), Retention(86400 * 90, 1_000_000), time.time)
    runner = await start_server(make_app(CollectorRegistry(), log, name), f"127.0.0.1:{port}")
    print(bound_port(runner), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    log.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
