"""Radio links: signal, noise, SNR, CCQ, rates, capacity, transmit power, link state and clients of
MikroTik wireless, Ubiquiti airMAX / airFiber / LTU, Cambium ePMP, PMP 450 (AP and SM) and PTP 670
and Mimosa B5 radios."""

from __future__ import annotations

from types import MappingProxyType

from pantau.agent.snmp.health.families._mikrotik import MIKROTIK
from pantau.agent.snmp.health.spec import Metric, Table

SIGNAL = "pantau_radio_signal_dbm"
NOISE = "pantau_radio_noise_dbm"
SNR = "pantau_radio_snr_db"
CCQ = "pantau_radio_ccq_ratio"
TX_RATE = "pantau_radio_tx_rate_bps"
RX_RATE = "pantau_radio_rx_rate_bps"
CAPACITY = "pantau_radio_capacity_bps"
CLIENTS = "pantau_radio_clients"
TX_POWER = "pantau_radio_tx_power_dbm"
LINK_UP = "pantau_radio_link_up"
BEACONS = "pantau_radio_beacons_received_ratio"
_H = {
    SIGNAL: "received signal strength, dBm",
    NOISE: "noise floor, dBm",
    SNR: "signal to noise ratio, dB",
    CCQ: "client connection quality (CCQ), 0..1",
    TX_RATE: "transmit data rate of the link, bits per second",
    RX_RATE: "receive data rate of the link, bits per second",
    CAPACITY: "link capacity estimated by the radio, bits per second (direction tx or rx)",
    CLIENTS: "stations registered to the access point",
    TX_POWER: "transmit power of the radio, dBm",
    LINK_UP: "radio link established (station registered to its access point, PTP link up): "
    "1 yes, 0 no",
    BEACONS: "share of its access point's beacons the station receives, 0..1",
}
_UBNT = ("1.3.6.1.4.1.41112", "1.3.6.1.4.1.10002.1")  # airOS answers as Frogfoot (10002) too
#: airFiber LTU answers the sysObjectID of net-snmp on Linux (8072.3.2.10)
_UBNT_LTU = (*_UBNT, "1.3.6.1.4.1.8072.3.2.10")
_TX = (("direction", "tx"),)
_RX = (("direction", "rx"),)
_CHAIN0 = (("chain", "0"),)
_CHAIN1 = (("chain", "1"),)
#: Cambium PMP 450 (Canopy) MIMO paths: the MIB names them by antenna polarisation
_VERTICAL = (("chain", "vertical"),)
_HORIZONTAL = (("chain", "horizontal"),)
#: Cambium PMP 450/450i/450m (AP and SM) answer this sysObjectID (whispBox product registration)
_CAMBIUM_PMP = ("1.3.6.1.4.1.161.19.250.256",)
#: WHISP-SM-MIB adaptRateLowPri: noSession(0); rate1X(1) .. rate8X(8) are the modulations of a
#: station in session with its AP
_PMP_SM_SESSION = MappingProxyType({0: 0.0, **{rate: 1.0 for rate in (1, 2, 3, 4, 6, 8)}})
#: CAMBIUM-PTP670-MIB wirelessLinkStatusLinked: up(0); registering(1), searching(2),
#: acquiring(3), radarCAC(4), initialising(5) are a link that is not (yet) passing traffic
_PTP670_LINK = MappingProxyType({0: 1.0, **{state: 0.0 for state in range(1, 6)}})


def _m(name: str, oid: str, **kw: object) -> Metric:
    return Metric(name, _H[name], oid, **kw)  # type: ignore[arg-type]


TABLES: tuple[Table, ...] = (
    Table(
        name="mikrotik-wireless",
        family="radio",
        expect=False,  # the vendor's prefix covers models without this table
        match=MIKROTIK,
        index_label="station",  # MAC address (6 numbers) and ifIndex of the registration
        labels={"interface": "MIKROTIK-MIB::mtxrWlRtabIface"},
        metrics=(
            _m(SIGNAL, "MIKROTIK-MIB::mtxrWlRtabStrength"),
            _m(SNR, "MIKROTIK-MIB::mtxrWlRtabSignalToNoise", missing=(0,)),  # 0: not measured
            _m(TX_RATE, "MIKROTIK-MIB::mtxrWlRtabTxRate"),
            _m(RX_RATE, "MIKROTIK-MIB::mtxrWlRtabRxRate"),
        ),
    ),
    Table(
        name="mikrotik-wireless-ap",
        static_rows=True,
        family="radio",
        expect=False,  # the vendor's prefix covers models without this table
        match=MIKROTIK,
        index_label="interface",  # ifIndex
        labels={"ssid": "MIKROTIK-MIB::mtxrWlApSsid"},
        metrics=(
            _m(CLIENTS, "MIKROTIK-MIB::mtxrWlApClientCount"),
            _m(NOISE, "MIKROTIK-MIB::mtxrWlApNoiseFloor", missing=(0,)),
            # 0: no station measured (an AP with no clients answers 0, not a CCQ)
            _m(CCQ, "MIKROTIK-MIB::mtxrWlApOverallTxCCQ", scale=0.01, missing=(0,)),
            _m(TX_RATE, "MIKROTIK-MIB::mtxrWlApTxRate", missing=(0,)),
            _m(RX_RATE, "MIKROTIK-MIB::mtxrWlApRxRate", missing=(0,)),
        ),
    ),
    Table(
        name="ubnt-airmax",
        static_rows=True,
        family="radio",
        expect=False,  # the vendor's prefix covers models without this table
        match=_UBNT,
        index_label="radio",
        labels={"ssid": "UBNT-AirMAX-MIB::ubntWlStatSsid"},
        metrics=(
            _m(SIGNAL, "UBNT-AirMAX-MIB::ubntWlStatSignal", missing=(0,)),
            _m(NOISE, "UBNT-AirMAX-MIB::ubntWlStatNoiseFloor", missing=(0,)),
            _m(CCQ, "UBNT-AirMAX-MIB::ubntWlStatCcq", scale=0.01),
            _m(TX_RATE, "UBNT-AirMAX-MIB::ubntWlStatTxRate", missing=(0,)),  # bit/s
            _m(RX_RATE, "UBNT-AirMAX-MIB::ubntWlStatRxRate", missing=(0,)),
            _m(CLIENTS, "UBNT-AirMAX-MIB::ubntWlStatStaCount"),
        ),
    ),
    Table(
        name="ubnt-airmax-stations",
        family="radio",
        expect=False,  # the vendor's prefix covers models without this table
        match=_UBNT,
        index_label="station",
        labels={"station_name": "UBNT-AirMAX-MIB::ubntStaName"},
        metrics=(
            _m(SIGNAL, "UBNT-AirMAX-MIB::ubntStaSignal", missing=(0,)),
            _m(NOISE, "UBNT-AirMAX-MIB::ubntStaNoiseFloor", missing=(0,)),
            _m(CCQ, "UBNT-AirMAX-MIB::ubntStaCcq", scale=0.01),
            _m(CAPACITY, "UBNT-AirMAX-MIB::ubntStaTxCapacity", scale=1000.0, const_labels=_TX),
            _m(CAPACITY, "UBNT-AirMAX-MIB::ubntStaRxCapacity", scale=1000.0, const_labels=_RX),
        ),
    ),
    Table(
        name="ubnt-airfiber",
        static_rows=True,
        family="radio",
        expect=False,  # the vendor's prefix covers models without this table
        match=_UBNT,
        index_label="radio",
        labels={},
        metrics=(
            _m(SIGNAL, "UBNT-AirFIBER-MIB::rxPower0", const_labels=_CHAIN0),
            _m(SIGNAL, "UBNT-AirFIBER-MIB::rxPower1", const_labels=_CHAIN1),
            _m(CAPACITY, "UBNT-AirFIBER-MIB::txCapacity", const_labels=_TX),
            _m(CAPACITY, "UBNT-AirFIBER-MIB::rxCapacity", const_labels=_RX),
        ),
    ),
    Table(
        name="ubnt-ltu",
        family="radio",
        expect=False,  # the vendor's prefix covers models without this table
        match=_UBNT_LTU,
        index_label="station",
        labels={"station_name": "UBNT-AFLTU-MIB::afLTUStaRemoteDevName"},
        metrics=(
            _m(SIGNAL, "UBNT-AFLTU-MIB::afLTUStaRxPower0", const_labels=_CHAIN0),
            _m(SIGNAL, "UBNT-AFLTU-MIB::afLTUStaRxPower1", const_labels=_CHAIN1),
            _m(CAPACITY, "UBNT-AFLTU-MIB::afLTUStaTxCapacity", scale=1000.0, const_labels=_TX),
            _m(CAPACITY, "UBNT-AFLTU-MIB::afLTUStaRxCapacity", scale=1000.0, const_labels=_RX),
        ),
    ),
    Table(
        name="cambium-epmp",
        family="radio",
        match=("1.3.6.1.4.1.17713.21",),
        index_label="",
        labels={},
        metrics=(
            _m(SIGNAL, "CAMBIUM-PMP80211-MIB::cambiumSTADLRSSI", missing=(0,)),
            _m(SNR, "CAMBIUM-PMP80211-MIB::cambiumSTADLSNR", missing=(0,)),
            _m(CLIENTS, "CAMBIUM-PMP80211-MIB::cambiumAPNumberOfConnectedSTA"),
        ),
    ),
    Table(
        name="cambium-pmp",
        family="radio",
        match=_CAMBIUM_PMP,
        index_label="",
        labels={},
        metrics=(
            _m(CLIENTS, "WHISP-APS-MIB::regCount"),  # AP only ("number of registered SMs")
            Metric(
                "pantau_device_temperature_celsius",
                "temperature, degrees Celsius",
                "WHISP-BOX-MIBV2-MIB::boxTemperatureC",
                const_labels=(("sensor", "radio"),),
            ),
        ),
    ),
    Table(
        name="cambium-pmp-links",
        family="radio",
        expect=False,  # an SM, or an AP without registered SMs, has no rows
        match=_CAMBIUM_PMP,
        index_label="station",  # LUID of the registered SM
        labels={"station_name": "WHISP-APS-MIB::linkSiteName"},
        metrics=(
            # DisplayString "-59.9" (dBm; for MIMO the combined receive power): parsed as text
            _m(SIGNAL, "WHISP-APS-MIB::lastPowerLevel", parse="text_number"),
            _m(
                SIGNAL,
                "WHISP-APS-MIB::linkRadioDbmVertical",
                parse="text_number",
                const_labels=_VERTICAL,
            ),
            _m(
                SIGNAL,
                "WHISP-APS-MIB::linkRadioDbmHorizontal",
                parse="text_number",
                const_labels=_HORIZONTAL,
            ),
            _m(SNR, "WHISP-APS-MIB::signalToNoiseRatioVertical", const_labels=_VERTICAL),
            # "If operating in MIMO-A this will return 0": 0 is no reading
            _m(
                SNR,
                "WHISP-APS-MIB::signalToNoiseRatioHorizontal",
                missing=(0,),
                const_labels=_HORIZONTAL,
            ),
        ),
    ),
    Table(
        name="cambium-pmp-sm",
        family="radio",
        expect=False,  # an AP answers no WHISP-SM-MIB object
        match=_CAMBIUM_PMP,
        index_label="",  # scalars: the SM's own link toward its AP
        labels={},
        metrics=(
            # DisplayString dBm as on the AP side; "for MIMO the combined power" of both paths
            _m(SIGNAL, "WHISP-SM-MIB::radioDbm", parse="text_number"),
            _m(
                SIGNAL,
                "WHISP-SM-MIB::radioDbmVertical",
                parse="text_number",
                const_labels=_VERTICAL,
            ),
            _m(
                SIGNAL,
                "WHISP-SM-MIB::radioDbmHorizontal",
                parse="text_number",
                const_labels=_HORIZONTAL,
            ),
            # "Will return zero if Signal to Noise Ratio Calculation is disabled" (both paths;
            # the horizontal one also in MIMO-A): 0 is no reading
            _m(
                SNR,
                "WHISP-SM-MIB::signalToNoiseRatioSMVertical",
                missing=(0,),
                const_labels=_VERTICAL,
            ),
            _m(
                SNR,
                "WHISP-SM-MIB::signalToNoiseRatioSMHorizontal",
                missing=(0,),
                const_labels=_HORIZONTAL,
            ),
            _m(LINK_UP, "WHISP-SM-MIB::adaptRateLowPri", parse="enum", enum=_PMP_SM_SESSION),
            _m(BEACONS, "WHISP-SM-MIB::beaconsPercentReceived", scale=0.01),  # INTEGER 0..100
        ),
    ),
    Table(
        name="cambium-ptp670",
        family="radio",
        match=("1.3.6.1.4.1.17713.11",),
        index_label="",
        labels={},
        metrics=(
            # "Raw receive power expressed in tenths of a dBm" (phyStatus 12); the recording
            # answers this column, not receivePowerLinked (phyStatus 2)
            _m(SIGNAL, "CAMBIUM-PTP670-MIB::rawReceivePowerLinked", scale=0.1),
            _m(TX_POWER, "CAMBIUM-PTP670-MIB::transmitPowerLinked", scale=0.1),  # tenths of dBm
            # pubStats receive/transmitDataRate are not read: Cambium's PTP user guides define
            # them as measured data rates (max/mean/min of one-second means) beside a separate
            # "Link Capacity", so they are traffic (the interface counters), not a link rate
            _m(
                LINK_UP,
                "CAMBIUM-PTP670-MIB::wirelessLinkStatusLinked",
                parse="enum",
                enum=_PTP670_LINK,
            ),
        ),
    ),
    Table(
        name="mimosa-b5-chains",
        static_rows=True,
        family="radio",
        match=("1.3.6.1.4.1.43356",),
        index_label="chain",
        labels={},
        metrics=(
            # DecimalOne: tenths; -100 (raw -1000) marks a chain that is not in use
            _m(SIGNAL, "MIMOSA-NETWORKS-BFIVE-MIB::mimosaRxPower", scale=0.1, missing=(-1000,)),
            _m(NOISE, "MIMOSA-NETWORKS-BFIVE-MIB::mimosaRxNoise", scale=0.1, missing=(-1000,)),
            _m(SNR, "MIMOSA-NETWORKS-BFIVE-MIB::mimosaSNR", scale=0.1, missing=(-1000,)),
        ),
    ),
    Table(
        name="mimosa-b5",
        family="radio",
        match=("1.3.6.1.4.1.43356",),
        index_label="",
        labels={},
        metrics=(
            # DecimalTwo kbps: hundredths of kbit/s = 10 bit/s
            _m(TX_RATE, "MIMOSA-NETWORKS-BFIVE-MIB::mimosaPhyTxRate", scale=10.0),
            _m(RX_RATE, "MIMOSA-NETWORKS-BFIVE-MIB::mimosaPhyRxRate", scale=10.0),
            Metric(
                "pantau_device_temperature_celsius",
                "temperature, degrees Celsius",
                "MIMOSA-NETWORKS-BFIVE-MIB::mimosaInternalTemp",
                scale=0.1,
                const_labels=(("sensor", "internal"),),
            ),
        ),
    ),
)
