"""Web config files, secrets in the config, and agent certificates the collector refuses."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from tlspki import Pki, bcrypt_hash, web_config

from pantau.agent.runtime.eventlog import EventLog, Retention
from pantau.agent.runtime.server import bound_port, make_app, start_server
from pantau.collector.service import Collector
from pantau.collector.store import open_store
from pantau.config import CollectorConfig, check_config, load_config
from pantau.errors import ConfigError
from pantau.inventory import Site
from pantau.webconfig import load_web_config, warn_if_exposed

SITE = Site(id="kantor", name="Kantor", kind="office", lat=-1.2, lon=116.8)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  cipher: x\n",
         "tls_server_config.cipher: unknown or unsupported key; pantau reads cert_file"),
        ("basic_auth_user:\n  a: b\n", "basic_auth_user: unknown or unsupported key"),
        ("basic_auth_users:\n  prometheus: hunter2\n",
         "basic_auth_users.prometheus: not a bcrypt hash (never a password); make one with"),
        ("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
         "tls_server_config.cert_file: file"),
        ("tls_server_config:\n  cert_file: PAIR.crt\n  key_file: PAIR.key\n  min_version: TLS9\n",
         "tls_server_config.min_version: 'TLS9': use one of TLS10, TLS11, TLS12, TLS13"),
        ("tls_server_config:\n  cert_file: PAIR.crt\n  key_file: PAIR.key\n"
         "  client_auth_type: RequireAndVerifyClientCert\n",
         "tls_server_config.client_ca_file: RequireAndVerifyClientCert needs client_ca_file"),
        ("tls_server_config:\n  cert_file: PAIR.crt\n  key_file: PAIR.key\n"
         "  client_auth_type: RequireAnyClientCert\n",
         "tls_server_config.client_auth_type: 'RequireAnyClientCert': pantau supports"),
        ("- a\n", "a web config is a YAML mapping"),
    ],
    ids=["tls-unknown", "top-unknown", "plain-password", "missing-cert", "tls-version",
         "mtls-no-ca", "mtls-unverified", "not-a-mapping"],
)  # fmt: skip
def test_web_config_problems_name_file_key_and_fix(tmp_path, text, message):
    pair = Pki(tmp_path).server("agent")
    path = tmp_path / "web.yml"
    path.write_text(text.replace("PAIR", str(pair.cert.with_suffix(""))))
    with pytest.raises(ConfigError) as err:
        load_web_config(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value), str(err.value)


def test_web_config_paths_are_relative_to_the_file_and_mtls_loads(tmp_path):
    pki = Pki(tmp_path)
    pki.server("agent")
    path = tmp_path / "web.yml"
    path.write_text(
        "tls_server_config:\n  cert_file: agent.crt\n  key_file: agent.key\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n"
        f"basic_auth_users:\n  prometheus: {bcrypt_hash('pw')}\n"
    )
    web = load_web_config(path)
    assert web.ssl_context is not None and set(web.users) == {"prometheus"}


def test_listening_beyond_loopback_without_web_config_warns(caplog, tmp_path):
    caplog.set_level(logging.WARNING)
    warn_if_exposed("127.0.0.1:9469", None, "agent")
    warn_if_exposed("[::1]:9469", None, "agent")
    assert caplog.records == []
    warn_if_exposed("0.0.0.0:9469", None, "agent")
    assert "anyone who reaches this port reads the network map" in caplog.text


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_check_config_refuses_unset_env_and_literal_secrets(tmp_path, monkeypatch):
    monkeypatch.delenv("PANTAU_TEST_UNSET_COMMUNITY", raising=False)
    path = _config(
        tmp_path,
        '[snmp.profiles.router]\ncommunity_env = "PANTAU_TEST_UNSET_COMMUNITY"\n'
        '[snmp.profiles.lab]\ncommunity = "public-lab-secret"\n'
        '[collector]\ndatabase = "postgresql://pantau:db-Secret-9@127.0.0.1/pantau"\n',
    )
    config, problems = check_config(path)
    assert config is not None
    text = "\n".join(problems)
    assert (
        f"{path}: snmp.profiles.router.community_env: environment variable "
        "PANTAU_TEST_UNSET_COMMUNITY is not set" in text
    )
    assert f"{path}: snmp.profiles.lab.community: a literal community" in text
    assert "name that variable with community_env" in text
    assert f"{path}: collector.database: the URL carries a user or password" in text
    assert "public-lab-secret" not in text and "db-Secret-9" not in text
    monkeypatch.setenv("PANTAU_TEST_UNSET_COMMUNITY", "x")
    _, problems = check_config(path)
    assert not any("is not set" in p for p in problems), problems


def test_credentials_in_urls_are_refused_without_being_repeated(tmp_path):
    sites = tmp_path / "sites.csv"
    sites.write_text(
        "id,name,kind,lat,lon,address,probes\n"
        'web,Web,web,-1.2,116.8,,"http:http://admin:p4ss-Word@127.0.0.1:8080/"\n'
    )
    path = _config(tmp_path, '[inventory]\nsites = ["sites.csv"]\n')
    res = subprocess.run(
        [sys.executable, "-m", "pantau.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert "carries a user name or password in its URL" in res.stderr
    assert "[agent.http.credentials.SITE_ID] with username and password_env" in res.stderr
    assert "p4ss-Word" not in res.stderr + res.stdout
    # What the agent and collector load: the site is left out, its problem is said without it.
    inventory = load_config(path).load_sites()
    assert inventory.sites == () and "p4ss-Word" not in "\n".join(inventory.problems)
    path = _config(
        tmp_path, '[collector]\nagents = ["https://collector:ag-Secret-7@127.0.0.1:9469"]\n'
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "agent_password_env" in str(err.value) and "ag-Secret-7" not in str(err.value)


def test_writers_need_a_web_config_and_users_it_knows(tmp_path):
    web = web_config(tmp_path / "web.yml", None, {"viewer": "pw"})
    with pytest.raises(ConfigError, match="writers needs web_config"):
        load_config(_config(tmp_path, '[collector]\nwriters = ["ops"]\n'))
    path = _config(tmp_path, f'[collector]\nweb_config = "{web}"\nwriters = ["ops"]\n')
    _, problems = check_config(path)
    assert any("collector.writers: 'ops' is not in" in p for p in problems), problems


@pytest.mark.parametrize("kind", ["self_signed", "expired"])
async def test_collector_refuses_an_untrusted_agent_certificate_naming_the_fix(
    tmp_path, kind, caplog
):
    pki = Pki(tmp_path / "pki")
    pair = pki.server("agent", **{kind: True})
    log = EventLog(tmp_path / "a.db", Retention(86400, 1000), lambda: 2e9)
    web = load_web_config(web_config(tmp_path / "web.yml", pair, {}))
    runner = await start_server(make_app(CollectorRegistry(), log, "a1"), "127.0.0.1:0", web)
    store = open_store(f"sqlite:///{tmp_path}/c.db")
    try:
        config = CollectorConfig(
            agents=(f"https://127.0.0.1:{bound_port(runner)}",), agent_ca_file=pki.ca
        )
        collector = Collector(config, [SITE], store)
        await collector.start()
        stop = asyncio.Event()
        caplog.set_level(logging.WARNING)
        task = asyncio.create_task(collector.run(stop))
        for _ in range(100):
            if collector.agents[0].up is False:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 10)
    finally:
        await runner.cleanup()
        store.close()
        log.close()
    health = collector.agents[0]
    assert health.up is False
    assert "give the CA that signed it in [collector] agent_ca_file" in (health.error or "")
    assert "expired" in health.error if kind == "expired" else "self-signed" in health.error
    assert "agent_ca_file" in caplog.text


def test_agent_password_env_unset_is_named(monkeypatch):
    monkeypatch.delenv("PANTAU_TEST_NO_PW", raising=False)
    config = CollectorConfig(agent_username="c", agent_password_env="PANTAU_TEST_NO_PW")
    with pytest.raises(ConfigError, match="PANTAU_TEST_NO_PW is not set"):
        config.agent_password()
    assert os.environ.get("PANTAU_TEST_NO_PW") is None
