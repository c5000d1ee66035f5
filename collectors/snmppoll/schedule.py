"""When each device is polled, sans-IO: a fixed cadence from a random phase.

Every target gets a phase drawn once in [0, interval) so a hundred devices with the same
interval do not all poll in the same second (and the agents' answers do not arrive in one
burst); then it keeps its cadence, so a slow poll neither drifts the schedule nor delays
other targets. A slot that passed while a poll still ran is skipped and counted.
"""

from __future__ import annotations

import math
import random


class Cadence:
    def __init__(self, interval_s: float, now: float, rng: random.Random) -> None:
        self.interval_s = interval_s
        self.due = now + rng.uniform(0, interval_s)
        self.skipped = 0

    def advance(self, now: float) -> float:
        """The next due time after a poll that ended at `now`; counts the slots missed."""
        following = self.due + self.interval_s
        if following <= now:
            missed = math.floor((now - following) / self.interval_s) + 1
            self.skipped += missed
            following += missed * self.interval_s
        self.due = following
        return following
