"""The one exception hierarchy of pantau.

::

    PantauError
    ├── ConfigError          bad config file, inventory or districts layer (names file, key, fix)
    ├── ProbeSetupError      a probe cannot even start (socket, engine)
    │   ├── PermissionDenied no privilege for what the probe needs (says what to run)
    │   └── CredentialsMissing a secret the probe needs is not set (names the variable)
    ├── StoreError           the event log or the outage store cannot be read or written
    └── MissingExtra         an optional extra (geo, postgres) is not installed (says how)

Expected network failures (timeouts, refusals, unreachable hosts) are never exceptions:
probes return them as results.
"""

from __future__ import annotations


class PantauError(Exception):
    """Base class of every error pantau raises on purpose."""


class ConfigError(PantauError):
    """A configuration, inventory or layer problem, with where it is and how to fix it.

    Parameters
    ----------
    problems
        One line per problem, each already naming file and key path.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ProbeSetupError(PantauError):
    """A probe engine could not be set up (socket, SNMP engine...)."""


class PermissionDenied(ProbeSetupError):
    """The process lacks a privilege a probe needs; the message says what to run."""


class CredentialsMissing(ProbeSetupError):
    """A secret a probe needs (an SNMP community or key) is not configured or not set."""


class StoreError(PantauError):
    """The event log or outage store failed (disk full, corrupt, unreachable database)."""


#: Optional extras by the top-level modules they install (pyproject's optional-dependencies).
EXTRA_OF_MODULE = {
    "geopandas": "geo",
    "shapely": "geo",
    "pyogrio": "geo",
    "pyproj": "geo",
    "matplotlib": "geo",
    "tqdm": "geo",
    "psycopg": "postgres",
}


class MissingExtra(PantauError):
    """What was asked needs an optional extra that is not installed; the message says how.

    Parameters
    ----------
    extra
        The extra's name in pyproject.toml (``geo``, ``postgres``).
    module
        The module that could not be imported.
    python
        The interpreter pantau runs in: the extra must go into that environment.
    """

    def __init__(self, extra: str, module: str, python: str) -> None:
        self.extra, self.module = extra, module
        pip = f"{python} -m pip install"
        super().__init__(
            f"this needs the optional extra '{extra}' (Python module {module} is not installed). "
            f"Install it into pantau's environment: {pip} 'pantau[{extra}]' from a package "
            f"index, or {pip} '.[{extra}]' in the pantau source folder"
        )

    @classmethod
    def of(cls, exc: ModuleNotFoundError, python: str) -> MissingExtra | None:
        """The extra that provides the module ``exc`` misses, if an extra does."""
        top = (exc.name or "").partition(".")[0]
        extra = EXTRA_OF_MODULE.get(top)
        return cls(extra, top, python) if extra else None
