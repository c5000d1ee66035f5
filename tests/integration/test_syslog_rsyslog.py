"""A real rsyslog forwarding to NoC Raven: TCP with octet counting, and TLS with a test CA
(the engine requires a client certificate, which rsyslog presents)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.support.engine import RunningEngine, start_engine
from tests.support.syslog import find, listener_port, wait_for_syslog, with_message

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not shutil.which("rsyslogd"), reason="needs rsyslog")]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    client = ca.issue_cert("rsyslog-client.test")
    files = {
        "ca": tmp_path / "ca.pem",
        "server": tmp_path / "server.pem",
        "client_cert": tmp_path / "client-cert.pem",
        "client_key": tmp_path / "client-key.pem",
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    server.private_key_and_cert_chain_pem.write_to_path(str(files["server"]))
    client.cert_chain_pems[0].write_to_path(str(files["client_cert"]))
    client.private_key_pem.write_to_path(str(files["client_key"]))
    return files


@pytest.fixture
def tls_engine(tmp_path: Path, pki: dict[str, Path]) -> Iterator[RunningEngine]:
    extra = (
        f'[syslog]\ntls = "127.0.0.1:0"\ntls_cert = "{pki["server"]}"\ntls_key = "{pki["server"]}"\n'
        f'tls_client_ca = "{pki["ca"]}"\n'
    )
    running = start_engine(tmp_path / "engine", extra)
    yield running
    running.stop()


def run_rsyslog(directory: Path, input_port: int, actions: str) -> subprocess.Popen[str]:
    (directory / "work").mkdir(parents=True, exist_ok=True)
    conf = directory / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{directory / "work"}")\n'
        'module(load="imudp")\n'
        f'input(type="imudp" address="127.0.0.1" port="{input_port}")\n' + actions
    )
    proc = subprocess.Popen(
        ["rsyslogd", "-n", "-f", str(conf), "-i", str(directory / "rsyslog.pid")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(1.0)  # rsyslog has no readiness signal; its UDP input is up within a second
    assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
    return proc


def send_to_rsyslog(port: int, tag: str, text: str) -> None:
    subprocess.run(
        ["logger", "-n", "127.0.0.1", "-P", str(port), "-d", "--rfc3164", "-t", tag, "-p", "user.err", text],
        check=True,
        timeout=10,
    )


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_rsyslog_forwards_over_tcp_with_octet_counting(engine: RunningEngine, tmp_path: Path) -> None:
    rs_port = free_udp_port()
    port = listener_port(engine, "tcp")
    proc = run_rsyslog(
        tmp_path / "rsyslog",
        rs_port,
        f'action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" TCP_Framing="octet-counted" '
        'template="RSYSLOG_SyslogProtocol23Format")\n',
    )
    try:
        texts = [f"via rsyslog tcp {i} {uuid.uuid4().hex}" for i in range(20)]
        for text in texts:
            send_to_rsyslog(rs_port, "fwdtest", text)
        records = wait_for_syslog(engine, lambda rs: all(with_message(t)(rs) for t in texts))
    finally:
        stop(proc)
    for text in texts:
        record = find(records, text)
        assert record["format"] == "rfc5424"
        assert record["app_name"] == "fwdtest"
        assert (record["facility"], record["severity"]) == (1, 3)
        # rsyslog's %msg% keeps the space that followed the tag; the RFC 5424 MSG carries it.
        assert record["message"] == " " + text
        assert record["hostname"]


def test_rsyslog_forwards_over_tls_with_a_client_certificate(
    tls_engine: RunningEngine, tmp_path: Path, pki: dict[str, Path]
) -> None:
    rs_port = free_udp_port()
    port = listener_port(tls_engine, "tls")
    actions = (
        f'global(defaultNetstreamDriverCAFile="{pki["ca"]}" defaultNetstreamDriverCertFile="{pki["client_cert"]}" '
        f'defaultNetstreamDriverKeyFile="{pki["client_key"]}")\n'
        f'action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" StreamDriver="gtls" '
        'StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost" '
        'TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")\n'
    )
    proc = run_rsyslog(tmp_path / "rsyslog", rs_port, actions)
    try:
        text = f"via rsyslog tls {uuid.uuid4().hex}"
        send_to_rsyslog(rs_port, "tlstest", text)
        record = find(wait_for_syslog(tls_engine, with_message(text), timeout=20), text)
    finally:
        stop(proc)
    assert record["app_name"] == "tlstest"
    assert record["format"] == "rfc5424"


def test_tls_without_a_client_certificate_is_refused(tls_engine: RunningEngine) -> None:
    port = listener_port(tls_engine, "tls")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    text = f"no client certificate {uuid.uuid4().hex}"
    refused = False
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(f"<13>Nov 27 05:50:01 host app: {text}\n".encode())
            refused = tls.recv(1) == b""  # TLS 1.3: the server's refusal comes after the handshake
    except (ssl.SSLError, OSError):
        refused = True
    assert refused
    # A record from the legitimate listener proves the engine read everything it was sent.
    control = f"control {uuid.uuid4().hex}"
    subprocess.run(
        ["logger", "-n", "127.0.0.1", "-P", str(listener_port(tls_engine, "udp")), "-d", control],
        check=True,
        timeout=10,
    )
    records = wait_for_syslog(tls_engine, with_message(control))
    assert not with_message(text)(records)
