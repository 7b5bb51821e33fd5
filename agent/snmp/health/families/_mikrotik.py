"""MikroTik RouterOS, for the family modules that read it (no tables of its own): the vendor's
``sysObjectID`` prefix, and the two ways RouterOS reports board health.

RouterOS 6 answers scalars (``mtxrHl*``, tenths of a degree or volt); RouterOS 7 answers the
rows of ``mtxrGaugeTable``, each with its unit in ``mtxrGaugeUnit``. A device answers one or the
other, so neither kind is expected (``table_up`` is not 0 when it is silent).
"""

from __future__ import annotations

from pantau.agent.snmp.health.spec import Metric, Table

MIKROTIK = ("1.3.6.1.4.1.14988",)


def routeros6_scalars(name: str, family: str, *metrics: Metric) -> Table:
    """A table of RouterOS 6 ``mtxrHl*`` scalars."""
    return Table(
        name=name,
        family=family,
        match=MIKROTIK,
        expect=False,  # RouterOS 7 answers mtxrGaugeTable
        index_label="",
        labels={},
        metrics=metrics,
    )


def routeros7_gauges(name: str, family: str, metric: Metric, unit: int) -> Table:
    """The RouterOS 7 ``mtxrGaugeTable`` rows whose ``mtxrGaugeUnit`` is ``unit``, read as
    ``metric`` (from ``mtxrGaugeValue``), one series per gauge named by ``mtxrGaugeName``."""
    return Table(
        name=name,
        static_rows=True,
        family=family,
        match=MIKROTIK,
        expect=False,  # RouterOS 6 answers mtxrHl*
        index_label="gauge",
        labels={"sensor": "MIKROTIK-MIB::mtxrGaugeName"},
        metrics=(metric,),
        where={"MIKROTIK-MIB::mtxrGaugeUnit": (unit,)},
    )
