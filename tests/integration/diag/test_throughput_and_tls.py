"""Bandwidth against an HTTP server in the test, the iperf3 client against a real iperf3 server,
and the TLS part of the port check against a server with a test CA: all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import select
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from nocraven.diag.bandwidth import measure_bandwidth
from nocraven.diag.iperf import run_iperf
from nocraven.diag.port_check import check_port
from nocraven.diag.schema import (
    BandwidthProgressed,
    BandwidthRequest,
    BandwidthSummary,
    DiagEvent,
    DiagFailed,
    IperfRequest,
    IperfSummary,
    PortRequest,
    PortSummary,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
MiB = 1024 * 1024


class SpeedServer:
    """Serves N bytes, trickles forever, and counts what is uploaded to it."""

    def __init__(self) -> None:
        self.uploaded: list[int] = []
        self.app = web.Application()
        self.app.router.add_get("/bytes/{count}", self.download)
        self.app.router.add_get("/trickle", self.trickle)
        self.app.router.add_post("/upload", self.upload)

    async def download(self, request: web.Request) -> web.StreamResponse:
        count = int(request.match_info["count"])
        response = web.StreamResponse(headers={"Content-Length": str(count)})
        await response.prepare(request)
        block = bytes(64 * 1024)
        sent = 0
        while sent < count:
            size = min(len(block), count - sent)
            await response.write(block[:size])
            sent += size
        await response.write_eof()
        return response

    async def trickle(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(300):  # 30 s at most, far past any bound the tests set
            await response.write(bytes(1024))
            await asyncio.sleep(0.1)
        return response

    async def upload(self, request: web.Request) -> web.Response:
        slow = request.query.get("slow") == "1"
        total = 0
        while chunk := await request.content.read(64 * 1024):
            total += len(chunk)
            if slow:
                await asyncio.sleep(0.01)  # a few MB/s at most: a slow uplink
        self.uploaded.append(total)
        return web.json_response({"bytes": total})


@pytest.fixture
async def speed_server() -> AsyncIterator[tuple[SpeedServer, str]]:
    server = SpeedServer()
    runner = web.AppRunner(server.app)
    await runner.setup()
    listener = socket.socket()
    # A small receive buffer (inherited by accepted connections) keeps the bytes in flight few,
    # as a slow link's would be, instead of loopback's autotuned megabytes.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    listener.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, listener)
    await site.start()
    port = listener.getsockname()[1]
    yield server, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def collect(events: AsyncIterator[DiagEvent]) -> list[DiagEvent]:
    return [event async for event in events]


def consistent(summary: BandwidthSummary) -> None:
    """The rate is the bytes moved over the time taken, nothing else."""
    assert summary.seconds > 0
    assert summary.bits_per_second == pytest.approx(8 * summary.bytes / summary.seconds, rel=1e-3)


async def test_download_counts_every_byte(speed_server: tuple[SpeedServer, str]) -> None:
    _, base = speed_server
    events = await collect(measure_bandwidth(BandwidthRequest(f"{base}/bytes/{24 * MiB}"), progress_every=0.01))
    summary = events[-1]
    assert isinstance(summary, BandwidthSummary)
    assert (summary.bytes, summary.stopped_by, summary.http_status) == (24 * MiB, "complete", 200)
    consistent(summary)
    progress = [e for e in events if isinstance(e, BandwidthProgressed)]
    assert [p.bytes for p in progress] == sorted(p.bytes for p in progress)
    assert all(0 < p.bytes <= summary.bytes for p in progress)


async def test_download_stops_at_the_byte_bound(speed_server: tuple[SpeedServer, str]) -> None:
    _, base = speed_server
    request = BandwidthRequest(f"{base}/bytes/{256 * MiB}", max_bytes=4 * MiB)
    summary = (await collect(measure_bandwidth(request)))[-1]
    assert isinstance(summary, BandwidthSummary) and summary.stopped_by == "byte_limit"
    assert 4 * MiB <= summary.bytes <= 4 * MiB + 64 * 1024  # at most one read past the bound
    consistent(summary)


async def test_download_stops_at_the_time_bound(speed_server: tuple[SpeedServer, str]) -> None:
    _, base = speed_server
    started = time.monotonic()
    events = await collect(measure_bandwidth(BandwidthRequest(f"{base}/trickle", max_seconds=1.0), progress_every=0.25))
    elapsed = time.monotonic() - started
    summary = events[-1]
    assert isinstance(summary, BandwidthSummary) and summary.stopped_by == "time_limit"
    assert 1.0 <= summary.seconds < 2.0 and elapsed < 5
    assert 3 * 1024 <= summary.bytes <= 20 * 1024  # ~10 KiB a second trickled
    assert sum(isinstance(e, BandwidthProgressed) for e in events) >= 2
    consistent(summary)


async def test_upload_matches_what_the_server_received(speed_server: tuple[SpeedServer, str]) -> None:
    server, base = speed_server
    request = BandwidthRequest(f"{base}/upload", direction="upload", max_bytes=16 * MiB)
    summary = (await collect(measure_bandwidth(request)))[-1]
    assert isinstance(summary, BandwidthSummary)
    assert summary.bytes == 16 * MiB and server.uploaded == [16 * MiB]
    assert summary.stopped_by == "byte_limit"
    consistent(summary)


async def test_upload_stops_at_the_time_bound(speed_server: tuple[SpeedServer, str]) -> None:
    server, base = speed_server
    request = BandwidthRequest(f"{base}/upload?slow=1", direction="upload", max_seconds=1.0)
    started = time.monotonic()
    events = await collect(measure_bandwidth(request, progress_every=0.2, send_buffer=256 * 1024))
    elapsed = time.monotonic() - started
    summary = events[-1]
    assert isinstance(summary, BandwidthSummary) and summary.stopped_by == "time_limit"
    assert elapsed < 6  # sending stops at the bound; only the bytes in flight are waited for
    assert server.uploaded == [summary.bytes]  # what we report is what arrived
    consistent(summary)
    assert any(isinstance(e, BandwidthProgressed) and e.direction == "upload" for e in events)


async def test_http_errors_and_dead_servers_are_one_line(speed_server: tuple[SpeedServer, str]) -> None:
    _, base = speed_server
    with pytest.raises(DiagFailed, match=r"answered HTTP 404 Not Found; check the URL"):
        await collect(measure_bandwidth(BandwidthRequest(f"{base}/nothing-here")))
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead = unused.getsockname()[1]
    with pytest.raises(DiagFailed, match=rf"download http://127.0.0.1:{dead}/x failed: "):
        await collect(measure_bandwidth(BandwidthRequest(f"http://127.0.0.1:{dead}/x")))


@pytest.fixture
def iperf_server() -> AsyncIterator[int]:
    binary = shutil.which("iperf3")
    if binary is None:
        pytest.skip("iperf3 (Debian package iperf3) is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [binary, "-s", "-1", "--forceflush", "-B", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    # Wait for its banner, not for a test connection: iperf3 takes any connection for a client.
    assert process.stdout is not None
    deadline, banner = time.monotonic() + 5, b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        banner += os.read(process.stdout.fileno(), 4096) if ready else b""
        if b"Server listening" in banner:
            break
    else:
        process.kill()
        process.wait(5)
        pytest.fail("iperf3 -s did not say it was listening within 5 s")
    yield port  # type: ignore[misc]
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@pytest.mark.parametrize("reverse", [False, True])
async def test_iperf3_reports_receiver_throughput(iperf_server: int, reverse: bool) -> None:
    events = await collect(run_iperf(IperfRequest("127.0.0.1", port=iperf_server, seconds=1, reverse=reverse)))
    summary = events[-1]
    assert isinstance(summary, IperfSummary)
    assert summary.direction == ("download" if reverse else "upload")
    assert summary.bytes > 0 and 0.9 <= summary.seconds <= 2.0
    assert summary.bits_per_second == pytest.approx(8 * summary.bytes / summary.seconds, rel=0.02)


async def test_iperf3_without_a_server_says_so() -> None:
    if shutil.which("iperf3") is None:
        pytest.skip("iperf3 (Debian package iperf3) is not installed")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead = unused.getsockname()[1]
    with pytest.raises(DiagFailed, match="Connection refused"):
        await collect(run_iperf(IperfRequest("127.0.0.1", port=dead, seconds=1)))


async def test_tls_summary_with_and_without_verification(tmp_path: Path) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("noc.diag.test", "127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0, ssl=context)
    plain = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    port = server.sockets[0].getsockname()[1]
    plain_port = plain.sockets[0].getsockname()[1]
    try:
        request = PortRequest("127.0.0.1", port, tls=True, server_name="noc.diag.test")
        trusted = (await collect(check_port(request, cafile=str(cafile))))[-1]
        untrusted = (await collect(check_port(request)))[-1]
        misnamed = PortRequest("127.0.0.1", port, tls=True, server_name="other.diag.test")
        wrong_name = (await collect(check_port(misnamed, cafile=str(cafile))))[-1]
        not_tls = (await collect(check_port(PortRequest("127.0.0.1", plain_port, tls=True, timeout=2))))[-1]
    finally:
        server.close()
        plain.close()
    assert isinstance(trusted, PortSummary) and trusted.tls is not None
    assert (trusted.state, trusted.tls.verified, trusted.tls.verify_error) == ("open", True, None)
    assert trusted.tls.sans == ["noc.diag.test", "127.0.0.1"] and trusted.tls.days_left > 300
    assert trusted.tls.version in ("TLSv1.2", "TLSv1.3")
    assert isinstance(untrusted, PortSummary) and untrusted.tls is not None
    assert not untrusted.tls.verified and "local issuer" in (untrusted.tls.verify_error or "")
    assert untrusted.tls.subject == trusted.tls.subject  # the failing certificate is still shown
    assert isinstance(wrong_name, PortSummary) and wrong_name.tls is not None
    assert not wrong_name.tls.verified and "other.diag.test" in (wrong_name.tls.verify_error or "")
    assert isinstance(not_tls, PortSummary) and not_tls.state == "open" and not_tls.tls is None
    assert not_tls.tls_error is not None and not_tls.tls_error.startswith(f"TLS handshake with 127.0.0.1:{plain_port}")
