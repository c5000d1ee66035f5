"""The VPN manager's bodies and events: profiles, the tunnel's status, its history.

`vpn.state_changed` is the one fact other components act on (the forwarder's `requires_vpn`):
is a tunnel up, through which profile, and why it changed. It is retained on the bus, so a
component that subscribes late (or after its own restart) hears the current state at once.
The finer events (`vpn.connecting`, `vpn.connected`, `vpn.disconnected`, `vpn.probed`,
`vpn.health_degraded`, `vpn.health_recovered`) carry the details for live views.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from nocraven.schema.base import Body
from nocraven.schema.events import Event, register


class TunnelState(StrEnum):
    IDLE = "idle"  # no profile chosen (none usable, all cooling down, or disconnected by hand)
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # the tunnel just went down; the policy decides what next
    STOPPED = "stopped"  # the VPN manager stopped (engine stopping)
    DISABLED = "disabled"  # vpn.enabled = false


# ---- events ------------------------------------------------------------------------------------


@register
class VpnStateChanged(Event, frozen=True, kw_only=True):
    """The tunnel came up or went down (or is being brought up): the fact to act on."""

    kind: ClassVar[str] = "vpn.state_changed"
    profile: str | None  # the profile in use, being tried or just dropped; None when none is in play
    connected: bool  # a tunnel is up now: sinks that require the VPN wait while this is false
    reason: str = ""
    state: TunnelState = TunnelState.IDLE

    @property
    def retain_key(self) -> str | None:
        return self.kind


@register
class VpnConnecting(Event, frozen=True, kw_only=True):
    kind: ClassVar[str] = "vpn.connecting"
    profile: str
    reason: str


@register
class VpnConnected(Event, frozen=True, kw_only=True):
    kind: ClassVar[str] = "vpn.connected"
    profile: str
    remote: str  # "host:port" openvpn reached
    local_ip: str = ""
    seconds_to_connect: float = 0.0


@register
class VpnDisconnected(Event, frozen=True, kw_only=True):
    kind: ClassVar[str] = "vpn.disconnected"
    profile: str
    reason: str


@register
class VpnProbed(Event, frozen=True, kw_only=True):
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
class VpnHealthDegraded(Event, frozen=True, kw_only=True):
    """The active tunnel went over a health threshold (vpn.alert_latency_ms, vpn.alert_loss_percent)."""

    kind: ClassVar[str] = "vpn.health_degraded"
    profile: str
    reason: str


@register
class VpnHealthRecovered(Event, frozen=True, kw_only=True):
    kind: ClassVar[str] = "vpn.health_recovered"
    profile: str


# ---- bodies ------------------------------------------------------------------------------------


class VpnProfile(Body):
    """A stored profile's metadata; never its keys or credentials."""

    name: str
    priority: int  # lower is preferred
    enabled: bool
    added: str  # RFC 3339
    last_connected: str | None
    cert_expiry: str | None  # the earliest of the client and CA certificates
    cert_days_left: int | None
    client_subject: str
    remotes: list[str]  # "host:port/proto"
    warnings: list[str]
    has_credentials: bool
    state: str = "standby"  # active, connecting, cooldown, standby or disabled
    cooldown_s: float = 0.0  # seconds left before the policy tries it again


class VpnProfiles(Body):
    profiles: list[VpnProfile]


class VpnCredentials(Body):
    username: str
    password: str


class VpnImportRequest(Body):
    """An upload: the profile's text as written, and the files it references by name (so line
    numbers in a refusal are the file's own, and the engine never reads the technician's files)."""

    name: str
    text: str
    priority: int = 100
    files: dict[str, str] = {}  # name as written in the profile -> content
    credentials: VpnCredentials | None = None  # overrides the profile's own auth-user-pass


class VpnImported(Body):
    profile: VpnProfile
    warnings: list[str]


class VpnNameRequest(Body):
    name: str


class VpnRemoved(Body):
    name: str


class VpnExport(Body):
    name: str
    text: str  # `.ovpn`, self-contained, without the username/password


class VpnProbe(Body):
    at: str  # RFC 3339
    ok: bool
    latency_ms: float | None
    loss_percent: float
    jitter_ms: float | None


class VpnStatus(Body):
    """The tunnel in use: GET /v1/vpn/status and the vpn component's detail in /v1/status."""

    enabled: bool
    mode: str  # auto, manual (a `vpn connect` override) or off (`vpn disconnect`)
    override: str | None
    active: str | None
    state: TunnelState
    connected: bool
    remote: str = ""
    local_ip: str = ""
    device: str = ""
    since: str | None = None  # RFC 3339 of the last state change
    bytes_in: int = 0
    bytes_out: int = 0
    last_reason: str = ""
    probe: VpnProbe | None = None
    alert: str | None = None  # the health threshold the active tunnel is over
    remotes_skipped: int = 0
    cooldowns: dict[str, float] = {}
    profiles: int = 0


class VpnHistoryEntry(Body):
    profile: str
    started: str  # RFC 3339
    connected: str | None
    ended: str | None
    duration_s: float | None  # connected time; None when it never connected
    reason_started: str
    reason_ended: str | None


class VpnHistory(Body):
    entries: list[VpnHistoryEntry]  # newest first
    probes: list[VpnProbe] = []  # the active profile's, oldest first
    probes_profile: str | None = None
