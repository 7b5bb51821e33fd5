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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

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


_NO_BUCKETS: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class _SiteSeries:
    """Everything exported for one site; replaced whole after each round.

    ``buckets`` (one count per bucket, the last one +Inf) is kept only for sites that export
    the whole histogram (``[agent.icmp] rtt_histogram``); the others keep ``count`` only.
    """

    sent: int = 0
    received: int = 0
    count: int = 0  # RTTs observed
    rtt_sum: float = 0.0
    buckets: tuple[int, ...] = _NO_BUCKETS
    last: TargetStats | None = None

    def add(self, stats: TargetStats, full: bool) -> _SiteSeries:
        buckets = self.buckets
        if full:
            counts = list(buckets or (0,) * (len(RTT_BUCKETS) + 1))
            for rtt in stats.rtts:
                counts[bisect.bisect_left(RTT_BUCKETS, rtt)] += 1
            buckets = tuple(counts)
        elif buckets:
            buckets = _NO_BUCKETS
        return _SiteSeries(
            self.sent + stats.sent,
            self.received + stats.received,
            self.count + len(stats.rtts),
            self.rtt_sum + sum(stats.rtts),
            buckets,
            stats,
        )


_BOUNDS = [*(repr(b) for b in RTT_BUCKETS), "+Inf"]


def _histogram_lines(series: Mapping[str, _SiteSeries]) -> Iterator[str]:
    # Site ids match [A-Za-z0-9_.-] (inventory), so they need no escaping. A site without
    # buckets exports the +Inf bucket only: a valid histogram, its mean still computable.
    name = "pantau_icmp_rtt_seconds"
    for site, s in series.items():
        if s.buckets:
            total = 0
            for bound, n in zip(_BOUNDS, s.buckets, strict=True):
                total += n
                yield f'{name}_bucket{{le="{bound}",site="{site}"}} {number(total)}\n'
        else:
            yield f'{name}_bucket{{le="+Inf",site="{site}"}} {number(s.count)}\n'
        yield f'{name}_count{{site="{site}"}} {number(s.count)}\n'
        yield f'{name}_sum{{site="{site}"}} {number(s.rtt_sum)}\n'


def _round_rtt_lines(series: Mapping[str, _SiteSeries]) -> Iterator[str]:
    name = "pantau_icmp_round_rtt_seconds"
    for site, s in series.items():
        stats = s.last.rtt_stats() if s.last is not None else None
        if stats:
            for stat, value in stats.items():
                yield f'{name}{{site="{site}",stat="{stat}"}} {number(value)}\n'


class IcmpProber:
    """Sweeps every ICMP job of a round over one pinger; see :func:`make_prober`."""

    def __init__(
        self, settings: IcmpSettings, context: ProbeContext, pinger: Pinger | None = None
    ) -> None:
        self._settings, self._context = settings, context
        self._pinger = pinger or Pinger(payload_size=settings.payload_size)
        self._pinger.open()  # fail at start-up, not in the first round, on missing privileges
        self._series: dict[str, _SiteSeries] = {}
        self._full: frozenset[str] = frozenset(settings.rtt_histogram_sites)

    async def run(self, jobs: Sequence[ProbeJob]) -> dict[tuple[str, str], ProbeResult]:
        """Sweep every job's address once; one result per job (ok when any echo was answered)."""
        s = self._settings
        started = time.monotonic()
        names = await resolve([j.address for j in jobs if j.address], s.timeout)
        async with self._context.limiter:
            stats = await self._pinger.sweep(
                {ip for ip in names.values() if ip},
                count=s.count,
                timeout=s.timeout,
                rate=s.rate,
                period=s.period,
            )
        duration, now = time.monotonic() - started, self._context.clock()
        results, series = {}, dict(self._series)
        for job in jobs:
            ip = names.get(job.address) if job.address else None
            if ip is None:
                reason = "dns" if job.address else "error"
                message = f"cannot resolve {job.address!r}" if job.address else "no address"
                results[job.key] = ProbeResult(False, reason, duration, now, message=message)
                continue
            st = stats[ip]
            full = s.rtt_histogram == "all" or job.site in self._full
            series[job.site] = series.get(job.site, _SiteSeries()).add(st, full)
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
        self._series = {k: v for k, v in self._series.items() if k in sites}

    def families(self) -> list[TextFamily]:
        """The ICMP families of docs/contracts.md, one series (or histogram) per site, as text
        over the series of the last round (a round replaces the dict whole)."""
        series = self._series
        return [
            TextFamily(
                "pantau_icmp_packets_sent_total",
                "counter",
                "ICMP echo requests sent",
                (
                    f'pantau_icmp_packets_sent_total{{site="{k}"}} {number(s.sent)}\n'
                    for k, s in series.items()
                ),
            ),
            TextFamily(
                "pantau_icmp_packets_received_total",
                "counter",
                "ICMP echo replies received",
                (
                    f'pantau_icmp_packets_received_total{{site="{k}"}} {number(s.received)}\n'
                    for k, s in series.items()
                ),
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
                (
                    f'pantau_icmp_round_loss_ratio{{site="{k}"}} {number(s.last.loss)}\n'
                    for k, s in series.items()
                    if s.last is not None and s.last.loss is not None
                ),
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
