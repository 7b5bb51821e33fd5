"""One SNMP device poll: system scalars plus IF-MIB columns walked together with GETBULK.

The cost of an SNMP poll is per PDU, so every column (ifTable, ifXTable and a profile's extra
subtrees) advances in the same GETBULK request, several varbinds per PDU, until each leaves its
subtree. The result is a frozen :class:`Snapshot`; what it means (reboots, counter resets,
interface down) is decided by :mod:`pantau.agent.snmp.state`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from pantau.agent.snmp.ber import END_OF_MIB_VIEW, GET, GET_BULK, Oid
from pantau.agent.snmp.session import Session, SnmpFailure

SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME: Oid = (1, 3, 6, 1, 2, 1, 1, 5, 0)
SYS_DESCR: Oid = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_OBJECT_ID: Oid = (1, 3, 6, 1, 2, 1, 1, 2, 0)
_IF = (1, 3, 6, 1, 2, 1, 2, 2, 1)
_IFX = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)

#: Interface field -> IF-MIB column OID (ifTable and ifXTable), walked together on every poll.
#: ifDescr, ifType and ifSpeed cost no extra request: every PDU carries one varbind per column.
IF_COLUMNS: Mapping[str, Oid] = {
    "descr": (*_IF, 2),
    "type": (*_IF, 3),
    "speed": (*_IF, 5),
    "admin": (*_IF, 7),
    "oper": (*_IF, 8),
    "last_change": (*_IF, 9),
    "in_discards": (*_IF, 13),
    "in_errors": (*_IF, 14),
    "out_discards": (*_IF, 19),
    "out_errors": (*_IF, 20),
    "name": (*_IFX, 1),
    "in_octets": (*_IFX, 6),
    "out_octets": (*_IFX, 10),
    "high_speed": (*_IFX, 15),
    "alias": (*_IFX, 18),
}
#: MIB-II 32-bit octet counters, read only for rows without ifHCInOctets (old radios and modems
#: without ifXTable, a Catalyst whose management port has no HC counters).
LEGACY_COLUMNS: Mapping[str, Oid] = {
    "in_octets": (*_IF, 10),
    "out_octets": (*_IF, 16),
}
#: Columns that name or describe a row rather than measure it: read on a device's first poll,
#: then again only when the rows, a speed or a last change differ, after a reboot, and at least
#: every 15 minutes of the device's uptime. Every other poll carries 11 columns instead of 15,
#: as many as before ifLastChange was read (snmpd fills a response by size: each column costs
#: PDUs). ifAlias stays on every poll: operators edit it and expect to see it.
STATIC_FIELDS: tuple[str, ...] = ("descr", "type", "speed", "name")
STATIC_MAX_TICKS = 15 * 60 * 100
_GET_VARBINDS = 20  # a response of 20 Counter32 varbinds fits the 484 bytes every agent takes
MAX_PDUS = 2000  # a bound on one walk, whatever the device answers


@dataclasses.dataclass(frozen=True, slots=True)
class Interface:
    """One ifTable row as polled; a field the device did not return is None."""

    index: int
    name: str = ""
    alias: str = ""
    descr: str = ""
    admin: int | None = None
    oper: int | None = None
    in_octets: int | None = None
    out_octets: int | None = None
    high_speed: int | None = None  # ifHighSpeed, Mbit/s
    speed: int | None = None  # ifSpeed, bit/s
    in_errors: int | None = None
    out_errors: int | None = None
    in_discards: int | None = None
    out_discards: int | None = None
    type: int | None = None  # ifType (IANAifType number)
    last_change: int | None = None  # ifLastChange, sysUpTime ticks (1/100 s) at the last change
    octet_bits: int = 64  # 32 when the octet counters came from ifTable (no ifHCInOctets)


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    """What one poll of one device returned."""

    uptime_ticks: int
    sys_name: str
    sys_descr: str
    interfaces: Mapping[int, Interface]
    extras: Mapping[str, float]  # numeric OID text -> value, for the profile's extra_oids
    pdus: int
    static_ticks: int = 0  # sysUpTime when STATIC_FIELDS were last read from the device
    sys_object_id: Oid = ()  # () when the device did not answer it
    #: health OIDs read: each walked column -> {row suffix: value}, each scalar instance read
    #: (``object.0``) -> {(): value}; evaluated by :mod:`pantau.agent.snmp.health.evaluate`
    health: Mapping[Oid, Mapping[Oid, object]] = dataclasses.field(default_factory=dict)
    health_full: bool = True  # the health OIDs were asked for every table (``full``)


#: A device's health OIDs for its sysObjectID: (scalar instances to GET, columns to walk). With
#: ``full`` False (the static columns are lent from the last poll) the plan may leave out the
#: tables the device did not answer at its last full poll.
HealthPlan = Callable[[Oid, bool], tuple[Sequence[Oid], Sequence[Oid]]]


_CONTROLS = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)], " ")


def _text(value: object) -> str:
    """A DisplayString for a label value: one that holds control characters (the CR LF of a
    Cisco sysDescr, tabs, a C string's NUL) becomes one line, each run of blanks one blank."""
    if not isinstance(value, bytes):
        return ""
    text = value.decode("utf-8", "replace")
    if text.isprintable():
        return text
    return " ".join(text.translate(_CONTROLS).split())


async def walk_columns(
    session: Session, roots: Sequence[Oid], max_repetitions: int
) -> tuple[dict[Oid, dict[Oid, object]], int]:
    """Walk several subtrees at once with GETBULK; return ``{root: {suffix: value}}`` and PDUs.

    Raises
    ------
    SnmpFailure
        ``snmp_error`` when the agent returns OIDs that do not increase or empty responses.
    """
    cursor = {root: root for root in roots}
    found: dict[Oid, dict[Oid, object]] = {root: {} for root in roots}
    active = list(dict.fromkeys(roots))
    pdus = 0
    while active:
        if pdus >= MAX_PDUS:
            raise SnmpFailure("snmp_error", f"walk did not end after {MAX_PDUS} requests")
        varbinds = await session.request(GET_BULK, [cursor[r] for r in active], 0, max_repetitions)
        pdus += 1
        width = len(active)
        done: set[Oid] = set()
        progressed = False
        for i, (oid, value) in enumerate(varbinds):
            root = active[i % width]
            if root in done:
                continue
            if value is END_OF_MIB_VIEW or oid[: len(root)] != root:
                done.add(root)
                continue
            if oid <= cursor[root]:
                raise SnmpFailure("snmp_error", f"OID not increasing after {cursor[root]}")
            found[root][oid[len(root) :]] = value
            cursor[root] = oid
            progressed = True
        if not progressed and not done:
            raise SnmpFailure("snmp_error", "GETBULK response carried no usable variable")
        active = [r for r in active if r not in done]
    return found, pdus


_TEXT_FIELDS = frozenset(("name", "alias", "descr"))


def _interfaces(
    columns: Mapping[str, Mapping[Oid, object]],
    bits32: Sequence[int] = (),
    lent: Mapping[int, Mapping[str, object]] | None = None,
) -> dict[int, Interface]:
    """Rows from the walked columns; ``lent`` adds each row's static fields from the last poll."""
    rows: dict[int, dict[str, object]] = {}
    for field, values in columns.items():
        text = field in _TEXT_FIELDS
        for suffix, value in values.items():
            if len(suffix) != 1:
                continue
            if text:
                if type(value) is not bytes:  # an exception (noSuchInstance) is a str
                    continue
                value = _text(value)
            elif not isinstance(value, int):
                continue
            row = rows.get(suffix[0])
            if row is None:
                rows[suffix[0]] = {field: value}
            else:
                row[field] = value
    if lent:
        for index, row in rows.items():
            if (fields := lent.get(index)) is not None:
                row.update(fields)
    for index in bits32:
        if index in rows:
            rows[index]["octet_bits"] = 32
    return {i: Interface(index=i, **row) for i, row in sorted(rows.items())}  # type: ignore[arg-type]


async def _counters32(
    session: Session, indexes: Sequence[int], everything: bool, max_repetitions: int
) -> tuple[dict[str, dict[Oid, object]], int]:
    """ifInOctets/ifOutOctets of the rows without HC counters: walked when no row has them (a
    MIB-II-only device), else fetched by GET for those rows only (a few ports of a switch)."""
    if everything:
        walked, pdus = await walk_columns(session, list(LEGACY_COLUMNS.values()), max_repetitions)
        return {f: walked[oid] for f, oid in LEGACY_COLUMNS.items()}, pdus
    out: dict[str, dict[Oid, object]] = {f: {} for f in LEGACY_COLUMNS}
    wanted = [(f, i) for i in indexes for f in LEGACY_COLUMNS]
    pdus = 0
    for start in range(0, len(wanted), _GET_VARBINDS):
        chunk = wanted[start : start + _GET_VARBINDS]
        oids = [(*LEGACY_COLUMNS[f], i) for f, i in chunk]
        got = dict(await session.request(GET, oids))
        pdus += 1
        for (field, index), oid in zip(chunk, oids, strict=True):
            if oid in got:
                out[field][(index,)] = got[oid]
    return out, pdus


async def _get(session: Session, oids: Sequence[Oid]) -> dict[Oid, object]:
    """GET of any number of scalars, :data:`_GET_VARBINDS` a request; an agent that fails a
    request for an object it lacks leaves those objects out."""
    out: dict[Oid, object] = {}
    for start in range(0, len(oids), _GET_VARBINDS):
        try:
            out |= dict(await session.request(GET, list(oids[start : start + _GET_VARBINDS])))
        except SnmpFailure as exc:
            if exc.reason != "snmp_error":
                raise
    return out


def _unchanged(columns: Mapping[str, Mapping[Oid, object]], known: Snapshot) -> bool:
    """Whether the rows, their speeds and their last changes are those of ``known``."""
    rows = {suffix[0] for values in columns.values() for suffix in values if len(suffix) == 1}
    if rows != set(known.interfaces):
        return False
    for field in ("high_speed", "last_change"):
        for index in rows:
            value = columns[field].get((index,))
            if (value if isinstance(value, int) else None) != getattr(
                known.interfaces[index], field
            ):
                return False
    return True


def _static_rows(known: Snapshot) -> dict[int, dict[str, object]]:
    return {
        index: {f: v for f in STATIC_FIELDS if (v := getattr(row, f)) is not None}
        for index, row in known.interfaces.items()
    }


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int) else None


async def poll_device(
    session: Session,
    max_repetitions: int,
    extra_oids: Sequence[Oid] = (),
    known: Snapshot | None = None,
    health: HealthPlan | None = None,
) -> Snapshot:
    """Poll one device: a GET of the system scalars, then one multi-column GETBULK walk.

    ``extra_oids`` ending in ``.0`` are fetched with the GET; the others are walked as subtrees.
    Rows of ifTable without ifHCInOctets get the 32-bit counters, with one more request (or
    walk) only when there are such rows. ``known``, the device's previous snapshot, lends its
    :data:`STATIC_FIELDS` while they hold; when they may not, they are walked after all.
    ``health`` gives the health OIDs for the device's sysObjectID (read in the same GET, which
    costs no request): its scalars join that GET (those of the sysObjectID the device had last
    poll, or of no sysObjectID for a new device; vendor scalars of a new or changed device take
    one more GET) and its columns join the walk. It is asked for every table (``full``) when the
    static columns are read, else for the tables the device answered.

    Raises
    ------
    SnmpFailure
        With reason ``timeout``, ``auth``, ``refused``, ``dns`` or ``snmp_error``.
    """
    scalars = [o for o in extra_oids if o[-1] == 0]
    subtrees = [o for o in extra_oids if o[-1] != 0]
    guessed = health(known.sys_object_id if known else (), known is None)[0] if health else ()
    system = [SYS_UPTIME, SYS_NAME, SYS_DESCR, SYS_OBJECT_ID, *scalars]
    pdus = 0
    try:
        got = dict(await session.request(GET, [*system, *guessed]))
    except SnmpFailure as exc:
        if exc.reason != "snmp_error" or not guessed:
            raise
        # an agent that fails a whole GET for an object it lacks: health scalars stay absent
        got, guessed = dict(await session.request(GET, system)), ()
        pdus += 1
    uptime = got.get(SYS_UPTIME)
    if not isinstance(uptime, int):
        raise SnmpFailure("snmp_error", f"sysUpTime.0 answered {uptime!r}")
    sys_oid = got.get(SYS_OBJECT_ID)
    sys_object_id: Oid = sys_oid if isinstance(sys_oid, tuple) else ()
    reuse = known is not None and 0 <= uptime - known.static_ticks < STATIC_MAX_TICKS
    health_scalars, health_columns = health(sys_object_id, not reuse) if health else ((), ())
    late = [o for o in health_scalars if o not in got]
    if late:  # a new device, another sysObjectID, or an agent that failed the first GET
        got |= await _get(session, late)
        pdus += 1 + (len(late) - 1) // _GET_VARBINDS
    fields = [f for f in IF_COLUMNS if not (reuse and f in STATIC_FIELDS)]
    walked, walk_pdus = await walk_columns(
        session,
        list(dict.fromkeys([*(IF_COLUMNS[f] for f in fields), *subtrees, *health_columns])),
        max_repetitions,
    )
    pdus += walk_pdus
    columns = {f: walked[IF_COLUMNS[f]] for f in fields}
    static_ticks, lent = uptime, None
    if known is not None and reuse:
        if _unchanged(columns, known):
            lent, static_ticks = _static_rows(known), known.static_ticks
        else:  # a row came or went, a speed or a link changed: read them again now
            static = [IF_COLUMNS[f] for f in STATIC_FIELDS]
            again, more = await walk_columns(session, static, max_repetitions)
            columns |= {f: again[IF_COLUMNS[f]] for f in STATIC_FIELDS}
            pdus += more
    hc = {s[0] for s, v in columns["in_octets"].items() if isinstance(v, int) and len(s) == 1}
    table = {s[0] for s in columns["oper"] if len(s) == 1}
    if lent is not None:  # the static columns were not walked: the rows that had ifDescr
        table |= {index for index, row in lent.items() if "descr" in row}
    else:
        table |= {s[0] for s in columns["descr"] if len(s) == 1}
    no_hc = sorted(table - hc)
    if no_hc:
        legacy, more = await _counters32(session, no_hc, not hc, max_repetitions)
        for field, values in legacy.items():
            columns[field] = {**columns[field], **values}
        pdus += more
    extras: dict[str, float] = {}
    for oid in scalars:
        if (number := _number(got.get(oid))) is not None:
            extras[".".join(map(str, oid))] = number
    for root in subtrees:
        for suffix, value in walked[root].items():
            if (number := _number(value)) is not None:
                extras[".".join(map(str, root + suffix))] = number
    health_raw: dict[Oid, Mapping[Oid, object]] = {c: walked[c] for c in health_columns}
    for oid in health_scalars:
        if oid in got:
            health_raw[oid] = {(): got[oid]}
    return Snapshot(
        uptime_ticks=uptime,
        sys_name=_text(got.get(SYS_NAME)),
        sys_descr=_text(got.get(SYS_DESCR)),
        interfaces=_interfaces(columns, no_hc, lent),
        extras=extras,
        pdus=pdus + 1,
        static_ticks=static_ticks,
        sys_object_id=sys_object_id,
        health=health_raw,
        health_full=not reuse,
    )
