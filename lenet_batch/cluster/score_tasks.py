"""Score many seeds as Ray tasks: the test split put once, explicit resources, failures reported per seed."""

import logging
import os
from collections.abc import Mapping
from typing import Any

import ray

from lenet_batch.cluster.progress import collect, line_sink
from lenet_batch.cluster.resources import context_for, error_text, task_options
from lenet_batch.cluster.session import inherited_env
from lenet_batch.cluster.task_log import worker_logging
from lenet_batch.cluster.train_tasks import check_gpus
from lenet_batch.config import ClusterOptions
from lenet_batch.data.fashion_mnist import FashionMNIST
from lenet_batch.data.inputs import ImageSource
from lenet_batch.errors import InputError
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import ScoreResult, SeedMetrics, score_failure

log = logging.getLogger(__name__)


@ray.remote
def _score_task(
    run: RunRef, seed: int, source: ImageSource, metrics: SeedMetrics | None, test_split: Any, sink
) -> ScoreResult:
    from lenet_batch.scoring.seed import score_seed  # MXNet: imported in the worker, not by the driver

    lines = worker_logging(sink)  # its lines go to the driver, which logs them (progress.collect)
    try:
        context = context_for(ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES"))
        return score_seed(run, seed, source, metrics=metrics, context=context, test_split=test_split)
    finally:
        if lines is not None:
            lines.finish()  # sent, not waited for: the driver waits for them before it takes the result


def score_seeds(
    run: RunRef,
    seeds: list[int],
    *,
    source: ImageSource,
    cluster: ClusterOptions,
    dataset: FashionMNIST | None,
    metrics: Mapping[int, SeedMetrics | None],
) -> list[ScoreResult]:
    """Score the seeds on the connected Ray cluster; `dataset` supplies the test split when scoring it,
    `metrics` each seed's metrics.json as the run's state holds it."""
    check_gpus(cluster.gpus_per_seed)
    split_ref = None
    if not source.uri and dataset is not None:  # put once; every task reads it from the object store
        split_ref = ray.put({"test_images": dataset.test_images, "test_labels": dataset.test_labels})
    remote = _score_task.options(**task_options(cluster, inherited_env()))
    with line_sink() as sink:
        pending = {
            remote.remote(run, seed, source, metrics.get(seed), split_ref, sink): seed for seed in seeds
        }
        # Bad input (a label out of range, a short image) is the user's to fix: exit 2, not "seeds failed".
        failure = lambda seed, exc: score_failure(seed, error_text(exc))  # noqa: E731 - one use, here
        return collect(pending, failure, reraise=(InputError,), sink=sink)
