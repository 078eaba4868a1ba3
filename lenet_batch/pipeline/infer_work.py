"""Where the infer stage's seeds are scored: in this process, or as Ray tasks (the plan decides which
seeds; pipeline/plan.py)."""

import logging
import os
import sys
from collections.abc import Mapping

from lenet_batch.config import ClusterOptions
from lenet_batch.data.batch import IMAGE_BYTES
from lenet_batch.data.fashion_mnist import FashionMNIST
from lenet_batch.data.inputs import ImageSource
from lenet_batch.pipeline.local_scoring import pin_threads, score_here
from lenet_batch.pipeline.placement import local_slots, score_on_ray
from lenet_batch.store import storage
from lenet_batch.store.backends import StorageOptions
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import ScoreResult, SeedMetrics

log = logging.getLogger(__name__)


def score(
    run: RunRef,
    seeds: list[int],
    source: ImageSource,
    cluster: ClusterOptions,
    dataset: FashionMNIST | None,
    metrics: Mapping[int, SeedMetrics | None],
) -> list[ScoreResult]:
    """Score in this process unless a cluster is involved or the work pays for a local Ray; `metrics` are
    the seeds' metrics.json as the run's state holds them (their models' digests and recipes)."""
    on_ray = score_on_ray(
        address=cluster.address,
        env=os.environ,
        session_open="ray" in sys.modules and sys.modules["ray"].is_initialized(),
        gpus_per_seed=cluster.gpus_per_seed,
        seeds=len(seeds),
        images=_images_per_seed(source, dataset, run.options),
        slots=local_slots(cluster.cpus_per_seed),
    )
    if not on_ray and pin_threads(cluster.cpus_per_seed):
        log.info("scoring %d seeds in this process", len(seeds))
        return score_here(run, seeds, source, dataset, metrics)
    if not on_ray:
        log.info("MXNet already runs here with other thread caps: scoring on Ray instead")
    from lenet_batch.cluster.score_tasks import score_seeds
    from lenet_batch.cluster.session import ray_session

    with ray_session(cluster.address, connect_timeout=cluster.connect_timeout):
        return score_seeds(run, seeds, source=source, cluster=cluster, dataset=dataset, metrics=metrics)


def _images_per_seed(source: ImageSource, dataset: FashionMNIST | None, options: StorageOptions) -> int:
    """How many images each seed scores: the test split's, or an --input file's size / 784 (at most)."""
    if not source.uri:
        return len(dataset.test_images) if dataset is not None else 0
    fs, path = storage.get_fs(source.uri, options)
    with storage.storage_errors(source.uri):
        return int(fs.size(path)) // IMAGE_BYTES
