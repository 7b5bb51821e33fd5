"""How the report prints numbers, durations, areas and times, per language (pure functions).

Bahasa Indonesia writes a decimal comma and a thousands dot (99,65 %; 1.234,5 km²); English the
other way round. A missing figure (None or NaN) prints as the language's "no data", never as 0 or
100 %.
"""

from __future__ import annotations

import math
from datetime import datetime

from pantau.geo.reportstrings import MONTHS, ZONE_NAMES, text


def missing(value: object) -> bool:
    """True for None, NaN and pandas' NA; False for any other value (text included)."""
    if value is None:
        return True
    try:
        return math.isnan(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value is getattr(__import__("pandas"), "NA", None)


def number(value: float, decimals: int, lang: str) -> str:
    """``value`` with ``decimals`` places and the language's separators."""
    s = f"{value:,.{decimals}f}"
    if lang == "id":
        s = s.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return s


def percent(ratio: float | None, lang: str, decimals: int = 2) -> str:
    """A 0..1 ratio as a percentage (``99,65 %``); no data in words."""
    if missing(ratio):
        return text(lang, "no_data")
    assert ratio is not None
    return f"{number(100 * float(ratio), decimals, lang)} %"


def area(km2: float | None, lang: str) -> str:
    """Square kilometres with two decimals (``12,34 km²``)."""
    if missing(km2):
        return text(lang, "no_data")
    assert km2 is not None
    return f"{number(float(km2), 2, lang)} km²"


def duration(seconds: float | None, lang: str) -> str:
    """Hours and minutes (``2 j 30 m`` / ``2 h 30 min``), rounded to the minute."""
    if missing(seconds):
        return text(lang, "no_data")
    assert seconds is not None
    minutes = round(float(seconds) / 60)
    h, m = divmod(minutes, 60)
    return f"{h} j {m:02d} m" if lang == "id" else f"{h} h {m:02d} min"


def count(value: float | None, lang: str) -> str:
    """A whole number, or no data."""
    if missing(value):
        return text(lang, "no_data")
    assert value is not None
    return number(float(value), 0, lang)


def zone_name(moment: datetime, zone: str) -> str:
    """WIB, WITA, WIT for Indonesian zones, else ``UTC+hh:mm``."""
    if zone in ZONE_NAMES:
        return ZONE_NAMES[zone]
    if zone in ("UTC", "Etc/UTC"):
        return "UTC"
    offset = moment.utcoffset()
    total = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if total >= 0 else "-"
    return f"UTC{sign}{abs(total) // 60:02d}:{abs(total) % 60:02d}"


def date(moment: datetime, lang: str) -> str:
    """``1 November 2026``."""
    return f"{moment.day} {MONTHS[lang][moment.month - 1]} {moment.year}"


def when(moment: datetime, lang: str, zone: str) -> str:
    """``1 November 2026 08:00 WITA``."""
    return f"{date(moment, lang)} {moment:%H:%M} {zone_name(moment, zone)}"


def period(start: float, end: float, lang: str, zone: str) -> str:
    """``Periode: 1 November 2026 00:00 WITA – 1 Desember 2026 00:00 WITA`` (Unix seconds in)."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    a, b = (datetime.fromtimestamp(t, tz) for t in (start, end))
    return f"{text(lang, 'period')}: {when(a, lang, zone)} – {when(b, lang, zone)}"


def short(moment: datetime) -> str:
    """``2026-11-19 22:10`` for table cells (the zone is in the column header)."""
    return f"{moment:%Y-%m-%d %H:%M}"


def month(moment: datetime, lang: str) -> str:
    """``November 2026``."""
    return f"{MONTHS[lang][moment.month - 1]} {moment.year}"


def change(now: float | None, before: float | None, lang: str) -> str | None:
    """Signed change in km² and percent (``+1,20 km² (+3,4 %)``); None when either is missing."""
    if missing(now) or missing(before):
        return None
    assert now is not None and before is not None
    delta = float(now) - float(before)
    sign = "+" if delta > 0 else ("−" if delta < 0 else "±")
    out = f"{sign}{number(abs(delta), 2, lang)} km²"
    if before:
        out += f" ({sign}{number(abs(100 * delta / float(before)), 1, lang)} %)"
    return out


def missing_time(value: object) -> bool:
    """True for None and NaT (an outage still open has no end)."""
    return value is None or value != value
