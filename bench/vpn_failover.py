"""VPN failover benchmark: seconds from the primary server's death (kill -9) to the backup being
connected, for NoC Raven's supervisor and, in the same run, plain `openvpn` given both remotes.

Two real peer-to-peer TLS openvpn servers on 127.0.0.1 (`--dev null`, no root); the servers ping
every second. Both clients get the same detection timers (ping 1, ping-restart as --ping-restart)
so the difference is what happens after the drop is seen: plain openvpn retries the dead remote
before moving on, the supervisor answers `remote SKIP` / switches profile at once.
"Connected" is openvpn's CONNECTED state (`Initialization Sequence Completed`); with `--dev null`
there is no data path to time beyond that.

Prints one JSON document. Usage: python bench/vpn_failover.py [--runs N] [--ping-restart S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nocraven.schema.events import Event
from nocraven.schema.vpn import VpnConnected
from nocraven.vpn.settings import VpnSettings
from nocraven.vpn.store import ProfileStore
from nocraven.vpn.supervisor import VpnSupervisor
from tests.support.vpn_pki import TestPki, client_profile, make_pki
from tests.support.vpn_servers import OpenVpnServer

LIMIT_S = 45.0  # per phase: a run that takes longer is reported as a timeout


async def supervisor_run(pki: TestPki, work: Path, ping_restart: int) -> float | None:
    primary = OpenVpnServer(pki, work / "primary").start()
    backup = OpenVpnServer(pki, work / "backup").start()
    store = ProfileStore(work / "data")
    for name, server, priority in (("primary", primary, 10), ("backup", backup, 20)):
        store.import_text(
            client_profile(pki, [("127.0.0.1", server.port)], extra="explicit-exit-notify 1\n"),
            name=name,
            priority=priority,
        )
    settings = VpnSettings(ping_s=1, ping_restart_s=ping_restart, connect_timeout_s=8, holddown_s=3600)
    connected: dict[str, float] = {}

    def on_event(event: Event) -> None:
        if isinstance(event, VpnConnected):
            connected[event.profile] = time.monotonic()

    supervisor = VpnSupervisor(store, settings, work / "data", on_event)
    await supervisor.start()
    try:
        if not await until(lambda: "primary" in connected, LIMIT_S):
            return None
        await asyncio.sleep(1.5)  # an established session, pings flowing
        killed = time.monotonic()
        primary.kill9()
        if not await until(lambda: "backup" in connected, LIMIT_S):
            return None
        return connected["backup"] - killed
    finally:
        await supervisor.stop()
        primary.stop()
        backup.stop()


async def plain_run(pki: TestPki, work: Path, ping_restart: int) -> float | None:
    primary = OpenVpnServer(pki, work / "primary").start()
    backup = OpenVpnServer(pki, work / "backup").start()
    config = work / "plain.conf"
    config.write_text(
        client_profile(
            pki,
            [("127.0.0.1", primary.port), ("127.0.0.1", backup.port)],
            extra=f"explicit-exit-notify 1\nping 1\nping-restart {ping_restart}\n",
        )
    )
    process = await asyncio.create_subprocess_exec(
        "openvpn",
        "--config",
        str(config),
        "--suppress-timestamps",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    state = {"remote": "", "connected_to": "", "at": 0.0}

    async def follow() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode(errors="replace")
            if "link remote:" in line:
                state["remote"] = line.rsplit(":", 1)[-1].strip()
            if "Initialization Sequence Completed" in line:
                state["connected_to"], state["at"] = state["remote"], time.monotonic()

    reader = asyncio.create_task(follow())
    try:
        if not await until(lambda: state["connected_to"] == str(primary.port), LIMIT_S):
            return None
        await asyncio.sleep(1.5)
        killed = time.monotonic()
        primary.kill9()
        if not await until(lambda: state["connected_to"] == str(backup.port), LIMIT_S):
            return None
        return float(state["at"]) - killed
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 5)
        reader.cancel()
        primary.stop()
        backup.stop()


async def until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def summary(samples: list[float | None]) -> dict[str, Any]:
    done = [round(s, 2) for s in samples if s is not None]
    return {
        "median_s": round(statistics.median(done), 2) if done else None,
        "samples_s": done,
        "timeouts": len(samples) - len(done),
    }


async def bench(runs: int, ping_restart: int) -> dict[str, Any]:
    pki = make_pki()
    ours: list[float | None] = []
    plain: list[float | None] = []
    with tempfile.TemporaryDirectory(prefix="vpnbench-") as temporary:
        for run in range(runs):  # interleaved, so both see the same machine load
            ours.append(await supervisor_run(pki, Path(temporary) / f"s{run}", ping_restart))
            plain.append(await plain_run(pki, Path(temporary) / f"p{run}", ping_restart))
    return {
        "benchmark": "vpn_failover",
        "what": "seconds from kill -9 of the primary openvpn server to CONNECTED on the backup",
        "runs": runs,
        "timers": {"server_ping_s": 1, "client_ping_s": 1, "client_ping_restart_s": ping_restart},
        "nocraven_supervisor": summary(ours),
        "plain_openvpn_two_remotes": summary(plain),
        "target_s": 10,
        "openvpn": os.popen("openvpn --version 2>/dev/null").read().split("\n")[0][:60],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ping-restart", type=int, default=4, help="client ping-restart for both clients (s)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(bench(args.runs, args.ping_restart)), indent=2))


if __name__ == "__main__":
    main()
