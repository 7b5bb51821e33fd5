"""Device health: CPU load, memory used, temperatures (HOST-RESOURCES-MIB, ENTITY-SENSOR-MIB and
vendor MIBs)."""

from __future__ import annotations

from pantau.agent.snmp.health.families._mikrotik import routeros6_scalars, routeros7_gauges
from pantau.agent.snmp.health.spec import Metric, Table

CPU_HELP = "processor load, 0..1 (the mean over the device's processors)"
MEMORY_HELP = "memory used, 0..1"
TEMPERATURE_HELP = "temperature, degrees Celsius"
#: airFiber LTU answers the sysObjectID of net-snmp on Linux (8072.3.2.10), others Frogfoot's
UBNT_LTU = ("1.3.6.1.4.1.41112", "1.3.6.1.4.1.10002.1", "1.3.6.1.4.1.8072.3.2.10")
_HR_STORAGE_RAM = "1.3.6.1.2.1.25.2.1.2"  # HOST-RESOURCES-TYPES::hrStorageRam

TABLES: tuple[Table, ...] = (
    Table(
        name="host-resources-cpu",
        static_rows=True,
        family="device",
        match=(),
        index_label="cpu",
        labels={},
        metrics=(
            Metric(
                "pantau_device_cpu_ratio",
                CPU_HELP,
                "HOST-RESOURCES-MIB::hrProcessorLoad",
                scale=0.01,
                aggregate="mean",
            ),
        ),
    ),
    Table(
        name="host-resources-memory",
        static_rows=True,
        family="device",
        match=(),
        index_label="storage",
        labels={"descr": "HOST-RESOURCES-MIB::hrStorageDescr"},
        metrics=(
            Metric(
                "pantau_device_memory_used_ratio",
                MEMORY_HELP,
                "HOST-RESOURCES-MIB::hrStorageUsed",
                divide_by="HOST-RESOURCES-MIB::hrStorageSize",
            ),
        ),
        where={"HOST-RESOURCES-MIB::hrStorageType": (_HR_STORAGE_RAM,)},
    ),
    Table(
        name="entity-sensor-temperature",
        static_rows=True,
        family="device",
        match=(),
        index_label="entity",  # entPhysicalIndex
        labels={"sensor": "ENTITY-MIB::entPhysicalName"},
        metrics=(
            Metric(
                "pantau_device_temperature_celsius",
                TEMPERATURE_HELP,
                "ENTITY-SENSOR-MIB::entPhySensorValue",
                precision="ENTITY-SENSOR-MIB::entPhySensorPrecision",
                exponent="ENTITY-SENSOR-MIB::entPhySensorScale",
            ),
        ),
        # celsius(8) sensors whose entPhySensorOperStatus is ok(1): an unavailable(2) or
        # nonoperational(3) sensor's value means nothing
        where={
            "ENTITY-SENSOR-MIB::entPhySensorType": (8,),
            "ENTITY-SENSOR-MIB::entPhySensorOperStatus": (1,),
        },
    ),
    routeros6_scalars(
        "mikrotik-temperature",
        "device",
        # Temperature TC: DISPLAY-HINT "d-1", tenths of a degree
        Metric(
            "pantau_device_temperature_celsius",
            TEMPERATURE_HELP,
            "MIKROTIK-MIB::mtxrHlTemperature",
            scale=0.1,
            const_labels=(("sensor", "board"),),
        ),
        Metric(
            "pantau_device_temperature_celsius",
            TEMPERATURE_HELP,
            "MIKROTIK-MIB::mtxrHlCpuTemperature",
            scale=0.1,
            const_labels=(("sensor", "cpu"),),
        ),
    ),
    Table(
        name="ubnt-ltu-host",
        family="device",
        match=UBNT_LTU,
        expect=False,
        index_label="",
        labels={},
        metrics=(
            Metric(
                "pantau_device_cpu_ratio", CPU_HELP, "UBNT-AFLTU-MIB::afLTUCpuUsage", scale=0.01
            ),
            Metric(
                "pantau_device_memory_used_ratio",
                MEMORY_HELP,
                "UBNT-AFLTU-MIB::afLTUMemoryUsage",
                scale=0.01,
            ),
        ),
    ),
    routeros7_gauges(
        "mikrotik-gauge-temperature",
        "device",
        Metric(
            "pantau_device_temperature_celsius", TEMPERATURE_HELP, "MIKROTIK-MIB::mtxrGaugeValue"
        ),
        unit=1,  # celsius(1)
    ),
)
