"""The VPN manager's settings: the `[vpn]` section of the config."""

from __future__ import annotations

from dataclasses import dataclass

from collectors.common.settings import between, checked, positive


@dataclass(frozen=True)
class VpnSettings:
    enabled: bool = True
    openvpn: str = "openvpn"  # the binary (Debian's openvpn 2.6)
    # Our own keepalive; server-pushed ping/ping-restart are filtered out. ping_restart_s must
    # exceed the server's own ping interval (10 s in a typical `keepalive 10 60`) unless the
    # probe keeps traffic flowing through the tunnel.
    ping_s: int = checked(2, between(1, 60))
    ping_restart_s: int = checked(10, between(2, 600))
    connect_timeout_s: float = checked(15.0, between(2, 600))  # from launch to CONNECTED
    probe_interval_s: float = checked(5.0, between(0.5, 600))
    probe_timeout_s: float = checked(2.0, between(0.1, 60))
    probe_target: str = ""  # address pinged through the tunnel (e.g. the NOC concentrator); "" = no probe
    failure_threshold: int = checked(3, between(1, 100))  # failed probes in a row before failover
    holddown_s: float = checked(60.0, between(0, 86400))  # a preferred profile healthy this long before fail-back
    standby_interval_s: float = checked(15.0, between(1, 3600))  # how often a preferred profile is checked
    max_attempts: int = checked(3, between(1, 100))  # failed attempts in a row before a cooldown
    cooldown_s: float = checked(30.0, positive)
    cooldown_max_s: float = checked(600.0, positive)
    backoff: float = checked(2.0, between(1, 10))  # cooldown multiplier after each further cooldown
    history_hours: int = checked(24, between(1, 24 * 90))
    alert_latency_ms: float = checked(500.0, positive)
    alert_loss_percent: float = checked(20.0, between(0, 100))
    allow_directives: list[str] = checked([])  # refused directives the operator permits (e.g. "up")

    def cross_checks(self) -> list[str]:
        problems = []
        if self.ping_restart_s <= self.ping_s:
            problems.append(
                f"vpn.ping_restart_s = {self.ping_restart_s} must be greater than vpn.ping_s = {self.ping_s}"
            )
        if self.cooldown_max_s < self.cooldown_s:
            problems.append(
                f"vpn.cooldown_max_s = {self.cooldown_max_s:g} must be at least vpn.cooldown_s = {self.cooldown_s:g}"
            )
        return problems
