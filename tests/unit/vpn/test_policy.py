"""The failover policy, without IO: scenarios a technician would recognise, and a hypothesis
state machine checking the rules hold after any sequence of events."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from nocraven.vpn.policy import (
    Candidate,
    CheckStandby,
    Connect,
    Decision,
    Disconnect,
    FailoverPolicy,
    Mode,
    Phase,
    PolicyTimers,
    Snapshot,
)

TIMERS = PolicyTimers(
    failure_threshold=3,
    holddown_s=60,
    standby_interval_s=10,
    connect_timeout_s=15,
    max_attempts=2,
    cooldown_s=30,
    cooldown_max_s=120,
    backoff=2,
)
PROFILES = [Candidate("a", 10), Candidate("b", 20), Candidate("c", 30)]


def connects(decisions: list[Decision]) -> list[str]:
    return [d.name for d in decisions if isinstance(d, Connect)]


def started() -> tuple[FailoverPolicy, list[Decision]]:
    policy = FailoverPolicy(TIMERS)
    return policy, policy.set_profiles(PROFILES, 0)


def test_starts_with_the_top_priority_profile() -> None:
    policy, decisions = started()
    assert connects(decisions) == ["a"] and policy.phase is Phase.CONNECTING


def test_drop_fails_over_to_the_next_at_once() -> None:
    policy, _ = started()
    policy.connected("a", 1)
    decisions = policy.dropped("a", "ping-restart", 100)
    assert connects(decisions) == ["b"]
    assert "a failed (ping-restart)" in decisions[0].reason  # type: ignore[union-attr]


def test_probe_failures_fail_over_only_at_the_threshold() -> None:
    policy, _ = started()
    policy.connected("a", 1)
    assert policy.probe("a", False, 2) == [] and policy.probe("a", False, 3) == []
    assert policy.probe("a", True, 4) == []  # a success resets the count
    assert policy.probe("a", False, 5) == [] and policy.probe("a", False, 6) == []
    assert connects(policy.probe("a", False, 7)) == ["b"]


def test_connect_timeout_moves_on() -> None:
    policy, _ = started()
    assert policy.tick(14) == []
    assert connects(policy.tick(15)) == ["b"]


def test_fail_back_only_after_the_holddown_of_unbroken_health() -> None:
    policy, _ = started()
    policy.connected("a", 1)
    policy.dropped("a", "ping-restart", 10)
    policy.connected("b", 12)
    checks = policy.tick(30)
    assert CheckStandby("a") in checks
    assert policy.standby("a", True, 31) == []
    assert connects(policy.tick(60)) == []
    policy.standby("a", False, 62)  # one failed check restarts the clock
    for second in range(80, 140, 10):
        policy.standby("a", True, second)
    assert connects(policy.tick(139)) == []
    decisions = policy.standby("a", True, 140)
    assert connects(decisions) == ["a"] and "failing back" in decisions[0].reason  # type: ignore[union-attr]


def test_attempt_limit_then_cooldown_with_backoff() -> None:
    policy = FailoverPolicy(TIMERS)
    policy.set_profiles([Candidate("only", 1)], 0)
    assert connects(policy.dropped("only", "tls-error", 1)) == ["only"]  # attempt 1 of 2: retry
    assert policy.dropped("only", "tls-error", 2) == []  # attempt 2: cooldown 30 s
    assert policy.tick(31) == []
    assert connects(policy.tick(32)) == ["only"]
    policy.dropped("only", "tls-error", 33)
    assert policy.dropped("only", "tls-error", 34) == []  # second cooldown: 60 s
    assert policy.tick(93) == [] and connects(policy.tick(94)) == ["only"]
    policy.connected("only", 95)  # success resets the backoff
    policy.dropped("only", "x", 96)
    policy.dropped("only", "x", 97)
    assert policy.cooldown_left("only", 97) == 30


def test_manual_override_is_kept_until_auto() -> None:
    policy, _ = started()
    policy.connected("a", 1)
    assert connects(policy.connect("c", 2)) == ["c"]
    policy.connected("c", 3)
    assert policy.tick(1000) == []  # no fail-back, no standby checks
    assert policy.standby("a", True, 1001) == [] and policy.tick(2000) == []
    assert connects(policy.dropped("c", "ping-restart", 2001)) == ["c"]  # only c, even when it fails
    policy.connected("c", 2002)
    decisions = policy.auto(2003)
    assert policy.mode is Mode.AUTO and policy.active == "c"  # no jump: fresh checks first
    assert CheckStandby("a") in decisions and not connects(decisions)


def test_disconnect_stays_off() -> None:
    policy, _ = started()
    policy.connected("a", 1)
    assert policy.disconnect(2) == [Disconnect("manual disconnect")]
    assert policy.tick(500) == [] and policy.active is None
    assert connects(policy.auto(501)) == ["a"]


def test_removed_active_profile_is_disconnected_and_replaced() -> None:
    policy, _ = started()
    policy.connected("a", 1)
    decisions = policy.set_profiles(PROFILES[1:], 2)
    assert isinstance(decisions[0], Disconnect) and connects(decisions) == ["b"]


def test_restore_reconnects_the_same_profile_even_if_not_preferred() -> None:
    policy = FailoverPolicy(TIMERS)
    policy.set_profiles(PROFILES, 0)
    policy = FailoverPolicy(TIMERS)
    policy.set_profiles(PROFILES, 0)
    decisions = policy.restore(Snapshot(Mode.AUTO, None, "b"), 0)
    assert connects(decisions) == ["b"] and "restoring" in decisions[0].reason  # type: ignore[union-attr]
    off = FailoverPolicy(TIMERS)
    off.set_profiles(PROFILES, 0)
    assert off.restore(Snapshot(Mode.OFF, None, None), 0) == []


def test_stale_events_from_replaced_processes_are_ignored() -> None:
    policy, _ = started()
    policy.dropped("a", "x", 1)
    assert policy.connected("a", 2) == [] and policy.active == "b"
    assert policy.dropped("a", "late", 3) == []


# ---- state machine ----------------------------------------------------------------------------


class PolicyMachine(RuleBasedStateMachine):
    """Random events; after each: the rules of the policy hold."""

    def __init__(self) -> None:
        super().__init__()
        self.policy = FailoverPolicy(TIMERS)
        self.now = 0.0
        self.candidates = {c.name: c for c in PROFILES}
        self.healthy_since: dict[str, float | None] = {}  # the test's own record of standby runs
        self.apply(self.policy.set_profiles(PROFILES, self.now))

    def apply(self, decisions: list[Decision]) -> None:
        previous = self.last_active if hasattr(self, "last_active") else None
        previous_phase = getattr(self, "last_phase", Phase.IDLE)
        for decision in decisions:
            if isinstance(decision, Connect):
                assert self.policy.mode is not Mode.OFF
                if self.policy.mode is Mode.MANUAL:
                    assert decision.name == self.policy.override
                assert decision.name in self.candidates
                if "failing back" in decision.reason:
                    # Fail-back: only from a connected worse profile, after a full hold-down.
                    assert previous_phase is Phase.CONNECTED and previous is not None
                    assert self.candidates[decision.name].priority < self.candidates[previous].priority
                    since = self.healthy_since.get(decision.name)
                    assert since is not None and self.now - since >= TIMERS.holddown_s
            if isinstance(decision, CheckStandby):
                assert self.policy.mode is Mode.AUTO
        self.last_active, self.last_phase = self.policy.active, self.policy.phase

    @rule(seconds=st.floats(min_value=0, max_value=40))
    def wait(self, seconds: float) -> None:
        self.now += seconds
        self.apply(self.policy.tick(self.now))

    @precondition(lambda self: self.policy.active is not None)
    @rule()
    def connected(self) -> None:
        assert self.policy.active is not None
        self.apply(self.policy.connected(self.policy.active, self.now))

    @precondition(lambda self: self.policy.active is not None)
    @rule()
    def dropped(self) -> None:
        assert self.policy.active is not None
        self.apply(self.policy.dropped(self.policy.active, "test", self.now))

    @precondition(lambda self: self.policy.active is not None)
    @rule(ok=st.booleans())
    def probe(self, ok: bool) -> None:
        assert self.policy.active is not None
        self.apply(self.policy.probe(self.policy.active, ok, self.now))

    @rule(name=st.sampled_from(["a", "b", "c"]), ok=st.booleans())
    def standby(self, name: str, ok: bool) -> None:
        if not ok:
            self.healthy_since[name] = None
        elif self.healthy_since.get(name) is None:
            self.healthy_since[name] = self.now
        self.apply(self.policy.standby(name, ok, self.now))

    @rule(name=st.sampled_from(["a", "b", "c"]))
    def manual(self, name: str) -> None:
        self.apply(self.policy.connect(name, self.now))
        assert self.policy.active == name

    @rule()
    def auto(self) -> None:
        self.apply(self.policy.auto(self.now))

    @rule()
    def disconnect(self) -> None:
        self.apply(self.policy.disconnect(self.now))
        assert self.policy.active is None

    @invariant()
    def rules_hold(self) -> None:
        policy = self.policy
        if policy.active is not None:
            assert policy.phase is not Phase.IDLE
            if policy.mode is Mode.MANUAL:
                assert policy.active == policy.override
        if policy.mode is Mode.OFF:
            assert policy.active is None
        if policy.mode is Mode.AUTO and policy.active is None:
            # Idle while automatic only when every profile rests in a cooldown.
            assert all(policy.cooldown_left(name, self.now) > 0 for name in self.candidates)
        for name in self.candidates:
            assert policy.cooldown_left(name, self.now) <= TIMERS.cooldown_max_s + 1e-6


TestPolicyMachine = PolicyMachine.TestCase
TestPolicyMachine.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
