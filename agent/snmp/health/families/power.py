"""Power at the site: UPS on battery, charge, runtime left, input voltage; board voltage.

A power cut at a tower is told apart from a link cut by ``pantau_ups_on_battery`` (see
docs/contracts.md "SNMP health").
"""

from __future__ import annotations

from types import MappingProxyType

from pantau.agent.snmp.health.families._mikrotik import routeros6_scalars, routeros7_gauges
from pantau.agent.snmp.health.spec import Metric, Table

ON_BATTERY = "pantau_ups_on_battery"
_ON_BATTERY_HELP = "UPS output fed from its battery (mains power lost): 1 yes, 0 no"
_CHARGE_HELP = "UPS battery charge remaining, 0..1"
_RUNTIME_HELP = "UPS estimated runtime left on battery, seconds"
_INPUT_HELP = "UPS input (mains) voltage, volts"
_VOLTAGE = "pantau_device_voltage_volts"
_VOLTAGE_HELP = "supply voltage of the device's board, volts"

#: UPS-MIB upsOutputSource: normal(3) bypass(4) battery(5) booster(6) reducer(7); other(1) and
#: none(2) tell nothing about the mains: absent.
_UPS_MIB_SOURCE = MappingProxyType({3: 0.0, 4: 0.0, 5: 1.0, 6: 0.0, 7: 0.0})
#: PowerNet-MIB upsBasicOutputStatus: onBattery(3) and onBatteryTest(15)... a test is not a
#: power cut: only onBattery(3) is 1; states that say the mains feeds the load are 0; unknown(1),
#: timedSleeping(5), off(7), rebooting(8), sleepingUntilPowerReturn(11) and later modes are absent.
_APC_OUTPUT = MappingProxyType(
    {2: 0.0, 3: 1.0, 4: 0.0, 6: 0.0, 9: 0.0, 10: 0.0, 12: 0.0, 13: 0.0, 14: 0.0, 15: 0.0}
)

TABLES: tuple[Table, ...] = (
    Table(
        name="ups-mib",
        family="power",
        match=(),
        index_label="",
        labels={},
        metrics=(
            Metric(
                ON_BATTERY,
                _ON_BATTERY_HELP,
                "UPS-MIB::upsOutputSource",
                "enum",
                enum=_UPS_MIB_SOURCE,
            ),
            Metric(
                "pantau_ups_battery_charge_ratio",
                _CHARGE_HELP,
                "UPS-MIB::upsEstimatedChargeRemaining",
                scale=0.01,
            ),
            Metric(
                "pantau_ups_runtime_seconds",
                _RUNTIME_HELP,
                "UPS-MIB::upsEstimatedMinutesRemaining",
                scale=60.0,
            ),
        ),
    ),
    Table(
        name="ups-mib-input",
        static_rows=True,
        family="power",
        match=(),
        index_label="line",
        labels={},
        metrics=(
            Metric("pantau_ups_input_voltage_volts", _INPUT_HELP, "UPS-MIB::upsInputVoltage"),
        ),
    ),
    Table(
        name="apc-powernet",
        family="power",
        match=("1.3.6.1.4.1.318",),
        index_label="",
        labels={},
        metrics=(
            Metric(
                ON_BATTERY,
                _ON_BATTERY_HELP,
                "PowerNet-MIB::upsBasicOutputStatus",
                "enum",
                enum=_APC_OUTPUT,
            ),
            # upsHighPrec* (tenths) first: a newer card answers them instead of upsAdv*
            Metric(
                "pantau_ups_battery_charge_ratio",
                _CHARGE_HELP,
                "PowerNet-MIB::upsHighPrecBatteryCapacity",
                scale=0.001,
            ),
            Metric(
                "pantau_ups_battery_charge_ratio",
                _CHARGE_HELP,
                "PowerNet-MIB::upsAdvBatteryCapacity",
                scale=0.01,
            ),
            # TimeTicks, hundredths of a second
            Metric(
                "pantau_ups_runtime_seconds",
                _RUNTIME_HELP,
                "PowerNet-MIB::upsAdvBatteryRunTimeRemaining",
                scale=0.01,
            ),
            Metric(
                "pantau_ups_input_voltage_volts",
                _INPUT_HELP,
                "PowerNet-MIB::upsHighPrecInputLineVoltage",
                scale=0.1,
            ),
            Metric(
                "pantau_ups_input_voltage_volts",
                _INPUT_HELP,
                "PowerNet-MIB::upsAdvInputLineVoltage",
            ),
        ),
    ),
    routeros6_scalars(
        "mikrotik-power",
        "power",
        # Voltage TC: DISPLAY-HINT "d-1", tenths of a volt
        Metric(_VOLTAGE, _VOLTAGE_HELP, "MIKROTIK-MIB::mtxrHlVoltage", scale=0.1),
    ),
    routeros7_gauges(
        "mikrotik-gauge-voltage",
        "power",
        Metric(_VOLTAGE, _VOLTAGE_HELP, "MIKROTIK-MIB::mtxrGaugeValue", scale=0.1),
        unit=3,  # dV(3): tenths of a volt
    ),
)
