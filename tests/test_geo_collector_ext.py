"""Geo inside the collector: the per-district gauges over the latest analysis."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
from pantau.geo.collector_ext import DistrictMetrics
from prometheus_client import CollectorRegistry


def test_gauges_follow_the_latest_analysis_and_never_fake_zero():
    view = types.SimpleNamespace(latest=None)  # DistrictView's one attribute the metrics read
    registry = CollectorRegistry()
    registry.register(DistrictMetrics(view))
    assert registry.get_sample_value("pantau_district_blankspot_ratio", {"district": "A"}) is None
    view.latest = types.SimpleNamespace(
        districts=pd.DataFrame(
            {
                "district": ["A", "B"],
                "blankspot_ratio": [0.25, 1.0],
                "supervision_coverage_ratio": [0.5, np.nan],  # B has no registered site
            }
        )
    )
    get = registry.get_sample_value
    assert get("pantau_district_blankspot_ratio", {"district": "A"}) == 0.25
    assert get("pantau_district_blankspot_ratio", {"district": "B"}) == 1.0
    assert get("pantau_district_supervision_coverage_ratio", {"district": "A"}) == 0.5
    assert get("pantau_district_supervision_coverage_ratio", {"district": "B"}) is None
