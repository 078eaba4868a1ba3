"""Checks made before Ray starts or is joined: the cluster answers in time, the GPUs asked for exist.

Without them, `--address 127.0.0.1:1` retries for minutes inside ray.init, and `--gpus-per-seed 0.5` on a
machine without GPUs starts a local Ray and records the run before the tasks cannot be placed.
"""

import logging
import os
import socket
import time

from lenet_batch.checks import address_host_port, shown_address
from lenet_batch.errors import ClusterUnavailable, ConfigError

log = logging.getLogger(__name__)


# The gRPC method each kind of address must answer: a GCS (HOST:PORT) or a Ray Client server (ray://).
PROBES = {False: "/ray.rpc.NodeInfoGcsService/GetClusterId", True: "/ray.rpc.RayletDriver/ClusterInfo"}
# What a Ray server answers an empty request without a token: OK, or UNAUTHENTICATED under token auth.
RAY_ANSWERS = ("OK", "UNAUTHENTICATED", "PERMISSION_DENIED")
ADVICE = "check that the head node runs (`ray status`) and the address's port, or raise --ray-connect-timeout"


def check_reachable(address: str, left: float, timeout: float, shown: str = "") -> None:
    """A Ray cluster answers at `address` within `left` s; else ClusterUnavailable saying what happened.

    A TCP connection, then one real Ray call (a GCS's, or a Ray Client server's for ray://): a port that
    accepts and never answers, a full listen backlog, or a proxy that answers HTTP/2 with 404 is not a
    cluster, and ray.init would wait on it for minutes (partly in C++, deaf to signals). `timeout` is the
    --ray-connect-timeout the message names.
    """
    host, port = address_host_port(address)
    shown = shown or shown_address(address)
    deadline = time.monotonic() + left
    try:
        with socket.create_connection((host, port), timeout=max(0.1, left)):
            pass
    except socket.gaierror as exc:
        raise ClusterUnavailable(f"--address {shown}: cannot resolve {host} ({exc.strerror})") from None
    except OSError as exc:
        waited = f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) else exc.strerror
        said = f"cannot connect ({waited or type(exc).__name__})"
        raise ClusterUnavailable(f"--address {shown}: {said}; {ADVICE}") from None
    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
        return  # a plain-text probe cannot speak to a TLS GCS; ray.init does its own handshake
    client = address.startswith("ray://")
    answer = _ray_call(host, port, client, max(0.1, deadline - time.monotonic()))
    if answer == "DEADLINE_EXCEEDED":
        raise ClusterUnavailable(f"--address {shown}: no Ray cluster answered within {timeout:g} s; {ADVICE}")
    if answer not in RAY_ANSWERS:
        kind = "Ray Client server" if client else "Ray GCS"
        said = f"the port answers, but not as a {kind} ({answer})"
        raise ClusterUnavailable(f"--address {shown}: {said}; {ADVICE}")


def _ray_call(host: str, port: int, client: bool, left: float) -> str:
    """The gRPC status name of one empty Ray call to host:port (a GCS's, or a Ray Client server's)."""
    import grpc  # installed with Ray

    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    channel = grpc.insecure_channel(target)
    try:
        call = channel.unary_unary(PROBES[client], request_serializer=bytes, response_deserializer=bytes)
        call(b"", timeout=left, wait_for_ready=True)
        return "OK"
    except grpc.RpcError as exc:
        return exc.code().name
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
