"""Find sockets of a process tree that touch a non-loopback address.

``foreign_sockets(pids)`` walks the given processes and all their descendants, maps their socket
inodes (``/proc/<pid>/fd``) to ``/proc/<pid>/net/{tcp,tcp6,udp,udp6}`` rows and reports every
socket that is bound to, or connected to, an address other than loopback. Listening on a wildcard
address (``0.0.0.0`` / ``::``) is reported too unless ``allow_wildcard_listen``: it is not traffic
to another host, but it makes the service reachable from one.

Only ``/proc`` is used (Linux); psutil is not needed. TIME_WAIT rows carry no inode and so
belong to no process; they are ignored.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["SocketInfo", "foreign_sockets", "process_tree", "ray_pids", "sockets_of"]

_TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
}


@dataclass(frozen=True)
class SocketInfo:
    pid: int
    proto: str  # tcp, tcp6, udp, udp6
    local: tuple[str, int]
    remote: tuple[str, int]
    state: str

    def describe(self) -> str:
        return f"pid {self.pid} ({_comm(self.pid)}) {self.proto} {self.state} {_fmt(self.local)} -> {_fmt(self.remote)}"


def _fmt(addr: tuple[str, int]) -> str:
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return "?"


def process_tree(pids: Iterable[int]) -> set[int]:
    """``pids`` plus all their living descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        # The comm field may contain spaces and parentheses: the ppid follows the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 2:
            children.setdefault(int(fields[1]), []).append(int(entry))
    result: set[int] = set()
    todo = [p for p in pids if os.path.exists(f"/proc/{p}")]
    while todo:
        pid = todo.pop()
        if pid in result:
            continue
        result.add(pid)
        todo.extend(children.get(pid, []))
    return result


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _decode_addr(hex_addr: str, v6: bool) -> tuple[str, int]:
    host_hex, port_hex = hex_addr.split(":")
    raw = bytes.fromhex(host_hex)
    if v6:
        # Four native-endian 32-bit words.
        packed = b"".join(struct.pack("@I", struct.unpack(">I", raw[i : i + 4])[0]) for i in range(0, 16, 4))
        host = socket.inet_ntop(socket.AF_INET6, packed)
    else:
        host = socket.inet_ntop(socket.AF_INET, struct.pack("@I", struct.unpack(">I", raw)[0]))
    return host, int(port_hex, 16)


def _read_table(pid: int, proto: str) -> list[tuple[str, tuple[str, int], tuple[str, int], str]]:
    rows = []
    try:
        with open(f"/proc/{pid}/net/{proto}", encoding="ascii") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return rows
    v6 = proto.endswith("6")
    for line in lines:
        parts = line.split()
        if len(parts) < 10:
            continue
        local = _decode_addr(parts[1], v6)
        remote = _decode_addr(parts[2], v6)
        state = _TCP_STATES.get(parts[3], parts[3]) if proto.startswith("tcp") else "UDP"
        rows.append((parts[9], local, remote, state))
    return rows


def sockets_of(pids: Iterable[int]) -> list[SocketInfo]:
    """All TCP/UDP sockets held by ``pids`` and their descendants."""
    found: list[SocketInfo] = []
    tables: dict[tuple[str, str], list[tuple[str, tuple[str, int], tuple[str, int], str]]] = {}
    for pid in sorted(process_tree(pids)):
        inodes = _socket_inodes(pid)
        if not inodes:
            continue
        try:
            netns = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            netns = "?"
        for proto in ("tcp", "tcp6", "udp", "udp6"):
            key = (netns, proto)
            if key not in tables:
                tables[key] = _read_table(pid, proto)
            for inode, local, remote, state in tables[key]:
                if inode in inodes and inode != "0":
                    found.append(SocketInfo(pid, proto, local, remote, state))
    return found


def _is_loopback(host: str) -> bool:
    ip = ipaddress.ip_address(host)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _is_unspecified(host: str) -> bool:
    ip = ipaddress.ip_address(host)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_unspecified


def foreign_sockets(pids: Iterable[int], *, allow_wildcard_listen: bool = False) -> list[str]:
    """Human-readable descriptions of sockets of the ``pids`` process trees that are bound or
    connected to a non-loopback address (empty list = everything stays on loopback)."""
    problems: list[str] = []
    for s in sockets_of(pids):
        local_host, _ = s.local
        remote_host, remote_port = s.remote
        remote_set = not _is_unspecified(remote_host) or remote_port != 0
        if remote_set and not _is_loopback(remote_host):
            problems.append(s.describe() + "  (remote is not loopback)")
        elif _is_unspecified(local_host):
            if s.state == "LISTEN" and allow_wildcard_listen:
                continue
            if not remote_set and s.state not in ("LISTEN", "UDP"):
                continue  # a TCP socket not yet bound/connected
            problems.append(s.describe() + "  (bound to the wildcard address)")
        elif not _is_loopback(local_host):
            problems.append(s.describe() + "  (local address is not loopback)")
    return problems


def ray_pids() -> set[int]:
    """Processes of Ray's daemons/workers on this machine (by executable / process title)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ")
        except OSError:
            continue
        if cmd.startswith(b"ray::") or b"/ray/core/src/ray/" in cmd or b"site-packages/ray/" in cmd:
            pids.add(int(entry))
    return pids
