"""VPN events: facts about the tunnel, named in the past tense (`kind` is the wire name)."""

from __future__ import annotations

from typing import ClassVar

from nocraven.schema.events import Event, register


@register
class VpnConnecting(Event, frozen=True):
    kind: ClassVar[str] = "vpn.connecting"
    profile: str
    reason: str


@register
class VpnConnected(Event, frozen=True):
    kind: ClassVar[str] = "vpn.connected"
    profile: str
    remote: str  # "host:port" openvpn reached
    local_ip: str = ""
    seconds_to_connect: float = 0.0


@register
class VpnDisconnected(Event, frozen=True):
    kind: ClassVar[str] = "vpn.disconnected"
    profile: str
    reason: str


@register
class VpnProbed(Event, frozen=True):
    """One probe through the active tunnel; only the latest matters to a live view."""

    kind: ClassVar[str] = "vpn.probed"
    profile: str
    ok: bool
    latency_ms: float | None = None
    loss_percent: float = 0.0
    jitter_ms: float | None = None

    @property
    def coalesce_key(self) -> str | None:
        return self.kind


@register
class VpnHealthDegraded(Event, frozen=True):
    """The active tunnel went over a health threshold (vpn.alert_latency_ms, vpn.alert_loss_percent)."""

    kind: ClassVar[str] = "vpn.health_degraded"
    profile: str
    reason: str


@register
class VpnHealthRecovered(Event, frozen=True):
    kind: ClassVar[str] = "vpn.health_recovered"
    profile: str
