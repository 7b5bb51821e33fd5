"""The ICMP probe: one sweep per round over every site's address, and the ICMP metrics.

Counters and the RTT histogram live in the prober (never in a global registry) and are exported by
:meth:`IcmpProber.families` at scrape time, as streamed text (see pantau.agent.runtime.exposition)
from per-site snapshots that a round replaces whole, so a scrape never sees half a round.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import time
from array import array
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pantau.agent.icmp.pinger import Pinger, TargetStats, resolve, sweep
from pantau.agent.probes import ProbeContext, ProbeJob, ProbeResult
from pantau.agent.runtime.exposition import TextFamily, number

if TYPE_CHECKING:
    from pantau.config import IcmpSettings
    from pantau.inventory import Site

__all__ = ["RTT_BUCKETS", "IcmpProber", "TargetStats", "make_prober", "resolve", "sweep"]

log = logging.getLogger(__name__)

#: Upper bounds (seconds) of the RTT histogram: from LAN links up to VSAT and congested uplinks.
RTT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


_NAN = float("nan")
_STATS = ("min", "avg", "max", "stddev")


@dataclasses.dataclass(slots=True)
class _Series:
    """Everything exported per site, kept columnar (issue 18): site number ``i`` is
    ``sites[i]`` in every array, in the order sites were first swept. A round builds a new
    one from copies of the arrays and replaces it whole, so a scrape never sees half a round;
    a series once published is never changed. Rounds sweep the sites in the same order, so a
    round finds each site where the cursor is; a map of site to number is made only in a round
    where that fails (a site added or resolved for the first time) and dropped after it.

    ~80 bytes a site instead of a series object, a float and the last round's ``TargetStats``
    (with its address, RTT tuple and error dict): 50,000 sites take 4 MiB here. The last round
    is kept as what is exported of it: loss (NaN: nothing sent) and the RTT statistics (NaN: no
    reply). ``buckets`` (one count per bucket, the last one +Inf) is kept only for sites that
    export the whole histogram (``[agent.icmp] rtt_histogram``); the others export ``count``.
    """

    sites: list[str] = dataclasses.field(default_factory=list)
    sent: array[int] = dataclasses.field(default_factory=lambda: array("q"))
    received: array[int] = dataclasses.field(default_factory=lambda: array("q"))
    count: array[int] = dataclasses.field(default_factory=lambda: array("q"))  # RTTs observed
    rtt_sum: array[float] = dataclasses.field(default_factory=lambda: array("d"))
    loss: array[float] = dataclasses.field(default_factory=lambda: array("d"))
    #: min, avg, max, stddev of the last round, one array each (in ``_STATS`` order).
    stats: tuple[array[float], ...] = dataclasses.field(
        default_factory=lambda: tuple(array("d") for _ in _STATS)
    )
    buckets: dict[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    own_sites: bool = True  # False while ``sites`` is the previous round's list
    cursor: int = 0  # the number the next site of this round is expected at
    lookup: dict[str, int] | None = None  # site -> number, in a round that needed it

    def copy(self) -> _Series:
        """A copy the next round may change while scrapes read this one. ``sites`` stays
        shared until a new site is added (:meth:`slot` copies it then)."""
        return _Series(
            self.sites,
            array("q", self.sent),
            array("q", self.received),
            array("q", self.count),
            array("d", self.rtt_sum),
            array("d", self.loss),
            tuple(array("d", a) for a in self.stats),
            dict(self.buckets),
            own_sites=False,
        )

    def slot(self, site: str) -> int:
        """The site's number, appending zeroed columns for a site seen the first time."""
        i, sites = self.cursor, self.sites
        if i >= len(sites) or sites[i] != site:
            if self.lookup is None:
                self.lookup = {name: n for n, name in enumerate(sites)}
            found = self.lookup.get(site)
            if found is None:
                if not self.own_sites:  # never add to the list the published series reads
                    self.sites = sites = list(sites)
                    self.own_sites = True
                found = self.lookup[site] = len(sites)
                sites.append(site)
                for column in (self.sent, self.received, self.count):
                    column.append(0)
                for values in (self.rtt_sum, self.loss, *self.stats):
                    values.append(0.0)
            i = found
        self.cursor = i + 1
        return i

    def add(self, site: str, stats: TargetStats, full: bool) -> None:
        """Count one round of ``site`` in place (only on a copy no scrape reads yet)."""
        i, rtts = self.slot(site), stats.rtts
        self.sent[i] += stats.sent
        self.received[i] += stats.received
        self.count[i] += len(rtts)
        self.rtt_sum[i] += sum(rtts)
        loss = stats.loss
        self.loss[i] = _NAN if loss is None else loss
        figures = stats.rtt_stats()
        for column, name in zip(self.stats, _STATS, strict=True):
            column[i] = _NAN if figures is None else figures[name]
        if full:
            counts = list(self.buckets.get(site) or (0,) * (len(RTT_BUCKETS) + 1))
            for rtt in rtts:
                counts[bisect.bisect_left(RTT_BUCKETS, rtt)] += 1
            self.buckets[site] = tuple(counts)
        else:
            self.buckets.pop(site, None)

    def keep(self, wanted: Collection[str]) -> _Series:
        """A new series of the sites in ``wanted`` only (same order)."""
        rows = [i for i, site in enumerate(self.sites) if site in wanted]

        def pick(column: array[Any]) -> array[Any]:
            return array(column.typecode, (column[i] for i in rows))

        return _Series(
            [self.sites[i] for i in rows],
            pick(self.sent),
            pick(self.received),
            pick(self.count),
            pick(self.rtt_sum),
            pick(self.loss),
            tuple(pick(a) for a in self.stats),
            {k: v for k, v in self.buckets.items() if k in wanted},
        )


_BOUNDS = [*(repr(b) for b in RTT_BUCKETS), "+Inf"]


def _histogram_lines(series: _Series) -> Iterator[str]:
    # Site ids match [A-Za-z0-9_.-] (inventory), so they need no escaping. A site without
    # buckets exports the +Inf bucket only: a valid histogram, its mean still computable.
    name = "pantau_icmp_rtt_seconds"
    buckets = series.buckets
    for site, count, rtt_sum in zip(series.sites, series.count, series.rtt_sum, strict=True):
        full = buckets.get(site)
        if full:
            total = 0
            for bound, n in zip(_BOUNDS, full, strict=True):
                total += n
                yield f'{name}_bucket{{le="{bound}",site="{site}"}} {number(total)}\n'
        else:
            yield f'{name}_bucket{{le="+Inf",site="{site}"}} {number(count)}\n'
        yield f'{name}_count{{site="{site}"}} {number(count)}\n'
        yield f'{name}_sum{{site="{site}"}} {number(rtt_sum)}\n'


def _round_rtt_lines(series: _Series) -> Iterator[str]:
    name = "pantau_icmp_round_rtt_seconds"
    for i, site in enumerate(series.sites):
        if series.stats[1][i] == series.stats[1][i]:  # NaN: no reply in the last round
            for stat, column in zip(_STATS, series.stats, strict=True):
                yield f'{name}{{site="{site}",stat="{stat}"}} {number(column[i])}\n'


def _column_lines(name: str, sites: Iterable[str], values: Iterable[float]) -> Iterator[str]:
    """One sample per site; NaN (no data) leaves the site out."""
    for site, value in zip(sites, values, strict=True):
        if value == value:
            yield f'{name}{{site="{site}"}} {number(value)}\n'


def _repeated(addresses: Iterable[str | None]) -> set[str]:
    """The addresses that occur more than once (sites sharing an address)."""
    seen: set[str] = set()
    repeated: set[str] = set()
    for ip in addresses:
        if ip:
            (repeated if ip in seen else seen).add(ip)
    return repeated


class IcmpProber:
    """Sweeps every ICMP job of a round over one pinger; see :func:`make_prober`."""

    def __init__(
        self, settings: IcmpSettings, context: ProbeContext, pinger: Pinger | None = None
    ) -> None:
        self._settings, self._context = settings, context
        self._pinger = pinger or Pinger(payload_size=settings.payload_size)
        self._pinger.open()  # fail at start-up, not in the first round, on missing privileges
        self._series = _Series()
        self._full: frozenset[str] = frozenset(settings.rtt_histogram_sites)

    async def run(self, jobs: Sequence[ProbeJob]) -> dict[tuple[str, str], ProbeResult]:
        """Sweep every job's address once; one result per job (ok when any echo was answered)."""
        s = self._settings
        started = time.monotonic()
        names = await resolve([j.address for j in jobs if j.address], s.timeout)
        async with self._context.limiter:
            stats = await self._pinger.sweep(
                (ip for ip in names.values() if ip),  # the sweep takes each address once
                count=s.count,
                timeout=s.timeout,
                rate=s.rate,
                period=s.period,
            )
        duration, now = time.monotonic() - started, self._context.clock()
        results, series = {}, self._series.copy()
        repeated = _repeated(names.get(j.address) for j in jobs if j.address)
        shared: dict[str, TargetStats] = {}
        for job in jobs:
            ip = names.get(job.address) if job.address else None
            if ip is None:
                reason = "dns" if job.address else "error"
                message = f"cannot resolve {job.address!r}" if job.address else "no address"
                results[job.key] = ProbeResult(False, reason, duration, now, message=message)
                continue
            # Taken out as it is used, so each target's stats go while its result is made
            # (issue 18); a second site on the same address finds them in ``shared``.
            st = shared.get(ip) or stats.pop(ip)
            if ip in repeated:
                shared[ip] = st
            full = s.rtt_histogram == "all" or job.site in self._full
            series.add(job.site, st, full)
            results[job.key] = ProbeResult(
                ok=st.received > 0,
                reason=st.reason,
                duration=duration,
                time=now,
                sent=st.sent,
                rtts=st.rtts,
                # Built only for failures: 50,000 "ok" strings a round would be memory for logs
                # that never print them.
                message="" if st.received else f"{ip}: 0/{st.sent} replies",
            )
        series.cursor, series.lookup = 0, None  # published: never changed again
        self._series = series
        log.debug("icmp round done targets=%d seconds=%.3f", len(stats), duration)
        return results

    async def sweep(
        self, addresses: Iterable[str], *, count: int = 1, timeout: float | None = None
    ) -> dict[str, TargetStats]:
        """Sweep IP literals over this prober's sockets, outside any round (canaries)."""
        return await self._pinger.sweep(
            addresses,
            count=count,
            timeout=self._settings.timeout if timeout is None else timeout,
            rate=self._settings.rate,
            period=self._settings.period,
        )

    def retain(self, sites: Mapping[str, Site]) -> None:
        """Forget the series of sites no longer in the inventory (after a reload), and note
        which sites export the whole RTT histogram (listed by id or by district)."""
        s = self._settings
        districts = set(s.rtt_histogram_districts)
        self._full = frozenset(s.rtt_histogram_sites) | {
            site_id for site_id, site in sites.items() if site.district in districts
        }
        self._series = self._series.keep(sites)

    def families(self) -> list[TextFamily]:
        """The ICMP families of docs/contracts.md, one series (or histogram) per site, as text
        over the series of the last round (a round replaces it whole)."""
        series = self._series
        return [
            TextFamily(
                "pantau_icmp_packets_sent_total",
                "counter",
                "ICMP echo requests sent",
                _column_lines("pantau_icmp_packets_sent_total", series.sites, series.sent),
            ),
            TextFamily(
                "pantau_icmp_packets_received_total",
                "counter",
                "ICMP echo replies received",
                _column_lines("pantau_icmp_packets_received_total", series.sites, series.received),
            ),
            TextFamily(
                "pantau_icmp_rtt_seconds",
                "histogram",
                "Round-trip time of every echo reply",
                _histogram_lines(series),
            ),
            TextFamily(
                "pantau_icmp_round_rtt_seconds",
                "gauge",
                "Round-trip time statistics of the last round (stddev: population)",
                _round_rtt_lines(series),
            ),
            TextFamily(
                "pantau_icmp_round_loss_ratio",
                "gauge",
                "Share of echo requests lost in the last round",
                _column_lines("pantau_icmp_round_loss_ratio", series.sites, series.loss),
            ),
        ]

    async def aclose(self) -> None:
        self._pinger.close()


def make_prober(settings: IcmpSettings, context: ProbeContext) -> IcmpProber:
    """Build the ICMP prober; opens its IPv4 socket now.

    Parameters
    ----------
    settings
        :class:`pantau.config.IcmpSettings` (``count``, ``timeout``, ``rate``, ``period``,
        ``payload_size``).
    context
        The agent's :class:`~pantau.agent.probes.ProbeContext` (limiter, clock).

    Raises
    ------
    PermissionDenied
        Neither a raw nor a datagram ICMP socket may be opened; the message says what to run.
    """
    return IcmpProber(settings, context)
