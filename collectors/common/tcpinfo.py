"""What the kernel knows about a TCP connection (Linux TCP_INFO): how many bytes the peer sent.

A connection refused or dropped before we read from it (over the limit, a TLS handshake that
failed or stalled) still cost the sender bytes; the ledger accounts them from here.
"""

from __future__ import annotations

import socket
import struct
from typing import Protocol

# struct tcp_info (linux/tcp.h): tcpi_bytes_received, a u64, since Linux 4.1.
_BYTES_RECEIVED = struct.Struct("=Q")
_BYTES_RECEIVED_OFFSET = 128
_TCP_INFO_LEN = 256


class _Socket(Protocol):
    def getsockopt(self, level: int, optname: int, buflen: int, /) -> bytes: ...


def bytes_received(sock: _Socket | None) -> int:
    """Bytes the peer sent on this connection, read or not; 0 if the kernel cannot say."""
    if sock is None:
        return 0
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
    except (OSError, ValueError):
        return 0
    if len(raw) < _BYTES_RECEIVED_OFFSET + _BYTES_RECEIVED.size:
        return 0
    return int(_BYTES_RECEIVED.unpack_from(raw, _BYTES_RECEIVED_OFFSET)[0])
