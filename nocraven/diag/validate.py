"""Input checks for every diagnostic, sans-IO: a value in, the clean value or one error line out.

Each `check_*` function returns the normalised value or raises `InvalidInput` whose message is a
single line saying what was wrong with which field and what is accepted. Nothing here resolves
names or opens sockets; the tools never hand any of these values to a shell (they use sockets,
dnspython, httpx, or `exec` of a fixed program with an argument list).
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

# Characters that mean something to a shell, or that no hostname, address or URL we accept holds.
_SHELL_METACHARACTERS = frozenset(";&|`$<>(){}\\\"'!*?~\n\r\t \x00")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_INTERFACE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")  # IFNAMSIZ is 16 with the NUL

RECORD_TYPES = ("A", "AAAA", "MX", "CNAME", "TXT", "PTR")


class InvalidInput(ValueError):
    """A refused input; `str()` is the one line to show the person who typed it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _refuse_metacharacters(field: str, value: str) -> None:
    bad = sorted({c for c in value if c in _SHELL_METACHARACTERS or not c.isprintable()})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise InvalidInput(field, f"{value!r} contains characters that are never valid here ({shown})")


def check_hostname(value: str, field: str = "host") -> str:
    """An RFC 1123 hostname (letters, digits, hyphens; dots between labels), lower-cased."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, "a host name or address is required")
    _refuse_metacharacters(field, value)
    name = value[:-1] if value.endswith(".") else value
    if len(name) > 253:
        raise InvalidInput(field, f"host name is {len(name)} characters long; at most 253 are allowed")
    labels = name.split(".")
    for label in labels:
        if not _LABEL.match(label):
            raise InvalidInput(
                field,
                f"{value!r} is not a valid host name (labels of 1-63 letters, digits or '-', "
                "not starting or ending with '-')",
            )
    if labels[-1].isdigit():
        # An all-numeric last label is a mistyped IPv4 address, never a real name.
        raise InvalidInput(field, f"{value!r} is neither a valid IPv4 address nor a host name")
    return name.lower()


def check_dns_name(value: str, field: str = "name") -> str:
    """A DNS name to look up: like a hostname, but labels may hold '_' (_dmarc, _sip._tcp)."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, "a name to look up is required")
    _refuse_metacharacters(field, value)
    name = value[:-1] if value.endswith(".") else value
    if len(name) > 253:
        raise InvalidInput(field, f"name is {len(name)} characters long; at most 253 are allowed")
    for label in name.split("."):
        if not _DNS_LABEL.match(label):
            raise InvalidInput(field, f"{value!r} is not a valid DNS name (labels of 1-63 letters, digits, '-' or '_')")
    return name.lower()


def check_ip(value: str, field: str = "address") -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, "an IP address is required")
    _refuse_metacharacters(field, value)
    try:
        return ipaddress.ip_address(value.strip("[]") if value.startswith("[") else value)
    except ValueError:
        raise InvalidInput(field, f"{value!r} is not an IPv4 or IPv6 address") from None


def check_host(value: str, field: str = "host") -> str:
    """An IP address (returned in canonical form) or an RFC 1123 hostname."""
    if isinstance(value, str) and value and (":" in value or value.replace(".", "").isdigit()):
        return str(check_ip(value, field))
    return check_hostname(value, field)


def check_int(value: object, field: str, low: int, high: int, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"{value!r} is not a whole number")
    if not low <= value <= high:
        suffix = f" {unit}" if unit else ""
        raise InvalidInput(field, f"{value}{suffix} is out of range; use {low} to {high}{suffix}")
    return value


def check_seconds(value: object, field: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(field, f"{value!r} is not a number of seconds")
    seconds = float(value)
    if not math.isfinite(seconds) or not low <= seconds <= high:
        raise InvalidInput(field, f"{value} s is out of range; use {low:g} to {high:g} s")
    return seconds


def check_choice(value: T, field: str, choices: tuple[T, ...]) -> T:
    if value not in choices:
        raise InvalidInput(field, f"{value!r} is not one of {', '.join(repr(c) for c in choices)}")
    return value


def check_port(value: object, field: str = "port") -> int:
    return check_int(value, field, 1, 65535)


def check_record_type(value: str, field: str = "type") -> str:
    kind = value.upper() if isinstance(value, str) else ""
    if kind not in RECORD_TYPES:
        raise InvalidInput(
            field, f"{value!r} is not a record type this tool asks for; use one of {', '.join(RECORD_TYPES)}"
        )
    return kind


def check_interface(value: str, field: str = "source") -> str:
    _refuse_metacharacters(field, value)
    if not _INTERFACE.match(value):
        raise InvalidInput(field, f"{value!r} is not an interface name (1-15 letters, digits, '_', '.', '-')")
    return value


def check_source(value: str, field: str = "source") -> str:
    """A source address (IPv4 or IPv6) or an interface name to send from."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, "a source address or interface name is required")
    if ":" in value or value.replace(".", "").isdigit():
        return str(check_ip(value, field))
    return check_interface(value, field)


def check_dns_server(value: str, field: str = "server") -> tuple[str, int]:
    """`IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address; port 53 when none is given."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, "a DNS server address is required")
    _refuse_metacharacters(field, value)
    host, port_text = value, ""
    if value.startswith("["):
        close = value.find("]")
        if close < 0:
            raise InvalidInput(field, f"{value!r} opens '[' without closing it; write [IPv6]:PORT")
        host, rest = value[1:close], value[close + 1 :]
        if rest and not rest.startswith(":"):
            raise InvalidInput(field, f"{value!r}: expected ':PORT' after ']'")
        port_text = rest[1:]
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    address = check_ip(host, field)
    if not port_text:
        return str(address), 53
    if not port_text.isdigit():
        raise InvalidInput(field, f"port {port_text!r} in {value!r} is not a number")
    return str(address), check_port(int(port_text), field)


def check_url(value: str, field: str = "url") -> str:
    """An http:// or https:// URL with a valid host; no credentials, no other schemes."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, "a URL is required")
    if len(value) > 2048:
        raise InvalidInput(field, f"URL is {len(value)} characters long; at most 2048 are allowed")
    if any(c in value for c in " \"'`<>\\{}|^\n\r\t\x00") or not value.isprintable():
        raise InvalidInput(field, f"{value!r} contains characters that are never valid in a URL")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(field, f"{value!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(field, f"{value!r}: only http:// and https:// URLs are accepted")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(field, "URLs with a user name or password are not accepted")
    if not parts.hostname:
        raise InvalidInput(field, f"{value!r} has no host")
    check_host(parts.hostname, field)
    if port is not None:
        check_port(port, field)
    return value
