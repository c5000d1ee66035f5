"""DNS lookups against a real dnsmasq the test starts on 127.0.0.1 with its own records."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from nocraven.diag.dns_query import lookup
from nocraven.diag.schema import DiagEvent, DnsQuerySent, DnsRequest, DnsSummary
from tests.support.dnsmasq import running_dnsmasq, start_dnsmasq

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class ServfailUpstream(asyncio.DatagramProtocol):
    """An upstream that answers SERVFAIL to everything, as a broken recursive server does."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = dns.message.make_response(dns.message.from_wire(data))
        reply.set_rcode(dns.rcode.SERVFAIL)
        self.transport.sendto(reply.to_wire(), addr)  # type: ignore[attr-defined]


@pytest.fixture
def dnsmasq() -> Iterator[int]:
    with running_dnsmasq() as port:
        yield port


async def query(request: DnsRequest) -> tuple[list[DiagEvent], DnsSummary]:
    events: AsyncIterator[DiagEvent] = lookup(request)
    seen = [event async for event in events]
    summary = seen[-1]
    assert isinstance(summary, DnsSummary)
    return seen, summary


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("www.diag.test", "A", [("www.diag.test", "A", "192.0.2.10")]),
        ("www.diag.test", "AAAA", [("www.diag.test", "AAAA", "2001:db8::10")]),
        ("diag.test", "MX", [("diag.test", "MX", "10 mail.diag.test.")]),
        (
            "alias.diag.test",
            "CNAME",
            [("alias.diag.test", "CNAME", "www.diag.test.")],
        ),
        (
            "alias.diag.test",
            "A",
            [("alias.diag.test", "CNAME", "www.diag.test."), ("www.diag.test", "A", "192.0.2.10")],
        ),
        ("diag.test", "TXT", [("diag.test", "TXT", '"v=spf1 -all"')]),
        ("192.0.2.10", "PTR", [("10.2.0.192.in-addr.arpa", "PTR", "www.diag.test.")]),
    ],
)
async def test_records_come_back_with_ttl_server_and_time(
    dnsmasq: int, name: str, kind: str, expected: list[tuple[str, str, str]]
) -> None:
    events, summary = await query(DnsRequest(name, type=kind, server=f"127.0.0.1:{dnsmasq}"))
    assert events[0] == DnsQuerySent(server="127.0.0.1", port=dnsmasq, transport="udp")
    assert (summary.status, summary.rcode, summary.server, summary.port) == ("noerror", "NOERROR", "127.0.0.1", dnsmasq)
    assert [(r.name, r.type, r.value) for r in summary.answers] == expected
    assert all(0 < r.ttl <= 300 for r in summary.answers)
    assert summary.response_ms is not None and summary.response_ms > 0


async def test_tcp_gives_the_same_answer(dnsmasq: int) -> None:
    events, summary = await query(DnsRequest("www.diag.test", server=f"127.0.0.1:{dnsmasq}", tcp=True))
    assert isinstance(events[0], DnsQuerySent) and events[0].transport == "tcp"
    assert [r.value for r in summary.answers] == ["192.0.2.10"]


async def test_nxdomain_nodata_and_refused_are_told_apart(dnsmasq: int) -> None:
    server = f"127.0.0.1:{dnsmasq}"
    _, missing = await query(DnsRequest("nosuch.diag.test", server=server))
    assert (missing.status, missing.rcode, missing.answers) == ("nxdomain", "NXDOMAIN", [])
    assert "does not exist" in missing.detail
    _, nodata = await query(DnsRequest("www.diag.test", type="MX", server=server))
    assert nodata.status == "nodata" and nodata.rcode == "NOERROR"
    # Outside its own zone, with no upstream servers, dnsmasq refuses to recurse.
    _, refused = await query(DnsRequest("www.example.org", server=server))
    assert (refused.status, refused.rcode) == ("refused", "REFUSED")


async def test_servfail_from_a_broken_upstream() -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(ServfailUpstream, local_addr=("127.0.0.1", 0))
    upstream_port = transport.get_extra_info("sockname")[1]
    process, port = start_dnsmasq(f"--server=/broken.test/127.0.0.1#{upstream_port}")
    try:
        _, summary = await query(DnsRequest("www.broken.test", server=f"127.0.0.1:{port}"))
    finally:
        transport.close()
        process.terminate()
        process.wait(5)
    assert (summary.status, summary.rcode) == ("servfail", "SERVFAIL")


async def test_a_silent_server_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # holds the port, never answers
        port = silent.getsockname()[1]
        started = time.monotonic()
        _, summary = await query(DnsRequest("www.diag.test", server=f"127.0.0.1:{port}", timeout=0.5))
        elapsed = time.monotonic() - started
    assert (summary.status, summary.rcode, summary.response_ms) == ("timeout", None, None)
    assert "no answer from 127.0.0.1" in summary.detail
    assert elapsed < 3  # bounded by the request's timeout, not by a library default
