"""One seed's batch inference end to end: its checked model over the input into a committed partition.

This is the plain function a Ray task wraps; it knows nothing of Ray.
"""

import hashlib
import logging
import time
from collections.abc import Mapping

import numpy as np

from lenet_batch.data.inputs import ImageSource, array_batches
from lenet_batch.errors import ModelFileError, StorageError
from lenet_batch.scoring.partitions import write_partition
from lenet_batch.scoring.predictor import Predictor
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import ScoreResult, SeedMetrics
from lenet_batch.training.model import mx_context

log = logging.getLogger(__name__)


def load_model(run: RunRef, seed: int, metrics: SeedMetrics | None) -> tuple[bytes, SeedMetrics]:
    """A finished seed's parameters, checked against the digest its metrics.json (as the run's state read
    it) records, and those metrics."""
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


def predict_classes(
    run: RunRef, seed: int, model: tuple[bytes, SeedMetrics], images: np.ndarray
) -> np.ndarray:
    """The classes a seed's model (as load_model returns it) predicts for uint8 images, on the CPU."""
    from lenet_batch.training.inference import predict_logits
    from lenet_batch.training.model import load_lenet

    params, metrics = model
    ctx = mx_context("cpu", 0)
    net = load_lenet(params, f"the model of seed {seed} ({run.model_params(seed)})", ctx)
    return predict_logits(net, images, ctx, metrics.recipe).argmax(axis=1)


def score_seed(
    run: RunRef,
    seed: int,
    source: ImageSource,
    *,
    metrics: SeedMetrics | None,
    context: tuple[str, int] = ("cpu", 0),
    test_split: Mapping[str, np.ndarray] | None = None,
) -> ScoreResult:
    """Score one seed's model over the source and commit its partition; returns its row for run.json,
    with the marker it committed.

    `metrics` is the seed's metrics.json as the run's state holds it (its model's digest and recipe). A
    source without a URI is the Fashion-MNIST test split: `test_split` (arrays already loaded, e.g. from
    Ray's object store) or else loaded from the source's data URI. The model and the input are checked
    before anything is written, so a bad one leaves existing predictions untouched.
    """
    started = time.perf_counter()
    params, metrics = load_model(run, seed, metrics)
    name = f"the model of seed {seed} ({run.model_params(seed)})"
    predictor = Predictor(params, name, mx_context(*context), metrics.recipe)
    if test_split is not None and not source.uri:
        batches = array_batches(test_split["test_images"], test_split["test_labels"], source.batch_size)
    else:
        batches = source.batches(run.options)
    marker = write_partition(
        run,
        seed,
        predictor.score(batches),
        predictor.model_sha256,
        input_name=source.partition_name,
        input=source.name,
        input_sha256=source.digest,
        data_source=source.data_source,
    )
    seconds = round(time.perf_counter() - started, 3)
    accuracy = marker.accuracy()
    scored = f", accuracy {accuracy:.4f}" if accuracy is not None else ""
    log.debug("seed %d: scored %d images%s in %.1fs", seed, marker.rows, scored, seconds)
    return ScoreResult(seed, "scored", marker.rows, accuracy, seconds, marker=marker)
