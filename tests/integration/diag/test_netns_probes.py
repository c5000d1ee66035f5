"""Ping, traceroute and port check across real namespaces: client -- router -- far.

nftables rules inside the namespaces drop a share of packets, silence a hop or cut the path;
the probes run in the client namespace (see tests/support/netns.py for how and why).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from nocraven.diag.dns_query import lookup
from nocraven.diag.ping import ping
from nocraven.diag.port_check import check_port
from nocraven.diag.schema import (
    DiagEvent,
    DiagFailed,
    DnsQuerySent,
    DnsRequest,
    DnsSummary,
    HopUpdated,
    PingReplied,
    PingRequest,
    PingSummary,
    PingTimedOut,
    PortRequest,
    PortSummary,
    TraceRequest,
    TraceSummary,
)
from nocraven.diag.trace import trace
from tests.support.netns import (
    CLIENT_V4,
    FAR_V4,
    FAR_V6,
    ROUTER_NEAR_V4,
    ROUTER_NEAR_V6,
    Topology,
    topology,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    with topology() as made:
        # Let root's group use ICMP datagram sockets in the client namespace only (a per-namespace
        # sysctl), so the unprivileged path is tested as well as the raw one.
        made.sysctl(made.client, "net.ipv4.ping_group_range", "0 2147483647")
        yield made


@pytest.fixture
def rules(topo: Topology) -> Iterator[list[str]]:
    """Namespaces whose `diagtest` nftables table is removed after the test."""
    touched: list[str] = []
    yield touched
    for ns in touched:
        topo.exec(ns, "nft", "delete", "table", "inet", "diagtest", check=False)


def add_rules(topo: Topology, touched: list[str], ns: str, hook: str, *lines: str) -> None:
    body = "\n".join(lines)
    topo.nft(
        ns,
        f"table inet diagtest {{\n chain {hook} {{\n  type filter hook {hook} priority 0; policy accept;\n"
        f"  {body}\n }}\n}}\n",
    )
    touched.append(ns)


def collect_in(topo: Topology, make: AsyncIterator[DiagEvent], ns: str | None = None) -> list[DiagEvent]:
    async def run() -> list[DiagEvent]:
        return [event async for event in make]

    return topo.run_in(ns or topo.client, run, timeout=60)


@pytest.mark.parametrize(
    ("target", "socket_kind"), [(FAR_V4, "raw"), (FAR_V4, "dgram"), (FAR_V6, "raw"), (FAR_V6, "dgram")]
)
def test_ping_across_the_router(topo: Topology, target: str, socket_kind: str) -> None:
    events = collect_in(topo, ping(PingRequest(target, count=5, interval=0.05, size=200), socket_kind=socket_kind))  # type: ignore[arg-type]
    replies = [e for e in events if isinstance(e, PingReplied)]
    summary = events[-1]
    assert isinstance(summary, PingSummary)
    assert (summary.sent, summary.received, summary.loss_pct, summary.socket) == (5, 5, 0.0, socket_kind)
    assert [r.seq for r in replies] == [1, 2, 3, 4, 5]
    assert all(r.address == target and r.bytes == 208 for r in replies)
    assert all(r.ttl == 63 for r in replies)  # one router on the way: the far side's 64, less one
    assert summary.min_ms is not None and summary.max_ms is not None and summary.avg_ms is not None
    # Veth and a router in one kernel: well under 50 ms, never zero, ordered.
    assert 0 < summary.min_ms <= summary.avg_ms <= summary.max_ms < 50


def test_ping_loss_follows_a_dropping_rule(topo: Topology, rules: list[str]) -> None:
    add_rules(topo, rules, topo.far, "input", "icmp type echo-request numgen random mod 100 < 30 drop")
    events = collect_in(topo, ping(PingRequest(FAR_V4, count=200, interval=0.01, timeout=0.5)))
    summary = events[-1]
    assert isinstance(summary, PingSummary)
    timeouts = [e for e in events if isinstance(e, PingTimedOut)]
    assert summary.sent == 200 and summary.sent - summary.received == len(timeouts)
    # 30 % drop over 200 probes: one standard deviation is 6.5 probes, so 15-45 % is > 4.5 sigma.
    assert 15.0 <= summary.loss_pct <= 45.0


def test_ping_from_a_source_interface_and_address(topo: Topology) -> None:
    for source in ("c0", CLIENT_V4):
        summary = collect_in(topo, ping(PingRequest(FAR_V4, count=2, interval=0.05, source=source)))[-1]
        assert isinstance(summary, PingSummary) and summary.received == 2
    with pytest.raises(DiagFailed, match="is it an address of this host"):
        collect_in(topo, ping(PingRequest(FAR_V4, count=1, source="10.16.9.9")))
    with pytest.raises(DiagFailed, match="cannot send from interface nosuch0"):
        collect_in(topo, ping(PingRequest(FAR_V4, count=1, source="nosuch0")))


def test_an_unresolvable_name_is_one_clear_line(topo: Topology) -> None:
    # Inside the namespace the resolver's server is out of reach: the lookup fails there, fast.
    with pytest.raises(DiagFailed, match=r"nosuch\.invalid") as caught:
        collect_in(topo, ping(PingRequest("nosuch.invalid", count=1)))
    assert "resolv" in str(caught.value) and "\n" not in str(caught.value)


def test_ping_to_a_silent_host_times_out_each_probe(topo: Topology) -> None:
    events = collect_in(topo, ping(PingRequest("10.16.2.77", count=3, interval=0.05, timeout=0.3)))
    assert [e.seq for e in events if isinstance(e, PingTimedOut)] == [1, 2, 3]
    summary = events[-1]
    assert isinstance(summary, PingSummary) and summary.loss_pct == 100.0 and summary.avg_ms is None


TRACE_WAYS = [
    ("icmp", "raw", FAR_V4, ROUTER_NEAR_V4),
    ("icmp", "dgram", FAR_V4, ROUTER_NEAR_V4),
    ("udp", "auto", FAR_V4, ROUTER_NEAR_V4),
    ("icmp", "raw", FAR_V6, ROUTER_NEAR_V6),
    ("icmp", "dgram", FAR_V6, ROUTER_NEAR_V6),
    ("udp", "auto", FAR_V6, ROUTER_NEAR_V6),
]


@pytest.mark.parametrize(("protocol", "socket_kind", "target", "router"), TRACE_WAYS)
def test_trace_shows_the_router_then_stops_at_the_destination(
    topo: Topology, protocol: str, socket_kind: str, target: str, router: str
) -> None:
    request = TraceRequest(target, cycles=3, interval=0.05, timeout=1.0, protocol=protocol, resolve_names=False)  # type: ignore[arg-type]
    events = collect_in(topo, trace(request, socket_kind=socket_kind))  # type: ignore[arg-type]
    summary = events[-1]
    assert isinstance(summary, TraceSummary)
    assert summary.reached and summary.last_answering_hop == 2
    assert [(h.hop, h.address, h.sent, h.received, h.destination) for h in summary.hops] == [
        (1, router, 3, 3, False),
        (2, target, 3, 3, True),
    ]
    assert summary.socket == ("udp" if protocol == "udp" else socket_kind)
    updates = [e for e in events if isinstance(e, HopUpdated)]
    assert {(u.cycle, u.stats.hop) for u in updates} == {(c, h) for c in (1, 2, 3) for h in (1, 2)}
    assert all(h.best_ms is not None and h.best_ms <= (h.avg_ms or 0) <= (h.worst_ms or 0) for h in summary.hops)


def test_trace_shows_where_the_path_is_cut(topo: Topology, rules: list[str]) -> None:
    add_rules(topo, rules, topo.router, "forward", f"ip daddr {FAR_V4} drop")
    request = TraceRequest(FAR_V4, cycles=2, interval=0.05, timeout=0.5, max_hops=8, resolve_names=False)
    events = collect_in(topo, trace(request))
    summary = events[-1]
    assert isinstance(summary, TraceSummary)
    assert not summary.reached and summary.last_answering_hop == 1
    assert [(h.hop, h.address, h.loss_pct) for h in summary.hops] == [(1, ROUTER_NEAR_V4, 0.0), (2, None, 100.0)]
    # The live table shows the same rows, not eight hops of silence.
    assert {e.stats.hop for e in events if isinstance(e, HopUpdated)} == {1, 2}


def test_trace_shows_a_silent_hop_and_still_reaches(topo: Topology, rules: list[str]) -> None:
    add_rules(topo, rules, topo.router, "output", "icmp type time-exceeded drop", "icmpv6 type time-exceeded drop")
    for target in (FAR_V4, FAR_V6):
        request = TraceRequest(target, cycles=2, interval=0.05, timeout=0.5, protocol="udp", resolve_names=False)
        summary = collect_in(topo, trace(request))[-1]
        assert isinstance(summary, TraceSummary)
        assert summary.reached
        assert [(h.hop, h.address, h.loss_pct) for h in summary.hops] == [(1, None, 100.0), (2, target, 0.0)]


def test_trace_loss_at_the_far_hop(topo: Topology, rules: list[str]) -> None:
    add_rules(topo, rules, topo.far, "input", "icmp type echo-request numgen random mod 100 < 50 drop")
    request = TraceRequest(FAR_V4, cycles=40, interval=0.05, timeout=0.3, resolve_names=False)
    summary = collect_in(topo, trace(request))[-1]
    assert isinstance(summary, TraceSummary) and summary.reached
    first, second = summary.hops
    assert (first.address, first.loss_pct) == (ROUTER_NEAR_V4, 0.0)
    assert second.address == FAR_V4 and second.sent == 40
    # 50 % over 40 cycles: one standard deviation is 7.9 %, so 20-80 % is > 3.5 sigma.
    assert 20.0 <= second.loss_pct <= 80.0


@pytest.fixture
def far_listener(topo: Topology) -> Iterator[int]:
    listener = topo.socket_in(topo.far, socket.AF_INET, socket.SOCK_STREAM)
    with listener:
        listener.bind((FAR_V4, 0))
        listener.listen(8)  # the kernel completes handshakes; nobody needs to accept()
        yield listener.getsockname()[1]


def test_port_check_tells_open_refused_filtered_and_rejected_apart(
    topo: Topology, rules: list[str], far_listener: int
) -> None:
    def state(port: int) -> PortSummary:
        summary = collect_in(topo, check_port(PortRequest(FAR_V4, port, timeout=1.0)))[-1]
        assert isinstance(summary, PortSummary)
        return summary

    opened = state(far_listener)
    assert opened.state == "open" and opened.connect_ms is not None and 0 < opened.connect_ms < 50
    closed_port = far_listener + 1 if far_listener < 65535 else far_listener - 1
    assert state(closed_port).state == "refused"
    add_rules(
        topo,
        rules,
        topo.far,
        "input",
        f"tcp dport {far_listener} drop",
        f"tcp dport {closed_port} reject with icmp type admin-prohibited",
    )
    filtered = state(far_listener)
    assert (filtered.state, filtered.connect_ms) == ("filtered", None)
    assert "firewall" in filtered.detail
    assert state(closed_port).state == "unreachable"


async def busy_loop_while(events: AsyncIterator[DiagEvent]) -> list[DiagEvent]:
    """Collect a probe's events while another task hogs the event loop, as a loaded engine would."""

    async def hog() -> None:
        while True:
            await asyncio.sleep(0)
            time.sleep(0.04)  # every turn of the loop is held up 40 ms: replies wait unread

    hogging = asyncio.create_task(hog())
    try:
        return [event async for event in events]
    finally:
        hogging.cancel()


@pytest.mark.parametrize("socket_kind", ["raw", "dgram"])
def test_ping_rtt_is_not_inflated_by_a_busy_event_loop(topo: Topology, socket_kind: str) -> None:
    request = PingRequest(FAR_V4, count=6, interval=0.05, timeout=2.0)
    events = topo.run_in(topo.client, lambda: busy_loop_while(ping(request, socket_kind=socket_kind)))  # type: ignore[arg-type]
    summary = events[-1]
    assert isinstance(summary, PingSummary) and summary.received == 6
    # The kernel stamps each reply on arrival; a veth round trip is far below the 40 ms stalls.
    assert summary.max_ms is not None and summary.max_ms < 15


@pytest.mark.parametrize(("protocol", "socket_kind"), [("icmp", "raw"), ("icmp", "dgram"), ("udp", "auto")])
def test_trace_rtt_is_not_inflated_by_a_busy_event_loop(topo: Topology, protocol: str, socket_kind: str) -> None:
    request = TraceRequest(FAR_V4, cycles=4, interval=0.05, timeout=2.0, protocol=protocol, resolve_names=False)  # type: ignore[arg-type]
    events = topo.run_in(topo.client, lambda: busy_loop_while(trace(request, socket_kind=socket_kind)))  # type: ignore[arg-type]
    summary = events[-1]
    assert isinstance(summary, TraceSummary) and summary.reached
    assert all(h.received == 4 and h.worst_ms is not None and h.worst_ms < 15 for h in summary.hops)


def test_dns_through_the_system_resolver_list_falls_over_to_the_next_server(topo: Topology, tmp_path: Path) -> None:
    binary = shutil.which("dnsmasq")
    if binary is None:
        pytest.skip("dnsmasq (Debian package dnsmasq) is not installed")
    # Port 53 is free inside the far namespace, as it would be on a real DNS server.
    options = ["--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--pid-file="]
    options += [f"--listen-address={FAR_V4}", "--bind-interfaces", "--user=root"]
    options += ["--local=/diag.test/", "--host-record=noc.diag.test,192.0.2.44"]
    server = subprocess.Popen(
        ["ip", "netns", "exec", topo.far, binary, *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text(f"nameserver 10.16.2.77\nnameserver {FAR_V4}\n")  # the first one is silent
    try:

        async def ask() -> list[DiagEvent]:
            for _attempt in range(50):  # dnsmasq needs a moment to bind
                events = [
                    e async for e in lookup(DnsRequest("noc.diag.test", timeout=2.0), resolv_conf=str(resolv_conf))
                ]
                summary = events[-1]
                if isinstance(summary, DnsSummary) and summary.status == "noerror":
                    return events
                await asyncio.sleep(0.1)
            return events

        events = topo.run_in(topo.client, ask, timeout=120)
    finally:
        server.terminate()
        server.wait(5)
    assert [(e.server, e.port) for e in events if isinstance(e, DnsQuerySent)][-2:] == [
        ("10.16.2.77", 53),
        (FAR_V4, 53),
    ]
    summary = events[-1]
    assert isinstance(summary, DnsSummary)
    assert (summary.status, summary.server, [r.value for r in summary.answers]) == ("noerror", FAR_V4, ["192.0.2.44"])
