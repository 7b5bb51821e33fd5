"""What ``pantau check-config`` adds to the model's checks: secrets and web configs.

Secrets live in the environment, never in the file: every ``*_env`` variable the config names
must be set, a literal SNMP ``community`` or a password in a database URL is refused, and the
web config files load and know every user ``[collector] writers`` names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from pantau.config import Config
from pantau.errors import ConfigError
from pantau.urls import has_userinfo
from pantau.webconfig import load_web_config

_SET_IT = "export it where the service starts (e.g. an EnvironmentFile= of its systemd unit)"


def _env_keys(config: Config) -> Iterator[tuple[str, str]]:
    """(key path, variable name) of every ``*_env`` key that is set."""
    for name, profile in config.snmp.profiles.items():
        for key in ("community_env", "auth_key_env", "priv_key_env"):
            var = getattr(profile, key)
            if var:
                yield f"snmp.profiles.{name}.{key}", var
    for key in ("database_env", "agent_password_env"):
        var = getattr(config.collector, key)
        if var:
            yield f"collector.{key}", var
    for site, credential in config.agent.http.credentials.items():
        yield f"agent.http.credentials.{site}.password_env", credential.password_env
    if config.geo.collector_password_env:
        yield "geo.collector_password_env", config.geo.collector_password_env


def _literals(config: Config) -> Iterator[str]:
    for name, profile in config.snmp.profiles.items():
        if profile.community is not None:
            yield (
                f"snmp.profiles.{name}.community: a literal community is a secret in a file "
                "that is copied and read by many; put it in an environment variable and name "
                "that variable with community_env"
            )
    if has_userinfo(config.collector.database):
        yield (
            "collector.database: the URL carries a user or password; put the whole URL in an "
            "environment variable and name it with database_env"
        )


def _web_configs(config: Config) -> Iterator[str]:
    for section in ("agent", "collector"):
        path: Path | None = getattr(config, section).web_config
        if path is None:
            continue
        try:
            web = load_web_config(path)
        except ConfigError as exc:
            yield from (f"{section}.web_config: {p}" for p in exc.problems)
            continue
        if section == "collector":
            for user in config.collector.writers:
                if user not in web.users:
                    yield (
                        f"collector.writers: {user!r} is not in {path} basic_auth_users; "
                        "add the user there (with a bcrypt hash) or remove it from writers"
                    )


def secret_problems(config: Config, environ: Mapping[str, str]) -> list[str]:
    """Every problem with the config's secrets and web configs, each naming key and fix."""
    where = str(config.source or "config")
    out = [
        f"{where}: {key}: environment variable {var} is not set; {_SET_IT}"
        for key, var in _env_keys(config)
        if not environ.get(var)
    ]
    out += [f"{where}: {line}" for line in _literals(config)]
    out += [f"{where}: {line}" for line in _web_configs(config)]
    return out
