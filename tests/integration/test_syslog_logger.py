"""Real senders: util-linux `logger` over UDP and TCP, in RFC 3164 and RFC 5424 forms."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

from tests.support.engine import RunningEngine
from tests.support.syslog import find, listener_port, wait_for_syslog, with_message

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not shutil.which("logger"), reason="needs util-linux logger")]

CASES = {
    "udp-rfc3164": ["-d", "--rfc3164"],
    "udp-rfc5424": ["-d", "--rfc5424"],
    "tcp-rfc3164": ["-T", "--rfc3164"],
    "tcp-rfc5424-octet-counted": ["-T", "--rfc5424", "--octet-count"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_logger_messages_arrive_with_the_right_fields(engine: RunningEngine, case: str) -> None:
    listener = "tcp" if "-T" in CASES[case] else "udp"
    port = listener_port(engine, listener)
    text = f"{case} check {uuid.uuid4().hex}"
    subprocess.run(
        [
            "logger",
            "-n",
            "127.0.0.1",
            "-P",
            str(port),
            *CASES[case],
            "-t",
            "raventest",
            "-p",
            "local3.warning",
            "--id=4242",
            text,
        ],
        check=True,
        timeout=10,
    )
    record = find(wait_for_syslog(engine, with_message(text)), text)
    assert record["format"] == ("rfc5424" if "rfc5424" in case else "rfc3164")
    assert record["message"] == text
    assert (record["facility"], record["severity"]) == (19, 4)  # local3.warning
    assert record["app_name"] == "raventest"
    assert record["procid"] == "4242"
    assert record["hostname"]  # logger sends the local host name
    assert record["timestamp"] is not None
    assert record["source"].startswith("127.0.0.1:")
    assert record["received_at"].endswith("Z")
