"""What the one-key NOC check probes, decided in the engine (sans-IO: settings and the routing
table's text in, a plan out).

The check answers "can this box reach the NOC?" in three steps: ping the gateway, resolve the
NOC's name, connect to the NOC's port. The engine decides the targets because it runs on the box
(its routing table is the one that matters, even for a console connected over TCP) and holds the
config: `[diag]` names them, and where it does not, the NOC is the first forward sink's first URL.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from nocraven.diag.settings import DiagSettings
from nocraven.forward.settings import ForwardSettings
from nocraven.schema.diag import NocPlan

# Ports a sink URL means when it names none.
_DEFAULT_PORTS = {"nats": 4222, "tls": 4222, "http": 80, "https": 443, "tcp": 6514}


def default_gateway(route_table: str) -> str | None:
    """The IPv4 default route's gateway from the text of /proc/net/route, if there is one."""
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 3 or fields[1] != "00000000":
            continue
        try:
            gateway = ipaddress.IPv4Address(int(fields[2], 16).to_bytes(4, "little"))
        except ValueError:
            continue
        if int(gateway):
            return str(gateway)
    return None


def split_host_port(value: str) -> tuple[str, int]:
    """`HOST:PORT` or `[IPv6]:PORT` (already checked by the settings)."""
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


def sink_endpoint(forward: ForwardSettings) -> tuple[str, int, str] | None:
    """(host, port, sink name) of the first forward sink's first URL: where records go."""
    for sink in forward.sinks:
        for url in sink.urls:
            parts = urlsplit(url)
            if parts.hostname:
                return parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme, 443), sink.name
    return None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def noc_plan(settings: DiagSettings, forward: ForwardSettings, route_table: str | None) -> NocPlan:
    notes: list[str] = []
    gateway = settings.gateway or (default_gateway(route_table) if route_table is not None else None)
    if gateway is None:
        gateway = "127.0.0.1"
        notes.append("no default route found: pinging 127.0.0.1 instead of a gateway; set [diag] gateway")
    host: str | None = None
    port: int | None = None
    if settings.noc_target:
        host, port = split_host_port(settings.noc_target)
        source = "[diag] noc_target"
    elif (endpoint := sink_endpoint(forward)) is not None:
        host, port, sink = endpoint
        source = f"forward sink {sink!r}"
    else:
        source = ""
        notes.append("no NOC configured: set [diag] noc_target or a [[forward.sinks]] entry for the port check")
    dns_name = settings.noc_dns_name or (host if host and not _is_address(host) else "")
    if not dns_name:
        notes.append("the NOC is given as an address: set [diag] noc_dns_name to check a name too")
    return NocPlan(
        gateway=gateway,
        dns_name=dns_name or None,
        dns_server=settings.noc_dns_server or None,
        host=host,
        port=port,
        source=source,
        notes=notes,
    )
