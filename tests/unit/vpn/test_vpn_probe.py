"""The tunnel probe pings with the engine's own ICMP code (no `ping` binary): latency and loss
of a real echo exchange on loopback; an address it cannot use is a failed probe, not a crash."""

from __future__ import annotations

import socket

import pytest

from nocraven.vpn.supervisor import TunnelInfo, ping_probe


def icmp_allowed() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP).close()
    except PermissionError:
        try:
            socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
        except PermissionError:
            return False
    return True


TUNNEL = TunnelInfo(profile="a", local_ip="10.8.0.2", remote_ip="127.0.0.1", remote_port="1194")


@pytest.mark.skipif(not icmp_allowed(), reason="ICMP sockets need root or net.ipv4.ping_group_range")
async def test_the_probe_measures_the_tunnel_peer() -> None:
    result = await ping_probe("", count=2, timeout_s=1.0)(TUNNEL)
    assert result.ok and result.loss_percent == 0.0
    assert result.latency_ms is not None and result.latency_ms >= 0


async def test_a_target_it_cannot_use_is_a_failed_probe() -> None:
    result = await ping_probe("not a host;", count=1, timeout_s=0.5)(TUNNEL)
    assert (result.ok, result.latency_ms, result.loss_percent) == (False, None, 100.0)
