"""A seed's LeNet-5 scoring image batches into Arrow record batches of the predictions schema."""

import datetime as dt
import hashlib

import mxnet as mx
import numpy as np
import pyarrow as pa

from lenet_batch.config import Recipe
from lenet_batch.data.batch import ImageBatch
from lenet_batch.data.classes import CLASS_NAMES
from lenet_batch.scoring.partitions import PREDICTION_SCHEMA
from lenet_batch.training import loop, model

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
    batch: ImageBatch, logits: np.ndarray, model_sha256: str, scored_at: dt.datetime
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

    def __call__(self, batch: ImageBatch) -> pa.RecordBatch:
        logits = loop.predict_logits(self.net, batch.images, self.ctx, self.recipe)
        return to_record_batch(batch, logits, self.model_sha256, self.scored_at)
