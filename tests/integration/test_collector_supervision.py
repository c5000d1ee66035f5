"""A collector that dies is restarted with backoff and reported; the engine stays up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from typing import Any

import psutil
import pytest

from tests.support.engine import RunningEngine
from tests.support.syslog import find, listener_port, wait_for_syslog, with_message

pytestmark = pytest.mark.integration


def syslog_state(engine: RunningEngine) -> dict[str, Any]:
    return json.loads(engine.cli("status", "--json").stdout)["components"]["syslog"]


def collector_pid(engine: RunningEngine) -> int:
    children = psutil.Process(engine.proc.pid).children()
    return next(c.pid for c in children if "collectors.syslog.service" in " ".join(c.cmdline()))


def test_a_killed_collector_is_restarted_and_reported(engine: RunningEngine) -> None:
    os.kill(collector_pid(engine), signal.SIGKILL)
    deadline = time.monotonic() + 20
    state = syslog_state(engine)
    while time.monotonic() < deadline:
        state = syslog_state(engine)
        if state["restarts"] >= 1 and state["state"] == "running":
            break
        time.sleep(0.2)
    assert state["state"] == "running" and state["restarts"] == 1
    assert "exited with code -9" in state["last_error"]
    assert "crashed" in engine.log() or "exited" in engine.log()
    text = f"after restart {uuid.uuid4().hex}"
    subprocess.run(["logger", "-n", "127.0.0.1", "-P", str(listener_port(engine, "udp")), "-d", text], check=True)
    assert find(wait_for_syslog(engine, with_message(text)), text)["message"] == text
    assert engine.proc.poll() is None
