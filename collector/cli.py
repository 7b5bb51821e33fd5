"""``pantau collector --config FILE``: pull the agents, keep outage history, serve the API.

SIGTERM/SIGINT stop it; SIGHUP reads the config file again (:func:`reload`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pantau.collector.service import Collector
    from pantau.config import Config

log = logging.getLogger(__name__)

#: ``[collector]`` keys a reload cannot change: the running values stay until a restart.
RESTART_KEYS = (
    "name",
    "listen",
    "database",
    "database_env",
    "web_config",
    "agent_ca_file",
    "agent_username",
    "agent_password_env",
)


def register(subparsers: Any) -> None:
    """Add the ``collector`` subcommand."""
    p = subparsers.add_parser("collector", help="run the collector (outage history, API)")
    p.add_argument("--config", required=True, help="path to the TOML config file")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(serve(args.config))


def _inventory(config: Config) -> Any:
    inventory = config.load_sites()
    for problem in inventory.problems:
        log.warning("inventory problem detail=%s", problem)
    return inventory


def site_districts(config: Config, sites: Any) -> Any:
    """The sites with their one district (``pantau.geo.resolve``) when ``[geo]`` has a layer.

    Without the geo extra installed the inventory's column stands, and that is logged once.
    """
    import importlib.util

    from pantau.geo.resolve import Districts

    if config.geo.districts is None:
        return Districts(tuple(sites), {})
    if importlib.util.find_spec("geopandas") is None:
        log.warning(
            "geo.districts set but the geo extra is not installed; using the inventory's "
            "district column fix=pip install pantau[geo]"
        )
        return Districts(tuple(sites), {})
    from pantau.geo.resolve import resolve_districts

    found = resolve_districts(config.geo, sites)
    for problem in found.problems:
        log.warning("district problem detail=%s", problem)
    return found


async def reload(path: str | Path, collector: Collector, running: Config) -> Config:
    """Read ``path`` again and apply what can change at run time; return the config now in force.

    ``[collector] agents``, the inventory (sites, parents), outage parameters, pull settings and
    maintenance windows apply at once. ``listen``, the database and ``[geo]`` need a restart: a
    change is logged (``restart needed``) and the running value kept. An invalid file changes
    nothing: every problem is logged and the running config stays.
    """
    from pantau.config import load_config
    from pantau.errors import ConfigError, PantauError

    try:
        config = load_config(path)
    except ConfigError as exc:
        for line in exc.problems:
            log.error("reload refused, keeping the running config problem=%s", line)
        return running
    old, new = running.collector, config.collector
    for key in RESTART_KEYS:
        if getattr(old, key) != getattr(new, key):
            log.warning(
                "reload: restart needed to change this, keeping the running value key=collector.%s",
                key,
            )
    if config.geo != running.geo:
        log.warning("reload: restart needed to change this, keeping the running value key=geo")
    new = new.model_copy(update={k: getattr(old, k) for k in RESTART_KEYS})
    config = config.model_copy(update={"collector": new, "geo": running.geo})
    try:
        inventory = _inventory(config)
        districts = await asyncio.to_thread(site_districts, config, inventory.sites)
        changed = await collector.reconfigure(new, districts.sites, districts.names)
    except ConfigError as exc:
        for line in exc.problems:
            log.error("reload refused, keeping the running config problem=%s", line)
        return running
    except PantauError as exc:
        log.error("reload failed, keeping what runs error=%s", exc)
        return running
    log.info(
        "reloaded path=%s agents=%d sites=%d changed=%s",
        path,
        len(new.agents),
        len(inventory.sites),
        ",".join(changed) or "nothing",
    )
    return config


async def start_when_writable(
    collector: Collector, stop: asyncio.Event, backoff: tuple[float, float] = (1.0, 30.0)
) -> bool:
    """Open the store and start the collector, retrying with back-off while the store fails.

    Meanwhile the API answers (``/healthz`` 503 naming the store's error and its fix, the view
    empty). Returns False when ``stop`` came first.
    """
    from pantau.errors import StoreError

    wait, last = backoff[0], None
    while not stop.is_set():
        try:
            await asyncio.to_thread(collector.store.open)
            await collector.start()
            if last is not None:
                log.info("store writable again, collector started store=%s", collector.store.name)
            return True
        except StoreError as exc:
            if str(exc) != last:  # once per cause, not once per retry
                log.error("collector starting degraded, retrying error=%s retry_s=%.0f", exc, wait)
            last = str(exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
        wait = min(backoff[1], wait * 2)
    return False


async def serve(config_path: str) -> int:
    """Run the collector until SIGTERM or SIGINT; return the exit code."""
    loop = asyncio.get_running_loop()
    hups: asyncio.Queue[None] = asyncio.Queue(maxsize=1)

    def hup() -> None:
        if hups.empty():  # reloads coalesce: one pending is enough
            hups.put_nowait(None)

    # First thing: a SIGHUP while starting (``pantau run`` forwards them) must not kill it.
    loop.add_signal_handler(signal.SIGHUP, hup)

    from prometheus_client import CollectorRegistry

    from pantau.collector.api import installed_extensions, make_app, start_api
    from pantau.collector.metrics import CollectorMetrics
    from pantau.collector.service import Collector
    from pantau.collector.store import connect_store
    from pantau.config import load_config
    from pantau.webconfig import load_web_config, warn_if_exposed

    config = load_config(config_path)
    web_path = config.collector.web_config
    web = None if web_path is None else load_web_config(web_path)
    warn_if_exposed(config.collector.listen, web, "collector")
    config.collector.agent_password()  # an unset variable stops the start, naming it
    inventory = _inventory(config)
    store = connect_store(config.collector.database_url(), config.collector.name)
    districts = await asyncio.to_thread(site_districts, config, inventory.sites)
    collector = Collector(config.collector, districts.sites, store, names=districts.names)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(CollectorMetrics(collector))
    app = make_app(collector, registry, installed_extensions(), config=config)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = await start_api(app, config.collector.listen, web_config=web, registry=registry)
    log.info(
        "collector listening listen=%s page=http://%s/ database=%s agents=%d sites=%d",
        config.collector.listen,
        config.collector.listen,
        store.name,
        len(config.collector.agents),
        len(inventory.sites),
    )

    async def reloads() -> None:
        nonlocal config
        while True:
            await hups.get()
            log.info("SIGHUP: reloading path=%s", config_path)
            try:
                config = await reload(config_path, collector, config)
            except Exception:  # a bug must not end reloads, nor the collector
                log.exception("reload failed, keeping what runs")

    reloader: asyncio.Task[None] | None = None
    try:
        if await start_when_writable(collector, stop):
            reloader = asyncio.create_task(reloads(), name="reload")
            await collector.run(stop)
    finally:
        if reloader is not None:
            reloader.cancel()
        # The handlers stay until the store is closed: a second SIGTERM during the clean-up (systemd
        # signals every process of the unit, then `pantau run` signals its child again) would
        # otherwise take the default action and end the collector before it closed its store.
        await runner.cleanup()
        store.close()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        log.info("collector stopped")
    return 0
