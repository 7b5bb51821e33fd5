"""CSV cells a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``...) made inert.

Every CSV pantau writes for people (geo's summary.csv, offices.csv, districts.csv, outages.csv)
goes through :func:`safe_frame`: a text cell starting with one of :data:`FORMULA_STARTS` gets a
leading apostrophe, which spreadsheets show as text (OWASP "CSV injection"). Numbers stay
numbers: a negative latitude is not text and is not touched.
"""

from __future__ import annotations

from typing import Any, TypeVar

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

F = TypeVar("F")


def safe_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_frame(frame: F) -> F:
    """A copy of a pandas DataFrame with :func:`safe_cell` applied to its text columns."""
    out = frame.copy()  # type: ignore[attr-defined]
    for column in out.select_dtypes(include=["object", "string"]).columns:
        out[column] = out[column].map(safe_cell)
    return out  # type: ignore[no-any-return]
