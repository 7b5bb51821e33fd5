"""The identity answering at an agent's URL (agent name and log id), pinned by the stored cursor.

Another identity is refused and reported until an operator accepts it
(:meth:`~pantau.collector.ingest.Puller.accept_identity`): a URL reused for another agent, or an
agent given a new state directory, must not silently mix two logs under one cursor.
"""

from __future__ import annotations

import logging

from pantau.collector.agenthealth import AgentHealth
from pantau.collector.store.cursors import Cursor

log = logging.getLogger(__name__)


def pinned(health: AgentHealth, cur: Cursor | None, seen: tuple[str, str]) -> bool:
    """Whether ``seen`` (agent, log id) is the identity ``cur`` pins at ``health.source`` (any,
    without a cursor); else count the page refused, and say so once per identity."""
    if cur is None or (cur.agent, cur.log_id) == seen:
        if health.conflict:
            log.info("agent identity as pinned again agent=%s source=%s", seen[0], health.source)
        health.conflict = None
        return True
    detail = f"agent {seen[0]!r} log {seen[1]!r}"
    if health.conflict != detail:
        log.error(
            "agent identity changed, pages refused agent=%s log_id=%s source=%s "
            "answering_agent=%s answering_log_id=%s fix=%s",
            cur.agent,
            cur.log_id,
            health.source,
            seen[0],
            seen[1],
            "if this is the same agent with a new state directory, accept it: "
            f'POST /api/v1/agents/accept {{"source": "{health.source}"}}',
        )
    health.conflict = detail
    health.rejected["identity"] += 1
    return False
