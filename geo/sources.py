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

Availability needs each site's decided timeline (``GET /api/v1/timelines``, or a ``timelines``
object in a JSON file, in the same form)::

    {"now": 1764547200.0,
     "timelines": {"bts-1": {"timeline": [[1764547200.0, "up"], [1764550800.0, "down"]],
                             "maintenance": [[1764550000.0, 1764551000.0]]}}}

A site without a timeline has no data: it gets no availability figure and is not supervised in
the period (docs/contracts.md, "How availability is computed").
"""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from pantau.collector.votes import Timeline, state_at
from pantau.errors import ConfigError, PantauError
from pantau.events import format_time, parse_time

STATE_COLUMNS = ("site", "state", "last_result")
OUTAGE_COLUMNS = ("site", "start", "end", "cause")


@dataclasses.dataclass(frozen=True)
class Observations:
    """Current site states, outage history and decided timelines, as the geo functions take them.

    ``timelines`` and ``windows`` (maintenance per site) feed
    :func:`pantau.collector.availability.figures`; ``now`` is the time up to which the source
    knows anything (None: the caller's clock).
    """

    states: pd.DataFrame  # site, state, last_result (Unix s, NaN when never)
    outages: pd.DataFrame  # site, start, end (NaN while open), cause
    timelines: Mapping[str, Timeline] = dataclasses.field(default_factory=dict)
    windows: Mapping[str, list[tuple[float, float]]] = dataclasses.field(default_factory=dict)
    now: float | None = None


def timelines_from_records(
    records: Any, where: str
) -> tuple[dict[str, Timeline], dict[str, list[tuple[float, float]]]]:
    """Validate ``{site: {"timeline": [[t, state], ...], "maintenance": [[s, e], ...]}}``."""
    if not isinstance(records, dict):
        raise ConfigError(f"{where}: timelines must be an object of site ids")
    timelines: dict[str, Timeline] = {}
    windows: dict[str, list[tuple[float, float]]] = {}
    for site, rec in records.items():
        at = f"{where}: timelines[{site!r}]"
        rec = {"timeline": rec} if isinstance(rec, list) else rec
        if not isinstance(rec, dict) or not isinstance(rec.get("timeline", []), list):
            raise ConfigError(f"{at}: needs a 'timeline' list of [time, state]")
        points: list[tuple[float, str]] = []
        for i, item in enumerate(rec.get("timeline", [])):
            if not (isinstance(item, list | tuple) and len(item) == 2):
                raise ConfigError(f"{at}.timeline[{i}]: expected [time, state]")
            t, state = _time(item[0], f"{at}.timeline[{i}]"), item[1]
            if state not in ("up", "down", "unknown"):
                raise ConfigError(f"{at}.timeline[{i}]: state must be up, down or unknown")
            if points and t < points[-1][0]:
                raise ConfigError(f"{at}.timeline[{i}]: times must not go back")
            points.append((t, str(state)))
        spans = []
        for i, item in enumerate(rec.get("maintenance", [])):
            if not (isinstance(item, list | tuple) and len(item) == 2):
                raise ConfigError(f"{at}.maintenance[{i}]: expected [start, end]")
            a, b = (_time(v, f"{at}.maintenance[{i}]") for v in item)
            spans.append((a, b))
        timelines[str(site)], windows[str(site)] = tuple(points), spans
    return timelines, windows


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
            obs = observations_from_records(
                _listing(data, "sites"), _listing(data, "outages"), where
            )
            if isinstance(data, dict) and "timelines" in data:
                timelines, windows = timelines_from_records(data["timelines"], where)
                now = _time(data.get("now"), f"{where}: now")
                obs = dataclasses.replace(
                    obs, timelines=timelines, windows=windows, now=None if now != now else now
                )
            return obs
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

    def _get(self, path: str, query: dict[str, str]) -> Any:
        url = f"{self.base_url.rstrip('/')}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
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
        decided = self._get("/api/v1/timelines", {"from": period["from"], "to": period["to"]})
        try:
            obs = observations_from_records(
                _listing(sites, "sites"),
                _listing(outages, "outages"),
                self.base_url,
                decided_at=sites.get("time") if isinstance(sites, dict) else None,
            )
            timelines, windows = timelines_from_records(decided.get("sites"), self.base_url)
            now = float(decided["now"])
            return dataclasses.replace(obs, timelines=timelines, windows=windows, now=now)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PantauError(f"collector at {self.base_url}: unexpected answer ({exc})") from None


def states_at(
    site_ids: list[str], timelines: Mapping[str, Timeline], at: float, since: float | None = None
) -> pd.DataFrame:
    """Site states at a past time from the decided timelines (``unknown`` where none is known).

    ``last_result`` is ``at`` for a site observed then (with ``since``: observed at any time in
    ``[since, at]``, i.e. supervised in that period), NaN otherwise: a site the history does not
    know is never counted as supervised.
    """
    states, seen = [], []
    for site in site_ids:
        timeline = timelines.get(site, ())
        state = state_at(timeline, at)
        states.append(state)
        if since is None:
            known = state != "unknown"
        else:
            known = state_at(timeline, since) != "unknown" or any(
                since <= t <= at and s != "unknown" for t, s in timeline
            )
        seen.append(float(at) if known else float("nan"))
    return pd.DataFrame({"site": site_ids, "state": states, "last_result": seen})
