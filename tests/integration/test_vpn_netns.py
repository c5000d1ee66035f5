"""The opt-in root test of the VPN with real tun devices, in network namespaces made here.

    client ns: the engine (VPN + forwarder)  c0 172.31.77.2 ==== n0 172.31.77.1  noc ns
    noc ns:    two real `openvpn --server` (tun, 10.8.1.0/24 and 10.8.2.0/24, each pushing a
               route to 10.99.0.1) and nats-server on 10.99.0.1, an address the client can reach
               only through a tunnel.

The engine connects the top-priority profile by itself, the forwarder's `requires_vpn` sink
holds records until the tunnel is up and then delivers them through it, a kill -9 of the first
server fails over to the second, its return fails back after the hold-down and stays there (no
flapping), and `vpn disconnect` / `vpn auto` stop and restart forwarding.

Needs root, /dev/net/tun, `ip` (iproute2), `openvpn` and `nats-server`; skips with the reason.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.support.engine import RunningEngine, start_engine
from tests.support.forwarding import NATS_SERVER, StreamMessage, free_port, read_stream
from tests.support.netns import run, run_in_netns
from tests.support.vpn_pki import TestPki, client_profile, make_pki, write_server_files
from tests.support.vpn_servers import die_with_parent

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENT_IP, NOC_IP, NATS_IP = "172.31.77.2", "172.31.77.1", "10.99.0.1"
HOLDDOWN_S = 4
SITE = "arena-09"


def unavailable() -> str | None:
    """Why this test cannot run here, or None."""
    if os.geteuid() != 0:
        return "real tun devices and network namespaces need root"
    for tool in ("ip", "openvpn", NATS_SERVER):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (scripts/debian-packages.txt)"
    try:
        with open("/dev/net/tun", "r+b", buffering=0):
            pass
    except OSError as exc:
        return f"the kernel offers no tun device here (/dev/net/tun: {exc.strerror})"
    name = f"nrvprobe{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, timeout=10)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
    return None


@dataclass
class Server:
    """One `openvpn --server` on a tun device in the noc namespace."""

    ns: str
    directory: Path
    pki: TestPki
    port: int
    subnet: str
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        files = write_server_files(self.pki, self.directory)
        log = open(self.directory / "server.log", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [
                "ip", "netns", "exec", self.ns, "openvpn", "--server", self.subnet, "255.255.255.0",
                "--topology", "subnet", "--dev", "tun", "--dh", "none", "--proto", "udp",
                "--local", NOC_IP, "--lport", str(self.port),
                "--ca", str(files["ca"]), "--cert", str(files["cert"]), "--key", str(files["key"]),
                "--push", f"route {NATS_IP} 255.255.255.255", "--keepalive", "1", "4", "--verb", "3",
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
        )  # fmt: skip
        log.close()
        return self

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()


@dataclass
class Lab:
    client: str
    noc: str
    directory: Path
    primary: Server
    backup: Server
    nats_port: int
    profiles: dict[str, Path]

    @property
    def nats_url(self) -> str:
        return f"nats://{NATS_IP}:{self.nats_port}"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    tag = secrets.token_hex(3)
    client, noc = f"nrvc{tag}", f"nrvn{tag}"
    made: list[str] = []
    procs: list[Server] = []
    nats: subprocess.Popen[bytes] | None = None
    try:
        for ns in (client, noc):
            run("ip", "netns", "add", ns)
            made.append(ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", client, "link", "add", "c0", "type", "veth", "peer", "name", "n0", "netns", noc)
        run("ip", "-n", client, "addr", "add", f"{CLIENT_IP}/24", "dev", "c0")
        run("ip", "-n", noc, "addr", "add", f"{NOC_IP}/24", "dev", "n0")
        run("ip", "-n", noc, "addr", "add", f"{NATS_IP}/32", "dev", "lo")
        for ns, dev in ((client, "c0"), (noc, "n0")):
            run("ip", "-n", ns, "link", "set", dev, "up")

        pki = make_pki()
        primary = Server(noc, tmp_path / "primary", pki, free_udp_port(), "10.8.1.0").start()
        backup = Server(noc, tmp_path / "backup", pki, free_udp_port(), "10.8.2.0").start()
        procs += [primary, backup]
        nats_port = free_port()
        (tmp_path / "nats").mkdir()
        store = str(tmp_path / "nats")
        nats = subprocess.Popen(
            ["ip", "netns", "exec", noc, NATS_SERVER, "-js", "-a", NATS_IP, "-p", str(nats_port), "-sd", store],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        profiles = {}
        for name, server in (("noc-a", primary), ("noc-b", backup)):
            text = client_profile(pki, [(NOC_IP, server.port)]).replace("tls-client\ndev null\n", "client\ndev tun\n")
            profiles[name] = tmp_path / "profiles" / f"{name}.ovpn"
            profiles[name].parent.mkdir(exist_ok=True)
            profiles[name].write_text(text)
        yield Lab(client, noc, tmp_path, primary, backup, nats_port, profiles)
    finally:
        for server in procs:
            server.stop()
        if nats is not None and nats.poll() is None:
            nats.terminate()
            nats.wait(10)
        for ns in reversed(made):
            run("ip", "netns", "del", ns, check=False)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def engine_config(lab: Lab) -> str:
    return f"""
[syslog]
udp_workers = 1

[buffer]
min_free_bytes = 0

[vpn]
ping_s = 1
ping_restart_s = 4
connect_timeout_s = 6
holddown_s = {HOLDDOWN_S}
standby_interval_s = 1
max_attempts = 2
cooldown_s = 2
cooldown_max_s = 8

[forward]
site = "{SITE}"

[[forward.sinks]]
name = "noc"
type = "nats"
urls = ["{lab.nats_url}"]
services = ["syslog"]
requires_vpn = true
timeout_s = 2.0
retry_max_s = 1.0
"""


def cli_json(engine: RunningEngine, *args: str) -> Any:
    result = engine.cli(*args, "--json", timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def sink(engine: RunningEngine) -> dict[str, Any]:
    return dict(cli_json(engine, "forward", "status")["sinks"][0])


def wait_until(engine: RunningEngine, check: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; engine log:\n{engine.log()[-4000:]}")
        time.sleep(0.3)
    return time.monotonic() - start


def connected_to(engine: RunningEngine, name: str) -> Callable[[], bool]:
    def check() -> bool:
        status = cli_json(engine, "vpn", "status")
        return bool(status["connected"] and status["active"] == name)

    return check


def send_syslog(lab: Lab, engine: RunningEngine, first: int, count: int) -> list[str]:
    """`count` lines on one TCP connection to the engine's listener, from inside the client ns."""
    status = cli_json(engine, "status")
    address = next(
        str(listener["address"])
        for listener in status["components"]["syslog"]["detail"]["listeners"]
        if listener["listener"] == "tcp"
    )
    host, _, port = address.rpartition(":")
    messages = [f"vpn event {i}" for i in range(first, first + count)]
    payload = "".join(f"<30>Nov 27 06:00:00 sw1 vpntest[7]: {m}\n" for m in messages).encode()

    async def send() -> None:
        with socket.create_connection((host, int(port)), 5) as conn:
            conn.sendall(payload)

    run_in_netns(lab.client, send, timeout=20)
    return messages


def delivered(lab: Lab) -> list[StreamMessage]:
    """The stream as the NOC holds it (read from inside the noc ns)."""
    return run_in_netns(lab.noc, lambda: read_stream([lab.nats_url], "NOCRAVEN"), timeout=60)


def messages_on(stream: list[StreamMessage]) -> list[str]:
    ids = [m.headers["Nats-Msg-Id"] for m in stream]
    assert len(ids) == len(set(ids)), "a batch is stored twice"
    batches = sorted(stream, key=lambda m: int(m.headers["Nocraven-First-Seq"]))
    return [msgspec.json.decode(record)["message"] for m in batches for record in m.records]


def route_device(lab: Lab) -> str:
    """The device the client ns routes the NOC's address through."""
    answer = run("ip", "-n", lab.client, "-j", "route", "get", NATS_IP, check=False)
    if answer.returncode != 0:
        return ""
    return str(json.loads(answer.stdout)[0].get("dev", ""))


@pytest.mark.timeout(420)
def test_tun_failover_failback_and_forwarding_through_the_tunnel(lab: Lab) -> None:
    in_client = ("ip", "netns", "exec", lab.client)
    engine = start_engine(lab.directory / "engine", engine_config(lab), wait=90, prefix=in_client)
    try:
        # No tunnel yet: the requires_vpn sink holds what arrives.
        sent = send_syslog(lab, engine, 0, 200)
        wait_until(engine, lambda: sink(engine)["backlog_records"] == 200, 60, "200 records held")
        held = sink(engine)
        assert held["state"] == "buffering" and "VPN down" in held["reason"], held
        assert route_device(lab) == "", "the NOC must be unreachable without the tunnel"

        for name, priority in (("noc-a", "10"), ("noc-b", "20")):
            imported = engine.cli("vpn", "import", str(lab.profiles[name]), "--priority", priority)
            assert imported.returncode == 0, imported.stderr
        wait_until(engine, connected_to(engine, "noc-a"), 40, "the engine to connect noc-a")
        status = cli_json(engine, "vpn", "status")
        assert status["device"].startswith("tun") and status["remote"] == f"{NOC_IP}:{lab.primary.port}"
        assert status["local_ip"].startswith("10.8.1.")
        assert route_device(lab) == status["device"], "the pushed route leads through the tunnel"
        # Backlog 0 can come before the records are even sealed: wait for them at the NOC.
        wait_until(engine, lambda: messages_on(delivered(lab)) == sent, 60, "the drain through the tunnel")

        # kill -9 of the first server: the engine fails over to the second, records follow.
        lab.primary.kill9()
        sent += send_syslog(lab, engine, 200, 100)
        wait_until(engine, connected_to(engine, "noc-b"), 60, "failover to noc-b")
        status = cli_json(engine, "vpn", "status")
        assert status["remote"] == f"{NOC_IP}:{lab.backup.port}" and status["local_ip"].startswith("10.8.2.")
        assert route_device(lab) == status["device"]
        wait_until(engine, lambda: messages_on(delivered(lab)) == sent, 60, "the records sent during failover")

        # The first server returns: fail back only after the hold-down, then stay (no flapping).
        lab.primary.start()
        restored = time.monotonic()
        wait_until(engine, connected_to(engine, "noc-a"), 90, "fail-back to noc-a")
        assert time.monotonic() - restored >= HOLDDOWN_S
        time.sleep(HOLDDOWN_S + 3)
        assert connected_to(engine, "noc-a")()
        history = cli_json(engine, "vpn", "history")["entries"]  # newest first
        assert [entry["profile"] for entry in history] == ["noc-a", "noc-b", "noc-a"], history
        assert history[0]["ended"] is None and history[2]["reason_ended"]
        sent += send_syslog(lab, engine, 300, 100)
        wait_until(engine, lambda: messages_on(delivered(lab)) == sent, 60, "records after fail-back")

        # The sink follows the VPN: down with the tunnel, back with it.
        assert cli_json(engine, "vpn", "disconnect")["mode"] == "off"
        wait_until(
            engine,
            lambda: sink(engine)["state"] == "buffering" and "VPN down" in sink(engine)["reason"],
            30,
            "the sink to wait for the tunnel",
        )
        before = len(delivered(lab))
        sent += send_syslog(lab, engine, 400, 50)
        wait_until(engine, lambda: sink(engine)["backlog_records"] == 50, 30, "50 records held while the VPN is off")
        assert len(delivered(lab)) == before
        assert cli_json(engine, "vpn", "auto")["mode"] == "auto"
        wait_until(engine, connected_to(engine, "noc-a"), 40, "noc-a once automatic")
        wait_until(engine, lambda: messages_on(delivered(lab)) == sent, 60, "the drain once the VPN is back")
        assert all(m.subject == f"nocraven.{SITE}.syslog" for m in delivered(lab))
    finally:
        engine.stop()
