"""Checks a profile's certificates before openvpn ever runs, because openvpn reports these
problems badly: an expired client certificate shows only as endless `tls-error` retries and a
mismatched key as a misleading `>FATAL`. Every refusal is one line saying what to fix.

OpenVPN PKIs (easy-rsa) carry no subjectAltName, so the chain is verified with a relaxed
extension policy: cryptography's WebPKI defaults would reject every such leaf."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError

from nocraven.vpn.profile import Finding, Profile

EXPIRY_WARNING_DAYS = 30


@dataclass
class CertificateReport:
    findings: list[Finding] = field(default_factory=list)
    client_subject: str = ""
    client_not_after: dt.datetime | None = None
    ca_not_after: dt.datetime | None = None

    @property
    def refused(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "refused"]

    @property
    def days_left(self) -> int | None:
        """Days until the first of the client and CA certificates expires."""
        ends = [d for d in (self.client_not_after, self.ca_not_after) if d is not None]
        return None if not ends else int((min(ends) - dt.datetime.now(dt.UTC)).total_seconds() // 86400)

    @property
    def expires(self) -> dt.datetime | None:
        ends = [d for d in (self.client_not_after, self.ca_not_after) if d is not None]
        return min(ends) if ends else None


def subject_text(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return f"CN={names[0].value!s}" if names else cert.subject.rfc4514_string() or "(empty subject)"


def load_certificates(pem: str, what: str, line: int) -> list[x509.Certificate]:
    """All certificates of a PEM block; raises ValueError (one line) when there are none."""
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise ValueError(
            f"line {line}: <{what}>: not a PEM certificate (expected -----BEGIN CERTIFICATE-----)"
        ) from None
    return certs


def validate_certificates(profile: Profile, now: dt.datetime | None = None) -> CertificateReport:
    """Expiry, key match and chain of the profile's CA, client certificate and key."""
    now = now or dt.datetime.now(dt.UTC)
    report = CertificateReport()

    def refuse(line: int, directive: str, message: str) -> CertificateReport:
        report.findings.append(Finding(line, directive, "refused", message))
        return report

    ca_directive = profile.first("ca")
    cas: list[x509.Certificate] = []
    if ca_directive is not None and ca_directive.block is not None:
        try:
            cas = load_certificates(ca_directive.block, "ca", ca_directive.line)
        except ValueError as exc:
            return refuse(ca_directive.line, "ca", str(exc).split(": ", 2)[-1])

    cert: x509.Certificate | None = None
    key: object = None
    extra: list[x509.Certificate] = []
    cert_line = key_line = 0
    p12 = profile.first("pkcs12")
    if p12 is not None and p12.block is not None:
        try:
            import base64

            bundle = pkcs12.load_pkcs12(base64.b64decode("".join(p12.block.split())), None)
        except ValueError as exc:
            return refuse(
                p12.line,
                "pkcs12",
                f"cannot read the PKCS#12 bundle ({exc}); a password-protected bundle is not supported",
            )
        if bundle.cert is not None:
            cert = bundle.cert.certificate
        key = bundle.key
        extra = [c.certificate for c in bundle.additional_certs]
        if not cas:
            cas = extra
        cert_line = key_line = p12.line
    cert_directive = profile.first("cert")
    if cert_directive is not None and cert_directive.block is not None:
        try:
            chain = load_certificates(cert_directive.block, "cert", cert_directive.line)
        except ValueError as exc:
            return refuse(cert_directive.line, "cert", str(exc).split(": ", 2)[-1])
        cert, extra = chain[0], extra + chain[1:]
        cert_line = cert_directive.line
    key_directive = profile.first("key")
    if key_directive is not None and key_directive.block is not None:
        key_line = key_directive.line
        try:
            key = serialization.load_pem_private_key(key_directive.block.encode(), None)
        except TypeError:
            report.findings.append(
                Finding(
                    key_line,
                    "key",
                    "warning",
                    "the private key is encrypted; its match with the certificate is not checked",
                )
            )
            key = None
        except ValueError:
            return refuse(key_line, "key", "not a PEM private key (expected -----BEGIN PRIVATE KEY-----)")
    extra_directive = profile.first("extra-certs")
    if extra_directive is not None and extra_directive.block is not None:
        try:
            extra += load_certificates(extra_directive.block, "extra-certs", extra_directive.line)
        except ValueError as exc:
            return refuse(extra_directive.line, "extra-certs", str(exc).split(": ", 2)[-1])

    for ca in cas:
        if ca.not_valid_after_utc < now:
            return refuse(
                ca_directive.line if ca_directive else 0,
                "ca",
                f"the CA certificate {subject_text(ca)} expired on {ca.not_valid_after_utc:%Y-%m-%d};"
                " ask the NOC for a current CA",
            )
        report.ca_not_after = min(filter(None, [report.ca_not_after, ca.not_valid_after_utc]))
    if cert is None:
        return report  # username/password only: nothing more to check on our side
    report.client_subject = subject_text(cert)
    report.client_not_after = cert.not_valid_after_utc
    if cert.not_valid_after_utc < now:
        days = (now - cert.not_valid_after_utc).days
        return refuse(
            cert_line,
            "cert",
            f"the client certificate {report.client_subject} expired on {cert.not_valid_after_utc:%Y-%m-%d}"
            f" ({days} days ago);"
            " ask the NOC for a new one",
        )
    if cert.not_valid_before_utc > now:
        return refuse(
            cert_line,
            "cert",
            f"the client certificate {report.client_subject} is not valid before"
            f" {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC;"
            " check the appliance clock",
        )
    days_left = (cert.not_valid_after_utc - now).days
    if days_left < EXPIRY_WARNING_DAYS:
        report.findings.append(
            Finding(
                cert_line,
                "cert",
                "warning",
                f"the client certificate {report.client_subject} expires in {days_left} days"
                f" ({cert.not_valid_after_utc:%Y-%m-%d})",
            )
        )
    if key is not None and not _key_matches(cert, key):
        return refuse(
            key_line,
            "key",
            f"the private key does not match the client certificate {report.client_subject};"
            " the <key> and <cert> belong to different pairs",
        )
    if cas:
        problem = chain_problem(cert, cas, extra, now)
        if problem:
            return refuse(cert_line, "cert", problem)
    if _has_eku(cert) and ExtendedKeyUsageOID.CLIENT_AUTH not in _eku(cert):
        report.findings.append(
            Finding(
                cert_line,
                "cert",
                "warning",
                f"the client certificate {report.client_subject} lacks the TLS client usage;"
                " servers with `remote-cert-tls client` will refuse it",
            )
        )
    return report


def _key_matches(cert: x509.Certificate, key: object) -> bool:
    public = getattr(key, "public_key", None)
    if public is None:
        return False
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(public().public_bytes(*spki) == cert.public_key().public_bytes(*spki))


def chain_problem(
    cert: x509.Certificate, cas: list[x509.Certificate], extra: list[x509.Certificate], now: dt.datetime
) -> str | None:
    """Why `cert` does not chain to one of `cas` (None when it does)."""
    builder = (
        PolicyBuilder()
        .store(Store(cas))
        .time(now)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all())
    )
    try:
        builder.build_client_verifier().verify(cert, extra)
        return None
    except VerificationError as exc:
        issuer = cert.issuer.rfc4514_string()
        ca_names = ", ".join(subject_text(ca) for ca in cas)
        if all(ca.subject != cert.issuer for ca in cas) and all(c.subject != cert.issuer for c in extra):
            return (
                f"the client certificate {subject_text(cert)} is issued by {issuer},"
                f" not by the profile's CA ({ca_names});"
                " the <ca> and <cert> come from different PKIs"
            )
        for ca in cas:
            if ca.subject == cert.issuer:
                try:
                    cert.verify_directly_issued_by(ca)
                except Exception:
                    return (
                        f"the client certificate {subject_text(cert)} names {issuer} as issuer"
                        " but its signature does not verify with the profile's CA;"
                        " the <ca> is a different CA of the same name"
                    )
                return None  # signed by the CA; the verifier's stricter rules are not OpenVPN's
        return f"the client certificate {subject_text(cert)} does not chain to the profile's CA ({ca_names}): {exc}"


def _eku(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def _has_eku(cert: x509.Certificate) -> bool:
    try:
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return False
    return True


def check_server_certificate(profile: Profile, server_cert: x509.Certificate) -> str | None:
    """Why the server certificate would fail the profile's `remote-cert-tls server` (None when
    fine, or when the profile does not ask). Used where the server certificate is known (a lab,
    a certificate the NOC handed over); at runtime openvpn's own `VERIFY EKU/KU ERROR` log lines
    are translated to the same words by the supervisor."""
    directive = profile.first("remote-cert-tls")
    if directive is None or directive.args[:1] != ("server",):
        return None
    name = subject_text(server_cert)
    if not _has_eku(server_cert) or ExtendedKeyUsageOID.SERVER_AUTH not in _eku(server_cert):
        return (
            f"line {directive.line}: remote-cert-tls server: the server certificate {name}"
            " lacks the TLS Web Server Authentication usage;"
            " the NOC must reissue it as a server certificate"
        )
    try:
        usage = server_cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None  # OpenVPN accepts a server certificate without key usage when EKU is right
    if not (usage.digital_signature or usage.key_encipherment or usage.key_agreement):
        return (
            f"line {directive.line}: remote-cert-tls server: the server certificate {name}"
            " allows neither digital signature nor key encipherment"
        )
    return None
