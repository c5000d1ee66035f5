"""What sinks put on the wire: RFC 5424 relays, HTTP answers, gap records."""

from __future__ import annotations

import re

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nocraven.buffer.ledger import Drop, DropReason, LedgerEntry
from nocraven.forward.batching import make_batch
from nocraven.forward.gaps import gap_batches
from nocraven.forward.sinks.base import Delivered, Rejected, Retry
from nocraven.forward.sinks.http import classify, retry_after
from nocraven.forward.sinks.syslog import encode_batch, format_5424

# SD values may hold any UTF-8, newlines included: octet counting frames them.
HEADER = re.compile(rb"^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]+) ", re.DOTALL)


def test_a_relayed_message_keeps_its_hostname_timestamp_and_fields() -> None:
    record = {
        "service": "syslog",
        "facility": 4,
        "severity": 3,
        "timestamp": "2026-11-30T08:15:30.250+01:00",
        "hostname": "sw-core-01",
        "app_name": "sshd",
        "procid": "4242",
        "msgid": "AUTH",
        "structured_data": {"origin@32473": {"ip": "10.1.0.2", "note": 'say "hi" ]'}},
        "message": "Failed password for admin",
        "received_at": "2026-11-30T07:15:31.000Z",
        "source": "10.1.0.2:514",
    }
    line = format_5424(record, "arena-01")
    assert line == (
        b"<35>1 2026-11-30T08:15:30.250000+01:00 sw-core-01 sshd 4242 AUTH "
        b'[origin@32473 ip="10.1.0.2" note="say \\"hi\\" \\]"] Failed password for admin'
    )


def test_missing_fields_fall_back_to_what_the_appliance_saw() -> None:
    record = {
        "service": "syslog",
        "timestamp": None,
        "hostname": None,
        "message": "x y",
        "received_at": "2026-11-30T07:15:31Z",
        "source": "10.1.0.9:51514",
    }
    assert format_5424(record, "arena-01") == b"<13>1 2026-11-30T07:15:31Z 10.1.0.9 - - - - x y"


@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(
                [
                    "service",
                    "facility",
                    "severity",
                    "timestamp",
                    "hostname",
                    "app_name",
                    "procid",
                    "msgid",
                    "structured_data",
                    "message",
                    "received_at",
                    "source",
                ]
            ),
            st.one_of(
                st.none(),
                st.integers(-5, 30),
                st.text(max_size=40),
                st.dictionaries(
                    st.text(max_size=8),
                    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
                    max_size=3,
                ),
            ),
        ),
        max_size=10,
    )
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_any_record_becomes_well_framed_rfc5424(records) -> None:
    raws = [msgspec.json.encode({**r, "service": "syslog"}) for r in records] + [b"not json"]
    data = encode_batch(make_batch("arena-01", "syslog", 1, raws))
    count = 0
    while data:
        length, _, rest = data.partition(b" ")
        size = int(length)
        message, data = rest[:size], rest[size:]
        header = HEADER.match(message)
        assert header is not None, message
        assert 0 <= int(header.group(1)) <= 191
        for field, limit in zip(header.groups()[2:6], (255, 48, 128, 32), strict=True):
            assert 1 <= len(field) <= limit and b" " not in field
        count += 1
    assert count == len(raws)


def test_http_answers_decide_retry_quarantine_or_success() -> None:
    assert classify(204, "", None, "k") == Delivered()
    assert classify(429, "slow down", 3.0, "k") == Retry("gateway answered 429 for k: slow down", 3.0)
    assert isinstance(classify(503, "", None, "k"), Retry)
    assert isinstance(classify(500, "boom", None, "k"), Retry)
    refused = classify(413, "too large", None, "arena-01.flow.1-10")
    assert isinstance(refused, Rejected) and "413" in refused.reason and "arena-01.flow.1-10" in refused.reason
    assert retry_after("120", 0) == 120.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10.0
    assert retry_after("soon", 0) is None and retry_after(None, 0) is None


def test_ledger_rows_become_gap_records_for_the_forwarded_services() -> None:
    rows = [
        LedgerEntry(
            7,
            1_796_000_000.0,
            Drop("flow", DropReason.QUOTA, 1200, 480_000, 1_795_999_000.0, 1_795_999_500.0, "10.2.0.1:2055", 1, 1200),
        ),
        LedgerEntry(8, 1_796_000_001.0, Drop("poll", DropReason.AGE, 5, 500, 1.0, 2.0)),
        LedgerEntry(9, 1_796_000_002.0, Drop("syslog", DropReason.KERNEL_DROP, 17, 1700, 3.0, 4.0)),
    ]
    batches, last = gap_batches("arena-01", rows, ("flow", "syslog"))
    assert last == 9
    assert [b.message_id for b in batches] == ["arena-01.gap.7-7", "arena-01.gap.9-9"]
    gap = msgspec.json.decode(batches[0].records[0])
    assert gap == {
        "service": "gap",
        "received_at": "2026-11-30T00:53:20.000Z",
        "source": "10.2.0.1:2055",
        "reason": "quota",
        "records": 1200,
        "bytes": 480_000,
        "first": "2026-11-30T00:36:40.000Z",
        "last": "2026-11-30T00:45:00.000Z",
        "lost_service": "flow",
        "first_seq": 1,
        "last_seq": 1200,
        "ledger_id": 7,
    }
