"""A local certificate authority and server certificate for ``trunkline serve --tls``.

Clients that insist on ``https://`` (b24pysdk, b24jssdk's ``B24Hook``) then work unchanged:
they trust the CA through the environment lines ``serve`` prints (``SSL_CERT_FILE``,
``REQUESTS_CA_BUNDLE``, ``NODE_EXTRA_CA_CERTS``) or curl's ``--cacert``.

Rules:

* The files live in one directory (``tls_dir``; by default beside the SQLite file,
  ``<db>.tls/``, or ``trunkline-tls/`` in the working directory for PostgreSQL):
  ``ca.pem`` and ``ca.key`` (the CA, made once, valid ten years), ``server.pem`` and
  ``server.key`` (the server's certificate). Keys are written mode 0600.
* The CA is reused as long as its files are there, so a client trusts it once. The server
  certificate is reused while it names every host needed (127.0.0.1, ::1, localhost, the
  listen host and the portals' domains) and is valid for 30 more days; otherwise a new
  one is issued by the same CA.
* Keys are ECDSA P-256; certificates carry the extensions strict verifiers want (basic
  constraints, key usage, subject and authority key identifiers, serverAuth).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from trunkline.domain.clock import Clock

BASE_NAMES = ("127.0.0.1", "::1", "localhost")
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path
    names: tuple[str, ...]

    def environment(self) -> dict[str, str]:
        """The lines that make each client trust the CA: Python's ssl (aiohttp, httpx),
        requests (b24pysdk), Node (b24jssdk), the curl command."""
        ca = str(self.ca_file)
        return {
            "SSL_CERT_FILE": ca,
            "REQUESTS_CA_BUNDLE": ca,
            "NODE_EXTRA_CA_CERTS": ca,
            "CURL_CA_BUNDLE": ca,
        }


def tls_directory(tls_dir: str, sqlite_path: str | None) -> Path:
    """Where the files live, as an absolute path (the printed lines work from anywhere)."""
    if tls_dir:
        return Path(tls_dir).resolve()
    if sqlite_path and sqlite_path != ":memory:":
        return Path(sqlite_path + ".tls").resolve()
    return Path("trunkline-tls").resolve()


def _now() -> dt.datetime:
    # Certificate validity is the client's wall-clock time: a clock of its own with no
    # offset, never the application's (virtual in tests).
    return dt.datetime.fromtimestamp(Clock().now(), dt.UTC)


def _write(path: Path, data: bytes, *, secret: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(tmp, flags, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _san(names: Iterable[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _ca(directory: Path, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_file, key_file = directory / "ca.pem", directory / "ca.key"
    if ca_file.exists() and key_file.exists():
        cert = x509.load_pem_x509_certificate(ca_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), None)
        if isinstance(key, ec.EllipticCurvePrivateKey) and cert.not_valid_after_utc > now:
            return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Trunkline local CA")])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(key_file, _key_pem(key), secret=True)
    _write(ca_file, cert.public_bytes(serialization.Encoding.PEM), secret=False)
    return cert, key


def _current_names(cert_file: Path, now: dt.datetime) -> set[str] | None:
    """The names a still-valid server certificate covers (None: none usable)."""
    if not cert_file.exists():
        return None
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    if cert.not_valid_after_utc - RENEW_BEFORE < now:
        return None
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    found = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return found | set(san.get_values_for_type(x509.DNSName))


def ensure(directory: Path, names: Iterable[str]) -> TlsFiles:
    """The CA and a server certificate for ``names`` (plus the base names) in
    ``directory``, made or reused as the rules say."""
    wanted = tuple(dict.fromkeys([*BASE_NAMES, *(n.lower() for n in names if n)]))
    now = _now()
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    ca_cert, ca_key = _ca(directory, now)
    current = _current_names(cert_file, now)
    issuer_ok = False
    if current is not None:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        issuer_ok = cert.issuer == ca_cert.subject
    if current is None or not issuer_ok or not set(wanted) <= current or not key_file.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key()
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, wanted[0])]))
            .issuer_name(ca_cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=825))
            .add_extension(_san(wanted), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write(key_file, _key_pem(key), secret=True)
        _write(cert_file, cert.public_bytes(serialization.Encoding.PEM), secret=False)
        current = set(wanted)
    return TlsFiles(directory / "ca.pem", cert_file, key_file, tuple(sorted(current)))
