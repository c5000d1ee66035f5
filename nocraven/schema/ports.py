"""Wire schema of port management: the registry of listeners, and a port change."""

from __future__ import annotations

from nocraven.schema.base import Body


class PortCounters(Body):
    messages: int = 0
    bytes: int = 0
    rejected: int = 0
    kernel_drops: int = 0
    active_connections: int = 0


class PortEntry(Body):
    """One listener: `name` is what `nocraven ports set` takes ("syslog.udp")."""

    name: str
    service: str  # the engine component
    listener: str
    proto: str  # "udp" or "tcp"
    config_key: str  # where the address is set ("syslog.udp", "health.metrics_listen")
    configured: str  # the address in the config ("" = off)
    address: str  # as bound now ("" when not listening)
    state: str  # "listening", "down" (its component is not running) or "off"
    changeable: bool  # `ports set` can move it live
    counters: PortCounters
    state_detail: str = ""  # why it is down
    why_not: str = ""  # when not changeable: what to do instead


class PortsList(Body):
    ports: list[PortEntry]
    config: str  # the file a change is written to, or what the engine runs on
    persisted: bool  # a change is written back to `config`


class PortChange(Body):
    """POST /v1/ports/set: move `listener` ("syslog.udp") to `address`; `check` only validates."""

    listener: str
    address: str
    check: bool = False


class PortChanged(Body):
    listener: str
    previous: str
    address: str  # as bound (the kernel's port when 0 was asked)
    applied: bool  # False for a check: nothing changed
    persisted: bool  # written back to the config file
    config: str
    message: str  # one line for a person: what happened, and what did not
