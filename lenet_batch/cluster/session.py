"""Connect to a Ray cluster, or start a local one bound to loopback for the length of a run."""

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator

import ray

from lenet_batch.checks import check_address

log = logging.getLogger(__name__)


@contextlib.contextmanager
def ray_session(address: str = "", num_cpus: int | None = None) -> Iterator[None]:
    """Join `address` (or the cluster a Ray job runs in), else run a local Ray on 127.0.0.1 for the block."""
    if ray.is_initialized():
        yield
        return
    on_sigterm = signal.getsignal(signal.SIGTERM)
    if address:
        ray.init(address=check_address(address), log_to_driver=True)
        log.info("joined Ray cluster at %s: %s", address, ray.cluster_resources())
    else:
        _loopback_only()
        ray.init(
            num_cpus=num_cpus or os.cpu_count(),
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=True,
        )
        log.info("started a local Ray: %s", ray.cluster_resources())
    if callable(on_sigterm) and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_sigterm)  # ray.init replaced the caller's handler with sys.exit
    try:
        yield
    finally:
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
