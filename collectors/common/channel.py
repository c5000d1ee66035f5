"""The channel from a collector process to the engine: typed, length-prefixed frames on a pipe.

Sans-IO: `encode_frame` and `FrameDecoder` only turn frames into bytes and back; the collector
writes them to its stdout, the engine reads them from the child's pipe.

Frame: 1 byte kind, 4 bytes big-endian payload length, payload. The payloads are typed in
`collectors.common.frames` (JSON on the wire):
- RECORDS: NDJSON, one encoded record a line (the buffer stores these bytes as they are)
- COUNTERS: `frames.Counters`, the collector's counters (sent about once a second)
- DROPS: a list of `frames.Drop`, for the drop ledger
- READY: `frames.Ready`, the listeners as bound (sent once)
- LOG: `frames.LogLine`, a line for the engine's log
- RECEIVED: 8 bytes, big-endian: how many bytes the records of the next RECORDS or
  RECORDS_DURABLE frame took on the wire (datagrams, stream bytes with their framing, request
  bodies), for the buffer's received bytes. Written in the same write as that frame (`Output`),
  so no other frame comes between; a records frame without one received 0 bytes. A frame of
  its own rather than a prefix: the records frames stay bare, and the engine stores their
  payload as it was decoded, without cutting a prefix off (a copy of every chunk).
- RECORDS_DURABLE: an 8-byte token, then NDJSON as in RECORDS; the engine answers on the
  collector's stdin with DURABLE once those records (and all before them) are committed to disk
  (`collectors.common.durable`), so a collector can acknowledge its sender only then.
- DETAIL: a collector's own report beyond the common counters, typed by a Struct of its own
  module (flow: `collectors.flow.report.FlowReport`, traps: `collectors.snmptrap.report.TrapReport`);
  the engine part of that collector decodes it. Flow also uses it between a UDP worker and its
  collector's main process, both ways.

From the engine to the collector, on the collector's stdin:
- SETTINGS: the collector's settings object (its `settings.py`), first and once
- DURABLE: the 8-byte token, then one byte: 1 stored and committed, 0 not stored (no buffer)
"""

from __future__ import annotations

import struct
from enum import IntEnum

_HEADER = struct.Struct(">BI")
RECEIVED_BYTES = struct.Struct(">Q")  # the RECEIVED payload
MAX_FRAME = 64 * 1024 * 1024


class FrameKind(IntEnum):
    RECORDS = 1
    COUNTERS = 2
    DROPS = 3
    READY = 4
    LOG = 5
    RECORDS_DURABLE = 6
    SETTINGS = 7
    DURABLE = 8
    DETAIL = 9
    RECEIVED = 10


class ChannelError(Exception):
    """The byte stream is not a channel (a bug, or something else wrote to the pipe)."""


def encode_frame(kind: FrameKind, payload: bytes) -> bytes:
    return _HEADER.pack(kind, len(payload)) + payload


def received_prefix(received: int) -> bytes:
    """The whole RECEIVED frame that goes before a records frame whose records took
    `received` bytes on the wire."""
    return _HEADER.pack(FrameKind.RECEIVED, RECEIVED_BYTES.size) + RECEIVED_BYTES.pack(received)


def frame_header(kind: FrameKind, length: int) -> bytes:
    """The header of a frame whose payload of `length` bytes is written after it."""
    return _HEADER.pack(kind, length)


class FrameDecoder:
    """Frames out of a byte stream cut anywhere. Each payload is copied once: a frame inside
    one `feed` is cut straight from it; a frame spread over several (a multi-MiB RECORDS
    frame arrives in 256 KiB pipe reads) keeps views of its parts and joins them once complete,
    rather than growing a buffer with every read and copying the payload out of it again."""

    def __init__(self) -> None:
        self._head = bytearray()  # the start of a header not complete yet
        self._kind: FrameKind | None = None  # the frame whose payload is being gathered
        self._length = 0
        self._parts: list[bytes | memoryview] = []
        self._have = 0

    @property
    def pending(self) -> int:
        """Bytes received that do not make a whole frame yet."""
        return len(self._head) + (_HEADER.size + self._have if self._kind is not None else 0)

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[FrameKind, bytes]]:
        frames: list[tuple[FrameKind, bytes]] = []
        view = memoryview(data)
        # Views of `data` may be kept until a frame completes only when nobody can change it.
        keep_views = isinstance(data, bytes)
        offset, size = 0, len(view)
        while offset < size:
            if self._kind is None:
                if self._head or size - offset < _HEADER.size:
                    take = min(_HEADER.size - len(self._head), size - offset)
                    self._head += view[offset : offset + take]
                    offset += take
                    if len(self._head) < _HEADER.size:
                        break
                    kind, length = _HEADER.unpack(self._head)
                    self._head.clear()
                else:
                    kind, length = _HEADER.unpack_from(view, offset)
                    offset += _HEADER.size
                if length > MAX_FRAME or kind not in _KINDS:
                    raise ChannelError(f"bad frame header (kind {kind}, length {length})")
                if size - offset >= length:  # the whole payload is here: one copy
                    frames.append((_KINDS[kind], view[offset : offset + length].tobytes()))
                    offset += length
                    continue
                self._kind, self._length = _KINDS[kind], length
            take = min(self._length - self._have, size - offset)
            part = view[offset : offset + take]
            self._parts.append(part if keep_views else part.tobytes())
            self._have += take
            offset += take
            if self._have == self._length:
                frames.append((self._kind, b"".join(self._parts)))
                self._kind, self._parts, self._have = None, [], 0
        return frames


_KINDS = {kind.value: kind for kind in FrameKind}
