"""How a capability's settings are declared: frozen dataclasses whose fields carry their checks.

Each capability owns its settings (a collector in `collectors/<name>/settings.py`, an engine
capability in `nocraven/<name>/settings.py`); the config schema (`nocraven.config`) imports them
as its sections and validates a TOML table into them. The engine hands a collector its settings
object as it is, so defaults and limits are written once, here, next to the code that uses them.
This module knows nothing of the engine: collectors may import it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import field
from typing import Any

Check = Callable[[Any], str | None]  # returns the reason a value is refused, or None


def checked(default: Any, *checks: Check, doc: str = "", secret: bool = False) -> Any:
    """A field with a default and checks run after the type check. `secret` fields are masked
    wherever the config is shown (the API, support bundles)."""
    metadata = {"checks": checks, "doc": doc, "secret": secret}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def secret(default: Any = "", *checks: Check) -> Any:
    """A secret (key, password, token list): validated like any field, never shown."""
    return checked(default, *checks, secret=True)


def parse_listen(value: str) -> tuple[str, int]:
    """Split a listener address into host and port; raises ValueError with a reason."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError('expected "HOST:PORT", e.g. "0.0.0.0:514" or "[::]:514"')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ValueError(f"{host!r} is not an IP address (use 0.0.0.0, :: or an interface address)") from None
    if not port_text.isdigit():
        raise ValueError(f"port {port_text!r} is not a number")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range 0-65535")
    return host, port


# ---- checks (used from field metadata) -------------------------------------------------------


def listen_address(value: str) -> str | None:
    """`"HOST:PORT"`, `"[v6]:PORT"` or `""` (disabled). Port 0 asks the kernel for a free port."""
    if value == "":
        return None
    try:
        parse_listen(value)
    except ValueError as exc:
        return str(exc)
    return None


def port_range(value: int) -> str | None:
    return None if 0 <= value <= 65535 else "port must be between 0 and 65535"


def positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def non_negative(value: float) -> str | None:
    return None if value >= 0 else "must be 0 or greater"


def between(low: float, high: float) -> Check:
    def check(value: float) -> str | None:
        return None if low <= value <= high else f"must be between {low:g} and {high:g}"

    return check


def one_of(*allowed: str) -> Check:
    def check(value: str) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}"

    return check


def networks(value: list[str]) -> str | None:
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return f"{item!r} is not an IP network (e.g. 10.0.0.0/8 or 2001:db8::/32)"
    return None
