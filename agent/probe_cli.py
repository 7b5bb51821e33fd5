"""``pantau probe KIND ...``: run one probe by hand and print one JSON line per target.

The troubleshooting tool and the benchmark's driver. Each probe kind adds its subcommand with a
function ``add_KIND(kinds)`` listed in :data:`PROBE_COMMANDS` (``pantau probe icmp``:
:mod:`pantau.agent.icmp.cli`; ``pantau probe snmp``: :mod:`pantau.agent.snmp.cli`); heavy
imports stay inside the command so that ``pantau --help`` stays fast.
"""

from __future__ import annotations

from pantau.agent.icmp.cli import add_icmp
from pantau.agent.snmp.cli import add_snmp

TYPE_CHECKING = False  # typing is not imported at run time (see pantau.agent.icmp.rounds)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: The ``probe`` subcommands, one function per probe kind (others add theirs here).
PROBE_COMMANDS: tuple[Callable[[Any], None], ...] = (add_icmp, add_snmp)


def register(subparsers: Any) -> None:
    """Add ``pantau probe`` and its per-kind subcommands to the ``pantau`` command."""
    probe = subparsers.add_parser("probe", help="run one probe by hand; prints JSON lines")
    kinds = probe.add_subparsers(dest="kind", required=True, metavar="KIND")
    for add in PROBE_COMMANDS:
        add(kinds)
