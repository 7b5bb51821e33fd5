"""A test PKI made with ``cryptography``: a CA, certificates it signs (valid or expired), a
self-signed one, and bcrypt hashes for web config files. Loopback names only."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from pathlib import Path

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)


@dataclasses.dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(
    folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> Pair:
    folder.mkdir(parents=True, exist_ok=True)
    pair = Pair(folder / f"{stem}.crt", folder / f"{stem}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pair.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pair


class Pki:
    """A CA in ``folder``; :meth:`server` issues loopback server certificates."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(_name("pantau test CA"))
            .issuer_name(_name("pantau test CA"))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - DAY)
            .not_valid_after(NOW + 30 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.ca = _write(folder, "ca", self._cert, self._key).cert

    def server(self, stem: str, *, expired: bool = False, self_signed: bool = False) -> Pair:
        key = ec.generate_private_key(ec.SECP256R1())
        start, end = (NOW - 10 * DAY, NOW - DAY) if expired else (NOW - DAY, NOW + 10 * DAY)
        issuer, signer = (_name(stem), key) if self_signed else (self._cert.subject, self._key)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(stem))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(signer, hashes.SHA256())
        )
        return _write(self.folder, stem, cert, key)


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash at the lowest cost (fast tests; operators use 10 or more)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


def web_config(path: Path, pair: Pair | None, users: dict[str, str]) -> Path:
    """Write an exporter-toolkit web config with TLS ``pair`` and ``users`` (name: password)."""
    lines = []
    if pair is not None:
        lines += ["tls_server_config:", f"  cert_file: {pair.cert}", f"  key_file: {pair.key}"]
    if users:
        lines.append("basic_auth_users:")
        lines += [f"  {name}: {bcrypt_hash(pw)}" for name, pw in users.items()]
    path.write_text("\n".join(lines) + "\n")
    return path
