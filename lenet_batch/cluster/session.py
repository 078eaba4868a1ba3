"""Connect to a Ray cluster, or start a local one bound to loopback for the length of a run."""

import contextlib
import logging
import os
from collections.abc import Iterator

import ray

from lenet_batch.errors import ConfigError

log = logging.getLogger(__name__)


def check_address(address: str) -> str:
    """Reject dashboard URLs: a driver joins a cluster by its GCS address; URLs are for `ray job submit`."""
    if address.startswith(("http://", "https://")):
        raise ConfigError(
            f"--address {address}: that is a dashboard/Jobs API URL; submit with `ray job submit` "
            "(see deploy/nightly.sh) or pass the GCS address (host:6379), 'auto' or ray://…"
        )
    return address


# The thread caps the workers of the local Ray this driver started inherited (None: none started).
_local_env: dict[str, str] | None = None


def inherited_env() -> dict[str, str] | None:
    """What the workers of the local Ray this process started inherited (task_options reads it)."""
    return _local_env


@contextlib.contextmanager
def ray_session(
    address: str = "", num_cpus: int | None = None, worker_env: dict[str, str] | None = None
) -> Iterator[None]:
    """Join `address` (or the cluster a Ray job runs in), else run a local Ray on 127.0.0.1 for the block.

    A local Ray's processes inherit this driver's environment: `worker_env` (the tasks' thread caps) is
    set here first, so that the workers the node starts at once can run the tasks (see task_options).
    """
    global _local_env
    if ray.is_initialized():
        yield
        return
    if address:
        ray.init(address=check_address(address), log_to_driver=True)
        log.info("joined Ray cluster at %s: %s", address, ray.cluster_resources())
    else:
        _loopback_only()
        os.environ.update(worker_env or {})
        ray.init(
            num_cpus=num_cpus or os.cpu_count(),
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=True,
        )
        _local_env = dict(worker_env or {})
        log.info("started a local Ray: %s", ray.cluster_resources())
    try:
        yield
    finally:
        _local_env = None
        ray.shutdown()


def _loopback_only() -> None:
    """Make a local Ray use 127.0.0.1 for every process (ray.init maps 127.0.0.1 to the host's address).

    Ray does this on its own where it treats the host as single-node (macOS/Windows); the constant is read
    at call time and the variable is inherited by the raylet and workers this driver starts.
    """
    import ray._private.ray_constants as ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"


def worker_logging() -> None:
    """Inside a task: INFO lines to stderr, which Ray forwards to the driver prefixed by task and pid."""
    root = logging.getLogger()
    if not any(getattr(h, "_lenet_batch", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._lenet_batch = True
        root.addHandler(handler)
    logging.getLogger("lenet_batch").setLevel(logging.INFO)
