"""Where site states and outage history come from: a file, or the collector's HTTP API.

This is an I/O edge. Whatever the source, it yields :class:`Observations`: two plain tables the
pure geo functions take. Anything that can produce them (the collector's store, its HTTP API, a
JSON or CSV file written by hand) satisfies :class:`ObservationSource`.

Wire forms accepted (JSON; times are RFC 3339 strings or Unix seconds)::

    {"sites":   [{"site": "bts-1", "state": "up", "last_result": "2026-11-23T18:00:00Z"}],
     "outages": [{"site": "bts-1", "start": "...", "end": null, "cause": "down"}]}

``/api/v1/sites`` may answer the ``sites`` list (or ``{"time": ..., "sites": [...]}``: the
collector's own form, whose ``time`` stands in for ``last_result``), ``/api/v1/outages`` the
``outages`` list (or ``{"outages": [...]}``); ``id`` is accepted for ``site``, and
``last_seen``/``updated`` for ``last_result``; ``unreachable`` counts as ``down``. A CSV file
holds either states (columns ``site,state,last_result``) or outages (``site,start,end[,cause]``).
"""

from __future__ import annotations

import dataclasses
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from pantau.errors import ConfigError, PantauError
from pantau.events import format_time, parse_time
from pantau.webconfig import basic_auth_header

STATE_COLUMNS = ("site", "state", "last_result")
OUTAGE_COLUMNS = ("site", "start", "end", "cause")


@dataclasses.dataclass(frozen=True)
class Observations:
    """Current site states and outage history, as the geo functions take them."""

    states: pd.DataFrame  # site, state, last_result (Unix s, NaN when never)
    outages: pd.DataFrame  # site, start, end (NaN while open), cause


class ObservationSource(Protocol):
    """Anything that yields observations for a period (the collector's store can implement it)."""

    def observations(self, start: float, end: float) -> Observations: ...


def _time(value: Any, where: str) -> float:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return float("nan")
    if isinstance(value, int | float):
        return float(value)
    try:
        return parse_time(str(value))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}; use RFC 3339 like 2026-11-23T18:00:00Z") from None


def observations_from_records(
    sites: list[dict[str, Any]],
    outages: list[dict[str, Any]],
    where: str,
    decided_at: Any = None,
) -> Observations:
    """Validate wire records (see the module docstring) into :class:`Observations`.

    ``unreachable`` (down behind a down parent) counts as ``down``: no connectivity either way.
    ``decided_at`` stands in for a missing ``last_result`` of a site in a known state (the
    collector's answer time: it vouches for the states it reports).
    """
    states = []
    for i, rec in enumerate(sites):
        at = f"{where}: sites[{i}]"
        site = rec.get("site", rec.get("id"))
        state = rec.get("state", "unknown")
        state = "down" if state == "unreachable" else state
        if not site or state not in ("up", "down", "unknown"):
            raise ConfigError(f"{at}: needs 'site' and a state of up, down, unreachable or unknown")
        last = rec.get("last_result", rec.get("last_seen", rec.get("updated")))
        if last is None and state != "unknown":
            last = decided_at
        states.append((str(site), state, _time(last, at)))
    rows = []
    for i, rec in enumerate(outages):
        at = f"{where}: outages[{i}]"
        if not rec.get("site") or rec.get("start") is None:
            raise ConfigError(f"{at}: needs 'site' and 'start'")
        start, end = _time(rec["start"], at), _time(rec.get("end"), at)
        if end < start:
            raise ConfigError(f"{at}: end is before start")
        rows.append((str(rec["site"]), start, end, str(rec.get("cause") or "down")))
    return Observations(
        pd.DataFrame(states, columns=list(STATE_COLUMNS)).astype({"last_result": float}),
        pd.DataFrame(rows, columns=list(OUTAGE_COLUMNS)).astype({"start": float, "end": float}),
    )


def _listing(obj: Any, key: str) -> list[dict[str, Any]]:
    if isinstance(obj, dict):
        obj = obj.get(key, [])
    if not isinstance(obj, list) or not all(isinstance(r, dict) for r in obj):
        raise ValueError(f"expected a list of objects under {key!r}")
    return obj


@dataclasses.dataclass(frozen=True)
class FileSource:
    """Observations from a JSON file (both tables) or a CSV file (one of them)."""

    path: Path

    def observations(self, start: float, end: float) -> Observations:
        where = str(self.path)
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{where}: state file not found; pass --state FILE") from None
        if self.path.suffix.lower() == ".csv":
            frame = pd.read_csv(self.path, dtype=str, keep_default_na=False)
            records = [{k: (v or None) for k, v in r.items()} for r in frame.to_dict("records")]
            if "start" in frame.columns:
                return observations_from_records([], records, where)
            return observations_from_records(records, [], where)
        try:
            data = json.loads(text)
            return observations_from_records(
                _listing(data, "sites"), _listing(data, "outages"), where
            )
        except (json.JSONDecodeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(
                f"{where}: not a state file ({exc}); see pantau.geo.sources"
            ) from None


@dataclasses.dataclass(frozen=True)
class CollectorSource:
    """Observations from the collector's HTTP API (``/api/v1/sites``, ``/api/v1/outages``)."""

    base_url: str
    timeout: float = 10.0
    ca_file: Path | None = None  # verifies an https:// collector (the system CAs without it)
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)

    def _get(self, path: str, query: dict[str, str]) -> Any:
        url = f"{self.base_url.rstrip('/')}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(url)
        if self.username is not None and self.password is not None:
            request.add_header("Authorization", basic_auth_header(self.username, self.password))
        context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=context) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
            raise PantauError(
                f"collector at {self.base_url}: {path} failed ({exc}); start it "
                "(pantau collector) or pass --state FILE"
            ) from None

    def observations(self, start: float, end: float) -> Observations:
        sites = self._get("/api/v1/sites", {})
        period = {"from": format_time(start), "to": format_time(end), "limit": "10000"}
        outages = self._get("/api/v1/outages", period)
        try:
            return observations_from_records(
                _listing(sites, "sites"),
                _listing(outages, "outages"),
                self.base_url,
                decided_at=sites.get("time") if isinstance(sites, dict) else None,
            )
        except ValueError as exc:
            raise PantauError(f"collector at {self.base_url}: unexpected answer ({exc})") from None


def states_at(site_ids: list[str], outages: pd.DataFrame, at: float) -> pd.DataFrame:
    """Site states at a past time from outage history: down inside an outage, else up.

    ``last_result`` is set to ``at`` for every site the history knows about, so that a site with
    probes counts as supervised then; history cannot tell more.
    """
    end = outages["end"].fillna(np.inf)
    down = set(outages["site"][(outages["start"] <= at) & (end > at)])
    return pd.DataFrame(
        {
            "site": site_ids,
            "state": ["down" if s in down else "up" for s in site_ids],
            "last_result": float(at),
        }
    )
