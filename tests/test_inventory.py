"""Inventory loading: every bad row reported with file and line, the rest still loads."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pantau.inventory import ProbeSpec, load_inventory

HEADER = "id,name,kind,lat,lon,address,probes,parent,coverage_m,district\n"


def write(tmp_path, body, name="sites.csv"):
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


BAD_ROWS = {
    "unknown-kind": ("x,X,tower,0,0,127.0.0.1,icmp,,,", "kind: unknown kind 'tower'"),
    "lat-range": ("x,X,office,91,0,127.0.0.1,icmp,,,", "lat: Input should be less than or equal"),
    "lon-range": ("x,X,office,0,-181,127.0.0.1,icmp,,,", "lon: Input should be greater"),
    "lat-text": ("x,X,office,abc,0,127.0.0.1,icmp,,,", "lat: Input should be a valid number"),
    "bad-address": ("x,X,office,0,0,300.1.1,icmp,,,", "address: '300.1.1' is neither"),
    "space-address": (
        "x,X,office,0,0,a b,icmp,,,",
        "'a b' is neither an IP address nor a hostname",
    ),
    "missing-parent": ("x,X,office,0,0,127.0.0.1,icmp,ghost,,", "parent: 'ghost' does not exist"),
    "self-parent": ("x,X,office,0,0,127.0.0.1,icmp,x,,", "a site cannot be its own parent"),
    "bad-probe": ("x,X,office,0,0,127.0.0.1,ftp,,,", "unknown probe kind 'ftp'"),
    "bad-port": ("x,X,office,0,0,127.0.0.1,tcp:99999,,,", "needs a port 1-65535"),
    "bad-url": ("x,X,web,0,0,,http:ftp://x,,,", "needs an http(s) URL"),
    "no-address": ("x,X,office,0,0,,icmp,,,", "probes icmp need an address"),
    "unknown-profile": ("x,X,router,0,0,127.0.0.1,snmp:core,,,", "unknown SNMP profile 'core'"),
    "bad-id": ("x y,X,office,0,0,127.0.0.1,icmp,,,", "id: String should match pattern"),
    "negative-coverage": ("x,X,bts,0,0,127.0.0.1,icmp,,-5,", "coverage_m: Input should be greater"),
    # The store's district column holds 64 characters: longer would stall outage derivation.
    "long-district": (
        "x,X,office,0,0,127.0.0.1,icmp,,," + "d" * 65,
        "district: String should have at most 64 characters",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_ROWS), ids=sorted(BAD_ROWS))
def test_bad_row_is_reported_with_file_and_line_and_the_rest_loads(tmp_path, name):
    bad, expected = BAD_ROWS[name]
    path = write(
        tmp_path,
        f"good1,G1,office,-1.2,116.8,127.0.0.1,icmp,,,\n{bad}\n"
        "good2,G2,bts,-1.3,116.9,127.0.0.2,icmp;tcp:22,good1,3000,\n",
    )
    inv = load_inventory([path])
    assert [s.id for s in inv.sites] == ["good1", "good2"]
    assert len(inv.problems) == 1, inv.problems
    assert inv.problems[0].startswith(f"{path}:3: ")
    assert expected in inv.problems[0]


def test_duplicate_id_keeps_first_and_names_it(tmp_path):
    path = write(tmp_path, "a,A,office,0,0,127.0.0.1,icmp,,,\na,A2,office,0,0,127.0.0.2,icmp,,,\n")
    inv = load_inventory([path])
    assert [s.name for s in inv.sites] == ["A"]
    assert inv.problems == (f"{path}:3: id: duplicate id 'a', first defined at {path}:2",)


def test_duplicate_across_csv_and_inline(tmp_path):
    path = write(tmp_path, "a,A,office,0,0,127.0.0.1,icmp,,,\n")
    inline = [{"id": "a", "name": "I", "kind": "web", "lat": 0, "lon": 0}]
    inv = load_inventory([path], inline, config_name="c.toml")
    assert [s.name for s in inv.sites] == ["I"]
    assert "duplicate id 'a', first defined at c.toml: sites[0]" in inv.problems[0]


def test_dropping_a_parent_drops_its_children_with_a_reason(tmp_path):
    path = write(tmp_path, "p,P,tower,0,0,127.0.0.1,icmp,,,\nc,C,office,0,0,127.0.0.2,icmp,p,,\n")
    inv = load_inventory([path])
    assert inv.sites == ()
    assert len(inv.problems) == 2
    assert "parent: 'p' does not exist" in inv.problems[1]


def test_parent_cycle_is_reported(tmp_path):
    path = write(
        tmp_path,
        "a,A,office,0,0,127.0.0.1,icmp,b,,\nb,B,office,0,0,127.0.0.2,icmp,a,,\n"
        "c,C,office,0,0,127.0.0.3,icmp,,,\n",
    )
    inv = load_inventory([path])
    assert [s.id for s in inv.sites] == ["c"]
    assert all("dependency cycle" in p for p in inv.problems)


def test_header_problems(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,name,lat\nx,X,0\n")
    inv = load_inventory([path])
    assert inv.problems == (
        f"{path}:1: header lacks column(s) kind, lon; the columns are "
        "id,name,kind,lat,lon,address,probes,parent,coverage_m,district,ups",
    )


def test_missing_file_and_non_utf8(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        HEADER.encode() + "x,Kantor Camat Sepinggan \xe9,office,0,0,,,,,\n".encode("latin-1")
    )
    inv = load_inventory([tmp_path / "none.csv", latin])
    assert "inventory file not found" in inv.problems[0]
    assert "not UTF-8 text" in inv.problems[1] and "save it as UTF-8" in inv.problems[1]


def test_probe_spec_round_trips():
    for text in ["icmp", "tcp:443", "http:https://portal.go.id/health?x=1", "snmp:core"]:
        assert str(ProbeSpec.parse(text)) == text


def test_ipv6_and_hostname_addresses(tmp_path):
    path = write(
        tmp_path, "a,A,office,0,0,::1,icmp,,,\nb,B,web,0,0,portal.balikpapan.go.id,tcp:443,,,\n"
    )
    inv = load_inventory([path])
    assert inv.problems == ()
    assert [s.address for s in inv.sites] == ["::1", "portal.balikpapan.go.id"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(max_size=12), min_size=0, max_size=12), max_size=8))
def test_arbitrary_csv_never_crashes(tmp_path_factory, rows):
    tmp = tmp_path_factory.mktemp("fuzz")
    import csv

    path = tmp / "s.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER.strip().split(","))
        w.writerows(rows)
    inv = load_inventory([path])
    # Every row either loads or is reported exactly once.
    assert len(inv.sites) + len(inv.problems) >= len([r for r in rows if r])


def test_reading_problems_come_before_row_problems_and_probe_lists_are_shared(tmp_path):
    """Rows are validated as they are read (issue 18: no 50,000 rows held at once), yet every
    file's reading problems still come first, then the rows' own, in file and line order; sites
    with the same probe list share one parsed tuple, and a kind or district one string."""
    first = write(tmp_path, "a,A,office,0,0,127.0.0.1,icmp;tcp:22,,,64.71\nb,B,tower,0,0,,,,,\n")
    second = tmp_path / "second.csv"
    second.write_text(HEADER + "c,C,office,0,0,127.0.0.3,icmp;tcp:22,,,64.71,extra\n"
                      + "d,D,office,1,1,127.0.0.4,icmp;tcp:22,,,64.71\n")  # fmt: skip
    inv = load_inventory([first, second], inline=[{"id": "e", "name": "E", "kind": "bts"}])
    wheres = [f"{second}:2: ", "config: sites[0]: ", f"{first}:3: "]  # reading, then rows
    assert len(inv.problems) == 3
    assert all(p.startswith(w) for p, w in zip(inv.problems, wheres, strict=True)), inv.problems
    a, d = (s for s in inv.sites if s.id in ("a", "d"))
    assert a.probes == (ProbeSpec("icmp"), ProbeSpec("tcp", "22")) and a.probes is d.probes
    assert a.district == d.district == "64.71" and a.district is d.district
