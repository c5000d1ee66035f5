"""Acknowledging a sender only once its data is on disk: the collector's side of the durability
handshake (RECORDS_DURABLE out, DURABLE back; see `channel.py`).

An SNMP INFORM is answered, and a Windows event batch gets its 200, only after the engine says
the records are committed: a crash after the answer then loses nothing the sender was told was
safe. A reader thread takes DURABLE frames from stdin and completes the waiting token; stdin at
its end means the engine is gone, and every waiter learns that nothing will be confirmed.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import struct
import threading
from collections.abc import Callable
from typing import Protocol

from collectors.common.channel import FrameDecoder, FrameKind

TOKEN = struct.Struct(">Q")

Callback = Callable[[bool], None]  # True: stored and committed; False: not stored


class FrameWriter(Protocol):
    """`Output.write`: a frame, and for records the bytes they took on the wire (RECEIVED)."""

    def __call__(self, kind: FrameKind, payload: bytes, /, *, received: int = 0) -> None: ...


def encode_durable(token: int, stored: bool) -> bytes:
    return TOKEN.pack(token) + (b"\x01" if stored else b"\x00")


def decode_durable(payload: bytes) -> tuple[int, bool]:
    (token,) = TOKEN.unpack_from(payload)
    return token, payload[TOKEN.size : TOKEN.size + 1] == b"\x01"


class Durability:
    """Tokens handed out with RECORDS_DURABLE frames, and what to call when each comes back."""

    def __init__(self, write: FrameWriter) -> None:
        self._write = write
        self._tokens = itertools.count(1)
        self._waiting: dict[int, Callback] = {}
        self._lock = threading.Lock()
        self.closed = False

    def send(self, ndjson: bytes, on_durable: Callback, received: int = 0) -> None:
        """Send records that must be confirmed (`received`: the bytes they took on the wire);
        `on_durable` runs on the reader thread."""
        with self._lock:
            if self.closed:
                on_durable(False)
                return
            token = next(self._tokens)
            self._waiting[token] = on_durable
        self._write(FrameKind.RECORDS_DURABLE, TOKEN.pack(token) + ndjson, received=received)

    async def store(self, ndjson: bytes, received: int = 0) -> bool:
        """The asyncio form: True once the engine committed the records, False if it cannot."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()

        def settle(stored: bool) -> None:
            if not done.done():
                done.set_result(stored)

        def finish(stored: bool) -> None:
            loop.call_soon_threadsafe(settle, stored)

        self.send(ndjson, finish, received)
        return await done

    def confirm(self, payload: bytes) -> None:
        token, stored = decode_durable(payload)
        with self._lock:
            callback = self._waiting.pop(token, None)
        if callback is not None:
            callback(stored)

    def close(self) -> None:
        """The engine is gone: nothing waiting will be confirmed."""
        with self._lock:
            self.closed = True
            waiting, self._waiting = self._waiting, {}
        for callback in waiting.values():
            callback(False)

    @property
    def pending(self) -> int:
        return len(self._waiting)


def read_engine_frames(fd: int, durability: Durability, on_end: Callable[[], None] | None = None) -> threading.Thread:
    """Start the thread that reads the engine's frames (after SETTINGS) from `fd`."""

    def run() -> None:
        decoder = FrameDecoder()
        try:
            while data := os.read(fd, 1 << 16):
                for kind, payload in decoder.feed(data):
                    if kind == FrameKind.DURABLE:
                        durability.confirm(payload)
        except OSError:
            pass
        finally:
            durability.close()
            if on_end is not None:
                on_end()

    thread = threading.Thread(target=run, name="engine-frames", daemon=True)
    thread.start()
    return thread
