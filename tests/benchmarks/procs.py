"""What the machine is and how busy it was: CPU, memory, versions, and /proc sampling of our processes."""

import os
import platform
import resource
import subprocess
import threading
import time
from importlib import metadata
from typing import Any

MIB = 2**20
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def _cpuinfo_model() -> str:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    return 0.0


def lscpu_model() -> str:
    """`lscpu`'s model name (what the README quotes with every figure), else /proc/cpuinfo's."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return _cpuinfo_model()


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, kernel and the versions that decide the numbers."""
    versions = {"python": platform.python_version()}
    for package in ("mxnet", "numpy", "ray", "pyarrow", "lenet-batch"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu_model": lscpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(_mem_total_gib(), 1),
        "kernel": platform.release(),
        "versions": versions,
        "loadavg_at_start": os.getloadavg(),
    }


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used since boot (all cores, /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / TICKS


def wait_for_quiet(max_seconds: float, threshold: float = 0.25, window: float = 2.0) -> float:
    """Wait up to max_seconds for other processes to use fewer than `threshold` cores; returns their load."""
    deadline = time.monotonic() + max_seconds
    while True:
        before = machine_busy_seconds()
        time.sleep(window)
        load = (machine_busy_seconds() - before) / window
        if load < threshold or time.monotonic() + window > deadline:
            return round(load, 2)


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds a live process has used (0 when it is gone)."""
    stat = _stat(pid)
    return stat[1] if stat else 0.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:  # the process ended between listing and reading
        return None


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a process."""
    text = _read(f"/proc/{pid}/stat")
    if text is None:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _pss_mib(pid: int) -> float:
    text = _read(f"/proc/{pid}/smaps_rollup") or ""
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def short_name(cmdline: str) -> str:
    """A process's name as a breakdown shows it: 'raylet', 'ray::DashboardAgent', 'log_monitor.py'."""
    words = cmdline.split()
    if not words:
        return "?"
    if words[0].startswith("ray::"):
        return words[0]
    scripts = [w for w in words[1:] if w.endswith(".py") or w.startswith("ray.")]
    named = scripts[0] if "python" in words[0] and scripts else words[0]
    return named.rsplit("/", 1)[-1]


def rays_own(cmdline: str) -> bool:
    """A process Ray runs for itself (GCS, raylet, dashboard, monitors, agents) or our LineSink actor."""
    ours = ("lenet-batch", "tests.benchmarks", "reaper.py", "default_worker.py")
    if cmdline.startswith("ray::"):
        return "Agent" in cmdline or "LineSink" in cmdline
    return role(cmdline) == "ray system" and not any(word in cmdline for word in ours)


def role(cmdline: str) -> str:
    """What a process is, from its command line."""
    if cmdline.startswith("ray::") or "default_worker.py" in cmdline:
        return "ray worker"
    if "ray" in cmdline or "gcs_server" in cmdline or "raylet" in cmdline:
        return "ray system"
    return "python"


class ProcSampler:
    """Samples every descendant of this process: peak RSS each, peak total PSS, CPU used; and other load.

    PSS shares each shared page (Ray's object store, libraries) among the processes that map it, so the
    total PSS is what the processes together hold; RSS counts shared pages in every process.
    """

    def __init__(self, interval: float = 0.5) -> None:
        self.interval, self.root = interval, os.getpid()
        self.procs: dict[int, dict[str, Any]] = {}
        self.peak_total_pss = self.peak_total_rss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "ProcSampler":
        self._started = (time.perf_counter(), machine_busy_seconds(), time.process_time(), _children_cpu())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        wall = time.perf_counter() - self._started[0]
        busy = machine_busy_seconds() - self._started[1]
        # Sampled CPU misses a process's last interval; waited-for children report all of theirs.
        sampled = sum(p["cpu_seconds"] for p in self.procs.values())
        own = max(sampled, _children_cpu() - self._started[3]) + time.process_time() - self._started[2]
        self.wall, self.own_cpu = wall, own
        self.other_cores = max(0.0, busy - own) / wall if wall > 0 else 0.0

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _descendants(self) -> dict[int, float]:
        parents, cpu = {}, {}
        for name in os.listdir("/proc"):
            if name.isdigit() and (st := _stat(int(name))) is not None:
                parents[int(name)], cpu[int(name)] = st
        found, frontier = {}, [self.root]
        while frontier:
            parent = frontier.pop()
            children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
            found.update({pid: cpu[pid] for pid in children})
            frontier.extend(children)
        return found

    def _sample(self) -> None:
        total_pss = total_rss = 0.0
        for pid, cpu in self._descendants().items():
            statm = _read(f"/proc/{pid}/statm")
            if statm is None:
                continue
            rss, pss = int(statm.split()[1]) * PAGE / MIB, _pss_mib(pid)
            proc = self.procs.setdefault(pid, {"cmd": self._cmdline(pid), "peak_rss_mib": 0.0})
            if not proc["cmd"].startswith("ray::"):  # a Ray process sets its title once it runs
                proc["cmd"] = self._cmdline(pid) or proc["cmd"]
            proc["peak_rss_mib"] = max(proc["peak_rss_mib"], rss)
            proc["cpu_seconds"] = cpu
            total_pss, total_rss = total_pss + pss, total_rss + rss
        self.peak_total_pss = max(self.peak_total_pss, total_pss)
        self.peak_total_rss = max(self.peak_total_rss, total_rss)

    @staticmethod
    def _cmdline(pid: int) -> str:
        return (_read(f"/proc/{pid}/cmdline") or "").replace("\0", " ").strip()[:200]

    def report(self, driver_pid: int | None = None) -> dict[str, Any]:
        """Peak memory by role (driver = driver_pid), CPU used, and how busy the rest of the machine was."""
        peaks: dict[str, float] = {}
        for pid, proc in self.procs.items():
            kind = "driver" if pid == driver_pid else role(proc["cmd"])
            peaks[kind] = max(peaks.get(kind, 0.0), proc["peak_rss_mib"])
        workers = sorted(p["peak_rss_mib"] for p in self.procs.values() if role(p["cmd"]) == "ray worker")
        return {
            "wall_seconds": round(self.wall, 3),
            "own_cpu_seconds": round(self.own_cpu, 2),
            "other_load_cores": round(self.other_cores, 2),
            "peak_rss_mib_by_role": {k: round(v, 1) for k, v in peaks.items()},
            "ray_worker_peak_rss_mib": [round(w, 1) for w in workers],
            "peak_total_pss_mib": round(self.peak_total_pss, 1),
            "peak_total_rss_mib": round(self.peak_total_rss, 1),
            "processes": len(self.procs),
            "ray_cpu_seconds": self._ray_cpu(),
        }

    def _ray_cpu(self) -> dict[str, float]:
        """CPU seconds of Ray's own processes (not the workers running tasks), summed by name."""
        found: dict[str, float] = {}
        for proc in self.procs.values():
            if rays_own(proc["cmd"]):
                name = short_name(proc["cmd"])
                found[name] = round(found.get(name, 0.0) + proc.get("cpu_seconds", 0.0), 2)
        return found
