"""The registry of console modes: capabilities' modes from `nocraven.capabilities`, plus the console's own.

Display order: Dashboard, then every capability that has a mode, in the capability registry's
order (Live follows Buffer), then System. A mode with a screen class gets the next number key
(1..9, then 0) and its palette commands; a capability's mode without one is reserved for a later
capability and shows nowhere. Adding a capability's screen is one line in `SCREENS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from nocraven.capabilities import CAPABILITIES, Capability
from nocraven_tui.screens.base import ModeScreen
from nocraven_tui.screens.buffer import BufferScreen
from nocraven_tui.screens.dashboard import DashboardScreen
from nocraven_tui.screens.diagnostics import DiagnosticsScreen
from nocraven_tui.screens.flows import FlowsScreen
from nocraven_tui.screens.forwarding import ForwardingScreen
from nocraven_tui.screens.live import LiveScreen
from nocraven_tui.screens.ports import PortsScreen
from nocraven_tui.screens.system import SystemScreen
from nocraven_tui.screens.traps import TrapsScreen
from nocraven_tui.screens.vpn import VpnScreen
from nocraven_tui.screens.windows import WindowsScreen

NUMBER_KEYS = "1234567890"

# A capability's console mode (`Capability.mode`) -> its screen.
SCREENS: dict[str, type[ModeScreen]] = {
    "buffer": BufferScreen,
    "vpn": VpnScreen,
    "flows": FlowsScreen,
    "traps": TrapsScreen,
    "diagnostics": DiagnosticsScreen,
    "windows": WindowsScreen,
    "forwarding": ForwardingScreen,
    "ports": PortsScreen,
}


@dataclass(frozen=True)
class ModeSpec:
    name: str  # the Textual mode name
    title: str  # tab and palette title
    screen: type[ModeScreen] | None  # None: reserved for a capability not built yet
    help: str
    component: str | None = None  # the engine component the screen is about, if any


def _console_mode(name: str, title: str, screen: type[ModeScreen]) -> ModeSpec:
    return ModeSpec(name, title, screen, screen.HELP)


DASHBOARD = _console_mode("dashboard", "Dashboard", DashboardScreen)
LIVE = _console_mode("live", "Live", LiveScreen)  # follows Buffer: a tail of what it takes in
SYSTEM = _console_mode("system", "System", SystemScreen)
FOLLOWING: dict[str, tuple[ModeSpec, ...]] = {"buffer": (LIVE,)}


def _capability_mode(capability: Capability, mode: str) -> ModeSpec:
    screen = SCREENS.get(mode)
    return ModeSpec(mode, capability.title, screen, screen.HELP if screen else capability.description, capability.name)


def registry(capabilities: tuple[Capability, ...] = CAPABILITIES) -> tuple[ModeSpec, ...]:
    specs = [DASHBOARD]
    for capability in capabilities:
        if capability.mode is None:
            continue
        specs.append(_capability_mode(capability, capability.mode))
        specs.extend(FOLLOWING.get(capability.mode, ()))
    specs.append(SYSTEM)
    return tuple(specs)


REGISTRY: tuple[ModeSpec, ...] = registry()


@dataclass(frozen=True)
class BuiltMode:
    spec: ModeSpec
    screen: type[ModeScreen]
    key: str | None  # its number key, if one is left


def built_modes(registry: tuple[ModeSpec, ...] = REGISTRY) -> list[BuiltMode]:
    built = [(spec, spec.screen) for spec in registry if spec.screen is not None]
    return [
        BuiltMode(spec, screen, NUMBER_KEYS[i] if i < len(NUMBER_KEYS) else None)
        for i, (spec, screen) in enumerate(built)
    ]


def reserved_names(registry: tuple[ModeSpec, ...] = REGISTRY) -> list[str]:
    return [spec.name for spec in registry if spec.screen is None]
