"""Declarative definitions of the SNMP health families (radio, power, optics, cellular, device,
vsat): which MIB objects are read on which devices and what each becomes in Prometheus.

A family module (``pantau.agent.snmp.health.families.<family>``) exports
``TABLES: tuple[Table, ...]``; :mod:`pantau.agent.snmp.health.registry` collects them, resolves
every ``"MIB-MODULE::objectName"`` through the modules compiled ahead of time under
:mod:`pantau.agent.snmp.health.compiled` (the agent never parses a MIB) and refuses a name that
does not resolve. Nothing here does I/O.

Value of a sample: ``parse(raw) * scale + offset`` in the unit its metric name carries. A value
the device did not return (or that does not parse) is absent, never 0: "no data" never looks
good.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

FAMILIES = ("radio", "power", "optics", "cellular", "device", "vsat")
PARSERS = ("int", "text_number", "text_dbm", "enum")
AGGREGATES = ("", "mean")

_EMPTY: Mapping[str, tuple[int | str, ...]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Metric:
    """One Prometheus gauge read from one MIB column (or scalar)."""

    name: str  # Prometheus family, unit-suffixed (pantau_radio_signal_dbm, ...)
    help: str
    oid: str  # "MIB-MODULE::objectName", resolved through agent/snmp/health/compiled/ at import
    parse: str = "int"  # "int" | "text_number" (first number in "-65 dBm", "12.5") | "enum"
    #               | "text_dbm" (the number written before "dBm" in "0.03 mW (-14.61 dBm)")
    scale: float = 1.0  # raw * scale + offset = the unit in the name (0.1 for tenths of dB, ...)
    offset: float = 0.0
    enum: Mapping[int, float] | None = None  # for parse="enum": raw value -> exported value
    # --- additions of the framework (all optional) ---
    #: "MIB::column" of the same row the value is divided by before scaling (hrStorageUsed /
    #: hrStorageSize); a divisor that is absent or 0 makes the sample absent.
    divide_by: str = ""
    #: Constant labels of this metric's samples (("chain", "0"),), told apart from another
    #: metric of the same name in the table (rxPower0 and rxPower1 are chain 0 and 1).
    const_labels: tuple[tuple[str, str], ...] = ()
    #: Raw values that mean "no reading" (MikroTik SNR 0, Mimosa -100.0 dBm): the sample is absent.
    missing: tuple[int, ...] = ()
    #: "" one sample per row; "mean" one sample for the whole table (hrProcessorLoad averaged
    #: over the processors), without the index label.
    aggregate: str = ""
    #: ENTITY-SENSOR-MIB style: "MIB::column" holding the decimal places (entPhySensorPrecision);
    #: the value is divided by 10**precision.
    precision: str = ""
    #: ENTITY-SENSOR-MIB style: "MIB::column" holding a SensorDataScale (units(9) = 10^0, milli(8)
    #: = 10^-3, kilo(10) = 10^3, ...); the value is multiplied by 10**(3 * (scale - 9)).
    exponent: str = ""
    #: Index components after the row's index in this column: ZTE's ONU receive power
    #: (zxGponPonRxOpticalLevel) is indexed OLT id . ONU id . ONU PON port (1), its state OLT id .
    #: ONU id; with ``instance=(1,)`` the value at ``row.1`` belongs to ``row``. Values whose
    #: index does not end with these components are not this metric's.
    instance: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Table:
    """A MIB table (or a group of scalars) read on the devices it matches."""

    name: str  # unique, e.g. "ups-mib", "apc-powernet", "mikrotik-wireless", "huawei-gpon-onu"
    family: str  # "radio" | "power" | "optics" | "cellular" | "device" | "vsat"
    match: tuple[str, ...]  # sysObjectID prefixes (numeric); () = any device (standard MIBs)
    index_label: str  # label that carries the row index ("" for a table of scalars)
    labels: Mapping[str, str]  # extra label -> "MIB::column" holding text
    metrics: tuple[Metric, ...]
    # --- additions of the framework (all optional) ---
    #: Rows kept only where "MIB::column" holds one of the values (ints, or numeric OID text
    #: such as "1.3.6.1.2.1.25.2.1.2" for hrStorageRam, or text); other rows are not exported.
    where: Mapping[str, tuple[int | str, ...]] = field(default_factory=lambda: _EMPTY)
    #: Whether a device matched by ``match`` must answer this table (``table_up`` 0 when it is
    #: silent). False where the vendor prefix covers models without it (a MikroTik switch has no
    #: wireless table; RouterOS 6 answers mtxrHl*, RouterOS 7 mtxrGaugeTable).
    expect: bool = True
    #: Rows are hardware or inventory (processors, storage, sensors, radio chains), not stations
    #: that come and go: between full polls the rows kept at the last full poll are read by GET in
    #: the system request instead of walking the columns (a Linux host's 35 hrStorage rows cost
    #: 140 varbinds a poll; its one RAM row costs 4).
    static_rows: bool = False
    #: How the index label shows a row's index: "" dotted ("268501248.5"), or a name of
    #: :data:`pantau.agent.snmp.health.indexes.FORMATS` that decodes a vendor's packed index
    #: ("gpon-onu_1/1/1:5"); a row it cannot decode keeps the dotted index.
    index_format: str = ""
