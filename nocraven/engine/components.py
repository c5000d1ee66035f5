"""The capabilities this build wires into the engine, in start order.

Adding a capability: write its Component (engine part + routes), add it here, add its CLI
module under nocraven/cli/, its console screen under nocraven_tui/screens/, and drop its prefix
from nocraven.api.routes.PLANNED. Components that others write into come first (the buffer),
so they stop last and flush what the collectors handed them.
"""

from __future__ import annotations

from nocraven.buffer.component import BufferComponent
from nocraven.diag.component import DiagComponent
from nocraven.engine.component import Component, EngineContext
from nocraven.forward.component import ForwardComponent
from nocraven.health.component import HealthComponent
from nocraven.ingest.flow import FlowComponent
from nocraven.ingest.snmppoll import SnmppollComponent
from nocraven.ingest.snmptrap import SnmptrapComponent
from nocraven.ingest.syslog import SyslogComponent
from nocraven.ingest.winevents import WineventsComponent
from nocraven.ports.component import PortsComponent
from nocraven.vpn.component import VpnComponent


def build_components(ctx: EngineContext) -> list[Component]:
    return [
        BufferComponent(ctx),
        HealthComponent(ctx),  # after the buffer: it reads the buffer's figures
        SyslogComponent(ctx),
        ForwardComponent(ctx),  # after the buffer: stops first, its cursors saved before the store closes
        VpnComponent(ctx),
        FlowComponent(ctx),
        DiagComponent(ctx),
        SnmptrapComponent(ctx),
        SnmppollComponent(ctx),
        WineventsComponent(ctx),
        PortsComponent(ctx),  # reads every listener; nothing depends on it
    ]
