"""Binding listener sockets in the engine, for a collector to inherit (`collectors.common.inherited`).

The engine holds every collector socket it binds for as long as the address stays the same: a
collector restarted after a crash is handed the same socket, with what the kernel queued for it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket

from collectors.common.listen import bind_socket, format_address
from collectors.common.settings import parse_listen
from nocraven.ports_in_use import holder_of

log = logging.getLogger("nocraven.ports")


class BindFailed(Exception):
    """One line naming the listener and the address, saying why and what to do."""

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_


def bound_address(sock: socket.socket, host: str) -> str:
    """The address as bound: the host as configured, the port the kernel gave (port 0)."""
    return format_address(host, sock.getsockname()[1])


def bind(key: str, proto: str, address: str, receive_buffer: int = 0) -> socket.socket:
    """A socket bound to `address` ("udp": datagram; "tcp": listening). `key` names the config
    key in errors ("syslog.udp")."""
    try:
        host, port = parse_listen(address)
    except ValueError as exc:
        raise BindFailed(f"{key} = {address!r}: {exc}") from None
    try:
        sock, granted = bind_socket(proto, host, port, receive_buffer)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            holder = holder_of(port, proto)
            raise BindFailed(
                f"{key} = {address!r}: cannot listen: port {port}/{proto} is in use{holder}; "
                "stop whatever holds it or choose another port",
                exc.errno,
            ) from None
        if exc.errno == errno.EACCES:
            raise BindFailed(
                f"{key} = {address!r}: cannot listen: ports below 1024 need root or CAP_NET_BIND_SERVICE",
                exc.errno,
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise BindFailed(
                f"{key} = {address!r}: cannot listen: {host} is not an address of this machine", exc.errno
            ) from None
        raise BindFailed(f"{key} = {address!r}: cannot listen: {reason}", exc.errno) from None
    if receive_buffer and granted < receive_buffer:
        log.warning(
            "%s: receive buffer is %d bytes, not the %d configured: net.core.rmem_max caps it for a process "
            "that is not root; raise that sysctl, or expect drops in bursts",
            key,
            granted,
            receive_buffer,
        )
    return sock


def close_quietly(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()
