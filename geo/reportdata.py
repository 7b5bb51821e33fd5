"""The monthly report's input: the figures of :class:`~pantau.geo.report.ReportTables`, laid out
for the document (no computation of a figure here).

The document (:mod:`pantau.geo.reportdoc`) takes a :class:`ReportData` and nothing else.
:func:`report_data` builds one from the tables that :func:`pantau.geo.report.report_tables` made
from the one implementation of the figures (availability, downtime, observed time, supervision,
gaps, no data). What only the presentation shows is added by small functions over those tables:
:func:`district_names` (the kelurahan name of an office or an outage), :func:`longest_outage`,
:func:`mean_blankspot_km2` (this period's and the previous one's, for the trend) and
:func:`withheld_without_data` (the maps of a period without any observation).
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from pantau.collector.availability import Availability

if TYPE_CHECKING:
    from pathlib import Path

    from pantau.geo.analysis import Analysis
    from pantau.geo.report import ReportTables

#: Columns of :attr:`ReportData.offices`, :attr:`ReportData.districts`, :attr:`ReportData.outages`.
OFFICE_COLUMNS = ("site", "name", "district_name", "availability", "downtime_s", "outages",
                  "longest_s")  # fmt: skip
DISTRICT_COLUMNS = ("district", "name", "sites_registered", "sites_supervised",
                    "supervision_coverage_ratio", "availability_ratio", "data_ratio",
                    "target_area_km2", "mean_blankspot_km2", "blankspot_ratio")  # fmt: skip
OUTAGE_COLUMNS = ("site", "name", "district_name", "cause", "start", "end", "duration_s",
                  "maintenance_s")  # fmt: skip
#: Columns of :attr:`ReportData.gaps`: sites with probes and time without data in the period.
GAP_COLUMNS = ("site", "name", "district_name", "unknown_s", "observed_s")


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
    outages: int | None
    downtime_s: float | None
    blankspot_km2: float | None  # mean blank area over the observed part of the period
    blankspot_km2_previous: float | None  # the same figure for the previous period
    target_km2: float


@dataclasses.dataclass(frozen=True)
class ReportData:
    """Everything the document shows. Times are aware datetimes in the report's zone."""

    start: datetime
    end: datetime  # exclusive
    data_to: datetime | None  # where the data stop, when before the end (a month in progress)
    has_data: bool  # False: nothing at all was observed in the period
    summary: Summary
    offices: pd.DataFrame  # OFFICE_COLUMNS, worst availability first, no data last
    districts: pd.DataFrame  # DISTRICT_COLUMNS
    outages: pd.DataFrame  # OUTAGE_COLUMNS, start/end as aware datetimes (end None while open)
    gaps: pd.DataFrame  # GAP_COLUMNS, most time without data first
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
    tables: ReportTables,
    analysis: Analysis,
    provenance: Provenance,
    *,
    previous: ReportTables | None = None,
) -> ReportData:
    """Lay out ``tables`` (of ``analysis``) for the document; ``previous``: the period before."""
    zone = ZoneInfo(tables.zone)
    period = tables.period.iloc[0]
    start, end = (datetime.fromtimestamp(period[c], zone) for c in ("start_unix", "end_unix"))
    names = district_names(tables.districts)
    sup = analysis.supervision.set_index(["district", "kind"]).loc[("ALL", "all")]
    coverage = float(sup["supervision_coverage_ratio"])
    offices = office_rows(tables, names)
    office_sites = tables.sites[tables.sites["kind"] == "office"]
    outages = tables.outages.copy()
    outages["district_name"] = outages["district"].map(names)
    for col in ("start", "end"):
        outages[col] = [datetime.fromisoformat(t) if isinstance(t, str) and t else None
                        for t in outages[col]]  # fmt: skip
    gaps = tables.gaps.copy()
    gaps["district_name"] = gaps["district"].map(names)
    summary = Summary(
        sites_registered=int(sup["registered"]),
        sites_supervised=int(sup["supervised"]),
        supervision_coverage=coverage if coverage == coverage else None,
        offices=len(offices),
        offices_with_data=int(offices["availability"].notna().sum()),
        office_availability=time_weighted(office_sites),
        # Without any observation "0 outages, 0 downtime" would read as good: no figure instead.
        outages=len(tables.outages) if tables.has_data else None,
        downtime_s=float(tables.sites["downtime_s"].sum()) if tables.has_data else None,
        blankspot_km2=mean_blankspot_km2(tables),
        blankspot_km2_previous=mean_blankspot_km2(previous) if previous is not None else None,
        target_km2=float(tables.districts["target_area_km2"].sum()),
    )
    return ReportData(
        start=start,
        end=end,
        data_to=datetime.fromtimestamp(period["data_to_unix"], zone)
        if period["data_to_unix"] < period["end_unix"]
        else None,
        has_data=tables.has_data,
        summary=summary,
        offices=offices,
        districts=district_rows(tables),
        outages=outages[list(OUTAGE_COLUMNS)].reset_index(drop=True),
        gaps=gaps[list(GAP_COLUMNS)].reset_index(drop=True),
        problems=analysis.problems,
        provenance=provenance,
    )


def district_names(districts: pd.DataFrame) -> pd.Series:
    """District code -> name, to print the kelurahan next to an office or an outage."""
    return districts.set_index("district")["name"]


def longest_outage(outages: pd.DataFrame) -> pd.Series:
    """Per site, its longest outage in the period outside maintenance (seconds).

    The part of an outage inside a maintenance window counts nowhere, as in the downtime.
    """
    outside = outages["duration_s"] - outages["maintenance_s"]
    return outside.groupby(outages["site"]).max()


def office_rows(tables: ReportTables, names: pd.Series) -> pd.DataFrame:
    """Per office: the tables' figures, its district's name and its longest outage."""
    frame = tables.offices.copy()
    frame["district_name"] = frame["district"].map(names)
    frame["longest_s"] = frame["site"].map(longest_outage(tables.outages))
    # An office with a figure and no outage had a longest outage of 0; without data, none.
    frame.loc[frame["availability"].notna(), "longest_s"] = frame["longest_s"].fillna(0.0)
    frame["outages"] = frame["outages"].astype("Float64")
    # Without data: no downtime nor outage count either (not 0, which would read as good).
    frame.loc[frame["availability"].isna(), ["downtime_s", "outages"]] = np.nan
    frame = frame.sort_values(["availability", "name"], na_position="last")
    return pd.DataFrame(frame[list(OFFICE_COLUMNS)]).reset_index(drop=True)


def time_weighted(sites: pd.DataFrame) -> float | None:
    """Availability of a group of sites: their seconds summed as a district's are (the one
    implementation's :class:`~pantau.collector.availability.Availability`); None without data."""
    total = sum(
        (
            Availability(up_seconds=float(up), down_seconds=float(down))
            for up, down in zip(sites["up_s"], sites["downtime_s"], strict=True)
        ),
        Availability(),
    )
    return total.ratio


def district_rows(tables: ReportTables) -> pd.DataFrame:
    """Per district, in code order, with the mean blank area over the observed period."""
    frame = tables.districts.copy()
    frame["mean_blankspot_km2"] = frame["mean_blankspot_ratio"] * frame["target_area_km2"]
    # A district with nothing registered has no supervision figure, not 0 % nor 100 %.
    frame.loc[frame["sites_registered"] == 0, "supervision_coverage_ratio"] = np.nan
    if not tables.has_data:
        frame[["mean_blankspot_km2", "blankspot_ratio"]] = np.nan
    return (
        pd.DataFrame(frame[list(DISTRICT_COLUMNS)]).sort_values("district").reset_index(drop=True)
    )


def mean_blankspot_km2(tables: ReportTables) -> float | None:
    """Blank area averaged over the period's observed time (the analysis' mean blankspot ratio
    times the target area); None when nothing was observed or there is no district."""
    d = tables.districts
    if not tables.has_data or d.empty:
        return None
    return float((d["mean_blankspot_ratio"] * d["target_area_km2"]).sum())


def withheld_without_data(analysis: Analysis, has_data: bool) -> Analysis:
    """``analysis`` as the report's maps draw it.

    When nothing at all was observed in the period (``has_data`` of its tables is False) every
    district ratio is withheld, so each map hatches "no data" instead of a one-class colour
    scale (the summary and the tables still state the figures: 0 % supervised, no availability).
    """
    if has_data:
        return analysis
    districts = analysis.districts.copy()
    districts[["supervision_coverage_ratio", "availability_ratio", "blankspot_ratio"]] = np.nan
    return dataclasses.replace(analysis, districts=districts)
