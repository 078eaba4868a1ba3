"""Train many seeds as Ray tasks: data put once, explicit resources, retries on worker death."""

import logging
import os
from typing import Any

import ray

from lenet_batch import model, run_record, storage
from lenet_batch.cluster.progress import collect, error_text
from lenet_batch.cluster.session import worker_logging
from lenet_batch.config import Settings
from lenet_batch.data import FashionMNIST
from lenet_batch.errors import ConfigError
from lenet_batch.seed_run import run_seed
from lenet_batch.storage import Layout

log = logging.getLogger(__name__)


@ray.remote
def _train_task(arrays, data_info, recipe, seed, output, run_id, options) -> dict[str, Any]:
    worker_logging()
    context = model.context_for(ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES"))
    return run_seed(arrays, data_info, recipe, seed, output, run_id, options, context)


@ray.remote
def _cuda_probe() -> bool:
    return model.mxnet_has_cuda()


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


def task_options(settings: Settings) -> dict[str, Any]:
    """Ray options of one seed's task: its CPUs and GPUs, retries on worker death, thread caps."""
    threads = max(1, int(settings.cpus_per_seed))
    return {
        "num_cpus": settings.cpus_per_seed,
        "num_gpus": settings.gpus_per_seed,
        "max_retries": settings.max_retries,  # system failures (worker death) only
        "retry_exceptions": False,  # a seed's own error is not retried
        # MXNet's CPU results depend on the OpenMP thread count: fix it per task (and record it).
        "runtime_env": {"env_vars": {"OMP_NUM_THREADS": str(threads), "MXNET_CPU_WORKER_NTHREADS": "1"}},
    }


def _failure_row(layout: Layout, run_id: str, seed: int, options: dict, exc: Exception) -> dict[str, Any]:
    error = error_text(exc)
    try:
        attempts = len(storage.read_json(layout.attempts_json(run_id, seed), options))
    except Exception:  # the attempts file is informative only
        attempts = None
    log.error("seed %d failed: %s", seed, error)
    return {
        "seed": seed,
        "status": "failed",
        "test_accuracy": None,
        "train_seconds": None,
        "attempts": attempts,
        "error": error,
    }


def train_seeds(settings: Settings, dataset: FashionMNIST, run_id: str) -> list[dict[str, Any]]:
    """Train every seed of the settings on the connected Ray cluster; one row per seed."""
    seeds, options, layout = settings.seed_list(), settings.storage_options, Layout(settings.output)
    check_gpus(settings.gpus_per_seed)
    arrays_ref = ray.put(dataset.arrays())  # once; tasks read it zero-copy from the object store
    remote = _train_task.options(**task_options(settings))
    pending = {
        remote.remote(
            arrays_ref, dataset.info(), settings.recipe(), seed, settings.output, run_id, options
        ): seed
        for seed in seeds
    }
    rows = collect(pending, lambda seed, exc: _failure_row(layout, run_id, seed, options, exc))
    run_record.update_stage(layout, run_id, "train", rows, options)
    return rows
