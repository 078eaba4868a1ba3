"""A watchdog that leaves no process of a local Ray behind its driver, even a SIGKILLed one.

ray.init starts the local Ray's own processes (GCS, raylet) with PR_SET_PDEATHSIG, so they die with the
driver; the worker processes the raylet started do not: a worker in the middle of a task trains on until
it next looks at its raylet, and its agents (DashboardAgent, RuntimeEnvAgent) linger for a minute or two.
So the driver starts this watchdog before ray.init, in a session of its own (a kill of the driver's
process group spares it), with a mark in its environment (OWNER_VARIABLE) that every process of that Ray
inherits. The watchdog blocks on a pipe from the driver; when the pipe closes (the driver stopped Ray, or
died) it SIGKILLs every process that still carries the mark, the driver excepted, until none is left.

Run as a script in an isolated interpreter (`python -I reaper.py MARK`): it imports nothing of ours.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time

OWNER_VARIABLE = "LENET_BATCH_RAY_OWNER"
SWEEP_SECONDS = 30.0  # at most this long killing marked processes (a raylet may spawn one meanwhile)
QUIET_SCANS = 2  # the sweep ends when this many scans in a row, SCAN_SECONDS apart, find none
SCAN_SECONDS = 0.1


_watchdog_pid: int | None = None  # this driver's watchdog, which carries the mark too


def start_watchdog() -> subprocess.Popen:
    """Mark this process's environment for the local Ray it starts next, and start its watchdog."""
    global _watchdog_pid
    mark = f"{os.getpid()}-{time.time_ns()}"  # the driver's pid first: the watchdog spares it
    os.environ[OWNER_VARIABLE] = mark
    watchdog = subprocess.Popen(
        [sys.executable, "-I", os.path.abspath(__file__), mark],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a SIGKILL to the driver's process group leaves the watchdog to clean up
    )
    _watchdog_pid = watchdog.pid
    return watchdog


def sweep_own() -> int:
    """In the driver, after a failed start: kill what that start left (not the watchdog); returns how many."""
    mark = os.environ.get(OWNER_VARIABLE)
    return sweep(mark, spare={_watchdog_pid}) if mark else 0


def tell_session(watchdog: subprocess.Popen | None, session_dir: str) -> None:
    """Give the watchdog the started Ray's session folder: a process holding a file in it is that Ray's.

    Ray's agents and workers set their process title, and the title can overwrite the memory that
    /proc/PID/environ shows, mark included: a DashboardAgent found by the mark alone could outlive a
    SIGKILLed driver by minutes. Their log files, open under the session folder, do not go away.
    """
    if watchdog is None or watchdog.stdin is None:
        return
    with contextlib.suppress(OSError, ValueError):
        watchdog.stdin.write(os.fsencode(session_dir) + b"\n")
        watchdog.stdin.flush()


def stop_watchdog(watchdog: subprocess.Popen | None) -> None:
    """After ray.shutdown: the watchdog kills what is left of that Ray; the mark is dropped."""
    if watchdog is None:
        return
    os.environ.pop(OWNER_VARIABLE, None)  # processes this driver starts from now on are not that Ray's
    with contextlib.suppress(OSError):
        watchdog.stdin.close()
    try:
        watchdog.wait(timeout=SWEEP_SECONDS + 5)
    except subprocess.TimeoutExpired:
        watchdog.kill()
        watchdog.wait()


def _ray_process_under(pid: str, folders: tuple[bytes, ...]) -> bool:
    """A process titled `ray::…` (an agent, a worker) with an open file under one of `folders`; a user's
    `tail -f` of a log there is none of these."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        if not f.read().startswith(b"ray::"):
            return False
    links = [f"/proc/{pid}/fd/{fd}" for fd in os.listdir(f"/proc/{pid}/fd")]
    for link in links:
        with contextlib.suppress(OSError):
            if os.readlink(os.fsencode(link)).startswith(folders):
                return True
    return False


def marked(mark: str, spare: set[int | None] = frozenset(), folders: tuple[bytes, ...] = ()) -> list[int]:
    """Processes whose environment holds OWNER_VARIABLE=mark or that hold a file under one of `folders`,
    except this one, the driver and `spare`."""
    entry = f"{OWNER_VARIABLE}={mark}".encode()
    spared = {os.getpid(), int(mark.split("-", 1)[0]), *spare}
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in spared:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if entry in f.read().split(b"\0") or (folders and _ray_process_under(name, folders)):
                    found.append(int(name))
        except OSError:  # gone meanwhile, or another user's
            continue
    return found


def sweep(
    mark: str,
    seconds: float = SWEEP_SECONDS,
    spare: set[int | None] = frozenset(),
    folders: tuple[bytes, ...] = (),
) -> int:
    """SIGKILL the marked processes until scans find none QUIET_SCANS times in a row (or `seconds` pass);
    returns how many were killed. A process being spawned as one scan passes is found by the next."""
    killed: set[int] = set()
    deadline, quiet = time.monotonic() + seconds, 0
    while time.monotonic() < deadline and quiet < QUIET_SCANS:
        pids = marked(mark, spare, folders)
        quiet = 0 if pids else quiet + 1
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        time.sleep(SCAN_SECONDS)
    return len(killed)


def _watch(mark: str) -> int:
    """Wait until the driver closes the pipe (or dies), then kill what is left of its Ray."""
    # Ctrl-C or a SIGTERM to the whole process group reaches the driver too, which stops Ray itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Lines are the session folders the driver tells (tell_session); EOF: the driver is done, or dead.
    folders = tuple(os.path.join(line.rstrip(b"\n"), b"") for line in sys.stdin.buffer if line.strip())
    sweep(mark, folders=folders)
    return 0


if __name__ == "__main__":
    sys.exit(_watch(sys.argv[1]))
