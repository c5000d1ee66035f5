"""The engine's own sections: `[engine]` (paths, log level, groups) and `[api]` (the NOC listener)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from collectors.common.settings import checked, listen_address, secret

LogLevel = Literal["debug", "info", "warning", "error"]


@dataclass(frozen=True)
class EngineConfig:
    data_dir: Path = checked(Path("/var/lib/nocraven"))
    socket: Path = checked(Path("/run/nocraven/control.sock"))
    log_level: LogLevel = "info"
    # Members of admin_group may change things; members of tech_group may read and run diagnostics.
    admin_group: str = "nocraven-admin"
    tech_group: str = "nocraven"

    def cross_checks(self) -> list[str]:
        return []


@dataclass(frozen=True)
class ApiConfig:
    """The optional TCP listener for the NOC: TLS and a bearer token are mandatory on it."""

    tcp: str = checked("", listen_address)
    tls_cert: str = ""
    tls_key: str = ""
    tokens: list[str] = secret([])
    admin_tokens: list[str] = secret([])

    def cross_checks(self) -> list[str]:
        problems = []
        if self.tcp and not (self.tls_cert and self.tls_key):
            problems.append(f"api.tcp = {self.tcp!r}: the NOC listener needs api.tls_cert and api.tls_key")
        if self.tcp and not (self.tokens or self.admin_tokens):
            problems.append(f"api.tcp = {self.tcp!r}: the NOC listener needs at least one token in api.tokens")
        return problems
