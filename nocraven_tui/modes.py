"""The registry of console modes: capabilities' modes from `nocraven.capabilities`, plus the console's own.

Display order: Dashboard, then every capability that has a mode, in the capability registry's
order (Live follows Buffer), then System. A mode with a screen class gets a tab, a key and its
palette commands; a capability's mode without one is reserved for a later capability and shows
nowhere. Adding a capability's screen is one line in `SCREENS`.

Keys: a few modes keep a fixed key wherever their tab lands (`FIXED_KEYS`: 0 is always System,
the last tab); the others take 1..9 in tab order, and the tabs after the ninth take a capital
letter: the one `FIXED_KEYS` gives them (H Health, P Ports), else the first capital of their title
that is free. Lowercase letters stay the screens' own actions, so a mode key never shadows one (a
test checks every screen's bindings); the tab shows each mode's key, and every tab is also a click
and a "Go to" in the command palette.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from nocraven.capabilities import CAPABILITIES, Capability
from nocraven_tui.screens.base import ModeScreen
from nocraven_tui.screens.buffer import BufferScreen
from nocraven_tui.screens.dashboard import DashboardScreen
from nocraven_tui.screens.diagnostics import DiagnosticsScreen
from nocraven_tui.screens.flows import FlowsScreen
from nocraven_tui.screens.forwarding import ForwardingScreen
from nocraven_tui.screens.health import HealthScreen
from nocraven_tui.screens.live import LiveScreen
from nocraven_tui.screens.ports import PortsScreen
from nocraven_tui.screens.system import SystemScreen
from nocraven_tui.screens.traps import TrapsScreen
from nocraven_tui.screens.vpn import VpnScreen
from nocraven_tui.screens.windows import WindowsScreen

NUMBER_KEYS = "123456789"
# Keys that stay put when modes are added: System is always 0; the modes that come after the
# ninth tab take a capital letter (lowercase letters are the screens' actions: p is Pause).
FIXED_KEYS: dict[str, str] = {"system": "0", "health": "H", "ports": "P"}

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
    "health": HealthScreen,
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
    key: str | None  # None only if no letter of its title is free (a test fails on that)


def built_modes(registry: tuple[ModeSpec, ...] = REGISTRY) -> list[BuiltMode]:
    built = [spec for spec in registry if spec.screen is not None]
    numbers = iter(NUMBER_KEYS)
    keys = [FIXED_KEYS.get(spec.name) or next(numbers, None) for spec in built]
    # Past the ninth and with no fixed key: the first capital of its title no mode holds yet.
    for index, spec in enumerate(built):
        if keys[index] is None:
            free = [c.upper() for c in spec.title if c.isalpha() and c.upper() not in keys]
            keys[index] = free[0] if free else None
    return [BuiltMode(spec, cast("type[ModeScreen]", spec.screen), key) for spec, key in zip(built, keys, strict=True)]


def reserved_names(registry: tuple[ModeSpec, ...] = REGISTRY) -> list[str]:
    return [spec.name for spec in registry if spec.screen is None]
