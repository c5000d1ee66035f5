"""What `nocraven demo` starts besides the engine: its config, its certificate and its NOC.

The demo runs on the embedded default config plus a few overrides written to a file in the
demo's directory: a winevents token and a self-signed certificate made at start (HTTPS like a
real site), and, when `nats-server` is installed, a forward sink to a local JetStream server
that plays the NOC. The NOC goes away every few minutes and comes back, so the buffer fills and
the drain catches up while someone watches.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import tomlkit

from collectors.common.lifetime import term_with_parent

SITE = "demo-venue"
STREAM = "NOCRAVEN"
LOCAL_ANY = "127.0.0.1:0"
LISTENER_KEYS = {
    "syslog": ("udp", "tcp"),
    "flow": ("netflow", "ipfix", "sflow"),
    "snmptrap": ("udp",),
    "winevents": ("listen",),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(cert_path: Path, key_path: Path) -> None:
    """A certificate for 127.0.0.1 and localhost, valid for 30 days, made fresh at each start."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nocraven demo")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@dataclass(frozen=True)
class DemoFiles:
    config: Path
    cert: Path
    token: str


def write_demo_config(
    demo_dir: Path, data_dir: Path, socket_path: Path, nats_url: str | None, any_ports: bool
) -> DemoFiles:
    """The embedded default with the demo's overrides, written where the engine can read it."""
    demo_dir.mkdir(parents=True, exist_ok=True)
    text = resources.files("nocraven").joinpath("defaults/dev.toml").read_text(encoding="utf-8")
    doc: dict[str, Any] = tomllib.loads(text)
    cert, key = demo_dir / "winevents.pem", demo_dir / "winevents.key"
    self_signed(cert, key)
    token = secrets.token_hex(16)
    doc["engine"].update(data_dir=str(data_dir), socket=str(socket_path))
    doc["winevents"].update(tokens=[f"demo-dcs:{token}"], tls_cert=str(cert), tls_key=str(key))
    if any_ports:  # parallel demos (tests) must not fight over the default ports
        for section, keys in LISTENER_KEYS.items():
            doc[section].update({k: LOCAL_ANY for k in keys if doc[section].get(k)})
    if nats_url:
        doc["forward"] = {
            "site": SITE,
            "sinks": [
                {
                    "name": "noc",
                    "type": "nats",
                    "urls": [nats_url],
                    "stream": STREAM,
                    "retry_max_s": 5.0,  # the demo's NOC comes back often: notice it soon
                    "timeout_s": 5.0,
                }
            ],
        }
    path = demo_dir / "demo.toml"
    header = "# Written by `nocraven demo` at each start: the embedded default plus the demo's overrides.\n"
    path.write_text(header + tomlkit.dumps(doc), encoding="utf-8")
    return DemoFiles(path, cert, token)


def nats_server_binary() -> str | None:
    return shutil.which("nats-server") or next(
        (p for p in ("/usr/sbin/nats-server", "/usr/bin/nats-server") if os.access(p, os.X_OK)), None
    )


class DemoNoc:
    """A local nats-server with JetStream on a fixed loopback port, as the demo's NOC, with a
    scripted outage: every `outage_every` seconds it stops for `outage_for` seconds."""

    def __init__(self, binary: str, directory: Path, outage_every: float, outage_for: float) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.outage_every = outage_every
        self.outage_for = outage_for
        self.proc: subprocess.Popen[bytes] | None = None
        self.outages = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        store = self.directory / "jetstream"
        store.mkdir(parents=True, exist_ok=True)
        with open(self.directory / "nats-server.log", "ab") as log:
            argv = [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(store), "-n", "demo-noc"]
            # Its own session: the terminal's Ctrl-C reaches the demo, which stops it in order.
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=term_with_parent
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nats-server did not start on port {self.port}; see {self.directory / 'nats-server.log'}")

    def _terminate(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            if proc is not None:
                proc.wait()
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def schedule_outages(self, on_change: Any = None) -> None:
        def script() -> None:
            while not self._stop.wait(self.outage_every):
                with self._lock:
                    if self._stop.is_set():
                        return
                    self._terminate()
                    self.outages += 1
                if on_change:
                    on_change(f"The NOC went away (scripted outage {self.outages}, {self.outage_for:g} s).")
                if self._stop.wait(self.outage_for):
                    return
                with self._lock:
                    if self._stop.is_set():
                        return
                    self.start()
                if on_change:
                    on_change("The NOC is back; the backlog drains.")

        self._thread = threading.Thread(target=script, name="demo-noc-outages", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._terminate()
        if self._thread is not None:
            self._thread.join(5)

    def stream_messages(self, timeout: float = 5.0) -> dict[str, int]:
        """Records the NOC's stream holds, by subject (what reached the NOC), read over NATS."""
        return asyncio.run(_stream_subjects(self.url, timeout))


async def _stream_subjects(url: str, timeout: float) -> dict[str, int]:
    import nats

    nc = await nats.connect(url, connect_timeout=timeout, max_reconnect_attempts=0, allow_reconnect=False)
    try:
        info = await nc.jetstream().stream_info(STREAM, subjects_filter=">")
        return dict(info.state.subjects or {})
    finally:
        await nc.close()


VENUE_SERVICES = ("syslog", "netflow", "ipfix", "sflow", "trap", "winevents")
_VENUE_FLAGS = {
    ("syslog", "udp"): "--syslog",
    ("flow", "netflow"): "--netflow",
    ("flow", "ipfix"): "--ipfix",
    ("flow", "sflow"): "--sflow",
    ("snmptrap", "udp"): "--trap",
}


def venue_targets(listeners: list[Any], files: DemoFiles) -> list[str]:
    """The venue's arguments for the engine's listeners as bound (ports the kernel chose too)."""
    args: list[str] = []
    for listener in sorted(listeners, key=lambda item: (item.service, item.listener)):
        address = listener.address.replace("0.0.0.0", "127.0.0.1")
        flag = _VENUE_FLAGS.get((listener.service, listener.listener))
        if flag:
            args += [flag, address]
        elif listener.service == "winevents":
            args += ["--winevents", f"https://{address}/v1/events", "--token", files.token, "--ca", str(files.cert)]
    return args


class DemoVenue:
    """The simulated venue's process, pointed at the engine's listeners as they are bound: it
    starts with the first ones (the trap receiver loads its MIBs for a while) and is started
    again whenever the listeners change (more of them, or new ports after an engine restart)."""

    def __init__(self, socket_path: Path, files: DemoFiles, rate: float, say: Any) -> None:
        self.socket_path, self.files, self.rate, self.say = socket_path, files, rate, say
        self.proc: subprocess.Popen[bytes] | None = None
        self.args: list[str] = []
        self.complete = threading.Event()  # set once it feeds every service the demo listens for
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._follow, name="demo-venue", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _listeners(self) -> list[Any]:
        from nocraven.client import Client, EngineUnreachable
        from nocraven.errors import ApiError

        try:
            with Client(self.socket_path, timeout=30.0) as c:
                return list(c.system().listeners)
        except (EngineUnreachable, ApiError):
            return []  # restarting or busy: keep the venue as it is

    def _follow(self) -> None:
        while not self._stop.is_set():
            args = venue_targets(self._listeners(), self.files)
            if args and args != self.args:
                with self._lock:
                    if self._stop.is_set():
                        return
                    self._end()
                    argv = [sys.executable, "-m", "nocraven.simulate.venue", "--rate", str(self.rate), *args]
                    self.proc = subprocess.Popen(
                        argv, stdout=subprocess.DEVNULL, start_new_session=True, preexec_fn=term_with_parent
                    )
                    self.args = args
                services = sorted({a.lstrip("-") for a in args if a.startswith("--") and a not in ("--token", "--ca")})
                self.say(f"The simulated venue (34 devices) sends {', '.join(services)} to the engine.")
                if set(VENUE_SERVICES) <= set(services):
                    self.complete.set()
            self._stop.wait(3.0)

    def _end(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._end()
        self._thread.join(35)
