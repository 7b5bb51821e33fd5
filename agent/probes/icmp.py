"""The ICMP probe: one sweep per round over every site's address, and the ICMP metrics.

Counters and the RTT histogram live in the prober (never in a global registry) and are exported by
:meth:`IcmpProber.collect` at scrape time from per-site snapshots that a round replaces whole, so
a scrape never sees half a round.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from pantau.agent.pinger import Pinger, TargetStats, resolve, sweep
from pantau.agent.probes import ProbeContext, ProbeJob, ProbeResult
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric

if TYPE_CHECKING:
    from pantau.config import IcmpSettings

__all__ = ["RTT_BUCKETS", "IcmpProber", "TargetStats", "make_prober", "resolve", "sweep"]

log = logging.getLogger(__name__)

#: Upper bounds (seconds) of the RTT histogram: from LAN links up to VSAT and congested uplinks.
RTT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclasses.dataclass(frozen=True, slots=True)
class _SiteSeries:
    """Everything exported for one site; replaced whole after each round."""

    sent: int = 0
    received: int = 0
    buckets: tuple[int, ...] = (0,) * (len(RTT_BUCKETS) + 1)  # per bucket, last one is +Inf
    rtt_sum: float = 0.0
    last: TargetStats | None = None

    def add(self, stats: TargetStats) -> _SiteSeries:
        buckets = list(self.buckets)
        for rtt in stats.rtts:
            buckets[bisect.bisect_left(RTT_BUCKETS, rtt)] += 1
        return _SiteSeries(
            self.sent + stats.sent,
            self.received + stats.received,
            tuple(buckets),
            self.rtt_sum + sum(stats.rtts),
            stats,
        )


class IcmpProber:
    """Sweeps every ICMP job of a round over one pinger; see :func:`make_prober`."""

    def __init__(
        self, settings: IcmpSettings, context: ProbeContext, pinger: Pinger | None = None
    ) -> None:
        self._settings, self._context = settings, context
        self._pinger = pinger or Pinger(payload_size=settings.payload_size)
        self._pinger.open()  # fail at start-up, not in the first round, on missing privileges
        self._series: dict[str, _SiteSeries] = {}

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
            series[job.site] = series.get(job.site, _SiteSeries()).add(st)
            results[job.key] = ProbeResult(
                ok=st.received > 0,
                reason=st.reason,
                duration=duration,
                time=now,
                sent=st.sent,
                rtts=st.rtts,
                message=f"{ip}: {st.received}/{st.sent} replies",
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

    def retain(self, sites: Iterable[str]) -> None:
        """Forget the series of sites no longer in the inventory (after a reload)."""
        keep = set(sites)
        self._series = {k: v for k, v in self._series.items() if k in keep}

    def collect(self) -> Iterator[Metric]:
        """The ICMP metric families of docs/contracts.md, labelled by site."""
        series = self._series
        sent = CounterMetricFamily(
            "pantau_icmp_packets_sent", "ICMP echo requests sent", labels=["site"]
        )
        received = CounterMetricFamily(
            "pantau_icmp_packets_received", "ICMP echo replies received", labels=["site"]
        )
        rtt = HistogramMetricFamily(
            "pantau_icmp_rtt_seconds", "Round-trip time of every echo reply", labels=["site"]
        )
        round_rtt = GaugeMetricFamily(
            "pantau_icmp_round_rtt_seconds",
            "Round-trip time statistics of the last round (stddev: population)",
            labels=["site", "stat"],
        )
        loss = GaugeMetricFamily(
            "pantau_icmp_round_loss_ratio",
            "Share of echo requests lost in the last round",
            labels=["site"],
        )
        bounds = [*(repr(b) for b in RTT_BUCKETS), "+Inf"]
        for site, s in series.items():
            sent.add_metric([site], s.sent)
            received.add_metric([site], s.received)
            cumulative, total = [], 0
            for bound, n in zip(bounds, s.buckets, strict=True):
                total += n
                cumulative.append((bound, total))
            rtt.add_metric([site], cumulative, s.rtt_sum)
            if s.last is not None and s.last.loss is not None:
                loss.add_metric([site], s.last.loss)
            for stat, value in ((s.last and s.last.rtt_stats()) or {}).items():
                round_rtt.add_metric([site, stat], value)
        yield from (sent, received, rtt, round_rtt, loss)

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
