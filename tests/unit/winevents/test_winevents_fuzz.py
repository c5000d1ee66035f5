"""Property tests: no body, encoding or event makes the intake raise anything but its own
refusals, and every item of a batch is accounted for (stored, duplicate or refused)."""

from __future__ import annotations

import gzip
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.winevents.body import BodyError, decode_content, parse_documents
from collectors.winevents.bulk import parse_bulk
from collectors.winevents.dedup import RecentEvents
from collectors.winevents.intake import prepare
from collectors.winevents.normalise import RECORD_KEYS
from tests.support.winevents import CANONICAL, RENDERERS

SAMPLES = [json.dumps(render(event)).encode() for render in RENDERERS.values() for event in CANONICAL]
KEYS = ["EventID", "event_id", "winlog", "event", "@timestamp", "record_id", "RecordNumber", "EventTime",
        "time_created", "timestamp", "level", "Severity", "SeverityValue", "channel", "Channel", "computer",
        "provider_name", "event_data", "user_data", "code", "message", "log"]  # fmt: skip

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.datetimes(timezones=st.timezones() | st.none()).map(lambda moment: moment.isoformat()),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=6),
    max_leaves=12,
)  # fmt: skip
events = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=10)


def cut(data: bytes, at: int) -> bytes:
    return data[: at % (len(data) + 1)]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=300),
        st.sampled_from(SAMPLES).flatmap(lambda s: st.integers(0, len(s)).map(lambda n: cut(s, n))),
    )
)
def test_any_body_is_parsed_or_refused_with_a_reason(body: bytes) -> None:
    try:
        documents = parse_documents(body)
    except BodyError as exc:
        assert exc.reason and 400 <= exc.status < 500
        return
    assert documents.items or documents.errors
    assert all(error.reason for error in documents.errors)


@settings(max_examples=120, deadline=None)
@given(st.lists(events | json_values, min_size=1, max_size=5), st.lists(st.integers(0, 2000), max_size=3))
def test_any_batch_is_accounted_for(documents: list[Any], cuts: list[int]) -> None:
    body = b"\n".join(json.dumps(document).encode() for document in documents)
    for at in cuts:
        body = cut(body, at)
    try:
        parsed = parse_documents(body)
    except BodyError:
        return
    batch = prepare(parsed.items, parsed.errors, RecentEvents(), received_at="r", source="s", agent="a")
    assert batch.stored + batch.duplicates + batch.refused == len(parsed.items) + len(parsed.errors)
    assert all(tuple(record) == RECORD_KEYS for record in batch.records)
    assert all(isinstance(record["event_id"], int) for record in batch.records)


@settings(max_examples=200)
@given(st.binary(max_size=200), st.sampled_from(["gzip", "deflate", "zstd", "identity", "br", "x-gzip"]))
def test_any_encoded_body_is_decoded_or_refused(data: bytes, encoding: str) -> None:
    try:
        decoded = decode_content(data, encoding, 1 << 16)
    except BodyError as exc:
        assert exc.status in (400, 413, 415)
        return
    assert len(decoded) <= 1 << 16


@settings(max_examples=100)
@given(st.sampled_from(SAMPLES), st.integers(0, 10_000))
def test_truncated_gzip_is_refused(sample: bytes, at: int) -> None:
    compressed = gzip.compress(sample)
    truncated = cut(compressed, at)
    try:
        assert decode_content(truncated, "gzip", 1 << 20) == sample
    except BodyError as exc:
        assert exc.status == 400


@settings(max_examples=120, deadline=None)
@given(st.lists(events | json_values, max_size=5), st.integers(0, 5000))
def test_any_bulk_body_is_parsed_or_refused(documents: list[Any], at: int) -> None:
    lines: list[Any] = []
    for document in documents:
        lines += [{"create": {"_index": "w"}}, document]
    body = cut(b"\n".join(json.dumps(line).encode() for line in lines), at)
    try:
        actions = parse_bulk(body, None)
    except BodyError as exc:
        assert exc.reason
        return
    assert all(action.action in ("create", "index") or action.error for action in actions)
    assert len(actions) <= len(documents)
    batch = prepare(
        [(i, a.document) for i, a in enumerate(actions) if a.error is None],
        [],
        RecentEvents(),
        received_at="r",
        source="s",
        agent="a",
    )
    assert batch.stored + batch.duplicates + batch.refused == sum(1 for a in actions if a.error is None)
