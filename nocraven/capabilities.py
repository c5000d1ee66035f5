"""The capabilities of the product: one record each, the one place their names are spelled.

A capability is known by several names: its engine component, the buffer service its records
belong to, its config section, its API prefix, its CLI group and its console mode. They are
written here once; the engine, the API's "not in this build" answers, the CLI's placeholder
groups and the console's modes all read this table. Pure data: every layer may import it.

Adding a capability: a `Capability` line here (with `built=True` once it ships), its settings
module (listed in `nocraven.config.Config`), its Component (listed in
`nocraven.engine.components`), its wire module under `nocraven/schema/`, its CLI module under
`nocraven/cli/`, and its console screen (listed in `nocraven_tui.modes`).
`tests/unit/test_capabilities.py` checks that each built capability has all of them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capability:
    name: str  # the engine component's name, as in `nocraven status`
    title: str  # the console's tab title
    description: str  # what it is, for "not available in this build" answers
    api_prefix: str  # every route of the capability starts with it
    config_section: str | None = None  # its `[section]` in the TOML file
    buffer_service: str | None = None  # the `service` of the records it collects
    cli_group: str | None = None  # `nocraven <group> ...`
    mode: str | None = None  # the console mode (screen) name
    built: bool = False  # part of this build


CAPABILITIES: tuple[Capability, ...] = (
    Capability(
        name="buffer",
        title="Buffer",
        description="the store-and-forward buffer",
        api_prefix="/v1/buffer",
        config_section="buffer",
        cli_group="buffer",
        mode="buffer",
        built=True,
    ),
    Capability(
        name="syslog",
        title="Syslog",
        description="the syslog collector",
        api_prefix="/v1/syslog",
        config_section="syslog",
        buffer_service="syslog",
        built=True,
    ),
    Capability(
        name="flow",
        title="Flows",
        description="the flow collector (NetFlow/IPFIX/sFlow)",
        api_prefix="/v1/flow",
        config_section="flow",
        buffer_service="flow",
        cli_group="flow",
        mode="flows",
        built=True,
    ),
    Capability(
        name="snmptrap",
        title="Traps",
        description="the SNMP trap collector",
        api_prefix="/v1/traps",
        config_section="snmptrap",
        buffer_service="trap",
        cli_group="traps",
        mode="traps",
        built=True,
    ),
    Capability(
        name="snmppoll",
        title="Polling",
        description="SNMP device polling",
        api_prefix="/v1/snmp",
        config_section="snmp",
        buffer_service="poll",
        cli_group="snmp",
        built=True,  # shown on the Traps screen (its Polling tab), no console mode of its own
    ),
    Capability(
        name="winevents",
        title="Windows",
        description="the Windows event collector",
        api_prefix="/v1/winevents",
        config_section="winevents",
        buffer_service="winevent",
        cli_group="winevents",
        mode="windows",
        built=True,
    ),
    Capability(
        name="forward",
        title="Forwarding",
        description="forwarding to the NOC",
        api_prefix="/v1/forward",
        config_section="forward",
        cli_group="forward",
        mode="forwarding",
        built=True,
    ),
    Capability(
        name="vpn",
        title="VPN",
        description="VPN management",
        api_prefix="/v1/vpn",
        config_section="vpn",
        cli_group="vpn",
        mode="vpn",
        built=True,
    ),
    Capability(
        name="diag",
        title="Diagnostics",
        description="network diagnostics",
        api_prefix="/v1/diag",
        config_section="diag",
        cli_group="diag",
        mode="diagnostics",
        built=True,
    ),
    Capability(
        name="health",
        title="Health",
        description="health monitoring",
        api_prefix="/v1/health",
        config_section="health",
        cli_group="health",
        mode="health",
        built=True,
    ),
    Capability(
        name="ports",
        title="Ports",
        description="listener port management",
        api_prefix="/v1/ports",
        cli_group="ports",
        mode="ports",
        built=True,
    ),
)

BY_NAME: dict[str, Capability] = {c.name: c for c in CAPABILITIES}


def buffer_services(capabilities: tuple[Capability, ...] = CAPABILITIES) -> tuple[str, ...]:
    """Every service the buffer keeps records of (built or not: a config may set its quota)."""
    return tuple(c.buffer_service for c in capabilities if c.buffer_service)


def planned(capabilities: tuple[Capability, ...] = CAPABILITIES) -> dict[str, str]:
    """API prefixes of the capabilities this build lacks -> what to call them."""
    return {c.api_prefix: c.description for c in capabilities if not c.built}


def by_service(service: str) -> Capability | None:
    return next((c for c in CAPABILITIES if c.buffer_service == service), None)
