"""Row indexes as label values: the dotted index, or a vendor's readable name for it.

A table's ``index_format`` names one function of :data:`FORMATS`; a row whose index that function
cannot decode keeps its dotted index (``268501248.5``), never a guessed name. Pure functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from pantau.agent.snmp.ber import Oid


def dotted(index: Oid) -> str:
    return ".".join(map(str, index))


def zte_gpon_onu(index: Oid) -> str | None:
    """ZXGPON-SERVICE-MIB rows ``<OLT id>.<ONU id>`` (ZTE C300/C320, the ``.1012`` tree) as the
    CLI names the ONU, ``gpon-onu_1/<slot>/<port>:<onu>``.

    The OLT id (zxGponMgmtPonOltId, also the first index of zxGponOntMgmt's tables) packs, as the
    MIB's DESCRIPTION gives it: type bits 31-28 (1), shelf 27-24 (0: the CLI's shelf 1), slot
    23-16, port 15-8, bits 7-0 reserved (0). A recorded C320 (LibreNMS ``zxa10_c320``) answers
    its 8 GPON ports' rows at 268501248 + 256 * (port - 1), slot 1: 268501248 is gpon 1/1/1.
    """
    if len(index) != 2:
        return None
    olt, onu = index
    if olt >> 28 != 1 or (olt >> 24) & 0xF or olt & 0xFF:
        return None
    slot, port = (olt >> 16) & 0xFF, (olt >> 8) & 0xFF
    if not slot or not port or not 1 <= onu <= 255:
        return None
    return f"gpon-onu_1/{slot}/{port}:{onu}"


def zte_pon_onu(index: Oid) -> str | None:
    """ZTE-AN-PON-BASE-MIB rows ``<ifIndex>.<ZxAnPonOnuIndex>`` (ZTE C320 V2 / C600 firmware, the
    ``.1082.500`` tree) as ``<shelf>/<slot>/<port>:<onu>``.

    The PON port's ifIndex is 0x11 then one byte each for shelf, slot and port: a recorded C320
    (LibreNMS ``zxa10_c320v2``) names 285278465 (0x11010101) ``gpon_1/1/1`` and 285278727
    (0x11010207) ``gpon_1/2/7`` in ifName. ZxAnPonOnuIndex (ZTE-AN-PON-TC-MIB): type 0 (a normal
    ONU) in bits 31-28, reserved bits, the ONU id (1..128) in the low byte. The PON type (GPON,
    EPON) is not in the index, so the name carries none.
    """
    if len(index) != 2:
        return None
    ifindex, onu = index
    if ifindex >> 24 != 0x11 or not 1 <= onu <= 255:
        return None
    shelf, slot, port = (ifindex >> 16) & 0xFF, (ifindex >> 8) & 0xFF, ifindex & 0xFF
    if not shelf or not slot or not port:
        return None
    return f"{shelf}/{slot}/{port}:{onu}"


FORMATS: Mapping[str, Callable[[Oid], str | None]] = MappingProxyType(
    {"zte_gpon_onu": zte_gpon_onu, "zte_pon_onu": zte_pon_onu}
)


def label(index_format: str, index: Oid) -> str:
    """The index label of a row: decoded by ``index_format`` where it can be, else dotted."""
    decode = FORMATS.get(index_format)
    decoded = decode(index) if decode is not None else None
    return decoded if decoded is not None else dotted(index)
