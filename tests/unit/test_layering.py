"""Dependencies run one way: the engine side and the collectors never import the console, the
engine never imports the CLI, the API never imports the engine, the wire schema and the client
import neither, and no module imports itself in a circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
FORBIDDEN = {
    "nocraven": {"textual", "nocraven_tui"},
    "collectors": {"textual", "nocraven_tui", "nocraven", "aiohttp"},
}
# The Windows-event intake is an HTTP server: aiohttp is its transport, and only its.
ALLOWED = {"collectors/winevents": {"aiohttp"}}
# (importing module prefix, forbidden module prefix): arrows that would run the wrong way.
WRONG_WAY = [
    ("nocraven.engine", "nocraven.cli"),
    ("nocraven.api", "nocraven.engine"),
    ("nocraven.api", "nocraven.cli"),
    ("nocraven.schema", "nocraven.engine"),
    ("nocraven.schema", "nocraven.api"),
    ("nocraven.schema", "nocraven.cli"),
    ("nocraven.client", "nocraven.engine"),
    ("nocraven.client", "nocraven.cli"),
    ("nocraven.capabilities", "nocraven."),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, runtime_only: bool = False) -> set[str]:
    """Absolute module names a file imports; `runtime_only` leaves out `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text(), str(path))
    skipped: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    names: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_no_forbidden_imports() -> None:
    offenders = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            allowed = next(
                (extra for prefix, extra in ALLOWED.items() if str(path.relative_to(ROOT)).startswith(prefix)), set()
            )
            bad = {name.split(".")[0] for name in imports(path)} & (forbidden - allowed)
            if bad:
                offenders.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert offenders == []


def test_no_arrow_runs_the_wrong_way() -> None:
    offenders = []
    for path in sorted((ROOT / "nocraven").rglob("*.py")):
        module = module_name(path)
        for importer, target in WRONG_WAY:
            if module == importer or module.startswith(importer + "."):
                bad = sorted(n for n in imports(path) if n.startswith(target) and not n.startswith(importer))
                if bad:
                    offenders.append(f"{module} imports {', '.join(bad)}")
    assert offenders == []


@pytest.mark.parametrize("package", ["nocraven", "collectors"])
def test_no_import_cycles_between_modules(package: str) -> None:
    paths = {module_name(p): p for p in (ROOT / package).rglob("*.py")}
    graph = {
        module: {name for name in imports(path, runtime_only=True) if name in paths and name != module}
        for module, path in paths.items()
    }
    # A package's __init__ importing its own modules is how packages work, not a cycle.
    graph = {m: {n for n in deps if not m or not n.startswith(m + ".")} for m, deps in graph.items()}
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*stack[stack.index(dep) :], dep]))
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert cycles == []


def test_engine_and_cli_load_without_textual() -> None:
    code = (
        "import sys, nocraven.engine.main, nocraven.cli.main, nocraven.client\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'nocraven_tui')]\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_console_loads_without_the_engine_side() -> None:
    """The console starts on the box's tty and over SSH: it must not pay for the config schema,
    the buffer's storage code or SNMP (they once doubled its import time)."""
    code = (
        "import sys, nocraven_tui.app\n"
        "heavy = ('nocraven.config', 'nocraven.buffer', 'nocraven.engine', 'sqlite_utils', 'pysnmp')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_engine_loads_without_what_only_a_diagnostic_or_a_vpn_profile_needs() -> None:
    """Every module the engine imports stays in its memory for its whole life: pyroute2, httpx
    and cryptography (interfaces, the bandwidth test, certificates) were a third of it, idle or
    under load. They are imported where they are used."""
    code = (
        "import sys, nocraven.engine.main, nocraven.engine.core\n"
        "heavy = ('pyroute2', 'httpx', 'cryptography')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
