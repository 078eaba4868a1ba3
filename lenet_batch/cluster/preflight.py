"""Checks made before Ray starts or is joined: the cluster answers in time, the GPUs asked for exist.

Without them, `--address 127.0.0.1:1` retries forever inside ray.init, and `--gpus-per-seed 0.5` on a
machine without GPUs starts a local Ray and records the run before the tasks cannot be placed.
"""

import logging
import os
import socket
import time

from lenet_batch.checks import address_host_port
from lenet_batch.errors import ConfigError

log = logging.getLogger(__name__)


def check_reachable(address: str, timeout: float) -> None:
    """The cluster at `address` accepts a connection and speaks gRPC within `timeout` s; else ConfigError.

    ray.init would otherwise wait on an unreachable GCS for minutes (in C++, deaf to signals); 'auto' is
    left to Ray, which says at once when no local cluster runs.
    """
    target = address_host_port(address)
    if target is None:
        return
    host, port = target
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except socket.gaierror as exc:
        raise ConfigError(f"--address {address}: cannot resolve {host} ({exc.strerror})") from None
    except OSError as exc:
        waited = f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) else exc.strerror
        raise ConfigError(
            f"--address {address}: cannot connect ({waited or type(exc).__name__}); check that the head "
            "node runs (`ray status`) and its GCS port, or raise --ray-connect-timeout"
        ) from None
    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
        return  # a plain-text probe cannot speak to a TLS GCS; ray.init does its own handshake
    _check_grpc(address, host, port, max(0.1, deadline - time.monotonic()), timeout)


def _check_grpc(address: str, host: str, port: int, left: float, timeout: float) -> None:
    """The port speaks gRPC (a GCS or a Ray Client server does): a silent socket is not a cluster."""
    import grpc  # installed with Ray

    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    channel = grpc.insecure_channel(target)
    try:
        grpc.channel_ready_future(channel).result(timeout=left)
    except grpc.FutureTimeoutError:
        raise ConfigError(
            f"--address {address}: the port accepts connections but no Ray cluster answered within "
            f"{timeout:g} s; check the address (the GCS port, 6379 by default) or raise --ray-connect-timeout"
        ) from None
    finally:
        channel.close()


def local_gpu_count() -> int:
    """GPUs a local Ray started here would have: Ray's own NVIDIA probe, within CUDA_VISIBLE_DEVICES."""
    from ray._private.accelerators import get_accelerator_manager_for_resource

    manager = get_accelerator_manager_for_resource("GPU")
    count = manager.get_current_node_num_accelerators()
    visible = manager.get_current_process_visible_accelerator_ids()
    return count if visible is None else min(count, len(visible))


def check_local_gpus(gpus_per_seed: float, address: str) -> None:
    """--gpus-per-seed > 0 with no cluster to join: this machine must have a GPU (before Ray starts)."""
    if gpus_per_seed <= 0 or address:
        return
    count = local_gpu_count()
    if count < gpus_per_seed:
        raise ConfigError(
            f"--gpus-per-seed {gpus_per_seed:g}: this machine has {count} GPU(s) a local Ray could use "
            "(NVIDIA driver, CUDA_VISIBLE_DEVICES) and no --address names a cluster with GPUs; use "
            "--gpus-per-seed 0, or --address of a cluster with GPU nodes"
        )
