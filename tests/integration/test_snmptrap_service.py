"""The trap collector's receive loop on a real loopback socket, with the engine played by the
test: INFORMs are acknowledged only once their batch is confirmed, INFORMs that arrive while a
commit is under way share the next one, acks keep arrival order, refusals are never acked."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import msgspec
import pytest

from collectors.common.channel import FrameKind
from collectors.common.durable import TOKEN, encode_durable
from collectors.common.harness import Output
from collectors.common.inherited import Rebind, Rebound, send_rebind
from collectors.snmptrap import ber
from collectors.snmptrap.compose import v2c_notification
from collectors.snmptrap.mibs import MibResolver
from collectors.snmptrap.pdu import decode_community_message, message_version
from collectors.snmptrap.receiver import TrapReceiver, engine_id_from_seed
from collectors.snmptrap.report import MibStatus
from collectors.snmptrap.service import TrapService, bind
from collectors.snmptrap.settings import SnmptrapSettings

pytestmark = pytest.mark.integration

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"


class Frames(Output):
    """The engine's end of the channel: every frame the collector writes, kept."""

    def __init__(self) -> None:
        super().__init__(fd=os.open(os.devnull, os.O_WRONLY))  # never written: `write` keeps the frames
        self.frames: list[tuple[FrameKind, bytes]] = []
        self.received: list[int] = []  # the wire bytes said with each records frame

    def write(self, kind: FrameKind, payload: bytes | bytearray | memoryview, *more: bytes, received: int = 0) -> None:
        self.frames.append((kind, b"".join([payload, *more])))
        if kind in (FrameKind.RECORDS, FrameKind.RECORDS_DURABLE):
            self.received.append(received)

    def durable(self) -> list[bytes]:
        return [payload[TOKEN.size :] for kind, payload in self.frames if kind == FrameKind.RECORDS_DURABLE]


@pytest.fixture(scope="module")
def resolver() -> MibResolver:
    return MibResolver(["SNMPv2-MIB", "IF-MIB"])


@pytest.fixture
def running(resolver: MibResolver) -> Iterator[tuple[TrapService, Frames, socket.socket]]:
    settings = SnmptrapSettings(udp="127.0.0.1:0", communities=["public"])
    receiver = TrapReceiver(settings, resolver, engine_id_from_seed(b"service-test"), 1, time.time())
    frames = Frames()
    service = TrapService(bind(settings.udp), receiver, frames, MibStatus(), time.time())
    thread = threading.Thread(target=service.run, kwargs={"engine_fd": None})
    thread.start()
    agent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    agent.bind(("127.0.0.1", 0))
    agent.settimeout(0.5)
    try:
        yield service, frames, agent
    finally:
        service.stop()
        thread.join(5)
        agent.close()
        service.sock.close()


def inform(request_id: int, community: str = "public") -> bytes:
    return v2c_notification(community, LINK_DOWN, [], request_id=request_id, inform=True)


def acks(agent: socket.socket, wanted: int, within: float = 5.0) -> list[int]:
    """Request IDs of the acks that arrive (until `wanted` came or `within` passed)."""
    ids: list[int] = []
    deadline = time.monotonic() + within
    while len(ids) < wanted and time.monotonic() < deadline:
        try:
            datagram = agent.recv(65535)
        except TimeoutError:
            continue
        version, pos, end = message_version(datagram)
        pdu = decode_community_message(datagram, pos, end, version).pdu
        assert pdu.tag == ber.RESPONSE
        ids.append(pdu.request_id)
    return ids


def until(condition: object, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


def test_informs_are_acked_in_order_only_after_their_commit(
    running: tuple[TrapService, Frames, socket.socket],
) -> None:
    service, frames, agent = running
    target = service.sock.getsockname()
    agent.sendto(inform(1), target)
    until(lambda: len(frames.durable()) == 1)
    assert frames.durable()[0].count(b"\n") == 0  # one record, newline-joined as the buffer takes it
    for request_id in range(2, 51):
        agent.sendto(inform(request_id), target)
    time.sleep(0.5)
    # The first commit is not confirmed: nothing is acknowledged, the next 49 wait together.
    assert acks(agent, 1, within=0.3) == []
    assert len(frames.durable()) == 1
    service.durability.confirm(encode_durable(1, True))
    assert acks(agent, 1) == [1]
    until(lambda: len(frames.durable()) == 2)
    assert frames.durable()[1].count(b"\n") == 48  # 49 INFORMs in one durable batch
    # Each batch says what its INFORMs took on the wire.
    assert frames.received == [len(inform(1)), sum(len(inform(i)) for i in range(2, 51))]
    assert acks(agent, 1, within=0.3) == []
    service.durability.confirm(encode_durable(2, True))
    assert acks(agent, 49) == list(range(2, 51))


def test_a_batch_the_engine_did_not_store_is_not_acked_and_refusals_never_are(
    running: tuple[TrapService, Frames, socket.socket],
) -> None:
    service, frames, agent = running
    target = service.sock.getsockname()
    agent.sendto(inform(7, community="guessed"), target)
    agent.sendto(inform(8), target)
    until(lambda: len(frames.durable()) == 1)
    service.durability.confirm(encode_durable(1, False))  # no buffer open
    assert acks(agent, 1, within=0.5) == []
    # The sender retransmits; the copy is known, only its ack is due, once committed.
    agent.sendto(inform(8), target)
    until(lambda: len(frames.durable()) == 2)
    service.durability.confirm(encode_durable(2, True))
    assert acks(agent, 1) == [8]
    # The refused INFORM is no record's bytes; the retransmitted copy brought no record.
    assert frames.received == [len(inform(8)), 0]
    service.report(time.time())
    assert service.acks.sent == 1 and service.acks.withheld == 1
    counters = service.trap.counters.agents["127.0.0.1"]
    assert counters["unknown_community"] == 1 and counters["informs"] == 1 and counters["duplicate_informs"] == 1
    assert any(kind == FrameKind.DETAIL for kind, _ in frames.frames)


def test_a_port_change_serves_the_new_socket_and_acks_each_inform_from_the_socket_it_came_to(
    running: tuple[TrapService, Frames, socket.socket],
) -> None:
    service, frames, agent = running
    engine_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    child_end.setblocking(False)
    service.control = child_end
    old_target = service.sock.getsockname()
    try:
        agent.sendto(inform(1), old_target)
        until(lambda: len(frames.durable()) == 1)
        new_sock = bind("127.0.0.1:0")
        new_target = new_sock.getsockname()
        send_rebind(engine_end, Rebind(listener="udp", drain_s=0.5), new_sock)
        engine_end.settimeout(5)
        answer = msgspec.json.decode(engine_end.recv(65536), type=Rebound)
        assert answer.ok and answer.address == f"127.0.0.1:{new_target[1]}"
        agent.sendto(inform(2), new_target)
        service.durability.confirm(encode_durable(1, True))
        _ack, sender = agent.recvfrom(65535)
        assert sender == old_target  # the answer comes from the address the INFORM went to
        until(lambda: len(frames.durable()) == 2)
        service.durability.confirm(encode_durable(2, True))
        _ack, sender = agent.recvfrom(65535)
        assert sender == new_target
        # Drained and closed: the old port is free again.
        deadline = time.monotonic() + 5
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind(old_target)
                    break
                except OSError:
                    assert time.monotonic() < deadline, f"{old_target} still held after the drain time"
                    time.sleep(0.1)
    finally:
        engine_end.close()
