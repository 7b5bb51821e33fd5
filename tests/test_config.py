"""The config model: defaults, unknown keys, cross-field rules, messages naming file, key, fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pantau.config import check_config, load_config
from pantau.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
#: The secrets config.example.toml names; check-config fails while they are unset.
EXAMPLE_SECRETS = {
    "PANTAU_SNMP_ROUTER_COMMUNITY": "lab-ro",
    "PANTAU_SNMP_CORE_AUTH_KEY": "auth-key-123",
    "PANTAU_SNMP_CORE_PRIV_KEY": "priv-key-123",
}


def test_example_config_loads_with_its_inventory(monkeypatch):
    for name, value in EXAMPLE_SECRETS.items():
        monkeypatch.setenv(name, value)
    config, problems = check_config(ROOT / "config.example.toml")
    assert problems == []
    assert config is not None
    sites = config.load_sites().by_id()
    assert "kantor-walikota" in sites and "web-portal" in sites
    assert sites["kantor-walikota"].parent == "core-router"
    assert config.agent.listen == "127.0.0.1:9469"
    assert config.agent.state_dir == ROOT / "state" / "agent"
    assert config.collector.database == f"sqlite:///{ROOT}/state/collector.db"


def test_defaults_from_an_empty_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("")
    config = load_config(path)
    assert config.agent.listen == "127.0.0.1:9469"
    assert config.collector.listen == "127.0.0.1:9470"
    assert (config.agent.down_after, config.agent.up_after) == (3, 2)
    assert config.agent.icmp.count == 3
    assert config.geo.coverage_m["bts"] == 3000


# Each invalid config is paired with the exact key path and a fragment of the fix.
INVALID = {
    "unknown-key": ("[agent]\nnmae = 'x'\n", "agent.nmae: unknown key; check its spelling"),
    "unknown-section": ("[agnet]\n", "agnet: unknown key"),
    "timeout-over-interval": (
        "[agent.icmp]\ninterval = 1\ntimeout = 5\n",
        "agent.icmp: timeout (5.0 s) is longer than interval (1.0 s)",
    ),
    "bad-listen": ("[agent]\nlisten = 'localhost'\n", "agent.listen: 'localhost' is not HOST:PORT"),
    "v2c-without-community": (
        "[snmp.profiles.core]\nversion = '2c'\n",
        "snmp.profiles.core: version 2c needs community_env",
    ),
    "v3-priv-without-key": (
        "[snmp.profiles.core]\nversion = '3'\nuser = 'u'\nauth_protocol = 'SHA'\n"
        "auth_key_env = 'A'\npriv_protocol = 'AES-128'\n",
        "snmp.profiles.core: priv_protocol needs priv_key_env",
    ),
    "bad-auth-protocol": (
        "[snmp.profiles.core]\nversion = '3'\nuser = 'u'\nauth_protocol = 'SHA-512'\n",
        "snmp.profiles.core.auth_protocol: Input should be 'MD5', 'SHA' or 'SHA-256'",
    ),
    "bad-database": ("[collector]\ndatabase = 'mysql://x'\n", "collector.database: 'mysql://x'"),
    "bad-agent-url": ("[collector]\nagents = ['10.0.0.1:9469']\n", "collector.agents: '10.0.0.1"),
    "bad-coverage-kind": ("[geo.coverage_m]\ntower = 5\n", "geo.coverage_m: unknown site kind"),
    "not-toml": ("[agent\n", "not valid TOML"),
    "count-zero": ("[agent.icmp]\ncount = 0\n", "agent.icmp.count: Input should be greater"),
    "env-name": ("[collector]\ndatabase_env = 'x y'\n", "collector.database_env: 'x y' is not an"),
}


@pytest.mark.parametrize("name", sorted(INVALID), ids=sorted(INVALID))
def test_invalid_config_names_file_key_and_fix(tmp_path, name):
    text, expected = INVALID[name]
    path = tmp_path / f"invalid-{name}.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message, message


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match=r"config file not found; copy config\.example\.toml"):
        load_config(tmp_path / "nope.toml")


def test_literal_secret_keys_are_rejected(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[snmp.profiles.x]\nversion='3'\nuser='u'\nauth_protocol='SHA'\nauth_key='k'\n")
    with pytest.raises(ConfigError, match=r"snmp.profiles.x.auth_key: unknown key"):
        load_config(path)


def test_database_url_comes_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text("[collector]\ndatabase_env = 'PANTAU_TEST_DB'\n")
    config = load_config(path)
    monkeypatch.delenv("PANTAU_TEST_DB", raising=False)
    with pytest.raises(ConfigError, match="PANTAU_TEST_DB is not set"):
        config.collector.database_url()
    monkeypatch.setenv("PANTAU_TEST_DB", "postgresql://u:secret@/db")
    assert config.collector.database_url() == "postgresql://u:secret@/db"


def test_check_config_cli_exit_codes(tmp_path):
    good = subprocess.run(
        [sys.executable, "-m", "pantau.cli", "check-config", str(ROOT / "config.example.toml")],
        capture_output=True,
        text=True,
        env={**os.environ, **EXAMPLE_SECRETS},
    )
    assert good.returncode == 0, good.stderr
    assert "ok (8 sites" in good.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[agent]\ndown_after = 0\n")
    res = subprocess.run(
        [sys.executable, "-m", "pantau.cli", "check-config", str(bad)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert f"{bad}: agent.down_after: Input should be greater than or equal to 1" in res.stderr


def test_check_config_cli_fails_on_bad_inventory_rows(tmp_path):
    csv = tmp_path / "sites.csv"
    csv.write_text(
        "id,name,kind,lat,lon,address,probes\na,A,office,0,0,127.0.0.1,icmp\n"
        "b,B,tower,0,0,127.0.0.1,icmp\n"
    )
    cfg = tmp_path / "c.toml"
    cfg.write_text('[inventory]\nsites = ["sites.csv"]\n')
    res = subprocess.run(
        [sys.executable, "-m", "pantau.cli", "check-config", str(cfg)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert f"{csv}:3: kind: unknown kind 'tower'" in res.stderr


def test_rtt_histogram_sites_are_checked_against_the_inventory(tmp_path):
    path = tmp_path / "pantau.toml"
    path.write_text(
        '[agent.icmp]\nrtt_histogram_sites = ["kantor", "kantr"]\n\n[[sites]]\nid = "kantor"\n'
        'name = "Kantor"\nkind = "office"\nlat = -1.2\nlon = 116.8\naddress = "127.0.0.1"\n'
        'probes = ["icmp"]\n'
    )
    config, problems = check_config(path)
    assert config is not None and config.agent.icmp.rtt_histogram == "listed"
    assert problems == [
        f"{path}: agent.icmp.rtt_histogram_sites: no site 'kantr' in the inventory; "
        "remove it or fix its spelling"
    ]


def test_rtt_histogram_rejects_an_unknown_mode(tmp_path):
    path = tmp_path / "pantau.toml"
    path.write_text('[agent.icmp]\nrtt_histogram = "some"\n')
    with pytest.raises(
        ConfigError, match=r"agent\.icmp\.rtt_histogram: Input should be 'listed' or 'all'"
    ):
        load_config(path)
