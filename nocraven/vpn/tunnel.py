"""The active tunnel's interface as the kernel sees it (pyroute2): state, MTU, addresses, routes.

openvpn names its device only in a log line (`TUN/TAP device tun0 opened`); the supervisor
keeps that name and the API reads the details here when asked."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DEVICE_OPENED = re.compile(r"TUN/TAP device (\S+) opened")


def device_from_log(line: str) -> str | None:
    match = DEVICE_OPENED.search(line)
    return match.group(1) if match else None


@dataclass(frozen=True)
class InterfaceInfo:
    name: str
    index: int
    up: bool
    mtu: int
    addresses: list[str] = field(default_factory=list)  # "10.8.0.2/24"
    routes: list[str] = field(default_factory=list)  # "10.0.0.0/8", "default"


def read_interface(name: str) -> InterfaceInfo | None:
    """The interface called `name`, or None when it does not exist (no tunnel, `dev null`)."""
    from pyroute2 import IPRoute  # on use: pyroute2 is ~9 MiB of the engine's memory

    with IPRoute() as ipr:
        indexes = ipr.link_lookup(ifname=name)
        if not indexes:
            return None
        index = indexes[0]
        link = ipr.get_links(index)[0]
        addresses = [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(index=index)]
        routes = []
        for route in ipr.get_routes(oif=index):
            destination = route.get_attr("RTA_DST")
            routes.append(f"{destination}/{route['dst_len']}" if destination else "default")
        return InterfaceInfo(
            name=name,
            index=index,
            up=bool(link["flags"] & 1),
            mtu=int(link.get_attr("IFLA_MTU") or 0),
            addresses=addresses,
            routes=routes,
        )
