"""Score many seeds as Ray tasks: the test split put once, explicit resources, failures reported per seed."""

import logging
import os
from typing import Any

import ray

from lenet_batch import data, images, model, run_record
from lenet_batch.cluster.progress import collect, error_text
from lenet_batch.cluster.session import worker_logging
from lenet_batch.cluster.train_seeds import check_gpus, task_options
from lenet_batch.config import Settings
from lenet_batch.data import FashionMNIST
from lenet_batch.errors import DataError
from lenet_batch.predict import score_seed, trained_seeds
from lenet_batch.seed_run import load_complete
from lenet_batch.storage import Layout

log = logging.getLogger(__name__)


@ray.remote
def _infer_task(
    output, run_id, seed, input_uri, options, batch_size, data_uri, verify, test_split, labels_uri
) -> dict:
    worker_logging()
    context = model.context_for(ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES"))
    return score_seed(
        output,
        run_id,
        seed,
        input_uri,
        options,
        batch_size,
        context,
        data_uri,
        verify,
        test_split=test_split,
        labels_uri=labels_uri,
    )


def failure_row(seed: int, error: str) -> dict[str, Any]:
    """The row of a seed that could not be scored."""
    log.error("seed %d: not scored: %s", seed, error)
    return {
        "seed": seed,
        "status": "failed",
        "rows": None,
        "accuracy": None,
        "seconds": None,
        "error": error[:500],
    }


def _select_seeds(
    layout: Layout, run_id: str, seeds: list[int] | None, options: dict
) -> tuple[list[int], list]:
    """(seeds to score, failure rows for asked-for seeds whose training is not complete)."""
    complete = trained_seeds(layout, run_id, options)  # DataError when the run does not exist
    if seeds is None:
        if not complete:
            raise DataError(f"run {run_id}: no seed has finished training; nothing to score")
        return complete, []
    unfinished = [s for s in seeds if load_complete(layout, run_id, s, options) is None]
    rows = [
        failure_row(s, f"ModelFileError: seed {s} has no finished model in run {run_id}") for s in unfinished
    ]
    return [s for s in seeds if s not in unfinished], rows


def _test_split_ref(settings: Settings, dataset: FashionMNIST | None) -> Any:
    """The test split in the object store when scoring it (loaded once here unless given), else None."""
    if settings.input:
        # Fail here, once, on a bad input file, rather than in every task.
        images.iter_batches(
            settings.input,
            settings.infer_batch_size,
            settings.storage_options,
            labels_uri=settings.input_labels or None,
        )
        return None
    dataset = dataset or data.load(settings.data or None, settings.storage_options, settings.verify_data)
    return ray.put({"test_images": dataset.test_images, "test_labels": dataset.test_labels})


def _launch(settings: Settings, run_id: str, seeds: list[int], split_ref: Any) -> dict:
    """Start one task per seed (all before waiting on any); returns {ref: seed}."""
    remote = _infer_task.options(**task_options(settings))
    data_uri, input_uri = settings.data or None, settings.input or None
    args = (
        settings.storage_options,
        settings.infer_batch_size,
        data_uri,
        settings.verify_data,
        split_ref,
        settings.input_labels or None,
    )
    return {remote.remote(settings.output, run_id, seed, input_uri, *args): seed for seed in seeds}


def infer_seeds(
    settings: Settings, run_id: str, seeds: list[int] | None = None, dataset: FashionMNIST | None = None
) -> list[dict[str, Any]]:
    """Score the seeds (default: every seed whose training is complete) on the connected Ray cluster.

    `dataset` is the already loaded Fashion-MNIST (the nightly's), used when scoring its test split.
    """
    options, layout = settings.storage_options, Layout(settings.output)
    todo, rows = _select_seeds(layout, run_id, seeds, options)
    check_gpus(settings.gpus_per_seed)
    pending = _launch(settings, run_id, todo, _test_split_ref(settings, dataset)) if todo else {}
    rows = collect(pending, lambda seed, exc: failure_row(seed, error_text(exc)), rows)
    source = settings.input or "fashion-mnist:test"
    run_record.update_stage(layout, run_id, "infer", rows, options, input=source)
    scored = [r for r in rows if r["status"] == "scored"]
    log.info("infer: %d/%d seeds scored, %d rows", len(scored), len(rows), sum(r["rows"] for r in scored))
    return rows
