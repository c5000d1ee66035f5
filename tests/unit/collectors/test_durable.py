"""The durability handshake: a collector acknowledges its sender only once the engine says the
records are committed; an engine that goes away confirms nothing."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from collectors.common.channel import FrameDecoder, FrameKind, encode_frame
from collectors.common.durable import TOKEN, Durability, encode_durable, read_engine_frames
from nocraven.buffer.access import BufferAccess
from nocraven.buffer.store import SegmentStore


def test_tokens_come_back_to_their_own_callbacks_in_any_order() -> None:
    sent: list[tuple[FrameKind, bytes]] = []
    durability = Durability(lambda kind, payload, received=0: sent.append((kind, payload)))
    results: dict[str, bool] = {}
    durability.send(b'{"a":1}', lambda ok: results.__setitem__("a", ok))
    durability.send(b'{"b":2}', lambda ok: results.__setitem__("b", ok))
    assert [kind for kind, _ in sent] == [FrameKind.RECORDS_DURABLE] * 2
    (token_a,) = TOKEN.unpack_from(sent[0][1])
    (token_b,) = TOKEN.unpack_from(sent[1][1])
    assert sent[1][1][TOKEN.size :] == b'{"b":2}'
    durability.confirm(encode_durable(token_b, stored=False))
    durability.confirm(encode_durable(token_a, stored=True))
    durability.confirm(encode_durable(token_a, stored=True))  # a repeat confirms nothing more
    assert results == {"a": True, "b": False}
    assert durability.pending == 0


def test_an_engine_that_goes_away_confirms_nothing() -> None:
    read_fd, write_fd = os.pipe()
    durability = Durability(lambda kind, payload, received=0: None)
    results: list[bool] = []
    durability.send(b"{}", results.append)
    ended: list[bool] = []
    thread = read_engine_frames(read_fd, durability, on_end=lambda: ended.append(True))
    os.close(write_fd)
    thread.join(5)
    assert results == [False] and ended == [True]
    durability.send(b"{}", results.append)  # after the end: refused at once
    assert results == [False, False]
    os.close(read_fd)


def test_the_reader_thread_completes_asyncio_waiters() -> None:
    async def scenario() -> bool:
        read_fd, write_fd = os.pipe()
        written: list[bytes] = []
        durability = Durability(lambda kind, payload, received=0: written.append(payload))
        read_engine_frames(read_fd, durability)
        waiting = asyncio.create_task(durability.store(b'{"x":1}'))
        await asyncio.sleep(0.05)
        (token,) = TOKEN.unpack_from(written[0])
        os.write(write_fd, encode_frame(FrameKind.DURABLE, encode_durable(token, stored=True)))
        result = await asyncio.wait_for(waiting, 5)
        os.close(write_fd)
        return result

    assert asyncio.run(scenario()) is True


def test_durable_means_committed_and_callers_share_a_commit(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[bool], int]:
        access = BufferAccess()
        store = SegmentStore.open(tmp_path, None, time.time())
        access.attach(store)
        access.append_ndjson("syslog", b'{"service":"syslog","n":1}', time.time())
        results = await asyncio.gather(*(access.durable() for _ in range(20)))
        sealed = store.stats(time.time()).services["syslog"]
        access.detach()
        store.close()
        return list(results), sealed.unsealed_records

    results, unsealed = asyncio.run(scenario())
    assert results == [True] * 20
    assert unsealed == 0  # on disk before anyone was told


def test_no_store_means_not_durable() -> None:
    assert asyncio.run(BufferAccess().durable()) is False


def test_frame_decoder_reports_a_partial_frame() -> None:
    decoder = FrameDecoder()
    frame = encode_frame(FrameKind.SETTINGS, b"{}")
    assert decoder.feed(frame[:3]) == [] and decoder.pending == 3
