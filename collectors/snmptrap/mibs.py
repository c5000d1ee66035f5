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
from typing import Any

import pysnmp_mibs
from pysnmp.smi import builder, view

from collectors.snmptrap.mibfiles import MODULE_NAME

_CACHE_MAX = 100_000


def bundled_modules() -> list[str]:
    """The module names `pysnmp-mibs` ships."""
    directory = Path(pysnmp_mibs.__file__).parent
    return sorted(p.stem for p in directory.glob("*.py") if not p.stem.startswith("_"))


@dataclass
class CompileResult:
    compiled: list[str] = field(default_factory=list)  # module names ready to load
    problems: list[str] = field(default_factory=list)  # one actionable line per broken MIB file


class _ImportStubs:
    """ASN.1 stand-ins for the modules a vendor MIB imports, made from their pysnmp form.

    pysmi compiles from ASN.1 text and needs the text of every imported module (even
    SNMPv2-SMI) to learn OIDs and base types; Debian ships none and the appliance must not
    fetch them. The precompiled modules know both, so a stub declares each OID node as
    `name OBJECT IDENTIFIER ::= { 1 3 6 ... }` and each textual convention by its base type."""

    def __init__(self) -> None:
        self._builder = builder.MibBuilder()
        self._builder.loadTexts = False
        self._builder.add_mib_sources(builder.DirMibSource(os.path.dirname(pysnmp_mibs.__file__)))

    def text(self, name: str) -> str | None:
        from pyasn1.type import univ

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self._builder.load_modules(name)
        except Exception:  # not a module we know: pysmi then reports the import as missing
            return None
        bases = (
            (univ.OctetString, "OCTET STRING"),
            (univ.ObjectIdentifier, "OBJECT IDENTIFIER"),
            (univ.Integer, "INTEGER"),
        )
        lines = [f"{name} DEFINITIONS ::= BEGIN"]
        for symbol, value in sorted(self._builder.mibSymbols[name].items()):
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", symbol):
                continue
            if isinstance(value, type) and symbol[0].isupper():
                base = next((text for cls, text in bases if issubclass(value, cls)), None)
                if base:
                    lines.append(f"{symbol} ::= {base}")
            elif symbol[0].islower() and hasattr(value, "getName") and value.getName():
                lines.append(f"{symbol} OBJECT IDENTIFIER ::= {{ {' '.join(map(str, value.getName()))} }}")
        lines.append("END")
        return "\n".join(lines) + "\n"


def _stub_reader(stubs: _ImportStubs) -> Any:
    from pysmi import error as smi_error
    from pysmi.mibinfo import MibInfo
    from pysmi.reader.base import AbstractReader

    class StubReader(AbstractReader):  # type: ignore[misc]  # pysmi ships no type hints
        def get_data(self, mibname: str, **options: Any) -> tuple[Any, str]:
            text = stubs.text(mibname)
            if text is None:
                raise smi_error.PySmiReaderFileNotFoundError(mibname=mibname, reader=self)
            # mtime 0: older than any compiled module, so pysmi never rebuilds one from a stub.
            return MibInfo(path=f"stub:{mibname}", file=mibname, name=mibname, mtime=0), text

    return StubReader()


def compile_operator_mibs(source_dir: Path, output_dir: Path) -> CompileResult:
    """Compile every ASN.1 MIB file in `source_dir` into pysnmp modules in `output_dir`.

    Imports resolve against the other files in `source_dir`, then `pysnmp-mibs` and pysnmp's
    own modules (through `_ImportStubs`). Compiled modules are reused while their source is
    unchanged."""
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
            match = MODULE_NAME.search(path.read_bytes())
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
    compiler.add_sources(FileReader(str(source_dir)), _stub_reader(_ImportStubs()))
    compiler.add_searchers(
        PyFileSearcher(str(output_dir)),
        PyPackageSearcher("pysnmp_mibs"),
        PyPackageSearcher("pysnmp.smi.mibs"),
        StubSearcher(*PySnmpCodeGen.baseMibs),
    )
    for name, path in names.items():
        try:
            statuses = compiler.compile(name, rebuild=False, genTexts=False)
        except Exception as exc:  # pysmi raises many kinds on bad input; a broken MIB is never fatal
            result.problems.append(f"MIB {name} ({path}): does not compile: {_one_line(exc)}; fix or remove the file")
            continue
        status = statuses.get(name)
        if status in ("compiled", "untouched", "borrowed"):
            result.compiled.append(name)
            continue
        missing = sorted(other for other, state in statuses.items() if state == "missing")
        if missing:
            result.problems.append(
                f"MIB {name} ({path}): imports {', '.join(missing)}, found neither in {source_dir} nor among the "
                "bundled MIBs; add those MIB files to the directory"
            )
        else:
            reason = _one_line(getattr(status, "error", None) or status)
            result.problems.append(f"MIB {name} ({path}): {status}: {reason}; fix it or remove the file")
    return result


def _one_line(error: object) -> str:
    """A short reason: pysnmp embeds whole tracebacks in its load errors; keep their last line."""
    text = str(error)
    raised = re.findall(r"""([A-Za-z_.]*(?:Error|Exception): [^'"\\\]]*)""", text)
    if raised:
        text = raised[-1]
    return " ".join(text.split())[:300]


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
        self._names: dict[str, str | None] = {}
        self._notifications: dict[str, str | None] = {}

    def name(self, oid: str) -> str | None:
        """`MODULE::symbol.suffix` for a dotted OID, or None when no MIB covers it."""
        try:
            return self._names[oid]
        except KeyError:
            self._learn(oid)
            return self._names[oid]

    def notification_name(self, oid: str) -> str | None:
        """The name of a notification OID only when a MIB defines exactly that node."""
        try:
            return self._notifications[oid]
        except KeyError:
            self._learn(oid)
            return self._notifications[oid]

    def oid(self, name: str) -> str | None:
        """The dotted OID of `MODULE::symbol[.suffix]`, or None when no loaded MIB defines it."""
        module, sep, rest = name.partition("::")
        symbol, _, suffix = rest.partition(".")
        if not sep or not symbol:
            return None
        try:
            numbers, _label, _suffix = self._view.get_node_name((symbol,), module)
        except Exception:  # pysnmp raises SmiError or NoSuchObjectError for unknown names
            return None
        dotted = ".".join(map(str, numbers))
        return f"{dotted}.{suffix}" if suffix else dotted

    def _learn(self, oid: str) -> None:
        if len(self._names) >= _CACHE_MAX:
            self._names.clear()
            self._notifications.clear()
        found = self._resolve(oid)
        self._names[oid] = found[0] if found else None
        self._notifications[oid] = found[0] if found and found[1] else None

    def _resolve(self, oid: str) -> tuple[str, bool] | None:
        """(name, whether a MIB defines exactly this node), or None."""
        try:
            numbers = tuple(int(part) for part in oid.split("."))
            module, symbol, suffix = self._view.get_node_location(numbers)
        except Exception:  # pysnmp raises NoSuchObjectError and friends for unknown OIDs
            return None
        name = f"{module}::{symbol}"
        if suffix:
            name += "." + ".".join(map(str, suffix))
        return name, not suffix
