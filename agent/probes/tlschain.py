"""The certificate chain a TLS server presents, read from a TLS 1.2 handshake's Certificate message.

Python 3.11's ssl module gives the peer's own certificate only (``get_unverified_chain`` came in
3.13), and an intermediate that expires before the leaf breaks clients just as surely. So this
sends a minimal TLS 1.2 ClientHello (hand-written here: a few fixed fields, SNI for host names),
reads the server's handshake records in clear until ServerHelloDone and returns the DER
certificates of its Certificate message, then closes: no key exchange ever happens. A server
that speaks TLS 1.3 only answers with an alert; the caller then falls back to the leaf.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import struct

#: ECDHE/RSA suites with AES-GCM, ChaCha20 and AES-CBC: what TLS 1.2 servers accept today.
_SUITES = (0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0x009C, 0x009D, 0x002F, 0x0035)
_GROUPS = (0x001D, 0x0017, 0x0018)  # x25519, secp256r1, secp384r1
_SIGALGS = (0x0403, 0x0503, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601)
_MAX_READ = 256 * 1024  # a handshake with a long chain is ~10 KiB; never read more than this
_CERTIFICATE, _SERVER_HELLO_DONE = 11, 14


def _u16_list(values: tuple[int, ...]) -> bytes:
    return struct.pack("!H", 2 * len(values)) + b"".join(struct.pack("!H", v) for v in values)


def _ext(kind: int, data: bytes) -> bytes:
    return struct.pack("!HH", kind, len(data)) + data


def client_hello(host: str) -> bytes:
    """A TLS 1.2 ClientHello record for ``host`` (SNI only for names, as RFC 6066 says)."""
    exts = _ext(0x000A, _u16_list(_GROUPS)) + _ext(0x000B, b"\x01\x00")
    exts += _ext(0x000D, _u16_list(_SIGALGS))
    try:
        ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("idna")
        entry = b"\x00" + struct.pack("!H", len(name)) + name
        exts = _ext(0x0000, struct.pack("!H", len(entry)) + entry) + exts
    body = b"\x03\x03" + os.urandom(32) + b"\x00" + _u16_list(_SUITES) + b"\x01\x00"
    body += struct.pack("!H", len(exts)) + exts
    handshake = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def certificates(message: bytes) -> list[bytes]:
    """The DER certificates of a Certificate handshake message's body (RFC 5246, 7.4.2)."""
    total = int.from_bytes(message[:3], "big")
    data, out = message[3 : 3 + total], []
    while len(data) >= 3:
        size = int.from_bytes(data[:3], "big")
        out.append(data[3 : 3 + size])
        data = data[3 + size :]
    return out


async def _records(reader: asyncio.StreamReader) -> bytes:
    """Handshake bytes until ServerHelloDone; raises ValueError on an alert or other junk."""
    handshake, read = b"", 0
    while read < _MAX_READ:
        kind, _version, size = struct.unpack("!BHH", await reader.readexactly(5))
        payload = await reader.readexactly(size)
        read += 5 + size
        if kind != 0x16:
            raise ValueError(f"TLS record type {kind} (an alert: no TLS 1.2 here)")
        handshake += payload
        pos = 0
        while pos + 4 <= len(handshake):
            msg_type, length = handshake[pos], int.from_bytes(handshake[pos + 1 : pos + 4], "big")
            if msg_type == _SERVER_HELLO_DONE:
                return handshake
            pos += 4 + length
    raise ValueError("no ServerHelloDone in the first 256 KiB")


async def server_chain(host: str, port: int) -> list[bytes]:
    """The DER certificates ``host:port`` presents, leaf first (callers bound the time).

    Raises
    ------
    OSError, ValueError, asyncio.IncompleteReadError
        When the server cannot be reached or does not answer a TLS 1.2 handshake.
    """
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(client_hello(host))
        await writer.drain()
        handshake = await _records(reader)
    finally:
        writer.close()
    pos = 0
    while pos + 4 <= len(handshake):
        msg_type, length = handshake[pos], int.from_bytes(handshake[pos + 1 : pos + 4], "big")
        if msg_type == _CERTIFICATE:
            return certificates(handshake[pos + 4 : pos + 4 + length])
        pos += 4 + length
    raise ValueError("the server sent no certificate")
