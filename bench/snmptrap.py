"""SNMP trap ingest benchmark: the highest loss-free trap rate end to end, NoC Raven beside snmptrapd.

A real engine (`nocraven engine`: the trap collector process, MIB names, the buffer) and Debian's
`snmptrapd` (logging one line per trap to a file) each receive the same load in the same run:
an IF-MIB linkDown with four varbinds, as SNMPv2c and as SNMPv3 authPriv (SHA/AES), made by
`collectors/snmptrap/compose.py` (a pool of distinct datagrams) and sent by a small C sender
with sendmmsg (`bench/trapgen.c`, built here when missing) from its own process. For each
receiver and version the rate steps up until a step loses anything; the result is the highest
step with no loss (sent minus stored: records in the buffer, lines in snmptrapd's file).

Each series is repeated (`--repeats`, default 3) with the receivers taking turns, so a change
in the machine's load during the run touches both alike; the result per receiver is the
median of its repeats, and `ratio` is NoC Raven's median over snmptrapd's. Both receivers stay
up for the whole run but only one is sent traps at a time (the idle one costs nothing).

Only 127.0.0.1; bounded in time (a few seconds a step, at most one lossy step a series). As
root, NoC Raven's collector takes a 16 MiB receive buffer (SO_RCVBUFFORCE); snmptrapd is given
`serverRecvBuf` of the same size (an `[snmp]` token in its config; without it snmptrapd keeps
the 208 KiB default and loses traps at a few thousand a second), which the kernel caps at twice
net.core.rmem_max (reported below).

Prints one JSON document on stdout; progress goes to stderr.
Usage: python bench/snmptrap.py [--seconds 3] [--rates 5000,10000,...] [--only nocraven|snmptrapd]
       [--versions v2c,v3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.snmptrap import ber  # noqa: E402
from collectors.snmptrap.compose import Agent, v2_pdu, v2c_notification  # noqa: E402
from collectors.snmptrap.settings import SnmpUser  # noqa: E402

TRAPGEN_SRC = ROOT / "bench" / "trapgen.c"
TRAPGEN = ROOT / "bench" / "bin" / "trapgen"
NOCRAVEN = Path(sys.executable).parent / "nocraven"
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
USER = SnmpUser("noc", "SHA", "bench-auth-pass", "AES", "bench-priv-pass")
AGENT_ENGINE_ID = bytes.fromhex("80001f8880b3a7c1e9d2004242")
POOL = 2000  # distinct datagrams per version, sent round-robin
DEFAULT_RATES = [5000, 10000, 15000, 20000, 25000, 30000, 40000]
SETTLE_S = 20.0  # longest wait for a receiver to store what it received
RECEIVE_BUFFER_BYTES = 16 << 20


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_trapgen() -> None:
    if TRAPGEN.exists() and TRAPGEN.stat().st_mtime >= TRAPGEN_SRC.stat().st_mtime:
        return
    TRAPGEN.parent.mkdir(parents=True, exist_ok=True)
    log(f"building {TRAPGEN}")
    subprocess.run(["cc", "-O2", "-o", str(TRAPGEN), str(TRAPGEN_SRC)], check=True)


def varbinds(i: int) -> list[tuple[str, int, object]]:
    port = 1 + i % 48
    return [
        (f"1.3.6.1.2.1.2.2.1.1.{port}", ber.INTEGER, port),
        (f"1.3.6.1.2.1.2.2.1.7.{port}", ber.INTEGER, 1),
        (f"1.3.6.1.2.1.2.2.1.8.{port}", ber.INTEGER, 2),
        (f"1.3.6.1.2.1.2.2.1.2.{port}", ber.OCTET_STRING, f"GigabitEthernet1/0/{port}".encode()),
    ]


def write_pool(path: Path, version: str) -> None:
    """POOL distinct datagrams as the generator reads them (2-byte length, bytes)."""
    now = time.time()
    agent = Agent([USER], AGENT_ENGINE_ID, engine_boots=3, started=now - 86_400)
    with open(path, "wb") as out:
        for i in range(POOL):
            if version == "v2c":
                datagram = v2c_notification("public", LINK_DOWN, varbinds(i), uptime=1000 + i, request_id=i + 1)
            else:
                pdu = v2_pdu(LINK_DOWN, varbinds(i), uptime=1000 + i, request_id=i + 1)
                datagram = agent.trap("noc", pdu, now, msg_id=i + 1)
            out.write(struct.pack(">H", len(datagram)) + datagram)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Receiver:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    stored: Callable[[], int]
    extra: Callable[[], dict[str, Any]]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_nocraven(directory: Path) -> Receiver:
    from nocraven.client import Client

    directory.mkdir(parents=True)
    socket_path = directory / "ctl.sock"
    config = directory / "nocraven.toml"
    config.write_text(
        f"""[engine]
data_dir = "{directory / "data"}"
socket = "{socket_path}"

[syslog]
udp = ""
tcp = ""

[flow]
netflow = ""
ipfix = ""
sflow = ""

[snmptrap]
udp = "127.0.0.1:0"
communities = ["public"]

[[snmptrap.users]]
name = "{USER.name}"
auth_protocol = "{USER.auth_protocol}"
auth_key = "{USER.auth_key}"
priv_protocol = "{USER.priv_protocol}"
priv_key = "{USER.priv_key}"

[winevents]
listen = ""

[buffer]
total_bytes = {8 * 1024**3}

[buffer.services.trap]
quota_bytes = {8 * 1024**3}
"""
    )
    log_file = open(directory / "engine.log", "wb")  # noqa: SIM115 - the engine's for its whole life
    proc = subprocess.Popen(
        [str(NOCRAVEN), "engine", "--config", str(config)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = Client(socket_path, timeout=30)
    deadline = time.monotonic() + 180  # the collector loads every MIB before it listens
    port = 0
    while not port:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"engine did not start: {(directory / 'engine.log').read_text(errors='replace')}")
        time.sleep(0.5)
        if not socket_path.exists():
            continue
        try:
            component = client.status().components["snmptrap"]
        except Exception:
            continue
        listeners = json.loads(bytes(component.detail)).get("listeners", [])
        if component.state == "running" and listeners:
            port = int(listeners[0]["address"].rpartition(":")[2])

    def stored() -> int:
        trap = client.buffer_stats().services["trap"]
        return int(trap.records) + int(trap.unsealed_records)

    def extra() -> dict[str, Any]:
        agents = client.traps_agents()
        return {
            "kernel_drops": agents.receive.kernel_drops,
            "refused": agents.totals.refused,
            "malformed": agents.totals.malformed,
        }

    return Receiver("nocraven", port, proc, stored, extra)


def start_snmptrapd(directory: Path) -> Receiver:
    directory.mkdir(parents=True)
    out = directory / "traps.log"
    port = free_port()
    conf = directory / "snmptrapd.conf"
    conf.write_text(
        f"""authCommunity log public
createUser -e 0x{AGENT_ENGINE_ID.hex()} {USER.name} SHA {USER.auth_key} AES {USER.priv_key}
authUser log {USER.name} priv
format1 %B %N %v\\n
format2 %B %v\\n
[snmp] serverRecvBuf {RECEIVE_BUFFER_BYTES}
doNotRetainNotificationLogs yes
"""
    )
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(directory), "SNMPCONFPATH": str(directory), "HOME": str(directory)}
    log_file = open(directory / "snmptrapd.out", "wb")  # noqa: SIM115 - snmptrapd's for its whole life
    proc = subprocess.Popen(
        ["snmptrapd", "-f", "-n", "-C", "-c", str(conf), "-Lf", str(out), f"udp:127.0.0.1:{port}"],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while f"0100007F:{port:04X}" not in Path("/proc/net/udp").read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"snmptrapd did not start: {(directory / 'snmptrapd.out').read_text(errors='replace')}")
        time.sleep(0.1)
    counted = {"lines": 0, "offset": 0}

    def stored() -> int:
        if not out.exists():
            return 0
        with open(out, "rb") as f:
            f.seek(counted["offset"])
            while chunk := f.read(1 << 22):
                counted["lines"] += chunk.count(b"\n")
                counted["offset"] += len(chunk)
        return counted["lines"]

    def extra() -> dict[str, Any]:
        return {}

    stored()  # the start-up line
    counted["lines"] = 0
    return Receiver("snmptrapd", port, proc, stored, extra)


def settled(receiver: Receiver, target: int) -> int:
    """What the receiver stored once it stops changing (or reaches `target`)."""
    deadline = time.monotonic() + SETTLE_S
    last, still_since = receiver.stored(), time.monotonic()
    while time.monotonic() < deadline and last < target:
        time.sleep(0.4)
        now = receiver.stored()
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since > 2.0:
            break
    return last


def step(receiver: Receiver, pool: Path, rate: int, seconds: float) -> dict[str, Any]:
    count = int(rate * seconds)
    before = receiver.stored()
    sent = subprocess.run(
        [str(TRAPGEN), str(pool), "127.0.0.1", str(receiver.port), str(rate), str(count)],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds * 5 + 30,
    )
    generator = json.loads(sent.stdout)
    stored = settled(receiver, before + count) - before
    lost = count - stored
    result = {
        "rate": rate,
        "sent": count,
        "sent_rate": generator["rate"],
        "stored": stored,
        "lost": lost,
        **receiver.extra(),
    }
    log(f"  {receiver.name} {rate:>6}/s: sent {count}, stored {stored}, lost {lost}")
    return result


def series(receiver: Receiver, pool: Path, version: str, rates: list[int], seconds: float) -> dict[str, Any]:
    steps = []
    best = 0
    for rate in rates:
        write_pool(pool, version)  # fresh v3 time stamps each step
        result = step(receiver, pool, rate, seconds)
        steps.append(result)
        if result["lost"] > 0:
            break
        best = rate
    return {"loss_free_traps_per_s": best, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds of load per step")
    parser.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)), help="traps/s steps, ascending")
    parser.add_argument("--only", choices=["nocraven", "snmptrapd"])
    parser.add_argument("--versions", default="v2c,v3")
    parser.add_argument("--repeats", type=int, default=3, help="series per receiver and version (median taken)")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    versions = args.versions.split(",")
    build_trapgen()
    starters: dict[str, Callable[[Path], Receiver]] = {"nocraven": start_nocraven, "snmptrapd": start_snmptrapd}
    if shutil.which("snmptrapd") is None:
        starters.pop("snmptrapd")
        log("snmptrapd not found (Debian package snmptrapd): measuring NoC Raven alone")
    if args.only:
        starters = {args.only: starters[args.only]}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {name: {v: [] for v in versions} for name in starters}
    with tempfile.TemporaryDirectory(prefix="bench-snmptrap-") as temporary:
        base = Path(temporary)
        pool = base / "pool.bin"
        receivers: dict[str, Receiver] = {}
        try:
            for name, start in starters.items():
                log(f"starting {name}")
                receivers[name] = start(base / name)
            for repeat in range(args.repeats):
                for version in versions:
                    for name, receiver in receivers.items():  # taking turns on the same load
                        log(f"repeat {repeat + 1}/{args.repeats} {version}: {name}")
                        wire = "v2c" if version == "v2c" else "v3"
                        runs[name][version].append(series(receiver, pool, wire, rates, args.seconds))
        finally:
            for receiver in receivers.values():
                receiver.stop()
    medians = {
        version: {name: statistics.median(run["loss_free_traps_per_s"] for run in runs[name][version]) for name in runs}
        for version in versions
    }
    ratio = {
        version: round(medians[version]["nocraven"] / medians[version]["snmptrapd"], 2)
        if medians[version].get("snmptrapd") and "nocraven" in medians[version]
        else None
        for version in versions
    }
    document = {
        "benchmark": "snmptrap",
        "load": "IF-MIB linkDown, 4 varbinds; v3 = authPriv SHA/AES; bench/trapgen.c (sendmmsg), own process",
        "seconds_per_step": args.seconds,
        "rates": rates,
        "repeats": args.repeats,
        "loss_free_traps_per_s": medians,  # median over the repeats, per version and receiver
        "ratio_nocraven_to_snmptrapd": ratio,
        "runs": runs,
        "rmem_max": int(Path("/proc/sys/net/core/rmem_max").read_text()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_1m": os.getloadavg()[0]},
    }
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
