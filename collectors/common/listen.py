"""Binding a listener socket: UDP (with its receive buffer) or a listening TCP socket.

The engine binds collector sockets with this and passes them on (`collectors.common.inherited`);
a collector run on its own (tests, tools) binds with it too. Raises OSError as the kernel said.
"""

from __future__ import annotations

import socket

from collectors.common.udp import set_receive_buffer

TCP_BACKLOG = 512


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_socket(proto: str, host: str, port: int, receive_buffer: int = 0) -> tuple[socket.socket, int]:
    """(socket, receive buffer granted; 0 for TCP or when none was asked for). IPv6 sockets also
    take IPv4 (V6ONLY off), as "[::]:514" means everywhere."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
    granted = 0
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        if proto == "udp":
            if receive_buffer:
                granted = set_receive_buffer(sock, receive_buffer) // 2  # Linux reports twice what it was asked
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        if proto != "udp":
            sock.listen(TCP_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock, granted
