"""The probe registry: one entry per probe kind, used by config validation and the scheduler.

Each probe kind lives in its own module (``icmp``, ``tcp``, ``http``, ``snmp``) that exposes
``make_prober(settings, context) -> Prober``. Modules are imported only when a prober is made, so
validating a config never imports scapy or pysnmp.

Probes measure, callers decide: a prober returns one frozen :class:`ProbeResult` per job, and
expected network failures are results (``ok=False`` with a reason), never exceptions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import ipaddress
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import urlsplit

from pantau.urls import has_userinfo, redact_text

_NO_VALUES: Mapping[str, float] = MappingProxyType({})


@dataclasses.dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe of one site measured in one round.

    Attributes
    ----------
    ok
        Whether the probe succeeded.
    reason
        ``"ok"`` or one of :data:`pantau.events.REASONS`.
    duration
        Seconds the probe took (for ICMP: the round's wall time for this target).
    time
        Unix time the result was taken.
    sent, rtts
        ICMP: echo requests sent and the RTT in seconds of every reply received.
    values
        Kind-specific figures: ``http_status``, ``cert_expiry`` (Unix time), ``connect_seconds``.
    data
        Kind-specific payload too large for ``values`` (the SNMP device snapshot).
    message
        Human detail for logs; never used as a metric label.
    """

    ok: bool
    reason: str
    duration: float
    time: float
    sent: int = 0
    rtts: tuple[float, ...] = ()
    # One shared empty mapping, not a new dict per result (50,000 a round at scale).
    values: Mapping[str, float] = dataclasses.field(default_factory=lambda: _NO_VALUES)
    data: Any = None
    message: str = ""

    @property
    def loss_ratio(self) -> float | None:
        """Fraction of echo requests without a reply, or None when nothing was sent."""
        if not self.sent:
            return None
        return 1.0 - len(self.rtts) / self.sent


@dataclasses.dataclass(frozen=True, slots=True)
class ProbeJob:
    """One probe of one site to run in a round."""

    site: str
    probe: str  # the probe's text form, e.g. "tcp:443"; the metric and event label
    arg: str | None
    address: str | None
    #: ``(site, probe)``: made once, so every round's results share one key tuple per job
    #: instead of making 50,000 new ones a round (issue 18).
    key: tuple[str, str] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.site, self.probe))


@dataclasses.dataclass(frozen=True, slots=True)
class ProbeContext:
    """What a prober may use besides its own settings; built once by the agent runtime.

    Attributes
    ----------
    config
        The whole validated config (SNMP probes read ``config.snmp.profiles``).
    limiter
        The agent's global concurrency limit, shared by every probe kind.
    clock
        Wall-clock time source (``time.time`` in production; tests may pass their own).
    """

    config: Any
    limiter: asyncio.Semaphore
    clock: Callable[[], float] = time.time


class Prober(Protocol):
    """What every probe module's ``make_prober(settings, context)`` returns.

    A prober may also define ``collect() -> Iterable[prometheus_client.Metric]`` for its
    kind-specific metrics (HTTP status, SNMP interfaces), and ``families() -> list[TextFamily]``
    (pantau.agent.runtime.exposition) for families with a series per site that must stay
    cheap at 10,000 sites (ICMP packet counters and RTT histogram); both are called at scrape
    time. Counters it exports live in the prober, so they survive rounds and never race a probe.
    """

    async def run(self, jobs: Sequence[ProbeJob]) -> dict[tuple[str, str], ProbeResult]:
        """Run one round over ``jobs``; return a result for every job key, bounded in time."""
        ...

    async def aclose(self) -> None:
        """Release sockets and engines."""
        ...


def _no_arg(arg: str | None) -> str | None:
    if arg:
        raise ValueError(f"takes no argument (write 'icmp', not 'icmp:{arg}')")
    return None


def _port(arg: str | None) -> str | None:
    if not arg or not arg.isdigit() or not 1 <= int(arg) <= 65535:
        raise ValueError(f"needs a port 1-65535, e.g. 'tcp:443' (got {arg!r})")
    return str(int(arg))


def _url(arg: str | None) -> str | None:
    parts = urlsplit(arg or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"needs an http(s) URL, e.g. 'http:https://host/path' (got {redact_text(arg or '')!r})"
        )
    if has_userinfo(arg or ""):
        raise ValueError(
            "carries a user name or password in its URL, which would show in metric labels, "
            "events and the collector's database; probe a page that answers without a password "
            "(a health page), or put the password in an environment variable and name it in "
            "[agent.http.credentials.SITE_ID] with username and password_env"
        )
    return arg


def _profile(arg: str | None) -> str | None:
    if not arg:
        raise ValueError("needs an SNMP profile name, e.g. 'snmp:router'")
    return arg


@dataclasses.dataclass(frozen=True, slots=True)
class ProbeKind:
    """A registry entry: how to validate a probe's argument and where its prober lives."""

    name: str
    parse_arg: Callable[[str | None], str | None]
    needs_address: bool
    module: str

    def make_prober(self, settings: Any, context: Any) -> Prober:
        """Import the probe module and build its prober."""
        mod = importlib.import_module(self.module)
        return mod.make_prober(settings, context)  # type: ignore[no-any-return]


PROBES: Mapping[str, ProbeKind] = {
    k.name: k
    for k in (
        ProbeKind("icmp", _no_arg, True, "pantau.agent.probes.icmp"),
        ProbeKind("tcp", _port, True, "pantau.agent.probes.tcp"),
        ProbeKind("http", _url, False, "pantau.agent.probes.http"),
        ProbeKind("snmp", _profile, True, "pantau.agent.probes.snmp"),
    )
}


def is_ip(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 literal."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
