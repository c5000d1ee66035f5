"""The seal worker groups full segments into one commit, and repacks only while records arrive
slowly, within its share of time."""

from __future__ import annotations

import pytest

from nocraven.buffer.pacing import (
    GROUP_COMMIT_S,
    IDLE_LOOK_S,
    QUIET_BYTES_PER_S,
    RATE_WINDOW_S,
    SHARE,
    GroupCommit,
    RepackPacer,
)


def test_a_busy_buffer_is_not_repacked_until_it_quiets_down() -> None:
    pacer = RepackPacer()
    assert pacer.may_repack(0.0)
    for tick in range(50):  # 0.1 s ticks at three times the quiet rate
        pacer.sealed(3 * QUIET_BYTES_PER_S // 10, tick / 10)
    assert not pacer.may_repack(5.0)
    assert not pacer.may_repack(5.0 + RATE_WINDOW_S / 2)  # half the burst still in the window
    assert pacer.may_repack(5.0 + RATE_WINDOW_S + 0.1)


def test_repacking_takes_its_share_of_time_and_rests_when_nothing_is_cold() -> None:
    pacer = RepackPacer()
    pacer.repacked(began=10.0, spent=0.05, found=True)
    assert not pacer.may_repack(10.1)
    assert pacer.may_repack(10.0 + 0.05 / SHARE)
    assert pacer.wait_s(10.1, longest=0.2) == pytest.approx(0.05 / SHARE - 0.1)
    pacer.repacked(began=20.0, spent=0.001, found=False)
    assert not pacer.may_repack(20.5)
    assert pacer.may_repack(20.0 + IDLE_LOOK_S)
    assert pacer.wait_s(20.0, longest=0.2) == 0.2


def test_the_first_full_segment_seals_at_once_and_a_burst_is_sealed_in_groups() -> None:
    group = GroupCommit()
    assert group.hold_s(100.0) == 0.0  # after a quiet spell: no wait
    group.sealed(100.0)
    assert group.hold_s(100.01) == pytest.approx(GROUP_COMMIT_S - 0.01)  # the burst gathers
    assert group.hold_s(100.0 + GROUP_COMMIT_S) == 0.0
    assert group.hold_s(101.0) == 0.0
