"""The console's plain parts: state, formatting, records, the mode registry, the login shell, the wire mapping."""

from __future__ import annotations

import ast
from pathlib import Path

import msgspec
import pytest
from textual.binding import Binding

from nocraven.capabilities import CAPABILITIES, Capability
from nocraven.humanize import human_bytes, human_count, human_duration, short_time, timestamp
from nocraven.schema import events
from nocraven.schema.buffer import BufferCounters
from nocraven.schema.collector import CollectorSummary
from nocraven_tui import login, messages
from nocraven_tui.app import NocRavenApp
from nocraven_tui.exchange import Read
from nocraven_tui.figures import decode_counters
from nocraven_tui.modes import FIXED_KEYS, REGISTRY, SCREENS, BuiltMode, ModeSpec, built_modes, registry, reserved_names
from nocraven_tui.records import RecordFilter, one_line
from nocraven_tui.screens.base import ModeScreen
from nocraven_tui.state import ConsoleState, LiveRing, RateHistory
from nocraven_tui.theme import ASCII, UNICODE, wants_plain
from nocraven_tui.widgets.spark import sparkline
from tests.tui.recorded import NOW, published, watch_lines

ROOT = Path(__file__).parents[2]
# What the console may use of the nocraven package: the client, the wire schema, and pure formatting.
ALLOWED_ENGINE_MODULES = {
    "nocraven.client",
    "nocraven.errors",
    "nocraven.schema",
    "nocraven.api.wire",
    "nocraven.humanize",
    "nocraven.capabilities",
    "nocraven.ports.checks",  # sans-IO: the Ports form refuses what the engine would, as it is typed
}


def test_console_imports_only_the_client_side_of_the_engine() -> None:
    offenders = []
    for path in sorted((ROOT / "nocraven_tui").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                if name.split(".")[0] != "nocraven":
                    continue
                if name == "nocraven" or any(name == m or name.startswith(m + ".") for m in ALLOWED_ENGINE_MODULES):
                    continue
                if isinstance(node, ast.ImportFrom) and any(
                    f"{node.module}.{alias.name}" in ALLOWED_ENGINE_MODULES for alias in node.names
                ):
                    continue  # `from nocraven import events`
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def console_imports() -> dict[str, set[str]]:
    """Every nocraven_tui module -> the nocraven_tui modules it imports, TYPE_CHECKING ones included."""
    package = ROOT / "nocraven_tui"
    modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for path in package.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                    base = ".".join([*parent, base] if base else parent)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
        graph[module] = {name for name in found if name in modules and name != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in sorted(graph.get(node, ())):
            cycle = visit(target, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_console_modules_import_in_no_circle() -> None:
    graph = console_imports()
    assert "nocraven_tui.app" in graph and "nocraven_tui.screens.base" in graph["nocraven_tui.screens.buffer"]
    assert find_cycle(graph) is None
    for module, targets in graph.items():
        if module.startswith("nocraven_tui.screens."):
            assert "nocraven_tui.app" not in targets, f"{module} imports the app; use nocraven_tui.host"


def test_cycle_finder_finds_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


# ---- registry ---------------------------------------------------------------------------------


def test_modes_are_numbered_in_registry_order_with_system_last() -> None:
    built = built_modes()
    names = [m.spec.name for m in built]
    assert names[:3] == ["dashboard", "buffer", "live"] and names[-1] == "system"
    numbered = [m for m in built if m.spec.name not in FIXED_KEYS]
    assert [m.key for m in numbered[:9]] == list("123456789"[: len(numbered)])
    assert built[-1].key == "0"
    assert REGISTRY[-1].name == "system"
    with_screen = set(names)
    assert reserved_names() == [c.mode for c in CAPABILITIES if c.mode and c.mode not in with_screen]
    assert "flows" in with_screen  # built capabilities show their screen


def test_modes_come_from_the_capability_registry() -> None:
    with_mode = [c for c in CAPABILITIES if c.mode]
    assert [spec.name for spec in REGISTRY if spec.component] == [c.mode for c in with_mode]
    assert [spec.title for spec in REGISTRY if spec.component] == [c.title for c in with_mode]
    assert set(reserved_names()) == {c.mode for c in with_mode if c.mode not in SCREENS}


def test_a_capability_screen_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    class RadarScreen(ModeScreen):
        HELP = "What the radar sees"

    radar = Capability(name="radar", title="Radar", description="the radar", api_prefix="/v1/radar", mode="radar")
    capabilities = (*CAPABILITIES, radar)
    assert "radar" in reserved_names(registry(capabilities))  # no screen yet: reserved, shown nowhere
    monkeypatch.setitem(SCREENS, "radar", RadarScreen)
    built = built_modes(registry(capabilities))
    # Past the ninth tab: the first capital of its title; System keeps 0.
    assert [(m.key, m.spec.name, m.spec.title) for m in built][-2:] == [
        ("R", "radar", "Radar"),
        ("0", "system", "System"),
    ]
    assert built[-2].spec.help == "What the radar sees" and built[-2].spec.component == "radar"


def screen_keys(screen: type[ModeScreen]) -> set[str]:
    keys = set()
    for binding in screen.BINDINGS:
        text = binding.key if isinstance(binding, Binding) else binding[0]
        keys.update(key.strip() for key in text.split(","))
    return keys


def assert_every_mode_has_its_own_key(modes: list[BuiltMode]) -> None:
    keys = [m.key for m in modes]
    assert None not in keys, [m.spec.name for m in modes if m.key is None]
    assert len(set(keys)) == len(keys), keys
    app_keys = {key.strip() for b in NocRavenApp.BINDINGS if isinstance(b, Binding) for key in b.key.split(",")}
    for mode in modes:
        # A screen's own binding wins over the app's: a mode key bound by a screen is unreachable there.
        shadowed = screen_keys(mode.screen) & set(keys)
        assert not shadowed, f"{mode.spec.name} binds {shadowed}, the key of another mode"
        assert mode.key in app_keys  # bound, as `goto`


def test_every_mode_is_reachable_by_its_own_key_from_every_screen() -> None:
    assert_every_mode_has_its_own_key(built_modes())
    by_name = {m.spec.name: m.key for m in built_modes()}
    assert by_name["system"] == "0" and by_name["health"] == "H"


def test_modes_still_to_come_get_keys_too() -> None:
    """Every reserved capability mode given a screen (Ports, which lands beside Health): twelve
    modes and more still each have one key, System still 0, Ports P."""

    class Placeholder(ModeScreen):
        HELP = "placeholder"

    everything = tuple(
        spec if spec.screen is not None else ModeSpec(spec.name, spec.title, Placeholder, "", spec.component)
        for spec in REGISTRY
    )
    modes = built_modes(everything)
    assert len(modes) >= 12
    keys = {m.spec.name: m.key for m in modes}
    assert keys["system"] == "0" and keys["ports"] == "P" and keys["health"] == "H"
    keys_only = [m.key for m in modes]
    assert None not in keys_only and len(set(keys_only)) == len(keys_only)


# ---- state ------------------------------------------------------------------------------------


def apply_recording(state: ConsoleState, role: str = "admin") -> None:
    for line in watch_lines(role):
        message = messages.from_event(published(line))
        if isinstance(message, messages.SnapshotReceived):
            state.apply_snapshot(message.status, message.seq, NOW)
        elif isinstance(message, messages.CountersUpdated):
            state.apply_counters(message.component, message.counters, message.at)
        elif isinstance(message, messages.RecordsSampled):
            state.live.extend(message.records, message.total)


def test_state_from_the_recording() -> None:
    state = ConsoleState()
    apply_recording(state)
    assert state.connected and state.role == "admin" and state.can_write
    assert state.hostname == "raven-arena-01"
    assert state.status is not None
    assert state.uptime(NOW + 10) == pytest.approx(state.status.uptime_s + 10)
    assert state.buffer_fill() == pytest.approx(37.4)
    assert state.vpn_label() == "n/a"
    assert state.record_count("syslog") == 31_406_112 + 1800 * 179
    assert state.rates["syslog"].latest is not None
    # the health monitor's active alert comes with the snapshot (its status detail)
    assert [a.text for a in state.alerts()] == [
        "syslog: 17 datagrams dropped by the kernel",
        "data disk at 87.0 % (warning above 85 %)",
    ]
    assert state.live.appended == 33 and state.live.represented == 5400


def test_role_override_and_read_roles() -> None:
    state = ConsoleState()
    apply_recording(state, role="read")
    assert state.role == "read" and not state.can_write
    forced = ConsoleState(role_override="tech")
    apply_recording(forced, role="admin")
    assert forced.role == "tech" and not forced.can_write


def test_down_and_failed_components_are_alerts() -> None:
    state = ConsoleState()
    apply_recording(state)
    state.apply_state_change("syslog", "failed", "OSError: port 514/udp in use", 3, NOW)
    state.mark_down("no engine answers", NOW, 2.0)
    texts = [a.text for a in state.alerts()]
    assert texts[0] == "engine unreachable: no engine answers"
    assert "syslog failed: OSError: port 514/udp in use" in texts
    assert state.uptime(NOW) is None


def counters_event(component: str, counters: dict[str, object]) -> events.CountersUpdated:
    return events.CountersUpdated(component=component, counters=msgspec.Raw(msgspec.json.encode(counters)))


def test_counters_are_decoded_as_their_components_struct() -> None:
    totals = {name: 0 for name in CollectorSummary.__struct_fields__} | {"messages": 3000, "rate_mps": 1000.0}
    summary = decode_counters(counters_event("flow", totals))
    assert isinstance(summary, CollectorSummary)  # a collector, by the capability registry
    assert isinstance(decode_counters(counters_event("buffer", {"records": 5})), BufferCounters)
    # A capability this console has no schema for, or an engine of another version: kept as sent.
    assert decode_counters(counters_event("vpn", {"connected": True})) == {"connected": True}
    assert decode_counters(counters_event("syslog", {"messages": 3})) == {"messages": 3}
    state = ConsoleState()
    state.apply_counters("flow", summary, 102.0)
    assert state.rates["flow"].latest == pytest.approx(1000.0)
    assert state.record_count("flow") == 3000
    assert state.component("flow").state == "running"  # appeared after the snapshot


def test_reads_and_writes_are_kept_by_key() -> None:
    state = ConsoleState()
    report: Read[dict[str, object]] = Read("config_report", lambda client: client.config())
    assert state.value(report) is None and state.outcome(report).at is None
    state.apply_read("config_report", {"buffer": {}}, NOW)
    assert state.value(report) == {"buffer": {}}
    state.apply_read_failure("config_report", "too_slow", "the engine took too long", NOW + 1)
    assert state.value(report) == {"buffer": {}}  # the last good answer stays, with why it is not fresh
    assert state.outcome(report).error_message == "the engine took too long"
    state.apply_read_failure("config_report", "not_available", "no such thing in this build", NOW + 2)
    assert state.value(report) is None and state.outcome(report).not_available
    state.apply_write("purge:syslog", "Purge syslog: done")
    state.apply_write("bundle", "Support bundle written")
    assert state.write_result("purge:") == "Purge syslog: done"
    assert state.write_result("purge:", "bundle") == "Support bundle written"
    state.apply_write("purge:syslog", "Purge syslog failed")
    assert state.write_result("purge:", "bundle") == "Purge syslog failed"  # newest last


def test_rate_history_buckets() -> None:
    history = RateHistory()
    for t in range(60):
        history.add(float(t), float(t))
    buckets = history.buckets(6, 10.0)
    assert buckets == pytest.approx([4.5, 14.5, 24.5, 34.5, 44.5, 54.5])
    assert RateHistory().buckets(3, 10.0) == [None, None, None]


def test_live_ring_is_bounded_and_hands_out_only_new_records() -> None:
    ring = LiveRing(capacity=100)
    ring.extend([{"n": i} for i in range(60)], total=600)
    batch, mark = ring.since(0)
    assert len(batch) == 60 and mark == 60
    ring.extend([{"n": i} for i in range(60, 250)], total=1900)
    batch, mark = ring.since(mark)
    assert len(ring.records) == 100
    assert [r["n"] for r in batch] == list(range(150, 250))  # the ring forgot the rest
    assert ring.since(mark) == ([], 250)
    assert ring.represented == 2500


# ---- records and filters ----------------------------------------------------------------------


def test_record_lines_and_filters() -> None:
    records = watch_lines()[-1]["data"]["records"]
    assert one_line(records[0]).startswith("05:59:20 syslog   10.20.0.11:514")
    assert "core-sw1 LINEPROTO-5-UPDOWN: Line protocol" in one_line(records[0])
    assert "IF-MIB::linkDown from 10.20.0.12 (v2c)" in one_line(records[12])
    assert "\n" not in one_line({"service": "syslog", "message": "two\nlines\x1b[2J"})
    assert RecordFilter(service="tr").matches(records[12])
    assert not RecordFilter(service="sys").matches(records[12])
    assert RecordFilter(source="10.20.4").matches(records[2])
    assert RecordFilter(text="BLOCK_pvid").matches(records[1])
    assert sum(RecordFilter(text="core-sw2").matches(r) for r in records) == 6
    assert not RecordFilter().active


# ---- formatting and looks ---------------------------------------------------------------------


def test_formatting() -> None:
    assert human_bytes(1536) == "1.5 KiB"
    assert human_count(987) == "987" and human_count(12_345) == "12.3k" and human_count(4_560_000) == "4.56M"
    assert human_duration(3 * 86400 + 4 * 3600) == "3d 4h" and human_duration(75) == "1m 15s"
    assert timestamp("2026-11-27T06:00:00+01:00") == "2026-11-27 05:00:00Z"
    assert timestamp(NOW) == "2026-11-27 06:00:00Z"
    assert short_time("2026-11-27T05:59:20.123Z") == "05:59:20"
    assert timestamp(None) == "-"


def test_sparkline_glyphs() -> None:
    assert sparkline([0.0, 5.0, 10.0, None], UNICODE) == "▁▅█ "
    assert sparkline([0.0, 5.0, 10.0, None], ASCII) == "_=# "
    assert sparkline([0.0, 0.0], ASCII) == "__"


@pytest.mark.parametrize(
    ("environ", "plain"),
    [
        ({"TERM": "linux"}, True),
        ({"TERM": "xterm-256color"}, False),
        ({"TERM": "linux", "TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver"}, False),
        ({"TERM": "xterm", "NOCRAVEN_CONSOLE_PLAIN": "1"}, True),
        ({"TERM": "linux", "NOCRAVEN_CONSOLE_PLAIN": "0"}, False),
    ],
)
def test_plain_look_on_the_linux_console(environ: dict[str, str], plain: bool) -> None:
    assert wants_plain(environ) is plain


# ---- wire to messages -------------------------------------------------------------------------


def test_every_event_kind_maps_to_its_message() -> None:
    cases = {
        "component.state_changed": messages.ComponentStateChanged,
        "counters.updated": messages.CountersUpdated,
        "records.sampled": messages.RecordsSampled,
        "engine.stopping": messages.EngineStopping,
        "watch.dropped": messages.WatchDropped,
        "snapshot": messages.SnapshotReceived,
    }
    samples = {
        "component.state_changed": {"component": "syslog", "state": "failed", "previous": "running"},
        "counters.updated": {"component": "syslog", "counters": {"messages": 3}},
        "records.sampled": {"service": "syslog", "records": [{"service": "syslog"}], "total": 1},
        "engine.stopping": {"reason": "test"},
        "watch.dropped": {"reason": "slow"},
        "snapshot": watch_lines()[0]["data"],
    }
    for kind, cls in cases.items():
        line = {"seq": 1, "kind": kind, "at": 1.0, "data": samples[kind]}
        assert isinstance(messages.from_event(published(line)), cls)
    newer = {"seq": 1, "kind": "lidar.scanned", "data": {"points": 1}}
    assert messages.from_event(published(newer)) is None  # an event kind this console does not know


# ---- the login shell: refusals (the exec path runs for real in the tmux test) ------------------


@pytest.mark.parametrize("command", ["sh", "/bin/sh -i", "scp -t /tmp", "nocraven-console", "", 'nocraven "open'])
def test_login_shell_refuses_anything_but_nocraven(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert login.run_restricted(command) == login.REFUSED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "only `nocraven ...` commands are allowed" in err


# ---- Windows screen ---------------------------------------------------------------------------


def test_windows_counts_failed_logons_per_minute_and_events_per_computer() -> None:
    from nocraven_tui.screens.windows import failed_logons_per_minute, per_computer

    records = [
        {"computer": "DC01", "security": "logon.failure", "received_at": "2026-11-27T05:58:01.000Z"},
        {"computer": "DC01", "security": None, "received_at": "2026-11-27T05:58:30.000Z"},
        {"computer": "POS-07", "security": "logon.failure", "received_at": "2026-11-27T05:59:02.000Z"},
        {"computer": "POS-07", "security": "logon.failure", "received_at": "2026-11-27T05:59:40.000Z"},
        {"computer": "POS-07", "security": "account.lockout", "received_at": "2026-11-27T05:59:41.000Z"},
        {"computer": None, "security": None, "received_at": "2026-11-27T05:59:50.000Z"},
    ]
    assert failed_logons_per_minute(records) == [("2026-11-27T05:58", 1), ("2026-11-27T05:59", 2)]
    assert per_computer(records) == [("POS-07", 3, 3), ("DC01", 2, 1), ("-", 1, 0)]
