"""Score seeds one after another in the driver process: no cluster for a few seconds of work.

The rows equal a Ray task's bit for bit (apart from `scored_at`): the same score_seed, with the same
OpenMP thread count, which MXNet reads once when it is imported.
"""

import logging
import os
import sys
from collections.abc import Mapping

from lenet_batch.cluster.resources import error_text, thread_env
from lenet_batch.data.fashion_mnist import FashionMNIST
from lenet_batch.data.inputs import ImageSource
from lenet_batch.errors import InputError
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import ScoreResult, SeedMetrics, progress_line, score_failure

log = logging.getLogger(__name__)


def pin_threads(cpus_per_seed: float) -> bool:
    """Give this process a seed task's thread caps before MXNet loads; False if MXNet runs with others."""
    env = thread_env(cpus_per_seed)
    if "mxnet" in sys.modules:
        return os.environ.get("OMP_NUM_THREADS") == env["OMP_NUM_THREADS"]
    os.environ.update(env)
    return True


def score_here(
    run: RunRef,
    seeds: list[int],
    source: ImageSource,
    dataset: FashionMNIST | None,
    metrics: Mapping[int, SeedMetrics | None],
) -> list[ScoreResult]:
    """Score the seeds in this process (call pin_threads first); a seed's error is its failed row."""
    from lenet_batch.scoring.seed import score_seed  # MXNet: only when there is something to score

    split = None
    if not source.uri and dataset is not None:
        split = {"test_images": dataset.test_images, "test_labels": dataset.test_labels}
    results = []
    for seed in seeds:
        try:
            results.append(score_seed(run, seed, source, metrics=metrics.get(seed), test_split=split))
        except InputError:  # bad input is the user's (exit 2), not the seed's: as the Ray path re-raises it
            raise
        except Exception as exc:  # as on Ray: one seed's failure does not stop the others
            log.debug("seed %d: scoring failed", seed, exc_info=True)
            results.append(score_failure(seed, error_text(exc)))
        log.info("%s", progress_line(results[-1], len(results), len(seeds)))  # as on the Ray path
    return results
