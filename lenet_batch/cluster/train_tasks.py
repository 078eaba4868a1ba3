"""Train many seeds as Ray tasks: data put once, explicit resources, retries on worker death."""

import logging
import os

import ray

from lenet_batch.cluster.progress import collect, line_sink
from lenet_batch.cluster.resources import context_for, error_text, task_options
from lenet_batch.cluster.session import inherited_env
from lenet_batch.cluster.task_log import worker_logging
from lenet_batch.config import ClusterOptions, Recipe
from lenet_batch.data.fashion_mnist import FashionMNIST
from lenet_batch.errors import ConfigError
from lenet_batch.records import DataInfo
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import TrainResult, read_attempts

log = logging.getLogger(__name__)


@ray.remote
def _train_task(arrays, data_info: DataInfo, recipe: Recipe, seed: int, run: RunRef, sink) -> TrainResult:
    from lenet_batch.training.seed import run_seed  # MXNet: imported in the worker, not by the driver

    lines = worker_logging(sink)  # every epoch line goes to the driver, which logs it (progress.collect)
    try:
        context = context_for(ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES"))
        return run_seed(arrays, data_info=data_info, recipe=recipe, seed=seed, run=run, context=context)
    finally:
        if lines is not None:
            lines.finish()  # sent, not waited for: the driver waits for them before it takes the result


@ray.remote
def _cuda_probe() -> bool:
    from lenet_batch.training.model import mxnet_has_cuda

    return mxnet_has_cuda()


def check_gpus(gpus_per_seed: float) -> None:
    """Before any training: the cluster has GPUs and the MXNet on a GPU worker is a CUDA build."""
    if gpus_per_seed <= 0:
        return
    if ray.cluster_resources().get("GPU", 0) < gpus_per_seed:
        raise ConfigError(
            f"--gpus-per-seed {gpus_per_seed}: the Ray cluster has no GPUs to give "
            f"(resources: {ray.cluster_resources()})"
        )
    if not ray.get(_cuda_probe.options(num_gpus=gpus_per_seed, num_cpus=0).remote(), timeout=300):
        raise ConfigError(
            "--gpus-per-seed > 0 but the MXNet installed on the GPU workers has no CUDA support; "
            "install the CUDA build (e.g. mxnet-cu112) or use --gpus-per-seed 0"
        )


def _failure(run: RunRef, seed: int, exc: Exception) -> TrainResult:
    error = error_text(exc)
    try:
        attempts = len(read_attempts(run, seed))
    except Exception:  # the attempts file is informative only
        attempts = None
    log.error("seed %d failed: %s", seed, error)
    return TrainResult(seed, "failed", attempts=attempts, error=error)


def train_seeds(
    run: RunRef,
    seeds: list[int],
    *,
    recipe: Recipe,
    cluster: ClusterOptions,
    dataset: FashionMNIST,
    data_info: DataInfo,
) -> list[TrainResult]:
    """Train the seeds on the connected Ray cluster; one result per seed, in seed order.

    `data_info` is what each seed records of its data (source, digests, verified) and is checked against.
    """
    check_gpus(cluster.gpus_per_seed)
    arrays_ref = ray.put(dataset.arrays())  # once; tasks read it zero-copy from the object store
    remote = _train_task.options(**task_options(cluster, inherited_env()))
    with line_sink() as sink:
        pending = {remote.remote(arrays_ref, data_info, recipe, seed, run, sink): seed for seed in seeds}
        return collect(pending, lambda seed, exc: _failure(run, seed, exc), sink=sink)
