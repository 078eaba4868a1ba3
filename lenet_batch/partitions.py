"""The predictions' Parquet schema and partitions: atomic writes, commit markers, reading committed ones.

A partition is `predictions/run_id=<ID>/seed=<K>/part-00000.parquet` plus a `_COMMITTED.json` marker. It is
written to a staging object first (pyarrow leaves a valid-looking but incomplete file when interrupted, and
s3fs completes a multipart upload on close even after an exception), then moved into place, then marked.
Readers list the markers, so they never see a half-written file. No MXNet here: readers do not need it.
"""

import logging
import os
import posixpath
import re
import uuid
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from lenet_batch import storage
from lenet_batch.errors import DataError, StorageError
from lenet_batch.seed_run import now_utc
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
            # A server-side copy: the key flips from old to new. The staged object goes after the marker.
            fs.copy(staged_path, final_path)
    return size


def _remove_quietly(uri: str, options: dict | None) -> None:
    try:
        storage.remove(uri, options)
    except StorageError as exc:  # never mask the real outcome; the next write of the partition retries
        log.warning("could not remove staged file %s: %s", uri, exc)


def _discard_staged(layout: Layout, run_id: str, seed: int, options: dict | None) -> None:
    """Remove this partition's staged objects: ours once copied, and any that a killed writer left."""
    # The run lock serialises a run's writers, so no other writer is using one of these.
    folder = storage.join(layout.staging_dir(), run_id)
    try:
        names = storage.list_dir(folder, options)
    except StorageError as exc:
        log.warning("could not list %s: %s", folder, exc)
        return
    for name in names:
        if name.startswith(f"seed-{seed}."):
            _remove_quietly(storage.join(folder, name), options)


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
        _remove_quietly(staged, options)
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
    _discard_staged(layout, run_id, seed, options)
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


def require_committed(
    layout: Layout, run_id: str | None = None, options: dict | None = None, seeds: list[int] | None = None
) -> list[tuple[str, int, str]]:
    """The committed partitions (of a run, of some seeds); a DataError when none or a seed has none."""
    parts = [p for p in committed_partitions(layout, run_id, options) if seeds is None or p[1] in seeds]
    which = f"run {run_id}" if run_id else "any run"
    if not parts:
        raise DataError(
            f"no committed predictions for {which} under {layout.predictions_root()}; "
            "run `lenet-batch infer` first"
        )
    missing = sorted(set(seeds or []) - {seed for _, seed, _ in parts})
    if missing:
        raise DataError(f"{which}: no committed predictions for seeds {missing}; score them first")
    return parts


def predictions_dataset(
    layout: Layout, options: dict | None = None, run_id: str | None = None, seeds: list[int] | None = None
) -> ds.Dataset:
    """A pyarrow dataset over the committed partitions, with typed run_id and seed columns from the paths."""
    parts = require_committed(layout, run_id, options, seeds)
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
    with storage.storage_errors(layout.predictions_root()):
        return dataset.to_table()
