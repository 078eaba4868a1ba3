"""Reading prediction partitions: only those with a _COMMITTED.json marker, with typed partition columns."""

import posixpath
import re
from typing import NamedTuple

import pyarrow as pa
import pyarrow.dataset as ds

from lenet_batch.errors import DataError
from lenet_batch.scoring.partitions import MARKER, PART_FILE, PREDICTION_SCHEMA
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout

# The partition columns, typed as read_predictions and the query view give them (never inferred: a run id
# such as 2026-11-27 would otherwise become a date).
PARTITION_SCHEMA = pa.schema([pa.field("run_id", pa.string()), pa.field("seed", pa.int64())])
_MARKER_PATH = re.compile(r"run_id=([^/]+)/seed=(\d+)/" + re.escape(MARKER) + "$")


class Partition(NamedTuple):
    """One committed (run, seed) partition and its Parquet file."""

    run_id: str
    seed: int
    uri: str


def predictions_root(layout: Layout, input_name: str | None = None) -> str:
    """predictions/ (the runs' evaluation on the test split), or scored/input=<name>/ for a named input."""
    if input_name is None:
        return layout.predictions_root()
    return storage.join(layout.scored_root(), f"input={input_name}")


def committed_partitions(
    layout: Layout, run_id: str | None = None, input_name: str | None = None
) -> list[Partition]:
    """Every partition with a commit marker (of one run, or all), sorted; others are ignored."""
    root = predictions_root(layout, input_name)
    fs, root_path = storage.get_fs(root, layout.options)
    with storage.storage_errors(root):
        fs.invalidate_cache()  # another process may have committed since this filesystem last listed
        found = fs.glob(posixpath.join(root_path, f"run_id={run_id or '*'}", "seed=*", MARKER))
    parts = []
    for path in found:
        match = _MARKER_PATH.search(path)
        if match:
            folder = storage.join(root, f"run_id={match.group(1)}", f"seed={match.group(2)}")
            marker = storage.read_json(storage.join(folder, MARKER), layout.options)
            name = marker.get("file", PART_FILE) if isinstance(marker, dict) else PART_FILE
            parts.append(Partition(match.group(1), int(match.group(2)), storage.join(folder, name)))
    return sorted(parts)


def require_committed(
    layout: Layout, run_id: str | None = None, seeds: list[int] | None = None, input_name: str | None = None
) -> list[Partition]:
    """The committed partitions (of a run, of some seeds); a DataError when none or a seed has none."""
    parts = committed_partitions(layout, run_id, input_name)
    parts = [p for p in parts if seeds is None or p.seed in seeds]
    which = f"run {run_id}" if run_id else "any run"
    if not parts:
        raise DataError(
            f"no committed predictions for {which} under {predictions_root(layout, input_name)}; "
            "run `lenet-batch infer` first"
        )
    missing = sorted(set(seeds or []) - {p.seed for p in parts})
    if missing:
        raise DataError(f"{which}: no committed predictions for seeds {missing}; score them first")
    return parts


def predictions_dataset(
    layout: Layout,
    run_id: str | None = None,
    seeds: list[int] | None = None,
    input_name: str | None = None,
    parts: list[Partition] | None = None,
) -> ds.Dataset:
    """A pyarrow dataset over the committed partitions (of the test split, or of a named input), with typed
    run_id and seed columns from the paths; `parts`: the partitions as the caller knows them from their
    markers (else listed and their markers read)."""
    root_uri = predictions_root(layout, input_name)
    parts = parts or require_committed(layout, run_id, seeds, input_name)
    fs, root = storage.get_fs(root_uri, layout.options)
    paths = [storage.get_fs(p.uri, layout.options)[1] for p in parts]
    schema = pa.unify_schemas([PREDICTION_SCHEMA, PARTITION_SCHEMA])
    partitioning = ds.partitioning(PARTITION_SCHEMA, flavor="hive")
    with storage.storage_errors(root_uri):
        return ds.dataset(
            paths,
            schema=schema,
            format="parquet",
            filesystem=fs,
            partitioning=partitioning,
            partition_base_dir=root,
        )


def read_predictions(
    layout: Layout,
    run_id: str,
    seeds: list[int] | None = None,
    input_name: str | None = None,
    columns: list[str] | None = None,
    parts: list[Partition] | None = None,
) -> pa.Table:
    """The committed predictions of one run (optionally some seeds, some columns; the test split unless
    input_name names a scored --input), with run_id and seed columns; `parts` as predictions_dataset."""
    dataset = predictions_dataset(layout, run_id, seeds, input_name, parts)
    with storage.storage_errors(predictions_root(layout, input_name)):
        return dataset.to_table(columns=columns)
