"""`nocraven demo` for real: the engine, the simulated venue and the local NOC, all started and
all stopped by the demo, on ports the kernel picks so parallel runs do not collide."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from nocraven.client import Client, EngineUnreachable
from nocraven.errors import ApiError
from tests.support.engine import NOCRAVEN

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

HAS_NATS = shutil.which("nats-server") is not None or os.access("/usr/sbin/nats-server", os.X_OK)
SERVICES = ("syslog", "flow", "trap", "winevent")


def demo_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOCRAVEN_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")  # the embedded default's data dir and socket
    return env


class Family:
    """Every process the demo starts, seen while it runs (by pid and start time: pids get reused)."""

    def __init__(self, root: subprocess.Popen[bytes]) -> None:
        self.root = psutil.Process(root.pid)
        self.seen: dict[int, float] = {}
        self.commands: set[str] = set()

    def look(self) -> None:
        try:
            for child in self.root.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    self.seen[child.pid] = child.create_time()
                    self.commands.add(" ".join(child.cmdline()))
        except psutil.NoSuchProcess:
            pass

    def left_over(self) -> list[str]:
        left = []
        for pid, started in self.seen.items():
            try:
                proc = psutil.Process(pid)
                if proc.create_time() == started and proc.status() != psutil.STATUS_ZOMBIE:
                    left.append(f"{pid} {' '.join(proc.cmdline())[:120]}")
            except psutil.NoSuchProcess:
                continue
        return left

    def names(self) -> set[str]:
        return self.commands


def wait_gone(family: Family, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    left = family.left_over()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = family.left_over()
    return left


def test_headless_demo_feeds_every_service_and_the_noc_then_leaves_nothing_behind(tmp_path: Path) -> None:
    argv = [NOCRAVEN, "demo", "--headless", "--duration", "30", "--any-ports", "--rate", "100"]
    argv += ["--outage-every", "10", "--outage-for", "4", "--json"]
    proc = subprocess.Popen(argv, env=demo_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    family = Family(proc)
    try:
        deadline = time.monotonic() + 90
        while proc.poll() is None and time.monotonic() < deadline:
            family.look()
            time.sleep(0.3)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = err.decode(errors="replace")
    assert proc.returncode == 0, stderr
    summary = json.loads(out)
    records = summary["records"]
    for service in SERVICES:
        assert records.get(service, 0) > 0, f"no {service} records: {records}\n{stderr}"
    commands = family.names()
    assert any("nocraven.simulate.venue" in c for c in commands), commands
    if HAS_NATS:
        noc = summary["noc"]
        assert noc["outages"] >= 1, noc
        assert "NOC went away" in stderr and "NOC is back" in stderr, stderr
        subjects = noc["subjects"]
        for service in SERVICES:
            assert subjects.get(f"nocraven.demo-venue.{service}", 0) > 0, f"NOC got no {service}: {subjects}"
        sink = summary["forward"]["sinks"][0]
        assert sink["delivered_records"] > 0, sink
    assert wait_gone(family) == [], "processes left after the demo"


def running_demo(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Family, Path]:
    """A headless demo whose engine answers and whose venue and NOC are running."""
    env = demo_env(tmp_path)
    socket_path = tmp_path / "state" / "nocraven" / "control.sock"
    argv = [NOCRAVEN, "demo", "--headless", "--any-ports", "--rate", "50"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    family = Family(proc)
    try:
        deadline = time.monotonic() + 60
        ready = False
        while not ready and time.monotonic() < deadline and proc.poll() is None:
            family.look()
            try:
                with Client(socket_path, timeout=5.0) as client:
                    ready = client.status() is not None
            except (EngineUnreachable, ApiError):  # not up yet, or too busy starting to answer
                time.sleep(0.3)
        assert ready, "the demo engine never answered"
        deadline = time.monotonic() + 90  # the venue starts once the engine's listeners are bound
        while not any("nocraven.simulate.venue" in c for c in family.names()) and time.monotonic() < deadline:
            family.look()
            time.sleep(0.3)
        assert any("nocraven.simulate.venue" in c for c in family.names()), family.names()
        if HAS_NATS:
            assert any("nats-server" in c for c in family.names())
        family.look()  # the engine's collectors too
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, family, socket_path


def test_ctrl_c_stops_the_engine_the_venue_and_the_noc(tmp_path: Path) -> None:
    proc, family, socket_path = running_demo(tmp_path)
    try:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    assert wait_gone(family) == [], "processes left after Ctrl-C"
    with pytest.raises(EngineUnreachable), Client(socket_path, timeout=1.0) as client:
        client.status()


def test_a_demo_killed_outright_takes_its_engine_venue_and_noc_along(tmp_path: Path) -> None:
    """SIGKILL gives the demo no chance to stop anything: its children must go by themselves
    (parent-death signal), or they keep the ports and the next demo cannot start."""
    proc, family, _ = running_demo(tmp_path)
    proc.kill()
    proc.wait()
    assert wait_gone(family, timeout=30) == [], "processes left after the demo was killed"
