"""A throw-away OpenVPN-style PKI made with `cryptography`: a CA, server and client certificates
without SAN (as easy-rsa makes them), and helpers that write profiles and server configs."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def pem_cert(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> str:
        return pem_cert(self.cert)

    @property
    def key_pem(self) -> str:
        return pem_key(self.key)


def make_ca(cn: str = "NoC Raven Test CA", days: int = 3650) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def issue(
    ca: Issued,
    cn: str,
    role: str,
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Issued:
    """A leaf as easy-rsa issues it: no SAN; EKU serverAuth or clientAuth by `role` ("" = none)."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - dt.timedelta(days=1))
        .not_valid_after(not_after or NOW + dt.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    if role == "server":
        builder = builder.add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif role == "client":
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


@dataclass
class TestPki:
    __test__ = False  # not a pytest test class
    ca: Issued
    server: Issued
    client: Issued
    tls_auth: str  # an OpenVPN static key block for tls-auth / tls-crypt


def static_key() -> str:
    body = os.urandom(256).hex()
    lines = [body[i : i + 32] for i in range(0, len(body), 32)]
    return "-----BEGIN OpenVPN Static key V1-----\n" + "\n".join(lines) + "\n-----END OpenVPN Static key V1-----\n"


def make_pki() -> TestPki:
    ca = make_ca()
    return TestPki(ca, issue(ca, "server", "server"), issue(ca, "client", "client"), static_key())


def client_profile(
    pki: TestPki,
    remotes: list[tuple[str, int]],
    *,
    extra: str = "",
    client: Issued | None = None,
    ca: Issued | None = None,
) -> str:
    """A peer-to-peer TLS client profile on `dev null` with every credential inline."""
    leaf = client or pki.client
    remote_lines = "".join(f"remote {host} {port} udp\n" for host, port in remotes)
    return (
        "tls-client\n"
        "dev null\n"
        "nobind\n"
        f"{remote_lines}"
        "remote-cert-tls server\n"
        "verb 3\n"
        f"{extra}"
        f"<ca>\n{(ca or pki.ca).cert_pem}</ca>\n"
        f"<cert>\n{leaf.cert_pem}</cert>\n"
        f"<key>\n{leaf.key_pem}</key>\n"
    )


def write_server_files(pki: TestPki, directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "ca": directory / "ca.crt",
        "cert": directory / "server.crt",
        "key": directory / "server.key",
    }
    files["ca"].write_text(pki.ca.cert_pem)
    files["cert"].write_text(pki.server.cert_pem)
    files["key"].write_text(pki.server.key_pem)
    files["key"].chmod(0o600)
    return files
