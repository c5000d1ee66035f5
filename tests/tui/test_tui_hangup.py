"""The real console on a pseudo-terminal that disappears without a SIGHUP: it leaves."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from nocraven_tui.terminal import hung_up
from tests.support.engine import RunningEngine

ROOT = Path(__file__).resolve().parents[2]


def test_hung_up_tells_an_open_terminal_from_a_closed_one() -> None:
    master, slave = os.openpty()
    try:
        assert not hung_up(slave)
        os.close(master)
        assert hung_up(slave)
    finally:
        os.close(slave)
    assert hung_up(slave)  # no longer open at all


def read_until(master: int, marker: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        if select.select([master], [], [], 0.1)[0]:
            seen += os.read(master, 65536)
    return seen


def test_the_console_leaves_when_its_terminal_is_closed_without_a_hangup_signal(
    shared_engine: RunningEngine,
) -> None:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "NOCRAVEN_SOCKET": str(shared_engine.socket), "LANG": "C.UTF-8"}
    # Its own session, so the pty is not its controlling terminal: closing the master sends no
    # SIGHUP, as with a harness or a web terminal that goes away.
    console = subprocess.Popen(
        [sys.executable, "-m", "nocraven_tui"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    os.close(slave)
    try:
        assert b"engine up" in read_until(master, b"engine up", 30.0), "the console never showed the engine"
        os.close(master)
        master = -1
        # Before the fix it spun a core on end-of-file forever; now it notices within a second
        # and ends as a hangup would have ended it.
        assert console.wait(timeout=30) == -signal.SIGHUP
    finally:
        if master >= 0:
            os.close(master)
        if console.poll() is None:
            console.kill()
            console.wait()
