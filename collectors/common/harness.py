"""The process harness every collector runs in: config from stdin, frames to stdout, clean stop.

The engine starts a collector as `python -m collectors.<name>.service`, writes its config as one
JSON document on stdin, and reads channel frames from its stdout. stderr is the collector's log.
A collector process dies with its engine (PR_SET_PDEATHSIG), so a listener port is never held
by an orphan.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import signal
import sys
import threading
from typing import Any

import msgspec

from collectors.common.channel import FrameKind, encode_frame

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:  # the engine died before prctl took effect
        sys.exit(0)


def read_config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads(sys.stdin.buffer.read() or b"{}")
    return config


def configure_logging(name: str) -> logging.Logger:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    return logging.getLogger(name)


class Output:
    """Thread-safe frame writer to the engine. A blocked pipe blocks the writer: backpressure
    reaches the receive loops, and the kernel counts what it then drops."""

    def __init__(self, fd: int = 1) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self._encoder = msgspec.json.Encoder()
        self.broken = False

    def write(self, kind: FrameKind, payload: bytes) -> None:
        frame = encode_frame(kind, payload)
        with self._lock:
            view = memoryview(frame)
            try:
                while view:
                    written = os.write(self._fd, view)
                    view = view[written:]
            except (BrokenPipeError, OSError):
                # The engine is gone; the process will be stopped, nothing more to deliver.
                self.broken = True

    def records(self, lines: list[bytes]) -> None:
        if lines:
            self.write(FrameKind.RECORDS, b"\n".join(lines))

    def json(self, kind: FrameKind, value: Any) -> None:
        self.write(kind, self._encoder.encode(value))
