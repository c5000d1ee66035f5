"""The VPN capability's bodies and events."""

from __future__ import annotations

from typing import ClassVar

from nocraven.schema.events import Event, register


@register
class VpnStateChanged(Event, frozen=True, kw_only=True):
    """The tunnel to the NOC came up or went down. The forwarder holds sinks that require the
    VPN while `connected` is false."""

    kind: ClassVar[str] = "vpn.state_changed"
    profile: str | None  # the profile in use, or None when no tunnel is up
    connected: bool
    reason: str = ""
