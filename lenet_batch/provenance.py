"""When and with what a run was made: UTC timestamps, and the versions that decide its bits."""

import datetime as dt
import importlib.metadata
import platform

from lenet_batch import __version__

# Distributions whose versions are recorded; read from package metadata so nothing heavy is imported.
RECORDED = ("mxnet", "numpy", "ray", "pyarrow")


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
