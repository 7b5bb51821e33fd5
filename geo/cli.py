"""``pantau map`` and ``pantau report``: read config, layers and observations; compute; write.

Heavy imports (geopandas, matplotlib) stay inside the command functions so ``pantau --help`` is
fast and an agent host never needs GDAL.
"""

from __future__ import annotations

import argparse
import calendar
import logging
import sys
import time
from datetime import UTC, datetime
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
    when.add_argument("--at", type=parse_when, help="snapshot time (RFC 3339 or YYYY-MM-DD, UTC)")
    when.add_argument("--from", dest="start", type=parse_when, help="period start")
    p.add_argument("--to", dest="end", type=parse_when, help="period end (default now)")
    p.set_defaults(func=_map)
    r = subparsers.add_parser("report", help="monthly HTML and CSV report (SPBE evidence)")
    _common(r)
    r.add_argument("--month", required=True, type=parse_month, help="YYYY-MM")
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


def parse_when(text: str) -> float:
    """RFC 3339 time, or a UTC date ``YYYY-MM-DD`` (midnight), as Unix seconds."""
    from pantau.events import parse_time

    try:
        if len(text) == 10:
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time; use 2026-11-23T18:00:00Z or 2026-11-23"
        ) from None


def parse_month(text: str) -> tuple[float, float]:
    """``YYYY-MM`` as the [start, end) Unix seconds of that UTC month."""
    try:
        first = datetime.strptime(text, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month; use 2026-11") from None
    days = calendar.monthrange(first.year, first.month)[1]
    return first.timestamp(), first.timestamp() + days * DAY


def _progress() -> Progress:
    from pantau.geo.progress import TqdmProgress, null_progress

    logging.getLogger("pyogrio").setLevel(logging.WARNING)  # one INFO line per layer written
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)  # one per layout step
    return TqdmProgress() if sys.stderr.isatty() else null_progress


def run_analysis(
    config: Config, state: Path | None, at: float, start: float, end: float,
    *, historical: bool, progress: Progress,
) -> Analysis:  # fmt: skip
    """Load layers, sites and observations for ``config`` and analyse them (the I/O edge)."""
    from pantau.geo.analysis import analyse
    from pantau.geo.assign import sites_frame
    from pantau.geo.districts import read_districts, read_settlements
    from pantau.geo.sources import (
        CollectorSource,
        FileSource,
        Observations,
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
            source = CollectorSource(f"http://{config.collector.listen}")
            obs = source.observations(min(start, at), max(end, at))
        except PantauError as exc:  # no collector yet: still draw the layer, every site unknown
            log.warning("no observations, every site unknown detail=%s", exc)
            obs = observations_from_records([], [], "none")
    if historical:
        obs = Observations(states_at(sites["site"].tolist(), obs.outages, at), obs.outages)
    return analyse(
        districts, sites, obs, geo, at=at, start=start, end=end, settlements=settlements,
        progress=progress,
    )  # fmt: skip


def _map(args: argparse.Namespace) -> int:
    from pantau.config import load_config
    from pantau.geo.render import write_all

    config = load_config(args.config)
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
    paths = write_all(
        analysis, args.out, lang=config.report.language, zone=config.report.timezone,
        progress=progress,
    )  # fmt: skip
    _print_summary(analysis, paths)
    return 0


def _report(args: argparse.Namespace) -> int:
    from pantau.config import load_config
    from pantau.geo.report import write_report

    config = load_config(args.config)
    start, end = args.month
    now = time.time()
    at = min(end, now)
    progress = _progress()
    analysis = run_analysis(
        config, args.state, at, start, end, historical=end < now, progress=progress
    )
    # The month before, for the blankspot trend (same computation, its own period).
    prev_start = parse_month(_previous_month(start))[0]
    previous = run_analysis(
        config, args.state, start, prev_start, start, historical=True, progress=progress
    )
    paths = write_report(
        analysis, args.out, provenance(config, now), lang=args.lang or config.report.language,
        now=now, previous=previous, progress=progress,
    )  # fmt: skip
    _print_summary(analysis, paths)
    return 0


def _previous_month(start: float) -> str:
    first = datetime.fromtimestamp(start, UTC)
    year, month = (first.year, first.month - 1) if first.month > 1 else (first.year - 1, 12)
    return f"{year:04d}-{month:02d}"


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
