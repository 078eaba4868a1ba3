"""Which process wrote a lock or a staged file, and whether that process is certainly gone."""

import os
import socket
from dataclasses import dataclass
from typing import Any, TypeVar

from lenet_batch.json_records import JsonRecord

PID_MAX = 2**22  # Linux's highest pid (PID_MAX_LIMIT): a larger one was not a process of ours


@dataclass(frozen=True, kw_only=True)
class Process(JsonRecord):
    """A process as a lock or a writer mark records it (the fields of those records that say who wrote it):
    host, boot id, pid, pid namespace and start time (which tells a reused pid). None where not known."""

    host: str | None = None
    boot_id: str | None = None
    pid: int | None = None
    pid_ns: str | None = None
    pid_started: int | None = None  # clock ticks since boot (Linux)


P = TypeVar("P", bound=Process)


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists in our pid namespace (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def process_start(pid: int) -> int | None:
    """When the process started (clock ticks since boot, Linux); None where /proc does not say."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        # Field 22 (starttime); the command name (field 2) may hold spaces and parentheses.
        return int(stat.rpartition(")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def boot_id() -> str | None:
    """This machine's boot id (Linux): tells two machines that share a host name, which a pid cannot."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip() or None
    except OSError:
        return None


def this_process(kind: type[P] = Process, **fields: Any) -> P:
    """Who we are, as a lock or a mark records it: a `kind` (Process or a record that extends it) holding
    our host, boot id, pid, pid namespace and start time, and the record's own `fields`."""
    pid = os.getpid()
    return kind(
        host=socket.gethostname(),
        boot_id=boot_id(),
        pid=pid,
        pid_ns=_pid_namespace(),
        pid_started=process_start(pid),
        **fields,
    )


def certainly_gone(holder: Process, same_boot: bool = False) -> bool:
    """True only when the holder ran on this host, in our pid namespace, and its process no longer runs.

    A pid now used by another process (its start time differs) counts as gone. A holder on another host, in
    another container or from another boot is never judged here (its lock goes stale by age instead).
    `same_boot` also asks for the holder's recorded boot id to be ours: for shared storage (S3), where
    another machine may carry the same host name.
    """
    pid, started = holder.pid, holder.pid_started
    if pid is None or not 0 < pid <= PID_MAX or holder.host != socket.gethostname():
        return False
    if holder.pid_ns not in (None, _pid_namespace()):
        return False
    if holder.boot_id is not None and holder.boot_id != boot_id():
        return False
    if same_boot and (holder.boot_id is None or boot_id() is None):
        return False
    if not pid_alive(pid):
        return True
    return started is not None and process_start(pid) not in (None, started)  # the pid was reused
