"""The registry of every listener the config can open: which key sets it, which component
serves it, and what is bound now. Pure: built from the config and what components report."""

from __future__ import annotations

from dataclasses import dataclass

from nocraven.config import Config


@dataclass(frozen=True)
class Configured:
    service: str  # the engine component
    listener: str  # as the component reports it
    proto: str
    config_key: str  # "section.key"
    address: str  # as configured ("" = off)

    @property
    def name(self) -> str:
        return f"{self.service}.{self.listener}"


def configured_listeners(config: Config) -> list[Configured]:
    """Every listener the config can turn on, in a stable order."""
    syslog, flow = config.syslog, config.flow
    return [
        Configured("syslog", "udp", "udp", "syslog.udp", syslog.udp),
        Configured("syslog", "tcp", "tcp", "syslog.tcp", syslog.tcp),
        Configured("syslog", "tls", "tcp", "syslog.tls", syslog.tls),
        Configured("flow", "netflow", "udp", "flow.netflow", flow.netflow),
        Configured("flow", "ipfix", "udp", "flow.ipfix", flow.ipfix),
        Configured("flow", "sflow", "udp", "flow.sflow", flow.sflow),
        Configured("snmptrap", "udp", "udp", "snmptrap.udp", config.snmptrap.udp),
        Configured("winevents", "listen", "tcp", "winevents.listen", config.winevents.listen),
        Configured("health", "metrics", "tcp", "health.metrics_listen", config.health.metrics_listen),
    ]


def find(config: Config, name: str) -> Configured | None:
    return next((c for c in configured_listeners(config) if c.name == name), None)


def persisted_to(config: Config) -> str | None:
    """The file a change is written back to; None when the engine runs on an embedded default."""
    return None if config.source.startswith("<") else config.source
