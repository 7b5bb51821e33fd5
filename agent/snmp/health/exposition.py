"""The health samples of every device as Prometheus text families (gauges)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache

from pantau.agent.runtime.exposition import TextFamily, label_value, number
from pantau.agent.snmp.health.evaluate import Health
from pantau.agent.snmp.health.registry import tables

TABLE_UP = "pantau_snmp_health_table_up"


@cache
def _helps() -> dict[str, str]:
    helps: dict[str, str] = {}
    for resolved in tables():
        for metric in resolved.table.metrics:
            helps.setdefault(metric.name, metric.help)
    return helps


def _lines(name: str, site: str, health: Health) -> Iterator[str]:
    for sample in health.samples:
        if sample.name == name:
            labels = "".join(f',{k}="{label_value(v)}"' for k, v in sample.labels)
            yield f'{name}{{site="{site}"{labels}}} {number(sample.value)}\n'


def families(devices: Mapping[str, Health]) -> list[TextFamily]:
    """One gauge family per health metric name present, plus ``pantau_snmp_health_table_up``."""
    helps = _helps()
    present = dict.fromkeys(s.name for h in devices.values() for s in h.samples)
    out = [
        TextFamily(
            name,
            "gauge",
            helps.get(name, name),
            [line for site, h in devices.items() for line in _lines(name, site, h)],
        )
        for name in present
    ]
    out.append(
        TextFamily(
            TABLE_UP,
            "gauge",
            "SNMP health table answered rows: 1 yes, 0 expected (by sysObjectID or the profile) "
            "but silent",
            [
                f'{TABLE_UP}{{site="{site}",table="{label_value(table)}"}} {1.0 if up else 0.0}\n'
                for site, h in devices.items()
                for table, up in h.tables_up.items()
            ],
        )
    )
    return out


def metric_names() -> tuple[str, ...]:
    """Every metric name a family module declares (for docs and tests)."""
    return tuple(dict.fromkeys(m.name for r in tables() for m in r.table.metrics))
