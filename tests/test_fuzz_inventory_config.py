"""Fuzz targets: inventory CSV and the config loader never crash, say what is wrong, lose nothing.

Run counts: ``PANTAU_FUZZ_EXAMPLES`` examples per target (docs/testing.md).
"""

from __future__ import annotations

import csv
import io
import itertools
import string
from pathlib import Path

import tomli_w
from fuzzing import FUZZ
from hypothesis import example, given
from hypothesis import strategies as st

from pantau.config import check_config, load_config
from pantau.errors import ConfigError
from pantau.inventory import COLUMNS, load_inventory

_DIRS = itertools.count()

GOOD = {
    "id": "site-a",
    "name": "Kantor",
    "kind": "office",
    "lat": "-1.25",
    "lon": "116.83",
    "address": "198.18.0.1",
    "probes": "icmp;tcp:443",
    "parent": "",
    "coverage_m": "100",
    "district": "64.71.04.1001",
}

#: Text that stresses CSV and field parsers: separators, quotes, Unicode line breaks, NUL.
NASTY = st.text(
    alphabet=st.sampled_from(
        [*string.printable, ",", '"', ";", ":", "\x00", "\u2028", "\x1c", "é", "\ufeff", "\r"]
    ),
    max_size=30,
)
FIELD_VALUES = {
    "id": st.one_of(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), NASTY),
    "kind": st.one_of(
        st.sampled_from(["office", "bts", "hotspot", "vsat", "router", "web"]), NASTY
    ),
    "lat": st.one_of(st.floats(allow_nan=True).map(str), NASTY),
    "lon": st.one_of(st.floats(allow_nan=True).map(str), NASTY),
    "address": st.one_of(st.ip_addresses().map(str), NASTY, st.just("")),
    "probes": st.one_of(
        st.sampled_from(
            ["icmp", "tcp:80", "http:http://x/", "snmp:nope", "icmp;tcp:0", "tcp:99999", ""]
        ),
        NASTY,
    ),
    "parent": st.one_of(st.just(""), st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)),
    "coverage_m": st.one_of(st.just(""), st.floats().map(str), NASTY),
}


@st.composite
def rows(draw: st.DrawFn) -> dict[str, str]:
    row = dict(GOOD)
    for key in draw(st.sets(st.sampled_from(sorted(FIELD_VALUES)))):
        row[key] = draw(FIELD_VALUES[key])
    return row


def _fresh(tmp_path: Path) -> Path:
    d = tmp_path / f"ex{next(_DIRS)}"
    d.mkdir()
    return d


def _write_csv(path: Path, data: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(data)


@FUZZ
@given(data=st.lists(rows(), max_size=12), sentinel_at=st.integers(0, 12))
def test_inventory_csv_each_row_loads_or_is_reported_once(
    tmp_path: Path, data: list[dict[str, str]], sentinel_at: int
) -> None:
    sentinel = {**GOOD, "id": "sentinel-ok", "parent": ""}
    data = [r for r in data if r["id"] != "sentinel-ok"]
    data.insert(min(sentinel_at, len(data)), sentinel)
    path = _fresh(tmp_path) / "sites.csv"
    _write_csv(path, data)
    inv = load_inventory([path])
    # Nothing lost, nothing invented: every written row either loaded or has one message.
    assert len(inv.sites) + len(inv.problems) == len(data), inv.problems
    assert all(p.startswith(f"{path}:") for p in inv.problems), inv.problems
    assert "sentinel-ok" in {s.id for s in inv.sites}, inv.problems


@FUZZ
@given(raw=st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_inventory_csv_arbitrary_bytes_never_crash(tmp_path: Path, raw: bytes) -> None:
    path = _fresh(tmp_path) / "sites.csv"
    path.write_bytes(b"id,name,kind,lat,lon,address,probes\n" + raw)
    inv = load_inventory([path])
    assert all(p.startswith(f"{path}") for p in inv.problems), inv.problems
    for site in inv.sites:
        assert site.kind in {"office", "bts", "hotspot", "vsat", "router", "web"}
        assert -90 <= site.lat <= 90 and -180 <= site.lon <= 180


SCALARS = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=20),
    st.sampled_from(["127.0.0.1:9469", "sqlite:///x.db", "http://127.0.0.1:1", "2c", "3", "SHA"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=4)
KEYS = {
    "agent": [
        "name",
        "listen",
        "state_dir",
        "canaries",
        "down_after",
        "up_after",
        "max_concurrency",
        "traceroute",
        "bogus",
    ],
    "collector": ["listen", "database", "database_env", "agents", "pull_interval", "quorum"],
    "geo": ["districts", "id_field", "snap_m", "coverage_m", "blankspot_threshold"],
    "inventory": ["sites"],
    "agent.icmp": ["interval", "timeout", "count", "rate", "period", "payload_size"],
    "snmp.profiles.p": [
        "version",
        "community",
        "community_env",
        "user",
        "auth_protocol",
        "auth_key_env",
        "port",
        "retries",
    ],
}


@st.composite
def configs(draw: st.DrawFn) -> dict[str, object]:
    doc: dict[str, object] = {}
    for section in draw(st.sets(st.sampled_from(sorted(KEYS)))):
        table = doc
        for part in section.split("."):
            table = table.setdefault(part, {})  # type: ignore[assignment]
        for key in draw(st.sets(st.sampled_from(KEYS[section]), max_size=4)):
            table[key] = draw(VALUES)  # type: ignore[index]
    return doc


@FUZZ
@given(doc=configs())
@example(doc={"inventory": {"sites": [""]}})  # a directory as inventory crashed the loader
def test_config_loader_fails_only_with_clear_config_errors(
    tmp_path: Path, doc: dict[str, object]
) -> None:
    path = _fresh(tmp_path) / "pantau.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    try:
        config = load_config(path)
    except ConfigError as exc:
        assert exc.problems and all(p.startswith(f"{path}:") for p in exc.problems), exc.problems
        return
    # A config that loads keeps what the file said.
    for section, table in doc.items():
        if section in ("agent", "collector") and isinstance(table, dict):
            for key, value in table.items():
                if isinstance(value, str) and key in ("name", "listen"):
                    assert getattr(getattr(config, section), key) == value
    config2, problems = check_config(path)
    assert config2 is not None and all(p.startswith(str(path)) or ":" in p for p in problems)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_config_loader_arbitrary_bytes(tmp_path: Path, raw: bytes) -> None:
    path = _fresh(tmp_path) / "pantau.toml"
    path.write_bytes(raw)
    try:
        load_config(path)
    except ConfigError as exc:
        assert all(p.startswith(f"{path}:") for p in exc.problems), exc.problems


def test_fuzz_helpers_write_what_they_say(tmp_path: Path) -> None:
    # The harness itself: a GOOD row written by _write_csv loads as one site.
    path = tmp_path / "one.csv"
    _write_csv(path, [GOOD])
    assert [s.id for s in load_inventory([path]).sites] == ["site-a"]
    assert io.StringIO(path.read_text()).readline().startswith("id,name,kind")
