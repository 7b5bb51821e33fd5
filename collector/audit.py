"""The audit trail of writes through the API: who, from where, when, what."""

from __future__ import annotations

import dataclasses
from typing import Any

from pantau.events import format_time


@dataclasses.dataclass(frozen=True, slots=True)
class AuditRecord:
    """One write: ``action`` on ``target`` by ``user`` from ``remote`` at ``time``."""

    time: float
    user: str
    remote: str
    action: str  # "maintenance.add", "maintenance.delete" or "agent.accept"
    target: str  # what was written, e.g. "maintenance/12"
    detail: str = ""  # the written values, JSON
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": format_time(self.time),
            "user": self.user,
            "remote": self.remote,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
        }
