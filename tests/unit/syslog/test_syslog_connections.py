"""The stream listener's connection table: limits per listener and per source, eviction of the
connection idle the longest, refusal only when nothing is idle long enough, idle timeout."""

from __future__ import annotations

from collectors.syslog.connections import ConnectionTable


def table(max_connections: int = 3, per_source: int = 10) -> ConnectionTable[str]:
    return ConnectionTable(max_connections, per_source, idle_timeout_s=60, evict_after_s=2)


def fill(t: ConnectionTable[str], keys: list[str], source: str, now: float) -> None:
    for key in keys:
        decision = t.admit(source, now)
        assert decision.admitted and decision.evict is None
        t.add(key, source, now)


def test_a_full_table_evicts_the_connection_idle_the_longest_for_a_newcomer() -> None:
    # Issue 9 item 4: idle connections at the limit used to lock every newcomer out.
    t = table()
    fill(t, ["a", "b", "c"], "10.0.0.9", now=0)
    t.active("a", now=5)  # a sent a message; b has been idle the longest
    decision = t.admit("10.0.0.1", now=10)
    assert decision.admitted and decision.evict == "b"
    t.remove("b")
    t.add("new", "10.0.0.1", now=10)
    assert len(t) == 3 and "new" in t and "b" not in t


def test_busy_connections_are_not_pushed_out_by_a_flood_of_fresh_ones() -> None:
    t = table()
    fill(t, ["a", "b", "c"], "10.0.0.9", now=0)
    decision = t.admit("10.0.0.1", now=1)  # nothing idle for 2 s yet
    assert not decision.admitted and decision.refusal == "connection_limit"


def test_a_source_at_its_limit_makes_room_from_its_own_connections() -> None:
    t = table(max_connections=100, per_source=2)
    fill(t, ["legit"], "10.0.0.1", now=0)
    fill(t, ["x1"], "10.0.0.9", now=1)
    fill(t, ["x2"], "10.0.0.9", now=2)
    decision = t.admit("10.0.0.9", now=10)
    assert decision.admitted and decision.evict == "x1"  # not the other source's idle one
    t.remove("x1")
    t.add("x3", "10.0.0.9", now=10)
    assert t.from_source("10.0.0.9") == 2
    assert t.admit("10.0.0.9", now=11).evict == "x2"  # idle 11 s; x3 only 1 s


def test_a_source_at_its_limit_with_nothing_idle_is_refused() -> None:
    t = table(max_connections=100, per_source=1)
    fill(t, ["x1"], "10.0.0.9", now=0)
    decision = t.admit("10.0.0.9", now=1)
    assert not decision.admitted and decision.refusal == "source_connection_limit"
    assert t.admit("10.0.0.1", now=1).admitted


def test_idle_lists_connections_past_the_timeout_longest_idle_first() -> None:
    t = table(max_connections=10)
    fill(t, ["a", "b", "c"], "10.0.0.9", now=0)
    t.active("b", now=30)
    assert t.idle(now=59) == []
    assert t.idle(now=61) == ["a", "c"]
    t.remove("a")
    t.remove("a")  # removing twice is harmless
    assert t.idle(now=100) == ["c", "b"]
    t.remove("c")
    t.remove("b")
    assert len(t) == 0 and t.from_source("10.0.0.9") == 0
