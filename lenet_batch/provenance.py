"""When and with what a run was made: UTC timestamps, the versions, CPU and thread counts that decide its
bits, the git commit. Pure: reads package metadata and /proc/cpuinfo, imports neither MXNet nor Ray."""

import datetime as dt
import getpass
import importlib.metadata
import os
import platform
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lenet_batch import __version__
from lenet_batch.json_records import JsonRecord

# Distributions whose versions are recorded; read from package metadata so nothing heavy is imported.
RECORDED = ("mxnet", "numpy", "ray", "pyarrow")
PACKAGE_DIR = Path(__file__).resolve().parent
GIT_TIMEOUT_SECONDS = 10
CPUINFO = Path("/proc/cpuinfo")
# oneDNN's x86 instruction-set levels (MXNet 1.9.1 bundles oneDNN 2.4.4), highest first, with the
# /proc/cpuinfo flags each needs: oneDNN uses the highest the CPU has, capped by DNNL_MAX_CPU_ISA.
AVX512_CORE = ("avx512f", "avx512bw", "avx512vl", "avx512dq")
ONEDNN_ISAS = (
    ("avx512_core_amx", (*AVX512_CORE, "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")),
    ("avx512_core_bf16", (*AVX512_CORE, "avx512_vnni", "avx512_bf16")),
    ("avx512_core_vnni", (*AVX512_CORE, "avx512_vnni")),
    ("avx512_core", AVX512_CORE),
    ("avx2", ("avx2",)),
    ("avx", ("avx",)),
    ("sse41", ("sse4_1",)),
)
ISA_CAP = "DNNL_MAX_CPU_ISA"  # oneDNN 2.4 ignores the older MKLDNN_MAX_CPU_ISA (tests/test_reproducible.py)


def now_utc() -> str:
    """The current UTC time, ISO 8601 with a Z (e.g. 2026-11-28T06:30:00Z)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def who() -> str:
    """user@host of whoever runs this (as far as the OS says): who accepted or pruned a night."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's uid)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def parse_utc(text: object) -> dt.datetime | None:
    """A recorded ISO-8601 time as an aware datetime (UTC when it names no zone: our records are UTC); None
    when missing or not a time (e.g. "yesterday")."""
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """lenet-batch, Python and the libraries that decide the bits a run produces."""
    found = {name: _installed(name) for name in RECORDED}
    if found["mxnet"] is None:  # the CUDA builds are distributed as mxnet-cu112 etc.
        found["mxnet"] = next(
            (d.version for d in importlib.metadata.distributions() if d.name.startswith("mxnet")), None
        )
    return {"lenet_batch": __version__, "python": platform.python_version(), **found}


def _git(args: list[str], cwd: Path) -> str | None:
    """A git command's stripped output, or None when git is missing, fails or hangs."""
    # GIT_DIR and friends from the caller's shell would point git at another repository than ours.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_commit(package_dir: Path = PACKAGE_DIR) -> dict[str, Any] | None:
    """The checkout's commit and whether its tree was dirty; None outside a checkout of this code."""
    top = _git(["rev-parse", "--show-toplevel"], package_dir)
    # A copy installed in site-packages may sit inside someone else's repository: only our own checkout
    # counts, i.e. the one whose lenet_batch/ is the package that is running.
    if top is None or (Path(top) / package_dir.name).resolve() != package_dir.resolve():
        return None
    commit = _git(["rev-parse", "HEAD"], package_dir)
    status = _git(["status", "--porcelain", "--untracked-files=no"], package_dir)
    if commit is None or status is None:
        return None
    return {"commit": commit, "dirty": bool(status)}


def cpu_info(text: str) -> dict[str, Any]:
    """Vendor, model name and flags of the first processor in /proc/cpuinfo's text."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # one processor is enough: the others are the same CPU
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return {
        "vendor": fields.get("vendor_id"),
        "model": fields.get("model name"),
        "flags": set(fields.get("flags", "").split()),
    }


def onednn_isa(flags: set[str], cap: str | None = None) -> str | None:
    """The instruction-set level oneDNN runs with on a CPU of these flags (None: not an x86 it knows)."""
    names = [name for name, _ in ONEDNN_ISAS]
    offered = next((name for name, needs in ONEDNN_ISAS if flags.issuperset(needs)), None)
    if offered is None or not cap or cap.lower() not in names:  # oneDNN ignores a cap it does not know
        return offered
    return names[max(names.index(offered), names.index(cap.lower()))]


def isa_class(isa: str | None) -> str | None:
    """The class of an ISA level that decides float32 results: every avx512_core* level runs the same
    float32 kernels (bit-identical here, docs/reproducibility.md); AVX2, AVX and SSE4.1 each differ."""
    return "avx512_core" if isa and isa.startswith("avx512_core") else isa


@dataclass(frozen=True)
class Machine(JsonRecord):
    """The CPU, the ISA level oneDNN uses on it and the thread counts: what a float32 run's bits depend on.

    Same seed, recipe, thread counts and isa_class: the same bits (tests/test_reproducible.py).
    """

    cpu_model: str | None = None
    cpu_vendor: str | None = None
    logical_cpus: int | None = None
    isa: str | None = None  # oneDNN's level: avx512_core_amx … avx512_core, avx2, avx, sse41
    isa_class: str | None = None  # what decides float32 bits: avx512_core, avx2, avx or sse41
    isa_cap: str | None = None  # DNNL_MAX_CPU_ISA, when set
    omp_num_threads: str | None = None  # None: unset (OpenMP then uses every core)
    mxnet_cpu_worker_nthreads: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, kept


def machine(cpuinfo: str | None = None, env: dict[str, str] | None = None) -> Machine:
    """This host's Machine: /proc/cpuinfo (or the given text) and the environment (or the given one)."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text()
        except OSError:  # not Linux
            cpuinfo = ""
    env = dict(os.environ) if env is None else env
    cpu = cpu_info(cpuinfo)
    cap = env.get(ISA_CAP) or None
    isa = onednn_isa(cpu["flags"], cap)
    return Machine(
        cpu_model=cpu["model"] or platform.processor() or None,
        cpu_vendor=cpu["vendor"],
        logical_cpus=os.cpu_count(),
        isa=isa,
        isa_class=isa_class(isa),
        isa_cap=cap,
        omp_num_threads=env.get("OMP_NUM_THREADS"),
        mxnet_cpu_worker_nthreads=env.get("MXNET_CPU_WORKER_NTHREADS"),
    )
