"""Who listens where: the TCP listeners of processes, read from /proc (Linux), to check
that a test's Ray cluster keeps every listener on 127.0.0.1."""

from __future__ import annotations

import contextlib
import ipaddress
import os
from pathlib import Path

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def processes() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                found[int(entry.name)] = (
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                )
    return found


def process_name(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def listeners_by_process() -> dict[int, list[Address]]:
    """pid -> the local addresses of its listening TCP sockets (from /proc)."""
    by_inode = {}
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                by_inode[fields[9]] = address_of(fields[1].split(":")[0], width)
    found: dict[int, list] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        for link in links:
            if link.startswith("socket:[") and link[8:-1] in by_inode:
                found.setdefault(int(entry.name), []).append(by_inode[link[8:-1]])
    return found


def address_of(hex_address: str, width: int) -> Address:
    # /proc writes each 32-bit word of the address in the machine's (little-endian) order
    words = [bytes.fromhex(hex_address[start : start + 8])[::-1] for start in range(0, width, 8)]
    return ipaddress.ip_address(b"".join(words))


def is_loopback(address: Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def parents() -> dict[int, int]:
    """pid -> its parent's pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                # the field after the name, which may hold spaces and parentheses
                after_name = (entry / "stat").read_text().rsplit(")", 1)[1]
                found[int(entry.name)] = int(after_name.split()[1])
    return found


def cluster_processes(temp_dir: Path) -> set[int]:
    """The cluster's daemons (their command lines name its temp folder) and every process
    they started (workers and actors, which rename themselves ``ray::...``)."""
    found = {pid for pid, command in processes().items() if str(temp_dir) in command}
    children: dict[int, list[int]] = {}
    for pid, parent in parents().items():
        children.setdefault(parent, []).append(pid)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def listening_beyond_loopback(pids: set[int]) -> set[tuple[str, str]]:
    """(process name, address) of each listener of ``pids`` not on a loopback address."""
    listening = listeners_by_process()
    return {
        (process_name(pid), str(address))
        for pid in pids
        for address in listening.get(pid, [])
        if not is_loopback(address)
    }
