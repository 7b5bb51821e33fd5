"""The monthly report's input: plain figures and tables, built from an analysis (no presentation).

The document (:mod:`pantau.geo.reportdoc`) takes a :class:`ReportData` and nothing else, so the
computation behind it can change without touching the document. :func:`report_data` builds one
from today's :class:`~pantau.geo.analysis.Analysis`. A few fields the analysis does not carry yet
are derived here by small, separately named functions (:func:`office_rows` adds the kelurahan
name and the longest outage, :func:`office_availability` the offices' figure,
:func:`observed_gaps` the gaps); they belong on the one implementation of the figures and move
there when it has them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pathlib import Path

    from pantau.geo.analysis import Analysis

#: Columns of :attr:`ReportData.offices`, :attr:`ReportData.districts`, :attr:`ReportData.outages`.
OFFICE_COLUMNS = ("site", "name", "district_name", "availability", "downtime_s", "outages",
                  "longest_s")  # fmt: skip
DISTRICT_COLUMNS = ("district", "name", "sites_registered", "sites_supervised",
                    "supervision_coverage_ratio", "availability_ratio", "target_area_km2",
                    "blankspot_km2", "mean_blankspot_km2", "blankspot_ratio")  # fmt: skip
OUTAGE_COLUMNS = ("site", "name", "district_name", "cause", "start", "end", "duration_s")


@dataclasses.dataclass(frozen=True)
class Provenance:
    """What a reader needs to trace a figure back: who made it, when, from which inputs."""

    region: str
    timezone: str
    made: datetime  # aware, local
    version: str
    config_digest: str
    inventory_digest: str
    district_layer: str


@dataclasses.dataclass(frozen=True)
class Summary:
    """The one-page summary; ``None`` means no data (printed as such, never as a good figure)."""

    sites_registered: int
    sites_supervised: int
    supervision_coverage: float | None
    offices: int
    offices_with_data: int
    office_availability: float | None
    outages: int
    downtime_s: float
    blankspot_km2: float | None  # mean blank area over the period
    blankspot_km2_previous: float | None  # the same figure for the previous period
    target_km2: float


@dataclasses.dataclass(frozen=True)
class ReportData:
    """Everything the document shows. Times are aware datetimes in the report's zone."""

    start: datetime
    end: datetime  # exclusive
    summary: Summary
    offices: pd.DataFrame  # OFFICE_COLUMNS, worst availability first, no data last
    districts: pd.DataFrame  # DISTRICT_COLUMNS
    outages: pd.DataFrame  # OUTAGE_COLUMNS, start/end as aware datetimes (end NaT while open)
    gaps: tuple[tuple[datetime, datetime, str], ...]  # (from, to, why) without observations
    problems: tuple[str, ...]
    provenance: Provenance
    maps: dict[str, Path] = dataclasses.field(default_factory=dict)  # stem -> PNG for the page


def digest(chunks: list[bytes]) -> str:
    """A short SHA-256 over ``chunks`` (16 hex digits): equal inputs, equal digest."""
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(hashlib.sha256(chunk).digest())
    return h.hexdigest()[:16]


def report_data(
    analysis: Analysis,
    provenance: Provenance,
    *,
    now: float,
    previous: Analysis | None = None,
) -> ReportData:
    """Collect the report's figures from ``analysis`` (and ``previous``, the period before)."""
    zone = ZoneInfo(provenance.timezone)
    names = analysis.districts.set_index("district")["name"]
    offices = office_rows(analysis, names)
    districts = district_rows(analysis)
    outages = analysis.outages.copy()
    outages["district_name"] = outages["district"].map(names)
    for col in ("start", "end"):
        outages[col] = pd.to_datetime(outages[col], unit="s", utc=True).dt.tz_convert(zone)
    sup = analysis.supervision.set_index(["district", "kind"]).loc[("ALL", "all")]
    registered, supervised = int(sup["registered"]), int(sup["supervised"])
    gaps = observed_gaps(analysis, now, zone)
    unobserved = any(why == "no_observation" for _, _, why in gaps)
    if unobserved:
        # Nothing was observed: no site has a figure, whatever a computation defaulted to.
        offices[["availability", "downtime_s", "outages", "longest_s"]] = np.nan
        districts[["supervision_coverage_ratio", "availability_ratio"]] = np.nan
    availability, with_data = office_availability(offices)
    summary = Summary(
        sites_registered=registered,
        sites_supervised=supervised,
        supervision_coverage=supervised / registered if registered and not unobserved else None,
        offices=len(offices),
        offices_with_data=with_data,
        office_availability=availability,
        outages=len(outages),
        downtime_s=float(outages["duration_s"].sum()),
        blankspot_km2=None if unobserved else mean_blankspot_km2(analysis),
        blankspot_km2_previous=_observed_blankspot(previous, now, zone),
        target_km2=float(analysis.districts["target_area_km2"].sum()),
    )
    return ReportData(
        start=datetime.fromtimestamp(analysis.start, zone),
        end=datetime.fromtimestamp(analysis.end, zone),
        summary=summary,
        offices=offices,
        districts=districts,
        outages=outages[list(OUTAGE_COLUMNS)].reset_index(drop=True),
        gaps=gaps,
        problems=analysis.problems,
        provenance=provenance,
    )


def office_rows(analysis: Analysis, names: pd.Series) -> pd.DataFrame:
    """Per office: its district's name and its longest outage in the period (stopgap here)."""
    sites = analysis.sites
    frame = sites[sites["kind"] == "office"].copy()
    frame["district_name"] = frame["district"].map(names)
    longest = analysis.outages.groupby("site")["duration_s"].max()
    frame["longest_s"] = frame["site"].map(longest)
    frame.loc[frame["availability"].notna(), "longest_s"] = frame["longest_s"].fillna(0.0)
    frame["outages"] = frame["outages"].astype("Float64")
    frame = frame.sort_values(["availability", "name"], na_position="last")
    return pd.DataFrame(frame[list(OFFICE_COLUMNS)]).reset_index(drop=True)


def district_rows(analysis: Analysis) -> pd.DataFrame:
    """Per district, in code order, with the period's mean blank area."""
    frame = analysis.districts.drop(columns="geometry").copy()
    hours = (analysis.end - analysis.start) / 3600.0
    frame["mean_blankspot_km2"] = frame["blankspot_km2h"] / hours
    # A district with nothing registered has no supervision figure, not 0 % nor 100 %.
    frame.loc[frame["sites_registered"] == 0, "supervision_coverage_ratio"] = np.nan
    return (
        pd.DataFrame(frame[list(DISTRICT_COLUMNS)]).sort_values("district").reset_index(drop=True)
    )


def as_observed(analysis: Analysis, now: float) -> Analysis:
    """``analysis`` with every figure withheld when nothing at all was observed in its period.

    For drawing the report's maps: a month without any observation shows "no data" everywhere,
    whatever a computation defaulted to (stopgap until the one computation says so itself).
    """
    if not any(
        why == "no_observation" for _, _, why in observed_gaps(analysis, now, ZoneInfo("UTC"))
    ):
        return analysis
    districts = analysis.districts.copy()
    districts[["supervision_coverage_ratio", "availability_ratio", "blankspot_ratio"]] = np.nan
    sites = analysis.sites.copy()
    sites["state"] = "unknown"
    return dataclasses.replace(analysis, districts=districts, sites=sites)


def _observed_blankspot(previous: Analysis | None, now: float, zone: ZoneInfo) -> float | None:
    """The previous period's blank area, or None when nothing was observed in it."""
    if previous is None:
        return None
    if any(why == "no_observation" for _, _, why in observed_gaps(previous, now, zone)):
        return None
    return mean_blankspot_km2(previous)


def office_availability(offices: pd.DataFrame) -> tuple[float | None, int]:
    """Mean availability of the offices that have a figure, and how many have one (stopgap)."""
    figures = offices["availability"].dropna()
    return (float(figures.mean()) if len(figures) else None), len(figures)


def mean_blankspot_km2(analysis: Analysis) -> float | None:
    """Blank area averaged over the period (km2 x hours / hours); None without a district."""
    if analysis.districts.empty:
        return None
    hours = (analysis.end - analysis.start) / 3600.0
    value = float(analysis.districts["blankspot_km2h"].sum()) / hours
    return value if math.isfinite(value) else None


def observed_gaps(
    analysis: Analysis, now: float, zone: ZoneInfo
) -> tuple[tuple[datetime, datetime, str], ...]:
    """Stretches of the period without observations that today's data can tell (stopgap).

    The part of the period after ``now`` has not happened; a period in which no site ever
    reported has no data at all. Per-site observed time belongs to the one computation.
    """
    start, end = analysis.start, analysis.end
    last = analysis.sites["last_result"].astype(float)
    seen = last[(last >= start) & (last < end)]
    gaps = []
    if not len(seen) and analysis.outages.empty:
        gaps.append((start, min(end, now), "no_observation"))
    if now < end:
        gaps.append((max(start, now), end, "not_yet"))
    return tuple(
        (datetime.fromtimestamp(a, zone), datetime.fromtimestamp(b, zone), why)
        for a, b, why in gaps
        if b > a
    )
