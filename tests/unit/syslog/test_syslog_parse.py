"""The syslog parser, one format and real-world variant at a time, on the fields a user sees."""

from __future__ import annotations

import ast
import base64
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.syslog import FORMATS, RECORD_KEYS, parse_batch, parse_message
from collectors.syslog.parse import OPTIONAL_KEYS, SyslogRecord


def utc(text: str) -> float:
    """POSIX time of "YYYY-MM-DD HH:MM:SS[.fff]" in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


RX = utc("2026-01-10 12:00:00.250")
SOURCE = "192.0.2.7:51514"


def parse(data: bytes, received_at: float = RX) -> SyslogRecord:
    record = parse_message(data, received_at, SOURCE)
    assert tuple(record) == RECORD_KEYS + (OPTIONAL_KEYS if "raw_b64" in record else ())
    assert record["format"] in FORMATS
    assert "parser_error" not in record["parse_warnings"]
    return record


# --- record shape -----------------------------------------------------------------------------


def test_record_has_exactly_the_design_keys_plus_skew_and_warnings() -> None:
    assert RECORD_KEYS == (
        "service",
        "received_at",
        "source",
        "facility",
        "severity",
        "timestamp",
        "hostname",
        "app_name",
        "procid",
        "msgid",
        "structured_data",
        "message",
        "format",
        "raw",
        "clock_skew_s",
        "parse_warnings",
    )
    record = parse(b"<13>Jan 10 12:00:00 host app: hi")
    assert record["service"] == "syslog"
    assert record["source"] == SOURCE
    assert record["received_at"] == "2026-01-10T12:00:00.250Z"


def test_received_at_is_rounded_to_the_millisecond_not_truncated() -> None:
    # 0.123 is 0.12299999... as a float: truncating would print .122.
    assert parse(b"x", utc("2026-01-10 12:00:00") + 0.123)["received_at"] == "2026-01-10T12:00:00.123Z"
    assert parse(b"x", utc("2026-01-10 12:00:00") + 0.9996)["received_at"] == "2026-01-10T12:00:01.000Z"


def test_parse_batch_matches_parse_message() -> None:
    items = [
        (b"<13>Jan 10 12:00:00 host app: one", RX, "10.0.0.1:514"),
        (b"<165>1 2026-01-10T12:00:00Z h a p m - two", RX + 1, "10.0.0.2:514"),
        (b"\xff\xfe", RX + 2, "10.0.0.3:514"),
    ]
    assert parse_batch(items) == [parse_message(*item) for item in items]
    assert parse_batch([]) == []


def test_parsing_from_several_threads_at_once_gives_the_same_records() -> None:
    # The listener parses UDP batches in a thread beside the TCP connections on the event loop;
    # receive times on different days make the shared date caches churn as hard as possible.
    items = [
        (b"<13>Dec 31 23:59:59 host app: %d" % i, utc("2026-01-01 00:00:00") + (i % 2) * 200 * 86400 + i, "h:1")
        for i in range(2000)
    ]
    expected = [parse_message(*item) for item in items]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(parse_batch, [items] * 8))
    assert all(result == expected for result in results)


def test_bytes_that_are_not_utf8_are_kept_in_raw_b64_and_flagged() -> None:
    data = b"<13>Jan 10 12:00:00 host app: caf\xe9 \xff\n"  # Latin-1 from an old device
    record = parse(data)
    assert record["raw"] == data.decode("utf-8", "replace")
    assert record["message"] == "caf\ufffd \ufffd"
    assert (record["hostname"], record["app_name"]) == ("host", "app")  # parsed all the same
    assert base64.b64decode(record["raw_b64"]) == data
    assert record["parse_warnings"] == ["invalid_utf8"]
    # An unparsed datagram keeps its bytes too.
    junk = parse(b"\x00\x81\xfe")
    assert (junk["format"], base64.b64decode(junk["raw_b64"])) == ("unparsed", b"\x00\x81\xfe")
    assert junk["parse_warnings"] == ["no_pri", "invalid_utf8"]


def test_valid_utf8_has_no_raw_b64() -> None:
    record = parse("<13>Jan 10 12:00:00 host app: café \ufffd déjà".encode())
    assert "raw_b64" not in record
    assert record["message"] == "café \ufffd déjà"
    assert record["parse_warnings"] == []


# --- RFC 5424 -----------------------------------------------------------------------------------


def test_rfc5424_example_with_offset_bom_and_two_sd_elements() -> None:
    record = parse(
        b"<165>1 2003-10-11T22:14:15.003-07:00 mymachine.example.com evntslog - ID47 "
        b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
        b'[examplePriority@32473 class="high"] \xef\xbb\xbfAn application event log entry...\n'
    )
    assert record["format"] == "rfc5424"
    assert (record["facility"], record["severity"]) == (20, 5)
    assert record["timestamp"] == "2003-10-12T05:14:15.003Z"  # normalised to UTC
    assert record["hostname"] == "mymachine.example.com"
    assert record["app_name"] == "evntslog"
    assert record["procid"] is None
    assert record["msgid"] == "ID47"
    assert record["structured_data"] == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
        "examplePriority@32473": {"class": "high"},
    }
    assert record["message"] == "An application event log entry..."  # BOM and newline gone


def test_rfc5424_nilvalues_become_null() -> None:
    record = parse(b"<34>1 - - - - - -")
    assert record["format"] == "rfc5424"
    assert (record["facility"], record["severity"]) == (4, 2)
    for key in ("timestamp", "hostname", "app_name", "procid", "msgid", "clock_skew_s"):
        assert record[key] is None, key
    assert record["structured_data"] == {}
    assert record["message"] == ""
    assert record["parse_warnings"] == []


def test_rfc5424_sd_param_escapes() -> None:
    record = parse(rb'<13>1 - h a - - [x@1 q="say \"hi\"" b="back\\slash" c="br\]acket" d="keep\n" e=""] m')
    assert record["structured_data"] == {
        "x@1": {"q": 'say "hi"', "b": "back\\slash", "c": "br]acket", "d": "keep\\n", "e": ""}
    }
    assert record["message"] == "m"


def test_rfc5424_sd_values_may_hold_spaces_brackets_and_equals() -> None:
    record = parse(b'<13>1 - h a - - [meta a="x ] y=z" b="[1]"][origin] text [not sd]')
    assert record["structured_data"] == {"meta": {"a": "x ] y=z", "b": "[1]"}, "origin": {}}
    assert record["message"] == "text [not sd]"


def test_rfc5424_message_keeps_leading_whitespace_and_loses_trailing() -> None:
    assert parse(b"<1>1 - - - - - - \tA \r\n\x00")["message"] == "\tA"


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-01-10T12:00:00Z", "2026-01-10T12:00:00Z"),
        ("2026-01-10T12:00:00.5+00:00", "2026-01-10T12:00:00.5Z"),
        ("2026-01-10T12:00:00.123456-00:00", "2026-01-10T12:00:00.123456Z"),
        ("2026-01-10T12:00:00.123456789Z", "2026-01-10T12:00:00.123456Z"),  # cut to microseconds
        ("2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00Z"),  # crosses the year backwards
        ("2025-12-31T20:00:00.25-05:30", "2026-01-01T01:30:00.25Z"),
        ("2024-02-29T12:00:00Z", "2024-02-29T12:00:00Z"),
        ("2026-01-10T13:00:00+0100", "2026-01-10T12:00:00Z"),  # lenient: no colon in the zone
        ("2026-01-10T12:00:00", "2026-01-10T12:00:00Z"),  # lenient: no zone means UTC
    ],
)
def test_rfc5424_timestamps_are_normalised_to_utc(stamp: str, expected: str) -> None:
    record = parse(f"<13>1 {stamp} h a - - - m".encode())
    assert record["timestamp"] == expected
    assert "bad_timestamp" not in record["parse_warnings"]


@pytest.mark.parametrize("stamp", ["2025-02-29T12:00:00Z", "2026-13-01T00:00:00Z", "2026-01-10T25:00:00Z", "20260110"])
def test_rfc5424_invalid_timestamp_is_null_and_flagged(stamp: str) -> None:
    record = parse(f"<13>1 {stamp} host app - - - the message".encode())
    assert record["format"] == "rfc5424"
    assert record["timestamp"] is None
    assert record["parse_warnings"] == ["bad_timestamp"]
    assert (record["hostname"], record["message"]) == ("host", "the message")


def test_rfc5424_clock_skew_is_measured_and_flagged_past_an_hour() -> None:
    close = parse(b"<13>1 2026-01-10T12:59:00.250Z h a - - - m")
    assert close["clock_skew_s"] == 3540.0
    assert close["parse_warnings"] == []
    far = parse(b"<13>1 2026-01-10T10:00:00.250Z h a - - - m")
    assert far["clock_skew_s"] == -7200.0
    assert far["parse_warnings"] == ["clock_skew"]


def test_rfc5424_overlong_fields_are_kept_and_flagged() -> None:
    app = "A" * 49
    record = parse(f"<13>1 - host {app} - - - m".encode())
    assert record["app_name"] == app
    assert record["parse_warnings"] == ["app_name_too_long"]


def test_rfc5424_malformed_sd_keeps_the_text_as_message() -> None:
    record = parse(b'<13>1 - host app - - [broken a="1" text')
    assert record["format"] == "rfc5424"
    assert record["structured_data"] == {}
    assert record["message"] == '[broken a="1" text'
    assert record["parse_warnings"] == ["bad_structured_data"]


def test_rfc5424_other_versions_and_truncated_headers_are_flagged() -> None:
    assert parse(b"<13>2 - - - - - -")["parse_warnings"] == ["unknown_version"]
    truncated = parse(b"<13>1 - host app")
    assert truncated["format"] == "rfc5424"
    assert truncated["hostname"] == "host"
    assert truncated["app_name"] == "app"
    assert truncated["parse_warnings"] == ["truncated_header"]


# --- RFC 3164 and its real-world variants -------------------------------------------------------


def test_rfc3164_with_tag_and_pid() -> None:
    record = parse(b"<13>Jan 10 12:00:00 web1 sshd[1234]: Accepted publickey for admin\n")
    assert record["format"] == "rfc3164"
    assert (record["facility"], record["severity"]) == (1, 5)
    assert record["timestamp"] == "2026-01-10T12:00:00Z"  # no zone on the wire: UTC
    assert record["clock_skew_s"] == -0.25
    assert (record["hostname"], record["app_name"], record["procid"]) == ("web1", "sshd", "1234")
    assert record["msgid"] is None
    assert record["message"] == "Accepted publickey for admin"
    assert record["parse_warnings"] == []


def test_rfc3164_single_digit_day_is_space_padded() -> None:
    record = parse(b"<13>Dec  2 16:31:03 host app: Test", utc("2026-12-02 16:31:04"))
    assert record["timestamp"] == "2026-12-02T16:31:03Z"


@pytest.mark.parametrize(
    ("data", "hostname", "app_name", "message"),
    [
        (b"<13>Jan 10 12:00:00 sshd[77]: no host", None, "sshd", "no host"),
        (b"<13>Jan 10 12:00:00 Message: no host either", None, "Message", "no host either"),
        (b"<13>Jan 10 12:00:00 10.1.2.3 app: v4", "10.1.2.3", "app", "v4"),
        (b"<13>Jan 10 12:00:00 2001:db8::1 app: v6", "2001:db8::1", "app", "v6"),
        (b"<13>Jan 10 12:00:00 fe80::1%eth0 app: scoped", "fe80::1%eth0", "app", "scoped"),
        (b"<13>Jan 10 12:00:00 host postfix/smtpd[9]: mail", "host", "postfix/smtpd", "mail"),
        (b"<13>Jan 10 12:00:00 host app[9] no colon", "host", "app", "no colon"),
        (b"<13>Jan 10 12:00:00 host just text", "host", None, "just text"),
        (b"<13>Jan 10 12:00:00: host app: colon after time", "host", "app", "colon after time"),
    ],
)
def test_rfc3164_hostname_and_tag_variants(
    data: bytes, hostname: str | None, app_name: str | None, message: str
) -> None:
    record = parse(data)
    assert record["format"] == "rfc3164"
    assert record["timestamp"] == "2026-01-10T12:00:00Z"
    assert (record["hostname"], record["app_name"], record["message"]) == (hostname, app_name, message)


def test_rfc3164_without_pri_is_still_parsed() -> None:
    record = parse(b"Jan 10 12:00:00 host app[3]: no pri")
    assert record["format"] == "rfc3164"
    assert (record["facility"], record["severity"]) == (None, None)
    assert (record["hostname"], record["app_name"], record["procid"]) == ("host", "app", "3")
    assert record["timestamp"] == "2026-01-10T12:00:00Z"
    assert record["parse_warnings"] == ["no_pri"]


def test_rfc3164_with_pri_but_no_header_keeps_the_text() -> None:
    record = parse(b"<13>kernel: link up")
    assert (record["format"], record["app_name"], record["message"]) == ("rfc3164", "kernel", "link up")
    assert record["timestamp"] is None
    assert record["parse_warnings"] == ["no_timestamp"]


@pytest.mark.parametrize(
    "data",
    [b"<13>Jan 10 2026 12:00:00 host app: year first", b"<13>Jan 10 12:00:00 2026 host app: year after"],
)
def test_rfc3164_year_on_the_wire_is_used(data: bytes) -> None:
    record = parse(data, utc("2026-07-01 00:00:00"))  # half a year away: would pick 2026 anyway
    assert record["timestamp"] == "2026-01-10T12:00:00Z"
    assert record["hostname"] == "host"
    old = parse(data.replace(b"2026", b"2019"))
    assert old["timestamp"] == "2019-01-10T12:00:00Z"
    assert "clock_skew" in old["parse_warnings"]


def test_rfc3164_fraction_is_kept() -> None:
    assert parse(b"<13>Jan 10 12:00:00.123456 host app: x")["timestamp"] == "2026-01-10T12:00:00.123456Z"


@pytest.mark.parametrize(
    ("data", "received", "expected"),
    [
        # Sent just before midnight on New Year's Eve, received just after: last year.
        (b"<13>Dec 31 23:59:59 host app: x", "2026-01-01 00:00:05", "2025-12-31T23:59:59Z"),
        # A device clock slightly ahead across New Year: next year.
        (b"<13>Jan  1 00:00:01 host app: x", "2025-12-31 23:59:50", "2026-01-01T00:00:01Z"),
        # Never a log line from the future: a date later this year is last year's.
        (b"<13>Jun 30 12:00:00 host app: x", "2026-01-10 00:00:00", "2025-06-30T12:00:00Z"),
        (b"<13>Mar  1 00:25:12 host app: x", "2026-11-27 04:10:11", "2026-03-01T00:25:12Z"),
        (b"<13>Dec 31 12:00:00 host app: x", "2026-01-01 12:00:00", "2025-12-31T12:00:00Z"),
        # Up to a day ahead is believed (a device clock a little fast, a zone east of UTC) ...
        (b"<13>Jan 11 11:59:59 host app: x", "2026-01-10 12:00:00", "2026-01-11T11:59:59Z"),
        # ... a second more is not: that is last year's date.
        (b"<13>Jan 11 12:00:01 host app: x", "2026-01-10 12:00:00", "2025-01-11T12:00:01Z"),
        # Feb 29 only exists in leap years: the latest one not in the future.
        (b"<13>Feb 29 12:00:00 host app: x", "2028-03-01 00:00:00", "2028-02-29T12:00:00Z"),
        (b"<13>Feb 29 12:00:00 host app: x", "2027-06-01 00:00:00", "2024-02-29T12:00:00Z"),
    ],
)
def test_rfc3164_year_is_the_latest_not_more_than_a_day_ahead(data: bytes, received: str, expected: str) -> None:
    assert parse(data, utc(received))["timestamp"] == expected


def test_rfc3164_day_after_boundary_depends_on_the_time_of_day_not_on_a_cache() -> None:
    # Same receive day, same device date: the answer changes with the receive time of day.
    early = parse(b"<13>Jan 11 18:00:00 host app: x", utc("2026-01-10 17:00:00"))
    late = parse(b"<13>Jan 11 18:00:00 host app: x", utc("2026-01-10 19:00:00"))
    again = parse(b"<13>Jan 11 18:00:00 host app: x", utc("2026-01-10 17:30:00"))
    assert (early["timestamp"], late["timestamp"], again["timestamp"]) == (
        "2025-01-11T18:00:00Z",
        "2026-01-11T18:00:00Z",
        "2025-01-11T18:00:00Z",
    )


def test_rfc3164_old_date_is_flagged_as_clock_skew_not_put_in_the_future() -> None:
    record = parse(b"<13>Mar  1 00:25:12 host app: x", utc("2026-11-27 04:10:11"))
    assert record["timestamp"] == "2026-03-01T00:25:12Z"
    assert record["clock_skew_s"] is not None and record["clock_skew_s"] < 0
    assert record["parse_warnings"] == ["clock_skew"]
    close = parse(b"<13>Nov 27 04:10:00 host app: x", utc("2026-11-27 04:10:11"))
    assert (close["clock_skew_s"], close["parse_warnings"]) == (-11.0, [])


def test_rfc3164_rfc3339_header_from_rsyslog_high_precision() -> None:
    record = parse(b"<30>2026-01-10T13:00:00.123456+01:00 host systemd[1]: Started x.")
    assert record["format"] == "rfc3164"
    assert record["timestamp"] == "2026-01-10T12:00:00.123456Z"
    assert (record["hostname"], record["app_name"], record["procid"]) == ("host", "systemd", "1")


def test_rfc3164_impossible_date_is_flagged() -> None:
    record = parse(b"<13>Feb 30 12:00:00 host app: x")
    assert record["timestamp"] is None
    assert record["parse_warnings"] == ["bad_timestamp"]
    assert record["hostname"] == "host"


def test_pri_out_of_range_is_flagged_and_parsing_goes_on() -> None:
    record = parse(b"<192>Jan 10 12:00:00 host app: x")
    assert (record["facility"], record["severity"]) == (None, None)
    assert record["parse_warnings"] == ["bad_pri"]
    assert (record["hostname"], record["message"]) == ("host", "x")


def test_bom_before_the_pri_is_ignored() -> None:
    record = parse(b"\xef\xbb\xbf<13>Jan 10 12:00:00 host app: x")
    assert (record["facility"], record["hostname"]) == (1, "host")


# --- unparsed -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [b"hello world", b"", b"\x00\x01\x02", b"<abc>Jan 10 12:00:00 host app: x", b"1,2,3,TRAFFIC"]
)
def test_anything_unrecognised_is_kept_whole_as_unparsed(data: bytes) -> None:
    record = parse(data)
    assert record["format"] == "unparsed"
    assert record["message"] == data.decode("utf-8", "replace").rstrip("\r\n\x00")
    assert record["raw"] == data.decode("utf-8", "replace")
    assert record["facility"] is record["timestamp"] is record["hostname"] is None
    assert record["parse_warnings"] == ["no_pri"]  # as the README promises


# --- Cisco ---------------------------------------------------------------------------------------


def test_cisco_ios_counter_unsynced_clock_and_milliseconds() -> None:
    record = parse(b"<189>123: *Jan 10 11:58:50.483 UTC: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.1)")
    assert record["format"] == "cisco_ios"
    assert (record["facility"], record["severity"]) == (23, 5)
    assert record["timestamp"] == "2026-01-10T11:58:50.483Z"
    assert record["app_name"] == "SYS"
    assert record["msgid"] == "SYS-5-CONFIG_I"
    assert record["message"] == "Configured from console by vty0 (10.0.0.1)"
    assert record["structured_data"] == {
        "cisco_ios": {
            "facility": "SYS",
            "severity": "5",
            "mnemonic": "CONFIG_I",
            "counter": "123",
            "clock": "unsynchronised",
        }
    }


def test_cisco_ios_origin_hostname_and_lost_sync_mark() -> None:
    record = parse(b"<187>45: core-sw1: .Jan 10 11:59:58.100 UTC: %LINK-3-UPDOWN: Interface Gi0/1, changed state to up")
    assert record["format"] == "cisco_ios"
    assert record["hostname"] == "core-sw1"
    assert record["msgid"] == "LINK-3-UPDOWN"
    assert record["structured_data"]["cisco_ios"]["clock"] == "sync_lost"
    assert record["timestamp"] == "2026-01-10T11:59:58.100Z"


def test_cisco_ios_zone_name_year_and_sequence_number() -> None:
    record = parse(b"<190>77: 000045: Jan 10 2026 12:59:59.100 CET: %SEC-6-IPACCESSLOGP: list 101 denied tcp")
    assert record["timestamp"] == "2026-01-10T11:59:59.100Z"
    assert record["structured_data"]["cisco_ios"]["sequence"] == "000045"
    assert record["parse_warnings"] == []


def test_cisco_unknown_zone_keeps_the_local_time_unresolved_and_flagged() -> None:
    # IST is India (+05:30), Israel (+02:00) or Ireland (+01:00): never guessed, never UTC.
    record = parse(b"<189>12: Jan 10 17:29:59.500 IST: %SYS-5-RESTART: System restarted")
    assert record["timestamp"] is None
    assert record["clock_skew_s"] is None
    assert record["parse_warnings"] == ["unknown_timezone"]
    fields = record["structured_data"]["cisco_ios"]
    assert (fields["local_time"], fields["timezone"]) == ("2026-01-10T17:29:59.500", "IST")
    assert (record["msgid"], record["message"]) == ("SYS-5-RESTART", "System restarted")


def test_cisco_unknown_zone_behind_a_relay_header_keeps_the_relay_stamp() -> None:
    record = parse(b"<189>Jan 10 12:00:00 10.0.0.1 12: Jan 10 17:29:59 IST: %SYS-5-RESTART: System restarted")
    assert record["timestamp"] == "2026-01-10T12:00:00Z"
    assert record["structured_data"]["cisco_ios"]["local_time"] == "2026-01-10T17:29:59"
    assert record["parse_warnings"] == ["unknown_timezone"]


def test_cisco_uptime_stamp_has_no_timestamp() -> None:
    record = parse(b"<189>12: 1w2d: %SYS-5-RESTART: System restarted")
    assert record["format"] == "cisco_ios"
    assert record["timestamp"] is None
    assert record["structured_data"]["cisco_ios"]["uptime"] == "1w2d"


def test_cisco_relayed_behind_a_bsd_header() -> None:
    record = parse(b"<189>Jan 10 12:00:00 10.0.0.1 77: Jan 10 11:59:59.900: %LINK-5-CHANGED: Interface Gi0/2 down")
    assert record["format"] == "cisco_ios"
    assert record["hostname"] == "10.0.0.1"
    assert record["timestamp"] == "2026-01-10T11:59:59.900Z"  # the device's own, finer stamp
    assert record["msgid"] == "LINK-5-CHANGED"


def test_cisco_asa_with_and_without_header() -> None:
    with_header = parse(b"<166>Jan 10 2026 12:00:00 asa01 : %ASA-6-302013: Built outbound TCP connection 1")
    assert with_header["format"] == "cisco_asa"
    assert (with_header["hostname"], with_header["msgid"]) == ("asa01", "ASA-6-302013")
    assert with_header["timestamp"] == "2026-01-10T12:00:00Z"
    assert with_header["message"] == "Built outbound TCP connection 1"
    bare = parse(b"<166>%ASA-6-302013: Built outbound TCP connection 2")
    assert (bare["format"], bare["msgid"], bare["timestamp"]) == ("cisco_asa", "ASA-6-302013", None)


def test_cisco_nxos_year_first() -> None:
    record = parse(b"<189>: 2026 Jan 10 12:00:00 UTC: %ETHPORT-5-IF_UP: Interface Ethernet1/1 is up")
    assert record["format"] == "cisco_nxos"
    assert record["timestamp"] == "2026-01-10T12:00:00Z"
    assert record["msgid"] == "ETHPORT-5-IF_UP"


def test_cisco_without_pri_takes_severity_from_the_mnemonic() -> None:
    record = parse(b"123: Jan 10 12:00:00: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down")
    assert (record["facility"], record["severity"]) == (None, 3)
    assert record["parse_warnings"] == ["no_pri"]


# --- FortiOS -------------------------------------------------------------------------------------

FORTI = (
    b'<189>date=2026-01-10 time=13:00:00 devname="FG100" devid="FGT60FTK2001" eventtime=1768046400000000000 '
    b'tz="+0100" logid="0000000013" type="traffic" subtype="forward" level="notice" vd="root" '
    b'srcip=10.0.0.1 srcport=51234 dstip=8.8.8.8 dstport=53 action="accept" service="DNS"'
)


def test_fortios_key_values_without_header() -> None:
    record = parse(FORTI)
    assert record["format"] == "fortios"
    assert (record["facility"], record["severity"]) == (23, 5)
    assert record["hostname"] == "FG100"
    assert record["timestamp"] == "2026-01-10T12:00:00Z"  # date+time in the device's tz
    assert record["msgid"] == "0000000013"
    assert record["app_name"] == "traffic"
    fields = record["structured_data"]["fortios"]
    assert fields["type"] == "traffic"
    assert fields["srcip"] == "10.0.0.1"
    assert fields["devid"] == "FGT60FTK2001"
    assert record["message"] == FORTI.decode()[5:]  # no msg= field: the whole key=value text


def test_fortios_msg_field_with_escaped_quotes_becomes_the_message() -> None:
    record = parse(
        b'date=2026-01-10 time=12:00:00 logid="0100032001" type="event" subtype="system" level="information" '
        b'user="admin" msg="Administrator \\"admin\\" logged in" path=C:\\\\tmp'
    )
    assert record["format"] == "fortios"
    assert record["message"] == 'Administrator "admin" logged in'
    assert record["structured_data"]["fortios"]["path"] == "C:\\\\tmp"  # bare values are not unescaped
    assert record["severity"] == 6  # no PRI: from level=
    assert record["parse_warnings"] == ["no_pri"]


def test_fortios_behind_a_bsd_header() -> None:
    record = parse(b"<189>Jan 10 12:00:00 10.9.9.9 " + FORTI[5:])
    assert (record["format"], record["hostname"]) == ("fortios", "FG100")


# --- Palo Alto -----------------------------------------------------------------------------------

PAN_TRAFFIC = (
    b"<14>Jan 10 12:00:00 PA-VM 1,2026/01/10 12:00:00,001801000000,TRAFFIC,end,2560,2026/01/10 11:59:59,"
    b"10.0.0.1,8.8.8.8,0.0.0.0,0.0.0.0,allow-dns,,,dns,vsys1,trust,untrust,ethernet1/1,ethernet1/2,fwd,,"
    b"12345,1,53000,53,0,0,0x0,udp,allow,200,100,100,2,2026/01/10 11:59:58,0,any"
)


def test_paloalto_traffic_csv() -> None:
    record = parse(PAN_TRAFFIC)
    assert record["format"] == "paloalto"
    assert record["hostname"] == "PA-VM"
    assert record["msgid"] == "TRAFFIC"
    assert record["timestamp"] == "2026-01-10T11:59:59Z"  # generated time, it carries the year
    fields = record["structured_data"]["paloalto"]
    assert fields["type"] == "TRAFFIC"
    assert fields["subtype"] == "end"
    assert (fields["src"], fields["dst"], fields["app"], fields["action"]) == ("10.0.0.1", "8.8.8.8", "dns", "allow")
    assert (fields["sport"], fields["dport"], fields["proto"], fields["bytes"]) == ("53000", "53", "udp", "200")
    assert record["message"] == PAN_TRAFFIC.decode().split("PA-VM ", 1)[1]


def test_paloalto_threat_with_quoted_comma() -> None:
    record = parse(
        b"<12>Jan 10 12:00:00 fw1 1,2026/01/10 12:00:00,0011,THREAT,url,2560,2026/01/10 12:00:00,10.0.0.1,"
        b"1.2.3.4,0.0.0.0,0.0.0.0,web,,,web-browsing,vsys1,in,out,e1,e2,fwd,,9,1,5555,80,0,0,0x0,tcp,alert,"
        b'"example.com/a,b",9999,news,informational,client-to-server'
    )
    fields = record["structured_data"]["paloalto"]
    assert fields["misc"] == "example.com/a,b"
    assert (fields["threatid"], fields["category"], fields["severity"]) == ("9999", "news", "informational")


def test_paloalto_in_ietf_format() -> None:
    body = PAN_TRAFFIC.split(b"PA-VM ", 1)[1]
    record = parse(b"<14>1 2026-01-10T12:00:00.000-08:00 PA-VM - - - - " + body)
    assert record["format"] == "paloalto"
    assert record["timestamp"] == "2026-01-10T20:00:00.000Z"
    assert record["structured_data"]["paloalto"]["type"] == "TRAFFIC"
    assert record["msgid"] == "TRAFFIC"


# --- Juniper -------------------------------------------------------------------------------------


def test_juniper_bsd_with_event_tag() -> None:
    record = parse(
        b"<28>Jan 10 12:00:00 mx1 rpd[1234]: RPD_BGP_NEIGHBOR_STATE_CHANGED: BGP peer 10.0.0.2 "
        b"(External AS 65001) changed state from Established to Idle"
    )
    assert record["format"] == "juniper"
    assert (record["hostname"], record["app_name"], record["procid"]) == ("mx1", "rpd", "1234")
    assert record["msgid"] == "RPD_BGP_NEIGHBOR_STATE_CHANGED"
    assert record["message"].startswith("BGP peer 10.0.0.2")


def test_juniper_structured_rfc5424() -> None:
    record = parse(
        b"<165>1 2026-01-10T12:00:00.123Z mx1 mgd 1234 UI_DBASE_LOGOUT_EVENT "
        b"[junos@2636.1.1.1.2.18 username=\"regress\"] User 'regress' exiting configuration mode"
    )
    assert record["format"] == "juniper"
    assert record["msgid"] == "UI_DBASE_LOGOUT_EVENT"
    assert record["structured_data"] == {"junos@2636.1.1.1.2.18": {"username": "regress"}}
    assert record["message"] == "User 'regress' exiting configuration mode"


def test_a_plain_sentence_is_not_taken_for_a_junos_event() -> None:
    assert parse(b"<13>Jan 10 12:00:00 host sshd[1]: Accepted password")["format"] == "rfc3164"


# --- Aruba ---------------------------------------------------------------------------------------


def test_aruba_aos6_ap_message() -> None:
    record = parse(
        b"<12>Jan 10 12:00:00 2026 10.1.1.1 stm[1234]: <501080> <NOTI> |AP ap-01@10.1.1.2 stm|  "
        b"Deauth to sta: 88:63:df:ae:d3:83: Ageout AP"
    )
    assert record["format"] == "aruba"
    assert record["timestamp"] == "2026-01-10T12:00:00Z"
    assert (record["hostname"], record["app_name"], record["procid"]) == ("10.1.1.1", "stm", "1234")
    assert record["msgid"] == "501080"
    assert record["message"] == "Deauth to sta: 88:63:df:ae:d3:83: Ageout AP"
    assert record["structured_data"] == {
        "aruba": {
            "level": "NOTI",
            "component": "AP ap-01@10.1.1.2 stm",
            "ap_name": "ap-01",
            "ap_ip": "10.1.1.2",
            "process": "stm",
        }
    }


def test_aruba_aos8_with_pid_and_node() -> None:
    record = parse(b"<12>Jan 10 11:59:00 wlc1 authmgr[2435]: <522125> <2435> <WARN> <wcp2>  Could not create contract")
    assert (record["format"], record["msgid"]) == ("aruba", "522125")
    assert record["structured_data"]["aruba"] == {"level": "WARN", "pid": "2435", "node": "wcp2"}
    assert record["message"] == "Could not create contract"


# --- Cisco: sequence numbers with an origin-id, AireOS -----------------------------------------

NOV = utc("2026-11-27 04:10:20")


@pytest.mark.parametrize(
    ("data", "counter", "sequence"),
    [
        # counter, origin-id, sequence number (the order most IOS-XE releases use)
        (b"<187>1562: idf3-sw1: 001560: Nov 27 04:10:11.411 UTC: %LINK-3-UPDOWN: Interface Gi1/0/3, "
         b"changed state to down", "1562", "001560"),
        # counter, sequence number, origin-id
        (b"<187>1562: 001560: idf3-sw1: Nov 27 04:10:11.411 UTC: %LINK-3-UPDOWN: Interface Gi1/0/3, "
         b"changed state to down", "1562", "001560"),
        # no counter (`no logging message-counter syslog`): origin-id, sequence number
        (b"<187>idf3-sw1: 001560: Nov 27 04:10:11.411 UTC: %LINK-3-UPDOWN: Interface Gi1/0/3, "
         b"changed state to down", None, "001560"),
    ],
)  # fmt: skip
def test_cisco_ios_origin_id_and_sequence_number_in_either_order(
    data: bytes, counter: str | None, sequence: str
) -> None:
    record = parse(data, NOV)
    assert record["format"] == "cisco_ios"
    assert (record["facility"], record["severity"]) == (23, 3)
    assert record["hostname"] == "idf3-sw1"
    assert record["timestamp"] == "2026-11-27T04:10:11.411Z"
    assert (record["app_name"], record["msgid"]) == ("LINK", "LINK-3-UPDOWN")
    assert record["message"] == "Interface Gi1/0/3, changed state to down"
    fields = record["structured_data"]["cisco_ios"]
    assert (fields["facility"], fields["severity"], fields["mnemonic"]) == ("LINK", "3", "UPDOWN")
    assert fields["sequence"] == sequence
    assert fields.get("counter") == counter
    assert record["parse_warnings"] == []


def test_cisco_ios_unsynced_clock_from_boot_is_this_march_and_skewed() -> None:
    record = parse(
        b"<190>35: SW1: 000034: *Mar  1 00:25:12.345: %LINEPROTO-5-UPDOWN: Line protocol on Interface Vlan1, "
        b"changed state to up",
        NOV,
    )
    assert (record["format"], record["hostname"]) == ("cisco_ios", "SW1")
    assert record["timestamp"] == "2026-03-01T00:25:12.345Z"  # not next March: never the future
    assert record["parse_warnings"] == ["clock_skew"]
    fields = record["structured_data"]["cisco_ios"]
    assert (fields["counter"], fields["sequence"], fields["clock"]) == ("35", "000034", "unsynchronised")
    assert record["msgid"] == "LINEPROTO-5-UPDOWN"


def test_a_counter_alone_is_not_taken_for_an_origin_hostname() -> None:
    record = parse(b"<189>77: 000045: Nov 27 04:10:11: %SYS-5-CONFIG_I: Configured", NOV)
    assert record["hostname"] is None
    assert record["structured_data"]["cisco_ios"]["sequence"] == "000045"


@pytest.mark.parametrize("mark", [b"%", b"#"])
def test_cisco_aireos_wlc_with_task_name(mark: bytes) -> None:
    record = parse(
        b"<131>WLC-VENUE-01: *spamApTask4: Nov 27 04:10:11.456: " + mark + b"CAPWAP-3-ECHO_ERR: "
        b"capwap_ac_sm.c:6694 Did not receive heartbeat reply; AP: 00:08:2f:4a:29:90",
        NOV,
    )
    assert record["format"] == "cisco_aireos"
    assert (record["facility"], record["severity"]) == (16, 3)
    assert record["hostname"] == "WLC-VENUE-01"
    assert record["timestamp"] == "2026-11-27T04:10:11.456Z"
    assert (record["app_name"], record["msgid"]) == ("CAPWAP", "CAPWAP-3-ECHO_ERR")
    assert record["message"] == "capwap_ac_sm.c:6694 Did not receive heartbeat reply; AP: 00:08:2f:4a:29:90"
    assert record["structured_data"] == {
        "cisco_aireos": {"facility": "CAPWAP", "severity": "3", "mnemonic": "ECHO_ERR", "task": "spamApTask4"}
    }


def test_cisco_aireos_without_system_name_and_with_a_spaced_task() -> None:
    record = parse(b"<134>*DHCP Socket Task: Nov 27 04:10:11.456: %DHCP-6-PROXY_DISABLED: proxy disabled", NOV)
    assert (record["format"], record["hostname"]) == ("cisco_aireos", None)
    assert record["structured_data"]["cisco_aireos"]["task"] == "DHCP Socket Task"


def test_cisco_aireos_relayed_behind_a_bsd_header() -> None:
    record = parse(
        b"<131>Nov 27 04:10:12 10.20.0.5 WLC-VENUE-01: *apfReceiveTask: Nov 27 04:10:11.456: "
        b"%APF-3-AUTHENTICATION_TRAP: apf_80211.c:21442 Client Authenticated",
        NOV,
    )
    assert (record["format"], record["hostname"]) == ("cisco_aireos", "WLC-VENUE-01")
    assert record["timestamp"] == "2026-11-27T04:10:11.456Z"
    assert record["msgid"] == "APF-3-AUTHENTICATION_TRAP"


def test_a_hash_mnemonic_without_a_task_is_not_cisco() -> None:
    record = parse(b"<13>Nov 27 04:10:11 host app: #SYS-5-X: not a Cisco line", NOV)
    assert (record["format"], record["app_name"]) == ("rfc3164", "app")


# --- Meraki --------------------------------------------------------------------------------------


def test_meraki_flows_epoch_stamp_and_key_values() -> None:
    record = parse(
        b"<134>1 1795752611.123456789 MX250_Venue flows src=10.1.20.31 dst=8.8.8.8 mac=58:1F:AA:CE:61:F2 "
        b"protocol=udp sport=55719 dport=53 pattern: allow all",
        NOV,
    )
    assert record["format"] == "meraki"
    assert (record["facility"], record["severity"]) == (16, 6)
    assert record["timestamp"] == "2026-11-27T04:10:11.123456Z"
    assert record["hostname"] == "MX250_Venue"
    assert (record["app_name"], record["procid"], record["msgid"]) == ("flows", None, None)
    assert record["structured_data"] == {
        "meraki": {
            "category": "flows",
            "src": "10.1.20.31",
            "dst": "8.8.8.8",
            "mac": "58:1F:AA:CE:61:F2",
            "protocol": "udp",
            "sport": "55719",
            "dport": "53",
            "pattern": "allow all",
        }
    }
    assert record["message"].startswith("src=10.1.20.31 dst=8.8.8.8")
    assert record["parse_warnings"] == []


def test_meraki_event_log_type_and_quoted_values() -> None:
    record = parse(
        b"<134>1 1795752611.5 MR46_Hall events type=association radio='1' vap='0' channel='36' rssi='41' "
        b"aid='1436389048'",
        NOV,
    )
    assert (record["app_name"], record["msgid"]) == ("events", "association")
    fields = record["structured_data"]["meraki"]
    assert (fields["radio"], fields["channel"], fields["rssi"]) == ("1", "36", "41")
    assert record["timestamp"] == "2026-11-27T04:10:11.5Z"


def test_meraki_event_word_before_fields_and_a_free_text_event() -> None:
    ids = parse(
        b"<134>1 1795752611.123456789 MX250_Venue security_event ids_alerted signature=1:28423:1 priority=1 "
        b"direction=ingress src=203.0.113.9:80 dst=10.1.20.31:52000 message: EXPLOIT-KIT Multiple exploit kit",
        NOV,
    )
    assert (ids["app_name"], ids["msgid"]) == ("security_event", "ids_alerted")
    assert ids["structured_data"]["meraki"]["message"] == "EXPLOIT-KIT Multiple exploit kit"
    assert ids["structured_data"]["meraki"]["signature"] == "1:28423:1"
    port = parse(b"<134>1 1795752611.123456789 MS225_IDF3 events port 3 status changed from 100fdx to down", NOV)
    assert (port["format"], port["app_name"], port["msgid"]) == ("meraki", "events", None)
    assert port["message"] == "port 3 status changed from 100fdx to down"
    assert port["structured_data"] == {"meraki": {"category": "events"}}


def test_meraki_air_marshal_bare_value_after_a_space() -> None:
    record = parse(
        b"<134>1 1795752611.123456789 MR46_Hall airmarshal_events type= rogue_ssid_detected ssid='' "
        b"bssid='02:18:5A:AE:56:00' vlan_id='0'",
        NOV,
    )
    assert record["msgid"] == "rogue_ssid_detected"
    assert record["structured_data"]["meraki"]["ssid"] == ""


def test_rfc5424_with_a_broken_stamp_is_still_not_meraki() -> None:
    record = parse(b"<13>1 20260110 host app - - - the message")
    assert (record["format"], record["parse_warnings"]) == ("rfc5424", ["bad_timestamp"])


# --- Ubiquiti UniFi ------------------------------------------------------------------------------


def test_unifi_device_id_and_firmware_are_not_the_program() -> None:
    record = parse(
        b"<30>Nov 27 04:10:11 U6-LR-Sec104 f4e2c6aabbcc,U6-LR-6.5.28+14491: hostapd: ath0: STA "
        b"11:22:33:44:55:66 IEEE 802.11: associated",
        NOV,
    )
    assert record["format"] == "unifi"
    assert (record["hostname"], record["app_name"]) == ("U6-LR-Sec104", "hostapd")
    assert record["message"] == "ath0: STA 11:22:33:44:55:66 IEEE 802.11: associated"
    assert record["structured_data"] == {
        "unifi": {"device_mac": "f4e2c6aabbcc", "model": "U6-LR", "firmware": "6.5.28+14491"}
    }
    assert record["timestamp"] == "2026-11-27T04:10:11Z"


def test_unifi_switch_and_the_older_quoted_prefix() -> None:
    switch = parse(b"<30>Nov 27 04:10:11 USW-IDF3 788a20aabbcc,USW-24-PoE-6.5.59.14777+0: switch: Port 7 up", NOV)
    assert (switch["app_name"], switch["message"]) == ("switch", "Port 7 up")
    assert switch["structured_data"]["unifi"]["model"] == "USW-24-PoE"
    old = parse(b'<30>Nov 27 04:10:11 ("U7PG2,802aa8aabbcc,v4.0.80.10875") hostapd[998]: ath0: STA left', NOV)
    assert (old["format"], old["app_name"], old["procid"]) == ("unifi", "hostapd", "998")
    assert old["structured_data"]["unifi"] == {
        "device_mac": "802aa8aabbcc",
        "model": "U7PG2",
        "firmware": "4.0.80.10875",
    }


# --- programs behind a prefix: ProCurve, F5, Snare, a tab --------------------------------------


def test_hpe_procurve_event_id_and_subsystem() -> None:
    record = parse(b"<14>Nov 27 04:10:11 10.1.1.5 00435 ports: port 1 is now on-line", NOV)
    assert (record["hostname"], record["app_name"], record["msgid"]) == ("10.1.1.5", "ports", "00435")
    assert record["message"] == "port 1 is now on-line"
    assert record["format"] == "rfc3164"


def test_f5_level_word_before_the_program() -> None:
    record = parse(
        b"<133>Nov 27 04:10:11 bigip1.venue notice mcpd[6120]: 01070638:5: Pool /Common/web member "
        b"/Common/10.0.0.5:80 monitor status down.",
        NOV,
    )
    assert (record["hostname"], record["app_name"], record["procid"]) == ("bigip1.venue", "mcpd", "6120")
    assert record["msgid"] == "01070638"
    assert record["message"] == "Pool /Common/web member /Common/10.0.0.5:80 monitor status down."
    assert (record["facility"], record["severity"]) == (16, 5)
    no_pri = parse(b"Nov 27 04:10:11 bigip1 err tmm1[11234]: 01010028:3: No members available for pool", NOV)
    assert (no_pri["app_name"], no_pri["severity"], no_pri["msgid"]) == ("tmm1", 3, "01010028")


SNARE = (
    b"MSWinEventLog\t1\tSecurity\t8812\tFri Nov 27 04:10:09 2026\t4625\tMicrosoft-Windows-Security-Auditing\t"
    b"N/A\tN/A\tFailure Audit\tDC01.corp.example\tLogon\t\tAn account failed to log on.  Subject: ...\t77112"
)


def test_snare_windows_events_over_syslog() -> None:
    record = parse(b"<13>Nov 27 04:10:11 DC01 " + SNARE, NOV)
    assert record["format"] == "snare"
    assert (record["hostname"], record["app_name"], record["msgid"]) == ("DC01", "MSWinEventLog", "4625")
    assert record["message"] == "An account failed to log on.  Subject: ..."
    assert record["structured_data"] == {
        "snare": {
            "criticality": "1",
            "channel": "Security",
            "snare_counter": "8812",
            "submit_time": "Fri Nov 27 04:10:09 2026",
            "event_id": "4625",
            "provider": "Microsoft-Windows-Security-Auditing",
            "user": "N/A",
            "sid_type": "N/A",
            "event_type": "Failure Audit",
            "computer": "DC01.corp.example",
            "category": "Logon",
            "event_log_counter": "77112",
        }
    }
    assert record["timestamp"] == "2026-11-27T04:10:11Z"


def test_snare_with_a_tab_after_the_hostname() -> None:
    record = parse(b"<13>Nov 27 04:10:11 DC01\t" + SNARE, NOV)
    assert (record["format"], record["hostname"], record["msgid"]) == ("snare", "DC01", "4625")


def test_tab_after_the_tag_colon() -> None:
    record = parse(b"<13>Nov 27 04:10:11 nas01 app:\ttext after a tab", NOV)
    assert (record["app_name"], record["message"]) == ("app", "text after a tab")


# --- FortiOS eventtime ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eventtime", "expected"),
    [
        ("1795752611123456789", "2026-11-27T04:10:11.123456Z"),  # ns (FortiOS 6.2+)
        ("1795752611123456", "2026-11-27T04:10:11.123456Z"),  # us
        ("1795752611", "2026-11-27T04:10:11Z"),  # s
    ],
)
def test_fortios_eventtime_is_preferred_over_date_time_and_tz(eventtime: str, expected: str) -> None:
    # date/time in India time with an ambiguous `IST`: eventtime is UTC and exact.
    record = parse(
        f'<189>date=2026-11-27 time=09:40:11 devname="FG100" eventtime={eventtime} tz="IST" '
        f'logid="0100032001" type="event" subtype="system" level="information" msg="Admin login"'.encode(),
        NOV,
    )
    assert record["timestamp"] == expected
    assert record["parse_warnings"] == []
    assert record["message"] == "Admin login"


def test_fortios_unknown_tz_without_eventtime_stays_unresolved() -> None:
    record = parse(
        b'<189>date=2026-11-27 time=09:40:11 devname="FG100" tz="IST" logid="1" type="event" level="notice"', NOV
    )
    assert record["timestamp"] is None
    assert record["parse_warnings"] == ["unknown_timezone"]
    fields = record["structured_data"]["fortios"]
    assert (fields["date"], fields["time"], fields["tz"]) == ("2026-11-27", "09:40:11", "IST")
    assert fields["local_time"] == "2026-11-27T09:40:11"


# --- the package stays sans-IO ------------------------------------------------------------------

SANS_IO_IMPORTS = {"__future__", "base64", "collections", "csv", "datetime", "itertools", "re", "typing", "collectors"}


@pytest.mark.parametrize("module", ["parse.py", "framing.py", "profiles.py", "shapes.py"])
def test_parser_modules_import_nothing_that_does_io(module: str) -> None:
    path = Path(__file__).parents[3] / "collectors" / "syslog" / module
    tree = ast.parse(path.read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
            if node.module.startswith("collectors"):
                assert node.module.startswith("collectors.syslog"), node.module
    assert imported <= SANS_IO_IMPORTS
