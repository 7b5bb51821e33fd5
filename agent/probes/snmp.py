"""The SNMP probe: polls routers, switches, radios and VSAT modems (v2c and v3) every round.

Per device and round: sysUpTime (a decrease is a reboot), sysName/sysDescr, the IF-MIB columns in
one multi-column GETBULK walk (:mod:`pantau.agent.snmp.walk`) and a profile's extra OIDs. A slow,
silent or wrong device fails only its own probe, with a fixed reason; each poll has its own
deadline and the number in flight is bounded by ``[agent.snmp] max_in_flight`` and the agent's
shared limiter. Counters are kept here, reset-proof (:mod:`pantau.agent.snmp.state`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pantau.agent.probes import ProbeContext, ProbeJob, ProbeResult
from pantau.agent.runtime.exposition import TextFamily, label_value, number
from pantau.agent.snmp.ber import Oid, parse_oid
from pantau.agent.snmp.health import exposition as health_exposition
from pantau.agent.snmp.health import reading as health_reading
from pantau.agent.snmp.health.evaluate import NO_HEALTH, Health, evaluate
from pantau.agent.snmp.health.families.power import ON_BATTERY
from pantau.agent.snmp.session import EngineSession, Session, SnmpFailure, V2cSession, secret
from pantau.agent.snmp.state import DeviceState, advance, interfaces_down, speed_bps
from pantau.agent.snmp.walk import Snapshot, poll_device
from pantau.config import SnmpProfile, SnmpSettings

log = logging.getLogger(__name__)

_IF_LABELS = ("site", "ifindex", "ifname", "ifalias")
_IF_GAUGES = (
    ("pantau_if_oper_status", "IF-MIB ifOperStatus (1 up, 2 down, ...)", "oper", 1),
    ("pantau_if_admin_status", "IF-MIB ifAdminStatus (1 up, 2 down, 3 testing)", "admin", 1),
    (
        "pantau_if_last_change_seconds",
        "ifLastChange: the device's sysUpTime at the last change of ifOperStatus, in seconds "
        "(constant between link flaps; 0 if it changed before the agent started)",
        "last_change",
        100,
    ),
)
_IF_COUNTERS = (
    ("pantau_if_in_octets", "octets received (ifHCInOctets), reset-proof", "in_octets"),
    ("pantau_if_out_octets", "octets sent (ifHCOutOctets), reset-proof", "out_octets"),
    ("pantau_if_in_errors", "inbound packets with errors (ifInErrors)", "in_errors"),
    ("pantau_if_out_errors", "outbound packets with errors (ifOutErrors)", "out_errors"),
    ("pantau_if_in_discards", "inbound packets discarded (ifInDiscards)", "in_discards"),
    ("pantau_if_out_discards", "outbound packets discarded (ifOutDiscards)", "out_discards"),
)


class SnmpProber:
    """Polls every ``snmp:PROFILE`` job of a round; keeps per-device state for its metrics."""

    def __init__(self, settings: SnmpSettings, context: ProbeContext, engine: Any = None) -> None:
        self._settings = settings
        self._context = context
        self._profiles: Mapping[str, SnmpProfile] = context.config.snmp.profiles
        # v3 runs on pantau's USM framing (snmp_usm) unless a pysnmp SnmpEngine is injected,
        # which then carries every v3 device (interoperability fallback, slower)
        self._engine = engine
        self._credentials = {
            name: _credential(name, p, pysnmp=engine is not None)
            for name, p in self._profiles.items()
        }
        self._usm_engines: dict[tuple[str, int], Any] = {}  # discovery, shared by all polls
        self._extras = {
            name: tuple(parse_oid(o) for o in p.extra_oids) for name, p in self._profiles.items()
        }
        self._health_choice = {name: p.health for name, p in self._profiles.items()}
        self._health: dict[str, Health] = {}
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        self._in_flight = 0
        self._devices: dict[str, DeviceState] = {}
        self._results: dict[tuple[str, str], ProbeResult] = {}

    @property
    def in_flight(self) -> int:
        """Device polls sending or waiting for responses right now."""
        return self._in_flight

    def _session(self, profile_name: str, profile: SnmpProfile, host: str) -> Session:
        cred = self._credentials[profile_name]
        if profile.version == "2c":
            return V2cSession(host, profile.port, cred, profile.timeout, profile.retries)
        if self._engine is not None:
            return EngineSession(
                self._engine,
                cred,
                host,
                profile.port,
                profile.timeout,
                profile.retries,
                profile.context,
            )
        from pantau.agent.snmp.usm import V3Session

        return V3Session(
            host, profile.port, cred, profile.timeout, profile.retries, self._usm_engines
        )

    async def run(self, jobs: Sequence[ProbeJob]) -> dict[tuple[str, str], ProbeResult]:
        """Poll every job's device concurrently (bounded); return one result per job."""
        results = await asyncio.gather(*(self._probe(job) for job in jobs))
        out = {job.key: result for job, result in zip(jobs, results, strict=True)}
        self._results = out
        sites = {job.site for job in jobs}
        for site in set(self._devices) - sites:  # a site left the inventory: forget it
            del self._devices[site]
        for site in set(self._health) - sites:
            del self._health[site]
        return out

    async def _probe(self, job: ProbeJob) -> ProbeResult:
        clock = self._context.clock
        started, t0 = clock(), time.monotonic()

        def result(
            ok: bool,
            reason: str,
            message: str = "",
            data: Any = None,
            values: Mapping[str, float] | None = None,
        ) -> ProbeResult:
            res = ProbeResult(
                ok, reason, time.monotonic() - t0, started, data=data, message=message
            )
            return dataclasses.replace(res, values=values) if values else res

        profile = self._profiles.get(job.arg or "")
        if profile is None or not job.address:
            return result(False, "error", f"unknown SNMP profile {job.arg!r} or no address")
        session = self._session(job.arg or "", profile, job.address)
        known = self._devices.get(job.site)
        choice = self._health_choice[job.arg or ""]

        last = health_reading.answered(self._health.get(job.site, NO_HEALTH))

        def oids(sys_object_id: Oid, full: bool) -> tuple[tuple[Oid, ...], tuple[Oid, ...]]:
            read = health_reading.reading(sys_object_id, choice, full, last)
            return read.scalars, read.columns

        try:
            async with self._slots, self._context.limiter:
                started, t0 = clock(), time.monotonic()  # the wait for a slot is not the device's
                self._in_flight += 1
                try:
                    async with asyncio.timeout(self._settings.timeout):
                        snap = await poll_device(
                            session,
                            profile.max_repetitions,
                            self._extras[job.arg or ""],
                            known.snapshot if known else None,
                            oids if choice else None,
                        )
                finally:
                    self._in_flight -= 1
                    await session.aclose()
        except SnmpFailure as exc:
            log.info("snmp poll failed site=%s reason=%s detail=%s", job.site, exc.reason, exc)
            return result(False, exc.reason, str(exc))
        except TimeoutError:
            log.info("snmp poll failed site=%s reason=timeout detail=deadline", job.site)
            return result(False, "timeout", f"poll exceeded {self._settings.timeout} s")
        if choice:
            read = health_reading.reading(snap.sys_object_id, choice, snap.health_full, last)
            raw = health_reading.by_column(read, snap.health)
            self._health[job.site] = evaluate(read.plan, raw)
        else:
            self._health[job.site] = NO_HEALTH
        state = self._devices.setdefault(job.site, DeviceState())
        if advance(state, snap):
            log.info("snmp device rebooted site=%s reboots=%d", job.site, state.reboots)
        down = interfaces_down(profile.interfaces, snap)
        if down:
            log.info("snmp interface down site=%s interfaces=%s", job.site, ",".join(down))
            values = _power_values(self._health[job.site])
            return result(False, "if_down", f"not up: {', '.join(down)}", snap, values)
        return result(True, "ok", data=snap, values=_power_values(self._health[job.site]))

    def families(self) -> list[TextFamily]:
        """SNMP metric families over the latest results, as streamed text (a scrape of 1,000
        devices x 49 interfaces is ~400,000 samples). Taken now: later polls do not leak in."""
        results = self._results  # replaced whole by every round
        devices = {
            site: (st.reboots, st.snapshot, st.totals)  # totals too are replaced per poll
            for site, st in self._devices.items()
        }
        answered = {key: res.ok or res.reason == "if_down" for key, res in results.items()}
        # sites with data from this round; the others' series are absent, not stale
        fresh: dict[str, _Device] = {
            site: devices[site]  # type: ignore[misc]  # its snapshot is checked not None below
            for (site, _), ok in answered.items()
            if ok and site in devices and devices[site][1] is not None
        }
        iface_labels = {site: _iface_labels(site, d[1]) for site, d in fresh.items()}
        out = [
            TextFamily(
                "pantau_snmp_up",
                "gauge",
                "last SNMP poll answered: 1 yes, 0 no",
                (
                    f'pantau_snmp_up{{probe="{label_value(probe)}",site="{site}"}} '
                    f"{'1.0' if ok else '0.0'}\n"
                    for (site, probe), ok in answered.items()
                ),
            ),
            TextFamily(
                "pantau_snmp_sysuptime_seconds",
                "gauge",
                "sysUpTime of the device",
                (
                    f'pantau_snmp_sysuptime_seconds{{site="{site}"}} '
                    f"{number(d[1].uptime_ticks / 100.0)}\n"
                    for site, d in fresh.items()
                ),
            ),
            TextFamily(
                "pantau_snmp_reboots_total",
                "counter",
                "sysUpTime decreases seen",
                (
                    f'pantau_snmp_reboots_total{{site="{site}"}} {number(devices[site][0])}\n'
                    for site in dict.fromkeys(site for site, _ in answered)
                    if site in devices
                ),
            ),
            TextFamily(
                "pantau_snmp_info",
                "gauge",
                "device identity",
                (
                    f'pantau_snmp_info{{site="{site}",sysdescr="{label_value(d[1].sys_descr)}",'
                    f'sysname="{label_value(d[1].sys_name)}"}} 1.0\n'
                    for site, d in fresh.items()
                ),
            ),
            TextFamily(
                "pantau_snmp_oid_value",
                "gauge",
                "a profile's extra numeric OID",
                (
                    f'pantau_snmp_oid_value{{oid="{oid}",site="{site}"}} {number(value)}\n'
                    for site, d in fresh.items()
                    for oid, value in d[1].extras.items()
                ),
            ),
            TextFamily(
                "pantau_snmp_requests_in_flight",
                "gauge",
                "SNMP device polls in flight",
                [f"pantau_snmp_requests_in_flight {number(self._in_flight)}\n"],
            ),
        ]
        health = self._health
        out.extend(
            health_exposition.families({site: health[site] for site in fresh if site in health})
        )
        out.append(
            TextFamily(
                "pantau_if_info",
                "gauge",
                "interface identity: ifDescr and ifType (IANAifType number) of each ifTable row",
                _if_info_lines(fresh, iface_labels),
            )
        )
        for name, doc, field, divisor in _IF_GAUGES:
            out.append(
                TextFamily(
                    name, "gauge", doc, _if_gauge_lines(name, field, divisor, fresh, iface_labels)
                )
            )
        out.append(
            TextFamily(
                "pantau_if_speed_bits_per_second",
                "gauge",
                "interface speed (ifHighSpeed, else ifSpeed) in bits per second",
                _if_speed_lines(fresh, iface_labels),
            )
        )
        for name, doc, field in _IF_COUNTERS:
            out.append(
                TextFamily(
                    f"{name}_total",
                    "counter",
                    doc,
                    _if_counter_lines(name, field, fresh, iface_labels),
                )
            )
        return out

    async def aclose(self) -> None:
        """Nothing to release: sockets live for one poll; an injected engine is the caller's."""


_Device = tuple[int, Snapshot, Mapping[tuple[int, str], int]]


def _power_values(health: Health) -> Mapping[str, float] | None:
    """``{"on_battery": 1.0}`` (or 0.0) when the device reports a UPS's output source, for the
    power evidence of the event log (agent/runtime/power.py); None without one. Two sources
    (UPS-MIB and APC) on one device: on battery when either says so."""
    values = [s.value for s in health.samples if s.name == ON_BATTERY]
    return {"on_battery": max(values)} if values else None


def _iface_labels(site: str, snap: Snapshot) -> dict[int, str]:
    """Each interface's label fragment, escaped once per scrape (names come off the wire)."""
    return {
        index: (
            f'ifalias="{label_value(i.alias)}",ifindex="{index}",'
            f'ifname="{label_value(i.name or i.descr)}",site="{site}"'
        )
        for index, i in snap.interfaces.items()
    }


def _if_gauge_lines(
    name: str,
    field: str,
    divisor: int,
    fresh: Mapping[str, _Device],
    labels: Mapping[str, Mapping[int, str]],
) -> Iterator[str]:
    for site, (_, snap, _) in fresh.items():
        site_labels = labels[site]
        for index, iface in snap.interfaces.items():
            value = getattr(iface, field)
            if value is not None:
                value = value if divisor == 1 else value / divisor  # ticks: 3.45, not 3.4500001
                yield f"{name}{{{site_labels[index]}}} {number(value)}\n"


def _if_info_lines(
    fresh: Mapping[str, _Device], labels: Mapping[str, Mapping[int, str]]
) -> Iterator[str]:
    for site, (_, snap, _) in fresh.items():
        site_labels = labels[site]
        for index, iface in snap.interfaces.items():
            iftype = "" if iface.type is None else str(iface.type)
            yield (
                f'pantau_if_info{{ifdescr="{label_value(iface.descr)}",iftype="{iftype}",'
                f"{site_labels[index]}}} 1.0\n"
            )


def _if_speed_lines(
    fresh: Mapping[str, _Device], labels: Mapping[str, Mapping[int, str]]
) -> Iterator[str]:
    for site, (_, snap, _) in fresh.items():
        site_labels = labels[site]
        for index, iface in snap.interfaces.items():
            if (bps := speed_bps(iface)) is not None:
                yield f"pantau_if_speed_bits_per_second{{{site_labels[index]}}} {number(bps)}\n"


def _if_counter_lines(
    name: str,
    field: str,
    fresh: Mapping[str, _Device],
    labels: Mapping[str, Mapping[int, str]],
) -> Iterator[str]:
    for site, (_, snap, totals) in fresh.items():
        site_labels = labels[site]
        for index in snap.interfaces:
            total = totals.get((index, field))
            if total is not None:
                yield f"{name}_total{{{site_labels[index]}}} {number(total)}\n"


def _credential(name: str, profile: SnmpProfile, pysnmp: bool) -> Any:
    where = f"snmp.profiles.{name}"
    if profile.version == "2c":
        return secret(profile.community_env, profile.community, f"{where}.community_env")
    if pysnmp:
        from pantau.agent.snmp.session import usm_user

        return usm_user(profile, where)
    from pantau.agent.snmp.usm import UsmUser

    auth = (
        secret(profile.auth_key_env, None, f"{where}.auth_key_env")
        if profile.auth_protocol
        else None
    )
    priv = (
        secret(profile.priv_key_env, None, f"{where}.priv_key_env")
        if profile.priv_protocol
        else None
    )
    return UsmUser(profile, auth, priv)


def make_prober(settings: SnmpSettings, context: ProbeContext, engine: Any = None) -> SnmpProber:
    """Build the SNMP prober.

    ``engine``, a pysnmp ``SnmpEngine``, makes every v3 device go through pysnmp's own engine
    (shared by all devices, left open) instead of pantau's faster USM framing.

    Raises
    ------
    ProbeSetupError
        When a profile's secret environment variable is not set (the message names it).
    """
    return SnmpProber(settings, context, engine)
