"""The poll cadence (sans-IO): a random phase per target, then a fixed cadence, missed slots counted."""

from __future__ import annotations

import random

from collectors.snmppoll.schedule import Cadence


def test_targets_with_the_same_interval_start_at_different_moments_within_it() -> None:
    rng = random.Random(7)
    dues = [Cadence(60.0, 1000.0, rng).due for _ in range(50)]
    assert all(1000.0 <= due < 1060.0 for due in dues)
    assert len({round(due) for due in dues}) > 30  # spread, not in lockstep


def test_the_cadence_keeps_its_phase_and_skips_slots_a_slow_poll_overran() -> None:
    cadence = Cadence(10.0, 0.0, random.Random(1))
    first = cadence.due
    assert cadence.advance(first + 0.5) == first + 10  # a quick poll: the next slot
    assert cadence.skipped == 0
    assert cadence.advance(first + 10 + 25.0) == first + 40  # a 25 s poll: slots at +20 and +30 are gone
    assert cadence.skipped == 2
