"""Cellular backup: LTE signal (RSRP, RSRQ, SINR, RSSI) and WAN state of MikroTik LTE modems and
Pepwave/Peplink routers.

Units: ``pantau_lte_rsrp_dbm`` / ``pantau_lte_rssi_dbm`` dBm, ``pantau_lte_rsrq_db`` /
``pantau_lte_sinr_db`` dB, ``pantau_cellular_wan_up`` 1 connected, 0 not. A value the device
marks as "not applicable" (Peplink -9999; MikroTik 0 for RSSI, RSRP and RSRQ, which no attached
modem can read) is absent, never a good-looking 0.
"""

from __future__ import annotations

from types import MappingProxyType

from pantau.agent.snmp.health.families._mikrotik import MIKROTIK
from pantau.agent.snmp.health.spec import Metric, Table

RSRP = "pantau_lte_rsrp_dbm"
RSRQ = "pantau_lte_rsrq_db"
SINR = "pantau_lte_sinr_db"
RSSI = "pantau_lte_rssi_dbm"
WAN_UP = "pantau_cellular_wan_up"
_H = {
    RSRP: "LTE reference signal received power (RSRP), dBm",
    RSRQ: "LTE reference signal received quality (RSRQ), dB",
    SINR: "LTE signal to interference plus noise ratio (SINR), dB",
    RSSI: "cellular received signal strength (RSSI), dBm",
    WAN_UP: "WAN link connected: 1 yes, 0 no (disconnected, connecting, failing health check, "
    "standby)",
}

#: Pepwave (27662) and Peplink (23695) products; both answer the Peplink (23695) MIBs.
PEPLINK = ("1.3.6.1.4.1.27662", "1.3.6.1.4.1.23695")
_PEPLINK_NA = (-9999,)
#: Peplink WAN wanState: connected(3) is up; disconnected(2), connecting(4), activating(5),
#: health-check-fail(6), disconnected-manually(7), standby(8) are not; unknown(0) and
#: disabled(1) (a WAN nobody uses) are absent.
_PEPLINK_WAN = MappingProxyType({3: 1.0, 2: 0.0, 4: 0.0, 5: 0.0, 6: 0.0, 7: 0.0, 8: 0.0})


def _m(name: str, oid: str, **kw: object) -> Metric:
    return Metric(name, _H[name], oid, **kw)  # type: ignore[arg-type]


TABLES: tuple[Table, ...] = (
    Table(
        name="mikrotik-lte",
        family="cellular",
        match=MIKROTIK,
        index_label="interface",  # ifIndex of the lte interface
        labels={},
        expect=False,  # most MikroTik boards have no LTE modem
        metrics=(
            _m(RSRP, "MIKROTIK-MIB::mtxrLTEModemSignalRSRP", missing=(0,)),
            _m(RSRQ, "MIKROTIK-MIB::mtxrLTEModemSignalRSRQ", missing=(0,)),
            _m(SINR, "MIKROTIK-MIB::mtxrLTEModemSignalSINR"),
            _m(RSSI, "MIKROTIK-MIB::mtxrLTEModemSignalRSSI", missing=(0,)),
        ),
    ),
    Table(
        name="peplink-cellular",
        family="cellular",
        match=PEPLINK,
        index_label="cellular",  # cellularSignalInfoId
        labels={},
        expect=False,  # Peplink Balance routers have no modem
        metrics=(
            _m(RSRP, "CELLULAR::cellularSignalRsrp", missing=_PEPLINK_NA),
            _m(RSRQ, "CELLULAR::cellularSignalRsrq", missing=_PEPLINK_NA),
            _m(SINR, "CELLULAR::cellularSignalSinr", missing=_PEPLINK_NA),
            _m(RSSI, "CELLULAR::cellularSignalRssi", missing=_PEPLINK_NA),
        ),
    ),
    Table(
        # every WAN of the router (cellular modems, Ethernet, Wi-Fi WAN), named by wanName
        name="peplink-wan",
        family="cellular",
        match=PEPLINK,
        index_label="wan",  # wanId
        labels={"wan_name": "WAN::wanName"},
        metrics=(_m(WAN_UP, "WAN::wanState", parse="enum", enum=_PEPLINK_WAN),),
    ),
)
