"""Score image batches into Arrow record batches; the predictions schema; atomic Parquet partitions.

A partition is `predictions/run_id=<ID>/seed=<K>/part-00000.parquet` plus a `_COMMITTED.json` marker. It is
written to a staging object first (pyarrow leaves a valid-looking but incomplete file when interrupted, and
s3fs completes a multipart upload on close even after an exception), then moved into place, then marked.
"""

import dataclasses
import datetime as dt
import hashlib
import logging
import os
import posixpath
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import mxnet as mx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from lenet_batch import images, model, storage, train
from lenet_batch.config import Recipe
from lenet_batch.data import CLASS_NAMES
from lenet_batch.errors import DataError, ModelFileError, StorageError
from lenet_batch.seed_run import load_complete, now_utc
from lenet_batch.storage import Layout

log = logging.getLogger(__name__)

PREDICTION_SCHEMA = pa.schema(
    [
        pa.field("sample_id", pa.int64(), nullable=False),
        pa.field("label", pa.int32()),
        pa.field("label_name", pa.string()),
        pa.field("prediction", pa.int32(), nullable=False),
        pa.field("prediction_name", pa.string(), nullable=False),
        pa.field("correct", pa.bool_()),
        pa.field("confidence", pa.float32(), nullable=False),
        pa.field("probabilities", pa.list_(pa.float32()), nullable=False),
        pa.field("model_sha256", pa.string(), nullable=False),
        pa.field("scored_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
# The partition columns, typed as read_predictions and the query view give them (never inferred: a run id
# such as 2026-11-27 would otherwise become a date).
PARTITION_SCHEMA = pa.schema([pa.field("run_id", pa.string()), pa.field("seed", pa.int64())])
PART_FILE = "part-00000.parquet"
MARKER = "_COMMITTED.json"
ROW_GROUP_ROWS = 131_072  # ~14 MB a row group: large enough for scans, small enough to buffer
_MARKER_PATH = re.compile(r"run_id=([^/]+)/seed=(\d+)/" + re.escape(MARKER) + "$")
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


def _staging_uri(layout: Layout, run_id: str, seed: int) -> str:
    # Under the underscore folder, not ending in .parquet: no reader or glob picks it up.
    return storage.join(layout.staging_dir(), run_id, f"seed-{seed}.{uuid.uuid4().hex}.staged")


def _write_row_groups(writer: pq.ParquetWriter, batches: Iterable[pa.RecordBatch]) -> int:
    """Write the batches in row groups of ROW_GROUP_ROWS (the last may be smaller); returns the row count."""
    rows, buffer = 0, PREDICTION_SCHEMA.empty_table()
    for batch in batches:
        rows += batch.num_rows
        buffer = pa.concat_tables([buffer, pa.Table.from_batches([batch], PREDICTION_SCHEMA)])
        while buffer.num_rows >= ROW_GROUP_ROWS:
            writer.write_table(buffer.slice(0, ROW_GROUP_ROWS))
            buffer = buffer.slice(ROW_GROUP_ROWS)
    if buffer.num_rows:
        writer.write_table(buffer)
    return rows


def _write_staged(uri: str, batches: Iterable[pa.RecordBatch], options: dict | None) -> int:
    """Write the Parquet file to the staging object; returns its row count."""
    fs, path = storage.get_fs(uri, options)
    local = storage.is_local(uri)
    if local:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with storage.storage_errors(uri), open(path, "wb") if local else fs.open(path, "wb") as f:
        writer = pq.ParquetWriter(f, PREDICTION_SCHEMA, compression="zstd")
        try:
            rows = _write_row_groups(writer, batches)
        finally:
            writer.close()
        if local:
            f.flush()
            os.fsync(f.fileno())
    return rows


def _commit(staged: str, final: str, options: dict | None) -> int:
    """Move the staged file to its final name (replacing any old one in one step); returns its size."""
    fs, staged_path = storage.get_fs(staged, options)
    final_path = storage.get_fs(final, options)[1]
    with storage.storage_errors(final):
        size = fs.size(staged_path)
        if storage.is_local(final):
            os.makedirs(os.path.dirname(final_path), exist_ok=True)
            os.replace(staged_path, final_path)
        else:
            fs.copy(staged_path, final_path)  # a server-side copy: the key flips from old to new
            fs.rm(staged_path)
    return size


def _discard_leftovers(layout: Layout, run_id: str, seed: int, options: dict | None) -> None:
    """Remove staged objects a killed writer of this partition left (the run lock serialises writers)."""
    folder = storage.join(layout.staging_dir(), run_id)
    for name in storage.list_dir(folder, options):
        if name.startswith(f"seed-{seed}."):
            log.info("removing a killed writer's staged file %s", name)
            storage.remove(storage.join(folder, name), options)


def write_partition(
    layout: Layout,
    run_id: str,
    seed: int,
    batches: Iterable[pa.RecordBatch],
    options: dict | None,
    model_sha256: str,
    **marker_extra: Any,
) -> dict[str, Any]:
    """Write one (run, seed) partition atomically and mark it committed; returns the marker.

    Until the new file is committed the old one (if any) stays in place and readable; a failure (or a
    kill) leaves at most a staged object that readers never see.
    """
    staged = _staging_uri(layout, run_id, seed)
    final = storage.join(layout.partition_dir(run_id, seed), PART_FILE)
    try:
        rows = _write_staged(staged, batches, options)
        size = _commit(staged, final, options)
    except BaseException:
        try:
            storage.remove(staged, options)
        except StorageError as exc:  # keep the original error; the leftover is removed by the next write
            log.warning("could not remove staged file %s: %s", staged, exc)
        raise
    marker = {
        "file": PART_FILE,
        "rows": rows,
        "bytes": size,
        "model_sha256": model_sha256,
        "committed_at": now_utc(),
        "run_id": run_id,
        "seed": seed,
        **marker_extra,
    }
    storage.write_json_atomic(storage.join(layout.partition_dir(run_id, seed), MARKER), marker, options)
    _discard_leftovers(layout, run_id, seed, options)
    return marker


# --- reading committed partitions -----------------------------------------------------------------------


def committed_partitions(
    layout: Layout, run_id: str | None = None, options: dict | None = None
) -> list[tuple[str, int, str]]:
    """(run_id, seed, file URI) of every partition with a commit marker, sorted; others are ignored."""
    root = layout.predictions_root()
    fs, root_path = storage.get_fs(root, options)
    with storage.storage_errors(root):
        fs.invalidate_cache()  # another process may have committed since this filesystem last listed
        found = fs.glob(posixpath.join(root_path, f"run_id={run_id or '*'}", "seed=*", MARKER))
    parts = []
    for path in found:
        match = _MARKER_PATH.search(path)
        if match:
            rid, seed = match.group(1), int(match.group(2))
            marker = storage.read_json(storage.join(layout.partition_dir(rid, seed), MARKER), options)
            parts.append(
                (rid, seed, storage.join(layout.partition_dir(rid, seed), marker.get("file", PART_FILE)))
            )
    return sorted(parts, key=lambda p: (p[0], p[1]))


def predictions_dataset(
    layout: Layout, options: dict | None = None, run_id: str | None = None, seeds: list[int] | None = None
) -> ds.Dataset:
    """A pyarrow dataset over the committed partitions, with typed run_id and seed columns from the paths."""
    parts = [p for p in committed_partitions(layout, run_id, options) if seeds is None or p[1] in seeds]
    if not parts:
        which = f"run {run_id}" if run_id else "any run"
        raise DataError(
            f"no committed predictions for {which} under {layout.predictions_root()}; "
            "run `lenet-batch infer` first"
        )
    fs, root = storage.get_fs(layout.predictions_root(), options)
    paths = [storage.get_fs(uri, options)[1] for *_, uri in parts]
    schema = pa.unify_schemas([PREDICTION_SCHEMA, PARTITION_SCHEMA])
    partitioning = ds.partitioning(PARTITION_SCHEMA, flavor="hive")
    with storage.storage_errors(layout.predictions_root()):
        return ds.dataset(
            paths,
            schema=schema,
            format="parquet",
            filesystem=fs,
            partitioning=partitioning,
            partition_base_dir=root,
        )


def read_predictions(
    layout: Layout, run_id: str, options: dict | None = None, seeds: list[int] | None = None
) -> pa.Table:
    """The committed predictions of one run (optionally some seeds), with run_id and seed columns."""
    dataset = predictions_dataset(layout, options, run_id, seeds)
    if seeds is not None:
        missing = sorted(set(seeds) - {int(s) for s in pc.unique(dataset.to_table(columns=["seed"])["seed"])})
        if missing:
            raise DataError(f"run {run_id}: no committed predictions for seeds {missing}; score them first")
    with storage.storage_errors(layout.predictions_root()):
        return dataset.to_table()


# --- scoring one seed (the plain function a Ray task wraps) ------------------------------------------------


def trained_seeds(layout: Layout, run_id: str, options: dict | None = None) -> list[int]:
    """Seeds of a run whose training is complete; a run that does not exist is a DataError."""
    if not storage.exists(layout.run_dir(run_id), options):
        raise DataError(
            f"run {run_id!r} not found: {layout.run_dir(run_id)} does not exist "
            "(check --run and --output, or train it first)"
        )
    names = storage.list_dir(storage.join(layout.run_dir(run_id), "seeds"), options)
    seeds = sorted(int(n.split("=", 1)[1]) for n in names if re.fullmatch(r"seed=\d+", n))
    return [s for s in seeds if load_complete(layout, run_id, s, options) is not None]


def load_model(layout: Layout, run_id: str, seed: int, options: dict | None) -> tuple[bytes, dict[str, Any]]:
    """A finished seed's parameters (checked against the digest in metrics.json) and its metrics."""
    trained_seeds(layout, run_id, options)  # a missing run says so, rather than "no model"
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
