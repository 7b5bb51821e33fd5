"""``pantau collector --config FILE``: pull the agents, keep outage history, serve the API."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Any

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``collector`` subcommand."""
    p = subparsers.add_parser("collector", help="run the collector (outage history, API)")
    p.add_argument("--config", required=True, help="path to the TOML config file")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(serve(args.config))


async def serve(config_path: str) -> int:
    """Run the collector until SIGTERM or SIGINT; return the exit code."""
    from pantau.agent.server import start_server
    from pantau.collector.api import installed_extensions, make_app
    from pantau.collector.metrics import CollectorMetrics
    from pantau.collector.service import Collector
    from pantau.collector.store import open_store
    from prometheus_client import CollectorRegistry

    from pantau.config import load_config

    config = load_config(config_path)
    inventory = config.load_sites()
    for problem in inventory.problems:
        log.warning("inventory problem detail=%s", problem)
    store = await asyncio.to_thread(open_store, config.collector.database_url())
    collector = Collector(config.collector, inventory.sites, store)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(CollectorMetrics(collector))
    app = make_app(collector, registry, installed_extensions(), config=config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = await start_server(app, config.collector.listen)
    log.info(
        "collector listening listen=%s database=%s agents=%d sites=%d",
        config.collector.listen,
        store.name,
        len(config.collector.agents),
        len(inventory.sites),
    )
    try:
        await collector.start()
        await collector.run(stop)
    finally:
        await runner.cleanup()
        store.close()
        log.info("collector stopped")
    return 0
