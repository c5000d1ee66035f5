"""Fast UDP receive: recvmmsg(2) through ctypes, many datagrams per system call.

A Python `recvfrom` costs a few microseconds per datagram; at 100,000 datagrams/s that alone is
a third of a core. recvmmsg fills up to `batch` pre-allocated buffers in one call, and the
lengths and sender addresses of a whole batch are read through memoryviews, not per datagram
through ctypes attributes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import os
import socket
import struct
from collections.abc import Callable
from typing import Final

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

MSG_WAITFORONE: Final = 0x10000
MSG_DONTWAIT: Final = 0x40
SO_RCVBUFFORCE: Final = 33  # asm-generic/socket.h; not exported by Python's socket module
SO_MEMINFO: Final = 55  # linux/sock_diag: per-socket memory info; index 8 is drops
SK_MEMINFO_DROPS: Final = 8


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(_Iovec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_libc.recvmmsg.argtypes = [
    ctypes.c_int,
    ctypes.POINTER(_Mmsghdr),
    ctypes.c_uint,
    ctypes.c_int,
    ctypes.POINTER(_Timespec),
]
_libc.recvmmsg.restype = ctypes.c_int

_NAME_LEN: Final = 28  # sizeof(struct sockaddr_in6), which also holds a sockaddr_in
# Each entry is `struct mmsghdr`: msg_len is one uint32 in every 16 (64 bytes on LP64).
_MMSG_U32: Final = ctypes.sizeof(_Mmsghdr) // 4
_MSG_LEN_U32: Final = _Mmsghdr.msg_len.offset // 4
# msg_len of an entry the kernel has not filled: no datagram is that long.
_UNFILLED: Final = 0xFFFFFFFF
MAX_BATCH: Final = 512  # the most datagrams one receive takes into shared headers


def headers_size(batch: int = MAX_BATCH) -> int:
    """Bytes of the receive headers (`struct mmsghdr` entries) for `batch` datagrams."""
    return batch * ctypes.sizeof(_Mmsghdr)


def unfill(headers: memoryview) -> None:
    """Mark every entry of shared `headers` unfilled (before any receiver used them)."""
    lengths = headers.cast("B").cast("I")[_MSG_LEN_U32::_MMSG_U32]
    for index in range(len(lengths)):
        lengths[index] = _UNFILLED


def taken(headers: memoryview) -> tuple[int, int]:
    """Datagrams (and their bytes) the kernel wrote into a receiver's shared `headers` that the
    receiver has not reported yet: read by its parent after the receiver died. The kernel sets
    each entry's msg_len as it dequeues that datagram, inside the receive call, and the
    receiver marks them all unfilled again as soon as it has reported them (`receive`)."""
    lengths = headers.cast("B").cast("I")[_MSG_LEN_U32::_MMSG_U32].tolist()
    filled = [length for length in lengths if length != _UNFILLED]
    return len(filled), sum(filled)


def _format_addr(raw: bytes) -> str:
    family = int.from_bytes(raw[0:2], "little")
    port = int.from_bytes(raw[2:4], "big")
    if family == socket.AF_INET:
        return f"{socket.inet_ntop(socket.AF_INET, raw[4:8])}:{port}"
    if family == socket.AF_INET6:
        host = socket.inet_ntop(socket.AF_INET6, raw[8:24])
        if host.startswith("::ffff:") and "." in host:
            return f"{host[7:]}:{port}"
        return f"[{host}]:{port}"
    return "unknown"


def set_receive_buffer(sock: socket.socket, size: int) -> int:
    """Ask for a receive buffer of `size` bytes; returns what the kernel granted.

    SO_RCVBUF is capped by net.core.rmem_max (212,992 bytes by default); as root,
    SO_RCVBUFFORCE is not, so the configured size is honoured without touching sysctls.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:  # not root (EPERM): the capped request is the best there is
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


class BatchReceiver:
    """Receives up to `batch` datagrams per call into buffers it owns. With `headers` (shared
    memory of `headers_size(batch)` bytes), the receive headers live there, so a parent can count
    what a receiver killed inside `recvmmsg` had taken (`taken`)."""

    def __init__(
        self,
        sock: socket.socket,
        batch: int = 256,
        max_datagram: int = 65535,
        timeout_s: float = 0.5,
        headers: memoryview | None = None,
    ) -> None:
        # A blocking fd with SO_RCVTIMEO: Python's own timeouts make the fd non-blocking, and a
        # non-blocking recvmmsg would spin. The timeout lets the loop notice it should stop.
        sock.settimeout(None)
        seconds = int(timeout_s)
        sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", seconds, int((timeout_s - seconds) * 1e6))
        )
        self._fd = sock.fileno()
        self._batch = batch
        # Anonymous memory is mapped page by page as the kernel writes into it: a slot big
        # enough for any datagram costs resident memory only for what datagrams really use.
        self._data = mmap.mmap(-1, batch * max_datagram)
        self._names = ctypes.create_string_buffer(batch * _NAME_LEN)
        self._iov = (_Iovec * batch)()
        if headers is not None:
            if len(headers) < headers_size(batch):
                raise ValueError(f"{len(headers)} bytes of shared headers cannot hold {batch} datagrams")
            self._msgs = (_Mmsghdr * batch).from_buffer(headers)
        else:
            self._msgs = (_Mmsghdr * batch)()
        base = ctypes.addressof(ctypes.c_char.from_buffer(self._data))
        names = ctypes.addressof(self._names)
        for i in range(batch):
            self._iov[i].iov_base = base + i * max_datagram
            self._iov[i].iov_len = max_datagram
            hdr = self._msgs[i].msg_hdr
            hdr.msg_name = names + i * _NAME_LEN
            hdr.msg_namelen = _NAME_LEN
            hdr.msg_iov = ctypes.pointer(self._iov[i])
            hdr.msg_iovlen = 1
            self._msgs[i].msg_len = _UNFILLED
        # The kernel overwrites msg_namelen and msg_len on every receive; a copy of the headers
        # as built here restores them all with one memmove after each call.
        self._pristine = bytes(self._msgs)
        self._lengths = memoryview(self._msgs).cast("B").cast("I")[_MSG_LEN_U32::_MMSG_U32]
        self._data_offsets = range(0, batch * max_datagram, max_datagram)
        self._name_offsets = range(0, batch * _NAME_LEN, _NAME_LEN)
        # The bytes of a sockaddr that tell senders apart: family, port and IPv4 address, or up
        # to the end of the IPv6 address.
        self._key_len = 8 if sock.family == socket.AF_INET else 24
        self._addr_cache: dict[bytes, str] = {}
        self.received_bytes = 0  # the size of what the last `receive` returned

    def receive(
        self, wait: bool = True, received: Callable[[int, int], None] | None = None
    ) -> tuple[list[bytes], list[str]]:
        """(datagrams, senders as "IP:PORT"). With `wait`, blocks for at least one datagram and
        returns empty lists after `timeout_s` without any; without, only takes what is queued.
        `received(count, bytes)` is told as soon as the kernel has handed datagrams over, before
        any of them is copied into Python objects: a process's crash accounting written there
        misses only what a kill -9 takes inside the system call."""
        flags = MSG_WAITFORONE if wait else MSG_DONTWAIT
        count = _libc.recvmmsg(self._fd, self._msgs, self._batch, flags, None)
        if count <= 0:
            self.received_bytes = 0
            err = ctypes.get_errno()
            if count == 0 or err in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                return [], []
            raise OSError(err, os.strerror(err))
        data = self._data
        lengths = self._lengths[:count].tolist()
        self.received_bytes = sum(lengths)  # one C-level sum per batch, for the crash accounting
        if received is not None:
            received(count, self.received_bytes)
        # Reported: unfilled again, so shared headers show only what a receive in progress took.
        ctypes.memmove(self._msgs, self._pristine, len(self._pristine))
        # An mmap slice is the datagram's bytes in one allocation (a memoryview slice took two).
        datagrams = [data[start : start + length] for start, length in zip(self._data_offsets, lengths, strict=False)]
        names = self._names.raw
        key_len = self._key_len
        cache = self._addr_cache
        keys = [names[start : start + key_len] for start in self._name_offsets[:count]]
        senders = [cache.get(key) or self._remember(key) for key in keys]
        return datagrams, senders

    def _remember(self, key: bytes) -> str:
        if len(self._addr_cache) > 100_000:
            self._addr_cache.clear()
        sender = self._addr_cache[key] = _format_addr(key)
        return sender


def kernel_drops(sock: socket.socket) -> int | None:
    """Datagrams the kernel dropped on this socket (receive buffer full), or None if unknown."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 9 * 4)
    except OSError:
        return None
    return int(struct.unpack("9I", raw[:36])[SK_MEMINFO_DROPS])
