"""What the infer stage has to do: which seeds to score, which are already scored (skipped), and where the
scoring runs (this process or Ray).

A seed is skipped when its committed partition's marker names the model the seed has now (metrics.json's
model_sha256) and the input about to be scored (its digest); `--force` scores it again all the same.
"""

import logging
import os
import sys
from collections.abc import Sequence

from lenet_batch.config import ClusterOptions
from lenet_batch.data.batch import IMAGE_BYTES
from lenet_batch.data.fashion_mnist import FashionMNIST
from lenet_batch.data.inputs import ImageSource
from lenet_batch.errors import DataError, ModelFileError
from lenet_batch.pipeline.local_scoring import pin_threads, score_here
from lenet_batch.pipeline.placement import local_slots, score_on_ray
from lenet_batch.scoring.partitions import read_marker
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.run_record import RunRecord
from lenet_batch.store.seed_records import ScoreResult, load_complete, trained_seeds

log = logging.getLogger(__name__)


def seeds_to_score(run: RunRef, seeds: Sequence[int] | None) -> list[int]:
    """The seeds to score: every trained one, or those asked for, each of which must have a model (exit 2)."""
    complete = trained_seeds(run)  # DataError when the run does not exist
    if seeds is None:
        if not complete:
            raise DataError(f"run {run.run_id}: no seed has finished training; nothing to score")
        return complete
    unfinished = [s for s in seeds if s not in complete]
    if unfinished:
        raise ModelFileError(
            f"run {run.run_id} has no finished model for seed(s) {unfinished} (trained: "
            f"{complete or 'none'}); train them first, or leave them out of --seeds. Nothing was scored"
        )
    return list(seeds)


def already_scored(run: RunRef, seed: int, source: ImageSource) -> ScoreResult | None:
    """The seed's row when its partition was made from its current model and this input, else None."""
    if source.digest is None:
        return None
    marker = read_marker(run, seed, source.partition_name)
    metrics = load_complete(run, seed)
    if marker is None or metrics is None or marker.input_sha256 != source.digest:
        return None
    if marker.model_sha256 != metrics.model_sha256:
        return None
    return ScoreResult(seed, "skipped", marker.rows, marker.accuracy())


def split_done(run: RunRef, seeds: list[int], source: ImageSource, force: bool) -> tuple[list, list[int]]:
    """(rows of the seeds already scored, seeds left to score); with `force` nothing is skipped."""
    done = [] if force else [r for r in (already_scored(run, s, source) for s in seeds) if r is not None]
    for row in done:
        log.info("seed %d: already scored from its model and input %s, skipped", row.seed, source.digest)
    skipped = {r.seed for r in done}
    return done, [s for s in seeds if s not in skipped]


def unchanged(record: RunRecord, stage: str, results: list[ScoreResult]) -> bool:
    """Every seed was skipped and run.json already records the stage complete for them: nothing to write."""
    entry = record.stages.get(stage)
    if entry is None or entry.status != "complete" or any(r.status != "skipped" for r in results):
        return False
    return {r.seed for r in results} <= {row.seed for row in entry.seeds or ()}


def score(
    run: RunRef, seeds: list[int], source: ImageSource, cluster: ClusterOptions, dataset: FashionMNIST | None
) -> list[ScoreResult]:
    """Score in this process unless a cluster is involved or the work pays for a local Ray."""
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
        return score_here(run, seeds, source, dataset)
    if not on_ray:
        log.info("MXNet already runs here with other thread caps: scoring on Ray instead")
    from lenet_batch.cluster.score_tasks import score_seeds
    from lenet_batch.cluster.session import ray_session

    with ray_session(cluster.address, connect_timeout=cluster.connect_timeout):
        return score_seeds(run, seeds, source=source, cluster=cluster, dataset=dataset)


def _images_per_seed(source: ImageSource, dataset: FashionMNIST | None, options: dict) -> int:
    """How many images each seed scores: the test split's, or an --input file's size / 784 (at most)."""
    if not source.uri:
        return len(dataset.test_images) if dataset is not None else 0
    fs, path = storage.get_fs(source.uri, options)
    with storage.storage_errors(source.uri):
        return int(fs.size(path)) // IMAGE_BYTES
