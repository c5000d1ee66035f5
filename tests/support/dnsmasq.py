"""A real dnsmasq on 127.0.0.1 (a free port) serving a small test zone, for DNS diagnostics."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import dns.exception
import dns.message
import dns.query
import pytest

RECORDS = [
    "--local=/diag.test/",  # the zone is ours alone: unknown names in it are NXDOMAIN
    "--host-record=www.diag.test,192.0.2.10,2001:db8::10",
    "--cname=alias.diag.test,www.diag.test",
    "--mx-host=diag.test,mail.diag.test,10",
    "--host-record=mail.diag.test,192.0.2.25",
    "--txt-record=diag.test,v=spf1 -all",
    "--ptr-record=10.2.0.192.in-addr.arpa,www.diag.test",
    "--local-ttl=300",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_dnsmasq(*extra: str) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("dnsmasq")
    if binary is None:
        pytest.skip("dnsmasq (Debian package dnsmasq) is not installed")
    for _attempt in range(3):
        port = free_port()
        process = subprocess.Popen(
            [
                binary,
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                f"--port={port}",
                "--pid-file=",
                "--user=root",
                *RECORDS,
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and process.poll() is None:
            try:
                dns.query.udp(dns.message.make_query("www.diag.test", "A"), "127.0.0.1", port=port, timeout=0.2)
            except (dns.exception.Timeout, OSError):
                continue
            return process, port
        process.kill()
        process.wait(5)
    pytest.fail("dnsmasq did not start answering on 127.0.0.1 within 5 s (3 attempts)")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextmanager
def running_dnsmasq(*extra: str) -> Iterator[int]:
    """dnsmasq answering for diag.test; yields its port."""
    process, port = start_dnsmasq(*extra)
    try:
        yield port
    finally:
        stop(process)
