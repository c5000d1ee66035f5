"""Telegraf's syslog cases through the real listener: each case is sent over UDP or TCP to a
running engine and read back with `nocraven buffer tail --json`. Error cases are counted and the
listener goes on (the next case still arrives).

TLS cases are covered at the framer level (tests/unit/syslog) and by the rsyslog TLS test;
Unix-socket cases have no listener here.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.engine import RunningEngine, start_engine
from tests.support.syslog import listener_port
from tests.support.syslog_corpus import CORPUS, assert_matches, cases, is_flagged, parse_line_protocol, read_conf

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not at {CORPUS}")]

# The corpus's RFC 3164 stamps are days away from "now": our clock-skew flag is expected there.
LIVE_TOLERATED = frozenset({"clock_skew"})


@pytest.fixture(scope="module")
def live_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    running = start_engine(tmp_path_factory.mktemp("corpus") / "engine")
    yield running
    running.stop()


def live_cases() -> list[str]:
    return [n for n in cases() if read_conf(CORPUS / n)["server"].split("://")[0] in ("udp", "tcp") and "tls" not in n]


def send(engine: RunningEngine, case: Path) -> str:
    """Send the case's inputs like telegraf's harness does; returns the sender's "IP:PORT"."""
    inputs = sorted(case.glob("input*.txt"))
    if read_conf(case)["server"].startswith("udp://"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            for path in inputs:
                udp.sendto(path.read_bytes(), ("127.0.0.1", listener_port(engine, "udp")))
            return f"127.0.0.1:{udp.getsockname()[1]}"
    with socket.create_connection(("127.0.0.1", listener_port(engine, "tcp"))) as tcp:
        for path in inputs:
            tcp.sendall(path.read_bytes())
            time.sleep(0.02)  # one write per file, as telegraf's test does
        return f"127.0.0.1:{tcp.getsockname()[1]}"


def records_from(engine: RunningEngine, source: str, expect: int, settle: float = 1.5) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20  # generous: CI machines are small and busy
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        out = engine.cli("buffer", "tail", "--json", "--service", "syslog", "--limit", "5000")
        found = [r for r in map(json.loads, out.stdout.splitlines()) if r["source"] == source]
        if expect and len(found) >= expect:
            return found
        if not expect and found and time.monotonic() > deadline - 20 + settle:
            return found
        time.sleep(0.2)
    return found


def in_received_year(fields: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """RFC 3164 stamps have no year: the corpus assumes 2026, we receive them today. The parser
    puts a stamp in the latest year that is not more than a day ahead of its receipt: this year
    or the one before, whichever the date falls in; compare the rest of the stamp in that year."""
    if "timestamp" not in fields or record.get("timestamp") is None:
        return fields
    year = datetime.fromisoformat(record["timestamp"]).year
    received = datetime.fromisoformat(record["received_at"]).year
    assert year in (received, received - 1), record
    stamp = datetime.fromtimestamp(fields["timestamp"] / 10**9, UTC)
    moved = stamp.replace(year=year)
    return {**fields, "timestamp": int(moved.timestamp()) * 10**9 + moved.microsecond * 1000}


def framing_errors(engine: RunningEngine) -> int:
    status = json.loads(engine.cli("status", "--json").stdout)
    return int(status["components"]["syslog"]["detail"]["totals"]["framing_errors"])


@pytest.mark.parametrize("name", live_cases())
def test_case_through_the_listener(live_engine: RunningEngine, name: str) -> None:
    case = CORPUS / name
    conf = read_conf(case)
    is_3164 = conf.get("syslog_standard") == "RFC3164"
    expected_out = case / "expected.out"
    expected = (
        [parse_line_protocol(line) for line in expected_out.read_text().splitlines() if line.strip()]
        if expected_out.is_file()
        else []
    )
    errors_before = framing_errors(live_engine)
    source = send(live_engine, case)

    if not (case / "expected.err").is_file():
        records = records_from(live_engine, source, len(expected))
        assert len(records) == len(expected)
        for record, (tags, fields) in zip(records, expected, strict=True):
            if is_3164:
                fields = in_received_year(fields, record)
            assert_matches(record, tags, fields, is_3164=is_3164, tolerate=LIVE_TOLERATED)
        return

    # Rejected by telegraf; kept by us, and flagged or counted as a framing error.
    records = records_from(live_engine, source, 0)
    assert records, "nothing is dropped for its format"
    assert framing_errors(live_engine) > errors_before or any(is_flagged(r) for r in records)
    assert all(r["raw"] for r in records)
