"""Every agent dialect, built from canonical Windows events, becomes the same winevent record."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.winevents.normalise import (
    RECORD_KEYS,
    EventError,
    detect,
    level_name,
    normalise,
    parsed_rfc3339,
    rfc3339,
    utc_text,
)
from tests.support.winevents import (
    CANONICAL,
    DISK_ERROR,
    EXPECTED_SECURITY,
    LEVEL_NAMES,
    LOG_CLEARED,
    LOGON_FAILURE,
    RENDERERS,
    SERVICE_INSTALLED,
    WinEvent,
    expected_time,
    nxlog,
    winlogbeat,
)

RX = "2024-03-05T14:22:36.000Z"


def record_of(document: object) -> dict[str, object]:
    return dict(normalise(document, received_at=RX, source="10.0.0.5:50123", agent="dc01"))


@pytest.mark.parametrize("dialect", sorted(RENDERERS))
@pytest.mark.parametrize("event", CANONICAL, ids=lambda event: str(event.event_id))
def test_each_dialect_gives_the_design_fields(dialect: str, event: WinEvent) -> None:
    record = record_of(RENDERERS[dialect](event))
    assert tuple(record) == RECORD_KEYS
    assert record["service"] == "winevent"
    assert record["dialect"] == dialect
    assert record["event_id"] == event.event_id
    assert record["channel"] == event.channel
    assert record["provider"] == event.provider
    assert record["computer"] is not None and record["computer"].lower() == event.computer.lower()
    assert record["level"] == LEVEL_NAMES[event.level]
    assert record["record_id"] == event.record_id
    assert record["time_created"] == expected_time(event, dialect)
    assert record["message"] == event.message
    assert record["event_data"] == event.data
    assert record["security"] == EXPECTED_SECURITY[event.event_id]
    assert record["agent"] == "dc01"
    assert record["source"] == "10.0.0.5:50123"
    assert record["received_at"] == RX


def test_nxlog_metadata_stays_out_of_event_data() -> None:
    record = record_of(nxlog(LOGON_FAILURE))
    assert "EventID" not in record["event_data"]
    assert "SourceModuleName" not in record["event_data"]
    assert record["event_data"]["SubStatus"] == "0xc000006a"


def test_nxlog_audit_failure_is_information_level_as_windows_logs_it() -> None:
    document = nxlog(LOGON_FAILURE) | {"Severity": "ERROR", "SeverityValue": 4}
    assert record_of(document)["level"] == "information"
    assert record_of(nxlog(DISK_ERROR))["level"] == "error"


def test_nxlog_default_event_time_has_no_zone_and_is_flagged() -> None:
    document = nxlog(SERVICE_INSTALLED) | {"EventTime": "2024-03-05 15:31:12"}
    record = record_of(document)
    assert record["time_created"] == "2024-03-05T15:31:12Z"
    assert record["parse_warnings"] == ["time_created_without_zone"]


def test_winlogbeat_falls_back_to_ecs_fields() -> None:
    document = winlogbeat(LOGON_FAILURE)
    del document["winlog"]["event_id"], document["winlog"]["provider_name"], document["winlog"]["computer_name"]
    record = record_of(document)
    assert record["event_id"] == 4625
    assert record["provider"] == LOGON_FAILURE.provider
    assert record["computer"] == LOGON_FAILURE.computer.lower()
    assert record["security"] == "logon.failure"


def test_user_data_is_the_event_data_when_there_is_no_event_data() -> None:
    record = record_of(winlogbeat(LOG_CLEARED))
    assert record["event_data"]["SubjectUserName"] == "admin"
    assert record["security"] == "audit.log_cleared"


def test_detection_by_keys() -> None:
    assert detect({"winlog": {}, "@timestamp": "x"}) == "winlogbeat"
    assert detect({"EventID": 1}) == "nxlog"
    assert detect({"event_id": 1, "provider_name": "x"}) == "vector"
    assert detect({"event_id": 1, "source_type": "windows_eventlog"}) == "vector"
    assert detect({"event_id": 1, "provider": "x"}) == "generic"
    assert detect({"event": {"code": "4625"}, "@timestamp": "2024-01-01T00:00:00Z"}) == "winlogbeat"
    assert detect({"msg": "hello"}) is None


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([1, 2], "must be a JSON object, not an array"),
        ("text", "must be a JSON object, not a string"),
        ({"msg": "hi"}, "unknown dialect"),
        ({"EventID": "logon"}, "event id 'logon' is not a number"),
        ({"event_id": -1}, "out of range"),
        ({"winlog": {"channel": "Security"}, "@timestamp": "2024-01-01T00:00:00Z"}, "winlogbeat event has no event id"),
    ],
)
def test_unreadable_events_say_why(document: object, reason: str) -> None:
    with pytest.raises(EventError, match=reason):
        record_of(document)


def test_unreadable_time_and_record_id_are_kept_as_null_with_warnings() -> None:
    record = record_of({"event_id": 4625, "time_created": "yesterday", "record_id": "n/a"})
    assert record["time_created"] is None
    assert record["record_id"] is None
    assert record["parse_warnings"] == ["record_id_unreadable", "time_created_unreadable"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-05T14:22:31.1234567Z", "2024-03-05T14:22:31.123456Z"),
        ("2024-03-05T15:22:31+01:00", "2024-03-05T14:22:31Z"),
        (1709648551, "2024-03-05T14:22:31Z"),
        (1709648551500, "2024-03-05T14:22:31.500000Z"),
        ("/Date(1709648551500)/", "2024-03-05T14:22:31.500000Z"),
    ],
)
def test_times_become_rfc3339_utc(value: object, expected: str) -> None:
    assert rfc3339(value, []) == expected


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-01:00", 1e20, True, [1], "soon"])
def test_times_out_of_range_or_unreadable_are_null_with_a_warning(value: object) -> None:
    warnings: list[str] = []
    assert rfc3339(value, warnings) is None
    assert warnings == ["time_created_unreadable"]


def test_level_names_and_numbers() -> None:
    assert level_name("Warning") == "warning"
    assert level_name(2) == "error"
    assert level_name(0) == "information"  # LogAlways: how audit events are logged
    assert level_name("4") == "information"
    assert level_name("loud") is None
    assert level_name(True) is None


# ---- the fast path for UTC times -----------------------------------------------------------------

_DIGIT = st.sampled_from("0123456789")


@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    fraction=st.text(_DIGIT, max_size=9),
    separator=st.sampled_from("T "),
    zone=st.sampled_from(["Z", "+00:00"]),  # NXLog's UTC: "2024-03-05 14:22:31+00:00"
)
def test_utc_text_writes_what_the_long_way_writes(moment: datetime, fraction: str, separator: str, zone: str) -> None:
    stamp = moment.strftime(f"%Y-%m-%d{separator}%H:%M:%S").rjust(19, "0")
    text = stamp + (f".{fraction}" if fraction else "") + zone
    assert utc_text(text) is not None
    assert utc_text(text) == parsed_rfc3339(text, [])


@given(st.text(st.sampled_from("0123456789-T:.Z+ \u0663"), max_size=32))
@settings(max_examples=500)
def test_utc_text_takes_nothing_the_long_way_reads_differently(text: str) -> None:
    fast = utc_text(text)
    if fast is not None:
        assert fast == parsed_rfc3339(text, [])


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-30T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-03-05T24:00:00Z",
        "2024-03-05T14:22:31+01:00",
        "2024-03-05 14:22:31",  # no zone: the long way flags it
        "2024-03-05T14:22:31-00:00",
    ],
)
def test_utc_text_leaves_the_rest_to_the_long_way(text: str) -> None:
    assert utc_text(text) is None
