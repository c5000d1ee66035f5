"""Live port changes and crash-kept sockets for flow, snmptrap and winevents (issue 17 item 5, as
syslog has them in test_ports_live): a move under a steady bounded load loses nothing (sent equals
stored), the config file holds the new address, and a kill -9 of the collector keeps the port:
what is sent while it is down waits in the kernel for the next one."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from collectors.snmptrap import ber
from collectors.snmptrap.compose import v2c_notification
from nocraven.client import Client
from tests.support import flowpackets as fp
from tests.support.abuse import collector_pid
from tests.support.engine import RunningEngine, start_engine
from tests.support.load import UdpLoad
from tests.support.snmptrap import IF_DESCR_3, LINK_DOWN, marker, trap_address, trap_config
from tests.support.winevents import CANONICAL, generic
from tests.support.winevents_live import NDJSON, LiveEndpoint, start_live, wait_for_listener
from tests.support.winevents_server import DC01_SECRET

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


def listener_address(engine: RunningEngine, service: str, listener: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    component: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = json.loads(engine.cli("status", "--json").stdout or "{}")
        component = status.get("components", {}).get(service, {})
        for bound in component.get("detail", {}).get("listeners", []):
            if bound["listener"] == listener and component.get("state") == "running":
                return str(bound["address"])
        time.sleep(0.3)
    raise AssertionError(f"{service}.{listener} is not listening: {component}\n{engine.log()[-2000:]}")


def export(engine: RunningEngine, service: str, out: Path) -> list[dict[str, Any]]:
    result = engine.cli("buffer", "export", "--service", service, "--out", str(out), timeout=120)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in out.read_bytes().split(b"\n") if line.strip()]


def wait_stored(read: Callable[[], set[str]], sent: list[str], timeout: float = 40) -> set[str]:
    deadline = time.monotonic() + timeout
    while True:
        stored = read()
        if set(sent) <= stored or time.monotonic() > deadline:
            return stored
        time.sleep(1.0)


def change(engine: RunningEngine, name: str, address: str) -> None:
    with Client(engine.socket, timeout=30) as client:  # the API the CLI calls, without its start-up time
        changed = client.ports_set(name, address)
    assert changed.applied and changed.persisted and changed.address == address, changed


def move_under_load(engine: RunningEngine, name: str, load: UdpLoad, new_port: int) -> int:
    load.start()
    time.sleep(2.0)
    change(engine, name, f"127.0.0.1:{new_port}")
    load.port = new_port  # the call returned: the new socket is bound and served
    switched_at = len(load.sent)
    load.join()
    assert 0 < switched_at < len(load.sent)
    return switched_at


def kill_collector(engine: RunningEngine, module: str) -> int:
    pid = collector_pid(engine, module)
    os.kill(pid, signal.SIGKILL)
    return pid


def wait_restarted(engine: RunningEngine, module: str, killed: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if collector_pid(engine, module) != killed:
                return
        except AssertionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{module} was not restarted:\n{engine.log()[-2000:]}")


# ---- flow ---------------------------------------------------------------------------------------


def netflow_maker(run: int) -> Callable[[int], tuple[bytes, str]]:
    """One v5 flow a datagram; its source address marks the run, its byte count the datagram."""
    src = f"10.{run >> 8 & 255}.{run & 255}.9"

    def make(i: int) -> tuple[bytes, str]:
        return fp.netflow_v5([fp.Flow(src=src, bytes=i + 1)], sequence=i), f"{src}/{i + 1}"

    return make


def flow_keys(engine: RunningEngine, out: Path) -> set[str]:
    return {f"{r.get('src_addr')}/{r.get('bytes')}" for r in export(engine, "flow", out)}


def test_flow_netflow_moves_live_under_load_and_keeps_its_socket_when_killed(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "engine", '[flow]\nnetflow = "127.0.0.1:0"\nudp_workers = 2\n', wait=60)
    try:
        engine.config_path.write_text("# flow from the venue's core switch\n" + engine.config_path.read_text())
        old_port = port_of(listener_address(engine, "flow", "netflow"))
        new_port = free_port(socket.SOCK_DGRAM)
        load = UdpLoad(netflow_maker(random.randrange(1, 60000)), old_port, rate=1000, seconds=6.0)
        move_under_load(engine, "flow.netflow", load, new_port)
        out = tmp_path / "flow.ndjson"
        stored = wait_stored(lambda: flow_keys(engine, out), load.sent)
        missing = [key for key in load.sent if key not in stored]
        assert not missing, f"{len(missing)} of {len(load.sent)} flows lost, first {missing[:5]}"
        text = engine.config_path.read_text()
        assert f'netflow = "127.0.0.1:{new_port}"' in text and text.startswith("# flow from the venue")

        # kill -9: the engine keeps the new socket; what is sent meanwhile waits in the kernel.
        killed = kill_collector(engine, "collectors.flow.service")
        time.sleep(0.3)  # its UDP workers die with it (what they held in memory goes with them)
        during = UdpLoad(netflow_maker(random.randrange(1, 60000)), new_port, rate=500, seconds=1.0)
        during.start()
        during.join()
        wait_restarted(engine, "collectors.flow.service", killed)
        assert port_of(listener_address(engine, "flow", "netflow")) == new_port
        stored = wait_stored(lambda: flow_keys(engine, out), during.sent)
        missing = [key for key in during.sent if key not in stored]
        assert not missing, f"{len(missing)} of {len(during.sent)} sent while the collector was down were lost"
    finally:
        engine.stop()


# ---- snmptrap -----------------------------------------------------------------------------------


def trap_maker(run: str) -> Callable[[int], tuple[bytes, str]]:
    def make(i: int) -> tuple[bytes, str]:
        text = f"{run}-{i}"
        varbinds = [(IF_DESCR_3, ber.OCTET_STRING, text.encode())]
        return v2c_notification("public", LINK_DOWN, varbinds, request_id=i + 1), text

    return make


def trap_markers(engine: RunningEngine, out: Path) -> set[str]:
    return {m for r in export(engine, "trap", out) if (m := marker(r))}


def test_snmptrap_moves_live_under_load_and_keeps_its_socket_when_killed(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "engine", trap_config(), wait=60)
    try:
        old_port = port_of(trap_address(engine))
        new_port = free_port(socket.SOCK_DGRAM)
        load = UdpLoad(trap_maker(f"m{uuid.uuid4().hex[:8]}"), old_port, rate=500, seconds=6.0)
        move_under_load(engine, "snmptrap.udp", load, new_port)
        out = tmp_path / "traps.ndjson"
        stored = wait_stored(lambda: trap_markers(engine, out), load.sent)
        missing = [text for text in load.sent if text not in stored]
        assert not missing, f"{len(missing)} of {len(load.sent)} traps lost, first {missing[:5]}"
        assert f'udp = "127.0.0.1:{new_port}"' in engine.config_path.read_text()

        # kill -9 and send at once: the restarted collector loads its MIBs (seconds) meanwhile.
        killed = kill_collector(engine, "collectors.snmptrap.service")
        during = UdpLoad(trap_maker(f"k{uuid.uuid4().hex[:8]}"), new_port, rate=200, seconds=1.0)
        during.start()
        during.join()
        wait_restarted(engine, "collectors.snmptrap.service", killed)
        assert port_of(trap_address(engine)) == new_port
        stored = wait_stored(lambda: trap_markers(engine, out), during.sent, timeout=90)
        missing = [text for text in during.sent if text not in stored]
        assert not missing, f"{len(missing)} of {len(during.sent)} sent while the collector was down were lost"
    finally:
        engine.stop()


# ---- winevents ----------------------------------------------------------------------------------


def post(http: httpx.Client, computer: str, first: int, count: int) -> list[str]:
    """A batch of `count` events from `computer`; the keys of those acknowledged (200)."""
    events = [
        generic(replace(CANONICAL[i % len(CANONICAL)], computer=computer, record_id=i))
        for i in range(first, first + count)
    ]
    body = b"".join(json.dumps(event).encode() + b"\n" for event in events)
    reply = http.post(
        "/v1/events", content=body, headers={"Authorization": f"Bearer {DC01_SECRET}", "Content-Type": NDJSON}
    )
    assert reply.status_code == 200, (reply.status_code, reply.text)
    return [f"{computer}/{i}" for i in range(first, first + count)]


def client_for(live: LiveEndpoint, port: int) -> httpx.Client:
    return httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=live.client_ssl(), timeout=20)


def event_keys(engine: RunningEngine, out: Path) -> set[str]:
    return {f"{r.get('computer')}/{r.get('record_id')}" for r in export(engine, "winevent", out)}


def test_winevents_moves_live_under_load_and_keeps_its_socket_when_killed(tmp_path: Path) -> None:
    live = start_live(tmp_path / "engine")
    engine = live.engine
    try:
        old_port = port_of(live.address)
        new_port = free_port(socket.SOCK_STREAM)
        computer = f"MOVE-{uuid.uuid4().hex[:6]}"
        sent: list[str] = []
        port = old_port
        stop_at = time.monotonic() + 6.0
        errors: list[BaseException] = []

        def agent() -> None:
            nonlocal port
            batch = 0
            http = client_for(live, port)
            try:
                while time.monotonic() < stop_at:
                    if port != int(http.base_url.port or 0):
                        # The keep-alive connection to the old port still works: one more on it.
                        sent.extend(post(http, computer, batch * 20, 20))
                        batch += 1
                        http.close()
                        http = client_for(live, port)
                    sent.extend(post(http, computer, batch * 20, 20))
                    batch += 1
                    time.sleep(0.02)
            finally:
                http.close()

        def run() -> None:
            try:
                agent()
            except BaseException as exc:  # reported by the test below
                errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        time.sleep(2.0)
        change(engine, "winevents.listen", f"127.0.0.1:{new_port}")
        switched_at = len(sent)
        port = new_port
        thread.join(30)
        assert not errors, errors
        assert 0 < switched_at < len(sent)
        out = tmp_path / "events.ndjson"
        stored = wait_stored(lambda: event_keys(engine, out), sent)
        missing = [key for key in sent if key not in stored]
        assert not missing, f"{len(missing)} of {len(sent)} acknowledged events not stored, first {missing[:5]}"
        assert f'listen = "127.0.0.1:{new_port}"' in engine.config_path.read_text()
        time.sleep(2.5)  # the old listener's drain time is over: it is closed
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            assert probe.connect_ex(("127.0.0.1", old_port)) != 0

        # kill -9: a connection made while the collector is down waits in the engine's listen
        # queue and is served by the next collector.
        killed = kill_collector(engine, "collectors.winevents.service")
        down = f"DOWN-{uuid.uuid4().hex[:6]}"
        with client_for(live, new_port) as http:
            acknowledged = post(http, down, 1, 5)
        wait_restarted(engine, "collectors.winevents.service", killed)
        assert port_of(wait_for_listener(engine)) == new_port
        stored = wait_stored(lambda: event_keys(engine, out), acknowledged)
        assert set(acknowledged) <= stored
    finally:
        engine.stop()
