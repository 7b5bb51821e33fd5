"""SNMP request sessions: the v2c fast path over asyncio UDP and the v3 path through pysnmp.

Both sessions answer ``request(pdu_type, oids, non_repeaters, max_repetitions)`` with plain
``(oid tuple, value)`` pairs (see :mod:`pantau.agent.snmp.ber`) and raise :class:`SnmpFailure`
with a fixed reason for every expected failure, so the walker above them never sees pysnmp types.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pantau.agent.snmp import ber as snmp_ber
from pantau.agent.snmp.ber import GET, GET_BULK, Oid
from pantau.errors import CredentialsMissing

VarBinds = list[tuple[Oid, object]]

# RFC 3416 error-status values that mean "you may not read this" rather than a broken agent.
_AUTH_STATUSES = frozenset({6, 16})  # noAccess, authorizationError


class SnmpFailure(Exception):
    """An expected failure of one device (a result, never a crash): ``reason`` is fixed."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Session(Protocol):
    async def request(
        self, pdu_type: int, oids: Sequence[Oid], non_repeaters: int = 0, max_repetitions: int = 0
    ) -> VarBinds: ...

    async def aclose(self) -> None: ...


def secret(env: str | None, literal: str | None, where: str) -> str:
    """The secret named by an ``*_env`` key (or a literal one, for labs).

    Raises
    ------
    CredentialsMissing
        When the environment variable is not set, naming the variable and the profile key.
    """
    if env:
        value = os.environ.get(env)
        if not value:
            raise CredentialsMissing(f"{where}: environment variable {env} is not set; export it")
        return value
    if literal is None:
        raise CredentialsMissing(f"{where}: no secret configured")
    return literal


class _Replies(asyncio.DatagramProtocol):
    def __init__(self, decode: Callable[[bytes], tuple[int, Any]]) -> None:
        self.decode = decode
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.malformed = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            key, reply = self.decode(data)
        except snmp_ber.MalformedMessage:
            self.malformed += 1  # dropped: a valid reply may still come; reported if none does
            return
        fut = self.waiting.get(key)
        if fut is not None and not fut.done():
            fut.set_result(reply)

    def error_received(self, exc: Exception) -> None:
        for fut in self.waiting.values():
            if not fut.done():
                fut.set_exception(exc)


class UdpExchange:
    """One connected UDP socket to one device: send a request, retry, match the reply by key.

    ``decode(datagram)`` returns ``(key, reply)`` (request-id or msgID) or raises
    :class:`~pantau.agent.snmp.ber.MalformedMessage`.
    """

    def __init__(
        self,
        addr: tuple[str, int],
        decode: Callable[[bytes], tuple[int, Any]],
        timeout: float,
        retries: int,
    ) -> None:
        self._addr = addr
        self._timeout, self._retries = timeout, retries
        self._replies = _Replies(decode)
        self._transport: asyncio.DatagramTransport | None = None

    async def _open(self) -> asyncio.DatagramTransport:
        if self._transport is None:
            loop = asyncio.get_running_loop()
            try:
                self._transport, _ = await loop.create_datagram_endpoint(
                    lambda: self._replies, remote_addr=self._addr
                )
            except OSError as exc:
                reason = "dns" if isinstance(exc, socket.gaierror) else "unreachable"
                raise SnmpFailure(reason, f"cannot open UDP to {self._addr}: {exc}") from None
        return self._transport

    async def exchange(self, data: bytes, key: int) -> Any:
        """Send ``data`` (again after each timeout, ``retries`` times) until ``key`` answers."""
        transport = await self._open()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies.waiting[key] = fut
        try:
            for _attempt in range(self._retries + 1):
                transport.sendto(data)
                try:
                    return await asyncio.wait_for(asyncio.shield(fut), self._timeout)
                except TimeoutError:
                    continue
                except ConnectionRefusedError:
                    raise SnmpFailure("refused", "ICMP port unreachable: no SNMP agent") from None
                except OSError as exc:
                    raise SnmpFailure("unreachable", f"send failed: {exc}") from None
        finally:
            self._replies.waiting.pop(key, None)
        if self._replies.malformed:
            raise SnmpFailure(
                "snmp_error", f"{self._replies.malformed} malformed response(s), no valid one"
            )
        raise SnmpFailure("timeout", f"no response after {self._retries + 1} attempt(s)")

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


def check_status(error_status: int, error_index: int) -> None:
    """Raise the fixed-reason failure for a non-zero RFC 3416 error-status."""
    if error_status:
        reason = "auth" if error_status in _AUTH_STATUSES else "snmp_error"
        raise SnmpFailure(reason, f"error-status {error_status} at index {error_index}")


def _decode_v2c(data: bytes) -> tuple[int, snmp_ber.Response]:
    resp = snmp_ber.decode_response(data)
    return resp.request_id, resp


class V2cSession:
    """SNMP v2c over one connected UDP socket, with pantau's own BER codec (see snmp_ber)."""

    def __init__(self, host: str, port: int, community: str, timeout: float, retries: int) -> None:
        self._community = community.encode()
        self._request_id = random.randrange(1, 2**30)
        self._udp = UdpExchange((host, port), _decode_v2c, timeout, retries)

    async def request(
        self, pdu_type: int, oids: Sequence[Oid], non_repeaters: int = 0, max_repetitions: int = 0
    ) -> VarBinds:
        self._request_id = self._request_id % (2**31 - 1) + 1
        rid = self._request_id
        pdu = snmp_ber.encode_pdu(pdu_type, rid, oids, non_repeaters, max_repetitions)
        data = snmp_ber.encode_message(1, self._community, pdu)
        resp = await self._udp.exchange(data, rid)
        if resp.community != self._community:
            raise SnmpFailure("snmp_error", "response carries a different community")
        check_status(resp.error_status, resp.error_index)
        return resp.varbinds

    async def aclose(self) -> None:
        self._udp.close()


_AUTH_PROTOCOLS = {
    "MD5": "USM_AUTH_HMAC96_MD5",
    "SHA": "USM_AUTH_HMAC96_SHA",
    "SHA-256": "USM_AUTH_HMAC192_SHA256",
}
_PRIV_PROTOCOLS = {
    "DES": "USM_PRIV_CBC56_DES",
    "AES-128": "USM_PRIV_CFB128_AES",
    "AES-256": "USM_PRIV_CFB256_AES",
}
_AUTH_ERRORS = (
    "UnknownUserName",
    "WrongDigest",
    "DecryptionError",
    "AuthenticationError",
    "AuthenticationFailure",
    "UnsupportedSecurityLevel",
    "UnknownSecurityName",
    "NotInTimeWindow",
    "UnknownCommunityName",
)


def usm_user(profile: Any, where: str) -> Any:
    """Build pysnmp's ``UsmUserData`` for a v3 profile; keys come only from the environment."""
    from pysnmp.hlapi.v3arch import asyncio as hlapi

    kwargs: dict[str, Any] = {}
    if profile.auth_protocol:
        kwargs["authKey"] = secret(profile.auth_key_env, None, f"{where}.auth_key_env")
        kwargs["authProtocol"] = getattr(hlapi, _AUTH_PROTOCOLS[profile.auth_protocol])
    if profile.priv_protocol:
        kwargs["privKey"] = secret(profile.priv_key_env, None, f"{where}.priv_key_env")
        kwargs["privProtocol"] = getattr(hlapi, _PRIV_PROTOCOLS[profile.priv_protocol])
    return hlapi.UsmUserData(profile.user, **kwargs)


def _plain(value: Any) -> object:
    """Turn a pysnmp value into the plain form snmp_ber produces."""
    from pyasn1.type import univ
    from pysnmp.proto import rfc1905

    if isinstance(value, rfc1905.NoSuchObject):
        return snmp_ber.NO_SUCH_OBJECT
    if isinstance(value, rfc1905.NoSuchInstance):
        return snmp_ber.NO_SUCH_INSTANCE
    if isinstance(value, rfc1905.EndOfMibView):
        return snmp_ber.END_OF_MIB_VIEW
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, univ.OctetString):
        return value.asOctets()
    if isinstance(value, univ.ObjectIdentifier):
        return tuple(value)
    return None


class EngineSession:
    """SNMPv3 through the shared pysnmp ``SnmpEngine`` (USM discovery, keys and privacy)."""

    def __init__(
        self,
        engine: Any,
        user: Any,
        host: str,
        port: int,
        timeout: float,
        retries: int,
        context: str = "",
    ) -> None:
        self._engine = engine
        self._user = user
        self._context = context
        self._host, self._port = host, port
        self._timeout, self._retries = timeout, retries
        self._target: Any = None

    async def request(
        self, pdu_type: int, oids: Sequence[Oid], non_repeaters: int = 0, max_repetitions: int = 0
    ) -> VarBinds:
        from pysnmp.error import PySnmpError
        from pysnmp.hlapi.v3arch import asyncio as hlapi

        if self._target is None:
            try:
                self._target = await hlapi.UdpTransportTarget.create(
                    (self._host, self._port), timeout=self._timeout, retries=self._retries
                )
            except PySnmpError as exc:
                raise SnmpFailure("dns", f"cannot resolve {self._host}: {exc}") from None
        varbinds = [hlapi.ObjectType(hlapi.ObjectIdentity(".".join(map(str, o)))) for o in oids]
        common = (
            self._engine,
            self._user,
            self._target,
            hlapi.ContextData(contextName=self._context),
        )
        if pdu_type == GET:
            call = hlapi.get_cmd(*common, *varbinds, lookupMib=False)
        elif pdu_type == GET_BULK:
            call = hlapi.bulk_cmd(
                *common, non_repeaters, max_repetitions, *varbinds, lookupMib=False
            )
        else:
            raise ValueError(f"unsupported PDU type 0x{pdu_type:02x}")
        error_indication, error_status, error_index, result = await call
        if error_indication:
            name = type(error_indication).__name__
            if name == "RequestTimedOut":
                raise SnmpFailure("timeout", f"no response after {self._retries + 1} attempt(s)")
            reason = "auth" if name in _AUTH_ERRORS else "snmp_error"
            raise SnmpFailure(reason, f"{name}: {error_indication}")
        if int(error_status):
            status = int(error_status)
            reason = "auth" if status in _AUTH_STATUSES else "snmp_error"
            raise SnmpFailure(reason, f"error-status {status} at index {int(error_index)}")
        return [(tuple(name), _plain(value)) for name, value in result]

    async def aclose(self) -> None:
        """Nothing per device: the engine's transport is shared and closed by the prober."""
