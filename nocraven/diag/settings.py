"""The diagnostics' settings: the `[diag]` section of the config."""

from __future__ import annotations

from dataclasses import dataclass

from collectors.common.settings import between, checked
from nocraven.diag.validate import InvalidInput, check_dns_server, check_host, check_ip


def host_port(value: str) -> str | None:
    """`""` or `HOST:PORT` / `[IPv6]:PORT`, the host a name or an address."""
    if value == "":
        return None
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        return 'expected "HOST:PORT", e.g. "noc.example.net:4222" or "10.8.0.1:443"'
    return _host_problem(host)


def host_name(value: str) -> str | None:
    return None if value == "" else _host_problem(value)


def ip_address(value: str) -> str | None:
    if value == "":
        return None
    try:
        check_ip(value)
    except InvalidInput as exc:
        return _reason(exc)
    return None


def dns_server(value: str) -> str | None:
    if value == "":
        return None
    try:
        check_dns_server(value)
    except InvalidInput as exc:
        return _reason(exc)
    return None


def _host_problem(host: str) -> str | None:
    try:
        check_host(host)
    except InvalidInput as exc:
        return _reason(exc)
    return None


def _reason(exc: InvalidInput) -> str:
    return str(exc).removeprefix(f"{exc.field}: ")


@dataclass(frozen=True)
class DiagSettings:
    # Probes share the uplink they measure: a few at once, or they skew each other's figures.
    max_running: int = checked(3, between(1, 10))
    # A backstop on top of each tool's own bound (its schedule plus a margin): a forgotten
    # 1000-probe ping at 60 s intervals must not hold one of the few slots for hours.
    max_job_seconds: float = checked(900.0, between(1, 86400))
    # The NOC check (console key n, `nocraven diag noc`). Empty: the NOC is the first forward
    # sink's first URL, the gateway the default route's, the name the NOC's host name.
    noc_target: str = checked("", host_port)
    noc_dns_name: str = checked("", host_name)
    noc_dns_server: str = checked("", dns_server)  # IP[:PORT]; empty: the system resolver
    gateway: str = checked("", ip_address)

    def cross_checks(self) -> list[str]:
        return []
