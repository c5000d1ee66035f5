"""Port check: TCP connect time and state (open, refused, filtered), then optionally TLS.

States: `open` (handshake done), `refused` (RST: the host is there, nothing listens), `filtered`
(no answer before the timeout: a firewall drops it), `unreachable` (an ICMP error: no route, or a
firewall that rejects with host/admin-prohibited). With `tls`, we also shake hands and summarise
the certificate; when it does not verify we connect once more without verification to show
the certificate that failed, because the expired date or wrong name is what the technician needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import msgspec

from nocraven.diag.schema import DiagEvent, PortRequest, PortState, PortSummary, TlsSummary
from nocraven.diag.sockets import resolve

if TYPE_CHECKING:  # imported on use: cryptography is ~9 MiB of the engine's memory
    from cryptography import x509


def summarize_certificate(
    der: bytes,
    now: dt.datetime,
    verified: bool,
    verify_error: str | None,
    version: str | None = None,
    cipher: str | None = None,
) -> TlsSummary:
    """What a person checks on a certificate, from its DER bytes; `now` is timezone-aware UTC."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    not_before = _utc(cert, "not_valid_before")
    not_after = _utc(cert, "not_valid_after")
    sans: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound):
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [
            *names.get_values_for_type(x509.DNSName),
            *(str(ip) for ip in names.get_values_for_type(x509.IPAddress)),
        ]
    return TlsSummary(
        version=version,
        cipher=cipher,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=sans,
        not_before=not_before.isoformat().replace("+00:00", "Z"),
        not_after=not_after.isoformat().replace("+00:00", "Z"),
        days_left=(not_after - now).days,
        verified=verified,
        verify_error=verify_error,
    )


def _utc(cert: x509.Certificate, attribute: str) -> dt.datetime:
    aware = getattr(cert, f"{attribute}_utc", None)  # cryptography >= 42
    if isinstance(aware, dt.datetime):
        return aware
    naive: dt.datetime = getattr(cert, attribute)
    return naive.replace(tzinfo=dt.UTC)


def classify_connect_error(exc: BaseException) -> tuple[PortState, str]:
    if isinstance(exc, TimeoutError):
        return "filtered", "no answer (a firewall drops the connection, or the host is down)"
    if isinstance(exc, ConnectionRefusedError):
        return "refused", "connection refused: the host answered but nothing listens on this port"
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM):
        return "unreachable", f"{exc.strerror}: no route, or a firewall rejects it"
    return "unreachable", f"connect failed: {exc}"


async def check_port(
    request: PortRequest,
    *,
    cafile: str | None = None,
    clock: Callable[[], float] = time.perf_counter,
    wall_clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> AsyncIterator[DiagEvent]:
    req = request.checked()
    address, family = await resolve(req.host)
    loop = asyncio.get_running_loop()
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    started = clock()
    try:
        async with asyncio.timeout(req.timeout):
            await loop.sock_connect(sock, (address, req.port))
    except (OSError, TimeoutError) as exc:
        sock.close()
        state, detail = classify_connect_error(exc)
        yield PortSummary(host=req.host, address=address, port=req.port, state=state, connect_ms=None, detail=detail)
        return
    connect_ms = round((clock() - started) * 1000.0, 3)
    sock.close()
    summary = PortSummary(
        host=req.host,
        address=address,
        port=req.port,
        state="open",
        connect_ms=connect_ms,
        detail=f"TCP handshake in {connect_ms:g} ms",
    )
    if req.tls:
        tls, tls_error = await _tls_summary(req, address, cafile, wall_clock)
        summary = msgspec.structs.replace(summary, tls=tls, tls_error=tls_error)
    yield summary


async def _tls_summary(
    req: PortRequest, address: str, cafile: str | None, wall_clock: Callable[[], dt.datetime]
) -> tuple[TlsSummary | None, str | None]:
    server_name = req.server_name or req.host
    verifying = ssl.create_default_context(cafile=cafile)
    try:
        der, version, cipher = await _handshake(address, req.port, verifying, server_name, req.timeout)
        return summarize_certificate(der, wall_clock(), True, None, version, cipher), None
    except ssl.SSLCertVerificationError as exc:
        verify_error = exc.verify_message or str(exc)
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        return None, f"TLS handshake with {address}:{req.port} failed: {_one_line(exc)}"
    lenient = ssl.create_default_context()
    lenient.check_hostname = False
    lenient.verify_mode = ssl.CERT_NONE
    try:
        der, version, cipher = await _handshake(address, req.port, lenient, server_name, req.timeout)
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        return None, f"certificate did not verify ({verify_error}) and could not be fetched: {_one_line(exc)}"
    return summarize_certificate(der, wall_clock(), False, verify_error, version, cipher), None


async def _handshake(
    address: str, port: int, context: ssl.SSLContext, server_name: str, timeout: float
) -> tuple[bytes, str | None, str | None]:
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(address, port, ssl=context, server_hostname=server_name)
    try:
        tls = writer.get_extra_info("ssl_object")
        der = tls.getpeercert(binary_form=True) if tls else None
        if not der:
            raise ssl.SSLError("the server sent no certificate")
        cipher = tls.cipher()
        return der, tls.version(), cipher[0] if cipher else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
        del reader


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]
