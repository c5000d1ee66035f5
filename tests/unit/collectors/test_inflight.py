"""The counter block a collector's processes share with the engine, and the loss read from it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from collectors.common.inflight import MAIN_SLOT, InflightBlock, InflightTotals, open_slot
from nocraven.ingest.crashloss import crash_loss, exit_description, process_alive


def test_a_new_block_counts_nothing_and_says_the_collector_never_opened_it() -> None:
    block = InflightBlock.create(slots=8)
    try:
        totals = block.totals()
        assert (totals.messages, totals.bytes, totals.connections, totals.pids, totals.main_pid) == (0, 0, 0, [], 0)
    finally:
        block.close()


def test_slots_add_up_and_the_main_slot_carries_the_connections() -> None:
    block = InflightBlock.create(slots=8)
    try:
        main = block.writer(MAIN_SLOT, pid=100)
        main.connections(3)
        first, second = (block.writer(slot, pid=101 + slot) for slot in block.claim(2))
        first.add(10, 1000)
        first.add(5, 500)
        second.add(7, 70)
        totals = block.totals()
        assert (totals.messages, totals.bytes, totals.connections, totals.main_pid) == (22, 1570, 3, 100)
        assert sorted(totals.pids) == [100, 102, 103]
    finally:
        block.close()


def test_a_replacement_worker_counts_on_from_its_predecessor() -> None:
    block = InflightBlock.create(slots=4)
    try:
        (slot,) = block.claim(1)
        block.writer(slot, pid=10).add(4, 40)
        replacement = block.writer(slot, pid=11)
        replacement.add(1, 1)
        totals = block.totals()
        assert (totals.messages, totals.bytes, totals.pids) == (5, 41, [11])
    finally:
        block.close()


def test_claims_stop_at_the_block_size() -> None:
    block = InflightBlock.create(slots=4)
    try:
        assert block.claim(2) == [1, 2]
        assert block.claim(5) == [3]
        assert block.claim(1) == []
    finally:
        block.close()


def test_a_killed_child_process_leaves_its_counts_in_the_block(tmp_path: Path) -> None:
    # The point of it: another process, killed with SIGKILL, and what it counted is still there.
    block = InflightBlock.create(slots=4)
    try:
        (slot,) = block.claim(1)
        child = textwrap.dedent(
            f"""
            import os, sys
            from collectors.common.inflight import open_slot
            slot = open_slot({block.fd}, {slot})
            for _ in range(1000):
                slot.add(3, 300)
            sys.stdout.write("counted\\n"); sys.stdout.flush()
            os.kill(os.getpid(), 9)
            """
        )
        root = Path(__file__).resolve().parents[3]
        proc = subprocess.run(
            [sys.executable, "-c", child], pass_fds=(block.fd,), capture_output=True, cwd=root, timeout=30
        )
        assert proc.returncode == -signal.SIGKILL and proc.stdout == b"counted\n"
        totals = block.totals()
        assert (totals.messages, totals.bytes) == (3000, 300_000)
        assert len(totals.pids) == 1 and not process_alive(totals.pids[0])  # the child's, gone
    finally:
        block.close()


def test_open_slot_without_a_block_counts_nowhere() -> None:
    assert open_slot(-1, 3) is None
    assert open_slot(5, -1) is None


def totals(messages: int, size: int, connections: int = 0) -> InflightTotals:
    return InflightTotals(messages=messages, bytes=size, connections=connections, pids=[1], main_pid=1)


def test_the_loss_is_what_was_accepted_but_never_handed_over() -> None:
    loss = crash_loss(totals(1000, 90_000, connections=4), handed_messages=880, handed_bytes=79_000, crashed=True)
    assert (loss.messages, loss.bytes, loss.connections) == (120, 11_000, 4)


def test_a_clean_stop_resets_no_connections() -> None:
    loss = crash_loss(totals(10, 100, connections=4), handed_messages=10, handed_bytes=100, crashed=False)
    assert (loss.messages, loss.bytes, loss.connections) == (0, 0, 0)


@given(st.integers(0, 10**12), st.integers(0, 10**12), st.integers(0, 10**12), st.integers(0, 10**12))
def test_the_loss_is_never_negative(accepted: int, size: int, handed: int, handed_bytes: int) -> None:
    loss = crash_loss(totals(accepted, size), handed, handed_bytes, crashed=True)
    assert loss.messages == max(0, accepted - handed) and loss.bytes == max(0, size - handed_bytes)


def test_exit_descriptions_name_the_signal() -> None:
    assert exit_description(-9) == "signal SIGKILL"
    assert exit_description(0) == "stopped"
    assert exit_description(3) == "exit code 3"
    assert exit_description(None) == "still running"


def test_this_process_is_alive_and_a_missing_one_is_not(tmp_path: Path) -> None:
    assert process_alive(os.getpid())
    assert not process_alive(os.getpid(), proc=tmp_path)


def test_a_worker_that_died_alone_is_settled_to_what_it_handed_on() -> None:
    block = InflightBlock.create(slots=4)
    try:
        (slot,) = block.claim(1)
        worker = block.writer(slot, pid=20)
        worker.add(10, 100)
        worker.handed(10, 100)
        worker.add(4, 40)  # accepted, then the worker died before writing it on
        lost = block.writer(slot, pid=20).settle()  # its main process, after the death
        assert lost == (4, 40)
        assert (block.totals().messages, block.totals().bytes) == (10, 100)
        assert block.writer(slot, pid=21).settle() == (0, 0)  # settled once: not counted twice
    finally:
        block.close()
