"""What is wrong with the collector right now, for ``/healthz`` and ``/metrics``.

:class:`StoreHealth` keeps the failing store writes, one per kind of write: the store reports
every write it attempts (:meth:`StoreHealth.failed`, :meth:`StoreHealth.succeeded`), so the
collector recovers by itself once a write of that kind works again. Agents the collector has not
been able to pull for a while are reported too (:func:`agent_problems`), as warnings: a remote
agent that is down is not the collector's fault, and a load balancer or watchdog restarting the
collector for it would help nobody. :func:`health` makes the ``/healthz`` answer. Pure, except
for the lock that lets store threads report while the event loop reads.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pantau.events import format_time

CRITICAL, WARNING = "critical", "warning"
#: Kinds of write that are not retried on a schedule (a maintenance window added through the
#: API, an agent's reachability changing): any later successful write clears their problem.
ONE_SHOT = ("agent-status", "maintenance")
#: An agent not pulled for this long is reported by ``/healthz`` (seconds).
AGENT_PROBLEM_AFTER = 300.0


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong. ``critical`` ones make ``/healthz`` answer 503."""

    component: str  # "store" or "agent"
    severity: str
    message: str
    error: str
    since: float
    hint: str
    details: tuple[tuple[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "severity": self.severity,
            "message": self.message,
            "error": self.error,
            "since": format_time(self.since),
            "hint": self.hint,
            **dict(self.details),
        }


@dataclasses.dataclass(slots=True)
class _Failure:
    operation: str
    error: str
    since: float
    last: float
    count: int


_FULL = ("disk is full", "no space left", "could not extend", "disk quota", "database is full")
_READONLY = ("readonly database", "read-only", "permission denied", "unable to open database")
_UNREACHABLE = ("connection refused", "could not connect", "server closed", "connection failed")


def fix_hint(error: str, database: str, path: str | None) -> str:
    """What an operator should do about a store error (``path``: the SQLite file, if any)."""
    e = error.lower()
    folder = str(Path(path).parent) if path else None
    if any(w in e for w in _FULL):
        if folder:
            return (
                f"free space on the filesystem holding {folder} (df -h {folder}); the collector "
                "retries every round and keeps nothing half-written"
            )
        return "free space on the database server's data filesystem; the collector retries"
    if "disk i/o error" in e:
        where = f"the filesystem holding {folder}" if folder else "the database's filesystem"
        return (
            f"check {where}: full (df -h) or failing (dmesg); SQLite cannot even read its "
            "database without room for its shared-memory file; the collector retries"
        )
    if any(w in e for w in _READONLY):
        target = f"{path} and its folder {folder}" if path else "the database"
        return f"make {target} writable by the collector's user (owner pantau, mode 0640/0750)"
    if "locked" in e:
        return f"another process holds a write lock on {path or database}; stop it"
    if any(w in e for w in _UNREACHABLE):
        return f"check that the database server of {database} runs and accepts connections"
    return f"see the collector log (journalctl -u pantau-collector) for {database}"


class StoreHealth:
    """The store's failing writes by kind; thread-safe.

    Parameters
    ----------
    database
        The store's URL, password masked.
    path
        The SQLite file, or None (PostgreSQL): named in the fix hint.
    """

    def __init__(self, database: str, path: str | None = None) -> None:
        self.database, self.path = database, path
        self.failures_total = 0
        self._failing: dict[str, _Failure] = {}
        self._lock = threading.Lock()

    def failed(self, kind: str, operation: str, error: str, now: float) -> None:
        """A write of ``kind`` (e.g. ``ingest http://a:9469``, ``derive``) failed."""
        with self._lock:
            self.failures_total += 1
            old = self._failing.get(kind)
            since, count = (old.since, old.count + 1) if old else (now, 1)
            self._failing[kind] = _Failure(operation, error, since, now, count)

    def succeeded(self, kind: str, _now: float | None = None) -> None:
        """A write of ``kind`` worked: its problem and those of one-shot writes are over."""
        with self._lock:
            if not self._failing:
                return
            self._failing.pop(kind, None)
            for k in [k for k in self._failing if k.split(" ", 1)[0] in ONE_SHOT]:
                del self._failing[k]

    def forget(self, kind: str) -> None:
        """Nothing of ``kind`` will be written for now (its agent is gone or unreachable)."""
        with self._lock:
            self._failing.pop(kind, None)

    @property
    def up(self) -> bool:
        """True while no kind of write is failing."""
        return not self._failing

    def problems(self) -> list[Problem]:
        """One critical problem per failing kind of write, oldest first."""
        with self._lock:
            failing = sorted(self._failing.items(), key=lambda kv: (kv[1].since, kv[0]))
        return [
            Problem(
                "store",
                CRITICAL,
                f"store {self.database}: writes failing since {format_time(f.since)}: "
                f"{f.operation} failed: {f.error}",
                f.error,
                f.since,
                fix_hint(f.error, self.database, self.path),
                (
                    ("database", self.database),
                    ("write", kind),
                    ("operation", f.operation),
                    ("last", format_time(f.last)),
                    ("failures", f.count),
                ),
            )
            for kind, f in failing
        ]


def agent_problems(
    agents: Iterable[Any], now: float, after: float = AGENT_PROBLEM_AFTER
) -> list[Problem]:
    """A warning per agent that could not be pulled for ``after`` seconds or more.

    ``agents`` are :class:`~pantau.collector.agenthealth.AgentHealth` (``up``, ``down_since``,
    ``error``, ``label``, ``source``).
    """
    out = []
    for h in agents:
        if h.up is False and h.down_since is not None and now - h.down_since >= after:
            out.append(
                Problem(
                    "agent",
                    WARNING,
                    f"agent {h.label} not pulled for {now - h.down_since:.0f} s",
                    h.error or "",
                    h.down_since,
                    f"check that the agent runs and that {h.source} is reachable from the "
                    "collector; its events wait in its log and are pulled once it is",
                    (("agent", h.label), ("source", h.source)),
                )
            )
    return out


def health(problems: Sequence[Problem], ready: bool) -> tuple[int, dict[str, Any]]:
    """The ``/healthz`` status code and body.

    200 ``{"status": "ok", "problems": [...]}`` (warnings only), 503 ``{"status": "degraded",
    "problems": [...]}`` when a problem is critical, 503 ``{"status": "starting"}`` before the
    first derivation.
    """
    body = {"problems": [p.to_json() for p in problems]}
    if any(p.severity == CRITICAL for p in problems):
        return 503, {"status": "degraded", **body}
    if not ready:
        return 503, {"status": "starting", **body}
    return 200, {"status": "ok", **body}


def read_problem(message: str, error: str, database: str, path: str | None, now: float) -> Problem:
    """The store cannot even be read (``/healthz`` reads it on every call)."""
    return Problem(
        "store",
        CRITICAL,
        message,
        error,
        now,
        fix_hint(error, database, path),
        (("database", database), ("operation", "reading")),
    )


def evidence_problems(agents: Iterable[Any], skew: float, now: float) -> list[Problem]:
    """Warnings about the evidence of each agent: a clock off by more than ``skew``, an identity
    refused, events held or lost.

    ``agents`` are :class:`~pantau.collector.agenthealth.AgentHealth`. The identity conflict is
    critical: the collector refuses that agent's pages until an operator decides.
    """
    out = []
    for h in agents:
        who = (("agent", h.label), ("source", h.source))
        if h.clock_offset is not None and abs(h.clock_offset) > skew:
            way = "ahead of" if h.clock_offset > 0 else "behind"
            out.append(
                Problem(
                    "agent",
                    WARNING,
                    f"agent {h.label} clock is {abs(h.clock_offset):.1f} s {way} the collector's",
                    "clock offset",
                    now,
                    "synchronise the agent's clock (timedatectl; chrony or systemd-timesyncd): "
                    "its events ahead are held, those dated before a pull are refused",
                    (*who, ("clock_offset_seconds", round(h.clock_offset, 3))),
                )
            )
        if h.conflict:
            out.append(
                Problem(
                    "agent",
                    CRITICAL,
                    f"agent {h.label}: {h.source} answers as {h.conflict}; its pages are refused",
                    "identity changed",
                    now,
                    "if it is the same agent with a new state directory, accept it with "
                    f'POST /api/v1/agents/accept {{"source": "{h.source}"}}; otherwise fix '
                    "[collector] agents",
                    who,
                )
            )
        lost = sum(h.lost.values())
        if lost:
            out.append(
                Problem(
                    "agent",
                    WARNING,
                    f"agent {h.label}: {lost} events lost before the collector read them",
                    ", ".join(f"{r}={n}" for r, n in sorted(h.lost.items()) if n),
                    now,
                    "pull more often than the agent's retention drops events, and keep its "
                    "state_dir out of backup restores",
                    (*who, ("lost", dict(h.lost))),
                )
            )
        for reason, n in sorted(h.held.items()):
            if n:
                out.append(
                    Problem(
                        "agent",
                        WARNING,
                        f"agent {h.label}: {n} events held ({reason})",
                        reason,
                        now,
                        _HELD_FIX.get(reason, "synchronise the agent's clock"),
                        (*who, ("held", n), ("reason", reason)),
                    )
                )
    return out


_HELD_FIX = {
    "unknown_site": "add the sites to the collector's inventory",
    "clock_unmeasured": "the agent's answers carry no 'now' and no Date header: upgrade the "
    "agent, or keep the Date header in any proxy between them",
}


def removal_refused(running: set[str], loaded: set[str], max_share: float) -> str | None:
    """Why a reload that removes more than ``max_share`` of the running sites is refused."""
    removed = running - loaded
    if not running or len(removed) <= max_share * len(running):
        return None
    return (
        f"reload refused: it would remove {len(removed)} of {len(running)} sites "
        f"({len(removed) / len(running):.0%}, more than collector.max_site_removal = "
        f"{max_share}); check the inventory files (caught half-written?); to remove them on "
        "purpose set [collector] max_site_removal = 1 and reload, then set it back"
    )
