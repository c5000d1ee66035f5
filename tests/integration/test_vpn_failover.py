"""The VPN supervisor against two real openvpn servers on loopback (`--dev null`, no root).

Connects the top-priority profile by itself, fails over when that server is killed -9, fails
back after the hold-down once it is restored, and reconnects the same profile after its own
restart."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from nocraven.schema.events import Event
from nocraven.schema.vpn import VpnConnected, VpnDisconnected, VpnHealthDegraded, VpnProbed
from nocraven.vpn.settings import VpnSettings
from nocraven.vpn.store import ProfileStore
from nocraven.vpn.supervisor import ProbeResult, TunnelInfo, VpnSupervisor
from tests.support.vpn_pki import client_profile, issue, make_pki
from tests.support.vpn_servers import OpenVpnServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("openvpn") is None, reason="needs Debian's openvpn (scripts/debian-packages.txt)"),
]

FAST = VpnSettings(
    ping_s=1,
    ping_restart_s=4,
    connect_timeout_s=6,
    holddown_s=4,
    standby_interval_s=1,
    max_attempts=2,
    cooldown_s=2,
    cooldown_max_s=8,
)


@dataclass
class Lab:
    data: Path
    store: ProfileStore
    primary: OpenVpnServer
    backup: OpenVpnServer
    events: list[Event]

    def supervisor(self) -> VpnSupervisor:
        return VpnSupervisor(self.store, FAST, self.data, self.events.append)


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    pki = make_pki()
    primary = OpenVpnServer(pki, tmp_path / "primary").start()
    backup = OpenVpnServer(pki, tmp_path / "backup").start()
    store = ProfileStore(tmp_path / "data")
    for name, server, priority in (("noc-a", primary, 10), ("noc-b", backup, 20)):
        text = client_profile(pki, [("127.0.0.1", server.port)], extra="explicit-exit-notify 1\n")
        store.import_text(text, name=name, priority=priority)
    try:
        yield Lab(tmp_path / "data", store, primary, backup, [])
    finally:
        primary.stop()
        backup.stop()


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def connected_to(supervisor: VpnSupervisor, name: str) -> Callable[[], bool]:
    return lambda: supervisor.status().active == name and supervisor.status().state == "connected"


async def test_connects_fails_over_fails_back_and_restores(lab: Lab) -> None:
    supervisor = lab.supervisor()
    await supervisor.start()
    try:
        await wait_for(connected_to(supervisor, "noc-a"), 20, "the top-priority profile to connect")
        assert any(isinstance(e, VpnConnected) and e.profile == "noc-a" for e in lab.events)

        lab.primary.kill9()
        failover = await wait_for(connected_to(supervisor, "noc-b"), 30, "failover to noc-b")
        history = supervisor.history()
        dropped = next(h for h in history if h.profile == "noc-a" and h.reason_ended)
        assert "noc-a" in (history[0].reason_started or "") or dropped.reason_ended

        lab.primary.start()
        restored_at = time.monotonic()
        await wait_for(connected_to(supervisor, "noc-a"), 40, "fail-back to noc-a")
        # Not before the primary had passed standby checks for the whole hold-down.
        assert time.monotonic() - restored_at >= FAST.holddown_s
        assert failover < 30
    finally:
        await supervisor.stop()

    again = lab.supervisor()
    await again.start()
    try:
        await wait_for(connected_to(again, "noc-a"), 20, "the restarted supervisor to reconnect noc-a")
        assert "restor" in again.history()[0].reason_started
    finally:
        await again.stop()


async def test_restart_restores_the_manual_override(lab: Lab) -> None:
    supervisor = lab.supervisor()
    await supervisor.start()
    try:
        await wait_for(connected_to(supervisor, "noc-a"), 20, "noc-a")
        supervisor.connect("noc-b")
        await wait_for(connected_to(supervisor, "noc-b"), 20, "the manual switch to noc-b")
        await asyncio.sleep(FAST.holddown_s + 2)  # an override is never failed back
        assert supervisor.status().active == "noc-b"
    finally:
        await supervisor.stop()
    again = lab.supervisor()
    await again.start()
    try:
        await wait_for(connected_to(again, "noc-b"), 40, "noc-b after the restart")
        assert again.status().mode == "manual"
        again.auto()
        await wait_for(connected_to(again, "noc-a"), 30, "fail-back to noc-a once automatic")
    finally:
        await again.stop()


async def test_failing_probe_fails_over(lab: Lab) -> None:
    sick: set[str] = set()

    async def probe(tunnel: TunnelInfo) -> ProbeResult:
        return ProbeResult(tunnel.profile not in sick, 1.0)

    settings = dataclasses.replace(FAST, probe_interval_s=0.5, failure_threshold=3, holddown_s=3600)
    supervisor = VpnSupervisor(lab.store, settings, lab.data, lab.events.append, probe=probe)
    await supervisor.start()
    try:
        await wait_for(connected_to(supervisor, "noc-a"), 20, "noc-a")
        await wait_for(lambda: any(isinstance(e, VpnProbed) for e in lab.events), 10, "a probe result")
        sick.add("noc-a")
        await wait_for(connected_to(supervisor, "noc-b"), 20, "failover on probe failures")
        assert any(isinstance(e, VpnHealthDegraded) and e.profile == "noc-a" for e in lab.events)
        dropped = next(h for h in supervisor.history() if h.profile == "noc-a")
        assert dropped.reason_ended is not None and "probe failed 3 times" in dropped.reason_ended
        assert supervisor.memory.probes("noc-a", 0)[-1][1] is False
    finally:
        await supervisor.stop()


async def test_server_certificate_without_server_usage_is_named(tmp_path: Path) -> None:
    pki = make_pki()
    pki.server = issue(pki.ca, "not-a-server", "")  # no key usage, no TLS server usage
    server = OpenVpnServer(pki, tmp_path / "server").start()
    store = ProfileStore(tmp_path / "data")
    store.import_text(client_profile(pki, [("127.0.0.1", server.port)]), name="noc")
    events: list[Event] = []
    supervisor = VpnSupervisor(store, FAST, tmp_path / "data", events.append)
    await supervisor.start()
    try:
        reason = lambda: " ".join(e.reason for e in events if isinstance(e, VpnDisconnected))  # noqa: E731
        await wait_for(lambda: "TLS server usage" in reason(), 30, "the usage refusal to be reported")
        assert supervisor.status().state != "connected"
    finally:
        await supervisor.stop()
        server.stop()


async def test_one_profile_with_two_remotes_skips_the_dead_one(lab: Lab) -> None:
    """openvpn alone retries a remote that just died; the supervisor answers `remote SKIP`."""
    pki_text = lab.store.export("noc-a")
    both = pki_text.replace(
        f"remote 127.0.0.1 {lab.primary.port} udp",
        f"remote 127.0.0.1 {lab.primary.port} udp\nremote 127.0.0.1 {lab.backup.port} udp",
    )
    lab.store.remove("noc-a")
    lab.store.remove("noc-b")
    lab.store.import_text(both, name="noc", priority=1)
    supervisor = lab.supervisor()
    await supervisor.start()
    try:
        await wait_for(connected_to(supervisor, "noc"), 20, "the profile to connect")
        assert supervisor.status().remote.endswith(f":{lab.primary.port}")
        lab.primary.kill9()
        await wait_for(
            lambda: supervisor.status().remote.endswith(f":{lab.backup.port}") and connected_to(supervisor, "noc")(),
            30,
            "the second remote",
        )
        assert supervisor.status().remotes_skipped >= 1
    finally:
        await supervisor.stop()


CRASHING_MANAGER = """
import asyncio, sys, time
from pathlib import Path
from nocraven.vpn.store import ProfileStore
from nocraven.vpn.supervisor import VpnSupervisor
from tests.integration.test_vpn_failover import FAST

async def main() -> None:
    data = Path(sys.argv[1])
    supervisor = VpnSupervisor(ProfileStore(data), FAST, data)
    await supervisor.start()
    supervisor.connect("noc-b")
    deadline = time.monotonic() + 40
    while not (supervisor.status().active == "noc-b" and supervisor.status().state == "connected"):
        if time.monotonic() > deadline:
            sys.exit("never connected")
        await asyncio.sleep(0.05)
    print("connected", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_killed_manager_leaves_no_openvpn_and_its_restart_reconnects(lab: Lab) -> None:
    manager = subprocess.Popen(
        [sys.executable, "-c", CRASHING_MANAGER, str(lab.data)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert manager.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(manager.stdout.readline), 50)
        assert line.strip() == b"connected"
        children = psutil.Process(manager.pid).children(recursive=True)
        assert any("openvpn" in child.name() for child in children)
        manager.kill()
        manager.wait(5)
        _, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, f"openvpn outlived its manager: {alive}"
    finally:
        if manager.poll() is None:
            manager.kill()
            manager.wait(5)
    supervisor = lab.supervisor()
    await supervisor.start()
    try:
        await wait_for(connected_to(supervisor, "noc-b"), 40, "the same profile after the crash")
        assert supervisor.status().mode == "manual"
        assert supervisor.history()[1].reason_ended == "the manager stopped"
    finally:
        await supervisor.stop()
