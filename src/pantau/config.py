"""The typed configuration model, validated in one place.

``load_config(path)`` reads TOML, sets defaults, rejects unknown keys, checks cross-field rules and
resolves relative paths against the config file's folder. Every problem names the file, the key path
and a fix. Secrets are never in the file: ``*_env`` keys name environment variables.
"""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pantau.errors import ConfigError
from pantau.inventory import SITE_ID_PATTERN, SITE_KINDS, Inventory, Site, load_inventory
from pantau.urls import has_userinfo, redact_text, redact_url


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT, e.g. '127.0.0.1:9469'")
    return value


def _env_name(value: str | None) -> str | None:
    if value is not None and not value.replace("_", "").isalnum():
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


HostPort = Annotated[str, AfterValidator(_host_port)]
SiteId = Annotated[str, Field(pattern=SITE_ID_PATTERN)]
EnvName = Annotated[str | None, AfterValidator(_env_name)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _resolve(value: Path | None, info: ValidationInfo) -> Path | None:
    base = (info.context or {}).get("base")
    if value is None or value.is_absolute() or base is None:
        return value
    return Path(base) / value


class ProbeKindSettings(_Model):
    """Settings every probe kind has."""

    interval: float = Field(30.0, gt=0, description="seconds between rounds")
    timeout: float = Field(2.0, gt=0, description="seconds one probe may take")
    jitter: float = Field(0.1, ge=0, le=0.5, description="random start delay, fraction of interval")

    @model_validator(mode="after")
    def _timeout_fits(self) -> ProbeKindSettings:
        if self.timeout > self.interval:
            raise ValueError(
                f"timeout ({self.timeout} s) is longer than interval ({self.interval} s); "
                "lower timeout or raise interval"
            )
        return self


class IcmpSettings(ProbeKindSettings):
    interval: float = Field(30.0, gt=0)
    timeout: float = Field(1.0, gt=0, description="seconds to wait for the last reply")
    count: int = Field(3, ge=1, le=100, description="echo requests per target per round")
    rate: float = Field(
        10000.0, gt=0, description="packets per second at most, over all targets (pacing)"
    )
    period: float = Field(
        0.0, ge=0, description="seconds at least between two echoes to the same target"
    )
    payload_size: int = Field(56, ge=8, le=1472)
    rtt_histogram: Literal["listed", "all"] = Field(
        "listed",
        description="which sites export every bucket of pantau_icmp_rtt_seconds: 'all', or "
        "'listed' (those in rtt_histogram_sites or rtt_histogram_districts); the others "
        "export only the +Inf bucket, _sum and _count (3 series, not 16)",
    )
    rtt_histogram_sites: tuple[SiteId, ...] = ()
    rtt_histogram_districts: tuple[str, ...] = ()


class TcpSettings(ProbeKindSettings):
    timeout: float = Field(3.0, gt=0)


class HttpCredential(_Model):
    """Basic auth an HTTP probe sends to its own site's host (never to a redirect elsewhere)."""

    username: str = Field(min_length=1)
    password_env: Annotated[str, AfterValidator(_env_name)] = Field(
        description="variable holding the password"
    )


class HttpSettings(ProbeKindSettings):
    interval: float = Field(60.0, gt=0)
    timeout: float = Field(10.0, gt=0)
    verify_tls: bool = True
    ok_status: tuple[int, int] = Field((200, 399), description="inclusive range of good statuses")
    user_agent: str = "pantau/0.1"
    cross_host_redirects: tuple[str, ...] = Field(
        (), description="site ids whose HTTP probes may follow redirects to other hosts"
    )
    credentials: dict[str, HttpCredential] = Field(
        {}, description="per site id: basic auth for its HTTP probes, password from the environment"
    )


class SnmpSettings(ProbeKindSettings):
    interval: float = Field(60.0, gt=0)
    timeout: float = Field(10.0, gt=0, description="seconds one device poll may take")
    max_in_flight: int = Field(64, ge=1, le=4096, description="devices polled at once")


class AgentConfig(_Model):
    name: str = Field(default_factory=socket.gethostname, min_length=1)
    listen: HostPort = "127.0.0.1:9469"
    state_dir: Path = Path("state")
    canaries: tuple[str, ...] = ()
    down_after: int = Field(3, ge=1, le=100)
    up_after: int = Field(2, ge=1, le=100)
    max_concurrency: int = Field(512, ge=1, le=65536)
    event_retention_days: float = Field(90.0, gt=0)
    event_retention_max: int = Field(1_000_000, ge=1000)
    event_pending_max: int = Field(
        100_000,
        ge=10,
        le=10_000_000,
        description="events held in memory while the event log cannot be written",
    )
    traceroute: bool = Field(True, description="trace a site's path when it goes down")
    heartbeat: float = Field(
        300.0,
        ge=0,
        le=86400,
        description="seconds between 'observing' checkpoints in the event log; 0 turns them off",
    )
    icmp: IcmpSettings = IcmpSettings()
    tcp: TcpSettings = TcpSettings()
    http: HttpSettings = HttpSettings()
    snmp: SnmpSettings = SnmpSettings()
    web_config: Path | None = Field(
        None, description="exporter-toolkit web config file: TLS and basic auth of the API"
    )

    _state_dir = field_validator("state_dir", "web_config")(_resolve)

    @field_validator("heartbeat")
    @classmethod
    def _heartbeat_bounded(cls, v: float) -> float:
        if 0 < v < 10:  # one event per second and agent would swamp the log for nothing
            raise ValueError(f"{v} is too short: give 0 (off) or 10 seconds or more")
        return v


class SnmpProfile(_Model):
    version: Literal["2c", "3"] = "2c"
    community: str | None = Field(None, description="literal community, for labs only")
    community_env: EnvName = None
    user: str | None = None
    auth_protocol: Literal["MD5", "SHA", "SHA-256"] | None = None
    auth_key_env: EnvName = None
    priv_protocol: Literal["DES", "AES-128", "AES-256"] | None = None
    priv_key_env: EnvName = None
    context: str = Field("", description="SNMPv3 contextName, for devices that require one")
    port: int = Field(161, ge=1, le=65535)
    timeout: float = Field(2.0, gt=0)
    retries: int = Field(1, ge=0, le=10)
    max_repetitions: int = Field(25, ge=1, le=1000)
    interfaces: tuple[str, ...] = Field(
        (), description="ifName/ifDescr/ifIndex whose oper status down marks the site down"
    )
    extra_oids: tuple[str, ...] = Field(
        (), description="numeric OIDs: ending in .0 read with GET, others walked as subtrees"
    )

    health: tuple[str, ...] = Field(
        ("auto",),
        description='SNMP health tables to read: ["auto"] (by sysObjectID, plus the standard '
        'MIBs), table names (always read), or [] (none); see docs/contracts.md "SNMP health"',
    )

    @field_validator("health")
    @classmethod
    def _health_tables(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from pantau.agent.snmp.health.registry import check_choice, table_names

        unknown = check_choice(value)
        if unknown:
            raise ValueError(
                f'unknown health table(s) {", ".join(map(repr, unknown))}; write "auto", '
                f"[] to read none, or names among: {', '.join(sorted(table_names()))}"
            )
        return value

    @field_validator("extra_oids")
    @classmethod
    def _numeric_oids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for oid in value:
            parts = oid.strip().lstrip(".").split(".")
            if len(parts) < 2 or not all(p.isdigit() for p in parts):
                raise ValueError(
                    f"{oid!r} is not a numeric OID; write it like 1.3.6.1.4.1.14988.1.1.1.3.1.4 "
                    "(translate a MIB name with: snmptranslate -On MIB::name)"
                )
        return value

    @model_validator(mode="after")
    def _credentials(self) -> SnmpProfile:
        if self.version == "2c":
            if not (self.community or self.community_env):
                raise ValueError("version 2c needs community_env (or community, for labs)")
            if self.context:
                raise ValueError("context is an SNMPv3 contextName: it needs version 3")
        else:
            if not self.user:
                raise ValueError("version 3 needs user")
            if self.priv_protocol and not self.auth_protocol:
                raise ValueError("priv_protocol needs auth_protocol too (authPriv)")
            if self.auth_protocol and not self.auth_key_env:
                raise ValueError(
                    "auth_protocol needs auth_key_env naming the variable with the key"
                )
            if self.priv_protocol and not self.priv_key_env:
                raise ValueError(
                    "priv_protocol needs priv_key_env naming the variable with the key"
                )
        return self


class SnmpConfig(_Model):
    profiles: dict[str, SnmpProfile] = {}


class MaintenanceWindow(_Model):
    """A planned window excluded from availability: one site, one district, or everything."""

    start: datetime
    end: datetime
    site: str | None = None
    district: str | None = None
    reason: str = ""

    @model_validator(mode="after")
    def _order(self) -> MaintenanceWindow:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a UTC offset, e.g. 2026-12-01T22:00:00+08:00")
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) is not after start ({self.start})")
        return self


class CollectorConfig(_Model):
    name: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        max_length=128,
        description="this collector's name: its cursors in a database shared by collectors",
    )
    listen: HostPort = "127.0.0.1:9470"
    database: str = "sqlite:///state/collector.db"
    database_env: EnvName = Field(
        None, description="variable holding the database URL (for passwords); wins over database"
    )
    agents: tuple[str, ...] = ("http://127.0.0.1:9469",)
    pull_interval: float = Field(10.0, gt=0)
    agent_timeout: float = Field(5.0, gt=0)
    quorum: float = Field(
        0.5, gt=0, le=1, description="a site is down when more than this share of agents agree"
    )
    flap_window: float = Field(3600.0, gt=0, description="seconds")
    flap_threshold: int = Field(6, ge=2, description="transitions in flap_window that flag it")
    page_limit: int = Field(1000, ge=1, le=10000, description="events asked per pull request")
    clock_skew: float = Field(
        60.0, ge=0, description="seconds an event's time may be ahead of the collector's clock"
    )
    max_page_bytes: int = Field(
        64 << 20, ge=1 << 16, description="an agent's answer larger than this is refused (bytes)"
    )
    max_site_removal: float = Field(
        0.5,
        ge=0,
        le=1,
        description="a reload removing more than this share of all sites is refused; 1 forces it",
    )
    maintenance: tuple[MaintenanceWindow, ...] = ()
    web_config: Path | None = Field(
        None, description="exporter-toolkit web config file: TLS and basic auth of the API"
    )
    writers: tuple[str, ...] = Field(
        (), description="web config users allowed to write (maintenance windows); none: no writes"
    )
    agent_ca_file: Path | None = Field(None, description="CA that signed the agents' certificates")
    agent_username: str | None = Field(None, description="basic auth user the agents know")
    agent_password_env: EnvName = Field(None, description="variable holding that user's password")

    _paths = field_validator("web_config", "agent_ca_file")(_resolve)

    @field_validator("agents")
    @classmethod
    def _urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(
                    f"{redact_url(url)!r} is not an http(s) URL of an agent, e.g. http://host:9469"
                )
            if has_userinfo(url):
                raise ValueError(
                    f"{redact_url(url)!r} carries a user name or password, which would show in "
                    "logs, metrics and the database; remove it and set agent_username and "
                    "agent_password_env (the name of a variable holding the password)"
                )
        return value

    @model_validator(mode="after")
    def _writers_and_agent_auth(self) -> CollectorConfig:
        if self.writers and self.web_config is None:
            raise ValueError(
                "writers needs web_config: writes are only for users that authenticate"
            )
        if bool(self.agent_username) != bool(self.agent_password_env):
            raise ValueError("agent_username and agent_password_env go together; set both")
        return self

    def agent_password(self) -> str | None:
        """The password for the agents, read from ``agent_password_env`` (None without it)."""
        if not self.agent_password_env:
            return None
        value = os.environ.get(self.agent_password_env)
        if not value:
            raise ConfigError(
                f"collector.agent_password_env: environment variable {self.agent_password_env} "
                "is not set; export it before starting the collector"
            )
        return value

    @field_validator("database")
    @classmethod
    def _db(cls, value: str, info: ValidationInfo) -> str:
        if not value.startswith(("sqlite:", "postgresql")):
            raise ValueError(f"{value!r}: use sqlite:///PATH or postgresql://...")
        base = (info.context or {}).get("base")
        prefix = "sqlite:///"
        if base and value.startswith(prefix) and not value[len(prefix) :].startswith("/"):
            return prefix + str(Path(base) / value[len(prefix) :])
        return value

    def database_url(self) -> str:
        """The database URL, from ``database_env`` when set (secrets stay out of the file)."""
        if self.database_env:
            url = os.environ.get(self.database_env)
            if not url:
                raise ConfigError(
                    f"collector.database_env: environment variable {self.database_env} is not set"
                )
            return url
        return self.database


def _default_coverage() -> dict[str, float]:
    return {
        "office": 100.0,
        "bts": 3000.0,
        "hotspot": 100.0,
        "vsat": 300.0,
        "router": 100.0,
        "web": 0.0,
    }


class GeoConfig(_Model):
    districts: Path | None = None
    layer: str | None = None
    id_field: str = "kode"
    name_field: str = "nama"
    snap_m: float = Field(500.0, ge=0)
    settlements: Path | None = None
    settlements_layer: str | None = None
    coverage_m: dict[str, float] = Field(default_factory=_default_coverage)
    blankspot_threshold: float = Field(0.5, ge=0, le=1)
    supervision_window: float = Field(900.0, gt=0, description="seconds a result stays fresh")
    refresh: float = Field(300.0, gt=0, description="seconds between analyses in the collector")
    collector_url: str | None = Field(
        None, description="collector API for pantau map/report; default http://[collector] listen"
    )
    collector_ca_file: Path | None = Field(None, description="CA of the collector's certificate")
    collector_username: str | None = Field(None, description="a reader of the collector")
    collector_password_env: EnvName = Field(None, description="variable holding its password")

    _paths = field_validator("districts", "settlements", "collector_ca_file")(_resolve)

    @field_validator("collector_url")
    @classmethod
    def _collector_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{redact_url(value)!r} is not an http(s) URL")
        if value is not None and has_userinfo(value):
            raise ValueError(
                "the URL carries a user name or password; set collector_username and "
                "collector_password_env (the name of a variable holding the password) instead"
            )
        return value

    @field_validator("coverage_m")
    @classmethod
    def _kinds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(SITE_KINDS))
        if unknown:
            raise ValueError(f"unknown site kind(s) {unknown}; use {', '.join(SITE_KINDS)}")
        if any(v < 0 for v in value.values()):
            raise ValueError("radii must be >= 0 metres")
        return {**_default_coverage(), **value}


class ReportConfig(_Model):
    """``[report]``: the region and language reports are written for, and the zone of their time.

    ``region`` and ``language`` change only the wording; ``timezone`` decides where local months and
    days begin (and so which time a monthly figure covers) and how times are printed.
    """

    region: str = Field("", description="kabupaten/kota named on the report's cover")
    language: Literal["id", "en"] = "id"
    timezone: str = Field(
        "UTC", description="IANA zone for months, days and printed times, e.g. Asia/Makassar"
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone; use Asia/Jakarta (WIB), Asia/Makassar "
                "(WITA), Asia/Jayapura (WIT) or UTC"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The zone as a ``tzinfo``."""
        return ZoneInfo(self.timezone)


class InventoryConfig(_Model):
    sites: tuple[Path, ...] = ()

    @field_validator("sites")
    @classmethod
    def _paths(cls, value: tuple[Path, ...], info: ValidationInfo) -> tuple[Path, ...]:
        return tuple(_resolve(p, info) or p for p in value)


class Config(_Model):
    """The whole pantau configuration. Build it with :func:`load_config`."""

    agent: AgentConfig = AgentConfig()
    snmp: SnmpConfig = SnmpConfig()
    collector: CollectorConfig = CollectorConfig()
    geo: GeoConfig = GeoConfig()
    report: ReportConfig = ReportConfig()
    inventory: InventoryConfig = InventoryConfig()
    sites: tuple[dict[str, Any], ...] = Field((), description="inline [[sites]] tables")
    source: Path | None = Field(None, exclude=True)

    def load_sites(self) -> Inventory:
        """Load the inventory this config names (CSV files and inline sites)."""
        return load_inventory(
            self.inventory.sites,
            self.sites,
            snmp_profiles=self.snmp.profiles,
            config_name=str(self.source or "config"),
        )


_FIXES = {
    "extra_forbidden": "unknown key; check its spelling against config.example.toml or remove it",
    "missing": "required; add it",
}


def _messages(path: Path, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if p not in ("function-after",))
        msg = _FIXES.get(err["type"]) or err["msg"].removeprefix("Value error, ")
        if err["type"] not in _FIXES and "input" in err and not isinstance(err["input"], dict):
            msg = f"{msg} (got {redact_text(repr(err['input']))})"
        msg = redact_text(msg)
        out.append(f"{path}: {loc}: {msg}" if loc else f"{path}: {msg}")
    return out


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a TOML config file.

    Raises
    ------
    ConfigError
        With one line per problem, each naming the file, the key path and a fix.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found; copy config.example.toml") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        config = Config.model_validate(data, context={"base": path.parent.resolve()})
    except ValidationError as exc:
        raise ConfigError(_messages(path, exc)) from None
    return config.model_copy(update={"source": path})


def check_config(path: str | os.PathLike[str]) -> tuple[Config | None, list[str]]:
    """Validate a config and its inventory; return the config (if it loaded) and every problem."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        return None, exc.problems
    from pantau.secretcheck import secret_problems  # it imports this module

    inventory = config.load_sites()
    known = {site.id for site in inventory.sites}
    unknown = [
        f"{path}: agent.icmp.rtt_histogram_sites: no site {site_id!r} in the inventory; "
        "remove it or fix its spelling"
        for site_id in config.agent.icmp.rtt_histogram_sites
        if site_id not in known
    ]
    return config, [
        *secret_problems(config, os.environ),
        *inventory.problems,
        *maintenance_problems(config, inventory.sites),
        *unknown,
    ]


def maintenance_problems(config: Config, sites: Sequence[Site]) -> list[str]:
    """One message per maintenance window naming a site or district no inventory site has.

    Districts count as known when a site declares them or, with ``[geo] districts`` set, when the
    layer has them (sites without a declared district get theirs from the coordinates).
    """
    ids = {s.id for s in sites}
    districts = {s.district for s in sites if s.district}
    if config.geo.districts is not None and config.geo.districts.exists():
        districts |= _layer_ids(config)
    out = []
    for i, w in enumerate(config.collector.maintenance):
        at = f"{config.source}: collector.maintenance.{i}"
        if w.site is not None and w.site not in ids:
            out.append(f"{at}.site: {w.site!r} is not a site of the inventory; fix the id")
        if w.district is not None and w.district not in districts:
            out.append(
                f"{at}.district: {w.district!r} is no district of any site (nor of "
                "[geo] districts); use a district code of the inventory or the layer"
            )
    return out


def _layer_ids(config: Config) -> set[str]:
    """District ids of the ``[geo]`` layer, when the geo extra can read it; else none."""
    try:
        from pantau.geo.districts import read_districts
    except ImportError:
        return set()
    geo = config.geo
    if geo.districts is None:
        return set()
    try:
        layer = read_districts(
            geo.districts, layer=geo.layer, id_field=geo.id_field, name_field=geo.name_field
        )
    except (ConfigError, ImportError, OSError):
        return set()
    return {str(d) for d in layer["district"]}
