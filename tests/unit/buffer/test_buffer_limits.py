"""The sans-IO eviction policy: admission, quotas, fair sharing of the total budget, disk."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nocraven.buffer import BufferLimits, DropReason, ServiceLimits
from nocraven.buffer.forecast import RateWindow, forecast_days
from nocraven.buffer.limits import (
    Budget,
    effective_budget,
    fair_shares,
    plan_admission,
    plan_enforcement,
)

KIB = 1024
BUDGET = Budget(1000 * KIB, DropReason.TOTAL_BUDGET)


def limits(**services: ServiceLimits) -> BufferLimits:
    return BufferLimits(total_bytes=1000 * KIB, services=services, evict_batch_fraction=0.0)


def test_fair_shares_give_unused_share_to_others() -> None:
    weights = {"syslog": 100, "flow": 100, "trap": 100}
    shares = fair_shares(weights, {"syslog": 50, "flow": 1000, "trap": 10}, 300)
    assert shares == {"syslog": 50, "trap": 10, "flow": 240}


def test_fair_shares_weighted_when_everyone_is_busy() -> None:
    shares = fair_shares({"syslog": 300, "flow": 100}, {"syslog": 10_000, "flow": 10_000}, 400)
    assert shares == {"syslog": 300, "flow": 100}


@given(
    demands=st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 10_000), min_size=1),
    weights=st.dictionaries(st.sampled_from("abcdef"), st.integers(1, 1000)),
    budget=st.integers(0, 30_000),
)
def test_fair_shares_properties(demands: dict[str, int], weights: dict[str, int], budget: int) -> None:
    shares = fair_shares(weights, demands, budget)
    assert set(shares) == set(demands)
    assert sum(shares.values()) <= max(budget, 0) + len(demands)
    for name, share in shares.items():
        assert 0 <= share <= demands[name]
    if sum(demands.values()) <= budget:
        assert shares == demands


def test_quota_drop_oldest_evicts_own_oldest() -> None:
    policy = limits(syslog=ServiceLimits(quota_bytes=100 * KIB))
    plan = plan_admission(policy, {"syslog": 95 * KIB}, "syslog", 10 * KIB, BUDGET)
    assert plan.admit
    assert [(e.service, e.reason) for e in plan.evictions] == [("syslog", DropReason.QUOTA)]
    assert plan.evictions[0].bytes_to_free == 5 * KIB


def test_quota_drop_newest_refuses() -> None:
    policy = limits(trap=ServiceLimits(quota_bytes=100 * KIB, overflow="drop_newest"))
    plan = plan_admission(policy, {"trap": 95 * KIB}, "trap", 10 * KIB, BUDGET)
    assert not plan.admit and plan.refuse_reason == DropReason.OVERFLOW_NEWEST
    assert plan.evictions == ()


def test_segment_larger_than_quota_is_refused_without_evicting() -> None:
    policy = limits(syslog=ServiceLimits(quota_bytes=10 * KIB))
    plan = plan_admission(policy, {"syslog": 5 * KIB}, "syslog", 11 * KIB, BUDGET)
    assert not plan.admit and plan.refuse_reason == DropReason.QUOTA and plan.evictions == ()


def test_total_budget_burst_evicts_the_burst_not_syslog() -> None:
    policy = limits(syslog=ServiceLimits(quota_bytes=600 * KIB), flow=ServiceLimits())
    usage = {"syslog": 200 * KIB, "flow": 800 * KIB}  # syslog under its share (375 KiB)
    plan = plan_admission(policy, usage, "flow", 20 * KIB, BUDGET)
    assert plan.admit
    assert {e.service for e in plan.evictions} == {"flow"}
    assert plan.evictions[0].reason == DropReason.TOTAL_BUDGET
    # A new syslog segment is paid for by flow too.
    plan = plan_admission(policy, usage, "syslog", 20 * KIB, BUDGET)
    assert plan.admit and {e.service for e in plan.evictions} == {"flow"}


def test_total_budget_takes_from_syslog_only_above_its_share() -> None:
    policy = limits(syslog=ServiceLimits(quota_bytes=900 * KIB), flow=ServiceLimits(quota_bytes=300 * KIB))
    usage = {"syslog": 800 * KIB, "flow": 200 * KIB}  # shares: syslog 750, flow 250
    plan = plan_admission(policy, usage, "flow", 20 * KIB, BUDGET)
    assert plan.admit
    assert [(e.service, e.bytes_to_free) for e in plan.evictions] == [("syslog", 20 * KIB)]


def test_drop_newest_service_over_share_is_refused_under_total_pressure() -> None:
    policy = limits(trap=ServiceLimits(quota_bytes=900 * KIB, overflow="drop_newest"), flow=ServiceLimits())
    usage = {"trap": 600 * KIB, "flow": 400 * KIB}
    plan = plan_admission(policy, usage, "trap", 10 * KIB, BUDGET)
    assert not plan.admit and plan.refuse_reason == DropReason.TOTAL_BUDGET


def test_disk_budget_reports_disk_full() -> None:
    budget = effective_budget(10_000, used_bytes=4000, fs_free_bytes=1500, reusable_bytes=200, min_free_disk_bytes=1000)
    assert budget == Budget(4000 + 500 + 200, DropReason.DISK_FULL)
    assert effective_budget(10_000, 4000, 10**9, 0, 1000) == Budget(10_000, DropReason.TOTAL_BUDGET)
    assert effective_budget(10_000, 4000, None, 0, 1000).reason == DropReason.TOTAL_BUDGET
    # Below the headroom the buffer may still recycle its own free pages.
    assert effective_budget(10_000, 4000, 10, 300, 1000) == Budget(4300, DropReason.DISK_FULL)


def test_enforcement_after_limits_shrink() -> None:
    policy = limits(syslog=ServiceLimits(quota_bytes=100 * KIB))
    evictions = plan_enforcement(policy, {"syslog": 150 * KIB, "flow": 10 * KIB}, BUDGET)
    assert [(e.service, e.bytes_to_free, e.reason) for e in evictions] == [("syslog", 50 * KIB, DropReason.QUOTA)]
    small = Budget(100 * KIB, DropReason.DISK_FULL)
    evictions = plan_enforcement(policy, {"syslog": 90 * KIB, "flow": 60 * KIB}, small)
    assert sum(e.bytes_to_free for e in evictions) >= 50 * KIB
    assert all(e.reason == DropReason.DISK_FULL for e in evictions)


def test_limits_validation() -> None:
    with pytest.raises(ValueError, match="total_bytes"):
        BufferLimits(total_bytes=0)
    assert BufferLimits(seal_bytes=1024).problems(strict=True)
    assert BufferLimits().problems(strict=True) == []
    with pytest.raises(ValueError, match="overflow"):
        BufferLimits(services={"x": ServiceLimits(overflow="drop_middle")})  # type: ignore[arg-type]


def test_forecast_days() -> None:
    assert forecast_days(86_400 * 1000, 100.0) == pytest.approx(10.0)
    assert forecast_days(1000, 0.0) is None
    assert forecast_days(1000, 0.0, max_age_s=2 * 86_400) == pytest.approx(2.0)
    assert forecast_days(86_400 * 1000, 100.0, max_age_s=86_400) == pytest.approx(1.0)


def test_rate_window_slides() -> None:
    window = RateWindow(window_s=10.0, origin=0.0)
    window.add("syslog", 1.0, 100, 1000, 100)
    window.add("syslog", 9.0, 100, 1000, 100)
    assert window.rates(10.0)["syslog"].records_per_s == pytest.approx(20.0)
    assert window.rates(15.0)["syslog"].records_per_s == pytest.approx(10.0)
    assert window.rates(30.0)["syslog"].records_per_s == 0.0
    # Shortly after start the span is the elapsed time, not the whole window.
    fresh = RateWindow(window_s=300.0, origin=100.0)
    fresh.add("flow", 102.0, 50, 500, 50)
    assert fresh.rates(102.0)["flow"].records_per_s == pytest.approx(25.0)


services_usage = st.dictionaries(
    st.sampled_from(["syslog", "flow", "trap", "winevent"]), st.integers(0, 600), max_size=4
)


@given(
    usage=services_usage,
    service=st.sampled_from(["syslog", "flow", "trap", "winevent"]),
    incoming=st.integers(1, 300),
    quotas=st.dictionaries(st.sampled_from(["syslog", "flow", "trap"]), st.integers(100, 800)),
    newest=st.sets(st.sampled_from(["syslog", "flow", "trap"])),
    budget_bytes=st.integers(200, 1500),
)
def test_admission_keeps_every_limit(
    usage: dict[str, int],
    service: str,
    incoming: int,
    quotas: dict[str, int],
    newest: set[str],
    budget_bytes: int,
) -> None:
    services = {
        name: ServiceLimits(quota_bytes=quota, overflow="drop_newest" if name in newest else "drop_oldest")
        for name, quota in quotas.items()
    }
    policy = BufferLimits(total_bytes=1500, services=services, evict_batch_fraction=0.0)
    # Start from a state that respects quotas, as the store always does.
    usage = {name: min(used, policy.quota_of(name)) for name, used in usage.items()}
    budget = Budget(budget_bytes, DropReason.TOTAL_BUDGET)
    plan = plan_admission(policy, usage, service, incoming, budget)
    after = dict(usage)
    for eviction in plan.evictions:
        assert 0 < eviction.bytes_to_free <= after.get(eviction.service, 0)
        after[eviction.service] -= eviction.bytes_to_free
    if not plan.admit:
        assert plan.evictions == ()
        return
    after[service] = after.get(service, 0) + incoming
    assert after[service] <= policy.quota_of(service)
    if sum(usage.values()) + incoming > budget_bytes:
        assert sum(after.values()) <= budget_bytes
    # Fairness: the total budget only takes from services above their fair share.
    demands = {**usage, service: usage.get(service, 0) + incoming}
    shares = fair_shares({n: policy.quota_of(n) for n in demands}, demands, budget_bytes)
    for eviction in plan.evictions:
        if eviction.reason == DropReason.TOTAL_BUDGET:
            assert demands[eviction.service] > shares[eviction.service]
