"""Probes on this host's loopback: rejects counted, reverse names, and the runner stopping a real
probe at its time limit. Raw ICMP needs root here (the host's ping_group_range admits no group)."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from pathlib import Path

import pytest

from nocraven.diag.ping import ping
from nocraven.diag.runner import DiagRunner
from nocraven.diag.schema import JobEnded, PingReplied, PingRequest, PingSummary, TraceRequest, TraceSummary
from nocraven.diag.trace import trace

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP sockets need root (or CAP_NET_RAW)"),
]


async def test_malformed_icmp_is_counted_not_fatal() -> None:
    async def inject() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sender:
            for _ in range(3):
                await asyncio.sleep(0.05)
                # A "time exceeded" that quotes two bytes instead of an IP header: unreadable.
                sender.sendto(struct.pack("!BBHI", 11, 0, 0, 0) + b"\x45\x00", ("127.0.0.1", 0))

    injecting = asyncio.create_task(inject())
    events = [e async for e in ping(PingRequest("127.0.0.1", count=5, interval=0.05), socket_kind="raw")]
    await injecting
    summary = events[-1]
    assert isinstance(summary, PingSummary)
    assert (summary.sent, summary.received) == (5, 5)
    assert summary.rejected >= 3  # other ICMP on this host may add to it, never take away


async def test_trace_names_hops_by_reverse_lookup() -> None:
    hosts = Path("/etc/hosts").read_text() if Path("/etc/hosts").exists() else ""
    if not any(line.split()[:2] == ["127.0.0.1", "localhost"] for line in hosts.splitlines()):
        pytest.skip("/etc/hosts does not map 127.0.0.1 to localhost first")
    events = [e async for e in trace(TraceRequest("127.0.0.1", cycles=2, interval=0.05))]
    summary = events[-1]
    assert isinstance(summary, TraceSummary) and summary.reached
    assert [(h.hop, h.address, h.name) for h in summary.hops] == [(1, "127.0.0.1", "localhost")]


async def test_runner_stops_a_real_probe_at_its_time_limit() -> None:
    runner = DiagRunner()
    request = PingRequest("127.0.0.1", count=1000, interval=0.05)
    job = runner.start(request, time_limit=0.6)
    events = [e async for e in job.events()]
    ended = events[-1]
    assert isinstance(ended, JobEnded) and ended.outcome == "time_limit"
    assert "time limit" in ended.message
    replies = [e for e in events if isinstance(e, PingReplied)]
    assert 3 <= len(replies) < 1000  # it ran, and it was stopped long before its 1000 probes
    assert not any(isinstance(e, PingSummary) for e in events)
