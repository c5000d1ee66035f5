"""Real peer-to-peer TLS `openvpn` servers on 127.0.0.1 with `--dev null`: no root, no tun."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
from pathlib import Path

from tests.support.vpn_pki import TestPki, write_server_files

_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def die_with_parent() -> None:
    _LIBC.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OpenVpnServer:
    """One p2p server; `--float` and a short ping-restart let a new client in soon after the
    last one left (p2p mode serves one peer at a time)."""

    def __init__(self, pki: TestPki, directory: Path, port: int | None = None) -> None:
        self.files = write_server_files(pki, directory)
        self.directory = directory
        self.port = port or free_udp_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OpenVpnServer:
        log = open(self.directory / "server.log", "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [
                "openvpn", "--tls-server", "--dev", "null", "--dh", "none", "--proto", "udp",
                "--local", "127.0.0.1", "--lport", str(self.port),
                "--ca", str(self.files["ca"]), "--cert", str(self.files["cert"]), "--key", str(self.files["key"]),
                "--ping", "1", "--ping-restart", "3", "--float", "--verb", "3",
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent,  # a killed test run leaves no server behind
        )  # fmt: skip
        log.close()
        return self

    def kill9(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill9()
