"""MIB object names compiled to numeric OIDs by ``scripts/compile-mibs`` (pysmi), one module per
MIB: ``UPS-MIB`` -> ``ups_mib.py``, ``UBNT-AirMAX-MIB`` -> ``ubnt_airmax_mib.py``. Each module
holds ``MIB`` (name), ``REVISION`` (latest REVISION or LAST-UPDATED of the MIB), ``SOURCE``
(where the MIB text came from) and ``OIDS: dict[str, str]`` (object name -> numeric OID text) of
the objects the health tables of :mod:`pantau.agent.snmp.health.families` name, no others.
Generated: after naming a new object in a family, run the script again; never edit these files.
"""

from __future__ import annotations

import importlib
import re

from pantau.agent.snmp.ber import Oid


def module_name(mib: str) -> str:
    """The compiled module's name for a MIB name: lower case, every other character ``_``."""
    return re.sub(r"[^a-z0-9]", "_", mib.lower())


def resolve(name: str) -> Oid:
    """``"MIB-MODULE::objectName"`` -> its numeric OID.

    Raises
    ------
    LookupError
        When the name is malformed, the MIB was not compiled or does not define the object.
    """
    mib, sep, obj = name.partition("::")
    if not sep or not mib or not obj:
        raise LookupError(f"{name!r} is not 'MIB-MODULE::objectName'")
    try:
        module = importlib.import_module(f"{__name__}.{module_name(mib)}")
    except ModuleNotFoundError:
        raise LookupError(
            f"{name!r}: MIB {mib} is not compiled (run scripts/compile-mibs on a folder holding it)"
        ) from None
    oids: dict[str, str] = module.OIDS
    if obj not in oids:
        raise LookupError(f"{name!r}: {mib} (compiled) defines no object {obj!r}")
    return tuple(int(part) for part in oids[obj].split("."))
