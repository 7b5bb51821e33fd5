"""VSAT terminals: receive signal quality and network lock.

Units: ``pantau_vsat_cn_db`` dB (carrier to noise at the demodulator input), ``pantau_vsat_esno_db``
dB (Es/No, for modems that report it), ``pantau_vsat_locked`` 1 the terminal operates in its
satellite network, 0 it does not.

Verified against a real recording: UHP Networks terminals (UHP-MIB). iDirect, Hughes, Gilat,
Newtec and Comtech modems were looked for in public recordings and not found (docs/contracts.md
lists where); iDirect remotes report their SNR through the hub's NMS, not at the remote, and
Starlink terminals have no SNMP agent at all.
"""

from __future__ import annotations

from types import MappingProxyType

from pantau.agent.snmp.health.spec import Metric, Table

CN = "pantau_vsat_cn_db"
ESNO = "pantau_vsat_esno_db"
LOCKED = "pantau_vsat_locked"

UHP = ("1.3.6.1.4.1.8000",)
#: UHP-MIB netState: operation(17) is the terminal in its network (receiving the outbound and
#: synchronised to the TDMA inbound); off(0) ... noStations(16) are the steps before it.
_UHP_NET_STATE = MappingProxyType({state: 1.0 if state == 17 else 0.0 for state in range(18)})

TABLES: tuple[Table, ...] = (
    Table(
        name="uhp-terminal",
        family="vsat",
        match=UHP,
        index_label="",  # scalars
        labels={},
        metrics=(
            Metric(
                CN,
                "carrier to noise ratio of the outbound at the demodulator input (C/N), dB",
                "UHP-MIB::lbandSNR1",  # "measured in 0.1 dB units"; demodulator 1 = outbound
                scale=0.1,
            ),
            Metric(
                LOCKED,
                "terminal operating in its satellite network (UHP netState operation): 1 yes, 0 no",
                "UHP-MIB::netState",
                "enum",
                enum=_UHP_NET_STATE,
            ),
        ),
    ),
)
