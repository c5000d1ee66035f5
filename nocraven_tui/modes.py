"""The registry of console modes: the one place a capability adds its screen.

Order is display order. A mode with a screen class gets the next number key (1..9, then 0)
and its palette commands; a mode without one is a reserved name for a later capability and
shows nowhere. System stays last.
"""

from __future__ import annotations

from dataclasses import dataclass

from nocraven_tui.screens.base import ModeScreen
from nocraven_tui.screens.buffer import BufferScreen
from nocraven_tui.screens.dashboard import DashboardScreen
from nocraven_tui.screens.live import LiveScreen
from nocraven_tui.screens.system import SystemScreen

NUMBER_KEYS = "1234567890"


@dataclass(frozen=True)
class ModeSpec:
    name: str  # the Textual mode name
    title: str  # tab and palette title
    screen: type[ModeScreen] | None  # None: reserved for a capability not built yet
    help: str
    component: str | None = None  # the engine component the screen is about, if any


REGISTRY: tuple[ModeSpec, ...] = (
    ModeSpec("dashboard", "Dashboard", DashboardScreen, "Ingest rates, buffer, forwarding, alerts, components"),
    ModeSpec("buffer", "Buffer", BufferScreen, "What the store-and-forward buffer holds, per service", "buffer"),
    ModeSpec("live", "Live", LiveScreen, "Live tail of sampled records, with filters"),
    ModeSpec("flows", "Flows", None, "Top talkers and exporters", "flow"),
    ModeSpec("traps", "Traps", None, "SNMP traps by agent and OID", "snmptrap"),
    ModeSpec("windows", "Windows", None, "Windows events by channel and host", "winevents"),
    ModeSpec("forwarding", "Forwarding", None, "Sinks, backlog and drain to the NOC", "forward"),
    ModeSpec("vpn", "VPN", None, "Tunnel profiles, state and failover history", "vpn"),
    ModeSpec("diagnostics", "Diagnostics", None, "Ping, traceroute, DNS, bandwidth, port check", "diag"),
    ModeSpec("health", "Health", None, "Host health, thresholds and trends", "health"),
    ModeSpec("ports", "Ports", None, "Listener ports, conflicts and rebinding", "ports"),
    ModeSpec("system", "System", SystemScreen, "Engine, interfaces, listeners, restart, support bundle"),
)


@dataclass(frozen=True)
class BuiltMode:
    spec: ModeSpec
    screen: type[ModeScreen]
    key: str | None  # its number key, if one is left


def built_modes(registry: tuple[ModeSpec, ...] = REGISTRY) -> list[BuiltMode]:
    built = [spec for spec in registry if spec.screen is not None]
    return [
        BuiltMode(spec, spec.screen, NUMBER_KEYS[i] if i < len(NUMBER_KEYS) else None)
        for i, spec in enumerate(built)
        if spec.screen is not None
    ]


def reserved_names(registry: tuple[ModeSpec, ...] = REGISTRY) -> list[str]:
    return [spec.name for spec in registry if spec.screen is None]
