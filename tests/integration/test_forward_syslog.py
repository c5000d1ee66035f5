"""The syslog relay sink against a real rsyslog with a TLS listener (RFC 5425, octet counting):
messages arrive with their original hostnames and timestamps."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import msgspec
import pytest
import trustme

from nocraven.buffer.limits import BufferLimits
from nocraven.buffer.store import SegmentStore
from nocraven.forward.forwarder import Forwarder
from nocraven.forward.health import Backoff
from nocraven.forward.settings import ForwardSettings, SinkSettings
from tests.support.forwarding import free_port, rfc3339, wait_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not shutil.which("rsyslogd"), reason="needs rsyslog")]


def start_rsyslog_tls(directory: Path, port: int, ca: trustme.CA) -> tuple[subprocess.Popen[str], Path]:
    server = ca.issue_cert("localhost", "127.0.0.1")
    (directory / "work").mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    server.private_key_pem.write_to_path(str(directory / "key.pem"))
    out = directory / "received.log"
    conf = directory / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{directory / "work"}" DefaultNetstreamDriver="gtls"\n'
        f'       DefaultNetstreamDriverCAFile="{directory / "ca.pem"}"\n'
        f'       DefaultNetstreamDriverCertFile="{directory / "cert.pem"}"\n'
        f'       DefaultNetstreamDriverKeyFile="{directory / "key.pem"}")\n'
        'module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")\n'
        f'input(type="imtcp" address="127.0.0.1" port="{port}")\n'
        'template(name="seen" type="string"\n'
        '         string="%HOSTNAME%|%TIMESTAMP:::date-rfc3339%|%APP-NAME%|%PROCID%|%syslogseverity%|%msg%\\n")\n'
        f'action(type="omfile" file="{out}" template="seen")\n'
    )
    proc = subprocess.Popen(
        ["rsyslogd", "-n", "-f", str(conf), "-i", str(directory / "rsyslog.pid")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_port(port, 15)
    return proc, out


def syslog_record(index: int, hostname: str | None, timestamp: str) -> bytes:
    return msgspec.json.encode(
        {
            "service": "syslog",
            "received_at": rfc3339(time.time()),
            "source": "10.20.0.7:51514",
            "facility": 4,
            "severity": 3,
            "timestamp": timestamp,
            "hostname": hostname,
            "app_name": "sshd",
            "procid": str(1000 + index),
            "msgid": None,
            "structured_data": {},
            "message": f"relay test {index}: auth failure for admin",
            "format": "rfc3164",
        }
    )


@pytest.mark.timeout(60)
async def test_rsyslog_over_tls_receives_original_hostnames_and_timestamps(tmp_path: Path) -> None:
    ca = trustme.CA()
    port = free_port()
    proc, received = start_rsyslog_tls(tmp_path / "rsyslog", port, ca)
    now = time.time()
    store = SegmentStore.open(tmp_path / "buffer", BufferLimits(), now)
    hosts = ["sw-core-01", "fw-edge.venue.example", None]
    sent = []
    for index in range(300):
        stamp = f"2026-11-30T08:{index // 60:02d}:{index % 60:02d}.{index:06d}Z"
        sent.append((hosts[index % 3] or "10.20.0.7", stamp, index))
        store.append("syslog", [syslog_record(index, hosts[index % 3], stamp)], now)
    store.seal_all(now)
    sink = SinkSettings(
        name="central", type="syslog", urls=[f"tls://127.0.0.1:{port}"], tls_ca=str(tmp_path / "rsyslog" / "ca.pem")
    )
    forwarder = Forwarder(
        store, ForwardSettings(site="arena-01", sinks=[sink]), ("syslog", "flow"), backoff=Backoff(0.1, 1)
    )
    forwarder.start()
    try:
        await wait_until(lambda: store.cursor("central", "syslog") == 300, 20, "the relay")
        await wait_until(
            lambda: received.exists() and received.read_text().count("\n") >= 300, 20, "rsyslog to write them"
        )
    finally:
        await forwarder.stop()
        proc.terminate()
        proc.wait(10)
    lines = received.read_text().splitlines()
    assert len(lines) == 300
    for line, (host, stamp, index) in zip(lines, sent, strict=True):
        hostname, timestamp, app, procid, severity, message = line.split("|", 5)
        assert hostname == host
        assert datetime.fromisoformat(timestamp) == datetime.fromisoformat(stamp)
        assert (app, procid, severity) == ("sshd", str(1000 + index), "3")
        assert message.strip() == f"relay test {index}: auth failure for admin"
    store.close()
