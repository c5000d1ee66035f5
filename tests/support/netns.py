"""Network namespaces for diagnostics tests: client -- router -- far, joined by veth pairs.

    client  c0 10.16.1.2 fd16:1::2 ==== r0 10.16.1.1 fd16:1::1  router
            r1 10.16.2.1 fd16:2::1 ==== f0 10.16.2.2 fd16:2::2  far

These private addresses exist only inside the namespaces this module makes and deletes.

Probes run inside a namespace through `run_in`: a fresh thread joins the namespace with setns(2)
and runs an asyncio loop there. Network namespaces are per thread on Linux, and every socket (and
every thread or child process) made by that thread belongs to the namespace, so the code under
test runs unchanged, in this process, and hands back its typed events without serialising them.
The thread ends after its one job, so no pooled thread is left in a foreign namespace.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import secrets
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
CLONE_NEWNET = 0x40000000

CLIENT_V4, ROUTER_NEAR_V4, ROUTER_FAR_V4, FAR_V4 = "10.16.1.2", "10.16.1.1", "10.16.2.1", "10.16.2.2"
CLIENT_V6, ROUTER_NEAR_V6, ROUTER_FAR_V6, FAR_V6 = "fd16:1::2", "fd16:1::1", "fd16:2::1", "fd16:2::2"


def netns_unavailable() -> str | None:
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "network namespace tests need root"
    if shutil.which("ip") is None:
        return "`ip` (Debian iproute2) is not installed"
    name = f"nrprobe{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, timeout=10)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
    return None


def require_netns() -> None:
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)


def run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), input=stdin, capture_output=True, text=True, timeout=20)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result


@dataclass
class Topology:
    client: str
    router: str
    far: str

    def exec(
        self, ns: str, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", ns, *args, stdin=stdin, check=check)

    def nft(self, ns: str, ruleset: str) -> None:
        """Load an nftables ruleset into one namespace (its tables die with the namespace)."""
        self.exec(ns, "nft", "-f", "-", stdin=ruleset)

    def sysctl(self, ns: str, key: str, value: str) -> None:
        self.exec(ns, "sysctl", "-q", "-w", f"{key}={value}")

    def warm_up(self) -> None:
        """Resolve every neighbour once (IPv6 neighbour discovery takes ~1 s on a fresh router),
        so the first probe of a test measures the path, not the set-up."""
        from nocraven.diag.ping import ping
        from nocraven.diag.schema import PingRequest

        async def both() -> None:
            for far in (FAR_V4, FAR_V6):
                async for _event in ping(PingRequest(far, count=1, timeout=5)):
                    pass

        self.run_in(self.client, both, timeout=15)

    def socket_in(self, ns: str, family: int, kind: int) -> socket.socket:
        """A socket that lives in namespace `ns` (made there by a thread, usable from anywhere)."""

        async def make() -> socket.socket:
            return socket.socket(family, kind)

        return self.run_in(ns, make, timeout=5)

    def run_in(self, ns: str, job: Callable[[], Coroutine[Any, Any, T]], timeout: float = 60.0) -> T:
        return run_in_netns(ns, job, timeout)


def run_in_netns(ns: str, job: Callable[[], Coroutine[Any, Any, T]], timeout: float = 60.0) -> T:
    """Run `job()` on an asyncio loop in a thread that has joined namespace `ns`."""
    outcome: dict[str, Any] = {}

    def body() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {ns} failed")
            finally:
                os.close(fd)
            outcome["value"] = asyncio.run(asyncio.wait_for(job(), timeout))
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=body, name=f"netns-{ns}", daemon=True)
    thread.start()
    thread.join(timeout + 10)
    if thread.is_alive():
        raise TimeoutError(f"job in namespace {ns} did not end within {timeout + 10:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


@contextmanager
def topology() -> Iterator[Topology]:
    """Make client, router and far namespaces; delete them afterwards, even on failure."""
    require_netns()
    tag = secrets.token_hex(3)
    topo = Topology(client=f"nrc{tag}", router=f"nrr{tag}", far=f"nrf{tag}")
    made: list[str] = []
    try:
        for ns in (topo.client, topo.router, topo.far):
            run("ip", "netns", "add", ns)
            made.append(ns)
            topo.exec(ns, "ip", "link", "set", "lo", "up")
            # No duplicate address detection: link-local addresses would stay tentative for ~2 s and
            # neighbour discovery (hence every IPv6 probe) would stall until then.
            topo.sysctl(ns, "net.ipv6.conf.default.accept_dad", "0")
            topo.sysctl(ns, "net.ipv6.conf.all.accept_dad", "0")
        run("ip", "-n", topo.client, "link", "add", "c0", "type", "veth", "peer", "name", "r0", "netns", topo.router)
        run("ip", "-n", topo.far, "link", "add", "f0", "type", "veth", "peer", "name", "r1", "netns", topo.router)
        for ns, dev, v4, v6 in (
            (topo.client, "c0", CLIENT_V4, CLIENT_V6),
            (topo.router, "r0", ROUTER_NEAR_V4, ROUTER_NEAR_V6),
            (topo.router, "r1", ROUTER_FAR_V4, ROUTER_FAR_V6),
            (topo.far, "f0", FAR_V4, FAR_V6),
        ):
            run("ip", "-n", ns, "addr", "add", f"{v4}/24", "dev", dev)
            run("ip", "-n", ns, "addr", "add", f"{v6}/64", "dev", dev, "nodad")
            run("ip", "-n", ns, "link", "set", dev, "up")
        for ns, gw4, gw6 in ((topo.client, ROUTER_NEAR_V4, ROUTER_NEAR_V6), (topo.far, ROUTER_FAR_V4, ROUTER_FAR_V6)):
            run("ip", "-n", ns, "route", "add", "default", "via", gw4)
            run("ip", "-n", ns, "-6", "route", "add", "default", "via", gw6)
        topo.sysctl(topo.router, "net.ipv4.ip_forward", "1")
        topo.sysctl(topo.router, "net.ipv6.conf.all.forwarding", "1")
        for ns in (topo.router, topo.far):
            # Routers rate-limit ICMP errors (1/s per peer); the tests probe faster than that.
            topo.sysctl(ns, "net.ipv4.icmp_ratelimit", "0")
            topo.sysctl(ns, "net.ipv6.icmp.ratelimit", "0")
        topo.warm_up()
        yield topo
    finally:
        for ns in reversed(made):
            run("ip", "netns", "del", ns, check=False)
