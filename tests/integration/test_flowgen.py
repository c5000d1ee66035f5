"""The benchmark's flow generator (`bench/flowgen.c`) sends what it says: every datagram decodes,
the record count is exact, and its sequence numbers run without gaps when nothing is lost, so a
benchmark can trust sequence gaps as loss."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from collectors.flow.decoder import FlowDecoder

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")]


@pytest.fixture(scope="module")
def flowgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = tmp_path_factory.mktemp("bin") / "flowgen"
    subprocess.run(["cc", "-O2", "-Wall", "-Werror", "-o", str(binary), str(ROOT / "bench" / "flowgen.c")], check=True)
    return binary


@pytest.mark.parametrize("kind", ["v5", "v9", "ipfix", "sflow"])
def test_flowgen_datagrams_decode_without_gaps(flowgen: Path, kind: str) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2.0)
    port = receiver.getsockname()[1]
    records = 1000
    done = subprocess.run(
        [str(flowgen), kind, "127.0.0.1", str(port), "20000", str(records), "2"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    report = json.loads(done.stdout)
    assert report["records"] == records
    decoder = FlowDecoder()
    decoded = []
    for _ in range(report["datagrams"]):
        datagram, sender = receiver.recvfrom(65535)
        decoded += decoder.decode(datagram, sender, 1_700_000_000.0)
    receiver.close()
    stats = decoder.stats.exporters["127.0.0.1"]
    assert stats["decode_errors"] == 0, stats["last_error"]
    assert (stats["sequence_gaps"], stats["sequence_resets"], stats["held_sets"]) == (0, 0, 0)
    assert len(decoded) == records
    assert all(r["kind"] == "flow" and r["src_addr"].startswith("10.") and r["bytes"] > 0 for r in decoded)
    if kind == "sflow":
        assert {r["sampling_rate"] for r in decoded} == {1024}
