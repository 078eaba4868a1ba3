"""One seed's batch inference end to end: its checked model over the input into a committed partition.

This is the plain function a Ray task wraps; it knows nothing of Ray.
"""

import dataclasses
import hashlib
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lenet_batch.config import Recipe
from lenet_batch.data.inputs import ImageSource, array_batches
from lenet_batch.errors import ModelFileError, StorageError
from lenet_batch.scoring.partitions import write_partition
from lenet_batch.scoring.predictor import Predictor
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import ScoreResult, SeedMetrics, load_complete, require_run
from lenet_batch.training.model import mx_context

log = logging.getLogger(__name__)


def load_model(run: RunRef, seed: int) -> tuple[bytes, SeedMetrics]:
    """A finished seed's parameters (checked against the digest in metrics.json) and its metrics."""
    require_run(run)  # a missing run says so, rather than "no model"
    metrics = load_complete(run, seed)
    if metrics is None:
        raise ModelFileError(
            f"seed {seed} of run {run.run_id} has no finished model "
            f"({run.metrics_json(seed)} missing or incomplete); train it first"
        )
    uri = run.model_params(seed)
    try:
        params = storage.read_bytes(uri, run.options)
    except StorageError as exc:
        raise ModelFileError(f"cannot read the model of seed {seed}: {exc}") from None
    digest = hashlib.sha256(params).hexdigest()
    if metrics.model_sha256 and digest != metrics.model_sha256:
        raise ModelFileError(
            f"{uri}: SHA-256 {digest[:12]}… differs from {metrics.model_sha256[:12]}… "
            "in metrics.json; the file is damaged or was replaced (retrain the seed)"
        )
    return params, metrics


def recipe_of(metrics: SeedMetrics) -> Recipe:
    """The recipe a seed was trained with (its normalisation is the one to score with)."""
    known = {f.name for f in dataclasses.fields(Recipe)}
    return Recipe(**{k: v for k, v in metrics.recipe.items() if k in known})


def predict_classes(
    run: RunRef, seed: int, model: tuple[bytes, SeedMetrics], images: np.ndarray
) -> np.ndarray:
    """The classes a seed's model (as load_model returns it) predicts for uint8 images, on the CPU."""
    from lenet_batch.training.inference import predict_logits
    from lenet_batch.training.model import load_lenet

    params, metrics = model
    ctx = mx_context("cpu", 0)
    net = load_lenet(params, f"the model of seed {seed} ({run.model_params(seed)})", ctx)
    return predict_logits(net, images, ctx, recipe_of(metrics)).argmax(axis=1)


def _tallied(records: Iterable[pa.RecordBatch], tally: dict[str, int]) -> Iterator[pa.RecordBatch]:
    """Pass the record batches on, counting labelled and correct rows on the way."""
    for record in records:
        correct = record.column("correct")
        if correct.null_count < record.num_rows:  # a labelled batch
            tally["labelled"] += record.num_rows
            tally["correct"] += int(pc.sum(correct).as_py() or 0)
        yield record


def score_seed(
    run: RunRef,
    seed: int,
    source: ImageSource,
    *,
    context: tuple[str, int] = ("cpu", 0),
    test_split: Mapping[str, np.ndarray] | None = None,
) -> ScoreResult:
    """Score one seed's model over the source and commit its partition; returns its row for run.json.

    A source without a URI is the Fashion-MNIST test split: `test_split` (arrays already loaded, e.g. from
    Ray's object store) or else loaded from the source's data URI. The model and the input are checked
    before anything is written, so a bad one leaves existing predictions untouched.
    """
    started = time.perf_counter()
    params, metrics = load_model(run, seed)
    name = f"the model of seed {seed} ({run.model_params(seed)})"
    predictor = Predictor(params, name, mx_context(*context), recipe_of(metrics))
    if test_split is not None and not source.uri:
        batches = array_batches(test_split["test_images"], test_split["test_labels"], source.batch_size)
    else:
        batches = source.batches(run.options)
    tally = {"labelled": 0, "correct": 0}
    marker = write_partition(
        run,
        seed,
        _tallied(predictor.score(batches), tally),
        predictor.model_sha256,
        input_name=source.partition_name,
        tally=tally,
        input=source.name,
        input_sha256=source.digest,  # what a rerun compares to skip this seed (pipeline/run_data.py)
        data_source=source.data_source,
        omp_num_threads=os.environ.get("OMP_NUM_THREADS"),  # the bits depend on it (see cluster.resources)
    )
    accuracy = tally["correct"] / tally["labelled"] if tally["labelled"] else None
    seconds = round(time.perf_counter() - started, 3)
    scored = f", accuracy {accuracy:.4f}" if accuracy is not None else ""
    log.debug("seed %d: scored %d images%s in %.1fs", seed, marker["rows"], scored, seconds)
    return ScoreResult(seed, "scored", marker["rows"], accuracy, seconds)
