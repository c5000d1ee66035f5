"""Telegraf's syslog input test cases, run through our framer and parser.

The corpus (../shared/corpora/telegraf-syslog-testcases, see its SOURCE.md) feeds each case's
`input*.txt` to a listener of the transport in `telegraf.conf` and expects `expected.out`
(InfluxDB line protocol) or `expected.err`. TLS only changes the transport, so TLS cases run
here at the framer+parser level too; Unix-socket cases are skipped (we have no such listener).

Where telegraf rejects (strict mode) or stops early (best effort), our product keeps the
message: for those cases we assert that it is not passed off as a clean RFC 5424 record.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.syslog import SyslogFramer, parse_message
from collectors.syslog.parse import SyslogRecord
from tests.support.syslog_corpus import (
    CORPUS,
    RECEIVED_AT,
    assert_matches,
    cases,
    is_flagged,
    parse_line_protocol,
    read_conf,
    rfc3339_to_ns,
)


def test_line_protocol_reader() -> None:
    tags, fields = parse_line_protocol(
        r'syslog,appname=a\ b,source=127.0.0.1 message="say \"hi\"\nbye",origin=true,severity_code=5i,version=1u 0'
    )
    assert tags == {"appname": "a b", "source": "127.0.0.1"}
    assert fields == {"message": 'say "hi"\nbye', "origin": True, "severity_code": 5, "version": 1}


# --- running a case ----------------------------------------------------------------------------


def run_case(case: Path) -> tuple[list[SyslogRecord], SyslogFramer | None]:
    conf = read_conf(case)
    inputs = sorted(case.glob("input*.txt"))
    source = "127.0.0.1:40124"
    if conf["server"].startswith("udp://"):
        return [parse_message(p.read_bytes(), RECEIVED_AT, source) for p in inputs], None
    framer = SyslogFramer(int(conf.get("max_message_length", 64 * 1024)))
    frames = []
    for p in inputs:  # one connection, one write per input file
        frames += framer.feed(p.read_bytes())
    frames += framer.flush()
    return [parse_message(frame, RECEIVED_AT, source) for frame in frames], framer


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not present at {CORPUS}")
@pytest.mark.parametrize("name", cases())
def test_telegraf_case(name: str) -> None:
    case = CORPUS / name
    conf = read_conf(case)
    if conf["server"].startswith("unix://"):
        pytest.skip("unix-socket transport: we have no such listener")
    records, framer = run_case(case)
    is_3164 = conf.get("syslog_standard") == "RFC3164"
    expected_out = case / "expected.out"
    expected = (
        [parse_line_protocol(line) for line in expected_out.read_text().splitlines() if line.strip()]
        if (expected_out.is_file())
        else []
    )

    if not (case / "expected.err").is_file():
        assert framer is None or framer.errors == 0
        assert len(records) == len(expected)
        for record, (tags, fields) in zip(records, expected, strict=True):
            assert_matches(record, tags, fields, is_3164=is_3164)
        return

    # Telegraf rejects these (strict) or salvages a prefix (best effort). We keep the text:
    # the framer counts an error, or the record is marked as not a clean RFC 5424 message.
    framing_error = framer is not None and framer.errors > 0
    assert records, "nothing dropped: the text must come out as a record"
    assert framing_error or any(is_flagged(r) for r in records)
    for record in records:
        assert record["raw"]
    if expected:
        # What telegraf salvaged (PRI at least) we report as well.
        tags, fields = expected[0]
        assert (records[0]["facility"], records[0]["severity"]) == (fields["facility_code"], fields["severity_code"])
        if "hostname" in tags:
            assert records[0]["hostname"] == tags["hostname"]
        if "timestamp" in fields:
            assert records[0]["timestamp"] is not None
            assert rfc3339_to_ns(records[0]["timestamp"]) == fields["timestamp"]


def test_too_long_app_name_is_kept_not_cut() -> None:
    """Telegraf's best effort stops at a 49+ character APP-NAME; we keep it and the rest, flagged."""
    case = CORPUS / "rfc5424_best_effort_toolong_appname"
    if not case.is_dir():
        pytest.skip("corpus not present")
    [record] = run_case(case)[0]
    assert record["app_name"] == "ALongApplicationNameContainingMoreThanTheAllowed48Character"
    assert record["msgid"] == "ID47"
    assert record["message"] == "BOM'su root' failed for lonvick on /dev/pts/8"
    assert "app_name_too_long" in record["parse_warnings"]


def test_octet_underflow_keeps_both_pieces() -> None:
    """`16 <1>217 <11>1 - - - - - -`: the count covers only part of the text; telegraf keeps a
    version-217 header, we keep the counted frame and the trailing bytes as two records."""
    case = CORPUS / "octet_counting_strict_tcp_1st_underflow_malfunction"
    if not case.is_dir():
        pytest.skip("corpus not present")
    records, _ = run_case(case)
    assert [r["raw"] for r in records] == ["<1>217 <11>1 - -", " - - - -"]
    assert [r["format"] for r in records] == ["rfc3164", "unparsed"]
    assert records[0]["parse_warnings"] == ["no_timestamp"]
