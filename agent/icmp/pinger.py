"""The ICMP sweep engine: one socket per address family, many targets, paced like fping.

A :class:`Pinger` sends ``count`` echo requests to every target, round-robin (echo 1 to every
target, then echo 2, ...), at most ``rate`` packets per second overall and at least ``period``
seconds apart per target (fping's ``-i`` and ``-p``). Replies are read through the asyncio loop
(``loop.add_reader``, and between sends while sending) or, in :meth:`Pinger.sweep_blocking`, by
``select`` on the sockets, and matched by identifier, sequence and target address; RTTs come from
monotonic send timestamps. An ICMP error (destination unreachable, TTL exceeded) quoting one of
our echo requests fails that echo with a reason. Anything else that arrives (replies for other
pingers, late or duplicate replies, malformed packets) is ignored. Sockets and their privileges:
:mod:`pantau.agent.icmp.sockets`; packets: :mod:`~.icmp_wire`.

A Pinger is one process's engine. The agent's rounds stay in one process: they are paced
(``rate``), so one process keeps up and a fork would only cost memory. ``pantau probe icmp``
forks sweep workers for large unpaced sweeps (:mod:`pantau.agent.icmp.workers`), each with its own
Pinger and raw-socket identifier, and sweeps with :meth:`Pinger.sweep_blocking`: asyncio is
imported inside the async functions only, so a one-shot sweep never loads it (with the ``ssl``
module it pulls in: ~40 ms and ~10 MiB of a short process). A sweep's per-target state is kept
in columns (:class:`~pantau.agent.icmp.rounds.Run`), not in an object per target.
"""

from __future__ import annotations

import _socket  # see pantau.agent.icmp.sockets
import contextlib
import errno
import logging
import math
import os
import select
from array import array
from collections.abc import Callable, Generator, Iterable, Iterator
from time import monotonic, sleep

from pantau.agent.icmp import wire
from pantau.agent.icmp.rounds import PENDING, UNSENT, Pacer, Results, Run, Sweep, TargetStats
from pantau.agent.icmp.sockets import RCVBUF, Channel, open_channel
from pantau.errors import PermissionDenied, ProbeSetupError

TYPE_CHECKING = False  # see pantau.agent.icmp.rounds: typing is not imported at run time
if TYPE_CHECKING:
    from asyncio import AbstractEventLoop

    from pantau.agent.icmp.sockets import Mode

__all__ = ["Pinger", "Results", "TargetStats", "literals", "resolve", "sweep"]

log = logging.getLogger(__name__)

_DRAIN_EVERY = 64  # sends between two reads of the sockets: keeps RTTs honest while sending
_YIELD_EVERY = 512  # sends between two yields to the event loop
_BUFSIZE = 2048  # an echo reply with the largest payload (1472) and IP options, an ICMP error
# sendto() errors that mean "no way there" (EINVAL: a blackhole route; EACCES/EPERM: a firewall).
_LOCAL_UNREACHABLE = frozenset(
    {
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EINVAL,
        errno.EACCES,
        errno.EPERM,
        errno.EADDRNOTAVAIL,
        errno.ENETDOWN,
    }
)
_RETRY = frozenset({errno.EAGAIN, errno.ENOBUFS, errno.EINTR})


class Pinger:
    """Sweeps many targets over one socket per address family.

    Sweeps may run concurrently (the agent's round and its canary check): each takes its own block
    of sequence numbers. Call :meth:`open` early to fail fast on missing privileges, and
    :meth:`close` at the end.

    Parameters
    ----------
    mode
        ``auto`` (raw if CAP_NET_RAW, else datagram), ``raw`` or ``dgram``.
    payload_size
        Bytes of echo data after the 8-byte ICMP header (56, like ping and fping).
    rcvbuf
        Receive buffer asked for each socket.
    ident
        Echo identifier of the raw sockets (random if None); processes sweeping at once must use
        different ones. Datagram sockets get theirs from the kernel.
    """

    def __init__(
        self,
        *,
        mode: Mode = "auto",
        payload_size: int = 56,
        rcvbuf: int = RCVBUF,
        ident: int | None = None,
    ):
        self._mode, self._rcvbuf, self._ident = mode, rcvbuf, ident
        self._payload = bytes(payload_size)
        self._channels: dict[int, Channel] = {}
        self._broken: set[int] = set()
        self._pending: list[Run] = []  # the sweeps whose echoes may still be answered
        self._next_seq = int.from_bytes(os.urandom(2), "big")
        self._sweeps = 0
        self._loop: AbstractEventLoop | None = None

    def open(self, families: Iterable[int] = (_socket.AF_INET,)) -> None:
        """Open the sockets now (a sweep opens missing ones itself)."""
        for family in families:
            self._channel(family)

    def kind(self, family: int = _socket.AF_INET) -> str | None:
        """``raw`` or ``dgram`` for the open socket of ``family``, else None."""
        channel = self._channels.get(family)
        return channel.kind if channel else None

    def close(self) -> None:
        """Close the sockets (a sweep still running ends with what it has)."""
        for channel in self._channels.values():
            if self._loop is not None and self._sweeps:
                self._loop.remove_reader(channel.sock.fileno())
            channel.sock.close()
        self._channels.clear()

    def _channel(self, family: int) -> Channel | None:
        channel = self._channels.get(family)
        if channel is None and family not in self._broken:
            try:
                channel = self._channels[family] = open_channel(
                    family, self._mode, self._rcvbuf, self._ident
                )
            except PermissionDenied:
                raise
            except ProbeSetupError as exc:
                # IPv6 disabled on a host fails the IPv6 targets, not the whole agent.
                self._broken.add(family)
                log.warning(
                    "icmp family unavailable family=%s error=%s",
                    "AF_INET6" if family == _socket.AF_INET6 else "AF_INET",
                    exc,
                )
        return channel

    async def sweep(
        self,
        addresses: Iterable[str],
        *,
        count: int = 3,
        timeout: float = 1.0,
        rate: float | None = None,
        period: float = 0.0,
    ) -> dict[str, TargetStats]:
        """Send ``count`` echo requests to every address and wait for the replies.

        Parameters
        ----------
        addresses
            IPv4/IPv6 literals; duplicates are swept once.
        count
            Echo requests per target, 1..65535.
        timeout
            Seconds an echo request waits for its reply (a later reply counts as lost). The sweep
            ends when every echo is answered, or ``timeout`` after the last one was sent.
        rate
            Packets per second at most over all targets; None or 0: as fast as possible.
        period
            Seconds at least between two echoes to the same target.

        Returns
        -------
        dict
            Every address as given → its :class:`TargetStats`.

        Raises
        ------
        ValueError
            An address is not an IP literal, or ``count`` is out of range.
        PermissionDenied
            No ICMP socket may be opened; the message says what to run.
        """
        import asyncio  # here, not at the top: see the module docstring

        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def finish() -> None:
            if not done.done():
                done.set_result(None)

        sweep = Sweep(timeout, finish)
        run, pacer = self._begin(addresses, count, rate, period, sweep)
        self._attach(loop)
        try:
            for delay in self._sending(run, pacer):
                await asyncio.sleep(delay)  # replies are read by the loop meanwhile
            sweep.sending = False
            sweep.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(done), timeout)
        finally:
            self._end(run)
            self._detach(loop)
        return dict(Results(run).items())

    def sweep_blocking(
        self,
        addresses: Iterable[str],
        *,
        count: int = 3,
        timeout: float = 1.0,
        rate: float | None = None,
        period: float = 0.0,
    ) -> Results:
        """:meth:`sweep` without an event loop, for a one-shot process (``pantau probe icmp``).

        The same sends, pacing, matching and results, as a mapping whose :class:`TargetStats`
        are made when read; replies are read while it waits (a ``select`` on the sockets).
        Must not run while an asyncio sweep of this Pinger does.
        """
        sweep = Sweep(timeout)
        run, pacer = self._begin(addresses, count, rate, period, sweep)
        self._sweeps += 1
        if self._sweeps == 1:
            self._drain_all()  # leftovers: late or foreign replies
        try:
            for delay in self._sending(run, pacer):
                self._wait(delay)
            sweep.sending = False
            sweep.check()
            deadline = monotonic() + timeout
            while not sweep.finished and (left := deadline - monotonic()) > 0:
                self._wait(left)
        finally:
            self._end(run)
            self._sweeps -= 1
        return Results(run)

    def _wait(self, seconds: float) -> None:
        """Read replies as they arrive, for ``seconds`` at most (returns after a first batch)."""
        socks = [channel.sock for channel in self._channels.values()]
        if not socks:
            sleep(seconds)
        elif select.select(socks, (), (), seconds)[0]:
            self._drain_all()

    def _begin(
        self,
        addresses: Iterable[str],
        count: int,
        rate: float | None,
        period: float,
        sweep: Sweep,
    ) -> tuple[Run, Pacer | None]:
        if not 1 <= count <= 0xFFFF:
            raise ValueError(f"count must be 1..65535, got {count}")
        run = Run(addresses, sweep, self._next_seq, count)
        for family in run.groups:
            self._channel(family)
        self._next_seq = (self._next_seq + count) & 0xFFFF
        pacer = None
        if rate or period:
            pacer = Pacer(rate, period)
            run.last = array("d", [-math.inf]) * len(run.addresses)
        self._pending.append(run)
        return run, pacer

    def _end(self, run: Run) -> None:
        self._pending.remove(run)  # later replies to it are ignored

    def _sending(self, run: Run, pacer: Pacer | None) -> Iterator[float]:
        """Send every echo of ``run``; yields the seconds to wait, while pacing, retrying a full
        buffer or letting other work in (0.0), and the driver reads replies meanwhile."""
        groups = [
            (channel, rows)
            for family, rows in run.groups.items()
            if (channel := self._channels.get(family)) is not None
        ]
        addresses, at, state, last = run.addresses, run.at, run.state, run.last
        count, sweep, sent_count, sent = run.count, run.sweep, run.sent, 0
        for k in range(count):
            seq = (run.seq0 + k) & 0xFFFF
            for channel, rows in groups:
                # Within a pass every target of a family gets the same bytes.
                v6 = channel.family == _socket.AF_INET6
                packet = wire.echo_request(channel.ident, seq, self._payload, v6=v6)
                sendto = channel.sock.sendto
                for row in rows:
                    if pacer is not None and last is not None:
                        while (delay := pacer.delay(last[row])) > 0:
                            yield delay
                    slot = row * count + k
                    at[slot] = now = monotonic()
                    state[slot] = PENDING
                    if last is not None:
                        last[row] = now
                    sent_count[row] += 1
                    sweep.outstanding += 1
                    try:
                        sendto(packet, (addresses[row], 0))
                    except OSError as exc:
                        yield from self._failed_send(channel, packet, run, row, slot, exc)
                    sent += 1
                    if not sent % _DRAIN_EVERY:
                        self._drain_all()
                        if not sent % _YIELD_EVERY:
                            yield 0.0
        self._drain_all()

    def _failed_send(
        self, channel: Channel, packet: bytes, run: Run, row: int, slot: int, exc: OSError
    ) -> Iterator[float]:
        address = run.addresses[row]
        failure = yield from self._resend(channel, packet, address, exc)
        if run.state[slot] != PENDING:  # its error came back while we retried
            return
        if failure:
            run.state[slot] = UNSENT
            run.sweep.settle()
            run.fail(row, wire.UNREACHABLE if failure in _LOCAL_UNREACHABLE else "error")
            log.debug("icmp send failed address=%s errno=%s", address, failure)
        else:
            run.at[slot] = monotonic()

    def _resend(
        self, channel: Channel, packet: bytes, address: str, exc: OSError
    ) -> Generator[float, None, int]:
        """Retry a failed send; 0 once sent, else the errno of a local failure."""
        tries = 0
        while True:
            tries += 1
            if exc.errno in _RETRY and tries < 1000:  # full buffers: let NIC and replies catch up
                self._drain_all()
                yield 0.001
            elif not channel.raw and tries < 4:
                # A datagram socket reports an earlier echo's ICMP error once, on whatever call
                # comes next, maybe this send: read the error queue and send again.
                self._drain_errors(channel)
            else:
                return exc.errno or errno.EIO
            try:
                channel.sock.sendto(packet, (address, 0))
                return 0
            except OSError as again:
                exc = again

    def _attach(self, loop: AbstractEventLoop) -> None:
        self._sweeps += 1
        self._loop = loop
        if self._sweeps == 1:
            self._drain_all()  # leftovers from between sweeps: late or foreign replies
        for channel in self._channels.values():
            loop.add_reader(channel.sock.fileno(), self._drain, channel)

    def _detach(self, loop: AbstractEventLoop) -> None:
        self._sweeps -= 1
        if not self._sweeps:
            for channel in self._channels.values():
                loop.remove_reader(channel.sock.fileno())

    def _drain_all(self) -> None:
        for channel in self._channels.values():
            self._drain(channel)

    def _drain(self, channel: Channel) -> None:
        recvfrom, settle, ident = channel.sock.recvfrom, self._settle, channel.ident
        parse: Callable[[bytes, str], wire.Match | None]
        if channel.family == _socket.AF_INET6:
            parse = wire.parse_icmp6
        else:
            parse = wire.parse_ipv4 if channel.raw else wire.parse_icmp4
        while True:
            try:
                data, sender = recvfrom(_BUFSIZE)
            except InterruptedError:
                continue
            except OSError as exc:
                if channel.raw:
                    if not isinstance(exc, BlockingIOError):
                        log.debug("icmp receive failed errno=%s", exc.errno)
                    return
                # A datagram socket reports an ICMP error here once, and stays readable
                # (EPOLLERR) until its error queue is read.
                self._drain_errors(channel)
                if isinstance(exc, BlockingIOError):
                    return
                continue
            settle(parse(data, sender[0]), ident, monotonic())

    def _drain_errors(self, channel: Channel) -> None:
        while True:
            try:
                data, ancdata, _, dest = channel.sock.recvmsg(_BUFSIZE, 1024, _socket.MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("icmp error queue unreadable errno=%s", exc.errno)
                return
            self._settle(wire.parse_errqueue(data, ancdata, dest[0]), channel.ident, monotonic())

    def _settle(self, match: wire.Match | None, ident: int, now: float) -> None:
        if match is None or match.ident != ident:
            return
        # Each running sweep has its own block of sequence numbers: one of them at most takes
        # it; none does if it is late, a duplicate, or for a target not pinged by a sweep.
        for run in self._pending:
            if run.answer(match.target, match.seq, match.reason, now):
                return


def literals(names: Iterable[str]) -> dict[str, str]:
    """The IP literals among ``names``, each mapped to itself (no lookup needed)."""
    result: dict[str, str] = {}
    for name in names:
        with contextlib.suppress(ValueError):
            wire.canonical(name)
            result[name] = name
    return result


async def resolve(names: Iterable[str], timeout: float) -> dict[str, str | None]:
    """Map each name to an IP literal (the first address ``getaddrinfo`` gives), None if it fails.

    IP literals map to themselves without a lookup; every lookup is bounded by ``timeout``.
    """
    import asyncio  # here, not at the top: see the module docstring

    loop = asyncio.get_running_loop()

    async def look_up(name: str) -> str | None:
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(name, None, type=_socket.SOCK_DGRAM), timeout
            )
        except (OSError, TimeoutError) as exc:
            log.debug("icmp name lookup failed name=%s error=%s", name, exc)
            return None
        return str(infos[0][4][0]) if infos else None

    names = list(names)
    result: dict[str, str | None] = dict(literals(names))
    # Only host names cost a task each: 10,000 literals must not make 10,000 tasks.
    hosts = [n for n in dict.fromkeys(names) if n not in result]
    result.update(zip(hosts, await asyncio.gather(*map(look_up, hosts)), strict=True))
    return result


async def sweep(
    addresses: Iterable[str],
    *,
    count: int = 3,
    timeout: float = 1.0,
    rate: float | None = None,
    period: float = 0.0,
    mode: Mode = "auto",
    payload_size: int = 56,
) -> dict[str, TargetStats]:
    """Sweep ``addresses`` once with a pinger of its own (see :meth:`Pinger.sweep`).

    For one-off checks: the agent's canaries, ``pantau probe icmp``.
    """
    pinger = Pinger(mode=mode, payload_size=payload_size)
    try:
        return await pinger.sweep(addresses, count=count, timeout=timeout, rate=rate, period=period)
    finally:
        pinger.close()
