"""Dependencies run one way: the engine side and the collectors never import the console."""

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
# An HTTP server is the Windows event endpoint's transport: that collector alone may use aiohttp.
ALLOWED = {"collectors/winevents": {"aiohttp"}}


def allowed_for(path: Path) -> set[str]:
    relative = path.relative_to(ROOT).as_posix()
    return set().union(*(names for prefix, names in ALLOWED.items() if relative.startswith(prefix + "/")))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_forbidden_imports(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_modules(path) & (FORBIDDEN[package] - allowed_for(path))
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert offenders == []


def test_only_the_winevents_collector_may_import_aiohttp() -> None:
    assert allowed_for(ROOT / "collectors/winevents/server.py") == {"aiohttp"}
    assert allowed_for(ROOT / "collectors/syslog/service.py") == set()
    assert allowed_for(ROOT / "collectors/wineventsx/server.py") == set()
    assert "nocraven" not in allowed_for(ROOT / "collectors/winevents/server.py")


def test_engine_and_cli_load_without_textual() -> None:
    code = (
        "import sys, nocraven.engine.main, nocraven.cli.main, nocraven.client\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'nocraven_tui')]\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
