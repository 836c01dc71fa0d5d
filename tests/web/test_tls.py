"""The local CA of `serve --tls`: made once, reused, the server certificate reissued by the
same CA when a name is missing; what strict verifiers need is there."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

from cryptography import x509

from trunkline.web.tls import ensure, tls_directory


def names_of(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(
        san.get_values_for_type(x509.DNSName)
    )


def test_ensure_makes_a_ca_and_a_certificate(tmp_path: Path):
    files = ensure(tmp_path / "tls", ["acme.example"])
    assert names_of(files.cert_file) == {"127.0.0.1", "::1", "localhost", "acme.example"}
    assert stat.S_IMODE(files.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tls" / "ca.key").stat().st_mode) == 0o600
    context = ssl.create_default_context(cafile=str(files.ca_file))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.load_cert_chain(files.cert_file, files.key_file)  # the key fits the certificate
    assert files.environment()["REQUESTS_CA_BUNDLE"] == str(files.ca_file)


def test_ensure_reuses_and_reissues_with_the_same_ca(tmp_path: Path):
    first = ensure(tmp_path, ["a.example"])
    ca, cert = first.ca_file.read_bytes(), first.cert_file.read_bytes()
    again = ensure(tmp_path, ["a.example"])
    assert (again.ca_file.read_bytes(), again.cert_file.read_bytes()) == (ca, cert)
    more = ensure(tmp_path, ["a.example", "b.example"])
    assert more.ca_file.read_bytes() == ca  # clients keep trusting the same CA
    assert more.cert_file.read_bytes() != cert
    assert "b.example" in names_of(more.cert_file)


def test_tls_directory_is_beside_the_database(tmp_path: Path):
    assert tls_directory("", str(tmp_path / "db.sqlite3")) == tmp_path / "db.sqlite3.tls"
    assert tls_directory(str(tmp_path / "x"), None) == tmp_path / "x"
    assert tls_directory("", None).name == "trunkline-tls"
