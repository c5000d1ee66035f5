"""Sans-IO checks of a port change: address syntax and range, privilege, and conflicts with
the engine's other listeners. Binding (conflicts with other processes) is the engine's part."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from collectors.common.settings import parse_listen

PRIVILEGED_BELOW = 1024  # net.ipv4.ip_unprivileged_port_start by default
CAP_NET_BIND_SERVICE = 10


@dataclass(frozen=True)
class Bound:
    """A listener of ours: its name, protocol and address (as bound, or as configured)."""

    name: str
    proto: str
    address: str


class ChangeRefused(Exception):
    """One line saying what is wrong with the change and what to do."""


def parse_address(name: str, address: str) -> tuple[str, int]:
    try:
        host, port = parse_listen(address)
    except ValueError as exc:
        raise ChangeRefused(f"{name} -> {address!r}: {exc}") from None
    if port == 0:
        raise ChangeRefused(f"{name} -> {address!r}: give a fixed port (1-65535); senders must know where to send")
    return host, port


def may_bind_privileged(uid: int, effective_caps: int, unprivileged_start: int = PRIVILEGED_BELOW) -> int:
    """The lowest port this process may bind: 0 for root or CAP_NET_BIND_SERVICE."""
    if uid == 0 or effective_caps & (1 << CAP_NET_BIND_SERVICE):
        return 0
    return unprivileged_start


def _overlap(host_a: str, host_b: str) -> bool:
    """Two hosts clash on one port when either is a wildcard or they are the same address."""
    wild = {"0.0.0.0", "::"}
    if host_a in wild or host_b in wild:
        # "0.0.0.0" and "[::1]" do not clash (different families), but "[::]" takes IPv4 too.
        if {host_a, host_b} == {"0.0.0.0"} or host_a == host_b:
            return True
        other = host_b if host_a in wild else host_a
        wildcard = host_a if host_a in wild else host_b
        if wildcard == "::":
            return True
        return ":" not in other  # 0.0.0.0 against an IPv4 address
    if host_a == "localhost":
        host_a = "127.0.0.1"
    if host_b == "localhost":
        host_b = "127.0.0.1"
    try:
        return ipaddress.ip_address(host_a) == ipaddress.ip_address(host_b)
    except ValueError:
        return host_a == host_b


def check_change(
    name: str, proto: str, current: str, address: str, ours: list[Bound], lowest_port: int
) -> tuple[str, int]:
    """(host, port) of a change that may be tried (bound); raises ChangeRefused naming the
    problem: syntax, range, the same address, privilege, or another listener of ours."""
    host, port = parse_address(name, address)
    if address == current:
        raise ChangeRefused(f"{name} already listens on {address}")
    if port < lowest_port:
        raise ChangeRefused(
            f"{name} -> {address}: ports below {lowest_port} need root or CAP_NET_BIND_SERVICE "
            "(the engine has neither); choose a port from 1024 up or grant the capability"
        )
    for other in ours:
        if other.name == name or other.proto != proto or not other.address:
            continue
        try:
            other_host, other_port = parse_listen(other.address)
        except ValueError:
            continue
        if other_port == port and _overlap(host, other_host):
            raise ChangeRefused(f"{name} -> {address}: {other.name} listens on {other.address}/{proto} already")
    return host, port
