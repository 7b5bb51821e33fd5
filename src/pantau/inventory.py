"""Sites and their probes: the inventory model and its loading from CSV files and inline tables.

A bad row is reported with file and line (or ``sites[N]`` for inline tables) and dropped; the rest
of the inventory still loads, so one typo never takes a whole region off the watch.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import itertools
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from pantau.agent.probes import PROBES, is_ip
from pantau.sitelinks import parent_problem, ups_problem
from pantau.urls import redact_text

SiteKind = Literal["office", "bts", "hotspot", "vsat", "router", "web"]
SITE_KINDS: tuple[str, ...] = ("office", "bts", "hotspot", "vsat", "router", "web")
#: What a site id looks like (also the label value in metrics: no escaping needed).
SITE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "kind",
    "lat",
    "lon",
    "address",
    "probes",
    "parent",
    "coverage_m",
    "district",
    "ups",
)
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$"
)


@dataclasses.dataclass(frozen=True, slots=True)
class ProbeSpec:
    """One probe of a site: a kind from the registry and its argument (port, URL, profile)."""

    kind: str
    arg: str | None = None

    def __str__(self) -> str:
        return self.kind if self.arg is None else f"{self.kind}:{self.arg}"

    @classmethod
    def parse(cls, text: str) -> ProbeSpec:
        """Parse ``icmp``, ``tcp:443``, ``http:https://host/path`` or ``snmp:PROFILE``."""
        kind, sep, arg = text.strip().partition(":")
        kind = kind.strip().lower()
        if kind not in PROBES:
            raise ValueError(f"unknown probe kind {kind!r}; use one of {', '.join(PROBES)}")
        try:
            parsed = PROBES[kind].parse_arg(arg.strip() if sep else None)
        except ValueError as exc:
            raise ValueError(f"probe {redact_text(text.strip())!r} {exc}") from None
        return cls(kind, parsed)


@pydantic_dataclass(
    frozen=True, slots=True, config=ConfigDict(extra="forbid", str_strip_whitespace=True)
)
class Site:
    """A place pantau watches: an office, a BTS, a hotspot, a VSAT, a router, a web service.

    A pydantic dataclass with slots, not a ``BaseModel``: the same validation at ~100 bytes a site
    instead of ~1.4 KB (a model keeps a ``__dict__`` and a set of the fields given), which is
    14 MiB of an agent's memory at 10,000 sites. Validate rows with :data:`SITE_ADAPTER`.
    """

    id: Annotated[str, Field(pattern=SITE_ID_PATTERN)]
    name: Annotated[str, Field(min_length=1)]
    kind: SiteKind
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    address: str | None = None
    probes: tuple[ProbeSpec, ...] = ()
    parent: str | None = None
    coverage_m: Annotated[float | None, Field(ge=0)] = None
    # The store's district column holds 64 characters (collector/schema.py).
    district: Annotated[str | None, Field(max_length=64)] = None
    #: Id of the site whose UPS reading (an ``snmp:PROFILE`` probe of its own device) tells
    #: whether this site's mains is out: ``power`` evidence for this site's outages (issue 16).
    ups: Annotated[str, Field(pattern=SITE_ID_PATTERN)] | None = None

    @field_validator("address", "parent", "district", "coverage_m", "ups", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None or is_ip(value):
            return value
        # A hostname's last label is never all digits (RFC 3696), so "300.1.1" is a typo'd IP.
        if _HOSTNAME.match(value) and not value.rstrip(".").rsplit(".", 1)[-1].isdigit():
            return value
        raise ValueError(f"{value!r} is neither an IP address nor a hostname")

    @field_validator("kind", "district")
    @classmethod
    def _shared(cls, value: str | None) -> str | None:
        # One string object per kind and district, not one per row (issue 18: 50,000 sites).
        return None if value is None else sys.intern(value)

    @field_validator("probes", mode="before")
    @classmethod
    def _probes(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _parse_probes(value)
        if isinstance(value, list | tuple):
            return tuple(p if isinstance(p, ProbeSpec) else ProbeSpec.parse(str(p)) for p in value)
        return value

    @field_validator("probes")
    @classmethod
    def _shared_probes(cls, value: tuple[ProbeSpec, ...]) -> tuple[ProbeSpec, ...]:
        # Validation builds a new tuple per row: hand out the first equal one instead.
        return _first_equal(value)

    def __post_init__(self) -> None:
        needing = [str(p) for p in self.probes if PROBES[p.kind].needs_address]
        if needing and not self.address:
            raise ValueError(f"probes {', '.join(needing)} need an address")


@functools.lru_cache(maxsize=1024)
def _parse_probes(text: str) -> tuple[ProbeSpec, ...]:
    """The probes of an inventory cell (``icmp;tcp:443``). Cached: most sites share a few
    probe lists, and a shared tuple of frozen specs costs nothing per site."""
    return tuple(ProbeSpec.parse(p) for p in text.split(";") if p.strip())


@functools.lru_cache(maxsize=1024)
def _first_equal(probes: tuple[ProbeSpec, ...]) -> tuple[ProbeSpec, ...]:
    """The first probe tuple seen equal to ``probes``, shared by every site that has it."""
    return probes


#: Validates one inventory row (a mapping of :data:`COLUMNS`) into a :class:`Site`.
SITE_ADAPTER: TypeAdapter[Site] = TypeAdapter(Site)


@dataclasses.dataclass(frozen=True, slots=True)
class Inventory:
    """The sites that loaded, and one message per row that did not."""

    sites: tuple[Site, ...]
    problems: tuple[str, ...] = ()

    def by_id(self) -> dict[str, Site]:
        return {s.id: s for s in self.sites}


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            msg = f"unknown field; known fields are {', '.join(COLUMNS)}"
        elif err["type"] == "literal_error" and loc == "kind":
            msg = f"unknown kind {err['input']!r}; use one of {', '.join(SITE_KINDS)}"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def _read_csv(path: Path, problems: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a CSV inventory as (where, row) pairs, one at a time (50,000 rows held at once
    were a 40 MiB peak at load); header and row-shape problems are appended to ``problems``."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        problems.append(
            f"{path}: inventory file not found; fix [inventory] sites or create the file"
        )
        return
    except UnicodeDecodeError as exc:
        problems.append(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
        )
        return
    except OSError as exc:  # a directory, no permission... (found by fuzzing)
        problems.append(
            f"{path}: cannot read the inventory ({exc.strerror}); fix [inventory] sites"
        )
        return
    # str.splitlines() also breaks at U+0085 and U+2028 inside fields; csv wants only CR/LF.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in ("id", "name", "kind", "lat", "lon") if c not in header]
    if missing:
        problems.append(
            f"{path}:1: header lacks column(s) {', '.join(missing)}; "
            f"the columns are {','.join(COLUMNS)}"
        )
        return
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        problems.append(
            f"{path}:1: unknown column(s) {', '.join(unknown)} ignored; "
            f"the columns are {','.join(COLUMNS)}"
        )
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if None in row:
            problems.append(f"{where}: more fields than the header has columns; quote commas")
            continue
        yield where, {k: v for k, v in row.items() if k in COLUMNS and v is not None}


def load_inventory(
    files: Sequence[Path],
    inline: Iterable[Mapping[str, Any]] = (),
    snmp_profiles: Iterable[str] = (),
    config_name: str = "config",
) -> Inventory:
    """Load sites from CSV files and inline ``[[sites]]`` tables.

    Parameters
    ----------
    files
        CSV inventories, columns as :data:`COLUMNS`, probes separated by ``;``.
    inline
        Site tables from the config file, in order.
    snmp_profiles
        Names of the configured SNMP profiles; ``snmp:NAME`` must name one of them.
    config_name
        How to name the config file in messages about inline sites.

    Returns
    -------
    Inventory
        Every valid site; every bad row reported once with its file and line.
    """
    # Reading problems (headers, row shapes) come first, then the rows' own, as when every row
    # was read before any was validated; rows are validated as they are read.
    problems: list[str] = []
    row_problems: list[str] = []
    raw = itertools.chain(
        ((f"{config_name}: sites[{i}]", dict(row)) for i, row in enumerate(inline)),
        *(_read_csv(path, problems) for path in files),
    )
    profiles = set(snmp_profiles)
    candidates: list[tuple[str, Site]] = []
    seen: dict[str, str] = {}
    for where, row in raw:
        try:
            site = SITE_ADAPTER.validate_python(row)
        except ValidationError as exc:
            row_problems.append(f"{where}: {_describe(exc)}")
            continue
        bad_profiles = [p.arg for p in site.probes if p.kind == "snmp" and p.arg not in profiles]
        if bad_profiles:
            known = ", ".join(sorted(profiles)) or "none configured"
            row_problems.append(
                f"{where}: probes: unknown SNMP profile {bad_profiles[0]!r}; "
                f"add [snmp.profiles.{bad_profiles[0]}] (known: {known})"
            )
            continue
        if site.id in seen:
            row_problems.append(
                f"{where}: id: duplicate id {site.id!r}, first defined at {seen[site.id]}"
            )
            continue
        seen[site.id] = where
        candidates.append((where, site))
    problems.extend(row_problems)

    # Dropping a row can orphan its children (and the sites its UPS powers): repeat until every
    # parent and UPS site exists and no parent chain loops.
    while True:
        ids = {s.id: s for _, s in candidates}
        parents = {s.id: s.parent for _, s in candidates}
        drop = set()
        for where, site in candidates:
            problem = parent_problem(site, ids, parents) or ups_problem(site, ids)
            if problem:
                problems.append(f"{where}: {problem}")
                drop.add(site.id)
        if not drop:
            break
        candidates = [(w, s) for w, s in candidates if s.id not in drop]

    return Inventory(tuple(s for _, s in candidates), tuple(redact_text(p) for p in problems))
