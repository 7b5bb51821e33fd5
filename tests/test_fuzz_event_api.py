"""Fuzz target: the agent's event API (``GET /api/v1/events``) over real HTTP.

Any query string gets a 200 that keeps the contract or a 400 naming the parameter, never a 500,
and reading never changes the log. Run count: ``PANTAU_FUZZ_EXAMPLES`` (docs/testing.md).
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzzing import FUZZ
from hypothesis import example, given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from pantau.agent.runtime.eventlog import EventLog, Retention
from pantau.agent.runtime.server import MAX_LIMIT, make_app, start_server
from pantau.events import Event

N_EVENTS = 40


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, EventLog]]:
    path = Path(tmp_path_factory.mktemp("evapi")) / "events.db"
    log = EventLog(path, Retention(max_age=86400 * 365, max_count=100_000), clock=lambda: 1.8e9)
    log.append(
        [
            Event(
                agent="a1",
                type="site",
                site=f"s{i % 7}",
                probe=None,
                old="up",
                new="down",
                time=1.8e9 + i,
                reason="timeout",
            )
            for i in range(N_EVENTS)
        ]
    )
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, object] = {}

    async def serve() -> None:
        runner = await start_server(make_app(CollectorRegistry(), log, "a1"), "127.0.0.1:0")
        box["runner"] = runner
        box["port"] = runner.addresses[0][1]
        ready.set()

    thread = threading.Thread(
        target=lambda: (loop.run_until_complete(serve()), loop.run_forever()), daemon=True
    )
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{box['port']}", log
    asyncio.run_coroutine_threadsafe(box["runner"].cleanup(), loop).result(10)  # type: ignore[attr-defined]
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    log.close()


NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["", " 1", "1 ", "+5", "1e3", "0x10", "٣", "1_000", "NaN", "-0", "00"]),
)
KEYS = st.one_of(st.sampled_from(["after", "limit"]), st.text(max_size=8))
QUERIES = st.lists(st.tuples(KEYS, st.one_of(NUMBERS, st.text(max_size=12))), max_size=4)


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@FUZZ
@given(query=QUERIES)
@example(query=[("after", str(2**63))])
@example(query=[("limit", str(MAX_LIMIT + 1))])
@example(query=[("after", "5"), ("after", "x")])
def test_event_api_answers_every_query_by_contract(
    api: tuple[str, EventLog], query: list[tuple[str, str]]
) -> None:
    base, log = api
    status, body = _get(f"{base}/api/v1/events?{urllib.parse.urlencode(query)}")
    assert status in (200, 400), (status, body)
    if status == 400:
        assert isinstance(body.get("error"), str) and body["error"]
        named = {k for k, _ in query} & {"after", "limit"}
        assert any(n in body["error"] for n in named) or "unknown query parameter" in body["error"]
        return
    after = next((int(v) for k, v in query if k == "after"), 0)
    cursors = [e["cursor"] for e in body["events"]]
    assert cursors == sorted(set(cursors)) and all(c > after for c in cursors)
    limit = next((int(v) for k, v in query if k == "limit"), 1000)
    assert len(cursors) <= limit
    assert body["next"] == (cursors[-1] if cursors else after)
    assert body["more"] == (bool(cursors) and cursors[-1] < N_EVENTS)
    assert body["agent"] == "a1" and body["log_id"] == log.log_id


@FUZZ
@given(path=st.text(alphabet=st.characters(codec="ascii", exclude_characters="?#"), max_size=30))
def test_any_path_is_a_clean_404_or_an_answer(api: tuple[str, EventLog], path: str) -> None:
    base, _ = api
    url = f"{base}/{urllib.parse.quote(path)}"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.status == 200
    except urllib.error.HTTPError as exc:
        assert exc.code in (404, 405), (url, exc.code)


def test_the_log_is_unchanged_after_fuzzing(api: tuple[str, EventLog]) -> None:
    # Runs after the fuzz targets in this module: every event is still there, in order.
    _, log = api
    page = log.read(0, 10000)
    assert [e.cursor for e in page.events] == list(range(1, N_EVENTS + 1))
    assert [e.time for e in page.events] == [1.8e9 + i for i in range(N_EVENTS)]
