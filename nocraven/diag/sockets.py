"""Socket glue shared by the probes: resolving the target, opening ICMP sockets, waiting on them.

ICMP needs either a datagram ("ping") socket, which Linux allows to groups inside
net.ipv4.ping_group_range, or a raw socket, which needs CAP_NET_RAW. We try the datagram socket
first (it needs no privilege and the kernel filters replies for us) and fall back to raw.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
from typing import Literal

from nocraven.diag.schema import DiagFailed

SocketKind = Literal["dgram", "raw"]

# Linux constants that the socket module does not export on every Python build.
IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
IP_TTL_CMSG = getattr(socket, "IP_TTL", 2)
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # the control message has the same number
_TIMESPEC = struct.Struct("@qq")  # struct timespec on 64-bit Linux: seconds, nanoseconds


async def resolve(host: str, ip_version: int = 0, timeout: float = 5.0) -> tuple[str, int]:
    """The address to probe and its family; a name that does not resolve is a `DiagFailed`."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        if ip_version and ip_version != address.version:
            raise DiagFailed(f"{host} is an IPv{address.version} address but IPv{ip_version} was asked for")
        return str(address), family
    family = {4: socket.AF_INET, 6: socket.AF_INET6}.get(ip_version, socket.AF_UNSPEC)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, None, family=family, type=socket.SOCK_DGRAM)
    except TimeoutError:
        raise DiagFailed(f"resolving {host} took longer than {timeout:g} s; check the DNS servers") from None
    except socket.gaierror as exc:
        raise DiagFailed(f"cannot resolve {host}: {exc.strerror}; check the name or the DNS servers") from None
    if not infos:
        raise DiagFailed(f"cannot resolve {host}: no address; check the name or the DNS servers")
    first = infos[0]
    return str(first[4][0]), first[0]


def open_icmp(family: int, prefer: Literal["auto", "dgram", "raw"] = "auto") -> tuple[socket.socket, SocketKind]:
    proto = socket.IPPROTO_ICMPV6 if family == socket.AF_INET6 else socket.IPPROTO_ICMP
    errors: list[str] = []
    for kind in ("dgram", "raw") if prefer == "auto" else (prefer,):
        sock_type = socket.SOCK_DGRAM if kind == "dgram" else socket.SOCK_RAW
        try:
            sock = socket.socket(family, sock_type, proto)
        except OSError as exc:
            errors.append(f"{kind}: {exc.strerror}")
            continue
        sock.setblocking(False)
        return sock, kind
    raise DiagFailed(
        "cannot open an ICMP socket (" + "; ".join(errors) + "); the engine needs CAP_NET_RAW or its group "
        "inside net.ipv4.ping_group_range"
    )


def bind_source(sock: socket.socket, family: int, source: str | None) -> None:
    """Send from an address (bind) or an interface (SO_BINDTODEVICE)."""
    if source is None:
        return
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, source.encode())
        except OSError as exc:
            raise DiagFailed(f"cannot send from interface {source}: {exc.strerror}; check `ip link`") from None
        return
    if (address.version == 6) != (family == socket.AF_INET6):
        raise DiagFailed(f"source {source} is IPv{address.version} but the target is not; pick a matching source")
    try:
        sock.bind((source, 0))
    except OSError as exc:
        raise DiagFailed(f"cannot send from {source}: {exc.strerror}; is it an address of this host?") from None


def set_ttl(sock: socket.socket, family: int, ttl: int) -> None:
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)


def enable_recverr(sock: socket.socket, family: int) -> None:
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)


def enable_recvttl(sock: socket.socket, family: int) -> None:
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)


def enable_timestamps(sock: socket.socket) -> None:
    """Have the kernel stamp each received packet (wall clock, ns), so a round trip is measured
    from the packet's arrival rather than from whenever a busy event loop got round to it."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


_timestamp_keeper: socket.socket | None = None


async def receive_timestamps_on() -> None:
    """Make sure the kernel stamps packets as they arrive.

    Linux turns receive timestamps on host-wide lazily (a deferred work item) when the first socket
    asks, and off when the last such socket closes; until then a packet is stamped when it is read,
    which is exactly the delay we want to leave out. One socket kept open for the life of the
    process keeps them on, and the first probe waits a moment for the switch."""
    global _timestamp_keeper
    if _timestamp_keeper is not None:
        return
    keeper = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    enable_timestamps(keeper)
    _timestamp_keeper = keeper
    await asyncio.sleep(0.05)


def arrival_from_ancillary(ancdata: list[tuple[int, int, bytes]]) -> float | None:
    """The kernel's receive timestamp (seconds since the epoch), when the socket asked for it."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return float(seconds) + float(nanoseconds) / 1e9
    return None


def ttl_from_ancillary(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancdata:
        if (level, kind) in ((socket.IPPROTO_IP, IP_TTL_CMSG), (socket.IPPROTO_IPV6, IPV6_HOPLIMIT)) and len(data) >= 4:
            return int.from_bytes(data[:4], "little")
    return None


async def wait_readable(sock: socket.socket, timeout: float) -> bool:
    """True when `sock` has data (or a queued error) within `timeout` seconds."""
    if timeout <= 0:
        return False
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    # EPOLLERR (an error on the queue) also wakes a reader in asyncio's selector loop.
    loop.add_reader(sock.fileno(), wake)
    try:
        async with asyncio.timeout(timeout):
            await ready
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(sock.fileno())
