"""Observations from files and from a collector-like HTTP server on a loopback port."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from pantau.errors import ConfigError, PantauError
from pantau.geo.sources import CollectorSource, FileSource, states_at

SITES = [{"id": "a", "state": "up", "last_seen": "2026-11-20T12:00:00Z"},
         {"site": "b", "state": "down", "last_result": 1_795_176_000}]  # fmt: skip
OUTAGES = {"outages": [{"site": "b", "start": "2026-11-20T11:00:00Z", "end": None}]}
TIMELINES = {
    "now": 1_795_180_000.0,
    "sites": {
        "a": {"timeline": [[1_795_100_000.0, "up"]], "maintenance": []},
        "b": {
            "timeline": [[1_795_100_000.0, "up"], [1_795_172_400.0, "down"]],
            "maintenance": [[1_795_170_000.0, 1_795_171_000.0]],
        },
    },
}


@pytest.fixture
def collector():
    """A tiny HTTP server answering like the collector's API; records the queries it got."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlsplit(self.path)
            seen.append((url.path, parse_qs(url.query)))
            body = {
                "/api/v1/sites": {"sites": SITES},
                "/api/v1/outages": OUTAGES,
                "/api/v1/timelines": TIMELINES,
            }.get(url.path)
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_collector_api_is_read(collector):
    url, seen = collector
    obs = CollectorSource(url, timeout=5).observations(1_795_100_000.0, 1_795_200_000.0)
    assert obs.states["site"].tolist() == ["a", "b"]
    assert obs.states["last_result"].tolist() == [1_795_176_000.0, 1_795_176_000.0]
    assert obs.outages.loc[0, "site"] == "b" and np.isnan(obs.outages.loc[0, "end"])
    assert seen[1][0] == "/api/v1/outages"
    assert seen[1][1]["from"] == ["2026-11-19T14:53:20.000Z"]
    assert seen[2][0] == "/api/v1/timelines" and obs.now == 1_795_180_000.0
    assert obs.timelines["b"] == ((1_795_100_000.0, "up"), (1_795_172_400.0, "down"))
    assert obs.windows["b"] == [(1_795_170_000.0, 1_795_171_000.0)]


def test_collector_unreachable_says_what_to_do():
    with pytest.raises(PantauError, match=r"start it .* or pass --state FILE"):
        CollectorSource("http://127.0.0.1:9", timeout=2).observations(0, 1)


def test_state_file_json_and_csv(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"sites": SITES, **OUTAGES}))
    obs = FileSource(path).observations(0, 1)
    assert obs.states["state"].tolist() == ["up", "down"] and len(obs.outages) == 1
    csv = tmp_path / "o.csv"
    csv.write_text("site,start,end,cause\nb,2026-11-20T11:00:00Z,,down\n")
    assert FileSource(csv).observations(0, 1).outages["cause"].tolist() == ["down"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"sites": [{"site": "a", "state": "sideways"}]}', r"sites\[0\]: needs 'site' and a"),
        ('{"outages": [{"site": "a", "start": "yesterday"}]}', r"outages\[0\]: .*RFC 3339"),
        ('{"outages": [{"site": "a", "start": 10, "end": 5}]}', r"outages\[0\]: end is before"),
        ("[1, 2", "not a state file"),
        (
            '{"timelines": {"a": {"timeline": [[1, "maybe"]]}}}',
            r"timelines\['a'\]\.timeline\[0\]: state",
        ),
        (
            '{"timelines": {"a": [[5, "up"], [1, "down"]]}}',
            r"timeline\[1\]: times must not go back",
        ),
    ],
    ids=[
        "bad-state",
        "bad-time",
        "end-before-start",
        "not-json",
        "bad-timeline-state",
        "timeline-goes-back",
    ],
)
def test_bad_state_files(tmp_path, content, message):
    path = tmp_path / "s.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        FileSource(path).observations(0, 1)


def test_missing_state_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.json: state file not found"):
        FileSource(tmp_path / "nope.json").observations(0, 1)


def test_states_at_past_time_from_decided_timelines():
    timelines = {"a": ((0.0, "up"), (10.0, "down"), (20.0, "up")), "b": ((30.0, "up"),)}
    got = states_at(["a", "b", "c"], timelines, 25.0).set_index("site")
    # c has no history and b none yet at 25: unknown, never counted as supervised.
    assert got["state"].to_dict() == {"a": "up", "b": "unknown", "c": "unknown"}
    assert got["last_result"].tolist()[0] == 25.0 and got["last_result"].isna().tolist()[1:] == [
        True,
        True,
    ]
    assert states_at(["a"], timelines, 15.0)["state"].tolist() == ["down"]
    # Over a period: observed at any time in [since, at] counts (b is seen from 30).
    period = states_at(["a", "b", "c"], timelines, 40.0, since=0.0)["last_result"]
    assert period.tolist()[:2] == [40.0, 40.0] and np.isnan(period.tolist()[2])
