"""``pantau map`` and ``pantau report``: read config, layers and observations; compute; write.

Heavy imports (geopandas, matplotlib) stay inside the command functions so ``pantau --help`` is
fast and an agent host never needs GDAL.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from pantau.errors import ConfigError, PantauError

if TYPE_CHECKING:
    from pantau.config import Config
    from pantau.geo.analysis import Analysis
    from pantau.geo.progress import Progress
    from pantau.geo.reportdata import Provenance

log = logging.getLogger(__name__)
DAY = 86400.0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``map`` and ``report`` to the ``pantau`` command."""
    p = subparsers.add_parser("map", help="blankspot and supervision maps per district")
    _common(p)
    when = p.add_mutually_exclusive_group()
    when.add_argument(
        "--at",
        type=parse_when,
        help="snapshot time (RFC 3339, or YYYY-MM-DD: midnight in [report] timezone)",
    )
    when.add_argument("--from", dest="start", type=parse_when, help="period start")
    p.add_argument("--to", dest="end", type=parse_when, help="period end (default now)")
    p.set_defaults(func=_map)
    r = subparsers.add_parser("report", help="monthly PDF, HTML and CSV report (SPBE evidence)")
    _common(r)
    r.add_argument(
        "--month", required=True, type=parse_month_text, help="YYYY-MM, in [report] timezone"
    )
    r.add_argument(
        "--lang", choices=("id", "en"),
        help="language of the report and maps (default [report] language, Bahasa Indonesia)",
    )  # fmt: skip
    r.set_defaults(func=_report)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, type=Path, help="pantau TOML config")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument(
        "--state", type=Path,
        help="site states/outages, JSON or CSV (default: the collector at [collector] listen)",
    )  # fmt: skip


def parse_when(text: str) -> float | date:
    """RFC 3339 time as Unix seconds, or a date ``YYYY-MM-DD`` (see :func:`at_midnight`)."""
    from pantau.events import parse_time

    try:
        if len(text) == 10:
            return datetime.strptime(text, "%Y-%m-%d").date()
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time; use 2026-11-23T18:00:00Z or 2026-11-23"
        ) from None


def at_midnight(value: float | date | None, zone: tzinfo) -> float | None:
    """A date as the Unix seconds of its midnight in ``zone``; times pass through."""
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=zone).timestamp()
    return value


def parse_month_text(text: str) -> tuple[int, int]:
    """``YYYY-MM`` as ``(year, month)``."""
    try:
        first = datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month; use 2026-11") from None
    return first.year, first.month


def month_bounds(year: int, month: int, zone: tzinfo = UTC) -> tuple[float, float]:
    """The [start, end) Unix seconds of a calendar month in ``zone`` (midnight on the 1st)."""
    first = datetime(year, month, 1, tzinfo=zone)
    nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return first.timestamp(), nxt.timestamp()


def parse_month(text: str, zone: tzinfo = UTC) -> tuple[float, float]:
    """``YYYY-MM`` as the [start, end) Unix seconds of that month in ``zone``."""
    return month_bounds(*parse_month_text(text), zone)


def _progress() -> Progress:
    from pantau.geo.progress import TqdmProgress, null_progress

    logging.getLogger("pyogrio").setLevel(logging.WARNING)  # one INFO line per layer written
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)  # one per layout step
    return TqdmProgress() if sys.stderr.isatty() else null_progress


def run_analysis(
    config: Config, state: Path | None, at: float, start: float, end: float,
    *, historical: bool, progress: Progress, period: bool = False, snapshot: bool = True,
    cache: dict | None = None,
) -> Analysis:  # fmt: skip
    """Load layers, sites and observations for ``config`` and analyse them (the I/O edge).

    ``historical``: states at ``at`` come from the decided timelines, not the current view.
    ``period``: a site counts as supervised when it was observed at any time in the period
    (the report), not only at ``at``. ``snapshot`` and ``cache``: see :func:`~.analysis.analyse`.
    """
    from pantau.collector.availability import config_maintenance
    from pantau.geo.analysis import analyse
    from pantau.geo.assign import sites_frame
    from pantau.geo.districts import read_districts, read_settlements
    from pantau.geo.sources import (
        CollectorSource,
        FileSource,
        observations_from_records,
        states_at,
    )

    geo = config.geo
    if geo.districts is None:
        raise ConfigError(
            f"{config.source}: geo.districts: not set; point it at a district layer "
            "(Shapefile, GeoPackage, GeoJSON)"
        )
    districts = read_districts(
        geo.districts, layer=geo.layer, id_field=geo.id_field, name_field=geo.name_field,
        progress=progress,
    )  # fmt: skip
    settlements = (
        read_settlements(geo.settlements, layer=geo.settlements_layer) if geo.settlements else None
    )
    inventory = config.load_sites()
    for problem in inventory.problems:
        log.warning("inventory problem detail=%s", problem)
    sites = sites_frame(inventory.sites)
    if state:
        obs = FileSource(state).observations(min(start, at), max(end, at))
    else:
        try:
            source = CollectorSource(
                geo.collector_url or f"http://{config.collector.listen}",
                ca_file=geo.collector_ca_file,
                username=geo.collector_username,
                password=os.environ.get(geo.collector_password_env or "") or None,
            )
            obs = source.observations(min(start, at), max(end, at))
        except PantauError as exc:  # no collector yet: still draw the layer, every site unknown
            log.warning("no observations, every site unknown detail=%s", exc)
            obs = observations_from_records([], [], "none")
    if obs.now is None:  # a file: the data reach up to now at most
        obs = dataclasses.replace(obs, now=time.time())
    if historical or period:
        since = start if period else None
        ids = sites["site"].tolist()
        probe_at = min(at, obs.now) if obs.now is not None else at
        states = states_at(ids, obs.timelines, probe_at, since)
        if period:  # observed in the period: supervised in it, whatever the snapshot time
            states.loc[states["last_result"].notna(), "last_result"] = float(at)
        obs = dataclasses.replace(obs, states=states)
    maintenance = config_maintenance(config.collector)
    analysis = analyse(
        districts, sites, obs, geo, at=at, start=start, end=end, settlements=settlements,
        maintenance=maintenance, progress=progress, snapshot=snapshot, cache=cache,
    )  # fmt: skip
    return dataclasses.replace(analysis, zone=config.report.timezone)


def _map(args: argparse.Namespace) -> int:
    from pantau.config import load_config
    from pantau.geo.render import write_all

    config = load_config(args.config)
    zone = config.report.zone
    args.at, args.start, args.end = (at_midnight(v, zone) for v in (args.at, args.start, args.end))
    now = time.time()
    if args.end is not None and args.start is None:
        raise ConfigError("--to needs --from (or use --at for a snapshot)")
    if args.start is not None:
        start, end = args.start, args.end if args.end is not None else now
        at = end
    else:
        at = args.at if args.at is not None else now
        start, end = at - DAY, at
    if end <= start:
        raise ConfigError(f"--from/--to: the period is empty ({start} .. {end}); swap them")
    progress = _progress()
    analysis = run_analysis(
        config, args.state, at, start, end, historical=args.at is not None or
        (args.end is not None and args.end < now - 60), progress=progress,
    )  # fmt: skip
    paths = write_all(analysis, args.out, lang=config.report.language, progress=progress)
    _print_summary(analysis, paths)
    return 0


def _report(args: argparse.Namespace) -> int:
    from pantau.config import load_config
    from pantau.geo.report import write_report

    config = load_config(args.config)
    zone = config.report.zone
    year, month = args.month
    start, end = month_bounds(year, month, zone)
    now = time.time()
    if start > now:
        raise ConfigError(f"--month: {year}-{month:02d} has not started yet")
    at = min(end, now)
    progress = _progress()
    cache: dict = {}  # the all-up covered area, the same for both months' sites
    analysis = run_analysis(
        config, args.state, at, start, end, historical=True, period=True, progress=progress,
        cache=cache,
    )  # fmt: skip
    # The month before, for the blankspot trend: the same period computation over its own local
    # month; the report reads nothing of its snapshot, so none is computed.
    prev_start, prev_end = month_bounds(*previous_month(year, month), zone)
    previous = run_analysis(
        config, args.state, prev_end, prev_start, prev_end, historical=True, period=True,
        progress=progress, snapshot=False, cache=cache,
    )  # fmt: skip
    paths = write_report(
        analysis, args.out, provenance(config, now), lang=args.lang or config.report.language,
        previous=previous, progress=progress,
    )  # fmt: skip
    _print_summary(analysis, paths)
    return 0


def previous_month(year: int, month: int) -> tuple[int, int]:
    """The calendar month before ``(year, month)``."""
    return (year, month - 1) if month > 1 else (year - 1, 12)


def provenance(config: Config, now: float) -> Provenance:
    """Who made the report from which inputs: version and digests of config and inventory."""
    import json
    from zoneinfo import ZoneInfo

    from pantau import __version__
    from pantau.geo.reportdata import Provenance, digest

    source = [config.source.read_bytes()] if config.source else []
    inventory = [p.read_bytes() for p in config.inventory.sites]
    inventory.append(json.dumps(config.sites, sort_keys=True, default=str).encode())
    zone = config.report.timezone
    return Provenance(
        region=config.report.region,
        timezone=zone,
        made=datetime.fromtimestamp(now, ZoneInfo(zone)),
        version=__version__,
        config_digest=digest(source),
        inventory_digest=digest(inventory),
        district_layer=config.geo.districts.name if config.geo.districts else "",
    )


def _print_summary(analysis: Analysis, paths: list[Path]) -> None:
    for problem in analysis.problems:
        print(problem, file=sys.stderr)
    d = analysis.districts
    print(
        f"{len(d)} districts, {int(d['blankspot_flag'].sum())} flagged as blankspot; "
        f"{int(analysis.sites['supervised'].sum())}/{len(analysis.sites)} sites supervised"
    )
    for path in paths:
        print(f"wrote {path}")
