"""`nocraven demo`: the engine on the embedded default and a simulated venue; a stopped engine
(the console's "Restart engine") is started again by the demo, and nothing is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.support.engine import NOCRAVEN

pytestmark = pytest.mark.integration


def test_the_demo_restarts_its_engine_and_stops_cleanly(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path))
    env.pop("NOCRAVEN_CONFIG", None)
    env.pop("NOCRAVEN_SOCKET", None)
    socket = tmp_path / "nocraven" / "control.sock"
    demo = subprocess.Popen(
        [NOCRAVEN, "demo", "--no-console", "--rate", "50"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )

    def status() -> dict[str, object] | None:
        result = subprocess.run(
            [NOCRAVEN, "--socket", str(socket), "status", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=10,
            check=False,
        )
        return json.loads(result.stdout) if result.stdout else None

    def wait_for(predicate: object, what: str, timeout: float = 40) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = status()
            if current is not None and predicate(current):  # type: ignore[operator]
                return current
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}")

    try:
        first = wait_for(lambda s: True, "the demo engine")
        assert first["supervisor"] == "demo"
        stop = subprocess.run(
            [NOCRAVEN, "--socket", str(socket), "engine", "--help"], capture_output=True, env=env, check=False
        )
        assert stop.returncode == 0
        from nocraven.client import Client

        with Client(socket) as client:
            client.stop_engine()
        second = wait_for(lambda s: s["pid"] != first["pid"], "the engine to come back")
        assert second["supervisor"] == "demo"
        children = psutil.Process(demo.pid).children(recursive=True)
        assert not [c for c in children if c.status() == psutil.STATUS_ZOMBIE]
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        _, stderr = demo.communicate(timeout=30)
    assert "Demo stopped." in stderr
    assert not socket.exists() or status() is None
