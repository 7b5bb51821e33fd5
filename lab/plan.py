"""From an inventory to a lab: the node tree and the configs of the lab's agents and collector.

The lab network is a tree: ``gw`` (the uplink every vantage point hangs off, also their canary) at
the top; the agents and the ``noc`` (where the collector runs) under ``gw``; every site under its
inventory ``parent``, and sites without a parent under ``gw``. Sites keep their ids, kinds,
coordinates and districts; their addresses are replaced by the lab's.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import tomli_w

from pantau.inventory import Site, load_inventory
from pantau.lab.iproute import LabError

GW, NOC = "gw", "noc"
AGENTS = ("agent1", "agent2")
SNMP_PROFILE = "lab"
SNMP_COMMUNITY = "pantau-lab"


@dataclasses.dataclass(frozen=True)
class LabSite:
    """A site of the lab inventory (an inventory :class:`~pantau.inventory.Site` minus address)."""

    id: str
    name: str
    kind: str
    lat: float
    lon: float
    parent: str | None = None
    district: str | None = None


#: The built-in demo: a core router, offices behind it, a BTS with a hotspot behind it.
DEMO_SITES = (
    LabSite("core", "Router inti Diskominfo", "router", -1.2379, 116.8529, None, "64.71.04.1001"),
    LabSite(
        "kantor-walikota", "Kantor Wali Kota", "office", -1.2765, 116.8280, "core", "64.71.04.1001"
    ),
    LabSite(
        "kantor-camat-selatan",
        "Kantor Camat Selatan",
        "office",
        -1.2654,
        116.8647,
        "core",
        "64.71.04.1002",
    ),
    LabSite(
        "kantor-camat-utara",
        "Kantor Camat Utara",
        "office",
        -1.2200,
        116.8500,
        "core",
        "64.71.04.1003",
    ),
    LabSite("bts-manggar", "BTS Manggar", "bts", -1.2100, 116.9700, "core", "64.71.04.1002"),
    LabSite(
        "hotspot-taman",
        "Hotspot Taman Bekapai",
        "hotspot",
        -1.2680,
        116.8300,
        "bts-manggar",
        "64.71.04.1001",
    ),
)


#: Districts of the demo: three rectangles partitioning the box around the demo sites.
DEMO_DISTRICTS = (
    ("64.71.04.1001", "Kelurahan Lab Barat", (116.80, -1.30, 116.855, -1.23)),
    ("64.71.04.1002", "Kelurahan Lab Timur", (116.855, -1.30, 117.00, -1.20)),
    ("64.71.04.1003", "Kelurahan Lab Utara", (116.80, -1.23, 116.855, -1.20)),
)


def write_districts(path: Path) -> Path:
    """The demo's district layer as GeoJSON (``kode``, ``nama``), for ``[geo] districts``."""
    features = []
    for kode, nama, (x0, y0, x1, y1) in DEMO_DISTRICTS:
        ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
        features.append(
            {
                "type": "Feature",
                "properties": {"kode": kode, "nama": nama},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


@dataclasses.dataclass(frozen=True)
class LabSettings:
    """Timings of the lab's agents and collector: short, so scenarios finish in seconds."""

    icmp_interval: float = 1.0
    icmp_timeout: float = 0.5
    icmp_count: int = 3
    down_after: int = 2
    up_after: int = 2
    pull_interval: float = 1.0
    snmp: bool = False
    traceroute: bool = False
    agents: tuple[str, ...] = AGENTS
    agent_port: int = 9469
    collector_listen: str | None = None  # default: the noc's lab address, port 9470
    collector_node: str = NOC
    districts: bool = False  # the demo's district layer, for the collector's map


def sites_from_inventory(path: Path) -> list[LabSite]:
    """Read a CSV inventory (the same format as ``[inventory] sites``) for the lab."""
    inv = load_inventory([path])
    if inv.problems:
        from pantau.errors import ConfigError

        raise ConfigError(list(inv.problems))
    return [_lab_site(s) for s in inv.sites]


def _lab_site(site: Site) -> LabSite:
    return LabSite(site.id, site.name, site.kind, site.lat, site.lon, site.parent, site.district)


def topology(
    sites: Sequence[LabSite], settings: LabSettings = LabSettings()
) -> dict[str, str | None]:
    """``{node: parent}`` for :meth:`pantau.lab.netns.Lab.tree`, parents before children."""
    reserved = {GW, settings.collector_node, *settings.agents}
    clash = sorted(reserved & {s.id for s in sites})
    if clash:
        raise LabError(f"site id(s) {clash} are lab node names; rename them in the inventory")
    tree: dict[str, str | None] = {GW: None, settings.collector_node: GW}
    tree.update({a: GW for a in settings.agents})
    pending = list(sites)
    while pending:
        placed = [s for s in pending if s.parent is None or s.parent in tree]
        if not placed:
            raise LabError(f"sites {[s.id for s in pending]} have parents outside the inventory")
        for s in placed:
            tree[s.id] = s.parent or GW
        pending = [s for s in pending if s.id not in tree]
    return tree


@dataclasses.dataclass(frozen=True)
class LabFiles:
    inventory: Path
    agents: Mapping[str, Path]
    collector: Path
    collector_url: str
    agent_urls: Mapping[str, str]


def write_configs(
    workdir: Path,
    sites: Sequence[LabSite],
    addresses: Mapping[str, str],
    settings: LabSettings = LabSettings(),
) -> LabFiles:
    """Write the lab inventory (lab addresses) and one config per agent plus the collector's."""
    workdir.mkdir(parents=True, exist_ok=True)
    inventory = workdir / "sites.csv"
    write_inventory(inventory, sites, addresses, settings)
    agent_urls = {a: f"http://{addresses[a]}:{settings.agent_port}" for a in settings.agents}
    listen = settings.collector_listen or f"{addresses[settings.collector_node]}:9470"
    common = {
        "inventory": {"sites": [str(inventory)]},
        "snmp": {
            "profiles": {
                SNMP_PROFILE: {
                    "version": "2c",
                    "community": SNMP_COMMUNITY,
                    "timeout": 1.0,
                    "retries": 0,
                }
            }
        },
    }
    agents = {}
    for name in settings.agents:
        doc = {"agent": _agent_table(name, workdir, addresses, settings), **common}
        agents[name] = workdir / f"{name}.toml"
        agents[name].write_text(tomli_w.dumps(doc), encoding="utf-8")
    collector = workdir / "collector.toml"
    doc = {
        "collector": {
            "listen": listen,
            "database": f"sqlite:///{workdir / 'collector' / 'collector.db'}",
            "agents": list(agent_urls.values()),
            "pull_interval": settings.pull_interval,
            "agent_timeout": max(0.5, settings.pull_interval),
        },
        **common,
    }
    if settings.districts:
        layer = write_districts(workdir / "districts.geojson")
        doc["geo"] = {
            "districts": str(layer),
            "id_field": "kode",
            "name_field": "nama",
            "refresh": max(1.0, settings.pull_interval),
        }
    (workdir / "collector").mkdir(exist_ok=True)
    collector.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return LabFiles(inventory, agents, collector, f"http://{listen}", agent_urls)


def _agent_table(
    name: str, workdir: Path, addresses: Mapping[str, str], settings: LabSettings
) -> dict[str, object]:
    interval = settings.icmp_interval
    return {
        "name": name,
        "listen": f"{addresses[name]}:{settings.agent_port}",
        "state_dir": str(workdir / name),
        "canaries": [addresses[GW]],
        "down_after": settings.down_after,
        "up_after": settings.up_after,
        "traceroute": settings.traceroute,
        "icmp": {
            "interval": interval,
            "timeout": min(settings.icmp_timeout, interval),
            "count": settings.icmp_count,
            "jitter": 0.0,
        },
        "tcp": {"interval": interval, "timeout": min(1.0, interval), "jitter": 0.0},
        "snmp": {"interval": max(2.0, interval), "timeout": 1.5, "jitter": 0.0},
    }


def write_inventory(
    path: Path,
    sites: Sequence[LabSite],
    addresses: Mapping[str, str],
    settings: LabSettings = LabSettings(),
) -> None:
    """The CSV inventory of the lab: the sites with their lab addresses and probes."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(
            ["id", "name", "kind", "lat", "lon", "address", "probes", "parent", "district"]
        )
        for s in sites:
            probes = ["icmp"]
            if settings.snmp and s.kind == "router":
                probes.append(f"snmp:{SNMP_PROFILE}")
            out.writerow(
                [
                    s.id,
                    s.name,
                    s.kind,
                    s.lat,
                    s.lon,
                    addresses[s.id],
                    ";".join(probes),
                    s.parent or "",
                    s.district or "",
                ]
            )
