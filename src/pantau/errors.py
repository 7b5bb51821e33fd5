"""The one exception hierarchy of pantau.

::

    PantauError
    ├── ConfigError          bad config file, inventory or districts layer (names file, key, fix)
    ├── ProbeSetupError      a probe cannot even start (socket, engine)
    │   ├── PermissionDenied no privilege for what the probe needs (says what to run)
    │   └── CredentialsMissing a secret the probe needs is not set (names the variable)
    └── StoreError           the event log or the outage store cannot be read or written

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
