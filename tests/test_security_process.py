"""TLS, basic auth and the closed write path with real processes: an agent and a collector
serving HTTPS with an exporter-toolkit web config, the collector pulling the agent over verified
TLS with credentials from the environment, and a real Prometheus scraping both."""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path

import pytest
from promstack import PROMETHEUS_BIN, free_port, prometheus_argv, query, run_server
from tlspki import Pki, web_config

from pantau.events import format_time

PASSWORDS = {
    "prometheus": "prom-Secret-1a",
    "collector": "coll-Secret-2b",
    "ops": "ops-Secret-3c",
    "viewer": "view-Secret-4d",
}
WRONG = "wrong-Secret-5e"
DEADLINE = 60.0
AGENT_ROUTES = ["/metrics", "/api/v1/events", "/healthz"]


def _collector_routes() -> list[tuple[str, str]]:
    doc = json.loads(resources.files("pantau.collector").joinpath("openapi.json").read_text())
    return [
        (method.upper(), path.replace("{id}", "1"))
        for path, ops in doc["paths"].items()
        for method in ops
    ]


class Client:
    """HTTPS requests trusting the test CA; answers (status, text), never raising on 4xx."""

    def __init__(self, ca: Path) -> None:
        self.context = ssl.create_default_context(cafile=str(ca))
        self.seen: list[str] = []  # every answer, for the credential grep

    def call(self, url, method="GET", user=None, password=None, body=None, headers=None):
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=15) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode()
        self.seen.append(text)
        return status, text

    def as_user(self, user, url, **kw):
        return self.call(url, user=user, password=PASSWORDS[user], **kw)


def _start(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pantau.cli", *args],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait(check, what: str, procs, log: Path):
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        for p in procs:
            assert p.poll() is None, f"{what}: a process exited: {log.read_text()[-3000:]}"
        try:
            if check():
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached in {DEADLINE} s: {log.read_text()[-3000:]}")


@pytest.fixture
def stack(tmp_path):
    """Agent and collector over HTTPS with basic auth; yields what the tests need."""
    pki = Pki(tmp_path / "pki")
    agent_web = web_config(
        tmp_path / "agent-web.yml",
        pki.server("agent"),
        {u: PASSWORDS[u] for u in ("prometheus", "collector")},
    )
    collector_web = web_config(
        tmp_path / "collector-web.yml",
        pki.server("collector"),
        {u: PASSWORDS[u] for u in ("prometheus", "ops", "viewer")},
    )
    agent_port, collector_port = free_port(), free_port()
    config = tmp_path / "pantau.toml"
    config.write_text(
        f'[agent]\nname = "a1"\nlisten = "127.0.0.1:{agent_port}"\nstate_dir = "state"\n'
        f'web_config = "{agent_web}"\ndown_after = 1\n'
        "[agent.tcp]\ninterval = 0.5\ntimeout = 0.3\n"
        f'[collector]\nlisten = "127.0.0.1:{collector_port}"\ndatabase = "sqlite:///c.db"\n'
        f'agents = ["https://127.0.0.1:{agent_port}"]\npull_interval = 0.5\n'
        f'web_config = "{collector_web}"\nwriters = ["ops"]\nagent_ca_file = "{pki.ca}"\n'
        'agent_username = "collector"\nagent_password_env = "PANTAU_TEST_AGENT_PASSWORD"\n'
        '[[sites]]\nid = "kantor"\nname = "Kantor"\nkind = "office"\nlat = -1.2\nlon = 116.8\n'
        'district = "d1"\naddress = "127.0.0.1"\nprobes = ["tcp:9"]\n'
    )
    env = {**os.environ, "PANTAU_TEST_AGENT_PASSWORD": PASSWORDS["collector"]}
    log = tmp_path / "pantau.log"
    procs = [
        _start(["agent", "--config", str(config)], tmp_path, env, log),
        _start(["collector", "--config", str(config)], tmp_path, env, log),
    ]
    client = Client(pki.ca)
    agent = f"https://127.0.0.1:{agent_port}"
    collector = f"https://127.0.0.1:{collector_port}"
    try:

        def pulled() -> bool:
            status, text = client.as_user("viewer", f"{collector}/api/v1/agents")
            return status == 200 and any(a["up"] for a in json.loads(text)["agents"])

        _wait(pulled, "collector pulled the agent over TLS", procs, log)
        yield {
            "tmp": tmp_path,
            "pki": pki,
            "agent": agent,
            "collector": collector,
            "client": client,
            "log": log,
            "procs": procs,
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def test_every_endpoint_refuses_missing_and_wrong_credentials(stack):
    client, agent, collector = stack["client"], stack["agent"], stack["collector"]
    routes = [("GET", f"{agent}{p}") for p in AGENT_ROUTES]
    routes += [(m, f"{collector}{p}") for m, p in _collector_routes()]
    routes.append(("GET", f"{collector}/api/v1/districts.geojson"))  # an extension's route
    assert len(routes) >= 12
    for method, url in routes:
        body = b"{}" if method == "POST" else None
        headers = {"Content-Type": "application/json"}
        status, text = client.call(url, method, body=body, headers=headers)
        assert status == 401, (method, url, status, text)
        for user in ("viewer", "nobody"):
            status, _ = client.call(url, method, user, WRONG, body=body, headers=headers)
            assert status == 401, (method, url, user, status)
    for path in AGENT_ROUTES:
        status, _ = client.as_user("prometheus", f"{agent}{path}")
        assert status == 200, path
    for method, path in _collector_routes():
        if method == "GET":
            status, text = client.as_user("viewer", f"{collector}{path}")
            assert status in (200, 503), (path, status, text)  # 503: /healthz still starting


def _window(**override) -> bytes:
    now = time.time()
    body = {
        "start": format_time(now - 3600),
        "end": format_time(now),
        "site": "kantor",
        "reason": "ganti kabel",
        **override,
    }
    return json.dumps(body).encode()


def test_the_write_path_is_closed_validated_and_audited(stack):
    client, collector = stack["client"], stack["collector"]
    url = f"{collector}/api/v1/maintenance"
    json_type = {"Content-Type": "application/json"}

    def stored() -> list:
        status, text = client.as_user("viewer", url)
        assert status == 200, text
        return json.loads(text)["maintenance"]

    # A reader may read, not write.
    status, text = client.as_user("viewer", url, method="POST", body=_window(), headers=json_type)
    assert status == 403 and "may read but not write" in text
    # Cross-origin and non-JSON writes, even with the writer's credentials.
    for headers, expected in [
        ({**json_type, "Origin": "http://127.0.0.2:8080"}, 403),
        ({**json_type, "Sec-Fetch-Site": "cross-site"}, 403),
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
    ]:
        status, text = client.as_user("ops", url, method="POST", body=_window(), headers=headers)
        assert status == expected, (headers, status, text)
    # Oversized and out of range: refused with the limit named, nothing stored.
    for body, expected, message in [
        (_window(reason="x" * 501), 400, "reason must be a string of at most 500 characters"),
        (_window(reason="x" * 20_000), 413, "larger than 16384 bytes"),
        (_window(start="0001-01-01T00:00:00Z"), 400, "start must be in the years 2000-2099"),
        (
            _window(start="1970-01-01T00:00:00Z", end="2126-01-01T00:00:00Z"),
            400,
            "start must be in the years 2000-2099",
        ),
        (
            _window(start="2030-01-01T00:00:00Z", end="2030-03-01T00:00:00Z"),
            400,
            "a window lasts at most 31 days",
        ),
        (b"not json", 400, "body is not JSON"),
    ]:
        status, text = client.as_user("ops", url, method="POST", body=body, headers=json_type)
        assert status == expected and message in text, (status, text)
    assert stored() == []
    # The writer writes; the audit trail says who, from where, when and what.
    status, text = client.as_user("ops", url, method="POST", body=_window(), headers=json_type)
    assert status == 201, text
    wid = json.loads(text)["id"]
    assert [w["reason"] for w in stored()] == ["ganti kabel"]
    status, text = client.as_user("viewer", f"{url}/{wid}", method="DELETE")
    assert status == 403
    status, _ = client.as_user("ops", f"{url}/{wid}", method="DELETE")
    assert status == 204 and stored() == []
    status, _ = client.as_user("ops", f"{url}/{wid}", method="DELETE")
    assert status == 404
    status, text = client.as_user("viewer", f"{collector}/api/v1/audit")
    audit = json.loads(text)["audit"]
    assert [(a["action"], a["user"], a["remote"], a["target"]) for a in audit] == [
        ("maintenance.delete", "ops", "127.0.0.1", f"maintenance/{wid}"),
        ("maintenance.add", "ops", "127.0.0.1", f"maintenance/{wid}"),
    ]
    assert json.loads(audit[1]["detail"])["reason"] == "ganti kabel"
    assert abs(time.time() - _parse(audit[0]["time"])) < 120
    status, metrics = client.as_user("prometheus", f"{collector}/metrics")
    assert 'pantau_collector_writes_total{action="maintenance.add",result="ok"} 1.0' in metrics
    assert 'pantau_collector_writes_total{action="maintenance.delete",result="ok"} 1.0' in metrics
    assert 'pantau_collector_writes_total{action="maintenance.add",result="refused"} 5.0' in metrics
    assert 'pantau_collector_writes_total{action="maintenance.add",result="invalid"} 6.0' in metrics


def _parse(text: str) -> float:
    from pantau.events import parse_time

    return parse_time(text)


def test_no_credential_in_logs_metrics_answers_or_databases(stack):
    client, agent, collector = stack["client"], stack["agent"], stack["collector"]
    client.call(f"{agent}/metrics", user="prometheus", password=WRONG)
    for path in AGENT_ROUTES:
        client.as_user("prometheus", f"{agent}{path}")
    for method, path in _collector_routes():
        if method == "GET":
            client.as_user("viewer", f"{collector}{path}")
    for p in stack["procs"]:
        p.terminate()
        p.wait(20)
    secrets = [*PASSWORDS.values(), WRONG]
    secrets += [base64.b64encode(f"{u}:{pw}".encode()).decode() for u, pw in PASSWORDS.items()]
    files = [stack["log"], *stack["tmp"].glob("c.db*"), *(stack["tmp"] / "state").glob("*")]
    assert len(files) >= 3
    haystacks = {str(f): f.read_bytes().decode("latin-1") for f in files if f.is_file()}
    haystacks["answers"] = "\n".join(client.seen)
    assert len(haystacks["answers"]) > 1000
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, (where, secret)


@pytest.mark.skipif(PROMETHEUS_BIN is None, reason="prometheus not installed")
def test_prometheus_scrapes_agent_and_collector_over_tls_with_basic_auth(stack):
    tmp, pki = stack["tmp"], stack["pki"]
    (tmp / "prom.pw").write_text(PASSWORDS["prometheus"])
    jobs = {"agent": stack["agent"], "collector": stack["collector"]}
    scrape = [
        {
            "job_name": job,
            "scheme": "https",
            "scrape_interval": "1s",
            "tls_config": {"ca_file": str(pki.ca)},
            "basic_auth": {"username": "prometheus", "password_file": str(tmp / "prom.pw")},
            "static_configs": [{"targets": [url.removeprefix("https://")]}],
        }
        for job, url in jobs.items()
    ]
    config = tmp / "prometheus.yml"
    config.write_text(json.dumps({"scrape_configs": scrape}))  # JSON is YAML
    with run_server("prometheus", prometheus_argv(config, tmp / "prom-data"), tmp) as prom:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            up = {r["metric"]["job"]: r["value"][1] for r in query(prom, "up")}
            agent_up = query(prom, 'pantau_collector_agent_up{agent="a1"}')
            if up == {"agent": "1", "collector": "1"} and agent_up:
                break
            time.sleep(0.5)
        assert up == {"agent": "1", "collector": "1"}, up
        assert agent_up and agent_up[0]["value"][1] == "1"
        assert query(prom, 'pantau_site_up{site="kantor"}') or query(prom, "pantau_sites")


def test_geo_reads_the_collector_over_tls_as_a_reader(stack):
    from pantau.errors import PantauError
    from pantau.geo.sources import CollectorSource

    now = time.time()
    source = CollectorSource(
        stack["collector"],
        ca_file=stack["pki"].ca,
        username="viewer",
        password=PASSWORDS["viewer"],
    )
    obs = source.observations(now - 3600, now)
    assert obs.states["site"].tolist() == ["kantor"]
    bad = CollectorSource(stack["collector"], ca_file=stack["pki"].ca, username="viewer",
                          password=WRONG)  # fmt: skip
    with pytest.raises(PantauError) as err:
        bad.observations(now - 3600, now)
    assert "401" in str(err.value) and WRONG not in str(err.value) + repr(bad)
