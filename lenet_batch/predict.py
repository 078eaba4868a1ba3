"""Score image batches with a seed's model into Arrow record batches, and one seed's partition end to end.

The schema, the atomic partition writer and the readers live in `partitions` (no MXNet there) and are
importable from here too: predict.PREDICTION_SCHEMA, predict.read_predictions, predict.committed_partitions.
"""

import dataclasses
import datetime as dt
import hashlib
import logging
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import mxnet as mx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lenet_batch import images, model, storage, train
from lenet_batch.config import Recipe
from lenet_batch.data import CLASS_NAMES
from lenet_batch.errors import DataError, ModelFileError, StorageError
from lenet_batch.partitions import (  # noqa: F401  (re-exported: predict's public API)
    MARKER,
    PART_FILE,
    PREDICTION_SCHEMA,
    committed_partitions,
    predictions_dataset,
    read_predictions,
    write_partition,
)
from lenet_batch.seed_run import load_complete
from lenet_batch.storage import Layout

log = logging.getLogger(__name__)
_CLASS_NAMES = pa.array(CLASS_NAMES, pa.string())


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, shifted by the row maximum so exp cannot overflow."""
    z = logits.astype(np.float32) - logits.max(axis=1, keepdims=True).astype(np.float32)
    e = np.exp(z, dtype=np.float32)
    return e / e.sum(axis=1, keepdims=True, dtype=np.float32)


def _label_columns(labels: np.ndarray | None, prediction: np.ndarray) -> list[pa.Array]:
    """label, label_name and correct: nulls when the input has no labels."""
    n = len(prediction)
    if labels is None:
        return [pa.nulls(n, pa.int32()), pa.nulls(n, pa.string()), pa.nulls(n, pa.bool_())]
    labels = labels.astype(np.int32)
    return [pa.array(labels), _CLASS_NAMES.take(labels), pa.array(labels == prediction)]


def to_record_batch(
    batch: images.ImageBatch, logits: np.ndarray, model_sha256: str, scored_at: dt.datetime
) -> pa.RecordBatch:
    """One batch's logits as rows of PREDICTION_SCHEMA."""
    n = len(batch)
    probabilities = softmax(logits)
    # The argmax of the logits, as train.evaluate takes it (softmax rounding could tie near-equal classes).
    prediction = logits.argmax(axis=1).astype(np.int32)
    label, label_name, correct = _label_columns(batch.labels, prediction)
    offsets = pa.array(np.arange(0, 10 * n + 1, 10, dtype=np.int32))
    columns = [
        pa.array(batch.sample_ids.astype(np.int64)),
        label,
        label_name,
        pa.array(prediction),
        _CLASS_NAMES.take(prediction),
        correct,
        pa.array(probabilities.max(axis=1)),
        pa.ListArray.from_arrays(offsets, pa.array(probabilities.reshape(-1))),
        pa.repeat(pa.scalar(model_sha256, pa.string()), n),
        pa.repeat(pa.scalar(scored_at, PREDICTION_SCHEMA.field("scored_at").type), n),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=PREDICTION_SCHEMA)


class Predictor:
    """A seed's LeNet-5, loaded once; each call scores one ImageBatch into a record batch."""

    def __init__(
        self,
        params_bytes: bytes,
        name: str,
        ctx: mx.Context,
        recipe: Recipe | None = None,
        scored_at: dt.datetime | None = None,
    ) -> None:
        self.net = model.load_lenet(params_bytes, name, ctx)
        self.ctx, self.recipe = ctx, recipe or Recipe()
        self.model_sha256 = hashlib.sha256(params_bytes).hexdigest()
        # One timestamp for the whole partition: rows scored together say so.
        self.scored_at = scored_at or dt.datetime.now(dt.UTC)

    def __call__(self, batch: images.ImageBatch) -> pa.RecordBatch:
        logits = train.predict_logits(self.net, batch.images, self.ctx, self.recipe)
        return to_record_batch(batch, logits, self.model_sha256, self.scored_at)


# --- writing a partition -----------------------------------------------------------------------------------


# --- scoring one seed (the plain function a Ray task wraps) ------------------------------------------------


def require_run(layout: Layout, run_id: str, options: dict | None = None) -> None:
    """A run that does not exist is a DataError naming where it was looked for."""
    if not storage.exists(layout.run_dir(run_id), options):
        raise DataError(
            f"run {run_id!r} not found: {layout.run_dir(run_id)} does not exist "
            "(check --run and --output, or train it first)"
        )


def trained_seeds(layout: Layout, run_id: str, options: dict | None = None) -> list[int]:
    """Seeds of a run whose training is complete; a run that does not exist is a DataError."""
    require_run(layout, run_id, options)
    names = storage.list_dir(storage.join(layout.run_dir(run_id), "seeds"), options)
    seeds = sorted(int(n.split("=", 1)[1]) for n in names if re.fullmatch(r"seed=\d+", n))
    return [s for s in seeds if load_complete(layout, run_id, s, options) is not None]


def load_model(layout: Layout, run_id: str, seed: int, options: dict | None) -> tuple[bytes, dict[str, Any]]:
    """A finished seed's parameters (checked against the digest in metrics.json) and its metrics."""
    require_run(layout, run_id, options)  # a missing run says so, rather than "no model"
    metrics = load_complete(layout, run_id, seed, options)
    if metrics is None:
        raise ModelFileError(
            f"seed {seed} of run {run_id} has no finished model "
            f"({layout.metrics_json(run_id, seed)} missing or incomplete); train it first"
        )
    uri = layout.model_params(run_id, seed)
    try:
        params = storage.read_bytes(uri, options)
    except StorageError as exc:
        raise ModelFileError(f"cannot read the model of seed {seed}: {exc}") from None
    digest = hashlib.sha256(params).hexdigest()
    if metrics.get("model_sha256") and digest != metrics["model_sha256"]:
        raise ModelFileError(
            f"{uri}: SHA-256 {digest[:12]}… differs from {metrics['model_sha256'][:12]}… "
            "in metrics.json; the file is damaged or was replaced (retrain the seed)"
        )
    return params, metrics


def recipe_of(metrics: dict[str, Any]) -> Recipe:
    """The recipe a seed was trained with (its normalisation is the one to score with)."""
    known = {f.name for f in dataclasses.fields(Recipe)}
    return Recipe(**{k: v for k, v in (metrics.get("recipe") or {}).items() if k in known})


def _tallied(
    predictor: Predictor, batches: Iterable[images.ImageBatch], tally: dict[str, int]
) -> Iterator[pa.RecordBatch]:
    """Score each batch, counting labelled and correct rows on the way."""
    for batch in batches:
        record = predictor(batch)
        if batch.labels is not None:
            tally["labelled"] += record.num_rows
            tally["correct"] += int(pc.sum(record.column("correct")).as_py() or 0)
        yield record


def score_seed(
    output: str,
    run_id: str,
    seed: int,
    input_uri: str | None,
    options: dict | None,
    batch_size: int,
    context: tuple[str, int] = ("cpu", 0),
    data: str | None = None,
    verify: bool = True,
    *,
    labels_uri: str | None = None,
    test_split: Mapping[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Score one seed's model over the input and commit its partition; returns its row for run.json.

    input_uri None/"" scores the Fashion-MNIST test split: `test_split` (arrays already loaded, e.g. from
    Ray's object store) or else loaded from `data` (a --data URI). The model and the input are checked
    before anything is written, so a bad one leaves existing predictions untouched.
    """
    started = time.perf_counter()
    layout = Layout(output)
    params, metrics = load_model(layout, run_id, seed, options)
    predictor = Predictor(
        params, layout.model_params(run_id, seed), model.mx_context(*context), recipe_of(metrics)
    )
    if test_split is not None and not input_uri:
        batches = images.array_batches(test_split["test_images"], test_split["test_labels"], batch_size)
    else:
        batches = images.iter_batches(
            input_uri, batch_size, options, data_uri=data, verify=verify, labels_uri=labels_uri
        )
    tally = {"labelled": 0, "correct": 0}
    marker = write_partition(
        layout,
        run_id,
        seed,
        _tallied(predictor, batches, tally),
        options,
        predictor.model_sha256,
        input=input_uri or "fashion-mnist:test",
    )
    accuracy = tally["correct"] / tally["labelled"] if tally["labelled"] else None
    seconds = round(time.perf_counter() - started, 3)
    log.info(
        "seed %d: scored %d images%s in %.1fs",
        seed,
        marker["rows"],
        f", accuracy {accuracy:.4f}" if accuracy is not None else "",
        seconds,
    )
    return {
        "seed": seed,
        "status": "scored",
        "rows": marker["rows"],
        "accuracy": accuracy,
        "seconds": seconds,
    }
