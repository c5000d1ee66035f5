"""What the benchmarks read about processes and sockets from /proc: CPU per process and role,
and the kernel's drops on a UDP socket. One copy for bench/syslog.py and bench/flow.py."""

from __future__ import annotations

from pathlib import Path

Roles = tuple[tuple[str, str], ...]  # (command-line marker, role) for the engine's child processes


def cpu_ticks(pids: list[int]) -> int:
    """utime + stime of these processes and all their threads, in clock ticks."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return total


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def process_role(pid: int, root: int, root_role: str, roles: Roles) -> str:
    if pid == root or root_role != "engine":  # a peer's plugin processes count as the peer
        return root_role
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    return next((role for marker, role in roles if marker in cmdline), "other")


def ticks_by_role(root: int, root_role: str, roles: Roles) -> dict[str, int]:
    """CPU ticks (utime + stime) of a receiver's processes, added up per role."""
    totals: dict[str, int] = {}
    for pid in process_tree(root):
        role = process_role(pid, root, root_role, roles)
        totals[role] = totals.get(role, 0) + cpu_ticks([pid])
    return totals


def udp_drops(port: int) -> int:
    """The kernel's drop counter of the UDP socket bound to 127.0.0.1:port, or to any address."""
    wanted = (f"0100007F:{port:04X}", f"00000000:{port:04X}")
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[1] in wanted or parts[1].endswith(f":{port:04X}"):
                return int(parts[-1])
    return 0
