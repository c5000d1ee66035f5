"""Property tests: no datagram makes the receiver raise; every one is accepted or counted."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.snmptrap import ber
from collectors.snmptrap.compose import Agent, discovery_probe, v1_trap, v2_pdu, v2c_notification
from collectors.snmptrap.receiver import TrapReceiver
from collectors.snmptrap.settings import SnmptrapSettings, SnmpUser

NOW = 1796120000.0
PEER = ("203.0.113.5", 1162)
ENGINE = bytes.fromhex("80001f88050102030405060708")
DEVICE = bytes.fromhex("8000000903000102030405")
USERS = [
    SnmpUser("noc", "SHA", "auth-pass-1", "AES", "priv-pass-1"),
    SnmpUser("des", "MD5", "auth-pass-2", "DES", "pp-22222"),
]
VARBINDS: list[tuple[str, int, Any]] = [
    ("1.3.6.1.2.1.2.2.1.1.3", ber.INTEGER, 3),
    ("1.3.6.1.2.1.2.2.1.2.3", ber.OCTET_STRING, b"Gi0/3"),
    ("1.3.6.1.2.1.31.1.1.1.6.3", ber.COUNTER64, 123456789012),
    ("1.3.6.1.6.3.18.1.3.0", ber.IP_ADDRESS, "10.1.1.1"),
]
_AGENT = Agent(USERS, DEVICE)
_TRAP_PDU = v2_pdu("1.3.6.1.6.3.1.1.5.3", VARBINDS, uptime=5)


def new_receiver() -> TrapReceiver:
    return TrapReceiver(SnmptrapSettings(communities=["public"], users=USERS), None, ENGINE, 1, NOW - 10)


_INFORM_PDU = v2_pdu("1.3.6.1.6.3.1.1.5.4", VARBINDS, request_id=9, inform=True)
SAMPLES = [
    v2c_notification("public", "1.3.6.1.6.3.1.1.5.3", VARBINDS, uptime=5),
    v2c_notification("public", "1.3.6.1.6.3.1.1.5.4", VARBINDS, request_id=7, inform=True),
    v1_trap("public", "1.3.6.1.4.1.9", "10.0.0.1", 6, 3, 99, VARBINDS),
    _AGENT.trap("noc", _TRAP_PDU, NOW),
    _AGENT.trap("des", _TRAP_PDU, NOW),
    _AGENT.inform("noc", _INFORM_PDU, new_receiver().usm, NOW),
    discovery_probe(),
]


def outcomes(receiver: TrapReceiver) -> int:
    """Every datagram lands in exactly one counter."""
    counters = receiver.counters
    totals = counters.totals
    per_agent = sum(a["discovery_probes"] + a["duplicate_informs"] for a in counters.agents.values())
    return totals["traps"] + totals["informs"] + totals["malformed"] + totals["refused"] + per_agent


def feed(receiver: TrapReceiver, datagram: bytes) -> None:
    before = outcomes(receiver)
    handled = receiver.handle(datagram, PEER, NOW)
    assert outcomes(receiver) == before + 1
    sample = receiver.counters.last_malformed
    # The catch-all in `handle` must never be what saved us: that would hide a decoder bug.
    assert sample is None or not sample["reason"].startswith("decoder error"), sample
    for record in handled.records:
        assert record["service"] == "trap" and record["trap_oid"]
        for varbind in record["varbinds"]:
            assert set(varbind) <= {"oid", "name", "type", "value", "hex"}


def test_every_sample_is_accepted() -> None:
    receiver = new_receiver()
    for datagram in SAMPLES[:-1]:
        assert len(receiver.handle(datagram, PEER, NOW).records) == 1
    assert receiver.handle(SAMPLES[-1], PEER, NOW).reply is not None  # the discovery probe


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes(datagram: bytes) -> None:
    feed(new_receiver(), datagram)


@settings(max_examples=300)
@given(st.sampled_from(SAMPLES), st.data())
def test_truncated_datagrams(sample: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(sample) - 1))
    receiver = new_receiver()
    feed(receiver, sample[:cut])
    assert receiver.counters.totals["traps"] == 0 and receiver.counters.totals["informs"] == 0
    assert receiver.counters.totals["malformed"] + receiver.counters.totals["refused"] == 1


edits = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4)


@settings(max_examples=600)
@given(st.sampled_from(SAMPLES), edits)
def test_mutated_datagrams(sample: bytes, edits: list[tuple[int, int]]) -> None:
    mutated = bytearray(sample)
    for position, value in edits:
        mutated[position % len(mutated)] = value
    feed(new_receiver(), bytes(mutated))


@settings(max_examples=300)
@given(st.sampled_from(SAMPLES), st.integers(0, 10_000), st.binary(min_size=1, max_size=8), st.booleans())
def test_spliced_datagrams(sample: bytes, position: int, chunk: bytes, insert: bool) -> None:
    at = position % len(sample)
    spliced = sample[:at] + chunk + sample[at + (0 if insert else len(chunk)) :]
    feed(new_receiver(), spliced)


oid_text = st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=20).map(
    lambda tail: "1.3." + ".".join(map(str, tail))
)
values = st.one_of(
    st.tuples(st.just(ber.INTEGER), st.integers(-(2**63), 2**63 - 1)),
    st.tuples(st.just(ber.OCTET_STRING), st.binary(max_size=40)),
    st.tuples(st.just(ber.COUNTER32), st.integers(0, 2**32 - 1)),
    st.tuples(st.just(ber.GAUGE32), st.integers(0, 2**32 - 1)),
    st.tuples(st.just(ber.TIMETICKS), st.integers(0, 2**32 - 1)),
    st.tuples(st.just(ber.COUNTER64), st.integers(0, 2**64 - 1)),
    st.tuples(st.just(ber.OBJECT_IDENTIFIER), oid_text),
    st.tuples(st.just(ber.IP_ADDRESS), st.ip_addresses(v=4).map(str)),
    st.tuples(st.just(ber.NULL), st.none()),
)


@settings(max_examples=300)
@given(st.lists(st.tuples(oid_text, values), max_size=12), st.booleans())
def test_composed_traps_round_trip(varbinds: list[tuple[str, tuple[int, Any]]], v3: bool) -> None:
    flat = [(oid, tag, value) for oid, (tag, value) in varbinds]
    if v3:
        datagram = _AGENT.trap("noc", v2_pdu("1.3.6.1.4.1.9.0.1", flat), NOW)
    else:
        datagram = v2c_notification("public", "1.3.6.1.4.1.9.0.1", flat)
    (record,) = new_receiver().handle(datagram, PEER, NOW).records
    decoded = [(v["oid"], v["type"], v["value"]) for v in record["varbinds"]]
    expected = []
    for oid, tag, value in flat:
        shown = value
        if isinstance(value, bytes):
            (item,) = ber.render([(oid, tag, value)], None)
            shown = item["value"]
            assert bytes.fromhex(shown) == value if item.get("hex") else shown.encode() == value
        expected.append((oid, ber.TYPE_NAMES[tag], shown))
    assert decoded == expected


@settings(max_examples=300)
@given(
    st.sampled_from(["noc", "des"]),
    st.one_of(st.binary(max_size=200), st.sampled_from([_TRAP_PDU, _INFORM_PDU])),
    st.data(),
)
def test_authentic_v3_messages_carrying_garbage(user: str, pdu: bytes, data: st.DataObject) -> None:
    """Past the HMAC, the decrypted scoped PDU is as untrusted as anything else."""
    if pdu in (_TRAP_PDU, _INFORM_PDU):
        cut = data.draw(st.integers(0, len(pdu)))
        pdu = pdu[:cut] + data.draw(st.binary(max_size=6))
    receiver = new_receiver()
    feed(receiver, _AGENT.trap(user, pdu, NOW))
