"""Optics: PON ONU state and optical power on OLTs (Huawei SmartAX, V-SOL), SFP/DOM power on
MikroTik ports.

Units: ``pantau_optic_rx_power_dbm`` / ``pantau_optic_tx_power_dbm`` in dBm (what the device
measures at that end of the fibre); ``pantau_pon_onu_up`` 1 the ONU runs, 0 it is down. A reading
the device marks as invalid (Huawei 2147483647, MikroTik 0 on a port without DOM) is absent.
Which recording verifies which table: tests/data/snmp/third_party/librenms/README.md.
"""

from __future__ import annotations

from types import MappingProxyType

from pantau.agent.snmp.health.families._mikrotik import MIKROTIK
from pantau.agent.snmp.health.spec import Metric, Table

RX = "pantau_optic_rx_power_dbm"
TX = "pantau_optic_tx_power_dbm"
ONU_UP = "pantau_pon_onu_up"
_RX_HELP = "optical power received, dBm"
_TX_HELP = "optical power transmitted, dBm"
_ONU_HELP = "PON ONU (ONT) running: 1 up, 0 down"

#: Huawei SmartAX OLTs (MA5600T/MA5603T/MA5608T/MA5680T/MA5800), their sysObjectIDs as LibreNMS
#: detects them (resources/definitions/os_detection/smartax.yaml).
HUAWEI_OLT = (
    "1.3.6.1.4.1.2011.2.80.8",
    "1.3.6.1.4.1.2011.2.115",
    "1.3.6.1.4.1.2011.2.123",
    "1.3.6.1.4.1.2011.2.133",
    "1.3.6.1.4.1.2011.2.248",
)
VSOL = ("1.3.6.1.4.1.37950",)

#: HUAWEI-XPON-MIB: Integer32 readings in 0.01 dBm; 2147483647 (0x7FFFFFFF) = no reading (a GPON
#: port's own receive power is measured per ONT, so the OLT port answers it).
_HUAWEI_INVALID = (2147483647, -2147483648)
#: hwGponDeviceOntControlRunStatus: up(1), down(2); invalid(-1) "query failed": absent.
_HUAWEI_RUN = MappingProxyType({1: 1.0, 2: 0.0})

TABLES: tuple[Table, ...] = (
    Table(
        name="huawei-gpon-olt-optics",
        family="optics",
        match=HUAWEI_OLT,
        index_label="ifindex",  # the GPON port's ifIndex
        labels={},
        metrics=(
            Metric(
                TX,
                _TX_HELP,
                "HUAWEI-XPON-MIB::hwGponOltOpticsDdmInfoTxPower",
                scale=0.01,
                missing=_HUAWEI_INVALID,
            ),
            Metric(
                RX,
                _RX_HELP,
                "HUAWEI-XPON-MIB::hwGponOltOpticsDdmInfoRxPower",
                scale=0.01,
                missing=_HUAWEI_INVALID,
            ),
        ),
    ),
    Table(
        name="huawei-gpon-ont",
        family="optics",
        match=HUAWEI_OLT,
        index_label="ont",  # GPON port ifIndex . ONT id
        labels={"description": "HUAWEI-XPON-MIB::hwGponDeviceOntDespt"},
        expect=False,  # an EPON-only OLT, or one without ONTs yet
        metrics=(
            Metric(
                ONU_UP,
                _ONU_HELP,
                "HUAWEI-XPON-MIB::hwGponDeviceOntControlRunStatus",
                "enum",
                enum=_HUAWEI_RUN,
            ),
            Metric(
                RX,
                _RX_HELP,
                "HUAWEI-XPON-MIB::hwGponOntOpticalDdmRxPower",
                scale=0.01,
                missing=_HUAWEI_INVALID,
            ),
            Metric(
                TX,
                _TX_HELP,
                "HUAWEI-XPON-MIB::hwGponOntOpticalDdmTxPower",
                scale=0.01,
                missing=_HUAWEI_INVALID,
            ),
        ),
    ),
    Table(
        # the OLT's PON transceivers; V1600D answers text such as "6.56 dbm"
        name="vsol-pon-transceiver",
        family="optics",
        match=VSOL,
        index_label="pon",
        labels={"port": "V1600D::ponPortDescr"},
        metrics=(Metric(TX, _TX_HELP, "V1600D::transmitPower", "text_dbm"),),
    ),
    Table(
        # each ONU's own optical diagnosis, as the OLT reports it: "0.03 mW (-14.61 dBm)"
        name="vsol-onu-optics",
        family="optics",
        match=VSOL,
        index_label="onu",  # PON port . ONU id
        labels={"description": "V1600D::onuAuthInfoDescription2"},
        metrics=(
            Metric(RX, _RX_HELP, "V1600D::rxPower", "text_dbm"),
            Metric(TX, _TX_HELP, "V1600D::txPower", "text_dbm"),
        ),
    ),
    Table(
        # SFP/SFP+ DOM of RouterOS/SwOS ports, in 0.001 dBm; 0 on a module without DOM
        name="mikrotik-optics",
        family="optics",
        match=MIKROTIK,
        index_label="interface",  # ifIndex
        labels={"port": "MIKROTIK-MIB::mtxrOpticalName"},
        expect=False,  # most MikroTik boards have no SFP
        metrics=(
            Metric(RX, _RX_HELP, "MIKROTIK-MIB::mtxrOpticalRxPower", scale=0.001, missing=(0,)),
            Metric(TX, _TX_HELP, "MIKROTIK-MIB::mtxrOpticalTxPower", scale=0.001, missing=(0,)),
        ),
    ),
)
