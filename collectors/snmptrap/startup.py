"""Building a `TrapReceiver` from `[snmptrap]` at collector start (files, no sockets).

Everything slow or stateful happens here, once: operator MIBs compiled (pysmi) into the state
directory, all MIBs loaded, our SNMPv3 engine ID settled and snmpEngineBoots advanced (RFC 3414
§2.2: boots must grow across restarts, or an INFORM recorded before a restart could be
replayed into the time window after it).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from collectors.snmptrap.mibs import MibResolver, compile_operator_mibs
from collectors.snmptrap.receiver import TrapReceiver, engine_id_from_seed
from collectors.snmptrap.settings import SnmptrapSettings

MACHINE_ID = Path("/etc/machine-id")
_MAX_BOOTS = 2**31 - 1


@dataclass
class Startup:
    receiver: TrapReceiver
    problems: list[str] = field(default_factory=list)  # broken MIBs and the like, one line each
    operator_mibs: list[str] = field(default_factory=list)  # modules compiled from `mib_dir`


def our_engine_id(settings: SnmptrapSettings, machine_id: Path = MACHINE_ID) -> bytes:
    """The configured engine ID, else one derived from the machine ID (stable across restarts)."""
    if settings.engine_id:
        return bytes.fromhex(settings.engine_id.replace(":", ""))
    try:
        seed = machine_id.read_bytes().strip()
    except OSError:
        seed = b""
    if not seed:
        seed = os.uname().nodename.encode()
    return engine_id_from_seed(hashlib.sha256(seed).digest())


def next_engine_boots(path: Path) -> int:
    """Read, advance and durably store snmpEngineBoots (RFC 3414: it stops at 2^31-1)."""
    try:
        boots = int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        boots = 0
    boots = min(boots + 1, _MAX_BOOTS)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w") as handle:
        handle.write(f"{boots}\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return boots


def open_receiver(
    settings: SnmptrapSettings,
    state_dir: Path,
    now: float,
    modules: Iterable[str] | None = None,
    machine_id: Path = MACHINE_ID,
) -> Startup:
    """A receiver with every MIB loaded (or only `modules`, for tests) and its USM state."""
    problems: list[str] = []
    compiled_dir = state_dir / "mibs-compiled"
    operator: list[str] = []
    if settings.mib_dir:
        result = compile_operator_mibs(Path(settings.mib_dir), compiled_dir)
        operator, problems = result.compiled, result.problems
    wanted = None if modules is None else [*modules, *operator]
    resolver = MibResolver(wanted, [compiled_dir] if operator else [])
    problems += resolver.problems
    boots = next_engine_boots(state_dir / "snmp-engine-boots")
    receiver = TrapReceiver(settings, resolver, our_engine_id(settings, machine_id), boots, now)
    return Startup(receiver, problems, operator)
