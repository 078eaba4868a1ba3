"""Train one seed into its output folder: skip when complete, resume from the last epoch checkpoint.

This is the plain function a Ray task wraps; it knows nothing of Ray.
"""

import hashlib
import logging
import os
import time
from dataclasses import dataclass

import numpy as np

from lenet_batch.config import Recipe
from lenet_batch.provenance import machine, now_utc, versions
from lenet_batch.records import Attempt, DataInfo
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import EpochMetrics, SeedMetrics, TrainResult, record_attempt
from lenet_batch.training.checkpoints import load_checkpoint, save_checkpoint
from lenet_batch.training.loop import train_seed
from lenet_batch.training.model import mx_context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Attempt:
    """What this attempt at a seed produced, and where and how long it ran."""

    history: list[EpochMetrics]
    params: bytes
    wall_seconds: float
    context: tuple[str, int]
    attempts: tuple[Attempt, ...]  # every attempt so far, this one last


def _metrics(run: RunRef, seed: int, recipe: Recipe, data_info: DataInfo, done: _Attempt) -> SeedMetrics:
    """metrics.json of a finished seed: recipe, per-epoch metrics, digest, provenance, threads, attempts."""
    return SeedMetrics(
        run_id=run.run_id,
        seed=seed,
        recipe=recipe,
        epochs=tuple(done.history),
        model_sha256=hashlib.sha256(done.params).hexdigest(),
        data=data_info,
        versions=versions(),
        attempts=done.attempts,
        train_seconds=round(sum(m.seconds for m in done.history), 3),
        wall_seconds_this_attempt=round(done.wall_seconds, 3),
        omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
        machine=machine(),
        context=f"{done.context[0]}({done.context[1]})",
        finished_at=now_utc(),
    )


def run_seed(
    arrays: dict[str, np.ndarray],
    *,
    data_info: DataInfo,
    recipe: Recipe,
    seed: int,
    run: RunRef,
    context: tuple[str, int] = ("cpu", 0),
) -> TrainResult:
    """Train one seed as the run's plan asked (pipeline/plan.py); returns its row with its metrics.json.

    A retried task resumes from the seed's last checkpoint (of this recipe and data); a seed another
    process finished since the plan is left as it is.
    """
    if storage.exists(run.metrics_json(seed), run.options):
        return _finished_meanwhile(run, seed)
    resume = load_checkpoint(run, seed, recipe, data_info)  # another recipe's is refused, nothing written
    attempts = record_attempt(run, seed)
    if resume is not None:
        log.info("seed %d: resuming after epoch %d (attempt %d)", seed, resume.epoch, len(attempts))
    started = time.perf_counter()

    def on_epoch(hist, p):
        save_checkpoint(run, seed, hist, p, recipe=recipe, data=data_info)

    params, history = train_seed(arrays, recipe, seed, mx_context(*context), resume, on_epoch=on_epoch)
    done = _Attempt(history, params, time.perf_counter() - started, context, attempts)
    metrics = _metrics(run, seed, recipe, data_info, done)
    _commit(run, seed, params, metrics)
    status = "resumed" if resume is not None else "trained"
    return TrainResult(
        seed, status, metrics.test_accuracy, metrics.train_seconds, len(attempts), metrics=metrics
    )


def _finished_meanwhile(run: RunRef, seed: int) -> TrainResult:
    """A seed whose metrics.json another process wrote since the run was planned: skipped, as it stands."""
    metrics = SeedMetrics.from_json(
        storage.read_json(run.metrics_json(seed), run.options), run.metrics_json(seed)
    )
    log.info("seed %d: finished by another process since the plan, skipped", seed)
    return TrainResult(
        seed, "skipped", metrics.test_accuracy, metrics.train_seconds, len(metrics.attempts), metrics=metrics
    )


def _commit(run: RunRef, seed: int, params: bytes, metrics: SeedMetrics) -> None:
    """Save the model, then metrics.json (written last: it marks the seed complete), then drop checkpoints."""
    storage.write_bytes_atomic(run.model_params(seed), params, run.options)
    storage.write_json_atomic(run.metrics_json(seed), metrics.to_json(), run.options)
    storage.remove(run.checkpoint_dir(seed), run.options, recursive=True)
    log.info("seed %d: done, test accuracy %.4f", seed, metrics.test_accuracy)
