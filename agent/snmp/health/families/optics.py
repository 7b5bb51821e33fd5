"""Optics: PON ONU state and optical power on OLTs (Huawei SmartAX, ZTE ZXA10, V-SOL), SFP/DOM
power on MikroTik ports.

Units: ``pantau_optic_rx_power_dbm`` / ``pantau_optic_tx_power_dbm`` in dBm (what the device
measures at that end of the fibre: an ONU's rows are the ONU's own receiver); ``pantau_pon_olt_rx_
power_dbm`` in dBm, what the OLT's PON port receives from one ONU (upstream); ``pantau_pon_onu_up``
1 the ONU runs, 0 it is down. A reading the device marks as invalid (Huawei 2147483647, ZTE 65535,
MikroTik 0 on a port without DOM) is absent. Which recording verifies which table:
tests/data/snmp/third_party/librenms/README.md.
"""

from __future__ import annotations

from types import MappingProxyType

from pantau.agent.snmp.health.families._mikrotik import MIKROTIK
from pantau.agent.snmp.health.spec import Metric, Table

RX = "pantau_optic_rx_power_dbm"
TX = "pantau_optic_tx_power_dbm"
ONU_UP = "pantau_pon_onu_up"
OLT_RX = "pantau_pon_olt_rx_power_dbm"
_RX_HELP = "optical power received, dBm"
_TX_HELP = "optical power transmitted, dBm"
_ONU_HELP = "PON ONU (ONT) running: 1 up, 0 down"
_OLT_RX_HELP = "optical power the OLT's PON port receives from this ONU (upstream), dBm"

#: Huawei SmartAX OLTs (MA5600T/MA5603T/MA5608T/MA5680T/MA5800), their sysObjectIDs as LibreNMS
#: detects them (resources/definitions/os_detection/smartax.yaml).
HUAWEI_OLT = (
    "1.3.6.1.4.1.2011.2.80.8",
    "1.3.6.1.4.1.2011.2.115",
    "1.3.6.1.4.1.2011.2.123",
    "1.3.6.1.4.1.2011.2.133",
    "1.3.6.1.4.1.2011.2.248",
)
#: ZTE's enterprise: ZXA10 C300/C320/C600 OLTs (a C320 answers 1.3.6.1.4.1.3902.1082.1001.320.2.1);
#: ZTE switches and routers match too, so the ZTE tables are not expected (expect=False).
ZTE = ("1.3.6.1.4.1.3902",)
VSOL = ("1.3.6.1.4.1.37950",)

#: HUAWEI-XPON-MIB: Integer32 readings in 0.01 dBm; 2147483647 (0x7FFFFFFF) = no reading (a GPON
#: port's own receive power is measured per ONT, so the OLT port answers it).
_HUAWEI_INVALID = (2147483647, -2147483648)
#: hwGponDeviceOntControlRunStatus: up(1), down(2); invalid(-1) "query failed": absent.
_HUAWEI_RUN = MappingProxyType({1: 1.0, 2: 0.0})

#: ZXGPON-SERVICE-MIB zxGponOntPhaseState: logging(0), los(1), syncMib(2), working(3),
#: dyinggasp(4), authFailed(5), offline(6). Working is up; every other state is down (syncMib: the
#: ONU is still being configured, no service yet); a number the MIB does not define is absent.
_ZTE_PHASE = MappingProxyType({3: 1.0, 0: 0.0, 1: 0.0, 2: 0.0, 4: 0.0, 5: 0.0, 6: 0.0})
#: ZXGPON-ONTMGMT-MIB zxGponPonRxOpticalLevel (the ONU's ANI-G receive level at 1490 nm). The MIB
#: text copies G.984.4 ("2s complement ... 0.002 dB granularity"), but ZTE OLTs answer it offset
#: by 30 dB: dBm = raw * 0.002 - 30, as independent public tools read it (and their recorded
#: values, 3459 -> -23.08 dBm, fit only that); 65535 (an ONU that is not working) and 2147483647
#: are "no reading". Not verified against a recording: none public holds this column.
_ZTE_RX_MISSING = (65535, 2147483647)
#: ZTE-AN-PON-BASE-MIB zxAnPonRxOpticalPower, UNITS "0.001 dBm": "65535000 means N/A, ONU is not
#: in service. -80000 means no signal received" (neither is a power reading: absent).
_ZTE_OLT_RX_MISSING = (65535000, -80000)

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
            Metric(
                # the MIB: "Actual value = ((Node value - 10000) / 100)" dBm
                OLT_RX,
                _OLT_RX_HELP,
                "HUAWEI-XPON-MIB::hwGponOntOpticalDdmOltRxOntPower",
                scale=0.01,
                offset=-100.0,
                missing=_HUAWEI_INVALID,
            ),
        ),
    ),
    Table(
        # ZTE C300/C320 (firmware with the ".1012" ZXGPON tree): each ONU's state and the receive
        # power its own optics report; rows OLT id . ONU id, named gpon-onu_1/<slot>/<port>:<onu>
        name="zte-gpon-onu",
        family="optics",
        match=ZTE,
        index_label="onu",
        index_format="zte_gpon_onu",
        labels={
            "description": "ZXGPON-SERVICE-MIB::zxGponOntDevMgmtDescription",
            "onu_name": "ZXGPON-SERVICE-MIB::zxGponOntDevMgmtName",
        },
        expect=False,  # C320 V2 / C600 firmware answers the ".1082.500" tables instead
        metrics=(
            Metric(
                ONU_UP,
                _ONU_HELP,
                "ZXGPON-SERVICE-MIB::zxGponOntPhaseState",
                "enum",
                enum=_ZTE_PHASE,
            ),
            Metric(
                RX,
                _RX_HELP,
                "ZXGPON-ONTMGMT-MIB::zxGponPonRxOpticalLevel",
                scale=0.002,
                offset=-30.0,
                missing=_ZTE_RX_MISSING,
                instance=(1,),  # indexed OLT id . ONU id . the ONU's PON port (1)
            ),
        ),
    ),
    Table(
        # ZTE C320 V2 / C600 firmware (the ".1082.500" zxAn tree): what the OLT receives from each
        # ONU; rows PON ifIndex . ONU index, named <shelf>/<slot>/<port>:<onu>
        name="zte-pon-onu-olt-rx",
        family="optics",
        match=ZTE,
        index_label="onu",
        index_format="zte_pon_onu",
        labels={},
        expect=False,
        metrics=(
            Metric(
                OLT_RX,
                _OLT_RX_HELP,
                "ZTE-AN-PON-BASE-MIB::zxAnPonRxOpticalPower",
                scale=0.001,
                missing=_ZTE_OLT_RX_MISSING,
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
