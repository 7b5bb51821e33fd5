"""SNMPv3 with the User-based Security Model (RFC 3414) on pantau's fast codec.

Why not pysnmp's ``SnmpEngine`` end to end: after decryption pysnmp decodes the scoped PDU with
pyasn1, ~100 ms CPU per 540-value poll (docs/performance.md), ten times snmp_exporter. Only the
message framing lives here (RFC 3412 header, USM security parameters, discovery, time window);
the security itself is pysnmp's: key hashing and localisation, HMAC-SHA(-2) and AES objects from
``pysnmp.proto.secmod``. Every exchange is checked against real net-snmp ``snmpd`` in the tests.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Sequence
from typing import Any

from pantau.agent.snmp import ber as snmp_ber
from pantau.agent.snmp.ber import (
    GET,
    REPORT,
    RESPONSE,
    MalformedMessage,
    Oid,
    expect,
    read_int,
    tlv,
)
from pantau.agent.snmp.session import SnmpFailure, UdpExchange, VarBinds, check_status

_OCTETS, _SEQUENCE = 0x04, 0x30
_FLAG_AUTH, _FLAG_PRIV, _FLAG_REPORTABLE = 0x01, 0x02, 0x04
_USM_STATS = (1, 3, 6, 1, 6, 3, 15, 1, 1)
_NOT_IN_TIME_WINDOW = (*_USM_STATS, 2, 0)
_UNKNOWN_ENGINE_ID = (*_USM_STATS, 4, 0)
_AUTH_REPORTS = {
    (*_USM_STATS, 1, 0): "unsupported security level",
    (*_USM_STATS, 3, 0): "unknown user name",
    (*_USM_STATS, 5, 0): "wrong digest (authentication key)",
    (*_USM_STATS, 6, 0): "decryption error (privacy key)",
}
MAX_SIZE = 65507


def _services(auth_protocol: str | None, priv_protocol: str | None) -> tuple[Any, Any, Any]:
    import importlib

    # pysnmp's secmod modules import each other in a cycle that resolves only from its USM
    # service module, so that one is imported first
    importlib.import_module("pysnmp.proto.secmod.rfc3414.service")
    from pysnmp.proto.secmod.eso.priv import aes256
    from pysnmp.proto.secmod.rfc3414.auth import hmacmd5, hmacsha
    from pysnmp.proto.secmod.rfc3414.priv import des
    from pysnmp.proto.secmod.rfc3826.priv import aes
    from pysnmp.proto.secmod.rfc7860.auth import hmacsha2

    auth: Any = None
    auth_id: Any = None
    if auth_protocol == "SHA-256":
        auth_id = hmacsha2.HmacSha2.SHA256_SERVICE_ID
        auth = hmacsha2.HmacSha2(auth_id)
    elif auth_protocol == "SHA":
        auth, auth_id = hmacsha.HmacSha(), hmacsha.HmacSha.SERVICE_ID
    elif auth_protocol == "MD5":  # still what older MikroTik and Cisco devices offer
        auth, auth_id = hmacmd5.HmacMd5(), hmacmd5.HmacMd5.SERVICE_ID
    privs = {"DES": des.Des, "AES-128": aes.Aes, "AES-256": aes256.Aes256}
    priv = privs[priv_protocol]() if priv_protocol else None
    return auth, auth_id, priv


class UsmUser:
    """A v3 user's keys: passphrases hashed once, localised once per authoritative engine."""

    def __init__(self, profile: Any, auth_key: str | None, priv_key: str | None) -> None:
        from pyasn1.type import univ

        self.name = profile.user.encode()
        self.context = profile.context.encode()  # contextName of every scoped PDU
        self.auth, self._auth_id, self.priv = _services(
            profile.auth_protocol, profile.priv_protocol
        )
        self._auth_ku = self.auth.hash_passphrase(univ.OctetString(auth_key)) if self.auth else None
        self._priv_ku = (
            self.priv.hash_passphrase(self._auth_id, univ.OctetString(priv_key))
            if self.priv
            else None
        )
        self._local: dict[bytes, tuple[Any, Any]] = {}
        self.flags = (_FLAG_AUTH if self.auth else 0) | (_FLAG_PRIV if self.priv else 0)

    def keys(self, engine_id: bytes) -> tuple[Any, Any]:
        """The (auth, priv) keys localised to ``engine_id`` (RFC 3414 section 2.6)."""
        if engine_id not in self._local:
            from pyasn1.type import univ

            eid = univ.OctetString(engine_id)
            auth = self.auth.localize_key(self._auth_ku, eid) if self.auth else None
            priv = self.priv.localize_key(self._auth_id, self._priv_ku, eid) if self.priv else None
            self._local[engine_id] = (auth, priv)
        return self._local[engine_id]


@dataclasses.dataclass(slots=True)
class Engine:
    """What the device's authoritative engine told us: id, boots, and its clock at ``at``."""

    engine_id: bytes
    boots: int
    time: int
    at: float

    def now(self) -> int:
        return self.time + int(time.monotonic() - self.at)


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """A decoded SNMPv3 message; ``scoped`` is the plaintext scoped PDU or the ciphertext."""

    msg_id: int
    flags: int
    engine_id: bytes
    boots: int
    time: int
    user: bytes
    auth_params: bytes
    priv_params: bytes
    scoped: bytes
    encrypted: bool
    raw: bytes  # the whole datagram, for the HMAC check


def _octets(data: bytes, pos: int, end: int) -> tuple[bytes, int]:
    start, stop = expect(data, pos, end, _OCTETS)
    return data[start:stop], stop


def decode_message(data: bytes) -> tuple[int, Message]:
    """Decode an SNMPv3 message down to the (possibly encrypted) scoped PDU."""
    start, end = expect(data, 0, len(data), _SEQUENCE)
    version, pos = read_int(data, start, end)
    if version != 3:
        raise MalformedMessage(f"not SNMPv3 (version {version})")
    gstart, pos = expect(data, pos, end, _SEQUENCE)
    msg_id, gpos = read_int(data, gstart, pos)
    _max_size, gpos = read_int(data, gpos, pos)
    flags_raw, gpos = _octets(data, gpos, pos)
    model, gpos = read_int(data, gpos, pos)
    if len(flags_raw) != 1 or model != 3:
        raise MalformedMessage("bad msgFlags or security model")
    sec, pos = _octets(data, pos, end)
    sstart, send = expect(sec, 0, len(sec), _SEQUENCE)
    engine_id, spos = _octets(sec, sstart, send)
    boots, spos = read_int(sec, spos, send)
    clock, spos = read_int(sec, spos, send)
    user, spos = _octets(sec, spos, send)
    auth_params, spos = _octets(sec, spos, send)
    priv_params, spos = _octets(sec, spos, send)
    encrypted = data[pos] == _OCTETS if pos < end else False
    if encrypted:
        scoped, pos = _octets(data, pos, end)
    else:
        scoped_start = pos
        _, pos = expect(data, pos, end, _SEQUENCE)
        scoped = data[scoped_start:pos]
    if pos != end:
        raise MalformedMessage("extra bytes after the scoped PDU")
    message = Message(
        msg_id,
        flags_raw[0],
        engine_id,
        boots,
        clock,
        user,
        auth_params,
        priv_params,
        scoped,
        encrypted,
        data,
    )
    return msg_id, message


def _plain_pdu(msg: Message) -> snmp_ber.Pdu:
    try:
        return _scoped_pdu(msg.scoped)
    except MalformedMessage as exc:
        raise SnmpFailure("snmp_error", f"undecodable scoped PDU: {exc}") from None


def _scoped_pdu(scoped: bytes) -> snmp_ber.Pdu:
    start, end = expect(scoped, 0, len(scoped), _SEQUENCE)
    _, pos = _octets(scoped, start, end)  # contextEngineID
    _, pos = _octets(scoped, pos, end)  # contextName
    return snmp_ber.decode_pdu(scoped, pos, end, (RESPONSE, REPORT))


class V3Session:
    """SNMPv3 USM requests to one device; ``engines`` caches discovery across polls."""

    def __init__(
        self,
        host: str,
        port: int,
        user: UsmUser,
        timeout: float,
        retries: int,
        engines: dict[tuple[str, int], Engine],
    ) -> None:
        self._addr = (host, port)
        self._user = user
        self._engines = engines
        self._udp = UdpExchange(self._addr, decode_message, timeout, retries)
        self._next = random.randrange(1, 2**30)

    def _ids(self) -> int:
        self._next = self._next % (2**31 - 1) + 1
        return self._next

    def _encode(self, engine: Engine | None, flags: int, pdu: bytes, msg_id: int) -> bytes:
        engine_id = engine.engine_id if engine else b""
        boots, clock = (engine.boots, engine.now()) if engine else (0, 0)
        context = self._user.context if engine else b""
        scoped = tlv(_SEQUENCE, tlv(_OCTETS, engine_id) + tlv(_OCTETS, context) + pdu)
        auth_key, priv_key = self._user.keys(engine_id) if engine else (None, None)
        salt = b""
        if flags & _FLAG_PRIV:
            cipher, salt_os = self._user.priv.encrypt_data(priv_key, (boots, clock, None), scoped)
            scoped, salt = tlv(_OCTETS, cipher.asOctets()), salt_os.asOctets()
        digest = b"\0" * self._user.auth.digest_length if flags & _FLAG_AUTH else b""
        user = self._user.name if engine else b""
        sec = tlv(
            _SEQUENCE,
            tlv(_OCTETS, engine_id)
            + snmp_ber.encode_int(boots)
            + snmp_ber.encode_int(clock)
            + tlv(_OCTETS, user)
            + tlv(_OCTETS, digest)
            + tlv(_OCTETS, salt),
        )
        header = tlv(
            _SEQUENCE,
            snmp_ber.encode_int(msg_id)
            + snmp_ber.encode_int(MAX_SIZE)
            + tlv(_OCTETS, bytes((flags | _FLAG_REPORTABLE,)))
            + snmp_ber.encode_int(3),
        )
        whole = tlv(_SEQUENCE, snmp_ber.encode_int(3) + header + tlv(_OCTETS, sec) + scoped)
        if flags & _FLAG_AUTH:
            whole = self._user.auth.authenticate_outgoing_message(auth_key, whole)
        return bytes(whole)

    def _open(self, msg: Message, engine: Engine) -> snmp_ber.Pdu:
        """Authenticate and decrypt a reply to an authenticated request."""
        from pyasn1.type import univ
        from pysnmp.proto import error

        auth_key, priv_key = self._user.keys(engine.engine_id)
        if not self._user.flags & _FLAG_AUTH:  # a noAuthNoPriv user: nothing to check
            if msg.encrypted:
                raise SnmpFailure("auth", "encrypted response to a noAuthNoPriv request")
            return self._report_only(msg) if msg.flags & _FLAG_AUTH else _plain_pdu(msg)
        if not msg.flags & _FLAG_AUTH:
            return self._report_only(msg)
        try:
            self._user.auth.authenticate_incoming_message(
                auth_key, univ.OctetString(msg.auth_params), msg.raw
            )
            scoped = msg.scoped
            if msg.encrypted:
                scoped = self._user.priv.decrypt_data(
                    priv_key,
                    (msg.boots, msg.time, univ.OctetString(msg.priv_params)),
                    univ.OctetString(scoped),
                )
        except error.StatusInformation:
            raise SnmpFailure("auth", "response failed USM authentication or decryption") from None
        try:
            return _scoped_pdu(bytes(scoped))
        except MalformedMessage as exc:
            raise SnmpFailure("snmp_error", f"undecodable scoped PDU: {exc}") from None

    def _report_only(self, msg: Message) -> snmp_ber.Pdu:
        try:
            pdu = _scoped_pdu(msg.scoped) if not msg.encrypted else None
        except MalformedMessage as exc:
            raise SnmpFailure("snmp_error", f"undecodable report: {exc}") from None
        if pdu is None or pdu.pdu_type != REPORT:
            raise SnmpFailure("auth", "unauthenticated response to an authenticated request")
        return pdu

    async def _discover(self) -> Engine:
        msg_id = self._ids()
        probe = self._encode(None, 0, snmp_ber.encode_pdu(GET, msg_id, []), msg_id)
        msg: Message = await self._udp.exchange(probe, msg_id)
        if not msg.engine_id:
            raise SnmpFailure("snmp_error", "engine discovery returned no engine ID")
        engine = Engine(msg.engine_id, msg.boots, msg.time, time.monotonic())
        self._engines[self._addr] = engine
        return engine

    async def request(
        self, pdu_type: int, oids: Sequence[Oid], non_repeaters: int = 0, max_repetitions: int = 0
    ) -> VarBinds:
        for _step in range(3):  # discovery, then at most one time-window resync
            engine = self._engines.get(self._addr) or await self._discover()
            msg_id = self._ids()
            pdu = snmp_ber.encode_pdu(pdu_type, msg_id, oids, non_repeaters, max_repetitions)
            reply: Message = await self._udp.exchange(
                self._encode(engine, self._user.flags, pdu, msg_id), msg_id
            )
            result = self._open(reply, engine)
            if result.pdu_type == RESPONSE:
                check_status(result.error_status, result.error_index)
                return result.varbinds
            oid = result.varbinds[0][0] if result.varbinds else ()
            if oid in _AUTH_REPORTS:
                raise SnmpFailure("auth", f"agent reports {_AUTH_REPORTS[oid]}")
            if oid == _UNKNOWN_ENGINE_ID:
                self._engines.pop(self._addr, None)
            elif oid == _NOT_IN_TIME_WINDOW and reply.flags & _FLAG_AUTH:
                # only an authenticated report may move our view of the agent's clock
                self._engines[self._addr] = Engine(
                    reply.engine_id, reply.boots, reply.time, time.monotonic()
                )
            else:
                raise SnmpFailure("snmp_error", f"agent sent a report: {oid}")
        raise SnmpFailure("snmp_error", "USM discovery or time synchronisation did not settle")

    async def aclose(self) -> None:
        self._udp.close()
