"""When and with what a run was made: UTC timestamps, the versions that decide its bits, the git commit."""

import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from lenet_batch import __version__

# Distributions whose versions are recorded; read from package metadata so nothing heavy is imported.
RECORDED = ("mxnet", "numpy", "ray", "pyarrow")
PACKAGE_DIR = Path(__file__).resolve().parent
GIT_TIMEOUT_SECONDS = 10


def now_utc() -> str:
    """The current UTC time, ISO 8601 with a Z (e.g. 2026-11-28T06:30:00Z)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
