"""MIB resolution: numeric OIDs to names like `IF-MIB::ifIndex.3`, through pysnmp's MIB view.

The IETF and IANA MIBs come precompiled in the `pysnmp-mibs` package (Debian ships no MIB
files). Operators drop vendor MIBs (ASN.1 text) into a directory; `compile_operator_mibs`
turns them into pysnmp modules with pysmi. A MIB that does not compile or load is reported in
`problems` and skipped: the receiver still runs and shows those OIDs numerically.

Resolution walks pysnmp's OID index, so every answer is cached: a storm repeats the same few
trap and varbind OIDs, and the hot path then costs one dict lookup.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pysnmp_mibs
from pysnmp.smi import builder, view

_CACHE_MAX = 100_000
_MODULE_NAME = re.compile(rb"^\s*([A-Za-z][\w-]*)\s+DEFINITIONS\s*::=\s*BEGIN", re.M)


def bundled_modules() -> list[str]:
    """The module names `pysnmp-mibs` ships."""
    directory = Path(pysnmp_mibs.__file__).parent
    return sorted(p.stem for p in directory.glob("*.py") if not p.stem.startswith("_"))


@dataclass
class CompileResult:
    compiled: list[str] = field(default_factory=list)  # module names ready to load
    problems: list[str] = field(default_factory=list)  # one actionable line per broken MIB file


def compile_operator_mibs(source_dir: Path, output_dir: Path) -> CompileResult:
    """Compile every ASN.1 MIB file in `source_dir` into pysnmp modules in `output_dir`.

    Imports resolve against the other files in `source_dir`, `pysnmp-mibs` and pysnmp's own
    modules. Compiled modules are reused while their source is unchanged."""
    from pysmi.codegen import PySnmpCodeGen
    from pysmi.compiler import MibCompiler
    from pysmi.parser import SmiStarParser
    from pysmi.reader import FileReader
    from pysmi.searcher import PyFileSearcher, PyPackageSearcher, StubSearcher
    from pysmi.writer import PyFileWriter

    result = CompileResult()
    names: dict[str, Path] = {}
    for path in sorted(source_dir.iterdir()) if source_dir.is_dir() else []:
        if not path.is_file() or path.name.startswith("."):
            continue
        try:
            match = _MODULE_NAME.search(path.read_bytes())
        except OSError as exc:
            result.problems.append(f"MIB file {path}: cannot read it ({exc.strerror}); check its permissions")
            continue
        if match is None:
            result.problems.append(f"MIB file {path}: no 'NAME DEFINITIONS ::= BEGIN' line; is it an SMI MIB?")
            continue
        names[match.group(1).decode()] = path
    if not names:
        return result
    output_dir.mkdir(parents=True, exist_ok=True)
    compiler = MibCompiler(SmiStarParser(), PySnmpCodeGen(), PyFileWriter(str(output_dir)))
    compiler.add_sources(FileReader(str(source_dir)))
    compiler.add_searchers(
        PyFileSearcher(str(output_dir)),
        PyPackageSearcher("pysnmp_mibs"),
        PyPackageSearcher("pysnmp.smi.mibs"),
        StubSearcher(*PySnmpCodeGen.baseMibs),
    )
    for name, path in names.items():
        try:
            status = compiler.compile(name, rebuild=False, genTexts=False).get(name)
        except Exception as exc:  # pysmi raises many kinds on bad input; a broken MIB is never fatal
            result.problems.append(f"MIB {name} ({path}): does not compile: {_one_line(exc)}; fix or remove the file")
            continue
        if status in ("compiled", "untouched", "borrowed"):
            result.compiled.append(name)
        else:
            reason = _one_line(getattr(status, "error", None) or status)
            result.problems.append(f"MIB {name} ({path}): {status}: {reason}; fix it or add the MIBs it imports")
    return result


def _one_line(error: object) -> str:
    return " ".join(str(error).split())[:300]


class MibResolver:
    """Names for OIDs from the loaded MIB modules, with every answer cached."""

    def __init__(self, modules: Iterable[str] | None = None, extra_dirs: Iterable[Path] = ()) -> None:
        """Load `modules` (default: every module of `pysnmp-mibs` and of `extra_dirs`)."""
        self.problems: list[str] = []
        self.loaded: list[str] = []
        mib_builder = builder.MibBuilder()
        mib_builder.loadTexts = False
        sources = [builder.DirMibSource(os.path.dirname(pysnmp_mibs.__file__))]
        sources += [builder.DirMibSource(str(d)) for d in extra_dirs]
        mib_builder.add_mib_sources(*sources)
        wanted = list(modules) if modules is not None else bundled_modules()
        if modules is None:
            for directory in extra_dirs:
                wanted += sorted(p.stem for p in Path(directory).glob("*.py") if not p.stem.startswith("_"))
        for name in wanted:
            try:
                with warnings.catch_warnings():
                    # pysnmp-mibs (2016) calls pysnmp's old camelCase names, deprecated in pysnmp 7.
                    warnings.simplefilter("ignore", DeprecationWarning)
                    mib_builder.load_modules(name)
            except Exception as exc:  # a broken module is reported and skipped, never fatal
                self.problems.append(f"MIB {name}: does not load: {_one_line(exc)}; fix or remove it")
            else:
                self.loaded.append(name)
        self._view = view.MibViewController(mib_builder)
        self._names: dict[str, tuple[str, bool] | None] = {}

    def name(self, oid: str) -> str | None:
        """`MODULE::symbol.suffix` for a dotted OID, or None when no MIB covers it."""
        found = self._lookup(oid)
        return found[0] if found else None

    def notification_name(self, oid: str) -> str | None:
        """The name of a notification OID only when a MIB defines exactly that node."""
        found = self._lookup(oid)
        return found[0] if found and found[1] else None

    def _lookup(self, oid: str) -> tuple[str, bool] | None:
        try:
            return self._names[oid]
        except KeyError:
            pass
        found = self._resolve(oid)
        if len(self._names) >= _CACHE_MAX:
            self._names.clear()
        self._names[oid] = found
        return found

    def _resolve(self, oid: str) -> tuple[str, bool] | None:
        try:
            numbers = tuple(int(part) for part in oid.split("."))
            module, symbol, suffix = self._view.get_node_location(numbers)
        except Exception:  # pysnmp raises NoSuchObjectError and friends for unknown OIDs
            return None
        name = f"{module}::{symbol}"
        if suffix:
            name += "." + ".".join(map(str, suffix))
        return name, not suffix
