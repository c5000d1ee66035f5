"""Classification, duplicates, the _bulk body and reply, tokens: the sans-IO parts around a batch."""

from __future__ import annotations

import base64
import json

import pytest

from collectors.winevents.body import BodyError, ItemError
from collectors.winevents.bulk import bulk_reply, item_reply, parse_bulk
from collectors.winevents.classify import CLASSIFICATIONS, classify
from collectors.winevents.dedup import RecentEvents
from collectors.winevents.intake import prepare
from collectors.winevents.tokens import Tokens, presented_secret, split_token, token_problem
from tests.support.winevents import (
    CANONICAL,
    LOGON,
    LOGON_FAILURE,
    SERVICE_INSTALLED,
    generic,
    nxlog,
    winlogbeat,
)

SEC = "Microsoft-Windows-Security-Auditing"


# ---- classification ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_id", "channel", "provider", "expected"),
    [
        (4625, "Security", SEC, "logon.failure"),
        (4740, "Security", SEC, "account.lockout"),
        (4720, "Security", SEC, "account.created"),
        (4722, "Security", SEC, "account.enabled"),
        (4724, "Security", SEC, "account.password_reset"),
        (4725, "Security", SEC, "account.disabled"),
        (4726, "Security", SEC, "account.deleted"),
        (4738, "Security", SEC, "account.changed"),
        (4728, "Security", SEC, "group.member_added"),
        (4732, "Security", SEC, "group.member_added"),
        (4756, "Security", SEC, "group.member_added"),
        (4733, "Security", SEC, "group.member_removed"),
        (1102, "Security", "Microsoft-Windows-Eventlog", "audit.log_cleared"),
        (104, "System", "Microsoft-Windows-Eventlog", "audit.log_cleared"),
        (104, "System", "EventLog", "audit.log_cleared"),  # the legacy provider name
        (7045, "System", "Service Control Manager", "service.installed"),
        (4697, "Security", SEC, "service.installed"),
        (4672, "Security", SEC, "logon.privileged"),
        (4625, "Security", "Security", "logon.failure"),
        (4625, None, None, "logon.failure"),  # an agent that sends no channel or provider
        (4624, "Security", SEC, None),  # routine
        (104, "Application", "MsiInstaller", None),  # same id, another provider
        (7045, "Application", "MyApp", None),
        (4625, "Application", "MyApp", None),
    ],
)
def test_classification(event_id: int, channel: str | None, provider: str | None, expected: str | None) -> None:
    assert classify(event_id, channel, provider) == expected


def test_classification_names_have_a_group() -> None:
    assert all(name.count(".") == 1 for name in CLASSIFICATIONS)


# ---- duplicates --------------------------------------------------------------------------------


def batch_of(documents: list[dict[str, object]], recent: RecentEvents):  # type: ignore[no-untyped-def]
    return prepare(
        list(enumerate(documents)), [], recent, received_at="2024-03-05T14:22:36.000Z", source="s", agent="a"
    )


def test_a_resent_batch_is_recognised_once_stored() -> None:
    recent = RecentEvents(capacity=100)
    documents = [nxlog(event) for event in CANONICAL]
    first = batch_of(documents, recent)
    assert (first.stored, first.duplicates) == (len(CANONICAL), 0)
    again = batch_of(documents, recent)
    assert (again.stored, again.duplicates) == (len(CANONICAL), 0), "not remembered until stored"
    recent.remember(first.records)
    again = batch_of(documents, recent)
    assert (again.stored, again.duplicates) == (0, len(CANONICAL))
    assert {item.outcome for item in again.outcomes} == {"duplicate"}


def test_same_event_through_two_dialects_is_one_event() -> None:
    recent = RecentEvents()
    recent.remember(batch_of([generic(LOGON_FAILURE)], recent).records)
    assert batch_of([winlogbeat(LOGON_FAILURE) | {"@timestamp": LOGON_FAILURE.created}], recent).duplicates == 1


def test_repeats_inside_one_batch_and_events_without_record_id() -> None:
    recent = RecentEvents()
    no_id = generic(LOGON) | {"record_id": None}
    batch = batch_of([generic(LOGON), generic(LOGON), no_id, no_id], recent)
    assert [item.outcome for item in batch.outcomes] == ["stored", "duplicate", "stored", "stored"]


def test_reused_record_id_after_a_log_clear_is_not_a_duplicate() -> None:
    recent = RecentEvents()
    recent.remember(batch_of([generic(LOGON)], recent).records)
    later = generic(LOGON) | {"time_created": "2024-03-06T09:00:00Z"}
    assert batch_of([later], recent).stored == 1


def test_window_is_bounded() -> None:
    recent = RecentEvents(capacity=3)
    events = [generic(LOGON) | {"record_id": number} for number in range(5)]
    recent.remember(batch_of(events, recent).records)
    assert len(recent) == 3
    assert batch_of(events, recent).duplicates == 3  # the two oldest were forgotten


def test_one_bad_event_does_not_lose_the_others() -> None:
    documents: list[object] = [generic(LOGON), {"msg": "?"}, "text", generic(LOGON_FAILURE)]
    batch = prepare(
        list(enumerate(documents)),
        [ItemError(4, "bad JSON at line 5, byte 99: truncated")],
        RecentEvents(),
        received_at="r",
        source="s",
        agent="a",
    )
    assert [record["event_id"] for record in batch.records] == [4624, 4625]
    assert [item.outcome for item in batch.outcomes] == ["stored", "refused", "refused", "stored", "refused"]
    assert batch.errors()[0] == {"index": 1, "reason": batch.outcomes[1].reason}
    assert "unknown dialect" in (batch.errors()[0]["reason"] or "")
    assert batch.security == 1


# ---- _bulk -------------------------------------------------------------------------------------


def ndjson(*lines: object) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def test_bulk_pairs_actions_and_documents() -> None:
    body = ndjson(
        {"create": {"_index": "winlogbeat-8.13.4"}},
        winlogbeat(LOGON),
        {"index": {}},
        winlogbeat(SERVICE_INSTALLED),
        {"delete": {"_index": "x", "_id": "1"}},
        {"update": {"_id": "2"}},
        {"doc": {"a": 1}},
    )
    actions = parse_bulk(body, default_index="fallback")
    assert [action.action for action in actions] == ["create", "index", "delete", "update"]
    assert actions[0].index == "winlogbeat-8.13.4"
    assert actions[1].index == "fallback"
    assert actions[0].document == winlogbeat(LOGON)
    assert actions[2].error and actions[3].error and "not supported" in actions[3].error


def test_bulk_bad_document_line_is_one_item() -> None:
    body = ndjson({"create": {}}, winlogbeat(LOGON)) + b'{"create": {}}\n{"winlog": \n'
    actions = parse_bulk(body, None)
    assert actions[0].error is None
    assert actions[1].error is not None
    assert actions[1].error.startswith("bad JSON at line 4, byte ")
    assert actions[1].error.endswith(": the document is truncated")
    assert int(actions[1].error.split("byte ")[1].split(":")[0]) == len(body) - 1  # before the last newline


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"create": \n{"a": 1}\n', "bulk action line 1 is not valid JSON"),
        (ndjson({"frobnicate": {}}, {}), "unknown action 'frobnicate'"),
        (ndjson({"create": {}, "index": {}}, {}), "is not an action"),
        (ndjson({"create": {}}), "has no document line"),
    ],
)
def test_bulk_refusals(body: bytes, reason: str) -> None:
    with pytest.raises(BodyError, match=reason):
        parse_bulk(body, None)


def test_bulk_reply_shape_libbeat_reads() -> None:
    actions = parse_bulk(ndjson({"create": {"_index": "w"}}, {}, {"create": {"_index": "w"}}, {}), None)
    items = [item_reply(actions[0], 201, None, 1), item_reply(actions[1], 409, "dup", 0)]
    reply = json.loads(bulk_reply(items, 3))
    assert reply["errors"] is True
    assert reply["items"][0] == {
        "create": {
            "_index": "w",
            "status": 201,
            "result": "created",
            "_version": 1,
            "_seq_no": 1,
            "_primary_term": 1,
            "_shards": {"total": 1, "successful": 1, "failed": 0},
        }
    }
    assert reply["items"][1]["create"]["error"]["type"] == "version_conflict_engine_exception"


# ---- tokens ------------------------------------------------------------------------------------

SECRET_A = "alpha-0123456789abcdef"
SECRET_B = "bravo-0123456789abcdef"


def test_token_names_and_matching() -> None:
    tokens = Tokens([f"dc01:{SECRET_A}", SECRET_B])
    assert tokens.names == ["dc01", "token-2"]
    assert tokens.agent(SECRET_A) == "dc01"
    assert tokens.agent(SECRET_B) == "token-2"
    assert tokens.agent(SECRET_A[:-1]) is None
    assert tokens.agent(None) is None
    assert Tokens([]).agent(SECRET_A) is None


def test_tokens_replaced_at_runtime() -> None:
    tokens = Tokens([f"dc01:{SECRET_A}"])
    tokens.replace([f"dc02:{SECRET_B}"])
    assert tokens.agent(SECRET_A) is None
    assert tokens.agent(SECRET_B) == "dc02"


def test_authorization_forms() -> None:
    assert presented_secret(f"Bearer {SECRET_A}") == SECRET_A
    assert presented_secret(f"bearer  {SECRET_A} ") == SECRET_A
    api_key = base64.b64encode(f"dc01:{SECRET_A}".encode()).decode()
    assert presented_secret(f"ApiKey {api_key}") == SECRET_A
    basic = base64.b64encode(f"winlogbeat:{SECRET_A}".encode()).decode()
    assert presented_secret(f"Basic {basic}") == SECRET_A
    assert presented_secret("Basic !!!") is None
    assert presented_secret("Digest x") is None
    assert presented_secret("Bearer") is None
    assert presented_secret(None) is None


def test_token_list_checks() -> None:
    assert split_token(SECRET_A, 3) == ("token-3", SECRET_A)
    assert token_problem([f"dc01:{SECRET_A}", SECRET_B]) is None
    assert "at least 16 characters" in (token_problem(["dc01:short"]) or "")
    assert "used twice" in (token_problem([f"dc01:{SECRET_A}", f"dc01:{SECRET_B}"]) or "")
    assert "name" in (token_problem([f"bad name:{SECRET_A}"]) or "")
