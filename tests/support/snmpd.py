"""net-snmp's `snmpd` (Debian package snmpd) as a polled device: started on a random loopback
port with a config the test writes (a v2c community and an SNMPv3 authPriv user), and
net-snmp's `snmpget` (Debian package snmp) as the independent reader to compare against."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

COMMUNITY = "venue-ro"
V3_USER = "poller"
V3_AUTH = "poller-auth-pass"
V3_PRIV = "poller-priv-pass"
LOCATION = "rack-7 (test lab)"
SYS_UPTIME_0 = "1.3.6.1.2.1.1.3.0"
SYS_LOCATION_0 = "1.3.6.1.2.1.1.6.0"
SNMP_IN_PKTS_0 = "1.3.6.1.2.1.11.1.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6"
IF_IN_OCTETS = "1.3.6.1.2.1.2.2.1.10"


def free_udp_port() -> int:
    """A port nothing listens on right now (the kernel's choice, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Snmpd:
    port: int
    proc: subprocess.Popen[bytes]
    directory: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def get(self, *oids: str, version: str = "2c") -> dict[str, tuple[str, str]]:
        """`snmpget` answers: numeric OID -> (net-snmp type, value text)."""
        auth = (
            ["-v3", "-u", V3_USER, "-l", "authPriv", "-a", "SHA", "-A", V3_AUTH, "-x", "AES", "-X", V3_PRIV]
            if version == "3"
            else ["-v2c", "-c", COMMUNITY]
        )
        result = subprocess.run(
            ["snmpget", *auth, "-On", "-Oe", "-t", "2", "-r", "1", self.address, *oids],
            capture_output=True,
            text=True,
            timeout=20,
            env={**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": str(self.directory / "client")},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        answers: dict[str, tuple[str, str]] = {}
        for line in result.stdout.splitlines():
            match = re.fullmatch(r"\.?([\d.]+) = (?:([\w-]+): )?(.*)", line.strip())
            if match:
                answers[match.group(1)] = (match.group(2) or "", match.group(3))
        return answers

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_snmpd(directory: Path, wait: float = 20) -> Snmpd:
    directory.mkdir(parents=True, exist_ok=True)
    port = free_udp_port()
    conf = directory / "snmpd.conf"
    conf.write_text(
        f"""agentaddress udp:127.0.0.1:{port}
rocommunity {COMMUNITY} 127.0.0.1
createUser {V3_USER} SHA "{V3_AUTH}" AES "{V3_PRIV}"
rouser {V3_USER} priv
sysLocation {LOCATION}
sysContact noc@example.invalid
"""
    )
    log = open(directory / "snmpd.log", "wb")  # noqa: SIM115 - snmpd's for its whole life
    proc = subprocess.Popen(
        [
            "snmpd",
            "-f",
            "-Lf",
            str(directory / "snmpd.out"),
            "-C",
            "-c",
            str(conf),
            "-p",
            str(directory / "snmpd.pid"),
            f"--persistentDir={directory / 'persist'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MIBS": ""},
    )
    agent = Snmpd(port, proc, directory)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"snmpd exited: {(directory / 'snmpd.out').read_text(errors='replace')}")
        try:
            if agent.get(SYS_LOCATION_0):
                return agent
        except AssertionError:
            time.sleep(0.2)
    agent.stop()
    raise RuntimeError(f"snmpd did not answer on {agent.address}")
